/* diagnose.c - the measurement kernel of `rscd diagnose` (docs/diagnose.rst,
 * "What is measured"): per sample, the late window's line, the offsets of the
 * measured groups from it in DN, the instrument slope z, the outlier cut, and the
 * sums of the two-part regression per row stripe. Python (rscd/diagnose_measure.py)
 * keeps the pilot, the regression and the report; its numpy path computes the same
 * sums and is the oracle of the tests. A row is measured CHUNK pixels at a time
 * (chunk_body); where the CPU has AVX2 the row runs through one_row_avx2, whose
 * vector parts (the *_avx2 functions) do the portable code's operations in the same
 * order, so both give the same bits (docs/diagnose.rst, "Speed and memory"). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* The AVX2 code only where double arithmetic rounds to double (FLT_EVAL_METHOD 0): the
 * x87 unit of 32-bit x86 keeps extended precision, and the portable code would then give
 * other bits than the vector code. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) \
    && defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ == 0
#define HAVE_AVX2_BUILD 1
#include <immintrin.h>
#else
#define HAVE_AVX2_BUILD 0
#endif

#include "fastamp.h"         /* rscd_vector_available */
#include "rscd_internal.h"   /* after the system headers: contraction off */

#define DQ_DO_NOT_USE 1u
#define DQ_SATURATED 2u
#define DQ_JUMP_DET 4u
#define DQ_AD_FLOOR 64u   /* set with DO_NOT_USE by jwst's saturation step */
#define DQ_REFERENCE_PIXEL 0x80000000u
#define BAD_GROUP (DQ_DO_NOT_USE | DQ_SATURATED | DQ_JUMP_DET | DQ_AD_FLOOR)
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
    ptrdiff_t jp;            /* nmeasured rounded up to a multiple of LANES */
    int swapped;
    uint32_t byte_mask;      /* 0x00ff00ff, set at run time (see sci_row) */
    /* per parity: the clip's o_centre and o_half, jp values per bin (padding: centre
     * 0, half +inf), so a pixel's values for four groups are one vector load */
    double *centre[2], *half[2];
} work;

/* Pixels of a row measured together: their buffers stay in the first-level caches. A
 * multiple of LANES, so that pixel x of the row is in lane x % LANES in every chunk. */
#define CHUNK 128

/* Per-thread buffers: of one chunk (CHUNK pixels) and of one row (nx pixels). */
typedef struct row_buf {
    double *tile;            /* ngroups x CHUNK, group-major: the chunk's values */
    float *ftile;            /* the same memory, the values as floats (AVX2 code: half
                                the bytes, so the chunk stays in the first caches) */
    double *slope, *mean;    /* CHUNK: the whole window's line */
    double *u, *umean, *z;   /* CHUNK: halves: half A's line and half B's slope */
    double *gscale;          /* CHUNK: the clip's brightness scale */
    double *offs;            /* CHUNK x jp, pixel-major: the offsets (padding 0) */
    int32_t *cell;           /* CHUNK: bin of z in the clip table times jp */
    int32_t *hbin;           /* CHUNK: the slope histogram's bin (vector code), or -1 */
    double *fin;             /* CHUNK: the sum of the offsets (finite or not) */
    double *hv, *ha, *he;    /* CHUNK: slope / slope_unit, its asinh and error bound */
    uint8_t *flags;          /* CHUNK: GROUPDQ of all groups, or'ed */
    unsigned char *okc;      /* CHUNK: the sample is used (DQ, finite) */
    double *us, *zs, *zu;    /* nx: the samples' u, z and z * u (0 where not used) */
    unsigned char *ok;       /* nx: the sample is used (and passes the cut of u) */
    unsigned char *cutx;     /* nx: a group's cut left the sample out */
    unsigned char *keep;     /* nx x jp: kept in group j (set where cutx) */
    unsigned char *removed;  /* jp: group j's cut left out a used sample of the row */
    double *so, *szo;        /* LANES x jp: the row's sums of o and z * o */
} row_buf;

/* Lanes of the row sums: each lane adds every LANES-th pixel in pixel order, and the
 * lanes are added in a fixed order at the end of the row. The order is written out
 * here, not left to the compiler, so the sums do not depend on compile flags; the
 * AVX2 code adds the same values in the same order, so both give the same bits. */
#define LANES 4

/* a line over groups l->first.. of the chunk's tile (n pixels); mean may be NULL */
static ALWAYS_INLINE void line_chunk(const line_coef *l, const double *tile, ptrdiff_t n,
                                     double *slope, double *mean)
{
    ptrdiff_t k, x;
    for (x = 0; x < n; x++)
        slope[x] = 0.0;
    for (k = 0; k < l->count; k++) {
        const double *row = tile + (l->first + k) * CHUNK;
        const double c = l->c[k];
        for (x = 0; x < n; x++)
            slope[x] += c * row[x];
    }
    if (!mean)
        return;
    for (x = 0; x < n; x++)
        mean[x] = 0.0;
    for (k = 0; k < l->count; k++) {
        const double *row = tile + (l->first + k) * CHUNK;
        for (x = 0; x < n; x++)
            mean[x] += row[x];
    }
    for (x = 0; x < n; x++)
        mean[x] /= (double)l->count;
}

