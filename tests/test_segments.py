"""Segmented exposures (rscd.segments): decay across segment files equals decay of the
whole exposure; ordering and validation of the segment set."""
import os
import random

import numpy as np
import pytest
from astropy.io import fits

import rscd
from rscd.cli import main
from rscd.segments import apply_segments, plan, root_name
from fitsfiles import decay_reference, flag_reference, ramp_arrays, write_astropy

SPLITS = (3, 2, 2)        # integrations per segment; 7 in all


def _cube(path):
    with fits.open(path) as hdul:
        return (hdul["SCI"].data.astype(np.float32), hdul["GROUPDQ"].data.copy(),
                hdul["PIXELDQ"].data.astype(np.uint32))


@pytest.fixture
def exposure(tmp_path):
    """The whole exposure as one file, and as three segment files."""
    data, gdq, pdq = ramp_arrays(nints=sum(SPLITS), ngroups=7, nrows=9, ncols=11, seed=3)
    whole = write_astropy(str(tmp_path / "jw01_00001_mirimage_linearity.fits"), data, gdq, pdq)
    segs, start = [], 1
    for n, count in enumerate(SPLITS, 1):
        sl = slice(start - 1, start - 1 + count)
        segs.append(write_astropy(
            str(tmp_path / f"jw01_00001-seg{n:03d}_mirimage_linearity.fits"),
            data[sl], gdq[sl], pdq, NINTS=sum(SPLITS), INTSTART=start,
            INTEND=start + count - 1))
        start += count
    return {"whole": whole, "segs": segs, "decay": decay_reference(str(tmp_path / "d.fits")),
            "flag": flag_reference(str(tmp_path / "f.fits")), "dir": tmp_path}


def _shuffled(paths, seed):
    out = list(paths)
    random.Random(seed).shuffle(out)
    if out == list(paths):
        out.reverse()
    return out


def _joined(paths):
    parts = [_cube(p) for p in paths]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            parts[0][2])


@pytest.mark.parametrize("inplace", [False, True])
def test_decay_segments_equal_whole_exposure(exposure, inplace):
    whole = rscd.apply_file(exposure["whole"], exposure["decay"])
    want = _cube(rscd.output_path(exposure["whole"]))
    raw = _joined(exposure["segs"])
    results = apply_segments(_shuffled(exposure["segs"], 1), exposure["decay"],
                             inplace=inplace)
    assert [r.path for r in results] == exposure["segs"]          # exposure order
    assert [(r.first, r.last) for r in results] == [(1, 3), (4, 5), (6, 7)]
    outs = [r.output for r in results]
    assert outs == (exposure["segs"] if inplace else
                    [rscd.output_path(p) for p in exposure["segs"]])
    got = _joined(outs)
    np.testing.assert_array_equal(got[0], want[0])               # bit for bit
    assert not np.array_equal(got[0][3], raw[0][3])              # boundaries were corrected
    assert not np.array_equal(got[0][5], raw[0][5])
    np.testing.assert_array_equal(got[1], want[1])
    assert all(r.result.status == "COMPLETE" and not r.result.first_int_left
               for r in results)
    assert sum(r.result.nints_corrected for r in results) == whole.nints_corrected
    assert sum(r.result.npix_corrected for r in results) == whole.npix_corrected
    if not inplace:      # inputs untouched
        np.testing.assert_array_equal(_joined(exposure["segs"])[0], raw[0])
    for out in outs:
        assert fits.getval(out, "S_RSCD") == "COMPLETE"


def test_decay_subset_leaves_first_integration(exposure):
    results = apply_segments(exposure["segs"][1:], exposure["decay"])
    assert results[0].result.first_int_left and not results[1].result.first_int_left


def test_flag_segments_same_as_each_file(exposure, tmp_path):
    results = apply_segments(_shuffled(exposure["segs"], 2), exposure["flag"], inplace=False,
                             output_dir=str(tmp_path))
    assert [r.result.method for r in results] == ["flag"] * 3
    for seg, res in zip(exposure["segs"], results):
        other = rscd.apply_file(seg, exposure["flag"], output=str(tmp_path / "one.fits"),
                                overwrite=True)
        assert other == res.result
        a, b = _cube(res.output), _cube(str(tmp_path / "one.fits"))
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[2], b[2])


