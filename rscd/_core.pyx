# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: freethreading_compatible=True
"""Thin adapter over csrc/rscd.h: fills the C structs, releases the GIL around
one C call, and maps the status code. Argument checks with friendly messages
happen in rscd.correct before these functions are called; the C core checks
again and never writes before its checks pass.

The core cannot know how long a buffer is, so this module, which is importable
on its own, checks every buffer it hands over: dtype, C-contiguity and
writability through the typed memoryviews of the signatures, and the shape of
each against GROUPDQ's (nints, ngroups, nrows, ncols) below. Only the buffers a
call writes must be writeable: decay reads GROUPDQ and PIXELDQ through const
memoryviews, so read-only ones (a file mapped read-only) are accepted."""

from libc.stddef cimport ptrdiff_t
from libc.stdint cimport int64_t, uint8_t, uint32_t

# Stands in for the pointer of a zero-sized array: the core never reads it.
cdef uint8_t _empty_u8[1]
cdef uint32_t _empty_u32[1]
cdef float _empty_f4[1]

VERSION = rscd_version().decode()


cdef bint _vector_allowed_by_environment():
    import os  # here, not at module level: the module's names are its API (_core.pyi)
    return os.environ.get("RSCD_NO_VECTOR", "") in ("", "0")


# Whether the core may run its AVX2 code (rscd_params.use_vector). The
# environment variable RSCD_NO_VECTOR (set, not empty, not "0") turns it off;
# it is read once, here, at import, never by the core. Results are the same
# either way; the tests set this attribute to run both paths.
use_vector = _vector_allowed_by_environment()


class RSCDError(ValueError):
    """The C core refused its arguments (the message says why)."""


cdef int _check(int status) except -1:
    if status == RSCD_ERR_NOMEM:
        raise MemoryError(rscd_strerror(status).decode())
    if status < 0:
        raise RSCDError(rscd_strerror(status).decode())
    return status


def strerror(int status):
    """The C core's message for a status code."""
    return rscd_strerror(status).decode()


# The const in these signatures only lets read-only buffers through to the calls that
# read them (decay); the calls that write a buffer take it non-const, so their
# memoryviews refuse read-only ones, and rscd_ramp's pointers are not const.
cdef uint8_t *_u8(const uint8_t[:, :, :, ::1] a):
    return <uint8_t *>&a[0, 0, 0, 0] if a.size else _empty_u8


cdef uint32_t *_u32(const uint32_t[:, ::1] a):
    return <uint32_t *>&a[0, 0] if a.size else _empty_u32


cdef int _fill_ramp(rscd_ramp *r, const uint8_t[:, :, :, ::1] groupdq,
                    const uint32_t[:, ::1] pixeldq,
                    ptrdiff_t integration_start, ptrdiff_t nints_exposure,
                    ptrdiff_t first_row) except -1:
    # The core indexes PIXELDQ with GROUPDQ's frame: a smaller array would be
    # written past its end.
    if pixeldq.shape[0] != groupdq.shape[2] or pixeldq.shape[1] != groupdq.shape[3]:
        raise ValueError("PIXELDQ has shape (%d, %d); expected (%d, %d), the frame of GROUPDQ"
                         % (pixeldq.shape[0], pixeldq.shape[1], groupdq.shape[2],
                            groupdq.shape[3]))
    _check(rscd_ramp_init(r, sizeof(rscd_ramp)))   # the ABI rule of rscd.h
    r.groupdq = _u8(groupdq)
    r.pixeldq = _u32(pixeldq)
    r.nints = groupdq.shape[0]
    r.ngroups = groupdq.shape[1]
    r.nrows = groupdq.shape[2]
    r.ncols = groupdq.shape[3]
    r.integration_start = integration_start
    r.nints_exposure = nints_exposure
    r.first_row = first_row
    return 0


cdef int _fill_data(rscd_ramp *r, float[::1] data_flat, bint data_swapped,
                    const uint8_t[:, :, :, ::1] groupdq) except -1:
    # SCI as a flat native-dtype view of the caller's bytes, one value per GROUPDQ byte;
    # data_swapped: those bytes are in the opposite byte order.
    if data_flat.shape[0] != groupdq.size:
        raise ValueError("SCI has %d values, GROUPDQ %d" % (data_flat.shape[0], groupdq.size))
    r.data = &data_flat[0] if data_flat.shape[0] else _empty_f4
    r.data_byteorder = RSCD_SWAPPED if data_swapped else RSCD_NATIVE
    return 0


