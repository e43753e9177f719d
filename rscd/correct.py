"""The public array API: ``rscd.apply`` corrects ramp arrays in place."""
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple, Union, cast

import numpy as np

from . import _core
from ._renames import renamed_keywords
from .dq import JUMP_DET
from .reference import DecayRow, MeasuredModel, MeasuredRow, Reference, SkipRow, as_reference

__all__ = ["apply", "Result", "RSCDWarning", "NoReferenceRowWarning",
           "DeprecatedReferenceWarning", "METHODS", "flag_plan", "FlagPlan", "FlagRange",
           "is_miri", "skipped_not_miri"]

log = logging.getLogger("rscd")

METHODS = ("auto", "flag", "decay", "measured")

#: The keyword that names the method of a ``measured`` run (S_RSCD alone cannot say
#: which correction made a file COMPLETE; flag and decay keep the pipeline's keywords).
METHOD_KEYWORD = "RSCDMETH"

# Result field -> FITS keyword (docs/overview.rst, "Method flag", the statistics table; the
# names of the stdatamodels core schema).
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


class NoReferenceRowWarning(RSCDWarning):
    """No reference row for the exposure's READPATT/SUBARRAY: the correction is skipped."""


class DeprecatedReferenceWarning(RSCDWarning):
    """The reference table has no ``group_skip1`` column: 1 group is flagged in
    integration 1."""


#: How the ``reason`` of a Result skipped for too few groups begins.
TOO_FEW_GROUPS = "too few groups"


@dataclass(frozen=True)
class Result:
    """What ``apply`` did.

    ``status`` is "COMPLETE" or "SKIPPED" (the S_RSCD value), ``method`` "flag",
    "decay", "measured" or None, ``reason`` why it was skipped. The flag statistics are
    those jwst 3.0.0 stores in ``meta.rscd``; the decay and measured counts are of
    (integration, pixel) pairs. Fields that do not apply are None.
    """
    status: str
    method: Optional[str] = None
    reason: Optional[str] = None
    reference: Optional[str] = None
    ngroups_skip_int1: Optional[int] = None
    ngroups_skip_int2p: Optional[int] = None
    keep_bright_firstgroup_int1: Optional[int] = None
    keep_bright_firstgroup_int2p: Optional[int] = None
    keep_groups_saturation_int1: Optional[int] = None
    keep_groups_saturation_int2p: Optional[int] = None
    nints_corrected: Optional[int] = None
    npix_corrected: Optional[int] = None
    npix_saturated: Optional[int] = None
    npix_nonfinite: Optional[int] = None
    first_int_left: Optional[bool] = None
    notes: Tuple[str, ...] = ()
    #: ``measured``: (integration, pixel) ramps left for DO_NOT_USE or reference pixels,
    #: and for no usable group in the late window; group values left (saturated or not
    #: finite). Their notes say the same in words.
    npix_left_flagged: Optional[int] = None
    npix_left_no_slope: Optional[int] = None
    nvalues_left: Optional[int] = None

    def header_keywords(self) -> Dict[str, Union[str, int]]:
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
        out: Dict[str, Union[str, int]] = {"S_RSCD": self.status}
        if self.reference:
            out["R_RSCD"] = self.reference
        for name, key in STAT_KEYWORDS.items():
            value = getattr(self, name)
            if value is not None:
                out[key] = value
        if self.method == "measured" and self.status == "COMPLETE":
            out[METHOD_KEYWORD] = "measured"
        return out

    def summary(self) -> str:
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
        elif self.method == "measured":
            parts.append(f"{self.nints_corrected} integration(s) corrected, "
                         f"{self.npix_corrected} pixel ramps changed")
        parts.extend(self.notes)
        return head + (": " + "; ".join(parts) if parts else "")


def is_miri(detector: object) -> bool:
    """Whether DETECTOR (any case) is a MIRI detector's: the one test of the data the
    correction is for, shared by the array, model and file paths."""
    return str(detector).upper().startswith("MIR")


def skipped_not_miri(detector: object) -> Result:
    """The warning and the SKIPPED Result of data from another detector."""
    log.warning("RSCD correction is only for MIRI data: %s skipped", detector)
    return Result("SKIPPED", reason=f"only for MIRI data (DETECTOR={detector})")


def _check_array(arr: Any, name: str, dtype: Any, ndim: int,
                 any_byteorder: bool = False) -> None:
    """Exact checks with messages that name the array and say how to fix it (writeability:
    _check_writeable, once the method says which arrays are written)."""
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


