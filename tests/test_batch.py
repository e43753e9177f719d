"""rscd.batch and the command's --jobs/--resume: a process pool gives the same files as
one-by-one runs; failures do not stop the others; resumption skips finished files."""
import concurrent.futures
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits

import rscd
from children import child_env
from rscd.batch import apply_files
from rscd.cli import main
from fitsfiles import decay_reference, flag_reference, ramp_arrays, segments, write_astropy


@pytest.fixture
def many(tmp_path):
    paths = []
    for n in range(5):
        arrays = ramp_arrays(nints=3, ngroups=7, nrows=8, ncols=9, seed=n)
        paths.append(write_astropy(str(tmp_path / f"f{n}_linearity.fits"), *arrays))
    return {"paths": paths, "flag": flag_reference(str(tmp_path / "rf.fits")),
            "decay": decay_reference(str(tmp_path / "rd.fits")), "dir": tmp_path}


def _copy(paths, folder):
    os.makedirs(folder)
    return [shutil.copy(p, folder) for p in paths]


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _data(path):
    """Every HDU's data bytes and the header cards except HISTORY (it holds a time)."""
    out = []
    for name, header, data in segments(path):
        cards = [c for c in fits.Header.fromstring(header.decode("ascii")).cards
                 if c.keyword != "HISTORY"]
        out.append((name, [str(c) for c in cards], data))
    return out


@pytest.mark.parametrize("method", ["flag", "decay"])
@pytest.mark.parametrize("inplace", [False, True])
def test_pool_equals_one_by_one(many, method, inplace):
    one = _copy(many["paths"], many["dir"] / "one")
    pool = _copy(many["paths"], many["dir"] / "pool")
    want = [rscd.apply_file(p, many[method], inplace=inplace) for p in one]
    batch = apply_files(pool, many[method], jobs=2, inplace=inplace)
    assert batch.jobs == 2 and batch.ok and batch.count("COMPLETE") == 5
    assert [f.path for f in batch.files] == pool                      # input order
    assert [f.result for f in batch.files] == want
    for a, b in zip(one, pool):
        if not inplace:
            a, b = rscd.output_path(a), rscd.output_path(b)
        assert _data(a) == _data(b)


def test_failures_and_resume(many, capsys):
    paths = many["paths"][:3]
    bad = str(many["dir"] / "bad_linearity.fits")
    with open(bad, "wb") as f:
        f.write(b"\0" * 2880)
    batch = apply_files(paths[:2] + [bad] + paths[2:], many["decay"], jobs=2, inplace=True)
    assert [f.status for f in batch.files] == ["COMPLETE", "COMPLETE", "FAILED", "COMPLETE"]
    assert "bad_linearity.fits" in batch.files[2].error and batch.failed == 1
    assert "Traceback" in batch.files[2].traceback
    table = batch.table()
    assert "FAILED" in table and "4 file(s): 3 complete, 1 failed" in table
    corrected = [_read(p) for p in paths]
    # decay is not idempotent: without resume a second run refuses; with it, skips
    again = apply_files(paths, many["decay"], jobs=1, inplace=True)
    assert again.failed == 3 and "--force" in again.files[0].error
    again = apply_files(paths, many["decay"], jobs=2, inplace=True, resume=True)
    assert [f.status for f in again.files] == ["DONE"] * 3 and again.ok
    assert [_read(p) for p in paths] == corrected
    # new files: an existing output counts as done
    out = apply_files(paths, many["flag"], jobs=2)
    assert out.count("COMPLETE") == 3
    os.remove(rscd.output_path(paths[1]))
    out = apply_files(paths, many["flag"], jobs=2, resume=True)
    assert [f.status for f in out.files] == ["DONE", "COMPLETE", "DONE"]


