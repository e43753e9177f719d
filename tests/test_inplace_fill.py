"""Issue 14.4: ``--in-place`` works on every ramp file jwst writes, whatever its header's
free space. A primary header written by stdatamodels has 0-35 free cards before its next
2880-byte block and the RSCD keywords need 9 (S_RSCD, R_RSCD, six statistics, HISTORY):
with 9 or more the file is corrected where it lies, with fewer through a copy with a
larger header renamed over it. Either way the result is jwst 3.0.0's."""
import os

import numpy as np
import pytest

import rscd
from children import run_rscd
from fitsfiles import fill_primary_header, flag_reference, free_cards, ramp_arrays, segments

datamodels = pytest.importorskip("stdatamodels.jwst.datamodels",
                                 reason="stdatamodels is not installed")
rscd_sub = pytest.importorskip("jwst.rscd.rscd_sub", reason="jwst is not installed")

STATISTICS = ("ngroups_skip_int1", "ngroups_skip_int2p", "keep_bright_firstgroup_int1",
              "keep_bright_firstgroup_int2p", "keep_groups_saturation_int1",
              "keep_groups_saturation_int2p")
KEYWORDS_NEEDED = 9


def save_ramp(path, arrays, padding):
    """A RampModel saved by stdatamodels with ``padding`` dummy primary keywords."""
    data, groupdq, pixeldq = arrays
    with datamodels.RampModel(data.shape) as model:
        model.data[...] = data
        model.groupdq[...] = groupdq
        model.pixeldq[...] = pixeldq
        meta = model.meta
        meta.instrument.name = "MIRI"
        meta.instrument.detector = "MIRIMAGE"
        meta.exposure.type = "MIR_IMAGE"
        meta.exposure.readpatt = "FAST"
        meta.exposure.nints, meta.exposure.ngroups = data.shape[:2]
        meta.subarray.name = "FULL"
        model.extra_fits = {"PRIMARY": {"header": [[f"PAD{k}", k, "fill the header"]
                                                   for k in range(padding)]}}
        model.save(path)
    return path


@pytest.fixture(scope="module")
def jwst_case(tmp_path_factory):
    """One exposure, one reference, and what jwst 3.0.0's do_correction makes of them."""
    folder = tmp_path_factory.mktemp("fill")
    arrays = ramp_arrays(nints=3, ngroups=8, nrows=6, ncols=7, seed=14)
    ref = flag_reference(str(folder / "jwst_miri_rscd_fill.fits"), 2, 3)
    base = save_ramp(str(folder / "base_ramp.fits"), arrays, 0)
    with datamodels.RampModel(base) as model, datamodels.RSCDModel(ref) as refmodel:
        out = rscd_sub.do_correction(model, refmodel)
        expected = {"groupdq": out.groupdq.copy(), "pixeldq": out.pixeldq.copy(),
                    "data": out.data.copy(), "status": out.meta.cal_step.rscd,
                    **{name: getattr(out.meta.rscd, name) for name in STATISTICS}}
    assert expected["status"] == "COMPLETE"
    return arrays, ref, free_cards(base), expected


@pytest.mark.parametrize("free", range(36))
def test_in_place_on_every_header_fill(tmp_path, jwst_case, free, caplog):
    arrays, ref, base_free, expected = jwst_case
    path = save_ramp(str(tmp_path / "x_linearity.fits"), arrays, (base_free - free) % 36)
    assert free_cards(path) == free
    before = segments(path)
    inode = os.stat(path).st_ino
    with caplog.at_level("INFO", logger="rscd"):
        res = rscd.apply_file(path, ref, inplace=True)
    fast = free >= KEYWORDS_NEEDED
    assert ("corrected in place" in caplog.text) == fast
    assert ("through a copy" in caplog.text) == (not fast)
    assert (os.stat(path).st_ino == inode) == fast
    assert os.listdir(tmp_path) == ["x_linearity.fits"]         # no temporary file left
    assert free_cards(path) >= (0 if fast else rscd.fits.RESERVE_CARDS)

    with datamodels.RampModel(path) as model:
        np.testing.assert_array_equal(model.groupdq, expected["groupdq"])
        np.testing.assert_array_equal(model.pixeldq, expected["pixeldq"])
        np.testing.assert_array_equal(model.data, expected["data"])
        assert model.meta.cal_step.rscd == expected["status"] == res.status
        for name in STATISTICS:
            assert getattr(model.meta.rscd, name) == expected[name] == getattr(res, name)

    after = segments(path)
    assert [name for name, _, _ in after] == [name for name, _, _ in before]
    for (name, head0, data0), (_, head1, data1) in zip(before[1:], after[1:]):
        assert head1 == head0, name                 # every extension header as it was
        if name not in ("GROUPDQ", "PIXELDQ"):
            assert data1 == data0, name             # SCI, ASDF, ...: byte for byte