def _check_writeable(arr: np.ndarray, name: str) -> None:
    if not arr.flags.writeable:
        raise ValueError(f"{name} is read-only; it is corrected in place, so pass a writeable "
                         "array (for a FITS file: fits.open(..., mode='update'))")


#: Upper bound of integration numbers and rows: far beyond any exposure, and small enough
#: that the C core's sums of them cannot overflow ptrdiff_t (larger values raised
#: OverflowError from the wrapper; issue 9).
MAX_INDEX = 2**31 - 1


def _positive_int(value: Any, name: str, minimum: Optional[int] = 1,
                  maximum: Optional[int] = MAX_INDEX) -> int:
    """An integer within [minimum, maximum] (None: unbounded), or a TypeError or
    ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, not {value}")
    return int(value)


def check_shapes(data_shape: Sequence[int], groupdq_shape: Sequence[int],
                 pixeldq_shape: Sequence[int], data_name: str = "data") -> None:
    """SCI and GROUPDQ (nints, ngroups, nrows, ncols), PIXELDQ (nrows, ncols): agree or
    raise ValueError saying which array has which shape."""
    if tuple(data_shape) != tuple(groupdq_shape):
        raise ValueError(f"{data_name} has shape {tuple(data_shape)} but groupdq "
                         f"{tuple(groupdq_shape)}; both must be (nints, ngroups, nrows, ncols)")
    if tuple(pixeldq_shape) != tuple(groupdq_shape[2:]):
        raise ValueError(f"pixeldq has shape {tuple(pixeldq_shape)}; expected (nrows, ncols) "
                         f"= {tuple(groupdq_shape[2:])} from groupdq {tuple(groupdq_shape)}")


def exposure_numbers(nints_file: int, nints: Optional[int], integration_start: int,
                     ystart: int, threads: Optional[int]) -> Tuple[int, int, int, int]:
    """Checked (nints, integration_start, ystart, nthreads) of an exposure whose
    arrays hold ``nints_file`` integrations; nthreads 0 (``threads`` None) lets the C
    core use every core (OpenMP's default).

    An ``nints`` smaller than the arrays' last integration (``integration_start - 1 +
    nints_file``) is used as given: jwst 3.0.0 corrects such files (its own TSO unit
    test builds one), and the flag rules only ask whether ``nints > 1``. It is logged,
    not warned: a Python warning would make pipelines that turn warnings into errors
    refuse what jwst corrects.
    """
    integration_start = _positive_int(integration_start, "integration_start")
    ystart = _positive_int(ystart, "ystart")
    least = integration_start - 1 + nints_file
    if nints is None:
        nints = least
    else:
        nints = _positive_int(nints, "nints", minimum=-MAX_INDEX)
        if nints < least:
            log.info("NINTS = %d is smaller than the last integration held (%d, from "
                     "INTSTART = %d and %d integration(s)); used as given, as the pipeline "
                     "does: only whether NINTS > 1 matters", nints, least, integration_start,
                     nints_file)
    nthreads = 0 if threads is None else _positive_int(threads, "threads")
    return nints, integration_start, ystart, nthreads


class FlagRange(NamedTuple):
    """One range of integrations flagged with one skip value (docs/overview.rst, "Method
    flag", rules 5-8): array indices ``int_first`` .. ``int_first + int_count - 1``,
    ``skip`` groups each (the arguments of the C core's ``rscd_flag_range_stop``)."""
    int_first: int
    int_count: int
    skip: int


@dataclass(frozen=True)
class FlagPlan:
    """What the ``flag`` method does to an exposure, decided from its numbers alone
    (:func:`flag_plan`). ``int1`` and ``int2p`` are None where that range does not run;
    their ``skip`` is the final INT1SKIP / INT2SKIP."""
    too_few_groups: bool
    deprecated_form: bool
    int1: Optional[FlagRange]
    int2p: Optional[FlagRange]


#: Largest value the C core's ptrdiff_t arguments take.
_PTRDIFF_MAX = int(np.iinfo(np.intp).max)


def _core_skips(skip_int1: Optional[int], skip_int2p: int) -> Tuple[int, int]:
    """The reference row's skips as the C core takes them: checked integers, None
    (no group_skip1 column) as -1; values beyond ptrdiff_t mean what its largest
    value does (the core clamps every skip to the groups there are)."""
    skip1 = -1 if skip_int1 is None else _positive_int(skip_int1, "skip_int1", None, None)
    skip2p = _positive_int(skip_int2p, "skip_int2p", 0, None)
    return max(-1, min(skip1, _PTRDIFF_MAX)), min(skip2p, _PTRDIFF_MAX)


def _core_nints(nints: int) -> int:
    """NINTS as the core's nints_exposure: used as given, but its 0 means "not
    given", and to the core every NINTS <= 1 means the same (one integration)."""
    return max(1, min(nints, _PTRDIFF_MAX))


def flag_plan(skip_int1: Optional[int], skip_int2p: int, *, ngroups: int, nints_file: int,
              nints: int, integration_start: int) -> FlagPlan:
    """The pipeline's skip rules: which integrations ``flag`` flags, with how many groups.

    Rules 1-6 of the ``flag`` method (docs/overview.rst, "Method flag") as the C core
    decides them (``rscd_flag_plan_make``, the rules :func:`apply` runs):
    :func:`rscd.dask.apply` hands each range to the core's back-off block by block.

    Parameters
    ----------
    skip_int1 : int or None
        ``group_skip1`` of the reference row; negative or None: the deprecated form
        without that column (1 is used).
    skip_int2p : int
        ``group_skip`` of the reference row, >= 0.
    ngroups, nints_file : int
        Groups per integration and integrations held in the arrays.
    nints : int
        Integrations in the whole exposure (NINTS), used as given.
    integration_start : int
        1-based exposure number of the arrays' first integration (INTSTART).

    Returns
    -------
    FlagPlan

    Raises
    ------
    TypeError
        A count that is not an integer.
    ValueError
        ``skip_int2p`` < 0, a negative count, ``integration_start`` < 1.

    Examples
    --------
    >>> from rscd.correct import flag_plan
    >>> plan = flag_plan(2, 4, ngroups=10, nints_file=3, nints=3, integration_start=1)
    >>> plan.int1, plan.int2p
    (FlagRange(int_first=0, int_count=1, skip=2), FlagRange(int_first=1, int_count=2, skip=4))
    >>> flag_plan(2, 4, ngroups=10, nints_file=26, nints=26, integration_start=25).int2p
    FlagRange(int_first=0, int_count=26, skip=4)
    """
    skip1, skip2p = _core_skips(skip_int1, skip_int2p)
    shape = (_positive_int(nints_file, "nints_file", 0, None),
             _positive_int(ngroups, "ngroups", 0, None), 0, 0)
    start = _positive_int(integration_start, "integration_start")
    # Only the shapes are read: a frame of 0 x 0 pixels stands in for the arrays.
    _, plan = _core.flag_plan(np.empty(shape, np.uint8), np.empty((0, 0), np.uint32),
                              skip1, skip2p, start,
                              _core_nints(_positive_int(nints, "nints", None, None)))
    int1 = (FlagRange(plan["int1_first"], plan["int1_count"], plan["int1_skip"])
            if plan["has_int1"] else None)
    int2p = (FlagRange(plan["int2p_first"], plan["int2p_count"], plan["int2p_skip"])
             if plan["has_int2p"] else None)
    return FlagPlan(bool(plan["too_few_groups"]), bool(plan["no_skip1"]), int1, int2p)


#: An RSCD reference: a file path or one already read.
ReferenceLike = Union[str, "os.PathLike[str]", Reference]


@renamed_keywords(substrt2="ystart")
def apply(data: np.ndarray, groupdq: np.ndarray, pixeldq: np.ndarray,
          reference: ReferenceLike, *, readpatt: str, subarray: str,
          detector: str = "MIRIMAGE", nints: Optional[int] = None,
          integration_start: int = 1, ystart: int = 1, method: str = "auto",
          threads: Optional[int] = None,
          previous: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> Result:
    """Apply the RSCD correction to ramp arrays, in place.

    Parameters
    ----------
    data : numpy.ndarray, float32, shape (nints, ngroups, nrows, ncols)
        SCI in DN, little- or big-endian (a memory-mapped FITS cube is corrected where
        it lies, in its own byte order). Changed by ``decay`` only, so it may be
        read-only for ``flag``.
    groupdq : numpy.ndarray, uint8, shape (nints, ngroups, nrows, ncols)
        GROUPDQ bit flags. ``flag`` ORs DO_NOT_USE (1) in; other bits are kept.
        Only read by ``decay`` (it may be read-only then).
    pixeldq : numpy.ndarray, uint32 (native), shape (nrows, ncols)
        PIXELDQ bit flags. ``flag`` ORs FLUX_ESTIMATED (2**28) into backed-off pixels.
        Only read by ``decay`` (it may be read-only then).
    reference : str, os.PathLike or Reference
        The RSCD reference file, or one parsed by :func:`rscd.read_reference`.
    readpatt, subarray : str
        READPATT and SUBARRAY of the exposure, matched against the reference table.
    detector : str
        DETECTOR; anything not starting with "MIR" is skipped.
    nints : int, optional
        Integrations in the whole exposure (NINTS); default ``integration_start - 1
        + data.shape[0]``. A smaller value is used as given, as the pipeline does
        (``flag`` only asks whether it is > 1), with a log line.
    integration_start : int
        1-based exposure number of the first integration in these arrays (INTSTART).
    ystart : int
        1-based detector row of array row 0 (the datamodel's ``meta.subarray.ystart``,
        FITS keyword SUBSTRT2), for the decay row parity. ``substrt2=`` is its old,
        deprecated name (DeprecationWarning).
    method : {"auto", "flag", "decay", "measured"}
        "auto" picks "flag" when the reference has RSCD_GROUP_SKIP, else "decay" when it
        has RSCD, else "measured" (RSCD_MEASURED only). "measured" subtracts the transient
        measured by ``rscd diagnose`` from every group (SCI changes, GROUPDQ does not).
    threads : int, optional
        Threads for the C core. None (the default) lets rscd choose: every core
        (OpenMP's default). Results do not depend on it.
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
        Wrong ndim, shapes that disagree, non-contiguous arrays, a read-only array the
        chosen method writes, bad exposure numbers or method.
    ReferenceFileError
        The reference file is malformed or lacks the table the method needs.

    Warns
    -----
    RSCDWarning
        No reference row for READPATT/SUBARRAY (then SKIPPED; NoReferenceRowWarning),
        a reference of the deprecated form (DeprecatedReferenceWarning), a reference
        for another detector.

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
    # Writeability is checked once the method is known: each needs only the arrays
    # it writes (flag: GROUPDQ and PIXELDQ; decay: SCI).
    _check_array(groupdq, "groupdq", np.uint8, 4)
    _check_array(pixeldq, "pixeldq", np.uint32, 2)
    _check_array(data, "data", np.float32, 4, any_byteorder=True)
    check_shapes(data.shape, groupdq.shape, pixeldq.shape)
    nints, integration_start, ystart, nthreads = exposure_numbers(
        groupdq.shape[0], nints, integration_start, ystart, threads)

    if not is_miri(detector):
        return skipped_not_miri(detector)

    ref = as_reference(reference)
    chosen = ref.default_method() if method == "auto" else method
    if chosen == "flag":
        _check_writeable(groupdq, "groupdq")
        _check_writeable(pixeldq, "pixeldq")
    else:
        _check_writeable(data, "data")
    if ref.detector and str(ref.detector).upper() not in ("ANY", "N/A") \
            and ref.detector.upper() != str(detector).upper():
        warnings.warn(f"reference file {ref.name} is for DETECTOR={ref.detector}, "
                      f"the data are from {detector}", RSCDWarning, stacklevel=2)
    row = ref.lookup(readpatt, subarray, chosen)
    if row is None:
        shown = readpatt if str(readpatt).strip() else "'' (no READPATT in the data)"
        reason = (f"READPATT={shown}, SUBARRAY={subarray} not found in reference file "
                  f"{ref.name}")
        warnings.warn(reason + ": RSCD correction skipped", NoReferenceRowWarning,
                      stacklevel=2)
        return Result("SKIPPED", method=chosen, reason=reason, reference=ref.name)

    if chosen == "measured":
        assert isinstance(row, MeasuredModel)
        return _apply_measured(data, groupdq, pixeldq, row, ref, integration_start, ystart,
                               nthreads)
    if chosen == "flag":
        assert isinstance(row, SkipRow)
        return _apply_flag(groupdq, pixeldq, row, ref, integration_start, nints, nthreads)
    assert isinstance(row, DecayRow)
    return _apply_decay(data, groupdq, pixeldq, row, ref, integration_start, nints, ystart,
                        previous, nthreads)


def _apply_flag(groupdq: np.ndarray, pixeldq: np.ndarray, row: SkipRow, ref: Reference,
                integration_start: int, nints: int, nthreads: int) -> Result:
    skips = _core_skips(row.skip_int1, row.skip_int2p)
    nints_core = _core_nints(nints)
    # The core's plan reads only the shapes: its warning is given before anything is
    # written (a warning turned into an error leaves the arrays as they were).
    _, plan = _core.flag_plan(groupdq, pixeldq, *skips, integration_start, nints_core)
    if plan["no_skip1"]:
        warnings.warn(f"RSCD reference file {ref.name} is of a deprecated form without "
                      "group_skip1: 1 group flagged in integration 1",
                      DeprecatedReferenceWarning, stacklevel=3)
    if plan["too_few_groups"]:
        return Result("SKIPPED", method="flag", reference=ref.name,
                      reason=f"{TOO_FEW_GROUPS} ({groupdq.shape[1]} < "
                             f"{_core.FLAG_MIN_GROUPS})")
    # One pass of the core over both ranges; it checks them both before writing.
    _, stats = _core.flag(groupdq, pixeldq, *skips, integration_start, nints_core, nthreads)
    counts = cast(Dict[str, int], stats)       # -1 where a rule did not run
    values: Dict[str, Any] = {name: value for name, value in counts.items() if value >= 0}
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


def _apply_decay(data, groupdq, pixeldq, row, ref, integration_start, nints, ystart,
                 previous, nthreads):
    # GROUPDQ and PIXELDQ may be read-only: the adapter reads them through const
    # memoryviews, without a copy.
    prev_data = prev_groupdq = None
    if previous is not None:
        if integration_start == 1:
            raise ValueError("previous was given but integration_start is 1: the first "
                             "integration of an exposure has no previous integration")
        prev_data, prev_groupdq = _previous_arrays(previous, groupdq.shape[1:])
    status, stats = _core.decay(_native_view(data), not data.dtype.isnative, groupdq, pixeldq,
                                row.even.as_dict(), row.odd.as_dict(), integration_start,
                                _core_nints(nints), ystart, prev_data, prev_groupdq, nthreads)
    if status == _core.Status.RSCD_SKIP_FEW_GROUPS:
        return Result("SKIPPED", method="decay", reference=ref.name,
                      reason=f"{TOO_FEW_GROUPS} ({groupdq.shape[1]} < "
                             f"{_core.DECAY_MIN_GROUPS})")
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


def _model_args(row: Optional[MeasuredRow]):
    if row is None:
        return None
    return (np.asarray(row.a, dtype=np.float64), np.asarray(row.b, dtype=np.float64),
            row.window_start)


def _apply_measured(data, groupdq, pixeldq, model, ref, integration_start, ystart, nthreads):
    """Subtract the measured transient (docs/overview.rst, "Method measured"); GROUPDQ and
    PIXELDQ are only read (they may be read-only)."""
    status, stats = _core.measured(
        _native_view(data), not data.dtype.isnative, groupdq, pixeldq,
        (_model_args(model.int1_even), _model_args(model.int1_odd)),
        (_model_args(model.int2p_even), _model_args(model.int2p_odd)),
        integration_start, ystart, JUMP_DET, nthreads)
    if status == _core.Status.RSCD_SKIP_FEW_GROUPS:
        return Result("SKIPPED", method="measured", reference=ref.name,
                      reason=f"{TOO_FEW_GROUPS} ({groupdq.shape[1]}): the model's late window "
                      "needs at least two groups before the last one")
    notes = []
    if integration_start == 1 and groupdq.shape[0] and model.int1_even is None:
        notes.append(f"integration 1 left uncorrected: {ref.name} has no INTEGRATION = 1 "
                     f"rows for {model.readpatt}/{model.subarray}")
    if groupdq.shape[0] > (integration_start == 1) and model.int2p_even is None:
        notes.append(f"integrations 2+ left uncorrected: {ref.name} has no INTEGRATION = 2+ "
                     f"rows for {model.readpatt}/{model.subarray}")
    left = dict(npix_left_flagged=int(stats["npix_flagged"]),
                npix_left_no_slope=int(stats["npix_no_slope"]),
                nvalues_left=int(stats["nvalues_left"]))
    return Result("COMPLETE", method="measured", reference=ref.name,
                  nints_corrected=int(stats["nints_corrected"]),
                  npix_corrected=int(stats["npix_corrected"]),
                  notes=tuple(notes) + measured_left_notes(**left), **left)


def measured_left_notes(npix_left_flagged: int, npix_left_no_slope: int,
                        nvalues_left: int) -> Tuple[str, ...]:
    """The notes of a ``measured`` Result for what it left alone (counts that are 0 say
    nothing); :mod:`rscd.dask` writes them from the counts summed over its blocks."""
    return tuple(f"{count} {text}" for count, text in (
        (npix_left_flagged, "pixel ramps left: DO_NOT_USE or reference pixel"),
        (npix_left_no_slope, "pixel ramps left: no usable group in the late window"),
        (nvalues_left, "group values left: saturated or not finite")) if count)
