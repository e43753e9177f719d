"""Compile the C test programs against the headers alone and run them: plainly, with
OpenMP (2 threads on full frames), with the OpenMP 2.0 code MSVC gets, in GCC's default
gnu dialect at -O3 -march=native, 32-bit x87 (-m32 -O0), under AddressSanitizer + UBSan,
and under valgrind, where those are available. Then the core built with
-std=gnu99 -O3 -march=native and no -ffp-contract flag, loaded with ctypes, against the
Python oracle on data where a fused multiply-add would round differently.

tests/c/test_rscd.c   the public API (rscd.h), hand-worked flag and decay cases
tests/c/test_fastamp.c  the vector amplitude's and asinh's error bounds against libm, element by element
tests/c/test_measured.c  rscd_measured: hand-worked values, refusals, full frames on 1 and 2
                         threads and byte-swapped SCI against the plain statement
tests/c/test_diagnose.c  rscd_diagnose_block: exact sums of hand-worked ramps, DQ, byte order, threads;
                         rscd_median_mad against a sort
tests/c/test_fitsscan.c  rscd_fits_walk: hand-made headers, its messages, every prefix of a file
"""
import ctypes
import math
import os
import platform
import re
import shutil
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from oracle_decay import decay_oracle, pixel_amplitude  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")
TESTS_C = os.path.join(ROOT, "tests", "c")
CORE = [os.path.join(CSRC, f) for f in ("common.c", "flag.c", "decay.c", "fastamp.c",
                                         "measured.c", "diagnose.c", "median.c", "fitsscan.c")]
PROGRAMS = {
    "test_rscd": [os.path.join(TESTS_C, "test_rscd.c")] + CORE,
    "test_fastamp": [os.path.join(TESTS_C, "test_fastamp.c"), os.path.join(CSRC, "fastamp.c")],
    "test_measured": [os.path.join(TESTS_C, "test_measured.c")] + CORE,
    "test_diagnose": [os.path.join(TESTS_C, "test_diagnose.c")] + CORE,
    "test_fitsscan": [os.path.join(TESTS_C, "test_fitsscan.c")] + CORE,
}
CC = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
WARNINGS = ["-Wall", "-Wextra", "-Wcast-qual", "-Werror"]
FLAGS = ["-std=c99", *WARNINGS, "-g", "-O1", "-DRSCD_TEST_DECAY_CASES", "-I" + CSRC,
         "-I" + TESTS_C]
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
# GCC's default dialect (gnu, which contracts a*b + c into an FMA) with everything this
# CPU has, and no -ffp-contract flag: the sources themselves must keep contraction off.
NATIVE = ["-std=gnu99", "-O3", "-march=native"]
X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")

pytestmark = pytest.mark.skipif(CC is None or sys.platform == "win32",
                                reason="no C compiler (cc) on PATH")
# The other dialects, optimisers, OpenMP, 32-bit, sanitizers and valgrind: minutes of
# builds, so behind the slow marker (.ci/run runs them with pytest -m slow).
build_matrix = pytest.mark.slow