/* flags[x] |= dq[x] & mask: the flags of a pixel's groups, gathered */
static ALWAYS_INLINE void dq_row(const uint8_t *dq, uint8_t mask, ptrdiff_t n, uint8_t *flags)
{
    ptrdiff_t x;
    for (x = 0; x < n; x++)
        flags[x] |= (uint8_t)(dq[x] & mask);
}

/* t[x] = the value at sci[x] (stored swapped or not) as double. Whether the values are
 * finite is seen later, in the lines and offsets they give (see is_finite()). */
static ALWAYS_INLINE void sci_row(const float *sci, int swapped, uint32_t mask, ptrdiff_t n,
                                  double *t)
{
    ptrdiff_t x;
    if (swapped) {
        for (x = 0; x < n; x++) {
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
        }
    } else {
        for (x = 0; x < n; x++)
            t[x] = (double)sci[x];
    }
}

#if HAVE_AVX2_BUILD
/* The AVX2 code's tile: the values as floats in native order (one byte shuffle per 8
 * stored-swapped words), converted to double where they are read (exactly: the same
 * values as sci_row's) */
__attribute__((target("avx2"))) static void sci_row_avx2(const float *sci, int swapped,
                                                         ptrdiff_t n, float *t)
{
    const __m256i order = _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
                                           3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
    ptrdiff_t x;
    if (!swapped) {
        memcpy(t, sci, (size_t)n * sizeof *t);
        return;
    }
    for (x = 0; x + 8 <= n; x += 8)
        _mm256_storeu_si256((__m256i *)(void *)(t + x),
                            _mm256_shuffle_epi8(
                                _mm256_loadu_si256((const __m256i *)(const void *)(sci + x)),
                                order));
    for (; x < n; x++)
        t[x] = (float)load_f32(sci + x, 1);
}
#endif

/* v is finite (v - v is NaN for inf and NaN) */
static ALWAYS_INLINE int is_finite(double v)
{
    return v - v == 0.0;
}

/* The offsets of the chunk's n pixels from the line (slope, mean) centred at xbar,
 * pixel-major: offs[x * jp + j] = (D - mean) - dx * slope of measured group j, for
 * groups j0 ..; fin[x] += each offset (finite only when all are: none is near the
 * largest double, the values being floats). The values D from the tile of doubles, or
 * (floats: the AVX2 code) from its tile of floats. */
static ALWAYS_INLINE void offsets_plain(const work *wk, const row_buf *rb, ptrdiff_t n,
                                        const double *slope, const double *mean, double xbar,
                                        ptrdiff_t j0, int floats)
{
    const rscd_diag_block *b = wk->b;
    ptrdiff_t j, x;
    for (j = j0; j < wk->nmeasured; j++) {
        const ptrdiff_t grp = j < b->window_start ? j : b->ngroups - 1;
        const double dx = (double)grp - xbar;
        const double *d = rb->tile + grp * CHUNK;
        const float *f = rb->ftile + grp * CHUNK;
        for (x = 0; x < n; x++) {
            const double o = ((floats ? (double)f[x] : d[x]) - mean[x]) - dx * slope[x];
            rb->offs[x * wk->jp + j] = o;
            rb->fin[x] += o;
        }
    }
}

/* A used sample's offsets against the cut of its bin, group by group: kept ones add o
 * to so[j] and o * z to szo[j] (so, szo: its lane's sums). Returns nonzero when the
 * cut left one out (keep[j] then says which). */
static ALWAYS_INLINE int sample_plain(const double *o, ptrdiff_t J, const double *centre,
                                      const double *half, double gscale, double z,
                                      double *so, double *szo, unsigned char *keep)
{
    ptrdiff_t j;
    int out = 0;
    for (j = 0; j < J; j++) {
        const int k = centre ? fabs(o[j] * gscale - centre[j]) <= half[j] : 1;
        const double om = k ? o[j] : 0.0;
        so[j] += om;
        szo[j] += om * z;
        keep[j] = (unsigned char)k;
        out |= !k;
    }
    return out;
}

#if HAVE_AVX2_BUILD
/* offsets_plain on the float tile for four groups and four pixels at a time, then
 * transposed: the same values. */
