# Declarations of csrc/rscd.h, the only place the Cython layer learns the C API.
from libc.stddef cimport ptrdiff_t, size_t
from libc.stdint cimport int64_t, uint8_t, uint32_t

cdef extern from "rscd.h" nogil:
    cpdef enum rscd_status:
        RSCD_OK
        RSCD_SKIP_FEW_GROUPS
        RSCD_WARN_NO_SKIP1
        RSCD_INFO_ONE_INT
        RSCD_INFO_FIRST_INT_LEFT
        RSCD_ERR_NULL
        RSCD_ERR_DIMS
        RSCD_ERR_RANGE
        RSCD_ERR_SKIP
        RSCD_ERR_COEFFS
        RSCD_ERR_NOMEM
        RSCD_ERR_BYTEORDER
        RSCD_ERR_PARAMS
        RSCD_ERR_STRUCT
        RSCD_ERR_MODEL

    cpdef enum rscd_byteorder:
        RSCD_NATIVE
        RSCD_SWAPPED

    int RSCD_DECAY_MIN_GROUPS
    ptrdiff_t RSCD_MAX_SKIP

    ctypedef struct rscd_ramp:
        size_t struct_size
        float *data
        uint8_t *groupdq
        uint32_t *pixeldq
        ptrdiff_t nints, ngroups, nrows, ncols
        int data_byteorder
        ptrdiff_t integration_start, nints_exposure, first_row

    ctypedef struct rscd_params:
        size_t struct_size
        int nthreads
        int use_vector

    ctypedef struct rscd_flag_stats:
        size_t struct_size
        ptrdiff_t ngroups_skip_int1, ngroups_skip_int2p
        ptrdiff_t keep_bright_firstgroup_int1, keep_bright_firstgroup_int2p
        ptrdiff_t keep_groups_saturation_int1, keep_groups_saturation_int2p

    ctypedef struct rscd_decay_coeffs:
        size_t struct_size
        double tau, ascale, pow, illum_zp, illum_slope, illum2, param3, crossopt
        double sat_zp, sat_slope, sat_2, sat_mzp, sat_rowterm, sat_scale

    ctypedef struct rscd_prev_int:
        size_t struct_size
        const float *data
        const uint8_t *groupdq

    ctypedef struct rscd_decay_stats:
        size_t struct_size
        ptrdiff_t nints_corrected, first_int_left
        ptrdiff_t npix_corrected, npix_saturated, npix_nonfinite

    const char *rscd_version() noexcept
    const char *rscd_strerror(int status) noexcept
    int rscd_params_init(rscd_params *params, size_t size) noexcept
    int rscd_ramp_init(rscd_ramp *ramp, size_t size) noexcept
    int rscd_flag_stats_init(rscd_flag_stats *stats, size_t size) noexcept
    int rscd_decay_stats_init(rscd_decay_stats *stats, size_t size) noexcept
    int rscd_decay_coeffs_init(rscd_decay_coeffs *coeffs, size_t size) noexcept
    int rscd_prev_int_init(rscd_prev_int *prev, size_t size) noexcept
    int rscd_flag(const rscd_ramp *ramp, ptrdiff_t skip_int1, ptrdiff_t skip_int2p,
                  const rscd_params *params, rscd_flag_stats *stats) noexcept
    int rscd_decay(const rscd_ramp *ramp, const rscd_decay_coeffs *even,
                   const rscd_decay_coeffs *odd, const rscd_prev_int *prev,
                   const rscd_params *params, rscd_decay_stats *stats) noexcept
    int rscd_flag_range_stop(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                             ptrdiff_t skip, ptrdiff_t stop, const rscd_params *params,
                             ptrdiff_t *backed_off, ptrdiff_t *one_group) noexcept

    # ---- plan ----
    int RSCD_FLAG_MIN_GROUPS

    ctypedef struct rscd_flag_plan:
        size_t struct_size
        int no_skip1, too_few_groups
        int has_int1
        ptrdiff_t int1_first, int1_count, int1_skip
        int has_int2p
        ptrdiff_t int2p_first, int2p_count, int2p_skip

    int rscd_flag_plan_init(rscd_flag_plan *plan, size_t size) noexcept
    int rscd_flag_plan_make(const rscd_ramp *ramp, ptrdiff_t skip_int1, ptrdiff_t skip_int2p,
                            rscd_flag_plan *plan) noexcept
    int rscd_flag_problem_levels(const rscd_ramp *ramp, ptrdiff_t int_first,
                                 ptrdiff_t int_count, ptrdiff_t skip,
                                 const rscd_params *params, uint8_t *problem) noexcept
    ptrdiff_t rscd_flag_stop_level(const uint8_t *problem, ptrdiff_t skip) noexcept
    # ---- end of plan ----

    # ---- diagnose ----
    int RSCD_DIAG_SUMS

    ctypedef struct rscd_diag_clip:
        size_t struct_size
        ptrdiff_t nbins
        const double *edges
        const unsigned char *bright
        const double *zmed
        const double *u_centre
        const double *u_half
        const double *o_centre
        const double *o_half

    ctypedef struct rscd_diag_block:
        size_t struct_size
        const float *sci
        int sci_byteorder
        const uint8_t *groupdq
        const uint32_t *pixeldq
        ptrdiff_t ngroups, ny, nx
        ptrdiff_t row_first, row_count
        ptrdiff_t ystart
        ptrdiff_t window_start
        int halves
        const double *pixel_slope_sum
        const double *pixel_slope_count
        const rscd_diag_clip *clip[2]
        ptrdiff_t stripes
        ptrdiff_t data_row_first
        ptrdiff_t plane_stride
        const uint8_t *sample_ok

    ctypedef struct rscd_diag_out:
        size_t struct_size
        double *sums
        int64_t *slope_hist
        ptrdiff_t slope_bins
        double slope_span, slope_unit
        double *pixel_slope_sum
        double *pixel_slope_count
        ptrdiff_t used
        uint8_t *sample_ok
        double *samples

    int rscd_diag_clip_init(rscd_diag_clip *clip, size_t size) noexcept
    int rscd_diag_block_init(rscd_diag_block *block, size_t size) noexcept
    int rscd_diag_out_init(rscd_diag_out *out, size_t size) noexcept
    int rscd_diagnose_block(const rscd_diag_block *block, rscd_diag_out *out,
                            const rscd_params *params) noexcept
    int rscd_median_mad(const double *values, ptrdiff_t rows, ptrdiff_t n, double *scratch,
                        double *median, double *mad) noexcept
    # ---- end of diagnose ----

    # ---- measured ----
    ctypedef struct rscd_measured_model:
        size_t struct_size
        const double *a
        const double *b
        ptrdiff_t length
        ptrdiff_t window_start

    ctypedef struct rscd_measured_models:
        size_t struct_size
        const rscd_measured_model *int1[2]
        const rscd_measured_model *int2p[2]
        uint8_t dq_jump_det

    ctypedef struct rscd_measured_stats:
        size_t struct_size
        ptrdiff_t nints_corrected, npix_corrected, npix_flagged, npix_no_slope
        ptrdiff_t nvalues_left

    int rscd_measured_model_init(rscd_measured_model *model, size_t size) noexcept
    int rscd_measured_models_init(rscd_measured_models *models, size_t size) noexcept
    int rscd_measured_stats_init(rscd_measured_stats *stats, size_t size) noexcept
    int rscd_measured(const rscd_ramp *ramp, const rscd_measured_models *models,
                      const rscd_params *params, rscd_measured_stats *stats) noexcept

    # ---- end of measured ----

    # ---- shell ----
    enum: RSCD_FITS_WALK_MESSAGE
    ptrdiff_t rscd_fits_walk(const unsigned char *bytes, size_t size, char *message) noexcept
    ctypedef size_t (*rscd_fits_read)(void *source, size_t offset,
                                      unsigned char *block) noexcept nogil
    ptrdiff_t rscd_fits_walk_read(rscd_fits_read read, void *source, size_t size,
                                  char *message)
    # ---- end of shell ----
