"""rscd.plot: the ramp figure of the JWST pipeline's 2019 RSCD notebook (before/after and
ratio) for both methods."""
import builtins
import pathlib
import sys
import types

import numpy as np
import pytest
from astropy.io import fits

import rscd
from rscd import cli, plot
from rscd.fits import open_ramp
from rscd.demo import synthetic_exposure, write_example_references, write_ramp_file
from rscd.dq import DO_NOT_USE, REFERENCE_PIXEL, SATURATED
from rscd.reference import DecayCoeffs, DecayRow, Reference, SkipRow
NINTS, NGROUPS, NROWS, NCOLS = 3, 8, 10, 14
SKIP1, SKIP2P = 1, 2
BRIGHT = (6, 9)          # the brightest pixel that does not saturate
STAR = (3, 6)            # saturates early in every integration

FLAG_REF = Reference(name="r", skip_rows=(SkipRow("FULL", "FAST", SKIP1, SKIP2P),))
_COEFFS = dict(tau=1.5, ascale=3e-7, pow=1.0, illum_zp=1.0, illum_slope=0.0, illum2=0.0,
               param3=1e7, crossopt=0.0, sat_zp=1.0, sat_slope=0.0, sat_2=0.0, sat_mzp=3.0,
               sat_rowterm=0.0, sat_scale=0.0)
DECAY_REF = Reference(name="d", decay_rows=(DecayRow(
    "FULL", "FAST", DecayCoeffs(**_COEFFS), DecayCoeffs(**{**_COEFFS, "ascale": 2.5e-7})),))


def exposure():
    """Ramps of a faint sky, one bright unsaturated pixel, one saturating pixel and 4
    reference columns on each side (REFERENCE_PIXEL), with an RSCD-like deficit in the
    first groups of integrations 2+."""
    rng = np.random.default_rng(7)
    rate = 20 + 5 * rng.random((NROWS, NCOLS))
    rate[BRIGHT] = 4000.0
    rate[STAR] = 30000.0
    groups = np.arange(1, NGROUPS + 1)[:, None, None]
    data = np.empty((NINTS, NGROUPS, NROWS, NCOLS), np.float32)
    groupdq = np.zeros(data.shape, np.uint8)
    for i in range(NINTS):
        ramp = 8000 + rate * groups
        if i:
            ramp = ramp - 0.03 * data[i - 1, -1] * np.exp(-groups / 1.5)
        sat = ramp >= 60000
        ramp[sat] = 60000
        data[i] = ramp
        groupdq[i][sat] = SATURATED
    data[:, :, :, :4] = data[:, :, :, -4:] = 8000.0
    pixeldq = np.zeros((NROWS, NCOLS), np.uint32)
    pixeldq[:, :4] = pixeldq[:, -4:] = REFERENCE_PIXEL
    return data, groupdq, pixeldq


def corrected(method):
    """(before, after) tuples of (data, groupdq, pixeldq), after = rscd.apply(method)."""
    before = exposure()
    after = tuple(a.copy() for a in before)
    res = rscd.apply(*after, FLAG_REF if method == "flag" else DECAY_REF,
                     readpatt="FAST", subarray="FULL", method=method)
    assert res.status == "COMPLETE"
    return before, after


@pytest.fixture
def mpl():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt
    yield mpl
    plt.close("all")


def write_ramp(path, data, groupdq, pixeldq):
    primary = fits.PrimaryHDU()
    primary.header.update(DETECTOR="MIRIMAGE", READPATT="FAST", SUBARRAY="FULL",
                          NINTS=data.shape[0], NGROUPS=data.shape[1])
    fits.HDUList([primary, fits.ImageHDU(data, name="SCI"),
                  fits.ImageHDU(pixeldq, name="PIXELDQ"),     # uint32: BZERO = 2**31
                  fits.ImageHDU(groupdq, name="GROUPDQ")]).writeto(path)
    return str(path)


def legend_texts(ax):
    legend = ax.get_legend()
    assert legend is not None, "the top panel has no legend"
    return [t.get_text() for t in legend.get_texts()]


