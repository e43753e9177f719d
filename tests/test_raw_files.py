"""Raw ramp files (uncal as MAST gives them: SCI as 16-bit integers with BZERO, no GROUPDQ,
no PIXELDQ) are corrected as jwst 3.0.0 corrects them: its RampModel reads SCI into
float32 and makes GROUPDQ and PIXELDQ of zeros (rscd/raw_ramp.py)."""
import os
import re

import numpy as np
import pytest
from astropy.io import fits

import rscd
from rscd.cli import main as rscd_main
from rscd.fits import RampFileError, apply_file
from fitsfiles import (KEYWORDS, decay_reference, flag_reference, free_cards, leftovers,
                       ramp_arrays, segments, sha256, write_astropy)

REALDATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "realdata",
                        "MIRI_5582_89_S_20180308-010230_SCE1_pipe.fits")


def _counts(nints=3, ngroups=8, nrows=10, ncols=12, seed=0):
    """Raw counts of rising ramps, some reaching the top of the 16-bit range."""
    data = ramp_arrays(nints, ngroups, nrows, ncols, seed)[0]
    return np.clip(data * 9.0, 0, 65535).astype(np.uint16)


def write_level1b(path, counts, **meta):
    """An uncal file as jwst writes one (Level1bModel.save: SCI int16 with BZERO 32768,
    ASDF)."""
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels",
                                     reason="stdatamodels is not installed")
    with datamodels.Level1bModel(counts.shape) as model:
        model.data[...] = counts
        model.meta.instrument.name = "MIRI"
        model.meta.instrument.detector = "MIRIMAGE"
        model.meta.exposure.type = "MIR_IMAGE"
        model.meta.exposure.readpatt = meta.get("readpatt", "FAST")
        model.meta.exposure.integration_start = meta.get("integration_start", 1)
        model.meta.exposure.nints = meta.get("nints", counts.shape[0])
        model.meta.exposure.ngroups = counts.shape[1]
        model.meta.subarray.name = "FULL"
        model.save(path)
    return path


def write_raw_astropy(path, kind):
    """Other raw layouts jwst's RampModel reads: float32 SCI without the DQ extensions,
    float64 SCI with them, GROUPDQ or PIXELDQ alone missing, a float32 SCI with BSCALE,
    signed 16-bit SCI and a REFOUT kept."""
    data, gdq, pdq = ramp_arrays(nints=3, ngroups=8)
    primary = fits.PrimaryHDU()
    primary.header.update(KEYWORDS, NINTS=3, NGROUPS=8)
    hdus = [primary]
    if kind == "float32_no_dq":
        hdus.append(fits.ImageHDU(data, name="SCI"))
    elif kind == "float64":
        hdus += [fits.ImageHDU(data.astype(np.float64) + 1e-9, name="SCI"),
                 fits.ImageHDU(pdq, name="PIXELDQ"), fits.ImageHDU(gdq, name="GROUPDQ")]
    elif kind == "no_groupdq":
        hdus += [fits.ImageHDU(data, name="SCI"), fits.ImageHDU(pdq, name="PIXELDQ")]
    elif kind == "no_pixeldq":
        hdus += [fits.ImageHDU(data, name="SCI"), fits.ImageHDU(gdq, name="GROUPDQ")]
    elif kind == "float32_bscale":
        hdus += [fits.ImageHDU(data, name="SCI"), fits.ImageHDU(pdq, name="PIXELDQ"),
                 fits.ImageHDU(gdq, name="GROUPDQ")]
        hdus[1].header["BSCALE"] = 2.0
    elif kind == "int16_refout":
        hdus += [fits.ImageHDU((data / 2).astype(np.int16), name="SCI"),
                 fits.ImageHDU(np.arange(3 * 8 * 10 * 3, dtype=np.uint16).reshape(3, 8, 10, 3),
                               name="REFOUT")]
    fits.HDUList(hdus).writeto(path)
    return path


def _jwst_correction(path, ref):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels",
                                     reason="stdatamodels is not installed")
    rscd_sub = pytest.importorskip("jwst.rscd.rscd_sub", reason="jwst is not installed")
    with datamodels.RampModel(path) as model, datamodels.RSCDModel(ref) as refmodel:
        out = rscd_sub.do_correction(model, refmodel)
        return (out.data.copy(), out.groupdq.copy(), out.pixeldq.copy(),
                out.meta.cal_step.rscd, out.meta.rscd.ngroups_skip_int2p)


