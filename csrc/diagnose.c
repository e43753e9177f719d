/* diagnose.c - the measurement kernel of `rscd diagnose` (docs/diagnose.rst,
 * "What is measured"): per sample, the late window's line, the offsets of the
 * measured groups from it in DN, the instrument slope z, the outlier cut, and the
 * sums of the two-part regression per row stripe. Python (rscd/diagnose_measure.py)
 * keeps the pilot, the regression and the report; its numpy path computes the same
 * sums and is the oracle of the tests. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "rscd_internal.h"

#define DQ_DO_NOT_USE 1u
#define DQ_SATURATED 2u
#define DQ_JUMP_DET 4u
#define DQ_REFERENCE_PIXEL 0x80000000u
#define BAD_GROUP (DQ_DO_NOT_USE | DQ_SATURATED | DQ_JUMP_DET)
#define BAD_PIXEL (DQ_DO_NOT_USE | DQ_REFERENCE_PIXEL)

/* Least-squares coefficients of a line through groups first .. first+count-1:
 * slope = sum c[k] D[first+k], mean = sum D / count, centre xbar. */
typedef struct line_coef {
    ptrdiff_t first, count;
    double xbar;
    double *c;
} line_coef;

static int line_init(line_coef *l, ptrdiff_t first, ptrdiff_t count)
{
    ptrdiff_t k;
    double sxx = 0.0;
    l->first = first;
    l->count = count;
    l->xbar = 0.0;
    for (k = 0; k < count; k++)
        l->xbar += (double)(first + k);
    l->xbar /= (double)count;
    l->c = (double *)malloc((size_t)count * sizeof(double));
    if (!l->c)
        return RSCD_ERR_NOMEM;
    for (k = 0; k < count; k++)
        sxx += ((double)(first + k) - l->xbar) * ((double)(first + k) - l->xbar);
    for (k = 0; k < count; k++)
        l->c[k] = ((double)(first + k) - l->xbar) / sxx;
    return RSCD_OK;
}

