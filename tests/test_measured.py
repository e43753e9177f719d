"""The ``measured`` method (docs/overview.rst, "Method measured"): the RSCD_MEASURED
table, rscd.apply against the numpy oracle, and every interface that dispatches on the
method (apply_file in place and to a new file, the command line, apply_model, the step,
rscd.dask)."""
import subprocess
import sys
import warnings

import numpy as np
import pytest
from astropy.io import fits

import rscd
from fitsfiles import (REFERENCE_PIXEL, SATURATED, flag_reference, ramp_arrays, sha256,
                       write_astropy, write_datamodel)
from oracle_measured import measured_oracle
from rscd.reference import MeasuredModel, MeasuredRow, Reference, SkipRow


def model_rows(window=3, length=6, subarray="FULL", readpatt="FAST", kinds=("1", "2+"),
               scale=1.0):
    rows = []
    for k, kind in enumerate(kinds):
        for p, parity in enumerate(("EVEN", "ODD")):
            j = np.arange(length)
            a = scale * (0.4 + 0.3 * k + 0.2 * p) * np.exp(-(j + 1) / 2.0)
            b = scale * (25.0 - 40.0 * p + 10 * k) * np.exp(-(j + 1) / 1.5)
            rows.append(MeasuredRow(subarray, readpatt, kind, parity, window, a=a, b=b,
                                    a_err=np.full(length, 0.01), b_err=np.full(length, 0.5)))
    return rows


def measured_reference(path, rows=None, skip_rows=None):
    rscd.write_measured_reference(path, rows or model_rows(), skip_rows=skip_rows,
                                  overwrite=True)
    return path


# ------------------------------------------------------------------ the table


def test_table_round_trip_and_format(tmp_path):
    rows = model_rows() + [MeasuredRow("SUB64", "SLOW", "2+", p, 5, a=[0.1, 0.05], b=[3.0, 1.0])
                           for p in ("ODD", "EVEN")]
    path = measured_reference(tmp_path / "m.fits", rows)
    ref = rscd.read_reference(path)
    assert ref.measured_rows == tuple(rows)
    assert ref.default_method() == "measured"
    with fits.open(path) as hdul:
        hdu = hdul["RSCD_MEASURED"]
        assert hdu.columns.names == ["SUBARRAY", "READPATT", "INTEGRATION", "ROWS",
                                     "WINDOW_START", "NGROUPS", "A", "B", "A_ERR", "B_ERR"]
        assert list(hdu.data["WINDOW_START"]) == [4] * 4 + [6, 6]      # counted from 1
        assert list(hdu.data["NGROUPS"]) == [6] * 4 + [2, 2]
        assert hdu.data["A"].shape == (6, 6)
        assert hdul[0].header["REFTYPE"] == "RSCD"
    model = ref.lookup("SLOW", "SUB64", "measured")
    assert isinstance(model, MeasuredModel)
    assert model.int1_even is None and model.int2p_odd.a == (0.1, 0.05)
    assert ref.lookup("FAST", "NOSUCH", "measured") is None


def test_variable_length_columns_are_read(tmp_path):
    path = tmp_path / "vla.fits"
    a = [np.array([0.5, 0.2, 0.1]), np.array([0.4, 0.1])]
    cols = [fits.Column("SUBARRAY", "8A", array=["FULL", "FULL"]),
            fits.Column("READPATT", "8A", array=["FAST", "FAST"]),
            fits.Column("INTEGRATION", "2A", array=["2+", "2+"]),
            fits.Column("ROWS", "4A", array=["EVEN", "ODD"]),
            fits.Column("WINDOW_START", "J", array=[4, 4]),
            fits.Column("A", "PD()", array=a),
            fits.Column("B", "PD()", array=[np.zeros(3), np.ones(2)])]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        cols, name="RSCD_MEASURED")]).writeto(path)
    model = rscd.read_reference(path).lookup("FAST", "FULL", "measured")
    assert model.int2p_even.a == (0.5, 0.2, 0.1) and model.int2p_odd.b == (1.0, 1.0)
    assert model.int2p_odd.window_start == 3


