"""``rscd diagnose``: measure the RSCD transient in your own ramps and recommend how many
groups to flag (the ``group_skip1`` / ``group_skip`` of an ``RSCD_GROUP_SKIP`` table).

Input: linearity-corrected ramps, before any RSCD correction. docs/diagnose.rst explains
the method; the work is split by job:

- :mod:`rscd.diagnose_measure`: per sample, the late window's two half-lines and the
  offsets of the other groups, summed per row stripe (DQ rules, clip tables);
- :mod:`rscd.diagnose_stats`: the two-part regression ``a_j * slope + b_j`` and its
  bootstrap uncertainties;
- :mod:`rscd.diagnose_fit`: the skip rule and the decay fit;
- :mod:`rscd.diagnose_report`: result classes, JSON, table, figure, reference file;
- :mod:`rscd.diagnose_cli`: the ``rscd diagnose`` command;
- this module: :func:`diagnose` (arrays), :func:`diagnose_files` (files, memory-mapped),
  and the questions asked of the input (instrument, S_RSCD).

Groups are counted from 0 in Python, JSON and options; from 1 in tables and figures.
"""
import contextlib
import math
import mmap
import os
import sys
import tempfile
import warnings
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._renames import renamed_keywords
from .correct import RSCDWarning
from .diagnose_fit import decay_model, fit_decay, recommended_skip, skip_of_decay
from .diagnose_measure import (KIND_TEXT, KINDS, Accumulator, DiagnoseError, check_window,
                               default_window_start, line_window, pilot_plan)
from .diagnose_report import Diagnosis, PairResult, Profile, draw_figure
from .diagnose_stats import median_slope, regress
from .reference import canonical_subarray

__all__ = ["diagnose", "diagnose_files", "Diagnosis", "PairResult", "Profile",
           "DiagnoseError", "AlreadyCorrectedWarning", "DEFAULT_THRESHOLD", "decay_model",
           "default_window_start", "draw_figure", "fit_decay", "recommended_skip"]

#: Default threshold T, in units of one group's signal increment (docs/diagnose.rst).
DEFAULT_THRESHOLD = 0.1
#: Fewest samples per row parity for a parity's own skip to count.
MIN_PARITY_SAMPLES = 200
#: MIRI detectors (DETECTOR keyword).
MIRI_DETECTORS = ("MIRIMAGE", "MIRIFULONG", "MIRIFUSHORT")
#: Mapped file bytes read before their pages are dropped from resident memory (fewer,
#: larger madvise calls; this bounds the file's share of the resident set).
RELEASE_BYTES = 16 << 20
#: The largest page-cache folio a fault may map around the page it reads (PMD size).
FOLIO_BYTES = 2 << 20
#: Bytes of the files' pixel slopes diagnose_files holds in memory for one pair (16 a
#: pixel per file: 17 MB a full frame); the slopes of further files wait on disk.
SLOPES_IN_MEMORY = 32 << 20
#: Bytes of sample verdicts (one a sample: 6 MB for 6 full-frame integrations) kept for
#: one pair between its slopes and sums passes; blocks beyond read GROUPDQ again.
VERDICTS_IN_MEMORY = 16 << 20


class AlreadyCorrectedWarning(RSCDWarning):
    """A file's S_RSCD is COMPLETE: its ramps no longer show the transient."""


# --------------------------------------------------------------------------- profiles