cdef int _fill_params(rscd_params *p, int nthreads) except -1:
    _check(rscd_params_init(p, sizeof(rscd_params)))
    p.nthreads = nthreads
    p.use_vector = 1 if use_vector else 0
    return 0


cdef dict _fields(dict struct):
    # A C struct as the dict of its fields, without the struct_size of the ABI rule.
    del struct["struct_size"]
    return struct


def flag(uint8_t[:, :, :, ::1] groupdq, uint32_t[:, ::1] pixeldq, ptrdiff_t skip_int1,
         ptrdiff_t skip_int2p, ptrdiff_t integration_start=1, ptrdiff_t nints_exposure=0,
         int nthreads=0):
    """Run rscd_flag; returns (status, dict of the six statistics, -1 where unset)."""
    cdef rscd_ramp ramp
    cdef rscd_params params
    cdef rscd_flag_stats stats
    cdef int status
    _fill_ramp(&ramp, groupdq, pixeldq, integration_start, nints_exposure, 1)
    _fill_params(&params, nthreads)
    _check(rscd_flag_stats_init(&stats, sizeof(stats)))
    with nogil:
        status = rscd_flag(&ramp, skip_int1, skip_int2p, &params, &stats)
    _check(status)
    return status, _fields(stats)


cdef rscd_decay_coeffs _coeffs(dict c) except *:
    # The 14 parameters by name (DecayCoeffs.as_dict()); Cython fills the struct from
    # the dict, field by field, after the init of the ABI rule.
    cdef rscd_decay_coeffs out
    _check(rscd_decay_coeffs_init(&out, sizeof(out)))
    out = dict(c, struct_size=out.struct_size)
    return out


def decay(float[::1] data_flat, bint data_swapped, const uint8_t[:, :, :, ::1] groupdq,
          const uint32_t[:, ::1] pixeldq, dict even, dict odd, ptrdiff_t integration_start=1,
          ptrdiff_t nints_exposure=0, ptrdiff_t first_row=1,
          const float[:, :, ::1] prev_data=None, const uint8_t[:, :, ::1] prev_groupdq=None,
          int nthreads=0):
    """Run rscd_decay on SCI given as a flat native-dtype view of the caller's bytes.

    data_swapped tells the core those bytes are in the opposite byte order.
    Returns (status, stats)."""
    cdef rscd_ramp ramp
    cdef rscd_params params
    cdef rscd_decay_coeffs c_even = _coeffs(even), c_odd = _coeffs(odd)
    cdef rscd_prev_int prev
    cdef rscd_prev_int *prev_ptr = NULL
    cdef rscd_decay_stats stats
    cdef int status
    _fill_ramp(&ramp, groupdq, pixeldq, integration_start, nints_exposure, first_row)
    _fill_data(&ramp, data_flat, data_swapped, groupdq)
    if (prev_data is None) != (prev_groupdq is None):
        raise ValueError("the previous integration needs both SCI and GROUPDQ")
    if prev_data is not None:
        want = (ramp.ngroups, ramp.nrows, ramp.ncols)
        for name, shape in (("SCI", (prev_data.shape[0], prev_data.shape[1],
                                     prev_data.shape[2])),
                            ("GROUPDQ", (prev_groupdq.shape[0], prev_groupdq.shape[1],
                                         prev_groupdq.shape[2]))):
            if shape != want:
                raise ValueError("the previous integration's %s has shape %s; expected %s, "
                                 "(ngroups, nrows, ncols) of GROUPDQ" % (name, shape, want))
        _check(rscd_prev_int_init(&prev, sizeof(prev)))
        prev.data = &prev_data[0, 0, 0] if prev_data.size else _empty_f4
        prev.groupdq = &prev_groupdq[0, 0, 0] if prev_groupdq.size else _empty_u8
        prev_ptr = &prev
    _fill_params(&params, nthreads)
    _check(rscd_decay_stats_init(&stats, sizeof(stats)))
    with nogil:
        status = rscd_decay(&ramp, &c_even, &c_odd, prev_ptr, &params, &stats)
    _check(status)
    return status, _fields(stats)