@pytest.mark.parametrize("change, message", [
    (lambda d: d.__setitem__("ROWS", np.array(["EVEN", "EVEN", "EVEN", "ODD"])),
     "EVEN row .* no ODD row"),
    (lambda d: d["A"].__setitem__((0, 1), np.nan), "A that is not finite"),
    (lambda d: d.__setitem__("WINDOW_START", np.array([0, 4, 4, 4])), "WINDOW_START = 0"),
    (lambda d: d.__setitem__("NGROUPS", np.array([9, 6, 6, 6])), "NGROUPS = 9"),
    (lambda d: d.__setitem__("INTEGRATION", np.array(["3", "1", "2+", "2+"])),
     "integration must be '1' or '2\\+'"),
])
def test_malformed_tables_are_refused(tmp_path, change, message):
    path = measured_reference(tmp_path / "m.fits")
    with fits.open(path) as hdul:
        table = {n: np.array(hdul["RSCD_MEASURED"].data[n]) for n in
                 hdul["RSCD_MEASURED"].columns.names}
        change(table)
        fmts = {c.name: c.format for c in hdul["RSCD_MEASURED"].columns}
        cols = [fits.Column(n, fmts[n], array=v) for n, v in table.items()]
        fits.HDUList([hdul[0].copy(), fits.BinTableHDU.from_columns(
            cols, name="RSCD_MEASURED")]).writeto(path, overwrite=True)
    with pytest.raises(rscd.ReferenceFileError, match=message):
        rscd.read_reference(path)


def test_auto_method_choice(tmp_path):
    both = rscd.read_reference(measured_reference(tmp_path / "b.fits",
                                                  skip_rows=[("FULL", "FAST", 1, 3)]))
    assert both.default_method() == "flag"
    assert both.lookup("FAST", "FULL") == SkipRow("FULL", "FAST", 1, 3)
    rscd.write_flag_reference(tmp_path / "f.fits", [("FULL", "FAST", 2, 4)],
                              measured=model_rows())
    again = rscd.read_reference(tmp_path / "f.fits")
    assert again.default_method() == "flag" and again.measured_rows == tuple(model_rows())
    flag_only = rscd.read_reference(flag_reference(tmp_path / "flag.fits"))
    with pytest.raises(rscd.ReferenceFileError, match="no RSCD_MEASURED table"):
        flag_only.lookup("FAST", "FULL", "measured")
    decay_and_measured = Reference("r", decay_rows=(), measured_rows=tuple(model_rows()))
    assert decay_and_measured.default_method() == "decay"


def test_measured_row_checks():
    with pytest.raises(ValueError, match="b has 2 values and a 3"):
        MeasuredRow("FULL", "FAST", "2+", "ODD", 3, a=[1, 2, 3], b=[1, 2])
    with pytest.raises(ValueError, match="rows must be 'EVEN' or 'ODD'"):
        MeasuredRow("FULL", "FAST", "2+", "BOTH", 3, a=[1], b=[1])
    with pytest.raises(ValueError, match="window_start must be >= 0"):
        MeasuredRow("FULL", "FAST", "2+", "ODD", -1, a=[1], b=[1])
    with pytest.raises(TypeError, match="must be a MeasuredRow"):
        Reference("r", measured_rows=(SkipRow("FULL", "FAST", 1, 2),))


# ------------------------------------------------------------------ the arrays


