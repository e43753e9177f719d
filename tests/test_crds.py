"""rscd.crds.find_reference against a fake, offline CRDS cache (crds_cache.py)."""
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import rscd
from crds_cache import REF_NAME, build_cache, offline_environment
from fitsfiles import flag_reference, ramp_arrays, write_astropy, write_datamodel
from rscd.crds import (CRDSError, CRDSLookupError, CRDSUnavailable, crds_parameters,
                       find_reference)


def _clear_crds_caches():
    from crds.core import utils
    utils.clear_function_caches()


@pytest.fixture
def crds_cache(tmp_path, monkeypatch):
    """A complete offline CRDS cache answering RSCD lookups for MIRIMAGE after 2020."""
    pytest.importorskip("crds", reason="crds not installed")
    cache = tmp_path / "crds_cache"
    ref = build_cache(cache, lambda path: flag_reference(path, skip1=2, skip2p=4))
    for name, value in offline_environment(cache).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    _clear_crds_caches()
    yield Path(ref)
    _clear_crds_caches()


def header(**kw):
    hdr = fits.Header()
    values = {"TELESCOP": "JWST", "INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE",
              "DATE-OBS": "2024-03-01", "TIME-OBS": "12:00:00", "READPATT": "FAST",
              "SUBARRAY": "FULL"}
    values.update({k.replace("_", "-") if k.startswith("DATE") or k.startswith("TIME")
                   else k: v for k, v in kw.items()})
    for key, value in values.items():
        if value is not None:
            hdr[key] = value
    return hdr


def test_parameters_from_header():
    params = crds_parameters(header())
    assert params["meta.instrument.name"] == "MIRI"
    assert params["meta.instrument.detector"] == "MIRIMAGE"
    assert params["meta.observation.date"] == "2024-03-01"
    assert params["meta.observation.time"] == "12:00:00"


def test_find_reference_from_header(crds_cache):
    assert find_reference(header()) == str(crds_cache)


def test_find_reference_from_file_and_apply(crds_cache, tmp_path):
    data, gdq, pdq = ramp_arrays(seed=1)
    path = tmp_path / "jw_c_linearity.fits"
    fits.HDUList([fits.PrimaryHDU(header=header())]).writeto(path)
    found = find_reference(path)
    assert found == str(crds_cache)
    res = rscd.apply(data, gdq, pdq, found, readpatt="FAST", subarray="FULL")
    assert res.status == "COMPLETE" and res.ngroups_skip_int2p == 4


def test_date_before_every_useafter(crds_cache):
    with pytest.raises(CRDSLookupError, match="DATE-OBS=2019-01-01"):
        find_reference(header(DATE_OBS="2019-01-01"))


def test_no_rule_for_the_detector(crds_cache):
    with pytest.raises(CRDSLookupError, match="MIRIFULONG") as exc:
        find_reference(header(DETECTOR="MIRIFULONG"))
    assert isinstance(exc.value, CRDSError)


def test_non_miri_needs_no_reference(monkeypatch):
    monkeypatch.delenv("CRDS_PATH", raising=False)
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    assert find_reference(header(INSTRUME="NIRCAM", DETECTOR="NRCA1")) is None


def test_missing_keywords():
    with pytest.raises(ValueError, match="DETECTOR"):
        find_reference(header(DETECTOR=None))
    with pytest.raises(ValueError, match="INSTRUME"):
        find_reference(header(INSTRUME=None))


def test_not_configured_says_what_to_set(monkeypatch):
    pytest.importorskip("crds", reason="crds not installed")
    monkeypatch.delenv("CRDS_PATH", raising=False)
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    with pytest.raises(CRDSUnavailable) as exc:
        find_reference(header())
    assert isinstance(exc.value, RuntimeError)
    for word in ("CRDS_PATH", "CRDS_SERVER_URL", "--reference"):
        assert word in str(exc.value)


