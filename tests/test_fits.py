"""rscd.apply_file: new-file and in-place runs on FITS ramp files (docs/inplace.rst)."""
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from astropy.io import fits

import rscd
import rscd.safe_files
from children import child_env, run_rscd
from rscd.fits import RampFileError, apply_file, output_path
from fitsfiles import (DO_NOT_USE, FLUX_ESTIMATED, REFERENCE_PIXEL, decay_reference,
                       fill_primary_header, flag_reference, free_cards, leftovers, ramp_arrays, segments, sha256,
                       write_astropy, write_datamodel)

METHODS = ("flag", "decay")


@pytest.fixture
def refs(tmp_path):
    return {"flag": flag_reference(str(tmp_path / "ref_flag.fits")),
            "decay": decay_reference(str(tmp_path / "ref_decay.fits"))}


def expected(method, ref, data, groupdq, pixeldq, **kw):
    """The array API on in-memory copies: what the file must hold afterwards."""
    d, g, p = data.copy(), groupdq.copy(), pixeldq.copy()
    res = rscd.apply(d, g, p, ref, readpatt="FAST", subarray="FULL", method=method, **kw)
    return res, d, g, p


def read(path):
    with fits.open(path) as hdul:
        return (hdul["SCI"].data.astype(np.float32), hdul["GROUPDQ"].data.copy(),
                hdul["PIXELDQ"].data.astype(np.uint32), hdul[0].header.copy())


def assert_keywords(header, result):
    for key, value in result.header_keywords().items():
        assert header[key] == value, key
    assert any("rscd" in str(h) for h in header["HISTORY"])


# --- output names ---------------------------------------------------------------------

@pytest.mark.parametrize("name, out", [
    ("jw01_mirimage_linearity.fits", "jw01_mirimage_rscd.fits"),
    ("jw01_mirimage_linearitystep.fits", "jw01_mirimage_rscd.fits"),
    ("a_uncal.fits", "a_rscd.fits"), ("a_dq_init.fits", "a_rscd.fits"),
    ("a_saturation.fits", "a_rscd.fits"), ("a_ramp.fits", "a_rscd.fits"),
    ("a_dark.fits", "a_rscd.fits"), ("a_refpix.fits", "a_rscd.fits"),
    ("a_lastframe.fits", "a_rscd.fits"), ("a_firstframe.fits", "a_rscd.fits"),
    ("a_reset.fits", "a_rscd.fits"), ("a_emicorr.fits", "a_rscd.fits"),
    ("a_rscd.fits", "a_rscd.fits"), ("plain.fits", "plain_rscd.fits"),
    ("plain.FITS", "plain_rscd.FITS"), ("noext", "noext_rscd"),
    ("a_rate.fits", "a_rate_rscd.fits"), ("linearity.fits", "linearity_rscd.fits"),
])
def test_output_name(name, out):
    assert output_path(os.path.join("d", name)) == os.path.join("d", out)
    assert output_path(os.path.join("d", name), "o") == os.path.join("o", out)


# --- new file ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_new_file_plain_astropy(tmp_path, refs, method):
    data, gdq, pdq = ramp_arrays()
    extra = fits.BinTableHDU.from_columns([fits.Column("x", "J", array=[1, 2, 3])], name="ASDF")
    src = write_astropy(str(tmp_path / "x_linearity.fits"), data, gdq, pdq, extra_hdus=[extra])
    before = sha256(src)
    res = apply_file(src, refs[method], method=method)
    out = str(tmp_path / "x_rscd.fits")
    assert sha256(src) == before                       # input only read
    want, d, g, p = expected(method, refs[method], data, gdq, pdq)
    assert res == want
    sci, groupdq, pixeldq, header = read(out)
    np.testing.assert_array_equal(sci, d)
    np.testing.assert_array_equal(groupdq, g)
    np.testing.assert_array_equal(pixeldq, p)
    assert_keywords(header, res)
    assert header["R_RSCD"] == "ref_%s.fits" % method
    # every other HDU byte for byte
    a, b = segments(src), segments(out)
    assert [s[0] for s in a] == [s[0] for s in b]
    assert a[-1] == b[-1]
    assert leftovers(tmp_path) == []


