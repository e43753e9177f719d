"""The public array API: ``rscd.apply`` corrects ramp arrays in place."""
import logging
import os
import warnings
from dataclasses import dataclass

import numpy as np

from . import _core
from .reference import Reference, read_reference

__all__ = ["apply", "Result", "RSCDWarning", "METHODS"]

log = logging.getLogger("rscd")

METHODS = ("auto", "flag", "decay")

# Result field -> FITS keyword (SPEC section 2, stdatamodels core schema).
STAT_KEYWORDS = {
    "ngroups_skip_int1": "INT1SKIP",
    "ngroups_skip_int2p": "INT2SKIP",
    "keep_bright_firstgroup_int1": "INT1UGP1",
    "keep_bright_firstgroup_int2p": "INT2UGP1",
    "keep_groups_saturation_int1": "INT1BORS",
    "keep_groups_saturation_int2p": "INT2BORS",
}


class RSCDWarning(UserWarning):
    """Something the pipeline would log as a warning: no matching reference row,
    a deprecated reference form, a detector mismatch."""


@dataclass(frozen=True)
class Result:
    """What ``apply`` did.

    ``status`` is "COMPLETE" or "SKIPPED" (the S_RSCD value), ``method`` "flag",
    "decay" or None, ``reason`` why it was skipped. The flag statistics are
    those jwst 3.0.0 stores in ``meta.rscd``; the decay counts are of
    (integration, pixel) pairs. Fields that do not apply are None.
    """
    status: str
    method: str = None
    reason: str = None
    reference: str = None
    ngroups_skip_int1: int = None
    ngroups_skip_int2p: int = None
    keep_bright_firstgroup_int1: int = None
    keep_bright_firstgroup_int2p: int = None
    keep_groups_saturation_int1: int = None
    keep_groups_saturation_int2p: int = None
    nints_corrected: int = None
    npix_corrected: int = None
    npix_saturated: int = None
    npix_nonfinite: int = None
    first_int_left: bool = None
    notes: tuple = ()

    def header_keywords(self):
        """FITS keywords for what was set: S_RSCD, R_RSCD and the statistics.

        Returns
        -------
        dict of str to str or int
            S_RSCD always; R_RSCD when a reference file was read; INT1SKIP ...
            INT2BORS for the statistics that are not None.

        Examples
        --------
        >>> rscd.Result("SKIPPED", reason="only for MIRI data").header_keywords()
        {'S_RSCD': 'SKIPPED'}
        """
        out = {"S_RSCD": self.status}
        if self.reference:
            out["R_RSCD"] = self.reference
        for name, key in STAT_KEYWORDS.items():
            value = getattr(self, name)
            if value is not None:
                out[key] = value
        return out

    def summary(self):
        """One line for a person: method, status and what was flagged or corrected.

        Examples
        --------
        >>> rscd.Result("SKIPPED", method="flag", reason="too few groups (2 < 3)").summary()
        'flag SKIPPED: too few groups (2 < 3)'
        """
        head = f"{self.method or '-'} {self.status}"
        if self.status != "COMPLETE":
            return f"{head}: {self.reason}"
        parts = []
        if self.method == "flag":
            for label, skip, back, one in (
                    ("int 1", self.ngroups_skip_int1, self.keep_groups_saturation_int1,
                     self.keep_bright_firstgroup_int1),
                    ("ints 2+", self.ngroups_skip_int2p, self.keep_groups_saturation_int2p,
                     self.keep_bright_firstgroup_int2p)):
                if skip is not None:
                    parts.append(f"{label}: {skip} group(s) flagged, {back} pixel(s) backed "
                                 f"off for saturation, {one} left with one group")
        elif self.method == "decay":
            parts.append(f"{self.nints_corrected} integration(s) corrected, "
                         f"{self.npix_corrected} pixel ramps changed "
                         f"({self.npix_saturated} saturated branch, "
                         f"{self.npix_nonfinite} left alone: non-finite)")
        parts.extend(self.notes)
        return head + (": " + "; ".join(parts) if parts else "")


