"""Issue 9: nothing lost under bad input. Every hostile input gives a documented exception
naming the culprit (or a documented SKIPPED) -- never a crash, never a changed input, never a
partial output file. Complements test_apply.py, test_reference.py and test_fits.py (which
already hold the basic cases); this module goes wider."""
import gzip
import os
import stat
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
from astropy.io import fits

import rscd
from children import child_env, run_rscd, run_unprivileged, unprivileged_ids
from rscd import _core
from rscd.reference import DecayRow, Reference, SkipRow

from fitsfiles import (EVEN, ODD, decay_reference, flag_reference, leftovers, ramp_arrays,
                       sha256, write_astropy)

FLAG_REF = Reference(name="r", skip_rows=(SkipRow("FULL", "FAST", 1, 2),))
DECAY_REF = Reference(name="d", decay_rows=(DecayRow("FULL", "FAST", EVEN, ODD),))
METHODS = [("flag", FLAG_REF), ("decay", DECAY_REF)]
SHAPE = (3, 8, 4, 5)


def arrays(shape=SHAPE, seed=0):
    data, gdq, pdq = ramp_arrays(*shape, seed=seed)
    return [data, gdq, pdq]


def call(arrs, ref, method, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rscd.RSCDWarning)
        return rscd.apply(*arrs, ref, readpatt="FAST", subarray="FULL", method=method, **kw)


def snapshot(arrs):
    return [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in arrs]


def assert_unchanged(arrs, before):
    for a, b in zip(arrs, before):
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


# ---------------------------------------------------------------- arrays ----------------

NAMES = ("data", "groupdq", "pixeldq")
WANTED = (np.float32, np.uint8, np.uint32)
BAD_DTYPES = [np.float16, np.float32, np.float64, np.longdouble, np.int8, np.uint8, np.int16,
              np.uint16, np.int32, np.uint32, np.int64, np.uint64, np.bool_, np.object_,
              np.complex64, np.complex128, np.dtype([("a", "f4")]), np.dtype("S4"),
              np.dtype("U1"), np.dtype("M8[s]"), np.dtype(">u1"), np.dtype(">u4")]


def _accepted(which, dtype):
    """SCI takes float32 in either byte order; the DQ arrays their own native dtype."""
    dtype = np.dtype(dtype)
    return dtype.newbyteorder("=") == np.dtype(WANTED[which]) and (which == 0 or dtype.isnative)


@pytest.mark.parametrize("method, ref", METHODS)
@pytest.mark.parametrize("which, dtype", [(w, d) for w in range(3) for d in BAD_DTYPES
                                          if not _accepted(w, d)], ids=str)
def test_every_wrong_dtype(method, ref, which, dtype):
    arrs = arrays()
    want = np.dtype(WANTED[which])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")          # uint32 2**31 overflows float16: fine here
        if np.dtype(dtype).kind == "M":
            arrs[which] = arrs[which].astype(np.int64).astype(dtype)
        else:
            arrs[which] = arrs[which].astype(dtype)
    before = snapshot(arrs)
    with pytest.raises(TypeError, match=f"{NAMES[which]} must have dtype {want.name}"):
        call(arrs, ref, method)
    assert_unchanged(arrs, before)


@pytest.mark.parametrize("method, ref", METHODS)
@pytest.mark.parametrize("which", range(3))
@pytest.mark.parametrize("ndim", range(7))
def test_every_ndim(method, ref, which, ndim):
    arrs = arrays()
    want = 2 if which == 2 else 4
    arrs[which] = np.zeros((2,) * ndim, WANTED[which])
    before = snapshot(arrs)
    if ndim == want:
        match = "shape"                            # right ndim, shape disagrees
    else:
        match = f"{NAMES[which]} must have {want} dimensions, not {ndim}"
    with pytest.raises(ValueError, match=match):
        call(arrs, ref, method)
    assert_unchanged(arrs, before)


@pytest.mark.parametrize("method, ref", METHODS)
@pytest.mark.parametrize("shapes, match", [
    (((3, 8, 4, 5), (2, 8, 4, 5), (4, 5)), "data has shape .* but groupdq"),
    (((3, 8, 4, 5), (3, 7, 4, 5), (4, 5)), "data has shape .* but groupdq"),
    (((3, 8, 4, 5), (3, 8, 4, 5), (5, 4)), "pixeldq has shape"),
    (((3, 8, 4, 5), (3, 8, 4, 5), (4, 6)), "pixeldq has shape"),
    (((3, 8, 4, 6), (3, 8, 4, 5), (4, 5)), "data has shape"),
])
def test_shape_disagreements(method, ref, shapes, match):
    arrs = [np.zeros(s, t) for s, t in zip(shapes, WANTED)]
    with pytest.raises(ValueError, match=match):
        call(arrs, ref, method)


