/* measured.c - the `measured` method: subtract from every group the RSCD
 * transient that `rscd diagnose` measured in the observer's own exposures,
 * a[j] * s + b[j] for group j of a pixel whose signal grows by s DN per group
 * (docs/overview.rst, "Method measured"). Every group is kept: SCI changes,
 * GROUPDQ and PIXELDQ are only read.
 *
 * s is the pixel's own slope in the same integration, from its late window
 * (groups window_start .. N-2, which the transient has left; the last group
 * is out because of MIRI's last-frame effect). Why the pixel's own
 * integration and not its median over integrations: docs/overview.rst,
 * "Method measured", measured on simulated light curves (benchmarks/measured.py).
 *
 * Memory: a row of one integration needs nothing but itself, so the unit of
 * work (and of OpenMP sharing) is one (integration, row): the window's groups
 * of the row are read once to estimate s, then only the groups the model
 * touches are rewritten. Scratch is six row-length arrays per thread. */
#include <math.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rscd_internal.h"

/* A model's value at group j: 0 beyond what was measured. */
static double at(const double *v, ptrdiff_t length, ptrdiff_t j)
{
    return j < length ? v[j] : 0.0;
}

static int model_ok(const rscd_measured_model *m)
{
    ptrdiff_t j;

    if (m->length < 0 || m->window_start < 0)
        return 0;
    if (m->length > 0 && (!m->a || !m->b))
        return 0;
    for (j = 0; j < m->length; j++) {
        if (!isfinite(m->a[j]) || !isfinite(m->b[j]))
            return 0;
    }
    return 1;
}

/* Whether a model has at least two groups (one difference) in its window. */
static int window_ok(const rscd_measured_model *m, ptrdiff_t ngroups)
{
    return m->window_start <= ngroups - 3;
}

/* Counts gathered by one thread; integers, so their sum over threads does not
 * depend on how the rows were shared out. */
typedef struct row_counts {
    ptrdiff_t corrected;
    ptrdiff_t flagged;
    ptrdiff_t no_slope;
    ptrdiff_t left;
} row_counts;

/* Where one row of one integration lies, and its DQ bits. */
typedef struct row_view {
    float *data;           /* group 0 of the row; group g at data + g*frame */
    const uint8_t *gdq;    /* the same in GROUPDQ */
    const uint32_t *pdq;   /* the row in PIXELDQ */
    ptrdiff_t frame;       /* nrows * ncols */
    ptrdiff_t ngroups;
    ptrdiff_t ncols;
    int swapped;
    uint8_t bad_group;     /* SATURATED | DO_NOT_USE */
    uint8_t jump;          /* JUMP_DET */
    uint8_t sat;           /* SATURATED */
    uint32_t bad_pixel;    /* PIXELDQ DO_NOT_USE | REFERENCE_PIXEL */
    float *native;         /* [2][ncols] scratch: swapped rows in native order */
} row_view;

/* Whether the float with these bits is finite (its exponent is not all ones): an
 * integer test, which the compiler vectorizes where a floating-point one may not. */
static inline int finite_bits(uint32_t u)
{
    return (u & 0x7f800000u) != 0x7f800000u;
}

