"""The read-only ramp file opener rscd.fits.open_ramp, built on the one layout reader
rscd.fits.read_layout, and the one PIXELDQ BZERO conversion (rscd.dq.flip_bzero)."""
import numpy as np
import pytest
from astropy.io import fits

from rscd import dq
from rscd.fits import RampFileError, open_ramp, read_layout

from children import child_env


def ramp_file(path, pixeldq=np.uint32, nints=2):
    rng = np.random.default_rng(3)
    data = rng.normal(1000, 5, (nints, 4, 3, 5)).astype(np.float32)
    groupdq = rng.integers(0, 4, data.shape).astype(np.uint8)
    primary = fits.PrimaryHDU()
    primary.header.update(READPATT="FAST", INTSTART=3)
    hdus = [primary, fits.ImageHDU(data, name="SCI"), fits.ImageHDU(groupdq, name="GROUPDQ")]
    flags = None
    if pixeldq is not None:
        flags = np.array([[0, 1, dq.REFERENCE_PIXEL, dq.FLUX_ESTIMATED | 1, 2**32 - 1]] * 3,
                         np.uint32)
        hdus.append(fits.ImageHDU(flags.astype(pixeldq), name="PIXELDQ"))
    fits.HDUList(hdus).writeto(path)
    return data, groupdq, flags


def test_flip_bzero_is_astropys_scaling_both_ways():
    flags = np.array([0, 1, 2**31, 2**31 + 5, 2**32 - 1], np.uint32)
    stored = (flags.astype(np.int64) - 2**31).astype(">i4")      # what FITS holds
    assert dq.flip_bzero(stored).dtype == np.dtype(np.uint32)
    assert dq.flip_bzero(stored).tolist() == flags.tolist()
    assert dq.flip_bzero(flags).view(np.int32).tolist() == stored.tolist()
    with pytest.raises(TypeError, match="32-bit integers, not int16"):
        dq.flip_bzero(np.zeros(2, np.int16))


def test_open_ramp_maps_the_arrays_and_takes_bzero_off_pixeldq(tmp_path):
    data, groupdq, flags = ramp_file(tmp_path / "r.fits")
    with fits.open(tmp_path / "r.fits") as hdul:          # stored with BZERO = 2**31
        assert hdul["PIXELDQ"].header["BZERO"] == 2**31
    sci, gdq, pdq, header = open_ramp(tmp_path / "r.fits")
    assert isinstance(sci, np.memmap) and sci.dtype == np.dtype(">f4")
    assert isinstance(gdq, np.memmap) and gdq.dtype == np.uint8
    np.testing.assert_array_equal(sci, data)
    np.testing.assert_array_equal(gdq, groupdq)
    assert pdq.dtype == np.uint32 and pdq.tolist() == flags.tolist()
    assert header["INTSTART"] == 3
    with pytest.raises(ValueError, match="read-only"):
        sci[0, 0, 0, 0] = 1.0                    # the file is never opened for writing


def test_open_ramp_pixeldq_without_bzero_and_missing(tmp_path):
    _, _, flags = ramp_file(tmp_path / "signed.fits", pixeldq=np.int32)
    assert open_ramp(tmp_path / "signed.fits").pixeldq.tolist() == \
        flags.astype(np.int32).view(np.uint32).tolist()
    ramp_file(tmp_path / "none.fits", pixeldq=None)
    assert open_ramp(tmp_path / "none.fits").pixeldq is None


def test_open_ramp_refusals_are_one_line_naming_the_extension(tmp_path):
    """(A missing GROUPDQ is no refusal: zeros, as jwst's RampModel reads it.)"""
    path = tmp_path / "r.fits"
    ramp_file(path)
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul]
    fits.HDUList([hdus[0], hdus[1]]).writeto(tmp_path / "nogdq.fits")
    assert not open_ramp(tmp_path / "nogdq.fits").groupdq.any()     # as jwst reads it
    short = hdus[2].copy()
    short.data = short.data[:1]
    fits.HDUList([hdus[0], hdus[1], short]).writeto(tmp_path / "shape.fits")
    with pytest.raises(RampFileError,
                       match=r"extension GROUPDQ has shape \(1, 4, 3, 5\) but SCI"):
        open_ramp(tmp_path / "shape.fits")
    raw = path.read_bytes()
    (tmp_path / "cut.fits").write_bytes(raw[:len(raw) - 2880])
    with pytest.raises(RampFileError, match=r"cut.fits: (truncated|damaged)"):
        open_ramp(tmp_path / "cut.fits")
    (tmp_path / "junk.fits").write_text("not fits")
    with pytest.raises(RampFileError, match="junk.fits: not a FITS file"):
        open_ramp(tmp_path / "junk.fits")