__attribute__((target("avx2"))) static void
offsets_avx2(const work *wk, const row_buf *rb, ptrdiff_t n, const double *slope,
             const double *mean, double xbar)
{
    const rscd_diag_block *b = wk->b;
    const ptrdiff_t jp = wk->jp, w = b->window_start;
    ptrdiff_t j, x, i;
    for (j = 0; j + LANES <= wk->nmeasured; j += LANES) {
        const float *d[LANES];
        __m256d dx[LANES];
        for (i = 0; i < LANES; i++) {
            const ptrdiff_t grp = j + i < w ? j + i : b->ngroups - 1;
            d[i] = rb->ftile + grp * CHUNK;
            dx[i] = _mm256_set1_pd((double)grp - xbar);
        }
        for (x = 0; x + LANES <= n; x += LANES) {
            const __m256d m = _mm256_loadu_pd(mean + x), s = _mm256_loadu_pd(slope + x);
            __m256d o[LANES], t0, t1, t2, t3;
            __m256d f = _mm256_loadu_pd(rb->fin + x);
            for (i = 0; i < LANES; i++) {
                o[i] = _mm256_sub_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(d[i] + x)), m),
                                     _mm256_mul_pd(dx[i], s));
                f = _mm256_add_pd(f, o[i]);
            }
            _mm256_storeu_pd(rb->fin + x, f);
            /* o[i] holds group j+i of pixels x..x+3: transpose to pixels */
            t0 = _mm256_unpacklo_pd(o[0], o[1]);
            t1 = _mm256_unpackhi_pd(o[0], o[1]);
            t2 = _mm256_unpacklo_pd(o[2], o[3]);
            t3 = _mm256_unpackhi_pd(o[2], o[3]);
            _mm256_storeu_pd(rb->offs + (x + 0) * jp + j, _mm256_permute2f128_pd(t0, t2, 0x20));
            _mm256_storeu_pd(rb->offs + (x + 1) * jp + j, _mm256_permute2f128_pd(t1, t3, 0x20));
            _mm256_storeu_pd(rb->offs + (x + 2) * jp + j, _mm256_permute2f128_pd(t0, t2, 0x31));
            _mm256_storeu_pd(rb->offs + (x + 3) * jp + j, _mm256_permute2f128_pd(t1, t3, 0x31));
        }
        for (; x < n; x++)
            for (i = 0; i < LANES; i++) {
                const double o = ((double)d[i][x] - mean[x])
                    - ((double)(j + i < w ? j + i : b->ngroups - 1) - xbar) * slope[x];
                rb->offs[x * jp + j + i] = o;
                rb->fin[x] += o;
            }
    }
    offsets_plain(wk, rb, n, slope, mean, xbar, j, 1);   /* the groups left over */
}

/* A cut of four groups jv.. left out some of sample i (k: the kept ones' bits): its
 * keep bytes (all kept until now) and the groups' removed flags. */
static void note_cut(const row_buf *rb, ptrdiff_t jp, ptrdiff_t J, ptrdiff_t i, ptrdiff_t jv,
                     int k)
{
    ptrdiff_t q;
    if (!rb->cutx[i]) {
        rb->cutx[i] = 1;
        memset(rb->keep + i * jp, 1, (size_t)jp);
    }
    for (q = 0; q < LANES; q++) {
        const int kept = (k >> q) & 1;
        rb->keep[i * jp + jv + q] = (unsigned char)kept;
        if (jv + q < J && !kept)
            rb->removed[jv + q] = 1;
    }
}

/* The arrays sums_avx2 reads, apart from row_buf (whose keep bytes, written on a cut,
 * could alias its pointers for the compiler). */
typedef struct sum_in {
    const double *offs, *gscale, *zs, *centre, *half;
    const int32_t *cell;
    ptrdiff_t jp, J, x0;
} sum_in;

/* sample_plain's work on groups jv .. jv+3 of the chunk's used sample x, its lane's
 * sums in registers *so, *szo: the same operations on the same values. */
__attribute__((target("avx2"))) static inline void
sum_sample_avx2(const row_buf *rb, const sum_in *in, ptrdiff_t x, ptrdiff_t jv, __m256d *so,
                __m256d *szo)
{
    const __m256d v = _mm256_loadu_pd(in->offs + x * in->jp + jv);
    __m256d om = v;
    if (in->centre) {
        const ptrdiff_t c = in->cell[x] + jv;
        const __m256d t = _mm256_sub_pd(_mm256_mul_pd(v, _mm256_set1_pd(in->gscale[x])),
                                        _mm256_loadu_pd(in->centre + c));
        const __m256d kept = _mm256_cmp_pd(_mm256_andnot_pd(_mm256_set1_pd(-0.0), t),
                                           _mm256_loadu_pd(in->half + c), _CMP_LE_OQ);
        const int k = _mm256_movemask_pd(kept);
        om = _mm256_and_pd(kept, v);
        if (k != 0xf)
            note_cut(rb, in->jp, in->J, in->x0 + x, jv, k);
    }
    *so = _mm256_add_pd(*so, om);
    *szo = _mm256_add_pd(*szo, _mm256_mul_pd(om, _mm256_set1_pd(in->zs[x])));
}

/* The chunk's cut and sums of o and z * o (chunk_body's loop over samples), four groups
 * at a time over jp groups (the padding's sums are kept apart and never read), the
 * four lanes' sums in registers: lane l still adds the samples x = l mod 4 in pixel
 * order, so the same bits. */
