"""rscd diagnose (docs/diagnose.rst) against ramps with a known transient
(tests/simulate_rscd.py): the recommended skip equals the analytic
max(0, ceil(tau ln(a/T) - 1)) within one group, tau comes back within 20 %, data without a
transient need no skip, flagged samples stay out, row parity and segment files are
honoured, bad input gets one line and a non-zero exit, and the written reference file
drives both ``rscd --reference`` and jwst's RscdStep."""
import json
import os
import math

import numpy as np
import pytest
from astropy.io import fits

import rscd
from rscd.cli import main as rscd_main
from rscd.diagnose import (DEFAULT_THRESHOLD, DiagnoseError, decay_model, draw_figure,
                           fit_decay, recommended_skip)
from crds_cache import offline_environment, write_server_config
from simulate_rscd import PAIRS, expected_skip, simulate_ramps, write_pair_files, write_simulated

T = DEFAULT_THRESHOLD


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    return write_pair_files(tmp_path_factory.mktemp("pairs"))


@pytest.fixture(scope="module")
def pair_result(pair_files):
    return rscd.diagnose_files(pair_files)


def test_one_result_per_pair_from_all_its_files(pair_result, pair_files):
    got = {(r.subarray, r.readpatt): r for r in pair_result.results}
    assert set(got) == set(PAIRS)
    for (subarray, readpatt), r in got.items():
        assert r.files == [p for p in pair_files if f"sim_{subarray.lower()}_" in p]
        assert r.ngroups == PAIRS[subarray, readpatt]["ngroups"]
        # 2 files x 3 integrations: int 1 from 2 frames, int 2+ from 4
        assert r.int2p.samples_tested_ok > 1.5 * r.int1.samples_tested_ok


@pytest.mark.parametrize("pair", list(PAIRS))
@pytest.mark.parametrize("kind", ["int1", "int2p"])
def test_skip_and_tau_match_the_injected_transient(pair_result, pair, kind):
    a, tau = PAIRS[pair][kind]
    r = next(r for r in pair_result.results if (r.subarray, r.readpatt) == pair)
    prof = getattr(r, kind)
    assert abs(prof.recommended_skip - expected_skip(a, tau, T)) <= 1
    assert abs(prof.fit_skip - expected_skip(a, tau, T)) <= 1
    assert prof.recommended_skip >= expected_skip(a, tau, T)        # the safe side
    assert prof.tau_groups == pytest.approx(tau, rel=0.2)
    assert prof.amplitude == pytest.approx(-a, rel=0.2)
    assert prof.tau_seconds == pytest.approx(prof.tau_groups * PAIRS[pair]["tgroup"])
    assert not prof.reaches_window


@pytest.mark.parametrize("threshold", [0.05, 0.1, 0.3])
def test_skip_follows_the_threshold(threshold):
    a, tau = 1.0, 2.0
    d = rscd.diagnose(*simulate_ramps(nints=2, ngroups=24, int1=None, int2p=(a, tau), seed=5),
                      threshold=threshold)
    assert abs(d.results[0].int2p.recommended_skip - expected_skip(a, tau, threshold)) <= 1


def test_no_transient_needs_no_skip():
    d = rscd.diagnose(*simulate_ramps(nints=3, int1=None, int2p=None, seed=3))
    for kind in ("int1", "int2p"):
        prof = getattr(d.results[0], kind)
        assert prof.recommended_skip == 0
        assert np.max(np.abs(prof.total)) < T / 3
        assert prof.tau_groups is None        # nothing significant to fit


@pytest.mark.parametrize("group_flag, pixel_flag", [
    (2, 0), (4, 0), (1, 0), (0, 1), (0, 1 << 31)],
    ids=["SATURATED", "JUMP_DET", "group DO_NOT_USE", "pixel DO_NOT_USE", "REFERENCE_PIXEL"])