def _check_array(arr, name, dtype, ndim, writeable=True, any_byteorder=False):
    """Exact checks with messages that name the array and say how to fix it."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, not {type(arr).__name__}")
    want = np.dtype(dtype)
    got = arr.dtype
    same = got.newbyteorder("=") == want if any_byteorder else got == want
    if not same:
        order = "" if any_byteorder else " in native byte order"
        raise TypeError(f"{name} must have dtype {want.name}{order}, not {got.str}; "
                        f"convert with {name}.astype(np.{want.name}) and copy the result back "
                        "(rscd never converts silently: the correction would go to a copy)")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, not {arr.ndim} "
                         f"(shape {arr.shape})")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; np.ascontiguousarray({name}) makes a "
                         "copy that you must keep and use afterwards")
    if writeable and not arr.flags.writeable:
        raise ValueError(f"{name} is read-only; it is corrected in place, so pass a writeable "
                         "array (for a FITS file: fits.open(..., mode='update'))")


def _as_reference(reference):
    if isinstance(reference, Reference):
        return reference
    if isinstance(reference, (str, os.PathLike)):
        return read_reference(reference)
    raise TypeError("reference must be a path or an rscd.Reference, "
                    f"not {type(reference).__name__}")


#: Upper bound of integration numbers and rows: far beyond any exposure, and small enough
#: that the C core's sums of them cannot overflow ptrdiff_t (larger values raised
#: OverflowError from the wrapper; issue 9).
MAX_INDEX = 2**31 - 1


def _positive_int(value, name, minimum=1, maximum=MAX_INDEX):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {value}")
    if value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, not {value}")
    return int(value)


def check_shapes(data_shape, groupdq_shape, pixeldq_shape, data_name="data"):
    """SCI and GROUPDQ (nints, ngroups, nrows, ncols), PIXELDQ (nrows, ncols): agree or
    raise ValueError saying which array has which shape."""
    if tuple(data_shape) != tuple(groupdq_shape):
        raise ValueError(f"{data_name} has shape {tuple(data_shape)} but groupdq "
                         f"{tuple(groupdq_shape)}; both must be (nints, ngroups, nrows, ncols)")
    if tuple(pixeldq_shape) != tuple(groupdq_shape[2:]):
        raise ValueError(f"pixeldq has shape {tuple(pixeldq_shape)}; expected (nrows, ncols) "
                         f"= {tuple(groupdq_shape[2:])} from groupdq {tuple(groupdq_shape)}")


def exposure_numbers(nints_file, nints, integration_start, substrt2, threads):
    """Checked (nints, integration_start, substrt2, nthreads) of an exposure whose
    arrays hold ``nints_file`` integrations; nthreads 0 means OpenMP's default."""
    integration_start = _positive_int(integration_start, "integration_start")
    substrt2 = _positive_int(substrt2, "substrt2")
    least = integration_start - 1 + nints_file
    nints = least if nints is None else _positive_int(nints, "nints")
    if nints < least:
        raise ValueError(f"nints = {nints} but the arrays hold integrations "
                         f"{integration_start}..{least} of the exposure")
    nthreads = 0 if threads is None else _positive_int(threads, "threads")
    return nints, integration_start, substrt2, nthreads


