/* flag.c - the `flag` method of the JWST pipeline (jwst 3.0.0 rscd_sub.py):
 * DO_NOT_USE on the first groups of each integration, backed off per pixel
 * where the pixel saturates soon after (SPEC section 2). GROUPDQ and PIXELDQ
 * are changed; SCI is never read. */
#include <string.h>

#include "rscd_internal.h"

/* Pixels handled together: small enough that the per-pixel counters of a chunk
 * stay in the L1 cache, large enough that every plane is read in long runs. */
#define CHUNK 256

/* Is any (integration, pixel) of the range a "problem" at group level `level`:
 * SATURATED there and not SATURATED in group 0? Usually yes, and the first
 * problem lies near the start of the frame: the scan goes chunk by chunk and
 * stops at the first chunk with a problem, so only the level where the
 * back-off stops is read whole. */
static int any_problem(const rscd_ramp *r, ptrdiff_t int_first, ptrdiff_t int_count,
                       ptrdiff_t level, uint8_t sat, int nthreads)
{
    const ptrdiff_t frame = r->nrows * r->ncols, nchunks = (frame + CHUNK - 1) / CHUNK;
    ptrdiff_t i, c;
    int found = 0;

    (void)nthreads;
    for (i = int_first; i < int_first + int_count && !found; i++) {
        const uint8_t *g0 = r->groupdq + (i * r->ngroups) * frame;
        const uint8_t *gl = r->groupdq + (i * r->ngroups + level) * frame;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nchunks > 4)
#endif
        for (c = 0; c < nchunks; c++) {
            const ptrdiff_t p1 = (c + 1) * CHUNK < frame ? (c + 1) * CHUNK : frame;
            ptrdiff_t p;
            uint8_t acc = 0;
            int seen;
#ifdef _OPENMP
#pragma omp atomic read
#endif
            seen = found;
            if (seen)
                continue; /* another chunk has answered the question */
            /* Branch-free OR over the chunk, then one test: vectorises well. */
            for (p = c * CHUNK; p < p1; p++)
                acc |= (uint8_t)(gl[p] & (uint8_t)~g0[p]);
            if (acc & sat) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                found = 1;
            }
        }
    }
    return found;
}

/* Flag pixels [p0, p1) of every integration of the range once the back-off has
 * found that levels lowest..skip+1 are processed (none when lowest > skip+1).
 * k = skip minus the processed levels at which the sample is a problem, floored
 * at 0; DO_NOT_USE goes on groups 0..k-1. Counts the chunk's backed-off and
 * one-group pixels, and sets FLUX_ESTIMATED on the backed-off ones. */
static void flag_chunk(const rscd_ramp *r, ptrdiff_t int_first, ptrdiff_t int_count,
                       ptrdiff_t skip, ptrdiff_t lowest, const rscd_params *params,
                       ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t *nback, ptrdiff_t *none)
{
    const ptrdiff_t frame = r->nrows * r->ncols, n = p1 - p0;
    const uint8_t sat = params->dq_saturated, dnu = params->dq_do_not_use;
    /* cnt = processed levels at which the sample is a problem, so
     * k = max(skip - cnt, 0). cnt <= skip + 1 <= RSCD_MAX_SKIP + 1 fits 16 bits,
     * which keeps eight pixels per SSE2 vector. In terms of cnt: the pixel is
     * backed off when cnt > 0 (and skip > 0), left with one group when
     * cnt >= skip, and group g < skip is flagged when cnt < skip - g. */
    uint16_t cnt[CHUNK];
    const uint16_t skip16 = (uint16_t)skip;
    uint8_t backed[CHUNK], single[CHUNK];
    ptrdiff_t i, g, p;

    memset(backed, 0, (size_t)n);
    memset(single, 0, (size_t)n);
    for (i = int_first; i < int_first + int_count; i++) {
        uint8_t *gi = r->groupdq + i * r->ngroups * frame + p0;
        memset(cnt, 0, (size_t)n * sizeof cnt[0]);
        for (g = lowest; g <= skip + 1; g++) {
            const uint8_t *gl = gi + g * frame;
            /* Group 0 saturated: never a problem, k stays at skip. */
            for (p = 0; p < n; p++)
                cnt[p] = (uint16_t)(cnt[p] + (((gl[p] & (uint8_t)~gi[p]) & sat) != 0));
        }
        for (p = 0; p < n; p++) {
            backed[p] |= (cnt[p] != 0) & (skip16 != 0);
            single[p] |= cnt[p] >= skip16;
        }
        for (g = 0; g < skip; g++) {
            uint8_t *gg = gi + g * frame;
            const uint16_t limit = (uint16_t)(skip - g);
            for (p = 0; p < n; p++)
                gg[p] |= (uint8_t)(dnu & (uint8_t)-(uint8_t)(cnt[p] < limit));
        }
    }
    if (lowest <= skip + 1) {
        /* Local sums: through the pointers, every pixel would cost a store the
         * compiler cannot drop (they might alias PIXELDQ). */
        uint32_t *pdq = r->pixeldq + p0;
        ptrdiff_t nb = 0, no = 0;
        for (p = 0; p < n; p++) {
            nb += backed[p];
            no += single[p];
        }
        if (nb) { /* branch-free: backed pixels are scattered, a test would mispredict */
            const uint32_t flux = params->dq_flux_estimated;
            for (p = 0; p < n; p++)
                pdq[p] |= flux & (uint32_t)-(uint32_t)backed[p];
        }
        *nback += nb;
        *none += no;
    }
}