def test_flagged_samples_are_left_out(group_flag, pixel_flag):
    """A huge transient only in samples carrying one flag that excludes them (a group
    flag in one group of integration 2, or a PIXELDQ flag) changes nothing."""
    data, gdq, pdq = simulate_ramps(nints=2, int1=None, int2p=None, seed=7,
                                    reference_columns=0, saturating=0, jumps=0, dead=0)
    clean = rscd.diagnose(data, gdq, pdq).results[0].int2p
    j = np.arange(1, data.shape[1] + 1)[:, None, None]
    bad = np.random.default_rng(0).random(data.shape[2:]) < 0.4
    slope = data[1, -2] - data[1, -3]
    data[1] -= np.where(bad, 5.0 * np.abs(slope) * np.exp(-j / 4.0), 0).astype(np.float32)
    gdq[1, 7][bad] |= np.uint8(group_flag)
    pdq[bad] |= np.uint32(pixel_flag)
    got = rscd.diagnose(data, gdq, pdq).results[0].int2p
    assert got.recommended_skip in (0, 1)
    assert got.samples < 0.7 * clean.samples
    assert np.allclose(got.total, clean.total, atol=0.03)


def test_flat_pixels_give_no_skip_but_a_dn_profile():
    """No signal: the DN part is measured (0 here), the proportional part cannot be told
    from it, and a skip relative to a zero slope is not measurable: said, not guessed."""
    data, gdq, pdq = simulate_ramps(nints=2, slopes=(1e-6, 2e-6), saturating=0, seed=2)
    prof = rscd.diagnose(data, gdq, pdq).results[0].int2p
    w = rscd.diagnose(data, gdq, pdq).results[0].window_start
    assert not prof.proportional_measured and np.isnan(prof.profile[:w]).all()
    assert np.all(np.abs(prof.profile_dn) < 4 * prof.profile_dn_uncertainty + 1e-9)
    assert prof.recommended_skip is None and not prof.measurable and prof.reason


def test_row_parity_profiles():
    a = 1.2
    data, gdq, pdq = simulate_ramps(nints=3, int1=None, int2p=(a, 2.0), even_scale=0.25,
                                    seed=9)
    prof = rscd.diagnose(data, gdq, pdq).results[0].int2p
    assert prof.odd_rows.amplitude == pytest.approx(-a, rel=0.15)
    assert prof.even_rows.amplitude == pytest.approx(-0.25 * a, rel=0.15)
    assert prof.odd_rows.recommended_skip > prof.even_rows.recommended_skip
    # array row 0 on an even detector row (SUBSTRT2 = 2): the roles swap
    swapped = rscd.diagnose(data, gdq, pdq, ystart=2).results[0].int2p
    np.testing.assert_array_equal(swapped.odd_rows.profile, prof.even_rows.profile)
    np.testing.assert_array_equal(swapped.even_rows.profile, prof.odd_rows.profile)
    # the written skip is the safe one: at least the worse parity's
    assert prof.recommended_skip >= prof.odd_rows.recommended_skip


def test_segment_file_has_no_integration_1(tmp_path):
    path = write_simulated(tmp_path / "seg_linearity.fits", integration_start=4, nints=2,
                           int1=(0.5, 1.2), int2p=(1.3, 2.2))
    d = rscd.diagnose_files([path])
    r = d.results[0]
    assert r.int1 is None and r.int2p is not None
    assert r.skips() == (r.int2p.recommended_skip, r.int2p.recommended_skip)
    assert d.to_dict()["results"][0]["int1"] is None


def test_arrays_and_files_agree(tmp_path):
    kw = dict(nints=2, int1=(0.5, 1.2), int2p=(1.3, 2.2), seed=4)
    path = write_simulated(tmp_path / "one_linearity.fits", **kw)
    from_file = rscd.diagnose_files([path]).results[0]
    with fits.open(path) as hdul:    # big-endian SCI as stored
        arrays = (hdul["SCI"].data, hdul["GROUPDQ"].data, hdul["PIXELDQ"].data)
        from_arrays = rscd.diagnose(*arrays).results[0]
    np.testing.assert_array_equal(from_file.int2p.profile, from_arrays.int2p.profile)
    np.testing.assert_array_equal(from_file.int1.profile_dn, from_arrays.int1.profile_dn)


