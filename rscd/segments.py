"""Segmented exposures: the segment files of one exposure corrected as if one file.

A long exposure (a MIRI time series) is split by the pipeline into segment files,
``jw..._00001-seg001_mirimage_uncal.fits``, ``-seg002``, ..., each holding integrations
INTSTART..INTEND of the NINTS of the exposure. ``decay`` corrects integration i from the
*uncorrected* integration i-1, so the first integration of every segment but the first
needs the last integration of the previous segment:

    >>> from rscd.segments import apply_segments
    >>> results = apply_segments(glob.glob("jw*-seg*_linearity.fits"), "my_rscd.fits")  # doctest: +SKIP

The files may be given in any order: they are ordered by INTSTART and checked to be one
exposure before anything is written (:func:`plan`):

* same NINTS, NGROUPS, frame shape, DETECTOR, READPATT, SUBARRAY and SUBSTRT2;
* the same name once the segment token (``-seg001`` / ``_seg001``) is removed (the
  exposure's root name; ``check_names=False`` drops this check);
* contiguous: each INTSTART is one past the previous segment's last integration, which is
  INTSTART - 1 + the integrations in the file and, when present, INTEND;
* no two files with the same INTSTART.

The first given segment need not start at integration 1 (a subset of the segments):
its first integration is then left uncorrected, as :func:`rscd.apply` says.

Segments are processed from the last to the first. Each one's first integration is
corrected with the previous segment's last integration read just before, and that
segment has not been touched yet, so in place the value read is still uncorrected; only
one integration is held in memory at a time. ``flag`` needs nothing from other segments:
each file is flagged on its own (the same call works).
"""
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .batch import check_distinct
from .options import check_options
from .correct import Result
from .fits import (Layout, RampFileError, apply_file, check_output, check_room, check_state,
                   open_ramp, output_path, read_layout)
from .reference import Reference, as_reference

__all__ = ["apply_segments", "plan", "Segment", "SegmentResult", "root_name"]

_SEG_RE = re.compile(r"[-_]seg\d+", re.IGNORECASE)


def root_name(path: "str | os.PathLike[str]") -> str:
    """The exposure's name: the file name without its folder and ``-segNNN``/``_segNNN``."""
    return _SEG_RE.sub("", os.path.basename(os.fspath(path)))


@dataclass(frozen=True)
class Segment:
    """One checked segment file: 1-based integrations ``first..last`` of ``nints``."""
    path: str
    first: int
    last: int
    nints: int
    shape: tuple
    layout: Optional[Layout] = field(default=None, repr=False, compare=False)  #: from plan


@dataclass(frozen=True)
class SegmentResult:
    """What :func:`apply_segments` did to one segment (in exposure order)."""
    path: str
    output: str
    first: int
    last: int
    result: Result


def plan(paths: Sequence["str | os.PathLike[str]"], *, check_names: bool = True
         ) -> List[Segment]:
    """Check that ``paths`` are segments of one exposure; return them ordered.

    Raises
    ------
    RampFileError
        A file is not a ramp file, or the files are not one contiguous exposure (the
        message names the files and the keyword that differs).
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("no segment files given")
    check_distinct(paths)
    layouts = [read_layout(p, raw=True) for p in paths]     # raw (uncal): new files
    first = layouts[0]
    for lay in layouts[1:]:
        for what, a, b in (
                ("NINTS", first.nints, lay.nints),
                ("NGROUPS", first.shape[1], lay.shape[1]),
                ("frame shape (nrows, ncols)", first.shape[2:], lay.shape[2:]),
                ("DETECTOR", first.detector, lay.detector),
                ("READPATT", first.readpatt, lay.readpatt),
                ("SUBARRAY", first.subarray, lay.subarray),
                ("SUBSTRT2", first.ystart, lay.ystart)):
            if a != b:
                raise RampFileError(f"{lay.path} and {first.path} are not segments of one "
                                    f"exposure: {what} {b} != {a}")
        if check_names and root_name(lay.path) != root_name(first.path):
            raise RampFileError(
                f"{lay.path} and {first.path} are not segments of one exposure: names differ "
                f"once the segment number is removed ({root_name(lay.path)} != "
                f"{root_name(first.path)}); check_names=False accepts them")
    segs = []
    for lay in layouts:
        last = lay.integration_start - 1 + lay.shape[0]
        intend = lay.header.get("INTEND")
        if intend is not None and intend != last:
            raise RampFileError(f"{lay.path}: INTEND = {intend} but INTSTART = "
                                f"{lay.integration_start} and the file holds {lay.shape[0]} "
                                f"integration(s) (last = {last})")
        segs.append(Segment(lay.path, lay.integration_start, last, lay.nints, lay.shape, lay))
    segs.sort(key=lambda s: s.first)
    for a, b in zip(segs, segs[1:]):
        if b.first == a.first:
            raise RampFileError(f"{a.path} and {b.path} both start at integration {a.first}")
        if b.first != a.last + 1:
            kind = "a gap" if b.first > a.last + 1 else "an overlap"
            raise RampFileError(
                f"segments are not contiguous: {a.path} ends at integration {a.last}, "
                f"{b.path} starts at {b.first} ({kind}; is a segment missing?)")
    return segs


def _last_integration(path):
    """Native copies of SCI and GROUPDQ of the file's last integration (small)."""
    ramp = open_ramp(path)
    return np.array(ramp.sci[-1], np.float32), np.array(ramp.groupdq[-1], np.uint8)


