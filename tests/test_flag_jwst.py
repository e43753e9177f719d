"""The flag method against jwst 3.0.0 on what pipeline users meet and the random cases of
test_flag.py do not: reference tables holding the old subarray name SUBPRISM (in any row),
NINTS smaller than the integrations a file holds, and frames larger than one internal
block of the C core (16384 pixels), on one and two threads. Issues 14 and 15.10."""
import itertools
import warnings

import numpy as np
import pytest
from astropy.io import fits

import rscd
from rscd.correct import STAT_KEYWORDS

from jwst_flag import run_jwst
from ramps import random_flag_case, random_groupdq, random_pixeldq

SATURATED = 2
BLOCK = 16384          # pixels per block of the C core's flag pass (csrc/flag.c)


def write_table(path, rows):
    """An RSCD_GROUP_SKIP reference file written with astropy, rows as given."""
    subarray, readpatt, skip1, skip2p = zip(*rows)
    cols = [fits.Column("subarray", "17A", array=list(subarray)),
            fits.Column("readpatt", "12A", array=list(readpatt)),
            fits.Column("group_skip1", "J", array=list(skip1)),
            fits.Column("group_skip", "J", array=list(skip2p))]
    hdr = fits.Header({"TELESCOP": "JWST", "INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE",
                       "REFTYPE": "RSCD", "DATAMODL": "RSCDModel"})
    fits.HDUList([fits.PrimaryHDU(header=hdr),
                  fits.BinTableHDU.from_columns(cols, name="RSCD_GROUP_SKIP")]).writeto(path)
    return path


def make_case(groupdq, pixeldq, *, subarray="FULL", nints=None, integration_start=1):
    """A case as test_flag.py's (readpatt FAST); SCI is only checked to stay unchanged."""
    return dict(data=np.zeros(groupdq.shape, np.float32), groupdq=groupdq, pixeldq=pixeldq,
                readpatt="FAST", subarray=subarray, integration_start=integration_start,
                nints=integration_start - 1 + groupdq.shape[0] if nints is None else nints)


def run_both(case, reference, threads=None):
    """(ours, jwst's) of one case: each (groupdq, pixeldq, status, statistics)."""
    data, gdq, pdq = case["data"].copy(), case["groupdq"].copy(), case["pixeldq"].copy()
    ours_ref = reference
    if isinstance(reference, list):         # rows: the same table for both sides
        ours_ref = rscd.Reference(name="rows", skip_rows=[rscd.SkipRow(*r) for r in reference])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rscd.RSCDWarning)   # jwst logs these
        res = rscd.apply(data, gdq, pdq, ours_ref, readpatt=case["readpatt"],
                         subarray=case["subarray"], nints=case["nints"],
                         integration_start=case["integration_start"], method="flag",
                         threads=threads)
    np.testing.assert_array_equal(data, case["data"])
    ours = (gdq, pdq, res.status, {k: getattr(res, k) for k in STAT_KEYWORDS})
    return ours, run_jwst(case, reference)


def assert_same(ours, theirs):
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])
    assert ours[2:] == theirs[2:]


# --- SUBPRISM rows ---------------------------------------------------------------------------

TABLE_ROWS = [("SUBPRISM", "FAST", 4, 6), ("SLITLESSPRISM", "FAST", 2, 3),
              ("FULL", "FAST", 1, 2)]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
@pytest.mark.parametrize("subarray", ["SUBPRISM", "SLITLESSPRISM", "FULL"])
def test_subprism_rows_in_any_position(tmp_path, order, subarray):
    """Regression (issue 14.2): read_reference renamed a table's SUBPRISM row to
    SLITLESSPRISM, so whichever row came first decided, unlike jwst, which renames only
    the exposure's name. Both sides read the same file, as written."""
    rows = [TABLE_ROWS[i] for i in order]
    path = write_table(tmp_path / "ref.fits", rows)
    rng = np.random.default_rng(list(order))
    case = make_case(random_groupdq(rng, (3, 12, 5, 6), p_sat=0.3), random_pixeldq(rng, 5, 6),
                     subarray=subarray)
    ours, theirs = run_both(case, path)
    assert_same(ours, theirs)
    assert theirs[2] == "COMPLETE"
    want_skip2p = 2 if subarray == "FULL" else 3          # never the SUBPRISM row's 6
    assert ours[3]["ngroups_skip_int2p"] == want_skip2p