@pytest.mark.parametrize("method, ref", METHODS)
@pytest.mark.parametrize("which", range(3))
@pytest.mark.parametrize("view", ["step", "transpose", "fortran", "negative", "broadcast"])
def test_non_contiguous_views_refused_untouched(method, ref, which, view):
    arrs = arrays()
    base = arrs[which]
    if view == "step":
        big = np.zeros(base.shape[:-1] + (base.shape[-1] * 2,), base.dtype)
        big[..., ::2] = base
        arrs[which] = big[..., ::2]
    elif view == "transpose":
        arrs[which] = np.ascontiguousarray(base.T).T
    elif view == "fortran":
        arrs[which] = np.asfortranarray(base)
    elif view == "negative":
        arrs[which] = np.ascontiguousarray(base[..., ::-1])[..., ::-1]
    else:
        arrs[which] = np.broadcast_to(base[..., :1], base.shape)
    before = snapshot(arrs)
    with pytest.raises(ValueError, match=f"{NAMES[which]} (must be C-contiguous|is read-only)"):
        call(arrs, ref, method)
    assert_unchanged(arrs, before)


@pytest.mark.parametrize("method, ref", METHODS)
@pytest.mark.parametrize("which", range(3))
def test_read_only(method, ref, which):
    arrs = arrays()
    arrs[which].flags.writeable = False
    before = snapshot(arrs)
    # Only the arrays a method writes must be writeable: flag writes GROUPDQ and PIXELDQ,
    # decay writes SCI alone.
    if (which == 0) == (method == "flag"):
        assert call(arrs, ref, method).status == "COMPLETE"
        np.testing.assert_array_equal(arrs[which], before[which])
        return
    with pytest.raises(ValueError, match=f"{NAMES[which]} is read-only"):
        call(arrs, ref, method)
    assert_unchanged(arrs, before)


@pytest.mark.parametrize("method, ref", METHODS)
@pytest.mark.parametrize("shape", [(0, 8, 4, 5), (3, 0, 4, 5), (3, 8, 0, 5), (3, 8, 4, 0),
                                   (0, 0, 0, 0), (1, 8, 0, 0), (3, 1, 4, 5), (3, 3, 4, 5)])
def test_zero_sized_and_tiny_axes(method, ref, shape):
    arrs = [np.zeros(shape, np.float32), np.zeros(shape, np.uint8),
            np.zeros(shape[2:], np.uint32)]
    res = call(arrs, ref, method)
    few = shape[1] < (3 if method == "flag" else 4)
    assert res.status == ("SKIPPED" if few else "COMPLETE")
    if few:
        assert "too few groups" in res.reason


@pytest.mark.parametrize("method, ref", METHODS)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e38, -1e38, 3.4e38, 1e-45,
                                   -1e-45, 1e-39, 0.0, -0.0])
@pytest.mark.parametrize("where", ["everywhere", "previous int", "one sample"])
def test_extreme_sci_values(method, ref, value, where):
    arrs = arrays()
    if where == "everywhere":
        arrs[0][...] = value
    elif where == "previous int":
        arrs[0][0] = value
    else:
        arrs[0][1, 6, 2, 3] = value
    before = snapshot(arrs)
    res = call(arrs, ref, method)
    assert res.status == "COMPLETE"
    if method == "flag":
        assert arrs[0].tobytes() == before[0].tobytes()
        return
    # decay: integration 0 and DQ untouched; nothing finite turns non-finite, and a sample
    # that was NaN/inf stays exactly that.
    assert arrs[0][0].tobytes() == before[0][0].tobytes()
    assert arrs[1].tobytes() == before[1].tobytes() and arrs[2].tobytes() == before[2].tobytes()
    finite = np.isfinite(before[0])
    assert np.isfinite(arrs[0][finite]).all()
    np.testing.assert_array_equal(arrs[0][~finite], before[0][~finite])
    assert res.npix_nonfinite >= 0 and res.npix_corrected >= 0


@pytest.mark.parametrize("method, ref", METHODS)
@pytest.mark.parametrize("gbits, pbits", [(255, 0), (0, 2**32 - 1), (255, 2**32 - 1),
                                          (254, 2**31), (253, 2**32 - 1 - 2**31)])
def test_every_flag_bit_set(method, ref, gbits, pbits):
    arrs = arrays()
    arrs[1][...] = gbits
    arrs[2][...] = pbits
    before = snapshot(arrs)
    res = call(arrs, ref, method)
    assert res.status == "COMPLETE"
    # Bits are only ever added: nothing set before is cleared.
    assert ((arrs[1] & before[1]) == before[1]).all()
    assert ((arrs[2] & before[2]) == before[2]).all()
    if method == "decay":
        assert arrs[1].tobytes() == before[1].tobytes()
        assert arrs[2].tobytes() == before[2].tobytes()
        if pbits & 2**31:              # every pixel a reference pixel: nothing added
            assert arrs[0].tobytes() == before[0].tobytes()
    else:
        assert arrs[0].tobytes() == before[0].tobytes()


