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

int rscd_check_ramp(const rscd_ramp *ramp, int need_data)
{
    ptrdiff_t frame, cube;

    if (!ramp || !ramp->groupdq || !ramp->pixeldq || (need_data && !ramp->data))
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
    if (ramp->nints_exposure != 0 &&
        ramp->nints_exposure < ramp->integration_start - 1 + ramp->nints)
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
    return params->nthreads > 0 ? params->nthreads : omp_get_max_threads();
#else
    (void)params;
    return 1;
#endif
}
