/* flag.c - the `flag` method of the JWST pipeline (jwst 3.0.0 rscd_sub.py):
 * DO_NOT_USE on the first groups of each integration, backed off per pixel
 * where the pixel saturates soon after (docs/overview.rst, "Method flag").
 * GROUPDQ and PIXELDQ are changed; SCI is never read. */
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_AVX2_BUILD 1
#include <immintrin.h>
#else
#define HAVE_AVX2_BUILD 0
#endif

#include "fastamp.h"
#include "rscd_internal.h"

/* Pixels counted and flagged together: the chunk's planes of one integration
 * stay in L1 from the counting to the flagging, and are read in runs long
 * enough to stream. */
#define CHUNK 256

/* Pixels whose integrations are visited one after the other (the unit of
 * OpenMP sharing): a chunk that went through every integration kept some 25
 * planes streaming at once, more than the prefetchers follow (about 1.4x
 * slower on a MIRI full frame). A byte of marks per pixel lives on the stack. */
#define BLOCK 16384

/* The early exit of any_problem shares one flag between threads, read and
 * written with `omp atomic read` / `omp atomic write` (OpenMP 3.1, _OPENMP
 * 201107). MSVC's /openmp is OpenMP 2.0, which has neither: there the flag is
 * a reduction(|) instead, each thread stopping at its own first problem (the
 * same answer, with more reading). RSCD_OPENMP_2_0 selects the 2.0 code with
 * any compiler, so the tests can build it. */
#if defined(_OPENMP) && _OPENMP >= 201107 && !defined(RSCD_OPENMP_2_0)
#define OMP_ATOMIC_RW 1
#else
#define OMP_ATOMIC_RW 0
#endif

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
#if OMP_ATOMIC_RW
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nchunks > 4)
#elif defined(_OPENMP)
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nchunks > 4) \
    reduction(| : found)
#endif
        for (c = 0; c < nchunks; c++) {
            const ptrdiff_t p1 = (c + 1) * CHUNK < frame ? (c + 1) * CHUNK : frame;
            ptrdiff_t p;
            uint8_t acc = 0;
            int seen;
#if OMP_ATOMIC_RW
#pragma omp atomic read
#endif
            seen = found; /* OpenMP 2.0: this thread's own copy */
            if (seen)
                continue; /* another chunk has answered the question */
            /* Branch-free OR over the chunk, then one test: vectorises well. */
            for (p = c * CHUNK; p < p1; p++)
                acc |= (uint8_t)(gl[p] & (uint8_t)~g0[p]);
            if (acc & sat) {
#if OMP_ATOMIC_RW
#pragma omp atomic write
#endif
                found = 1;
            }
        }
    }
    return found;
}

/* Largest skip for 8-bit counters: cnt <= skip + 1 <= 255. */
#define SKIP8_MAX 254

/* One range of integrations flagged with one skip (rules 7-8), once the
 * back-off has found that levels lowest..skip+1 are processed. */
typedef struct {
    ptrdiff_t first, count, skip;
    ptrdiff_t lowest;      /* stop + 1; skip + 2: nothing processed */
    ptrdiff_t nback, none; /* results: backed-off and one-group pixels */
} flag_range;

/* Per-pixel marks of a block: bit 2j is set when the pixel is backed off in
 * range j, bit 2j+1 when it is left with one group. */
#define MARK_BACKED(j) (1u << (2 * (j)))
#define MARK_SINGLE(j) (2u << (2 * (j)))

/* Pixels [0, n) of integration gi of range j, n <= CHUNK, skip <= SKIP8_MAX:
 * DO_NOT_USE on groups 0..k-1 of each pixel, and its marks ORed into mark. */