def _assert_as_jwst(tmp_path, src, ref, expect_notes=True):
    res = apply_file(src, ref, output_dir=tmp_path / "out")
    out = rscd.output_path(src, tmp_path / "out")
    data, gdq, pdq, status, skip2p = _jwst_correction(src, ref)
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    with datamodels.RampModel(out) as ours:      # jwst reads our output
        np.testing.assert_array_equal(ours.data, data)
        np.testing.assert_array_equal(ours.groupdq, gdq)
        np.testing.assert_array_equal(ours.pixeldq, pdq)
        assert ours.meta.cal_step.rscd == status == res.status == "COMPLETE"
        assert ours.meta.rscd.ngroups_skip_int2p == skip2p == res.ngroups_skip_int2p
    assert any("raw file" in note for note in res.notes) == expect_notes
    return res, out


def test_uncal_file_corrected_as_jwst_does(tmp_path):
    src = write_level1b(str(tmp_path / "jw_mirimage_uncal.fits"), _counts())
    ref = flag_reference(str(tmp_path / "ref.fits"), 1, 3)
    res, out = _assert_as_jwst(tmp_path, src, ref)
    assert "SCI is 16-bit integers with BZERO = 32768, no GROUPDQ, no PIXELDQ" in res.notes[0]
    assert segments(out)[-1][2] == segments(src)[-1][2]    # the ASDF extension's bytes
    with fits.open(out) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "PIXELDQ", "GROUPDQ", "ASDF"]


RAW_KINDS = ["float32_no_dq", "float64", "no_groupdq", "no_pixeldq", "float32_bscale",
             "int16_refout"]


@pytest.mark.parametrize("kind", RAW_KINDS)
def test_other_raw_layouts_corrected_as_jwst_does(tmp_path, kind):
    src = write_raw_astropy(str(tmp_path / "r_uncal.fits"), kind)
    _, out = _assert_as_jwst(tmp_path, src, flag_reference(str(tmp_path / "ref.fits"), 2, 4))
    if kind == "int16_refout":       # an extension rscd does not use: as stored
        assert segments(out)[-1][1:] == segments(src)[-1][1:]


@pytest.mark.skipif(not os.path.exists(REALDATA), reason="the MIRI ground-test exposure "
                    "../shared/realdata/ is not on this machine")
@pytest.mark.filterwarnings("ignore:While validating meta.compress")   # COMPRESS = 0
def test_real_ground_test_exposure_corrected_as_jwst_does(tmp_path):
    """A level-1b file of a real MIRI detector (SCI int16 + BZERO, REFOUT, no DQ)."""
    _assert_as_jwst(tmp_path, REALDATA, flag_reference(str(tmp_path / "ref.fits"), 1, 3,
                                                       subarray="SUB64"))


def test_decay_of_a_raw_file_is_apply_on_the_arrays_jwst_reads(tmp_path):
    src = write_level1b(str(tmp_path / "d_uncal.fits"), _counts(seed=3))
    ref = decay_reference(str(tmp_path / "ref.fits"))
    res = apply_file(src, ref)
    data = fits.getdata(src, "SCI").astype(np.float32)
    gdq = np.zeros(data.shape, np.uint8)
    pdq = np.zeros(data.shape[2:], np.uint32)
    expected = rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL")
    assert res.status == expected.status == "COMPLETE" and res.method == "decay"
    with fits.open(tmp_path / "d_rscd.fits") as hdul:
        np.testing.assert_array_equal(hdul["SCI"].data, data)
        np.testing.assert_array_equal(hdul["GROUPDQ"].data, gdq)


def test_segments_of_an_uncal_exposure_are_the_whole_exposure(tmp_path):
    """decay of two uncal segment files (INTSTART 1 and 3) equals decay of the whole
    exposure as one raw file: the second segment's first integration is corrected from
    the first segment's last, read as jwst reads it."""
    counts = _counts(nints=4, seed=7)
    ref = decay_reference(str(tmp_path / "ref.fits"))
    whole = write_level1b(str(tmp_path / "w_uncal.fits"), counts)
    apply_file(whole, ref)
    names = []
    for start in (1, 3):
        names.append(write_level1b(str(tmp_path / f"jw_seg{start:03d}_uncal.fits"),
                                   counts[start - 1:start + 1], integration_start=start,
                                   nints=4))
    results = rscd.segments.apply_segments(names, ref, output_dir=tmp_path / "seg")
    assert [r.result.status for r in results] == ["COMPLETE", "COMPLETE"]
    parts = [fits.getdata(tmp_path / "seg" / f"jw_seg{start:03d}_rscd.fits", "SCI")
             for start in (1, 3)]
    np.testing.assert_array_equal(np.concatenate(parts),
                                  fits.getdata(tmp_path / "w_rscd.fits", "SCI"))


