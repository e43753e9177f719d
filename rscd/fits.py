"""FITS ramp files: ``rscd.apply_file`` (docs/inplace.rst).

A ramp file is what the JWST pipeline writes for a ``RampModel``: a primary header with the
exposure keywords, image extensions SCI (float32, BITPIX -32), PIXELDQ (uint32 stored as int32
with BZERO = 2**31) and GROUPDQ (uint8), and usually an ASDF extension and others. Two modes:

new file (default)
    The input is copied byte for byte to a temporary file in the target folder, that copy is
    corrected exactly as in place (below), and the copy is renamed to the output name at the
    end. Every other HDU is carried over unchanged, the input is only read, and no partial
    file ever appears under the output name. When the primary header's padding cannot hold
    the RSCD keywords and RESERVE_CARDS (9) blank cards more, the copy gets one more
    2880-byte header block (blank cards before END); the other HDUs' bytes are the same, and
    a later in-place run on the output always takes the fast path. A raw file (an uncal
    file: SCI as 16-bit counts, no GROUPDQ or PIXELDQ) is not copied but read as jwst's
    RampModel reads it and written in the ramp layout (:mod:`rscd.raw_ramp`), then
    corrected the same way; it is never corrected in place.

in place (``inplace=True``), where the keywords fit in the primary header's padding
    SCI, GROUPDQ and PIXELDQ are memory-mapped with numpy at the data offsets astropy
    reports, so SCI and GROUPDQ are corrected where they lie on disk (SCI big-endian, no
    copy of either cube), and the primary header is rewritten over its own bytes. PIXELDQ
    is raw int32 holding ``uint32 XOR 2**31``: it is read into a small native uint32 frame,
    corrected, and only the words that changed are written back. The file keeps its size
    and inode; the data reach the disk (msync) before the keywords that say they are done.

in place, where they do not fit
    Writing them where they are would make astropy rewrite the whole file behind our back,
    so the file is corrected as a new file would be, into a temporary copy next to it with
    a larger header, which is synced to disk and renamed over the file: same path, new
    inode, same permission bits; the original is intact until the rename. The log says
    which way a run went, and the Result's ``notes`` name the copy. ``keep_inode=True``
    (``--keep-inode``) refuses instead, for files with hard links or open maps elsewhere.

``decay`` is not idempotent: a file whose S_RSCD is COMPLETE is refused unless ``force``;
and on the fast path S_RSCD = 'RUNNING' is written and flushed before the data are touched,
so a run that dies half-way leaves a file that the next run refuses (any method, both
modes) with a message saying what to do. Everything that can refuse is checked before the
marker is written (the reference row and detector: no marker when ``apply`` will skip), and
when ``apply`` refuses after it -- a warning when warnings are errors -- the header's
original bytes are written back. ``flag`` is idempotent and needs no marker.

An in-place run holds an exclusive lock on the file (``flock``) for the whole run and reads
S_RSCD under it; a new-file run holds a shared lock on its input while it reads it; so
two rscd runs never correct one file at once (docs/inplace.rst says what the lock does not
cover). Files are written through :mod:`rscd.safe_files` (:func:`atomic_write`: a locked
temporary file, synced, renamed without replacing unless asked; :func:`reap_stale_temps`
removes those of killed processes), which also opens only regular files.

This module is the one owner of a ramp file on disk (docs/architecture.rst). Its public
functions for the other modules: :func:`read_layout` (layout, offsets and exposure
keywords: the one reader), :func:`open_ramp` (the arrays, memory-mapped read-only),
:func:`read_raw` (a raw file's arrays in memory, as jwst reads them),
:meth:`Layout.pixeldq_flags` (PIXELDQ's stored words as flags), :func:`check_state`
(S_RSCD refusals), :func:`check_room`, :func:`extra_blocks`, :func:`run_keywords`,
:func:`set_keywords` and :func:`history_card` (the header and its room), and
:func:`check_output` (an output name).
"""
import contextlib
import dataclasses
import datetime
import errno
import logging
import os
import re
import shutil
import time
import warnings
from dataclasses import dataclass
from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

import numpy as np
from astropy.io import fits

from ._core import VERSION
from ._fitsscan import check_structure
from .correct import (MAX_INDEX, STAT_KEYWORDS, Result, apply, exposure_numbers,
                      is_miri)
from ._rerun import flag_rerun, keep_larger_counts
from .dq import PIXELDQ_BZERO, flip_bzero
from .options import check_options
from .raw_ramp import RawFileError, ramp_arrays, write_ramp_layout
from .safe_files import (IdentityError, NotRegularFileError, atomic_write, held,
                         open_regular, reap_stale_temps, reserve_blocks)
from .reference import Reference, read_reference

__all__ = ["RampFileError", "apply_file", "output_path", "atomic_write", "reap_stale_temps",
           "RAMP_SUFFIXES", "RESERVE_CARDS", "RUNNING", "Layout", "read_layout", "Ramp",
           "open_ramp", "read_raw", "check_state", "check_room", "check_output", "extra_blocks",
           "history_card", "run_keywords", "set_keywords"]

log = logging.getLogger("rscd")

#: Step suffixes of ramp-stage products that the output name replaces by ``_rscd``
#: (jwst's ``jwst.lib.suffix`` names of the detector1 steps, with and without "step").
RAMP_SUFFIXES = (
    "uncal", "dq_init", "dqinit", "dqinitstep", "emicorr", "emicorrstep", "saturation",
    "saturationstep", "superbias", "superbiasstep", "refpix", "refpixstep", "reset",
    "resetstep", "firstframe", "firstframestep", "lastframe", "lastframestep", "linearity",
    "linearitystep", "dark", "dark_current", "darkcurrent", "darkcurrentstep", "rscd",
    "rscdstep", "group_scale", "groupscale", "groupscalestep", "ipc", "ipcstep",
    "persistence", "persistencestep", "charge_migration", "chargemigrationstep", "picture_frame",
    "pictureframestep", "clean_flicker_noise", "cleanflickernoisestep", "ramp",
)
_SUFFIX_RE = re.compile(
    "_(?:" + "|".join(sorted(RAMP_SUFFIXES, key=len, reverse=True)) + ")$", re.IGNORECASE)
_FITS_EXT_RE = re.compile(r"\.(fits|fit|fts)$", re.IGNORECASE)

#: Value of S_RSCD while an in-place ``decay`` run is changing the data.
RUNNING = "RUNNING"

