"""``rscd.apply_model``: the correction on a jwst datamodel, without importing jwst.

Works on a stdatamodels ``RampModel`` or on anything shaped like one: ``.data``,
``.groupdq``, ``.pixeldq`` and the ``meta`` attributes the pipeline reads
(``meta.instrument.detector``, ``meta.exposure.readpatt``, ``meta.subarray.name``,
``meta.exposure.nints``, ``meta.exposure.integration_start``, ``meta.subarray.ystart``).
The model's metadata is updated as jwst 3.0.0's ``RscdStep`` leaves it:

* ``meta.cal_step.rscd``: "COMPLETE" or "SKIPPED";
* ``meta.ref_file.rscd.name``: the reference file, whenever it was consulted (not for
  non-MIRI data, where the pipeline never looks it up);
* ``meta.rscd.*``: the ``flag`` statistics, only those of the integration ranges that
  were processed, and none at all when the step is skipped.
"""
import logging
import os
from typing import Any, Optional

import numpy as np

from .correct import STAT_KEYWORDS, ReferenceLike, Result, apply, is_miri, skipped_not_miri
from .reference import Reference, as_reference

__all__ = ["apply_model"]

log = logging.getLogger("rscd")


def _get(obj: Any, dotted: str, default: Any = None) -> Any:
    """``obj.a.b.c`` or ``default`` when any link is missing or None."""
    for name in dotted.split("."):
        obj = getattr(obj, name, None)
        if obj is None:
            return default
    return obj


def _set(obj: Any, dotted: str, value: Any) -> None:
    """``obj.a.b.c = value``; the intermediate nodes must exist (a stdatamodels
    ``meta`` creates them on access)."""
    *path, last = dotted.split(".")
    for name in path:
        obj = getattr(obj, name)
    setattr(obj, last, value)


def _usable(arr: Any, dtype: Any, any_byteorder: bool = False, write: bool = True) -> bool:
    if not isinstance(arr, np.ndarray) or not arr.flags.c_contiguous:
        return False
    if write and not arr.flags.writeable:
        return False
    got = arr.dtype.newbyteorder("=") if any_byteorder else arr.dtype
    return got == np.dtype(dtype)


def _array(model: Any, name: str, dtype: Any, any_byteorder: bool = False,
           assign: bool = True) -> np.ndarray:
    """The model's array in the form ``rscd.apply`` needs.

    When it already has that form (exact dtype, C-contiguous, writeable) it is
    returned as is and corrected where it lies. Otherwise it is converted once and,
    with ``assign``, the converted array is put back on the model, so the correction
    ends up in the model and not in a discarded copy. Without ``assign`` the array is
    only read, so a read-only one is used as is.
    """
    arr = getattr(model, name, None)
    if arr is None:
        raise ValueError(f"the model has no {name} array")
    if _usable(arr, dtype, any_byteorder, write=assign):
        return arr
    converted = np.array(arr, dtype=dtype, order="C", copy=True)
    if assign:
        log.debug("model.%s converted from %s to %s and assigned back to the model",
                  name, getattr(arr, "dtype", type(arr).__name__), np.dtype(dtype).name)
        setattr(model, name, converted)
    return converted


def _reference_name(reference: ReferenceLike, ref: Reference) -> str:
    """What the pipeline records in R_RSCD for a reference given by path: its absolute
    path (stpipe does the same for ``override_rscd``)."""
    if isinstance(reference, (str, os.PathLike)):
        return os.path.abspath(os.fspath(reference))
    return os.path.abspath(ref.path) if ref.path else ref.name


def apply_model(model: Any, reference: ReferenceLike, *, method: str = "auto",
                threads: Optional[int] = None) -> Result:
    """Apply the RSCD correction to a jwst ramp datamodel, in place.

    Parameters
    ----------
    model : stdatamodels.jwst.datamodels.RampModel or duck-typed equivalent
        ``model.data`` (float32, either byte order), ``model.groupdq`` (uint8) and
        ``model.pixeldq`` (uint32), shapes (nints, ngroups, nrows, ncols) and
        (nrows, ncols), plus the ``meta`` attributes listed in the module docstring.
        The number of groups is taken from the arrays (jwst uses
        ``meta.exposure.ngroups``; the two agree in any valid file).
    reference : str, os.PathLike or rscd.Reference
        The RSCD reference file, either form (see :func:`rscd.read_reference`).
    method : {"auto", "flag", "decay", "measured"}
        As for :func:`rscd.apply`.
    threads : int, optional
        Threads for the C core; None (the default): every core, as :func:`rscd.apply`.

    Returns
    -------
    rscd.Result
        What was done. The model's arrays and metadata are modified in place.

    Notes
    -----
    An array that is not already of the exact type ``rscd.apply`` corrects in place
    (say a ``pixeldq`` of int32, or a non-contiguous view) is converted once and the
    converted array is assigned back to the model attribute, so ``model.pixeldq`` may
    afterwards be a new array object. The stdatamodels ``RampModel`` always holds
    the right types (SCI read from a file is big-endian float32, which is corrected
    where it lies), so nothing is copied for it. With ``flag``, which never changes
    SCI, an unusual ``data`` array is only read, never replaced.

    Raises
    ------
    TypeError, ValueError
        Unusable arrays or metadata (as :func:`rscd.apply`).
    rscd.ReferenceFileError
        A malformed reference file.

    Examples
    --------
    >>> from stdatamodels.jwst.datamodels import RampModel     # doctest: +SKIP
    >>> with RampModel("jw..._linearity.fits") as model:        # doctest: +SKIP
    ...     res = rscd.apply_model(model, "my_rscd.fits")
    ...     model.save("jw..._rscd.fits")
    """
    detector = _get(model, "meta.instrument.detector", "")
    if not is_miri(detector):
        _set(model, "meta.cal_step.rscd", "SKIPPED")
        return skipped_not_miri(detector)

    ref = as_reference(reference)
    chosen = ref.default_method() if method == "auto" else method
    # Each method writes only some arrays (flag: the flags; decay: SCI); an odd array
    # the method only reads is read through a temporary and never replaced.
    writes_sci = chosen in ("decay", "measured")
    groupdq = _array(model, "groupdq", np.uint8, assign=not writes_sci)
    pixeldq = _array(model, "pixeldq", np.uint32, assign=not writes_sci)
    data = _array(model, "data", np.float32, any_byteorder=True, assign=writes_sci)

    nints = _get(model, "meta.exposure.nints")
    integration_start = _get(model, "meta.exposure.integration_start", 1)
    ystart = _get(model, "meta.subarray.ystart", 1)
    try:
        result = apply(data, groupdq, pixeldq, ref,
                       readpatt=str(_get(model, "meta.exposure.readpatt", "")),
                       subarray=str(_get(model, "meta.subarray.name", "")),
                       detector=str(detector), nints=None if nints is None else int(nints),
                       integration_start=int(integration_start), ystart=int(ystart),
                       method=method, threads=threads)
    except ValueError as exc:
        # Name the model's attribute, not the argument (a NINTS smaller than the arrays
        # is no error: it is used as given, as the pipeline does).
        if str(exc).startswith("nints") and nints is not None:
            raise ValueError(f"meta.exposure.nints = {nints}: {exc}") from exc
        raise

    _set(model, "meta.ref_file.rscd.name", _reference_name(reference, ref))
    _set(model, "meta.cal_step.rscd", result.status)
    if result.status == "COMPLETE":
        for name in STAT_KEYWORDS:
            value = getattr(result, name)
            if value is not None:
                _set(model, f"meta.rscd.{name}", value)
    return result