def test_readers_layout_is_lenient_where_the_correction_is_strict(tmp_path):
    """One reader, two uses: open_ramp takes a file without DETECTOR and with float64
    SCI, which read_layout refuses when strict (before correcting)."""
    path = tmp_path / "r.fits"
    ramp_file(path)
    with pytest.raises(RampFileError, match="lacks the required keyword DETECTOR"):
        read_layout(path)
    layout = read_layout(path, strict=False)
    assert layout.detector == "" and layout.integration_start == 3 and layout.nints == 4
    assert layout.shape == (2, 4, 3, 5) and layout.pixeldq_bzero == 2**31
    with fits.open(path) as hdul:
        assert layout.offsets == tuple(hdul.fileinfo(i)["datLoc"] for i in (1, 2, 3))
        hdus = [h.copy() for h in hdul]
    hdus[1].data = hdus[1].data.astype(np.float64)
    fits.HDUList(hdus).writeto(tmp_path / "f8.fits")
    sci = open_ramp(tmp_path / "f8.fits").sci
    assert sci.dtype == np.dtype(">f8") and sci.shape == (2, 4, 3, 5)
    with pytest.raises(RampFileError, match="SCI has BITPIX = -64, expected -32"):
        read_layout(tmp_path / "f8.fits")


def test_layout_pixeldq_words_and_flags_round_trip(tmp_path):
    path = tmp_path / "r.fits"
    _, _, flags = ramp_file(path)
    layout = read_layout(path, strict=False)
    stored = np.memmap(path, ">u4", "r", layout.offsets[2], flags.shape)
    assert layout.pixeldq_flags(stored).tolist() == flags.tolist()
    assert layout.pixeldq_words(flags).tolist() == stored.tolist()


def test_dq_bits_are_the_pipelines():
    dqflags = pytest.importorskip("stdatamodels.jwst.datamodels.dqflags")
    for name in ("DO_NOT_USE", "SATURATED", "JUMP_DET"):
        assert getattr(dq, name) == dqflags.group[name], name
    for name in ("DO_NOT_USE", "FLUX_ESTIMATED", "REFERENCE_PIXEL"):
        assert getattr(dq, name) == dqflags.pixel[name], name


def test_open_ramp_refuses_a_negative_data_size_at_once(tmp_path):
    """Issue 16: the readers' opener had its own FITS parser, which skipped the structure
    walk of the one reader: a header giving a negative data size got numpy's "negative
    dimensions are not allowed", naming neither file nor keyword (and astropy can loop
    for ever on such a file). Through the one reader it is one line naming both. A child
    process with a time limit, so that a regression fails instead of hanging the suite."""
    import subprocess
    import sys
    path = tmp_path / "neg.fits"
    ramp_file(path)
    raw = bytearray(path.read_bytes())
    at = raw.find(b"NAXIS4  =")
    raw[at:at + 30] = b"NAXIS4  = " + b"-1".rjust(20)
    path.write_bytes(bytes(raw))
    code = ("import sys\nfrom rscd.fits import open_ramp\n"
            "try:\n    open_ramp(sys.argv[1])\nexcept ValueError as e:\n    print(e)\n")
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                              text=True, timeout=60, env=child_env(), cwd=str(path.parent))
    except subprocess.TimeoutExpired:
        pytest.fail("open_ramp did not return on a file with NAXIS4 = -1")
    assert proc.returncode == 0, proc.stderr
    assert "neg.fits" in proc.stdout and "NAXIS4" in proc.stdout, proc.stdout
    assert "is negative" in proc.stdout
