"""Tests of the `decay` method (docs/overview.rst, "Method decay"; issue 3) through rscd._core.decay.

(a) the C core against the pure-numpy oracle (tests/oracle_decay.py);
(b) against the 2019 implementation (jwst 0.17.1, fetched at test time);
(c) big-endian SCI corrected in place; (d) in place vs on a copy;
(e) segmented exposures; (f) skips, errors, untouched DQ; hypothesis properties.
"""
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))

from legacy_2019 import legacy_decay, require_legacy  # noqa: E402
from oracle_decay import PARAM_NAMES, decay_oracle  # noqa: E402

from rscd import _core  # noqa: E402

S = _core.rscd_status
SAT = 2
JUMP = 4
REFPIX = np.uint32(2 ** 31)
STATUS = {"OK": S.RSCD_OK, "SKIP_FEW_GROUPS": S.RSCD_SKIP_FEW_GROUPS,
          "ONE_INT": S.RSCD_INFO_ONE_INT, "FIRST_INT_LEFT": S.RSCD_INFO_FIRST_INT_LEFT}


# ---------------------------------------------------------------- generators

def make_coeffs(rng, negative_pow=False):
    """One parity's 14 parameters in the ranges of the seed-era CDPs, rounded
    to float32 as they are stored in the RSCD table."""
    c = dict(tau=rng.uniform(1, 20), ascale=10 ** rng.uniform(-2, 0),
             pow=rng.uniform(-1.0, -0.1) if negative_pow else rng.uniform(0.5, 2),
             illum_zp=rng.uniform(0.5, 2), illum_slope=rng.uniform(-0.05, 0.05),
             illum2=rng.uniform(-1e-3, 1e-3), param3=10 ** rng.uniform(3, 5),
             crossopt=rng.uniform(0, 1e4), sat_zp=rng.uniform(0, 1e-5),
             sat_slope=rng.uniform(-1e-7, 1e-7), sat_2=rng.uniform(-1e-9, 1e-9),
             sat_mzp=rng.uniform(0, 0.5), sat_rowterm=rng.uniform(0, 1e-6),
             sat_scale=rng.uniform(0.5, 2))
    assert set(c) == set(PARAM_NAMES)
    return {k: float(np.float32(v)) for k, v in c.items()}


def make_ramp(rng, nints, ngroups, nrows, ncols, refcols=True, nonfinite=False,
              jump=True, satlevel=60000.0):
    """Linear ramps over a bias with noise; pixels that reach satlevel stay
    there and are SATURATED from then on (bit 2 alone or with JUMP_DET);
    MIRI-like reference-pixel columns (4 on each side)."""
    bias = rng.uniform(5000, 15000, size=(1, 1, nrows, ncols))
    rate = 10 ** rng.uniform(0, 4.2, size=(nints, 1, nrows, ncols))
    g = np.arange(ngroups).reshape(1, -1, 1, 1)
    d = bias + rate * (g + 1) + rng.normal(0, 5, size=(nints, ngroups, nrows, ncols))
    sat = np.logical_or.accumulate(d >= satlevel, axis=1)
    d[sat] = satlevel
    gdq = np.zeros(d.shape, np.uint8)
    gdq[sat] |= SAT
    if jump:
        gdq[(rng.random(d.shape) < 0.02) & ~sat] |= JUMP
    pdq = np.zeros((nrows, ncols), np.uint32)
    pdq[rng.random((nrows, ncols)) < 0.05] |= np.uint32(1)  # other pixel flags: ignored
    if refcols:
        pdq[:, :4] |= REFPIX
        pdq[:, -4:] |= REFPIX
    d = d.astype(np.float32)
    if nonfinite:
        for v in (np.nan, np.inf, -np.inf):
            idx = tuple(rng.integers(0, s) for s in d.shape)
            d[idx] = v
    return d, gdq, pdq


