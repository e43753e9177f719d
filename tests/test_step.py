"""The stpipe step (rscd.step.RscdFastStep) against jwst 3.0.0's RscdStep, strun, the next
pipeline step, and calwebb_detector1 with our step in place of the pipeline's.

Runs offline: CRDS_PATH points to a fake cache holding only config/jwst/server_config,
CRDS_SERVER_URL is unset and CRDS parameter references are disabled (ECOSYSTEM.md
section 3); every reference file is an override made here.
"""
import gc
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

pytest.importorskip("jwst", reason="jwst not installed (pip install rscd[jwst])")

from jwst.dark_current import DarkCurrentStep  # noqa: E402
from jwst.pipeline import Detector1Pipeline  # noqa: E402
from jwst.rscd import RscdStep  # noqa: E402
from stdatamodels.jwst import datamodels  # noqa: E402
from stpipe import Step  # noqa: E402

import rscd  # noqa: E402
import rscd.crds  # noqa: E402
from crds_cache import write_server_config  # noqa: E402
from fitsfiles import decay_reference, flag_reference, ramp_arrays, write_datamodel  # noqa: E402
from rscd.stpipe_steps import get_steps  # noqa: E402
from rscd.step import RscdFastDetector1Pipeline, RscdFastStep  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("S_RSCD", "R_RSCD", "INT1SKIP", "INT2SKIP", "INT1UGP1", "INT2UGP1", "INT1BORS",
        "INT2BORS")


@pytest.fixture(scope="module", autouse=True)
def _fast_gc():
    # stpipe runs gc.collect() for every step; with jwst imported the heap is large and
    # a 20-step pipeline spends most of its time there. Frozen objects are not scanned.
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
def offline_crds(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.getbasetemp() / "crds_cache"
    write_server_config(cache)
    monkeypatch.setenv("CRDS_PATH", str(cache))
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "True")
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    monkeypatch.delenv("CRDS_CONTEXT", raising=False)
    from crds.core import utils
    utils.clear_function_caches()
    return cache


def ramp_file(path, nints=3, ngroups=10, seed=0, **kw):
    """A RampModel file with the exposure keywords later pipeline steps read; ``nints``
    integrations in the arrays (keyword ``exposure_nints``: NINTS, if not the default)."""
    data, gdq, pdq = ramp_arrays(nints=nints, ngroups=ngroups, nrows=8, ncols=8, seed=seed)
    write_datamodel(path, data, gdq, pdq, nints=kw.pop("exposure_nints", None), **kw)
    with datamodels.RampModel(path) as model:
        exp = model.meta.exposure
        exp.nframes, exp.groupgap = 1, 0
        exp.frame_time = exp.group_time = 2.775
        exp.integration_time = 2.775 * ngroups
        sub = model.meta.subarray
        sub.xstart, sub.xsize, sub.ysize = 1, 8, 8
        model.meta.instrument.filter = "F770W"
        model.meta.observation.date = "2024-01-01"
        model.meta.observation.time = "00:00:00"
        model.save(path)
    return path


def outputs(folder):
    found = sorted(Path(folder).glob("*.fits"))
    assert len(found) == 1, found
    return found[0]


def compare_files(ours, theirs):
    with fits.open(ours) as a, fits.open(theirs) as b:
        for ext in ("SCI", "GROUPDQ", "PIXELDQ"):
            np.testing.assert_array_equal(a[ext].data, b[ext].data, err_msg=ext)
        for key in KEYS:
            assert a[0].header.get(key) == b[0].header.get(key), key
    with datamodels.RampModel(ours) as a, datamodels.RampModel(theirs) as b:
        assert a.meta.cal_step.rscd == b.meta.cal_step.rscd
        assert a.meta.ref_file.rscd.name == b.meta.ref_file.rscd.name
        assert a.meta.rscd.instance == b.meta.rscd.instance