static inline float bits_float(uint32_t u)
{
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* n words from src to dst, byte-swapped. A loop of its own: with the swap inside
 * the arithmetic loops the compiler vectorizes neither (x86-64's baseline has no
 * vector byte shuffle), while this one is a bswap per word in cache. */
static void swap_row(float *dst, const float *src, ptrdiff_t n)
{
    ptrdiff_t x;
    for (x = 0; x < n; x++) {
        uint32_t u;
        memcpy(&u, src + x, sizeof u);
        u = rscd_bswap32(u);
        memcpy(dst + x, &u, sizeof u);
    }
}

/* Sums of the usable differences g -> g+1 of one row (rscd.h, rscd_measured, Notes),
 * native order, without branches so the compiler can vectorize. */
static void add_differences(const float *d0, const float *d1, const uint8_t *q0,
                            const uint8_t *q1, ptrdiff_t n, uint8_t bad0, uint8_t bad1,
                            double db, double da, double *num, double *den)
{
    ptrdiff_t x;
    for (x = 0; x < n; x++) {
        uint32_t u0, u1;
        memcpy(&u0, d0 + x, sizeof u0);
        memcpy(&u1, d1 + x, sizeof u1);
        /* An unusable difference becomes 0 - 0 - db*0: an integer mask and a 0/1
         * factor (exact) instead of a branch. */
        const uint32_t ok = (uint32_t)((((q0[x] & bad0) | (q1[x] & bad1)) == 0) &
                                       finite_bits(u0) & finite_bits(u1));
        const uint32_t mask = 0u - ok;
        const double m = (double)(int32_t)ok;
        const double v0 = bits_float(u0 & mask), v1 = bits_float(u1 & mask);
        num[x] += v1 - v0 - db * m;
        den[x] += da * m;
    }
}

/*----------------------------------------------------------------------
 * row_slopes - the slope s of each pixel of one row from its late window
 * (rscd.h, rscd_measured, Notes): the model's own increments are taken out
 * of each usable difference, so a window the transient still reaches a
 * little gives the same s as a clean one. A jump at g+1 moves the level, not
 * the slope: that difference is left out.
 *
 * Returned:
 *   s    double*  [ncols] the slope (0 where the pixel is left alone)
 *   has_slope uint8_t* [ncols] 1 where s is known, 0 where the pixel is left alone
 *   num, den double*  [ncols] scratch
 *   cnt  row_counts*  flagged and no_slope incremented
 *--------------------------------------------------------------------*/
static void row_slopes(const row_view *v, const rscd_measured_model *m, double *s,
                       uint8_t *has_slope, double *num, double *den, row_counts *cnt)
{
    const ptrdiff_t n = v->ncols;
    const uint8_t bad1 = (uint8_t)(v->bad_group | v->jump);
    ptrdiff_t g, x;

    for (x = 0; x < n; x++)
        num[x] = den[x] = 0.0;
    for (g = m->window_start; g + 1 <= v->ngroups - 2; g++) {
        const float *d0 = v->data + g * v->frame, *d1 = d0 + v->frame;
        const uint8_t *q0 = v->gdq + g * v->frame, *q1 = q0 + v->frame;
        const double db = at(m->b, m->length, g + 1) - at(m->b, m->length, g);
        const double da = 1.0 + at(m->a, m->length, g + 1) - at(m->a, m->length, g);
        if (v->swapped) {
            /* row g+1 in native order is row g of the next step: swap it once */
            float *n0 = v->native + (g & 1) * n, *n1 = v->native + ((g + 1) & 1) * n;
            if (g == m->window_start)
                swap_row(n0, d0, n);
            swap_row(n1, d1, n);
            d0 = n0;
            d1 = n1;
        }
        add_differences(d0, d1, q0, q1, n, v->bad_group, bad1, db, da, num, den);
    }
    /* Branch-free too (one division per pixel): s is usable when the pixel is not
     * flagged, den > 0 and num / den is finite; the tests are on the bits. */
    for (x = 0; x < n; x++) {
        const double q = num[x] / den[x];
        uint64_t qb, db;
        int flagged, ok;
        memcpy(&qb, &q, sizeof qb);
        memcpy(&db, &den[x], sizeof db);
        flagged = (v->pdq[x] & v->bad_pixel) != 0;
        /* den > 0: a positive double's bits read as a positive int64 (den is a sum
         * of finite terms, never NaN) */
        ok = !flagged & ((int64_t)db > 0) &
             ((qb & 0x7ff0000000000000u) != 0x7ff0000000000000u);
        s[x] = ok ? q : 0.0;
        has_slope[x] = (uint8_t)ok;
        cnt->flagged += flagged;
        /* nothing usable in the window (saturated early, all flagged), or a model
         * whose increments cancel the groups' own */
        cnt->no_slope += !flagged & !ok;
    }
}

/* One group of one row, native order: d - (a*s + b) where s is known, the value
 * is not SATURATED, finite, and so is the result; every other word is written
 * back as its own bits (a NaN keeps its payload). Returns the values left among
 * the pixels with a slope. Branch-free, so the compiler vectorizes it. */
static ptrdiff_t subtract_group(float *d, const uint8_t *q, const double *s,
                                const uint8_t *has_slope, ptrdiff_t n, uint8_t sat, double a,
                                double b)
{
    ptrdiff_t x, left = 0;
    for (x = 0; x < n; x++) {
        uint32_t raw, in, u, keep;
        float out;
        memcpy(&raw, d + x, sizeof raw);
        in = raw;
        out = (float)((double)bits_float(in) - (a * s[x] + b));
        memcpy(&u, &out, sizeof u);
        keep = (uint32_t)(has_slope[x] & ((q[x] & sat) == 0) & finite_bits(in) &
                          finite_bits(u));
        u = (u & (0u - keep)) | (raw & (keep - 1u));     /* keep ? u : raw */
        memcpy(d + x, &u, sizeof u);
        left += has_slope[x] & (keep ^ 1u);
    }
    return left;
}

/* Subtract a[j] * s + b[j] from every group the model touches. */
static void row_subtract(const row_view *v, const rscd_measured_model *m, const double *s,
                         const uint8_t *has_slope, row_counts *cnt)
{
    const ptrdiff_t n = v->ncols;
    const ptrdiff_t last = m->length < v->ngroups ? m->length : v->ngroups;
    ptrdiff_t j, x;
    int any = 0;

    for (j = 0; j < last; j++) {
        float *d = v->data + j * v->frame;
        const uint8_t *q = v->gdq + j * v->frame;
        if (m->a[j] == 0.0 && m->b[j] == 0.0)
            continue;   /* a group the transient does not reach is not even read */
        any = 1;
        if (v->swapped) {   /* through a native copy of the row, swapped back */
            swap_row(v->native, d, n);
            cnt->left += subtract_group(v->native, q, s, has_slope, n, v->sat, m->a[j],
                                        m->b[j]);
            swap_row(d, v->native, n);
        } else {
            cnt->left += subtract_group(d, q, s, has_slope, n, v->sat, m->a[j], m->b[j]);
        }
    }
    if (any) {
        for (x = 0; x < n; x++)
            cnt->corrected += has_slope[x];
    }
}

/* The init functions of this section's structs (the ABI rule of rscd.h); defaults
 * start from memset 0, padding included: every byte copied out is defined. */
int rscd_measured_model_init(rscd_measured_model *model, size_t size)
{
    rscd_measured_model d;
    memset(&d, 0, sizeof d);
    d.a = NULL;
    d.b = NULL;
    return rscd_init_struct(model, size, &d, sizeof d);
}

int rscd_measured_models_init(rscd_measured_models *models, size_t size)
{
    rscd_measured_models d;
    memset(&d, 0, sizeof d);
    d.int1[0] = d.int1[1] = NULL;
    d.int2p[0] = d.int2p[1] = NULL;
    d.dq_jump_det = 4u;
    return rscd_init_struct(models, size, &d, sizeof d);
}

int rscd_measured_stats_init(rscd_measured_stats *stats, size_t size)
{
    rscd_measured_stats d;
    memset(&d, 0, sizeof d);
    return rscd_init_struct(stats, size, &d, sizeof d);
}

/* RSCD_OK when every model given has a known struct_size (RSCD_ERR_STRUCT) and is
 * well formed (RSCD_ERR_MODEL); the first refusal otherwise. */
static int check_models(const rscd_measured_model *const *kinds[2])
{
    int k, p, status;
    for (k = 0; k < 2; k++) {
        for (p = 0; p < 2; p++) {
            const rscd_measured_model *m = kinds[k][p];
            if (!m)
                continue;
            status = rscd_struct_ok(m, sizeof *m);
            if (status != RSCD_OK)
                return status;
            if (!model_ok(m))
                return RSCD_ERR_MODEL;
        }
    }
    return RSCD_OK;
}

/*
 * rscd_measured - see rscd.h for the contract.
 *
 * Notes:
 * 1) All checks and the scratch allocation happen before the first write: a
 *    refusal leaves the arrays untouched.
 * 2) Every pixel is corrected from its own values only, and the counts are
 *    integers: the result does not depend on the number of threads.
 */
int rscd_measured(const rscd_ramp *ramp, const rscd_measured_models *models,
                  const rscd_params *given, rscd_measured_stats *stats)
{
    rscd_params par;
    int status, nthr, k, p;
    ptrdiff_t nints, nrows, ncols, frame, cube, item, nitems, i, i_first_2p;
    ptrdiff_t ncorr = 0, nflag = 0, nnos = 0, nleft = 0, nints_corr = 0;
    double *work = NULL;
    uint8_t *flags = NULL;
    float *native = NULL;
    const rscd_measured_model *const *kinds[2];
    int need[2];

    /* ---- validation: nothing is written before all of it has passed ---- */
    if (!models || !given || !stats)
        return RSCD_ERR_NULL;
    status = rscd_params_read(given, &par);
    if (status == RSCD_OK)
        status = rscd_check_ramp(ramp, 1);
    if (status == RSCD_OK)
        status = rscd_struct_ok(models, sizeof *models);
    if (status == RSCD_OK)
        status = rscd_struct_ok(stats, sizeof *stats);
    if (status != RSCD_OK)
        return status;
    /* the models' pointers are read only once models' struct_size is known */
    kinds[0] = models->int1;
    kinds[1] = models->int2p;
    status = check_models(kinds);
    if (status != RSCD_OK)
        return status;
    rscd_measured_stats_init(stats, sizeof *stats);
    nints = ramp->nints;
    nrows = ramp->nrows;
    ncols = ramp->ncols;
    /* Integration index i is integration 1 of the exposure only when
     * integration_start + i == 1, i.e. i == 0 of a buffer starting at 1. */
    i_first_2p = ramp->integration_start == 1 ? 1 : 0;
    need[0] = ramp->integration_start == 1 && nints >= 1;
    need[1] = nints > i_first_2p;
    for (k = 0; k < 2; k++) {
        for (p = 0; p < 2; p++) {
            if (need[k] && kinds[k][p] && !window_ok(kinds[k][p], ramp->ngroups))
                return RSCD_SKIP_FEW_GROUPS;
        }
    }
    for (i = 0; i < nints; i++) {
        k = i < i_first_2p ? 0 : 1;
        nints_corr += kinds[k][0] || kinds[k][1];
    }
    if (nints == 0 || nrows == 0 || ncols == 0 || nints_corr == 0) {
        stats->nints_corrected = nrows && ncols ? nints_corr : 0;
        return RSCD_OK;
    }

    frame = nrows * ncols;
    cube = frame * ramp->ngroups;
    nitems = nints * nrows;
    nthr = rscd_threads(&par); /* 1 without OpenMP */
    if (nthr > nitems)
        nthr = (int)nitems;
    if ((size_t)ncols > SIZE_MAX / sizeof(double) / 3 / (size_t)nthr)
        return RSCD_ERR_NOMEM;
    work = (double *)malloc(3 * (size_t)ncols * (size_t)nthr * sizeof(double));
    flags = (uint8_t *)malloc((size_t)ncols * (size_t)nthr);
    native = (float *)malloc(2 * (size_t)ncols * (size_t)nthr * sizeof(float));
    if (!work || !flags || !native) {
        free(work);
        free(flags);
        free(native);
        return RSCD_ERR_NOMEM;
    }

    /* ---- the writes ---- */
#ifdef _OPENMP
#pragma omp parallel for num_threads(nthr) schedule(static) \
    reduction(+ : ncorr, nflag, nnos, nleft) if (nthr > 1)
#endif
    for (item = 0; item < nitems; item++) {
        const ptrdiff_t ii = item / nrows, y = item % nrows;
        /* Detector row first_row + y (1-based); odd rows use [1]. Tested
         * bit-wise so first_row + y cannot overflow. */
        const int parity = ((ramp->first_row & 1) ^ (y & 1)) ? 1 : 0;
        const rscd_measured_model *m = kinds[ii < i_first_2p ? 0 : 1][parity];
        row_counts cnt = {0, 0, 0, 0};
        row_view v;
        double *s, *num, *den;
        uint8_t *has_slope;
        int t = 0;

        if (!m)
            continue;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        s = work + (size_t)t * 3 * (size_t)ncols;
        num = s + ncols;
        den = num + ncols;
        has_slope = flags + (size_t)t * (size_t)ncols;
        v.native = native + (size_t)t * 2 * (size_t)ncols;
        v.data = ramp->data + ii * cube + y * ncols;
        v.gdq = ramp->groupdq + ii * cube + y * ncols;
        v.pdq = ramp->pixeldq + y * ncols;
        v.frame = frame;
        v.ngroups = ramp->ngroups;
        v.ncols = ncols;
        v.swapped = ramp->data_byteorder == RSCD_SWAPPED;
        v.sat = par.dq_saturated;
        v.bad_group = (uint8_t)(par.dq_saturated | par.dq_do_not_use);
        v.jump = models->dq_jump_det;
        /* PIXELDQ's DO_NOT_USE is the same bit as GROUPDQ's in JWST data. */
        v.bad_pixel = (uint32_t)par.dq_do_not_use | par.dq_reference_pixel;
        row_slopes(&v, m, s, has_slope, num, den, &cnt);
        row_subtract(&v, m, s, has_slope, &cnt);
        ncorr += cnt.corrected;
        nflag += cnt.flagged;
        nnos += cnt.no_slope;
        nleft += cnt.left;
    }
    free(work);
    free(flags);
    free(native);

    stats->nints_corrected = nints_corr;
    stats->npix_corrected = ncorr;
    stats->npix_flagged = nflag;
    stats->npix_no_slope = nnos;
    stats->nvalues_left = nleft;
    return RSCD_OK;
}