def test_empty_cache_exit_becomes_an_error(tmp_path, monkeypatch):
    """CRDS raises SystemExit when it cannot load its configuration: caught."""
    pytest.importorskip("crds", reason="crds not installed")
    monkeypatch.setenv("CRDS_PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    _clear_crds_caches()
    with pytest.raises(CRDSUnavailable, match="CRDS_PATH") as exc:
        find_reference(header())
    assert not isinstance(exc.value, SystemExit)
    _clear_crds_caches()


def test_crds_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "crds", None)
    with pytest.raises(CRDSUnavailable, match="not installed.*--reference"):
        find_reference(header())


# stpipe 1.1's crds_client still calls crds' deprecated get_cache_lock.
@pytest.mark.filterwarnings("ignore:'get_cache_lock' is deprecated:DeprecationWarning")
def test_steps_use_the_cache_without_override(crds_cache, tmp_path):
    """jwst's RscdStep and ours, no override: both pick the CRDS file, same results."""
    pytest.importorskip("jwst", reason="jwst not installed")
    from jwst.rscd import RscdStep
    from stdatamodels.jwst import datamodels

    from rscd.step import RscdFastStep
    data, gdq, pdq = ramp_arrays(nints=3, ngroups=10, seed=3)
    path = write_datamodel(tmp_path / "jw_c_linearity.fits", data, gdq, pdq)
    with datamodels.RampModel(path) as model:
        model.meta.observation.date = "2024-03-01"
        model.meta.observation.time = "12:00:00"
        model.save(path)
    assert find_reference(path) == str(crds_cache)
    theirs = RscdStep.call(str(path))
    ours = RscdFastStep.call(str(path))
    for model in (ours, theirs):
        assert model.meta.ref_file.rscd.name == f"crds://{REF_NAME}"
        assert model.meta.cal_step.rscd == "COMPLETE"
    np.testing.assert_array_equal(ours.groupdq, theirs.groupdq)
    np.testing.assert_array_equal(ours.pixeldq, theirs.pixeldq)
    assert ours.meta.rscd.instance == theirs.meta.rscd.instance


def test_apply_file_without_reference_asks_crds(crds_cache, tmp_path):
    data, gdq, pdq = ramp_arrays(seed=2)
    path = write_astropy(tmp_path / "jw_d_linearity.fits", data, gdq, pdq)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header.update({k: v for k, v in header().items()
                               if k in ("INSTRUME", "DATE-OBS", "TIME-OBS")})
    res = rscd.apply_file(path, None)
    expected = rscd.apply(data.copy(), gdq.copy(), pdq.copy(), str(crds_cache),
                          readpatt="FAST", subarray="FULL")
    assert res == expected and res.status == "COMPLETE"
    with fits.open(tmp_path / "jw_d_rscd.fits") as hdul:
        assert hdul[0].header["R_RSCD"] == os.path.basename(str(crds_cache))


def _crds_ready_file(tmp_path, name):
    data, gdq, pdq = ramp_arrays(seed=3)
    path = write_astropy(tmp_path / name, data, gdq, pdq)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header.update({k: v for k, v in header().items()
                               if k in ("INSTRUME", "DATE-OBS", "TIME-OBS")})
    return path


def test_command_without_reference_asks_crds(crds_cache, tmp_path, capsys):
    from rscd.cli import main
    path = _crds_ready_file(tmp_path, "jw_e_linearity.fits")
    assert main([str(path)]) == 0
    assert "COMPLETE" in capsys.readouterr().out
    with fits.open(tmp_path / "jw_e_rscd.fits") as hdul:
        assert hdul[0].header["S_RSCD"] == "COMPLETE"


def test_command_without_reference_or_crds_says_what_to_set(tmp_path, monkeypatch, capsys):
    pytest.importorskip("crds", reason="crds not installed")
    from rscd.cli import main
    monkeypatch.delenv("CRDS_PATH", raising=False)
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    path = _crds_ready_file(tmp_path, "jw_f_linearity.fits")
    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "CRDS_PATH" in err and "--reference" in err and "Traceback" not in err
    assert not (tmp_path / "jw_f_rscd.fits").exists()
