"""The flag method: C core against jwst 3.0.0 and against the numpy oracle."""
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rscd
from rscd.correct import STAT_KEYWORDS
from rscd.reference import Reference, SkipRow

from oracle_flag import flag_oracle
from ramps import random_flag_case, random_groupdq, random_pixeldq


def reference_for(case):
    """The case's one-row reference, its subarray as the table spells it (a SUBPRISM row
    is not renamed: only the exposure's SUBPRISM is read as SLITLESSPRISM)."""
    row = SkipRow(case["table_subarray"], "FAST", case["skip1"], case["skip2p"])
    return Reference(name="case.fits", skip_rows=(row,))


def run_rscd(case, **kw):
    """rscd.apply on copies; returns (groupdq, pixeldq, result, data)."""
    data, gdq, pdq = case["data"].copy(), case["groupdq"].copy(), case["pixeldq"].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rscd.RSCDWarning)
        res = rscd.apply(data, gdq, pdq, reference_for(case), readpatt=case["readpatt"],
                         subarray=case["subarray"], nints=case["nints"],
                         integration_start=case["integration_start"], method="flag", **kw)
    return gdq, pdq, res, data


def result_stats(res):
    return {k: getattr(res, k) for k in STAT_KEYWORDS}


@pytest.mark.parametrize("seed", range(300))
def test_flag_equals_jwst_3_0_0(seed, both_code_paths):
    from jwst_flag import run_jwst
    case = random_flag_case(seed)
    # Both sides get the table exactly as the user has it (issue 14.2: this test used to
    # rename a SUBPRISM row before handing it to jwst, which hid our renaming of it).
    j_gdq, j_pdq, j_status, j_stats = run_jwst(
        case, [(case["table_subarray"], "FAST", case["skip1"], case["skip2p"])])
    for path in both_code_paths:        # jwst once, both code paths of the core
        gdq, pdq, res, _ = run_rscd(case)
        assert res.status == j_status
        np.testing.assert_array_equal(gdq, j_gdq)
        np.testing.assert_array_equal(pdq, j_pdq)
        assert result_stats(res) == j_stats


@pytest.mark.parametrize("seed", range(300, 700))
def test_flag_equals_oracle(seed, code_path):
    case = random_flag_case(seed)
    gdq, pdq, res, data = run_rscd(case)
    if rscd.reference.canonical_subarray(case["subarray"]) != case["table_subarray"]:
        assert res.status == "SKIPPED" and "not found" in res.reason
        np.testing.assert_array_equal(gdq, case["groupdq"])
        return
    o_gdq, o_pdq, o_status, o_stats = flag_oracle(
        case["groupdq"], case["pixeldq"], case["skip1"], case["skip2p"], case["nints"],
        case["integration_start"])
    assert res.status == o_status
    np.testing.assert_array_equal(gdq, o_gdq)
    np.testing.assert_array_equal(pdq, o_pdq)
    assert {k: v for k, v in result_stats(res).items() if v is not None} == o_stats
    np.testing.assert_array_equal(data, case["data"])   # SCI never changes


@pytest.mark.parametrize("shape, skip1, skip2p", [
    ((3, 12, 37, 1031), 2, 9),    # 2 blocks of 16384 pixels and one of 5379 = 168 x 32 + 3
    ((2, 9, 3, 100), 5, 6),       # one block: 3 vectors of 32 pixels and 4 left
    ((2, 260, 2, 45), 200, 254),  # the largest skip with 8-bit counters, past 127
    ((2, 8, 1, 64), 0, 1),        # skip 0 (nothing backed off), whole vectors only
])
def test_flag_vector_blocks_and_tails_equal_oracle(shape, skip1, skip2p, code_path):
    """Frames whose blocks end inside a vector of 32 pixels: the AVX2 kernel's vectors,
    the tail it leaves to the portable code and the block edges give the oracle's bytes
    and counts."""
    rng = np.random.default_rng(sum(shape) + skip1 + skip2p)
    groupdq = random_groupdq(rng, shape)
    pixeldq = random_pixeldq(rng, *shape[2:])
    gdq, pdq = groupdq.copy(), pixeldq.copy()
    ref = Reference(name="r", skip_rows=(SkipRow("FULL", "FAST", skip1, skip2p),))
    res = rscd.apply(np.zeros(shape, np.float32), gdq, pdq, ref, readpatt="FAST",
                     subarray="FULL", method="flag", threads=1)
    o_gdq, o_pdq, o_status, o_stats = flag_oracle(groupdq, pixeldq, skip1, skip2p)
    assert res.status == o_status == "COMPLETE"
    np.testing.assert_array_equal(gdq, o_gdq)
    np.testing.assert_array_equal(pdq, o_pdq)
    assert {k: v for k, v in result_stats(res).items() if v is not None} == o_stats


