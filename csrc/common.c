/* common.c - version, status messages, default parameters and argument checks
 * shared by both methods. */
#include <string.h>

#include "rscd_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define RSCD_STR_(x) #x
#define RSCD_STR(x) RSCD_STR_(x)

const char *rscd_version(void)
{
    return RSCD_STR(RSCD_VERSION_MAJOR) "." RSCD_STR(RSCD_VERSION_MINOR) "."
        RSCD_STR(RSCD_VERSION_PATCH);
}

const char *rscd_strerror(int status)
{
    switch (status) {
    case RSCD_OK: return "success";
    case RSCD_SKIP_FEW_GROUPS: return "too few groups: nothing changed";
    case RSCD_WARN_NO_SKIP1:
        return "reference file of a deprecated form (no group_skip1): 1 group flagged in integration 1";
    case RSCD_INFO_ONE_INT: return "a single integration: nothing to correct";
    case RSCD_INFO_FIRST_INT_LEFT:
        return "first integration of a segment left uncorrected: the previous segment's last "
               "integration was not given";
    case RSCD_ERR_NULL: return "a required pointer is NULL";
    case RSCD_ERR_DIMS: return "a dimension is negative or the array size overflows";
    case RSCD_ERR_RANGE:
        return "integration_start, nints_exposure, first_row or the integration range is out of range";
    case RSCD_ERR_SKIP: return "the number of groups to skip is negative or leaves too few groups";
    case RSCD_ERR_COEFFS: return "decay parameter tau or param3 is not finite and positive";
    case RSCD_ERR_NOMEM: return "out of memory";
    case RSCD_ERR_BYTEORDER: return "data_byteorder is neither RSCD_NATIVE nor RSCD_SWAPPED";
    case RSCD_ERR_PARAMS:
        return "rscd_params.struct_size is not the size of a layout this library knows: fill "
               "the struct with RSCD_PARAMS_INIT(&params) from the header of this library";
    case RSCD_ERR_STRUCT:
        return "struct not initialised: its struct_size is 0 or not the size of a layout "
               "this library knows; fill it with its RSCD_..._INIT macro (RSCD_RAMP_INIT(&ramp), "
               "...) from the header of this library";
    case RSCD_ERR_MODEL:
        return "measured model: a NULL array, a negative length or window start, or a "
               "value of a or b that is not finite";
    default: return "unknown status";
    }
}

/* Every layout of rscd_params published, frozen, oldest first; the newest is
 * rscd_params itself. A version that appends fields freezes the current
 * layout here as the next params_layoutN and adds its size to known_size. */
typedef struct params_layout1 {
    size_t struct_size;
    uint8_t dq_do_not_use;
    uint8_t dq_saturated;
    uint32_t dq_flux_estimated;
    uint32_t dq_reference_pixel;
    int nthreads;
} params_layout1;

/* The ABI rule of rscd.h, checked when the library is compiled (a negative
 * array size is an error): each layout is a prefix of the next, is smaller on
 * this platform, and ends before the next one's first new field, so copying
 * struct_size bytes of an older struct never covers a newer field. */
#define PARAMS_ASSERT(name, cond) typedef char params_assert_##name[(cond) ? 1 : -1]
PARAMS_ASSERT(prefix, offsetof(params_layout1, nthreads) == offsetof(rscd_params, nthreads) &&
                          offsetof(params_layout1, dq_reference_pixel) ==
                              offsetof(rscd_params, dq_reference_pixel));
PARAMS_ASSERT(grows, sizeof(params_layout1) < sizeof(rscd_params));
PARAMS_ASSERT(no_overlap, sizeof(params_layout1) <= offsetof(rscd_params, use_vector));

static int known_size(size_t size)
{
    return size == sizeof(params_layout1) || size == sizeof(rscd_params);
}

static void params_defaults(rscd_params *p)
{
    memset(p, 0, sizeof *p); /* padding too: the bytes copied out are all defined */
    p->struct_size = sizeof *p;
    p->dq_do_not_use = 1u;
    p->dq_saturated = 2u;
    p->dq_flux_estimated = (uint32_t)1u << 28;
    p->dq_reference_pixel = (uint32_t)1u << 31;
    p->nthreads = 0;
    p->use_vector = 1;
}

int rscd_params_init(rscd_params *params, size_t size)
{
    rscd_params d;

    if (!params)
        return RSCD_ERR_NULL;
    if (!known_size(size))
        return RSCD_ERR_PARAMS;
    params_defaults(&d);
    d.struct_size = size;
    memcpy(params, &d, size); /* the caller's layout may be older and smaller */
    return RSCD_OK;
}

int rscd_params_read(const rscd_params *given, rscd_params *out)
{
    size_t size;

    if (!given)
        return RSCD_ERR_NULL;
    /* struct_size is the first field of every layout: always there to read. */
    size = given->struct_size;
    if (!known_size(size))
        return RSCD_ERR_PARAMS;
    params_defaults(out);
    memcpy(out, given, size);
    out->struct_size = sizeof *out;
    return RSCD_OK;
}

/* The one layout so far of each struct other than rscd_params: a library that
 * appends fields to one of them keeps the older size known here and reads such
 * structs into a local copy of the current layout, as rscd_params_read does. */