def check_png(path, dpi):
    import matplotlib.image
    assert path.is_file()
    assert path.stat().st_size > 8_000
    image = matplotlib.image.imread(path)
    width, height = plot._FIGSIZE
    assert image.shape == (round(height * dpi), round(width * dpi), 4)
    assert image[..., :3].std() > 0.05          # not blank


# ----------------------------------------------------------------------- pick_pixel


@pytest.mark.parametrize("method", ["flag", "decay"])
def test_pick_pixel_picks_a_changed_bright_science_pixel(method):
    (data, gdq, pdq), (data2, gdq2, pdq2) = corrected(method)
    y, x = plot.pick_pixel((data, gdq, pdq), (data2, gdq2, pdq2))
    assert not pdq[y, x] & REFERENCE_PIXEL
    if method == "decay":
        assert np.any(data2[-1, :, y, x] != data[-1, :, y, x])
    else:
        assert np.any((gdq2[-1, :, y, x] & DO_NOT_USE) & ~(gdq[-1, :, y, x] & DO_NOT_USE))
    assert (y, x) == BRIGHT


def test_pick_pixel_is_the_brightest_previous_last_frame_among_changed_pixels():
    before, after = corrected("decay")
    data, groupdq, pixeldq = before
    data[1, -1, 2, 5] = 50000.0      # brightest last frame of integration 2, not saturated
    data[1, -1, 2, 6] = 59000.0      # brighter, but saturated in integration 3 ...
    groupdq[2, 3:, 2, 6] = SATURATED
    data[1, -1, 7, 5] = 59500.0      # ... or not changed by the correction
    after = (after[0].copy(), after[1], after[2])
    after[0][2, :, 7, 5] = data[2, :, 7, 5]
    assert plot.pick_pixel(before, after, integration_number=3) == (2, 5)
    # in the first integration, with none before it: the largest rise of the ramp
    flag_after = corrected("flag")[1]
    assert plot.pick_pixel(exposure(), flag_after, integration_number=1) == BRIGHT


def test_flag_and_decay_outputs_of_the_demo_give_one_pixel(tmp_path):
    # issue 17.7: `rscd plot` of the demo's flag output drew another pixel than the demo's
    # figures (chosen from the decay output: the largest change, not the brightest ramp)
    write_ramp_file(tmp_path / "in.fits", *synthetic_exposure())
    refs = write_example_references(tmp_path)
    outputs = {}
    for method, ref in zip(("flag", "decay"), refs):
        outputs[method] = str(tmp_path / f"{method}.fits")
        rscd.apply_file(tmp_path / "in.fits", ref, output=outputs[method], method=method)
    picked = {m: plot.pick_pixel(tmp_path / "in.fits", out) for m, out in outputs.items()}
    assert picked["flag"] == picked["decay"]
    for number in (2, -2):
        assert plot.pick_pixel(tmp_path / "in.fits", outputs["flag"],
                               integration_number=number) == \
            plot.pick_pixel(tmp_path / "in.fits", outputs["decay"], integration_number=number)


def test_pick_pixel_avoids_reference_pixels_even_when_they_changed_most():
    before = exposure()
    data2 = before[0].copy()
    data2[-1, 0, 2, 0] += 1e6               # a reference pixel "changed" a lot
    data2[-1, 0, 5, 7] += 10.0              # a science pixel a little
    assert plot.pick_pixel(before, (data2, before[1], before[2])) == (5, 7)
    # without PIXELDQ, MIRI's reference columns (detector columns 1-4) are avoided
    assert plot.pick_pixel(before[:2], (data2, before[1])) == (5, 7)


def test_pick_pixel_flag_prefers_full_skip_over_backed_off():
    before, after = corrected("flag")
    y, x = plot.pick_pixel(before, after, integration_number=-1)
    newly = ((after[1][-1, :, y, x] & DO_NOT_USE) != 0).sum()
    assert newly == SKIP2P
    assert plot.pick_pixel(before, after, integration_number=1) == BRIGHT   # SKIP1 groups


