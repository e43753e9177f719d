"""``rscd diagnose``: measure the RSCD transient in your own ramps and recommend how many
groups to flag (the ``group_skip1`` / ``group_skip`` of an ``RSCD_GROUP_SKIP`` table).

Input: linearity-corrected ramps, before any RSCD correction. Groups are numbered from 0,
``N`` = ngroups. What is measured (docs/diagnose.rst explains the choices):

sample
    one (integration, pixel). It is *used* when its PIXELDQ has neither DO_NOT_USE nor
    REFERENCE_PIXEL, none of its groups carries SATURATED, DO_NOT_USE or JUMP_DET, all its
    values are finite, and the slope of its late window is positive and significant:
    ``slope > 5 sigma_slope`` with ``sigma_slope = sigma / sqrt(Sxx)``, ``Sxx`` the
    window's sum of squared group offsets and ``sigma`` the noise of one group about the
    line, pooled over the block of rows being measured (median residual sum of squares of
    the candidate samples in the block's first eighth, over the chi-square median for
    ``m - 2`` degrees of freedom). A sample's own scatter, from 2-5 degrees of freedom in short windows, would
    let pure-noise samples through far more often. 5 sigma keeps the slope known to 20 %,
    so dividing by it cannot blow a deviation up.
late window
    groups ``[w, N-2]`` (the last group is left out: MIRI's last-frame effect). By default
    ``w = min(N // 2, N - 5)``: the second half of the ramp, where the transient has died
    out, and at least 4 groups. ``N < 6`` is refused as too short.
deviation of group j < w
    ``(D_j - line_j) / slope``, ``line``/``slope`` the ordinary least-squares fit of the
    sample's window: the offset of group ``j`` in units of one group's signal increment.
profile
    for integration 1 and for integrations 2+ separately, the median over used samples of
    each group's deviation, also per detector row parity (row ``substrt2 + y``, 1-based).
    Medians come from histograms (bins of ``BIN_WIDTH`` over ``+-HIST_RANGE``, linear
    interpolation inside a bin), which merge exactly across blocks, integrations and files
    and keep memory fixed whatever the number of samples. At most ``MAX_BINNED`` samples
    of one integration enter them (every k-th pixel, a different k-th in each
    integration); every sample is tested and counted. Uncertainty of a median:
    ``1.2533 * 1.4826 * MAD / sqrt(n)`` (1.4826 MAD estimates the standard deviation
    robustly, 1.2533 = sqrt(pi/2) is the median's efficiency for normal data), with the
    bin's own ``BIN_WIDTH / sqrt(12)`` added in quadrature.
recommended skip
    the smallest ``k`` with ``|profile_j| <= T`` for every ``j`` in ``[k, w)``.
decay fit
    ``A * exp(-(j + 1) / tau)`` seen through the late window (:func:`decay_model`: the
    window's line absorbs a little of the transient), fitted to the profile by weighted
    least squares (a log-linear start, then Gauss-Newton), 1-sigma uncertainties from the
    covariance scaled by the reduced chi-square when it exceeds 1; tau also in seconds
    when the files give TGROUP. ``skip_from_fit`` is the skip the fitted decay asks for.

A ramp file is read one block of rows of one integration at a time, from a memory map; the
block is converted to native float32 and the pages already read are released, so resident
memory stays at a few blocks whatever the file size.
"""
import argparse
import json
import math
import mmap
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._renames import renamed_keywords
from .dq import DO_NOT_USE, JUMP_DET, REFERENCE_PIXEL, SATURATED
from .reference import canonical_subarray

__all__ = ["diagnose", "diagnose_files", "Diagnosis", "PairResult", "Profile",
           "DiagnoseError", "DEFAULT_THRESHOLD", "decay_model", "default_window_start",
           "draw_figure", "fit_decay", "main", "recommended_skip"]

#: Default threshold T, in units of one group's signal increment (docs/diagnose.rst).
DEFAULT_THRESHOLD = 0.1
#: Fewest groups in the late window, and fewest groups of a ramp (one early group, the
#: window, the last group).
MIN_WINDOW = 4
MIN_GROUPS = MIN_WINDOW + 2
#: Histogram of deviations: bins of BIN_WIDTH increments over [-HIST_RANGE, HIST_RANGE];
#: values outside land in the end bins (they still count for the median's rank).
HIST_RANGE = 10.0
BIN_WIDTH = 0.005
NBINS = int(round(2 * HIST_RANGE / BIN_WIDTH))
#: Significance of a sample's late slope: slope > SIGNIFICANCE * sigma_slope.
SIGNIFICANCE = 5.0
#: Pixels per block (rows are taken whole): the block's float32 copy and its deviations
#: stay within a few MB.
BLOCK_ELEMENTS = 1 << 20
#: At most this many samples of one integration enter the histograms: every k-th pixel
#: (k = ceil(pixels / MAX_BINNED)), a different k-th from one integration to the next.
#: Every sample is still tested. 2**18 samples put the medians' statistical error near
#: 0.001 of a group's increment, and keep the histogram filling (numpy's bincount, the
#: slowest step) from dominating a full-frame file. None: every used sample.
MAX_BINNED = 1 << 18
#: Mapped file bytes read before their pages are dropped from resident memory (fewer,
#: larger madvise calls; this bounds the file's share of the resident set).
RELEASE_BYTES = 32 << 20