def test_files_read_in_many_row_blocks_agree_with_arrays(tmp_path, monkeypatch):
    """diagnose_files copies blocks of rows into buffers (rscd.diagnose._MappedRamp.
    read_rows); with blocks of a few rows, cut across stripes and row parities, the
    result is still exactly that of the arrays, with one and two threads."""
    import importlib
    measure = importlib.import_module("rscd.diagnose_measure")
    path = write_simulated(tmp_path / "blocks_linearity.fits", nints=3, int1=(0.5, 1.2),
                           int2p=(1.3, 2.2), seed=6)
    with fits.open(path) as hdul:
        head = hdul[0].header
        want = rscd.diagnose(hdul["SCI"].data, hdul["GROUPDQ"].data, hdul["PIXELDQ"].data,
                             group_time=head["TGROUP"], ystart=head.get("SUBSTRT2", 1),
                             integration_start=head.get("INTSTART", 1)).to_dict()
        ngroups, nx = hdul["SCI"].data.shape[1], hdul["SCI"].data.shape[3]
    monkeypatch.setattr(measure, "READ_BLOCK_BYTES", 7 * ngroups * nx * 5)   # 7 rows
    for threads in (1, 2):
        got = rscd.diagnose_files([path], threads=threads).to_dict()
        for kind in ("int1", "int2p"):
            assert got["results"][0][kind] == want["results"][0][kind]


@pytest.mark.parametrize("room_blocks", [None, 0, 3])
def test_the_sums_pass_reads_groupdq_only_where_no_verdict_was_kept(tmp_path, monkeypatch,
                                                                   room_blocks):
    """The slopes pass keeps each sample's verdict (rscd.diagnose._Verdicts), so the
    sums pass of those rows reads no GROUPDQ; beyond VERDICTS_IN_MEMORY it reads it
    again. Flags of every kind in the file, blocks of 7 rows: either way the result is
    exactly that of the arrays, which read GROUPDQ every time."""
    import importlib
    measure = importlib.import_module("rscd.diagnose_measure")
    module = importlib.import_module("rscd.diagnose")
    path = write_simulated(tmp_path / "verdicts_linearity.fits", nints=3, int1=(0.5, 1.2),
                           int2p=(1.3, 2.2), seed=9)
    with fits.open(path, mode="update") as hdul:
        gdq, pdq = hdul["GROUPDQ"].data, hdul["PIXELDQ"].data
        rng = np.random.default_rng(9)
        for flag, groups in ((1, [0, gdq.shape[1] - 1]), (1, [3]), (2, [5]), (4, [1]),
                             (64, [gdq.shape[1] - 1])):
            at = rng.integers(0, gdq.shape[2], 40), rng.integers(0, gdq.shape[3], 40)
            for g in groups:
                gdq[rng.integers(0, gdq.shape[0]), g][at] |= flag
        pdq[rng.integers(0, pdq.shape[0], 20), rng.integers(0, pdq.shape[1], 20)] |= 1
        head = hdul[0].header
        want = rscd.diagnose(hdul["SCI"].data, gdq, pdq, group_time=head["TGROUP"],
                             ystart=head.get("SUBSTRT2", 1),
                             integration_start=head.get("INTSTART", 1)).to_dict()
        ngroups, nx = hdul["SCI"].data.shape[1], hdul["SCI"].data.shape[3]
    monkeypatch.setattr(measure, "READ_BLOCK_BYTES", 7 * ngroups * nx * 5)   # 7 rows
    if room_blocks is not None:
        monkeypatch.setattr(module, "VERDICTS_IN_MEMORY", room_blocks * 7 * nx)
    reads = []
    read_rows = module._MappedRamp.read_rows

    def counted(self, i, r0, r1, groups, groupdq=True):
        reads.append(groupdq)
        return read_rows(self, i, r0, r1, groups, groupdq)

    monkeypatch.setattr(module._MappedRamp, "read_rows", counted)
    got = rscd.diagnose_files([path]).to_dict()
    for kind in ("int1", "int2p"):
        assert got["results"][0][kind] == want["results"][0][kind]
    blocks = len(reads) // 2                       # the slopes pass, then the sums pass
    assert all(reads[:blocks])
    kept = blocks if room_blocks is None else room_blocks
    assert reads[blocks:] == [False] * kept + [True] * (blocks - kept)