def test_pick_pixel_needs_no_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    before, after = corrected("decay")
    assert plot.pick_pixel(before, after) == BRIGHT


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(integration_number=4), ValueError,
     r"integration_number 4 is out of range.*3 integration\(s\) \(1 \.\.\. 3"),
    (dict(integration_number=0), ValueError, "integration_number 0 is out of range"),
    (dict(integration_number=-4), ValueError, "out of range"),
    (dict(integration_number=1.0), TypeError, "integration_number must be an integer"),
])
def test_pick_pixel_bad_arguments(kwargs, error, message):
    before, after = corrected("flag")
    with pytest.raises(error, match=message):
        plot.pick_pixel(before, after, **kwargs)


def test_integration_counts_from_1_as_the_command_line_and_the_old_index_warns(mpl, tmp_path):
    # issue 16: integration was an index from 0 in Python, a number from 1 in rscd plot
    before, after = corrected("decay")
    fig = plot.ramp(before, after, integration_number=2)
    assert "integration 2 of 3" in fig._suptitle.get_text()
    for old, new in ((0, 1), (1, 2), (2, 3), (-1, -1), (-3, 1)):
        with pytest.warns(DeprecationWarning, match=r"integration_number=.*i \+ 1"):
            assert plot.pick_pixel(before, after, old) == \
                plot.pick_pixel(before, after, integration_number=new)
    with pytest.warns(DeprecationWarning) as caught:
        fig = plot.ramp(before, after, (5, 7), 1)              # the old positional call
    assert "integration 2 of 3" in fig._suptitle.get_text()
    with pytest.warns(DeprecationWarning) as more:
        plot.save_figure(before, after, tmp_path / "f.png", integration=0, dpi=20)
        plot.pick_pixel(before, after, integration=0)
    # shown where the user's code calls, not inside rscd (Python hides it there)
    assert [w.filename for w in [*caught, *more]] == [__file__] * 3
    with pytest.warns(DeprecationWarning), \
            pytest.raises(ValueError, match=r"integration 3 is out of range.*\(0 \.\.\. 2"):
        plot.pick_pixel(before, after, integration=3)


def test_inputs_must_agree_and_be_understood():
    before, after = corrected("flag")
    with pytest.raises(ValueError, match="before and after differ in shape"):
        plot.pick_pixel(before, tuple(a[:2] if a.ndim == 4 else a for a in after[:2]))
    with pytest.raises(TypeError, match="before must be a FITS file path"):
        plot.pick_pixel(42, after)
    with pytest.raises(ValueError, match="GROUPDQ has shape"):
        plot.pick_pixel((before[0], before[1][:, :2]), after)


# ----------------------------------------------------------------------- figures


def test_flag_figure_marks_do_not_use_groups(mpl):
    before, after = corrected("flag")
    fig = plot.ramp(before, after, pixel=BRIGHT)
    top, bottom = fig.axes
    assert len(fig.axes) == 2
    assert top.get_shared_x_axes().joined(top, bottom)
    texts = legend_texts(top)
    assert any("DO_NOT_USE set by RSCD (groups 1\u20132)" in t for t in texts), texts
    assert any("SCI unchanged" in t for t in texts), texts
    # the flagged groups are shaded (axvspan) and drawn with open markers
    spans = [p for p in top.patches if p.get_alpha() and p.get_alpha() < 1]
    assert spans, "no shaded band for the flagged groups"
    open_markers = [ln for ln in top.lines if ln.get_markerfacecolor() in ("white", "w")
                    or tuple(ln.get_markerfacecolor()) == (1.0, 1.0, 1.0, 1.0)]
    assert open_markers
    assert list(open_markers[0].get_xdata()) == list(range(1, SKIP2P + 1))
    assert "integration 3 of 3" in fig._suptitle.get_text()
    assert "(6, 9)" in fig._suptitle.get_text()
    assert bottom.get_xlabel() == "group number"
    assert "DN" in top.get_ylabel()
    assert "ratio" in bottom.get_ylabel()


def test_decay_figure_shows_both_ramps_and_ratio(mpl):
    before, after = corrected("decay")
    fig = plot.ramp(before, after)                # pixel chosen automatically
    top, bottom = fig.axes
    texts = legend_texts(top)
    assert texts[:2] == ["input ramp", "RSCD corrected ramp"]
    assert not any("DO_NOT_USE" in t for t in texts)
    assert "RSCD correction (decay)" in fig._suptitle.get_text()
    ratio = [ln for ln in bottom.lines if ln.get_label() == "input / corrected"][0]
    values = np.asarray(ratio.get_ydata())
    assert values[0] < 0.99 and abs(values[-1] - 1) < 1e-3   # first groups were low