def test_new_file_refuses_existing_output(tmp_path, refs):
    src = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays())
    out = tmp_path / "x_rscd.fits"
    out.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        apply_file(src, refs["flag"])
    assert out.read_bytes() == b"keep me"
    apply_file(src, refs["flag"], overwrite=True)
    assert read(str(out))[3]["S_RSCD"] == "COMPLETE"


def test_new_file_output_dir_and_name(tmp_path, refs):
    src = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays())
    (tmp_path / "o").mkdir()
    apply_file(src, refs["flag"], output_dir=str(tmp_path / "o"))
    assert (tmp_path / "o" / "x_rscd.fits").exists()
    apply_file(src, refs["flag"], output=str(tmp_path / "named.fits"))
    assert (tmp_path / "named.fits").exists()


def test_output_equal_to_input_refused(tmp_path, refs):
    src = write_astropy(str(tmp_path / "x_rscd.fits"), *ramp_arrays())
    before = sha256(src)
    with pytest.raises(RampFileError, match="input itself"):
        apply_file(src, refs["flag"], overwrite=True)
    assert sha256(src) == before


def test_failure_removes_temporary_file(tmp_path, refs, monkeypatch):
    src = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays())

    def boom(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(rscd.fits, "apply", boom)
    with pytest.raises(RuntimeError):
        apply_file(src, refs["flag"])
    assert sorted(os.listdir(tmp_path)) == ["ref_decay.fits", "ref_flag.fits", "x_uncal.fits"]


# --- in place ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_in_place_equals_new_file(tmp_path, refs, method):
    data, gdq, pdq = ramp_arrays(seed=3)
    src = write_astropy(str(tmp_path / "x_ramp.fits"), data, gdq, pdq)
    inplace = str(tmp_path / "copy.fits")
    shutil.copyfile(src, inplace)
    res_new = apply_file(src, refs[method], method=method)
    st = os.stat(inplace)
    old = segments(inplace)
    res_in = apply_file(inplace, refs[method], method=method, inplace=True)
    assert res_new == res_in
    new = read(str(tmp_path / "x_rscd.fits"))
    got = read(inplace)
    for a, b in zip(new[:3], got[:3]):
        np.testing.assert_array_equal(a, b)
    after = os.stat(inplace)
    assert (after.st_ino, after.st_size) == (st.st_ino, st.st_size)
    # only the primary header and the data of the HDUs the method changes differ
    changed = {"decay": {"SCI"}, "flag": {"GROUPDQ", "PIXELDQ"}}[method]
    for (name, h0, d0), (name1, h1, d1) in zip(old, segments(inplace)):
        assert name == name1
        assert (h0 == h1) == (name != "PRIMARY"), name
        assert (d0 == d1) == (name not in changed), name
    assert_keywords(got[3], res_in)


def test_in_place_datamodel_file_big_endian_sci(tmp_path, refs):
    pytest.importorskip("stdatamodels", reason="stdatamodels is not installed")
    data, gdq, pdq = ramp_arrays(nints=4, seed=5)
    path = write_datamodel(str(tmp_path / "m_linearity.fits"), data, gdq, pdq)
    with fits.open(path, memmap=True, do_not_scale_image_data=True) as hdul:
        assert hdul["SCI"].data.dtype.str == ">f4"
    res = apply_file(path, refs["decay"], inplace=True)
    want, d, g, p = expected("decay", refs["decay"], data, gdq, pdq)
    assert res == want and res.method == "decay"
    sci, groupdq, pixeldq, header = read(path)
    np.testing.assert_array_equal(sci, d)
    np.testing.assert_array_equal(groupdq, gdq)
    np.testing.assert_array_equal(pixeldq, pdq)


@pytest.mark.parametrize("inplace", [False, True])
def test_pixeldq_reference_pixel_survives(tmp_path, inplace):
    """Bit 31 is stored inverted (int32 with BZERO 2**31): FLUX_ESTIMATED must be ORed in
    without touching it, on pixels with and without REFERENCE_PIXEL."""
    nints, ngroups, nrows, ncols = 2, 8, 4, 6
    data = np.ones((nints, ngroups, nrows, ncols), np.float32)
    gdq = np.zeros(data.shape, np.uint8)
    gdq[:, 3:] = 2                                   # saturates at group 3: back-off everywhere
    pdq = np.zeros((nrows, ncols), np.uint32)
    pdq[:, :3] = REFERENCE_PIXEL
    pdq[0] |= 5
    pdq[1, 1] |= FLUX_ESTIMATED
    ref = flag_reference(str(tmp_path / "r.fits"), skip1=3, skip2p=3)
    src = write_astropy(str(tmp_path / "p_uncal.fits"), data, gdq, pdq)
    res = apply_file(src, ref, inplace=inplace)
    assert res.keep_groups_saturation_int1 == nrows * ncols
    path = src if inplace else str(tmp_path / "p_rscd.fits")
    with fits.open(path) as hdul:
        got = hdul["PIXELDQ"].data
        assert got.dtype == np.uint32
        np.testing.assert_array_equal(got, pdq | FLUX_ESTIMATED)
    with fits.open(path, do_not_scale_image_data=True) as hdul:
        assert hdul["PIXELDQ"].header["BZERO"] == 2**31
        assert hdul["PIXELDQ"].header["BITPIX"] == 32


def _full_header_file(path):
    data, gdq, pdq = ramp_arrays()
    write_astropy(path, data, gdq, pdq)
    return fill_primary_header(path)


def test_header_without_room_keep_inode_refused_new_file_grows(tmp_path, refs):
    """A primary header with no free card: --keep-inode refuses (adding a block means a
    new file); a new-file run adds a block and keeps RESERVE_CARDS free for later."""
    src = _full_header_file(str(tmp_path / "full_uncal.fits"))
    before = sha256(src)
    with pytest.raises(RampFileError, match="do not fit.*--keep-inode.*without --in-place"):
        apply_file(src, refs["flag"], inplace=True, keep_inode=True)
    assert sha256(src) == before and leftovers(tmp_path) == []
    res = apply_file(src, refs["flag"])
    out = str(tmp_path / "full_rscd.fits")
    assert sha256(src) == before
    old, new = segments(src), segments(out)
    assert len(new[0][1]) == len(old[0][1]) + 2880
    assert free_cards(out) >= rscd.fits.RESERVE_CARDS
    assert old[1:] != new[1:] and [s[1] for s in old[1:]] == [s[1] for s in new[1:]]
    assert_keywords(read(out)[3], res)
    # the grown output has room now: a second run in place fits (same inode) and matches
    st = os.stat(out)
    assert apply_file(out, refs["flag"], inplace=True, keep_inode=True) == res
    assert (os.stat(out).st_size, os.stat(out).st_ino) == (st.st_size, st.st_ino)


@pytest.mark.parametrize("method", METHODS)
def test_in_place_without_room_goes_through_a_copy(tmp_path, refs, method, caplog):
    """No room: the file is corrected through a copy renamed over it (same path, new
    inode, permissions kept), equal to a new-file run; the log and the Result say so."""
    src = _full_header_file(str(tmp_path / "full_uncal.fits"))
    os.chmod(src, 0o640)
    res_new = apply_file(src, refs[method], output=str(tmp_path / "new.fits"))
    st = os.stat(src)
    with caplog.at_level("INFO", logger="rscd"):
        res = apply_file(src, refs[method], inplace=True)
    assert "through a copy" in caplog.text and "corrected in place" not in caplog.text
    assert any("through a copy" in note for note in res.notes)
    assert res.header_keywords() == res_new.header_keywords()
    after = os.stat(src)
    assert after.st_ino != st.st_ino and after.st_size == st.st_size + 2880
    assert after.st_mode == st.st_mode
    assert leftovers(tmp_path) == []
    assert [s[1:] for s in segments(src)[1:]] == [s[1:] for s in
                                                  segments(str(tmp_path / "new.fits"))[1:]]
    assert free_cards(src) >= rscd.fits.RESERVE_CARDS
    # the next in-place run takes the fast path
    caplog.clear()
    st = os.stat(src)
    with caplog.at_level("INFO", logger="rscd"):
        apply_file(src, refs["flag"], inplace=True)
    assert "corrected in place" in caplog.text and os.stat(src).st_ino == st.st_ino


def test_in_place_copy_through_a_symlink_replaces_the_target(tmp_path, refs):
    src = _full_header_file(str(tmp_path / "full_uncal.fits"))
    link = tmp_path / "link.fits"
    link.symlink_to(src)
    assert apply_file(str(link), refs["flag"], inplace=True).status == "COMPLETE"
    assert link.is_symlink() and fits.getval(src, "S_RSCD") == "COMPLETE"


def test_in_place_copy_failure_leaves_the_input(tmp_path, refs, monkeypatch):
    src = _full_header_file(str(tmp_path / "full_uncal.fits"))
    before, ino = sha256(src), os.stat(src).st_ino

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(rscd.fits, "_copy_rest", broken)
    with pytest.raises(OSError, match="No space"):
        apply_file(src, refs["decay"], inplace=True)
    assert sha256(src) == before and os.stat(src).st_ino == ino
    assert leftovers(tmp_path) == []


def test_in_place_copy_in_a_folder_that_refuses_it(tmp_path, refs, monkeypatch):
    """The folder does not let the copy be written (read-only folder, writable file):
    one clear line, the file untouched. Faked: the tests may run as root."""
    src = _full_header_file(str(tmp_path / "full_uncal.fits"))
    before = sha256(src)

    def refused(folder, name):
        raise PermissionError(13, "Permission denied", os.path.join(folder, name))
    monkeypatch.setattr(rscd.safe_files, "_create_locked_temp", refused)
    with pytest.raises(RampFileError, match="copy cannot be written in .*Permission denied"
                                            ".*--output-dir"):
        apply_file(src, refs["flag"], inplace=True)
    assert sha256(src) == before


@pytest.mark.parametrize("padding", [0, 1, 8, 9, 10, 17, 18, 26, 27, 35])
def test_new_file_output_keeps_room_for_an_in_place_run(tmp_path, refs, padding):
    """Whatever the input's free space, a new-file output keeps RESERVE_CARDS free cards
    in its primary header, and its other HDUs are the input's byte for byte."""
    data, gdq, pdq = ramp_arrays()
    src = write_astropy(str(tmp_path / "x_uncal.fits"), data, gdq, pdq)
    with fits.open(src) as hdul:
        hdr = hdul[0].header
        while free_cards_of(hdr) != padding:
            hdr[f"PAD{len(hdr)}"] = 1
        hdul.writeto(src, overwrite=True)
    assert free_cards(src) == padding
    apply_file(src, refs["flag"])
    out = str(tmp_path / "x_rscd.fits")
    assert free_cards(out) >= rscd.fits.RESERVE_CARDS
    assert [s[1] for s in segments(out)[1:]] == [s[1] for s in segments(src)[1:]]
    st = os.stat(out)
    apply_file(out, refs["flag"], inplace=True, keep_inode=True)    # the fast path
    assert os.stat(out).st_ino == st.st_ino


def free_cards_of(header):
    return 36 * (len(header.tostring()) // 2880) - len(header) - 1


# --- decay refusal and the in-progress marker ---------------------------------------------

@pytest.mark.parametrize("inplace", [False, True])
def test_decay_refuses_complete_file(tmp_path, refs, inplace):
    src = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays(), S_RSCD="COMPLETE")
    before = sha256(src)
    with pytest.raises(RampFileError, match="not idempotent"):
        apply_file(src, refs["decay"], inplace=inplace)
    assert sha256(src) == before
    assert apply_file(src, refs["decay"], inplace=inplace, force=True).status == "COMPLETE"
    # flag is idempotent: no refusal
    assert apply_file(src, refs["flag"], inplace=True).status == "COMPLETE"


def test_decay_twice_in_place_refused(tmp_path, refs):
    src = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays())
    apply_file(src, refs["decay"], inplace=True)
    with pytest.raises(RampFileError, match="COMPLETE"):
        apply_file(src, refs["decay"], inplace=True)