@pytest.mark.parametrize("method, ref", METHODS)
@pytest.mark.parametrize("kw, error, match", [
    (dict(integration_start=2**63), ValueError, "integration_start must be <="),
    (dict(integration_start=2**31), ValueError, "integration_start must be <="),
    (dict(nints=2**64 + 5), ValueError, "nints must be <="),
    (dict(nints=np.uint64(2**64 - 1)), ValueError, "nints must be <="),
    (dict(ystart=2**63), ValueError, "ystart must be <="),
    (dict(threads=2**40), ValueError, "threads must be <="),
    (dict(integration_start=np.int64(-(2**63))), ValueError, "integration_start must be >= 1"),
    (dict(nints=True), TypeError, "nints must be an integer"),
    (dict(ystart="1"), TypeError, "ystart must be an integer"),
    (dict(integration_start=1.0), TypeError, "integration_start must be an integer"),
])
def test_huge_and_wrong_numbers_are_value_errors_not_overflow(method, ref, kw, error, match):
    """Regression (issue 9): integers beyond ptrdiff_t raised OverflowError from the wrapper."""
    arrs = arrays()
    before = snapshot(arrs)
    with pytest.raises(error, match=match):
        call(arrs, ref, method, **kw)
    assert_unchanged(arrs, before)


@pytest.mark.parametrize("skips", [(2**63 - 1, 2**63 - 1), (2**64, 2**70), (2**31, 2),
                                   (-(2**63), 0), (None, 2)])
def test_absurd_skip_counts_clamp_like_rule_4(skips):
    """Regression (issue 9): skip + 3 overflowed in the C core (UB) for skips near
    PTRDIFF_MAX, and Python ints beyond it raised OverflowError."""
    ref = Reference(name="r", skip_rows=(SkipRow("FULL", "FAST", *skips),))
    arrs = arrays()
    res = call(arrs, ref, "flag")
    assert res.status == "COMPLETE"
    assert res.ngroups_skip_int2p == min(skips[1], SHAPE[1] - 3)


def test_skip_count_of_wrong_type_names_it():
    # SkipRow checks its fields when it is built (issue 15.9), before any correction.
    with pytest.raises(TypeError, match="SkipRow.skip_int2p must be an integer"):
        SkipRow("FULL", "FAST", 1, "2")


def test_core_entry_points_refuse_overflowing_arguments():
    gdq = np.zeros(SHAPE, np.uint8)
    pdq = np.zeros(SHAPE[2:], np.uint32)
    status, stats = _core.flag(gdq.copy(), pdq.copy(), 2**63 - 1, 2**63 - 1, 1, 0, 1)
    assert stats["ngroups_skip_int1"] == stats["ngroups_skip_int2p"] == SHAPE[1] - 3
    for skip in (2**63 - 1, -1, SHAPE[1] - 1):
        with pytest.raises(rscd.RSCDError, match="skip"):
            _core.flag_range_stop(gdq, pdq, 0, 1, skip, 0, 1)
    with pytest.raises(rscd.RSCDError, match="out of range"):
        _core.flag(gdq, pdq, 1, 1, 2**63 - 1, 0, 1)
    assert not gdq.any() and not pdq.any()


@pytest.mark.parametrize("coeff, value", [("tau", 0.0), ("tau", -1.0), ("tau", np.nan),
                                          ("param3", np.inf), ("param3", -0.0)])
def test_hand_made_decay_reference_with_bad_coefficients(coeff, value):
    bad = rscd.DecayCoeffs(**{**EVEN.as_dict(), coeff: value})
    ref = Reference(name="d", decay_rows=(DecayRow("FULL", "FAST", EVEN, bad),))
    arrs = arrays()
    before = snapshot(arrs)
    with pytest.raises(rscd.RSCDError, match="tau or param3"):
        call(arrs, ref, "decay")
    assert_unchanged(arrs, before)


@pytest.mark.parametrize("coeff", ["ascale", "pow", "crossopt", "sat_mzp", "sat_scale"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e308, -1e308])
def test_non_finite_or_huge_other_coefficients_add_nothing_non_finite(coeff, value):
    bad = rscd.DecayCoeffs(**{**EVEN.as_dict(), coeff: value})
    ref = Reference(name="d", decay_rows=(DecayRow("FULL", "FAST", bad, bad),))
    arrs = arrays()
    before = snapshot(arrs)
    res = call(arrs, ref, "decay")
    assert res.status == "COMPLETE"
    assert np.isfinite(arrs[0]).all() or not np.isfinite(before[0]).all()
    changed = (arrs[0] != before[0]).any(axis=1).sum()
    assert changed <= res.npix_corrected


# ---------------------------------------------------------------- threads ---------------

def _decay_case(seed):
    return arrays((3, 6, 16, 24), seed=seed)


@pytest.mark.parametrize("mix", ["decay", "mixed"])
def test_concurrent_calls_match_serial(mix):
    methods = [("decay", DECAY_REF) if mix == "decay" or i % 2 else ("flag", FLAG_REF)
               for i in range(24)]
    inputs = [_decay_case(s) for s in range(24)]
    for arrs in inputs[::3]:
        arrs[0] = arrs[0].astype(">f4")              # big-endian SCI too
    serial = []
    for (method, ref), arrs in zip(methods, inputs):
        copy = [a.copy() for a in arrs]
        serial.append((copy, call(copy, ref, method, threads=1)))
    results = [None] * len(inputs)
    barrier = threading.Barrier(len(inputs))

    def work(i):
        copy = [a.copy() for a in inputs[i]]
        barrier.wait()
        results[i] = (copy, call(copy, methods[i][1], methods[i][0], threads=2))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (s_arrs, s_res), (r_arrs, r_res) in zip(serial, results):
        assert s_res == r_res
        for a, b in zip(s_arrs, r_arrs):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