_BAD_GROUP = DO_NOT_USE | SATURATED | JUMP_DET          # in GROUPDQ
_BAD_PIXEL = np.uint32(DO_NOT_USE | REFERENCE_PIXEL)      # in PIXELDQ
_MEDIAN_EFFICIENCY = math.sqrt(math.pi / 2)     # 1.2533
_MAD_TO_SIGMA = 1.4826
KINDS = ("int1", "int2p")
_KIND_TEXT = {"int1": "integration 1", "int2p": "integrations 2+"}


class DiagnoseError(ValueError):
    """The input cannot be diagnosed; the message names the file or pair and why."""


def default_window_start(ngroups: int) -> int:
    """First group of the late window for ``ngroups`` groups: ``min(N // 2, N - 5)``."""
    return min(ngroups // 2, ngroups - 1 - MIN_WINDOW)


# --------------------------------------------------------------------------- results


@dataclass
class Profile:
    """The measured transient of one kind of integration (and row parity).

    ``profile[j]`` is the median deviation of group ``j`` (groups from 0) in units of one
    group's signal increment, ``uncertainty[j]`` its 1-sigma uncertainty; the fit's
    values are None when there is no significant decay to fit.
    """
    recommended_skip: int
    samples: int
    profile: list
    uncertainty: list
    amplitude: Optional[float] = None
    amplitude_err: Optional[float] = None
    tau_groups: Optional[float] = None
    tau_groups_err: Optional[float] = None
    tau_seconds: Optional[float] = None
    tau_seconds_err: Optional[float] = None
    reaches_window: bool = False
    samples_tested_ok: Optional[int] = None
    skip_from_fit: Optional[int] = None
    odd_rows: "Optional[Profile]" = None
    even_rows: "Optional[Profile]" = None

    def to_dict(self) -> Dict[str, Any]:
        out = {"recommended_skip": self.recommended_skip, "tau_groups": self.tau_groups,
               "amplitude": self.amplitude, "samples": self.samples,
               "profile": self.profile, "uncertainty": self.uncertainty,
               "tau_groups_err": self.tau_groups_err, "amplitude_err": self.amplitude_err,
               "tau_seconds": self.tau_seconds, "tau_seconds_err": self.tau_seconds_err,
               "reaches_window": self.reaches_window,
               "samples_tested_ok": self.samples_tested_ok,
               "skip_from_fit": self.skip_from_fit}
        for name in ("odd_rows", "even_rows"):
            part = getattr(self, name)
            if part is not None:
                out[name] = part.to_dict()
        return out


@dataclass
class PairResult:
    """The diagnosis of one (SUBARRAY, READPATT) pair from all samples of its files."""
    subarray: Optional[str]      # None: arrays given without their names
    readpatt: Optional[str]
    ngroups: object              # int, or a sorted list when the files differ
    files: list
    window_start: int
    group_time: Optional[float] = None     # TGROUP, seconds (None when unknown or not one value)
    int1: Optional[Profile] = None
    int2p: Optional[Profile] = None
    notes: list = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {"subarray": self.subarray, "readpatt": self.readpatt,
                "ngroups": self.ngroups, "files": list(self.files),
                "window_start": self.window_start, "group_time": self.group_time,
                "int1": None if self.int1 is None else self.int1.to_dict(),
                "int2p": None if self.int2p is None else self.int2p.to_dict(),
                "notes": list(self.notes)}

    def skips(self) -> Tuple[Any, Any]:
        """``(group_skip1, group_skip)`` for a reference row. A missing kind takes the
        other's value: without integration 1 the int 2+ skip (larger in MIRI data, so
        the safe side); with a single integration group_skip is never used by the
        pipeline and repeats the int 1 value."""
        k1 = None if self.int1 is None else self.int1.recommended_skip
        k2 = None if self.int2p is None else self.int2p.recommended_skip
        return (k2 if k1 is None else k1), (k1 if k2 is None else k2)


@dataclass
class Diagnosis:
    """What :func:`diagnose` and :func:`diagnose_files` return: one
    :class:`PairResult` per (SUBARRAY, READPATT)."""
    threshold: float
    results: list

    def to_dict(self) -> Dict[str, Any]:
        """The ``--json`` document."""
        return {"threshold": self.threshold, "results": [r.to_dict() for r in self.results]}

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def table(self) -> str:
        """A short text table: one line per pair and kind of integration."""
        head = (f"{'SUBARRAY':<14}{'READPATT':<10}{'ints':<6}{'skip':>5}{'tau/groups':>16}"
                f"{'tau/s':>14}{'A':>16}{'samples':>10}")
        lines = [f"RSCD diagnosis (threshold T = {_fmt(self.threshold)} of one group's "
                 "increment; skip = groups to flag)", head]
        for r in self.results:
            for kind in KINDS:
                p = getattr(r, kind)
                if p is None:
                    continue
                skip = f"{p.recommended_skip}{'+' if p.reaches_window else ''}"
                lines.append(
                    f"{r.subarray or '-':<14}{r.readpatt or '-':<10}{'1' if kind == 'int1' else '2+':<6}"
                    f"{skip:>5}{_pm(p.tau_groups, p.tau_groups_err):>16}"
                    f"{_pm(p.tau_seconds, p.tau_seconds_err):>14}"
                    f"{_pm(p.amplitude, p.amplitude_err, 3):>16}{p.samples:>10}")
            last = min(np.atleast_1d(r.ngroups)) - 1
            lines.append(f"  {len(r.files)} file(s), {r.ngroups} groups; late "
                         f"window: groups {r.window_start + 1}-{last} (counted from 1)")
            lines.extend(f"  note: {n}" for n in r.notes)
        return "\n".join(lines)

    def write_reference(self, path: "Union[str, os.PathLike[str]]", *, overwrite: bool = False,
                        detector: str = "MIRIMAGE") -> None:
        """Write an ``RSCD_GROUP_SKIP`` reference file, one row per pair
        (``group_skip1`` = int 1 skip, ``group_skip`` = int 2+ skip; see
        :meth:`PairResult.skips`)."""
        from .reference import write_flag_reference
        rows = []
        for r in self.results:
            if r.subarray is None or r.readpatt is None:
                raise DiagnoseError("write_reference needs SUBARRAY and READPATT: pass "
                                    "subarray= and readpatt= to rscd.diagnose")
            rows.append((r.subarray, r.readpatt) + r.skips())
        write_flag_reference(path, rows, detector=detector, overwrite=overwrite,
                             descrip="RSCD group skips measured by rscd diagnose",
                             pedigree="INFLIGHT")

    def figure(self) -> Any:
        """A matplotlib Figure: per pair, int 1 and int 2+ panels (see
        :func:`draw_figure`)."""
        return draw_figure(self)

    def save_figure(self, path: Any, dpi: int = 110) -> Any:
        fig = self.figure()
        fig.savefig(path, dpi=dpi)
        return path


def _fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}g}"


