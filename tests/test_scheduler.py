"""``rscd FILES --scheduler ADDRESS`` and ``apply_files(executor=...)`` against a real
dask.distributed scheduler with two workers, each a separate process (docs/cluster.rst).

The cluster is started once for the module with the ``dask`` console script of this
Python's environment, in a folder of its own (so relative paths must be made absolute
before they reach a worker), and always torn down.
"""
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from astropy.io import fits

import rscd
from children import child_env, run_rscd
from fitsfiles import decay_reference, flag_reference, ramp_arrays, segments, write_astropy
from rscd.batch import apply_files
from rscd.cli import main

# A dask.distributed scheduler and workers in real processes, started, lost and killed,
# with waits: behind the slow marker (.ci/run runs them with pytest -m slow), so the
# README's pytest stays a few minutes.
pytestmark = pytest.mark.slow

distributed = pytest.importorskip("distributed")

NFILES = 5


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(procs):
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)        # the worker's own group: nanny and its worker
            proc.wait(timeout=5)


@contextlib.contextmanager
def start_cluster(folder, nworkers=2):
    """(address, client, scheduler process): a scheduler and ``nworkers`` one-thread
    workers, separate processes on a free local port, stopped at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    if not os.path.exists(dask):
        pytest.skip("the dask console script is not next to this Python")
    env = child_env()
    procs = []
    logs = []

    def start(*args, name):
        log = open(folder / f"{name}.log", "w")
        logs.append(log)
        procs.append(subprocess.Popen([dask, *args], cwd=folder, env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True))

    client = None
    try:
        start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
              name="scheduler")
        for n in range(1, nworkers + 1):
            start("worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                  name=f"worker{n}")
        client = distributed.Client(address, timeout=30, set_as_default=False)
        if nworkers:
            client.wait_for_workers(nworkers, timeout=40)
        yield address, client, procs[0]
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=2)
        _stop(procs)
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(address, client): a scheduler and two one-thread workers, separate processes."""
    with start_cluster(tmp_path_factory.mktemp("cluster")) as (address, client, _):
        yield address, client


@pytest.fixture
def files(tmp_path):
    """Five ramp files, one that is not FITS, one skipped with a warning; references."""
    src = tmp_path / "src"
    src.mkdir()
    paths = []
    for n in range(NFILES):
        arrays = ramp_arrays(nints=3, ngroups=7, nrows=8, ncols=9, seed=n)
        paths.append(write_astropy(str(src / f"f{n}_linearity.fits"), *arrays))
    slow = write_astropy(str(src / "slow_linearity.fits"), *ramp_arrays(), READPATT="SLOW")
    bad = str(src / "zz_bad_linearity.fits")
    with open(bad, "wb") as f:
        f.write(b"\0" * 2880)
    return {"paths": paths, "slow": slow, "bad": bad, "dir": tmp_path,
            "flag": flag_reference(str(tmp_path / "rf.fits")),
            "decay": decay_reference(str(tmp_path / "rd.fits"))}


def _copy(paths, folder):
    os.makedirs(folder)
    return [shutil.copy(p, folder) for p in paths]


def _data(path):
    """Every HDU's data bytes and header cards except HISTORY (it holds a time)."""
    out = []
    for name, header, data in segments(path):
        cards = [str(c) for c in fits.Header.fromstring(header.decode("ascii")).cards
                 if c.keyword != "HISTORY"]
        out.append((name, cards, data))
    return out


def _executed(client):
    """Tasks each worker has run so far."""
    return client.run(lambda dask_worker: dask_worker.state.executed_count)


def _one_by_one(files, method, folder, **options):
    """The reference outcome: rscd.apply_file on copies, one after the other (the last
    one, READPATT=SLOW, is skipped with a warning)."""
    copies = _copy(files["paths"] + [files["slow"]], files["dir"] / folder)
    results = [rscd.apply_file(p, files[method], **options) for p in copies[:-1]]
    with pytest.warns(Warning, match="READPATT=SLOW"):
        results.append(rscd.apply_file(copies[-1], files[method], **options))
    assert results[-1].status == "SKIPPED"
    return results, copies