def test_table_with_only_a_subprism_row_is_skipped_like_jwst(tmp_path):
    path = write_table(tmp_path / "old_names.fits", [("SUBPRISM", "FAST", 1, 3)])
    rng = np.random.default_rng(5)
    case = make_case(random_groupdq(rng, (2, 8, 4, 5)), random_pixeldq(rng, 4, 5),
                     subarray="SUBPRISM")
    ours, theirs = run_both(case, path)
    assert_same(ours, theirs)
    assert ours[2] == "SKIPPED"
    np.testing.assert_array_equal(ours[0], case["groupdq"])


# --- NINTS smaller than the integrations held -----------------------------------------------

@pytest.mark.parametrize("seed", range(40))
def test_nints_smaller_than_the_file(tmp_path, seed):
    """Regression (issue 14.1): NINTS < INTSTART - 1 + nints_file raised ValueError; jwst
    corrects such files (only NINTS > 1 matters)."""
    case = random_flag_case(1000 + seed)
    rng = np.random.default_rng(seed)
    nints_file = case["groupdq"].shape[0]
    if nints_file == 1 and case["integration_start"] == 1:
        case["integration_start"] = int(rng.integers(2, 30))
    least = case["integration_start"] - 1 + nints_file
    case["nints"] = min(int(rng.choice([1, 2, least - 1, rng.integers(1, least)])), least - 1)
    case["table_subarray"] = rscd.reference.canonical_subarray(case["subarray"])
    ours, theirs = run_both(case, [(case["table_subarray"], "FAST", case["skip1"],
                                    case["skip2p"])])
    assert_same(ours, theirs)


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("intstart, nints", [(1, 1), (1, 2), (25, 26)])
def test_nints_smaller_than_the_file_on_disk(tmp_path, intstart, nints, inplace):
    """Regression (issue 14.1, file path): a ramp file whose primary header NINTS is below
    INTSTART - 1 + nints_file was refused by apply_file; jwst corrects it."""
    from rscd.demo import write_ramp_file
    gdq = random_groupdq(np.random.default_rng(5), (3, 8, 9, 11), 0.2)
    case = make_case(gdq, random_pixeldq(np.random.default_rng(6), 9, 11),
                     nints=nints, integration_start=intstart)
    path = str(tmp_path / "x_linearity.fits")
    write_ramp_file(path, case["data"], case["groupdq"], case["pixeldq"],
                    {"TELESCOP": "JWST", "INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE",
                     "READPATT": "FAST", "SUBARRAY": "FULL", "NINTS": nints,
                     "INTSTART": intstart})
    rows = [("FULL", "FAST", 2, 3)]
    write_table(tmp_path / "ref.fits", rows)
    res = rscd.apply_file(path, str(tmp_path / "ref.fits"), inplace=inplace, method="flag")
    out = path if inplace else rscd.output_path(path)
    with fits.open(out) as hdul:
        ours = (hdul["GROUPDQ"].data, hdul["PIXELDQ"].data, hdul[0].header["S_RSCD"],
                {k: getattr(res, k) for k in STAT_KEYWORDS})
        assert_same(ours, run_jwst(case, rows))


# --- frames larger than one block, 1 and 2 threads -------------------------------------------

def random_case(nrows, ncols, nints, ngroups, seed, p_sat):
    rng = np.random.default_rng(seed)
    return make_case(random_groupdq(rng, (nints, ngroups, nrows, ncols), p_sat=p_sat),
                     random_pixeldq(rng, nrows, ncols))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape, p_sat", [((130, 130, 3, 9), 0.3), ((130, 130, 4, 12), 0.02),
                                          ((1024, 1032, 2, 6), 0.05)], ids=str)
