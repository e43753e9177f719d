"""The build matrix of the C library: CMakeLists.txt builds the library and the C test
programs (tests/c, run by ctest against the shared and the static library) with each
compiler and flag set below, warnings as errors, and every program must pass. Results
must not depend on the build: test_rscd compares against hand-worked values and
test_fastamp the vector path against libm, element by element.

  gcc-O0                GCC without optimisation
  gcc-O3-march-native   GCC, everything this CPU has (AVX2/FMA in the whole library)
  gcc-m32               32-bit x86 (x87 calling convention for floats); needs gcc-multilib
  gcc-no-openmp         the serial core (-DRSCD_OPENMP=OFF)
  clang                 Clang, where installed
"""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CMAKE = shutil.which("cmake")
GCC = shutil.which("gcc")
CLANG = shutil.which("clang")

pytestmark = [
    pytest.mark.slow,       # builds with CMake: .ci/run runs it (pytest -m slow)
    pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "CMakeLists.txt")),
                       reason="needs the source tree (CMakeLists.txt)"),
    pytest.mark.skipif(sys.platform == "win32", reason="the matrix is GCC/Clang on Unix"),
    pytest.mark.skipif(CMAKE is None, reason="cmake not on PATH (the test extra installs it)"),
]

# name: (compiler, CMAKE_C_FLAGS, other cache settings)
MATRIX = {
    "gcc-O0": (GCC, "-O0", []),
    "gcc-O3-march-native": (GCC, "-O3 -march=native", []),
    "gcc-m32": (GCC, "-m32", []),
    "gcc-no-openmp": (GCC, "-O2", ["-DRSCD_OPENMP=OFF"]),
    "clang": (CLANG, "-O2", []),
}


def links_and_runs(compiler, flags, tmp_path):
    """Can `compiler flags` build and run a program that uses libm?"""
    src = tmp_path / "probe.c"
    src.write_text("#include <math.h>\n#include <stdio.h>\n"
                   "int main(int argc, char **argv) { (void)argv;"
                   " printf(\"%d\\n\", (int)sizeof(void *)); return exp(argc - 1) == 1.0 ? 0 : 1; }\n")
    exe = tmp_path / "probe"
    built = subprocess.run([compiler, *flags, str(src), "-lm", "-o", str(exe)],
                           capture_output=True, text=True)
    if built.returncode:
        return False, built.stderr.strip().splitlines()[-1:]
    ran = subprocess.run([str(exe)], capture_output=True, text=True)
    return ran.returncode == 0, ran.stdout.strip()


def cmake(args, env, cwd=None):
    proc = subprocess.run([CMAKE, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)
    assert proc.returncode == 0, f"cmake {' '.join(args)}\n{proc.stdout[-4000:]}\n{proc.stderr}"
    return proc


def elf_class(path):
    with open(path, "rb") as f:
        head = f.read(5)
    assert head[:4] == b"\x7fELF", path
    return {1: 32, 2: 64}[head[4]]


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_c_tests_pass_in_build(tmp_path, name):
    compiler, cflags, cache = MATRIX[name]
    if compiler is None:
        pytest.skip(f"{'clang' if name == 'clang' else 'gcc'} is not installed"
                    " (.ci/run installs it with apt-get where it can)")
    if name == "gcc-m32":
        ok, detail = links_and_runs(compiler, ["-m32"], tmp_path)
        if not ok:
            pytest.skip(f"gcc -m32 cannot link and run a program here ({detail}); "
                        "the gcc-multilib package provides the 32-bit libraries")
    build = tmp_path / "build"
    env = dict(os.environ, CC=compiler)
    for var in ("CFLAGS", "LDFLAGS", "CMAKE_GENERATOR", "CMAKE_BUILD_TYPE"):
        env.pop(var, None)
    # An empty build type: CMAKE_C_FLAGS alone chooses the optimisation.
    configure = cmake(["-S", ROOT, "-B", str(build), "-DCMAKE_BUILD_TYPE=",
                       f"-DCMAKE_C_FLAGS={cflags}", "-DCMAKE_COMPILE_WARNING_AS_ERROR=ON",
                       "-DRSCD_BUILD_TESTS=ON", "-DRSCD_INSTALL=OFF", *cache], env)
    cmake(["--build", str(build), "-j", "2"], env)
    ctest = shutil.which("ctest", path=os.path.dirname(CMAKE)) or shutil.which("ctest")
    proc = subprocess.run([ctest, "--test-dir", str(build), "--output-on-failure"],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr
    assert "100% tests passed" in proc.stdout, proc.stdout
    for test in ("test_rscd", "test_rscd_static", "test_fastamp"):
        assert f" {test} " in proc.stdout, proc.stdout

    # The configuration is the one named.
    (compiler_file,) = build.glob("CMakeFiles/*/CMakeCCompiler.cmake")
    expected_id = "Clang" if name == "clang" else "GNU"
    assert f'set(CMAKE_C_COMPILER_ID "{expected_id}")' in compiler_file.read_text()
    if name == "gcc-no-openmp":
        assert "OpenMP: OFF" in configure.stdout, configure.stdout
    if sys.platform.startswith("linux"):
        native = elf_class(os.path.realpath(sys.executable))
        assert elf_class(build / "test_rscd") == (32 if name == "gcc-m32" else native)