def apply_segments(paths: Sequence["str | os.PathLike[str]"],
                   reference: Union[str, "os.PathLike[str]", Reference], *,
                   inplace: bool = False, output_dir: Optional["str | os.PathLike[str]"] = None,
                   outputs: Optional[Mapping[str, "str | os.PathLike[str]"]] = None,
                   method: str = "auto", overwrite: bool = False, force: bool = False,
                   threads: Optional[int] = None, check_names: bool = True,
                   keep_inode: bool = False) -> List[SegmentResult]:
    """Correct the segment files of one exposure as if they were one file.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        The segment files, in any order (see :func:`plan` for the checks).
    reference : str, os.PathLike or Reference
    inplace : bool
        Correct the files themselves (memory-mapped); else write new files.
    output_dir : str, optional
        Folder of the new files (default: next to each input).
    outputs : mapping, optional
        Input path -> output path, overriding the default names.
    method, overwrite, force, threads, keep_inode
        As for :func:`rscd.apply_file`; with ``keep_inode`` every file's header room is
        checked before any file is written.
    check_names : bool
        Require one root name (:func:`root_name`) for all files.

    Returns
    -------
    list of SegmentResult
        In exposure order (by INTSTART).

    Raises
    ------
    RampFileError
        The files are not one contiguous exposure, or a file cannot be corrected
        (segments after it in the exposure may already be corrected then).
    """
    threads = check_options(method=method, inplace=inplace, output_dir=output_dir,
                            keep_inode=keep_inode, threads=threads)
    if inplace and outputs:
        raise ValueError("inplace=True writes no new files: do not give outputs")
    ref = as_reference(reference)
    chosen = ref.default_method() if method == "auto" else method
    segs = plan(paths, check_names=check_names)
    names = {}
    for seg in segs:
        if inplace:
            names[seg.path] = seg.path
        elif outputs and seg.path in outputs:
            names[seg.path] = os.fspath(outputs[seg.path])
        else:
            names[seg.path] = output_path(seg.path, output_dir)
    if not inplace:
        check_distinct(list(names), list(names.values()))
    for seg in segs:    # refuse before anything is written (COMPLETE decay, RUNNING)
        assert seg.layout is not None           # plan() gives every segment its layout
        check_state(seg.layout, chosen, force)
        if inplace and keep_inode:
            check_room(seg.layout, ref, chosen)
        elif not inplace:
            check_output(seg.path, names[seg.path], overwrite)
    done = []
    for k in range(len(segs) - 1, -1, -1):      # last first: the previous is still raw
        seg = segs[k]
        previous = None
        if chosen == "decay" and k > 0:
            previous = _last_integration(segs[k - 1].path)
        kw: Dict[str, Any] = ({} if inplace else
                              {"output": names[seg.path], "overwrite": overwrite})
        if inplace:
            kw["keep_inode"] = keep_inode
        result = apply_file(seg.path, ref, inplace=inplace, method=method, force=force,
                            threads=threads, previous=previous, **kw)
        done.append(SegmentResult(seg.path, names[seg.path], seg.first, seg.last, result))
    return done[::-1]
