"""rscd diagnose on many files of one pair keeps a bounded memory: each file's pixel
slopes beyond SLOPES_IN_MEMORY wait in a temporary file, and the pooled pilot is thinned
evenly beyond PILOT_POOL_BYTES (docs/diagnose.rst, "Speed and memory"). Before, every
file added its slopes (17 MB a full frame) and its pilot to the resident memory until the
pair was done: 16 full frames took 394 MB where one took 108 MB."""
import importlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import rscd
from children import child_env
from simulate_rscd import simulate_ramps, write_pair_files, write_simulated

diagnose_module = importlib.import_module("rscd.diagnose")
measure = importlib.import_module("rscd.diagnose_measure")


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    return write_pair_files(tmp_path_factory.mktemp("pairs"), files_per_pair=3)


def test_slopes_waiting_on_disk_give_the_same_result(pair_files, monkeypatch):
    want = rscd.diagnose_files(pair_files).to_dict()
    opened, make = [], tempfile.TemporaryFile

    def temporary_file(*args, **kwargs):
        opened.append(make(*args, **kwargs))
        return opened[-1]
    monkeypatch.setattr(diagnose_module.tempfile, "TemporaryFile", temporary_file)
    monkeypatch.setattr(diagnose_module, "SLOPES_IN_MEMORY", 0)
    got = rscd.diagnose_files(pair_files).to_dict()
    assert got == want
    assert opened and all(f.closed for f in opened)      # one per pair, closed after it


def test_a_slope_store_gives_back_what_it_was_given(monkeypatch):
    monkeypatch.setattr(diagnose_module, "SLOPES_IN_MEMORY", 16 * 6)
    rng = np.random.default_rng(1)
    frames = {f"f{k}": (rng.normal(size=6), rng.integers(0, 9, 6).astype(float))
              for k in range(4)}
    frames["one_integration"] = None
    store = diagnose_module._SlopeStore()
    for path, slopes in frames.items():
        store.put(path, slopes)
    for path, slopes in reversed(list(frames.items())):
        got = store.get(path)
        if slopes is None:
            assert got is None
        else:
            for a, b in zip(got, slopes):
                np.testing.assert_array_equal(a, b)
    store.close()


def _pilot_of(budget, monkeypatch):
    monkeypatch.setattr(measure, "PILOT_POOL_BYTES", budget)
    acc = measure.Accumulator(20, 10)
    for seed in range(3):       # three files' pilots into one pair's pool
        data, gdq, pdq = simulate_ramps(nints=3, nrows=48, ncols=40, seed=seed)
        acc.use_slopes(acc.pixel_slopes(data, gdq, pdq, integration_start=1, ystart=1))
        acc.add_pilot(data, gdq, pdq, integration_start=1, ystart=1)
    return acc


