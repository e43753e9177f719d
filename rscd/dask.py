"""The RSCD correction on dask arrays (``pip install "dask[array]"``).

    >>> import rscd.dask
    >>> out = rscd.dask.apply(data, groupdq, pixeldq, "my_rscd.fits",
    ...                       readpatt="FAST", subarray="FULL")        # doctest: +SKIP
    >>> data2, groupdq2, pixeldq2, result = rscd.dask.compute(out)      # doctest: +SKIP

Arrays are chunked along rows and columns only (one chunk along nints and ngroups:
every block holds whole ramps); each block is corrected by the C core on its own, with its
absolute first detector row (``ystart`` + the block's row offset) for the decay row
parity. The results equal :func:`rscd.apply` on the whole arrays, bit for bit, with any
chunking:

decay
    Every pixel is independent given its row parity: blocks are exact.
flag
    The back-off stop is global over all pixels of a range of integrations
    (docs/overview.rst, "Method flag", rule 7): a block alone would stop at its own first
    clean level. So ``apply`` first
    asks the C core, block by block (``rscd_flag_problem_levels``, reading groups
    0..skip+1 of GROUPDQ), for each level whether any sample is a problem; ORed over the
    blocks, those flags give the global stop of each range (``rscd_flag_stop_level``),
    and each block is then flagged with it by ``rscd_flag_range_stop``. This reduction runs when ``apply`` is called (it reads a
    small part of GROUPDQ): the stop levels are plain numbers in the graph, so the
    corrected blocks do not wait on a barrier that would make the scheduler hold whole
    GROUPDQ blocks in memory.

The statistics are global too: the per-block pixel counts add up exactly (the blocks'
pixels are disjoint). They are a small dask array computed in the same pass as the data,
so use :func:`compute` or :func:`store` (one graph), not separate ``.compute()`` calls,
which would run the correction once per call.

Blocks are copies (dask never lets a task change its input): the corrected blocks are
new arrays, written back with :func:`store` (``da.store``). Everything here is picklable
and runs unchanged on ``dask.distributed``.

Files are not corrected here: :func:`rscd.apply_file` corrects one where it lies (memory
mapped), and :func:`rscd.batch.apply_files` sends many to any executor, a dask cluster's
included. :func:`apply_file` and :func:`open_file` remain as deprecated wrappers.
"""
import dataclasses
import os
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:      # pragma: no cover - exercised only without dask
    raise ImportError("rscd.dask needs dask: pip install \"dask[array]\" "
                      "(or pip install \".[dask]\" in the rscd clone)") from exc

from . import _core
from .correct import (METHODS, ReferenceLike, Result, apply as apply_arrays, check_shapes,
                      exposure_numbers, flag_plan, measured_left_notes)
from .fits import open_ramp, read_layout
from ._renames import renamed_keywords
from .reference import as_reference

__all__ = ["apply", "compute", "store", "apply_file", "open_file", "Corrected"]

_FLAG_STATS = ("keep_groups_saturation_int1", "keep_bright_firstgroup_int1",
               "keep_groups_saturation_int2p", "keep_bright_firstgroup_int2p")
_DECAY_STATS = ("npix_corrected", "npix_saturated", "npix_nonfinite", "nints_corrected",
                "first_int_left")
_MEASURED_LEFT = ("npix_left_flagged", "npix_left_no_slope", "nvalues_left")
_MEASURED_STATS = ("npix_corrected",) + _MEASURED_LEFT + ("nints_corrected",)


@dataclass(frozen=True)
class Corrected:
    """What :func:`apply` returns: the corrected arrays (lazy) and their statistics.

    ``sci``, ``groupdq``, ``pixeldq`` are dask arrays (the input itself where the
    method does not change it: SCI for flag, GROUPDQ and PIXELDQ for decay).
    ``stats`` is a small int64 dask array of per-block counts (or None when nothing
    is computed), turned into a :class:`rscd.Result` by :meth:`result_from`.
    """
    sci: Any
    groupdq: Any
    pixeldq: Any
    stats: Any
    base: Result

    def result_from(self, stats: Any) -> Result:
        """The global :class:`rscd.Result` from the computed ``stats`` (numpy)."""
        if self.stats is None:
            return self.base
        stats = np.asarray(stats).reshape(-1, len(_block_stats(self.base.method)))
        if self.base.method == "flag":
            total = stats.sum(axis=0)
            values: Dict[str, Any] = {}
            for n, name in enumerate(_FLAG_STATS):
                if getattr(self.base, name) is not None:
                    values[name] = int(total[n])
            return dataclasses.replace(self.base, **values)
        total, most = stats.sum(axis=0), stats.max(axis=0)
        if self.base.method == "measured":
            left: Dict[str, Any] = {name: int(total[n])
                                    for n, name in enumerate(_MEASURED_LEFT, 1)}
            # the stand-in's notes, less its own counts (the model's missing rows stay)
            notes = tuple(n for n in self.base.notes
                          if n not in measured_left_notes(**{k: getattr(self.base, k)
                                                             for k in _MEASURED_LEFT}))
            return dataclasses.replace(self.base, npix_corrected=int(total[0]),
                                       nints_corrected=int(most[4]), **left,
                                       notes=notes + measured_left_notes(**left))
        return dataclasses.replace(self.base, npix_corrected=int(total[0]),
                                   npix_saturated=int(total[1]),
                                   npix_nonfinite=int(total[2]),
                                   nints_corrected=int(most[3]),
                                   first_int_left=bool(most[4]))


