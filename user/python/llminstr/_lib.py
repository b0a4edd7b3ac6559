# SPDX-License-Identifier: MIT
"""Finding and loading the project's shared libraries (ctypes)."""
import ctypes
import os


def package_libs(name):
    """Where NAME is beside this package: installed by pip (setup.py copies
    it in), then build/lib of the checkout this package lives in."""
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, name)
    yield os.path.normpath(os.path.join(here, "..", "..", "..", "build", "lib", name))


def load(candidates, setup, name, env):
    """The first of candidates that loads and that setup(lib, path) accepts
    (it declares the functions; a string return is why not)."""
    errors = []
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append(str(e))
            continue
        why = setup(lib, path)
        if why:
            errors.append(why)
            continue
        return lib
    raise OSError("llminstr: cannot load %s (build it with make, or set %s): %s" %
                  (name, env, "; ".join(errors)))