def test_hand_worked_back_off_is_global():
    # Integrations 2+ with skip 3. Pixel A (int 2) is SATURATED in groups 4 and 2 only
    # (non-monotonic), pixel B (int 3) from group 3 on. Level 4: A and B are problems
    # -> A k=2, B k=2. Level 3: B only -> B k=1. Level 2: A only -> A k=1. Level 1:
    # nobody -> stop. A pixel-by-pixel stop would have left A at k=2 after level 3.
    gdq = np.zeros((3, 8, 1, 3), np.uint8)
    pdq = np.zeros((1, 3), np.uint32)
    gdq[1, [2, 4], 0, 0] = 2
    gdq[2, 3:, 0, 1] = 2
    data = np.zeros(gdq.shape, np.float32)
    ref = Reference(name="r", skip_rows=(SkipRow("FULL", "FAST", 1, 3),))
    res = rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL")
    dnu = gdq & 1
    assert dnu[1, :, 0, 0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]   # k = 1
    assert dnu[2, :, 0, 1].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]   # k = 1
    assert dnu[1, :, 0, 2].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]   # untouched pixel k = 3
    assert dnu[0, :, 0, :].sum(axis=0).tolist() == [1, 1, 1]       # int 1: skip 1
    assert pdq[0].tolist() == [1 << 28, 1 << 28, 0]
    assert (res.keep_groups_saturation_int2p, res.keep_bright_firstgroup_int2p) == (2, 0)
    assert (res.keep_groups_saturation_int1, res.keep_bright_firstgroup_int1) == (0, 0)


def test_group0_saturated_is_never_backed_off():
    gdq = np.full((2, 8, 1, 1), 2, np.uint8)
    pdq = np.zeros((1, 1), np.uint32)
    ref = Reference(name="r", skip_rows=(SkipRow("FULL", "FAST", 2, 3),))
    res = rscd.apply(np.zeros(gdq.shape, np.float32), gdq, pdq, ref, readpatt="FAST",
                     subarray="FULL")
    assert (gdq[1, :, 0, 0] & 1).tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert res.keep_groups_saturation_int2p == 0 and pdq[0, 0] == 0


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), skip1=st.integers(-1, 12), skip2p=st.integers(0, 12))
def test_flags_only_added_sci_untouched_and_idempotent(seed, skip1, skip2p):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 5)), int(rng.integers(3, 14)), 3, 4)
    gdq0 = random_groupdq(rng, shape)
    pdq0 = random_pixeldq(rng, 3, 4)
    data0 = rng.normal(size=shape).astype(np.float32)
    ref = Reference(name="r", skip_rows=(SkipRow("FULL", "FAST", skip1, skip2p),))
    gdq, pdq, data = gdq0.copy(), pdq0.copy(), data0.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rscd.RSCDWarning)
        first = rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL")
        assert np.all(gdq & gdq0 == gdq0) and np.all(pdq & pdq0 == pdq0)
        assert np.all((gdq ^ gdq0) & ~np.uint8(1) == 0)           # only DO_NOT_USE added
        assert np.all((pdq ^ pdq0) & ~np.uint32(1 << 28) == 0)     # only FLUX_ESTIMATED
        np.testing.assert_array_equal(data, data0)
        gdq1, pdq1 = gdq.copy(), pdq.copy()
        second = rscd.apply(data, gdq, pdq, ref, readpatt="FAST", subarray="FULL")
    np.testing.assert_array_equal(gdq, gdq1)
    np.testing.assert_array_equal(pdq, pdq1)
    assert first == second


def test_threads_give_identical_results():
    case = random_flag_case(11)
    rng = np.random.default_rng(5)
    case["groupdq"] = random_groupdq(rng, (4, 20, 64, 70))
    case["data"] = np.zeros(case["groupdq"].shape, np.float32)
    case["pixeldq"] = random_pixeldq(rng, 64, 70)
    case.update(skip1=2, skip2p=4, nints=4, integration_start=1, subarray="FULL",
                table_subarray="FULL")
    one = run_rscd(case, threads=1)
    two = run_rscd(case, threads=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    assert one[2] == two[2]


def test_concurrent_calls_match_serial():
    cases = [random_flag_case(s) for s in range(40, 56)]
    for c in cases:
        c["table_subarray"] = c["subarray"] = "FULL"
    serial = [run_rscd(c) for c in cases]
    results = [None] * len(cases)

    def work(i):
        results[i] = run_rscd(cases[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s, r in zip(serial, results):
        np.testing.assert_array_equal(s[0], r[0])
        np.testing.assert_array_equal(s[1], r[1])
        assert s[2] == r[2]
