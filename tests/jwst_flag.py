"""Run jwst 3.0.0's own flag method on arrays (tests only; skipped without jwst)."""
import numpy as np
import pytest

datamodels = pytest.importorskip(
    "stdatamodels.jwst.datamodels",
    reason="the JWST pipeline is not installed (pip install jwst==3.0.0)")
rscd_sub = pytest.importorskip("jwst.rscd.rscd_sub",
                               reason="the JWST pipeline is not installed (pip install jwst==3.0.0)")


def reference_model(rows):
    """An RSCDModel holding (subarray, readpatt, group_skip1, group_skip) rows."""
    table = np.array(rows, dtype=[("subarray", "S17"), ("readpatt", "S12"),
                                  ("group_skip1", "<i4"), ("group_skip", "<i4")])
    model = datamodels.RSCDModel(validate_on_assignment=False)
    model.rscd_group_skip_table = table
    return model


def run_jwst(case, reference):
    """jwst.rscd.rscd_sub.do_correction on copies of the case's arrays.

    ``reference``: (subarray, readpatt, group_skip1, group_skip) rows, or the path of a
    reference file, which jwst reads itself (RSCDModel), exactly as the user has it.
    """
    # Built without validation on each assignment: the values are valid, the results are
    # the same (checked on every random case), and validating reloads schemas for each
    # attribute (4/5 of the time of thousands of differential cases).
    model = datamodels.RampModel(data=case["data"].copy(), groupdq=case["groupdq"].copy(),
                                 pixeldq=case["pixeldq"].copy(), validate_on_assignment=False)
    nints_file, ngroups = case["groupdq"].shape[:2]
    model.meta.instrument.name = "MIRI"
    model.meta.instrument.detector = "MIRIMAGE"
    model.meta.exposure.readpatt = case["readpatt"]
    model.meta.subarray.name = case["subarray"]
    model.meta.exposure.ngroups = ngroups
    model.meta.exposure.nints = case["nints"]
    model.meta.exposure.integration_start = case["integration_start"]
    if isinstance(reference, (list, tuple)):
        out = rscd_sub.do_correction(model, reference_model(reference))
    else:
        with datamodels.RSCDModel(str(reference)) as ref_model:
            out = rscd_sub.do_correction(model, ref_model)
    stats = {k: getattr(out.meta.rscd, k, None) for k in (
        "ngroups_skip_int1", "ngroups_skip_int2p", "keep_bright_firstgroup_int1",
        "keep_bright_firstgroup_int2p", "keep_groups_saturation_int1",
        "keep_groups_saturation_int2p")}
    return (np.asarray(out.groupdq), np.asarray(out.pixeldq), out.meta.cal_step.rscd,
            {k: (None if v is None else int(v)) for k, v in stats.items()})