/* numpy's searchsorted(edges, z, side="left"): edges below z */
static ptrdiff_t zbin(const rscd_diag_clip *clip, double z)
{
    ptrdiff_t lo = 0, hi = clip->nbins - 1;
    while (lo < hi) {
        ptrdiff_t mid = lo + (hi - lo) / 2;
        if (clip->edges[mid] < z)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct work {
    const rscd_diag_block *b;
    rscd_diag_out *out;
    line_coef full, half_a, half_b;
    ptrdiff_t nmeasured;
    int swapped;
} work;

/* Per-thread buffers of one row (nx pixels). */
typedef struct row_buf {
    double *tile;            /* ngroups x nx, group-major: the row's values */
    double *slope, *mean;    /* the whole window's line */
    double *u, *umean, *z;   /* the offsets' line and the instrument (halves) */
    double *offs;            /* nmeasured x nx */
    ptrdiff_t *bin;          /* nx: bin of z in the clip table */
    unsigned char *ok;       /* nx: the sample is used */
} row_buf;

/* a line over groups l->first.. of the row's tile, for every pixel of the row */
static void line_row(const line_coef *l, const double *tile, ptrdiff_t nx, double *slope,
                     double *mean)
{
    ptrdiff_t k, x;
    for (x = 0; x < nx; x++)
        slope[x] = mean[x] = 0.0;
    for (k = 0; k < l->count; k++) {
        const double *row = tile + (l->first + k) * nx;
        const double c = l->c[k];
        for (x = 0; x < nx; x++) {
            slope[x] += c * row[x];
            mean[x] += row[x];
        }
    }
    for (x = 0; x < nx; x++)
        mean[x] /= (double)l->count;
}

/* offsets of the measured groups from the line (slope, mean) centred at xbar */
static void offsets_row(const work *wk, const double *tile, const double *slope,
                        const double *mean, double xbar, double *offs)
{
    const rscd_diag_block *b = wk->b;
    const ptrdiff_t nx = b->nx, w = b->window_start;
    ptrdiff_t j, x;
    for (j = 0; j < wk->nmeasured; j++) {
        const ptrdiff_t grp = j < w ? j : b->ngroups - 1;
        const double dx = (double)grp - xbar;
        const double *d = tile + grp * nx;
        double *o = offs + j * nx;
        for (x = 0; x < nx; x++)
            o[x] = d[x] - mean[x] - dx * slope[x];
    }
}

/* One stripe's rows [r0, r1) in row order; hist: the thread's private histogram
 * (NULL in the slopes pass). Returns the samples used. */
static ptrdiff_t stripe_rows(const work *wk, ptrdiff_t stripe, ptrdiff_t r0, ptrdiff_t r1,
                             const row_buf *rb, int64_t *hist)
{
    const rscd_diag_block *b = wk->b;
    rscd_diag_out *out = wk->out;
    const ptrdiff_t N = b->ngroups, nx = b->nx, plane = b->ny * b->nx;
    const ptrdiff_t J = wk->nmeasured;
    ptrdiff_t used = 0, y, x, g, j;
    for (y = r0; y < r1; y++) {
        const int parity = ((b->ystart + y) % 2 == 1) ? 0 : 1;
        const rscd_diag_clip *clip = b->clip[parity];
        double *sums = out->sums ? out->sums + ((stripe * 2 + parity) * J) * RSCD_DIAG_SUMS
                                 : NULL;
        const uint32_t *pdq = b->pixeldq + y * nx;
        /* the row's groups, plane by plane (sequential reads) */
        for (x = 0; x < nx; x++)
            rb->ok[x] = (pdq[x] & BAD_PIXEL) == 0;
        for (g = 0; g < N; g++) {
            const uint8_t *dq = b->groupdq + g * plane + y * nx;
            const float *sci = b->sci + g * plane + y * nx;
            double *t = rb->tile + g * nx;
            if (!sums && (g < b->window_start || g == N - 1)) {
                /* the slopes pass reads only the window's SCI (a non-finite value
                 * elsewhere leaves the sample out of the sums pass, not its pixel's
                 * slope, which stays independent of every other sample) */
                for (x = 0; x < nx; x++)
                    rb->ok[x] &= (dq[x] & BAD_GROUP) == 0;
                continue;
            }
            for (x = 0; x < nx; x++) {
                const double v = load_f32(sci + x, wk->swapped); /* rscd_internal.h */
                t[x] = v;
                rb->ok[x] &= ((dq[x] & BAD_GROUP) == 0) & (v - v == 0.0);   /* finite */
            }
        }
        line_row(&wk->full, rb->tile, nx, rb->slope, rb->mean);
        if (!sums) {                                        /* slopes pass */
            for (x = 0; x < nx; x++)
                if (rb->ok[x]) {
                    used++;
                    out->pixel_slope_sum[y * nx + x] += rb->slope[x];
                    out->pixel_slope_count[y * nx + x] += 1.0;
                }
            continue;
        }
        if (b->halves) {
            /* half B's mean is not needed: it goes where the whole window's was */
            line_row(&wk->half_b, rb->tile, nx, rb->z, rb->mean);
            line_row(&wk->half_a, rb->tile, nx, rb->u, rb->umean);
            offsets_row(wk, rb->tile, rb->u, rb->umean, wk->half_a.xbar, rb->offs);
        } else {
            offsets_row(wk, rb->tile, rb->slope, rb->mean, wk->full.xbar, rb->offs);
        }
        /* per pixel: the instrument, its bin and scale, and whether u passes; then per
         * group, the row's sums in local accumulators (added to the stripe's once) */
        for (x = 0; x < nx; x++) {
            const ptrdiff_t p = y * nx + x;
            const double slope = rb->slope[x];
            double u, z, gscale = 1.0;
            ptrdiff_t bin = 0;
            if (!rb->ok[x])
                continue;
            used++;
            if (b->halves) {
                u = rb->u[x];
                z = rb->z[x];
            } else {
                const double others = b->pixel_slope_count[p] - 1.0;
                if (!(others > 0.0)) {
                    rb->ok[x] = 0;
                    continue;
                }
                u = slope;
                z = (b->pixel_slope_sum[p] - slope) / others;
            }
            {
                double pos = nearbyint((asinh(slope / out->slope_unit) + out->slope_span)
                                       * ((double)out->slope_bins / (2.0 * out->slope_span)));
                if (!(pos >= 0.0))
                    pos = 0.0;          /* also NaN */
                if (pos > (double)(out->slope_bins - 1))
                    pos = (double)(out->slope_bins - 1);
                hist[(ptrdiff_t)pos] += 1;
            }
            if (clip) {
                bin = zbin(clip, z);
                if (clip->bright[bin])
                    gscale = clip->zmed[bin] / (z > 0.0 ? z : 1.0);
                if (!(fabs(u * gscale - clip->u_centre[bin]) <= clip->u_half[bin]))
                    rb->ok[x] = 0;
            }
            rb->u[x] = u;
            rb->z[x] = z;
            rb->mean[x] = gscale;       /* the whole window's mean is no longer needed */
            rb->bin[x] = bin;
        }
        for (j = 0; j < J; j++) {
            const double *o = rb->offs + j * nx;
            double n = 0.0, sz = 0.0, su = 0.0, so = 0.0, szu = 0.0, szo = 0.0;
            double *acc = sums + j * RSCD_DIAG_SUMS;
            for (x = 0; x < nx; x++) {
                if (!rb->ok[x])
                    continue;
                if (clip && !(fabs(o[x] * rb->mean[x] - clip->o_centre[rb->bin[x] * J + j])
                              <= clip->o_half[rb->bin[x] * J + j]))
                    continue;
                n += 1.0;
                sz += rb->z[x];
                su += rb->u[x];
                so += o[x];
                szu += rb->z[x] * rb->u[x];
                szo += o[x] * rb->z[x];
            }
            acc[0] += n;
            acc[1] += sz;
            acc[2] += su;
            acc[3] += so;
            acc[4] += szu;
            acc[5] += szo;
        }
    }
    return used;
}

/* The stripe of array row y: y * stripes / ny (numpy's (arange(ny) * S) // ny). */
static ptrdiff_t stripe_of(ptrdiff_t y, ptrdiff_t stripes, ptrdiff_t ny)
{
    return (y * stripes) / ny;
}

/* The init functions of this section's structs (the ABI rule of rscd.h); defaults
 * start from memset 0, padding included: every byte copied out is defined. */
int rscd_diag_clip_init(rscd_diag_clip *clip, size_t size)
{
    rscd_diag_clip d;
    memset(&d, 0, sizeof d);
    d.nbins = 1;
    d.edges = d.zmed = d.u_centre = d.u_half = d.o_centre = d.o_half = NULL;
    d.bright = NULL;
    return rscd_init_struct(clip, size, &d, sizeof d);
}

int rscd_diag_block_init(rscd_diag_block *block, size_t size)
{
    rscd_diag_block d;
    memset(&d, 0, sizeof d);
    d.sci = NULL;
    d.sci_byteorder = RSCD_NATIVE;
    d.groupdq = NULL;
    d.pixeldq = NULL;
    d.ystart = 1;
    d.pixel_slope_sum = d.pixel_slope_count = NULL;
    d.clip[0] = d.clip[1] = NULL;
    d.stripes = 1;
    return rscd_init_struct(block, size, &d, sizeof d);
}

int rscd_diag_out_init(rscd_diag_out *out, size_t size)
{
    rscd_diag_out d;
    memset(&d, 0, sizeof d);
    d.sums = NULL;
    d.slope_hist = NULL;
    d.pixel_slope_sum = d.pixel_slope_count = NULL;
    return rscd_init_struct(out, size, &d, sizeof d);
}

/* struct_size of block, out and the clips given (the ABI rule), then their values. */
static int check(const rscd_diag_block *b, const rscd_diag_out *out)
{
    ptrdiff_t p;
    int status = rscd_struct_ok(b, sizeof *b);
    if (status == RSCD_OK)
        status = rscd_struct_ok(out, sizeof *out);
    for (p = 0; p < 2 && status == RSCD_OK; p++) {
        if (b->clip[p])
            status = rscd_struct_ok(b->clip[p], sizeof *b->clip[p]);
    }
    if (status != RSCD_OK)
        return status;
    if (!b->sci || !b->groupdq || !b->pixeldq)
        return RSCD_ERR_NULL;
    if (b->ngroups < 6 || b->ny < 1 || b->nx < 1 || b->stripes < 1)
        return RSCD_ERR_DIMS;
    if (b->ny > PTRDIFF_MAX / b->nx || b->ngroups > PTRDIFF_MAX / (b->ny * b->nx))
        return RSCD_ERR_DIMS;
    if (b->row_first < 0 || b->row_count < 0 || b->row_first > b->ny - b->row_count)
        return RSCD_ERR_RANGE;
    if (b->window_start < 1 || b->window_start > b->ngroups - 5)
        return RSCD_ERR_RANGE;
    if (b->sci_byteorder != RSCD_NATIVE && b->sci_byteorder != RSCD_SWAPPED)
        return RSCD_ERR_BYTEORDER;
    if (out->sums) {
        if (!out->slope_hist || out->slope_bins < 1 || !(out->slope_span > 0.0)
            || !(out->slope_unit > 0.0))
            return RSCD_ERR_NULL;
        if (!b->halves && (!b->pixel_slope_sum || !b->pixel_slope_count))
            return RSCD_ERR_NULL;
        for (p = 0; p < 2; p++)
            if (b->clip[p] && (b->clip[p]->nbins < 1 || !b->clip[p]->bright
                               || !b->clip[p]->zmed || !b->clip[p]->u_centre
                               || !b->clip[p]->u_half || !b->clip[p]->o_centre
                               || !b->clip[p]->o_half
                               || (b->clip[p]->nbins > 1 && !b->clip[p]->edges)))
                return RSCD_ERR_NULL;
    } else if (!out->pixel_slope_sum || !out->pixel_slope_count) {
        return RSCD_ERR_NULL;
    }
    return RSCD_OK;
}

int rscd_diagnose_block(const rscd_diag_block *block, rscd_diag_out *out,
                        const rscd_params *params)
{
    work wk;
    rscd_params prm;
    ptrdiff_t first_stripe, last_stripe, nstripes, used = 0, s;
    ptrdiff_t window, half;
    int status, nthreads = 1, failed = 0;
    int64_t *hists = NULL;
    status = check(block, out);
    if (status != RSCD_OK)
        return status;
    if (params) {
        status = rscd_params_read(params, &prm);
        if (status != RSCD_OK)
            return status;
        nthreads = rscd_threads(&prm);
    }
    out->used = 0;
    if (block->row_count == 0)
        return RSCD_OK;
    memset(&wk, 0, sizeof wk);
    wk.b = block;
    wk.out = out;
    wk.nmeasured = block->window_start + 1;
    wk.swapped = block->sci_byteorder == RSCD_SWAPPED;
    window = block->ngroups - 1 - block->window_start;
    half = window / 2;
    if (line_init(&wk.full, block->window_start, window) != RSCD_OK
        || line_init(&wk.half_a, block->window_start, half) != RSCD_OK
        || line_init(&wk.half_b, block->window_start + half, window - half) != RSCD_OK) {
        status = RSCD_ERR_NOMEM;
        goto done;
    }
    first_stripe = stripe_of(block->row_first, block->stripes, block->ny);
    last_stripe = stripe_of(block->row_first + block->row_count - 1, block->stripes, block->ny);
    nstripes = last_stripe - first_stripe + 1;
    if (nthreads > nstripes)
        nthreads = (int)nstripes;
    if (out->sums) {
        hists = (int64_t *)calloc((size_t)nthreads * (size_t)out->slope_bins, sizeof(int64_t));
        if (!hists) {
            status = RSCD_ERR_NOMEM;
            goto done;
        }
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads) reduction(+:used) reduction(|:failed)
#endif
    {
        int t = 0;
        row_buf rb;
        const size_t nx = (size_t)block->nx;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        rb.tile = (double *)malloc(nx * (size_t)block->ngroups * sizeof(double));
        rb.slope = (double *)malloc(nx * 5 * sizeof(double));
        rb.offs = (double *)malloc(nx * (size_t)wk.nmeasured * sizeof(double));
        rb.ok = (unsigned char *)malloc(nx);
        rb.bin = (ptrdiff_t *)malloc(nx * sizeof(ptrdiff_t));
        if (!rb.tile || !rb.slope || !rb.offs || !rb.ok || !rb.bin) {
            failed = 1;
        } else {
            rb.mean = rb.slope + nx;
            rb.u = rb.slope + 2 * nx;
            rb.umean = rb.slope + 3 * nx;
            rb.z = rb.slope + 4 * nx;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (s = first_stripe; s <= last_stripe; s++) {
                /* rows of stripe s within the block */
                ptrdiff_t r0 = (s * block->ny + block->stripes - 1) / block->stripes;
                ptrdiff_t r1 = ((s + 1) * block->ny + block->stripes - 1) / block->stripes;
                if (r0 < block->row_first)
                    r0 = block->row_first;
                if (r1 > block->row_first + block->row_count)
                    r1 = block->row_first + block->row_count;
                used += stripe_rows(&wk, s, r0, r1, &rb,
                                    hists ? hists + (ptrdiff_t)t * out->slope_bins : NULL);
            }
        }
        free(rb.tile);
        free(rb.slope);
        free(rb.offs);
        free(rb.ok);
        free(rb.bin);
    }
    if (failed) {
        status = RSCD_ERR_NOMEM;
        goto done;
    }
    if (hists) {
        int t;
        ptrdiff_t k;
        for (t = 0; t < nthreads; t++)
            for (k = 0; k < out->slope_bins; k++)
                out->slope_hist[k] += hists[(ptrdiff_t)t * out->slope_bins + k];
    }
    out->used = used;
    status = RSCD_OK;
done:
    free(hists);
    free(wk.full.c);
    free(wk.half_a.c);
    free(wk.half_b.c);
    return status;
}