__attribute__((target("avx2"), noinline)) static void
sums_avx2(const work *wk, const row_buf *rb, ptrdiff_t x0, ptrdiff_t n, const double *centre,
          const double *half)
{
    const ptrdiff_t jp = wk->jp;
    const unsigned char *ok = rb->ok + x0;
    double *so = rb->so, *szo = rb->szo;
    sum_in in;
    ptrdiff_t jv, x;
    in.offs = rb->offs;
    in.gscale = rb->gscale;
    in.zs = rb->zs + x0;
    in.centre = centre;
    in.half = half;
    in.cell = rb->cell;
    in.jp = jp;
    in.J = wk->nmeasured;
    in.x0 = x0;
    for (jv = 0; jv < jp; jv += LANES) {
        __m256d s0 = _mm256_loadu_pd(so + 0 * jp + jv), z0 = _mm256_loadu_pd(szo + 0 * jp + jv);
        __m256d s1 = _mm256_loadu_pd(so + 1 * jp + jv), z1 = _mm256_loadu_pd(szo + 1 * jp + jv);
        __m256d s2 = _mm256_loadu_pd(so + 2 * jp + jv), z2 = _mm256_loadu_pd(szo + 2 * jp + jv);
        __m256d s3 = _mm256_loadu_pd(so + 3 * jp + jv), z3 = _mm256_loadu_pd(szo + 3 * jp + jv);
        for (x = 0; x + LANES <= n; x += LANES) {   /* x0 is a multiple of LANES */
            if (ok[x])
                sum_sample_avx2(rb, &in, x, jv, &s0, &z0);
            if (ok[x + 1])
                sum_sample_avx2(rb, &in, x + 1, jv, &s1, &z1);
            if (ok[x + 2])
                sum_sample_avx2(rb, &in, x + 2, jv, &s2, &z2);
            if (ok[x + 3])
                sum_sample_avx2(rb, &in, x + 3, jv, &s3, &z3);
        }
        if (x < n && ok[x])
            sum_sample_avx2(rb, &in, x, jv, &s0, &z0);
        if (x + 1 < n && ok[x + 1])
            sum_sample_avx2(rb, &in, x + 1, jv, &s1, &z1);
        if (x + 2 < n && ok[x + 2])
            sum_sample_avx2(rb, &in, x + 2, jv, &s2, &z2);
        _mm256_storeu_pd(so + 0 * jp + jv, s0);
        _mm256_storeu_pd(szo + 0 * jp + jv, z0);
        _mm256_storeu_pd(so + 1 * jp + jv, s1);
        _mm256_storeu_pd(szo + 1 * jp + jv, z1);
        _mm256_storeu_pd(so + 2 * jp + jv, s2);
        _mm256_storeu_pd(szo + 2 * jp + jv, z2);
        _mm256_storeu_pd(so + 3 * jp + jv, s3);
        _mm256_storeu_pd(szo + 3 * jp + jv, z3);
    }
}

/* line_chunk on the float tile, each pixel's sums in registers: the same values and
 * additions in the same order (k ascending from 0), so the same bits. */
__attribute__((target("avx2"))) static void
line_chunk_avx2(const line_coef *l, const float *tile, ptrdiff_t n, double *slope,
                double *mean)
{
    const float *row = tile + l->first * CHUNK;
    const __m256d count = _mm256_set1_pd((double)l->count);
    ptrdiff_t k, x;
    for (x = 0; x + LANES <= n; x += LANES) {
        __m256d s = _mm256_setzero_pd(), m = _mm256_setzero_pd();
        for (k = 0; k < l->count; k++) {
            const __m256d r = _mm256_cvtps_pd(_mm_loadu_ps(row + k * CHUNK + x));
            s = _mm256_add_pd(s, _mm256_mul_pd(_mm256_set1_pd(l->c[k]), r));
            m = _mm256_add_pd(m, r);
        }
        _mm256_storeu_pd(slope + x, s);
        if (mean)
            _mm256_storeu_pd(mean + x, _mm256_div_pd(m, count));
    }
    for (; x < n; x++) {
        double sv = 0.0, mv = 0.0;
        for (k = 0; k < l->count; k++) {
            sv += l->c[k] * (double)row[k * CHUNK + x];
            mv += (double)row[k * CHUNK + x];
        }
        slope[x] = sv;
        if (mean)
            mean[x] = mv / (double)l->count;
    }
}
#endif

/* line_chunk, on the AVX2 code (its float tile) or not */
static ALWAYS_INLINE void line_of(const line_coef *l, const row_buf *rb, ptrdiff_t n,
                                  double *slope, double *mean, int vector)
{
#if HAVE_AVX2_BUILD
    if (vector) {
        line_chunk_avx2(l, rb->ftile, n, slope, mean);
        return;
    }
#endif
    (void)vector;
    line_chunk(l, rb->tile, n, slope, mean);
}