def _profile(acc, kind, parity, s_ref, threshold, group_time):
    """The Profile of one kind for parity 0 (odd rows), 1 (even) or None (both)."""
    geom = acc.geom
    w, ngroups = geom.w, geom.ngroups
    sums = acc.sums[kind]
    parts = regress(sums.sum(axis=1) if parity is None else sums[:, parity],
                    geom.measured, ngroups, s_ref)
    if parts is None:
        return None
    early, early_err = parts.total[:w], parts.total_err[:w]
    measured = recommended_skip(early, threshold)
    boot = recommended_skip(parts.boot_total[:, :w], threshold)     # one per resample
    prof = Profile(recommended_skip=None, samples=int(parts.samples[0]),
                   profile=parts.a, uncertainty=parts.a_err, profile_dn=parts.b,
                   profile_dn_uncertainty=parts.b_err, total=parts.total,
                   total_uncertainty=parts.total_err, reference_slope=s_ref,
                   measured_skip=measured, skip_uncertainty=round(float(np.std(boot)), 3),
                   proportional_measured=parts.proportional)
    fit = fit_decay(early, early_err, line_window(ngroups, w))
    if fit is not None and fit[2] < 10 * ngroups:
        prof.amplitude, prof.amplitude_err, prof.tau_groups, prof.tau_groups_err = fit
        prof.fit_skip = min(w, skip_of_decay(prof.amplitude, prof.tau_groups, threshold))
        if group_time:
            prof.tau_seconds = prof.tau_groups * group_time
            prof.tau_seconds_err = prof.tau_groups_err * group_time
    prof.reaches_window = bool(abs(early[-1]) > threshold)
    after = early_err[measured:]
    prof.noise_limited = bool(prof.skip_uncertainty > 0.5 or
                              (len(after) and np.max(after) > threshold / 3))
    if prof.reaches_window:
        prof.measurable = False
        prof.reason = (
            f"the offset is still {early[-1]:+.3g} increments (|offset| > T = {threshold:g}) "
            f"at group {w - 1} (counted from 0), the last before the late window, for pixels "
            f"of {s_ref:.3g} DN/group: the transient does not die out within these ramps "
            "(or the late window holds it); the profile in DN (profile_dn) is the measurement")
    elif s_ref <= 0:
        prof.measurable = False
        prof.reason = (f"the pixels' median slope is {s_ref:.3g} DN/group: no signal to "
                       "compare the offsets with")
    else:
        prof.recommended_skip = max(measured, prof.fit_skip or 0)
    return prof


def _kind_profile(acc, kind, threshold, group_time, reference_slope):
    s_ref = reference_slope if reference_slope is not None else median_slope(acc.slopes[kind])
    prof = _profile(acc, kind, None, s_ref, threshold, group_time)
    if prof is None:
        return None
    prof.samples_tested_ok = acc.used[kind]
    parts = []
    for parity, name in ((0, "odd_rows"), (1, "even_rows")):
        sub = _profile(acc, kind, parity, s_ref, threshold, group_time)
        setattr(prof, name, sub)
        if sub is not None and sub.samples >= MIN_PARITY_SAMPLES:
            parts.append(sub)
    if prof.measurable and all(p.measurable for p in parts):
        prof.recommended_skip = max([prof.recommended_skip] +
                                    [p.recommended_skip for p in parts])
    elif prof.measurable:
        bad = next(p for p in parts if not p.measurable)
        prof.measurable, prof.recommended_skip = False, None
        prof.reason = f"{'odd' if bad is prof.odd_rows else 'even'} rows: {bad.reason}"
    return prof


def _finish(acc, threshold, group_time, where, reference_slope):
    """Profiles of an accumulator; a kind offered but with no used sample is an error."""
    out = {}
    for kind in KINDS:
        if not acc.offered[kind]:
            out[kind] = None
            continue
        if not acc.used[kind]:
            raise DiagnoseError(
                f"{where}: no usable sample in {KIND_TEXT[kind]} ({acc.offered[kind]} "
                "offered): every one is a reference or DO_NOT_USE pixel, has a SATURATED, "
                "JUMP_DET or AD_FLOOR group, DO_NOT_USE on a group between the first and "
                "the last, or a non-finite value")
        out[kind] = _kind_profile(acc, kind, threshold, group_time, reference_slope)
        if out[kind] is None:
            raise DiagnoseError(f"{where}: too few usable samples in {KIND_TEXT[kind]} "
                                f"({acc.used[kind]})")
    return out


