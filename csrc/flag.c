/* flag.c - the `flag` method of the JWST pipeline (jwst 3.0.0 rscd_sub.py):
 * DO_NOT_USE on the first groups of each integration, backed off per pixel
 * where the pixel saturates soon after (SPEC section 2). GROUPDQ and PIXELDQ
 * are changed; SCI is never read. */
#include <stdlib.h>
#include <string.h>

#include "rscd_internal.h"

/* Per-pixel marks gathered over the integrations of a range. */
#define MARK_BACKED_OFF 1u /* k < skip in some integration */
#define MARK_ONE_GROUP 2u  /* k == 0 in some integration */

/* Is any (integration, pixel) of the range a "problem" at group level `level`:
 * SATURATED there and not SATURATED in group 0? */
static int any_problem(const rscd_ramp *r, ptrdiff_t int_first, ptrdiff_t int_count,
                       ptrdiff_t level, uint8_t sat)
{
    const ptrdiff_t frame = r->nrows * r->ncols;
    ptrdiff_t i, p;

    for (i = int_first; i < int_first + int_count; i++) {
        const uint8_t *g0 = r->groupdq + (i * r->ngroups) * frame;
        const uint8_t *gl = r->groupdq + (i * r->ngroups + level) * frame;
        /* Branch-free OR over the frame, then one test: vectorises well. */
        uint8_t acc = 0;
        for (p = 0; p < frame; p++)
            acc |= (uint8_t)(gl[p] & (uint8_t)~g0[p]);
        if (acc & sat)
            return 1;
    }
    return 0;
}

int rscd_flag_range(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                    ptrdiff_t skip, const rscd_params *params,
                    ptrdiff_t *backed_off, ptrdiff_t *one_group)
{
    int status;
    ptrdiff_t frame, i, p, level, lowest_level, nback = 0, none = 0;
    uint8_t *marks = NULL;
    uint8_t sat, dnu;

    if (!params)
        return RSCD_ERR_NULL;
    status = rscd_check_ramp(ramp, 0);
    if (status != RSCD_OK)
        return status;
    if (int_first < 0 || int_count < 0 || int_first > ramp->nints - int_count)
        return RSCD_ERR_RANGE;
    if (skip < 0 || skip + 1 >= ramp->ngroups)
        return RSCD_ERR_SKIP;

    frame = ramp->nrows * ramp->ncols;
    sat = params->dq_saturated;
    dnu = params->dq_do_not_use;

    /* The back-off visits levels skip+1, skip, ..., 1 and stops at the first
     * level with no problem anywhere in the range. Every level above the stop
     * lowers k of its problem samples by one, so find the stop first. */
    lowest_level = skip + 2; /* "no level was processed" */
    for (level = skip + 1; level >= 1; level--) {
        if (!any_problem(ramp, int_first, int_count, level, sat))
            break;
        lowest_level = level;
    }

    if (lowest_level > skip + 1) {
        /* No back-off: every sample gets DO_NOT_USE on groups 0 .. skip-1. */
        for (i = int_first; i < int_first + int_count; i++) {
            for (level = 0; level < skip; level++) {
                uint8_t *g = ramp->groupdq + (i * ramp->ngroups + level) * frame;
                for (p = 0; p < frame; p++)
                    g[p] |= dnu;
            }
        }
    } else {
        if (frame > 0) {
            marks = (uint8_t *)calloc((size_t)frame, 1);
            if (!marks) {
                status = RSCD_ERR_NOMEM;
                goto cleanup;
            }
        }
        for (i = int_first; i < int_first + int_count; i++) {
            uint8_t *gi = ramp->groupdq + (i * ramp->ngroups) * frame;
            for (p = 0; p < frame; p++) {
                /* Group 0 saturated: never a problem, k stays at skip. */
                ptrdiff_t k = skip, g;
                if (!(gi[p] & sat)) {
                    for (level = lowest_level; level <= skip + 1; level++)
                        if (gi[level * frame + p] & sat)
                            k--;
                    if (k < 0)
                        k = 0;
                }
                for (g = 0; g < k; g++)
                    gi[g * frame + p] |= dnu;
                if (k < skip)
                    marks[p] |= MARK_BACKED_OFF;
                if (k == 0)
                    marks[p] |= MARK_ONE_GROUP;
            }
        }
        for (p = 0; p < frame; p++) {
            if (marks[p] & MARK_BACKED_OFF) {
                ramp->pixeldq[p] |= params->dq_flux_estimated;
                nback++;
            }
            if (marks[p] & MARK_ONE_GROUP)
                none++;
        }
    }
    status = RSCD_OK;

cleanup:
    free(marks);
    if (status == RSCD_OK) {
        if (backed_off)
            *backed_off = nback;
        if (one_group)
            *one_group = none;
    }
    return status;
}

int rscd_flag(const rscd_ramp *ramp, ptrdiff_t skip_int1, ptrdiff_t skip_int2p,
              const rscd_params *params, rscd_flag_stats *stats)
{
    int status, result = RSCD_OK;
    ptrdiff_t ngroups, nints_exp, first;

    if (!params || !stats)
        return RSCD_ERR_NULL;
    status = rscd_check_ramp(ramp, 0);
    if (status != RSCD_OK)
        return status;
    if (skip_int2p < 0)
        return RSCD_ERR_SKIP;

    stats->ngroups_skip_int1 = stats->ngroups_skip_int2p = -1;
    stats->keep_bright_firstgroup_int1 = stats->keep_bright_firstgroup_int2p = -1;
    stats->keep_groups_saturation_int1 = stats->keep_groups_saturation_int2p = -1;

    ngroups = ramp->ngroups;
    nints_exp = rscd_nints_exposure(ramp);

    if (skip_int1 < 0) { /* rule 1: reference without group_skip1 */
        skip_int1 = 1;
        result = RSCD_WARN_NO_SKIP1;
    }
    if (ngroups < 3) /* rule 2 */
        return RSCD_SKIP_FEW_GROUPS;
    if (ngroups <= 5) /* rule 3 */
        skip_int1 = skip_int2p = 1;
    /* rule 4: leave at least 3 groups */
    if (ngroups < skip_int1 + 3)
        skip_int1 = ngroups - 3 > 0 ? ngroups - 3 : 0;
    if (nints_exp > 1 && ngroups < skip_int2p + 3)
        skip_int2p = ngroups - 3 > 0 ? ngroups - 3 : 0;

    first = 0;
    if (ramp->integration_start == 1 && ramp->nints > 0) { /* rule 5 */
        status = rscd_flag_range(ramp, 0, 1, skip_int1, params,
                                 &stats->keep_groups_saturation_int1,
                                 &stats->keep_bright_firstgroup_int1);
        if (status != RSCD_OK)
            return status;
        stats->ngroups_skip_int1 = skip_int1;
        first = 1;
    }
    if (nints_exp > 1) { /* rule 6 */
        ptrdiff_t count = ramp->nints - first;
        status = rscd_flag_range(ramp, first, count > 0 ? count : 0, skip_int2p, params,
                                 &stats->keep_groups_saturation_int2p,
                                 &stats->keep_bright_firstgroup_int2p);
        if (status != RSCD_OK)
            return status;
        stats->ngroups_skip_int2p = skip_int2p;
    }
    return result;
}