class Interrupted(BaseException):
    pass


def test_interrupted_run_detected(tmp_path, refs, monkeypatch):
    data, gdq, pdq = ramp_arrays()
    src = write_astropy(str(tmp_path / "x_uncal.fits"), data, gdq, pdq)
    real_apply = rscd.fits.apply
    seen = {}

    def dies_half_way(sci, *args, **kwargs):
        # the marker is on disk (flushed) before the data are touched
        seen["marker"] = fits.getval(src, "S_RSCD")
        sci[1, 0] += 1.0
        raise Interrupted()
    monkeypatch.setattr(rscd.fits, "apply", dies_half_way)
    with pytest.raises(Interrupted):
        apply_file(src, refs["decay"], inplace=True)
    assert seen["marker"] == "RUNNING"
    monkeypatch.setattr(rscd.fits, "apply", real_apply)
    assert fits.getval(src, "S_RSCD") == "RUNNING"
    for method in METHODS:
        for inplace in (False, True):
            with pytest.raises(RampFileError, match="interrupted"):
                apply_file(src, refs[method], method=method, inplace=inplace)
    assert not (tmp_path / "x_rscd.fits").exists()
    assert apply_file(src, refs["decay"], inplace=True, force=True).status == "COMPLETE"
    assert fits.getval(src, "S_RSCD") == "COMPLETE"