def flag_range_stop(uint8_t[:, :, :, ::1] groupdq, uint32_t[:, ::1] pixeldq,
                    ptrdiff_t int_first, ptrdiff_t int_count, ptrdiff_t skip, ptrdiff_t stop,
                    int nthreads=0):
    """Run rscd_flag_range_stop (back-off stop level given); returns (backed_off, one_group)."""
    cdef rscd_ramp ramp
    cdef rscd_params params
    cdef ptrdiff_t backed_off = 0, one_group = 0
    cdef int status
    _fill_ramp(&ramp, groupdq, pixeldq, 1, 0, 1)
    _fill_params(&params, nthreads)
    with nogil:
        status = rscd_flag_range_stop(&ramp, int_first, int_count, skip, stop, &params,
                                      &backed_off, &one_group)
    _check(status)
    return backed_off, one_group


Status = rscd_status

# ---- plan ----
FLAG_MIN_GROUPS = RSCD_FLAG_MIN_GROUPS
DECAY_MIN_GROUPS = RSCD_DECAY_MIN_GROUPS


def flag_plan(const uint8_t[:, :, :, ::1] groupdq, const uint32_t[:, ::1] pixeldq,
              ptrdiff_t skip_int1, ptrdiff_t skip_int2p, ptrdiff_t integration_start=1,
              ptrdiff_t nints_exposure=0):
    """Run rscd_flag_plan_make (only the shapes of the arrays are used: a frame of
    0 x 0 pixels will do); returns (status, dict of the plan's fields)."""
    cdef rscd_ramp ramp
    cdef rscd_flag_plan plan
    cdef int status
    _fill_ramp(&ramp, groupdq, pixeldq, integration_start, nints_exposure, 1)
    _check(rscd_flag_plan_init(&plan, sizeof(plan)))
    status = rscd_flag_plan_make(&ramp, skip_int1, skip_int2p, &plan)
    _check(status)
    return status, _fields(plan)


def flag_problem_levels(const uint8_t[:, :, :, ::1] groupdq, const uint32_t[:, ::1] pixeldq,
                        ptrdiff_t int_first, ptrdiff_t int_count, ptrdiff_t skip,
                        int nthreads=0):
    """Run rscd_flag_problem_levels on these arrays (a block of pixels); returns bytes
    of skip + 1 flags, 1 where level L = index + 1 has a problem."""
    cdef rscd_ramp ramp
    cdef rscd_params params
    cdef int status
    if skip < 0 or skip > RSCD_MAX_SKIP:    # the core's own check, before the flags
        _check(RSCD_ERR_SKIP)               # are sized by skip
    cdef bytearray problem = bytearray(skip + 1)
    cdef uint8_t *out = problem
    _fill_ramp(&ramp, groupdq, pixeldq, 1, 0, 1)
    _fill_params(&params, nthreads)
    with nogil:
        status = rscd_flag_problem_levels(&ramp, int_first, int_count, skip, &params, out)
    _check(status)
    return bytes(problem)


def flag_stop_level(const uint8_t[::1] problem, ptrdiff_t skip):
    """rscd_flag_stop_level: the back-off stop from the problem flags of levels
    1 .. skip + 1 (the blocks' flags ORed together)."""
    if skip < 0 or problem.shape[0] != skip + 1:
        raise ValueError("%d problem flags for skip %d; expected skip + 1 = %d"
                         % (problem.shape[0], skip, skip + 1))
    return rscd_flag_stop_level(&problem[0], skip)
# ---- end of plan ----

# ---- diagnose ----

