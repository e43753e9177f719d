/* common.c - version, status messages, default parameters and argument checks
 * shared by both methods. */
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
    default: return "unknown status";
    }
}

void rscd_params_init(rscd_params *params)
{
    if (!params)
        return;
    params->dq_do_not_use = 1u;
    params->dq_saturated = 2u;
    params->dq_flux_estimated = (uint32_t)1u << 28;
    params->dq_reference_pixel = (uint32_t)1u << 31;
    params->nthreads = 0;
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