def _notes(result, threshold):
    for kind in KINDS:
        p = getattr(result, kind)
        if p is None:
            continue
        text = KIND_TEXT[kind]
        if not p.measurable:
            result.notes.append(f"{text}: skip not measurable here: {p.reason}")
            continue
        if not p.proportional_measured:
            result.notes.append(
                f"{text}: the pixels' slopes hardly differ, so the part of the offset that "
                "scales with the slope cannot be told from the DN part: all of it is taken as "
                "DN (profile_dn)")
        parts = {"measured": p.measured_skip, "fit": p.fit_skip,
                 "odd rows": p.odd_rows.recommended_skip if p.odd_rows else None,
                 "even rows": p.even_rows.recommended_skip if p.even_rows else None}
        larger = [f"{k} {v}" for k, v in parts.items() if v is not None]
        if len({v for v in parts.values() if v is not None}) > 1:
            result.notes.append(f"{text}: skip {p.recommended_skip}, the largest of "
                                f"{', '.join(larger)} (the safe value)")
        if p.noise_limited:
            result.notes.append(
                f"{text}: noise-limited (skip uncertainty {p.skip_uncertainty:.2g} groups): "
                "more samples (files, integrations) would make the skip firmer")
    if result.int1 is None and result.int2p is not None:
        result.notes.append("no integration 1 in these files: a written group_skip1 "
                            "repeats the int 2+ skip")
    if result.already_corrected:
        result.notes.append(f"S_RSCD = COMPLETE in {', '.join(result.already_corrected)}: "
                            "already RSCD-corrected, the transient may be hidden")


# --------------------------------------------------------------------------- arrays


