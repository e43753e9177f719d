"""Issue 22 at the batch level: nothing corrected twice, nothing lost.

* a batch refuses, before it starts anything, a file named twice (whatever the spelling:
  ``f.fits ./f.fits``, a symbolic or a hard link) and two inputs whose outputs would
  have one name, naming both; nothing is written;
* the command and ``apply_files`` check their options with one checker; ``--threads`` is
  capped at the cores (2**31 - 1 threads made the OpenMP runtime abort);
* the workers of a ``--jobs`` pool die with the process that started them, however it dies;
* SIGINT / SIGTERM: no more files are started, the files being corrected finish, the
  command names the finished and the unfinished files, ``--resume`` carries on from there;
  a second interrupt stops the running files at once;
* decay on a file an earlier run completed says so, by which run, and that --force would
  correct it twice; ``rscd ... | head`` ends without a BrokenPipeError traceback.

The processes are real: the command runs as a child (``python -m rscd``), and the test hook
RSCD_TEST_SLOW_FILE (seconds) makes every file's task sleep before its correction so that
the kills and interrupts land while files are still queued.
"""
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from astropy.io import fits

import rscd
from children import child_env, run_rscd
from rscd.batch import apply_files
from rscd.cli import main

from fitsfiles import decay_reference, flag_reference, ramp_arrays, sha256, write_astropy

# Real processes racing, signalled or killed, with waits: behind the slow marker (.ci/run
# runs them with pytest -m slow), so the README's pytest stays a few minutes.
pytestmark = pytest.mark.slow

posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and links")
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture
def folder(tmp_path):
    for n in range(6):
        write_astropy(str(tmp_path / f"k{n}_linearity.fits"),
                      *ramp_arrays(nints=3, ngroups=7, nrows=8, ncols=9, seed=n))
    decay_reference(str(tmp_path / "rd.fits"))
    flag_reference(str(tmp_path / "rf.fits"))
    return tmp_path


def _names(folder):
    return sorted(os.listdir(folder))


def _inputs(folder, count=6):
    return [f"k{n}_linearity.fits" for n in range(count)]


def _outputs(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith("_rscd.fits"))


def _status(path):
    return fits.getheader(str(path)).get("S_RSCD")


def _corrected(folder):
    """The inputs an in-place run has marked (S_RSCD), in input order."""
    return [n for n in _inputs(folder) if _status(folder / n) is not None]


# ---- refusals before anything runs ----

@posix
@pytest.mark.parametrize("spelling", ["dot", "symlink", "hardlink"])
@pytest.mark.parametrize("inplace", [True, False])
def test_one_file_named_twice_is_refused_before_anything(folder, spelling, inplace):
    first = "k0_linearity.fits"
    if spelling == "dot":
        second = "./k0_linearity.fits"
    elif spelling == "symlink":
        second = "other_linearity.fits"
        os.symlink(first, folder / second)
    else:
        second = "other_linearity.fits"
        os.link(folder / first, folder / second)
    before, names = sha256(str(folder / first)), _names(folder)
    args = [first, second, "-r", "rd.fits", "-j", "2"] + (["--in-place"] if inplace else [])
    proc = run_rscd(*args, cwd=folder)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"{first} and {second} are the same file" in proc.stderr
    assert "give each file once" in proc.stdout + proc.stderr
    assert sha256(str(folder / first)) == before and _names(folder) == names
    with pytest.raises(rscd.RampFileError, match="are the same file"):
        apply_files([folder / first, folder / second], str(folder / "rd.fits"),
                     inplace=inplace, jobs=2)
    assert sha256(str(folder / first)) == before and _names(folder) == names


def test_outputs_with_one_name_are_refused_before_anything(folder):
    # obs_linearity and obs_ramp both map to obs_rscd: either result could have been left
    for name in ("obs_linearity.fits", "obs_ramp.fits"):
        os.link(folder / "k0_linearity.fits", folder / "tmp")
        os.rename(folder / "tmp", folder / name)
    os.remove(folder / "obs_ramp.fits")           # a file of its own, not a link
    write_astropy(str(folder / "obs_ramp.fits"), *ramp_arrays(3, 7, 8, 9, seed=9))
    names = _names(folder)
    proc = run_rscd("obs_linearity.fits", "obs_ramp.fits", "-r", "rf.fits", "-o", "out",
                    cwd=folder)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert ("obs_linearity.fits and obs_ramp.fits would both be written to "
            f"{os.path.join('out', 'obs_rscd.fits')}") in proc.stderr
    assert _names(folder) == names                 # not even out/ was created
    with pytest.raises(rscd.RampFileError, match="would both be written to"):
        apply_files([folder / "obs_linearity.fits", folder / "obs_ramp.fits"],
                     str(folder / "rf.fits"), output_dir=folder / "out")
    assert _names(folder) == names


