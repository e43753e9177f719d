"""rscd.apply: argument guards, skips and reports (both methods share these rules)."""
import numpy as np
import pytest

import rscd
from rscd.correct import STAT_KEYWORDS as KEYWORDS
from rscd.reference import Reference, SkipRow

from oracle_decay import decay_oracle
from oracle_flag import flag_oracle

REF = Reference(name="ref.fits", detector="MIRIMAGE",
                skip_rows=(SkipRow("FULL", "FAST", 1, 2),))


def arrays(shape=(3, 8, 4, 5)):
    return (np.zeros(shape, np.float32), np.zeros(shape, np.uint8),
            np.zeros(shape[2:], np.uint32))


def call(data, gdq, pdq, **kw):
    kw.setdefault("readpatt", "FAST")
    kw.setdefault("subarray", "FULL")
    return rscd.apply(data, gdq, pdq, kw.pop("reference", REF), **kw)


@pytest.mark.parametrize("which, bad, error, message", [
    (0, lambda a: a.astype(np.float64), TypeError, "data must have dtype float32.*<f8"),
    (1, lambda a: a.astype(np.uint16), TypeError, "groupdq must have dtype uint8"),
    (1, lambda a: a.astype(np.int8), TypeError, "groupdq must have dtype uint8"),
    (2, lambda a: a.astype(np.int32), TypeError, "pixeldq must have dtype uint32"),
    (2, lambda a: a.astype(">u4"), TypeError, "pixeldq must have dtype uint32 in native"),
    (0, lambda a: a.tolist(), TypeError, "data must be a numpy.ndarray, not list"),
    (1, lambda a: a[0], ValueError, "groupdq must have 4 dimensions, not 3"),
    (2, lambda a: a[None], ValueError, "pixeldq must have 2 dimensions"),
    (0, lambda a: a[:, :, :, ::2], ValueError, "data must be C-contiguous"),
    (1, lambda a: np.asfortranarray(a), ValueError, "groupdq must be C-contiguous"),
    (0, lambda a: a[:, :, :3].copy(), ValueError, r"data has shape \(3, 8, 3, 5\) but groupdq"),
    (2, lambda a: a[:3], ValueError, r"pixeldq has shape \(3, 5\); expected"),
])
def test_bad_arrays_are_refused_and_nothing_changes(which, bad, error, message):
    arrs = list(arrays())
    arrs[1][1, 4:, 0, 0] = 2
    arrs[which] = bad(arrs[which])
    before = [np.array(a, copy=True) for a in arrs]
    with pytest.raises(error, match=message):
        call(*arrs)
    for a, b in zip(arrs, before):
        np.testing.assert_array_equal(np.asarray(a), b)


@pytest.mark.parametrize("which", [1, 2])
def test_read_only_dq_is_refused_by_flag(which):
    arrs = arrays()
    arrs[which].flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        call(*arrs)


def test_read_only_sci_is_fine_for_flag_but_not_decay():
    data, gdq, pdq = arrays()
    data.flags.writeable = False
    assert call(data, gdq, pdq).status == "COMPLETE"


@pytest.mark.parametrize("kw, error, message", [
    (dict(method="fast"), ValueError, "method must be one of"),
    (dict(integration_start=0), ValueError, "integration_start must be >= 1"),
    (dict(ystart=1.5), TypeError, "ystart must be an integer"),
    (dict(nints=1.0), TypeError, "nints must be an integer"),
    (dict(threads=0), ValueError, "threads must be >= 1"),
    (dict(reference=42), TypeError, "reference must be a path or an rscd.Reference"),
])
def test_bad_options(kw, error, message):
    with pytest.raises(error, match=message):
        call(*arrays(), **kw)


def test_non_miri_is_skipped_untouched():
    data, gdq, pdq = arrays()
    res = call(data, gdq, pdq, detector="NRCA1")
    assert res.status == "SKIPPED" and "only for MIRI data" in res.reason
    assert res.header_keywords() == {"S_RSCD": "SKIPPED"}
    assert not gdq.any()


def test_no_matching_row_warns_and_skips():
    data, gdq, pdq = arrays()
    with pytest.warns(rscd.RSCDWarning, match="READPATT=SLOW, SUBARRAY=FULL not found"):
        res = call(data, gdq, pdq, readpatt="SLOW")
    assert res.status == "SKIPPED" and res.header_keywords()["R_RSCD"] == "ref.fits"
    assert not gdq.any()


def test_detector_mismatch_warns():
    with pytest.warns(rscd.RSCDWarning, match="DETECTOR=MIRIMAGE"):
        res = call(*arrays(), detector="MIRIFULONG")
    assert res.status == "COMPLETE"