def test_simulated_marker_refused(tmp_path, refs):
    src = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays(), S_RSCD="RUNNING")
    with pytest.raises(RampFileError, match="S_RSCD = 'RUNNING'.*--force"):
        apply_file(src, refs["decay"], inplace=True)


def test_marker_taken_back_when_apply_refuses(tmp_path, refs):
    src = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays())
    before = sha256(src)
    with pytest.raises(ValueError, match="threads"):
        apply_file(src, refs["decay"], inplace=True, threads=0)
    assert sha256(src) == before


def _mismatch(tmp_path, kind):
    """A file and a decay reference that make apply warn: no row for the file's
    READPATT, or a reference for another DETECTOR."""
    path = str(tmp_path / "w_uncal.fits")
    ref = str(tmp_path / "ref.fits")
    if kind == "no row":
        write_astropy(path, *ramp_arrays(), READPATT="SLOW")
        decay_reference(ref)
    else:
        write_astropy(path, *ramp_arrays())
        rscd.write_decay_reference(ref, rscd.read_reference(decay_reference(ref)).decay_rows,
                                   detector="MIRIFULONG", overwrite=True)
    return path, ref


@pytest.mark.parametrize("kind", ["no row", "other detector"])
@pytest.mark.parametrize("inplace", [True, False])
def test_warning_as_error_leaves_the_file_as_it_was(tmp_path, kind, inplace):
    """Issue 15.1: with warnings as errors, apply's RSCDWarning escaped after S_RSCD =
    'RUNNING' was on disk, and the next run refused the untouched file. Every check runs
    before anything is written now."""
    path, ref = _mismatch(tmp_path, kind)
    before = sha256(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", rscd.RSCDWarning)
        with pytest.raises(rscd.RSCDWarning):
            apply_file(path, ref, inplace=inplace, method="decay")
    assert sha256(path) == before and sorted(os.listdir(tmp_path)) == ["ref.fits",
                                                                       "w_uncal.fits"]
    with pytest.warns(rscd.RSCDWarning):          # the next run works
        res = apply_file(path, ref, inplace=True, method="decay")
    assert res.status == ("SKIPPED" if kind == "no row" else "COMPLETE")
    assert fits.getval(path, "S_RSCD") == res.status


def test_warning_as_error_in_a_child_with_w_error(tmp_path):
    """The reproduction of issue 15.1: ``python -W error``, a reference for another
    detector, an in-place decay run."""
    path, ref = _mismatch(tmp_path, "other detector")
    before = sha256(path)
    code = "import sys, rscd; rscd.apply_file(sys.argv[1], sys.argv[2], inplace=True)"
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code, path, ref],
                          capture_output=True, text=True, env=child_env(), timeout=120,
                          cwd=str(tmp_path))
    assert proc.returncode == 1 and "RSCDWarning" in proc.stderr
    assert "DETECTOR=MIRIFULONG" in proc.stderr and sha256(path) == before
    proc = run_rscd(path, "--reference", ref, "--in-place")     # the next run works
    assert proc.returncode == 0, proc.stderr
    assert fits.getval(path, "S_RSCD") == "COMPLETE"