def run_c(data, groupdq, pixeldq, even, odd, substrt2=1, integration_start=1,
          nints_exposure=0, prev=None, nthreads=0):
    """rscd._core.decay on data in place, in its own byte order, the way
    rscd.apply calls it. Returns (status, stats dict)."""
    flat = data.reshape(-1)
    assert data.size == 0 or np.shares_memory(flat, data)  # a view, never a copy
    flat = flat.view(data.dtype.newbyteorder("="))
    pdata = pdq = None
    if prev is not None:
        pdata, pdq = prev
    status, stats = _core.decay(flat, not data.dtype.isnative, groupdq, pixeldq, even, odd,
                                integration_start, nints_exposure, substrt2, pdata, pdq,
                                nthreads)
    return status, stats


def random_case(seed, **kw):
    rng = np.random.default_rng(seed)
    nints = int(kw.pop("nints", rng.integers(1, 5)))
    ngroups = int(kw.pop("ngroups", rng.integers(4, 21)))
    nrows = int(kw.pop("nrows", rng.integers(1, 10)))
    ncols = int(kw.pop("ncols", rng.integers(9, 15)))
    d, g, p = make_ramp(rng, nints, ngroups, nrows, ncols, **kw)
    return rng, d, g, p, make_coeffs(rng), make_coeffs(rng)


# ------------------------------------------------------- (a) oracle vs C

@pytest.mark.parametrize("seed", range(60))
def test_oracle_matches_c(seed, code_path):
    rng, d, g, p, even, odd = random_case(seed, nonfinite=seed % 3 == 0)
    substrt2 = int(rng.choice([1, 2, 5, 8, 415, 528]))
    g0, p0 = g.copy(), p.copy()
    expect, counts = decay_oracle(d, g, p, even, odd, substrt2=substrt2)
    out = d.copy()
    status, stats = run_c(out, g, p, even, odd, substrt2=substrt2)
    np.testing.assert_array_equal(out, expect)
    assert status == STATUS[counts["status"]]
    assert stats["npix_corrected"] == counts["corrected"]
    assert stats["npix_saturated"] == counts["saturated"]
    assert stats["npix_nonfinite"] == counts["nonfinite"]
    assert stats["nints_corrected"] == counts["nints_corrected"]
    assert stats["first_int_left"] == 0
    # NaN and inf stay in their own samples; nothing new becomes non-finite.
    np.testing.assert_array_equal(np.isfinite(out), np.isfinite(d))
    assert np.array_equal(g, g0) and np.array_equal(p, p0)


@pytest.mark.parametrize("seed", range(4))
def test_corrections_come_from_uncorrected_previous_integration(seed):
    # Strong, slow decay: correcting integration 1 moves its L a lot, so a
    # correction of integration 2 from the corrected integration 1 would show.
    rng, d, g, p, even, odd = random_case(seed, nints=4, ngroups=6, nrows=4)
    for c in (even, odd):
        c.update(tau=50.0, ascale=1.0, illum_zp=1.0, illum_slope=0.0, illum2=0.0,
                 pow=1.0, param3=1e4, crossopt=0.0, sat_mzp=1.0)
    expect, _ = decay_oracle(d, g, p, even, odd)
    out = d.copy()
    run_c(out, g, p, even, odd)
    np.testing.assert_array_equal(out, expect)
    # The wrong way (integration 2 from the corrected integration 1) differs.
    chained, _ = decay_oracle(np.stack([expect[1], d[2]]), g[1:3], p, even, odd)
    assert not np.array_equal(chained[1], expect[2])


@pytest.mark.parametrize("nrows", [1, 2, 3, 7, 8])
@pytest.mark.parametrize("substrt2", [1, 2, 3, 4])
def test_row_parity(nrows, substrt2):
    # Even and odd parameters so different that a swap cannot go unnoticed.
    rng = np.random.default_rng(nrows * 10 + substrt2)
    d, g, p = make_ramp(rng, 2, 6, nrows, 9, refcols=False)
    even, odd = make_coeffs(rng), make_coeffs(rng)
    odd["tau"], even["tau"] = 1.0, 15.0
    expect, _ = decay_oracle(d, g, p, even, odd, substrt2=substrt2)
    out = d.copy()
    run_c(out, g, p, even, odd, substrt2=substrt2)
    np.testing.assert_array_equal(out, expect)
    swapped, _ = decay_oracle(d, g, p, odd, even, substrt2=substrt2)
    assert not np.array_equal(out[1], swapped[1])


