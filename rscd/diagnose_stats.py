"""The two-part regression of ``rscd diagnose`` (docs/diagnose.rst, "The estimator"):
from the sums of :mod:`rscd.diagnose_measure`, each measured group's offset as
``a_j * slope + b_j``, with bootstrap uncertainties over row stripes.

Per group j, over samples ``(u, z, o)``::

    a_j = cov(z, o) / cov(z, u)         b_j = mean(o) - a_j * mean(u)

the instrumental-variable form of the straight line ``o = a u + b``. ``z`` (a slope from
other groups) is correlated with the pixel's true slope but not with the noise of ``o``
and ``u``, so the noise averages out of both covariances: no selection bias, no
attenuation from the noise in the slopes, no division by a noisy slope. When the slopes
of the samples hardly differ (dark data), ``cov(z, u)`` is not significantly above 0:
``a_j`` cannot be told from ``b_j`` and the model keeps the DN part only
(``b_j = mean(o)``, ``a_j`` not measured: NaN).

Uncertainties: ``BOOTSTRAP`` resamplings of the row stripes (with replacement); the
standard deviation of each quantity over them. Stripes hold many rows each and are
measured independently, so this follows the real scatter whatever the noise's shape.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .diagnose_measure import SLOPE_BINS, SLOPE_SPAN, SLOPE_UNIT, SUMS

__all__ = ["Parts", "regress", "median_slope", "BOOTSTRAP"]

#: Bootstrap resamplings of the row stripes.
BOOTSTRAP = 200
_N, _Z, _U, _O, _ZU, _ZO = (SUMS.index(k) for k in SUMS)


@dataclass
class Parts:
    """One integration kind and row selection: per group 0 ... N-1 (window groups are
    the reference line: 0 by definition)."""
    a: np.ndarray             #: proportional part, fraction of one group's increment
    a_err: np.ndarray
    b: np.ndarray             #: DN part
    b_err: np.ndarray
    total: np.ndarray         #: a + b / reference slope: offset in increments there
    total_err: np.ndarray
    samples: np.ndarray       #: samples per group
    boot_total: np.ndarray    #: (BOOTSTRAP, N) resampled totals
    proportional: bool        #: False: a not measurable (slopes do not differ enough)


def _solve(s, with_a):
    """a, b from sums ``s`` (..., J, 6); ``with_a`` False: b = mean(o), a = 0."""
    n = np.maximum(s[..., _N], 1e-300)
    cov_zu = s[..., _ZU] - s[..., _Z] * s[..., _U] / n
    cov_zo = s[..., _ZO] - s[..., _Z] * s[..., _O] / n
    with np.errstate(divide="ignore", invalid="ignore"):
        a = cov_zo / cov_zu if with_a else np.zeros_like(cov_zu)
        b = (s[..., _O] - a * s[..., _U]) / n
    return a, b, cov_zu


def regress(sums: np.ndarray, measured: np.ndarray, ngroups: int,
            reference_slope: float, seed: int = 12345) -> Optional[Parts]:
    """``sums``: (stripes, J, 6) for one kind and row selection; ``measured``: the group
    index of each of the J rows. None when no sample."""
    full = sums.sum(axis=0)
    if full[:, _N].min() < 2:
        return None
    live = np.flatnonzero(sums[:, :, _N].sum(axis=1) > 0)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(live), np.full(len(live), 1.0 / len(live)), BOOTSTRAP)
    boot = np.einsum("bs,sjk->bjk", weights.astype(np.float64), sums[live])
    _, _, cov = _solve(full, True)
    _, _, cov_b = _solve(boot, True)
    # the proportional part is measurable where the slopes spread significantly: the
    # covariance of the two slopes (the true slopes' variance) above 0 in 97.5 % of the
    # resamplings
    proportional = bool(np.all(cov > 0) and np.mean(cov_b > 0, axis=0).min() >= 0.975)
    a, b, _ = _solve(full, proportional)
    a_b, b_b, _ = _solve(boot, proportional)
    total = a + b / reference_slope
    total_b = a_b + b_b / reference_slope

    def spread_of(x):
        return np.nanstd(x, axis=0)

    def expand(values, fill=0.0):
        out = np.full(values.shape[:-1] + (ngroups,), fill, dtype=np.float64)
        out[..., measured] = values
        return out

    nan_if = (lambda x: x) if proportional else (lambda x: np.full_like(x, np.nan))
    return Parts(a=expand(nan_if(a)), a_err=expand(nan_if(spread_of(a_b))),
                 b=expand(b), b_err=expand(spread_of(b_b)),
                 total=expand(total), total_err=expand(spread_of(total_b)),
                 samples=expand(full[:, _N], 0).astype(np.int64),
                 boot_total=expand(total_b), proportional=proportional)


def median_slope(hist: np.ndarray) -> Optional[float]:
    """Median whole-window slope (DN per group) of a slope histogram
    (:class:`rscd.diagnose_measure.Accumulator`), None when empty."""
    total = hist.sum()
    if not total:
        return None
    cdf = np.r_[0, np.cumsum(hist)]
    width = 2 * SLOPE_SPAN / SLOPE_BINS
    edges = -SLOPE_SPAN + width * (np.arange(SLOPE_BINS + 1) - 0.5)
    return float(SLOPE_UNIT * np.sinh(np.interp(total / 2, cdf, edges)))