def build(tmp_path, program, extra=(), flags=FLAGS):
    exe = str(tmp_path / program)
    proc = subprocess.run([CC, *flags, *extra, *PROGRAMS[program], "-lm", "-o", exe],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return exe


def run(cmd, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode == 0 and proc.stdout.startswith("SKIP:"):
        pytest.skip(proc.stdout.strip())  # test_fastamp on a CPU without AVX2 + FMA
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok: 0 failure(s)" in proc.stdout, proc.stdout
    return proc


def compiles(tmp_path, flags, source="int main(void) { return 0; }\n", headers=()):
    """Can CC build and run a trivial program with these flags?"""
    src = tmp_path / "probe.c"
    src.write_text("".join(f"#include <{h}>\n" for h in headers) + source)
    exe = str(tmp_path / "probe")
    built = subprocess.run([CC, *flags, str(src), "-o", exe], capture_output=True)
    return built.returncode == 0 and subprocess.run([exe]).returncode == 0


def openmp(tmp_path):
    if not compiles(tmp_path, ["-fopenmp"], headers=["omp.h"]):
        pytest.skip(f"{CC} cannot build OpenMP programs (-fopenmp)")
    return ["-fopenmp"]


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_c_program_builds_without_warnings_and_passes(tmp_path, program):
    proc = run([build(tmp_path, program)])
    print(proc.stdout)  # test_fastamp's statistics and timing, visible with pytest -s


@build_matrix
def test_decay_cases_with_every_vector_element_sent_to_libm(tmp_path):
    """An error bound 2^40 times too wide fails the rounding proof of nearly every
    element of the vector path: the libm fallback must give the same results."""
    run([build(tmp_path, "test_rscd", ["-DRSCD_TOL_SCALE=0x1p40"])])


@build_matrix
def test_diagnose_with_every_slope_bin_sent_to_libm(tmp_path):
    """The same for the slope histogram's vector asinh: an error bound 2^50 times too
    wide spans several bins, so the bins come from libm's asinh, and the vector and the
    portable code must still agree bit for bit (t_vector_paths)."""
    run([build(tmp_path, "test_diagnose", ["-DRSCD_TOL_SCALE=0x1p50"])])


@build_matrix
def test_clip_medians_with_every_selection_sorted_instead(tmp_path):
    """rscd_median_mad sorts the part left when its selection takes too many rounds
    (an input that defeats its pivots): with no round allowed, every median comes from
    that sort, and must be the same (t_median_mad)."""
    run([build(tmp_path, "test_diagnose", ["-DRSCD_SELECT_SPARE_ROUNDS=-1000"])])


@build_matrix
@pytest.mark.parametrize("variant", ["openmp", "openmp-2.0"])
@pytest.mark.parametrize("program", ["test_rscd", "test_measured", "test_diagnose"])
def test_c_program_with_openmp(tmp_path, variant, program):
    """The full-frame cases run flag and decay on 2 threads against one thread and the
    plain reference; openmp-2.0 builds the code MSVC's /openmp gets (no atomic
    read/write: a reduction instead)."""
    extra = openmp(tmp_path) + (["-DRSCD_OPENMP_2_0"] if variant == "openmp-2.0" else [])
    run([build(tmp_path, program, extra)])


@build_matrix
@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_c_program_gnu_dialect_native(tmp_path, program):
    run([build(tmp_path, program, NATIVE, flags=[f for f in FLAGS if f not in
                                                 ("-std=c99", "-O1")])])


@build_matrix
def test_c_program_32_bit_x87(tmp_path):
    """-m32 -O0: floats go through the x87 unit, which quiets a signalling NaN it loads;
    test_rscd checks that byte-swapped words that read natively as signalling NaNs come
    out as the native-order words do."""
    if not X86 or not compiles(tmp_path, ["-m32"], headers=["math.h"]):
        pytest.skip(f"{CC} cannot build 32-bit x86 programs (gcc-multilib)")
    run([build(tmp_path, "test_rscd", ["-m32", "-O0"])])


@build_matrix
@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_c_program_under_sanitizers(tmp_path, program):
    if not compiles(tmp_path, SANITIZERS):
        pytest.skip(f"{CC} cannot build and run programs with {' '.join(SANITIZERS)}")
    extra = list(SANITIZERS)
    if program in ("test_rscd", "test_measured", "test_diagnose") and compiles(
            tmp_path, ["-fopenmp"], headers=["omp.h"]):
        extra.append("-fopenmp")  # the 2-thread cases
    exe = build(tmp_path, program, extra)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1")
    proc = run([exe], env=env)
    assert "runtime error" not in proc.stderr


@build_matrix
@pytest.mark.parametrize("program", ["test_rscd", "test_measured", "test_diagnose",
                                     "test_fitsscan"])
def test_c_program_under_valgrind(tmp_path, program):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed")
    run([valgrind, "-q", "--error-exitcode=9", "--leak-check=full",
         build(tmp_path, program)])


# ----------------------------------------------- no FMA where the sources round twice

FMA = re.compile(r"\bv?f(n?)m(add|sub)[0-9a-z]*\b")
# The vector amplitude's exp and log, and the asinh built on that log, use FMA
# intrinsics on purpose (their error bounds count them; the compiler may inline
# asinh_avx2 and asinh4 into rscd_fast_asinh); nothing else may fuse.
EXPLICIT_FMA = ("amp_block", "vexp", "vlog", "asinh4", "asinh_avx2", "rscd_fast_asinh")


def fused_functions(obj):
    """Names of the functions of an object file that contain an FMA instruction."""
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", obj], capture_output=True,
                          text=True, check=True).stdout
    found, current = set(), None
    for line in text.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            current = m.group(1)
        elif current and FMA.search(line.split("\t")[-1]):
            found.add(current)
    return found


@build_matrix
@pytest.mark.skipif(not X86 or shutil.which("objdump") is None,
                    reason="needs x86 and objdump")
def test_no_contraction_into_fma_in_gnu_dialect(tmp_path):
    """GCC's gnu dialect contracts a*b + c into an FMA where the target has one; the
    sources turn that off themselves (rscd_internal.h), so no build flag is needed."""
    flags = NATIVE + ["-mavx2", "-mfma", "-I" + CSRC]
    fused = {}
    for name in ("decay", "fastamp", "flag", "common", "measured"):
        obj = str(tmp_path / f"{name}.o")
        subprocess.run([CC, *flags, "-c", os.path.join(CSRC, name + ".c"), "-o", obj],
                       check=True)
        fused[name] = fused_functions(obj) - set(EXPLICIT_FMA)
    assert fused == {"decay": set(), "fastamp": set(), "flag": set(), "common": set(),
                     "measured": set()}


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs nm")
def test_core_does_not_read_the_environment(tmp_path):
    """No getenv in the core (it read RSCD_NO_VECTOR at every call: not safe against
    setenv in another thread); rscd_params.use_vector carries the choice."""
    for src in CORE:
        obj = str(tmp_path / (os.path.basename(src) + ".o"))
        subprocess.run([CC, "-std=c99", "-O2", "-fopenmp" if compiles(
            tmp_path, ["-fopenmp"], headers=["omp.h"]) else "-O2", "-I" + CSRC, "-c", src,
            "-o", obj], check=True)
        undefined = subprocess.run(["nm", "-u", obj], capture_output=True, text=True,
                                   check=True).stdout.split()
        assert not {"getenv", "secure_getenv", "setenv"} & set(undefined), src


# ------------------------------------------------- the gnu99 -O3 -march=native core

class Ramp(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("data", ctypes.c_void_p), ("groupdq", ctypes.c_void_p),
                ("pixeldq", ctypes.c_void_p), ("nints", ctypes.c_ssize_t),
                ("ngroups", ctypes.c_ssize_t), ("nrows", ctypes.c_ssize_t),
                ("ncols", ctypes.c_ssize_t), ("data_byteorder", ctypes.c_int),
                ("integration_start", ctypes.c_ssize_t),
                ("nints_exposure", ctypes.c_ssize_t), ("first_row", ctypes.c_ssize_t)]


class Params(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("dq_do_not_use", ctypes.c_uint8),
                ("dq_saturated", ctypes.c_uint8), ("dq_flux_estimated", ctypes.c_uint32),
                ("dq_reference_pixel", ctypes.c_uint32), ("nthreads", ctypes.c_int),
                ("use_vector", ctypes.c_int)]


COEFF_NAMES = ("tau", "ascale", "pow", "illum_zp", "illum_slope", "illum2", "param3",
               "crossopt", "sat_zp", "sat_slope", "sat_2", "sat_mzp", "sat_rowterm",
               "sat_scale")


class Coeffs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t)] + [(n, ctypes.c_double) for n in COEFF_NAMES]


