"""Compile tests/c/test_rscd.c against the header alone and run it: plainly, under
AddressSanitizer + UBSan, and under valgrind where those are available."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")
SOURCES = [os.path.join(ROOT, "tests", "c", "test_rscd.c")] + [
    os.path.join(CSRC, f) for f in ("common.c", "flag.c", "decay.c")]
CC = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Wcast-qual", "-Werror", "-g", "-O1",
         "-DRSCD_TEST_DECAY_CASES", "-I" + CSRC, "-I" + os.path.join(ROOT, "tests", "c")]

pytestmark = pytest.mark.skipif(CC is None or sys.platform == "win32",
                                reason="no C compiler (cc) on PATH")


def build(tmp_path, extra=()):
    exe = str(tmp_path / "test_rscd")
    proc = subprocess.run([CC, *FLAGS, *extra, *SOURCES, "-lm", "-o", exe],
                          capture_output=True, text=True)
    return exe, proc


def run(cmd, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok: 0 failure(s)" in proc.stdout
    return proc


def test_c_program_builds_without_warnings_and_passes(tmp_path):
    exe, proc = build(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    run([exe])


def sanitizers_work(tmp_path, flags):
    """Can this compiler build and run a trivial program with these flags?"""
    src = tmp_path / "probe.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = str(tmp_path / "probe")
    built = subprocess.run([CC, *flags, str(src), "-o", exe], capture_output=True)
    return built.returncode == 0 and subprocess.run([exe]).returncode == 0


def test_c_program_under_sanitizers(tmp_path):
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    if not sanitizers_work(tmp_path, flags):
        pytest.skip(f"{CC} cannot build and run programs with {' '.join(flags)}")
    exe, proc = build(tmp_path, flags)
    assert proc.returncode == 0, proc.stderr
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1")
    proc = run([exe], env=env)
    assert "runtime error" not in proc.stderr


def test_c_program_under_valgrind(tmp_path):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed")
    exe, proc = build(tmp_path)
    assert proc.returncode == 0, proc.stderr
    run([valgrind, "-q", "--error-exitcode=9", "--leak-check=full", exe])