def apply(data, groupdq, pixeldq, reference, *, readpatt, subarray, detector="MIRIMAGE",
          nints=None, integration_start=1, substrt2=1, method="auto", threads=None,
          previous=None):
    """Apply the RSCD correction to ramp arrays, in place.

    Parameters
    ----------
    data : numpy.ndarray, float32, shape (nints, ngroups, nrows, ncols)
        SCI in DN, little- or big-endian (a memory-mapped FITS cube is corrected where
        it lies, in its own byte order). Changed by ``decay`` only.
    groupdq : numpy.ndarray, uint8, shape (nints, ngroups, nrows, ncols)
        GROUPDQ bit flags. ``flag`` ORs DO_NOT_USE (1) in; other bits are kept.
    pixeldq : numpy.ndarray, uint32 (native), shape (nrows, ncols)
        PIXELDQ bit flags. ``flag`` ORs FLUX_ESTIMATED (2**28) into backed-off pixels.
    reference : str, os.PathLike or Reference
        The RSCD reference file, or one parsed by :func:`rscd.read_reference`.
    readpatt, subarray : str
        READPATT and SUBARRAY of the exposure, matched against the reference table.
    detector : str
        DETECTOR; anything not starting with "MIR" is skipped.
    nints : int, optional
        Integrations in the whole exposure (NINTS); default ``integration_start - 1
        + data.shape[0]``.
    integration_start : int
        1-based exposure number of the first integration in these arrays (INTSTART).
    substrt2 : int
        1-based detector row of array row 0 (SUBSTRT2), for the decay row parity.
    method : {"auto", "flag", "decay"}
        "auto" picks "flag" when the reference has RSCD_GROUP_SKIP, else "decay".
    threads : int, optional
        OpenMP threads for the C core (default: OpenMP's). Results do not depend on it.
    previous : tuple of two arrays, optional
        ``decay`` of a segment: SCI (float32) and GROUPDQ (uint8), shape (ngroups,
        nrows, ncols), of the last integration of the previous segment, uncorrected.
        Without it the first integration of a segment (integration_start > 1) is left.

    Returns
    -------
    Result
        status, method, reason and statistics. The arrays are modified in place.

    Raises
    ------
    TypeError
        Wrong dtype or argument type.
    ValueError
        Wrong ndim, shapes that disagree, read-only or non-contiguous arrays, bad
        exposure numbers or method.
    ReferenceFileError
        The reference file is malformed or lacks the table the method needs.

    Warns
    -----
    RSCDWarning
        No reference row for READPATT/SUBARRAY (then SKIPPED), a reference of the
        deprecated form, a reference for another detector.

    Examples
    --------
    >>> import numpy as np, rscd
    >>> ref = rscd.Reference(name="r", skip_rows=(rscd.SkipRow("FULL", "FAST", 1, 3),))
    >>> data = np.zeros((2, 8, 4, 5), np.float32)      # (nints, ngroups, nrows, ncols), DN
    >>> groupdq = np.zeros(data.shape, np.uint8)
    >>> pixeldq = np.zeros((4, 5), np.uint32)
    >>> res = rscd.apply(data, groupdq, pixeldq, ref, readpatt="FAST", subarray="FULL")
    >>> res.status, res.ngroups_skip_int1, res.ngroups_skip_int2p
    ('COMPLETE', 1, 3)
    >>> groupdq[1, :, 0, 0].tolist()                     # DO_NOT_USE = 1, set in place
    [1, 1, 1, 0, 0, 0, 0, 0]
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    _check_array(groupdq, "groupdq", np.uint8, 4)
    _check_array(pixeldq, "pixeldq", np.uint32, 2)
    _check_array(data, "data", np.float32, 4, writeable=False, any_byteorder=True)
    check_shapes(data.shape, groupdq.shape, pixeldq.shape)
    nints, integration_start, substrt2, nthreads = exposure_numbers(
        groupdq.shape[0], nints, integration_start, substrt2, threads)

    if not str(detector).upper().startswith("MIR"):
        log.warning("RSCD correction is only for MIRI data: %s skipped", detector)
        return Result("SKIPPED", reason=f"only for MIRI data (DETECTOR={detector})")

    ref = _as_reference(reference)
    chosen = ref.default_method() if method == "auto" else method
    if ref.detector and str(ref.detector).upper() not in ("ANY", "N/A") \
            and ref.detector.upper() != str(detector).upper():
        warnings.warn(f"reference file {ref.name} is for DETECTOR={ref.detector}, "
                      f"the data are from {detector}", RSCDWarning, stacklevel=2)
    row = ref.lookup(readpatt, subarray, chosen)
    if row is None:
        reason = (f"READPATT={readpatt}, SUBARRAY={subarray} not found in reference file "
                  f"{ref.name}")
        warnings.warn(reason + ": RSCD correction skipped", RSCDWarning, stacklevel=2)
        return Result("SKIPPED", method=chosen, reason=reason, reference=ref.name)

    if chosen == "flag":
        return _apply_flag(groupdq, pixeldq, row, ref, integration_start, nints, nthreads)
    _check_array(data, "data", np.float32, 4, any_byteorder=True)
    return _apply_decay(data, groupdq, pixeldq, row, ref, integration_start, nints, substrt2,
                        previous, nthreads)


def _skip_value(value, name, ref):
    """A SkipRow count as the C core takes it. Counts beyond MAX_INDEX behave as
    MAX_INDEX (rule 4 lowers both to ngroups - 3), so clamping keeps the result and
    keeps hand-made References from overflowing the wrapper."""
    if value is None and name == "skip_int1":
        return -1
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"reference {ref.name}: SkipRow.{name} must be an integer, "
                        f"not {type(value).__name__}")
    return max(-1, min(int(value), MAX_INDEX))


def _apply_flag(groupdq, pixeldq, row, ref, integration_start, nints, nthreads):
    skip1 = _skip_value(row.skip_int1, "skip_int1", ref)
    skip2p = _skip_value(row.skip_int2p, "skip_int2p", ref)
    if skip1 < 0:
        warnings.warn(f"RSCD reference file {ref.name} is of a deprecated form without "
                      "group_skip1: 1 group flagged in integration 1", RSCDWarning, stacklevel=3)
    status, stats = _core.flag(groupdq, pixeldq, skip1, skip2p,
                               integration_start, nints, nthreads)
    if status == _core.Status.RSCD_SKIP_FEW_GROUPS:
        return Result("SKIPPED", method="flag", reference=ref.name,
                      reason=f"too few groups ({groupdq.shape[1]} < 3)")
    values = {k: (None if stats[k] < 0 else int(stats[k])) for k in STAT_KEYWORDS}
    return Result("COMPLETE", method="flag", reference=ref.name, **values)


def _native_view(data):
    """The same bytes as a native-dtype flat array, so a memoryview accepts them."""
    return data.reshape(-1).view(data.dtype.newbyteorder("="))


def _previous_arrays(previous, shape):
    """Checked native copies of one integration (small; the caller's arrays are only read)."""
    try:
        prev_data, prev_groupdq = previous
    except (TypeError, ValueError):
        raise TypeError("previous must be a pair (sci, groupdq) of the previous segment's "
                        "last integration") from None
    out = []
    for arr, name, dtype in ((prev_data, "previous sci", np.float32),
                             (prev_groupdq, "previous groupdq", np.uint8)):
        if not isinstance(arr, np.ndarray) or arr.dtype.newbyteorder("=") != np.dtype(dtype):
            raise TypeError(f"{name} must be a numpy.ndarray of {np.dtype(dtype).name}")
        if arr.shape != shape:
            raise ValueError(f"{name} has shape {arr.shape}; expected (ngroups, nrows, ncols) "
                             f"= {shape}")
        out.append(np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("=")))
    return out


