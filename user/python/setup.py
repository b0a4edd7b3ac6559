# SPDX-License-Identifier: MIT
"""pip install --no-build-isolation ./user/python (after make): the llminstr
module, pure Python, with the project's two libraries it loads through
ctypes copied in beside it: build/lib/libllminstr.so (the agent: hooks) and
build/lib/libllminstr_read.so (reading and exporting .llmi files). No
network and no compiler: the libraries are the ones make built
(LLMINSTR_BUILD_LIB=DIR: take them from DIR instead)."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
LIBS = ("libllminstr.so", "libllminstr_read.so")


class BuildWithLibs(build_py):
    def run(self):
        super().run()
        src = os.environ.get("LLMINSTR_BUILD_LIB") or \
            os.path.normpath(os.path.join(HERE, "..", "..", "build", "lib"))
        missing = [n for n in LIBS if not os.path.exists(os.path.join(src, n))]
        if missing:
            raise SystemExit("llminstr: %s not built: run make first (looked in %s)" %
                             (", ".join(missing), src))
        for n in LIBS:
            shutil.copy2(os.path.join(src, n), os.path.join(self.build_lib, "llminstr", n))


setup(name="llminstr", version="0.1.0",
      description="Hand a model's activations to llminstr-trace; read .llmi captures back",
      packages=["llminstr"], python_requires=">=3.9",
      cmdclass={"build_py": BuildWithLibs})