static ALWAYS_INLINE void count_and_flag8(uint8_t *gi, ptrdiff_t frame, ptrdiff_t skip,
                                          ptrdiff_t lowest, uint8_t sat, uint8_t dnu,
                                          ptrdiff_t n, uint8_t *mark, int j)
{
    /* cnt = processed levels at which the sample is a problem, so
     * k = max(skip - cnt, 0). In terms of cnt: the pixel is backed off when
     * cnt > 0 (and skip > 0), left with one group when cnt >= skip, and group
     * g < skip is flagged when cnt < skip - g. 8 bits: 16 pixels per SSE2
     * vector, 32 per AVX2 one. The chunk's planes stay in L1 from the
     * counting to the flagging. */
    uint8_t cnt[CHUNK];
    const uint8_t skip8 = (uint8_t)skip;
    const uint8_t backed = (uint8_t)(skip ? MARK_BACKED(j) : 0), single = MARK_SINGLE(j);
    ptrdiff_t g, p;

    if (lowest > skip + 1) {
        memset(cnt, 0, (size_t)n); /* nothing processed: k = skip */
    } else {
        /* The first level sets cnt. Group 0 saturated: never a problem. */
        const uint8_t *gl = gi + lowest * frame;
        for (p = 0; p < n; p++)
            cnt[p] = (uint8_t)(((gl[p] & (uint8_t)~gi[p]) & sat) != 0);
        for (g = lowest + 1; g <= skip + 1; g++) {
            gl = gi + g * frame;
            for (p = 0; p < n; p++)
                cnt[p] = (uint8_t)(cnt[p] + (((gl[p] & (uint8_t)~gi[p]) & sat) != 0));
        }
        for (p = 0; p < n; p++)
            mark[p] |= (uint8_t)((backed & (uint8_t)-(uint8_t)(cnt[p] != 0)) |
                                 (single & (uint8_t)-(uint8_t)(cnt[p] >= skip8)));
    }
    for (g = 0; g < skip; g++) {
        uint8_t *gg = gi + g * frame;
        const uint8_t limit = (uint8_t)(skip - g);
        for (p = 0; p < n; p++)
            gg[p] |= (uint8_t)(dnu & (uint8_t)-(uint8_t)(cnt[p] < limit));
    }
}

/* The same for skip > SKIP8_MAX (ngroups > 256: never seen in practice), one
 * pixel at a time with wide counters: simple rather than fast. */
static void count_and_flag_wide(uint8_t *gi, ptrdiff_t frame, ptrdiff_t skip, ptrdiff_t lowest,
                                uint8_t sat, uint8_t dnu, ptrdiff_t n, uint8_t *mark, int j)
{
    ptrdiff_t g, p;

    for (p = 0; p < n; p++) {
        ptrdiff_t cnt = 0;
        for (g = lowest; g <= skip + 1; g++)
            cnt += (gi[g * frame + p] & (uint8_t)~gi[p] & sat) != 0;
        if (cnt != 0)
            mark[p] |= MARK_BACKED(j);
        if (cnt >= skip)
            mark[p] |= MARK_SINGLE(j);
        for (g = 0; g < skip - cnt; g++)
            gi[g * frame + p] |= dnu;
    }
}

#if HAVE_AVX2_BUILD
/* count_and_flag8 for a whole block row of one integration (n <= BLOCK pixels,
 * skip <= SKIP8_MAX), 32 pixels at a time with the counter in a register: each
 * plane is read once per 32 pixels, no counter array goes through memory, and
 * the planes flagged are still in L1 from the counting. The same integer
 * operations as count_and_flag8, so the same bytes; the last n % 32 pixels go
 * through count_and_flag8. */
