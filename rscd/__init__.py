"""rscd: the JWST MIRI reset switch charge decay (RSCD) correction, fast and in place.

    >>> import rscd
    >>> res = rscd.apply(data, groupdq, pixeldq, "my_rscd.fits",
    ...                  readpatt="FAST", subarray="FULL")       # doctest: +SKIP
"""
import os as _os

# The core's OpenMP threads meet at the end of every parallel loop, and by default the
# OpenMP runtime makes a waiting thread spin. On a busy machine the spinning thread holds
# a core while the thread it waits for is not running: a 3 ms flag took 75-95 ms on two
# threads with the other core busy (docs/performance.md, "Threads on a busy machine").
# Waiting threads sleep instead unless the user chose otherwise; this must be set before
# the core loads the OpenMP runtime, which reads it once.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    from ._core import VERSION as __version__
except ModuleNotFoundError as _exc:      # no compiled core next to this file
    if _exc.name != __name__ + "._core":
        raise
    from ._nocore import missing_core_error
    raise missing_core_error(__file__) from None
from ._core import RSCDError
from .correct import (DeprecatedReferenceWarning, NoReferenceRowWarning, Result, RSCDWarning,
                      apply)
from .diagnose import diagnose, diagnose_files
from .fits import RampFileError, apply_file, output_path
from .model import apply_model
from .reference import (DecayCoeffs, DecayRow, MeasuredModel, MeasuredRow, Reference,
                        ReferenceFileError, SkipRow, read_reference, write_decay_reference,
                        write_flag_reference, write_measured_reference)

__all__ = ["__version__", "apply", "apply_file", "apply_model", "output_path", "RampFileError",
           "Result", "RSCDWarning", "NoReferenceRowWarning", "DeprecatedReferenceWarning",
           "RSCDError", "Reference", "ReferenceFileError", "SkipRow", "DecayRow", "DecayCoeffs",
           "read_reference", "write_flag_reference", "write_decay_reference", "diagnose",
           "diagnose_files", "MeasuredRow", "MeasuredModel", "write_measured_reference"]

#: Submodules imported on first use as attributes (``import rscd; rscd.plot.ramp(...)``),
#: so that ``import rscd`` stays light: matplotlib, dask, crds and jwst load only when one
#: of these is used.
_LAZY_SUBMODULES = ("plot", "batch", "cli", "crds", "dask", "demo", "dq", "segments",
                    "simulate", "step", "stpipe_steps")


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
