/* decay.c - the `decay` method of the seed document (jwst <= 0.13, 2019):
 * add to every group of an integration a decaying exponential whose
 * amplitude depends on the signal the pixel reached in the previous
 * integration, with separate parameters for odd and even detector rows and a
 * separate branch when the previous integration saturated (docs/overview.rst,
 * "Method decay").
 * SCI is changed in place, in its own byte order; GROUPDQ and PIXELDQ are
 * only read.
 *
 * Memory: the correction of row y of integration i needs only row y of
 * integration i-1. Rows are therefore independent; each block of a few rows
 * is walked through the integrations from the last to the second, so
 * integration i-1 is still uncorrected when integration i reads it. Scratch
 * is a few block-length arrays per thread plus the per-group decay factors:
 * never a frame, never a copy of the cube.
 *
 * Arithmetic: libm's exp and pow for every (pixel, integration) cost more
 * than all the memory traffic. On x86-64 with AVX2 and FMA, fastamp.c
 * computes them four at a time as an interval that provably holds the libm
 * value; a float is stored only where both ends of the interval round to it
 * (so the libm path stores it too), and the rare others are redone with
 * libm. The results are the libm path's, bit for bit, on every machine. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "fastamp.h"
#include "rscd_internal.h"

/* Rows handled together: a block is nrows_blk * ncols contiguous values in
 * each group plane (about 33 KB for a MIRI row), long enough runs for the
 * hardware prefetcher, which stops at every jump to the next group's plane. */
#define ROWS_PER_BLOCK 8

/* Scratch of one thread: block-length arrays of doubles (L, alo, ahi), a
 * block-length byte array (saturation mask) and a row-length one (elements
 * to redo). */
#define NSCRATCH_BLOCK 3

/* The parameters of one row parity after everything that depends only on
 * ngroups has been folded in. */
typedef struct parity_coeffs {
    double b1;        /* ascale * (illum_zp + illum_slope*N + illum2*N^2) */
    double sat_final; /* sat_zp + sat_slope*N + sat_2*N^2 + sat_rowterm */
    double pow_;      /* power of the signal above crossopt */
    double param3;    /* roll-off scale */
    double crossopt;  /* signal below which nothing is corrected */
    double sat_mzp;   /* saturated branch: amplitude offset */
    double sat_scale; /* saturated branch: scale of the fitted signal */
    const double *efac; /* [ngroups] exp(-(j+1)/tau) */
} parity_coeffs;

/* Counts gathered by one thread; integers, so their sum over threads does not
 * depend on how the rows were shared out. */
typedef struct pix_counts {
    ptrdiff_t corrected;
    ptrdiff_t saturated;
    ptrdiff_t nonfinite;
} pix_counts;

/* Where one row of the previous integration lies. */
typedef struct src_row {
    const float *data;    /* group 0 of the row; group g at data + g*frame */
    int swapped;          /* values stored in the opposite byte order */
    const uint8_t *gdq;   /* group 0 of the row in GROUPDQ */
} src_row;

/* Byte order of SCI: load_f32 and store_f32 (rscd_internal.h). */

static int coeffs_ok(const rscd_decay_coeffs *c)
{
    /* The negated comparisons are also true for NaN. */
    return isfinite(c->tau) && c->tau > 0.0 && isfinite(c->param3) && c->param3 > 0.0;
}

static void fold_coeffs(const rscd_decay_coeffs *c, ptrdiff_t ngroups, double *efac,
                        parity_coeffs *out)
{
    const double n = (double)ngroups, n2 = n * n;
    ptrdiff_t j;

    out->b1 = c->ascale * (c->illum_zp + c->illum_slope * n + c->illum2 * n2);
    out->sat_final = c->sat_zp + c->sat_slope * n + c->sat_2 * n2 + c->sat_rowterm;
    out->pow_ = c->pow;
    out->param3 = c->param3;
    out->crossopt = c->crossopt;
    out->sat_mzp = c->sat_mzp;
    out->sat_scale = c->sat_scale;
    /* T = j + 1: group j is read j+1 frame times after the reset. */
    for (j = 0; j < ngroups; j++)
        efac[j] = exp(-(double)(j + 1) / c->tau);
    out->efac = efac;
}

/* The least-squares line through the groups 1 .. N-2 of one pixel that are
 * not SATURATED (x = 0 .. N-3), evaluated at x = N; `l` when fewer than 3
 * groups are left or the slope is 0 (docs/overview.rst, "Method decay"). Only
 * saturated pixels
 * need it, a few per cent of a frame, so it reads them one by one. */