def test_an_output_that_is_another_input_is_refused(folder):
    # k0_linearity's output is k0_rscd.fits, given as an input of the same batch
    os.link(folder / "k1_linearity.fits", folder / "k0_rscd.fits")
    before = sha256(str(folder / "k0_rscd.fits"))
    proc = run_rscd("k0_linearity.fits", "k0_rscd.fits", "-r", "rf.fits", "--overwrite",
                    cwd=folder)
    assert proc.returncode == 2, proc.stderr
    assert ("k0_linearity.fits would be written to k0_rscd.fits, which is k0_rscd.fits, "
            "another input") in proc.stderr
    assert sha256(str(folder / "k0_rscd.fits")) == before


def test_segments_use_the_same_check(folder):
    """A hard link is the same file: the segments' check (by real path) missed it."""
    from rscd.segments import apply_segments
    os.link(folder / "k0_linearity.fits", folder / "k0_seg002_linearity.fits")
    with pytest.raises(rscd.RampFileError, match="are the same file"):
        apply_segments([folder / "k0_linearity.fits", folder / "k0_seg002_linearity.fits"],
                       str(folder / "rd.fits"), inplace=True)


# ---- one option checker ----

@pytest.mark.parametrize("cli, api", [
    (["--in-place", "-o", "out"], dict(inplace=True, output_dir="out")),
    (["--keep-inode"], dict(keep_inode=True)),
    (["-t", "0"], dict(threads=0)),
    (["-j", "0"], dict(jobs=0)),
    (["-o", "k1_linearity.fits"], dict(output_dir="k1_linearity.fits")),
])
def test_command_and_apply_files_refuse_options_alike(folder, capsys, monkeypatch, cli, api):
    monkeypatch.chdir(folder)
    names = _names(folder)
    assert main(["k0_linearity.fits", "-r", "rf.fits", *cli]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rscd: error: ") and err.count("\n") == 1
    with pytest.raises(ValueError) as info:
        apply_files(["k0_linearity.fits"], "rf.fits", **api)
    assert err == f"rscd: error: {info.value}\n"
    assert _names(folder) == names


def test_threads_capped_at_the_cores(tmp_path):
    """-t 2147483647 made libgomp abort ('Out of memory allocating ...') in flag."""
    path = write_astropy(str(tmp_path / "big_linearity.fits"), *ramp_arrays(3, 10, 256, 258))
    ref = flag_reference(str(tmp_path / "rf.fits"))
    proc = run_rscd(path, "-r", ref, "-t", str(2**31 - 1), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert proc.stderr == (f"rscd: WARNING: --threads {2**31 - 1} (threads={2**31 - 1}) is "
                           f"more than the {cores} core(s) this process may use: using "
                           f"{cores}\n")
    assert _status(rscd.output_path(path)) == "COMPLETE"
    from rscd.batch import check_options
    assert check_options(threads=2**31 - 1) == cores and check_options(threads=1) == 1


# ---- workers die with their parent ----

def _marked(token):
    """Processes whose environment holds ``token`` (the command's child processes)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if token.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def _wait_gone(token, timeout):
    end = time.monotonic() + timeout
    while _marked(token) and time.monotonic() < end:
        time.sleep(0.05)
    return _marked(token)


def _start(folder, *args, slow, **popen):
    """The command as a child process; stdout a pipe (read its lines), stderr a file: a
    worker that outlives the command (the old behaviour) keeps both open, and a test
    must not wait for their end."""
    token = f"rscd-test-{os.getpid()}-{time.monotonic_ns()}"
    env = dict(child_env(), RSCD_TEST_SLOW_FILE=str(slow), RSCD_TEST_TOKEN=token)
    err = open(os.path.join(folder, f"stderr-{token}.txt"), "w+")
    proc = subprocess.Popen([sys.executable, "-m", "rscd", *map(str, args)], cwd=folder,
                            env=env, stdout=subprocess.PIPE, stderr=err, text=True, **popen)
    err.close()
    proc.stderr_path = err.name
    return proc, token


def _wait_for_text(path, text, timeout):
    """Wait until the file at ``path`` holds ``text`` (at most ``timeout`` s)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with open(path) as f:
            if text in f.read():
                return
        time.sleep(0.05)


def _end(proc, timeout):
    """Wait for the command (kill it after ``timeout`` s); its stderr text."""
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    with open(proc.stderr_path) as f:
        text = f.read()
    os.remove(proc.stderr_path)
    return text


@linux
def test_killing_the_parent_kills_the_workers(folder):
    """Before: the workers were reparented, went on with the queued files and survived."""
    proc, token = _start(folder, *_inputs(folder), "-r", "rd.fits", "--in-place", "-j", "2",
                         slow=1.5)
    try:
        assert proc.stdout.readline().startswith("[1/6] k0_linearity.fits in place")
        workers = [pid for pid in _marked(token) if pid != proc.pid]
        assert workers                           # the pool (and its fork server) are there
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        _end(proc, 30)
    assert _wait_gone(token, 5) == []
    done = _corrected(folder)
    time.sleep(3)                                # twice a file's time: nothing runs on
    assert _corrected(folder) == done and len(done) < 6


WATCHED_CHILD = textwrap.dedent("""
    import multiprocessing, sys, time

    def worker(alive):
        sys.platform = "no-prctl"         # the portable path: the pipe watchdog alone
        from rscd.batch import _die_with_parent
        _die_with_parent(alive)
        print("watching", flush=True)
        time.sleep(120)

    if __name__ == "__main__":
        ctx = multiprocessing.get_context("spawn")
        alive, keep = ctx.Pipe(duplex=False)
        child = ctx.Process(target=worker, args=(alive,))
        child.start()
        print(child.pid, flush=True)
        time.sleep(120)
""")


@linux
def test_the_watchdog_alone_ends_a_worker(tmp_path):
    """Where PR_SET_PDEATHSIG does not exist, the worker ends when the pipe from its
    parent ends, i.e. when the parent dies."""
    script = tmp_path / "watched.py"
    script.write_text(WATCHED_CHILD)
    proc = subprocess.Popen([sys.executable, str(script)], env=child_env(),
                            stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        child = int(proc.stdout.readline())
        assert proc.stdout.readline() == "watching\n"
        time.sleep(0.5)                   # the watchdog thread is waiting by now
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        end = time.monotonic() + 5
        while os.path.exists(f"/proc/{child}") and time.monotonic() < end:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{child}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()


# ---- interrupts: a done/left summary, then --resume ----

def _summary(stderr):
    """{"finished": [...], "not started": [...], ...} from the interrupted command's lines."""
    groups = {}
    for name, files in re.findall(r"^rscd: (finished|stopped while being corrected|not "
                                  r"started) \(\d+\): (.*)$", stderr, re.MULTILINE):
        groups[name] = files.split()
    return groups


@linux
@pytest.mark.parametrize("how, jobs", [("SIGINT", "2"), ("SIGTERM", "2"), ("group-SIGINT", "2"),
                                       ("SIGINT", "1")])
def test_interrupted_batch_names_what_finished_and_resume_carries_on(folder, how, jobs):
    """Before: 'rscd: error: interrupted' and nothing else (Ctrl-C), or nothing at all
    (SIGTERM), while the workers went on correcting files after the command ended."""
    proc, token = _start(folder, *_inputs(folder), "-r", "rd.fits", "--in-place", "-j", jobs,
                         slow=1.5, start_new_session=True)
    try:
        assert proc.stdout.readline().startswith("[1/6] k0_linearity.fits in place")
        if how == "group-SIGINT":       # a terminal's Ctrl-C reaches the workers too
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, getattr(signal, how))
    finally:
        err = _end(proc, 30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert _wait_gone(token, 5) == []
    groups = _summary(err)
    done = _corrected(folder)
    assert groups["finished"] == done and "k0_linearity.fits" in done
    assert groups["not started"] == [n for n in _inputs(folder) if n not in done]
    assert groups["not started"] and "stopped while being corrected" not in groups
    assert f"interrupted: {len(done)} of 6 file(s) finished" in err and "--resume" in err
    time.sleep(2)                        # no worker goes on after the command ended
    assert _corrected(folder) == done

    # a rerun without --resume must not invite a second correction
    first = done[0]
    proc = run_rscd(first, "-r", "rd.fits", "--in-place", cwd=folder)
    assert proc.returncode == 1
    assert re.fullmatch(
        rf"rscd: error: {first}: already corrected \(by rscd \S+ \S+ RSCD decay with "
        r"\S+\); decay is not idempotent, so it was left as it is: rerun with --resume "
        r"\(resume=True\) to skip the files already corrected; --force would correct it a "
        r"second time\n", proc.stderr), proc.stderr
    assert "applies it again" not in proc.stderr

    before = {n: sha256(str(folder / n)) for n in done}
    proc = run_rscd(*_inputs(folder), "-r", "rd.fits", "--in-place", "--resume", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert {n: sha256(str(folder / n)) for n in done} == before
    for n in _inputs(folder):
        assert _status(folder / n) == "COMPLETE"
        skipped = f"{n} in place: already done (S_RSCD = COMPLETE), skipped"
        assert (skipped in proc.stdout) == (n in done)


@linux
def test_a_second_interrupt_stops_the_running_files(folder):
    proc, token = _start(folder, *_inputs(folder), "-r", "rf.fits", "-j", "2", slow=30)
    try:
        time.sleep(0.5)
        end = time.monotonic() + 60           # the two workers are sleeping in their file
        while len(_marked(token)) < 3 and time.monotonic() < end:
            time.sleep(0.1)
        time.sleep(2)
        os.kill(proc.pid, signal.SIGINT)
        # the second interrupt once the first is handled (its line is written), not
        # after a fixed time, which a loaded machine may not give (it failed 2 in 5)
        _wait_for_text(proc.stderr_path, "waiting for the 2 being corrected", 30)
        os.kill(proc.pid, signal.SIGINT)
    finally:
        err = _end(proc, 15)        # the files would take 30 s more
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "waiting for the 2 being corrected (k0_linearity.fits k1_linearity.fits)" in err
    groups = _summary(err)
    assert groups == {"stopped while being corrected": ["k0_linearity.fits",
                                                        "k1_linearity.fits"],
                      "not started": _inputs(folder)[2:]}
    assert _wait_gone(token, 5) == [] and _outputs(folder) == []


def test_apply_files_raises_batch_interrupted_with_the_results(folder, monkeypatch):
    """The Python API: the first interrupt (here raised by the second file's callback)
    lets nothing new start, and the exception carries which files are done."""
    from rscd.batch import BatchInterrupted
    seen = []

    def on_result(index, done, write):
        seen.append(done.path)
        if index == 1:
            os.kill(os.getpid(), signal.SIGINT)

    paths = [str(folder / n) for n in _inputs(folder)]
    with pytest.raises(BatchInterrupted) as info:
        apply_files(paths, str(folder / "rf.fits"), jobs=1, on_result=on_result)
    batch = info.value.batch
    assert batch.interrupted and not batch.ok
    assert [f.status for f in batch.files] == ["COMPLETE"] * 2 + ["LEFT"] * 4
    assert _outputs(folder) == ["k0_rscd.fits", "k1_rscd.fits"]
    assert "2 complete, 4 left" in batch.summary()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---- stdout closed early ----

def test_head_closing_stdout_is_no_error(folder):
    """`rscd ... | head -1`: before, a BrokenPipeError traceback and the batch stopped."""
    proc = subprocess.Popen([sys.executable, "-m", "rscd", *_inputs(folder, 4), "-r",
                             "rf.fits", "-j", "1"], cwd=folder,
                            env=dict(child_env(), RSCD_TEST_SLOW_FILE="0.3"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"[1/4]")
    proc.stdout.close()                      # what head does after its line
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    proc.stderr.close()
    assert err == "" and proc.returncode == 0
    assert _outputs(folder) == [f"k{n}_rscd.fits" for n in range(4)]


@posix
def test_batch_checks_never_open_a_fifo(tmp_path):
    """--resume and the already-corrected check read S_RSCD before the file's run: on a
    FIFO that open blocked for ever (the file-level refusal comes after them)."""
    fifo = str(tmp_path / "pipe_linearity.fits")
    os.mkfifo(fifo)
    code = ("import sys, rscd.batch as b; "
            "print(b._already_done(sys.argv[1], sys.argv[1], True), "
            "b._status_of(sys.argv[1]))")
    proc = subprocess.run([sys.executable, "-c", code, fifo], env=child_env(),
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.stdout == "False None\n", proc.stderr
