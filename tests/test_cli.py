"""The ``rscd`` command: exit codes, messages, subcommands."""
import os

import pytest
from astropy.io import fits

import rscd
from children import run_rscd
from rscd.cli import main
from fitsfiles import decay_reference, flag_reference, ramp_arrays, sha256, write_astropy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(rscd.__file__)))


@pytest.fixture
def files(tmp_path):
    data, gdq, pdq = ramp_arrays()
    return {"a": write_astropy(str(tmp_path / "a_linearity.fits"), data, gdq, pdq),
            "b": write_astropy(str(tmp_path / "b_uncal.fits"), data, gdq, pdq),
            "flag": flag_reference(str(tmp_path / "ref_flag.fits")),
            "decay": decay_reference(str(tmp_path / "ref_decay.fits"))}


def run_module(*args, cwd=None):
    return run_rscd(*args, cwd=cwd)


def test_version_and_help_subprocess():
    proc = run_module("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"rscd {rscd.__version__}"
    proc = run_module("-h")
    assert proc.returncode == 0
    for word in ("--reference", "--override_rscd", "--in-place", "--method", "exit status",
                 "rscd demo"):
        assert word in proc.stdout


def test_no_arguments_is_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_one_file(files, tmp_path, capsys):
    before = sha256(files["a"])
    assert main([files["a"], "--reference", files["flag"]]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("\n") == 1
    assert files["a"] in out and "a_rscd.fits" in out and "flag COMPLETE" in out
    assert sha256(files["a"]) == before
    assert fits.getval(str(tmp_path / "a_rscd.fits"), "S_RSCD") == "COMPLETE"


def test_override_rscd_alias_and_output_dir(files, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    assert main([files["a"], files["b"], "--override_rscd", files["decay"],
                 "--output-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line[:6] for line in out] == ["[1/2] ", "[2/2] "]
    assert all("decay COMPLETE" in line for line in out)
    assert sorted(os.listdir(tmp_path / "out")) == ["a_rscd.fits", "b_rscd.fits"]


def test_output_dir_is_created_with_its_parents(files, tmp_path, capsys):
    # issue 17: "--output-dir out/" failed when out/ did not exist, as the docs write it
    out = tmp_path / "new" / "out"
    assert main([files["a"], "-r", files["flag"], "--output-dir", str(out) + os.sep]) == 0
    assert str(out / "a_rscd.fits") in capsys.readouterr().out
    assert fits.getval(str(out / "a_rscd.fits"), "S_RSCD") == "COMPLETE"
    res = rscd.apply_file(files["b"], files["flag"], output_dir=tmp_path / "py" / "out")
    assert res.status == "COMPLETE" and (tmp_path / "py" / "out" / "b_rscd.fits").is_file()


def test_output_dir_not_created_on_refusal(files, tmp_path, capsys):
    # a refusal (here: decay on a file already corrected) leaves no folder behind
    assert main([files["a"], "-r", files["decay"], "--in-place", "-q"]) == 0
    assert main([files["a"], "-r", files["decay"], "-o", str(tmp_path / "never")]) == 1
    assert "--force" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_in_place_and_decay_refusal(files, capsys):
    st = os.stat(files["a"])
    assert main([files["a"], "-r", files["decay"], "--in-place"]) == 0
    assert "in place" in capsys.readouterr().out
    assert os.stat(files["a"]).st_ino == st.st_ino
    assert main([files["a"], "-r", files["decay"], "--in-place"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--force" in err
    assert main([files["a"], "-r", files["decay"], "--in-place", "--force"]) == 0


def test_failures_exit_non_zero_one_line_each(files, tmp_path, capsys):
    garbage = tmp_path / "garbage.fits"
    garbage.write_bytes(b"\0" * 3000)
    missing = str(tmp_path / "missing.fits")
    code = main([files["a"], str(garbage), missing, files["flag"], "-r", files["flag"]])
    assert code == 1
    out, err = capsys.readouterr()
    assert out.count("COMPLETE") == 1
    lines = err.splitlines()
    assert len(lines) == 4 and lines[-1] == "rscd: error: 3 of 4 files failed"
    assert all(line.startswith("rscd: error: ") for line in lines)
    assert "garbage.fits" in lines[0] and "missing.fits" in lines[1] and "SCI" in lines[2]
    assert "Traceback" not in err
    assert not (tmp_path / "garbage_rscd.fits").exists()


def test_existing_output_needs_overwrite(files, capsys):
    assert main([files["a"], "-r", files["flag"], "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    assert main([files["a"], "-r", files["flag"]]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main([files["a"], "-r", files["flag"], "--overwrite"]) == 0


def test_bad_reference_exit_2(files, tmp_path, capsys):
    bad = tmp_path / "bad_ref.fits"
    bad.write_text("hello")
    assert main([files["a"], "-r", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad_ref.fits" in err and "Traceback" not in err
    assert main([files["a"], "-r", str(tmp_path / "nope.fits")]) == 2
    assert "nope.fits" in capsys.readouterr().err
    assert not os.path.exists(files["a"].replace("_linearity", "_rscd"))


def test_usage_errors(files, tmp_path, capsys):
    assert main([files["a"], "-r", files["flag"], "--in-place", "-o", str(tmp_path)]) == 2
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main([files["a"], "-r", files["flag"], "-o", str(blocker)]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main([files["a"], "-r", files["flag"], "--threads", "0"]) == 2
    with pytest.raises(SystemExit):
        main([files["a"], "-r", files["flag"], "--method", "fast"])


def test_debug_shows_traceback(tmp_path, files, capsys):
    garbage = tmp_path / "g.fits"
    garbage.write_bytes(b"x" * 100)
    assert main([str(garbage), "-r", files["flag"], "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_warnings_become_log_lines(files, tmp_path, capsys):
    src = write_astropy(str(tmp_path / "s_uncal.fits"), *ramp_arrays(), READPATT="SLOW")
    assert main([src, "-r", files["flag"]]) == 0
    out, err = capsys.readouterr()
    assert "SKIPPED" in out
    assert err.startswith("rscd: WARNING: ") and "READPATT=SLOW" in err
    assert main([src, "-r", files["flag"], "--overwrite", "-q"]) == 0
    assert capsys.readouterr() == ("", "")


def test_verbose_logs_info(files, capsys):
    assert main([files["a"], "-r", files["flag"], "-v"]) == 0
    assert "rscd: INFO:" in capsys.readouterr().err


def test_demo(tmp_path):
    proc = run_module("demo", str(tmp_path / "demo"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    names = sorted(os.listdir(tmp_path / "demo"))
    figures = ["demo_mirimage_decay_rscd_ramp.png", "demo_mirimage_flag_rscd_ramp.png"]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        figures = []
    assert names == sorted(["demo_mirimage_decay_rscd.fits", "demo_mirimage_flag_rscd.fits",
                            "demo_mirimage_linearity.fits", "example_rscd_decay.fits",
                            "example_rscd_flag.fits"] + figures)
    assert "flag COMPLETE" in proc.stdout and "decay COMPLETE" in proc.stdout
    for name in ("example_rscd_decay.fits", "example_rscd_flag.fits"):
        header = fits.getheader(str(tmp_path / "demo" / name))
        assert header["PEDIGREE"] == "DUMMY" and "EXAMPLE" in header["DESCRIP"]
    # the demo exposure is a proper ramp file for the command itself
    demo = tmp_path / "demo"
    assert main([str(demo / "demo_mirimage_linearity.fits"), "-r",
                 str(demo / "example_rscd_flag.fits"), "-q"]) == 0


def test_demo_default_dir_and_help(tmp_path, capsys):
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["demo"]) == 0
    finally:
        os.chdir(old)
    assert (tmp_path / "rscd_demo" / "demo_mirimage_flag_rscd.fits").exists()
    assert "done" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["demo", "-h"])
    assert info.value.code == 0
    assert "not calibration data" in capsys.readouterr().out


def test_demo_second_run_needs_overwrite(tmp_path, capsys):
    # issue 17: one overwrite rule; rscd demo replaced an earlier run's files silently
    demo = tmp_path / "demo"
    assert main(["demo", str(demo)]) == 0
    capsys.readouterr()
    (demo / "mine.txt").write_text("keep")
    with fits.open(demo / "demo_mirimage_linearity.fits", mode="update") as hdul:
        hdul[0].header["MINE"] = "changed by the user"
    before = {name: sha256(str(demo / name)) for name in os.listdir(demo)}
    assert main(["demo", str(demo)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--overwrite" in err
    assert {name: sha256(str(demo / name)) for name in os.listdir(demo)} == before
    assert main(["demo", str(demo), "--overwrite"]) == 0
    assert "afresh" in capsys.readouterr().out
    assert "MINE" not in fits.getheader(str(demo / "demo_mirimage_linearity.fits"))
    assert (demo / "mine.txt").read_text() == "keep"


def test_demo_into_unusable_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["demo", str(blocker / "sub")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rscd: error: demo:") and "Traceback" not in err


def test_j_is_jobs_and_t_is_threads(files, capsys):
    """-j is the short form of --jobs, as for make and pytest users; --threads is -t
    (issue 16; -j used to mean --threads). The refusal names the option meant."""
    assert main([files["a"], files["b"], "-r", files["flag"], "-j", "0"]) == 2
    assert "--jobs must be >= 1" in capsys.readouterr().err
    assert main([files["a"], "-r", files["flag"], "-t", "0"]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err
    assert main([files["a"], files["b"], "-r", files["flag"], "-j", "2", "-t", "1"]) == 0
    for path in (files["a"], files["b"]):
        base = os.path.basename(path).replace("_linearity", "_rscd").replace("_uncal", "_rscd")
        assert fits.getval(os.path.join(os.path.dirname(path), base), "S_RSCD") == "COMPLETE"
