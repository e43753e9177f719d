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

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_AVX2_BUILD 1
#include <immintrin.h>
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define HAVE_AVX2_BUILD 0
#define ALWAYS_INLINE inline
#endif

#include "fastamp.h"         /* rscd_vector_available */
#include "rscd_internal.h"   /* after the system headers: contraction off */

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

typedef struct work {
    const rscd_diag_block *b;
    rscd_diag_out *out;
    line_coef full, half_a, half_b;
    ptrdiff_t nmeasured;
    int swapped;
    uint32_t byte_mask;      /* 0x00ff00ff, set at run time (see sci_row) */
} work;

/* Per-thread buffers of one row (nx pixels, quads = ceil(nx / 4) groups of 4). */
typedef struct row_buf {
    double *tile;            /* ngroups x nx, group-major: the row's values */
    double *slope, *mean;    /* the whole window's line */
    double *u, *umean, *z;   /* halves: half A's line and half B's slope */
    double *us, *zs, *zu;    /* the samples' u, z and z * u (0 where not used) */
    double *gscale;          /* the clip's brightness scale */
    uint64_t *okmask;        /* nx: all ones where used (the AVX2 code's masks) */
    int32_t *cell;           /* nx: bin of z in the clip table times nmeasured */
    unsigned char *ok;       /* nx: the sample is used */
    unsigned char *okbits;   /* quads: bit l of okbits[q]: sample 4q + l is used */
    unsigned char *keep;     /* nmeasured x quads: the same for each group's cut */
} row_buf;

/* Lanes of the row sums: each lane adds every LANES-th pixel in pixel order, and the
 * lanes are added in a fixed order at the end of the row. The order is written out
 * here, not left to the compiler, so the sums do not depend on compile flags; the
 * AVX2 code holds the four lanes in one register and adds in the same order, so both
 * give the same bits. */
#define LANES 4

/* a line over groups l->first.. of the row's tile, for every pixel of the row; mean
 * may be NULL (not needed) */
static ALWAYS_INLINE void line_row(const line_coef *l, const double *tile, ptrdiff_t nx,
                                   double *slope, double *mean)
{
    ptrdiff_t k, x;
    for (x = 0; x < nx; x++)
        slope[x] = 0.0;
    for (k = 0; k < l->count; k++) {
        const double *row = tile + (l->first + k) * nx;
        const double c = l->c[k];
        for (x = 0; x < nx; x++)
            slope[x] += c * row[x];
    }
    if (!mean)
        return;
    for (x = 0; x < nx; x++)
        mean[x] = 0.0;
    for (k = 0; k < l->count; k++) {
        const double *row = tile + (l->first + k) * nx;
        for (x = 0; x < nx; x++)
            mean[x] += row[x];
    }
    for (x = 0; x < nx; x++)
        mean[x] /= (double)l->count;
}

/* ok[x] &= no bad flag in this group */
static ALWAYS_INLINE void dq_row(const uint8_t *dq, ptrdiff_t nx, unsigned char *ok)
{
    ptrdiff_t x;
    for (x = 0; x < nx; x++)
        ok[x] &= (unsigned char)((dq[x] & BAD_GROUP) == 0);
}

/* t[x] = the value at sci[x] (stored swapped or not) as double; ok[x] &= finite. The
 * finiteness is read from the exponent bits (all ones: inf or NaN), the same test as
 * v - v == 0 on the converted value, in a form a compiler can vectorise. */
static ALWAYS_INLINE void sci_row(const float *sci, int swapped, uint32_t mask, ptrdiff_t nx,
                                  double *t, unsigned char *ok)
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

/* One measured group of a row: its values, the line its offsets are taken from, and
 * its column of the clip table (NULL: no cut). */
typedef struct group_in {
    const double *d, *mean, *slope;
    double dx;
    const double *centre, *half;
} group_in;

/* Sample x's offset in group g: kept (returned) when used and within the cut; adds
 * the kept offset o to *so and o * z to *szo (a sample left out adds zeros: its
 * offset, which may be NaN, is not read into a sum). */