static double fit_unsaturated(const src_row *src, ptrdiff_t frame, ptrdiff_t ngroups,
                              ptrdiff_t x, uint8_t satbit, double l)
{
    double sn = 0.0, sx = 0.0, sy = 0.0, sxy = 0.0, sxx = 0.0, den, slope, icpt;
    ptrdiff_t g;

    for (g = 1; g <= ngroups - 2; g++) {
        if (!(src->gdq[g * frame + x] & satbit)) {
            const double xg = (double)(g - 1), v = load_f32(src->data + g * frame + x,
                                                            src->swapped);
            sn += 1.0;
            sx += xg;
            sy += v;
            sxy += xg * v;
            sxx += xg * xg;
        }
    }
    if (sn < 3.0)
        return l; /* slope = intercept = 0 */
    den = sn * sxx - sx * sx;
    slope = (sn * sxy - sx * sy) / den;
    icpt = (sxx * sy - sx * sxy) / den;
    return slope == 0.0 ? l : slope * (double)ngroups + icpt;
}

/* a of an unsaturated pixel from c2 = L - crossopt (docs/overview.rst, "Method
 * decay"), with libm: the reference the vector path is checked against. */
static double unsat_a(double c2, const parity_coeffs *c)
{
    double f2 = 0.0;
    if (!(c2 > 0.0))
        c2 = 0.0; /* also when crossopt is such that c2 is NaN */
    if (c2 > 0.0)
        f2 = 1.0 / (exp(c2 / c->param3) - 1.0);
    /* f2 is 0 when exp overflowed: the roll-off has killed the term. */
    return f2 > 0.0 ? c->b1 * pow(c2, c->pow_) * f2 : 0.0;
}

/* L and the saturation mask of n pixels that are contiguous in every group
 * plane (a block of whole rows) of the previous integration: long runs. */
static void block_inputs(const src_row *src, ptrdiff_t frame, ptrdiff_t ngroups, ptrdiff_t n,
                         uint8_t satbit, double *lf, uint8_t *satm)
{
    const float *d2 = src->data + (ngroups - 2) * frame;
    const float *d3 = src->data + (ngroups - 3) * frame;
    ptrdiff_t x, g;

    /* L: the last frame suffers from the last-frame effect, so it is
     * extrapolated from the second and third to last groups. */
    for (x = 0; x < n; x++) {
        double v2 = load_f32(d2 + x, src->swapped), v3 = load_f32(d3 + x, src->swapped);
        lf[x] = v2 + (v2 - v3);
    }

    /* Saturation anywhere in groups 1 .. N-2 of the previous integration
     * (a bit test: other flags such as JUMP_DET may be set too). */
    for (x = 0; x < n; x++)
        satm[x] = 0;
    for (g = 1; g <= ngroups - 2; g++) {
        const uint8_t *q = src->gdq + g * frame;
        for (x = 0; x < n; x++)
            satm[x] |= (uint8_t)(q[x] & satbit);
    }
}

/*----------------------------------------------------------------------
 * row_amplitudes - amp = L * a * 0.01 of each pixel of one row, from the
 * uncorrected previous integration (docs/overview.rst, "Method decay"); -0.0
 * where nothing is
 * to be added (L == 0, reference pixel, non-finite term): v + -0.0 is v for
 * every float v, -0.0 and NaN included.
 *
 * The amplitude is given as an interval [alo, ahi] that holds the value of
 * the libm path (most of the time spent on this method went into libm exp
 * and pow). With `fast`, unsaturated pixels take the vector value of
 * rscd_fast_amp widened by its error bound; every other pixel has the libm
 * value itself, alo == ahi. row_apply stores a float only where the whole
 * interval gives the same one.
 *
 * Given:
 *   src      src_row*          the row in the previous integration
 *   frame    ptrdiff_t         nrows * ncols (distance between groups)
 *   ngroups  ptrdiff_t         N >= 4
 *   ncols    ptrdiff_t         pixels in the row
 *   pdq      const uint32_t*   PIXELDQ of the row
 *   c        parity_coeffs*    the row's parameters
 *   satbit   uint8_t           GROUPDQ SATURATED bit
 *   refbit   uint32_t          PIXELDQ REFERENCE_PIXEL bit
 *   fast     int               use the vector path
 *   lf       const double*     [ncols] L (block_inputs)
 *   satm     const uint8_t*    [ncols] saturation mask (block_inputs)
 * Returned:
 *   alo, ahi double*           [ncols] the interval of amp
 *   cnt      pix_counts*       incremented
 *--------------------------------------------------------------------*/
