"""rscd._core, the Cython adapter, is importable on its own: it must check every buffer it
hands to the C core (which cannot know their lengths) and refuse, with one line naming
the array, before the core runs; and it, not the core, reads RSCD_NO_VECTOR (once, at
import) into rscd_params.use_vector."""
import subprocess
import tempfile
import sys

import numpy as np
import pytest

from rscd import _core

from children import child_env

COEFFS = dict(tau=3.0, ascale=0.02, pow=0.9, illum_zp=1.0, illum_slope=0.0, illum2=0.0,
              param3=3.0e4, crossopt=100.0, sat_zp=0.0, sat_slope=0.0, sat_2=0.0,
              sat_mzp=0.2, sat_rowterm=0.0, sat_scale=1.0)


def ramp(nints=2, ngroups=6, nrows=5, ncols=5):
    g = np.arange(ngroups, dtype=np.float32).reshape(1, -1, 1, 1)
    data = np.ascontiguousarray(np.broadcast_to(5000 + 300 * (g + 1),
                                                (nints, ngroups, nrows, ncols)),
                                dtype=np.float32)
    groupdq = np.zeros(data.shape, np.uint8)
    groupdq[nints - 1, 3:, 0, 0] = 2  # a back-off for flag to do
    return data, groupdq


def calls(groupdq, pixeldq, data):
    """Every adapter function that takes GROUPDQ and PIXELDQ."""
    return {
        "flag": lambda: _core.flag(groupdq, pixeldq, 1, 2),
        "flag_range_stop": lambda: _core.flag_range_stop(groupdq, pixeldq, 1, 1, 2, 3),
        "flag_plan": lambda: _core.flag_plan(groupdq, pixeldq, 1, 2),
        "flag_problem_levels": lambda: _core.flag_problem_levels(groupdq, pixeldq, 1, 1, 2),
        "decay": lambda: _core.decay(data.reshape(-1), False, groupdq, pixeldq, COEFFS, COEFFS),
    }


ADAPTERS = ["flag", "flag_range_stop", "flag_plan", "flag_problem_levels",
            "decay"]


@pytest.mark.parametrize("name", ADAPTERS)
@pytest.mark.parametrize("shape", [(2, 2), (5, 4), (4, 5), (1, 25)])
def test_pixeldq_of_another_frame_is_refused(name, shape):
    """A (2, 2) PIXELDQ with a 5 x 5 frame made the core write past the array."""
    data, groupdq = ramp()
    pixeldq = np.zeros(shape, np.uint32)
    before = data.copy(), groupdq.copy()
    with pytest.raises(ValueError, match=r"PIXELDQ has shape \(%d, %d\); expected \(5, 5\)"
                       % shape):
        calls(groupdq, pixeldq, data)[name]()
    assert np.array_equal(data, before[0]) and np.array_equal(groupdq, before[1])
    assert not pixeldq.any()


@pytest.mark.parametrize("name", ADAPTERS)
def test_matching_pixeldq_is_accepted(name):
    data, groupdq = ramp()
    calls(groupdq, np.zeros((5, 5), np.uint32), data)[name]()


@pytest.mark.parametrize("which", ["SCI", "GROUPDQ"])
def test_previous_integration_of_another_shape_is_refused(which):
    """The previous integration's arrays must be (ngroups, nrows, ncols) exactly; a
    transposed frame of the same size was accepted before."""
    data, groupdq = ramp(nints=1, nrows=3, ncols=4)
    prev_data, prev_gdq = data[0].copy(), groupdq[0].copy()
    if which == "SCI":
        prev_data = np.ascontiguousarray(prev_data.transpose(0, 2, 1))
    else:
        prev_gdq = np.ascontiguousarray(prev_gdq.transpose(0, 2, 1))
    before = data.copy()
    with pytest.raises(ValueError, match=f"previous integration's {which} has shape"):
        _core.decay(data.reshape(-1), False, groupdq, np.zeros((3, 4), np.uint32), COEFFS,
                    COEFFS, integration_start=2, prev_data=prev_data, prev_groupdq=prev_gdq)
    assert np.array_equal(data, before)


def test_previous_integration_needs_both_arrays():
    data, groupdq = ramp(nints=1)
    with pytest.raises(ValueError, match="both SCI and GROUPDQ"):
        _core.decay(data.reshape(-1), False, groupdq, np.zeros((5, 5), np.uint32), COEFFS,
                    COEFFS, integration_start=2, prev_groupdq=groupdq[0].copy())