__attribute__((target("avx2"))) static void
count_and_flag_avx2(uint8_t *gi, ptrdiff_t frame, ptrdiff_t skip, ptrdiff_t lowest,
                    uint8_t sat, uint8_t dnu, ptrdiff_t n, uint8_t *mark, int j)
{
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi8(1);
    const __m256i satv = _mm256_set1_epi8((char)sat), dnuv = _mm256_set1_epi8((char)dnu);
    const __m256i skipv = _mm256_set1_epi8((char)skip);
    const __m256i backed = _mm256_set1_epi8((char)(skip ? MARK_BACKED(j) : 0));
    const __m256i single = _mm256_set1_epi8((char)MARK_SINGLE(j));
    const int counted = lowest <= skip + 1;
    ptrdiff_t p, g;

    for (p = 0; p + 32 <= n; p += 32) {
        __m256i cnt = zero, k;
        if (counted) {
            /* A problem at level g: SATURATED there and not in group 0. */
            const __m256i m = _mm256_andnot_si256(
                _mm256_loadu_si256((const __m256i *)(gi + p)), satv);
            __m256i mk;
            for (g = lowest; g <= skip + 1; g++) {
                const __m256i q = _mm256_loadu_si256((const __m256i *)(gi + g * frame + p));
                cnt = _mm256_add_epi8(cnt, _mm256_min_epu8(_mm256_and_si256(q, m), one));
            }
            /* backed off: cnt != 0 (and skip > 0); one group: cnt >= skip. */
            mk = _mm256_or_si256(
                _mm256_andnot_si256(_mm256_cmpeq_epi8(cnt, zero), backed),
                _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_subs_epu8(skipv, cnt), zero), single));
            _mm256_storeu_si256((__m256i *)(mark + p),
                                _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(mark + p)),
                                                mk));
        }
        /* k = max(skip - cnt, 0) groups flagged: group g where k > g, i.e. where
         * cnt < skip - g as in count_and_flag8. */
        k = _mm256_subs_epu8(skipv, cnt);
        for (g = 0; g < skip; g++) {
            __m256i *q = (__m256i *)(gi + g * frame + p);
            const __m256i keep = _mm256_cmpeq_epi8(_mm256_subs_epu8(k, _mm256_set1_epi8((char)g)),
                                                   zero);
            _mm256_storeu_si256(q, _mm256_or_si256(_mm256_loadu_si256(q),
                                                   _mm256_andnot_si256(keep, dnuv)));
        }
    }
    if (p < n)
        count_and_flag8(gi + p, frame, skip, lowest, sat, dnu, n - p, mark + p, j);
}

/* The pixels of mark[0..n) with any of the bits `bits` set, 32 bytes at a time
 * (an exact integer count). */
__attribute__((target("avx2"))) static ptrdiff_t count_marks_avx2(const uint8_t *mark,
                                                                  ptrdiff_t n, uint8_t bits)
{
    const __m256i bv = _mm256_set1_epi8((char)bits), one = _mm256_set1_epi8(1);
    __m256i acc = _mm256_setzero_si256();
    uint64_t lanes[4];
    ptrdiff_t p, total;

    for (p = 0; p + 32 <= n; p += 32) {
        const __m256i m = _mm256_loadu_si256((const __m256i *)(mark + p));
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_min_epu8(_mm256_and_si256(m, bv), one),
                                                    _mm256_setzero_si256()));
    }
    memcpy(lanes, &acc, sizeof lanes);
    total = (ptrdiff_t)(lanes[0] + lanes[1] + lanes[2] + lanes[3]);
    for (; p < n; p++)
        total += (mark[p] & bits) != 0;
    return total;
}
#endif

/* Flag pixels [p0, p1) of the ranges rg[0..nrg-1], p1 - p0 <= BLOCK, nrg <= 2.
 * The integrations of a block are visited one after the other: fewer planes
 * stream at a time than when a chunk goes through all of them (prefetchers
 * follow few streams). Sets FLUX_ESTIMATED on the backed-off pixels, in one
 * pass over PIXELDQ for all the ranges; count[2j] and count[2j+1] get the
 * backed-off and one-group pixels of range j. */
static ALWAYS_INLINE void flag_block_body(const rscd_ramp *r, const rscd_params *params,
                                          const flag_range *rg, int nrg, ptrdiff_t p0,
                                          ptrdiff_t p1, ptrdiff_t *count, const int avx2)
{
    const ptrdiff_t frame = r->nrows * r->ncols, n = p1 - p0;
    const uint8_t sat = params->dq_saturated, dnu = params->dq_do_not_use;
    uint8_t mark[BLOCK];
    uint32_t *pdq = r->pixeldq + p0;
    ptrdiff_t i, c, p;
    int j, any = 0;

    memset(mark, 0, (size_t)n);
    for (j = 0; j < nrg; j++) {
        for (i = rg[j].first; i < rg[j].first + rg[j].count; i++) {
            uint8_t *gi = r->groupdq + i * r->ngroups * frame + p0;
            if (rg[j].skip > SKIP8_MAX) {
                count_and_flag_wide(gi, frame, rg[j].skip, rg[j].lowest, sat, dnu, n, mark, j);
                continue;
            }
#if HAVE_AVX2_BUILD
            if (avx2) {
                count_and_flag_avx2(gi, frame, rg[j].skip, rg[j].lowest, sat, dnu, n, mark, j);
                continue;
            }
#endif
            for (c = 0; c < n; c += CHUNK)
                count_and_flag8(gi + c, frame, rg[j].skip, rg[j].lowest, sat, dnu,
                                n - c < CHUNK ? n - c : CHUNK, mark + c, j);
        }
        /* Local sums: through the pointers, every pixel would cost a store the
         * compiler cannot drop (they might alias PIXELDQ). */
        if (rg[j].lowest <= rg[j].skip + 1) {
            ptrdiff_t nb = 0, no = 0;
#if HAVE_AVX2_BUILD
            if (avx2) {
                nb = count_marks_avx2(mark, n, MARK_BACKED(j));
                no = count_marks_avx2(mark, n, MARK_SINGLE(j));
            } else
#endif
            {
                for (p = 0; p < n; p++) {
                    nb += (mark[p] >> 2 * j) & 1u;
                    no += (mark[p] >> (2 * j + 1)) & 1u;
                }
            }
            count[2 * j] += nb;
            count[2 * j + 1] += no;
            any |= nb != 0;
        }
    }
    if (any) { /* branch-free: backed pixels are scattered, a test would mispredict */
        const uint32_t flux = params->dq_flux_estimated;
        const uint8_t backed = MARK_BACKED(0) | MARK_BACKED(1);
        for (p = 0; p < n; p++)
            pdq[p] |= flux & (uint32_t)-(uint32_t)((mark[p] & backed) != 0);
    }
}