def oracle_case(seed, nints=4, ngroups=10, nrows=12, ncols=16):
    data, groupdq, pixeldq = ramp_arrays(nints, ngroups, nrows, ncols, seed=seed)
    rng = np.random.default_rng(seed)
    data[rng.random(data.shape) < 0.01] = np.nan
    return data, groupdq, pixeldq


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("start, ystart", [(1, 1), (1, 2), (3, 1)])
def test_apply_matches_the_oracle(seed, start, ystart):
    data, groupdq, pixeldq = oracle_case(seed)
    ref = Reference("m", measured_rows=tuple(model_rows(window=3 + seed % 3)))
    model = ref.lookup("FAST", "FULL", "measured")
    want = measured_oracle(data, groupdq, pixeldq, model, start, ystart)
    gdq0, pdq0 = groupdq.copy(), pixeldq.copy()
    res = rscd.apply(data, groupdq, pixeldq, ref, readpatt="FAST", subarray="FULL",
                     method="measured", integration_start=start, ystart=ystart)
    assert res.status == "COMPLETE" and res.method == "measured"
    assert res.npix_corrected > 0
    np.testing.assert_array_equal(data.view(np.uint32), want.view(np.uint32))
    np.testing.assert_array_equal(groupdq, gdq0)          # no DO_NOT_USE, nothing at all
    np.testing.assert_array_equal(pixeldq, pdq0)
    assert res.header_keywords() == {"S_RSCD": "COMPLETE", "R_RSCD": "m",
                                     "RSCDMETH": "measured"}


def test_full_frame_big_endian_threads():
    """A full MIRI frame, big-endian SCI (as memory-mapped from FITS), 1 and 2 threads:
    the oracle's values, in the array's own byte order, no copy."""
    data, groupdq, pixeldq = oracle_case(7, nints=2, ngroups=8, nrows=1024, ncols=1032)
    ref = Reference("m", measured_rows=tuple(model_rows(window=4)))
    want = measured_oracle(data, groupdq, pixeldq, ref.lookup("FAST", "FULL", "measured"))
    for threads in (1, 2):
        big = data.astype(">f4")
        res = rscd.apply(big, groupdq, pixeldq, ref, readpatt="FAST", subarray="FULL",
                         method="measured", threads=threads)
        assert res.status == "COMPLETE"
        np.testing.assert_array_equal(big.astype(np.float32).view(np.uint32),
                                      want.view(np.uint32))


def test_flags_saturation_and_nan_are_left():
    data, groupdq, pixeldq = oracle_case(3)
    before = data.copy()
    rscd.apply(data, groupdq, pixeldq, Reference("m", measured_rows=tuple(model_rows())),
               readpatt="FAST", subarray="FULL", method="measured")
    flagged = (pixeldq & (1 | REFERENCE_PIXEL)) != 0
    np.testing.assert_array_equal(data[:, :, flagged], before[:, :, flagged])
    sat = (groupdq & SATURATED) != 0
    np.testing.assert_array_equal(data[sat], before[sat])
    assert np.array_equal(np.isnan(data), np.isnan(before))
    assert not np.array_equal(data, before)


def test_removes_a_proportional_and_additive_transient():
    """Ramps with exactly the modelled transient come out straight."""
    rows = model_rows(window=5, length=8)
    ref = Reference("m", measured_rows=tuple(rows))
    model = ref.lookup("FAST", "FULL", "measured")
    n, ny, nx = 12, 4, 6
    slope = np.linspace(20, 2000, ny * nx).reshape(ny, nx)
    clean = (1000 + slope * np.arange(n)[:, None, None])[None].repeat(3, axis=0)
    data = clean.copy()
    for i in range(3):
        for y in range(ny):
            row = (model.int1_odd if y % 2 == 0 else model.int1_even) if i == 0 else \
                (model.int2p_odd if y % 2 == 0 else model.int2p_even)
            a = np.zeros(n)
            b = np.zeros(n)
            a[:len(row.a)], b[:len(row.b)] = row.a, row.b
            data[i, :, y] += a[:, None] * slope[y] + b[:, None]
    data = data.astype(np.float32)
    rscd.apply(data, np.zeros(data.shape, np.uint8), np.zeros((ny, nx), np.uint32), ref,
               readpatt="FAST", subarray="FULL", method="measured")
    np.testing.assert_allclose(data, clean, atol=0.02)