class DecayStats(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t)] + [(n, ctypes.c_ssize_t) for n in (
                                                 "nints_corrected", "first_int_left",
                                                 "npix_corrected", "npix_saturated",
                                                 "npix_nonfinite")]


def contraction_sensitive_case(nrows=8, ncols=64):
    """A two-integration ramp where, in most samples of integration 2, the corrected
    value d + amp*e rounds to a different float32 when amp*e + d is fused into one FMA
    than when the product is rounded first (as the oracle, numpy and the C source do).

    d is chosen near -amp*e: the sum cancels, so the product's rounding error, which an
    FMA keeps, is many float32 ulps of the result. Returns the arrays, the coefficients
    and the number of samples where the two roundings differ (computed exactly)."""
    rng = np.random.default_rng(15)
    ngroups, tau = 4, 2.7
    coeffs = dict(tau=tau, ascale=0.05, pow=0.9, illum_zp=1.0, illum_slope=0.0, illum2=0.0,
                  param3=2.0e4, crossopt=100.0, sat_zp=0.0, sat_slope=0.0, sat_2=0.0,
                  sat_mzp=0.0, sat_rowterm=0.0, sat_scale=1.0)
    data = np.zeros((2, ngroups, nrows, ncols), np.float32)
    bias = rng.uniform(5000, 15000, size=(nrows, ncols))
    rate = 10 ** rng.uniform(1, 3.5, size=(nrows, ncols))
    for g in range(ngroups):
        data[0, g] = bias + rate * (g + 1)
    groupdq = np.zeros(data.shape, np.uint8)
    pixeldq = np.zeros((nrows, ncols), np.uint32)
    efac = [math.exp(-(j + 1) / tau) for j in range(ngroups)]
    sensitive = 0
    for y in range(nrows):
        for x in range(ncols):
            amp, kind = pixel_amplitude(data[0, :, y, x], groupdq[0, :, y, x], False, coeffs,
                                        ngroups)
            assert kind == "corrected"
            for j in range(ngroups):
                product = amp * efac[j]  # rounded to double, as the oracle has it
                exact = Fraction(amp) * Fraction(efac[j])
                nearest = -np.float32(product)
                candidates, up, down = [nearest], nearest, nearest
                for _ in range(3):
                    up = np.nextafter(up, np.float32(np.inf))
                    down = np.nextafter(down, np.float32(-np.inf))
                    candidates += [up, down]
                data[1, j, y, x] = nearest
                for d in candidates:
                    separate = np.float32(float(d) + product)
                    fused = np.float32(float(Fraction(float(d)) + exact))  # fma, then float32
                    if separate != fused:
                        data[1, j, y, x] = d
                        sensitive += 1
                        break
    return data, groupdq, pixeldq, coeffs, sensitive