def _pm(value, err, digits=3):
    if value is None:
        return "-"
    return f"{value:.{digits}g}" + ("" if err is None else f"+-{err:.2g}")


# --------------------------------------------------------------------------- measurement


def _chi2_median(k):
    """Median of the chi-square distribution with k degrees of freedom (Wilson-Hilferty)."""
    return k * (1 - 2 / (9 * k)) ** 3


class _Plan:
    """Per-(ngroups, w) constants of the per-block computation, and work buffers."""

    def __init__(self, ngroups, w, max_pixels):
        self.ngroups, self.w = ngroups, w
        x = np.arange(w, ngroups - 1, dtype=np.float64)
        self.m = len(x)
        self.xbar = x.mean()
        self.sxx = float(((x - self.xbar) ** 2).sum())
        # slope = c @ window (c sums to 0, so the window needs no centring)
        self.c = ((x - self.xbar) / self.sxx).astype(np.float32)
        self.x_centred = (x - self.xbar).astype(np.float32)[:, None]
        self.k = SIGNIFICANCE
        self.chi2_median = _chi2_median(self.m - 2)
        j = np.arange(w, dtype=np.float64)
        # bin coordinate of deviation dev_j: (dev_j + HIST_RANGE) / BIN_WIDTH
        #   = (D_j - mean) * scale - (j - xbar) / BIN_WIDTH + HIST_RANGE / BIN_WIDTH,
        # scale = 1 / (slope * BIN_WIDTH)
        self.bin_shift = (-(j - self.xbar) / BIN_WIDTH
                          + HIST_RANGE / BIN_WIDTH).astype(np.float32)[:, None]
        self.data = np.empty(ngroups * max_pixels, np.float32)
        self.pos = np.empty(w * max_pixels, np.float32)
        self.index = np.empty(w * max_pixels, np.int32)
        self.sigma2 = None          # last pooled noise estimate (DN^2 per group)


#: The pooled noise comes from the first 1/NOISE_FRACTION of a block's pixels (whole rows,
#: contiguous in memory, so no gather), at least 4096 of them.
NOISE_FRACTION = 8