CASES = {
    # name: (ramp_file kwargs, reference kwargs or "N/A")
    "flag": (dict(seed=1), dict(skip1=2, skip2p=4)),
    "backoff": (dict(seed=2, ngroups=12), dict(skip1=5, skip2p=7)),
    "segment": (dict(seed=3, integration_start=4, nints=9), dict(skip1=2, skip2p=4)),
    "one_int": (dict(seed=4, nints=1), dict(skip1=3, skip2p=4)),
    "five_groups": (dict(seed=5, ngroups=5), dict(skip1=3, skip2p=4)),
    "too_few_groups": (dict(seed=6, ngroups=2), dict(skip1=1, skip2p=1)),
    "no_match": (dict(seed=7, subarray="BRIGHTSKY"), dict(skip1=2, skip2p=4)),
    "override_na": (dict(seed=8), "N/A"),
    "non_miri": (dict(seed=9, detector="NRCA1"), dict(skip1=2, skip2p=4)),
    "deprecated": (dict(seed=10), dict(skip1=-1, skip2p=4)),     # group_skip1 = -1
    # NINTS = 5 while the file holds integrations 4..6 (issue 14.1)
    "nints_below_file": (dict(seed=12, integration_start=4, exposure_nints=5),
                         dict(skip1=2, skip2p=4)),
}


def step_warnings(records, prefix):
    """The WARNING (and above) messages logged by loggers under ``prefix``, in order."""
    return [r.getMessage() for r in records
            if r.levelno >= logging.WARNING and r.name.split(".")[0] == prefix]


@pytest.mark.parametrize("name", CASES)
def test_same_as_jwst_rscd_step(tmp_path, name, caplog):
    """Same file, metadata and warning lines as jwst's step: users and their scripts search
    the log for jwst's lines (issue 14.3: "READPATT, SUBARRAY combination not found" was
    said differently), so ours come first, rscd's more detailed ones after."""
    ramp_kw, ref_kw = CASES[name]
    path = ramp_file(tmp_path / "jw_t_linearity.fits", **ramp_kw)
    ref = ref_kw if ref_kw == "N/A" else str(flag_reference(tmp_path / "ref.fits", **ref_kw))
    logged = {}
    for cls, out in ((RscdStep, "jwst"), (RscdFastStep, "rscd")):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            result = cls.call(str(path), override_rscd=ref, save_results=True,
                              output_dir=str(tmp_path / out))
        result.close()
        logged[out] = step_warnings(caplog.records, out)
    compare_files(outputs(tmp_path / "rscd"), outputs(tmp_path / "jwst"))
    with fits.open(outputs(tmp_path / "rscd")) as hdul:
        expect = {"flag": "COMPLETE", "backoff": "COMPLETE", "segment": "COMPLETE",
                  "one_int": "COMPLETE", "five_groups": "COMPLETE", "deprecated": "COMPLETE",
                  "nints_below_file": "COMPLETE"}.get(name, "SKIPPED")
        assert hdul[0].header["S_RSCD"] == expect
    if name == "deprecated":
        assert "1 group flagged in integration 1" in logged["rscd"][-1]
    assert logged["rscd"][:len(logged["jwst"])] == logged["jwst"]
    assert bool(logged["jwst"]) == (expect == "SKIPPED" or name == "deprecated")


def test_returns_the_model_and_the_result(tmp_path):
    path = ramp_file(tmp_path / "jw_t_linearity.fits", seed=11)
    ref = flag_reference(tmp_path / "ref.fits", skip1=2, skip2p=4)
    step = RscdFastStep(override_rscd=str(ref))
    with datamodels.RampModel(path) as model:
        result = step.run(model)
        assert isinstance(result, datamodels.RampModel) and result is not model
        assert model.meta.cal_step.rscd is None           # the input is left alone
    data, gdq, pdq = ramp_arrays(nints=3, ngroups=10, nrows=8, ncols=8, seed=11)
    want = rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL")
    assert step.rscd_result == want
    np.testing.assert_array_equal(result.groupdq, gdq)
    assert result.meta.ref_file.rscd.name == str(ref.resolve())


def test_override_as_datamodel(tmp_path):
    path = ramp_file(tmp_path / "jw_t_linearity.fits", seed=12, ngroups=12)
    ref = flag_reference(tmp_path / "ref.fits", skip1=5, skip2p=7)
    by_path = RscdFastStep.call(str(path), override_rscd=str(ref))
    with datamodels.RSCDModel(ref) as ref_model:
        by_model = RscdFastStep.call(str(path), override_rscd=ref_model)
    np.testing.assert_array_equal(by_model.groupdq, by_path.groupdq)
    np.testing.assert_array_equal(by_model.pixeldq, by_path.pixeldq)
    assert by_model.meta.rscd.instance == by_path.meta.rscd.instance