static ALWAYS_INLINE int offset_sample(const row_buf *rb, const group_in *g, ptrdiff_t x,
                                       double *so, double *szo)
{
    const double o = (g->d[x] - g->mean[x]) - g->dx * g->slope[x];
    int keep = rb->ok[x];
    double om;
    if (g->centre) {
        const int32_t c = rb->cell[x];
        keep &= fabs(o * rb->gscale[x] - g->centre[c]) <= g->half[c];
    }
    om = keep ? o : 0.0;
    *so += om;
    *szo += om * rb->zs[x];
    return keep;
}

/* The samples x .. nx-1 (fewer than LANES) of group g into lanes 0, 1, ...; returns
 * their keep bits. */
static ALWAYS_INLINE unsigned offsets_tail(const row_buf *rb, const group_in *g, ptrdiff_t x,
                                           ptrdiff_t nx, double so[LANES], double szo[LANES])
{
    unsigned bits = 0;
    ptrdiff_t l;
    for (l = 0; x + l < nx; l++)
        bits |= (unsigned)offset_sample(rb, g, x + l, &so[l], &szo[l]) << l;
    return bits;
}

/* The offsets of one group over the row: sums of o and z * o in lanes, the keep bits
 * (bits[q]: samples 4q ..). Returns nonzero when the cut left out a used sample. */
static ALWAYS_INLINE int offsets_plain(const row_buf *rb, const group_in *g, ptrdiff_t nx,
                                       unsigned char *bits, double so[LANES],
                                       double szo[LANES])
{
    ptrdiff_t x, l;
    unsigned removed = 0;
    for (x = 0; x + LANES <= nx; x += LANES) {
        unsigned b = 0;
        for (l = 0; l < LANES; l++)
            b |= (unsigned)offset_sample(rb, g, x + l, &so[l], &szo[l]) << l;
        bits[x / LANES] = (unsigned char)b;
        removed |= rb->okbits[x / LANES] & ~b;
    }
    if (x < nx) {
        const unsigned b = offsets_tail(rb, g, x, nx, so, szo);
        bits[x / LANES] = (unsigned char)b;
        removed |= rb->okbits[x / LANES] & ~b;
    }
    return removed != 0;
}

#if HAVE_AVX2_BUILD
/* offsets_plain four samples at a time: the same operations on the same values in
 * the same lanes, so the same bits. */
__attribute__((target("avx2"))) static int
offsets_avx2(const row_buf *rb, const group_in *g, ptrdiff_t nx, unsigned char *bits,
             double so[LANES], double szo[LANES])
{
    const __m256d dx = _mm256_set1_pd(g->dx), sign = _mm256_set1_pd(-0.0);
    __m256d vo = _mm256_loadu_pd(so), vzo = _mm256_loadu_pd(szo);
    ptrdiff_t x;
    int removed = 0;
    for (x = 0; x + LANES <= nx; x += LANES) {
        const __m256d o = _mm256_sub_pd(
            _mm256_sub_pd(_mm256_loadu_pd(g->d + x), _mm256_loadu_pd(g->mean + x)),
            _mm256_mul_pd(dx, _mm256_loadu_pd(g->slope + x)));
        const __m256d ok = _mm256_loadu_pd((const double *)(const void *)(rb->okmask + x));
        __m256d keep = ok, om;
        int b;
        if (g->centre) {
            const __m128i idx = _mm_loadu_si128((const __m128i *)(const void *)(rb->cell + x));
            const __m256d c = _mm256_i32gather_pd(g->centre, idx, 8);
            const __m256d h = _mm256_i32gather_pd(g->half, idx, 8);
            const __m256d t = _mm256_sub_pd(_mm256_mul_pd(o, _mm256_loadu_pd(rb->gscale + x)), c);
            keep = _mm256_and_pd(keep, _mm256_cmp_pd(_mm256_andnot_pd(sign, t), h, _CMP_LE_OQ));
        }
        om = _mm256_and_pd(keep, o);
        vo = _mm256_add_pd(vo, om);
        vzo = _mm256_add_pd(vzo, _mm256_mul_pd(om, _mm256_loadu_pd(rb->zs + x)));
        b = _mm256_movemask_pd(keep);
        bits[x / LANES] = (unsigned char)b;
        removed |= _mm256_movemask_pd(ok) & ~b;
    }
    _mm256_storeu_pd(so, vo);
    _mm256_storeu_pd(szo, vzo);
    if (x < nx) {
        const unsigned b = offsets_tail(rb, g, x, nx, so, szo);
        bits[x / LANES] = (unsigned char)b;
        removed |= (int)(rb->okbits[x / LANES] & ~b);
    }
    return removed != 0;
}
#endif