def test_saturation_is_a_bit_test():
    # groupdq == SATURATED | JUMP_DET must count as saturated (the 2019 code
    # tested == SATURATED): same result with or without the JUMP_DET bit.
    rng = np.random.default_rng(7)
    d, g, p = make_ramp(rng, 3, 10, 4, 9, refcols=False, jump=False)
    g[0, 3:, :, :] |= SAT
    even, odd = make_coeffs(rng), make_coeffs(rng)
    plain = d.copy()
    s1, st1 = run_c(plain, g, p, even, odd)
    g2 = g.copy()
    g2[g2 & SAT != 0] |= JUMP
    withjump = d.copy()
    s2, st2 = run_c(withjump, g2, p, even, odd)
    np.testing.assert_array_equal(plain, withjump)
    assert st1["npix_saturated"] >= 36 and st1 == st2


@pytest.mark.parametrize("seed", range(6))
def test_threads_do_not_change_result(seed):
    _, d, g, p, even, odd = random_case(seed, nints=4, nrows=33, ncols=40)
    results = []
    for nthreads in (1, 2, 3, 8, 0):
        out = d.copy()
        status, stats = run_c(out, g, p, even, odd, nthreads=nthreads)
        results.append((out, stats))
    for out, stats in results[1:]:
        assert np.array_equal(out.view(np.uint32), results[0][0].view(np.uint32))
        assert stats == results[0][1]


# ------------------------------------------------ (b) the 2019 implementation

def _ulp(a):
    return np.spacing(np.abs(a).astype(np.float32)).astype(np.float64)


def _legacy_case(seed):
    rng = np.random.default_rng(10_000 + seed)
    nints = int(rng.integers(2, 5))
    ngroups = int(rng.integers(4, 31))
    nrows, ncols = int(rng.integers(2, 12)), int(rng.integers(9, 17))
    d, g, p = make_ramp(rng, nints, ngroups, nrows, ncols)
    negpow = seed % 10 == 9  # exercises the 2019 NaN on reference pixels
    return d, g, p, make_coeffs(rng, negpow), make_coeffs(rng, negpow)


def _compare_legacy(d, ours, legacy, extra_tol=0.0):
    """|ours - legacy| <= 1e-4 |legacy correction| + 2 float32 ulps (+ extra),
    except where the 2019 code produced NaN from finite input: there we must
    have left the sample unchanged."""
    d64 = d.astype(np.float64)
    nan19 = np.isnan(legacy) & np.isfinite(d)
    np.testing.assert_array_equal(ours[nan19], d[nan19])
    ok = ~nan19
    corr = legacy.astype(np.float64) - d64
    tol = 1e-4 * np.abs(corr) + 2 * _ulp(legacy) + extra_tol
    diff = np.abs(ours.astype(np.float64) - legacy)
    bad = ok & ~(diff <= tol)
    assert not bad.any(), (
        "%d samples differ beyond tolerance; worst %r" % (bad.sum(), diff[bad].max()))
    return nan19.sum()


def _f32_cancellation_allowance(d, even, odd):
    """Relative allowance per sample for the 2019 code's float32 arithmetic.

    It computes exp(c2/param3) - 1 in float32 (its SCI dtype), which loses
    about eps32 / x relatively, x = c2/param3, when c2 << param3. Returns
    4 eps32 (1 + 1/x) for samples of the non-saturated branch with x > 0
    (a bound on that rounding, to be multiplied by the correction), 0 elsewhere.
    """
    nints, ngroups, nrows, _ = d.shape
    allow = np.zeros(d.shape)
    eps = float(np.finfo(np.float32).eps)
    for i in range(1, nints):
        prev = d[i - 1].astype(np.float64)
        lf = prev[ngroups - 2] + (prev[ngroups - 2] - prev[ngroups - 3])
        for y in range(nrows):
            c = odd if y % 2 == 0 else even  # substrt2 = 1: array row 0 is odd
            with np.errstate(invalid="ignore", divide="ignore"):
                x = np.maximum(lf[y] - c["crossopt"], 0) / c["param3"]
                rel = np.where(x > 0, 4 * eps * (1 + 1 / x), 0.0)
            allow[i, :, y, :] = rel
    return allow