def test_skips_and_notes():
    data, groupdq, pixeldq = oracle_case(1, ngroups=5)
    ref = Reference("m", measured_rows=tuple(model_rows(window=3)))
    res = rscd.apply(data, groupdq, pixeldq, ref, readpatt="FAST", subarray="FULL",
                     method="measured")
    assert res.status == "SKIPPED" and res.reason.startswith("too few groups")
    with pytest.warns(rscd.NoReferenceRowWarning, match="SUBARRAY=SUB64"):
        res = rscd.apply(data, groupdq, pixeldq, ref, readpatt="FAST", subarray="SUB64",
                         method="measured")
    assert res.status == "SKIPPED"
    data, groupdq, pixeldq = oracle_case(1)
    only2p = Reference("m", measured_rows=tuple(model_rows(kinds=("2+",))))
    before = data.copy()
    res = rscd.apply(data, groupdq, pixeldq, only2p, readpatt="FAST", subarray="FULL")
    assert res.method == "measured" and res.nints_corrected == 3
    assert any("integration 1 left uncorrected" in n for n in res.notes)
    np.testing.assert_array_equal(data[0], before[0])


def test_read_only_sci_is_refused():
    data, groupdq, pixeldq = oracle_case(2)
    data.flags.writeable = False
    with pytest.raises(ValueError, match="data is read-only"):
        rscd.apply(data, groupdq, pixeldq, Reference("m", measured_rows=tuple(model_rows())),
                   readpatt="FAST", subarray="FULL", method="measured")


# ------------------------------------------------------------------ files and interfaces


def test_apply_file_new_file_and_in_place(tmp_path):
    data, groupdq, pixeldq = oracle_case(5)
    src = write_astropy(tmp_path / "jw_a_linearity.fits", data, groupdq, pixeldq)
    ref = measured_reference(tmp_path / "m.fits", skip_rows=[("FULL", "FAST", 1, 3)])
    want = measured_oracle(data, groupdq, pixeldq,
                           rscd.read_reference(ref).lookup("FAST", "FULL", "measured"))
    digest = sha256(src)
    res = rscd.apply_file(src, ref, output_dir=tmp_path / "out", method="measured")
    assert res.status == "COMPLETE" and sha256(src) == digest
    with fits.open(tmp_path / "out" / "jw_a_rscd.fits") as hdul:
        assert hdul[0].header["S_RSCD"] == "COMPLETE"
        assert hdul[0].header["RSCDMETH"] == "measured"
        assert "INT2SKIP" not in hdul[0].header
        np.testing.assert_array_equal(hdul["SCI"].data, want)
        np.testing.assert_array_equal(hdul["GROUPDQ"].data, groupdq)
    # auto on the two-table file is flag
    assert rscd.apply_file(src, ref, output=tmp_path / "f.fits").method == "flag"
    # in place: corrected, then refused as not idempotent, then forced
    res = rscd.apply_file(src, ref, inplace=True, method="measured")
    assert res.status == "COMPLETE"
    with fits.open(src) as hdul:
        np.testing.assert_array_equal(hdul["SCI"].data, want)
        assert hdul[0].header["S_RSCD"] == "COMPLETE"
    with pytest.raises(rscd.RampFileError, match="measured is not idempotent"):
        rscd.apply_file(src, ref, inplace=True, method="measured")
    assert rscd.apply_file(src, ref, inplace=True, method="measured",
                           force=True).status == "COMPLETE"