def test_cli_scheduler_same_files_lines_and_exit_as_one_by_one(cluster, files, monkeypatch,
                                                               capsys):
    address, client = cluster
    want, one = _one_by_one(files, "decay", "one")
    work = _copy(files["paths"] + [files["slow"], files["bad"]], files["dir"] / "work")
    before = _executed(client)
    names = [os.path.basename(p) for p in work]
    # relative paths, and a working folder the workers do not share
    proc = run_rscd(*names, "-r", files["decay"], "--scheduler", address, "--summary",
                    cwd=files["dir"] / "work")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    for n, (name, result) in enumerate(zip(names, want)):
        out = name.replace("_linearity", "_rscd")
        assert lines[n] == f"[{n + 1}/{len(names)}] {name} -> {out}: {result.summary()}"
    assert "status" in lines[NFILES + 1]
    assert lines[-1].startswith(f"{len(names)} file(s): {NFILES} complete, 1 skipped, "
                                "1 failed in ")
    err = proc.stderr.splitlines()
    assert any("READPATT=SLOW" in line and line.startswith("rscd: WARNING") for line in err)
    bad_line = [line for line in err if "zz_bad_linearity.fits" in line]
    assert len(bad_line) == 1 and bad_line[0].startswith("rscd: error: ")
    assert err[-1] == f"rscd: error: 1 of {len(names)} files failed"
    for a, b in zip(one, work):                    # the skipped one is written too
        assert _data(rscd.output_path(a)) == _data(rscd.output_path(b))
    after = _executed(client)
    assert sum(after.values()) - sum(before.values()) == len(names)
    assert all(after[w] > before[w] for w in after), (before, after)    # both did work
    finished = client.run_on_scheduler(lambda dask_scheduler: sum(
        t.finish == "memory" and "_run_one" in str(t.key)
        for t in dask_scheduler.transition_log))
    assert finished >= len(names)

    # --resume (in this process, to save a start-up): the outputs are there, so those
    # files are done and left alone; a removed one is corrected again
    outputs = [rscd.output_path(p) for p in work[:NFILES + 1]]
    os.remove(outputs[2])
    stamps = [os.stat(p).st_mtime_ns if p != outputs[2] else None for p in outputs]
    monkeypatch.chdir(files["dir"] / "work")
    code = main([*names[:NFILES + 1], "-r", files["decay"], "--scheduler", address,
                 "--resume"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [("already done" in line) for line in out] == [n != 2 for n in range(NFILES + 1)]
    assert out[2] == f"[3/{NFILES + 1}] {names[2]} -> {os.path.basename(outputs[2])}: " \
        f"{want[2].summary()}"
    assert [os.stat(p).st_mtime_ns if p != outputs[2] else None for p in outputs] == stamps
    assert _data(outputs[2]) == _data(rscd.output_path(one[2]))


@pytest.mark.parametrize("inplace", [False, True])
def test_executor_equals_one_by_one(cluster, files, caplog, inplace):
    _, client = cluster
    want, copies = _one_by_one(files, "flag", "one", inplace=inplace)
    work = _copy(files["paths"] + [files["slow"]], files["dir"] / "work")
    before = _executed(client)
    with caplog.at_level("WARNING", logger="rscd"):
        batch = apply_files(work, files["flag"], executor=client.get_executor(),
                            inplace=inplace)
    assert [f.path for f in batch.files] == work and batch.jobs is None
    assert [f.result for f in batch.files] == want
    assert any("READPATT=SLOW" in text for _, text in batch.files[-1].messages)
    assert "READPATT=SLOW" in caplog.text
    for a, b in zip(copies, work):
        if not inplace:
            a, b = rscd.output_path(a), rscd.output_path(b)
        assert _data(a) == _data(b)
    after = _executed(client)
    assert sum(after.values()) - sum(before.values()) == len(work)


def test_worker_with_another_rscd_is_refused(cluster, files, monkeypatch, capsys):
    """Workers must have this process's rscd: a mismatch is one line, nothing is run."""
    address, client = cluster
    from distributed import versions
    real = versions._version_cached
    monkeypatch.setattr(versions, "_version_cached",      # this process's answer only
                        lambda name: "0.0.0.other" if name == "rscd" else real(name))
    before = _executed(client)
    code = main([files["paths"][0], "-r", files["flag"], "--scheduler", address])
    err = capsys.readouterr().err
    assert code == 2
    assert "workers need the same rscd" in err and "0.0.0.other" in err
    assert _executed(client) == before
    assert not os.path.exists(rscd.output_path(files["paths"][0]))


def test_jobs_and_scheduler_exclude_each_other(files, capsys):
    code = main([files["paths"][0], "-r", files["flag"], "--jobs", "2",
                 "--scheduler", "tcp://127.0.0.1:1"])
    assert code == 2
    assert capsys.readouterr().err.strip() == \
        "rscd: error: --scheduler sends the files to a cluster: drop --jobs"
    with ThreadPoolExecutor(1) as executor, pytest.raises(ValueError, match="jobs.*executor"):
        apply_files(files["paths"], files["flag"], jobs=2, executor=executor)
    code = main([*files["paths"][:2], "-r", files["decay"], "--segments",
                 "--scheduler", "tcp://127.0.0.1:1"])
    assert code == 2
    assert capsys.readouterr().err.strip() == \
        "rscd: error: --scheduler sends the files to a cluster: drop --segments"


def test_unreachable_scheduler_is_one_line_naming_it():
    from rscd.batch import SchedulerError, scheduler_executor
    address = f"tcp://127.0.0.1:{_free_port()}"              # nothing listens there
    with pytest.raises(SchedulerError, match=f"^scheduler {address}: .*connect"):
        with scheduler_executor(address, timeout=2):
            pass


def test_without_distributed_one_line_names_the_package(files, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)      # import fails
    code = main([files["paths"][0], "-r", files["flag"], "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1
    assert "pip install distributed" in err
    assert not os.path.exists(rscd.output_path(files["paths"][0]))


# --------------------------------------------------------------------------- issue 25.5

def test_refused_connection_fails_at_once(files, capsys):
    """A wrong port (nothing listens) failed only after the 30 s timeout, silently."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    code = main([files["paths"][0], "-r", files["flag"], "--scheduler", address])
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 10, elapsed
    assert err.splitlines() == [f"rscd: error: scheduler {address}: connection refused: "
                                f"nothing listens at 127.0.0.1:{address.rsplit(':', 1)[1]} "
                                "(is the scheduler running, and is the address the one it "
                                "printed?)"]
    assert not os.path.exists(rscd.output_path(files["paths"][0]))


def test_unknown_host_fails_at_once():
    from rscd.batch import SchedulerError, scheduler_executor
    start = time.monotonic()
    with pytest.raises(SchedulerError, match="unknown host 'no-such-host.invalid'"):
        with scheduler_executor("tcp://no-such-host.invalid:8786", timeout=30):
            pass
    assert time.monotonic() - start < 10


def test_stopped_scheduler_fails_at_once(tmp_path, files, capsys):
    """A real scheduler process, stopped: its address is refused at once."""
    with start_cluster(tmp_path, nworkers=0) as (address, client, scheduler):
        pass                                     # stopped on leaving
    assert scheduler.poll() is not None
    start = time.monotonic()
    code = main([files["paths"][0], "-r", files["flag"], "--scheduler", address])
    assert code == 2 and time.monotonic() - start < 10
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "connection refused" in err


def test_silent_scheduler_says_it_waits(caplog):
    """A port that accepts connections but never answers (not a scheduler, or a hung
    one): the log says that rscd waits, then one line when the time is out."""
    from rscd.batch import SchedulerError, scheduler_executor
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        start = time.monotonic()
        with caplog.at_level("WARNING", logger="rscd"), \
                pytest.raises(SchedulerError, match=f"^scheduler {address}: ") as exc:
            with scheduler_executor(address, timeout=4):
                pass
        elapsed = time.monotonic() - start
    assert 3.5 < elapsed < 30, elapsed      # distributed alone waited for ever here
    said = [r.getMessage() for r in caplog.records if r.name == "rscd"]
    assert said == [f"scheduler {address}: no answer yet; waiting up to 4 s"]
    assert "no answer within 4 s" in str(exc.value)


def test_scheduler_lost_mid_run_is_one_line_per_file(tmp_path, capfd):
    """kill -9 of the scheduler during a run: each file not done fails with one line
    naming the scheduler, at once (distributed waited 30 s to reconnect), and none of
    distributed's reconnection messages or tracebacks reach the terminal."""
    from rscd.batch import scheduler_executor
    src = tmp_path / "src"
    src.mkdir()
    paths = [write_astropy(str(src / f"f{n}_linearity.fits"),
                           *ramp_arrays(nints=3, ngroups=7, nrows=8, ncols=9, seed=n))
             for n in range(8)]
    ref = flag_reference(str(tmp_path / "rf.fits"))
    killed = []

    def kill_scheduler(index, done, write):
        if not killed:
            os.kill(scheduler.pid, 9)
            killed.append(time.monotonic())

    with start_cluster(tmp_path / "cluster_lost", nworkers=1) as (address, _, scheduler):
        capfd.readouterr()
        with scheduler_executor(address) as executor:
            batch = apply_files(paths, ref, executor=executor, on_result=kill_scheduler)
        took = time.monotonic() - killed[0]
    out, err = capfd.readouterr()
    lost = [f for f in batch.files if f.status == "FAILED"]
    assert lost, "every file was done before the scheduler was killed"
    for f in batch.files:
        assert f.status == "COMPLETE" or (
            f"the connection to scheduler {address} was lost" in f.error
            and "\n" not in f.error), f.error
    assert took < 15, took
    assert "Traceback" not in out + err and "distributed" not in out + err, err[-3000:]
