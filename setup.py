"""Build the C core and its Cython wrapper; metadata lives in pyproject.toml."""
import os
import re
import tempfile

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
C_SOURCES = [
    "csrc/common.c",
    "csrc/flag.c",
    "csrc/decay.c",
    "csrc/fastamp.c",
    "csrc/measured.c",
    "csrc/diagnose.c",
    "csrc/median.c",
    "csrc/fitsscan.c",
]
HEADERS = ["csrc/rscd.h", "csrc/rscd_internal.h"]


def read_version():
    """The version comes from the C header alone (one source for C and Python)."""
    with open(os.path.join(HERE, "csrc", "rscd.h")) as f:
        text = f.read()
    parts = [re.search(r"#define RSCD_VERSION_%s (\d+)" % k, text).group(1)
             for k in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


class BuildExt(build_ext):
    """Adds warning flags and OpenMP when the compiler supports it.

    RSCD_OPENMP=0 in the environment builds the serial core.
    """

    def _compiles(self, flags, libs=()):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "omp_probe.c")
            with open(src, "w") as f:
                f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")
            try:
                objs = self.compiler.compile([src], output_dir=tmp, extra_postargs=flags)
                self.compiler.link_executable(objs, os.path.join(tmp, "omp_probe"),
                                              extra_postargs=flags, libraries=list(libs))
            except Exception:
                return False
        return True

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        # No -ffp-contract flag: the sources turn contraction off themselves
        # (csrc/rscd_internal.h), so every build rounds a*b + c twice, as numpy does.
        cflags = ["/W3"] if msvc else ["-std=c99", "-Wall", "-Wextra", "-fvisibility=hidden"]
        # -O3 whatever Python was built with: the kernels' simple loops need the
        # compiler's vectorisation, which GCC 12 does only in part at -O2 (Debian's and
        # conda's Pythons build extensions with -O2: the diagnose kernel's sums pass took
        # 0.37 s instead of 0.26, its slopes pass 0.13 s instead of 0.06). An -O in the
        # CFLAGS environment variable still decides (a debugging build, say).
        if not msvc and not re.search(r"(^|\s)-O", os.environ.get("CFLAGS", "")):
            cflags.append("-O3")
        omp, omp_libs = [], []
        # MSVC's /openmp is OpenMP 2.0: csrc/flag.c then uses its 2.0 code (no atomic
        # read/write; see docs/embedding.rst, "OpenMP").
        if os.environ.get("RSCD_OPENMP", "1") != "0":
            candidates = [(["/openmp"], [])] if msvc else [
                (["-fopenmp"], []), (["-Xpreprocessor", "-fopenmp"], ["omp"])]
            for flags, libs in candidates:
                if self._compiles(flags, libs):
                    omp, omp_libs = flags, libs
                    break
        if omp:
            print("rscd: building with OpenMP (%s)" % " ".join(omp))
        else:
            print("rscd: OpenMP not available, building the serial core")
        for ext in self.extensions:
            ext.extra_compile_args = cflags + omp
            ext.extra_link_args = omp if omp and not msvc else []
            ext.libraries = list(ext.libraries) + omp_libs
        super().build_extensions()


ext = Extension(
    "rscd._core",
    sources=["rscd/_core.pyx"] + C_SOURCES,
    include_dirs=["csrc"],
    depends=HEADERS,
)

setup(
    version=read_version(),
    ext_modules=cythonize([ext], compiler_directives={"language_level": 3}),
    cmdclass={"build_ext": BuildExt},
)