def native_core(tmp_path):
    lib = str(tmp_path / "librscd_native.so")
    proc = subprocess.run([CC, *NATIVE, "-fPIC", "-shared", "-I" + CSRC, *CORE, "-lm", "-o",
                           lib], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    core = ctypes.CDLL(lib)
    core.rscd_params_init.argtypes = [ctypes.POINTER(Params), ctypes.c_size_t]
    core.rscd_decay.argtypes = [ctypes.POINTER(Ramp), ctypes.POINTER(Coeffs),
                                ctypes.POINTER(Coeffs), ctypes.c_void_p,
                                ctypes.POINTER(Params), ctypes.POINTER(DecayStats)]
    return core


@build_matrix
@pytest.mark.parametrize("use_vector", [0, 1])
def test_core_built_gnu99_O3_native_matches_oracle(tmp_path, use_vector):
    """The core compiled with -std=gnu99 -O3 -march=native and no -ffp-contract flag
    gives the oracle's values, bit for bit, on samples where an FMA would not."""
    data, groupdq, pixeldq, coeffs, sensitive = contraction_sensitive_case()
    assert sensitive >= 100  # the case does what it says (exact arithmetic)
    expect, counts = decay_oracle(data, groupdq, pixeldq, coeffs, coeffs)
    core = native_core(tmp_path)
    params = Params()
    assert core.rscd_params_init(ctypes.byref(params), ctypes.sizeof(Params)) == 0
    params.nthreads = 1
    params.use_vector = use_vector
    out = data.copy()
    nints, ngroups, nrows, ncols = out.shape
    # Every struct is filled by its init function first (the ABI rule of rscd.h).
    ramp, c, stats = Ramp(), Coeffs(), DecayStats()
    for name, struct in (("ramp", ramp), ("decay_coeffs", c), ("decay_stats", stats)):
        assert getattr(core, f"rscd_{name}_init")(ctypes.byref(struct),
                                                  ctypes.sizeof(struct)) == 0
    for name, value in dict(data=out.ctypes.data, groupdq=groupdq.ctypes.data,
                            pixeldq=pixeldq.ctypes.data, nints=nints, ngroups=ngroups,
                            nrows=nrows, ncols=ncols, **coeffs).items():
        setattr(c if name in coeffs else ramp, name, value)
    status = core.rscd_decay(ctypes.byref(ramp), ctypes.byref(c), ctypes.byref(c), None,
                             ctypes.byref(params), ctypes.byref(stats))
    assert status == 0
    assert stats.npix_corrected == counts["corrected"] == nrows * ncols
    differ = np.count_nonzero(out.view(np.uint32) != expect.view(np.uint32))
    assert differ == 0, f"{differ} of {out.size} values differ from the oracle"
