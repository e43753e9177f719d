"""Issue 9: a process killed (SIGKILL, no clean-up of any kind) in the middle of a run loses
nothing. An in-place decay run leaves S_RSCD = 'RUNNING' that the next run refuses with a
message saying what to do (force=True proceeds); a new-file run leaves nothing under the
output name, and the next run succeeds and removes the dead run's temporary file."""
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from astropy.io import fits

import rscd
from children import child_env, run_rscd

from fitsfiles import decay_reference, leftovers, ramp_arrays, sha256, write_astropy

# Real processes racing, signalled or killed, with waits: behind the slow marker (.ci/run
# runs them with pytest -m slow), so the README's pytest stays a few minutes.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

HERE = os.path.dirname(os.path.abspath(__file__))

# The child: runs apply_file; with HOLD set, the correction really runs (data written
# through the memory map) and then the process waits to be killed, so the kill lands
# between the data and the final keywords -- the worst moment.
CHILD = textwrap.dedent("""
    import os, sys, time
    import rscd, rscd.fits
    path, ref, mode, hold = sys.argv[1:5]
    if hold == "1":
        real = rscd.fits.apply
        def slow(*args, **kw):
            result = real(*args, **kw)
            print("CORRECTED", flush=True)
            time.sleep(600)
            return result
        rscd.fits.apply = slow
    print("START", flush=True)
    if mode == "inplace":
        rscd.apply_file(path, ref, inplace=True, method="decay", threads=1)
    else:
        rscd.apply_file(path, ref, output_dir=os.path.dirname(path) + "/out", method="decay",
                        threads=1)
    print("DONE", flush=True)
""")