def test_deprecated_reference_warns():
    ref = Reference(name="old.fits", skip_rows=(SkipRow("FULL", "FAST", -1, 2),))
    with pytest.warns(rscd.RSCDWarning, match="deprecated form"):
        res = call(*arrays(), reference=ref)
    assert res.ngroups_skip_int1 == 1


@pytest.mark.parametrize("nints, start", [(2, 1), (1, 1), (1, 3), (0, 1), (3, 2), (26, 25)])
def test_nints_smaller_than_the_arrays_is_used_as_given(nints, start, caplog):
    """Regression (issue 14.1): NINTS below INTSTART - 1 + the integrations held raised
    ValueError; jwst 3.0.0 corrects such files (only NINTS > 1 matters), so do we, with
    a log line and no warning (pytest turns warnings into errors here)."""
    rng = np.random.default_rng(nints + 7 * start)
    data, gdq, pdq = arrays((3, 8, 4, 5))
    gdq[:] = rng.choice(np.array([0, 2, 4], np.uint8), size=gdq.shape, p=[0.8, 0.15, 0.05])
    want_gdq, want_pdq, status, stats = flag_oracle(gdq, pdq, 1, 2, nints, start)
    with caplog.at_level("INFO", logger="rscd"):
        res = call(data, gdq, pdq, nints=nints, integration_start=start)
    assert res.status == status == "COMPLETE"
    np.testing.assert_array_equal(gdq, want_gdq)
    np.testing.assert_array_equal(pdq, want_pdq)
    assert {k: v for k, v in res.header_keywords().items() if k.startswith("INT")} == {
        KEYWORDS[k]: v for k, v in stats.items()}
    assert (res.ngroups_skip_int2p is None) == (nints <= 1)
    assert f"NINTS = {nints} is smaller" in caplog.text


def test_too_few_groups_is_skipped():
    data, gdq, pdq = arrays((2, 2, 3, 3))
    res = call(data, gdq, pdq)
    assert res.status == "SKIPPED" and "too few groups" in res.reason
    assert res.ngroups_skip_int1 is None and not gdq.any()


def test_zero_sized_axes():
    for shape in [(0, 8, 4, 5), (3, 8, 0, 5), (3, 8, 4, 0)]:
        res = call(*arrays(shape))
        assert res.status == "COMPLETE"
    assert call(*arrays((3, 0, 4, 5))).status == "SKIPPED"


def test_flag_on_read_from_path_and_header_keywords(tmp_path):
    path = tmp_path / "my_rscd.fits"
    rscd.write_flag_reference(path, [("FULL", "FAST", 1, 2)])
    data, gdq, pdq = arrays()
    res = rscd.apply(data, gdq, pdq, str(path), readpatt="FAST", subarray="FULL")
    assert res.header_keywords() == {
        "S_RSCD": "COMPLETE", "R_RSCD": "my_rscd.fits", "INT1SKIP": 1, "INT2SKIP": 2,
        "INT1UGP1": 0, "INT2UGP1": 0, "INT1BORS": 0, "INT2BORS": 0}
    assert (gdq[0, :, 0, 0] & 1).tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert (gdq[2, :, 0, 0] & 1).tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    assert "flag COMPLETE" in res.summary()


def test_auto_method_needs_a_table():
    decay_only = Reference(name="d.fits", decay_rows=())
    with pytest.raises(rscd.ReferenceFileError, match="no RSCD_GROUP_SKIP table"):
        call(*arrays(), reference=decay_only, method="flag")


def decay_case(seed=3):
    """Ramps with a mix of slopes (saturating ones included) and a decay reference whose
    parities differ, so that the correction changes many samples."""
    rng = np.random.default_rng(seed)
    shape = (3, 9, 6, 12)
    rate = 10 ** rng.uniform(0, 4, size=(shape[0], 1) + shape[2:])
    data = (8000 + rate * np.arange(1, shape[1] + 1).reshape(1, -1, 1, 1)).astype(np.float32)
    gdq = np.where(data >= 60000, np.uint8(2), np.uint8(0))
    data = np.minimum(data, np.float32(60000))
    pdq = np.zeros(shape[2:], np.uint32)
    pdq[:, :2] = np.uint32(2**31)                       # reference-pixel columns
    even = dict(tau=2.0, ascale=0.3, pow=1.2, illum_zp=1.0, illum_slope=0.01, illum2=1e-4,
                param3=2e4, crossopt=5e3, sat_zp=1e-6, sat_slope=0.0, sat_2=0.0,
                sat_mzp=0.2, sat_rowterm=1e-7, sat_scale=1.0)
    odd = dict(even, tau=3.0, ascale=0.5)
    ref = rscd.Reference(name="decay.fits", decay_rows=(rscd.DecayRow(
        "FULL", "FAST", rscd.DecayCoeffs(**even), rscd.DecayCoeffs(**odd)),))
    return data, gdq, pdq, even, odd, ref