_COMMENTS = {
    "S_RSCD": "RSCD Correction",
    "R_RSCD": "RSCD reference file name",
    "INT1SKIP": "RSCD: groups flagged in integration 1",
    "INT2SKIP": "RSCD: groups flagged in integrations 2+",
    "INT1UGP1": "RSCD: int 1 pixels left with one group",
    "INT2UGP1": "RSCD: int 2+ pixels left with one group",
    "INT1BORS": "RSCD: int 1 pixels backed off (saturation)",
    "INT2BORS": "RSCD: int 2+ pixels backed off (saturation)",
}
_BLOCK = 2880


class RampFileError(ValueError):
    """A ramp file cannot be corrected; the message names the file, the extension or
    keyword, and what to do."""


def output_path(path: "Union[str, os.PathLike[str]]",
                output_dir: "Union[str, os.PathLike[str], None]" = None) -> str:
    """The new-file output name: a trailing ramp-step suffix (``_uncal``, ``_linearity``,
    ``_ramp``, ...) replaced by ``_rscd``, else ``_rscd`` appended; in ``output_dir`` when
    given, else next to the input.

    Parameters
    ----------
    path : str or os.PathLike
        The input ramp file.
    output_dir : str or os.PathLike, optional
        Folder of the output; default: the input's folder.

    Returns
    -------
    str
        The output path (the file is not created).

    Examples
    --------
    >>> from rscd import output_path
    >>> output_path("/data/jw01_mirimage_linearity.fits")
    '/data/jw01_mirimage_rscd.fits'
    >>> output_path("jw01_mirimage_uncal.fits", output_dir="out")
    'out/jw01_mirimage_rscd.fits'
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    match = _FITS_EXT_RE.search(name)
    stem, ext = (name[:match.start()], name[match.start():]) if match else (name, "")
    stem = _SUFFIX_RE.sub("", stem) + "_rscd"
    return os.path.join(folder if output_dir is None else os.fspath(output_dir), stem + ext)


@dataclass(frozen=True)
class Layout:
    """What :func:`read_layout` found in a ramp file, without changing it: where each
    array lies on disk, its shape, and the exposure keywords.

    A :func:`read_layout` that is not ``strict`` (the readers' form) accepts float64 SCI
    and no PIXELDQ (``pixeldq`` and its offset None), and reads a missing or malformed
    keyword as its default: "" for DETECTOR, READPATT and SUBARRAY, 1 for INTSTART and
    SUBSTRT2, the last integration held for NINTS.
    """
    path: str
    header: fits.Header          #: the primary header (a copy)
    header_size: int             #: bytes of the primary header on disk, padding included
    sci: int                     #: HDU index of SCI
    groupdq: Optional[int]       #: HDU index of GROUPDQ (None: a raw file without it)
    pixeldq: Optional[int]       #: HDU index of PIXELDQ
    offsets: tuple               #: byte offsets of the SCI, GROUPDQ, PIXELDQ data
    shape: tuple                 #: (nints, ngroups, nrows, ncols)
    pixeldq_bzero: int           #: 2**31 (uint32 stored as int32) or 0
    detector: str
    readpatt: str
    subarray: str
    nints: int                   #: NINTS (integrations of the exposure)
    integration_start: int       #: INTSTART (1-based), 1 when missing
    ystart: int                  #: SUBSTRT2 (1-based first detector row), 1 when missing
    status: Optional[str]        #: S_RSCD as found, or None
    #: SCI as stored: ">f4" (">f8" only when not strict); None when it must be converted
    #: to be read (integers or scaled values, only with ``raw``)
    sci_dtype: Optional[str] = ">f4"
    #: With ``raw=True``: why the file is not in the ramp layout ("SCI is 16-bit
    #: integers, no GROUPDQ, ..."), "" when it is (see :mod:`rscd.raw_ramp`).
    raw: str = ""

    def pixeldq_flags(self, words: np.ndarray) -> np.ndarray:
        """Native uint32 PIXELDQ flags (a new array) of the stored ``words`` (32-bit
        integers of any byte order, e.g. a memory map at ``offsets[2]``)."""
        if self.pixeldq_bzero:
            return flip_bzero(words)
        return np.array(words, dtype=np.uint32)

    def pixeldq_words(self, flags: np.ndarray) -> np.ndarray:
        """The uint32 words to store for PIXELDQ ``flags`` (the inverse of
        :meth:`pixeldq_flags`)."""
        return self.pixeldq_flags(flags)       # flipping the top bit is its own inverse


def _hdu_index(hdul, extname):
    for i, hdu in enumerate(hdul):
        if i and hdu.name.upper() == extname:
            return i
    return None


def _int_keyword(path, header, key, default, strict=True):
    """An integer keyword in 1 .. MAX_INDEX (as rscd.apply takes them), ``default`` when
    missing; a bad value is refused, or (not ``strict``: the readers) read as
    ``default``."""
    value = header.get(key, default)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        problem = f"{value!r} is not an integer"
    elif value < 1:
        problem = f"{value} must be >= 1"
    elif value > MAX_INDEX:  # beyond any exposure; would overflow the C core (issue 9)
        problem = f"{value} is too large (at most {MAX_INDEX})"
    else:
        return int(value)
    if not strict:
        return default
    raise RampFileError(f"{path}: primary header keyword {key} = {problem}")


def _str_keyword(path, header, key, strict=True):
    """A string keyword, stripped; required, or (not ``strict``) "" when missing or bad."""
    value = header.get(key)
    if isinstance(value, str):
        return value.strip()
    if not strict:
        return ""
    if key not in header:
        raise RampFileError(f"{path}: primary header lacks the required keyword {key}")
    raise RampFileError(f"{path}: primary header keyword {key} = {value!r} is not a string")


def _image_hdu(path, hdul, extname, bitpix, naxis, warned, scaled=False):
    index = _hdu_index(hdul, extname)
    if index is None:
        hint = f" (astropy: {warned[0]})" if warned else ""
        raise RampFileError(f"{path}: no {extname} extension; extensions present: "
                            f"{', '.join(h.name for h in hdul[1:]) or 'none'}{hint}")
    hdu = hdul[index]
    count = sum(1 for h in hdul[1:] if h.name.upper() == extname)
    if count > 1:   # which one would jwst read? refuse rather than guess (issue 9)
        raise RampFileError(f"{path}: {count} {extname} extensions; a ramp file has one")
    if isinstance(hdu, fits.CompImageHDU) or not isinstance(hdu, fits.ImageHDU):
        raise RampFileError(f"{path}: extension {extname} is a {type(hdu).__name__}, "
                            "expected an uncompressed image extension")
    header = hdu.header
    if header.get("BITPIX") not in bitpix:
        raise RampFileError(f"{path}: extension {extname} has BITPIX = {header.get('BITPIX')}, "
                            f"expected {' or '.join(str(b) for b in bitpix)}")
    if header.get("NAXIS") != naxis:
        raise RampFileError(f"{path}: extension {extname} has NAXIS = {header.get('NAXIS')}, "
                            f"expected {naxis}")
    if header.get("BSCALE", 1) != 1 and not scaled:
        raise RampFileError(f"{path}: extension {extname} has BSCALE = {header['BSCALE']}; "
                            "scaled data are not supported")
    shape = tuple(int(header[f"NAXIS{i}"]) for i in range(naxis, 0, -1))
    return index, shape


def read_layout(path: "str | os.PathLike[str]", *, strict: bool = True,
                raw: bool = False) -> Layout:
    """Read a ramp file's layout: the one reader of ramp files (nothing is written).

    The HDU structure is walked first (so that astropy never loops on a hostile file),
    then astropy reads the headers, never the data. With ``strict`` (what correcting
    needs) SCI must be float32 and 4-d, GROUPDQ uint8 of SCI's shape, PIXELDQ 32-bit,
    2-d, with BZERO 2**31 or none, and the exposure keywords DETECTOR, READPATT and
    SUBARRAY present and INTSTART, NINTS, NGROUPS, SUBSTRT2 valid where given. Readers
    (``strict=False``, as :func:`open_ramp`) also take float64 SCI and no PIXELDQ, and
    get a missing or malformed keyword as its default (see :class:`Layout`). With
    ``raw`` (what a new-file run and the diagnosis take), SCI may also be integers or
    scaled (BZERO, BSCALE) and GROUPDQ and PIXELDQ may be missing, as in an uncal file:
    ``Layout.raw`` then says what differs from the ramp layout.

    Parameters
    ----------
    path : str or os.PathLike
        The ramp file.
    strict : bool
        The checks made before correcting (default), or the readers' lighter ones.
    raw : bool
        Also accept a raw (uncal-style) file, as jwst's ``RampModel`` reads it.

    Returns
    -------
    Layout
        HDU indices, data offsets, shape, PIXELDQ's BZERO and the exposure keywords.

    Raises
    ------
    RampFileError
        Not a FITS file, a damaged or truncated one, or a missing, duplicated, scaled or
        misshapen extension, or a bad keyword; the message names the file and the
        extension or keyword.
    OSError
        The file cannot be opened.
    """
    path = os.fspath(path)
    try:        # a FIFO or device is refused here, before anything waits on it
        fd = open_regular(path)
    except NotRegularFileError as exc:
        raise RampFileError(f"{path}: {exc.strerror}; a ramp file is a regular FITS "
                            "file") from None
    with open(fd, "rb") as f:
        start = f.read(6)
        size = os.fstat(f.fileno()).st_size
    if start != b"SIMPLE":
        kind = ("a compressed file; decompress it first" if start[:2] == b"\x1f\x8b"
                or start[:3] == b"BZh" or start[:2] == b"PK" else "not a FITS file")
        raise RampFileError(f"{path}: {kind} (it does not start with SIMPLE)")
    try:
        check_structure(path)
    except ValueError as exc:
        raise RampFileError(f"{path}: not a readable FITS file ({exc})") from None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdul = fits.open(path, memmap=True, do_not_scale_image_data=True)
        except Exception as exc:  # astropy raises OSError, ValueError, VerifyError on garbage
            raise RampFileError(f"{path}: not a readable FITS file ({exc})") from exc
        try:
            try:
                hdul.readall()
            except Exception as exc:
                raise RampFileError(f"{path}: not a readable FITS file ({exc})") from exc
            try:
                return _check_layout(path, hdul, size, [" ".join(str(w.message).split())
                                                        for w in caught], strict, raw)
            except RampFileError:
                raise
            except (fits.VerifyError, ValueError, TypeError, KeyError, IndexError) as exc:
                # astropy parses cards lazily: a garbled EXTNAME, NAXISn, BITPIX... raises
                # here, on first use (found by fuzz/fuzz_ramp_header.py, issue 9).
                raise RampFileError(f"{path}: damaged FITS header "
                                    f"({type(exc).__name__}: {exc})") from exc
        finally:
            hdul.close()


def _check_layout(path, hdul, size, warned, strict, raw):
    corrupt = [w for w in warned if "truncated" in w or "corrupt" in w]
    sci_bitpix = _RAW_BITPIX if raw else (-32,) if strict else (-32, -64)
    sci, shape = _image_hdu(path, hdul, "SCI", sci_bitpix, 4, corrupt, scaled=raw)
    gdq, gdq_shape = None, shape
    if not raw or _hdu_index(hdul, "GROUPDQ") is not None:
        gdq, gdq_shape = _image_hdu(path, hdul, "GROUPDQ", (8,), 4, corrupt)
    pdq, pdq_shape = None, shape[2:]
    if (strict and not raw) or _hdu_index(hdul, "PIXELDQ") is not None:
        pdq, pdq_shape = _image_hdu(path, hdul, "PIXELDQ", (32,), 2, corrupt)
    if corrupt:
        raise RampFileError(f"{path}: damaged FITS file ({corrupt[0]})")
    for w in warned:
        log.debug("%s: astropy: %s", path, w)
    if ((hdul[sci].header.get("BZERO", 0) != 0 and not raw)
            or (gdq is not None and hdul[gdq].header.get("BZERO", 0) != 0)):
        raise RampFileError(f"{path}: SCI and GROUPDQ must not have a BZERO offset")
    bzero = hdul[pdq].header.get("BZERO", 0) if pdq is not None else 0
    if bzero not in (0, PIXELDQ_BZERO):
        raise RampFileError(f"{path}: extension PIXELDQ has BZERO = {bzero}; expected "
                            "2147483648 (uint32) or none")
    if gdq_shape != shape:
        raise RampFileError(f"{path}: extension GROUPDQ has shape {gdq_shape} but SCI "
                            f"{shape}; both must be (nints, ngroups, nrows, ncols)")
    if pdq_shape != shape[2:]:
        raise RampFileError(f"{path}: extension PIXELDQ has shape {pdq_shape}; expected "
                            f"(nrows, ncols) = {shape[2:]} from SCI {shape}")
    for i in range(len(hdul)):
        info = hdul.fileinfo(i)
        if info["datLoc"] + hdul[i].size > size:
            raise RampFileError(
                f"{path}: truncated: HDU {i} ({hdul[i].name}) needs "
                f"{info['datLoc'] + hdul[i].size} bytes, the file has {size}")
    header = hdul[0].header
    keywords = _exposure_keywords(path, header, shape, strict)
    status = header.get("S_RSCD")
    return Layout(
        path=path, header=header.copy(), header_size=hdul.fileinfo(0)["datLoc"],
        sci=sci, groupdq=gdq, pixeldq=pdq, shape=shape, pixeldq_bzero=int(bzero),
        offsets=tuple(None if i is None else hdul.fileinfo(i)["datLoc"]
                      for i in (sci, gdq, pdq)),
        raw=_raw_reason(hdul[sci].header, gdq, pdq) if raw else "",
        detector=keywords["DETECTOR"], readpatt=keywords["READPATT"],
        subarray=keywords["SUBARRAY"], nints=keywords["NINTS"],
        integration_start=keywords["INTSTART"], ystart=keywords["SUBSTRT2"],
        status=status.strip() if isinstance(status, str) else None,
        sci_dtype=_sci_dtype(hdul[sci].header))


#: SCI's BITPIX that a raw file may have: what jwst's RampModel reads into float32.
_RAW_BITPIX = (8, 16, 32, 64, -32, -64)


def _sci_dtype(sci_header):
    """SCI's stored floats as numpy reads them, or None (integers or scaled values)."""
    if sci_header.get("BZERO", 0) != 0 or sci_header.get("BSCALE", 1) != 1:
        return None
    return {-32: ">f4", -64: ">f8"}.get(sci_header["BITPIX"])


def _raw_reason(sci_header, gdq, pdq):
    """What keeps a file read with ``raw=True`` from the ramp layout, "" when nothing."""
    bitpix = sci_header["BITPIX"]
    scale = " and ".join(f"{key} = {sci_header[key]}" for key, plain in
                         (("BZERO", 0), ("BSCALE", 1)) if sci_header.get(key, plain) != plain)
    sci = "SCI has " + scale if scale else ""
    if bitpix != -32:
        sci = (f"SCI is {abs(bitpix)}-bit {'integers' if bitpix > 0 else 'floats'}"
               + (" with " + scale if scale else ""))
    what = [sci] if sci else []
    what += [f"no {name}" for name, index in (("GROUPDQ", gdq), ("PIXELDQ", pdq))
             if index is None]
    return ", ".join(what)


def _exposure_keywords(path, header, shape, strict):
    """The exposure keywords a correction needs, checked against the data's shape; a
    reader (not ``strict``) takes what is there, a bad keyword is only missing to it."""
    nints_file, ngroups = shape[:2]
    ngroups_hdr = header.get("NGROUPS")
    if (strict and ngroups_hdr is not None
            and _int_keyword(path, header, "NGROUPS", 1) != ngroups):
        raise RampFileError(f"{path}: primary header NGROUPS = {ngroups_hdr} but SCI has "
                            f"{ngroups} groups")
    start = _int_keyword(path, header, "INTSTART", 1, strict)
    # A NINTS below the last integration held is used as given, as jwst does (the
    # flag rules only ask whether NINTS > 1); rscd.apply logs it.
    nints = _int_keyword(path, header, "NINTS", start - 1 + nints_file, strict)
    # A missing READPATT (or one that is not a string) matches no reference row: jwst
    # 3.0.0 then skips the file, and so does apply (SKIPPED, saying so); without
    # DETECTOR or SUBARRAY jwst fails, and so is it refused here.
    keywords = {key: _str_keyword(path, header, key, strict and key != "READPATT")
                for key in ("DETECTOR", "READPATT", "SUBARRAY")}
    return dict(keywords, NINTS=nints, INTSTART=start,
                SUBSTRT2=_int_keyword(path, header, "SUBSTRT2", 1, strict))


class Ramp(NamedTuple):
    """A ramp file opened by :func:`open_ramp`; unpacks as ``sci, groupdq, pixeldq, header``."""
    sci: np.ndarray                 #: (nints, ngroups, nrows, ncols), big-endian, read-only map
    groupdq: np.ndarray             #: (nints, ngroups, nrows, ncols) uint8, read-only map
    pixeldq: Optional[np.ndarray]   #: (nrows, ncols) native uint32 flags; None if absent
    header: fits.Header             #: a copy of the primary header


def open_ramp(path: "str | os.PathLike[str]") -> Ramp:
    """Open the ramp file ``path`` read-only, its arrays memory-mapped (nothing loaded).

    Built on :func:`read_layout` (``strict=False``): SCI (float32 or float64, 4-d) and
    GROUPDQ (uint8, SCI's shape) are numpy memory maps opened read-only at their data
    offsets, so a full-frame exposure costs no memory until a piece is indexed. SCI is
    big-endian, as FITS stores it (index it and convert the small piece). PIXELDQ, one
    frame, is read into native uint32 flags (BZERO taken off), or None when absent. A
    raw file (integer or scaled SCI, or no GROUPDQ: an uncal file) is read into memory
    as jwst's RampModel reads it (:mod:`rscd.raw_ramp`): SCI native float32, GROUPDQ
    zeros where missing.

    Raises
    ------
    RampFileError
        As :func:`read_layout`: the message names the file and the extension.
    OSError
        The file cannot be opened.

    Examples
    --------
    >>> from rscd.dq import REFERENCE_PIXEL
    >>> from rscd.fits import open_ramp
    >>> sci, groupdq, pixeldq, header = open_ramp("rscd_demo/demo_mirimage_linearity.fits")
    >>> sci.shape, sci.dtype.str, int(pixeldq[0, 0]) == REFERENCE_PIXEL
    ((3, 10, 64, 72), '>f4', True)
    """
    layout = read_layout(path, strict=False, raw=True)
    sci_at, gdq_at, pdq_at = layout.offsets
    if layout.sci_dtype is None or gdq_at is None:
        arrays = read_raw(layout)
        return Ramp(*arrays[:2], None if pdq_at is None else arrays[2], layout.header)
    sci = _map(layout.path, layout.sci_dtype, sci_at, layout.shape, "r")
    groupdq = _map(layout.path, "u1", gdq_at, layout.shape, "r")
    pixeldq = None
    if pdq_at is not None:
        pixeldq = layout.pixeldq_flags(_map(layout.path, ">u4", pdq_at, layout.shape[2:],
                                            "r"))
    return Ramp(sci, groupdq, pixeldq, layout.header)


def read_raw(layout: Layout) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SCI, GROUPDQ and PIXELDQ of the raw file ``layout.path`` in memory, as jwst reads
    them (:func:`rscd.raw_ramp.ramp_arrays`); :class:`RampFileError` naming the file
    when astropy cannot read it."""
    with open(layout.path, "rb") as f:
        try:
            return ramp_arrays(f.fileno(), layout)
        except RawFileError as exc:
            raise RampFileError(f"{layout.path}: {exc}") from None


def set_keywords(header: fits.Header, keywords: Dict[str, object],
                 history: Optional[str]) -> None:
    """Set ``keywords`` in ``header`` (a :class:`astropy.io.fits.Header`, changed in
    place) with rscd's comments, and add the ``history`` card when given: the same way
    for the room check (:func:`extra_blocks`) and the real write."""
    for key, value in keywords.items():
        if key in header:
            header[key] = value
        else:
            comment = _COMMENTS.get(key, "")
            if isinstance(value, str) and len(value) > 40:
                comment = ""
            header.set(key, value, comment)
    if history:
        header.add_history(history)


def run_keywords(reference_name: Optional[str]) -> Dict[str, object]:
    """Every keyword a run with reference file ``reference_name`` may write (S_RSCD,
    R_RSCD and the statistics), with values of their widest form: what the header
    room is measured with."""
    keywords: Dict[str, object] = {"S_RSCD": "COMPLETE", "R_RSCD": reference_name or "N/A"}
    keywords.update({key: 0 for key in STAT_KEYWORDS.values()})
    return keywords


#: Blank cards a header written by rscd keeps after its keywords: the nine a later run
#: in place needs (S_RSCD, R_RSCD, six statistics, HISTORY), so it never needs a copy.
RESERVE_CARDS = 9


def extra_blocks(layout: Layout, reference_name: Optional[str], history: Optional[str],
                 reserve: int = 0) -> int:
    """The 2880-byte blocks to add to the primary header of ``layout`` so that every
    keyword of :func:`run_keywords` and the ``history`` card fit, with ``reserve``
    blank cards left over; 0 when its padding is enough (an in-place run then rewrites
    the header over its own bytes)."""
    trial = layout.header.copy()
    set_keywords(trial, run_keywords(reference_name), history)
    needed = len(trial.tostring(padding=False)) + 80 * reserve    # cards and END
    return -(-max(0, needed - layout.header_size) // _BLOCK)


def history_card(result_method: str, reference_name: Optional[str]) -> str:
    """The HISTORY text of a run: rscd's version, the UTC time, the method and the
    reference file name (at most 72 characters)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"rscd {VERSION} {now} RSCD {result_method} with {reference_name or 'N/A'}"[:72]


def check_state(layout: Layout, method: str, force: bool) -> None:
    """Refuse (:class:`RampFileError`) what the file's S_RSCD forbids: any run on a file
    left 'RUNNING' by an interrupted in-place decay or measured run, and those two (not
    idempotent) on a file marked 'COMPLETE'; ``force`` accepts both. ``method`` is "flag",
    "decay" or "measured" (not "auto")."""
    path = layout.path
    if layout.status == RUNNING and not force:
        raise RampFileError(
            f"{path}: S_RSCD = 'RUNNING': an earlier in-place decay or measured run was "
            "interrupted, so the SCI data may be partly corrected. Restore the file (e.g. "
            "rerun the pipeline step that made it) and run rscd again; --force (force=True) "
            "accepts the data as they are")
    if method in ("decay", "measured") and layout.status == "COMPLETE" and not force:
        raise RampFileError(
            f"{path}: S_RSCD = 'COMPLETE': the RSCD step already ran on this file and "
            f"{method} is not idempotent; --force (force=True) applies it again")


def _write_header(fh, header, size):
    """Write the primary header over its old bytes (it fills exactly ``size`` bytes)."""
    text = header.tostring().encode("ascii")
    if len(text) != size:   # the room was checked before; never expected
        raise RampFileError(f"{fh.name}: the RSCD keywords do not fit in the primary header")
    fh.seek(0)
    fh.write(text)
    fh.flush()


def _map(file, dtype, offset, shape, mode="r+"):
    """A view of one HDU's data where it lies in ``file`` (a path or an open file);
    writeable unless ``mode`` is "r"."""
    if 0 in shape:
        return np.zeros(shape, dtype)       # nothing to map, nothing to write
    return np.memmap(file, dtype=dtype, mode=mode, offset=offset, shape=shape)


def _run_apply(sci, groupdq, pixeldq, ref, layout, method, threads, previous):
    return apply(sci, groupdq, pixeldq, ref, readpatt=layout.readpatt,
                 subarray=layout.subarray, detector=layout.detector, nints=layout.nints,
                 integration_start=layout.integration_start, ystart=layout.ystart,
                 method=method, threads=threads, previous=previous)


def _changes_data(layout, ref, chosen):
    """Whether ``apply`` will reach the data: MIRI data and a reference row for the
    file's READPATT/SUBARRAY (looked up as ``apply`` looks it up). Otherwise it skips, and
    an in-place decay run writes no RUNNING marker: with warnings as errors, apply's
    warning about the missing row then refuses a file nothing was written to."""
    return (is_miri(layout.detector)
            and ref.lookup(layout.readpatt, layout.subarray, chosen) is not None)


#: What ``apply`` raises while checking its arguments, before the C core writes anything
#: (a warning is among them when warnings are errors). An interrupt (KeyboardInterrupt,
#: SystemExit) is not: it may land after the core returned, when the data have changed.
_BEFORE_DATA = (Warning, TypeError, ValueError, ArithmeticError, MemoryError)


def _correct_data(fh, layout, ref, method, threads, previous, marker, durable):
    """Correct the three arrays of the open file where they lie; return the Result.

    ``marker``: S_RSCD = 'RUNNING' is written and flushed before the data are touched.
    When ``apply`` refuses while checking its arguments (a warning is a refusal when
    warnings are errors), the header's original bytes are written back: the file is as
    it was. An interrupt during ``apply`` leaves the marker: it may land after the data
    changed, and the next run must know.
    """
    sci_at, gdq_at, pdq_at = layout.offsets
    sci = _map(fh, ">f4", sci_at, layout.shape)
    groupdq = _map(fh, "u1", gdq_at, layout.shape)
    raw = _map(fh, ">u4", pdq_at, layout.shape[2:])   # stored bits, BZERO not applied
    pixeldq = layout.pixeldq_flags(raw)                  # native uint32 frame (small)
    original = pixeldq.copy()
    if marker:
        fh.seek(0)
        original_header = fh.read(layout.header_size)
        running = layout.header.copy()
        set_keywords(running, {"S_RSCD": RUNNING}, None)
        _write_header(fh, running, layout.header_size)
        os.fsync(fh.fileno())
    try:
        result = _run_apply(sci, groupdq, pixeldq, ref, layout, method, threads, previous)
    except _BEFORE_DATA:
        if marker:          # the data are untouched: the header as it was, byte for byte
            fh.seek(0)
            fh.write(original_header)
            fh.flush()
            os.fsync(fh.fileno())
        raise
    changed = pixeldq != original
    if changed.any():
        raw[changed] = layout.pixeldq_words(pixeldq[changed])
    if durable:     # data pages first, then the keywords that say they are done
        for view in (sci, groupdq, raw):
            if isinstance(view, np.memmap):
                view.flush()
    return result


def _correct(fh, layout, ref, method, threads, history, *, marker, durable,
             previous=None):
    """Correct the open file ``fh`` (read-write) where it lies; ``layout`` comes from
    :func:`read_layout` of the same bytes.

    The data are changed through numpy memory maps at the offsets :func:`read_layout`
    found and the primary header is rewritten over its own bytes, so the file keeps its
    size and inode and only changed pages are written. ``durable``: flush the data to
    disk (msync) before the keywords that say they are done, and fsync at the end; a
    temporary copy needs neither here (:func:`atomic_write` syncs it once before the
    rename).
    """
    if extra_blocks(layout, ref.name, history):   # checked by the caller; be sure
        raise RampFileError(f"{layout.path}: the RSCD keywords do not fit in the primary "
                            "header")
    size = os.fstat(fh.fileno()).st_size
    _allocate(fh.fileno(), layout.path)
    result = _correct_data(fh, layout, ref, method, threads, previous, marker, durable)
    header = layout.header.copy()
    set_keywords(header, result.header_keywords(), history)
    _write_header(fh, header, layout.header_size)
    if durable:
        os.fsync(fh.fileno())
    if os.fstat(fh.fileno()).st_size != size:  # never expected
        log.error("%s: the file was rewritten (size %d -> %d)", layout.path, size,
                  os.fstat(fh.fileno()).st_size)
    return result


def _allocate(fd, path):
    """Reserve the blocks of a sparse file before it is written through a memory map
    (:func:`rscd.safe_files.reserve_blocks`): a store into a hole of a file on a full
    file system is SIGBUS, a death with no message and no header put back."""
    try:
        reserve_blocks(fd)
    except OSError as exc:
        folder = os.path.dirname(os.path.abspath(path))
        raise OSError(exc.errno, f"{os.strerror(exc.errno)} in {folder}: the file is "
                      "sparse (it has unallocated blocks) and correcting it needs disk "
                      "space for them; nothing was changed; free space there and run "
                      "again", path) from None


def _copy_with_room(src_fd, src, fout, header_size, blocks):
    """Copy the open file ``src_fd`` (named ``src``) into the open, empty file ``fout``,
    moving the primary header's END card ``blocks`` blocks later (blank cards between)."""
    with open(src_fd, "rb", closefd=False) as fin:
        fin.seek(0)
        if blocks:
            fout.write(_header_with_room(fin.read(header_size), src, blocks))
        _copy_rest(fin, fout, header_size if blocks else 0)
    fout.flush()


def _header_with_room(head, src, blocks):
    """The primary header's bytes ``head`` (of the file ``src``) with ``blocks`` 2880-byte
    blocks of blank cards before its END card."""
    for pos in range(0, len(head), 80):
        if head[pos:pos + 8] == b"END     ":
            return head[:pos] + b" " * (_BLOCK * blocks) + head[pos:]
    raise RampFileError(f"{src}: primary header has no END card")


def _copy_rest(fin, fout, start):
    """Append the bytes of ``fin`` from ``start`` on to ``fout``: inside the kernel where
    it can (Linux copy_file_range, no round trip through Python), else in 8 MB chunks."""
    fout.flush()
    out_at = fout.tell()
    size = os.fstat(fin.fileno()).st_size
    if hasattr(os, "copy_file_range"):
        src, dst = start, out_at
        try:
            while src < size:
                n = os.copy_file_range(fin.fileno(), fout.fileno(), size - src, src, dst)
                if n == 0:
                    break
                src, dst = src + n, dst + n
        except OSError:   # not supported here (old kernel, some file systems)
            pass
        if src == size:
            fout.seek(dst)
            return
    fin.seek(start)       # start again the portable way
    fout.seek(out_at)
    fout.truncate()
    shutil.copyfileobj(fin, fout, 1 << 23)


def apply_file(path: "Union[str, os.PathLike[str]]",
               reference: "Union[str, os.PathLike[str], Reference, None]", *,
               output: "Union[str, os.PathLike[str], None]" = None,
               output_dir: "Union[str, os.PathLike[str], None]" = None, inplace: bool = False,
               method: str = "auto", overwrite: bool = False, force: bool = False,
               threads: Optional[int] = None, previous: Optional[Tuple[Any, Any]] = None,
               keep_inode: bool = False, sync: bool = True) -> Result:
    """Apply the RSCD correction to a FITS ramp file.

    Parameters
    ----------
    path : str or os.PathLike
        A ramp file as the JWST pipeline writes it (SCI, PIXELDQ, GROUPDQ extensions;
        DETECTOR, READPATT, SUBARRAY and optionally NINTS, NGROUPS, INTSTART, SUBSTRT2 in the
        primary header), or a raw (uncal) one, read as jwst reads it (new file only). A
        file without READPATT matches no reference row and is SKIPPED, as jwst skips it.
    reference : str, os.PathLike, Reference or None
        The RSCD reference file or one parsed by :func:`rscd.read_reference`; None asks
        CRDS for the exposure's file (needs CRDS_PATH / CRDS_SERVER_URL; raises
        :class:`rscd.crds.CRDSError` saying what to set when CRDS is not available).
    output : str or os.PathLike, optional
        Name of the new file; default :func:`output_path` (in ``output_dir`` if given).
    output_dir : str or os.PathLike, optional
        Folder for the new file (created with its parents if missing); default: next to
        the input.
    inplace : bool
        Correct ``path`` itself: where the RSCD keywords fit in the primary header's
        free space, through a memory map (same file); else through a copy with a larger
        header renamed over it (see the module notes).
    keep_inode : bool
        With ``inplace``: refuse instead of replacing the file by a copy (for files
        with hard links or open memory maps elsewhere).
    method : {"auto", "flag", "decay", "measured"}
        As for :func:`rscd.apply`: "auto" picks "flag" when the reference file has an
        RSCD_GROUP_SKIP table, else "decay" (an RSCD table), else "measured".
    overwrite : bool
        Replace an existing output file. Without it, an output that another process
        writes while this run works is not replaced either: this run then raises
        :class:`FileExistsError` and leaves no file behind.
    sync : bool
        fsync a new-file output before its rename and its folder after (default), so
        that after a power cut the output name holds the complete file or nothing; about
        2.5 s per GB on a disk writing 400 MB/s (docs/inplace.rst). False leaves the
        write-back to the kernel. In-place runs always sync: the input is at stake.
    force : bool
        Run ``decay`` on a file whose S_RSCD is COMPLETE, or on one left 'RUNNING' by an
        interrupted in-place run.
    threads : int, optional
        Threads for the C core.
    previous : tuple of two arrays, optional
        ``decay`` of a segment file (INTSTART > 1): SCI and GROUPDQ of the previous
        segment's last integration, uncorrected, as for :func:`rscd.apply`
        (:mod:`rscd.segments` does this for a whole exposure).

    Returns
    -------
    Result
        As :func:`rscd.apply`; S_RSCD, R_RSCD, the statistics keywords and a HISTORY card
        are written to the primary header. An in-place run through a copy says so in
        ``notes``.

    Raises
    ------
    RampFileError
        The file is not a readable ramp file (names the extension or keyword), the
        keywords do not fit its header for an in-place run with ``keep_inode``, a raw
        file for an in-place run, or the decay refusal rules.
    ReferenceFileError
        The reference file is malformed.
    FileExistsError
        The output exists and ``overwrite`` is false.

    Examples
    --------
    >>> res = rscd.apply_file("rscd_demo/demo_mirimage_linearity.fits",
    ...                       "rscd_demo/example_rscd_flag.fits", output_dir=".")
    >>> res.status, res.method, res.ngroups_skip_int2p
    ('COMPLETE', 'flag', 3)
    >>> fits.getval("demo_mirimage_rscd.fits", "S_RSCD")
    'COMPLETE'
    """
    path = os.fspath(path)
    check_options(method=method, inplace=inplace, output_dir=output_dir, keep_inode=keep_inode)
    if inplace and output is not None:
        raise ValueError("inplace=True writes no new file: do not give output or output_dir")
    if reference is None:      # ask CRDS, as the pipeline does without an override
        from .crds import find_reference
        reference = find_reference(path)
        if reference is None:
            return Result("SKIPPED", reason="CRDS has no RSCD reference file for this "
                          "exposure (N/A, or not MIRI data); nothing written")
    ref = reference if isinstance(reference, Reference) else read_reference(reference)
    if inplace:     # the whole run under an exclusive lock: the state is read under it
        with _held(path, write=True) as fd:
            layout, run, chosen = _checked(path, ref, method, threads, force, previous)
            if layout.raw:
                raise RampFileError(
                    f"{path}: a raw file ({layout.raw}), as the pipeline's uncal files "
                    "are: correcting it writes SCI as float32 and adds GROUPDQ and "
                    "PIXELDQ, as jwst's RampModel reads it, which makes a new file; run "
                    "without --in-place (inplace=False)")
            if keep_inode:
                check_room(layout, ref, chosen)
            earlier = flag_rerun(path, layout.header, layout.status, chosen)  # rscd/_rerun.py
            _pause_after_check()
            result = _apply_in_place(path, fd, layout, run,
                                     chosen in ("decay", "measured")
                                     and _changes_data(layout, ref, chosen))
            keep_larger_counts(path, earlier, result)
            return result
    out = os.fspath(output) if output is not None else output_path(path, output_dir)
    with _held(path, write=False) as fd:    # no in-place run changes it while it is read
        layout, run, chosen = _checked(path, ref, method, threads, force, previous)
        check_output(path, out, overwrite)
        # --output-dir out/ is created with its parents
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        earlier = flag_rerun(path, layout.header, layout.status, chosen)
        _pause_after_check()
        write = _write_converted_copy if layout.raw else _write_corrected_copy
        try:
            result = write(fd, out, layout, run, replace=overwrite, sync=sync)
        except FileExistsError:
            raise FileExistsError(f"{out} was written by another run while this one "
                                  "worked; use --overwrite (overwrite=True) to replace "
                                  "it") from None
        except OSError as exc:
            raise _write_error(exc, out, "choose another folder with --output-dir") from None
    log.info("%s: wrote %s", path, out)
    keep_larger_counts(out, earlier, result)
    return result


#: Tests only (docs/inplace.rst): pause a run right after its state check, for a second
#: process to be started inside that window. Seconds to sleep, or a path: PATH.waiting is
#: created, and the run goes on when PATH exists (at most two minutes).
PAUSE_AFTER_CHECK = "RSCD_TEST_PAUSE_AFTER_CHECK"


def _pause_after_check():
    hook = os.environ.get(PAUSE_AFTER_CHECK)
    if not hook:
        return
    try:
        time.sleep(float(hook))
        return
    except ValueError:
        pass
    with open(hook + ".waiting", "w"):
        pass
    deadline = time.monotonic() + 120
    while not os.path.exists(hook) and time.monotonic() < deadline:
        time.sleep(0.01)


@contextlib.contextmanager
def _held(path, write):
    """:func:`rscd.safe_files.held` with rscd's messages: a file that is not a regular
    file, or (``write``) that this user cannot change, refused in one line."""
    def waiting():
        log.warning("%s: another rscd run holds this file; waiting for it to finish", path)
    with contextlib.ExitStack() as stack:
        try:
            fd = stack.enter_context(held(path, write=write, on_wait=waiting))
        except NotRegularFileError as exc:
            raise RampFileError(f"{path}: {exc.strerror}; a ramp file is a regular FITS "
                                "file") from None
        except OSError as exc:
            if not write or exc.errno not in _CANNOT_UPDATE:
                raise
            raise RampFileError(f"{path}: cannot open for update ({exc.strerror}): "
                                f"{_CANNOT_UPDATE[exc.errno]}, or write a new file "
                                "(without --in-place)") from None
        yield fd


_CANNOT_UPDATE = {
    errno.EACCES: "the file is read-only for this user; make it writable (chmod u+w)",
    errno.EPERM: "the file is immutable or append-only (lsattr shows i or a); remove the "
                 "flag (chattr -i)",
    errno.EROFS: "it is on a read-only file system",
    errno.ETXTBSY: "it is a running program",
}


def _checked(path, ref, method, threads, force, previous):
    """Read the layout and check everything that can refuse before a byte is written
    (under the caller's lock): numbers, the S_RSCD state. A raw file (uncal) is
    accepted here; an in-place run refuses it."""
    layout = read_layout(path, raw=True)
    # apply's own checks of the numbers, before anything is written (threads=0 ...)
    exposure_numbers(layout.shape[0], layout.nints, layout.integration_start,
                     layout.ystart, threads)
    chosen = ref.default_method() if method == "auto" else method
    check_state(layout, chosen, force)
    run = (ref, method, threads, history_card(chosen, ref.name), previous)
    return layout, run, chosen


def _write_error(exc, name, elsewhere):
    """An OSError of writing ``name`` (an output, or the file corrected through a copy)
    as one line naming the file and its folder and saying what to do: a full disk or
    quota, a folder that cannot be written in. Others are returned unchanged."""
    folder = os.path.dirname(os.path.abspath(name))
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OSError(exc.errno, f"{reason} in {folder} (disk full or quota "
                       f"reached): nothing was written; free space there, or "
                       f"{elsewhere}", name)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and exc.filename == folder:
        return OSError(exc.errno, f"{reason}: cannot write {os.path.basename(name)} "
                       f"in this folder; make it writable, or {elsewhere}", folder)
    return exc


def check_room(layout: Layout, ref: Reference, method: str) -> None:
    """Refuse (:class:`RampFileError`) a file whose primary header has no room for the
    RSCD keywords: an in-place run with ``keep_inode`` (``--keep-inode``) cannot
    correct it. ``layout`` is what :func:`read_layout` found, ``method`` "flag" or
    "decay"."""
    if extra_blocks(layout, ref.name, history_card(method, ref.name)):
        raise RampFileError(
            f"{layout.path}: the RSCD keywords do not fit in the primary header's free "
            "space, and adding a header block means writing a new file (a new inode), "
            "which --keep-inode (keep_inode=True) forbids; run without --keep-inode to "
            "correct it through a copy renamed over it, or without --in-place to write a "
            "new file")


def check_output(path: str, out: str, overwrite: bool) -> None:
    """Refuse the output name ``out`` of the ramp file ``path`` when it is the input
    itself (:class:`RampFileError`), or when it exists and not ``overwrite``
    (:class:`FileExistsError`). Only a check: a refusal leaves nothing behind."""
    if os.path.exists(out):
        if os.path.samefile(out, path):
            raise RampFileError(f"{path}: the output name is the input itself; give another "
                                "output name or output folder, or correct in place")
        if not overwrite:
            raise FileExistsError(f"{out} exists; use --overwrite (overwrite=True) to "
                                  "replace it")


def _apply_in_place(path, fd, layout, run, marker):
    """The fast path where the keywords fit (same file, only changed bytes written),
    else a corrected copy with a larger header renamed over the file. ``fd`` is the
    file, open read-write and locked."""
    ref, method, threads, history, previous = run
    if not extra_blocks(layout, ref.name, history):
        with open(fd, "r+b", closefd=False) as fh:
            result = _correct(fh, layout, ref, method, threads, history, marker=marker,
                              durable=True, previous=previous)
        log.info("%s: corrected in place (the RSCD keywords fit in the primary header; "
                 "same file, only changed bytes written)", path)
        return result
    real = os.path.realpath(path)     # a symbolic link stays one: replace what it names
    links = os.fstat(fd).st_nlink
    if links > 1:
        log.warning("%s has %d hard links: the other names keep the uncorrected file "
                    "(--keep-inode refuses instead)", path, links)
    why = (f"{path}: the RSCD keywords do not fit in the primary header, so the file is "
           "corrected through a copy renamed over it")
    try:
        result = _write_corrected_copy(fd, real, layout, run, replace=True, identity=True)
    except IdentityError as exc:        # e.g. not root, and the file is another user's
        raise RampFileError(f"{why}, and {exc.strerror}; the file is unchanged. Run as "
                            "its owner or root, or without --in-place (a new file)") from None
    except OSError as exc:
        folder = os.path.dirname(real) or "."
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and exc.filename == folder:
            raise RampFileError(
                f"{why}, and the copy cannot be written in {folder} "
                f"({os.strerror(exc.errno)}); the "
                "file is unchanged. Make the folder writable, or run without --in-place "
                "with --output-dir DIR") from None
        raise _write_error(exc, real, "run without --in-place with --output-dir on "
                           "another file system; the file is unchanged") from None
    log.info("%s: corrected through a copy renamed over it: the RSCD keywords do not fit "
             "in the primary header, so the copy has a larger header (new inode)", path)
    return dataclasses.replace(result, notes=result.notes + (
        "corrected through a copy with a larger primary header, renamed over the file",))


def _write_corrected_copy(src_fd, out, layout, run, *, replace, identity=False,
                          sync=True):
    """Copy the open file ``src_fd`` (``layout.path``) into a locked temporary file next
    to ``out`` with header room for the keywords and RESERVE_CARDS more, correct the
    copy, sync it (unless not ``sync``) and rename it to ``out`` (replacing a file there
    only with ``replace``).
    The source is only read: when ``out`` is the source, it stays intact until the
    rename. ``identity``: the copy gets the source's owner, group, mode and extended
    attributes (ACLs)."""
    ref, method, threads, history, previous = run
    extra = extra_blocks(layout, ref.name, history, reserve=RESERVE_CARDS)
    with atomic_write(out, durable=sync, replace=replace,
                      identity_of=src_fd if identity else None) as fh:
        _copy_with_room(src_fd, layout.path, fh, layout.header_size, extra)
        copied = read_layout(fh.name) if extra else dataclasses.replace(layout, path=fh.name)
        return _correct(fh, copied, ref, method, threads, history, marker=False,
                        durable=False, previous=previous)


def _write_converted_copy(src_fd, out, layout, run, *, replace, sync=True):
    """A raw file (``layout.raw``: an uncal file, say) written to ``out`` in the ramp
    layout, as jwst's RampModel reads it (:mod:`rscd.raw_ramp`), its primary header with
    the room a copy gets (the keywords and RESERVE_CARDS more); then corrected there as a
    copy is."""
    ref, method, threads, history, previous = run
    # the primary header as stored, with the room a copy gets (its bytes: astropy would
    # rewrite its cards and their count)
    primary = _header_with_room(os.pread(src_fd, layout.header_size, 0), layout.path,
                                extra_blocks(layout, ref.name, history, reserve=RESERVE_CARDS))
    with atomic_write(out, durable=sync, replace=replace) as fh:
        try:
            write_ramp_layout(src_fd, fh, layout, primary)
        except RawFileError as exc:
            raise RampFileError(f"{layout.path}: {exc}") from None
        result = _correct(fh, read_layout(fh.name), ref, method, threads, history,
                          marker=False, durable=False, previous=previous)
    log.info("%s: a raw file (%s): read as jwst's RampModel reads it (SCI as float32; "
             "GROUPDQ and PIXELDQ of zeros where missing) into the new file", layout.path,
             layout.raw)
    return dataclasses.replace(result, notes=result.notes + (
        f"read as jwst reads a raw file ({layout.raw}): SCI as float32, GROUPDQ and "
        "PIXELDQ of zeros where missing",))