def test_interrupt_before_the_data_restores_the_header(tmp_path, refs, monkeypatch):
    """An exception apply raises while checking (here a ValueError of its own) takes the
    marker back; the file is byte-identical."""
    src = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays())
    before = sha256(src)
    real_apply = rscd.fits.apply

    def refuses(sci, *args, **kwargs):
        if sci.size and fits.getval(src, "S_RSCD") == "RUNNING":
            raise ValueError("refused while checking")
        return real_apply(sci, *args, **kwargs)
    monkeypatch.setattr(rscd.fits, "apply", refuses)
    with pytest.raises(ValueError, match="refused while checking"):
        apply_file(src, refs["decay"], inplace=True)
    assert sha256(src) == before


# --- jwst compatibility ---------------------------------------------------------------------

@pytest.mark.parametrize("integration_start", [1, 3])
@pytest.mark.parametrize("skips", [(1, 3), (2, 4), (0, 1)])
def test_jwst_reads_output_as_do_correction_makes_it(tmp_path, integration_start, skips):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels",
                                     reason="stdatamodels is not installed")
    rscd_sub = pytest.importorskip("jwst.rscd.rscd_sub", reason="jwst is not installed")
    data, gdq, pdq = ramp_arrays(nints=4, ngroups=9, seed=sum(skips) + integration_start)
    ref = flag_reference(str(tmp_path / "jwst_miri_rscd_test.fits"), *skips)
    src = write_datamodel(str(tmp_path / "m_linearity.fits"), data, gdq, pdq,
                          integration_start=integration_start, nints=integration_start + 5)
    res = apply_file(src, ref)
    with datamodels.RampModel(src) as model, datamodels.RSCDModel(ref) as refmodel:
        theirs = rscd_sub.do_correction(model, refmodel)
        with datamodels.RampModel(str(tmp_path / "m_rscd.fits")) as ours:
            np.testing.assert_array_equal(ours.groupdq, theirs.groupdq)
            np.testing.assert_array_equal(ours.pixeldq, theirs.pixeldq)
            np.testing.assert_array_equal(ours.data, theirs.data)
            assert ours.meta.cal_step.rscd == theirs.meta.cal_step.rscd == "COMPLETE"
            assert ours.meta.ref_file.rscd.name == "jwst_miri_rscd_test.fits"
            for name in ("ngroups_skip_int1", "ngroups_skip_int2p",
                         "keep_bright_firstgroup_int1", "keep_bright_firstgroup_int2p",
                         "keep_groups_saturation_int1", "keep_groups_saturation_int2p"):
                assert getattr(ours.meta.rscd, name) == getattr(theirs.meta.rscd, name), name
                assert getattr(ours.meta.rscd, name) == getattr(res, name), name
    assert segments(src)[-1] == segments(str(tmp_path / "m_rscd.fits"))[-1]   # ASDF