def test_the_pilot_of_many_files_is_thinned_evenly(monkeypatch):
    whole = _pilot_of(1 << 40, monkeypatch)
    size = sum(a.nbytes for parts in whole.pilot.values() for part in parts for a in part)
    thin = _pilot_of(size // 5, monkeypatch)
    assert thin.pilot_stride == 8 and whole.pilot_stride == 1
    assert sum(a.nbytes for parts in thin.pilot.values() for part in parts
               for a in part) <= size // 5
    for key, parts in whole.pilot.items():
        assert len(thin.pilot[key]) == len(parts)
        for (z, u, o), (tz, tu, to) in zip(parts, thin.pilot[key]):
            np.testing.assert_array_equal(tz, z[::8])
            np.testing.assert_array_equal(tu, u[::8])
            np.testing.assert_array_equal(to, o[:, ::8])
    thin.finish_pilot()                 # clip tables from the thinned pilot
    assert set(thin.clip) == set(whole.pilot)


def test_thinning_stops_at_one_sample_a_part(tmp_path):
    """Regression: with more parts than the budget holds at one sample each, the thinning
    loop never ended (halving a one-sample part leaves it as it is). Run in a child so
    that the old loop fails the test by its time limit instead of hanging the suite."""
    code = (
        "import importlib, sys\n"
        "sys.path.insert(0, %r)\n"
        "from simulate_rscd import simulate_ramps\n"
        "m = importlib.import_module('rscd.diagnose_measure')\n"
        "m.PILOT_POOL_BYTES = 1\n"
        "acc = m.Accumulator(20, 10)\n"
        "for seed in range(2):\n"
        "    data, gdq, pdq = simulate_ramps(nints=3, nrows=48, ncols=40, seed=seed)\n"
        "    acc.use_slopes(acc.pixel_slopes(data, gdq, pdq, integration_start=1, ystart=1))\n"
        "    acc.add_pilot(data, gdq, pdq, integration_start=1, ystart=1)\n"
        "parts = [p for kept in acc.pilot.values() for p in kept]\n"
        "assert parts and all(len(p[0]) == 1 for p in parts), [len(p[0]) for p in parts]\n"
        % os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=child_env(), cwd=str(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr


def test_one_files_pilot_is_never_thinned(monkeypatch):
    """A file of many groups has a pilot above the pool's budget on its own (about 27 MB
    at 100 groups): it is kept whole, so one file's result is that of before."""
    monkeypatch.setattr(measure, "PILOT_POOL_BYTES", 1)
    data, gdq, pdq = simulate_ramps(nints=3, nrows=48, ncols=40, seed=5)
    acc = measure.Accumulator(20, 10)
    acc.use_slopes(acc.pixel_slopes(data, gdq, pdq, integration_start=1, ystart=1))
    acc.add_pilot(data, gdq, pdq, integration_start=1, ystart=1)
    assert acc.pilot_stride == 1 and acc.pilot
    monkeypatch.setattr(measure, "PILOT_POOL_BYTES", 1 << 40)
    want = rscd.diagnose(data, gdq, pdq).to_dict()
    monkeypatch.setattr(measure, "PILOT_POOL_BYTES", 1)
    assert rscd.diagnose(data, gdq, pdq).to_dict() == want


# The peak of this process's own memory (VmHWM; ru_maxrss would carry the test
# process's peak over the exec).
PEAK_RSS = """
import json, sys
import rscd
result = rscd.diagnose_files(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps([peak / 1024, result.results[0].int2p.measured_skip]))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_peak_memory_does_not_grow_with_the_number_of_files(tmp_path):
    """Real processes: eight full-frame files of one pair against two (each file's slopes
    alone are 17 MB; before, the eight took 116 MB more than the two, now 39)."""
    paths = [write_simulated(tmp_path / f"f{k}_linearity.fits", nints=2, ngroups=8,
                             nrows=1024, ncols=1032, seed=k) for k in range(8)]

    def peak(files):
        out = subprocess.run([sys.executable, "-c", PEAK_RSS, *files], capture_output=True,
                             text=True, env=child_env(), cwd=tempfile.gettempdir(),
                             timeout=600)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    two, eight = peak(paths[:2]), peak(paths)
    assert eight[0] - two[0] < 60, (two, eight)
    assert eight[1] == two[1]


def test_no_room_for_the_slopes_is_one_line_naming_the_folder(pair_files, monkeypatch,
                                                               capsys):
    """A full temporary folder: the command says where and why, in one line."""
    from rscd.cli import main

    class Full:
        def seek(self, *args):
            return 0

        def write(self, data):
            raise OSError(28, "No space left on device")

        def close(self):
            pass
    monkeypatch.setattr(diagnose_module.tempfile, "TemporaryFile", lambda **kw: Full())
    monkeypatch.setattr(diagnose_module, "SLOPES_IN_MEMORY", 0)
    assert main(["diagnose", *pair_files]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{tempfile.gettempdir()}: No space left on device" in err and "TMPDIR" in err