def _compare_legacy_f32(d, g, p, even, odd, ours):
    legacy, step = legacy_decay(d, g, p, even, odd)
    assert step == "COMPLETE"
    rel = _f32_cancellation_allowance(d, even, odd)
    corr = np.abs(legacy.astype(np.float64) - d)
    with np.errstate(invalid="ignore"):
        extra = np.where(np.isfinite(corr), rel * corr, 0.0)
    return _compare_legacy(d, ours, legacy, extra_tol=extra)


LEGACY_CHUNKS = [range(k * 10, k * 10 + 10) for k in range(24)]  # 240 ramps


@pytest.mark.parametrize("seeds", LEGACY_CHUNKS, ids=lambda r: "seeds%d-%d" % (r[0], r[-1]))
def test_matches_2019_float64(seeds):
    """The 2019 numpy code run on float64 SCI (its algorithm without its
    float32 intermediates) against ours: 1e-4 of each correction + 2 ulps."""
    require_legacy()
    for seed in seeds:
        d, g, p, even, odd = _legacy_case(seed)
        ours = d.copy()
        run_c(ours, g, p, even, odd)
        legacy, step = legacy_decay(d, g, p, even, odd, data_dtype=np.float64)
        assert step == "COMPLETE"
        _compare_legacy(d, ours, legacy)


@pytest.mark.parametrize("seeds", LEGACY_CHUNKS, ids=lambda r: "seeds%d-%d" % (r[0], r[-1]))
def test_matches_2019_float32(seeds):
    """The 2019 code as it ran (float32 SCI, float32 parameters): the same
    tolerance plus the bound of its float32 exp(c2/param3) - 1 rounding."""
    require_legacy()
    for seed in seeds:
        d, g, p, even, odd = _legacy_case(seed)
        ours = d.copy()
        run_c(ours, g, p, even, odd)
        _compare_legacy_f32(d, g, p, even, odd, ours)


def test_2019_nan_on_reference_pixels_is_not_copied():
    require_legacy()
    rng = np.random.default_rng(3)
    d, g, p = make_ramp(rng, 3, 8, 4, 12)
    even, odd = make_coeffs(rng, True), make_coeffs(rng, True)
    legacy, _ = legacy_decay(d, g, p, even, odd)
    ref = (p & REFPIX) != 0
    # What 2019 did on reference pixels whose previous integration did not
    # saturate: 0**pow * 0 = NaN.
    unsat = ~(g[:-1, 1:-1] & SAT).any(axis=1) & ref
    assert unsat.sum() > 10
    assert np.isnan(legacy[1:].transpose(0, 2, 3, 1)[unsat]).all()
    ours = d.copy()
    run_c(ours, g, p, even, odd)
    np.testing.assert_array_equal(ours[:, :, ref], d[:, :, ref])
    assert _compare_legacy_f32(d, g, p, even, odd, ours) > 0


# ------------------------------------------------------- (c) big-endian

@pytest.mark.parametrize("seed", range(8))
def test_big_endian_in_place(seed, code_path):
    _, d, g, p, even, odd = random_case(seed, nints=3, nonfinite=seed % 2 == 1)
    native = d.copy()
    s_n, st_n = run_c(native, g, p, even, odd)
    big = d.astype(">f4")
    before = big.copy()
    address = big.ctypes.data
    view = big.reshape(-1)
    s_b, st_b = run_c(big, g, p, even, odd)
    assert big.dtype == np.dtype(">f4")
    assert big.ctypes.data == address and np.shares_memory(view, big)
    assert not np.array_equal(big, before)  # corrected where it lies
    # Same values, bit for bit, in the caller's byte order.
    assert np.array_equal(big.astype("<f4").view(np.uint32), native.view(np.uint32))
    assert np.array_equal(view.astype("<f4").view(np.uint32), native.reshape(-1).view(np.uint32))
    assert (s_n, st_n) == (s_b, st_b)