@pytest.mark.parametrize("inplace", [False, True])
def test_datamodel_in_place_keywords_win(tmp_path, inplace):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels",
                                     reason="stdatamodels is not installed")
    data, gdq, pdq = ramp_arrays(nints=3, ngroups=10)
    ref = flag_reference(str(tmp_path / "r.fits"), 2, 3)
    src = write_datamodel(str(tmp_path / "m_uncal.fits"), data, gdq, pdq)
    res = apply_file(src, ref, inplace=inplace)
    with datamodels.RampModel(src if inplace else str(tmp_path / "m_rscd.fits")) as model:
        assert model.meta.cal_step.rscd == "COMPLETE"
        assert model.meta.rscd.ngroups_skip_int1 == res.ngroups_skip_int1 == 2
        assert model.meta.rscd.ngroups_skip_int2p == 3
        assert model.meta.ref_file.rscd.name == "r.fits"
        assert (model.groupdq[1, :3] & DO_NOT_USE).any()


# --- skipped runs still write their status ---------------------------------------------------

def test_non_miri_skipped(tmp_path, refs):
    data, gdq, pdq = ramp_arrays()
    src = write_astropy(str(tmp_path / "n_uncal.fits"), data, gdq, pdq, DETECTOR="NRCA1")
    res = apply_file(src, refs["flag"])
    assert res.status == "SKIPPED" and "MIRI" in res.reason
    sci, g, p, header = read(str(tmp_path / "n_rscd.fits"))
    assert header["S_RSCD"] == "SKIPPED"
    np.testing.assert_array_equal(g, gdq)


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("readpatt", [None, 5])
def test_no_readpatt_skipped_as_jwst_skips(tmp_path, refs, readpatt, method, inplace):
    """A file without a READPATT string matches no reference row: jwst 3.0.0 skips it
    (SKIPPED, 'READPATT, SUBARRAY combination not found'), and so does rscd, where it
    refused the file before ('lacks the required keyword READPATT')."""
    data, gdq, pdq = ramp_arrays()
    src = write_astropy(str(tmp_path / "n_uncal.fits"), data, gdq, pdq, READPATT=readpatt)
    with pytest.warns(rscd.RSCDWarning, match="no READPATT in the data"):
        res = apply_file(src, refs[method], inplace=inplace, method=method)
    assert res.status == "SKIPPED" and "READPATT='' (no READPATT in the data)" in res.reason
    out = src if inplace else str(tmp_path / "n_rscd.fits")
    sci, g, p, header = read(out)
    assert header["S_RSCD"] == "SKIPPED"
    np.testing.assert_array_equal(sci, data)
    np.testing.assert_array_equal(g, gdq)
    if method == "flag" and not inplace:
        datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
        rscd_sub = pytest.importorskip("jwst.rscd.rscd_sub")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # READPATT = 5 fails the schema: a warning
            with datamodels.RampModel(src) as model, \
                    datamodels.RSCDModel(refs["flag"]) as refmodel:
                assert rscd_sub.do_correction(model, refmodel).meta.cal_step.rscd == "SKIPPED"