def test_files_beyond_the_pilot_budget_agree_with_arrays(tmp_path):
    """A file with more samples than the pilot takes (4 x 192 x 192): the pilot's rows
    and integrations, and each sample's instrument, are those of the arrays. (The file
    path once looked up the slopes of frame row k for the k-th pilot row, and picked
    its rows twice over.)"""
    path = write_simulated(tmp_path / "wide_linearity.fits", nints=4, nrows=192, ncols=192,
                           int1=(0.6, 1.5), int2p=(1.2, 2.5), seed=2)
    from_file = rscd.diagnose_files([path]).to_dict()["results"][0]
    with fits.open(path) as hdul:
        from_arrays = rscd.diagnose(hdul["SCI"].data, hdul["GROUPDQ"].data,
                                    hdul["PIXELDQ"].data,
                                    group_time=hdul[0].header["TGROUP"]).to_dict()["results"][0]
    for kind in ("int1", "int2p"):
        assert from_file[kind] == from_arrays[kind]


@pytest.mark.parametrize("shape, start", [
    ((1000, 10, 416, 72), 1), ((1000, 10, 416, 72), 7), ((70, 8, 16, 1032), 1),
    ((6, 40, 1024, 1032), 1), ((3, 20, 64, 64), 1), ((1, 20, 1024, 1032), 1)])
def test_pilot_spans_rows_parities_and_integrations(shape, start):
    """The pilot of a time series of 1000 integrations once read only row 0 (one row
    parity: no outlier cut for the other): now at least 16 rows of both parities,
    integration 1 when held, others spread to the last, within the sample budget."""
    from rscd.diagnose_measure import PILOT_ROWS, PILOT_SAMPLES, pilot_plan
    nints, _, ny, nx = shape
    rows, ints = pilot_plan(shape, start)
    assert len(rows) >= min(ny, PILOT_ROWS) and set(rows % 2) == {0, 1}
    assert len(rows) * len(ints) * nx <= max(PILOT_SAMPLES, ny * nx)
    assert list(ints) == sorted(set(ints.tolist()))
    assert ints[0] == 0 and ints[-1] == nints - 1       # integration 1 when held; the last
    assert len(ints) >= min(nints, 2)


@pytest.mark.parametrize("when", ["read_rows", "pilot_rows"])
def test_a_file_shortened_while_read_is_named(tmp_path, monkeypatch, when):
    """Another program truncates the file after it was opened: the pass that reads next
    (the blocks of rows, or the pilot's rows) stops with one line naming the file,
    never a numpy shape error or values read as zeros."""
    import importlib
    ramp = importlib.import_module("rscd.diagnose")._MappedRamp
    path = write_simulated(tmp_path / "short_linearity.fits", nints=2, int1=(0.5, 1.2),
                           int2p=(1.3, 2.2), seed=5)
    original = getattr(ramp, when)

    def shortened_first(self, *args):
        os.truncate(path, 2880 * 4)       # the headers stay, SCI is gone
        return original(self, *args)

    monkeypatch.setattr(ramp, when, shortened_first)
    with pytest.raises(OSError, match=f"{path}: short read at byte .*changed while"):
        rscd.diagnose_files([path])


def test_recommended_skip_definition():
    assert recommended_skip([-0.5, -0.2, 0.09, -0.1, 0.05], 0.1) == 2
    assert recommended_skip([0.0, 0.0], 0.1) == 0
    assert recommended_skip([0.3, 0.2], 0.1) == 2
    assert recommended_skip([0.3, np.nan, 0.0], 0.1) == 2      # NaN is not within T
    assert recommended_skip([], 0.1) == 0


def test_recommended_skip_of_many_profiles_is_each_ones():
    """The bootstrap asks for the skip of every resampled profile at once (one per row)."""
    rng = np.random.default_rng(3)
    rows = rng.normal(0, 0.1, (300, 9)) * np.exp(-np.arange(9) / 3)
    rows[rng.random(rows.shape) < 0.05] = np.nan
    rows[:3] = [0.0] * 9, [1.0] * 9, [0.05] * 8 + [0.2]
    got = recommended_skip(rows, 0.1)
    assert list(got[:3]) == [0, 9, 9]
    assert list(got) == [recommended_skip(list(r), 0.1) for r in rows]
    assert list(got) == [next((k for k in range(9, 0, -1) if not abs(r[k - 1]) <= 0.1), 0)
                         for r in rows]