@pytest.mark.parametrize("first", ["SUBPRISM", "SLITLESSPRISM"])
def test_override_model_with_subprism_rows_as_jwst(tmp_path, first):
    """Regression (issue 14.2): rows of an override RSCDModel named SUBPRISM were renamed
    SLITLESSPRISM, so a SUBPRISM row before the SLITLESSPRISM one decided; jwst never
    renames a table row."""
    path = ramp_file(tmp_path / "jw_t_linearity.fits", seed=13, ngroups=12,
                     subarray="SUBPRISM")
    rows = {"SUBPRISM": ("SUBPRISM", "FAST", 5, 7), "SLITLESSPRISM": ("SLITLESSPRISM",
                                                                       "FAST", 1, 2)}
    order = [rows[first]] + [r for name, r in rows.items() if name != first]
    ref = tmp_path / "ref.fits"
    rscd.write_flag_reference(ref, [rscd.SkipRow(*r) for r in order])
    with datamodels.RSCDModel(ref) as ref_model:
        ours = RscdFastStep.call(str(path), override_rscd=ref_model)
    with datamodels.RSCDModel(ref) as ref_model:
        theirs = RscdStep.call(str(path), override_rscd=ref_model)
    assert ours.meta.rscd.instance == theirs.meta.rscd.instance
    assert ours.meta.rscd.ngroups_skip_int2p == 2
    np.testing.assert_array_equal(ours.groupdq, theirs.groupdq)
    np.testing.assert_array_equal(ours.pixeldq, theirs.pixeldq)


def test_decay_method_parameter(tmp_path):
    path = ramp_file(tmp_path / "jw_t_linearity.fits", seed=13, ngroups=8)
    ref = decay_reference(tmp_path / "decay.fits")
    result = RscdFastStep.call(str(path), override_rscd=str(ref), method="decay")
    data, gdq, pdq = ramp_arrays(nints=3, ngroups=8, nrows=8, ncols=8, seed=13)
    want = rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL")
    assert want.method == "decay" and want.npix_corrected > 0
    np.testing.assert_array_equal(result.data, data)
    assert result.meta.cal_step.rscd == "COMPLETE"


def test_cmdline_output_name_and_suffix(tmp_path):
    path = ramp_file(tmp_path / "jw_t_linearity.fits", seed=14)
    ref = flag_reference(tmp_path / "ref.fits")
    Step.from_cmdline(["rscd.step.RscdFastStep", str(path), "--override_rscd", str(ref),
                       "--output_dir", str(tmp_path / "a"), "--method", "flag"])
    assert outputs(tmp_path / "a").name == "jw_t_rscd.fits"
    Step.from_cmdline(["rscd.step.RscdFastStep", str(path), f"--override_rscd={ref}",
                       f"--output_dir={tmp_path / 'b'}", "--suffix=myrscd", "--threads=2"])
    assert outputs(tmp_path / "b").name == "jw_t_myrscd.fits"
    with fits.open(outputs(tmp_path / "b")) as hdul:
        assert hdul[0].header["S_RSCD"] == "COMPLETE"
        assert hdul[0].header["R_RSCD"] == str(ref.resolve())


def test_cmdline_help(capsys):
    with pytest.raises(SystemExit) as exc:
        Step.from_cmdline(["rscd.step.RscdFastStep", "-h"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--method", "--threads", "--override_rscd", "--save_results",
                   "--output_dir", "--suffix"):
        assert option in out
    assert "'flag'" in out and "'decay'" in out


def test_bad_method_is_rejected(tmp_path):
    path = ramp_file(tmp_path / "jw_t_linearity.fits", seed=15)
    with pytest.raises(Exception, match="method"):
        Step.from_cmdline(["rscd.step.RscdFastStep", str(path), "--method", "fast"])


def _installed_entry_point():
    from importlib.metadata import entry_points
    return any(ep.value.startswith("rscd.stpipe_steps")
               for ep in entry_points(group="stpipe.steps"))


def stand_in_distribution(folder):
    """Until rscd is installed (pip install -e .), a dist-info folder declaring the same
    stpipe.steps entry point as pyproject.toml, to put on sys.path."""
    if _installed_entry_point():
        return []
    info = folder / "site" / "rscd-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rscd\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(
        "[stpipe.steps]\nrscd = rscd.stpipe_steps:get_steps\n")
    return [str(folder / "site")]


