"""Shared set-up of the atheris harnesses: import rscd from the checkout, quiet warnings."""
import os
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import glob  # noqa: E402
import importlib.util  # noqa: E402

# The installed package (CI: pip install .) when it has its extension, else the checkout
# (built with --inplace). Looked up without importing rscd: atheris must instrument it.
_spec = importlib.util.find_spec("rscd")
_found = bool(_spec and _spec.submodule_search_locations and any(
    glob.glob(os.path.join(d, "_core.*")) for d in _spec.submodule_search_locations))
if not _found and ROOT not in sys.path:
    sys.path.insert(0, ROOT)           # ... else the checkout (built with --inplace)
warnings.simplefilter("ignore")      # astropy/rscd warnings are expected on garbage input

# Heavy dependencies are imported here, before atheris instruments anything: only rscd's
# own modules are instrumented (instrumenting astropy takes minutes and finds nothing of ours).
import numpy  # noqa: E402,F401
from astropy.io import fits  # noqa: E402,F401

import logging  # noqa: E402

_log = logging.getLogger("rscd")          # "only for MIRI data" etc. on every other input
_log.addHandler(logging.NullHandler())
_log.propagate = False