def test_decay_takes_read_only_groupdq_and_pixeldq():
    """Regression (issue 16): decay only reads GROUPDQ and PIXELDQ, yet rscd.apply refused
    them read-only (say from a FITS file opened read-only for them) with "groupdq is
    read-only". Now only SCI, which decay writes, must be writeable; the flags are left
    as they were and SCI is corrected as with writeable flags."""
    data, gdq, pdq, even, odd, ref = decay_case()
    want, counts = decay_oracle(data, gdq, pdq, even, odd, substrt2=3)
    gdq0, pdq0 = gdq.copy(), pdq.copy()
    gdq.flags.writeable = pdq.flags.writeable = False
    res = rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL", ystart=3,
                     method="decay")
    assert res.status == "COMPLETE" and res.npix_corrected == counts["corrected"] > 0
    np.testing.assert_array_equal(data, want)
    np.testing.assert_array_equal(gdq, gdq0)
    np.testing.assert_array_equal(pdq, pdq0)
    assert not gdq.flags.writeable and not pdq.flags.writeable


def test_decay_refuses_read_only_sci_and_changes_nothing():
    data, gdq, pdq, _, _, ref = decay_case()
    data.flags.writeable = False
    before = data.copy()
    with pytest.raises(ValueError, match="data is read-only"):
        rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL", method="decay")
    np.testing.assert_array_equal(data, before)


def test_substrt2_is_the_deprecated_name_of_ystart():
    # The decay row parity follows ystart: the old keyword must give the same result.
    data, gdq, pdq, even, odd, ref = decay_case()
    want, _ = decay_oracle(data, gdq, pdq, even, odd, substrt2=2)
    with pytest.warns(DeprecationWarning, match=r"substrt2= is deprecated, use ystart="):
        rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL", substrt2=2)
    np.testing.assert_array_equal(data, want)
    with pytest.raises(TypeError, match="both substrt2= and ystart="):
        rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL", substrt2=2,
                   ystart=2)


def test_dask_apply_takes_the_names_of_rscd_apply():
    """rscd.dask.apply's first parameter is ``data`` and the row offset ``ystart``, as in
    rscd.apply (issue 16); the old keywords ``sci=`` and ``substrt2=`` still work, with a
    DeprecationWarning, and give the same result."""
    da = pytest.importorskip("dask.array")
    import rscd.dask
    data, gdq, pdq, _, _, ref = decay_case()
    want = data.copy()
    rscd.apply(want, gdq, pdq, ref, readpatt="FAST", subarray="FULL", ystart=2)
    lazy = [da.from_array(a, chunks=a.shape[:-2] + (3, 5)) for a in (data, gdq)]
    new = rscd.dask.apply(data=lazy[0], groupdq=lazy[1], pixeldq=pdq, reference=ref,
                          readpatt="FAST", subarray="FULL", ystart=2)
    with pytest.warns(DeprecationWarning) as caught:
        old = rscd.dask.apply(sci=lazy[0], groupdq=lazy[1], pixeldq=pdq, reference=ref,
                              readpatt="FAST", subarray="FULL", substrt2=2)
    assert sorted(str(w.message).split(": ")[1] for w in caught) == [
        "sci= is deprecated, use data=", "substrt2= is deprecated, use ystart="]
    for out in (new, old):
        got, _, _, res = rscd.dask.compute(out, scheduler="sync")
        np.testing.assert_array_equal(got, want)
        assert res.status == "COMPLETE"


@pytest.mark.parametrize("threads", [None, 1, 2])
def test_threads_default_is_none_everywhere(threads):
    # None means "rscd chooses" in both APIs; any count gives the same result.
    import inspect
    da = pytest.importorskip("dask.array")
    import rscd.dask
    for func in (rscd.apply, rscd.dask.apply, rscd.apply_model, rscd.apply_file):
        assert inspect.signature(func).parameters["threads"].default is None, func
    data, gdq, pdq, _, _, ref = decay_case()
    want = data.copy()
    rscd.apply(want, gdq, pdq, ref, readpatt="FAST", subarray="FULL")
    out = rscd.dask.apply(da.from_array(data, chunks=data.shape[:-2] + (3, 5)), gdq, pdq, ref,
                          readpatt="FAST", subarray="FULL", threads=threads)
    np.testing.assert_array_equal(rscd.dask.compute(out, scheduler="sync")[0], want)
    mine = data.copy()
    rscd.apply(mine, gdq, pdq, ref, readpatt="FAST", subarray="FULL", threads=threads)
    np.testing.assert_array_equal(mine, want)