def test_warnings_come_back_from_workers(many, caplog):
    src = write_astropy(str(many["dir"] / "slow_uncal.fits"), *ramp_arrays(), READPATT="SLOW")
    with caplog.at_level("WARNING", logger="rscd"):
        batch = apply_files([src, many["paths"][0]], many["flag"], jobs=2)
    assert [f.status for f in batch.files] == ["SKIPPED", "COMPLETE"]
    assert any("READPATT=SLOW" in text for _, text in batch.files[0].messages)
    assert "READPATT=SLOW" in caplog.text


def test_files_running_at_once_on_threads_keep_their_own_messages(many, monkeypatch):
    """Two files corrected at the same time on two threads of one process (a dask worker
    with several threads): each file's warning and log record stay with that file, and
    the logger and warnings state are put back. (Regression: each task swapped the
    process-wide handlers and showwarning, so the second file took both files'
    messages and the first restored a state that was not its own.)"""
    import logging
    import threading
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    import rscd.fits
    from rscd.batch import _run_one
    both_inside = threading.Barrier(2, timeout=20)
    real = rscd.fits.apply_file

    def talking(path, reference, **options):
        both_inside.wait()                     # both tasks are collecting now
        warnings.warn(f"warning of {os.path.basename(path)}")
        logging.getLogger("rscd").info("log of %s", os.path.basename(path))
        both_inside.wait()                     # neither has finished before both spoke
        return real(path, reference, **options)

    monkeypatch.setattr(rscd.fits, "apply_file", talking)
    log = logging.getLogger("rscd")
    before = (log.handlers[:], log.propagate, log.level, warnings.showwarning,
              warnings.filters[:])
    paths = many["paths"][:2]
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda p: _run_one(p, many["flag"], {}, False), paths))
    assert [f.status for f in done] == ["COMPLETE", "COMPLETE"]
    for f, path, other in zip(done, paths, paths[::-1]):
        name = os.path.basename(path)
        assert f.messages[:2] == [(logging.WARNING, f"warning of {name}"),
                                  (logging.INFO, f"log of {name}")]
        assert not any(os.path.basename(other) in text for _, text in f.messages)
    assert (log.handlers, log.propagate, log.level, warnings.showwarning,
            warnings.filters) == before


class _Losing(concurrent.futures.ThreadPoolExecutor):
    """A thread pool that records the paths it is given and loses the task of one."""

    def __init__(self, lose):
        super().__init__(2)
        self.lose, self.seen = lose, []

    def submit(self, fn, path, *args):
        self.seen.append(path)
        if os.path.basename(path) == self.lose:
            future = concurrent.futures.Future()
            future.set_exception(ConnectionError("worker gone"))
            return future
        return super().submit(fn, path, *args)


def test_any_executor_gets_absolute_paths_and_a_lost_task_is_one_failed_line(
        many, monkeypatch):
    monkeypatch.chdir(many["dir"])
    names = [os.path.basename(p) for p in many["paths"][:3]]
    os.makedirs("out")
    with _Losing(lose=names[1]) as executor:
        batch = apply_files(names, many["flag"], executor=executor, output_dir="out")
    assert executor.seen == [os.path.join(str(many["dir"]), n) for n in names]
    assert [f.path for f in batch.files] == names                 # as the caller gave them
    assert [f.status for f in batch.files] == ["COMPLETE", "FAILED", "COMPLETE"]
    assert batch.files[0].output == os.path.join("out", "f0_rscd.fits")
    assert os.path.exists(batch.files[0].output) and not os.path.exists("out/f1_rscd.fits")
    assert batch.files[1].error == (f"{names[1]}: the worker did not return a result: "
                                    "ConnectionError: worker gone")
    assert batch.jobs is None and "_Losing" in batch.summary()
    with pytest.raises(TypeError, match="concurrent.futures.Executor"):
        apply_files(names, many["flag"], executor=object())


def test_bad_options(many):
    with pytest.raises(ValueError, match="jobs"):
        apply_files(many["paths"], many["flag"], jobs=0)
    with pytest.raises(rscd.ReferenceFileError):
        apply_files(many["paths"], many["paths"][0])


