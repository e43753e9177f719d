"""rscd.fits.atomic_write: one safe way to write a file whole (issue 15.8). Two writers of
the same reference path each write their own locked temporary file, so both succeed and
the path always holds one complete file."""
import os
import subprocess
import sys
import textwrap

import pytest
from astropy.io import fits

import rscd
from children import child_env
from fitsfiles import leftovers

HERE = os.path.dirname(os.path.abspath(__file__))

# Writes the same flag reference file N times; prints OK when every write succeeded.
WRITER = textwrap.dedent("""
    import sys
    import rscd
    from rscd.reference import SkipRow
    path, n, skip = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rows = [SkipRow(f"SUB{k}", "FAST", skip, skip) for k in range(200)]
    sys.stdin.readline()                # start together
    for _ in range(n):
        rscd.write_flag_reference(path, rows, overwrite=True)
    print("OK", flush=True)
""")


@pytest.mark.slow  # two writer processes racing
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file locks")
def test_two_concurrent_writers_of_one_reference(tmp_path):
    path = str(tmp_path / "ref.fits")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, path, "40", str(skip)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=child_env(HERE),
                              cwd=str(tmp_path))
             for skip in (1, 2)]
    try:
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        done = [proc.communicate(timeout=600) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for proc, (out, err) in zip(procs, done):
        assert proc.returncode == 0 and out.strip() == "OK", err[-2000:]
    ref = rscd.read_reference(path)     # one complete file, from one of the writers
    skips = {(row.skip_int1, row.skip_int2p) for row in ref.skip_rows}
    assert skips in ({(1, 1)}, {(2, 2)}) and len(ref.skip_rows) == 200
    assert leftovers(tmp_path) == []


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "t.fits"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with rscd.fits.atomic_write(str(target)) as fh:
            fh.write(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []
    os.chmod(target, 0o600)
    with rscd.fits.atomic_write(str(target), durable=True, mode_of=str(target)) as fh:
        fits.HDUList([fits.PrimaryHDU()]).writeto(fh)
        assert os.path.basename(fh.name).startswith(".t.fits.")
    assert fits.getval(str(target), "SIMPLE") is True
    assert os.stat(target).st_mode & 0o777 == 0o600 and leftovers(tmp_path) == []