/* The slope histogram's bin of a = asinh(slope / slope_unit) (rscd_diag_out in rscd.h);
 * the median slope of docs/diagnose.rst, "Recommended skip", is read from the histogram */
static ALWAYS_INLINE ptrdiff_t slope_bin(double a, const rscd_diag_out *out)
{
    double pos = nearbyint((a + out->slope_span)
                           * ((double)out->slope_bins / (2.0 * out->slope_span)));
    if (!(pos >= 0.0))
        pos = 0.0;          /* also NaN */
    if (pos > (double)(out->slope_bins - 1))
        pos = (double)(out->slope_bins - 1);
    return (ptrdiff_t)pos;
}

#if HAVE_AVX2_BUILD
/* The bins of rscd_fast_asinh's a[x] ~= asinh(v) within err[x], four at a time: where
 * a - err and a + err fall in one bin, libm's asinh(v) does too (every step of
 * slope_bin is monotonic), and bin[x] is that bin; elsewhere (or err < 0) -1: libm's
 * asinh decides. The same operations as slope_bin: _MM_FROUND_NEARBYINT is nearbyint,
 * and the maximum with 0 sends NaN to 0 as slope_bin does. A bin beyond int32 (a
 * histogram of 2^31 bins) converts to a negative value: libm then decides too. */
__attribute__((target("avx2"))) static void slope_bins_avx2(const double *a, const double *err,
                                                            ptrdiff_t n,
                                                            const rscd_diag_out *out,
                                                            int32_t *bin)
{
    const __m256d span = _mm256_set1_pd(out->slope_span);
    const __m256d scale = _mm256_set1_pd((double)out->slope_bins / (2.0 * out->slope_span));
    const __m256d last = _mm256_set1_pd((double)(out->slope_bins - 1));
    const __m256d zero = _mm256_setzero_pd();
    ptrdiff_t x, q;
    for (x = 0; x + LANES <= n; x += LANES) {
        const __m256d v = _mm256_loadu_pd(a + x), e = _mm256_loadu_pd(err + x);
        __m256d lo = _mm256_mul_pd(_mm256_add_pd(_mm256_sub_pd(v, e), span), scale);
        __m256d hi = _mm256_mul_pd(_mm256_add_pd(_mm256_add_pd(v, e), span), scale);
        int same;
        lo = _mm256_min_pd(_mm256_max_pd(_mm256_round_pd(lo, _MM_FROUND_NEARBYINT), zero), last);
        hi = _mm256_min_pd(_mm256_max_pd(_mm256_round_pd(hi, _MM_FROUND_NEARBYINT), zero), last);
        same = _mm256_movemask_pd(_mm256_and_pd(_mm256_cmp_pd(e, zero, _CMP_GE_OQ),
                                                _mm256_cmp_pd(lo, hi, _CMP_EQ_OQ)));
        _mm_storeu_si128((__m128i *)(void *)(bin + x), _mm256_cvtpd_epi32(lo));
        for (q = 0; q < LANES; q++)
            if (!((same >> q) & 1))
                bin[x + q] = -1;
    }
    for (; x < n; x++) {
        const ptrdiff_t lo = slope_bin(a[x] - err[x], out);
        bin[x] = err[x] >= 0.0 && lo == slope_bin(a[x] + err[x], out) && lo <= INT32_MAX
                     ? (int32_t)lo : -1;
    }
}
#endif

/* The chunk's used samples: u and z (0 where not used), the slope histogram, the clip
 * bin and the cut of u, into the row's arrays from pixel x0. Returns the samples
 * passing the DQ tests. */