@pytest.mark.slow  # the strun executable in a new process: .ci/run runs it (pytest -m slow)
def test_strun_command(tmp_path):
    """The real ``strun`` executable with our alias (the stpipe.steps entry point)."""
    strun = shutil.which("strun", path=str(Path(sys.executable).parent)) or shutil.which("strun")
    if strun is None:
        pytest.skip("no strun executable next to this Python")
    path = ramp_file(tmp_path / "jw_t_linearity.fits", seed=16)
    ref = flag_reference(tmp_path / "ref.fits")
    # The rscd this process imported (source tree with an in-place build, or the installed
    # package), after the stand-in entry point so that it shadows a bare rscd.egg-info.
    extra = stand_in_distribution(tmp_path) + [str(Path(rscd.__file__).parent.parent)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        extra + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.run([strun, "rscd_fast", path.name, "--override_rscd", str(ref)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with fits.open(tmp_path / "jw_t_rscd.fits") as hdul:
        assert hdul[0].header["S_RSCD"] == "COMPLETE"
    assert "RSCD flag COMPLETE" in proc.stdout + proc.stderr     # our log reaches strun's


def test_output_opens_in_dark_current(tmp_path):
    path = ramp_file(tmp_path / "jw_t_linearity.fits", seed=17)
    ref = flag_reference(tmp_path / "ref.fits")
    RscdFastStep.call(str(path), override_rscd=str(ref), save_results=True,
                      output_dir=str(tmp_path))
    dark = make_dark(tmp_path / "dark.fits", ngroups=10)
    out = DarkCurrentStep.call(str(tmp_path / "jw_t_rscd.fits"), override_dark=str(dark))
    assert out.meta.cal_step.dark_sub == "COMPLETE"
    assert out.meta.cal_step.rscd == "COMPLETE"
    with datamodels.RampModel(tmp_path / "jw_t_rscd.fits") as before:
        np.testing.assert_allclose(out.data, before.data - 1.0)
        np.testing.assert_array_equal(out.groupdq, before.groupdq)


def _reference_meta(model, reftype):
    meta = model.meta
    meta.instrument.name = "MIRI"
    meta.instrument.detector = "MIRIMAGE"
    meta.subarray.name = "FULL"
    meta.subarray.xstart = meta.subarray.ystart = 1
    meta.subarray.xsize = model.data.shape[-1]
    meta.subarray.ysize = model.data.shape[-2]
    meta.reftype = reftype
    meta.description = f"tiny {reftype} for rscd tests"
    meta.author = "rscd tests"
    meta.pedigree = "DUMMY"
    meta.useafter = "2000-01-01T00:00:00"


def make_dark(path, ngroups, nrows=8, ncols=8):
    shape = (2, ngroups, nrows, ncols)
    dark = datamodels.DarkMIRIModel(data=np.ones(shape, np.float32),
                                    dq=np.zeros(shape, np.uint32))
    _reference_meta(dark, "DARK")
    dark.meta.exposure.readpatt = "FAST"
    dark.meta.exposure.nframes = 1
    dark.meta.exposure.groupgap = 0
    dark.meta.exposure.ngroups = ngroups
    dark.save(path)
    return path


def make_gain_readnoise(folder, nrows=8, ncols=8):
    paths = []
    for cls, name, value in ((datamodels.GainModel, "GAIN", 5.5),
                             (datamodels.ReadnoiseModel, "READNOISE", 20.0)):
        model = cls(data=np.full((nrows, ncols), value, np.float32))
        _reference_meta(model, name)
        model.save(folder / f"{name.lower()}.fits")
        paths.append(folder / f"{name.lower()}.fits")
    return paths


def pipeline_exposure(path, nints=3, ngroups=10):
    ramp_file(path, nints=nints, ngroups=ngroups, seed=18)
    with datamodels.RampModel(path) as model:
        model.data[...] = 1000 + 40 * np.arange(ngroups)[None, :, None, None]
        model.save(path)
    return path


#: Steps that need reference files we do not make offline; the run keeps group flagging
#: (rscd), dark subtraction, ramp fitting and gain scaling.
SKIPPED = [name for name in Detector1Pipeline.step_defs
           if name not in ("rscd", "dark_current", "ramp_fit", "gain_scale")]


def doc_parameter_file(folder):
    """The parameter-file example of docs/pipeline.md, exactly as documented."""
    text = (ROOT / "docs" / "pipeline.md").read_text()
    block = re.search(r"<!-- pipeline-parameter-file:[^>]*-->\s*```yaml\n(.*?)```", text,
                      re.S).group(1)
    path = folder / "detector1_rscd_fast.asdf"
    path.write_text(block)
    return path


@pytest.mark.slow  # two full Detector1 pipeline runs: .ci/run runs it (pytest -m slow)
def test_detector1_with_our_step(tmp_path):
    uncal = pipeline_exposure(tmp_path / "jw_p_uncal.fits")
    ref = flag_reference(tmp_path / "ref.fits", skip1=2, skip2p=4)
    dark = make_dark(tmp_path / "dark.fits", ngroups=10)
    gain, readnoise = make_gain_readnoise(tmp_path)
    overrides = {"rscd": {"override_rscd": str(ref)},
                 "dark_current": {"override_dark": str(dark)},
                 "ramp_fit": {"override_gain": str(gain), "override_readnoise": str(readnoise)},
                 "gain_scale": {"override_gain": str(gain)}}
    args = [f"--steps.{s}.{k}={v}" for s, kv in overrides.items() for k, v in kv.items()]
    args += [f"--steps.{s}.skip=true" for s in SKIPPED]

    # Ours, from the documented parameter file.
    step = Step.from_cmdline([str(doc_parameter_file(tmp_path)), str(uncal),
                              f"--output_dir={tmp_path / 'ours'}"] + args)
    assert isinstance(step, RscdFastDetector1Pipeline)
    assert isinstance(step.rscd, RscdFastStep) and step.rscd.method == "flag"
    # jwst's own pipeline, same settings.
    steps = {s: dict(kv) for s, kv in overrides.items()}
    steps.update({s: {"skip": True} for s in SKIPPED})
    Detector1Pipeline.call(str(uncal), steps=steps, save_results=True,
                           output_dir=str(tmp_path / "jwst")).close()

    for product in ("rate", "rateints"):
        ours, theirs = (tmp_path / d / f"jw_p_{product}.fits" for d in ("ours", "jwst"))
        with datamodels.open(ours) as a, datamodels.open(theirs) as b:
            assert a.meta.cal_step.rscd == b.meta.cal_step.rscd == "COMPLETE"
            assert a.meta.cal_step.dark_sub == "COMPLETE"
            assert a.meta.cal_step.ramp_fit == "COMPLETE"
            assert a.meta.ref_file.rscd.name == b.meta.ref_file.rscd.name == str(ref.resolve())
            assert a.meta.rscd.instance == b.meta.rscd.instance
            np.testing.assert_array_equal(a.data, b.data)
            np.testing.assert_array_equal(a.dq, b.dq)


def test_detector1_python_call(tmp_path):
    """The Python form documented: RscdFastDetector1Pipeline.call(..., steps={...})."""
    uncal = pipeline_exposure(tmp_path / "jw_p_uncal.fits")
    ref = flag_reference(tmp_path / "ref.fits", skip1=2, skip2p=4)
    steps = {s: {"skip": True} for s in Detector1Pipeline.step_defs if s != "rscd"}
    steps["rscd"] = {"override_rscd": str(ref), "method": "flag"}
    result = RscdFastDetector1Pipeline.call(str(uncal), steps=steps)
    assert isinstance(result, datamodels.RampModel)     # ramp_fit skipped: the ramp
    assert result.meta.cal_step.rscd == "COMPLETE"
    assert result.meta.rscd.ngroups_skip_int2p == 4


def test_detector1_rscd_skipped_is_recorded_as_rscd(tmp_path):
    uncal = pipeline_exposure(tmp_path / "jw_p_uncal.fits")
    steps = {s: {"skip": True} for s in Detector1Pipeline.step_defs}
    result = RscdFastDetector1Pipeline.call(str(uncal), steps=steps)
    assert result.meta.cal_step.rscd == "SKIPPED"
    assert RscdFastStep.class_alias == "rscd_fast"       # the class keeps its alias


def test_entry_point_function():
    steps = get_steps()
    assert ("rscd.step.RscdFastStep", "rscd_fast", False) in steps
    for class_path, alias, is_pipeline in steps:
        module, _, name = class_path.rpartition(".")
        cls = getattr(__import__(module, fromlist=[name]), name)
        assert cls.class_alias == alias
        assert alias != "rscd"
        assert issubclass(cls, Detector1Pipeline) == is_pipeline


def test_aliases_resolve(tmp_path, monkeypatch):
    from stpipe.utilities import resolve_step_class_alias
    for entry in stand_in_distribution(tmp_path):
        monkeypatch.syspath_prepend(entry)
    assert resolve_step_class_alias("rscd_fast") == "rscd.step.RscdFastStep"
    assert resolve_step_class_alias("rscd::rscd_fast") == "rscd.step.RscdFastStep"
    assert resolve_step_class_alias("rscd") == "jwst.step.RscdStep"      # no collision
    assert (resolve_step_class_alias("calwebb_detector1_rscd_fast")
            == "rscd.step.RscdFastDetector1Pipeline")


# --------------------------------------------------------------------------- issue 25

README_STRUN = ("strun rscd_fast rscd_demo/demo_mirimage_linearity.fits --override_rscd "
                "rscd_demo/example_rscd_flag.fits")


def closed_port():
    """A local TCP port nothing listens on (bound, then released): connections to it are
    refused at once."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def no_crds_environment(tmp_path):
    """No CRDS anywhere: CRDS_SERVER_URL a closed local port, CRDS_PATH an empty folder,
    CRDS parameter references not disabled (a user's default)."""
    empty = tmp_path / "empty_crds"
    empty.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("STPIPE_DISABLE_CRDS_STEPPARS", "CRDS_CONTEXT")}
    env.update(CRDS_PATH=str(empty), CRDS_SERVER_URL=f"https://127.0.0.1:{closed_port()}")
    return env


def executable(name):
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"no {name} executable next to this Python")
    return found


@pytest.mark.slow  # rscd demo and strun in new processes: .ci/run runs it (pytest -m slow)
def test_readme_demo_then_strun_offline(tmp_path):
    """Issue 25.1 and 25.2: the README's first command (its ``rscd demo rscd_demo``), then
    the README's ``strun rscd_fast`` on the demo's file with ``--override_rscd``, with no
    CRDS server reachable and an empty CRDS cache. It ended in ``KeyError: "Extension
    'ASDF' not found."`` (the demo's file lacked the extension), then in CRDS's fatal
    exit (status 255, no output) once it had it."""
    readme = (ROOT / "README.md").read_text()
    assert "rscd demo rscd_demo" in readme.split("\n\n    ", 1)[1].splitlines()[0]
    assert f"\n    {README_STRUN}\n" in readme
    env = no_crds_environment(tmp_path)
    demo = subprocess.run([executable("rscd"), "demo", "rscd_demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    proc = subprocess.run(README_STRUN.replace("strun", executable("strun"), 1).split(),
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    with fits.open(tmp_path / "demo_mirimage_rscd.fits") as hdul:
        assert hdul[0].header["S_RSCD"] == "COMPLETE"
        assert hdul[0].header["INT2SKIP"] == 3
    assert "CRDS - ERROR" not in log and "Traceback" not in log
    said = [line for line in log.splitlines() if "CRDS not asked" in line]
    assert len(said) == 1, log[-3000:]


def test_step_call_offline_with_override(tmp_path, monkeypatch):
    """``RscdFastStep.call`` with every reference given asks CRDS nothing: no server, an
    empty cache and CRDS parameter references enabled (jwst's own step exits here)."""
    for key, value in no_crds_environment(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("STPIPE_DISABLE_CRDS_STEPPARS", raising=False)
    from crds.core import utils
    utils.clear_function_caches()
    path = ramp_file(tmp_path / "jw_t_linearity.fits", seed=21)
    ref = flag_reference(tmp_path / "ref.fits")
    result = RscdFastStep.call(str(path), override_rscd=str(ref), save_results=True,
                               output_dir=str(tmp_path / "out"))
    assert result.meta.cal_step.rscd == "COMPLETE"
    assert result.meta.ref_file.rscd.name == str(ref.resolve())
    assert result.meta.ref_file.crds.context_used is None
    with fits.open(tmp_path / "out" / "jw_t_rscd.fits") as hdul:
        assert hdul[0].header["S_RSCD"] == "COMPLETE"
    utils.clear_function_caches()


@pytest.mark.slow  # strun in a new process: .ci/run runs it (pytest -m slow)
# stpipe 1.1's crds_client still calls crds' deprecated get_cache_lock.
@pytest.mark.filterwarnings("ignore:'get_cache_lock' is deprecated:DeprecationWarning")
def test_no_reference_and_no_crds_says_what_to_set(tmp_path, monkeypatch, caplog):
    """Without a reference file and without CRDS: one line that says what to set, no
    CRDS fatal-error lines (the process used to exit with status 255 from CRDS)."""
    for key, value in no_crds_environment(tmp_path).items():
        monkeypatch.setenv(key, value)
    from crds.core import utils
    utils.clear_function_caches()
    path = ramp_file(tmp_path / "jw_t_linearity.fits", seed=22)
    with caplog.at_level(logging.INFO), pytest.raises(rscd.crds.CRDSUnavailable) as exc:
        RscdFastStep.call(str(path))
    message = str(exc.value)
    assert "\n" not in message
    for word in ("CRDS_PATH=", "CRDS_SERVER_URL=", "--override_rscd REF.fits",
                 "https://jwst-crds.stsci.edu"):
        assert word in message
    assert not [r for r in caplog.records if r.name == "CRDS" and r.levelno >= logging.ERROR]
    strun = subprocess.run([executable("strun"), "rscd_fast", path.name], cwd=tmp_path,
                           env=no_crds_environment(tmp_path), capture_output=True, text=True,
                           timeout=300)
    said = strun.stdout + strun.stderr
    assert strun.returncode == 1
    assert "Traceback" not in said and "CRDS - ERROR" not in said
    assert "--override_rscd" in said
    utils.clear_function_caches()


def every_ramp_file_rscd_writes(folder):
    """{what: path} for every kind of ramp file rscd writes: the demo's exposure and its two
    corrections, the simulated files of ``python -m rscd.simulate``, an ``apply_file``
    output and an in-place result (in the file's own header room and through the copy)."""
    from rscd.demo import run_demo
    from rscd.simulate import EXAMPLES, write_simulated
    paths = run_demo(folder / "demo", out=lambda line: None)
    files = {k: Path(paths[k]) for k in ("exposure", "flag", "decay")}
    name = next(iter(EXAMPLES))
    files["simulated"] = Path(write_simulated(folder / name, **EXAMPLES[name]))
    files["apply_file"] = folder / "sim_rscd.fits"
    rscd.apply_file(files["simulated"], paths["flag_reference"], output=files["apply_file"])
    for what, src in (("in_place_room", files["flag"]), ("in_place_copy", files["exposure"])):
        dest = folder / f"{what}_linearity.fits"
        shutil.copy(src, dest)
        rscd.apply_file(dest, paths["decay_reference"], inplace=True, force=True)
        files[what] = dest
    return files


def test_jwst_reads_every_file_rscd_writes(tmp_path):
    """Issue 25.1: ``jwst.datamodels.open`` and stpipe's metadata reader (``strun``'s first
    call) read every ramp file rscd writes."""
    from jwst.datamodels import open as jwst_open
    from stdatamodels.jwst.datamodels.util import read_metadata
    for what, path in every_ramp_file_rscd_writes(tmp_path).items():
        with jwst_open(str(path)) as model:
            assert isinstance(model, datamodels.RampModel), what
            assert model.meta.instrument.detector == "MIRIMAGE", what
            with fits.open(path) as hdul:
                np.testing.assert_array_equal(model.groupdq, hdul["GROUPDQ"].data)
                assert model.meta.cal_step.rscd == hdul[0].header.get("S_RSCD"), what
        meta = read_metadata(str(path))
        assert meta["meta.instrument.name"] == "MIRI", what
        params, observatory = RscdFastStep._get_crds_parameters(str(path))
        assert observatory == "jwst" and params["meta.exposure.readpatt"], what