cdef int _fill_clip(rscd_diag_clip *c, table, ptrdiff_t nmeasured, list keep) except -1:
    """Point c at the arrays of a clip table (rscd.diagnose_measure.ClipTable); keep
    holds them while the core reads them."""
    import numpy as np
    arrays = [np.ascontiguousarray(getattr(table, name), dtype=dtype) for name, dtype in (
        ("edges", np.float64), ("bright", np.uint8), ("zmed", np.float64),
        ("u_c", np.float64), ("u_h", np.float64), ("o_c", np.float64),
        ("o_h", np.float64))]
    nbins = arrays[2].shape[0]
    if (nbins < 1 or arrays[0].shape[0] != nbins - 1
            or any(a.shape[0] != nbins for a in arrays[1:])
            or arrays[5].size != nbins * nmeasured or arrays[6].size != nbins * nmeasured):
        raise ValueError("clip table: inconsistent bin counts")
    keep.extend(arrays)
    cdef const double[::1] edges = arrays[0]
    cdef const unsigned char[::1] bright = arrays[1]
    cdef const double[::1] zmed = arrays[2], u_c = arrays[3], u_h = arrays[4]
    cdef const double[::1] o_c = arrays[5].reshape(-1), o_h = arrays[6].reshape(-1)
    _check(rscd_diag_clip_init(c, sizeof(rscd_diag_clip)))   # the ABI rule of rscd.h
    c.nbins = nbins
    c.edges = &edges[0] if nbins > 1 else NULL
    c.bright = &bright[0]
    c.zmed = &zmed[0]
    c.u_centre = &u_c[0]
    c.u_half = &u_h[0]
    c.o_centre = &o_c[0]
    c.o_half = &o_h[0]
    return 0


def diagnose_block(const float[::1] sci_flat, bint sci_swapped, const uint8_t[::1] groupdq_flat,
                   const uint32_t[:, ::1] pixeldq, ptrdiff_t ngroups, ptrdiff_t row_first,
                   ptrdiff_t row_count, ptrdiff_t ystart, ptrdiff_t window_start, bint halves,
                   ptrdiff_t stripes, clips=(None, None), const double[::1] slope_sum=None,
                   const double[::1] slope_count=None, double[::1] sums=None,
                   int64_t[::1] slope_hist=None, double slope_span=16.0,
                   double slope_unit=1.0, double[::1] pixel_slope_sum=None,
                   double[::1] pixel_slope_count=None, int nthreads=0,
                   ptrdiff_t data_row_first=0, ptrdiff_t plane_stride=0,
                   const uint8_t[::1] sample_ok=None, uint8_t[::1] sample_ok_out=None,
                   double[::1] samples_out=None):
    """Run rscd_diagnose_block on rows [row_first, row_first + row_count) of one
    integration: SCI as a flat native-dtype view of its (ngroups, ny, nx) bytes
    (sci_swapped: stored in the opposite byte order), GROUPDQ flat. sums None: the
    slopes pass (adds to pixel_slope_sum / pixel_slope_count). plane_stride > 0: SCI
    and GROUPDQ hold only rows data_row_first... of each group, plane_stride values
    apart (a block read from a file). sample_ok_out (slopes pass): row_count x nx bytes
    that get each sample's verdict (1: used); sample_ok (sums pass): those bytes, and
    GROUPDQ is then not read. samples_out (sums pass): window_start + 3 planes of
    row_count x nx doubles that get each sample's u, z and offsets before the cut (u
    NaN: not used). Returns the samples used."""
    cdef rscd_diag_block b
    cdef rscd_diag_out out
    cdef rscd_params params
    cdef rscd_diag_clip clip_c[2]
    cdef list keep = []
    cdef ptrdiff_t ny = pixeldq.shape[0], nx = pixeldq.shape[1]
    cdef ptrdiff_t nmeasured = window_start + 1
    cdef int status
    cdef ptrdiff_t held = plane_stride if plane_stride > 0 else ny * nx
    if plane_stride < 0 or (nx and plane_stride % nx) or (plane_stride == 0 and data_row_first):
        raise ValueError("plane_stride must be 0 (whole frames) or whole rows")
    if (sci_flat.shape[0] < ngroups * held or groupdq_flat.shape[0] < ngroups * held
            or (plane_stride == 0 and (sci_flat.shape[0] != ngroups * held
                                       or groupdq_flat.shape[0] != ngroups * held))):
        raise ValueError("SCI and GROUPDQ must hold ngroups x ny x nx values (or "
                         "ngroups x plane_stride)")
    if ((slope_sum is not None and slope_sum.shape[0] != ny * nx)
            or (slope_count is not None and slope_count.shape[0] != ny * nx)
            or (pixel_slope_sum is not None and pixel_slope_sum.shape[0] != ny * nx)
            or (pixel_slope_count is not None and pixel_slope_count.shape[0] != ny * nx)):
        raise ValueError("pixel slope arrays must hold ny x nx values")
    if sums is not None and sums.shape[0] != stripes * 2 * nmeasured * RSCD_DIAG_SUMS:
        raise ValueError("sums must hold stripes x 2 x (window_start + 1) x 6 values")
    if ((sample_ok is not None and sample_ok.shape[0] != row_count * nx)
            or (sample_ok_out is not None and sample_ok_out.shape[0] != row_count * nx)):
        raise ValueError("sample verdicts must hold row_count x nx bytes")
    if samples_out is not None and samples_out.shape[0] != row_count * nx * (nmeasured + 2):
        raise ValueError("samples_out must hold row_count x nx x (window_start + 3) values")
    _check(rscd_diag_block_init(&b, sizeof(b)))   # the ABI rule of rscd.h
    _check(rscd_diag_out_init(&out, sizeof(out)))
    b.sci = &sci_flat[0]
    b.sci_byteorder = RSCD_SWAPPED if sci_swapped else RSCD_NATIVE
    b.groupdq = &groupdq_flat[0]
    b.pixeldq = &pixeldq[0, 0]
    b.ngroups = ngroups
    b.ny = ny
    b.nx = nx
    b.row_first = row_first
    b.row_count = row_count
    b.ystart = ystart
    b.window_start = window_start
    b.halves = halves
    b.pixel_slope_sum = &slope_sum[0] if slope_sum is not None else NULL
    b.pixel_slope_count = &slope_count[0] if slope_count is not None else NULL
    for k in range(2):
        if clips[k] is not None:
            _fill_clip(&clip_c[k], clips[k], nmeasured, keep)
            b.clip[k] = &clip_c[k]
    b.stripes = stripes
    b.data_row_first = data_row_first
    b.plane_stride = plane_stride
    if sample_ok is not None and row_count * nx:
        b.sample_ok = &sample_ok[0]
    out.sums = &sums[0] if sums is not None else NULL
    out.slope_hist = &slope_hist[0] if slope_hist is not None else NULL
    out.slope_bins = slope_hist.shape[0] if slope_hist is not None else 0
    out.slope_span = slope_span
    out.slope_unit = slope_unit
    out.pixel_slope_sum = &pixel_slope_sum[0] if pixel_slope_sum is not None else NULL
    out.pixel_slope_count = &pixel_slope_count[0] if pixel_slope_count is not None else NULL
    if sample_ok_out is not None and row_count * nx:
        out.sample_ok = &sample_ok_out[0]
    if samples_out is not None and row_count * nx:
        out.samples = &samples_out[0]
    _fill_params(&params, nthreads)
    with nogil:
        status = rscd_diagnose_block(&b, &out, &params)
    _check(status)
    return out.used