def test_frames_larger_than_a_block(shape, p_sat, threads, code_path):
    """Issue 15.10: random flag cases were at most 8x9 pixels, the C multi-block test ran
    on one thread. 130x130 = 16900 pixels is just over one block; 1024x1032 is a full
    MIRI frame (64 blocks)."""
    nrows, ncols, nints, ngroups = shape
    assert nrows * ncols > BLOCK
    case = random_case(nrows, ncols, nints, ngroups, sum(shape), p_sat)
    ours, theirs = run_both(case, [("FULL", "FAST", 2, 3)], threads=threads)
    assert_same(ours, theirs)
    assert theirs[3]["keep_groups_saturation_int2p"] > 0


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("far", [BLOCK, 3 * BLOCK + 17, 130 * 130 - 1])
def test_global_back_off_stop_across_blocks(far, threads, code_path):
    """The back-off stop is global: a problem at level 2 in block 0 must be visited
    because levels 4 and 3 had problems in a later block only. A per-block stop would
    leave the block-0 pixel at k = 3 (nothing backed off there)."""
    nrows, ncols = (130, 130) if far < 130 * 130 else (256, 256)
    case = random_case(nrows, ncols, 2, 9, far, 0.0)
    gdq = case["groupdq"]
    gdq &= ~np.uint8(SATURATED)
    near = 5
    flat = gdq.reshape(2, 9, -1)
    flat[1, [4, 3], far] |= SATURATED          # integration 2: levels 4 and 3
    flat[1, 2, near] |= SATURATED              # integration 2: level 2 only
    ours, theirs = run_both(case, [("FULL", "FAST", 2, 3)], threads=threads)
    assert_same(ours, theirs)
    dnu = ours[0].reshape(2, 9, -1)[1] & 1
    assert dnu[:, far].tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0]     # k = 1
    assert dnu[:, near].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0]    # k = 2: visited
    assert theirs[3]["keep_groups_saturation_int2p"] == 2


# --- the C core's rscd_flag itself, no Python around it (issue 24) ---------------------------

def core_flag(case):
    """rscd_flag through rscd._core.flag on copies: (groupdq, pixeldq, status, statistics)
    in run_jwst's terms (S_RSCD value, None where a rule did not run)."""
    from rscd import _core
    gdq, pdq = case["groupdq"].copy(), case["pixeldq"].copy()
    status, stats = _core.flag(gdq, pdq, case["skip1"], case["skip2p"],
                               case["integration_start"], case["nints"])
    skipped = status == _core.Status.RSCD_SKIP_FEW_GROUPS
    return (gdq, pdq, "SKIPPED" if skipped else "COMPLETE",
            {k: (None if v < 0 else v) for k, v in stats.items()})


@pytest.mark.parametrize("seed", range(200))
def test_c_rscd_flag_equals_jwst(seed, both_code_paths):
    """The C core's rscd_flag (the one owner of rules 1-9) against jwst 3.0.0 on the random
    differential cases; every third case has NINTS below the integrations held, which the
    core refused with RSCD_ERR_RANGE before (issue 24)."""
    case = random_flag_case(5000 + seed)
    least = case["integration_start"] - 1 + case["groupdq"].shape[0]
    if seed % 3 == 0 and least > 1:
        case["nints"] = int(np.random.default_rng(seed).integers(1, least))
    table = [(rscd.reference.canonical_subarray(case["subarray"]), "FAST", case["skip1"],
              case["skip2p"])]
    theirs = run_jwst(case, table)
    for path in both_code_paths:        # jwst once, both code paths of the core
        assert_same(core_flag(case), theirs)


@pytest.mark.parametrize("intstart, nints", [(1, 1), (1, 2), (2, 1), (25, 26), (3, 3)])
def test_c_rscd_flag_nints_below_the_file_equals_jwst(intstart, nints, code_path):
    """Hand-picked NINTS below INTSTART - 1 + the 3 integrations held, on a frame larger
    than one block of the core."""
    rng = np.random.default_rng(intstart * 100 + nints)
    case = make_case(random_groupdq(rng, (3, 9, 130, 130), p_sat=0.05),
                     random_pixeldq(rng, 130, 130), nints=nints, integration_start=intstart)
    case.update(skip1=2, skip2p=3)
    assert case["nints"] < intstart - 1 + 3
    assert_same(core_flag(case), run_jwst(case, [("FULL", "FAST", 2, 3)]))
