"""Issue 22 at the file level: nothing corrected twice, nothing lost, and the copy path
keeps the file's identity. Concurrency is tested with real processes and a deterministic
race: RSCD_TEST_PAUSE_AFTER_CHECK makes a run wait right after its state check, and the
second run is started inside that window (docs/inplace.rst)."""
import errno
import os
import shutil
import stat
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.io import fits

import rscd
from children import child_env, run_unprivileged, unprivileged_ids
from fitsfiles import (decay_reference, fill_primary_header, flag_reference, leftovers,
                       ramp_arrays, sha256, write_astropy)

# Real processes racing, signalled or killed, with waits: behind the slow marker (.ci/run
# runs them with pytest -m slow), so the README's pytest stays a few minutes.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX files and locks")]

PAUSE = "RSCD_TEST_PAUSE_AFTER_CHECK"


@pytest.fixture
def refs(tmp_path):
    return {"flag": str(flag_reference(str(tmp_path / "ref_flag.fits"))),
            "decay": str(decay_reference(str(tmp_path / "ref_decay.fits")))}


def ramp_file(path, room=True):
    write_astropy(path, *ramp_arrays())
    return path if room else fill_primary_header(path)


def start(args, cwd, pause=None):
    env = child_env()
    env.pop(PAUSE, None)
    if pause:
        env[PAUSE] = pause
    return subprocess.Popen([sys.executable, "-m", "rscd", *map(str, args)], cwd=str(cwd),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(path, proc, timeout=60):
    """Until ``path`` exists (the run reached its pause); fails if ``proc`` ended first."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, f"the run ended before its pause: {proc.communicate()}"
        assert time.monotonic() < deadline, "the run never reached its pause"
        time.sleep(0.01)


def held_back(proc, gate=None, timeout=60):
    """Until ``proc`` waits for a file lock (Linux /proc/locks marks a blocked request
    with "->") or, with ``gate``, reached its pause (the old code, which takes no lock);
    False when neither happened in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if gate and os.path.exists(gate + ".waiting"):
            return True
        try:
            with open("/proc/locks") as f:
                if any("->" in line and f" {proc.pid} " in line for line in f):
                    return True
        except OSError:         # no /proc/locks: give the process time to get there
            time.sleep(3)
            return True
        time.sleep(0.02)
    return False


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def sci(path):
    with fits.open(path) as hdul:
        return np.array(hdul["SCI"].data)


def corrected_once(tmp_path, src, ref):
    once = str(tmp_path / "once_uncal.fits")
    shutil.copyfile(src, once)
    rscd.apply_file(once, ref, inplace=True, method="decay")
    return sci(once)


# ------------------------------------------------------------ point 1: locks ---------

@pytest.mark.parametrize("room", [True, False], ids=["fast-path", "copy-path"])
@pytest.mark.parametrize("order", ["A-then-B", "B-then-A"])
def test_decay_in_place_twice_at_once_corrects_once(tmp_path, refs, room, order):
    """Regression (issue 22.1): two in-place decay runs on one file both passed the state
    check made before any lock and both corrected SCI (exit 0, one HISTORY card). Run A
    pauses after its check; run B starts inside that window, with a pause of its own
    (which it reaches only when nothing holds it back: the old code). Then both are let
    go, in either order. Exactly one run corrects, the other is refused for S_RSCD =
    'COMPLETE', and SCI is the once-corrected data."""
    src = ramp_file(str(tmp_path / "x_uncal.fits"), room)
    want = corrected_once(tmp_path, src, refs["decay"])
    gates = {name: str(tmp_path / f"gate_{name}") for name in "AB"}
    args = [src, "--reference", refs["decay"], "--in-place", "--method", "decay"]
    procs = {"A": start(args, tmp_path, pause=gates["A"])}
    wait_for(gates["A"] + ".waiting", procs["A"])
    procs["B"] = start(args, tmp_path, pause=gates["B"])
    assert held_back(procs["B"], gates["B"])   # by A's lock, or (old code) at its pause
    for name in order.split("-then-"):
        open(gates[name], "w").close()
        try:
            procs[name].wait(timeout=5)  # the one let go first finishes first, if it can
        except subprocess.TimeoutExpired:
            pass
    results = [finish(procs["A"]), finish(procs["B"])]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    refused = next(err for code, err in results if code == 1)
    assert "S_RSCD = 'COMPLETE'" in refused and "Traceback" not in refused, refused
    assert "no END card" not in refused
    np.testing.assert_array_equal(sci(src), want)
    assert len(fits.getheader(src)["HISTORY"]) == 1
    assert leftovers(tmp_path) == []


def test_new_file_run_waits_for_an_in_place_run(tmp_path, refs):
    """Regression (issue 22.1): a new-file run started while another process corrects the
    input in place copied it mid-correction and corrected it again. Now it waits for the
    in-place run's lock and then sees S_RSCD = 'COMPLETE': decay refused, nothing written."""
    src = ramp_file(str(tmp_path / "x_uncal.fits"))
    gate = str(tmp_path / "gate")
    a = start([src, "-r", refs["decay"], "--in-place", "-m", "decay"], tmp_path, pause=gate)
    wait_for(gate + ".waiting", a)
    b = start([src, "-r", refs["decay"], "-m", "decay", "-o", tmp_path / "out"], tmp_path)
    held_back(b)        # the old code takes no lock: B runs to its end meanwhile
    open(gate, "w").close()
    (code_a, err_a), (code_b, err_b) = finish(a), finish(b)
    assert code_a == 0, err_a
    assert code_b == 1 and "S_RSCD = 'COMPLETE'" in err_b, err_b
    assert "waiting for it to finish" in err_b
    assert not os.path.exists(tmp_path / "out" / "x_rscd.fits")


def test_lock_is_released_and_state_read_under_it(tmp_path, refs):
    """The lock is the file's, for the run only: sequential runs behave as before."""
    src = ramp_file(str(tmp_path / "x_uncal.fits"))
    assert rscd.apply_file(src, refs["decay"], inplace=True).status == "COMPLETE"
    with pytest.raises(rscd.RampFileError, match="S_RSCD = 'COMPLETE'"):
        rscd.apply_file(src, refs["decay"], inplace=True)
    assert rscd.apply_file(src, refs["flag"], inplace=True).status == "COMPLETE"


# ------------------------------------------------------ point 2: no-replace rename -----

@pytest.mark.parametrize("overwrite", [False, True])
def test_two_processes_writing_one_output(tmp_path, refs, overwrite):
    """Regression (issue 22.2): the output's existence was checked long before the final
    rename, which replaced whatever was there: two writers both succeeded. Run A pauses
    after its checks, B writes the output meanwhile; A's rename must then lose, in one
    line naming the output and --overwrite (with --overwrite, both succeed)."""
    one = ramp_file(str(tmp_path / "obs_linearity.fits"))
    two = str(tmp_path / "obs_ramp.fits")
    shutil.copyfile(one, two)
    out = tmp_path / "out"
    extra = ["--overwrite"] if overwrite else []
    gate = str(tmp_path / "gate")
    a = start([one, "-r", refs["flag"], "-o", out, *extra], tmp_path, pause=gate)
    wait_for(gate + ".waiting", a)
    b = start([two, "-r", refs["flag"], "-o", out, *extra], tmp_path)
    code_b, err_b = finish(b)
    assert code_b == 0, err_b
    written = sha256(str(out / "obs_rscd.fits"))
    open(gate, "w").close()
    code_a, err_a = finish(a)
    assert leftovers(out) == []
    if overwrite:
        assert code_a == 0, err_a
        return
    assert code_a == 1, err_a
    lines = err_a.strip().splitlines()
    assert any(str(out / "obs_rscd.fits") in line and "--overwrite" in line for line in lines)
    assert "Traceback" not in err_a
    assert sha256(str(out / "obs_rscd.fits")) == written       # B's output, untouched


def test_rename_no_replace(tmp_path):
    from rscd.safe_files import rename_no_replace
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    with pytest.raises(FileExistsError):
        rename_no_replace(str(tmp_path / "a"), str(tmp_path / "b"))
    assert (tmp_path / "a").read_bytes() == b"a" and (tmp_path / "b").read_bytes() == b"b"
    rename_no_replace(str(tmp_path / "a"), str(tmp_path / "c"))
    assert sorted(os.listdir(tmp_path)) == ["b", "c"]


# ----------------------------------------------- point 3: the copy path's identity -----

def _acl(uid):
    """A POSIX ACL (the kernel's xattr form): owner rw, user ``uid`` r, group r, mask r."""
    entries = [(0x01, 6, 0xFFFFFFFF), (0x02, 4, uid), (0x04, 4, 0xFFFFFFFF),
               (0x10, 4, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def _xattrs(path):
    return {name: os.getxattr(path, name) for name in os.listxattr(path)}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_copy_path_keeps_owner_group_mode_xattrs_and_acl(tmp_path, refs):
    """Regression (issue 22.3): as root, a file of another user (mode 0640, a user xattr,
    an ACL) came back from the copy path owned by root with no xattrs."""
    src = ramp_file(str(tmp_path / "x_uncal.fits"), room=False)
    uid, gid = unprivileged_ids() or (65534, 65534)
    os.chown(src, uid, gid)
    os.chmod(src, 0o640)
    try:
        os.setxattr(src, "user.origin", b"pipeline")
    except OSError as exc:
        pytest.skip(f"no user xattrs on this file system ({exc.strerror})")
    try:
        os.setxattr(src, "system.posix_acl_access", _acl(1))
    except OSError:
        pass        # no ACLs here: the user xattr still shows the copying
    before, attrs = os.stat(src), _xattrs(src)
    res = rscd.apply_file(src, refs["flag"], inplace=True)
    assert any("through a copy" in note for note in res.notes)
    after = os.stat(src)
    assert after.st_ino != before.st_ino
    assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid,
                                                            before.st_mode)
    assert _xattrs(src) == attrs
    assert leftovers(tmp_path) == []


APPLY = ("import sys, rscd\n"
         "try:\n"
         "    rscd.apply_file(sys.argv[1], sys.argv[2], inplace=True)\n"
         "except (rscd.RampFileError, OSError) as exc:\n"
         "    print('REFUSED', exc)\n"
         "else:\n"
         "    print('DONE')\n")


def test_copy_path_refuses_what_it_cannot_chown(shared_dir):
    """A user who may write a file of another owner (mode 0666) but not give a file away:
    the fast path corrects it, the copy path refuses in one line, file and folder as
    they were."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make a file of another owner")
    src = ramp_file(os.path.join(shared_dir, "x_uncal.fits"), room=False)
    ref = str(flag_reference(os.path.join(shared_dir, "ref.fits")))
    os.chmod(src, 0o666)
    os.chmod(ref, 0o644)
    before = sha256(src)
    proc = run_unprivileged(APPLY, src, ref, cwd=shared_dir)
    assert proc.stdout.startswith("REFUSED"), (proc.stdout, proc.stderr)
    assert "cannot give the new file the owner" in proc.stdout and src in proc.stdout
    assert sha256(src) == before and os.stat(src).st_uid == 0
    assert leftovers(shared_dir) == []


@pytest.mark.parametrize("room", [True, False], ids=["fast-path", "copy-path"])
def test_read_only_file_refused_by_both_paths(shared_dir, room):
    """Regression (issue 22.3): a read-only (0444) file was refused by the fast path but
    replaced by the copy path. Run as an unprivileged user (as root, 0444 is writable)."""
    src = ramp_file(os.path.join(shared_dir, "x_uncal.fits"), room)
    ref = str(flag_reference(os.path.join(shared_dir, "ref.fits")))
    ids = unprivileged_ids()
    if os.geteuid() == 0 and ids:
        os.chown(src, *ids)
    os.chmod(src, 0o444)
    before, ino = sha256(src), os.stat(src).st_ino
    proc = run_unprivileged(APPLY, src, ref, cwd=shared_dir)
    assert proc.stdout.startswith("REFUSED"), (proc.stdout, proc.stderr)
    assert "cannot open for update" in proc.stdout and "read-only" in proc.stdout
    assert sha256(src) == before and os.stat(src).st_ino == ino


@pytest.mark.parametrize("room", [True, False], ids=["fast-path", "copy-path"])
def test_immutable_file_refused_by_both_paths(tmp_path, refs, room):
    """Regression (issue 22.6): an immutable file was said to be in a folder the copy
    "cannot be written in"; now both paths say the file is immutable."""
    src = ramp_file(str(tmp_path / "x_uncal.fits"), room)
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", src], capture_output=True).returncode != 0:
        pytest.skip("cannot set the immutable flag here (chattr, CAP_LINUX_IMMUTABLE)")
    try:
        before = sha256(src)
        with pytest.raises(rscd.RampFileError, match="the file is immutable or append-only"):
            rscd.apply_file(src, refs["flag"], inplace=True)
        assert sha256(src) == before
    finally:
        subprocess.run(["chattr", "-i", src], check=True)
    assert leftovers(tmp_path) == []


# --------------------------------------------------- point 4: only regular files ------

@pytest.mark.parametrize("mode", ["new-file", "in-place", "diagnose"])
def test_fifo_input_refused_at_once(tmp_path, refs, mode):
    """Regression (issue 22.4): a FIFO input hung for ever (opened before its type was
    checked). A time limit makes a hang fail the test."""
    fifo = str(tmp_path / "pipe_uncal.fits")
    os.mkfifo(fifo)
    args = {"new-file": [fifo, "-r", refs["flag"]],
            "in-place": [fifo, "-r", refs["flag"], "--in-place"],
            "diagnose": ["diagnose", fifo]}[mode]
    proc = start(args, tmp_path)
    try:
        code, err = finish(proc, timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("rscd hung on a FIFO input")
    assert code != 0 and "is a FIFO (named pipe), not a regular file" in err, err
    assert fifo in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == sorted(["pipe_uncal.fits", "ref_flag.fits",
                                                   "ref_decay.fits"])


def test_open_ramp_refuses_a_fifo_and_a_device(tmp_path):
    fifo = str(tmp_path / "p.fits")
    os.mkfifo(fifo)
    code = ("import sys\nfrom rscd.fits import open_ramp, RampFileError\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n        open_ramp(p)\n"
            "    except RampFileError as exc:\n        print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code, fifo, "/dev/null"], timeout=60,
                          capture_output=True, text=True, env=child_env(),
                          cwd=str(tmp_path))
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stderr
    assert "is a FIFO" in lines[0] and "is a character device" in lines[1]


# ------------------------------------------------------- point 6: messages -----------

@pytest.fixture
def small_fs(tmp_path):
    """A 4 MB tmpfs (root, and a kernel that lets us mount), removed afterwards."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
            capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder):
    """Fill the file system of ``folder``; returns the filler's path."""
    filler = os.path.join(folder, "filler")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\1" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_full_disk_names_the_output_and_its_folder(tmp_path, refs, small_fs):
    src = ramp_file(str(tmp_path / "x_uncal.fits"))
    fill(str(small_fs))
    code, err = finish(start([src, "-r", refs["flag"], "-o", small_fs], tmp_path))
    assert code == 1 and err.count("\n") == 1, err
    assert str(small_fs / "x_rscd.fits") in err and f"in {small_fs}" in err
    assert "free space" in err and "Traceback" not in err and "[Errno" not in err
    assert sorted(os.listdir(small_fs)) == ["filler"]


def test_sparse_file_on_a_full_disk_is_refused_not_killed(tmp_path, refs, small_fs):
    """Regression (issue 22.6): the fast path stores through a memory map; into a hole of
    a sparse file on a full file system that is SIGBUS -- the process died with no
    message. Now the blocks are reserved first, and a full disk is one line."""
    data, gdq, pdq = ramp_arrays(nints=2, ngroups=10, nrows=64, ncols=64)
    gdq[...] = 0                                   # zeros, so cp makes them holes
    dense = write_astropy(str(tmp_path / "x_uncal.fits"), data, gdq, pdq)
    src = str(small_fs / "x_uncal.fits")
    subprocess.run(["cp", "--sparse=always", dense, src], check=True)
    st = os.stat(src)
    if st.st_blocks * 512 >= st.st_size:
        pytest.skip("cp made no holes here")
    fill(str(small_fs))
    before = sha256(src)
    code, err = finish(start([src, "-r", refs["flag"], "--in-place"], tmp_path))
    assert code == 1, (code, err)           # -7 was SIGBUS
    assert src in err and "No space left on device" in err and "sparse" in err, err
    assert "Traceback" not in err and sha256(src) == before
    os.remove(os.path.join(small_fs, "filler"))
    code, err = finish(start([src, "-r", refs["flag"], "--in-place"], tmp_path))
    assert code == 0, err
    assert fits.getval(src, "S_RSCD") == "COMPLETE"


def test_read_only_folder_names_the_folder(shared_dir):
    """Regression (issue 22.6): the message named a hidden temporary file that does not
    exist. Run as an unprivileged user (root writes in a read-only folder)."""
    src = ramp_file(os.path.join(shared_dir, "x_uncal.fits"))
    ref = str(flag_reference(os.path.join(shared_dir, "ref.fits")))
    out = os.path.join(shared_dir, "ro")
    os.mkdir(out, 0o555)
    os.chmod(out, 0o555)
    code = ("import sys\nfrom rscd.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    proc = run_unprivileged(code, src, "-r", ref, "-o", out, cwd=shared_dir)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"{out}: Permission denied: cannot write x_rscd.fits in this folder" in proc.stderr
    assert ".tmp" not in proc.stderr and "--output-dir" in proc.stderr
    assert os.listdir(out) == []
    # in place through a copy: the file is writable, its folder is not
    os.chmod(out, 0o755)
    inner = ramp_file(os.path.join(out, "y_uncal.fits"), room=False)
    ids = unprivileged_ids()
    if os.geteuid() == 0 and ids:
        os.chown(inner, *ids)
    os.chmod(out, 0o555)
    before = sha256(inner)
    proc = run_unprivileged(code, inner, "-r", ref, "--in-place", cwd=shared_dir)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"the copy cannot be written in {out} (Permission denied)" in proc.stderr
    assert sha256(inner) == before and os.listdir(out) == ["y_uncal.fits"]


# ------------------------------------------------------- point 7: synced outputs -----

def test_new_file_output_is_synced_before_its_rename(tmp_path, refs, monkeypatch):
    """Regression (issue 22.7): new-file outputs were renamed without an fsync, so after a
    power cut the name could hold incomplete data (and --resume skips it for ever)."""
    import rscd.safe_files
    src = ramp_file(str(tmp_path / "x_uncal.fits"))
    events = []
    real_fsync, real_replace = os.fsync, rscd.safe_files.rename_no_replace

    def fsync(fd):
        events.append(("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))
        real_fsync(fd)

    def rename(src_name, dst):
        events.append(("rename", os.path.basename(dst)))
        real_replace(src_name, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(rscd.safe_files, "rename_no_replace", rename)
    rscd.apply_file(src, refs["flag"], output_dir=str(tmp_path / "out"))
    at = events.index(("rename", "x_rscd.fits"))
    assert any(kind == "fsync" and name.endswith(".tmp") for kind, name in events[:at])
    assert ("fsync", "out") in events[at:]


def test_sync_false_leaves_the_write_back_to_the_kernel(tmp_path, refs, monkeypatch):
    """The opt-out (sync=False): same output, no fsync of it or its folder."""
    src = ramp_file(str(tmp_path / "x_uncal.fits"))
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    rscd.apply_file(src, refs["flag"], output=str(tmp_path / "a.fits"), sync=False)
    assert synced == []
    rscd.apply_file(src, refs["flag"], output=str(tmp_path / "b.fits"))
    assert len(synced) == 2
    with fits.open(str(tmp_path / "a.fits")) as a, fits.open(str(tmp_path / "b.fits")) as b:
        assert a[0].header["S_RSCD"] == "COMPLETE"
        assert all(x.data is None and y.data is None or np.array_equal(x.data, y.data)
                   for x, y in zip(a[1:], b[1:]))


def test_command_no_sync_reaches_apply_file(tmp_path, refs, monkeypatch):
    """`rscd --no-sync` is the command's spelling of sync=False (one job: in this process)."""
    from rscd.cli import main
    src = ramp_file(str(tmp_path / "x_uncal.fits"))
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    assert main([src, "-r", refs["flag"], "-o", str(tmp_path / "a"), "--jobs", "1",
                 "--no-sync", "-q"]) == 0
    assert synced == [] and os.path.exists(tmp_path / "a" / "x_rscd.fits")
    assert main([src, "-r", refs["flag"], "-o", str(tmp_path / "b"), "--jobs", "1", "-q"]) == 0
    assert len(synced) == 2