def _start(tmp_path, path, ref, mode, hold):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = child_env(HERE)
    return subprocess.Popen([sys.executable, str(script), path, ref, mode, "1" if hold else "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _s_rscd(path):
    """S_RSCD as it is on disk right now (read raw: the file may be mid-run)."""
    with open(path, "rb") as f:
        head = f.read(2880 * 8)
    match = re.search(rb"S_RSCD  = '([A-Z ]*)'", head)
    return match.group(1).decode().strip() if match else None


def _wait_for(predicate, proc, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return predicate()
        time.sleep(0.001)
    return False


def _kill(proc):
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def exposure(tmp_path):
    ref = decay_reference(str(tmp_path / "decay_ref.fits"))
    path = write_astropy(str(tmp_path / "x_uncal.fits"), *ramp_arrays(4, 10, 64, 72))
    return path, ref


def test_in_place_decay_killed_after_the_data_then_refused_and_force(tmp_path, exposure):
    path, ref = exposure
    with fits.open(path) as hdul:
        original = hdul["SCI"].data.copy()
    proc = _start(tmp_path, path, ref, "inplace", hold=True)
    assert proc.stdout.readline().strip() == "START"
    assert proc.stdout.readline().strip() == "CORRECTED"   # data written, keywords not
    assert _s_rscd(path) == "RUNNING"
    _kill(proc)

    with fits.open(path) as hdul:                       # the kill did not lose the data
        assert not np.array_equal(hdul["SCI"].data, original)
    before = sha256(path)
    with pytest.raises(rscd.RampFileError) as info:
        rscd.apply_file(path, ref, inplace=True)
    text = str(info.value)
    assert path in text and "'RUNNING'" in text and "interrupted" in text
    assert "Restore the file" in text and "--force" in text
    for inplace in (False,):                            # a new-file run is refused too
        with pytest.raises(rscd.RampFileError, match="RUNNING"):
            rscd.apply_file(path, ref, inplace=inplace, method="flag")
    assert sha256(path) == before and leftovers(tmp_path) == []

    proc = run_rscd(path, "--reference", ref, "--in-place")
    assert proc.returncode == 1 and "RUNNING" in proc.stderr and "--force" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr

    res = rscd.apply_file(path, ref, inplace=True, force=True)
    assert res.status == "COMPLETE" and _s_rscd(path) == "COMPLETE"


def test_in_place_decay_killed_at_a_real_moment(tmp_path):
    """No hook: the parent kills the child as soon as the RUNNING marker is on disk, while
    the C core is changing SCI (or just after). Whatever moment the kill hit, the next run
    refuses: 'RUNNING' (interrupted) or 'COMPLETE' (decay is not idempotent)."""
    ref = decay_reference(str(tmp_path / "decay_ref.fits"))
    path = write_astropy(str(tmp_path / "big_uncal.fits"), *ramp_arrays(6, 40, 256, 258))
    proc = _start(tmp_path, path, ref, "inplace", hold=False)
    assert proc.stdout.readline().strip() == "START"
    assert _wait_for(lambda: _s_rscd(path) in ("RUNNING", "COMPLETE"), proc)
    state = _s_rscd(path)
    if proc.poll() is None:
        _kill(proc)
    else:
        proc.communicate()
    state = _s_rscd(path)
    with pytest.raises(rscd.RampFileError, match=f"S_RSCD = '{state}'.*--force"):
        rscd.apply_file(path, ref, inplace=True)
    assert rscd.apply_file(path, ref, inplace=True, force=True).status == "COMPLETE"


def test_new_file_run_killed_leaves_no_output_and_next_run_cleans_up(tmp_path, exposure):
    path, ref = exposure
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    before = sha256(path)
    proc = _start(tmp_path, path, ref, "new", hold=True)
    assert proc.stdout.readline().strip() == "START"
    assert proc.stdout.readline().strip() == "CORRECTED"
    temps = leftovers(out_dir)
    assert len(temps) == 1 and temps[0].startswith(".x_rscd.fits.")
    assert f".{proc.pid}." in temps[0]          # named after the process that writes it
    _kill(proc)

    assert not (out_dir / "x_rscd.fits").exists()     # nothing under the final name
    assert leftovers(out_dir) == temps                  # the killed run could not clean up
    assert sha256(path) == before                       # the input was only read
    assert _s_rscd(path) is None

    res = rscd.apply_file(path, ref, output_dir=str(out_dir))
    assert res.status == "COMPLETE"
    assert os.listdir(out_dir) == ["x_rscd.fits"]       # the dead run's temp file is gone
    assert _s_rscd(str(out_dir / "x_rscd.fits")) == "COMPLETE"


# A child that holds an exclusive flock on a file (as a live writer holds its temporary
# file) until its stdin closes.
HOLDER = textwrap.dedent("""
    import fcntl, sys
    f = open(sys.argv[1], "rb")
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    print("LOCKED", flush=True)
    sys.stdin.read()
""")


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_files_reaped_by_lock_not_by_pid(tmp_path, exposure):
    """Issue 15.8: liveness is the writer's lock, not its PID (a PID from another PID
    namespace -- a container sharing the host name -- looks dead here). A locked file
    named after a dead PID is kept, an unlocked one named after a live PID is removed;
    files of other hosts and other outputs are never touched."""
    import socket
    path, ref = exposure
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())
    dead = _dead_pid()
    locked = tmp_path / f".x_rscd.fits.{host}.{dead}.{'c' * 12}.tmp"
    stale = tmp_path / f".x_rscd.fits.{host}.{os.getppid()}.{'d' * 12}.tmp"
    keep = [f".x_rscd.fits.otherhost.{dead}.{'a' * 12}.tmp",     # another host
            f".y_rscd.fits.{host}.{dead}.{'b' * 12}.tmp",        # another output
            "x_rscd.fits.tmp"]
    for name in keep + [locked.name, stale.name]:
        (tmp_path / name).write_bytes(b"x")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(locked)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "LOCKED"
        assert rscd.apply_file(path, ref).status == "COMPLETE"
        for name in keep + [locked.name]:
            assert (tmp_path / name).exists(), name
        assert not stale.exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()
    rscd.fits.reap_stale_temps(str(tmp_path), "x_rscd.fits")   # lock released: now stale
    assert not locked.exists()


def test_reaper_cannot_take_a_writers_file(tmp_path):
    """A reaper running while atomic_write writes (same process, another open file:
    flock locks are per open file) leaves the file, and the rename succeeds."""
    target = tmp_path / "t.bin"
    with rscd.fits.atomic_write(str(target)) as fh:
        fh.write(b"abc")
        rscd.fits.reap_stale_temps(str(tmp_path), "t.bin")
        assert os.path.exists(fh.name)
    assert target.read_bytes() == b"abc" and leftovers(tmp_path) == []