# ---------------------------------------------------------------- reference files -------

def _skip_table(path, columns, extname="RSCD_GROUP_SKIP"):
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns, name=extname)]
                 ).writeto(path, overwrite=True)


def _skip_cols(sub=("FULL",), rp=("FAST",), skip=(2,), skip_format="J"):
    return [fits.Column("subarray", "8A", array=list(sub)),
            fits.Column("readpatt", "8A", array=list(rp)),
            fits.Column("group_skip", skip_format, array=list(skip))]


def _decay_cols(rows=("EVEN", "ODD"), replace=None):
    cols = [fits.Column("SUBARRAY", "8A", array=["FULL"] * len(rows)),
            fits.Column("READPATT", "8A", array=["FAST"] * len(rows)),
            fits.Column("ROWS", "5A", array=list(rows))]
    for name, value in EVEN.as_dict().items():
        cols.append(fits.Column(name.upper(), "D", array=[value] * len(rows)))
    if replace:
        cols = [replace if c.name == replace.name else c for c in cols]
    return cols


def _good_flag_bytes(tmp_path):
    path = tmp_path / "good_flag.fits"
    rscd.write_flag_reference(path, [("FULL", "FAST", 1, 2)])
    return path.read_bytes()


BAD_REFERENCES = {
    "ascii_table": (lambda p: fits.HDUList([fits.PrimaryHDU(), fits.TableHDU.from_columns(
        [fits.Column("subarray", "A8", array=["FULL"]), fits.Column("readpatt", "A8",
         array=["FAST"]), fits.Column("group_skip", "I10", array=[2])],
        name="RSCD_GROUP_SKIP")]).writeto(p), "RSCD_GROUP_SKIP is not a binary table"),
    "image_for_skip_table": (lambda p: fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(
        np.zeros((2, 2)), name="RSCD_GROUP_SKIP")]).writeto(p),
        "RSCD_GROUP_SKIP is not a binary table"),
    "table_in_wrong_extension": (lambda p: _skip_table(p, _skip_cols(), "RSCD_SKIP"),
                                 "no RSCD_GROUP_SKIP or RSCD table.*RSCD_SKIP"),
    "table_in_primary_only": (lambda p: fits.PrimaryHDU(np.zeros((3, 3))).writeto(p),
                              "no RSCD_GROUP_SKIP or RSCD table"),
    "skip_bool": (lambda p: _skip_table(p, _skip_cols(skip=(True,), skip_format="L")),
                  "group_skip of RSCD_GROUP_SKIP must hold integers"),
    "skip_vector": (lambda p: _skip_table(p, _skip_cols(skip=([1, 2],), skip_format="2J")),
                    "group_skip of RSCD_GROUP_SKIP must be scalar"),
    "skip_variable_length": (lambda p: _skip_table(p, _skip_cols(
        skip=(np.array([1, 2]),), skip_format="PJ()")), "group_skip of RSCD_GROUP_SKIP"),
    "skip_string": (lambda p: _skip_table(p, _skip_cols(skip=("2",), skip_format="2A")),
                    "group_skip of RSCD_GROUP_SKIP must hold integers"),
    "same_column_twice": (lambda p: _skip_table(p, [fits.Column("SUBARRAY", "8A", array=[
        "SUB64"])] + _skip_cols()), "subarray more than once"),
    "two_skip_tables": (lambda p: fits.HDUList([fits.PrimaryHDU()] + [
        fits.BinTableHDU.from_columns(_skip_cols(skip=(s,)), name="RSCD_GROUP_SKIP")
        for s in (2, 7)]).writeto(p), "2 RSCD_GROUP_SKIP extensions"),
    "rows_integer": (lambda p: _skip_table(p, _decay_cols(
        replace=fits.Column("ROWS", "J", array=[0, 1])), "RSCD"),
        "ROWS of RSCD must hold strings"),
    "tau_string": (lambda p: _skip_table(p, _decay_cols(
        replace=fits.Column("TAU", "4A", array=["1.7", "1.7"])), "RSCD"),
        "TAU of RSCD must hold real numbers"),
    "tau_complex": (lambda p: _skip_table(p, _decay_cols(
        replace=fits.Column("TAU", "C", array=[2, 2])), "RSCD"),
        "TAU of RSCD must hold real numbers"),
    "tau_bits": (lambda p: _skip_table(p, _decay_cols(
        replace=fits.Column("TAU", "X", array=[[1], [1]])), "RSCD"), "TAU of RSCD"),
    "tau_inf": (lambda p: _skip_table(p, _decay_cols(
        replace=fits.Column("TAU", "D", array=[np.inf, 1.0])), "RSCD"), "TAU = inf"),
    "param3_negative": (lambda p: _skip_table(p, _decay_cols(
        replace=fits.Column("PARAM3", "D", array=[1.0, -2.0])), "RSCD"),
        r"row 2 .*ODD.* PARAM3 = -2.0"),
    "param3_nan_odd": (lambda p: _skip_table(p, _decay_cols(
        replace=fits.Column("PARAM3", "E", array=[1.0, np.nan])), "RSCD"), "PARAM3 = nan"),
    "odd_without_even_among_pairs": (lambda p: _skip_table(p, _decay_cols(
        rows=("EVEN", "ODD", "ODD")) and [
        fits.Column("SUBARRAY", "8A", array=["FULL", "FULL", "SUB64"]),
        fits.Column("READPATT", "8A", array=["FAST"] * 3),
        fits.Column("ROWS", "4A", array=["EVEN", "ODD", "ODD"])] + [
        fits.Column(n.upper(), "D", array=[v] * 3) for n, v in EVEN.as_dict().items()],
        "RSCD"), "ODD row for READPATT=FAST, SUBARRAY=SUB64 but no EVEN row"),
    "directory": (lambda p: os.mkdir(p), "not a readable FITS"),
    "gzip_truncated": (lambda p: p.write_bytes(gzip.compress(b"SIMPLE  =" + b" " * 3000)[:40]),
                       "not a readable FITS"),
}