static void flag_block(const rscd_ramp *r, const rscd_params *params, const flag_range *rg,
                       int nrg, ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t *count)
{
    flag_block_body(r, params, rg, nrg, p0, p1, count, 0);
}

#if HAVE_AVX2_BUILD
/* The same, compiled for AVX2 (chosen when the CPU has it), with the kernels
 * above: 32 pixels per instruction, the counters in registers. */
__attribute__((target("avx2"))) static void
flag_block_avx2(const rscd_ramp *r, const rscd_params *params, const flag_range *rg, int nrg,
                ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t *count)
{
    flag_block_body(r, params, rg, nrg, p0, p1, count, 1);
}
#else
#define flag_block_avx2 flag_block
#endif

/* Rules 7-8 for the ranges rg[0..nrg-1] (nrg <= 2, disjoint) once their stops
 * are known; fills their nback and none. */
static void flag_ranges(const rscd_ramp *ramp, const rscd_params *params, flag_range *rg,
                        int nrg)
{
    ptrdiff_t frame, block, nblocks, nb0 = 0, no0 = 0, nb1 = 0, no1 = 0;
    const int avx2 = HAVE_AVX2_BUILD && params->use_vector && rscd_vector_available();

    frame = ramp->nrows * ramp->ncols;
    nblocks = (frame + BLOCK - 1) / BLOCK;
#ifdef _OPENMP
#pragma omp parallel for num_threads(rscd_threads(params)) \
    reduction(+ : nb0, no0, nb1, no1) schedule(static) if (nblocks > 1)
#endif
    for (block = 0; block < nblocks; block++) {
        ptrdiff_t p0 = block * BLOCK, p1 = p0 + BLOCK < frame ? p0 + BLOCK : frame;
        ptrdiff_t count[4] = {0, 0, 0, 0};
        (avx2 ? flag_block_avx2 : flag_block)(ramp, params, rg, nrg, p0, p1, count);
        nb0 += count[0];
        no0 += count[1];
        nb1 += count[2];
        no1 += count[3];
    }
    rg[0].nback = nb0;
    rg[0].none = no0;
    if (nrg > 1) {
        rg[1].nback = nb1;
        rg[1].none = no1;
    }
}

/* The limits of one range (the ramp already checked). */
static int check_range_of(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                          ptrdiff_t skip)
{
    if (int_first < 0 || int_count < 0 || int_first > ramp->nints - int_count)
        return RSCD_ERR_RANGE;
    if (skip < 0 || skip >= ramp->ngroups - 1 || skip > RSCD_MAX_SKIP)
        return RSCD_ERR_SKIP;
    return RSCD_OK;
}

/* The caller's params in the current layout, the ramp and the range, checked. */
static int check_range(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                       ptrdiff_t skip, const rscd_params *given, rscd_params *params)
{
    int status = rscd_params_read(given, params);

    if (status == RSCD_OK)
        status = rscd_check_ramp(ramp, 0);
    if (status == RSCD_OK)
        status = check_range_of(ramp, int_first, int_count, skip);
    return status;
}

