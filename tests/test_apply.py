"""rscd.apply: argument guards, skips and reports (both methods share these rules)."""
import numpy as np
import pytest

import rscd
from rscd.correct import STAT_KEYWORDS as KEYWORDS
from rscd.reference import Reference, SkipRow

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
def test_read_only_dq_is_refused(which):
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
    (dict(substrt2=1.5), TypeError, "substrt2 must be an integer"),
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