static ALWAYS_INLINE ptrdiff_t samples_chunk(const work *wk, ptrdiff_t y, ptrdiff_t x0,
                                             ptrdiff_t n, const row_buf *rb, int64_t *hist,
                                             const rscd_diag_clip *clip, int vector)
{
    const rscd_diag_block *b = wk->b;
    const rscd_diag_out *out = wk->out;
    const ptrdiff_t jp = wk->jp;
    double *us = rb->us + x0, *zs = rb->zs + x0;
    unsigned char *ok = rb->ok + x0;
    ptrdiff_t used = 0, x, k;
    /* u and z of every sample, without a branch (vector loops): those of a sample not
     * used are set to 0 below */
    if (b->halves) {
        for (x = 0; x < n; x++) {
            us[x] = rb->u[x];
            zs[x] = rb->z[x];
            ok[x] = rb->okc[x];
        }
    } else {
        const double *sum = b->pixel_slope_sum + y * b->nx + x0;
        const double *count = b->pixel_slope_count + y * b->nx + x0;
        for (x = 0; x < n; x++) {
            const double others = count[x] - 1.0;
            us[x] = rb->slope[x];
            zs[x] = others > 0.0 ? (sum[x] - rb->slope[x]) / others : 0.0;
            ok[x] = (unsigned char)(rb->okc[x] & (others > 0.0));
        }
    }
    for (x = 0; x < n; x++) {
        used += rb->okc[x];
        rb->cell[x] = 0;
    }
    if (out->samples) { /* before the cut: the pilot's values (rscd_diag_out.samples) */
        const ptrdiff_t plane = b->row_count * b->nx;
        double *at = out->samples + (y - b->row_first) * b->nx + x0;
        ptrdiff_t j;
        for (x = 0; x < n; x++) {
            at[x] = ok[x] ? us[x] : NAN;
            at[plane + x] = zs[x];
        }
        for (j = 0; j < wk->nmeasured; j++)
            for (x = 0; x < n; x++)
                at[(2 + j) * plane + x] = rb->offs[x * jp + j];
    }
    /* the bin of z: the edges below it (numpy's searchsorted, side "left"), counted
     * edge by edge for the whole chunk */
    if (clip)
        for (k = 0; k < clip->nbins - 1; k++) {
            const double e = clip->edges[k];
            for (x = 0; x < n; x++)
                rb->cell[x] += e < zs[x];
        }
    for (x = 0; x < n; x++)
        rb->hv[x] = rb->slope[x] / out->slope_unit;
#if HAVE_AVX2_BUILD
    if (vector) { /* asinh four at a time, checked (libm's took a fifth of the pass) */
        rscd_fast_asinh(rb->hv, n, RSCD_TOL_SCALE, rb->ha, rb->he);
        slope_bins_avx2(rb->ha, rb->he, n, out, rb->hbin);
    }
#endif
    for (x = 0; x < n; x++) {
        const double u = us[x], z = zs[x];
        double gscale = 1.0;
        const int32_t bin = rb->cell[x];
        if (ok[x]) {
            ptrdiff_t h = vector ? rb->hbin[x] : -1;
            if (h < 0)
                h = slope_bin(asinh(rb->hv[x]), out);
            hist[h] += 1;
            if (clip) {
                if (clip->bright[bin])
                    gscale = clip->zmed[bin] / (z > 0.0 ? z : 1.0);
                if (!(fabs(u * gscale - clip->u_centre[bin]) <= clip->u_half[bin]))
                    ok[x] = 0;
            }
        }
        if (!ok[x])
            us[x] = zs[x] = 0.0;
        rb->zu[x0 + x] = zs[x] * us[x];
        rb->gscale[x] = gscale;
        rb->cell[x] = (int32_t)(bin * jp);
    }
    return used;
}

/* n, z, u, z * u summed in lanes over the row's samples kept in group j (j < 0: the
 * used samples). */
static void sample_sums(const row_buf *rb, ptrdiff_t nx, ptrdiff_t jp, ptrdiff_t j,
                        double acc[4][LANES])
{
    ptrdiff_t x, l;
    memset(acc, 0, 4 * LANES * sizeof(double));
    for (x = 0; x < nx; x += LANES)
        for (l = 0; l < LANES && x + l < nx; l++) {
            const ptrdiff_t i = x + l;
            const int k = rb->ok[i] && (j < 0 || !rb->cutx[i] || rb->keep[i * jp + j]);
            acc[0][l] += k ? 1.0 : 0.0;
            acc[1][l] += k ? rb->zs[i] : 0.0;
            acc[2][l] += k ? rb->us[i] : 0.0;
            acc[3][l] += k ? rb->zu[i] : 0.0;
        }
}