def test_fit_recovers_an_exact_decay():
    j = np.arange(1, 13)
    prof = -0.8 * np.exp(-j / 1.7)
    amp, amp_err, tau, tau_err = fit_decay(prof, np.full(12, 1e-3))
    assert amp == pytest.approx(-0.8, rel=1e-6) and tau == pytest.approx(1.7, rel=1e-6)
    assert amp_err > 0 and tau_err > 0


def test_fit_sees_the_transient_through_the_late_window():
    """The late window's line absorbs a little of the transient: a profile made that way
    gives back the bare A and tau, which a bare-exponential fit would not."""
    j = np.arange(10)
    seen = decay_model(-1.3, 3.0, j, window=(10, 20))
    assert abs(seen[-1]) < abs(decay_model(-1.3, 3.0, j)[-1])
    amp, _, tau, _ = fit_decay(seen, np.full(10, 1e-4), window=(10, 20))
    assert (amp, tau) == (pytest.approx(-1.3, rel=1e-5), pytest.approx(3.0, rel=1e-5))
    assert fit_decay(seen, np.full(10, 1e-4))[2] < 2.9


@pytest.mark.parametrize("kernel", ["c", "numpy"])
@pytest.mark.parametrize("shape", [(2, 8, 0, 5), (2, 8, 4, 0), (0, 8, 4, 5)])
def test_empty_arrays_have_nothing_to_measure(shape, kernel):
    """No row, no column or no integration: one clear line (no column once gave a
    ZeroDivisionError from the adapter)."""
    with pytest.raises(DiagnoseError, match="no integration to measure"):
        rscd.diagnose(np.zeros(shape, np.float32), np.zeros(shape, np.uint8),
                      np.zeros(shape[2:], np.uint32), kernel=kernel)


def test_bad_arguments():
    data, gdq, pdq = simulate_ramps(nints=1, ngroups=8)
    with pytest.raises(ValueError, match="threshold"):
        rscd.diagnose(data, gdq, pdq, threshold=-1)
    with pytest.raises(TypeError, match="data must be float32"):
        rscd.diagnose(data.astype(np.float64), gdq, pdq)
    with pytest.raises(DiagnoseError, match="too short"):
        rscd.diagnose(data[:, :5], gdq[:, :5], pdq)
    with pytest.raises(DiagnoseError, match="window_start"):
        rscd.diagnose(data, gdq, pdq, window_start=6)


# --------------------------------------------------------------------------- command line