/* The back-off of a checked range (rule 7) visits levels skip+1, skip, ..., 1
 * and stops at the first level with no problem anywhere in the range (a
 * global stop). Each level above the stop lowers k of its problem samples by
 * one, so the stop is found first; then every pixel is independent. Returns
 * the stop level, 0 when every level had a problem. (The level-by-level form
 * of rscd_flag_problem_levels and rscd_flag_stop_level, stopping at the first
 * level without a problem instead of reading them all.) */
static ptrdiff_t find_stop(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                           ptrdiff_t skip, const rscd_params *params)
{
    ptrdiff_t level;

    for (level = skip + 1; level >= 1; level--)
        if (!any_problem(ramp, int_first, int_count, level, params->dq_saturated,
                         rscd_threads(params)))
            return level;
    return 0;
}

static flag_range range_of(ptrdiff_t int_first, ptrdiff_t int_count, ptrdiff_t skip,
                           ptrdiff_t stop)
{
    flag_range rg;

    rg.first = int_first;
    rg.count = int_count;
    rg.skip = skip;
    rg.lowest = stop + 1;
    rg.nback = rg.none = 0;
    return rg;
}

int rscd_flag_range(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                    ptrdiff_t skip, const rscd_params *given,
                    ptrdiff_t *backed_off, ptrdiff_t *one_group)
{
    rscd_params params;
    int status = check_range(ramp, int_first, int_count, skip, given, &params);

    if (status != RSCD_OK)
        return status;
    return rscd_flag_range_stop(ramp, int_first, int_count, skip,
                                find_stop(ramp, int_first, int_count, skip, &params), &params,
                                backed_off, one_group);
}

int rscd_flag_range_stop(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                         ptrdiff_t skip, ptrdiff_t stop, const rscd_params *given,
                         ptrdiff_t *backed_off, ptrdiff_t *one_group)
{
    flag_range rg;
    rscd_params params;
    int status = check_range(ramp, int_first, int_count, skip, given, &params);

    if (status != RSCD_OK)
        return status;
    if (stop < 0 || stop > skip + 1)
        return RSCD_ERR_RANGE;
    rg = range_of(int_first, int_count, skip, stop);
    flag_ranges(ramp, &params, &rg, 1);
    if (backed_off)
        *backed_off = rg.nback;
    if (one_group)
        *one_group = rg.none;
    return RSCD_OK;
}

/* ---- the plan (rscd.h, plan section) ---- */

int rscd_flag_plan_init(rscd_flag_plan *plan, size_t size)
{
    rscd_flag_plan d;

    memset(&d, 0, sizeof d); /* nothing runs */
    return rscd_init_struct(plan, size, &d, sizeof d);
}

int rscd_flag_plan_make(const rscd_ramp *ramp, ptrdiff_t skip_int1, ptrdiff_t skip_int2p,
                        rscd_flag_plan *plan)
{
    rscd_flag_plan p;
    ptrdiff_t ngroups, nints_exp;
    int status = rscd_check_ramp(ramp, 0), result = RSCD_OK;

    if (status == RSCD_OK)
        status = rscd_struct_ok(plan, sizeof *plan);
    if (status != RSCD_OK)
        return status;
    if (skip_int2p < 0)
        return RSCD_ERR_SKIP;
    rscd_flag_plan_init(&p, sizeof p);
    ngroups = ramp->ngroups;
    nints_exp = rscd_nints_exposure(ramp);

    if (skip_int1 < 0) { /* rule 1: reference without group_skip1 */
        skip_int1 = 1;
        p.no_skip1 = 1;
        result = RSCD_WARN_NO_SKIP1;
    }
    if (ngroups < RSCD_FLAG_MIN_GROUPS) { /* rule 2 */
        p.too_few_groups = 1;
        *plan = p;
        return RSCD_SKIP_FEW_GROUPS;
    }
    if (ngroups <= 5) /* rule 3 */
        skip_int1 = skip_int2p = 1;
    /* rule 4: leave at least 3 groups */
    /* (ngroups < skip + 3, written so a huge skip cannot overflow) */
    if (skip_int1 > ngroups - 3)
        skip_int1 = ngroups - 3 > 0 ? ngroups - 3 : 0;
    if (nints_exp > 1 && skip_int2p > ngroups - 3)
        skip_int2p = ngroups - 3 > 0 ? ngroups - 3 : 0;

    if (ramp->integration_start == 1 && ramp->nints > 0) { /* rule 5 */
        p.has_int1 = 1;
        p.int1_first = 0;
        p.int1_count = 1;
        p.int1_skip = skip_int1;
        status = check_range_of(ramp, 0, 1, skip_int1);
    }
    if (nints_exp > 1 && status == RSCD_OK) { /* rule 6 */
        p.has_int2p = 1;
        p.int2p_first = p.has_int1;
        p.int2p_count = ramp->nints - p.int2p_first > 0 ? ramp->nints - p.int2p_first : 0;
        p.int2p_skip = skip_int2p;
        status = check_range_of(ramp, p.int2p_first, p.int2p_count, skip_int2p);
    }
    if (status != RSCD_OK) /* a skip beyond RSCD_MAX_SKIP */
        return status;
    *plan = p;
    return result;
}