def test_ramp_draws_into_given_axes(mpl):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 1, sharex=True)
    before, after = corrected("decay")
    assert plot.ramp(before, after, pixel=(5, 7), axes=axes, title="mine") is fig
    assert axes[0].get_title() == "mine"
    with pytest.raises(ValueError, match="axes must be two Axes"):
        plot.ramp(before, after, axes=axes[:1])


def test_ramp_accepts_a_rampmodel_like_object(mpl):
    before, after = corrected("flag")
    model = types.SimpleNamespace(data=after[0], groupdq=after[1], pixeldq=after[2])
    fig = plot.ramp(before, model, pixel=BRIGHT, integration_number=1)
    assert any("group 1)" in t for t in legend_texts(fig.axes[0]))


@pytest.mark.parametrize("method", ["flag", "decay"])
def test_save_figure_png(mpl, tmp_path, method):
    before, after = corrected(method)
    path = tmp_path / f"{method}.png"
    assert plot.save_figure(before, after, path, dpi=60) == BRIGHT
    check_png(path, 60)


def test_save_figure_of_a_saturating_pixel(mpl, tmp_path):
    before, after = corrected("flag")
    path = tmp_path / "star.png"
    plot.save_figure(before, after, path, pixel=STAR, dpi=40)
    check_png(path, 40)


def test_bad_pixel_is_refused(mpl):
    before, after = corrected("flag")
    with pytest.raises(ValueError, match=r"pixel \(y, x\) = \(10, 0\) is outside the 10 x 14"):
        plot.ramp(before, after, pixel=(10, 0))
    with pytest.raises(TypeError, match="pixel must be a pair"):
        plot.ramp(before, after, pixel=5)


# ----------------------------------------------------------------------- files, CLI, demo


@pytest.fixture
def files(tmp_path):
    paths = {"input": write_ramp(tmp_path / "x_linearity.fits", *exposure())}
    for method in ("flag", "decay"):
        _, after = corrected(method)
        paths[method] = write_ramp(tmp_path / f"x_{method}_rscd.fits", *after)
    return paths


def test_files_are_read_with_pixeldq_unscaled_correctly(files):
    # PIXELDQ is stored int32 + BZERO: the reference columns must still be recognised
    mask = (open_ramp(files["input"]).pixeldq & REFERENCE_PIXEL) != 0
    assert mask[:, :4].all() and mask[:, -4:].all() and not mask[:, 4:-4].any()
    assert plot.pick_pixel(files["input"], files["decay"]) == BRIGHT
    assert plot.pick_pixel(files["input"], files["flag"]) == BRIGHT


def test_cli_writes_the_figure(mpl, files, tmp_path, capsys):
    out = tmp_path / "fig.png"
    assert plot.main([files["input"], files["flag"], "--pixel", "6", "9",
                      "--integration", "2", "-o", str(out), "--dpi", "50"]) == 0
    assert capsys.readouterr().out.strip() == \
        f"wrote {out}: pixel (y, x) = (6, 9), integration 2 of 3"
    check_png(out, 50)
    assert plot.main([files["input"], files["decay"], "--dpi", "40"]) == 0
    default = tmp_path / "x_decay_rscd_ramp.png"
    assert "pixel (y, x) = (6, 9), integration 3 of 3" in capsys.readouterr().out
    check_png(default, 40)


@pytest.mark.parametrize("extra, message", [
    (["--integration", "4"], r"--integration 4: .* holds 3 integration\(s\); give 1 \.\.\. 3"),
    (["--integration", "0"], "--integration 0"),
    (["--pixel", "99", "0"], r"pixel \(y, x\) = \(99, 0\) is outside"),
])
def test_cli_errors_are_one_line(mpl, files, tmp_path, capsys, extra, message):
    import re
    assert plot.main([files["input"], files["flag"], "-o", str(tmp_path / "f.png")]
                     + extra) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rscd plot: error: ")
    assert re.search(message, err), err