@pytest.mark.parametrize("padding", range(36))
def test_raw_output_keeps_room_for_an_in_place_run(tmp_path, padding):
    """Whatever the free cards of the input's primary header (astropy rewriting it had
    left 8 of the 9 RESERVE_CARDS at 17), as for a copy (tests/test_fits.py)."""
    src = write_level1b(str(tmp_path / "k_uncal.fits"), _counts())
    with fits.open(src) as hdul:
        header = hdul[0].header
        while 36 * (len(header.tostring()) // 2880) - len(header) - 1 != padding:
            header[f"PAD{len(header)}"] = 1
        hdul.writeto(src, overwrite=True)
    assert free_cards(src) == padding
    ref = flag_reference(str(tmp_path / "ref.fits"))
    apply_file(src, ref)
    out = str(tmp_path / "k_rscd.fits")
    assert free_cards(out) >= rscd.fits.RESERVE_CARDS
    inode = os.stat(out).st_ino
    apply_file(out, ref, inplace=True, keep_inode=True)        # the fast path
    assert os.stat(out).st_ino == inode


def _garble(path, card, bad):
    with open(path, "rb") as f:
        raw = f.read()
    at = raw.index(card.encode())
    with open(path, "wb") as f:
        f.write(raw[:at] + bad.encode() + raw[at + len(bad):])


@pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")  # segments()
def test_an_extension_astropy_cannot_parse_is_carried_as_stored(tmp_path):
    """(fuzz/fuzz_ramp_header.py finding: astropy refused to write a garbled EXTNAME of an
    extension rscd does not read: VerifyError escaped.) Its bytes are copied instead."""
    src = write_raw_astropy(str(tmp_path / "g_uncal.fits"), "int16_refout")
    _garble(src, "EXTNAME = 'REFOUT", "EXT^AME")
    res = apply_file(src, flag_reference(str(tmp_path / "ref.fits"), 2, 4))
    assert res.status == "COMPLETE"
    assert segments(str(tmp_path / "g_rscd.fits"))[-1][1:] == segments(src)[-1][1:]


@pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")
@pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyUserWarning")
@pytest.mark.parametrize("finding", ["garbled_card", "regress_raw_unknown_hdu"])
def test_a_primary_header_astropy_cannot_parse_is_carried_as_stored(tmp_path, finding):
    """The primary header is copied as a ramp file's copy carries it (a card astropy
    cannot parse; fuzz/fuzz_ramp_header.py's finding of a primary HDU astropy reads as
    of no known kind): corrected, the header's bytes kept. (Rewritten by astropy, the
    first was refused and the second raised AttributeError.)"""
    src = str(tmp_path / "h_uncal.fits")
    if finding == "garbled_card":
        write_raw_astropy(src, "float32_no_dq")
        _garble(src, "TELESCOP=", "TELE^COP")
    else:
        with open(os.path.join(os.path.dirname(__file__), "..", "fuzz", "corpus",
                               "ramp_header", finding), "rb") as f, open(src, "wb") as out:
            out.write(f.read()[1:])
    res = apply_file(src, flag_reference(str(tmp_path / "ref.fits")))
    assert res.status == "COMPLETE"
    out = str(tmp_path / "h_rscd.fits")
    assert rscd.fits.read_layout(out).status == "COMPLETE"
    with open(src, "rb") as a, open(out, "rb") as b:
        head = a.read(2880)
        assert b.read(2880)[:head.index(b"END     ")] == head[:head.index(b"END     ")]


@pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")
def test_an_sci_card_astropy_cannot_parse_is_carried(tmp_path):
    """SCI's header is made anew (float32, no BZERO) with the file's other cards, as they
    are: a card astropy cannot parse goes along, as a copy would carry it."""
    src = write_raw_astropy(str(tmp_path / "h_uncal.fits"), "int16_refout")
    with fits.open(src) as hdul:
        hdul["SCI"].header["SCICARD"] = 1
        hdul.writeto(src, overwrite=True)
    _garble(src, "SCICARD =", "SCI^ARD")
    assert apply_file(src, flag_reference(str(tmp_path / "ref.fits"))).status == "COMPLETE"
    with open(tmp_path / "h_rscd.fits", "rb") as f:
        assert b"SCI^ARD =                    1" in f.read()


@pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")
@pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyUserWarning")
@pytest.mark.parametrize("finding, error", [("regress_raw_unknown_bitpix", "KeyError: 6")])
def test_a_raw_file_astropy_cannot_read_is_refused_in_one_line(tmp_path, finding, error):
    """fuzz/fuzz_ramp_header.py's findings (in its corpus; the first byte is the
    harness's mode): damaged raw files whose PIXELDQ astropy reads with BITPIX 6, or as
    an HDU of no known kind (KeyError, AttributeError escaped). apply_file refuses them
    naming the file, and so does open_ramp (which diagnose_files shares) where it cannot
    read them; nothing is left behind."""
    finding = os.path.join(os.path.dirname(__file__), "..", "fuzz", "corpus", "ramp_header",
                           finding)
    src = str(tmp_path / "b_uncal.fits")
    with open(finding, "rb") as f, open(src, "wb") as out:
        out.write(f.read()[1:].replace(b"UEADPATT=", b"READPATT="))   # a mutated card
    ref = flag_reference(str(tmp_path / "ref.fits"))
    names = sorted(os.listdir(tmp_path))
    damaged = rf"b_uncal.fits: damaged FITS file; astropy cannot read it .*\({error}.*\)$"
    with pytest.raises(RampFileError, match=damaged):
        apply_file(src, ref)
    try:                               # reads it, or refuses it the same way
        rscd.fits.open_ramp(src)
    except RampFileError as exc:
        assert re.search(damaged, str(exc)), exc
    assert leftovers(tmp_path) == [] and sorted(os.listdir(tmp_path)) == names


@pytest.mark.parametrize("method", ["flag", "decay"])
@pytest.mark.parametrize("kind", ["level1b"] + RAW_KINDS)
def test_raw_file_in_place_refused_and_untouched(tmp_path, kind, method):
    src = str(tmp_path / "p_uncal.fits")
    if kind == "level1b":
        write_level1b(src, _counts())
    else:
        write_raw_astropy(src, kind)
    ref = (flag_reference if method == "flag" else decay_reference)(str(tmp_path / "ref.fits"))
    before = sha256(src)
    with pytest.raises(RampFileError, match=r"p_uncal.fits: a raw file \(.+\), as the "
                       r"pipeline's uncal files are.*run without --in-place"):
        apply_file(src, ref, inplace=True)
    assert sha256(src) == before
    assert leftovers(tmp_path) == [] and sorted(os.listdir(tmp_path)) == ["p_uncal.fits",
                                                                         "ref.fits"]


def test_command_line_corrects_an_uncal_file(tmp_path, capsys):
    src = write_level1b(str(tmp_path / "c_uncal.fits"), _counts())
    ref = flag_reference(str(tmp_path / "ref.fits"))
    assert rscd_main([src, "--reference", ref, "-o", str(tmp_path / "o")]) == 0
    assert fits.getval(tmp_path / "o" / "c_rscd.fits", "S_RSCD") == "COMPLETE"
    # the ramp layout file's own checks pass: a second run in place is the fast path
    assert rscd_main([str(tmp_path / "o" / "c_rscd.fits"), "--reference", ref,
                      "--in-place", "--keep-inode"]) == 0


def test_a_file_in_the_ramp_layout_is_no_raw_file(tmp_path):
    """The same comparison on a ramp file: copied byte for byte, no raw-file note."""
    data, gdq, pdq = ramp_arrays()
    src = write_astropy(str(tmp_path / "l_linearity.fits"), data, gdq, pdq)
    _assert_as_jwst(tmp_path, src, flag_reference(str(tmp_path / "ref.fits")),
                             expect_notes=False)


# ------------------------------------------------------------------ rscd diagnose


def _diagnosis_equal(a, b):
    for kind in ("int1", "int2p"):
        pa, pb = getattr(a.results[0], kind), getattr(b.results[0], kind)
        for field in ("profile", "uncertainty", "profile_dn", "total"):
            np.testing.assert_array_equal(getattr(pa, field), getattr(pb, field))
        assert (pa.recommended_skip, pa.reason, pa.samples, pa.tau_groups) == \
               (pb.recommended_skip, pb.reason, pb.samples, pb.tau_groups)


@pytest.mark.parametrize("kernel", ["c", "numpy"])
def test_diagnose_reads_a_raw_file_as_jwst_does(tmp_path, kernel):
    """A simulated exposure stored as 16-bit counts without DQ extensions: the files
    path measures what rscd.diagnose measures on the arrays jwst's RampModel reads."""
    from rscd.simulate import write_simulated
    full = write_simulated(tmp_path / "s_linearity.fits", nrows=64, ncols=72, nints=4,
                           ngroups=20, seed=5)
    with fits.open(full) as hdul:
        counts = np.clip(np.rint(hdul["SCI"].data), 0, 65535).astype(np.uint16)
        header = hdul[0].header
    raw = write_level1b(str(tmp_path / "s_uncal.fits"), counts, readpatt=header["READPATT"])
    sci = counts.astype(np.float32)
    arrays = rscd.diagnose(sci, np.zeros(sci.shape, np.uint8),
                           np.zeros(sci.shape[2:], np.uint32), kernel=kernel)
    _diagnosis_equal(rscd.diagnose_files([raw], kernel=kernel), arrays)


def test_diagnose_reads_one_raw_file_once(tmp_path, monkeypatch):
    """Regression: each of the three passes read the whole raw file again through
    astropy (a 0.42 GB uncal file three times); one raw file is now read once, and two
    are read once per pass each, never both in memory together."""
    import importlib
    fits_module = importlib.import_module("rscd.fits")
    reads = []
    real = fits_module.ramp_arrays
    monkeypatch.setattr(fits_module, "ramp_arrays",
                        lambda fd, layout: reads.append(layout.path) or real(fd, layout))
    paths = [write_level1b(str(tmp_path / f"{k}_uncal.fits"), _counts(nints=3, ngroups=8))
             for k in "ab"]
    rscd.diagnose_files(paths[:1])
    assert reads == paths[:1]
    reads.clear()
    rscd.diagnose_files(paths)
    assert reads == paths * 3


@pytest.mark.skipif(not os.path.exists(REALDATA), reason="the MIRI ground-test exposure "
                    "../shared/realdata/ is not on this machine")
def test_diagnose_of_the_real_ground_test_file(capsys):
    """The level-1b file read by the command itself (it refused it before: BITPIX 16),
    with the result of the arrays jwst reads (tests/test_diagnose_estimator.py checks
    what that result says)."""
    with fits.open(REALDATA) as hdul:
        sci = hdul["SCI"].data.astype(np.float32)
        header = hdul[0].header
    arrays = rscd.diagnose(sci, np.zeros(sci.shape, np.uint8),
                           np.zeros(sci.shape[2:], np.uint32), ystart=header["SUBSTRT2"],
                           group_time=header["TGROUP"])
    _diagnosis_equal(rscd.diagnose_files([REALDATA]), arrays)
    assert rscd_main(["diagnose", REALDATA]) == 0
    out = capsys.readouterr().out
    assert "SUB64" in out and "n/m" in out and "25+" not in out


# ------------------------------------------------------------------ readers and figures


def test_open_ramp_reads_a_raw_file_as_jwst_does(tmp_path):
    counts = _counts()
    src = write_level1b(str(tmp_path / "o_uncal.fits"), counts)
    sci, groupdq, pixeldq, header = rscd.fits.open_ramp(src)
    assert sci.dtype == np.float32 and groupdq.dtype == np.uint8 and pixeldq is None
    np.testing.assert_array_equal(sci, counts.astype(np.float32))
    assert not groupdq.any() and header["READPATT"] == "FAST"


def test_plot_of_an_uncal_file_and_its_correction(tmp_path):
    pytest.importorskip("matplotlib", reason="figures need matplotlib")
    src = write_level1b(str(tmp_path / "f_uncal.fits"), _counts())
    apply_file(src, flag_reference(str(tmp_path / "ref.fits")))
    figure = str(tmp_path / "f.png")
    assert rscd_main(["plot", src, str(tmp_path / "f_rscd.fits"), "-o", figure]) == 0
    assert os.path.getsize(figure) > 0