def run(capsys, *argv):
    status = rscd_main(["diagnose", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_table(capsys, pair_files):
    status, out, err = run(capsys, *pair_files)
    assert status == 0, err
    assert "FULL" in out and "SUB256" in out and "skip" in out


def test_cli_json(capsys, pair_files, pair_result):
    status, out, err = run(capsys, *pair_files, "--json")
    assert status == 0, err
    doc = json.loads(out)
    assert doc["threshold"] == T
    assert doc == json.loads(json.dumps(pair_result.to_dict()))
    first = doc["results"][0]
    for key in ("subarray", "readpatt", "ngroups", "files", "window_start", "int1", "int2p"):
        assert key in first
    for key in ("recommended_skip", "measured_skip", "fit_skip", "skip_uncertainty",
                "noise_limited", "tau_groups", "amplitude", "samples", "profile",
                "uncertainty", "profile_dn", "profile_dn_uncertainty", "total",
                "reference_slope"):
        assert key in first["int2p"]
    for key in ("profile", "profile_dn"):
        assert key in first["int2p"]["odd_rows"] and key in first["int2p"]["even_rows"]
    # every group 0 ... N-1, counted from 0, and the document says so
    assert len(first["int2p"]["profile"]) == first["ngroups"]
    assert doc["groups_counted_from"] == 0 and first["groups_counted_from"] == 0


def test_cli_threshold(capsys, pair_files):
    status, out, _ = run(capsys, pair_files[0], "--json", "--threshold", "0.3")
    doc = json.loads(out)
    a, tau = PAIRS["FULL", "FASTR1"]["int2p"]
    assert abs(doc["results"][0]["int2p"]["recommended_skip"] - expected_skip(a, tau, 0.3)) <= 1


def test_cli_figure(capsys, tmp_path, pair_files):
    pytest.importorskip("matplotlib")
    png = tmp_path / "diag.png"
    status, out, err = run(capsys, *pair_files, "--figure", png)
    assert status == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    status, _, err = run(capsys, *pair_files, "--figure", png)
    assert status == 2 and "exists" in err


def test_figure_labels(pair_result):
    pytest.importorskip("matplotlib")
    fig = draw_figure(pair_result)
    axes = fig.axes
    assert len(axes) == 2 * len(pair_result.results)
    texts = [t for ax in axes for t in ax.get_legend_handles_labels()[1]]
    assert any("threshold band" in t for t in texts)
    assert any("fit A exp" in t for t in texts)
    assert any("flag the first" in t for t in texts)
    assert all("group number" in ax.get_xlabel() for ax in axes)


def test_cli_write_reference_then_correct(capsys, tmp_path, pair_files, pair_result):
    ref = tmp_path / "measured_rscd.fits"
    status, out, err = run(capsys, *pair_files, "--write-reference", ref)
    assert status == 0, err
    parsed = rscd.read_reference(str(ref))
    for r in pair_result.results:
        row = parsed.lookup(r.readpatt, r.subarray)
        assert (row.skip_int1, row.skip_int2p) == (r.int1.recommended_skip,
                                                   r.int2p.recommended_skip)
    status, _, err = run(capsys, *pair_files, "--write-reference", ref)
    assert status == 2 and "--overwrite" in err
    assert run(capsys, *pair_files, "--write-reference", ref, "--overwrite")[0] == 0
    # rscd --reference uses it at once
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert rscd_main([pair_files[0], "--reference", str(ref), "--output-dir", str(out_dir),
                      "--quiet"]) == 0
    full = next(r for r in pair_result.results if r.subarray == "FULL")
    written = rscd.output_path(pair_files[0], out_dir)
    with fits.open(written) as hdul:
        assert hdul[0].header["INT1SKIP"] == full.int1.recommended_skip
        assert hdul[0].header["INT2SKIP"] == full.int2p.recommended_skip
        assert (hdul["GROUPDQ"].data[1, :full.int2p.recommended_skip, 10, 20] & 1).all()


@pytest.mark.parametrize("content, expect", [
    (b"hello, this is not FITS" * 200, "not a FITS file"),
    (None, "no SCI extension"),
])
def test_cli_bad_files(capsys, tmp_path, content, expect):
    path = tmp_path / "bad.fits"
    if content is None:
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((3, 3)), name="X")]).writeto(path)
    else:
        path.write_bytes(content)
    status, out, err = run(capsys, path)
    assert status == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and expect in err and str(path) in err


def test_cli_too_few_groups(capsys, tmp_path):
    path = write_simulated(tmp_path / "short_linearity.fits", ngroups=5, nints=2)
    status, _, err = run(capsys, path)
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert "5 groups" in err and "too short" in err


def test_cli_nothing_usable(capsys, tmp_path):
    data, gdq, pdq = simulate_ramps(nints=2, ngroups=10)
    pdq |= np.uint32(1)                                    # every pixel DO_NOT_USE
    from rscd.demo import write_ramp_file
    path = tmp_path / "dead_linearity.fits"
    write_ramp_file(path, data, gdq, pdq, {"DETECTOR": "MIRIMAGE", "READPATT": "FAST",
                                           "SUBARRAY": "FULL"})
    status, _, err = run(capsys, path)
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert "no usable sample" in err and str(path) in err


def test_cli_bad_threshold(capsys, pair_files):
    status, _, err = run(capsys, pair_files[0], "--threshold", "0")
    assert status == 2 and "threshold" in err