static void row_amplitudes(const src_row *src, ptrdiff_t frame, ptrdiff_t ngroups,
                           ptrdiff_t ncols, const uint32_t *pdq, const parity_coeffs *c,
                           uint8_t satbit, uint32_t refbit, int fast, const double *lf,
                           const uint8_t *satm, double *alo, double *ahi,
                           pix_counts *cnt)
{
    /* Counts in locals: through cnt, each pixel's increment would be a store
     * and a reload the compiler cannot drop (about 5% of the method). */
    ptrdiff_t x, corrected = 0, saturated = 0, nonfinite = 0;

    /* The vector path: the interval of amp of the whole row (NaN where
     * rscd_fast_amp_interval cannot vouch for it); used for the ordinary
     * pixels, the others go through libm below. */
    if (fast)
        rscd_fast_amp_interval(lf, ncols, c->crossopt, c->b1, c->pow_, c->param3,
                               RSCD_TOL_SCALE, alo, ahi);

    for (x = 0; x < ncols; x++) {
        double l = lf[x], a, av;

        /* Vouched for, not a reference pixel, not saturated: done above. (L
         * is then finite and non-zero, else av would be 0 or NaN.) */
        if (fast && !isnan(alo[x]) && !(pdq[x] & refbit) && !satm[x]) {
            corrected++;
            continue;
        }
        alo[x] = ahi[x] = -0.0;
        /* Reference pixels: L = fit = 0, so nothing is added (the 2019 code
         * produced NaN here when pow < 0: 0^pow * 0). */
        if (pdq[x] & refbit)
            continue;
        if (l == 0.0)
            continue;
        if (!isfinite(l)) {
            nonfinite++;
            continue;
        }
        if (satm[x]) {
            /* Extrapolate the ramp of the unsaturated groups to group N:
             * an estimate of the signal saturation hid. */
            double fit = fit_unsaturated(src, frame, ngroups, x, satbit, l);
            a = c->sat_final * (fit * c->sat_scale) + c->sat_mzp;
        } else {
            a = unsat_a(l - c->crossopt, c);
        }
        av = l * a * 0.01;
        /* A correction of 2^103 DN or more is counted with the non-finite
         * ones and not added: below it, v + av*e rounds to at most FLT_MAX in
         * magnitude for every finite float v (the float32 ulp at FLT_MAX is
         * 2^104), so a correction never turns finite data into inf. */
        if (!(fabs(av) < 0x1p103)) {
            nonfinite++;
            continue;
        }
        if (av == 0.0)
            continue;
        alo[x] = ahi[x] = av;
        corrected++;
        if (satm[x])
            saturated++;
    }
    cnt->corrected += corrected;
    cnt->saturated += saturated;
    cnt->nonfinite += nonfinite;
}

/* d[x] += amp * e for one row of one group, in double precision, rounded
 * once to float32, where every amplitude is libm's own (alo == ahi: no
 * vector path). */
static void row_apply(float *d, int swapped, ptrdiff_t ncols, const double *amp, double e)
{
    ptrdiff_t x;

    /* Two loops so the native one carries no byte-order test. */
    if (swapped) {
        for (x = 0; x < ncols; x++)
            store_f32(d + x, (float)(load_f32(d + x, 1) + amp[x] * e), 1);
    } else {
        for (x = 0; x < ncols; x++)
            d[x] = (float)((double)d[x] + amp[x] * e);
    }
}

/* The elements rscd_fast_apply_row left: their pixel's amplitude is
 * recomputed with libm (and kept for the later groups); then the element is
 * corrected. */
static void row_redo(float *d, int swapped, ptrdiff_t ncols, const double *lf, double *alo,
                     double *ahi, double e, uint8_t *redo, const parity_coeffs *c)
{
    ptrdiff_t x;

    for (x = 0; x < ncols; x++) {
        if (redo[x]) {
            /* A pixel of the vector path: unsaturated, and the libm value lies
             * within the limits row_amplitudes checked. */
            const double av = lf[x] * unsat_a(lf[x] - c->crossopt, c) * 0.01;
            alo[x] = ahi[x] = av;
            store_f32(d + x, (float)(load_f32(d + x, swapped) + av * e), swapped);
            redo[x] = 0;
        }
    }
}

/* Add the amplitude of pixel (r, x) times efac[r][j] to group j of rows
 * y0 .. y0+nrows_blk-1 of the integration being corrected (dst points at row
 * y0 of group 0).
 *
 * With `fast`, the libm path's amplitude lies in [alo[x], ahi[x]]. Rounding
 * is monotonic in every step of d + amp*e and of the conversion to float, so
 * where both ends give the same float, the libm path gives it too:
 * rscd_fast_apply_row stores those and leaves the rest to row_redo. */
