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
    uint32_t byte_mask;      /* 0x00ff00ff, set at run time (see sci_row) */
} work;

/* Per-thread buffers of one row (nx pixels). */
typedef struct row_buf {
    double *tile;            /* ngroups x nx, group-major: the row's values */
    double *slope, *mean;    /* the whole window's line */
    double *u, *umean, *z;   /* the offsets' line and the instrument (halves) */
    double *gscale;          /* the clip's brightness scale */
    double *offs;            /* nmeasured x nx */
    ptrdiff_t *cell;         /* nx: bin of z in the clip table times nmeasured */
    unsigned char *ok;       /* nx: the sample is used */
    unsigned char *keep;     /* nx: used and within the cut of one group */
} row_buf;

/* Lanes of the row sums: each lane adds every LANES-th pixel in pixel order, and the
 * lanes are added in a fixed order at the end of the row. The order is written out
 * here, not left to the compiler, so the sums do not depend on compile flags (and a
 * compiler may put the lanes in one vector register). */
#define LANES 4

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

/* ok[x] &= no bad flag in this group */
static void dq_row(const uint8_t *dq, ptrdiff_t nx, unsigned char *ok)
{
    ptrdiff_t x;
    for (x = 0; x < nx; x++)
        ok[x] &= (unsigned char)((dq[x] & BAD_GROUP) == 0);
}

/* t[x] = the value at sci[x] (stored swapped or not) as double; ok[x] &= finite. The
 * finiteness is read from the exponent bits (all ones: inf or NaN), the same test as
 * v - v == 0 on the converted value, in a form a compiler can vectorise. */
static void sci_row(const float *sci, int swapped, uint32_t mask, ptrdiff_t nx, double *t,
                    unsigned char *ok)
{
    ptrdiff_t x;
    if (swapped) {
        for (x = 0; x < nx; x++) {
            uint32_t bits;
            float v;
            memcpy(&bits, sci + x, sizeof bits);
            /* the byte swap as two swaps of halves, in 32-bit shifts and masks that
             * SSE2 has: with the mask a constant, GCC turns this back into a bswap
             * instruction, which it cannot vectorise without SSSE3 */
            bits = (bits >> 16) | (bits << 16);
            bits = ((bits >> 8) & mask) | ((bits & mask) << 8);
            memcpy(&v, &bits, sizeof v);
            t[x] = (double)v;
            ok[x] &= (unsigned char)((bits & 0x7f800000u) != 0x7f800000u);
        }
    } else {
        for (x = 0; x < nx; x++) {
            uint32_t bits;
            memcpy(&bits, sci + x, sizeof bits);
            t[x] = (double)sci[x];
            ok[x] &= (unsigned char)((bits & 0x7f800000u) != 0x7f800000u);
        }
    }
}

/* Sample i of the row into lane l of the sums, if keep[i]; a sample left out adds
 * zeros (its u and z are 0; its offset, which may be NaN, is not read into a sum). */
static inline void add_sample(double acc[RSCD_DIAG_SUMS][LANES], ptrdiff_t l,
                              const row_buf *rb, const double *o, ptrdiff_t i)
{
    /* every value read, then selected: no branch, so the lanes can be one vector */
    const int keep = rb->keep[i];
    const double ov = o[i], zv = rb->z[i], uv = rb->u[i];
    const double oi = keep ? ov : 0.0, z = keep ? zv : 0.0, u = keep ? uv : 0.0;
    acc[0][l] += keep ? 1.0 : 0.0;
    acc[1][l] += z;
    acc[2][l] += u;
    acc[3][l] += oi;
    acc[4][l] += z * u;
    acc[5][l] += oi * z;
}

/* One row y; hist: the thread's private histogram (NULL in the slopes pass); rowsums:
 * the row's nmeasured x RSCD_DIAG_SUMS sums (the sums pass). Returns the samples used. */