# --------------------------------------------------------------------------- jwst


@pytest.fixture
def offline_crds(tmp_path, monkeypatch):
    """CRDS without a server (tests/crds_cache.py): a cache holding only its server
    configuration, enough for a step given override_rscd."""
    cache = tmp_path / "crds_cache"
    write_server_config(str(cache))
    for name, value in offline_environment(cache).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    from crds.core import utils
    utils.clear_function_caches()


def test_written_reference_in_jwst_rscd_step(tmp_path, offline_crds):
    pytest.importorskip("jwst")
    from fitsfiles import write_datamodel
    from jwst.rscd import RscdStep
    from stdatamodels.jwst.datamodels import RampModel
    data, gdq, pdq = simulate_ramps(nints=3, ngroups=20, int1=(0.5, 1.2), int2p=(1.3, 2.2))
    path = str(tmp_path / "jw_sim_linearity.fits")
    write_datamodel(path, data, gdq, pdq, readpatt="FASTR1", subarray="FULL")
    ref = str(tmp_path / "measured_rscd.fits")
    measured = rscd.diagnose_files([path])
    measured.write_reference(ref)
    k1, k2 = measured.results[0].skips()
    assert k2 > k1 > 0
    with RampModel(path) as model:
        result = RscdStep.call(model, override_rscd=ref)
        assert result.meta.cal_step.rscd == "COMPLETE"
        flagged = (result.groupdq & 1) != 0
        ours = rscd.apply_file(path, ref, output=str(tmp_path / "ours_rscd.fits"))
        with fits.open(tmp_path / "ours_rscd.fits") as hdul:
            np.testing.assert_array_equal(hdul["GROUPDQ"].data, result.groupdq)
        result.close()
    assert (ours.ngroups_skip_int1, ours.ngroups_skip_int2p) == (k1, k2)
    plain = ~((gdq & 2) != 0).any(axis=1)                   # never saturated
    assert flagged[0, :k1][:, plain[0]].all() and not flagged[0, k1][plain[0]].any()
    assert flagged[1, :k2][:, plain[1]].all()


@pytest.mark.parametrize("steps", [("lastframe",), ("firstframe", "lastframe")])
def test_ramps_as_calwebb_detector1_flags_them(tmp_path, steps):
    """jwst's lastframe step (run on every MIRI exposure by calwebb_detector1 before
    linearity) flags the last group DO_NOT_USE in every pixel, and firstframe (skipped
    by default since jwst 2.0) the first. Those flags leave the diagnosis as it is; the
    same flag on a group in between still leaves the samples out."""
    pytest.importorskip("jwst")
    from fitsfiles import write_datamodel
    from jwst.firstframe import firstframe_sub
    from jwst.lastframe import lastframe_sub
    from stdatamodels.jwst.datamodels import RampModel
    data, gdq, pdq = simulate_ramps(nints=3, ngroups=20, int1=(0.5, 1.2), int2p=(1.3, 2.2))
    plain = str(tmp_path / "jw_plain_linearity.fits")
    write_datamodel(plain, data, gdq, pdq, readpatt="FASTR1", subarray="FULL")
    flagged = str(tmp_path / "jw_flagged_linearity.fits")
    # the steps' own functions (their Step.call would ask CRDS for parameters)
    run = {"firstframe": firstframe_sub.do_correction, "lastframe": lastframe_sub.do_correction}
    with RampModel(plain) as model:
        for step in steps:
            model = run[step](model)
        model.save(flagged)
    with fits.open(flagged) as hdul:
        saved = hdul["GROUPDQ"].data
        assert (saved[:, -1] & 1).all() and ((saved[:, 0] & 1).all() == (len(steps) == 2))
    want = rscd.diagnose_files([plain]).to_dict()["results"][0]
    got = rscd.diagnose_files([flagged]).to_dict()["results"][0]
    for kind in ("int1", "int2p"):
        assert got[kind] == want[kind]
    with fits.open(flagged) as hdul:
        arrays = hdul["SCI"].data, hdul["GROUPDQ"].data, hdul["PIXELDQ"].data
        from_arrays = rscd.diagnose(*arrays, kernel="numpy").results[0]
    assert from_arrays.int2p.recommended_skip == got["int2p"]["recommended_skip"]
    floor = np.zeros(gdq.shape[2:], bool)
    floor[::3, ::4] = True                               # the saturation step's A/D floor
    saturated = gdq.copy()
    saturated[1, 0][floor] |= 2                          # SATURATED in group 0: left out
    gdq[1, 0][floor] |= 65                               # AD_FLOOR | DO_NOT_USE, group 0
    for kernel in ("c", "numpy"):
        with_floor = rscd.diagnose(data, gdq, pdq, kernel=kernel).results[0].int2p
        as_saturated = rscd.diagnose(data, saturated, pdq, kernel=kernel).results[0].int2p
        assert with_floor.samples_tested_ok == as_saturated.samples_tested_ok
        assert with_floor.samples_tested_ok < got["int2p"]["samples_tested_ok"]
    gdq[:, 5] |= 1                                       # DO_NOT_USE in between
    inner = str(tmp_path / "jw_inner_linearity.fits")
    write_datamodel(inner, data, gdq, pdq, readpatt="FASTR1", subarray="FULL")
    with pytest.raises(DiagnoseError, match="no usable sample"):
        rscd.diagnose_files([inner])