def _check_dask(arr, name, dtype, ndim, any_byteorder):
    if isinstance(arr, np.ndarray):
        arr = da.from_array(arr, chunks=arr.shape[:arr.ndim - 2] + ("auto",) * 2)
    if not isinstance(arr, da.Array):
        raise TypeError(f"{name} must be a dask array, not {type(arr).__name__}")
    want = np.dtype(dtype)
    got = arr.dtype
    if (got.newbyteorder("=") if any_byteorder else got) != want:
        raise TypeError(f"{name} must have dtype {want.name}, not {got.str}; use "
                        f"{name}.astype(np.{want.name})")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, not {arr.ndim} "
                         f"(shape {arr.shape})")
    return arr


def _whole_ramps(arr, name, rechunk):
    if len(arr.chunks[0]) <= 1 and len(arr.chunks[1]) <= 1:
        return arr
    if rechunk:
        return arr.rechunk({0: -1, 1: -1})
    raise ValueError(f"{name} is chunked along nints or ngroups (chunks {arr.chunksize}); "
                     "rscd needs whole ramps in every block: chunk along rows and columns "
                     f"only, e.g. {name}.rechunk({{0: -1, 1: -1}}), or pass rechunk=True")


def _problem_levels(gdq, ranges=None):
    """Per block: for each range, the C core's problem flags of levels 1..skip+1
    (``rscd_flag_problem_levels``); ORed over the blocks they are the whole range's."""
    gdq = np.ascontiguousarray(gdq, dtype=np.uint8)
    pdq = np.empty(gdq.shape[2:], np.uint32)         # of the block's frame; not read
    out = [np.frombuffer(_core.flag_problem_levels(gdq, pdq, *rng, 1), np.uint8)
           for rng in ranges if rng is not None]
    return np.concatenate(out).astype(bool).reshape(1, 1, -1)


def _flag_block(gdq, pdq, ranges=None, stops=None, threads=1):
    gdq = np.array(gdq, dtype=np.uint8, order="C")          # a new block, never the input
    pdq = np.array(pdq, dtype=np.uint32, order="C")
    stats = np.zeros(len(_FLAG_STATS), np.int64)
    for n, (rng, stop) in enumerate(zip(ranges, stops)):
        if rng is not None:
            stats[2 * n:2 * n + 2] = _core.flag_range_stop(gdq, pdq, rng[0], rng[1], rng[2],
                                                           stop, threads)
    return gdq, pdq, stats


def _decay_block(sci, gdq, pdq, *prev, reference=None, options=None, ystart=1,
                 block_info=None):
    y0 = block_info[0]["array-location"][2][0]       # absolute first row of this block
    sci = np.array(sci, dtype=np.float32, order="C")        # native copy of the block
    if not (gdq.flags.writeable and gdq.flags.c_contiguous):
        gdq = np.array(gdq, order="C")                      # only read by decay
    pdq = np.ascontiguousarray(pdq, dtype=np.uint32)
    previous = (np.asarray(prev[0]), np.asarray(prev[1])) if prev else None
    with warnings.catch_warnings():      # apply() on the whole arrays warned already
        warnings.simplefilter("ignore")
        res = apply_arrays(sci, gdq, pdq, reference, ystart=ystart + y0, previous=previous,
                           **options)
    stats = np.array([getattr(res, name) or 0 for name in _block_stats(res.method)], np.int64)
    return sci, stats


def _pick(block, n):
    return block[n]


def _pick_frame(block, n):
    return block[n][None, None]


def _pick_stats(block):
    return block[-1].reshape(1, 1, 1, -1)


