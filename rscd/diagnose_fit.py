"""The decay fit and the skip rules of ``rscd diagnose`` (docs/diagnose.rst): pure
arithmetic on a measured profile, no data access.

``recommended_skip`` is the measured rule (the first group from which every offset stays
within T), ``fit_decay`` fits ``A exp(-(j + 1) / tau)`` as the late window sees it
(``decay_model``), and ``skip_of_decay`` is the skip that fitted decay asks for.
"""
import math
from typing import Any, Optional, Tuple

import numpy as np

__all__ = ["recommended_skip", "decay_model", "fit_decay", "skip_of_decay"]


def recommended_skip(profile: Any, threshold: float) -> Any:
    """The smallest k with ``|profile_j| <= threshold`` for every j in [k, len(profile))
    (NaN is not within): an int, or for a 2-D array one per row."""
    outside = ~(np.abs(np.asarray(profile, dtype=np.float64)) <= threshold)
    n = outside.shape[-1]
    last = n - np.argmax(outside[..., ::-1], axis=-1) if n else np.zeros(outside.shape[:-1], int)
    k = np.where(outside.any(axis=-1), last, 0)
    return int(k) if k.ndim == 0 else k


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


def skip_of_decay(amplitude: float, tau: float, threshold: float) -> int:
    """Groups to flag for the bare transient ``A exp(-(j + 1) / tau)`` at threshold T:
    the smallest k with ``|A| exp(-(j + 1) / tau) <= T`` for every ``j >= k``."""
    ratio = abs(amplitude) / threshold
    if ratio <= 1:
        return 0
    return max(0, math.ceil(tau * math.log(ratio) - 1))