def test_sci_of_another_size_is_refused():
    data, groupdq = ramp()
    with pytest.raises(ValueError, match="SCI has"):
        _core.decay(data.reshape(-1)[:-1], False, groupdq, np.zeros((5, 5), np.uint32),
                    COEFFS, COEFFS)


@pytest.mark.parametrize("bad", ["dtype", "strides", "readonly"])
@pytest.mark.parametrize("array", ["GROUPDQ", "PIXELDQ", "SCI"])
def test_buffer_of_wrong_type_layout_or_access_is_refused(bad, array):
    """dtype, C-contiguity and writability are the typed memoryviews' checks; decay only
    reads GROUPDQ and PIXELDQ (const memoryviews), so it takes them read-only (issue 16)
    and leaves them as they were."""
    data, groupdq = ramp()
    pixeldq = np.zeros((5, 5), np.uint32)
    arrays = {"GROUPDQ": groupdq, "PIXELDQ": pixeldq, "SCI": data}
    a = arrays[array]
    if bad == "dtype":
        a = a.astype({np.uint8: np.int8, np.uint32: np.int32, np.float32: np.float64}[a.dtype.type])
    elif bad == "strides":
        a = np.asfortranarray(a) if array != "SCI" else np.repeat(a.reshape(-1), 2)[::2]
    else:
        a = a.copy()
        a.flags.writeable = False
    arrays[array] = a
    flat = arrays["SCI"] if arrays["SCI"].ndim == 1 else arrays["SCI"].reshape(-1)
    if bad == "readonly" and array != "SCI":
        before = a.copy()
        _core.decay(flat, False, arrays["GROUPDQ"], arrays["PIXELDQ"], COEFFS, COEFFS)
        np.testing.assert_array_equal(a, before)
    else:
        with pytest.raises(ValueError):
            _core.decay(flat, False, arrays["GROUPDQ"], arrays["PIXELDQ"], COEFFS, COEFFS)
    if array != "SCI":
        with pytest.raises(ValueError):
            _core.flag(arrays["GROUPDQ"], arrays["PIXELDQ"], 1, 2)


def use_vector_at_import(value):
    env = {k: v for k, v in child_env().items() if k != "RSCD_NO_VECTOR"}
    if value is not None:
        env["RSCD_NO_VECTOR"] = value
    out = subprocess.run([sys.executable, "-c",
                          "import rscd._core as c; print(c.use_vector)"],
                         capture_output=True, text=True, env=env, check=True,
                         cwd=tempfile.gettempdir()).stdout
    return out.strip()


@pytest.mark.parametrize("value, expected", [(None, "True"), ("", "True"), ("0", "True"),
                                             ("1", "False"), ("yes", "False")])
def test_rscd_no_vector_is_read_at_import(value, expected):
    assert use_vector_at_import(value) == expected


def test_results_do_not_depend_on_use_vector(monkeypatch):
    results = []
    for flag in (True, False):
        monkeypatch.setattr(_core, "use_vector", flag)
        data, groupdq = ramp(nints=3, ngroups=8, nrows=16, ncols=40)
        status, stats = _core.decay(data.reshape(-1), False, groupdq,
                                    np.zeros((16, 40), np.uint32), COEFFS, COEFFS)
        assert stats["npix_corrected"] > 0
        results.append(data)
    assert np.array_equal(results[0].view(np.uint32), results[1].view(np.uint32))


def test_statistics_and_plan_have_no_struct_size():
    """struct_size (the ABI rule of rscd.h) is the adapter's business, not a statistic."""
    data, groupdq = ramp()
    pixeldq = np.zeros((5, 5), np.uint32)
    assert "struct_size" not in _core.flag_plan(groupdq, pixeldq, 1, 2)[1]
    assert set(_core.flag(groupdq, pixeldq, 1, 2)[1]) == {
        "ngroups_skip_int1", "ngroups_skip_int2p", "keep_bright_firstgroup_int1",
        "keep_bright_firstgroup_int2p", "keep_groups_saturation_int1",
        "keep_groups_saturation_int2p"}
    assert "struct_size" not in _core.decay(data.reshape(-1), False, groupdq, pixeldq, COEFFS,
                                            COEFFS)[1]