@renamed_keywords(sci="data", substrt2="ystart")
def apply(data: Any, groupdq: Any, pixeldq: Any, reference: ReferenceLike, *, readpatt: str,
          subarray: str, detector: str = "MIRIMAGE", nints: Optional[int] = None,
          integration_start: int = 1, ystart: int = 1, method: str = "auto",
          previous: Optional[Tuple[Any, Any]] = None, threads: Optional[int] = None,
          rechunk: bool = False) -> "Corrected":
    """The RSCD correction of dask arrays; returns new (lazy) arrays and statistics.

    Parameters
    ----------
    data : dask.array.Array, float32 (either byte order), (nints, ngroups, nrows, ncols)
        SCI, as ``data`` of :func:`rscd.apply`. ``sci=`` is its old, deprecated name
        (DeprecationWarning).
    groupdq : dask.array.Array, uint8, same shape
    pixeldq : dask.array.Array or numpy.ndarray, uint32, (nrows, ncols)
        Chunked along rows and columns only; the three arrays are aligned to common
        row/column chunks by dask.
    reference, readpatt, subarray, detector, nints, integration_start, ystart, method
        As for :func:`rscd.apply`; ``ystart`` is the detector row of array row 0
        (``substrt2=`` is its old, deprecated name).
    previous : pair of arrays, optional
        decay of a segment: SCI and GROUPDQ (ngroups, nrows, ncols) of the previous
        segment's last integration, uncorrected (numpy or dask).
    threads : int, optional
        C-core threads per block. None (the default) lets rscd choose: one thread per
        block, since dask runs the blocks in parallel already.
    rechunk : bool
        Rechunk arrays chunked along nints or ngroups instead of raising ValueError.

    Returns
    -------
    Corrected
        ``sci``, ``groupdq``, ``pixeldq`` (dask arrays, native byte order where new),
        ``stats``; :func:`compute` or :func:`store` them in one pass.

    Raises
    ------
    TypeError, ValueError
        As :func:`rscd.apply`, and for arrays chunked along nints or ngroups.

    Warns
    -----
    RSCDWarning
        As :func:`rscd.apply` (no reference row, deprecated form, other detector).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    sci = _whole_ramps(_check_dask(data, "data", np.float32, 4, True), "data", rechunk)
    groupdq = _whole_ramps(_check_dask(groupdq, "groupdq", np.uint8, 4, False), "groupdq",
                           rechunk)
    pixeldq = _check_dask(pixeldq, "pixeldq", np.uint32, 2, True)
    check_shapes(sci.shape, groupdq.shape, pixeldq.shape)
    # Common row/column chunks (those of SCI), so block n of every array covers the
    # same pixels; a no-op when they already agree.
    groupdq = groupdq.rechunk(sci.chunks)
    pixeldq = pixeldq.rechunk(sci.chunks[2:])
    nints_file, ngroups = groupdq.shape[:2]
    # threads None: one per block (dask supplies the parallelism across blocks).
    nints, start, ystart, threads = exposure_numbers(nints_file, nints, integration_start,
                                                     ystart, 1 if threads is None else threads)

    # The checks, reference lookup and skips of rscd.apply, run once on a tiny
    # stand-in (one pixel), so messages, warnings and SKIPPED results are the same.
    ref = as_reference(reference)
    chosen = ref.default_method() if method == "auto" else method
    tiny = (np.zeros((nints_file, ngroups, 1, 1), np.float32),
            np.zeros((nints_file, ngroups, 1, 1), np.uint8), np.zeros((1, 1), np.uint32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        base = apply_arrays(*tiny, ref, readpatt=readpatt, subarray=subarray, detector=detector,
                      nints=nints, integration_start=start, ystart=ystart,
                      method=chosen, threads=1,
                      previous=(None if previous is None or chosen != "decay" else
                                (np.zeros((ngroups, 1, 1), np.float32),
                                 np.zeros((ngroups, 1, 1), np.uint8))))
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    if base.status != "COMPLETE" or nints_file == 0 or 0 in groupdq.shape[2:]:
        return Corrected(sci, groupdq, pixeldq, None, base)

    if chosen == "flag":
        # The core's plan (rscd_flag_plan_make, as rscd.apply's rscd_flag runs it).
        row: Any = ref.lookup(readpatt, subarray, "flag")   # a SkipRow: base is COMPLETE
        plan = flag_plan(row.skip_int1, row.skip_int2p, ngroups=ngroups,
                         nints_file=nints_file, nints=nints, integration_start=start)
        ranges = (plan.int1, plan.int2p)
        nlev = sum(r[2] + 1 for r in ranges if r is not None)
        if nlev:
            top = max(r[2] for r in ranges if r is not None) + 2
            head = groupdq[:, :top]          # only groups 0..skip+1 are read
            per_block = head.map_blocks(
                _problem_levels, ranges=ranges, drop_axis=[0, 1], new_axis=[2],
                chunks=((1,) * len(head.chunks[2]), (1,) * len(head.chunks[3]), (nlev,)),
                dtype=bool, meta=np.empty((0, 0, 0), bool))
            problems = per_block.any(axis=(0, 1)).compute()
        stops: List[Optional[int]] = []
        pos = 0
        for rng in ranges:
            if rng is None:
                stops.append(None)
                continue
            stops.append(_core.flag_stop_level(
                np.ascontiguousarray(problems[pos:pos + rng[2] + 1], np.uint8), rng[2]))
            pos += rng[2] + 1
        packed = da.map_blocks(_flag_block, groupdq, pixeldq, ranges=ranges, stops=stops,
                               threads=threads, dtype=object,
                               meta=np.empty((0, 0, 0, 0), object))
        gdq_out = packed.map_blocks(_pick, 0, dtype=np.uint8,
                                    meta=np.empty((0, 0, 0, 0), np.uint8))
        # (Axes are never dropped from ``packed``: dask would try to concatenate the
        # per-block tuples along them.) PIXELDQ comes out as (1, 1, nrows, ncols).
        pdq_out = packed.map_blocks(_pick_frame, 1, dtype=np.uint32,
                                    chunks=((1,), (1,)) + packed.chunks[2:],
                                    meta=np.empty((0, 0, 0, 0), np.uint32))[0, 0]
        stats = _stats_array(packed, len(_FLAG_STATS))
        return Corrected(sci, gdq_out, pdq_out, stats, base)

    options = dict(readpatt=readpatt, subarray=subarray, detector=detector, nints=nints,
                   integration_start=start, method=chosen, threads=threads)
    prev: Tuple[Any, ...] = ()
    if previous is not None:
        prev = tuple(_check_dask(a, name, dt, 3, True)
                     for a, name, dt in zip(previous, ("previous sci", "previous groupdq"),
                                            (np.float32, np.uint8)))
        if any(a.shape != sci.shape[1:] for a in prev):
            raise ValueError(f"previous arrays must have shape (ngroups, nrows, ncols) = "
                             f"{sci.shape[1:]}")
        prev = tuple(a.rechunk(sci.chunks[1:]) for a in prev)
    packed = da.map_blocks(_decay_block, sci, groupdq, pixeldq, *prev, reference=ref,
                           options=options, ystart=ystart, dtype=object,
                           meta=np.empty((0, 0, 0, 0), object))
    sci_out = packed.map_blocks(_pick, 0, dtype=np.float32,
                                meta=np.empty((0, 0, 0, 0), np.float32))
    stats = _stats_array(packed, len(_block_stats(chosen)))
    return Corrected(sci_out, groupdq, pixeldq, stats, base)


def _block_stats(method):
    """The Result fields each block returns for ``method``, in order."""
    return {"flag": _FLAG_STATS, "measured": _MEASURED_STATS}.get(method, _DECAY_STATS)


def _stats_array(packed, n):
    """Per-block counts as an int64 array (1, 1, block rows, block columns * n)."""
    return packed.map_blocks(
        _pick_stats,
        chunks=((1,), (1,), (1,) * len(packed.chunks[2]), (n,) * len(packed.chunks[3])),
        dtype=np.int64, meta=np.empty((0, 0, 0, 0), np.int64))


def compute(corrected: Corrected,
            **kwargs: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Result]:
    """Compute everything in one pass: (sci, groupdq, pixeldq, Result) as numpy."""
    if corrected.stats is None:
        sci, gdq, pdq = dask.compute(corrected.sci, corrected.groupdq, corrected.pixeldq,
                                     **kwargs)
        return sci, gdq, pdq, corrected.base
    sci, gdq, pdq, stats = dask.compute(corrected.sci, corrected.groupdq,
                                        corrected.pixeldq, corrected.stats, **kwargs)
    return sci, gdq, pdq, corrected.result_from(stats)


def store(corrected: Corrected, sci: Any = None, groupdq: Any = None, pixeldq: Any = None, *,
          lock: Any = False, **kwargs: Any) -> Result:
    """Write the corrected arrays into targets (``da.store``) in one pass; return the Result.

    Targets take ``target[region] = block`` (numpy arrays, ``np.memmap`` views of a
    FITS file, zarr/h5py datasets). Give only those the method
    changes (SCI for decay, GROUPDQ and PIXELDQ for flag); ``None`` skips one.
    """
    sources, targets = [], []
    for src, dst in ((corrected.sci, sci), (corrected.groupdq, groupdq),
                     (corrected.pixeldq, pixeldq)):
        if dst is not None:
            sources.append(src)
            targets.append(dst)
    # The statistics come back as a computed array, not through a target: a numpy
    # target would be filled in a worker's copy on dask.distributed. Both in one
    # dask.compute, so each block is corrected once.
    stored = da.store(sources, targets, lock=lock, compute=False) if sources else None
    if corrected.stats is None:
        if stored is not None:
            dask.compute(stored, **kwargs)
        return corrected.base
    _, stats = dask.compute(stored, corrected.stats, **kwargs)
    return corrected.result_from(stats)


class _PixeldqTarget:
    """:func:`open_file`'s PIXELDQ target: stores flags as the file's words."""

    def __init__(self, layout):
        self.layout, self.shape, self.dtype, self.ndim = layout, layout.shape[2:], np.uint32, 2

    def __setitem__(self, index, flags):
        words = np.memmap(self.layout.path, ">u4", "r+", self.layout.offsets[2], self.shape)
        words[index] = self.layout.pixeldq_words(np.asarray(flags))
        words.flush()


def open_file(path: "str | os.PathLike[str]",
              chunks: Tuple[int, int] = (256, 256)) -> Tuple[Any, ...]:
    """Deprecated: a ramp file as dask arrays, and the arrays of the file to write into.

    Returns ``(sci, groupdq, pixeldq, meta, targets)``: dask arrays over the read-only
    memory maps of :func:`rscd.fits.open_ramp` (whole ramps, ``chunks`` rows and
    columns), the exposure keywords for :func:`apply`, and SCI, GROUPDQ and PIXELDQ
    of the file opened for update as targets of :func:`store` (local schedulers only:
    a memory map travels to another process as a copy).

    Writing the data back this way skips what :func:`rscd.apply_file` does around them
    (the RUNNING marker of ``decay``, the header room, S_RSCD and the statistics
    keywords), so it is deprecated: correct a file with ``rscd.apply_file(path,
    reference, inplace=True)`` (many files, on a dask cluster too:
    :func:`rscd.batch.apply_files`), read one with :func:`rscd.fits.open_ramp`.
    """
    warnings.warn("rscd.dask.open_file is deprecated: correct a file with "
                  "rscd.apply_file(path, reference, inplace=True), read one with "
                  "rscd.fits.open_ramp(path)", DeprecationWarning, stacklevel=2)
    path = os.fspath(path)
    layout = read_layout(path)
    ramp = open_ramp(path)
    full = layout.shape[:2] + tuple(chunks)
    arrays = (da.from_array(ramp.sci, chunks=full), da.from_array(ramp.groupdq, chunks=full),
              da.from_array(ramp.pixeldq, chunks=tuple(chunks)))
    meta = dict(readpatt=layout.readpatt, subarray=layout.subarray,
                detector=layout.detector, nints=layout.nints,
                integration_start=layout.integration_start, ystart=layout.ystart)
    sci_at, gdq_at, _ = layout.offsets
    targets = (np.memmap(path, ">f4", "r+", sci_at, layout.shape),
               np.memmap(path, "u1", "r+", gdq_at, layout.shape), _PixeldqTarget(layout))
    return arrays + (meta, targets)


def apply_file(path: "str | os.PathLike[str]", reference: ReferenceLike, *, chunks: Any = None,
               method: str = "auto", force: bool = False, threads: Optional[int] = None,
               **compute_kwargs: Any) -> Result:
    """Deprecated: use ``rscd.apply_file(path, reference, inplace=True)``.

    Corrects the ramp file ``path`` in place through :func:`rscd.apply_file` (memory
    mapped, the same refusals and keywords; it is an order of magnitude faster than the
    block-by-block file path this function had). ``chunks`` and ``compute_kwargs`` are
    no longer used; for many files on a dask cluster use :func:`rscd.batch.apply_files`
    with ``executor=client.get_executor()`` or ``rscd FILES --scheduler ADDRESS``.
    Returns the :class:`rscd.Result`.
    """
    warnings.warn("rscd.dask.apply_file is deprecated: use rscd.apply_file(path, reference, "
                  "inplace=True) (rscd.batch.apply_files for many files, on a dask cluster "
                  "too)", DeprecationWarning, stacklevel=2)
    from . import fits
    return fits.apply_file(path, reference, inplace=True, method=method, force=force,
                           threads=threads)
