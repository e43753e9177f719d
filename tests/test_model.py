"""rscd.apply_model: jwst datamodels (RampModel) and duck-typed models.

The duck-typed tests need nothing but numpy; the RampModel tests need stdatamodels and
the comparisons with the pipeline's own code need jwst 3.0.0 (skipped without them).
"""
import types
import warnings

import numpy as np
import pytest

import rscd
from fitsfiles import DO_NOT_USE, decay_reference, flag_reference, ramp_arrays, write_datamodel
from rscd.model import apply_model

STATS = ("ngroups_skip_int1", "ngroups_skip_int2p", "keep_bright_firstgroup_int1",
         "keep_bright_firstgroup_int2p", "keep_groups_saturation_int1",
         "keep_groups_saturation_int2p")


def ns(**kw):
    return types.SimpleNamespace(**kw)


def duck_model(data, groupdq, pixeldq, detector="MIRIMAGE", readpatt="FAST", subarray="FULL",
               nints=None, integration_start=None, ystart=None):
    """The smallest object apply_model accepts: arrays plus the meta attributes it reads
    and the (empty) nodes it writes."""
    meta = ns(instrument=ns(detector=detector),
              exposure=ns(readpatt=readpatt, nints=nints, integration_start=integration_start),
              subarray=ns(name=subarray, ystart=ystart),
              cal_step=ns(), ref_file=ns(rscd=ns()), rscd=ns())
    return ns(data=data, groupdq=groupdq, pixeldq=pixeldq, meta=meta)


@pytest.fixture
def flag_ref(tmp_path):
    return flag_reference(tmp_path / "flag_rscd.fits", skip1=2, skip2p=4)


# --- duck-typed models: no jwst needed -------------------------------------------------------

def test_duck_model_equals_apply(flag_ref):
    data, gdq, pdq = ramp_arrays(nints=3, ngroups=9, seed=1)
    model = duck_model(data.copy(), gdq.copy(), pdq.copy())
    res = apply_model(model, flag_ref)
    want = rscd.apply(data, gdq, pdq, flag_ref, readpatt="FAST", subarray="FULL")
    assert res == want
    np.testing.assert_array_equal(model.groupdq, gdq)
    np.testing.assert_array_equal(model.pixeldq, pdq)
    assert model.meta.cal_step.rscd == "COMPLETE"
    assert model.meta.ref_file.rscd.name == str(flag_ref.resolve())
    for name in STATS:
        assert getattr(model.meta.rscd, name) == getattr(want, name)


def test_duck_model_arrays_corrected_where_they_lie(flag_ref):
    data, gdq, pdq = ramp_arrays(seed=2)
    before = gdq.copy()
    model = duck_model(data, gdq, pdq)
    ids = [id(a) for a in (model.data, model.groupdq, model.pixeldq)]
    apply_model(model, flag_ref)
    assert [id(a) for a in (model.data, model.groupdq, model.pixeldq)] == ids
    changed = gdq != before                         # the caller's own array was changed
    assert changed.any() and np.all(gdq[changed] & DO_NOT_USE)


def test_converted_arrays_are_assigned_back(flag_ref):
    """int32 PIXELDQ, a strided GROUPDQ: converted once and put back on the model."""
    data, gdq, pdq = ramp_arrays(nints=2, ngroups=8, seed=3)
    want_gdq, want_pdq = gdq.copy(), pdq.copy()
    want = rscd.apply(data, want_gdq, want_pdq, flag_ref, readpatt="FAST", subarray="FULL")
    wide = np.zeros(gdq.shape[:3] + (2 * gdq.shape[3],), np.uint8)
    wide[..., ::2] = gdq
    model = duck_model(data, wide[..., ::2], pdq.view(np.int32))
    res = apply_model(model, flag_ref)
    assert res == want
    assert model.pixeldq.dtype == np.uint32 and model.groupdq.flags.c_contiguous
    np.testing.assert_array_equal(model.groupdq, want_gdq)
    np.testing.assert_array_equal(model.pixeldq, want_pdq)


def test_flag_reads_odd_data_without_replacing_it(flag_ref):
    data, gdq, pdq = ramp_arrays(seed=4)
    data64 = data.astype(np.float64)
    model = duck_model(data64, gdq, pdq)
    assert apply_model(model, flag_ref).status == "COMPLETE"
    assert model.data is data64


def test_flag_uses_read_only_data_as_is(flag_ref):
    data, gdq, pdq = ramp_arrays(seed=13)
    data.flags.writeable = False
    model = duck_model(data, gdq, pdq)
    assert apply_model(model, flag_ref).status == "COMPLETE"
    assert model.data is data