@pytest.mark.parametrize("kind", sorted(BAD_REFERENCES))
def test_malformed_reference_files(tmp_path, kind):
    make, match = BAD_REFERENCES[kind]
    path = tmp_path / "bad_ref.fits"
    make(path)
    with pytest.raises(rscd.ReferenceFileError, match=match) as info:
        rscd.read_reference(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("cut", [1, 80, 2879, 2881, 5760, 5761, -2000, -1])
def test_reference_truncated_at_several_offsets(tmp_path, cut):
    """Regression (issue 9): a file cut inside the table's padding read without error (astropy
    only warned), so the result depended on the caller's warning filters."""
    raw = _good_flag_bytes(tmp_path)
    path = tmp_path / "cut.fits"
    path.write_bytes(raw[:cut])
    with pytest.raises(rscd.ReferenceFileError,
                       match="cut.fits: (truncated|not a readable|no RSCD_GROUP_SKIP)"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # the outcome must not depend on filters
            rscd.read_reference(path)


def test_gzip_compressed_reference_reads_like_the_plain_one(tmp_path):
    raw = _good_flag_bytes(tmp_path)
    path = tmp_path / "ref.fits.gz"
    path.write_bytes(gzip.compress(raw))
    ref = rscd.read_reference(path)
    assert ref.lookup("FAST", "FULL") == SkipRow("FULL", "FAST", 1, 2)


def test_extra_columns_ignored_duplicates_first_wins_strings_exact(tmp_path):
    path = tmp_path / "ref.fits"
    _skip_table(path, [
        fits.Column("subarray", "8A", array=["FULL  ", " FULL", "full", "FULL", "FULL"]),
        fits.Column("readpatt", "8A", array=["FAST   ", "FAST", "FAST", "fast", "FAST"]),
        fits.Column("group_skip", "J", array=[2, 3, 4, 5, 6]),
        fits.Column("junk", "E", array=[1.5] * 5)])
    ref = rscd.read_reference(path)
    assert ref.lookup("FAST", "FULL").skip_int2p == 2        # trailing blanks: first row
    assert ref.lookup("FAST", " FULL").skip_int2p == 3       # leading blanks are significant
    assert ref.lookup("FAST", "full").skip_int2p == 4        # case too (as jwst)
    assert ref.lookup("SLOW", "FULL") is None
    with pytest.warns(rscd.RSCDWarning, match="READPATT=FAST, SUBARRAY=Full not found"):
        res = rscd.apply(*arrays(), ref, readpatt="FAST", subarray="Full")
    assert res.status == "SKIPPED"


def test_decay_parity_strings_are_forgiving_duplicate_pairs_first_wins(tmp_path):
    path = tmp_path / "ref.fits"
    rows = (" even", "Odd  ", "EVEN", "ODD")
    cols = _decay_cols(rows, replace=fits.Column("TAU", "D", array=[1.0, 2.0, 3.0, 4.0]))
    _skip_table(path, cols, "RSCD")
    row = rscd.read_reference(path).lookup("FAST", "FULL", "decay")
    assert (row.even.tau, row.odd.tau) == (1.0, 2.0)


def test_empty_table_means_no_match(tmp_path):
    path = tmp_path / "ref.fits"
    _skip_table(path, _skip_cols(sub=(), rp=(), skip=()))
    with pytest.warns(rscd.RSCDWarning, match="not found"):
        assert rscd.apply(*arrays(), str(path), readpatt="FAST",
                          subarray="FULL").status == "SKIPPED"


def test_huge_skip_in_file_is_clamped(tmp_path):
    path = tmp_path / "ref.fits"
    _skip_table(path, [fits.Column("subarray", "8A", array=["FULL"]),
                       fits.Column("readpatt", "8A", array=["FAST"]),
                       fits.Column("group_skip1", "K", array=[2**63 - 1]),
                       fits.Column("group_skip", "K", array=[2**63 - 1])])
    res = rscd.apply(*arrays(), str(path), readpatt="FAST", subarray="FULL")
    assert (res.ngroups_skip_int1, res.ngroups_skip_int2p) == (SHAPE[1] - 3, SHAPE[1] - 3)


# ---------------------------------------------------------------- ramp files ------------

@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refs")
    return {"flag": flag_reference(str(folder / "flag.fits")),
            "decay": decay_reference(str(folder / "decay.fits"))}


def _hdus(path):
    with fits.open(path) as hdul:
        return [h.copy() for h in hdul]


def _edit_card(path, key, raw_value):
    """Replace a primary-header card's value text in place (values astropy would not write)."""
    with open(path, "r+b") as f:
        head = f.read(2880 * 4)
        for pos in range(0, len(head), 80):
            if head[pos:pos + 8] == key.ljust(8).encode():
                f.seek(pos)
                f.write((key.ljust(8) + "= " + raw_value).ljust(80).encode()[:80])
                return
    raise AssertionError(key)


def _ramp(folder, kind):
    data, gdq, pdq = ramp_arrays(3, 8, 6, 7)
    path = os.path.join(folder, "x_uncal.fits")
    if kind == "not_fits_text":
        with open(path, "w") as f:
            f.write("SIMPLEX = not really\n" * 100)
        return path, "not a FITS file|not a readable FITS"
    if kind == "bzip2":
        with open(path, "wb") as f:
            f.write(b"BZh91AY&SY" + bytes(200))
        return path, "compressed file"
    if kind == "gzip_fits":
        raw_path = write_astropy(path + ".raw", data, gdq, pdq)
        with open(raw_path, "rb") as f:
            raw = f.read()
        os.remove(raw_path)
        with open(path, "wb") as f:
            f.write(gzip.compress(raw))
        return path, "compressed file; decompress it first"
    write_astropy(path, data, gdq, pdq)
    hdus = _hdus(path)
    h0 = hdus[0].header
    match = None
    if kind == "second_sci":
        hdus.append(fits.ImageHDU(data, name="SCI"))
        match = "2 SCI extensions"
    elif kind == "second_groupdq":
        hdus.append(fits.ImageHDU(gdq, name="GROUPDQ"))
        match = "2 GROUPDQ extensions"
    elif kind == "sci_nints":
        hdus[1] = fits.ImageHDU(data[:2], name="SCI")
        match = "GROUPDQ has shape .* but SCI"
    elif kind == "pixeldq_bitpix":
        hdus[2] = fits.ImageHDU(pdq.astype(np.int16), name="PIXELDQ")
        match = "PIXELDQ has BITPIX = 16, expected 32"
    elif kind == "pixeldq_float":
        hdus[2] = fits.ImageHDU(pdq.astype(np.float32), name="PIXELDQ")
        match = "PIXELDQ has BITPIX = -32"
    elif kind == "sci_3d":
        hdus[1] = fits.ImageHDU(data[0], name="SCI")
        match = "SCI has NAXIS = 3, expected 4"
    elif kind == "sci_empty":
        hdus[1] = fits.ImageHDU(None, name="SCI")
        match = "SCI has NAXIS = 0, expected 4"
    elif kind == "compressed_sci":
        hdus[1] = fits.CompImageHDU(data, name="SCI")
        match = "SCI is a CompImageHDU"
    elif kind == "compressed_groupdq":
        hdus[3] = fits.CompImageHDU(gdq, name="GROUPDQ")
        match = "GROUPDQ is a CompImageHDU"
    elif kind == "sci_in_primary":
        hdus = [fits.PrimaryHDU(data, header=h0)] + hdus[2:]
        match = "no SCI extension"
    elif kind == "intstart_0":
        h0["INTSTART"], match = 0, "INTSTART = 0 must be >= 1"
    elif kind == "intstart_negative":
        h0["INTSTART"], match = -3, "INTSTART = -3 must be >= 1"
    elif kind == "intstart_huge":
        h0["INTSTART"], match = 2**63, "INTSTART = 9223372036854775808 is too large"
    elif kind == "nints_huge":
        h0["NINTS"], match = 10**30, "NINTS = 1000000000000000000000000000000 is too large"
    elif kind == "ngroups_mismatch":
        h0["NGROUPS"], match = 7, "NGROUPS = 7 but SCI has 8 groups"
    elif kind == "ngroups_string":
        h0["NGROUPS"], match = "8", "NGROUPS = '8' is not an integer"
    elif kind == "substrt2_float":
        h0["SUBSTRT2"], match = 1.5, "SUBSTRT2 = 1.5 is not an integer"
    elif kind == "substrt2_bool":
        h0["SUBSTRT2"], match = True, "SUBSTRT2 = True is not an integer"
    elif kind == "substrt2_huge":
        h0["SUBSTRT2"], match = 2**64, "SUBSTRT2 = 18446744073709551616 is too large"
    elif kind == "no_subarray":
        del h0["SUBARRAY"]
        match = "lacks the required keyword SUBARRAY"
    elif kind == "detector_number":
        h0["DETECTOR"], match = 5, "DETECTOR = 5 is not a string"
    fits.HDUList(hdus).writeto(path, overwrite=True)
    if kind == "pixeldq_bzero":
        with fits.open(path) as hdul:
            pos = hdul.fileinfo(2)["hdrLoc"]
        with open(path, "r+b") as f:
            f.seek(pos)
            head = f.read(2880)
            at = head.index(b"BZERO   =")
            f.seek(pos + at)
            f.write(b"BZERO   =                    7".ljust(80))
        match = "PIXELDQ has BZERO = 7"
    elif kind == "truncated_mid_sci":
        with fits.open(path) as hdul:
            cut = hdul.fileinfo(1)["datLoc"] + 1000
        with open(path, "rb") as f:
            raw = f.read()
        with open(path, "wb") as f:
            f.write(raw[:cut])
        match = "truncated|damaged|no (PIXELDQ|GROUPDQ)"
    elif kind == "truncated_padding":
        with open(path, "rb") as f:
            raw = f.read()
        with open(path, "wb") as f:
            f.write(raw[:-1])
        match = "truncated|damaged"
    elif kind == "garbled_extname":   # fuzz_ramp_header finding: VerifyError escaped
        with open(path, "rb") as f:
            raw = f.read()
        at = raw.index(b"EXTNAME = 'GROUPDQ")
        with open(path, "wb") as f:
            f.write(raw[:at] + b"EXTNAME = 'GROUPDQ ".ljust(80) + raw[at + 80:])
        match = "damaged FITS header|not a readable FITS"
    elif kind == "naxis_garbage":
        _edit_card(path, "NINTS", "'x' / broken")
        match = "NINTS = 'x' is not an integer"
    return path, match


# A file without GROUPDQ or PIXELDQ, or with a scaled SCI, is a raw file: corrected into
# a new file as jwst reads it, refused in place (tests/test_raw_files.py).
RAMP_KINDS = ["not_fits_text", "bzip2", "gzip_fits", "second_sci",
              "second_groupdq", "sci_nints", "pixeldq_bitpix", "pixeldq_float", "sci_3d",
              "sci_empty", "compressed_sci", "compressed_groupdq",
              "sci_in_primary", "intstart_0", "intstart_negative", "intstart_huge",
              "nints_huge", "ngroups_mismatch",
              "ngroups_string", "substrt2_float", "substrt2_bool", "substrt2_huge",
              "no_subarray", "detector_number", "pixeldq_bzero",
              "truncated_mid_sci", "truncated_padding", "naxis_garbage", "garbled_extname"]


@pytest.mark.parametrize("method", ["flag", "decay"])
@pytest.mark.parametrize("inplace", [False, True], ids=["new", "inplace"])
@pytest.mark.parametrize("kind", RAMP_KINDS)
def test_bad_ramp_files(tmp_path, refs, kind, inplace, method):
    path, match = _ramp(str(tmp_path), kind)
    before = sha256(path)
    names = sorted(os.listdir(tmp_path))
    with pytest.raises(rscd.RampFileError, match=match) as info:
        rscd.apply_file(path, refs[method], inplace=inplace, method=method)
    assert path in str(info.value)
    assert sha256(path) == before
    assert sorted(os.listdir(tmp_path)) == names


def _cli(*args):
    return run_rscd(*args)


@pytest.mark.slow  # one rscd process per file (test_bad_ramp_files has the same files in process)
@pytest.mark.parametrize("kind", ["not_fits_text", "second_sci", "intstart_huge",
                                  "truncated_mid_sci", "compressed_sci", "pixeldq_bzero"])
def test_bad_ramp_files_through_the_cli(tmp_path, refs, kind):
    path, match = _ramp(str(tmp_path), kind)
    before = sha256(path)
    names = sorted(os.listdir(tmp_path))
    for extra in ([], ["--in-place"]):
        proc = _cli(path, "--reference", refs["decay"], *extra)
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("rscd: error: "), proc.stderr
        assert "Traceback" not in proc.stderr and path in lines[0]
        assert sha256(path) == before and sorted(os.listdir(tmp_path)) == names


def test_bad_reference_through_the_cli(tmp_path, refs):
    path = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays())
    ref = tmp_path / "ref.fits"
    ref.write_bytes(_good_flag_bytes(tmp_path)[:5000])
    proc = _cli(path, "--reference", str(ref))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "ref.fits" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "x_rscd.fits") and leftovers(tmp_path) == []