def test_files_of_one_pair_with_different_ngroups(tmp_path):
    kw = dict(subarray="FULL", readpatt="FASTR1", int1=(0.5, 1.2), int2p=(1.3, 2.2), nints=2)
    paths = [write_simulated(tmp_path / "a_linearity.fits", ngroups=20, seed=1, **kw),
             write_simulated(tmp_path / "b_linearity.fits", ngroups=26, seed=2, **kw)]
    (r,) = rscd.diagnose_files(paths).results
    assert r.ngroups == [20, 26] and r.window_start == 10     # from the shorter ramps
    assert abs(r.int2p.recommended_skip - expected_skip(1.3, 2.2, T)) <= 1


def test_non_finite_values_are_left_out():
    data, gdq, pdq = simulate_ramps(nints=2, int1=None, int2p=None, seed=6)
    clean = rscd.diagnose(data, gdq, pdq).results[0].int2p
    data[1, 2, ::3, ::2] = np.nan
    data[1, 0, 1::3, ::2] = np.inf
    got = rscd.diagnose(data, gdq, pdq).results[0].int2p
    assert got.samples_tested_ok < clean.samples_tested_ok
    assert all(np.isfinite(got.total)) and got.recommended_skip in (0, 1)


def test_cli_missing_file(capsys, tmp_path):
    status, _, err = run(capsys, tmp_path / "nothing_here.fits")
    assert status == 1 and "nothing_here.fits" in err and len(err.strip().splitlines()) == 1


def test_substrt2_is_the_deprecated_name_of_ystart():
    """Issue 16: one name for the first detector row across the API (ystart, as rscd.apply);
    the old keyword still works and warns."""
    data, gdq, pdq = simulate_ramps(int1=(0.6, 1.5), int2p=(1.2, 2.5), seed=4)
    want = rscd.diagnose(data, gdq, pdq, ystart=2).results[0].int2p
    with pytest.warns(DeprecationWarning, match=r"substrt2= is deprecated, use ystart="):
        got = rscd.diagnose(data, gdq, pdq, substrt2=2).results[0].int2p
    assert got.to_dict() == want.to_dict()
    with pytest.raises(TypeError, match="both substrt2= and ystart="):
        rscd.diagnose(data, gdq, pdq, substrt2=2, ystart=2)


def test_a_file_and_its_hard_link_are_read_once(tmp_path):
    """Regression: diagnose_files compared real paths, so a hard link of a file counted
    its samples twice; one file is now known by its device and inode."""
    path = write_simulated(tmp_path / "x_linearity.fits", nints=2, nrows=32, ncols=32, seed=3)
    os.link(path, tmp_path / "y_linearity.fits")
    once = rscd.diagnose_files([path]).results[0]
    both = rscd.diagnose_files([path, tmp_path / "y_linearity.fits"]).results[0]
    assert both.int2p.samples == once.int2p.samples