int rscd_flag_problem_levels(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                             ptrdiff_t skip, const rscd_params *given, uint8_t *problem)
{
    rscd_params params;
    ptrdiff_t level;
    int status = check_range(ramp, int_first, int_count, skip, given, &params);

    if (status != RSCD_OK)
        return status;
    if (!problem)
        return RSCD_ERR_NULL;
    for (level = 1; level <= skip + 1; level++) /* a level already set needs no reading */
        if (!problem[level - 1] && any_problem(ramp, int_first, int_count, level,
                                               params.dq_saturated, rscd_threads(&params)))
            problem[level - 1] = 1;
    return RSCD_OK;
}

ptrdiff_t rscd_flag_stop_level(const uint8_t *problem, ptrdiff_t skip)
{
    ptrdiff_t level;

    if (!problem || skip < 0)
        return -1;
    for (level = skip + 1; level >= 1; level--)
        if (!problem[level - 1])
            return level;
    return 0;
}

int rscd_flag(const rscd_ramp *ramp, ptrdiff_t skip_int1, ptrdiff_t skip_int2p,
              const rscd_params *given, rscd_flag_stats *stats)
{
    int status, nrg = 0;
    flag_range rg[2];
    rscd_flag_plan plan;
    rscd_params params; /* the caller's settings in the current layout */

    if (!given || !stats)
        return RSCD_ERR_NULL;
    status = rscd_params_read(given, &params);
    if (status == RSCD_OK)
        status = rscd_struct_ok(stats, sizeof *stats);
    if (status == RSCD_OK)
        status = rscd_flag_plan_init(&plan, sizeof plan);
    if (status == RSCD_OK)
        status = rscd_flag_plan_make(ramp, skip_int1, skip_int2p, &plan);
    if (status < 0)
        return status;
    rscd_flag_stats_init(stats, sizeof *stats); /* -1 where a rule does not run */
    if (plan.too_few_groups)
        return status;

    /* Both ranges are checked (by the plan) and their stops found before
     * anything changes (the stop of one does not depend on the flags of the
     * other); then one pass over the frame flags both, with one pass over
     * PIXELDQ. */
    if (plan.has_int1)
        rg[nrg++] = range_of(plan.int1_first, plan.int1_count, plan.int1_skip,
                             find_stop(ramp, plan.int1_first, plan.int1_count, plan.int1_skip,
                                       &params));
    if (plan.has_int2p)
        rg[nrg++] = range_of(plan.int2p_first, plan.int2p_count, plan.int2p_skip,
                             find_stop(ramp, plan.int2p_first, plan.int2p_count,
                                       plan.int2p_skip, &params));
    if (nrg == 0)
        return status;
    flag_ranges(ramp, &params, rg, nrg);
    if (plan.has_int1) {
        stats->ngroups_skip_int1 = plan.int1_skip;
        stats->keep_groups_saturation_int1 = rg[0].nback;
        stats->keep_bright_firstgroup_int1 = rg[0].none;
    }
    if (plan.has_int2p) {
        stats->ngroups_skip_int2p = plan.int2p_skip;
        stats->keep_groups_saturation_int2p = rg[nrg - 1].nback;
        stats->keep_bright_firstgroup_int2p = rg[nrg - 1].none;
    }
    return status;
}