def test_measured_statistics_have_no_struct_size_and_a_bad_model_is_refused():
    """The measured structs are filled by their init functions (the ABI rule): the
    statistics come back without struct_size, and a malformed model is RSCD_ERR_MODEL,
    an rscd_status (-10), with SCI left as it was."""
    data, groupdq = ramp()
    pixeldq = np.zeros((5, 5), np.uint32)
    model = (np.array([0.5, 0.2, 0.1]), np.array([3.0, 1.0, 0.5]), 2)
    before = data.copy()
    status, stats = _core.measured(data.reshape(-1), False, groupdq, pixeldq,
                                   (model, model), (model, None))
    assert status == _core.Status.RSCD_OK
    assert set(stats) == {"nints_corrected", "npix_corrected", "npix_flagged",
                          "npix_no_slope", "nvalues_left"}
    assert stats["nints_corrected"] == 2 and stats["npix_corrected"] > 0
    assert not np.array_equal(data, before)
    bad = (np.array([np.nan, 0.0, 0.0]), model[1], 2)
    before = data.copy()
    with pytest.raises(_core.RSCDError, match="measured model"):
        _core.measured(data.reshape(-1), False, groupdq, pixeldq, (bad, None), (None, None))
    np.testing.assert_array_equal(data, before)
    assert _core.ERR_MODEL == _core.Status.RSCD_ERR_MODEL == -10


def test_stop_level_checks_its_flags():
    assert _core.flag_stop_level(np.array([1, 0, 1], np.uint8), 2) == 2
    assert _core.flag_stop_level(np.array([1, 1, 1], np.uint8), 2) == 0
    with pytest.raises(ValueError, match="expected skip"):
        _core.flag_stop_level(np.zeros(2, np.uint8), 2)
    with pytest.raises(ValueError):
        _core.flag_stop_level(np.zeros(0, np.uint8), -1)
    with pytest.raises(_core.RSCDError):
        _core.flag_problem_levels(*ramp()[1:], np.zeros((5, 5), np.uint32), 1, 1, -1)


HUGE_THREADS = """
import numpy as np, rscd
from rscd import _core
rng = np.random.default_rng(3)
gdq = (rng.random((3, 8, 200, 260)) < 0.2).astype(np.uint8) * 2
data = np.cumsum(rng.uniform(10, 500, gdq.shape), axis=1).astype(np.float32) + 5000
coeffs = dict(tau=3.0, ascale=0.02, pow=0.9, illum_zp=1.0, illum_slope=0.0, illum2=0.0,
              param3=3.0e4, crossopt=100.0, sat_zp=0.0, sat_slope=0.0, sat_2=0.0,
              sat_mzp=0.2, sat_rowterm=0.0, sat_scale=1.0)
out = []
for nthreads in (1, 2147483647):
    g, p, d = gdq.copy(), np.zeros((200, 260), np.uint32), data.copy()
    out.append((_core.flag(g, p, 2, 3, nthreads=nthreads),
                _core.decay(d.reshape(-1), False, g, p, coeffs, coeffs, nthreads=nthreads),
                g, p, d))
    ref = rscd.Reference(name="r", skip_rows=(rscd.SkipRow("FULL", "FAST", 2, 3),))
    rscd.apply(d, g.copy(), p.copy(), ref, readpatt="FAST", subarray="FULL",
               threads=nthreads)
(f1, d1, g1, p1, s1), (f2, d2, g2, p2, s2) = out
assert f1 == f2 and d1 == d2, (f1, f2, d1, d2)
assert np.array_equal(g1, g2) and np.array_equal(p1, p2)
assert np.array_equal(s1.view(np.uint32), s2.view(np.uint32))
print("same")
"""


def test_huge_thread_count_does_not_abort():
    """nthreads = 2**31 - 1 (rscd.apply accepts it) made libgomp abort the process trying
    to create the threads; the core caps it at the processors there are (one place,
    rscd_threads). A child process: the abort would take pytest down."""
    proc = subprocess.run([sys.executable, "-c", HUGE_THREADS], capture_output=True,
                          text=True, env=child_env(), cwd=tempfile.gettempdir(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "same"


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_waits_passively_unless_the_user_chose(given, expected):
    # Spinning OpenMP waits made flag 25x slower on 2 threads with the other core busy
    # (benchmarks/bench.py prints both); the policy is read when the runtime loads, so
    # importing rscd sets it first, and a user's own choice stays.
    env = {k: v for k, v in child_env().items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = ("import os, sys, rscd; "
            "print(os.environ['OMP_WAIT_POLICY'], 'rscd._core' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, cwd=tempfile.gettempdir(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [expected, "True"]