@pytest.fixture
def good_file(tmp_path):
    return write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays())


def test_output_folder_missing_is_created(tmp_path, refs, good_file):
    # --output-dir creates a missing folder (with parents); the input is only read.
    before = sha256(good_file)
    res = rscd.apply_file(good_file, refs["flag"], output_dir=str(tmp_path / "a" / "b"))
    assert res.status == "COMPLETE" and os.listdir(tmp_path / "a" / "b") == ["x_rscd.fits"]
    proc = _cli(good_file, "--reference", refs["flag"], "--output-dir", str(tmp_path / "c"))
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(tmp_path / "c") == ["x_rscd.fits"] and sha256(good_file) == before


def test_output_folder_that_is_a_file(tmp_path, refs, good_file):
    # A folder that cannot be made is refused in one line, leaving nothing behind.
    before = sha256(good_file)
    proc = _cli(good_file, "--reference", refs["flag"], "--output-dir", str(tmp_path / "x_uncal.fits" / "d"))
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1, proc.stderr
    assert "x_uncal.fits/d" in proc.stderr
    assert sha256(good_file) == before and sorted(os.listdir(tmp_path)) == ["x_uncal.fits"]


@pytest.mark.parametrize("method", ["flag", "decay"])
def test_output_is_input(tmp_path, refs, good_file, method):
    before = sha256(good_file)
    for out in (good_file, str(tmp_path / "." / "x_uncal.fits")):
        with pytest.raises(rscd.RampFileError, match="output name is the input itself"):
            rscd.apply_file(good_file, refs[method], output=out, overwrite=True)
    assert sha256(good_file) == before and sorted(os.listdir(tmp_path)) == ["x_uncal.fits"]