def test_root_name():
    assert root_name("/d/jw01_00001-seg002_mirimage_uncal.fits") == \
        "jw01_00001_mirimage_uncal.fits"
    assert root_name("x_seg10.fits") == "x.fits"


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _rewrite(path, **keys):
    with fits.open(path, mode="update") as hdul:
        for k, v in keys.items():
            hdul[0].header[k] = v


@pytest.mark.parametrize("case, match", [
    ("gap", "not contiguous.*gap"),
    ("dup", "both start at integration"),
    ("ngroups", "NGROUPS"),
    ("nints", "NINTS"),
    ("name", "names differ"),
    ("intend", "INTEND"),
    ("twice", "twice"),
])
def test_validation(exposure, tmp_path, case, match):
    segs = list(exposure["segs"])
    if case == "gap":
        segs = [segs[0], segs[2]]
    elif case == "dup":
        _rewrite(segs[2], INTSTART=4, INTEND=5)
    elif case == "ngroups":
        data, gdq, pdq = ramp_arrays(nints=2, ngroups=6, nrows=9, ncols=11)
        os.remove(segs[1])
        segs[1] = write_astropy(segs[1], data, gdq, pdq, NINTS=7, INTSTART=4)
    elif case == "nints":
        _rewrite(segs[2], NINTS=8)
    elif case == "name":
        other = str(tmp_path / "jw02_00001-seg003_mirimage_linearity.fits")
        os.rename(segs[2], other)
        segs[2] = other
    elif case == "intend":
        _rewrite(segs[1], INTEND=6)
    elif case == "twice":
        segs.append(segs[0])
    before = [_read(p) for p in sorted(set(segs))]
    with pytest.raises(rscd.RampFileError, match=match):
        apply_segments(segs, exposure["decay"], inplace=True)
    assert [_read(p) for p in sorted(set(segs))] == before


def test_check_names_off(exposure, tmp_path):
    other = str(tmp_path / "renamed_seg003.fits")
    os.rename(exposure["segs"][2], other)
    segs = plan(exposure["segs"][:2] + [other], check_names=False)
    assert [s.first for s in segs] == [1, 4, 6]


def test_refuses_before_writing_anything(exposure):
    apply_segments(exposure["segs"][:1], exposure["decay"], inplace=True)
    raw = [_read(p) for p in exposure["segs"][1:]]
    with pytest.raises(rscd.RampFileError, match="COMPLETE"):
        apply_segments(exposure["segs"], exposure["decay"], inplace=True)
    assert [_read(p) for p in exposure["segs"][1:]] == raw


def test_a_refused_new_file_run_creates_no_output_folder(exposure):
    """A segment already COMPLETE refuses decay; the output folder, which the run would
    create, must not be left behind (checking the outputs created it first)."""
    apply_segments(exposure["segs"][:1], exposure["decay"], inplace=True)
    folder = exposure["dir"] / "new" / "deeper"
    with pytest.raises(rscd.RampFileError, match="COMPLETE"):
        apply_segments(exposure["segs"], exposure["decay"], output_dir=str(folder))
    assert not (exposure["dir"] / "new").exists()


def test_an_output_naming_its_own_input_is_refused_before_writing(exposure):
    """outputs mapping the first segment to itself: refused once the last segments had
    been written (segments run last first); now before any file is written."""
    first, *rest = exposure["segs"]
    outputs = {first: first, **{p: rscd.output_path(p) for p in rest}}
    raw = _read(first)
    with pytest.raises(rscd.RampFileError, match="the output name is the input itself"):
        apply_segments(exposure["segs"], exposure["decay"], outputs=outputs, overwrite=True)
    assert not any(os.path.exists(rscd.output_path(p)) for p in rest)
    assert _read(first) == raw


def test_cli_segments(exposure, capsys):
    want_path = rscd.output_path(exposure["whole"])
    rscd.apply_file(exposure["whole"], exposure["decay"])
    assert main([*_shuffled(exposure["segs"], 3), "-r", exposure["decay"], "--segments",
                 "--in-place"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[0].startswith("[segment 1/3, integrations 1..3]")
    np.testing.assert_array_equal(_joined(exposure["segs"])[0], _cube(want_path)[0])
    assert main([*exposure["segs"][::2], "-r", exposure["decay"], "--segments",
                 "--in-place", "--force"]) == 1
    assert "not contiguous" in capsys.readouterr().err