static void block_apply(float *dst, int swapped, ptrdiff_t frame, ptrdiff_t ngroups,
                        ptrdiff_t ncols, ptrdiff_t nrows_blk, int fast, const double *lf,
                        double *alo, double *ahi, uint8_t *redo,
                        const parity_coeffs *const *c)
{
    const ptrdiff_t n = nrows_blk * ncols;
    ptrdiff_t j, r, x;
    int any = 0;

    /* A block that gets nothing is not written at all (no dirtied pages in a
     * memory-mapped file). Usually the first pixel answers. */
    for (x = 0; x < n && !any; x++)
        any = alo[x] != 0.0 || ahi[x] != 0.0;
    if (!any)
        return;
    for (j = 0; j < ngroups; j++) {
        for (r = 0; r < nrows_blk; r++) {
            float *d = dst + j * frame + r * ncols;
            const ptrdiff_t o = r * ncols;
            const double e = c[r]->efac[j];
            if (!fast)
                row_apply(d, swapped, ncols, alo + o, e);
            else if (rscd_fast_apply_row(d, swapped, ncols, alo + o, ahi + o, e, redo))
                row_redo(d, swapped, ncols, lf + o, alo + o, ahi + o, e, redo, c[r]);
        }
    }
}

/*
 * rscd_decay - see rscd.h for the contract.
 *
 * Notes:
 * 1) Blocks of ROWS_PER_BLOCK rows are the unit of work (and of OpenMP
 *    sharing): for each block, the integrations are visited from the last to
 *    the second, each corrected from the same rows of the one before it,
 *    which are still uncorrected; then
 *    integration 0 from the previous segment's integration when given.
 *    Nothing is summed across threads but integer counts, so the result
 *    does not depend on the number of threads.
 * 2) All allocation happens before the first write: a failure leaves the
 *    arrays untouched.
 */