# A read-only folder or file stops no root: as root, these cases run in a child process
# as the user nobody (children.run_unprivileged: setpriv or runuser), so CI runs them.
APPLY_CHILD = ("import sys, rscd\n"
               "kw = dict(output_dir=sys.argv[3]) if len(sys.argv) > 3 else dict(inplace=True)\n"
               "try:\n"
               "    rscd.apply_file(sys.argv[1], sys.argv[2], **kw)\n"
               "except (rscd.RampFileError, OSError) as exc:\n"
               "    print(type(exc).__name__, exc)\n")
CLI_CHILD = "import sys\nfrom rscd.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def test_read_only_output_folder(shared_dir):
    good_file = write_astropy(os.path.join(shared_dir, "x_uncal.fits"), *ramp_arrays())
    ref = str(flag_reference(os.path.join(shared_dir, "ref.fits")))
    out = os.path.join(shared_dir, "ro")
    os.mkdir(out)
    os.chmod(out, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP
             | stat.S_IROTH | stat.S_IXOTH)
    proc = run_unprivileged(APPLY_CHILD, good_file, ref, out, cwd=shared_dir)
    assert proc.stdout.startswith("PermissionError"), (proc.stdout, proc.stderr)
    proc = run_unprivileged(CLI_CHILD, good_file, "--reference", ref, "--output-dir", out,
                            cwd=shared_dir)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "Permission denied" in proc.stderr and "Traceback" not in proc.stderr
    assert os.listdir(out) == []