/* n, z, u, z * u summed in lanes over the samples whose bit is set. */
static ALWAYS_INLINE void sample_sums(const row_buf *rb, const unsigned char *bits,
                                      ptrdiff_t nx, double acc[4][LANES])
{
    ptrdiff_t x, l;
    memset(acc, 0, 4 * LANES * sizeof(double));
    for (x = 0; x < nx; x += LANES)
        for (l = 0; l < LANES && x + l < nx; l++) {
            const int k = (bits[x / LANES] >> l) & 1;
            acc[0][l] += k ? 1.0 : 0.0;
            acc[1][l] += k ? rb->zs[x + l] : 0.0;
            acc[2][l] += k ? rb->us[x + l] : 0.0;
            acc[3][l] += k ? rb->zu[x + l] : 0.0;
        }
}

static double lanes_total(const double acc[LANES])
{
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* The row's used samples: u and z (0 where not used), the slope histogram, the clip
 * bin and the cut of u. Returns the samples passing the DQ tests. */
static ALWAYS_INLINE ptrdiff_t samples_row(const work *wk, ptrdiff_t y, const row_buf *rb,
                                           int64_t *hist, const rscd_diag_clip *clip)
{
    const rscd_diag_block *b = wk->b;
    const rscd_diag_out *out = wk->out;
    const ptrdiff_t nx = b->nx, J = wk->nmeasured;
    ptrdiff_t used = 0, x, k;
    for (x = 0; x < nx; x++) {
        const ptrdiff_t p = y * nx + x;
        double u = 0.0, z = 0.0;
        if (rb->ok[x]) {
            used++;
            if (b->halves) {
                u = rb->u[x];
                z = rb->z[x];
            } else {
                const double others = b->pixel_slope_count[p] - 1.0;
                u = rb->slope[x];
                if (others > 0.0)
                    z = (b->pixel_slope_sum[p] - u) / others;
                else
                    rb->ok[x] = 0;
            }
        }
        rb->us[x] = u;
        rb->zs[x] = z;
        rb->cell[x] = 0;
    }
    /* the bin of z: the edges below it (numpy's searchsorted, side "left"), counted
     * edge by edge for the whole row */
    if (clip)
        for (k = 0; k < clip->nbins - 1; k++) {
            const double e = clip->edges[k];
            for (x = 0; x < nx; x++)
                rb->cell[x] += e < rb->zs[x];
        }
    for (x = 0; x < nx; x++) {
        const double u = rb->us[x], z = rb->zs[x];
        double gscale = 1.0;
        const int32_t bin = rb->cell[x];
        if (rb->ok[x]) {
            double pos = nearbyint((asinh(rb->slope[x] / out->slope_unit) + out->slope_span)
                                   * ((double)out->slope_bins / (2.0 * out->slope_span)));
            if (!(pos >= 0.0))
                pos = 0.0;          /* also NaN */
            if (pos > (double)(out->slope_bins - 1))
                pos = (double)(out->slope_bins - 1);
            hist[(ptrdiff_t)pos] += 1;
            if (clip) {
                if (clip->bright[bin])
                    gscale = clip->zmed[bin] / (z > 0.0 ? z : 1.0);
                if (!(fabs(u * gscale - clip->u_centre[bin]) <= clip->u_half[bin]))
                    rb->ok[x] = 0;
            }
        }
        if (!rb->ok[x])
            rb->us[x] = rb->zs[x] = 0.0;
        rb->zu[x] = rb->zs[x] * rb->us[x];
        rb->gscale[x] = gscale;
        rb->cell[x] = (int32_t)(bin * J);
        rb->okmask[x] = rb->ok[x] ? ~(uint64_t)0 : 0;
    }
    for (x = 0; x < nx; x += LANES) {
        unsigned bits = 0;
        for (k = 0; k < LANES && x + k < nx; k++)
            bits |= (unsigned)(rb->ok[x + k] != 0) << k;
        rb->okbits[x / LANES] = (unsigned char)bits;
    }
    return used;
}

/* One row y; hist: the thread's private histogram (NULL in the slopes pass); rowsums:
 * the row's nmeasured x RSCD_DIAG_SUMS sums (the sums pass). Returns the samples used.
 * vector: the AVX2 code (one_row_avx2); the results are the same bits either way. */
static ALWAYS_INLINE ptrdiff_t row_body(const work *wk, ptrdiff_t y, const row_buf *rb,
                                        int64_t *hist, double *rowsums, int vector)
{
    const rscd_diag_block *b = wk->b;
    rscd_diag_out *out = wk->out;
    const ptrdiff_t N = b->ngroups, nx = b->nx;
    const ptrdiff_t stride = b->plane_stride > 0 ? b->plane_stride : b->ny * nx;
    const ptrdiff_t at = (y - b->data_row_first) * nx;
    const ptrdiff_t J = wk->nmeasured, quads = (nx + LANES - 1) / LANES;
    const int parity = ((b->ystart + y) % 2 == 1) ? 0 : 1;
    const rscd_diag_clip *clip = b->clip[parity];
    const uint32_t *pdq = b->pixeldq + y * nx;
    ptrdiff_t used = 0, x, g, j;
    group_in gin;
    double sample[4][LANES];
    int sample_done = 0;
    (void)vector;
    /* the row's groups, plane by plane (sequential reads) */
    for (x = 0; x < nx; x++)
        rb->ok[x] = (pdq[x] & BAD_PIXEL) == 0;
    for (g = 0; g < N; g++) {
        dq_row(b->groupdq + g * stride + at, nx, rb->ok);
        /* the slopes pass reads only the window's SCI (a non-finite value elsewhere
         * leaves the sample out of the sums pass, not its pixel's slope, which stays
         * independent of every other sample) */
        if (rowsums || (g >= b->window_start && g < N - 1))
            sci_row(b->sci + g * stride + at, wk->swapped, wk->byte_mask, nx,
                    rb->tile + g * nx, rb->ok);
    }
    if (!rowsums) {                                         /* slopes pass */
        line_row(&wk->full, rb->tile, nx, rb->slope, NULL);
        for (x = 0; x < nx; x++)
            if (rb->ok[x]) {
                used++;
                out->pixel_slope_sum[y * nx + x] += rb->slope[x];
                out->pixel_slope_count[y * nx + x] += 1.0;
            }
        return used;
    }
    if (b->halves) {
        line_row(&wk->full, rb->tile, nx, rb->slope, NULL);
        line_row(&wk->half_b, rb->tile, nx, rb->z, NULL);
        line_row(&wk->half_a, rb->tile, nx, rb->u, rb->umean);
        gin.slope = rb->u;
        gin.mean = rb->umean;
    } else {
        line_row(&wk->full, rb->tile, nx, rb->slope, rb->mean);
        gin.slope = rb->slope;
        gin.mean = rb->mean;
    }
    used = samples_row(wk, y, rb, hist, clip);
    /* per group: the offsets, which samples pass its cut, the row's sums over them in
     * LANES lanes. n, z, u and z * u need summing again only for a group whose cut
     * left out a used sample: otherwise they are the sums over the used samples (the
     * same additions in the same order) */
    for (j = 0; j < J; j++) {
        const ptrdiff_t grp = j < b->window_start ? j : N - 1;
        unsigned char *bits = rb->keep + j * quads;
        double so[LANES] = {0.0, 0.0, 0.0, 0.0}, szo[LANES] = {0.0, 0.0, 0.0, 0.0};
        double cut[4][LANES];
        double (*s4)[LANES] = sample;
        int removed;
        gin.d = rb->tile + grp * nx;
        gin.dx = (double)grp - (b->halves ? wk->half_a.xbar : wk->full.xbar);
        gin.centre = clip ? clip->o_centre + j : NULL;
        gin.half = clip ? clip->o_half + j : NULL;
#if HAVE_AVX2_BUILD
        if (vector)
            removed = offsets_avx2(rb, &gin, nx, bits, so, szo);
        else
#endif
            removed = offsets_plain(rb, &gin, nx, bits, so, szo);
        if (removed) {
            sample_sums(rb, bits, nx, cut);
            s4 = cut;
        } else if (!sample_done) {
            sample_sums(rb, rb->okbits, nx, sample);
            sample_done = 1;
        }
        rowsums[j * RSCD_DIAG_SUMS + 0] = lanes_total(s4[0]);
        rowsums[j * RSCD_DIAG_SUMS + 1] = lanes_total(s4[1]);
        rowsums[j * RSCD_DIAG_SUMS + 2] = lanes_total(s4[2]);
        rowsums[j * RSCD_DIAG_SUMS + 3] = lanes_total(so);
        rowsums[j * RSCD_DIAG_SUMS + 4] = lanes_total(s4[3]);
        rowsums[j * RSCD_DIAG_SUMS + 5] = lanes_total(szo);
    }
    return used;
}

static ptrdiff_t one_row(const work *wk, ptrdiff_t y, const row_buf *rb, int64_t *hist,
                         double *rowsums)
{
    return row_body(wk, y, rb, hist, rowsums, 0);
}

#if HAVE_AVX2_BUILD
/* The same row compiled for AVX2 (chosen at run time when the CPU has it and
 * rscd_params.use_vector is set): the compiler's vector loops and offsets_avx2. */
__attribute__((target("avx2"))) static ptrdiff_t
one_row_avx2(const work *wk, ptrdiff_t y, const row_buf *rb, int64_t *hist, double *rowsums)
{
    return row_body(wk, y, rb, hist, rowsums, 1);
}
#endif

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
    int status, nthreads = 1, failed = 0, vector;
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
    } else {
        rscd_params_init(&prm, sizeof prm);   /* the defaults */
    }
    vector = HAVE_AVX2_BUILD && prm.use_vector && rscd_vector_available();
    (void)vector;             /* no AVX2 code in this build */
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
        const size_t nx = (size_t)block->nx, quads = (nx + LANES - 1) / LANES;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        memset(&rb, 0, sizeof rb);
        rb.tile = (double *)malloc(nx * (size_t)block->ngroups * sizeof(double));
        rb.slope = (double *)malloc(nx * 10 * sizeof(double));
        rb.okmask = (uint64_t *)malloc(nx * sizeof(uint64_t));
        rb.cell = (int32_t *)malloc(nx * sizeof(int32_t));
        rb.ok = (unsigned char *)malloc(nx + quads * (size_t)(wk.nmeasured + 1));
        if (!rb.tile || !rb.slope || !rb.okmask || !rb.cell || !rb.ok) {
            failed = 1;
        } else {
            rb.mean = rb.slope + nx;
            rb.u = rb.slope + 2 * nx;
            rb.umean = rb.slope + 3 * nx;
            rb.z = rb.slope + 4 * nx;
            rb.us = rb.slope + 5 * nx;
            rb.zs = rb.slope + 6 * nx;
            rb.zu = rb.slope + 7 * nx;
            rb.gscale = rb.slope + 8 * nx;
            rb.okbits = rb.ok + nx;
            rb.keep = rb.okbits + quads;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (y = 0; y < rows; y++) {
                int64_t *h = hists ? hists + (ptrdiff_t)t * out->slope_bins : NULL;
                double *s = rowsums ? rowsums + y * wk.nmeasured * RSCD_DIAG_SUMS : NULL;
#if HAVE_AVX2_BUILD
                if (vector)
                    used += one_row_avx2(&wk, block->row_first + y, &rb, h, s);
                else
#endif
                    used += one_row(&wk, block->row_first + y, &rb, h, s);
            }
        }
        free(rb.tile);
        free(rb.slope);
        free(rb.okmask);
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
