"""The outlier cut's tables (rscd.diagnose_measure.ClipTable) against a plain oracle:
per bin of z, numpy.median and the median absolute deviation of u and of every offset,
one bin at a time, written here as docs/diagnose.rst ("Outliers") states them. The
table computes every bin's medians at once; the values must be the same bits."""
import math

import numpy as np
import pytest

from rscd.diagnose_measure import CLIP_MADS, MAX_ZBINS, ZBIN_MIN, ClipTable


def oracle(z, u, o):
    """(edges, bright, zmed, u_c, u_h, o_c, o_h), bin by bin with numpy.median."""
    k = int(max(1, min(MAX_ZBINS, len(z) // ZBIN_MIN)))
    edges = np.unique(np.quantile(z, np.arange(1, k) / k) if k > 1 else np.array([]))
    k = len(edges) + 1
    which = np.searchsorted(edges, z)
    nj = o.shape[0]
    zmed, bright = np.ones(k), np.zeros(k, bool)
    u_c, u_h = np.zeros(k), np.full(k, np.inf)
    o_c, o_h = np.zeros((k, nj)), np.full((k, nj), np.inf)
    for b in range(k):
        sel = which == b
        if sel.sum() < 20:
            continue
        zb, ub, ob = z[sel], u[sel], o[:, sel]
        m = float(np.median(zb))
        noise = 1.4826 * float(np.median(np.abs((zb - ub) - np.median(zb - ub)))) / math.sqrt(2)
        if m > 10 * noise and zb.min() > 0:
            bright[b], zmed[b] = True, m
            g = m / zb
            ub, ob = ub * g, ob * g
        u_c[b] = np.median(ub)
        u_h[b] = CLIP_MADS * np.median(np.abs(ub - u_c[b])) + 1e-9 * (1 + abs(u_c[b]))
        o_c[b] = np.median(ob, axis=1)
        mad = np.median(np.abs(ob - o_c[b][:, None]), axis=1)
        o_h[b] = CLIP_MADS * mad + 1e-9 * (1 + np.abs(o_c[b]))
    return edges, bright, zmed, u_c, u_h, o_c, o_h


def pilot(n, nj, seed, faint=False, ties=False):
    rng = np.random.default_rng(seed)
    z = np.exp(rng.uniform(np.log(0.5 if faint else 30), np.log(3000), n))
    if faint:
        z -= 2.0                       # dark pixels: z near 0 and below
    if ties:
        z = np.round(z / 50) * 50      # many equal values: bins of unequal sizes
    u = z + rng.normal(0, 3, n)
    o = rng.standard_t(3, (nj, n)) * (1 + 0.01 * z) - 0.05 * z
    return z, u, o


@pytest.mark.parametrize("n, nj, seed, faint, ties", [
    (52_000, 21, 1, False, False), (9_000, 7, 2, True, False), (7_207, 5, 3, False, True),
    (6_001, 3, 4, True, True), (301, 4, 5, False, False), (25, 2, 6, False, False),
    (12, 3, 7, False, False), (0, 3, 8, False, False)])
def test_clip_table_is_the_per_bin_medians(n, nj, seed, faint, ties):
    z, u, o = pilot(n, nj, seed, faint, ties)
    table = ClipTable(z, u, o)
    edges, bright, zmed, u_c, u_h, o_c, o_h = oracle(z, u, o)
    np.testing.assert_array_equal(table.edges, edges)
    np.testing.assert_array_equal(table.bright, bright)
    for got, want in ((table.zmed, zmed), (table.u_c, u_c), (table.u_h, u_h),
                      (table.o_c, o_c), (table.o_h, o_h)):
        assert got.tobytes() == want.tobytes()


def test_the_cases_above_hold_bright_faint_and_uncut_bins():
    """The parametrised cases reach every branch: bright bins and others, and bins
    too small for a cut."""
    z, u, o = pilot(9_000, 7, 2, faint=True)
    bright = ClipTable(z, u, o).bright
    assert bright.any() and not bright.all()
    z, u, o = pilot(12, 3, 7)
    assert np.isinf(ClipTable(z, u, o).u_h).all()


@pytest.mark.parametrize("rows, n", [(1, 1), (3, 2), (22, 701), (5, 1000), (0, 4)])
def test_median_mad_is_numpys(rows, n):
    """The clip tables' medians (rscd_median_mad through the adapter) against
    numpy.median, rows with ties, a NaN and an infinity among them: the same values
    (where both 0.0 and -0.0 are in a row, either may be the median, as either may
    be numpy's: the sign of a zero centre changes no cut)."""
    from rscd import _core
    rng = np.random.default_rng(rows * 1000 + n)
    x = rng.standard_t(3, (rows, n))
    if rows > 2:
        x[1] = np.round(x[1])            # ties
        x[2, n // 2] = np.nan
    if rows > 3:
        x[3, 0] = np.inf
    before = x.copy()
    median, mad = _core.median_mad(x)
    want = np.median(x, axis=1)
    want_mad = np.median(np.abs(x - want[:, None]), axis=1)
    np.testing.assert_array_equal(median, want)
    np.testing.assert_array_equal(mad, want_mad)
    assert x.tobytes() == before.tobytes()
    assert _core.median_mad(x, with_mad=False)[1] is None


def test_median_mad_refuses_what_it_cannot_read():
    from rscd import _core
    with pytest.raises(ValueError, match="no value"):
        _core.median_mad(np.zeros((2, 0)))
    with pytest.raises(ValueError):
        _core.median_mad(np.zeros((2, 4))[:, ::2])          # not C-contiguous
    with pytest.raises(ValueError):
        _core.median_mad(np.zeros((2, 4), np.float32))      # not float64