def test_no_readpatt_refused_by_diagnose(tmp_path):
    data, gdq, pdq = ramp_arrays(ngroups=10)
    src = write_astropy(str(tmp_path / "n_uncal.fits"), data, gdq, pdq, READPATT=None)
    from rscd.diagnose_measure import DiagnoseError
    with pytest.raises(DiagnoseError, match="n_uncal.fits: primary header lacks the "
                       "keyword READPATT"):
        rscd.diagnose_files([src])


def test_no_matching_row_skipped(tmp_path, refs):
    src = write_astropy(str(tmp_path / "n_uncal.fits"), *ramp_arrays(), READPATT="SLOW")
    with pytest.warns(rscd.RSCDWarning, match="READPATT=SLOW"):
        res = apply_file(src, refs["flag"], inplace=True)
    assert res.status == "SKIPPED"
    assert fits.getval(src, "S_RSCD") == "SKIPPED"


# --- bad input: a clear error, nothing written ------------------------------------------------

def _broken(tmp_path, kind):
    data, gdq, pdq = ramp_arrays()
    path = str(tmp_path / "bad_uncal.fits")
    if kind == "garbage":
        with open(path, "wb") as f:
            f.write(os.urandom(5000))
        return path, "not a FITS file"
    if kind == "gzip":
        with open(path, "wb") as f:
            f.write(b"\x1f\x8b" + os.urandom(100))
        return path, "compressed"
    if kind == "empty":
        open(path, "wb").close()
        return path, "not a FITS file"
    if kind == "header_only":
        with open(path, "wb") as f:
            f.write(b"SIMPLE  =                    T" + b" " * 50 + b"garbage" * 10)
        return path, "not a readable FITS file"
    write_astropy(path, data, gdq, pdq)
    with open(path, "rb") as f:
        raw = f.read()
    if kind in ("truncated_data", "truncated_header"):
        with fits.open(path) as hdul:
            cut = hdul.fileinfo(3)["datLoc"] + (100 if kind == "truncated_data" else -1000)
        with open(path, "wb") as f:
            f.write(raw[:cut])
        return path, "truncated|damaged|GROUPDQ"
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul]
    if kind == "no_sci":
        hdus = [h for h in hdus if h.name != "SCI"]
        match = "no SCI extension"
    elif kind == "groupdq_shape":
        hdus[3] = fits.ImageHDU(gdq[:, :-1], name="GROUPDQ")
        match = "GROUPDQ has shape"
    elif kind == "pixeldq_shape":
        hdus[2] = fits.ImageHDU(pdq[:-1], name="PIXELDQ")
        match = "PIXELDQ has shape"
    elif kind == "groupdq_dtype":
        hdus[3] = fits.ImageHDU(gdq.astype(np.int16), name="GROUPDQ")
        match = "GROUPDQ has BITPIX = 16"
    elif kind == "sci_table":
        hdus[1] = fits.BinTableHDU.from_columns([fits.Column("a", "J", array=[1])], name="SCI")
        match = "SCI is a BinTableHDU"
    elif kind == "no_detector":
        del hdus[0].header["DETECTOR"]
        match = "lacks the required keyword DETECTOR"
    elif kind == "bad_nints":
        hdus[0].header["NINTS"] = "three"
        match = "NINTS = 'three' is not an integer"
    elif kind == "ngroups_mismatch":
        hdus[0].header["NGROUPS"] = 99
        match = "NGROUPS = 99 but SCI has 8 groups"
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path, match