int rscd_decay(const rscd_ramp *ramp, const rscd_decay_coeffs *even,
               const rscd_decay_coeffs *odd, const rscd_prev_int *prev,
               const rscd_params *given, rscd_decay_stats *stats)
{
    rscd_params par; /* the caller's settings in the current layout */
    const rscd_params *const params = &par;
    int status, result, nthr = 1, fast;
    ptrdiff_t ngroups, nrows, ncols, nints, frame, cube, blk, i_first;
    ptrdiff_t ncorr = 0, nsat = 0, nnonf = 0;
    double *efac = NULL, *dwork = NULL;
    uint8_t *bwork = NULL;
    parity_coeffs pc[2]; /* [0] even rows, [1] odd rows */
    uint8_t satbit;
    uint32_t refbit;
    size_t per_thread_d, per_thread_b;

    /* ---- validation: nothing is written before all of it has passed ---- */
    if (!even || !odd || !given || !stats)
        return RSCD_ERR_NULL;
    status = rscd_params_read(given, &par);
    if (status == RSCD_OK)
        status = rscd_check_ramp(ramp, 1);
    if (status == RSCD_OK)
        status = rscd_struct_ok(even, sizeof *even);
    if (status == RSCD_OK)
        status = rscd_struct_ok(odd, sizeof *odd);
    if (status == RSCD_OK)
        status = rscd_struct_ok(stats, sizeof *stats);
    if (status == RSCD_OK && prev)
        status = rscd_struct_ok(prev, sizeof *prev);
    if (status != RSCD_OK)
        return status;
    if (prev && (!prev->data || !prev->groupdq))
        return RSCD_ERR_NULL;
    if (!coeffs_ok(even) || !coeffs_ok(odd))
        return RSCD_ERR_COEFFS;
    /* Integration 1 of an exposure has no previous integration. */
    if (prev && ramp->integration_start == 1)
        return RSCD_ERR_RANGE;

    rscd_decay_stats_init(stats, sizeof *stats);
    ngroups = ramp->ngroups;
    nrows = ramp->nrows;
    ncols = ramp->ncols;
    nints = ramp->nints;

    if (ngroups < RSCD_DECAY_MIN_GROUPS)
        return RSCD_SKIP_FEW_GROUPS;

    result = RSCD_OK;
    i_first = 1; /* lowest integration index of the buffer to correct */
    if (prev) {
        i_first = 0;
    } else if (ramp->integration_start > 1 && nints >= 1) {
        stats->first_int_left = 1;
        result = RSCD_INFO_FIRST_INT_LEFT;
    } else if (nints <= 1) {
        result = RSCD_INFO_ONE_INT;
    }
    if (nints - i_first <= 0 || nrows == 0 || ncols == 0)
        return result;

    frame = nrows * ncols;
    cube = frame * ngroups;
    satbit = params->dq_saturated;
    refbit = params->dq_reference_pixel;

#ifdef _OPENMP
    nthr = rscd_threads(params);
    if (nthr > nrows)
        nthr = (int)nrows;
    if (nthr < 1)
        nthr = 1;
#endif

    /* Scratch sizes: check the products before allocating (ncols is
     * bounded by the cube check, nthr by int). */
    per_thread_d = (size_t)ncols * NSCRATCH_BLOCK * ROWS_PER_BLOCK;
    per_thread_b = (size_t)ncols * (ROWS_PER_BLOCK + 1);
    if (per_thread_d > SIZE_MAX / sizeof(double) / (size_t)nthr) {
        status = RSCD_ERR_NOMEM;
        goto cleanup;
    }
    efac = (double *)malloc(2 * (size_t)ngroups * sizeof(double));
    dwork = (double *)malloc(per_thread_d * (size_t)nthr * sizeof(double));
    bwork = (uint8_t *)calloc(per_thread_b * (size_t)nthr, 1); /* redo starts all 0 */
    if (!efac || !dwork || !bwork) {
        status = RSCD_ERR_NOMEM;
        goto cleanup;
    }
    /* The decay factors depend only on the parity: computed once each. */
    fold_coeffs(even, ngroups, efac, &pc[0]);
    fold_coeffs(odd, ngroups, efac + ngroups, &pc[1]);
    fast = params->use_vector && rscd_vector_available();

    /* ---- the writes ---- */
#ifdef _OPENMP
#pragma omp parallel for num_threads(nthr) schedule(static) \
    reduction(+ : ncorr, nsat, nnonf) if (nthr > 1)
#endif
    for (blk = 0; blk < (nrows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK; blk++) {
        const ptrdiff_t y0 = blk * ROWS_PER_BLOCK;
        const ptrdiff_t nblk = nrows - y0 < ROWS_PER_BLOCK ? nrows - y0 : ROWS_PER_BLOCK;
        const parity_coeffs *c[ROWS_PER_BLOCK];
        int t = 0;
        double *lf, *alo, *ahi;
        uint8_t *satm, *redo;
        pix_counts cnt = {0, 0, 0};
        src_row src;
        ptrdiff_t i, r;

#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        lf = dwork + (size_t)t * per_thread_d;
        alo = lf + ROWS_PER_BLOCK * ncols;
        ahi = alo + ROWS_PER_BLOCK * ncols;
        satm = bwork + (size_t)t * per_thread_b;
        redo = satm + ROWS_PER_BLOCK * ncols;
        for (r = 0; r < nblk; r++) {
            /* Detector row first_row + y (1-based); odd rows use `odd`. Tested
             * bit-wise so first_row + y cannot overflow. */
            c[r] = &pc[((ramp->first_row & 1) ^ ((y0 + r) & 1)) ? 1 : 0];
        }

        /* Last to second (or first, with prev): integration i-1 is read
         * before integration i-1 itself is corrected. */
        for (i = nints - 1; i >= i_first; i--) {
            if (i > 0) {
                src.data = ramp->data + (i - 1) * cube + y0 * ncols;
                src.swapped = ramp->data_byteorder == RSCD_SWAPPED;
                src.gdq = ramp->groupdq + (i - 1) * cube + y0 * ncols;
            } else {
                src.data = prev->data + y0 * ncols;
                src.swapped = 0; /* prev is native by contract */
                src.gdq = prev->groupdq + y0 * ncols;
            }
            block_inputs(&src, frame, ngroups, nblk * ncols, satbit, lf, satm);
            for (r = 0; r < nblk; r++) {
                const ptrdiff_t o = r * ncols;
                src_row row = src;
                row.data += o;
                row.gdq += o;
                row_amplitudes(&row, frame, ngroups, ncols, ramp->pixeldq + (y0 + r) * ncols,
                               c[r], satbit, refbit, fast, lf + o, satm + o, alo + o,
                               ahi + o, &cnt);
            }
            block_apply(ramp->data + i * cube + y0 * ncols, ramp->data_byteorder == RSCD_SWAPPED,
                        frame, ngroups, ncols, nblk, fast, lf, alo, ahi, redo, c);
        }
        ncorr += cnt.corrected;
        nsat += cnt.saturated;
        nnonf += cnt.nonfinite;
    }

    stats->nints_corrected = nints - i_first;
    stats->npix_corrected = ncorr;
    stats->npix_saturated = nsat;
    stats->npix_nonfinite = nnonf;
    status = result;

cleanup:
    free(efac);
    free(dwork);
    free(bwork);
    return status;
}