def test_decay_converts_data_and_assigns_it_back(tmp_path):
    ref = decay_reference(tmp_path / "decay_rscd.fits")
    data, gdq, pdq = ramp_arrays(nints=3, ngroups=8, seed=5)
    want = data.copy()
    expect = rscd.apply(want, gdq.copy(), pdq.copy(), ref, readpatt="FAST", subarray="FULL")
    model = duck_model(data.astype(np.float64), gdq, pdq)
    res = apply_model(model, ref)
    assert res == expect and res.method == "decay"
    assert model.data.dtype == np.float32
    np.testing.assert_array_equal(model.data, want)
    assert model.meta.cal_step.rscd == "COMPLETE"
    assert vars(model.meta.rscd) == {}              # no flag statistics for decay


def test_decay_reads_read_only_flags_where_they_are(tmp_path):
    """decay only reads GROUPDQ and PIXELDQ (issue 16): read-only ones are used, not
    refused, and stay the model's own arrays, unchanged."""
    ref = decay_reference(tmp_path / "decay_rscd.fits")
    data, gdq, pdq = ramp_arrays(nints=3, ngroups=8, seed=5)
    want = data.copy()
    expect = rscd.apply(want, gdq.copy(), pdq.copy(), ref, readpatt="FAST", subarray="FULL")
    gdq0, pdq0 = gdq.copy(), pdq.copy()
    gdq.flags.writeable = pdq.flags.writeable = False
    model = duck_model(data, gdq, pdq)
    assert apply_model(model, ref) == expect
    assert model.groupdq is gdq and model.pixeldq is pdq
    np.testing.assert_array_equal(model.data, want)
    np.testing.assert_array_equal(gdq, gdq0)
    np.testing.assert_array_equal(pdq, pdq0)


def test_meta_defaults_and_segments(flag_ref):
    """integration_start/ystart None mean 1; a segment uses meta.exposure.nints."""
    data, gdq, pdq = ramp_arrays(nints=2, ngroups=9, seed=6)
    model = duck_model(data, gdq.copy(), pdq.copy(), nints=10, integration_start=5, ystart=7)
    res = apply_model(model, flag_ref)
    want = rscd.apply(data, gdq, pdq, flag_ref, readpatt="FAST", subarray="FULL", nints=10,
                      integration_start=5, ystart=7)
    assert res == want
    assert res.ngroups_skip_int1 is None and res.ngroups_skip_int2p == 4
    assert not hasattr(model.meta.rscd, "ngroups_skip_int1")


def test_non_miri_skips_without_reading_the_reference(tmp_path):
    data, gdq, pdq = ramp_arrays(seed=7)
    before = gdq.copy()
    model = duck_model(data, gdq, pdq, detector="NRCA1")
    res = apply_model(model, tmp_path / "does-not-exist.fits")
    assert res.status == "SKIPPED" and "MIRI" in res.reason
    assert model.meta.cal_step.rscd == "SKIPPED"
    assert vars(model.meta.ref_file.rscd) == {} and vars(model.meta.rscd) == {}
    np.testing.assert_array_equal(gdq, before)


def test_no_matching_row_skips_with_ref_file_recorded(flag_ref):
    data, gdq, pdq = ramp_arrays(seed=8)
    model = duck_model(data, gdq, pdq, subarray="BRIGHTSKY")
    with pytest.warns(rscd.RSCDWarning, match="BRIGHTSKY"):
        res = apply_model(model, flag_ref)
    assert res.status == "SKIPPED"
    assert model.meta.cal_step.rscd == "SKIPPED"
    assert model.meta.ref_file.rscd.name == str(flag_ref.resolve())
    assert vars(model.meta.rscd) == {}


def test_bad_nints_names_the_keyword(flag_ref):
    data, gdq, pdq = ramp_arrays(nints=3, seed=9)
    with pytest.raises(ValueError, match=r"meta.exposure.nints = 4398046511104: nints must"):
        apply_model(duck_model(data, gdq, pdq, nints=2**42), flag_ref)


@pytest.mark.parametrize("nints, start", [(1, None), (2, None), (26, 25)])
def test_nints_smaller_than_the_arrays_is_used_as_given(flag_ref, nints, start):
    """Regression (issue 14.1): meta.exposure.nints below the integrations the model holds
    was refused; jwst corrects it (its own TSO test builds such a model)."""
    data, gdq, pdq = ramp_arrays(nints=3, seed=9)
    model = duck_model(data.copy(), gdq.copy(), pdq.copy(), nints=nints,
                       integration_start=start)
    res = apply_model(model, flag_ref)
    want = rscd.apply(data, gdq, pdq, flag_ref, readpatt="FAST", subarray="FULL",
                      nints=nints, integration_start=start or 1)
    assert res == want and res.status == "COMPLETE"
    assert (res.ngroups_skip_int2p is None) == (nints == 1)
    np.testing.assert_array_equal(model.groupdq, gdq)


def test_reference_object_reused(flag_ref):
    ref = rscd.read_reference(flag_ref)
    for seed in (10, 11):
        model = duck_model(*ramp_arrays(seed=seed))
        assert apply_model(model, ref).status == "COMPLETE"
        assert model.meta.ref_file.rscd.name == str(flag_ref.resolve())


# --- stdatamodels RampModel ------------------------------------------------------------------

