"""A slow, obviously-correct reference of the `decay` method (docs/overview.rst,
"Method decay").

One pixel at a time, in Python floats (IEEE double, the same libm exp/pow as
the C core), written to be read against that page line by line. It never
changes its inputs and returns a new float32 array.
"""
import math

import numpy as np

PARAM_NAMES = ("tau", "ascale", "pow", "illum_zp", "illum_slope", "illum2", "param3",
               "crossopt", "sat_zp", "sat_slope", "sat_2", "sat_mzp", "sat_rowterm",
               "sat_scale")

SATURATED = 2
REFERENCE_PIXEL = 2 ** 31


def _exp(v):
    try:
        return math.exp(v)
    except OverflowError:  # C returns +inf
        return math.inf


def _pow(base, expo):
    try:
        return math.pow(base, expo)
    except OverflowError:  # C returns +inf (base > 0 here)
        return math.inf


def _finite(v):
    return math.isfinite(v)


def pixel_amplitude(prev_ramp, prev_dq, refpix, c, ngroups):
    """L * a * 0.01 for one pixel, or (0.0, why) when nothing is to be added.

    prev_ramp, prev_dq: the pixel's N values / GROUPDQ bytes in the previous,
    uncorrected integration. c: the 14 parameters of the pixel's row parity.
    Returns (amplitude, kind) with kind in {"corrected", "saturated",
    "nonfinite", "none"}.
    """
    n = ngroups
    d = [float(v) for v in prev_ramp]
    # L: last frame extrapolated from the 2nd and 3rd to last groups.
    lf = d[n - 2] + (d[n - 2] - d[n - 3])
    # Saturated anywhere in groups 1 .. N-2 (bit test).
    sat = any(int(prev_dq[g]) & SATURATED for g in range(1, n - 1))
    if refpix:
        return 0.0, "none"  # L = fit = 0
    if lf == 0.0:
        return 0.0, "none"
    if not _finite(lf):
        return 0.0, "nonfinite"
    if sat:
        # OLS over groups 1 .. N-2 not SATURATED, x = 0 .. N-3.
        xs, ys = [], []
        for g in range(1, n - 1):
            if not int(prev_dq[g]) & SATURATED:
                xs.append(float(g - 1))
                ys.append(d[g])
        slope = intercept = 0.0
        if len(xs) >= 3:
            sn = sx = sy = sxy = sxx = 0.0
            for xv, yv in zip(xs, ys):
                sn += 1.0
                sx += xv
                sy += yv
                sxy += xv * yv
                sxx += xv * xv
            den = sn * sxx - sx * sx
            slope = (sn * sxy - sx * sy) / den
            intercept = (sxx * sy - sx * sxy) / den
        fit = lf if slope == 0.0 else slope * n + intercept
        nf = float(n)
        sat_final = c["sat_zp"] + c["sat_slope"] * nf + c["sat_2"] * (nf * nf) + c["sat_rowterm"]
        a = sat_final * (fit * c["sat_scale"]) + c["sat_mzp"]
    else:
        nf = float(n)
        b1 = c["ascale"] * (c["illum_zp"] + c["illum_slope"] * nf + c["illum2"] * (nf * nf))
        c2 = lf - c["crossopt"]
        if not c2 > 0.0:
            c2 = 0.0
        f2 = 1.0 / (_exp(c2 / c["param3"]) - 1.0) if c2 > 0.0 else 0.0
        a = b1 * _pow(c2, c["pow"]) * f2 if f2 > 0.0 else 0.0
    amp = lf * a * 0.01
    # A correction of 2**103 DN or more cannot be stored without risking float32
    # overflow of finite data: it counts as non-finite (docs/overview.rst, "Method
    # decay": "any term is not finite").
    if not _finite(amp) or abs(amp) >= 2.0**103:
        return 0.0, "nonfinite"
    if amp == 0.0:
        return 0.0, "none"
    return amp, "saturated" if sat else "corrected"


def decay_oracle(data, groupdq, pixeldq, even, odd, substrt2=1, integration_start=1,
                 prev=None):
    """Apply the decay method (docs/overview.rst, "Method decay") to copies of the arrays.

    Parameters
    ----------
    data : float32 array (nints, ngroups, nrows, ncols), any byte order
    groupdq : uint8 array, same shape
    pixeldq : uint32 array (nrows, ncols)
    even, odd : dict of the 14 parameters
    substrt2 : 1-based detector row of array row 0
    integration_start : 1-based number of integration 0 in the exposure
    prev : None or (prev_data, prev_groupdq) of shape (ngroups, nrows, ncols),
        the uncorrected previous integration of a segmented exposure

    Returns
    -------
    out : new native float32 array with the corrections
    counts : dict with corrected / saturated / nonfinite pair counts, the
        status name and first_int_left
    """
    data = np.asarray(data)
    nints, ngroups, nrows, ncols = data.shape
    orig = data.astype(np.float32)  # native copy: the uncorrected input
    out = orig.copy()
    counts = {"corrected": 0, "saturated": 0, "nonfinite": 0, "first_int_left": 0,
              "status": "OK", "nints_corrected": 0}
    if ngroups < 4:
        counts["status"] = "SKIP_FEW_GROUPS"
        return out, counts
    first = 1
    if prev is not None:
        first = 0
    elif integration_start > 1 and nints >= 1:
        counts["status"] = "FIRST_INT_LEFT"
        counts["first_int_left"] = 1
    elif nints <= 1:
        counts["status"] = "ONE_INT"
    counts["nints_corrected"] = max(nints - first, 0)
    efac = {}
    for name, c in (("even", even), ("odd", odd)):
        efac[name] = [math.exp(-(j + 1) / float(c["tau"])) for j in range(ngroups)]
    for i in range(first, nints):
        if i == 0:
            src = np.asarray(prev[0], dtype=np.float32)
            sdq = np.asarray(prev[1])
        else:
            src = orig[i - 1]  # uncorrected previous integration
            sdq = groupdq[i - 1]
        for y in range(nrows):
            detrow = substrt2 + y
            name = "odd" if detrow % 2 == 1 else "even"
            c = {k: float(v) for k, v in (odd if name == "odd" else even).items()}
            for x in range(ncols):
                refpix = bool(int(pixeldq[y, x]) & REFERENCE_PIXEL)
                amp, kind = pixel_amplitude(src[:, y, x], sdq[:, y, x], refpix, c, ngroups)
                if kind in ("corrected", "saturated"):
                    counts["corrected"] += 1
                    if kind == "saturated":
                        counts["saturated"] += 1
                elif kind == "nonfinite":
                    counts["nonfinite"] += 1
                if amp == 0.0:
                    continue
                for j in range(ngroups):
                    out[i, j, y, x] = np.float32(float(orig[i, j, y, x]) + amp * efac[name][j])
    return out, counts
