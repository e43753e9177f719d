"""The ``measured`` method in plain numpy (docs/overview.rst, "Method measured"): the
oracle the C core is compared with, value for value."""
import numpy as np

DO_NOT_USE, SATURATED, JUMP_DET = 1, 2, 4
REFERENCE_PIXEL = 2**31


def _padded(values, n):
    out = np.zeros(n)
    k = min(n, len(values))
    out[:k] = np.asarray(values, dtype=float)[:k]
    return out


def measured_oracle(data, groupdq, pixeldq, model, integration_start=1, ystart=1):
    """A corrected native float32 copy of ``data``; ``model`` is a rscd MeasuredModel."""
    out = np.array(data, dtype=np.float32)          # native copy
    d = out.astype(np.float64)
    nints, n, ny, nx = out.shape
    odd_rows = (ystart + np.arange(ny)) % 2 == 1
    bad_pixel = (pixeldq & (DO_NOT_USE | REFERENCE_PIXEL)) != 0
    for i in range(nints):
        first = integration_start + i == 1
        for odd in (False, True):
            row = (model.int1_odd if odd else model.int1_even) if first else \
                (model.int2p_odd if odd else model.int2p_even)
            if row is None:
                continue
            sel = odd_rows == odd
            a, b = _padded(row.a, n), _padded(row.b, n)
            w = row.window_start
            num = np.zeros((int(sel.sum()), nx))
            den = np.zeros_like(num)
            for g in range(w, n - 2):
                v0, v1 = d[i, g][sel], d[i, g + 1][sel]
                q0, q1 = groupdq[i, g][sel], groupdq[i, g + 1][sel]
                ok = ((q0 & (SATURATED | DO_NOT_USE)) == 0) & \
                     ((q1 & (SATURATED | DO_NOT_USE | JUMP_DET)) == 0) & \
                     np.isfinite(v0) & np.isfinite(v1)
                num += np.where(ok, v1 - v0 - (b[g + 1] - b[g]), 0.0)
                den += np.where(ok, 1.0 + a[g + 1] - a[g], 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                s = num / den
            usable = (den > 0) & np.isfinite(s) & ~bad_pixel[sel]
            for j in range(min(len(row.a), n)):
                if row.a[j] == 0.0 and row.b[j] == 0.0:
                    continue
                v = d[i, j][sel]
                with np.errstate(over="ignore", invalid="ignore"):
                    new = (v - (row.a[j] * s + row.b[j])).astype(np.float32)
                keep = usable & ((groupdq[i, j][sel] & SATURATED) == 0) & np.isfinite(v) & \
                    np.isfinite(new)
                plane = out[i, j]
                sub = plane[sel]
                sub[keep] = new[keep]
                plane[sel] = sub
    return out