def test_big_endian_segment_with_prev():
    _, d, g, p, even, odd = random_case(11, nints=4)
    whole = d.copy()
    run_c(whole, g, p, even, odd)
    seg = d[2:].astype(">f4")
    prev = (d[1].copy(), g[1].copy())
    run_c(seg, g[2:].copy(), p, even, odd, integration_start=3, nints_exposure=4, prev=prev)
    np.testing.assert_array_equal(seg.astype(np.float32), whole[2:])


# ------------------------------------------------ (d) in place vs on a copy

@pytest.mark.parametrize("seed", range(5))
def test_in_place_equals_on_copy(seed):
    _, d, g, p, even, odd = random_case(seed, nints=4)
    original = d.copy()
    copy = d.copy()
    run_c(copy, g, p, even, odd)  # "out of place": the caller's d untouched
    assert np.array_equal(d.view(np.uint32), original.view(np.uint32))
    run_c(d, g, p, even, odd)
    assert np.array_equal(d.view(np.uint32), copy.view(np.uint32))
    # A sliced (non-owning but contiguous) view is corrected in the parent.
    parent = np.concatenate([original, original])
    sub = parent[: original.shape[0]]
    run_c(sub, g, p, even, odd)
    assert np.array_equal(parent[: original.shape[0]], copy)
    assert np.array_equal(parent[original.shape[0]:], original)


# ------------------------------------------------------- (e) segments

