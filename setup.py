"""Builds fastnn._ckernels: the C kernels in csrc/ behind a thin Cython wrapper.

Flags: -O3, C11, -Wall -Wextra, -fno-math-errno (so sqrtf vectorises: no kernel
reads errno), OpenMP when the compiler has it (probed by
compiling a tiny program; otherwise a notice and a serial build).  The
default build is portable: the kernels pick AVX-512, AVX2 or baseline code
at run time.  FASTNN_NATIVE=1 adds -march=native for this machine only.
FASTNN_SANITIZE=1 adds AddressSanitizer and UndefinedBehaviorSanitizer
(`make sanitize` builds that way into build/sanitize and runs the tests).

Cython turns the bridge into C when the extension is built, not before: an
sdist needs no Cython and ships the .pyx, never the generated C (MANIFEST.in).
"""
import glob
import os
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = """
#include <omp.h>
int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
"""

BASE_FLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra", "-ffp-contract=fast", "-fno-math-errno"]
# Out-of-bounds reads/writes, use after free and undefined behaviour (signed
# overflow, misaligned or null pointers...) stop the run with a report.
# Python compiles extensions with -fwrapv (signed overflow wraps, so UBSan
# would not look for it); -fno-wrapv makes an overflowing index an error.
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                  "-fno-wrapv", "-fno-omit-frame-pointer", "-g"]


def compiler_has_openmp(compiler):
    """Compile and link a tiny OpenMP program with this compiler."""
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as f:
            f.write(OPENMP_PROBE)
        try:
            objects = compiler.compile([source], output_dir=tmp, extra_postargs=["-fopenmp"])
            compiler.link_executable(objects, os.path.join(tmp, "probe"),
                                     extra_postargs=["-fopenmp"])
        except Exception:  # any compile or link failure means no OpenMP
            return False
    return True


class BuildWithOpenMP(build_ext):
    def build_extensions(self):
        from Cython.Build import cythonize  # build requirements (pyproject.toml)
        import numpy


        for ext in self.extensions:
            ext.sources = cythonize([ext], compiler_directives={"language_level": 3})[0].sources
        flags = list(BASE_FLAGS)
        if os.environ.get("FASTNN_NATIVE") == "1":
            flags.append("-march=native")
        link = []
        if os.environ.get("FASTNN_SANITIZE") == "1":
            flags += SANITIZE_FLAGS
            link += SANITIZE_FLAGS
        if compiler_has_openmp(self.compiler):
            flags.append("-fopenmp")
            link.append("-fopenmp")
        else:
            print("*** fastnn: this compiler has no OpenMP; building the kernels "
                  "single-threaded ***", file=sys.stderr)
        for ext in self.extensions:
            # the bridge installs fastnn's block cache as NumPy's allocator (NEP 49)
            ext.include_dirs.append(numpy.get_include())
            ext.extra_compile_args = flags
            ext.extra_link_args = link
        super().build_extensions()


KERNELS = Extension("fastnn._ckernels",
                    sources=["fastnn/_ckernels.pyx"] + sorted(glob.glob("csrc/*.c")),
                    include_dirs=["csrc"], depends=sorted(glob.glob("csrc/*.h")),
                    # NumPy's C API as of 1.22, the oldest NumPy fastnn runs on
                    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_22_API_VERSION"),
                                   ("NPY_TARGET_VERSION", "NPY_1_22_API_VERSION")])

setup(ext_modules=[KERNELS], cmdclass={"build_ext": BuildWithOpenMP})