def test_in_place_writes_the_running_marker_first(tmp_path, monkeypatch):
    """S_RSCD = 'RUNNING' is on disk while the core changes the data (as for decay)."""
    data, groupdq, pixeldq = oracle_case(6)
    src = write_astropy(tmp_path / "jw_b_linearity.fits", data, groupdq, pixeldq)
    ref = measured_reference(tmp_path / "m.fits")
    seen = []
    real = rscd.correct._apply_measured

    def spy(*args, **kwargs):
        seen.append(fits.getval(src, "S_RSCD"))
        raise KeyboardInterrupt       # dies half-way: the marker must stay
    monkeypatch.setattr(rscd.correct, "_apply_measured", spy)
    with pytest.raises(KeyboardInterrupt):
        rscd.apply_file(src, ref, inplace=True)
    assert seen == ["RUNNING"]
    monkeypatch.setattr(rscd.correct, "_apply_measured", real)
    with pytest.raises(rscd.RampFileError, match="RUNNING.*decay or measured run was"):
        rscd.apply_file(src, ref, inplace=True)


def test_command_line(tmp_path):
    data, groupdq, pixeldq = oracle_case(8)
    src = write_astropy(tmp_path / "jw_c_linearity.fits", data, groupdq, pixeldq)
    ref = measured_reference(tmp_path / "m.fits", skip_rows=[("FULL", "FAST", 1, 3)])
    proc = subprocess.run([sys.executable, "-m", "rscd", str(src), "--reference", str(ref),
                           "--method", "measured", "--output-dir", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=tmp_path)   # not the clone
    assert proc.returncode == 0, proc.stderr
    assert fits.getval(tmp_path / "o" / "jw_c_rscd.fits", "RSCDMETH") == "measured"


def test_apply_model_and_step(tmp_path, monkeypatch):
    pytest.importorskip("jwst")
    from crds.core import utils
    from crds_cache import write_server_config
    cache = tmp_path / "crds_cache"                # offline CRDS, as tests/test_step.py
    write_server_config(cache)
    monkeypatch.setenv("CRDS_PATH", str(cache))
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "True")
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    monkeypatch.delenv("CRDS_CONTEXT", raising=False)
    utils.clear_function_caches()
    from stdatamodels.jwst.datamodels import RampModel

    from rscd.step import RscdFastStep
    data, groupdq, pixeldq = oracle_case(9)
    path = write_datamodel(tmp_path / "jw_d_linearity.fits", data, groupdq, pixeldq)
    ref = measured_reference(tmp_path / "m.fits")
    want = measured_oracle(data, groupdq, pixeldq,
                           rscd.read_reference(ref).lookup("FAST", "FULL", "measured"))
    with RampModel(str(path)) as model:
        res = rscd.apply_model(model, ref, method="measured")
        assert res.method == "measured"
        np.testing.assert_array_equal(model.data, want)
        assert model.meta.cal_step.rscd == "COMPLETE"
    result = RscdFastStep.call(str(path), override_rscd=str(ref), method="measured")
    np.testing.assert_array_equal(result.data, want)
    np.testing.assert_array_equal(result.groupdq, groupdq)


def test_dask_matches_apply():
    da = pytest.importorskip("dask.array")
    import rscd.dask as rdask
    data, groupdq, pixeldq = oracle_case(10, nrows=40, ncols=24)
    ref = Reference("m", measured_rows=tuple(model_rows()))
    want = data.copy()
    base = rscd.apply(want, groupdq.copy(), pixeldq, ref, readpatt="FAST",
                      subarray="FULL", method="measured", ystart=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = rdask.apply(da.from_array(data, chunks=(-1, -1, 7, 10)),
                          da.from_array(groupdq, chunks=(-1, -1, 7, 10)), pixeldq, ref,
                          readpatt="FAST", subarray="FULL", method="measured", ystart=2)
    sci, gdq, _, res = rdask.compute(out)
    np.testing.assert_array_equal(sci, want)
    np.testing.assert_array_equal(gdq, groupdq)
    assert (res.npix_corrected, res.nints_corrected) == (base.npix_corrected,
                                                         base.nints_corrected)
