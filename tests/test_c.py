"""Compile the C test programs against the headers alone and run them: plainly,
under AddressSanitizer + UBSan, and under valgrind where those are available.

tests/c/test_rscd.c   the public API (rscd.h), hand-worked flag and decay cases
tests/c/test_fastamp.c  the vector amplitude's error bound against libm, element by element
"""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")
TESTS_C = os.path.join(ROOT, "tests", "c")
PROGRAMS = {
    "test_rscd": [os.path.join(TESTS_C, "test_rscd.c")] + [
        os.path.join(CSRC, f) for f in ("common.c", "flag.c", "decay.c", "fastamp.c")],
    "test_fastamp": [os.path.join(TESTS_C, "test_fastamp.c"), os.path.join(CSRC, "fastamp.c")],
}
CC = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Wcast-qual", "-Werror", "-g", "-O1",
         "-DRSCD_TEST_DECAY_CASES", "-I" + CSRC, "-I" + TESTS_C]
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]

pytestmark = pytest.mark.skipif(CC is None or sys.platform == "win32",
                                reason="no C compiler (cc) on PATH")


def build(tmp_path, program, extra=()):
    exe = str(tmp_path / program)
    proc = subprocess.run([CC, *FLAGS, *extra, *PROGRAMS[program], "-lm", "-o", exe],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return exe


def run(cmd, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode == 0 and proc.stdout.startswith("SKIP:"):
        pytest.skip(proc.stdout.strip())  # test_fastamp on a CPU without AVX2 + FMA
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok: 0 failure(s)" in proc.stdout, proc.stdout
    return proc


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_c_program_builds_without_warnings_and_passes(tmp_path, program):
    proc = run([build(tmp_path, program)])
    print(proc.stdout)  # test_fastamp's statistics and timing, visible with pytest -s


def test_decay_cases_with_every_vector_element_sent_to_libm(tmp_path):
    """An error bound 2^40 times too wide fails the rounding proof of nearly every
    element of the vector path: the libm fallback must give the same results."""
    run([build(tmp_path, "test_rscd", ["-DRSCD_TOL_SCALE=0x1p40"])])


def sanitizers_work(tmp_path):
    """Can this compiler build and run a trivial program with the sanitizers?"""
    src = tmp_path / "probe.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = str(tmp_path / "probe")
    built = subprocess.run([CC, *SANITIZERS, str(src), "-o", exe], capture_output=True)
    return built.returncode == 0 and subprocess.run([exe]).returncode == 0


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_c_program_under_sanitizers(tmp_path, program):
    if not sanitizers_work(tmp_path):
        pytest.skip(f"{CC} cannot build and run programs with {' '.join(SANITIZERS)}")
    exe = build(tmp_path, program, SANITIZERS)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1")
    proc = run([exe], env=env)
    assert "runtime error" not in proc.stderr


def test_c_program_under_valgrind(tmp_path):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed")
    run([valgrind, "-q", "--error-exitcode=9", "--leak-check=full",
         build(tmp_path, "test_rscd")])