def median_mad(const double[:, ::1] rows, bint with_mad=True):
    """rscd_median_mad on each row of a C-contiguous float64 (rows, n) array, n >= 1:
    returns (median, mad), float64 arrays of one value a row (mad None without
    with_mad), numpy.median's values."""
    import numpy as np
    cdef ptrdiff_t count = rows.shape[0], n = rows.shape[1]
    if n < 1:
        raise ValueError("median_mad: the rows hold no value; expected at least one")
    median_arr = np.empty(count)
    mad_arr = np.empty(count) if with_mad else None
    cdef double[::1] scratch = np.empty(n)
    cdef double[::1] median = median_arr
    cdef double[::1] mad
    cdef double *mad_p = NULL
    cdef double dummy[1]
    cdef int status
    if with_mad:
        mad = mad_arr
        mad_p = &mad[0] if count else dummy
    with nogil:
        status = rscd_median_mad(&rows[0, 0] if count else dummy, count, n, &scratch[0],
                                 &median[0] if count else dummy, mad_p)
    _check(status)
    return median_arr, mad_arr

# ---- end of diagnose ----

# ---- measured ----

ERR_MODEL = RSCD_ERR_MODEL


cdef int _model(rscd_measured_model *out, object model, list keep) except -1:
    # model: None or (a, b, window_start), a and b 1-d float64 of one length. The
    # contiguous copies are kept alive in `keep` for the duration of the call.
    cdef const double[::1] a
    cdef const double[::1] b
    a_arr, b_arr, window_start = model
    a = a_arr
    b = b_arr
    if a.shape[0] != b.shape[0]:
        raise ValueError("the model's a has %d values and b %d; expected the same number"
                         % (a.shape[0], b.shape[0]))
    keep.append((a, b))
    _check(rscd_measured_model_init(out, sizeof(rscd_measured_model)))   # the ABI rule
    out.length = a.shape[0]
    out.a = &a[0] if a.shape[0] else NULL
    out.b = &b[0] if b.shape[0] else NULL
    out.window_start = window_start
    return 0


