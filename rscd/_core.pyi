"""Type stub of the compiled module ``rscd._core`` (rscd/_core.pyx over csrc/rscd.h).

Private: use :func:`rscd.apply`. Arrays must already have the exact dtype, shape and
C-contiguity named here (``rscd.correct`` checks them with friendly messages first).
"""
import enum
from typing import Any, Optional, TypedDict, type_check_only

import numpy as np
import numpy.typing as npt

__test__: dict[str, str]

VERSION: str
"""``rscd_version()``: "MAJOR.MINOR.PATCH" from RSCD_VERSION_* in csrc/rscd.h."""

use_vector: bool
"""``rscd_params.use_vector`` of every call: False when the environment variable
RSCD_NO_VECTOR was set (not empty, not "0") at import; the core then runs only its
portable C (same results)."""

class RSCDError(ValueError):
    """The C core refused its arguments (the message says why)."""

class rscd_status(enum.IntEnum):
    RSCD_OK = 0
    RSCD_SKIP_FEW_GROUPS = 1
    RSCD_WARN_NO_SKIP1 = 2
    RSCD_INFO_ONE_INT = 3
    RSCD_INFO_FIRST_INT_LEFT = 4
    RSCD_ERR_NULL = -1
    RSCD_ERR_DIMS = -2
    RSCD_ERR_RANGE = -3
    RSCD_ERR_SKIP = -4
    RSCD_ERR_COEFFS = -5
    RSCD_ERR_NOMEM = -6
    RSCD_ERR_BYTEORDER = -7
    RSCD_ERR_PARAMS = -8
    RSCD_ERR_STRUCT = -9
    RSCD_ERR_MODEL = -10

Status = rscd_status

class rscd_byteorder(enum.IntEnum):
    RSCD_NATIVE = 0
    RSCD_SWAPPED = 1

@type_check_only
class FlagStats(TypedDict):
    """``rscd_flag_stats``; -1 where a rule did not run."""
    ngroups_skip_int1: int
    ngroups_skip_int2p: int
    keep_bright_firstgroup_int1: int
    keep_bright_firstgroup_int2p: int
    keep_groups_saturation_int1: int
    keep_groups_saturation_int2p: int

@type_check_only
class DecayStats(TypedDict):
    """``rscd_decay_stats``: counts of (integration, pixel) pairs."""
    nints_corrected: int
    first_int_left: int
    npix_corrected: int
    npix_saturated: int
    npix_nonfinite: int

@type_check_only
class DecayCoeffsDict(TypedDict):
    """The 14 decay parameters of one row parity (``rscd.DecayCoeffs.as_dict()``)."""
    tau: float
    ascale: float
    pow: float
    illum_zp: float
    illum_slope: float
    illum2: float
    param3: float
    crossopt: float
    sat_zp: float
    sat_slope: float
    sat_2: float
    sat_mzp: float
    sat_rowterm: float
    sat_scale: float

def strerror(status: int) -> str:
    """The C core's message for a status code (``rscd_strerror``)."""

def flag(
    groupdq: npt.NDArray[np.uint8],
    pixeldq: npt.NDArray[np.uint32],
    skip_int1: int,
    skip_int2p: int,
    integration_start: int = 1,
    nints_exposure: int = 0,
    nthreads: int = 0,
) -> tuple[int, FlagStats]:
    """``rscd_flag`` on groupdq (nints, ngroups, nrows, ncols) and pixeldq (nrows, ncols),
    both C-contiguous and writeable; returns (status, statistics)."""

def flag_range_stop(
    groupdq: npt.NDArray[np.uint8],
    pixeldq: npt.NDArray[np.uint32],
    int_first: int,
    int_count: int,
    skip: int,
    stop: int,
    nthreads: int = 0,
) -> tuple[int, int]:
    """``rscd_flag_range_stop`` (back-off stop level given); returns (backed_off, one_group)."""

def decay(
    data_flat: npt.NDArray[np.float32],
    data_swapped: bool,
    groupdq: npt.NDArray[np.uint8],
    pixeldq: npt.NDArray[np.uint32],
    even: DecayCoeffsDict,
    odd: DecayCoeffsDict,
    integration_start: int = 1,
    nints_exposure: int = 0,
    first_row: int = 1,
    prev_data: Optional[npt.NDArray[np.float32]] = None,
    prev_groupdq: Optional[npt.NDArray[np.uint8]] = None,
    nthreads: int = 0,
) -> tuple[int, DecayStats]:
    """``rscd_decay`` on SCI given as a flat native-dtype view of the caller's bytes
    (``data_swapped``: those bytes are in the opposite byte order); returns
    (status, statistics)."""

# ---- plan ----
FLAG_MIN_GROUPS: int
"""``RSCD_FLAG_MIN_GROUPS``: fewest groups ``rscd_flag`` works on (rule 2)."""
DECAY_MIN_GROUPS: int
"""``RSCD_DECAY_MIN_GROUPS``: fewest groups ``rscd_decay`` works on."""

