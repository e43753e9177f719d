"""``flag`` on a file whose S_RSCD is already COMPLETE (issue 25.6; rscd/_rerun.py).

jwst's step flags such a file again; so does rscd, and DO_NOT_USE adds up. The header
must not claim fewer flagged groups than GROUPDQ holds, and the log says what happened.
"""
import logging
import shutil

import numpy as np
import pytest
from astropy.io import fits

import rscd
from rscd.demo import synthetic_exposure, write_ramp_file
from rscd.dq import DO_NOT_USE


@pytest.fixture
def exposure(tmp_path):
    path = tmp_path / "e_linearity.fits"
    write_ramp_file(path, *synthetic_exposure())
    first = tmp_path / "first.fits"                  # INT1SKIP 1, INT2SKIP 3
    second = tmp_path / "second.fits"                # INT1SKIP 2, INT2SKIP 1
    rscd.write_flag_reference(first, [("FULL", "FASTR1", 1, 3)])
    rscd.write_flag_reference(second, [("FULL", "FASTR1", 2, 1)])
    return path, first, second


def _gdq(path):
    with fits.open(path) as hdul:
        return hdul["GROUPDQ"].data.copy(), hdul[0].header


@pytest.mark.parametrize("inplace", [True, False])
def test_flag_twice_with_another_reference(exposure, tmp_path, caplog, inplace):
    path, first, second = exposure
    alone = {}
    for ref in (first, second):                       # each run alone, on a fresh copy
        copy = tmp_path / f"alone_{ref.stem}_linearity.fits"
        shutil.copy(path, copy)
        rscd.apply_file(copy, ref, inplace=True)
        alone[ref.stem] = _gdq(copy)[0]
    rscd.apply_file(path, first, inplace=True)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rscd"):
        if inplace:
            res = rscd.apply_file(path, second, inplace=True)
            target = path
        else:
            target = tmp_path / "out_rscd.fits"
            res = rscd.apply_file(path, second, output=target)
    assert (res.status, res.ngroups_skip_int1, res.ngroups_skip_int2p) == ("COMPLETE", 2, 1)
    gdq, header = _gdq(target)
    # DO_NOT_USE adds up, as jwst's step does: the union of both runs alone
    want = (alone["first"] | alone["second"]) & DO_NOT_USE
    np.testing.assert_array_equal(gdq & DO_NOT_USE, want)
    # the header claims what GROUPDQ holds: the larger counts; R_RSCD this run's
    assert (header["INT1SKIP"], header["INT2SKIP"]) == (2, 3)
    assert header["R_RSCD"] == "second.fits"
    # pixel (10, 20) neither saturates nor is a reference pixel
    assert (gdq[1, :4, 10, 20] & DO_NOT_USE).tolist() == [1, 1, 1, 0]
    assert (gdq[0, :3, 10, 20] & DO_NOT_USE).tolist() == [1, 1, 0]
    history = [str(v) for v in header["HISTORY"]]
    assert len(history) == 2
    assert "flag with first.fits" in history[0] and "flag with second.fits" in history[1]
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "already COMPLETE (R_RSCD = first.fits, INT1SKIP = 1, " \
        "INT2SKIP = 3): flagged again" in said[0] and "larger of both runs' counts" in said[0]


def test_flag_twice_with_the_same_reference_changes_no_flag(exposure, caplog):
    path, first, _ = exposure
    rscd.apply_file(path, first, inplace=True)
    before, _ = _gdq(path)
    with caplog.at_level(logging.WARNING, logger="rscd"):
        rscd.apply_file(path, first, inplace=True)
    after, header = _gdq(path)
    np.testing.assert_array_equal(after, before)
    assert (header["INT1SKIP"], header["INT2SKIP"]) == (1, 3)
    assert len([r for r in caplog.records if "already COMPLETE" in r.getMessage()]) == 1


def test_first_run_says_nothing(exposure, caplog):
    path, first, _ = exposure
    with caplog.at_level(logging.WARNING, logger="rscd"):
        rscd.apply_file(path, first, inplace=True)
    assert not [r for r in caplog.records if "already COMPLETE" in r.getMessage()]