def test_readme_in_place_example_on_the_demo_file(tmp_path):
    """README: `rscd rscd_demo/demo_mirimage_linearity.fits --reference
    rscd_demo/example_rscd_flag.fits --in-place` works on the files `rscd demo` writes
    (written here by the demo's own functions, without its figures)."""
    from astropy.io import fits
    from rscd.demo import synthetic_exposure, write_example_references, write_ramp_file
    folder = tmp_path / "rscd_demo"
    folder.mkdir()
    exposure = str(folder / "demo_mirimage_linearity.fits")
    data, groupdq, pixeldq, keywords = synthetic_exposure()
    write_ramp_file(exposure, data, groupdq, pixeldq, keywords)
    flag_ref, _ = write_example_references(str(folder))
    proc = run_rscd("rscd_demo/demo_mirimage_linearity.fits", "--reference",
                    "rscd_demo/example_rscd_flag.fits", "--in-place", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert fits.getval(exposure, "S_RSCD") == "COMPLETE"
    assert fits.getval(exposure, "INT2SKIP") >= 1
    assert sorted(os.listdir(folder)) == ["demo_mirimage_linearity.fits",
                                          "example_rscd_decay.fits", "example_rscd_flag.fits"]


def _no_room(path, **kw):
    """A ramp file (plain astropy) whose primary header has no free card."""
    from fitsfiles import write_astropy
    write_astropy(path, *ramp_arrays(nints=2, ngroups=6, nrows=5, ncols=6), **kw)
    return fill_primary_header(path)


def test_cli_keep_inode(tmp_path):
    from fitsfiles import sha256
    path = _no_room(str(tmp_path / "x_linearity.fits"))
    ref = flag_reference(str(tmp_path / "ref.fits"))
    before = sha256(path)
    proc = run_rscd(path, "--reference", ref, "--in-place", "--keep-inode", cwd=tmp_path)
    assert proc.returncode == 1 and "--keep-inode" in proc.stderr
    assert proc.stderr.count("\n") == 1 and sha256(path) == before
    proc = run_rscd(path, "--reference", ref, "--keep-inode", cwd=tmp_path)
    assert proc.returncode == 2 and "--keep-inode is for --in-place" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["ref.fits", "x_linearity.fits"]
    proc = run_rscd(path, "--reference", ref, "--in-place", cwd=tmp_path)
    assert proc.returncode == 0 and "through a copy" in proc.stdout, proc.stderr
    assert sha256(path) != before


def test_keep_inode_in_batch_and_segments(tmp_path):
    """apply_files passes keep_inode to each file; apply_segments refuses before any
    segment is written when one of them has no room."""
    from fitsfiles import sha256, write_astropy
    from rscd.batch import apply_files
    from rscd.segments import apply_segments
    ref = flag_reference(str(tmp_path / "ref.fits"))
    path = _no_room(str(tmp_path / "x_linearity.fits"))
    batch = apply_files([path], ref, jobs=1, inplace=True, keep_inode=True)
    assert batch.failed == 1 and "--keep-inode" in batch.files[0].error
    with pytest.raises(ValueError, match="keep_inode"):
        apply_files([path], ref, keep_inode=True)
    data, gdq, pdq = ramp_arrays(nints=4, ngroups=6, nrows=5, ncols=6)
    # the segment without room is the first: the last one is corrected first
    first = _no_room(str(tmp_path / "jw1-seg001_mirimage_linearity.fits"), NINTS=4,
                     INTSTART=1, INTEND=2)
    second = write_astropy(str(tmp_path / "jw1-seg002_mirimage_linearity.fits"), data[2:],
                           gdq[2:], pdq, NINTS=4, INTSTART=3, INTEND=4)
    before = [sha256(first), sha256(second)]
    with pytest.raises(rscd.RampFileError, match="keep-inode"):
        apply_segments([first, second], ref, inplace=True, keep_inode=True)
    assert [sha256(first), sha256(second)] == before
    results = apply_segments([first, second], ref, inplace=True)
    assert [seg.result.status for seg in results] == ["COMPLETE", "COMPLETE"]