@type_check_only
class FlagPlanDict(TypedDict):
    """``rscd_flag_plan``: rules 1-6 of the flag method (docs/overview.rst)."""
    no_skip1: int
    too_few_groups: int
    has_int1: int
    int1_first: int
    int1_count: int
    int1_skip: int
    has_int2p: int
    int2p_first: int
    int2p_count: int
    int2p_skip: int

def flag_plan(
    groupdq: npt.NDArray[np.uint8],
    pixeldq: npt.NDArray[np.uint32],
    skip_int1: int,
    skip_int2p: int,
    integration_start: int = 1,
    nints_exposure: int = 0,
) -> tuple[int, FlagPlanDict]:
    """``rscd_flag_plan_make`` for arrays of these shapes (only the shapes are read);
    returns (status, plan)."""

def flag_problem_levels(
    groupdq: npt.NDArray[np.uint8],
    pixeldq: npt.NDArray[np.uint32],
    int_first: int,
    int_count: int,
    skip: int,
    nthreads: int = 0,
) -> bytes:
    """``rscd_flag_problem_levels`` of one block: skip + 1 flags (1: level index + 1
    has a problem)."""

def flag_stop_level(problem: npt.NDArray[np.uint8], skip: int) -> int:
    """``rscd_flag_stop_level``: the back-off stop from the ORed problem flags."""
# ---- end of plan ----

# ---- diagnose ----

def diagnose_block(
    sci_flat: npt.NDArray[np.float32],
    sci_swapped: bool,
    groupdq_flat: npt.NDArray[np.uint8],
    pixeldq: npt.NDArray[np.uint32],
    ngroups: int,
    row_first: int,
    row_count: int,
    ystart: int,
    window_start: int,
    halves: bool,
    stripes: int,
    clips: tuple[Any, Any] = (None, None),
    slope_sum: Optional[npt.NDArray[np.float64]] = None,
    slope_count: Optional[npt.NDArray[np.float64]] = None,
    sums: Optional[npt.NDArray[np.float64]] = None,
    slope_hist: Optional[npt.NDArray[np.int64]] = None,
    slope_span: float = 16.0,
    slope_unit: float = 1.0,
    pixel_slope_sum: Optional[npt.NDArray[np.float64]] = None,
    pixel_slope_count: Optional[npt.NDArray[np.float64]] = None,
    nthreads: int = 0,
    data_row_first: int = 0,
    plane_stride: int = 0,
    sample_ok: Optional[npt.NDArray[np.uint8]] = None,
    sample_ok_out: Optional[npt.NDArray[np.uint8]] = None,
    samples_out: Optional[npt.NDArray[np.float64]] = None,
) -> int:
    """``rscd_diagnose_block`` on rows of one integration (SCI as a flat native-dtype
    view, ``sci_swapped``: stored in the opposite byte order); returns the samples
    used. ``sample_ok_out`` (slopes pass) gets each sample's verdict; given as
    ``sample_ok`` to the sums pass of the same rows, GROUPDQ is not read.
    ``samples_out`` (sums pass, ``window_start + 3`` planes of ``row_count x nx``) gets
    each sample's u, z and offsets before the cut, u NaN where it is not used."""

def median_mad(
    rows: npt.NDArray[np.float64], with_mad: bool = True,
) -> tuple[npt.NDArray[np.float64], Optional[npt.NDArray[np.float64]]]:
    """``rscd_median_mad`` on each row of a C-contiguous float64 (rows, n) array, n >=
    1: (median, median absolute deviation), numpy.median's values (mad None without
    ``with_mad``)."""

# ---- end of diagnose ----

# ---- measured ----

ERR_MODEL: int
"""``RSCD_ERR_MODEL``: rscd_measured refused a malformed model."""

@type_check_only
class MeasuredStats(TypedDict):
    """``rscd_measured_stats``: counts of (integration, pixel) pairs, and of values."""
    nints_corrected: int
    npix_corrected: int
    npix_flagged: int
    npix_no_slope: int
    nvalues_left: int

def measured(
    data_flat: npt.NDArray[np.float32],
    data_swapped: bool,
    groupdq: npt.NDArray[np.uint8],
    pixeldq: npt.NDArray[np.uint32],
    int1: tuple[Optional[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]],
                Optional[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]]],
    int2p: tuple[Optional[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]],
                 Optional[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]]],
    integration_start: int = 1,
    first_row: int = 1,
    dq_jump_det: int = 4,
    nthreads: int = 0,
) -> tuple[int, MeasuredStats]:
    """``rscd_measured`` on SCI given as a flat native-dtype view of the caller's bytes;
    ``int1``/``int2p``: (even, odd) models, each None or (a, b, window_start_0based);
    returns (status, statistics)."""

# ---- end of measured ----

# ---- shell ----

def fits_walk(data: Any) -> int:
    """``rscd_fits_walk`` on the bytes of a FITS file (any C-contiguous buffer of
    bytes: bytes, an mmap): the HDUs walked; raises
    ValueError (naming the HDU and the card) where a header would send astropy into
    an endless loop or past the end of the file."""

def fits_walk_file(file: Any, size: int) -> int:
    """``rscd_fits_walk_read`` on an open binary file of ``size`` bytes, read block by
    block (only the headers); as :func:`fits_walk`, and a read's exception is raised."""

# ---- end of shell ----
