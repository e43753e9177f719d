"""The measurement of ``rscd diagnose`` (docs/diagnose.rst, "What is measured"): per sample
(integration, pixel), two straight lines through the late window and each measured
group's offset from them, in DN; summed, per row stripe, into what the two-part
regression of :mod:`rscd.diagnose_stats` needs. No fit, no report here.

Late window ``W = [w, N-2]``: its first half (groups ``w ... w + m//2 - 1``) is half A,
the rest half B. For a sample, half A gives a straight line (mean, slope ``u``) and half
B a slope ``z``. The offsets of the *measured groups* (all groups outside the window:
``0 ... w-1`` and the last group ``N-1``) from line A, in DN, are ``o``. ``z`` is the
instrument: a slope from later groups of the same ramp, so its noise is independent of
the noise of ``u`` and ``o`` -- read noise is independent from group to group, and the
Poisson noise of a ramp is a random walk whose steps after half A are independent of
everything up to half A (two interleaved halves would share steps: their slopes'
Poisson noise would correlate and bias the DN part). The regression selects and weighs
only by ``z``, which is why it is free of the selection bias.

Robustness (unflagged cosmic rays, hot or telegraph pixels): a small *pilot* set of
samples gives, per integration kind, row parity and bin of ``z``, the median and
the MAD of ``u`` and of each offset; a sample whose ``u`` or offset lies more than
``CLIP_MADS`` MADs (about 6 sigma) from its bin's median leaves that group's sums. The
cut is symmetric about the centre of the noise and far out in its tails, so it removes
outliers and no measurable part of the noise.

Per (row stripe, integration kind, row parity, measured group) the sums are
``n, sum z, sum u, sum o, sum z u, sum z o`` (:data:`SUMS`). Row stripes (``STRIPES``
of them, by array row) are the units of the bootstrap.
"""
import math
import os
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .dq import AD_FLOOR, DO_NOT_USE, JUMP_DET, REFERENCE_PIXEL, SATURATED
from .options import usable_cores

__all__ = ["DiagnoseError", "KINDS", "MIN_WINDOW", "MIN_GROUPS", "STRIPES", "SUMS",
           "Geometry", "ClipTable", "Accumulator", "default_window_start", "check_window",
           "line_window", "pilot_plan"]

KINDS = ("int1", "int2p")
KIND_TEXT = {"int1": "integration 1", "int2p": "integrations 2+"}
#: Fewest groups in the late window (two per half), and fewest groups of a ramp (one
#: early group, the window, the last group).
MIN_WINDOW = 4
MIN_GROUPS = MIN_WINDOW + 2
#: Bootstrap units: array rows are cut into this many stripes (fewer when fewer rows).
STRIPES = 32
#: The sums kept per (stripe, kind, parity, measured group), in this order.
SUMS = ("n", "z", "u", "o", "zu", "zo")
#: A sample leaves a group's sums when ``u`` or the offset is more than this many
#: MADs from its z-bin's median (1.4826 MAD is one sigma for normal noise: 6 sigma).
CLIP_MADS = 6 * 1.4826
#: Pilot: about this many samples per file give the clip tables (pilot_plan), from at
#: least PILOT_ROWS rows where the frame has them.
PILOT_SAMPLES = 1 << 16
PILOT_ROWS = 16
#: Bytes of pilot samples (z, u and the offsets, float64) one pair keeps once a second
#: file's pilot comes in: beyond it the pool is thinned evenly (every 2nd sample, then
#: every 4th, ...). One file's pilot is never thinned.
PILOT_POOL_BYTES = 16 << 20
#: The pilot's bins of z hold at least this many samples each, at most MAX_ZBINS bins.
ZBIN_MIN = 300
MAX_ZBINS = 24
#: Median slope: histogram of asinh(slope / SLOPE_UNIT) in SLOPE_BINS bins over +-SLOPE_SPAN.
SLOPE_UNIT = 1.0
SLOPE_SPAN = 16.0
SLOPE_BINS = 6400
#: Bytes of SCI and GROUPDQ per call of the C kernel (whole rows).
C_BLOCK_BYTES = 16 << 20
#: The same when a reader copies the rows into a buffer (files): small enough for the
#: buffer to stay in the processor's caches between the copy and the kernel.
READ_BLOCK_BYTES = 8 << 20
#: Pixels per block (whole rows): the block's float64 copy stays within a few tens of MB.
BLOCK_ELEMENTS = 1 << 16