int rscd_struct_ok(const void *s, size_t current)
{
    size_t size;

    if (!s)
        return RSCD_ERR_NULL;
    memcpy(&size, s, sizeof size); /* struct_size, the first field of every struct */
    return size == current ? RSCD_OK : RSCD_ERR_STRUCT;
}

int rscd_init_struct(void *s, size_t size, void *d, size_t current)
{
    if (!s)
        return RSCD_ERR_NULL;
    if (size != current)
        return RSCD_ERR_STRUCT;
    memcpy(d, &size, sizeof size);
    memcpy(s, d, size);
    return RSCD_OK;
}

/* Defaults start from memset 0, padding included: every byte copied out is defined. */
int rscd_ramp_init(rscd_ramp *ramp, size_t size)
{
    rscd_ramp d;
    memset(&d, 0, sizeof d);
    d.data = NULL;
    d.groupdq = NULL;
    d.pixeldq = NULL;
    d.data_byteorder = RSCD_NATIVE;
    d.integration_start = 1;
    d.nints_exposure = 0;
    d.first_row = 1;
    return rscd_init_struct(ramp, size, &d, sizeof d);
}

int rscd_flag_stats_init(rscd_flag_stats *stats, size_t size)
{
    rscd_flag_stats d;
    memset(&d, 0, sizeof d);
    d.ngroups_skip_int1 = d.ngroups_skip_int2p = -1;
    d.keep_bright_firstgroup_int1 = d.keep_bright_firstgroup_int2p = -1;
    d.keep_groups_saturation_int1 = d.keep_groups_saturation_int2p = -1;
    return rscd_init_struct(stats, size, &d, sizeof d);
}

int rscd_decay_stats_init(rscd_decay_stats *stats, size_t size)
{
    rscd_decay_stats d;
    memset(&d, 0, sizeof d);
    return rscd_init_struct(stats, size, &d, sizeof d);
}

int rscd_decay_coeffs_init(rscd_decay_coeffs *coeffs, size_t size)
{
    rscd_decay_coeffs d;
    memset(&d, 0, sizeof d); /* every parameter 0.0 (IEEE 754) */
    return rscd_init_struct(coeffs, size, &d, sizeof d);
}

int rscd_prev_int_init(rscd_prev_int *prev, size_t size)
{
    rscd_prev_int d;
    memset(&d, 0, sizeof d);
    d.data = NULL;
    d.groupdq = NULL;
    return rscd_init_struct(prev, size, &d, sizeof d);
}

int rscd_check_ramp(const rscd_ramp *ramp, int need_data)
{
    ptrdiff_t frame, cube;
    int status = rscd_struct_ok(ramp, sizeof *ramp);

    if (status != RSCD_OK)
        return status;
    if (!ramp->groupdq || !ramp->pixeldq || (need_data && !ramp->data))
        return RSCD_ERR_NULL;
    if (ramp->nints < 0 || ramp->ngroups < 0 || ramp->nrows < 0 || ramp->ncols < 0)
        return RSCD_ERR_DIMS;
    /* The index formula must not overflow ptrdiff_t (nor size_t for byte counts). */
    if (ramp->ncols > 0 && ramp->nrows > PTRDIFF_MAX / 4 / ramp->ncols)
        return RSCD_ERR_DIMS;
    frame = ramp->nrows * ramp->ncols;
    if (frame > 0 && ramp->ngroups > PTRDIFF_MAX / 4 / frame)
        return RSCD_ERR_DIMS;
    cube = frame * ramp->ngroups;
    if (cube > 0 && ramp->nints > PTRDIFF_MAX / 4 / cube)
        return RSCD_ERR_DIMS;
    if (ramp->data_byteorder != RSCD_NATIVE && ramp->data_byteorder != RSCD_SWAPPED)
        return RSCD_ERR_BYTEORDER;
    if (ramp->integration_start < 1 || ramp->first_row < 1)
        return RSCD_ERR_RANGE;
    /* integration_start - 1 + nints must not overflow (rscd_nints_exposure
     * computes it); nints is bounded above, so subtract instead of adding. */
    if (ramp->integration_start - 1 > PTRDIFF_MAX - ramp->nints)
        return RSCD_ERR_RANGE;
    /* An nints_exposure below the integrations held is used as given, as jwst 3.0.0
     * uses NINTS (its own TSO unit test builds such a model): only whether it is
     * > 1 matters (docs/overview.rst, "Arrays and flags"). */
    if (ramp->nints_exposure < 0)
        return RSCD_ERR_RANGE;
    return RSCD_OK;
}

ptrdiff_t rscd_nints_exposure(const rscd_ramp *ramp)
{
    return ramp->nints_exposure > 0 ? ramp->nints_exposure
                                    : ramp->integration_start - 1 + ramp->nints;
}

int rscd_threads(const rscd_params *params)
{
#ifdef _OPENMP
    /* More threads than processors never helps, and OpenMP aborts the process when
     * it cannot create the threads asked for (nthreads = INT_MAX did). */
    const int procs = omp_get_num_procs();
    const int want = params->nthreads > 0 ? params->nthreads : omp_get_max_threads();
    return want < procs ? want : procs > 0 ? procs : 1;
#else
    (void)params;
    return 1;
#endif
}