def test_cli_missing_and_non_fits_files(mpl, files, tmp_path, capsys):
    assert plot.main([str(tmp_path / "nope.fits"), files["flag"]]) == 1
    assert "nope.fits: no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.fits"
    junk.write_text("not fits")
    assert plot.main([str(junk), files["flag"]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rscd plot: error: ") and err.count("\n") == 1
    empty = tmp_path / "empty.fits"
    fits.PrimaryHDU().writeto(empty)
    assert plot.main([str(empty), files["flag"]]) == 1
    assert "no SCI extension" in capsys.readouterr().err


def test_cli_refuses_an_existing_figure_without_overwrite(mpl, files, tmp_path, capsys):
    # issue 17.7: rscd plot replaced its figure silently; rscd itself refuses without
    # --overwrite
    out = tmp_path / "fig.png"
    out.write_bytes(b"mine")
    args = [files["input"], files["flag"], "-o", str(out), "--dpi", "30"]
    assert cli.main(["plot", *args]) == 1
    err = capsys.readouterr().err
    assert err == f"rscd plot: error: {out} exists; use --overwrite (overwrite=True) to " \
                  "replace it\n"
    assert out.read_bytes() == b"mine"
    assert cli.main(["plot", *args, "--overwrite"]) == 0
    check_png(out, 30)


def test_figure_never_replaces_a_ramp_file(mpl, files, capsys):
    flag = pathlib.Path(files["flag"])
    before = flag.read_bytes()
    assert cli.main(["plot", files["input"], files["flag"], "-o", files["flag"],
                     "--overwrite"]) == 1
    assert "is a ramp file being drawn" in capsys.readouterr().err
    assert flag.read_bytes() == before


def test_cli_defines_rscd_plot(mpl, files, tmp_path, capsys):
    # one definition of the options: rscd plot (cli.py) and python -m rscd.plot agree
    assert cli.main(["plot", files["input"], files["flag"], "-o", str(tmp_path / "a.png"),
                     "-i", "-1", "--dpi", "30"]) == 0
    assert plot.main([files["input"], files["flag"], "-o", str(tmp_path / "b.png"),
                      "-i", "-1", "--dpi", "30"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":", 1)[1] for ln in lines] == \
        [" pixel (y, x) = (6, 9), integration 3 of 3"] * 2


def test_cli_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        plot.main(["only_one.fits"])
    assert exc.value.code == 2
    assert "usage: rscd plot" in capsys.readouterr().err


def test_demo_figures(mpl, files, tmp_path):
    out = plot.demo_figures(tmp_path, files["input"], files["flag"], files["decay"])
    assert out["pixel"] == BRIGHT
    for method in ("flag", "decay"):
        assert out[method] == str(tmp_path / f"x_{method}_rscd_ramp.png")
        check_png(tmp_path / f"x_{method}_rscd_ramp.png", 150)


# ----------------------------------------------------------------------- no matplotlib


def _hide_matplotlib(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_missing_matplotlib_says_how_to_install(monkeypatch, tmp_path, files, capsys):
    _hide_matplotlib(monkeypatch)
    before, after = corrected("flag")
    for call in (lambda: plot.ramp(before, after),
                 lambda: plot.save_figure(before, after, tmp_path / "f.png"),
                 lambda: plot.demo_figures(tmp_path, files["input"], files["flag"],
                                           files["decay"])):
        with pytest.raises(ImportError, match="pip install matplotlib "):
            call()
    assert plot.main([files["input"], files["flag"]]) == 1
    err = capsys.readouterr().err
    # issue 17: the hint named "rscd[plot]", which no package index holds
    assert err.count("\n") == 1 and "pip install matplotlib " in err and "rscd[" not in err
    assert not (tmp_path / "f.png").exists()


# --------------------------------------------------------------------------- issue 25.4

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_call_after_import_rscd_only(tmp_path):
    """``import rscd; rscd.plot.ramp(...)`` as the README writes it: rscd.plot is an
    attribute of rscd (it raised AttributeError), matplotlib is not imported by ``import
    rscd``, and the README's signature raises no DeprecationWarning (it showed the
    deprecated ``integration=-1``). A fresh process, warnings as errors."""
    pytest.importorskip("matplotlib")
    import re
    import subprocess
    readme = (ROOT / "README.md").read_text()
    (call,) = re.findall(r"`(rscd\.plot\.ramp\([^`]*\))`", readme)
    before, after = corrected("decay")
    np.savez(tmp_path / "ramps.npz", *before, *after)
    code = ("import sys, numpy as np, rscd\n"
            "assert 'matplotlib' not in sys.modules and 'rscd.plot' not in sys.modules\n"
            f"a = np.load({str(tmp_path / 'ramps.npz')!r})\n"
            "before = tuple(a[f'arr_{i}'] for i in range(3))\n"
            "after = tuple(a[f'arr_{i}'] for i in range(3, 6))\n"
            f"y, x = {BRIGHT}\n"
            f"fig = {call}\n"
            "print(fig._suptitle.get_text())\n")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"integration {NINTS} of {NINTS}" in proc.stdout


def test_lazy_submodules_are_real_and_unknown_names_still_fail():
    import importlib
    for name in rscd._LAZY_SUBMODULES:
        assert importlib.util.find_spec(f"rscd.{name}") is not None, name
    assert rscd.plot is sys.modules["rscd.plot"]
    assert "plot" in dir(rscd)
    with pytest.raises(AttributeError, match="no attribute 'plott'"):
        rscd.plott


def test_save_figure_refuses_an_existing_file_by_default(mpl, tmp_path):
    """Everything else in rscd refuses to replace a file without overwrite; save_figure
    replaced it silently."""
    before, after = corrected("decay")
    path = tmp_path / "f.png"
    path.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        plot.save_figure(before, after, path, dpi=20)
    assert path.read_bytes() == b"mine"
    plot.save_figure(before, after, path, dpi=20, overwrite=True)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_install_hint_speaks_to_wheel_users_too():
    assert "pip install matplotlib" in plot.INSTALL_HINT
    assert "clone" not in plot.INSTALL_HINT and ".[plot]" not in plot.INSTALL_HINT


def test_simulate_refuses_existing_files_without_overwrite(tmp_path, capsys):
    """``python -m rscd.simulate --help`` said existing files are replaced; they are not:
    refused (nothing written) without --overwrite."""
    from rscd import simulate
    with pytest.raises(SystemExit):
        simulate.main(["--help"])
    help_text = capsys.readouterr().out
    assert "--overwrite" in help_text and "replaced." not in help_text
    folder = tmp_path / "sim"
    assert simulate.main([str(folder)]) == 0
    names = sorted(p.name for p in folder.iterdir())
    mine = folder / names[1]
    mine.write_bytes(b"user data")
    (folder / names[0]).unlink()
    capsys.readouterr()
    assert simulate.main([str(folder)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(mine) in err and "--overwrite" in err
    assert mine.read_bytes() == b"user data" and not (folder / names[0]).exists()
    assert simulate.main([str(folder), "--overwrite"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == names
    with fits.open(mine) as hdul:
        assert [h.name for h in hdul][1:] == ["SCI", "PIXELDQ", "GROUPDQ", "ASDF"]


def test_measured_output_file_is_titled_measured(mpl, tmp_path):
    # A measured run changes SCI as decay does; the title must name the method the file's
    # header records (RSCDMETH), not guess "decay" (a regression: it said decay).
    from rscd.reference import MeasuredRow
    j = np.arange(4)
    rows = [MeasuredRow("FULL", "FAST", kind, parity, 3, a=0.3 * np.exp(-(j + 1) / 2.0),
                        b=20.0 * np.exp(-(j + 1) / 1.5))
            for kind in ("1", "2+") for parity in ("EVEN", "ODD")]
    ref = tmp_path / "measured_ref.fits"
    rscd.write_measured_reference(ref, rows)
    source = write_ramp(tmp_path / "x_linearity.fits", *exposure())
    out = tmp_path / "x_measured_rscd.fits"
    assert rscd.apply_file(source, ref, output=out, method="measured").status == "COMPLETE"
    fig = plot.ramp(source, str(out))
    assert "RSCD correction (measured)" in fig._suptitle.get_text()
    assert "RSCD correction (decay)" in plot.ramp(source, str(out), method="decay") \
        ._suptitle.get_text()                      # an explicit method still wins