def test_write_failure_mid_copy_leaves_nothing(tmp_path, refs, good_file, monkeypatch):
    """The same path as a read-only folder or a full disk, for users (root) whom chmod
    does not stop: the copy fails half-way, nothing is left under any name."""
    import rscd.fits

    def failing(fh, *args, **kw):
        with open(fh.name, "r+b") as f:       # the temporary copy exists: damage it
            f.seek(3000)
            f.write(b"\0" * 100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rscd.fits, "_correct", failing)
    before = sha256(good_file)
    with pytest.raises(OSError, match="No space left"):
        rscd.apply_file(good_file, refs["decay"])
    assert sha256(good_file) == before and sorted(os.listdir(tmp_path)) == ["x_uncal.fits"]


def test_read_only_input_in_place(shared_dir):
    good_file = write_astropy(os.path.join(shared_dir, "x_uncal.fits"), *ramp_arrays())
    ref = str(decay_reference(os.path.join(shared_dir, "ref.fits")))
    ids = unprivileged_ids()
    if os.geteuid() == 0 and ids:
        os.chown(good_file, *ids)       # the child's own file, read-only to its owner
    os.chmod(good_file, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = sha256(good_file)
    proc = run_unprivileged(APPLY_CHILD, good_file, ref, cwd=shared_dir)
    assert proc.stdout.startswith("RampFileError"), (proc.stdout, proc.stderr)
    assert "cannot open for update" in proc.stdout
    assert sha256(good_file) == before


def test_input_is_a_directory_or_missing(tmp_path, refs):
    with pytest.raises(rscd.RampFileError, match="is a directory"):
        rscd.apply_file(str(tmp_path), refs["flag"])
    with pytest.raises(FileNotFoundError):
        rscd.apply_file(str(tmp_path / "nope.fits"), refs["flag"], inplace=True)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("key", [b"NAXIS4  ", b"GCOUNT  "])
def test_negative_data_size_is_refused_not_an_endless_loop(tmp_path, key):
    # astropy loops for ever over the HDU list when a header gives a negative data size
    # (found by fuzz_ramp_header); rscd must refuse such files at once. Run in a child
    # with a time limit, so that a regression fails instead of hanging the suite.
    data, gdq, pdq = ramp_arrays()
    path = write_astropy(str(tmp_path / "neg_uncal.fits"), data, gdq, pdq)
    with open(path, "rb") as f:
        raw = bytearray(f.read())
    at = raw.find(key + b"=")
    assert at > 0
    raw[at:at + 30] = key + b"= " + b"-1".rjust(20)
    with open(path, "wb") as f:
        f.write(bytes(raw))
    ref = str(flag_reference(str(tmp_path / "ref.fits")))
    code = ("import sys, rscd\n"
            "try:\n    rscd.apply_file(sys.argv[1], sys.argv[2])\n"
            "except rscd.RampFileError as e:\n    print(e)\n"
            "try:\n    rscd.read_reference(sys.argv[1])\n"
            "except rscd.ReferenceFileError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code, path, ref], capture_output=True,
                          text=True, timeout=60, env=child_env(), cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all("is negative" in line and path in line for line in lines)