def _positive(value, rule):
    """``value`` as a float when it is a positive finite number, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{rule}, not {value!r}")
    return float(value)


def _check_threshold(threshold):
    return _positive(threshold, "threshold must be a positive number (a fraction of one "
                                "group's increment)")


def _check_slope(value):
    return None if value is None else _positive(
        value, "reference_slope must be a positive number of DN per group")


@renamed_keywords(substrt2="ystart")
def diagnose(data: np.ndarray, groupdq: np.ndarray, pixeldq: np.ndarray, *,
             threshold: float = DEFAULT_THRESHOLD, integration_start: int = 1, ystart: int = 1,
             window_start: Optional[int] = None, group_time: Optional[float] = None,
             subarray: Optional[str] = None, readpatt: Optional[str] = None,
             reference_slope: Optional[float] = None, threads: int = 0,
             kernel: str = "c") -> "Diagnosis":
    """Measure the RSCD transient of ramps in memory (``RampModel`` layout).

    Parameters
    ----------
    data : ndarray, float32, (nints, ngroups, nrows, ncols)
        Linearity-corrected ramps, not yet RSCD-corrected (any byte order).
    groupdq : ndarray, uint8, same shape
    pixeldq : ndarray, uint32, (nrows, ncols)
    threshold : float
        T, in units of one group's signal increment (default 0.1; docs/diagnose.rst).
    integration_start : int
        1-based number of the first integration in the arrays (segment files).
    ystart : int
        1-based detector row of array row 0 (SUBSTRT2), for the row parity, as for
        :func:`rscd.apply`; ``substrt2=`` is its old, deprecated name.
    window_start : int, optional
        First group of the late window, counted from 0; default ``min(N // 2, N - 5)``.
    group_time : float, optional
        Seconds per group (TGROUP), for tau in seconds.
    subarray, readpatt : str, optional
        Names reported and written by :meth:`Diagnosis.write_reference`.
    reference_slope : float, optional
        Slope (DN per group) of the pixels the skip is judged for; default the median
        slope of the used samples.
    threads : int
        OpenMP threads of the C kernel (0: the OpenMP default); results do not depend
        on it.
    kernel : {"c", "numpy"}
        The measurement: the C kernel (csrc/diagnose.c), or the numpy implementation of
        the same sums (slower; the tests' reference).

    Returns
    -------
    Diagnosis
        With one :class:`PairResult`.

    Raises
    ------
    DiagnoseError
        Too few groups, or no usable sample.
    TypeError, ValueError
        Arrays of the wrong dtype or shape.

    Examples
    --------
    >>> from rscd.simulate import simulate_ramps
    >>> d = rscd.diagnose(*simulate_ramps(int1=(0.6, 1.5), int2p=(1.2, 2.5)))
    >>> d.results[0].int2p.recommended_skip, d.results[0].int1.recommended_skip
    (6, 2)
    """
    threshold = _check_threshold(threshold)
    reference_slope = _check_slope(reference_slope)
    data, groupdq, pixeldq = (np.asarray(a) for a in (data, groupdq, pixeldq))
    if data.ndim != 4 or data.dtype.kind != "f" or data.dtype.itemsize != 4:
        raise TypeError(f"data must be float32 (nints, ngroups, nrows, ncols), not "
                        f"{data.dtype} with shape {data.shape}")
    if groupdq.shape != data.shape or groupdq.dtype != np.uint8:
        raise TypeError(f"groupdq must be uint8 of shape {data.shape}, not {groupdq.dtype} "
                        f"{groupdq.shape}")
    if pixeldq.shape != data.shape[2:] or pixeldq.dtype.kind not in "ui":
        raise TypeError(f"pixeldq must be uint32 of shape {data.shape[2:]}, not "
                        f"{pixeldq.dtype} {pixeldq.shape}")
    for name, value in (("integration_start", integration_start), ("ystart", ystart)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
    where = "arrays" if subarray is None else f"{subarray} {readpatt}"
    w = check_window(where, data.shape[1], window_start)
    acc = Accumulator(data.shape[1], w, kernel, threads)
    pdq = pixeldq.astype(np.uint32, copy=False)
    kw = dict(integration_start=int(integration_start), ystart=int(ystart))
    acc.use_slopes(acc.pixel_slopes(data, groupdq, pdq, **kw))
    acc.add_pilot(data, groupdq, pdq, **kw)
    acc.finish_pilot()
    acc.add(data, groupdq, pdq, **kw)
    result = PairResult(subarray=subarray, readpatt=readpatt, ngroups=data.shape[1],
                        files=[], window_start=w, group_time=group_time)
    for kind, prof in _finish(acc, threshold, group_time, where, reference_slope).items():
        setattr(result, kind, prof)
    if result.int1 is None and result.int2p is None:
        raise DiagnoseError(f"{where}: no integration to measure")
    _notes(result, threshold)
    return Diagnosis(threshold=threshold, results=[result])


# --------------------------------------------------------------------------- files


class _MappedRamp:
    """SCI, GROUPDQ and PIXELDQ of a ramp file through one read-only memory map.
    ``release`` drops the pages of a block already measured from this process's
    resident memory (they stay in the page cache)."""

    def __init__(self, layout):
        self.layout = layout
        sci_at, gdq_at, pdq_at = layout.offsets
        shape = layout.shape
        count = int(np.prod(shape))
        self._fh = open(layout.path, "rb")
        self._mm = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.sci = np.frombuffer(self._mm, ">f4", count, sci_at).reshape(shape)
        self.gdq = np.frombuffer(self._mm, "u1", count, gdq_at).reshape(shape)
        raw = np.frombuffer(self._mm, ">u4", shape[2] * shape[3], pdq_at).reshape(shape[2:])
        self.pixeldq = layout.pixeldq_flags(raw)        # small native uint32 frame
        del raw
        self._offsets = (sci_at, 4), (gdq_at, 1)
        self._pending = None          # first row not yet released
        self._fd = self._fh.fileno()
        self._buffers = None          # read_rows's two sets
        self._turn = 0

    def reading(self, kernel):
        """How the accumulator reads this file: the C kernel through :meth:`read_rows`,
        the numpy one through the map, whose pages it then drops (:meth:`release`)."""
        return dict(reader=self.read_rows) if kernel == "c" else dict(release=self.release)

    def release(self, i, r0, r1):
        """Called after rows [r0, r1) of integration i: once RELEASE_BYTES of mapped SCI
        and GROUPDQ have been read since the last release (and at the end of each
        integration), drop their pages. A fault maps the whole page-cache folio around
        it (up to a few MB on recent kernels), which reaches back over rows dropped
        before: so each plane is dropped from its start (and FOLIO_BYTES before it),
        not from the first row read since the last release; dropping a range that is
        no longer mapped costs a page-table walk only."""
        if not hasattr(self._mm, "madvise"):
            return
        _, ngroups, ny, nx = self.layout.shape
        first = self._pending if self._pending is not None else r0
        if r1 < ny and (r1 - first) * nx * ngroups * 5 < RELEASE_BYTES:
            self._pending = first
            return
        self._pending = None
        page = mmap.PAGESIZE
        for base, size in self._offsets:
            if r1 == ny:    # end of an integration: all of it, whatever read-ahead mapped
                start = base + i * ngroups * ny * nx * size
                self._madvise(max(base, start - (128 << 10)),
                              start + ngroups * ny * nx * size, page)
                continue
            for g in range(ngroups):
                plane = base + (i * ngroups + g) * ny * nx * size
                start = max(base, plane - FOLIO_BYTES)
                self._madvise(start, plane + r1 * nx * size, page)

    def read_rows(self, i, r0, r1, groups, groupdq=True):
        """Rows [r0, r1) of integration i copied into one of this ramp's two sets of
        buffers (in turn: the caller reads the next block while it measures one) with
        one read per group (no page of the file is mapped, so the resident memory
        stays the buffers' whatever the kernel's page-cache folios): SCI of ``groups``
        as float32 in the file's byte order, GROUPDQ of every group (of none when
        ``groupdq`` is false). Returns ``(sci, swapped, groupdq, plane_stride)`` for
        :meth:`rscd.diagnose_measure.Accumulator.add`."""
        _, ngroups, ny, nx = self.layout.shape
        n = (r1 - r0) * nx
        if self._buffers is None or self._buffers[0][1].size < ngroups * n:
            self._buffers = [(np.empty(ngroups * n, np.float32), np.empty(ngroups * n, np.uint8))
                             for _ in range(2)]
        # two sets, used in turn: the next block is read while the kernel measures one
        self._turn ^= 1
        sci, gdq = (b[:ngroups * n] for b in self._buffers[self._turn])
        (sci_at, _), (gdq_at, _) = self._offsets
        for g in range(ngroups):
            plane = (i * ngroups + g) * ny * nx + r0 * nx
            if g in groups:
                self._read_into(sci[g * n:(g + 1) * n], sci_at + 4 * plane)
            if groupdq:
                self._read_into(gdq[g * n:(g + 1) * n], gdq_at + plane)
        return sci, sys.byteorder == "little", gdq, n

    def _read_into(self, array, at):
        view = memoryview(array).cast("B")
        if hasattr(os, "preadv"):
            got = os.preadv(self._fd, [view], at)
        else:
            self._fh.seek(at)
            got = self._fh.readinto(view)
        if got != len(view):
            raise OSError(f"{self.layout.path}: short read at byte {at}: the file changed "
                          "while it was read")

    def pilot_rows(self, rows, ints):
        """SCI (native float32), GROUPDQ and PIXELDQ of ``rows`` of integrations ``ints``
        (:func:`rscd.diagnose_measure.pilot_plan`), read with pread: touching scattered
        rows through the map would map whole large page-cache folios around each of
        them (hundreds of MB of a large file)."""
        _, ngroups, ny, nx = self.layout.shape
        sci = np.empty((len(ints), ngroups, len(rows), nx), ">f4")
        gdq = np.empty((len(ints), ngroups, len(rows), nx), np.uint8)
        sci_bytes = memoryview(sci.view(np.uint8).reshape(-1))
        gdq_bytes = memoryview(gdq.reshape(-1))
        (sci_at, _), (gdq_at, _) = self._offsets
        k = 0       # where the next row goes in gdq (in sci: 4 k bytes)
        for i in ints.tolist():
            for g in range(ngroups):
                plane = (i * ngroups + g) * ny * nx
                for r in rows.tolist():
                    at = plane + r * nx
                    self._read_into(sci_bytes[4 * k:4 * (k + nx)], sci_at + 4 * at)
                    self._read_into(gdq_bytes[k:k + nx], gdq_at + at)
                    k += nx
        if not sci.dtype.isnative:        # native float32 in place, not in a second copy
            sci = sci.byteswap(inplace=True).view(sci.dtype.newbyteorder())
        return sci, gdq, self.pixeldq[rows]

    def _madvise(self, start, end, page):
        aligned = start - start % page
        self._mm.madvise(mmap.MADV_DONTNEED, aligned, end - aligned)

    def close(self):
        """Drop the arrays and close the map and the file. When an interrupted block
        (Ctrl-C) still holds a view of the map in its traceback, closing the map would
        raise BufferError over the KeyboardInterrupt: the map is then left to close when
        its last view is freed."""
        self.sci = self.gdq = None
        try:
            self._mm.close()
        except BufferError:
            pass
        finally:
            self._fh.close()


class _RawRamp:
    """A raw file (``layout.raw``: an uncal file, say) read whole into memory as jwst's
    RampModel reads it (:mod:`rscd.raw_ramp`: SCI as float32, zeros for a missing
    GROUPDQ or PIXELDQ), then measured as arrays are."""

    def __init__(self, layout):
        from .fits import read_raw
        self.layout = layout
        self.sci, self.gdq, self.pixeldq = read_raw(layout)

    def reading(self, kernel):
        return {}

    def pilot_rows(self, rows, ints):
        return self.sci[ints][:, :, rows], self.gdq[ints][:, :, rows], self.pixeldq[rows]

    def close(self):
        self.sci = self.gdq = None


def _group_time(layout):
    value = layout.header.get("TGROUP")
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and value > 0:
        return float(value)
    return None


def _check_miri(layout):
    """Refuse a file that is not from MIRI, or has no READPATT (one line)."""
    instrume = layout.header.get("INSTRUME")
    if isinstance(instrume, str) and instrume.strip() and instrume.strip().upper() != "MIRI":
        raise DiagnoseError(f"{layout.path}: INSTRUME = {instrume.strip()!r}: rscd diagnose "
                            "measures the RSCD of MIRI ramps only (INSTRUME 'MIRI')")
    if layout.detector.upper() not in MIRI_DETECTORS:
        raise DiagnoseError(f"{layout.path}: DETECTOR = {layout.detector!r}: rscd diagnose "
                            f"measures MIRI ramps only ({', '.join(MIRI_DETECTORS)})")
    if not layout.readpatt:     # a correction skips such a file; a table row needs it
        raise DiagnoseError(f"{layout.path}: primary header lacks the keyword READPATT (or "
                            "it is not a string): rscd diagnose names its results and "
                            "reference rows by READPATT and SUBARRAY")


class _SlopeStore:
    """Each file's pixel slopes (:meth:`Accumulator.pixel_slopes`: two float64 frames,
    or None) from the slopes pass, which reads every file of a pair first, until that
    file's pilot and sums passes. Up to SLOPES_IN_MEMORY bytes stay in memory; the
    slopes of further files wait in an unnamed temporary file (gone when closed, or
    when the process ends however it ends), so a pair of many files holds a bounded
    resident memory, not 17 MB per full frame."""

    def __init__(self):
        self._held: Dict[str, Any] = {}
        self._stored: Dict[str, Tuple[int, int]] = {}    # path -> (offset, pixels)
        self._file: Any = None
        self._bytes = 0

    def put(self, path, slopes):
        size = 0 if slopes is None else 16 * slopes[0].size
        if self._bytes + size <= SLOPES_IN_MEMORY:
            self._held[path] = slopes
            self._bytes += size
            return
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="rscd-slopes-")
            at = self._file.seek(0, os.SEEK_END)
            for frame in slopes:
                self._file.write(np.ascontiguousarray(frame, np.float64).data)
        except OSError as exc:
            raise OSError(exc.errno, f"{exc.strerror} (the pixel slopes of {path} wait in "
                          "a temporary file there; TMPDIR names another folder)",
                          tempfile.gettempdir()) from exc
        self._stored[path] = (at, slopes[0].size)

    def get(self, path):
        if path in self._held:
            return self._held[path]
        at, n = self._stored[path]
        both = np.empty((2, n))
        self._file.seek(at)
        if self._file.readinto(both.data) != both.nbytes:
            raise OSError(f"{tempfile.gettempdir()}: the temporary file of pixel slopes "
                          "was cut short")
        return both[0], both[1]

    def close(self):
        if self._file is not None:
            self._file.close()


class _Verdicts:
    """Each sample's verdict from the slopes pass (used or not: PIXELDQ, GROUPDQ, the
    window's values finite; a byte), kept for the sums pass of its rows, which then
    reads no GROUPDQ: a fifth fewer bytes, the same sums (docs/diagnose.rst, "Speed and
    memory"). At most VERDICTS_IN_MEMORY bytes for a pair; blocks beyond that are read
    whole again."""

    def __init__(self):
        self._kept: Dict[Tuple[str, int, int], np.ndarray] = {}
        self._room = VERDICTS_IN_MEMORY

    def of(self, path):
        """The ``verdicts`` of one file (:meth:`Accumulator._c_pass`): put and get."""
        def put(i, r0, ok):
            if ok.nbytes <= self._room:
                self._kept[path, i, r0] = ok.copy()
                self._room -= ok.nbytes
        return SimpleNamespace(put=put, get=lambda i, r0: self._kept.get((path, i, r0)))


def diagnose_files(paths: "Sequence[Union[str, os.PathLike[str]]]", *,
                   threshold: float = DEFAULT_THRESHOLD, window_start: Optional[int] = None,
                   reference_slope: Optional[float] = None, threads: int = 0,
                   kernel: str = "c") -> "Diagnosis":
    """Measure the RSCD transient in ramp files, one result per (SUBARRAY, READPATT).

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        Linearity-corrected MIRI ramp files (SCI, PIXELDQ, GROUPDQ; READPATT, SUBARRAY
        and optionally INTSTART, SUBSTRT2, TGROUP in the primary header), or raw ones
        read as jwst reads them (docs/inplace.rst, "Raw files"). All samples of the files
        of one pair make its profiles.
    threshold : float
        T, in units of one group's signal increment (default 0.1).
    window_start : int, optional
        First group of the late window, counted from 0; default ``min(N // 2, N - 5)``
        of the pair's shortest ramps.
    reference_slope : float, optional
        Slope (DN per group) the skip is judged for; default each pair's median slope.
    threads, kernel
        As for :func:`diagnose`; ``threads`` 0: OpenMP's default threads, beside the
        thread that reads the next block of rows meanwhile (one fewer when the user set
        OMP_WAIT_POLICY=active: docs/diagnose.rst, "Speed and memory").

    Returns
    -------
    Diagnosis

    Raises
    ------
    rscd.RampFileError
        A file is not a readable ramp file (names the file and what is wrong).
    DiagnoseError
        Not a MIRI file, too few groups, or no usable sample in a pair.

    Warns
    -----
    AlreadyCorrectedWarning
        A file's S_RSCD is COMPLETE (RSCD-corrected already).
    """
    from .fits import read_layout       # the ramp-file checks apply_file makes
    from .safe_files import file_key
    threshold = _check_threshold(threshold)
    reference_slope = _check_slope(reference_slope)
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise DiagnoseError("no input files")
    layouts, seen = [], set()
    for path in paths:
        key = file_key(path)    # one file named twice (any spelling, links) is read once
        if key in seen:
            continue
        seen.add(key)
        layout = read_layout(path, raw=True)
        _check_miri(layout)
        layouts.append(layout)
    pairs: Dict[Tuple[str, str], List[Any]] = {}
    for layout in layouts:
        pair = (canonical_subarray(layout.subarray), layout.readpatt.rstrip())
        pairs.setdefault(pair, []).append(layout)
    results = []
    for (subarray, readpatt), group in pairs.items():
        for layout in group:
            check_window(layout.path, layout.shape[1], window_start)
        ngroups = sorted({layout.shape[1] for layout in group})
        w = check_window(f"{subarray} {readpatt}", ngroups[0], window_start)
        times = {_group_time(layout) for layout in group}
        group_time = times.pop() if len(times) == 1 else None
        corrected = [layout.path for layout in group if layout.status == "COMPLETE"]
        for path in corrected:
            warnings.warn(f"{path}: S_RSCD = COMPLETE: the RSCD step already ran on this "
                          "file; its ramps may no longer show the transient",
                          AlreadyCorrectedWarning, stacklevel=2)
        by_groups: Dict[int, Accumulator] = {}
        with contextlib.closing(_SlopeStore()) as slopes:
            _measure_pair(group, by_groups, slopes, _Verdicts(), w, kernel, threads)
        where = f"{subarray} {readpatt} ({', '.join(layout.path for layout in group)})"
        if not by_groups:
            raise DiagnoseError(f"{where}: the files hold no integration")
        acc = _merge(by_groups, ngroups[0], w)
        profiles = _finish(acc, threshold, group_time, where, reference_slope)
        if all(p is None for p in profiles.values()):
            raise DiagnoseError(f"{where}: the files hold no integration")
        result = PairResult(subarray=subarray, readpatt=readpatt,
                            ngroups=ngroups[0] if len(ngroups) == 1 else ngroups,
                            files=[layout.path for layout in group], window_start=w,
                            group_time=group_time, already_corrected=corrected, **profiles)
        if len(times) > 1:
            result.notes.append("the files give different TGROUP values: tau in seconds "
                                "left out")
        _notes(result, threshold)
        results.append(result)
    return Diagnosis(threshold=threshold, results=results)


def _measure_pair(group, by_groups, slopes, verdicts, w, kernel, threads):
    """The three passes over the files (layouts) of one pair: every file's pixel slopes
    (kept in ``slopes``, a :class:`_SlopeStore`, and, for the C kernel, its samples'
    verdicts in ``verdicts``, a :class:`_Verdicts`), then every file's pilot (the clip
    tables), then the sums; ``by_groups`` gets an Accumulator per number of groups. A
    raw file, read whole into memory, is kept for its next pass while no other raw file
    is read in between (one raw file: read once, not three times)."""
    kept = None
    for passes in ("slopes", "pilot", "sums"):
        for layout in group:
            if 0 in layout.shape:
                continue
            acc = by_groups.setdefault(layout.shape[1],
                                       Accumulator(layout.shape[1], w, kernel, threads))
            if not layout.raw:
                ramp = _MappedRamp(layout)
            elif kept is not None and kept.layout is layout:
                ramp = kept
            else:
                kept = None                 # one raw file in memory at a time
                ramp = kept = _RawRamp(layout)
            try:
                kw = dict(integration_start=layout.integration_start,
                          ystart=layout.ystart, **ramp.reading(kernel))
                if kernel == "c" and passes != "pilot":
                    kw["verdicts"] = verdicts.of(layout.path)
                if passes == "slopes":
                    slopes.put(layout.path, acc.pixel_slopes(
                        ramp.sci, ramp.gdq, ramp.pixeldq, **kw))
                    continue
                acc.use_slopes(slopes.get(layout.path))
                if passes == "pilot":
                    rows, ints = pilot_plan(layout.shape, layout.integration_start)
                    acc.add_pilot_rows(*ramp.pilot_rows(rows, ints), frame_rows=rows,
                                       numbers=layout.integration_start + ints,
                                       ystart=layout.ystart)
                else:
                    acc.add(ramp.sci, ramp.gdq, ramp.pixeldq, **kw)
            finally:
                if ramp is not kept:
                    ramp.close()
        if passes == "pilot":
            for acc in by_groups.values():
                acc.finish_pilot()


def _merge(by_groups, ngroups, w):
    """One accumulator for files of one pair with different numbers of groups: groups
    0 ... w-1 are common to all; the last group is each file's own last group."""
    if len(by_groups) == 1:
        return next(iter(by_groups.values()))
    out = by_groups[ngroups]
    for n, acc in by_groups.items():
        if n == ngroups:
            continue
        for kind in KINDS:
            out.sums[kind] += acc.sums[kind]
            out.slopes[kind] += acc.slopes[kind]
            out.offered[kind] += acc.offered[kind]
            out.used[kind] += acc.used[kind]
    return out