def test_cli_jobs_resume_summary(many, capsys):
    paths = many["paths"]
    bad = str(many["dir"] / "zz_bad.fits")
    with open(bad, "wb") as f:
        f.write(b"junk")
    code = main([*paths, bad, "-r", many["decay"], "--in-place", "--jobs", "2", "--summary"])
    assert code == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line.split("]")[0] for line in lines[:5]] == [f"[{n}/6" for n in range(1, 6)]
    assert "status" in lines[5] and "zz_bad.fits" in out and "6 file(s): 5 complete, 1 " \
        "failed" in out
    assert err.splitlines()[-1] == "rscd: error: 1 of 6 files failed"
    assert main([*paths, "-r", many["decay"], "--in-place", "--resume"]) == 0
    assert capsys.readouterr().out.count("already done") == 5
    assert main([*paths, "-r", many["decay"], "--jobs", "0"]) == 2
    for p in paths:
        assert fits.getval(p, "S_RSCD") == "COMPLETE"
    np.testing.assert_array_equal(fits.getdata(paths[0], "GROUPDQ").shape, (3, 7, 8, 9))


CHILD = r"""
import resource, sys
import numpy as np
import rscd
def vmdata():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
path, ref, headroom = sys.argv[1], sys.argv[2], int(sys.argv[3])
limit = vmdata() + headroom
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
from astropy.io import fits
with fits.open(path, memmap=True) as hdul:      # the limit bites: a copy of SCI fails
    try:
        np.array(hdul["SCI"].data)
    except MemoryError:
        print("copy refused")
print(rscd.apply_file(path, ref, inplace=True).summary())
print("VmData grew by", vmdata() + headroom - limit)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_in_place_file_larger_than_memory_limit(tmp_path):
    """A file whose SCI alone is twice the memory the process may allocate is corrected
    in place.

    RLIMIT_DATA (Linux >= 4.7) limits private writable and anonymous memory: the heap,
    numpy's arrays, thread stacks. Pages of a MAP_SHARED file mapping (np.memmap r+) are
    not counted, so the limit means "cannot load the cube" while the memory-mapped,
    in-place correction works. (RLIMIT_AS would count the file mapping's address space
    too, and refuse the mapping itself.) The child first shows the limit is real: a copy
    of SCI raises MemoryError.
    """
    import subprocess
    import sys
    nints, ngroups, nrows, ncols = 2, 8, 1024, 1032
    rng = np.random.default_rng(0)
    data = (1000 + 50 * np.arange(1, ngroups + 1, dtype=np.float32)[None, :, None, None]
            + rng.normal(0, 5, (nints, 1, nrows, ncols)).astype(np.float32))
    data = np.broadcast_to(data, (nints, ngroups, nrows, ncols)).astype(np.float32)
    gdq = np.zeros(data.shape, np.uint8)
    gdq[:, 7:, :64] = 2
    pdq = np.zeros((nrows, ncols), np.uint32)
    path = write_astropy(str(tmp_path / "big_linearity.fits"), data, gdq, pdq)
    twin = shutil.copy(path, str(tmp_path / "twin_linearity.fits"))
    del data, gdq
    ref = decay_reference(str(tmp_path / "rd.fits"))
    sci_bytes = nints * ngroups * nrows * ncols * 4
    headroom = sci_bytes // 2
    assert os.path.getsize(path) > 2 * headroom
    proc = subprocess.run([sys.executable, "-c", CHILD, path, ref, str(headroom)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
                          env=dict(child_env(), OMP_NUM_THREADS="2"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("copy refused\ndecay COMPLETE: 1 integration(s) corrected")
    rscd.apply_file(twin, ref, inplace=True)                  # no limit here
    with fits.open(path) as ha, fits.open(twin) as hb:
        for name in ("SCI", "GROUPDQ", "PIXELDQ"):
            assert np.array_equal(ha[name].data, hb[name].data)
        assert ha[0].header["S_RSCD"] == "COMPLETE"