def measured(float[::1] data_flat, bint data_swapped, const uint8_t[:, :, :, ::1] groupdq,
             const uint32_t[:, ::1] pixeldq, tuple int1, tuple int2p,
             ptrdiff_t integration_start=1, ptrdiff_t first_row=1, int dq_jump_det=4,
             int nthreads=0):
    """Run rscd_measured on SCI given as a flat native-dtype view of the caller's bytes.

    int1 and int2p are (even, odd) pairs of models, each None or (a, b, window_start)
    with a and b 1-d float64 arrays. Returns (status, stats)."""
    cdef rscd_ramp ramp
    cdef rscd_params params
    cdef rscd_measured_model m[4]
    cdef rscd_measured_models models
    cdef rscd_measured_stats stats
    cdef int status, k
    cdef list keep = []
    if len(int1) != 2 or len(int2p) != 2:
        raise ValueError("int1 and int2p must be (even, odd) pairs of models")
    _fill_ramp(&ramp, groupdq, pixeldq, integration_start, 0, first_row)
    _fill_data(&ramp, data_flat, data_swapped, groupdq)
    _check(rscd_measured_models_init(&models, sizeof(models)))   # every entry NULL
    for k, model in enumerate(int1 + int2p):
        if model is None:
            continue
        _model(&m[k], model, keep)
        if k < 2:
            models.int1[k] = &m[k]
        else:
            models.int2p[k - 2] = &m[k]
    models.dq_jump_det = <uint8_t>dq_jump_det
    _fill_params(&params, nthreads)
    _check(rscd_measured_stats_init(&stats, sizeof(stats)))
    with nogil:
        status = rscd_measured(&ramp, &models, &params, &stats)
    _check(status)
    return status, _fields(stats)

# ---- end of measured ----


# ---- shell ----

from libc.string cimport memcpy


def fits_walk(const unsigned char[::1] data):
    """Run rscd_fits_walk on the bytes of a FITS file; returns the number of HDUs
    walked, or raises ValueError with the core's one line (the HDU and the card)."""
    cdef char message[RSCD_FITS_WALK_MESSAGE]
    cdef ptrdiff_t count
    cdef size_t size = data.shape[0]
    cdef const unsigned char *bytes = &data[0] if size else NULL
    with nogil:
        count = rscd_fits_walk(bytes, size, message)
    if count < 0:
        raise ValueError(message.decode("utf-8"))
    return count


cdef size_t _read_block(void *source, size_t offset, unsigned char *block) noexcept with gil:
    # source: [file, None]; the file's 2880 bytes at offset go to block. An exception
    # of the read ends the walk (as the end of the file does) and is kept for the caller.
    box = <list>source
    try:
        box[0].seek(offset)
        data = box[0].read(2880)
    except BaseException as exc:
        box[1] = exc
        return 0
    cdef const unsigned char[::1] view = data
    cdef size_t n = view.shape[0]
    if n:
        memcpy(block, &view[0], n)
    return n


def fits_walk_file(file, size_t size):
    """Run rscd_fits_walk_read on an open binary file of size bytes, read block by block
    (only the headers are read; a file that shrinks is walked as far as it goes); as
    fits_walk, and an exception of a read is raised again."""
    cdef char message[RSCD_FITS_WALK_MESSAGE]
    cdef ptrdiff_t count
    box = [file, None]
    with nogil:
        count = rscd_fits_walk_read(_read_block, <void *>box, size, message)
    if box[1] is not None:
        raise box[1]
    if count < 0:
        raise ValueError(message.decode("utf-8"))
    return count

# ---- end of shell ----