def _apply_decay(data, groupdq, pixeldq, row, ref, integration_start, nints, substrt2,
                 previous, nthreads):
    prev_data = prev_groupdq = None
    if previous is not None:
        if integration_start == 1:
            raise ValueError("previous was given but integration_start is 1: the first "
                             "integration of an exposure has no previous integration")
        prev_data, prev_groupdq = _previous_arrays(previous, groupdq.shape[1:])
    status, stats = _core.decay(_native_view(data), not data.dtype.isnative, groupdq, pixeldq,
                                row.even.as_dict(), row.odd.as_dict(), integration_start,
                                nints, substrt2, prev_data, prev_groupdq, nthreads)
    if status == _core.Status.RSCD_SKIP_FEW_GROUPS:
        return Result("SKIPPED", method="decay", reference=ref.name,
                      reason=f"too few groups ({groupdq.shape[1]} < 4)")
    notes = []
    if status == _core.Status.RSCD_INFO_ONE_INT:
        notes.append("a single integration: nothing to correct")
    elif status == _core.Status.RSCD_INFO_FIRST_INT_LEFT:
        notes.append(f"integration {integration_start} (first of this segment) left "
                     "uncorrected: pass the previous segment's last integration to correct it")
    return Result("COMPLETE", method="decay", reference=ref.name,
                  nints_corrected=int(stats["nints_corrected"]),
                  npix_corrected=int(stats["npix_corrected"]),
                  npix_saturated=int(stats["npix_saturated"]),
                  npix_nonfinite=int(stats["npix_nonfinite"]),
                  first_int_left=bool(stats["first_int_left"]), notes=tuple(notes))