static double lanes_total(const double acc[LANES])
{
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* Pixels x0 .. x0+n-1 of row y. Returns the samples used. */
static ALWAYS_INLINE ptrdiff_t chunk_body(const work *wk, ptrdiff_t y, ptrdiff_t x0,
                                          ptrdiff_t n, const row_buf *rb, int64_t *hist,
                                          int sums, int vector)
{
    const rscd_diag_block *b = wk->b;
    rscd_diag_out *out = wk->out;
    const ptrdiff_t N = b->ngroups, nx = b->nx, jp = wk->jp;
    const ptrdiff_t stride = b->plane_stride > 0 ? b->plane_stride : b->ny * nx;
    const ptrdiff_t at = (y - b->data_row_first) * nx + x0;
    const int parity = ((b->ystart + y) % 2 == 1) ? 0 : 1;
    const rscd_diag_clip *clip = b->clip[parity];
    const double *centre = clip ? wk->centre[parity] : NULL;
    const double *half = clip ? wk->half[parity] : NULL;
    const uint32_t *pdq = b->pixeldq + y * nx + x0;
    /* the slopes pass's verdicts, which hold GROUPDQ's (rscd_diag_block.sample_ok) */
    const uint8_t *verdict = sums && b->sample_ok ? b->sample_ok + (y - b->row_first) * nx + x0
                                                  : NULL;
    const double *slope, *mean;
    double xbar;
    ptrdiff_t used = 0, x, g;
    (void)vector;
    /* the chunk's groups, plane by plane (sequential reads) */
    memset(rb->flags, 0, (size_t)n);
    for (g = 0; g < N; g++) {
        /* DO_NOT_USE on the first or the last group does not count: jwst's
         * firstframe and lastframe steps set it in every pixel (docs/diagnose.rst,
         * "Samples"); the saturation step's AD_FLOOR beside it still does */
        if (!verdict)
            dq_row(b->groupdq + g * stride + at,
                   (uint8_t)(g == 0 || g == N - 1 ? 0xffu & ~DQ_DO_NOT_USE : 0xffu), n,
                   rb->flags);
        /* the slopes pass reads only the window's SCI (a non-finite value elsewhere
         * leaves the sample out of the sums pass, not its pixel's slope, which stays
         * independent of every other sample) */
        if (sums || (g >= b->window_start && g < N - 1)) {
#if HAVE_AVX2_BUILD
            if (vector)
                sci_row_avx2(b->sci + g * stride + at, wk->swapped, n, rb->ftile + g * CHUNK);
            else
#endif
                sci_row(b->sci + g * stride + at, wk->swapped, wk->byte_mask, n,
                        rb->tile + g * CHUNK);
        }
    }
    /* used: no bad flag, and every value read finite, which the whole window's slope
     * shows for the window (each value enters it with a nonzero coefficient, or 0
     * times inf or NaN, which is NaN) and the offsets for the other groups */
    line_of(&wk->full, rb, n, rb->slope, (sums && !b->halves) ? rb->mean : NULL, vector);
    for (x = 0; x < n; x++)
        rb->okc[x] = (pdq[x] & BAD_PIXEL) == 0 && (rb->flags[x] & BAD_GROUP) == 0
            && is_finite(rb->slope[x]) && (!verdict || verdict[x]);
    if (!sums) {                                            /* slopes pass */
        for (x = 0; x < n; x++)
            if (rb->okc[x]) {
                used++;
                out->pixel_slope_sum[y * nx + x0 + x] += rb->slope[x];
                out->pixel_slope_count[y * nx + x0 + x] += 1.0;
            }
        if (out->sample_ok)
            memcpy(out->sample_ok + (y - b->row_first) * nx + x0, rb->okc, (size_t)n);
        return used;
    }
    if (b->halves) {
        line_of(&wk->half_b, rb, n, rb->z, NULL, vector);
        line_of(&wk->half_a, rb, n, rb->u, rb->umean, vector);
        slope = rb->u;
        mean = rb->umean;
        xbar = wk->half_a.xbar;
    } else {
        slope = rb->slope;
        mean = rb->mean;
        xbar = wk->full.xbar;
    }
    for (x = 0; x < n; x++)
        rb->fin[x] = 0.0;
#if HAVE_AVX2_BUILD
    if (vector)
        offsets_avx2(wk, rb, n, slope, mean, xbar);
    else
#endif
        offsets_plain(wk, rb, n, slope, mean, xbar, 0, 0);
    for (x = 0; x < n; x++)
        rb->okc[x] &= is_finite(rb->fin[x]);
    used = samples_chunk(wk, y, x0, n, rb, hist, clip, vector);
    /* per used sample, group by group: the cut and the sums of o and z * o in the
     * sample's lane (a sample left out adds nothing: its offsets, which may be NaN,
     * are not read) */
    for (x = 0; x < n; x++)
        rb->cutx[x0 + x] = 0;
#if HAVE_AVX2_BUILD
    if (vector) {
        sums_avx2(wk, rb, x0, n, centre, half);
        return used;
    }
#endif
    for (x = 0; x < n; x++) {
        const ptrdiff_t i = x0 + x, l = i % LANES;
        if (!rb->ok[i])
            continue;
        if (sample_plain(rb->offs + x * jp, wk->nmeasured, centre ? centre + rb->cell[x] : NULL,
                         half ? half + rb->cell[x] : NULL, rb->gscale[x], rb->zs[i],
                         rb->so + l * jp, rb->szo + l * jp, rb->keep + i * jp)) {
            ptrdiff_t j;
            rb->cutx[i] = 1;
            for (j = 0; j < wk->nmeasured; j++)
                rb->removed[j] |= (unsigned char)!rb->keep[i * jp + j];
        }
    }
    return used;
}

/* One row y; hist: the thread's private histogram (NULL in the slopes pass); rowsums:
 * the row's nmeasured x RSCD_DIAG_SUMS sums (the sums pass). Returns the samples used.
 * vector: the AVX2 code (one_row_avx2); the results are the same bits either way. */
static ALWAYS_INLINE ptrdiff_t row_body(const work *wk, ptrdiff_t y, const row_buf *rb,
                                        int64_t *hist, double *rowsums, int vector)
{
    const ptrdiff_t nx = wk->b->nx, jp = wk->jp;
    ptrdiff_t used = 0, x0, j, k;
    double sample[4][LANES];
    int sample_done = 0;
    if (rowsums) {
        memset(rb->so, 0, LANES * (size_t)jp * sizeof(double));
        memset(rb->szo, 0, LANES * (size_t)jp * sizeof(double));
        memset(rb->removed, 0, (size_t)jp);
    }
    for (x0 = 0; x0 < nx; x0 += CHUNK)
        used += chunk_body(wk, y, x0, nx - x0 < CHUNK ? nx - x0 : CHUNK, rb, hist,
                           rowsums != NULL, vector);
    if (!rowsums)
        return used;
    /* n, z, u and z * u need summing per group only where its cut left out a used
     * sample: otherwise they are the sums over the used samples (the same additions in
     * the same order) */
    for (j = 0; j < wk->nmeasured; j++) {
        double cut[4][LANES], so[LANES], szo[LANES];
        double (*s4)[LANES] = sample;
        if (rb->removed[j]) {
            sample_sums(rb, nx, jp, j, cut);
            s4 = cut;
        } else if (!sample_done) {
            sample_sums(rb, nx, jp, -1, sample);
            sample_done = 1;
        }
        for (k = 0; k < LANES; k++) {
            so[k] = rb->so[k * jp + j];
            szo[k] = rb->szo[k * jp + j];
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
 * rscd_params.use_vector is set): the compiler's vector loops, offsets_avx2 and
 * sample_avx2. */
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
    d.sample_ok = NULL;
    return rscd_init_struct(block, size, &d, sizeof d);
}

int rscd_diag_out_init(rscd_diag_out *out, size_t size)
{
    rscd_diag_out d;
    memset(&d, 0, sizeof d);
    d.sums = NULL;
    d.slope_hist = NULL;
    d.pixel_slope_sum = d.pixel_slope_count = NULL;
    d.sample_ok = NULL;
    d.samples = NULL;
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
    if (!b->sci || !b->pixeldq || (!b->groupdq && !(b->sample_ok && out->sums)))
        return RSCD_ERR_NULL;
    /* verdicts come out of a slopes pass and go into a sums pass */
    if ((b->sample_ok && !out->sums) || (out->sample_ok && out->sums))
        return RSCD_ERR_RANGE;
    if (out->samples && !out->sums)
        return RSCD_ERR_RANGE;
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
    ptrdiff_t window, half, p;
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
    wk.jp = (wk.nmeasured + LANES - 1) / LANES * LANES;
    for (p = 0; p < 2; p++) {
        const rscd_diag_clip *clip = block->clip[p];
        ptrdiff_t bin, j;
        if (!clip || !out->sums)
            continue;
        wk.centre[p] = (double *)malloc(2 * (size_t)(clip->nbins * wk.jp) * sizeof(double));
        if (!wk.centre[p]) {
            status = RSCD_ERR_NOMEM;
            goto done;
        }
        wk.half[p] = wk.centre[p] + clip->nbins * wk.jp;
        for (bin = 0; bin < clip->nbins; bin++)
            for (j = 0; j < wk.jp; j++) {
                const int in = j < wk.nmeasured;
                wk.centre[p][bin * wk.jp + j] = in ? clip->o_centre[bin * wk.nmeasured + j] : 0.0;
                wk.half[p][bin * wk.jp + j] = in ? clip->o_half[bin * wk.nmeasured + j] : HUGE_VAL;
            }
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
        const size_t nx = (size_t)block->nx, jp = (size_t)wk.jp, ch = CHUNK;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        memset(&rb, 0, sizeof rb);
        /* one block of doubles (offs zeroed: its padding is read, never written) */
        rb.tile = (double *)calloc(ch * ((size_t)block->ngroups + 10 + jp) + nx * 3
                                   + 2 * LANES * jp, sizeof(double));
        rb.cell = (int32_t *)malloc(2 * ch * sizeof(int32_t));
        rb.okc = (unsigned char *)malloc(2 * ch + nx * (2 + jp) + jp);
        if (!rb.tile || !rb.cell || !rb.okc) {
            failed = 1;
        } else {
            rb.slope = rb.tile + ch * (size_t)block->ngroups;
            rb.ftile = (float *)(void *)rb.tile;
            rb.mean = rb.slope + ch;
            rb.u = rb.slope + 2 * ch;
            rb.umean = rb.slope + 3 * ch;
            rb.z = rb.slope + 4 * ch;
            rb.gscale = rb.slope + 5 * ch;
            rb.fin = rb.slope + 6 * ch;
            rb.hbin = rb.cell + ch;
            rb.hv = rb.slope + 7 * ch;
            rb.ha = rb.slope + 8 * ch;
            rb.he = rb.slope + 9 * ch;
            rb.offs = rb.slope + 10 * ch;
            rb.us = rb.offs + ch * jp;
            rb.zs = rb.us + nx;
            rb.zu = rb.zs + nx;
            rb.so = rb.zu + nx;
            rb.szo = rb.so + LANES * jp;
            rb.flags = rb.okc + ch;
            rb.ok = rb.flags + ch;
            rb.cutx = rb.ok + nx;
            rb.keep = rb.cutx + nx;
            rb.removed = rb.keep + nx * jp;
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
        free(rb.cell);
        free(rb.okc);
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
    free(wk.centre[0]);
    free(wk.centre[1]);
    return status;
}