static ptrdiff_t one_row(const work *wk, ptrdiff_t y, const row_buf *rb, int64_t *hist,
                         double *rowsums)
{
    const rscd_diag_block *b = wk->b;
    rscd_diag_out *out = wk->out;
    const ptrdiff_t N = b->ngroups, nx = b->nx;
    const ptrdiff_t stride = b->plane_stride > 0 ? b->plane_stride : b->ny * nx;
    const ptrdiff_t at = (y - b->data_row_first) * nx;
    const ptrdiff_t J = wk->nmeasured;
    const int parity = ((b->ystart + y) % 2 == 1) ? 0 : 1;
    const rscd_diag_clip *clip = b->clip[parity];
    const uint32_t *pdq = b->pixeldq + y * nx;
    ptrdiff_t used = 0, x, g, j;
    /* the row's groups, plane by plane (sequential reads) */
    for (x = 0; x < nx; x++)
        rb->ok[x] = (pdq[x] & BAD_PIXEL) == 0;
    for (g = 0; g < N; g++) {
        dq_row(b->groupdq + g * stride + at, nx, rb->ok);
        /* the slopes pass reads only the window's SCI (a non-finite value elsewhere
         * leaves the sample out of the sums pass, not its pixel's slope, which stays
         * independent of every other sample) */
        if (rowsums || (g >= b->window_start && g < N - 1))
            sci_row(b->sci + g * stride + at, wk->swapped, wk->byte_mask, nx, rb->tile + g * nx, rb->ok);
    }
    line_row(&wk->full, rb->tile, nx, rb->slope, rb->mean);
    if (!rowsums) {                                         /* slopes pass */
        for (x = 0; x < nx; x++)
            if (rb->ok[x]) {
                used++;
                out->pixel_slope_sum[y * nx + x] += rb->slope[x];
                out->pixel_slope_count[y * nx + x] += 1.0;
            }
        return used;
    }
    if (b->halves) {
        /* half B's mean is not needed: it goes where the whole window's was */
        line_row(&wk->half_b, rb->tile, nx, rb->z, rb->mean);
        line_row(&wk->half_a, rb->tile, nx, rb->u, rb->umean);
        offsets_row(wk, rb->tile, rb->u, rb->umean, wk->half_a.xbar, rb->offs);
    } else {
        offsets_row(wk, rb->tile, rb->slope, rb->mean, wk->full.xbar, rb->offs);
    }
    /* per pixel: the instrument, its bin and scale, and whether u passes; a sample
     * left out gets u = z = 0 so that the sums below may add it times 0 */
    for (x = 0; x < nx; x++) {
        const ptrdiff_t p = y * nx + x;
        const double slope = rb->slope[x];
        double u = 0.0, z = 0.0, gscale = 1.0;
        ptrdiff_t bin = 0;
        if (rb->ok[x]) {
            used++;
            if (b->halves) {
                u = rb->u[x];
                z = rb->z[x];
            } else {
                const double others = b->pixel_slope_count[p] - 1.0;
                u = slope;
                if (others > 0.0)
                    z = (b->pixel_slope_sum[p] - slope) / others;
                else
                    rb->ok[x] = 0;
            }
        }
        if (rb->ok[x]) {
            double pos = nearbyint((asinh(slope / out->slope_unit) + out->slope_span)
                                   * ((double)out->slope_bins / (2.0 * out->slope_span)));
            if (!(pos >= 0.0))
                pos = 0.0;          /* also NaN */
            if (pos > (double)(out->slope_bins - 1))
                pos = (double)(out->slope_bins - 1);
            hist[(ptrdiff_t)pos] += 1;
            if (clip) {
                bin = zbin(clip, z);
                if (clip->bright[bin])
                    gscale = clip->zmed[bin] / (z > 0.0 ? z : 1.0);
                if (!(fabs(u * gscale - clip->u_centre[bin]) <= clip->u_half[bin]))
                    rb->ok[x] = 0;
            }
        }
        if (!rb->ok[x])
            u = z = 0.0;
        rb->u[x] = u;
        rb->z[x] = z;
        rb->gscale[x] = gscale;
        rb->cell[x] = bin * J;
    }
    /* per group: which samples pass its cut, then the row's sums over them in LANES
     * lanes */
    for (j = 0; j < J; j++) {
        const double *o = rb->offs + j * nx;
        double acc[RSCD_DIAG_SUMS][LANES];
        ptrdiff_t k, l;
        if (clip) {
            const double *centre = clip->o_centre + j, *half = clip->o_half + j;
            for (x = 0; x < nx; x++) {
                const ptrdiff_t c = rb->cell[x];
                rb->keep[x] = rb->ok[x]
                    & (unsigned char)(fabs(o[x] * rb->gscale[x] - centre[c]) <= half[c]);
            }
        } else {
            memcpy(rb->keep, rb->ok, (size_t)nx);
        }
        memset(acc, 0, sizeof acc);
        for (x = 0; x + LANES <= nx; x += LANES)
            for (l = 0; l < LANES; l++)
                add_sample(acc, l, rb, o, x + l);
        for (l = 0; x + l < nx; l++)
            add_sample(acc, l, rb, o, x + l);
        for (k = 0; k < RSCD_DIAG_SUMS; k++)
            rowsums[j * RSCD_DIAG_SUMS + k] = (acc[k][0] + acc[k][1]) + (acc[k][2] + acc[k][3]);
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
    /* a buffer of rows must hold the rows measured; whole frames start at row 0 */
    if (b->plane_stride < 0 || b->data_row_first < 0 || b->data_row_first > b->row_first
        || (b->plane_stride == 0 && b->data_row_first != 0)
        || (b->plane_stride > 0
            && b->row_first + b->row_count - b->data_row_first > b->plane_stride / b->nx))
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
    ptrdiff_t rows, used = 0;
    ptrdiff_t window, half;
    int status, nthreads = 1, failed = 0;
    int64_t *hists = NULL;
    double *rowsums = NULL;
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
    wk.byte_mask = wk.swapped ? 0x00ff00ffu : 0u;  /* known at run time only */
    window = block->ngroups - 1 - block->window_start;
    half = window / 2;
    if (line_init(&wk.full, block->window_start, window) != RSCD_OK
        || line_init(&wk.half_a, block->window_start, half) != RSCD_OK
        || line_init(&wk.half_b, block->window_start + half, window - half) != RSCD_OK) {
        status = RSCD_ERR_NOMEM;
        goto done;
    }
    rows = block->row_count;
    if (nthreads > rows)
        nthreads = (int)rows;
    if (out->sums) {
        hists = (int64_t *)calloc((size_t)nthreads * (size_t)out->slope_bins, sizeof(int64_t));
        rowsums = (double *)malloc((size_t)rows * (size_t)wk.nmeasured * RSCD_DIAG_SUMS
                                   * sizeof(double));
        if (!hists || !rowsums) {
            status = RSCD_ERR_NOMEM;
            goto done;
        }
    }
    /* rows in parallel, each row's sums apart; then added to their stripes in row
     * order, so the result does not depend on the number of threads */
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads) reduction(+:used) reduction(|:failed)
#endif
    {
        int t = 0;
        row_buf rb;
        ptrdiff_t y;
        const size_t nx = (size_t)block->nx;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        rb.tile = (double *)malloc(nx * (size_t)block->ngroups * sizeof(double));
        rb.slope = (double *)malloc(nx * 6 * sizeof(double));
        rb.offs = (double *)malloc(nx * (size_t)wk.nmeasured * sizeof(double));
        rb.ok = (unsigned char *)malloc(2 * nx);
        rb.keep = rb.ok ? rb.ok + nx : NULL;
        rb.cell = (ptrdiff_t *)malloc(nx * sizeof(ptrdiff_t));
        if (!rb.tile || !rb.slope || !rb.offs || !rb.ok || !rb.cell) {
            failed = 1;
        } else {
            rb.mean = rb.slope + nx;
            rb.u = rb.slope + 2 * nx;
            rb.umean = rb.slope + 3 * nx;
            rb.z = rb.slope + 4 * nx;
            rb.gscale = rb.slope + 5 * nx;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (y = 0; y < rows; y++)
                used += one_row(&wk, block->row_first + y, &rb,
                                hists ? hists + (ptrdiff_t)t * out->slope_bins : NULL,
                                rowsums ? rowsums + y * wk.nmeasured * RSCD_DIAG_SUMS : NULL);
        }
        free(rb.tile);
        free(rb.slope);
        free(rb.offs);
        free(rb.ok);
        free(rb.cell);
    }
    if (failed) {
        status = RSCD_ERR_NOMEM;
        goto done;
    }
    if (rowsums) {
        ptrdiff_t y, k;
        const ptrdiff_t J6 = wk.nmeasured * RSCD_DIAG_SUMS;
        for (y = 0; y < rows; y++) {
            const ptrdiff_t row = block->row_first + y;
            const int parity = ((block->ystart + row) % 2 == 1) ? 0 : 1;
            double *acc = out->sums
                + (stripe_of(row, block->stripes, block->ny) * 2 + parity) * J6;
            for (k = 0; k < J6; k++)
                acc[k] += rowsums[y * J6 + k];
        }
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
    free(rowsums);
    free(wk.full.c);
    free(wk.half_a.c);
    free(wk.half_b.c);
    return status;
}