BROKEN = ["garbage", "gzip", "empty", "header_only", "truncated_data", "truncated_header",
          "no_sci", "groupdq_shape", "pixeldq_shape", "groupdq_dtype", "sci_table",
          "no_detector", "bad_nints", "ngroups_mismatch"]


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("kind", BROKEN)
def test_bad_ramp_file(tmp_path, refs, kind, inplace):
    path, match = _broken(tmp_path, kind)
    before = sha256(path)
    names = sorted(os.listdir(tmp_path))
    with pytest.raises(RampFileError, match=match) as info:
        apply_file(path, refs["flag"], inplace=inplace)
    assert path in str(info.value)
    assert sha256(path) == before
    assert sorted(os.listdir(tmp_path)) == names


def test_reference_not_fits(tmp_path):
    src = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays())
    ref = tmp_path / "ref.fits"
    ref.write_text("not a FITS file at all\n" * 200)
    with pytest.raises(rscd.ReferenceFileError, match="ref.fits"):
        apply_file(src, str(ref))
    assert not (tmp_path / "x_rscd.fits").exists()


def test_reference_without_table_for_method(tmp_path, refs):
    src = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays())
    with pytest.raises(rscd.ReferenceFileError, match="RSCD_GROUP_SKIP"):
        apply_file(src, refs["decay"], method="flag")
    assert leftovers(tmp_path) == [] and not (tmp_path / "x_rscd.fits").exists()


def test_missing_input(tmp_path, refs):
    with pytest.raises(FileNotFoundError):
        apply_file(str(tmp_path / "nope.fits"), refs["flag"])


def test_argument_errors(tmp_path, refs):
    src = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays())
    with pytest.raises(ValueError, match="method"):
        apply_file(src, refs["flag"], method="fast")
    with pytest.raises(ValueError, match="inplace"):
        apply_file(src, refs["flag"], inplace=True, output_dir=str(tmp_path))


def test_new_file_copy_falls_back_when_the_kernel_cannot_copy(tmp_path, monkeypatch):
    # copy_file_range is refused on some file systems: the portable copy must give the
    # same file, also when part of the kernel copy had happened already.
    data, groupdq, pixeldq = ramp_arrays()
    src = write_astropy(tmp_path / "x_linearity.fits", data, groupdq, pixeldq)
    ref = flag_reference(tmp_path / "ref.fits")
    expected = rscd.apply_file(src, ref, output=tmp_path / "kernel.fits")
    real = getattr(os, "copy_file_range", None)
    calls = []

    def flaky(fd_in, fd_out, count, offset_src=None, offset_dst=None):
        calls.append(count)
        if len(calls) > 1 or real is None:
            raise OSError(18, "Invalid cross-device link")
        return real(fd_in, fd_out, min(count, 5000), offset_src, offset_dst)

    monkeypatch.setattr(os, "copy_file_range", flaky, raising=False)
    got = rscd.apply_file(src, ref, output=tmp_path / "fallback.fits")
    assert calls and got == expected
    # Byte for byte, but for the run's time in the HISTORY card (two runs can straddle a second).
    run_time = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
    kernel, fallback = ((tmp_path / name).read_bytes() for name in ("kernel.fits", "fallback.fits"))
    assert run_time.sub(b"T", kernel) == run_time.sub(b"T", fallback)


@pytest.mark.parametrize("options, message", [
    (dict(method="fast"), r"^--method \(method=\) must be one of"),
    (dict(inplace=True, output_dir="out"), r"^--in-place \(inplace=True\) writes no new file"),
    (dict(keep_inode=True), r"^--keep-inode is for --in-place runs"),
    (dict(output_dir="a_file"), r"^--output-dir .*a_file: a file of that name exists"),
])
def test_apply_file_checks_its_options_with_the_commands_checks(tmp_path, options, message):
    """rscd.apply_file has no copy of the option checks (issue 24): it calls
    rscd.options.check_options, before the reference or the input is read."""
    (tmp_path / "a_file").write_text("")
    options = {k: (str(tmp_path / v) if k == "output_dir" else v) for k, v in options.items()}
    with pytest.raises(ValueError, match=message):
        rscd.apply_file(tmp_path / "missing.fits", tmp_path / "no_ref.fits", **options)