@pytest.fixture(scope="module")
def datamodels():
    return pytest.importorskip("stdatamodels.jwst.datamodels",
                               reason="stdatamodels not installed (pip install rscd[jwst])")


CASES = [  # (nints, ngroups, integration_start, nints_total, skip1, skip2p)
    (3, 9, 1, None, 2, 4),
    (4, 12, 1, None, 0, 6),
    (1, 7, 1, None, 3, 3),
    (2, 10, 3, 8, 2, 4),        # a later segment
    (3, 5, 1, None, 4, 4),      # <= 5 groups: 1 and 1
    (2, 2, 1, None, 1, 1),      # too few groups: SKIPPED
    (3, 9, 25, 26, 2, 4),       # NINTS below INTSTART - 1 + 3 (jwst's TSO test), issue 14.1
    (3, 9, 1, 1, 2, 4),         # NINTS = 1 with 3 integrations held: only integration 1
]


@pytest.mark.parametrize("case", CASES)
def test_rampmodel_from_file_equals_apply(datamodels, tmp_path, case):
    nints, ngroups, start, total, skip1, skip2p = case
    data, gdq, pdq = ramp_arrays(nints=nints, ngroups=ngroups, seed=sum(c or 0 for c in case))
    path = write_datamodel(tmp_path / "r_ramp.fits", data, gdq, pdq, integration_start=start,
                           nints=total)
    ref = flag_reference(tmp_path / "ref.fits", skip1=skip1, skip2p=skip2p)
    want = rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL", nints=total,
                      integration_start=start)
    with datamodels.RampModel(path) as model:
        assert model.data.dtype.byteorder == ">"     # read from FITS: corrected in place
        sci = model.data
        res = apply_model(model, ref)
        assert model.data is sci
        assert res == want
        np.testing.assert_array_equal(model.groupdq, gdq)
        np.testing.assert_array_equal(model.pixeldq, pdq)
        assert model.meta.cal_step.rscd == want.status
        model.save(tmp_path / "r_rscd.fits")
    with datamodels.RampModel(tmp_path / "r_rscd.fits") as back:
        assert back.meta.cal_step.rscd == want.status
        assert back.meta.ref_file.rscd.name == str(ref.resolve())
        for name in STATS:
            assert getattr(back.meta.rscd, name) == getattr(want, name)


@pytest.mark.parametrize("case", CASES)
def test_rampmodel_matches_jwst_do_correction(datamodels, tmp_path, case):
    """Same arrays, same meta.rscd and cal_step as jwst 3.0.0's rscd_sub.do_correction."""
    rscd_sub = pytest.importorskip("jwst.rscd.rscd_sub", reason="jwst not installed")
    nints, ngroups, start, total, skip1, skip2p = case
    data, gdq, pdq = ramp_arrays(nints=nints, ngroups=ngroups, seed=100 + sum(c or 0 for c in case))
    path = write_datamodel(tmp_path / "r_ramp.fits", data, gdq, pdq, integration_start=start,
                           nints=total)
    ref = flag_reference(tmp_path / "ref.fits", skip1=skip1, skip2p=skip2p)
    with datamodels.RampModel(path) as ours, datamodels.RampModel(path) as theirs, \
            datamodels.RSCDModel(ref) as ref_model:
        apply_model(ours, ref)
        theirs = rscd_sub.do_correction(theirs, ref_model)
        np.testing.assert_array_equal(ours.groupdq, theirs.groupdq)
        np.testing.assert_array_equal(ours.pixeldq, theirs.pixeldq)
        np.testing.assert_array_equal(ours.data, theirs.data)
        assert ours.meta.cal_step.rscd == theirs.meta.cal_step.rscd
        assert ours.meta.rscd.instance == theirs.meta.rscd.instance


def test_rampmodel_non_miri(datamodels, tmp_path):
    with datamodels.RampModel((2, 6, 4, 4)) as model:
        model.meta.instrument.name = "NIRCAM"
        model.meta.instrument.detector = "NRCA1"
        res = apply_model(model, tmp_path / "unused.fits")
        assert res.status == "SKIPPED"
        assert model.meta.cal_step.rscd == "SKIPPED"
        assert model.meta.ref_file.rscd.name is None
        assert model.meta.rscd.instance == {}


def test_rampmodel_decay(datamodels, tmp_path):
    data, gdq, pdq = ramp_arrays(nints=3, ngroups=8, seed=12)
    path = write_datamodel(tmp_path / "r_ramp.fits", data, gdq, pdq, ystart=2)
    ref = decay_reference(tmp_path / "decay.fits")
    want = data.copy()
    expect = rscd.apply(want, gdq.copy(), pdq.copy(), ref, readpatt="FAST", subarray="FULL",
                        ystart=2)
    with datamodels.RampModel(path) as model, warnings.catch_warnings():
        warnings.simplefilter("error")
        res = apply_model(model, ref, method="decay")
        assert res == expect
        np.testing.assert_array_equal(model.data, want)
        assert model.meta.cal_step.rscd == "COMPLETE"