@pytest.mark.parametrize("split", [1, 2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_segmented_with_prev_equals_whole(seed, split):
    _, d, g, p, even, odd = random_case(seed, nints=4, nonfinite=True)
    whole = d.copy()
    st_whole = run_c(whole, g, p, even, odd)[1]
    a, b = d[:split].copy(), d[split:].copy()
    prev = (a[-1].copy(), g[split - 1].copy())  # uncorrected, saved before a is corrected
    s_a, st_a = run_c(a, g[:split].copy(), p, even, odd, nints_exposure=4)
    s_b, st_b = run_c(b, g[split:].copy(), p, even, odd, integration_start=split + 1,
                      nints_exposure=4, prev=prev)
    assert s_b == S.RSCD_OK and st_b["first_int_left"] == 0
    assert st_b["nints_corrected"] == 4 - split
    np.testing.assert_array_equal(np.concatenate([a, b]), whole)
    assert st_a["npix_corrected"] + st_b["npix_corrected"] == st_whole["npix_corrected"]
    if split == 1:
        assert s_a == S.RSCD_INFO_ONE_INT


@pytest.mark.parametrize("split", [1, 2, 3])
def test_segment_without_prev_leaves_first_integration(split):
    _, d, g, p, even, odd = random_case(5, nints=4)
    whole = d.copy()
    run_c(whole, g, p, even, odd)
    b = d[split:].copy()
    status, stats = run_c(b, g[split:].copy(), p, even, odd, integration_start=split + 1)
    assert status == S.RSCD_INFO_FIRST_INT_LEFT
    assert stats["first_int_left"] == 1
    assert stats["nints_corrected"] == 4 - split - 1
    np.testing.assert_array_equal(b[0], d[split])
    np.testing.assert_array_equal(b[1:], whole[split + 1:])


def test_prev_for_first_integration_of_exposure_is_an_error():
    _, d, g, p, even, odd = random_case(1, nints=2)
    out = d.copy()
    with pytest.raises(_core.RSCDError, match="integration_start"):
        run_c(out, g, p, even, odd, prev=(d[0].copy(), g[0].copy()))
    assert np.array_equal(out.view(np.uint32), d.view(np.uint32))


def test_one_integration_with_prev_is_corrected():
    _, d, g, p, even, odd = random_case(2, nints=2)
    whole = d.copy()
    run_c(whole, g, p, even, odd)
    seg = d[1:].copy()
    status, stats = run_c(seg, g[1:].copy(), p, even, odd, integration_start=2,
                          prev=(d[0].copy(), g[0].copy()))
    assert status == S.RSCD_OK and stats["nints_corrected"] == 1
    np.testing.assert_array_equal(seg, whole[1:])


# ------------------------------------------- (f) skips, errors, untouched DQ

@pytest.mark.parametrize("ngroups", [1, 2, 3])
def test_few_groups_skipped(ngroups):
    _, d, g, p, even, odd = random_case(ngroups, nints=3, ngroups=ngroups)
    out = d.copy()
    status, stats = run_c(out, g, p, even, odd)
    assert status == S.RSCD_SKIP_FEW_GROUPS
    assert stats["nints_corrected"] == 0 and stats["npix_corrected"] == 0
    assert np.array_equal(out.view(np.uint32), d.view(np.uint32))


def test_one_integration_reported():
    _, d, g, p, even, odd = random_case(4, nints=1)
    out = d.copy()
    status, stats = run_c(out, g, p, even, odd)
    assert status == S.RSCD_INFO_ONE_INT and stats["nints_corrected"] == 0
    assert np.array_equal(out.view(np.uint32), d.view(np.uint32))
    assert "single integration" in _core.strerror(status)


def test_minimal_ngroups_four():
    _, d, g, p, even, odd = random_case(8, nints=3, ngroups=4, nonfinite=True)
    expect, _ = decay_oracle(d, g, p, even, odd)
    out = d.copy()
    run_c(out, g, p, even, odd)
    np.testing.assert_array_equal(out, expect)


def test_empty_frame():
    even = make_coeffs(np.random.default_rng(0))
    d = np.zeros((3, 5, 0, 4), np.float32)
    status, stats = run_c(d, np.zeros(d.shape, np.uint8), np.zeros((0, 4), np.uint32),
                          even, even)
    assert status == S.RSCD_OK and stats["npix_corrected"] == 0


@pytest.mark.parametrize("name", ["tau", "param3"])
@pytest.mark.parametrize("value", [0.0, -1.0, np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("parity", ["even", "odd"])
def test_invalid_coeffs_raise_and_touch_nothing(name, value, parity):
    _, d, g, p, even, odd = random_case(9, nints=3)
    (even if parity == "even" else odd)[name] = value
    out, g0, p0 = d.copy(), g.copy(), p.copy()
    big = d.astype(">f4")
    big0 = big.copy()
    for arr in (out, big):
        with pytest.raises(_core.RSCDError, match="tau or param3"):
            run_c(arr, g, p, even, odd)
    assert np.array_equal(out.view(np.uint32), d.view(np.uint32))
    assert np.array_equal(big.view(np.uint32), big0.view(np.uint32))
    assert np.array_equal(g, g0) and np.array_equal(p, p0)


def test_other_coeffs_nonfinite_are_counted_not_added():
    _, d, g, p, even, odd = random_case(12, nints=3, refcols=False)
    even["ascale"] = odd["ascale"] = np.nan
    even["sat_mzp"] = odd["sat_mzp"] = np.inf
    out = d.copy()
    status, stats = run_c(out, g, p, even, odd)
    assert status == S.RSCD_OK
    assert np.array_equal(out.view(np.uint32), d.view(np.uint32))
    assert stats["npix_corrected"] == 0
    # every (integration >= 1, pixel) pair either had c2 == 0 (nothing to do) or was
    # non-finite; the oracle agrees on the count
    _, counts = decay_oracle(d, g, p, even, odd)
    assert stats["npix_nonfinite"] == counts["nonfinite"] > 0


def test_dq_arrays_unchanged_byte_for_byte():
    _, d, g, p, even, odd = random_case(13, nints=4, nonfinite=True)
    g0, p0 = g.tobytes(), p.tobytes()
    run_c(d, g, p, even, odd)
    assert g.tobytes() == g0 and p.tobytes() == p0


# ------------------------------------------------------- properties

@st.composite
def ramps(draw):
    seed = draw(st.integers(0, 2 ** 32 - 1))
    nints = draw(st.integers(1, 4))
    ngroups = draw(st.integers(4, 12))
    nrows = draw(st.integers(1, 6))
    ncols = draw(st.integers(8, 12))
    substrt2 = draw(st.integers(1, 1024))
    negpow = draw(st.booleans())
    rng = np.random.default_rng(seed)
    d, g, p = make_ramp(rng, nints, ngroups, nrows, ncols, nonfinite=draw(st.booleans()))
    return d, g, p, make_coeffs(rng, negpow), make_coeffs(rng, negpow), substrt2


@settings(max_examples=60, deadline=None)
@given(ramps())
def test_property_first_integration_unchanged(case):
    d, g, p, even, odd, substrt2 = case
    out = d.copy()
    run_c(out, g, p, even, odd, substrt2=substrt2)
    assert np.array_equal(out[0].view(np.uint32), d[0].view(np.uint32))


@settings(max_examples=60, deadline=None)
@given(ramps())
def test_property_reference_pixels_unchanged(case):
    d, g, p, even, odd, substrt2 = case
    out = d.copy()
    run_c(out, g, p, even, odd, substrt2=substrt2)
    ref = (p & REFPIX) != 0
    assert np.array_equal(out[:, :, ref].view(np.uint32), d[:, :, ref].view(np.uint32))
    np.testing.assert_array_equal(np.isfinite(out), np.isfinite(d))


# ------------------------------------------------- through rscd.apply

def _reference(even, odd):
    from rscd.reference import DecayCoeffs, DecayRow, Reference
    row = DecayRow("FULL", "FAST", DecayCoeffs(**even), DecayCoeffs(**odd))
    return Reference(name="in-memory", decay_rows=(row,))


@pytest.mark.parametrize("byteorder", ["<f4", ">f4"])
@pytest.mark.parametrize("seed", range(3))
def test_apply_decay_matches_oracle(seed, byteorder):
    import rscd
    rng, d, g, p, even, odd = random_case(seed, nints=4, nonfinite=True)
    substrt2 = int(rng.choice([1, 2, 415]))
    expect, counts = decay_oracle(d, g, p, even, odd, substrt2=substrt2)
    out = d.astype(byteorder)
    address = out.ctypes.data
    res = rscd.apply(out, g, p, _reference(even, odd), readpatt="FAST", subarray="FULL",
                     ystart=substrt2, method="decay")
    assert res.status == "COMPLETE" and res.method == "decay"
    assert out.dtype == np.dtype(byteorder) and out.ctypes.data == address
    np.testing.assert_array_equal(out.astype(np.float32), expect)
    assert res.npix_corrected == counts["corrected"]
    assert res.npix_nonfinite == counts["nonfinite"]


def test_apply_decay_segment_with_previous():
    import rscd
    _, d, g, p, even, odd = random_case(21, nints=4)
    expect, _ = decay_oracle(d, g, p, even, odd)
    seg = d[2:].astype(">f4")
    res = rscd.apply(seg, g[2:].copy(), p, _reference(even, odd), readpatt="FAST",
                     subarray="FULL", integration_start=3, nints=4, method="decay",
                     previous=(d[1].copy(), g[1].copy()))
    assert res.status == "COMPLETE" and not res.first_int_left
    np.testing.assert_array_equal(seg.astype(np.float32), expect[2:])
    alone = d[2:].copy()
    res = rscd.apply(alone, g[2:].copy(), p, _reference(even, odd), readpatt="FAST",
                     subarray="FULL", integration_start=3, nints=4, method="decay")
    assert res.status == "COMPLETE" and res.first_int_left
    np.testing.assert_array_equal(alone[0], d[2])
    np.testing.assert_array_equal(alone[1:], expect[3:])