BAD_GROUP = DO_NOT_USE | SATURATED | JUMP_DET | AD_FLOOR     # in GROUPDQ
#: ... except DO_NOT_USE on the first and the last group, which jwst's firstframe and
#: lastframe steps set in every pixel (docs/diagnose.rst, "Samples")
BAD_END_GROUP = BAD_GROUP & ~DO_NOT_USE
BAD_PIXEL = DO_NOT_USE | REFERENCE_PIXEL               # in PIXELDQ


class DiagnoseError(ValueError):
    """The input cannot be diagnosed; the message names the file or pair and why."""


def default_window_start(ngroups: int) -> int:
    """First group (counted from 0) of the late window for ``ngroups`` groups:
    ``min(N // 2, N - 5)``."""
    return min(ngroups // 2, ngroups - 1 - MIN_WINDOW)


def check_window(where: str, ngroups: int, window_start: Optional[int]) -> int:
    """The late window's first group (from 0) for ``ngroups`` groups, or DiagnoseError."""
    if ngroups < MIN_GROUPS:
        raise DiagnoseError(
            f"{where}: {ngroups} groups; the ramps are too short: diagnose needs at least "
            f"{MIN_GROUPS} (an early group, a late window of {MIN_WINDOW} groups, and the "
            "last group, which is left out)")
    w = default_window_start(ngroups) if window_start is None else int(window_start)
    if not 1 <= w <= ngroups - 1 - MIN_WINDOW:
        raise DiagnoseError(
            f"{where}: window_start = {w} (groups counted from 0) with {ngroups} groups: "
            f"the late window [w, {ngroups - 2}] needs at least {MIN_WINDOW} groups and "
            f"w >= 1 (1 <= w <= {ngroups - 1 - MIN_WINDOW})")
    return w


def pilot_plan(shape, integration_start: int = 1,
               max_samples: int = PILOT_SAMPLES) -> Tuple[np.ndarray, np.ndarray]:
    """``(rows, ints)``: the rows and integrations (indices from 0) of a (nints, N, ny,
    nx) cube whose samples make the pilot, about ``max_samples`` of them. Rows: every
    step-th, an odd step so that both row parities come in, and at least PILOT_ROWS
    rows where the frame has them. Integrations: all of them while that fits; else
    integration 1 (when the cube holds it: it has clip tables of its own) and others
    evenly spaced, so that a time series of thousands of integrations is not measured
    from one row."""
    nints, _, ny, nx = shape
    step = max(1, -(-(nints * ny * nx) // max_samples))
    if ny // step < PILOT_ROWS:
        step = max(1, ny // PILOT_ROWS)
    if step > 1 and step % 2 == 0:
        step -= 1
    rows = np.arange(0, ny, step)
    fit = max(1, max_samples // max(1, len(rows) * nx))
    if fit >= nints:
        return rows, np.arange(nints)
    first = [0] if integration_start == 1 else []
    rest = np.arange(len(first), nints)
    spread = np.linspace(0, len(rest) - 1, max(1, fit - len(first)))
    picked = rest[np.unique(np.round(spread).astype(int))]
    return rows, np.concatenate([np.array(first, dtype=int), picked])


def line_window(ngroups: int, w: int) -> Tuple[int, int]:
    """``(w, end)`` such that the offsets' line is fitted to groups ``w ... end - 2``
    (half A), in the form :func:`rscd.diagnose_fit.decay_model` takes."""
    return w, w + (ngroups - 1 - w) // 2 + 1


class Geometry:
    """The constants of one (ngroups, w): the window's halves and the measured groups."""

    def __init__(self, ngroups: int, w: int):
        self.ngroups, self.w = ngroups, w
        window = np.arange(w, ngroups - 1)
        half = len(window) // 2
        self.half_a, self.half_b = window[:half], window[half:]
        #: groups measured: 0 ... w-1 and the last one
        self.measured = np.r_[np.arange(w), ngroups - 1]
        self.window = window
        self.coef = {}
        for name, groups in (("a", self.half_a), ("b", self.half_b)):
            x = groups.astype(np.float64)
            xbar = x.mean()
            c = (x - xbar) / ((x - xbar) ** 2).sum()
            self.coef[name] = (groups, xbar, c, (self.measured - xbar).astype(np.float64))
        x = window.astype(np.float64)
        self.c_full = (x - x.mean()) / ((x - x.mean()) ** 2).sum()
        self.dx_full = (self.measured - x.mean()).astype(np.float64)


def _lines(geom, data, halves):
    """``data`` (N, k) float64 -> u, z (k,), offsets (J, k), slope over the whole
    window (k,). ``halves`` False: u and the offsets from the whole window's line, z
    None (the caller takes it from the pixel's other integrations)."""
    full = geom.c_full @ data[geom.window]
    if not halves:
        o = data[geom.measured] - data[geom.window].mean(axis=0) - geom.dx_full[:, None] * full
        return full, None, o, full
    half, xbar, c, dx = geom.coef["a"]
    part = data[half]
    u = c @ part
    o = data[geom.measured] - part.mean(axis=0) - dx[:, None] * u
    z = geom.coef["b"][2] @ data[geom.half_b]
    return u, z, o, full


def _median_mad(rows):
    """(median, median absolute deviation) of each row of a 2-D array: numpy.median's
    values, from the C core (rscd_median_mad: with numpy's partition the four clip
    tables of a run took 53 ms, with it 21)."""
    from . import _core
    return _core.median_mad(np.ascontiguousarray(rows, dtype=np.float64))


class ClipTable:
    """Per (kind, parity): bins of z, and per bin the centre and half-width of the
    accepted ``u`` and offsets, from pilot samples. Where a bin's samples are
    bright (median z above 10 times the slopes' noise, from the spread of ``z - u``),
    ``u`` and the offsets are compared scaled by ``median z / z``, so a bin's spread of
    brightness does not widen its cut."""

    def __init__(self, z, u, o):
        n = len(z)
        k = int(max(1, min(MAX_ZBINS, n // ZBIN_MIN)))
        inner = np.quantile(z, np.arange(1, k) / k) if k > 1 else np.array([])
        self.edges = np.unique(inner)
        k = len(self.edges) + 1
        which = np.searchsorted(self.edges, z)
        nj = o.shape[0]
        self.zmed = np.ones(k)
        self.bright = np.zeros(k, bool)
        self.u_c, self.u_h = np.zeros(k), np.full(k, np.inf)
        self.o_c, self.o_h = np.zeros((k, nj)), np.full((k, nj), np.inf)
        # the samples in bin order, once: each bin is then a slice
        order = np.argsort(which, kind="stable")
        z, u, o = z[order], u[order], o[:, order]
        ends = np.searchsorted(which[order], np.arange(k + 1))
        for b in range(k):
            if ends[b + 1] - ends[b] < 20:
                continue       # too few to set a cut: none
            sel = slice(ends[b], ends[b + 1])
            zb, ub = z[sel], u[sel]
            med, mad = _median_mad(np.vstack((zb, zb - ub)))
            zmed, noise = float(med[0]), 1.4826 * float(mad[1]) / math.sqrt(2)
            rows = np.vstack((ub, o[:, sel]))          # u, then each measured group
            if zmed > 10 * noise and zb.min() > 0:
                self.bright[b], self.zmed[b] = True, zmed
                rows *= zmed / zb
            centre, mad = _median_mad(rows)
            half = CLIP_MADS * mad + 1e-9 * (1 + np.abs(centre))
            self.u_c[b], self.o_c[b] = centre[0], centre[1:]
            self.u_h[b], self.o_h[b] = half[0], half[1:]

    def keep(self, z, u, o):
        """Boolean (J, m): which offsets of samples ``(z, u, o)`` stay."""
        b = np.searchsorted(self.edges, z)
        g = np.where(self.bright[b], self.zmed[b] / np.where(z > 0, z, 1.0), 1.0)
        ok_u = np.abs(u * g - self.u_c[b]) <= self.u_h[b]
        return ok_u & (np.abs(o * g - self.o_c[b].T) <= self.o_h[b].T)


def _every(part, step):
    """Every step-th sample of a pilot part (z, u, o), in arrays of their own."""
    if step == 1:
        return part
    z, u, o = part
    return z[::step].copy(), u[::step].copy(), o[:, ::step].copy()


def _kernel_threads_beside_reader():
    """The kernel's threads when a second thread reads ahead and ``threads`` is 0: the
    OpenMP default (OMP_NUM_THREADS, or the processors this process may use) less one
    for the reader. With the reader competing for a processor, OpenMP's threads would
    wait for it spinning (the runtime's own default), which costs more than the thread
    gives; with OMP_WAIT_POLICY=passive (rscd's default, set when imported) they sleep
    instead, and all of them run (0)."""
    if os.environ.get("OMP_WAIT_POLICY", "").strip().lower() == "passive":
        return 0
    try:
        n = int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0])
    except ValueError:
        n = 0
    return max(1, (n if n >= 1 else usable_cores()) - 1)


def _read_ahead(read, blocks):
    """``read(i, r0, r1)`` of each block in turn, the next one read in a second thread
    while the caller measures the one given (reading, a copy from the page cache, then
    overlaps the kernel; both release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1, thread_name_prefix="rscd-read") as pool:
        ahead = pool.submit(read, *blocks[0]) if blocks else None
        for k in range(len(blocks)):
            data = ahead.result()
            if k + 1 < len(blocks):
                ahead = pool.submit(read, *blocks[k + 1])
            yield data


class Accumulator:
    """The sums of one (SUBARRAY, READPATT) pair, over blocks, integrations and files.

    ``sums[kind]``: float64 (STRIPES, 2, J, 6), parity 0 = odd detector rows, 1 = even;
    ``slopes[kind]``: histogram of the whole-window slope of used samples (for the
    median slope); ``offered``/``used``: samples seen / passing the DQ tests."""

    def __init__(self, ngroups: int, w: int, kernel: str = "c", threads: int = 0):
        if kernel not in ("c", "numpy"):
            raise ValueError(f"kernel must be 'c' or 'numpy', not {kernel!r}")
        self.kernel, self.threads = kernel, threads
        self.geom = Geometry(ngroups, w)
        nj = len(self.geom.measured)
        self.sums = {k: np.zeros((STRIPES, 2, nj, len(SUMS))) for k in KINDS}
        self.slopes = {k: np.zeros(SLOPE_BINS, np.int64) for k in KINDS}
        self.offered = {k: 0 for k in KINDS}
        self.used = {k: 0 for k in KINDS}
        self.pilot: Dict[Any, list] = {}
        self.pilot_stride = 1             # the pilot keeps every pilot_stride-th sample
        self.pilot_files = 0              # add_pilot_rows calls (one per file)
        self.clip: Dict[Any, ClipTable] = {}
        self.halves = True                # set per exposure by pixel_slopes
        self.slope_sum = self.slope_n = None

    # -- the instrument -------------------------------------------------------------
    def pixel_slopes(self, sci, gdq, pixeldq, *, integration_start, ystart, release=None,
                     reader=None, verdicts=None):
        """First pass over an exposure: each pixel's late-window slope summed over its
        usable integrations. With two or more integrations, a sample's instrument is
        the mean slope of the pixel's *other* integrations (noise fully independent)
        and its line is the whole window's; with one, the two halves of the window
        (``halves``). Returns the state to pass to :meth:`use_slopes`. ``reader``,
        ``verdicts`` (C kernel only): see :meth:`_c_pass`."""
        nints, ngroups, ny, nx = sci.shape
        if nints < 2:
            return None
        self.halves, self.slope_sum = False, None
        total, count = np.zeros(ny * nx), np.zeros(ny * nx)
        if self.kernel == "c":
            self._c_pass(sci, gdq, pixeldq, integration_start, ystart,
                         pixel_slope_sum=total, pixel_slope_count=count, reader=reader,
                         verdicts=verdicts)
            return total, count
        for _, _, _, where, _, _, _, slope in self._samples(
                sci, gdq, pixeldq, integration_start, ystart):
            np.add.at(total, where, slope)
            np.add.at(count, where, 1)
        return total, count

    def use_slopes(self, state):
        """Measure the next exposure with the pixel slopes of :meth:`pixel_slopes`."""
        if state is None:
            self.halves, self.slope_sum, self.slope_n = True, None, None
        else:
            self.halves = False
            self.slope_sum, self.slope_n = state

    # -- the two passes -------------------------------------------------------------
    def add_pilot(self, sci, gdq, pixeldq, *, integration_start, ystart):
        """Collect the pilot samples of a whole (nints, N, ny, nx) cube: the rows and
        integrations of :func:`pilot_plan`, gathered a row at a time (slices: numpy's
        fancy indexing of a memory map would map far more of the file than the rows it
        reads)."""
        rows, ints = pilot_plan(sci.shape, integration_start)
        if not len(rows) or not len(ints):
            return                                          # an empty cube
        part = [np.stack([np.stack([np.asarray(a[i][:, r]) for r in rows.tolist()], axis=1)
                          for i in ints.tolist()]) for a in (sci, gdq)]
        self.add_pilot_rows(part[0].astype(np.float32), part[1], np.asarray(pixeldq)[rows],
                            numbers=integration_start + ints, frame_rows=rows, ystart=ystart)

    def add_pilot_rows(self, sci, gdq, pixeldq, *, numbers, frame_rows, ystart):
        """Collect the pilot samples of :func:`pilot_plan`'s rows and integrations:
        ``sci``, ``gdq`` (k, N, rows, nx) and ``pixeldq`` (rows, nx) hold the frame rows
        ``frame_rows`` (their parity, and their pixels' slopes) of the integrations
        ``numbers`` (k of them, counted from 1)."""
        # the C kernel's output, one buffer for all the integrations
        records = (np.empty((2 + len(self.geom.measured), sci.shape[2] * sci.shape[3]))
                   if self.kernel == "c" else None)
        for k, number in enumerate(numbers):
            kind = "int1" if number == 1 else "int2p"
            parts = (self._c_pilot(sci[k], gdq[k], pixeldq, frame_rows, ystart, records)
                     if self.kernel == "c" else
                     ((parity, z, u, o) for _, _, parity, _, u, z, o, _ in self._samples(
                         sci[k:k + 1], gdq[k:k + 1], pixeldq, int(number), ystart,
                         frame_rows=frame_rows)))
            for parity, z, u, o in parts:
                self.pilot.setdefault((kind, parity), []).append(
                    _every((z, u, o), self.pilot_stride))
        self.pilot_files += 1
        if self.pilot_files > 1:        # one file's pilot is kept whole
            self._thin_pilot()

    def _c_pilot(self, sci, gdq, pixeldq, frame_rows, ystart, records):
        """The pilot samples of one integration's rows (``sci``, ``gdq`` (N, rows, nx),
        ``pixeldq`` (rows, nx); frame rows ``frame_rows``) through the C kernel, the
        same rules and lines as the sums pass: per row parity, ``(parity, z, u, o)``.
        The rows are handed over as a frame of their own (their pixels' slopes taken
        from their frame rows); the kernel's own parity of them is not used: there is
        no cut, and the sums it adds to are dropped. ``records``: (2 + measured groups,
        rows x nx) float64, the kernel's output planes u, z, offsets (reused: a new
        buffer's first writes cost more than the kernel)."""
        from . import _core
        ngroups, rows, nx = sci.shape
        if not rows * nx:
            return                                    # an empty frame: no sample
        nj = len(self.geom.measured)
        frame_rows = np.asarray(frame_rows)
        slope_sum = slope_n = None
        if not self.halves:
            where = (frame_rows[:, None] * nx + np.arange(nx)).reshape(-1)
            slope_sum, slope_n = self.slope_sum[where], self.slope_n[where]
        _core.diagnose_block(
            np.ascontiguousarray(sci, dtype=np.float32).reshape(-1), False,
            np.ascontiguousarray(gdq).reshape(-1),
            np.ascontiguousarray(pixeldq, dtype=np.uint32), ngroups, 0, rows, ystart,
            self.geom.w, self.halves, STRIPES, slope_sum=slope_sum, slope_count=slope_n,
            sums=np.zeros(STRIPES * 2 * nj * len(SUMS)),
            slope_hist=np.zeros(SLOPE_BINS, np.int64), slope_span=SLOPE_SPAN,
            slope_unit=SLOPE_UNIT, nthreads=self.threads, samples_out=records.reshape(-1))
        used = np.isfinite(records[0])
        odd = np.repeat((ystart + frame_rows) % 2 == 1, nx)   # detector row, 1-based
        for parity, want in ((0, True), (1, False)):
            pick = np.flatnonzero(used & (odd == want))
            if len(pick):
                yield parity, records[1, pick], records[0, pick], records[2:, pick]

    def _thin_pilot(self):
        """A pair of many files: every other pilot sample dropped while the pool is
        above PILOT_POOL_BYTES and a part has more than one sample left, so each part
        keeps every pilot_stride-th of its samples."""
        parts = [part for kept in self.pilot.values() for part in kept]
        while (sum(a.nbytes for part in parts for a in part) > PILOT_POOL_BYTES
               and any(len(part[0]) > 1 for part in parts)):
            self.pilot_stride *= 2
            self.pilot = {key: [_every(part, 2) for part in kept]
                          for key, kept in self.pilot.items()}
            parts = [part for kept in self.pilot.values() for part in kept]

    def finish_pilot(self):
        for key, parts in self.pilot.items():
            z = np.concatenate([p[0] for p in parts])
            u = np.concatenate([p[1] for p in parts])
            o = np.concatenate([p[2] for p in parts], axis=1)
            self.clip[key] = ClipTable(z, u, o)
        self.pilot = {}

    def add(self, sci, gdq, pixeldq, *, integration_start, ystart, release=None,
            reader=None, verdicts=None):
        """Add every sample of ``sci`` (nints, N, ny, nx), any byte order, to the sums.
        ``release(i, r0, r1)`` is called after rows [r0, r1) of integration i.
        ``reader``, ``verdicts`` (C kernel only): see :meth:`_c_pass`."""
        nints, ngroups, ny, nx = sci.shape
        if self.kernel == "c":
            self._c_pass(sci, gdq, pixeldq, integration_start, ystart, count=True,
                         reader=reader, verdicts=verdicts)
            return
        stripe_of_row = (np.arange(ny) * STRIPES) // max(ny, 1)
        for i, kind, parity, where, u, z, o, slope in self._samples(
                sci, gdq, pixeldq, integration_start, ystart, release, count=True):
            clip = self.clip.get((kind, parity))
            keep = clip.keep(z, u, o) if clip is not None else np.ones(o.shape, bool)
            stripe = stripe_of_row[where // nx]
            self._sum(kind, parity, stripe, u, z, o, keep)
            pos = np.clip(np.round((np.arcsinh(slope / SLOPE_UNIT) + SLOPE_SPAN)
                                   * (SLOPE_BINS / (2 * SLOPE_SPAN))), 0, SLOPE_BINS - 1)
            self.slopes[kind] += np.bincount(pos.astype(np.intp), minlength=SLOPE_BINS)

    def _c_pass(self, sci, gdq, pixeldq, integration_start, ystart, count=False,
                pixel_slope_sum=None, pixel_slope_count=None, reader=None, verdicts=None):
        """The slopes pass (``pixel_slope_sum`` given) or the sums pass through the C
        kernel (csrc/diagnose.c), a block of rows at a time. Without ``reader``, SCI
        is read where it lies (any byte order, no copy of a contiguous cube).
        ``reader(i, r0, r1, groups, groupdq)`` instead gives the block's rows of
        integration i in a buffer: ``(sci, swapped, groupdq, plane_stride)``, SCI and
        GROUPDQ flat, group g of row r at ``g * plane_stride + (r - r0) * nx``; SCI is
        needed for ``groups`` only (the slopes pass reads the late window's), GROUPDQ
        only where ``groupdq`` is true. The reader is called in a second thread for the
        next block while the kernel measures this one (:func:`_read_ahead`): it must not
        reuse the buffer of the block before.

        ``verdicts``: where each sample's verdict (used or not: PIXELDQ, GROUPDQ, a
        finite window) waits between the passes, an object with ``put(i, r0, ok)`` (the
        slopes pass gives it each block's bytes) and ``get(i, r0)`` (those bytes, or
        None): the sums pass of a block whose verdicts were kept reads no GROUPDQ. The
        sums are the same bits; GROUPDQ is a fifth of the bytes the sums pass reads."""
        from . import _core
        nints, ngroups, ny, nx = sci.shape
        pdq = np.ascontiguousarray(pixeldq, dtype=np.uint32)
        slopes_pass = pixel_slope_sum is not None
        block_bytes = READ_BLOCK_BYTES if reader is not None else C_BLOCK_BYTES
        rows = max(1, block_bytes // max(1, ngroups * nx * 5))
        sci_groups = range(self.geom.w, ngroups - 1) if slopes_pass else range(ngroups)
        blocks = [(i, r0, min(ny, r0 + rows)) for i in range(nints)
                  for r0 in range(0, ny if nx else 0, rows)]     # an empty frame: none
        # the slopes pass writes each block's verdicts here; the sums pass reads them
        ok_out = (np.empty(rows * nx, np.uint8)
                  if slopes_pass and verdicts is not None else None)
        kept = None if slopes_pass else verdicts

        def verdict(i, r0):
            return kept.get(i, r0) if kept is not None else None

        def read_block(i, r0, r1):
            ok = verdict(i, r0)
            return reader(i, r0, r1, sci_groups, ok is None), ok

        read = _read_ahead(read_block, blocks) if reader is not None else None
        threads = self.threads or (_kernel_threads_beside_reader() if read is not None else 0)
        for i, r0, r1 in blocks:
            kind = "int1" if integration_start + i == 1 else "int2p"
            if r0 == 0 and reader is None:
                cube = sci[i]
                if not cube.flags.c_contiguous:
                    cube = np.ascontiguousarray(cube)
                flat = cube.reshape(-1)
                native = flat.view(flat.dtype.newbyteorder("=")).view(np.float32)
                swapped = not flat.dtype.isnative
                dq = np.ascontiguousarray(gdq[i]).reshape(-1)
            if count and r0 == 0:
                self.offered[kind] += ny * nx
            where = dict(data_row_first=0, plane_stride=0)
            if read is not None:
                (native, swapped, dq, stride), ok = next(read)
                where = dict(data_row_first=r0, plane_stride=stride)
            else:
                ok = verdict(i, r0)
            if slopes_pass:
                out = ok_out[:(r1 - r0) * nx] if ok_out is not None else None
                _core.diagnose_block(native, swapped, dq, pdq, ngroups, r0,
                                     r1 - r0, ystart, self.geom.w, False, STRIPES,
                                     pixel_slope_sum=pixel_slope_sum,
                                     pixel_slope_count=pixel_slope_count,
                                     nthreads=threads, sample_ok_out=out, **where)
                if out is not None:
                    verdicts.put(i, r0, out)
            else:
                used = _core.diagnose_block(
                    native, swapped, dq, pdq, ngroups, r0, r1 - r0, ystart,
                    self.geom.w, self.halves, STRIPES,
                    clips=(self.clip.get((kind, 0)), self.clip.get((kind, 1))),
                    slope_sum=self.slope_sum, slope_count=self.slope_n,
                    sums=self.sums[kind].reshape(-1), slope_hist=self.slopes[kind],
                    slope_span=SLOPE_SPAN, slope_unit=SLOPE_UNIT, nthreads=threads,
                    sample_ok=ok, **where)
                if count:
                    self.used[kind] += used
        if read is not None:
            read.close()

    def _sum(self, kind, parity, stripe, u, z, o, keep):
        order = np.argsort(stripe, kind="stable")
        stripe = stripe[order]
        starts = np.flatnonzero(np.r_[True, stripe[1:] != stripe[:-1]])
        cells = stripe[starts]
        kf = keep[:, order].astype(np.float64)
        z, u, o = z[order], u[order], o[:, order] * kf
        zk, uk = kf * z, kf * u
        out = self.sums[kind][cells, parity]          # (cells, J, 6) copy
        for col, value in enumerate((kf, zk, uk, o, zk * u, o * z)):
            out[:, :, col] += np.add.reduceat(value, starts, axis=1).T
        self.sums[kind][cells, parity] = out

    def _samples(self, sci, gdq, pixeldq, integration_start, ystart, release=None,
                 count=False, frame_rows=None):
        """Yield, per block and row parity of used samples: (integration, kind, parity,
        flat pixel index in the frame of the samples, u, z, offsets, whole-window
        slope). ``frame_rows``: the frame row of each row of ``sci`` (default: the same)."""
        geom = self.geom
        nints, ngroups, ny, nx = sci.shape
        pixok = (np.asarray(pixeldq) & np.uint32(BAD_PIXEL)) == 0
        frame_row = np.arange(ny) if frame_rows is None else np.asarray(frame_rows)
        odd_row = (ystart + frame_row) % 2 == 1     # detector row ystart + y (1-based)
        block_rows = max(1, BLOCK_ELEMENTS // max(1, ngroups * nx))
        blocks = [slice(r0, min(ny, r0 + block_rows)) for r0 in range(0, ny, block_rows)]
        for i in range(nints):
            kind = "int1" if integration_start + i == 1 else "int2p"
            if count:
                self.offered[kind] += ny * nx
            for sel in blocks:
                r = np.arange(ny)[sel]
                block = np.asarray(sci[i][:, sel], dtype=np.float64).reshape(ngroups, -1)
                dq = np.asarray(gdq[i][:, sel])
                bad = (np.bitwise_or.reduce(dq[1:-1], axis=0) & BAD_GROUP) \
                    | ((dq[0] | dq[-1]) & BAD_END_GROUP)
                good = pixok[sel].ravel() & (bad.ravel() == 0)
                good &= np.isfinite(block).all(axis=0)
                rows_of = np.repeat(r, nx)
                if count:
                    self.used[kind] += int(good.sum())
                for parity, want in ((0, True), (1, False)):
                    pick = np.flatnonzero(good & (odd_row[rows_of] == want))
                    if len(pick):
                        u, z, o, slope = _lines(geom, block[:, pick], self.halves)
                        where = frame_row[rows_of[pick]] * nx + pick % nx
                        if z is None and self.slope_sum is not None:
                            others = self.slope_n[where] - 1
                            ok = others > 0
                            z = (self.slope_sum[where] - slope) / np.maximum(others, 1)
                            u, z, o, slope, where = u[ok], z[ok], o[:, ok], slope[ok], where[ok]
                        yield i, kind, parity, where, u, z, o, slope
                if release is not None:
                    release(i, sel.start, sel.stop)