def _pooled_noise(plan, window, mean, slope, candidates):
    """Variance of one group about the late-window line, pooled over the block: the
    median of the window's residual sums of squares of the candidate samples among the
    block's first pixels, over the chi-square median for m - 2 degrees of freedom. Read
    noise dominates it; a single sample's own scatter (2-5 degrees of freedom for short
    windows) would let pure-noise samples through far more often than a pooled value."""
    n = window.shape[1]
    part = slice(0, min(n, max(n // NOISE_FRACTION, 4096)))
    keep = candidates[part]
    if keep.sum() >= 8:         # else keep the previous block's value
        resid = window[:, part] - mean[part]
        resid -= slope[part] * plan.x_centred
        rss = np.einsum("ij,ij->j", resid, resid)
        plan.sigma2 = float(np.median(rss[keep])) / plan.chi2_median
    return plan.sigma2


def _measure_block(plan, sci, gdq, pixok, parity, pick_every, phase, hist):
    """Add one block's samples to ``hist`` (w, 2 * NBINS): bins [0, NBINS) odd detector
    rows, [NBINS, 2 NBINS) even. ``sci`` and ``gdq`` are (N, rows, ncols) views (SCI in
    any byte order), ``pixok`` (rows*ncols,) the PIXELDQ test, ``parity`` (rows*ncols,)
    0 or NBINS per pixel. Every sample is tested; those at flat block index
    ``i % pick_every == phase`` go into the histograms. Returns (used, binned)."""
    n_groups, rows, nx = sci.shape
    n = rows * nx
    w = plan.w
    data = plan.data[:n_groups * n].reshape(n_groups, n)
    np.copyto(data.reshape(sci.shape), sci)          # native float32, one pass
    plane = gdq.reshape(n_groups, n)
    if n % 8 == 0:                                    # 8 flags at a time
        flags = np.bitwise_or.reduce(plane.view(np.uint64), axis=0).view(np.uint8)
    else:
        flags = np.bitwise_or.reduce(plane, axis=0)
    good = pixok & ((flags & _BAD_GROUP) == 0)
    window = data[w:n_groups - 1]
    mean = np.add.reduce(window, axis=0)
    mean *= np.float32(1.0 / plan.m)
    slope = np.einsum("j,jn->n", plan.c, window)     # BLAS gemv is far slower here
    early = data[:w]
    good &= np.isfinite(np.add.reduce(early, axis=0))
    good &= np.isfinite(mean)
    good &= np.isfinite(slope)
    sigma2 = _pooled_noise(plan, window, mean, slope, good)
    if sigma2 is None:
        return 0, 0
    used = good & (slope > np.float32(plan.k * math.sqrt(sigma2 / plan.sxx)))
    count = int(used.sum())
    if pick_every > 1:
        chosen = np.zeros(n, bool)
        chosen[phase::pick_every] = used[phase::pick_every]
        pick = np.flatnonzero(chosen)
    else:
        pick = np.flatnonzero(used)
    if not len(pick):
        return count, 0
    scale = np.float32(1.0 / BIN_WIDTH) / slope[pick]
    pos = plan.pos[:w * len(pick)].reshape(w, len(pick))
    np.take(early, pick, axis=1, out=pos)
    pos -= mean[pick]
    pos *= scale
    pos += plan.bin_shift
    np.clip(pos, 0, NBINS - 1, out=pos)
    index = plan.index[:w * len(pick)].reshape(w, len(pick))
    np.copyto(index, pos, casting="unsafe")       # floor: pos >= 0
    index += parity[pick]
    for j in range(w):
        hist[j] += np.bincount(index[j], minlength=2 * NBINS)
    return count, len(pick)


class _Accumulator:
    """Histograms of deviations for one pair: per kind (int1, int2p), group j < w and
    row parity."""

    def __init__(self, w, max_binned=None):
        self.w = w
        self.max_binned = max_binned
        self.hist = {kind: np.zeros((w, 2 * NBINS), np.int64) for kind in KINDS}
        self.seen = {kind: 0 for kind in KINDS}      # samples offered (integrations x pixels)
        self.used = {kind: 0 for kind in KINDS}      # samples that passed the tests
        self.binned = {kind: 0 for kind in KINDS}    # of those, in the histograms
        self.plans = {}

    def add(self, sci, gdq, pixeldq, *, integration_start, substrt2, release=None):
        """``sci``, ``gdq``: (nints, N, ny, nx); ``pixeldq`` native uint32 (ny, nx);
        ``release(i, r0, r1)``: called after each block (drops mapped pages)."""
        nints, ngroups, ny, nx = sci.shape
        rows = min(ny, max(2, (BLOCK_ELEMENTS // max(1, ngroups * nx)) & ~1))
        key = (ngroups, rows * nx)
        if key not in self.plans:
            self.plans = {key: _Plan(ngroups, self.w, rows * nx)}   # one set of buffers
        plan = self.plans[key]
        plan.sigma2 = None
        pixok = ((pixeldq & _BAD_PIXEL) == 0).ravel()
        odd = (substrt2 + np.arange(ny)) % 2 == 1       # detector row substrt2 + y
        parity = np.repeat(np.where(odd, 0, NBINS), nx).astype(np.int32)
        every = 1 if not self.max_binned else max(1, -(-ny * nx // self.max_binned))
        for i in range(nints):
            kind = "int1" if integration_start + i == 1 else "int2p"
            hist = self.hist[kind]
            self.seen[kind] += ny * nx
            for r0 in range(0, ny, rows):
                r1 = min(ny, r0 + rows)
                # rotate the picked pixels from integration to integration
                phase = (-(r0 * nx) - i) % every
                used, binned = _measure_block(
                    plan, sci[i, :, r0:r1], gdq[i, :, r0:r1], pixok[r0 * nx:r1 * nx],
                    parity[r0 * nx:r1 * nx], every, phase, hist)
                self.used[kind] += used
                self.binned[kind] += binned
                if release is not None:
                    release(i, r0, r1)


def _medians(hist, w):
    """Median, 1-sigma uncertainty and count of each group's histogram: hist (w, NBINS)."""
    n = hist.sum(axis=1)
    edges = -HIST_RANGE + BIN_WIDTH * np.arange(NBINS + 1)
    cdf = np.zeros((w, NBINS + 1))
    np.cumsum(hist, axis=1, out=cdf[:, 1:])
    med = np.full(w, np.nan)
    err = np.full(w, np.nan)
    for j in range(w):
        if n[j] == 0:
            continue
        half = n[j] / 2.0
        med[j] = np.interp(half, cdf[j], edges)
        # MAD: the d with F(med + d) - F(med - d) = n/2, by bisection on the linear CDF
        lo, hi = 0.0, 2 * HIST_RANGE
        for _ in range(40):
            d = 0.5 * (lo + hi)
            inside = np.interp(med[j] + d, edges, cdf[j]) - np.interp(med[j] - d, edges, cdf[j])
            lo, hi = (d, hi) if inside < half else (lo, d)
        mad = 0.5 * (lo + hi)
        sigma = _MEDIAN_EFFICIENCY * _MAD_TO_SIGMA * mad / math.sqrt(n[j])
        err[j] = math.hypot(sigma, BIN_WIDTH / math.sqrt(12))
    return med, err, n


def recommended_skip(profile: Sequence[float], threshold: float) -> int:
    """The smallest k with ``|profile_j| <= threshold`` for every j in [k, len(profile))."""
    k = len(profile)
    while k > 0 and abs(profile[k - 1]) <= threshold:
        k -= 1
    return k


def decay_model(amplitude: float, tau: float, groups: Any,
                window: Optional[Tuple[int, int]] = None) -> Any:
    """The profile a transient ``A exp(-(j + 1) / tau)`` gives at groups ``j``
    (``groups``, from 0, may be fractional), measured as rscd diagnose measures it: against
    the least-squares line of the late window ``window = (w, N)`` (groups w ... N-2),
    which holds a little of the transient itself, and in units of that line's slope
    (the pixel's increment times 1 + the transient's own slope there). ``window`` None:
    the bare exponential."""
    j = np.asarray(groups, float)
    bare = amplitude * np.exp(-(j + 1) / tau)
    if window is None:
        return bare
    w, ngroups = window
    k = np.arange(w, ngroups - 1, dtype=float)
    tail = amplitude * np.exp(-(k + 1) / tau)
    xbar = k.mean()
    tilt = float(((k - xbar) * tail).sum() / ((k - xbar) ** 2).sum())
    line = tail.mean() + tilt * (j - xbar)
    return (bare - line) / (1 + tilt)


def fit_decay(profile: Any, sigma: Any, window: Optional[Tuple[int, int]] = None) -> Any:
    """Weighted least-squares fit of ``A * exp(-(j + 1) / tau)`` to ``profile``, seen
    through the late window ``window = (w, N)`` as :func:`decay_model` describes (None:
    the bare exponential).

    A log-linear fit to the points at least 3 sigma from zero gives the start; Gauss-Newton
    steps (numerical derivatives, step halving while chi-square does not drop) refine it.
    Returns ``(A, A_err, tau, tau_err)`` (tau in groups; 1-sigma errors from the inverse
    normal matrix, scaled by the reduced chi-square when above 1), or None when the profile
    shows no decay to fit (fewer than 2 points 3 sigma from zero with the sign of the
    largest, no decrease, or an amplitude below 3 sigma).
    """
    p = np.asarray(profile, float)
    s = np.asarray(sigma, float)
    good = np.isfinite(p) & np.isfinite(s) & (s > 0)
    if good.sum() < 3:
        return None
    j = np.arange(len(p), dtype=float)[good]
    p, s = p[good], s[good]
    sign = np.sign(p[np.argmax(np.abs(p))])
    strong = (np.sign(p) == sign) & (np.abs(p) > 3 * s)
    if strong.sum() < 2:
        return None
    # start: straight line through ln|p| (weights (p/s)^2, the inverse variance of ln|p|)
    y, wt = np.log(np.abs(p[strong])), (p[strong] / s[strong]) ** 2
    design = np.vstack([np.ones(strong.sum()), j[strong] + 1]).T
    coef = np.linalg.lstsq(design * np.sqrt(wt)[:, None], y * np.sqrt(wt), rcond=None)[0]
    if coef[1] >= 0:
        return None
    params = np.array([sign * math.exp(coef[0]), -1.0 / coef[1]])
    weight = 1.0 / s ** 2

    def model(q):
        return decay_model(q[0], q[1], j, window)

    def chi2(q):
        return float((weight * (p - model(q)) ** 2).sum())

    def jacobian(q):
        cols = []
        for n in range(2):
            h = 1e-6 * max(abs(q[n]), 1e-3)
            up, down = q.copy(), q.copy()
            up[n] += h
            down[n] -= h
            cols.append((model(up) - model(down)) / (2 * h))
        return np.vstack(cols).T

    current = chi2(params)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for _ in range(100):
            jac = jacobian(params)
            normal = jac.T @ (jac * weight[:, None])
            try:
                step = np.linalg.solve(normal, jac.T @ (weight * (p - model(params))))
            except np.linalg.LinAlgError:
                return None
            scale = 1.0
            while scale > 1e-6:                 # step halving keeps chi2 going down
                trial = params + scale * step
                if trial[1] > 0 and chi2(trial) <= current:
                    break
                scale /= 2
            else:
                break
            done = np.all(np.abs(scale * step) <= 1e-9 * np.abs(params))
            params, current = trial, chi2(trial)
            if done:
                break
        jac = jacobian(params)
        try:
            cov = np.linalg.inv(jac.T @ (jac * weight[:, None]))
        except np.linalg.LinAlgError:
            return None
    dof = len(p) - 2
    cov *= max(1.0, current / dof) if dof > 0 else 1.0
    amp, tau = float(params[0]), float(params[1])
    a_err, tau_err = math.sqrt(max(cov[0, 0], 0)), math.sqrt(max(cov[1, 1], 0))
    if not (np.isfinite([amp, tau, a_err, tau_err]).all() and abs(amp) > 3 * a_err):
        return None
    return amp, a_err, tau, tau_err


def _profile(hist, w, threshold, group_time, with_parity=True, window=None):
    both = hist.reshape(w, 2, NBINS).transpose(1, 0, 2)
    med, err, n = _medians(both.sum(axis=0) if with_parity else both[0], w)
    samples = int(n[0])
    if samples == 0:
        return None
    prof = Profile(recommended_skip=recommended_skip(med, threshold), samples=samples,
                   profile=[round(float(v), 6) for v in med],
                   uncertainty=[round(float(v), 6) for v in err])
    prof.reaches_window = bool(abs(med[-1]) > threshold)
    fit = fit_decay(med, err, window)
    if fit is not None:
        prof.amplitude, prof.amplitude_err, prof.tau_groups, prof.tau_groups_err = fit
        # the skip the fitted transient itself asks for, free of the small pull of the
        # late window on the measured profile (decay_model)
        ratio = abs(prof.amplitude) / threshold
        prof.skip_from_fit = (0 if ratio <= 1 else
                              max(0, math.ceil(prof.tau_groups * math.log(ratio) - 1)))
        if group_time:
            prof.tau_seconds = prof.tau_groups * group_time
            prof.tau_seconds_err = prof.tau_groups_err * group_time
    if with_parity:
        for name, part in (("odd_rows", both[0]), ("even_rows", both[1])):
            sub = np.zeros((w, 2, NBINS), np.int64)
            sub[:, 0] = part
            setattr(prof, name, _profile(sub, w, threshold, group_time, False, window))
    return prof


def _finish(acc, threshold, group_time, where, ngroups):
    """Profiles of an accumulator; a kind offered but with no used sample is an error."""
    out = {}
    for kind in KINDS:
        if not acc.seen[kind]:
            out[kind] = None
            continue
        if not acc.used[kind]:
            raise DiagnoseError(
                f"{where}: no usable sample in {_KIND_TEXT[kind]} ({acc.seen[kind]} "
                "offered): every one is a reference or DO_NOT_USE pixel, has a SATURATED, "
                "DO_NOT_USE or JUMP_DET group, or no significant positive slope in the "
                "late window")
        out[kind] = _profile(acc.hist[kind], acc.w, threshold, group_time,
                             window=(acc.w, ngroups))
        out[kind].samples_tested_ok = acc.used[kind]
    return out


def _check_threshold(threshold):
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) \
            or not math.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"threshold must be a positive number (a fraction of one group's "
                         f"increment), not {threshold!r}")
    return float(threshold)


def _check_window(where, ngroups, window_start):
    if ngroups < MIN_GROUPS:
        raise DiagnoseError(
            f"{where}: {ngroups} groups; the ramps are too short: diagnose needs at least "
            f"{MIN_GROUPS} (an early group, a late window of {MIN_WINDOW} groups, and the "
            "last group, which is left out)")
    w = default_window_start(ngroups) if window_start is None else int(window_start)
    if not 1 <= w <= ngroups - 1 - MIN_WINDOW:
        raise DiagnoseError(
            f"{where}: window_start = {w} with {ngroups} groups: the late window "
            f"[w, {ngroups - 2}] needs at least {MIN_WINDOW} groups and w >= 1 "
            f"(1 <= w <= {ngroups - 1 - MIN_WINDOW})")
    return w


def _notes(result, threshold):
    for kind in KINDS:
        p = getattr(result, kind)
        if p is None:
            continue
        if p.reaches_window:
            result.notes.append(
                f"{_KIND_TEXT[kind]}: the profile is still above the threshold at the late "
                f"window (group {result.window_start}); the skip {p.recommended_skip} is a "
                "lower bound: the ramps are too short to see the transient end")
        k = p.recommended_skip
        if p.skip_from_fit is not None and p.skip_from_fit > k:
            result.notes.append(
                f"{_KIND_TEXT[kind]}: the fitted decay itself stays above T up to group "
                f"{p.skip_from_fit} (skip {p.skip_from_fit}, vs {k} measured): the late "
                "window still holds a little of the transient and pulls the measured "
                "offsets towards 0; take the larger value to be safe")
        if k < len(p.uncertainty) and max(p.uncertainty[k:], default=0) > threshold / 3:
            result.notes.append(
                f"{_KIND_TEXT[kind]}: the profile's uncertainty after the cut exceeds T/3; "
                "more samples (files, integrations) would make the skip firmer")
    if result.int1 is None and result.int2p is not None:
        result.notes.append("no integration 1 in these files: a written group_skip1 "
                            "repeats the int 2+ skip")


@renamed_keywords(substrt2="ystart")
def diagnose(data: np.ndarray, groupdq: np.ndarray, pixeldq: np.ndarray, *,
             threshold: float = DEFAULT_THRESHOLD, integration_start: int = 1, ystart: int = 1,
             window_start: Optional[int] = None, group_time: Optional[float] = None,
             subarray: Optional[str] = None, readpatt: Optional[str] = None,
             max_binned: int = MAX_BINNED) -> "Diagnosis":
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
        First group of the late window; default ``min(N // 2, N - 5)``.
    group_time : float, optional
        Seconds per group (TGROUP), for tau in seconds.
    subarray, readpatt : str, optional
        Names reported and written by :meth:`Diagnosis.write_reference`.

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
    (5, 2)
    """
    threshold = _check_threshold(threshold)
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
    w = _check_window(where, data.shape[1], window_start)
    acc = _Accumulator(w, max_binned)
    acc.add(data, groupdq, pixeldq.astype(np.uint32, copy=False),
            integration_start=int(integration_start), substrt2=int(ystart))
    result = PairResult(subarray=subarray, readpatt=readpatt, ngroups=data.shape[1],
                        files=[], window_start=w, group_time=group_time)
    for kind, prof in _finish(acc, threshold, group_time, where, data.shape[1]).items():
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

    def release(self, i, r0, r1):
        """Called after rows [r0, r1) of integration i: once RELEASE_BYTES of mapped SCI
        and GROUPDQ have been read since the last release (and at the end of each
        integration), drop their pages. The kernel maps up to 64 kB around each fault
        (fault-around), so 128 kB before each range are dropped again too."""
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
                start = max(plane, plane + first * nx * size - (128 << 10))
                self._madvise(start, plane + r1 * nx * size, page)

    def _madvise(self, start, end, page):
        aligned = start - start % page
        self._mm.madvise(mmap.MADV_DONTNEED, aligned, end - aligned)

    def close(self):
        self.sci = self.gdq = None
        self._mm.close()
        self._fh.close()


def _group_time(layout):
    value = layout.header.get("TGROUP")
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and value > 0:
        return float(value)
    return None


def diagnose_files(paths: "Sequence[Union[str, os.PathLike[str]]]", *,
                   threshold: float = DEFAULT_THRESHOLD, window_start: Optional[int] = None,
                   max_binned: int = MAX_BINNED) -> "Diagnosis":
    """Measure the RSCD transient in ramp files, one result per (SUBARRAY, READPATT).

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        Linearity-corrected ramp files (SCI, PIXELDQ, GROUPDQ; READPATT, SUBARRAY and
        optionally INTSTART, SUBSTRT2, TGROUP in the primary header). All samples of the
        files of one pair make its profiles.
    threshold : float
        T, in units of one group's signal increment (default 0.1).
    window_start : int, optional
        First group of the late window; default ``min(N // 2, N - 5)`` of the pair's
        shortest ramps.

    Returns
    -------
    Diagnosis

    Raises
    ------
    rscd.RampFileError
        A file is not a readable ramp file (names the file and what is wrong).
    DiagnoseError
        Too few groups, or no usable sample in a pair.
    """
    from .fits import read_layout       # the ramp-file checks apply_file makes
    threshold = _check_threshold(threshold)
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise DiagnoseError("no input files")
    layouts, seen = [], set()
    for path in paths:
        key = os.path.realpath(path)
        if key in seen:
            continue
        seen.add(key)
        layouts.append(read_layout(path))
    pairs: Dict[Tuple[str, str], List[Any]] = {}
    for layout in layouts:
        pair = (canonical_subarray(layout.subarray), layout.readpatt.rstrip())
        pairs.setdefault(pair, []).append(layout)
    results = []
    for (subarray, readpatt), group in pairs.items():
        for layout in group:
            _check_window(layout.path, layout.shape[1], window_start)
        ngroups = sorted({layout.shape[1] for layout in group})
        w = _check_window(f"{subarray} {readpatt}", ngroups[0], window_start)
        times = {_group_time(layout) for layout in group}
        group_time = times.pop() if len(times) == 1 else None
        acc = _Accumulator(w, max_binned)
        for layout in group:
            if 0 in layout.shape:
                continue
            ramp = _MappedRamp(layout)
            try:
                acc.add(ramp.sci, ramp.gdq, ramp.pixeldq,
                        integration_start=layout.integration_start,
                        substrt2=layout.substrt2, release=ramp.release)
            finally:
                ramp.close()
        where = f"{subarray} {readpatt} ({', '.join(layout.path for layout in group)})"
        profiles = _finish(acc, threshold, group_time, where, ngroups[0])
        if all(p is None for p in profiles.values()):
            raise DiagnoseError(f"{where}: the files hold no integration")
        result = PairResult(subarray=subarray, readpatt=readpatt,
                            ngroups=ngroups[0] if len(ngroups) == 1 else ngroups,
                            files=[layout.path for layout in group], window_start=w,
                            group_time=group_time, **profiles)
        if len(times) > 1:
            result.notes.append("the files give different TGROUP values: tau in seconds "
                                "left out")
        _notes(result, threshold)
        results.append(result)
    return Diagnosis(threshold=threshold, results=results)


# --------------------------------------------------------------------------- figure


def draw_figure(diagnosis: "Diagnosis", fig: Any = None) -> Any:
    """Per pair a row of two panels (integration 1, integrations 2+): the measured
    profile with its 1-sigma error bars (odd and even rows as small markers), the
    threshold band, the fitted decay and the recommended cut. ``fig``: a matplotlib
    Figure to draw on (e.g. ``plt.figure()``); default a new one (not pyplot's)."""
    from .plot import require_matplotlib
    require_matplotlib()
    from matplotlib.figure import Figure
    rows = len(diagnosis.results)
    if fig is None:
        fig = Figure(figsize=(11, 4.2 * rows), layout="constrained")
    axes = fig.subplots(rows, 2, squeeze=False)
    T = diagnosis.threshold
    for r, result in enumerate(diagnosis.results):
        for c, kind in enumerate(KINDS):
            ax = axes[r][c]
            prof = getattr(result, kind)
            name = f"{result.subarray or ''} {result.readpatt or ''}".strip() or "arrays"
            ax.set_title(f"{name}: {_KIND_TEXT[kind]} (line fitted to groups "
                         f"{result.window_start + 1}-{min(np.atleast_1d(result.ngroups)) - 1})",
                         fontsize=10)
            ax.set_xlabel("group number (1 = first group of the integration)")
            ax.set_ylabel("offset from the late-ramp line\n(in units of one group's signal)")
            if prof is None:
                ax.text(0.5, 0.5, f"no {_KIND_TEXT[kind]} in these files",
                        transform=ax.transAxes, ha="center", va="center", color="0.4")
                continue
            g = np.arange(1, len(prof.profile) + 1)
            ax.axhspan(-T, T, color="#f5b041", alpha=0.3, linewidth=0,
                       label=f"threshold band |offset| <= {T:g}")
            ax.axhline(0, color="0.5", linewidth=0.8)
            for part, marker, label in ((prof.odd_rows, "^", "odd rows"),
                                        (prof.even_rows, "v", "even rows")):
                if part is not None:
                    ax.plot(g, part.profile, marker, color="0.55", markersize=4,
                            linestyle="none", label=label)
            ax.errorbar(g, prof.profile, yerr=prof.uncertainty, fmt="o", color="#1f4e99",
                        markersize=5, capsize=3,
                        label=f"median of {prof.samples} samples (1-sigma bars)")
            if prof.tau_groups is not None:
                fine = np.linspace(1, len(prof.profile), 200)
                secs = "" if prof.tau_seconds is None else f" = {prof.tau_seconds:.3g} s"
                n_min = min(np.atleast_1d(result.ngroups))
                seen = decay_model(prof.amplitude, prof.tau_groups, fine - 1,
                                   (result.window_start, n_min))
                ax.plot(fine, seen, "-", color="#c0392b",
                        label=f"fit A exp(-n/tau): A = {prof.amplitude:.3g}, "
                              f"tau = {prof.tau_groups:.3g} groups{secs}")
            k = prof.recommended_skip
            if k:
                ax.axvspan(0.5, k + 0.5, color="0.85", zorder=0,
                           label=f"recommended: flag the first {k} group(s)")
            ax.axvline(k + 0.5, color="#1e8449", linestyle="--", linewidth=1.5,
                       label="cut: groups to the right are kept" if k else
                       "cut: no group needs flagging")
            ax.set_xlim(0.4, len(prof.profile) + 0.6)
            ax.legend(fontsize=7.5, loc="lower right", framealpha=0.85)
    fig.suptitle("RSCD diagnosis: each early group's offset from the ramp's straight line "
                 "through its late groups (median over good pixels)", fontsize=12)
    return fig


# --------------------------------------------------------------------------- command line


def _parser():
    parser = argparse.ArgumentParser(
        prog="rscd diagnose",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Measure the RSCD transient in linearity-corrected ramp files (before\n"
                    "any RSCD correction) and recommend how many groups to flag in\n"
                    "integration 1 and in integrations 2+, per SUBARRAY/READPATT.",
        epilog="Each early group's offset from the ramp's late straight line, in units of "
               "one group's signal increment, is\nthe median over good samples; the skip is "
               "the first group from which every offset stays within T.\nSee the docs page "
               "'Measure the RSCD in your data' (docs/diagnose.rst).\n\n"
               "example:\n  rscd diagnose jw*_mirimage_linearity.fits --figure rscd.png "
               "--write-reference my_rscd.fits")
    parser.add_argument("inputs", nargs="+", metavar="INPUT.fits", help="ramp files")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="T",
                        help="largest offset accepted, in units of one group's increment "
                             "(default: %(default)s)")
    parser.add_argument("--window-start", type=int, metavar="W",
                        help="first group (from 0) of the late window (default: "
                             "min(N // 2, N - 5))")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--figure", metavar="PATH", help="draw the profiles to this image")
    parser.add_argument("--write-reference", metavar="REF.fits",
                        help="write an RSCD_GROUP_SKIP reference file with the "
                             "recommended skips (use it with rscd --reference)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --figure or --write-reference file")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """``rscd diagnose``; returns the exit status (0 done, 1 bad input, 2 bad usage)."""
    args = _parser().parse_args(argv)

    def fail(text, status=1):
        print(f"rscd diagnose: error: {' '.join(str(text).split())}", file=sys.stderr)
        return status

    try:
        _check_threshold(args.threshold)
    except ValueError as exc:
        return fail(exc, 2)
    for option, path in (("--figure", args.figure), ("--write-reference", args.write_reference)):
        if path and os.path.exists(path) and not args.overwrite:
            return fail(f"{option} {path} exists; use --overwrite to replace it", 2)
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            return fail(f"{option} {path}: the folder does not exist", 2)
    if args.figure:
        try:
            from .plot import require_matplotlib
            require_matplotlib()
        except ImportError as exc:
            return fail(exc, 2)
    try:
        result = diagnose_files(args.inputs, threshold=args.threshold,
                                window_start=args.window_start)
        if args.write_reference:
            result.write_reference(args.write_reference, overwrite=args.overwrite)
        if args.figure:
            result.save_figure(args.figure)
    except (ValueError, OSError) as exc:
        if args.debug:
            import traceback
            traceback.print_exc()
        from .batch import error_text
        return fail(error_text(exc))
    print(result.to_json() if args.json else result.table())
    if not args.json:
        if args.write_reference:
            print(f"wrote {args.write_reference}: RSCD_GROUP_SKIP, one row per pair")
        if args.figure:
            print(f"wrote {args.figure}")
    return 0