/* Rules 7-8 once the stop level is known: levels skip+1 .. stop+1 are processed. */
static void flag_from(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                      ptrdiff_t skip, ptrdiff_t stop, const rscd_params *params,
                      ptrdiff_t *backed_off, ptrdiff_t *one_group)
{
    ptrdiff_t frame, chunk, nchunks, nback = 0, none = 0;
    const ptrdiff_t lowest = stop + 1; /* lowest processed level; skip+2: none */

    frame = ramp->nrows * ramp->ncols;
    nchunks = (frame + CHUNK - 1) / CHUNK;
#ifdef _OPENMP
#pragma omp parallel for num_threads(rscd_threads(params)) reduction(+ : nback, none) \
    schedule(static) if (nchunks > 4)
#endif
    for (chunk = 0; chunk < nchunks; chunk++) {
        ptrdiff_t p0 = chunk * CHUNK, p1 = p0 + CHUNK < frame ? p0 + CHUNK : frame;
        flag_chunk(ramp, int_first, int_count, skip, lowest, params, p0, p1, &nback, &none);
    }
    if (backed_off)
        *backed_off = nback;
    if (one_group)
        *one_group = none;
}

static int check_range(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                       ptrdiff_t skip, const rscd_params *params)
{
    int status;

    if (!params)
        return RSCD_ERR_NULL;
    status = rscd_check_ramp(ramp, 0);
    if (status != RSCD_OK)
        return status;
    if (int_first < 0 || int_count < 0 || int_first > ramp->nints - int_count)
        return RSCD_ERR_RANGE;
    if (skip < 0 || skip >= ramp->ngroups - 1 || skip > RSCD_MAX_SKIP)
        return RSCD_ERR_SKIP;
    return RSCD_OK;
}

int rscd_flag_range(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                    ptrdiff_t skip, const rscd_params *params,
                    ptrdiff_t *backed_off, ptrdiff_t *one_group)
{
    int status;
    ptrdiff_t level, stop;

    status = check_range(ramp, int_first, int_count, skip, params);
    if (status != RSCD_OK)
        return status;

    /* The back-off visits levels skip+1, skip, ..., 1 and stops at the first
     * level with no problem anywhere in the range (a global stop). Each level
     * above the stop lowers k of its problem samples by one, so find the stop
     * first; then every pixel is independent. */
    stop = 0; /* every level had a problem */
    for (level = skip + 1; level >= 1; level--) {
        if (!any_problem(ramp, int_first, int_count, level, params->dq_saturated,
                         rscd_threads(params))) {
            stop = level;
            break;
        }
    }
    flag_from(ramp, int_first, int_count, skip, stop, params, backed_off, one_group);
    return RSCD_OK;
}

int rscd_flag_range_stop(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                         ptrdiff_t skip, ptrdiff_t stop, const rscd_params *params,
                         ptrdiff_t *backed_off, ptrdiff_t *one_group)
{
    int status = check_range(ramp, int_first, int_count, skip, params);

    if (status != RSCD_OK)
        return status;
    if (stop < 0 || stop > skip + 1)
        return RSCD_ERR_RANGE;
    flag_from(ramp, int_first, int_count, skip, stop, params, backed_off, one_group);
    return RSCD_OK;
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
    /* (ngroups < skip + 3, written so a huge skip cannot overflow) */
    if (skip_int1 > ngroups - 3)
        skip_int1 = ngroups - 3 > 0 ? ngroups - 3 : 0;
    if (nints_exp > 1 && skip_int2p > ngroups - 3)
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
