/* fastamp.c -- the AVX2 code of the decay method (see fastamp.h for the contracts):
 *   rscd_fast_amp           the unsaturated amplitude
 *                               a = (b1 * pow(c2, pw)) * (1.0 / (exp(c2 / param3) - 1.0))
 *                           four doubles at a time, with a per-element bound
 *                           err >= |a - a_ref|, a_ref being that expression with libm;
 *   rscd_fast_amp_interval  from it, an interval that holds the decay code's libm value
 *                           of L * a * 0.01;
 *   rscd_fast_apply_row     the checked store: a float only where both ends of the
 *                           interval round to it;
 *   rscd_fast_asinh         asinh with a bound on its distance to libm's, for the slope
 *                           histogram of rscd diagnose (diagnose.c).
 * Everything here is also done by plain C in decay.c, which the results equal.
 *
 * The polynomials are plain truncated Taylor series (coefficients 1/n! and
 * 1/(2j+1)), written out as exact rational expressions so the compiler rounds them.
 * Their truncation bounds below are upper bounds computed in exact rational arithmetic
 * (Python's fractions): for exp, |r|^13/13! / (1 - |r|/14) * e^|r| with |r| <= 0.3466 and
 * e^0.3466 < 1.415; for log, z^10/21 / (1 - z) with z <= 0.0295. Both series are one
 * term shorter than in the first version (which left 2^-57.2 and 2^-60.4 by the same
 * bounds): the wider bound below pays for it, and with the multiply for u the vector
 * amplitude costs some 13% less.
 *
 * Error bound (eps = 2^-53; "K" = E/(E-1) with E = exp(u), u = c2/param3 as the libm
 * path rounds that division):
 *   log:  L = log(c2)(1+l), |l| <= 8 eps: s = (m-1)/(m+1) costs 2 eps (m-1 is exact),
 *         series truncation (last term z^9/19) < 2^-55.1 = 0.23 eps, the sum in
 *         z = s^2 <= 0.0295 < 1.1 eps, 2s*p 1 eps; for k != 0, |log m| <= ln2/2 <=
 *         |log c2| and the two FMAs adding k*ln2 add <= 2 eps; the ln2 split error
 *         (k * 6e-34) is negligible. About 6.4 eps total.
 *   y = pw*L: |y - pw log c2| <= 9 eps |y|, which exp turns into relative error.
 *   exp:  relative error <= 8 eps: the reduction r = v - k*ln2_hi is exact (FMA, and the
 *         result is a multiple of ulp(ln2_hi) or of ulp(v) below 0.35), r - k*ln2_lo
 *         rounds by <= 2^-55 (0.25 eps); degree-12 Taylor truncation for |r| <= 0.3466
 *         is < 2^-51.8 = 2.2 eps relative; the Estrin evaluation rounds the top sum and
 *         1 + r, each at most 1.42, and smaller terms, against a result >= 0.707:
 *         < 4.5 eps; the scaling by 2^k is exact. About 7 eps total.
 *   u:    ours is c2 * (1/param3) (a multiply: the division cost some 5% of the vector
 *         amplitude), two roundings against the libm path's one, 1/param3 being normal:
 *         |ours - libm's| <= 3.01 eps u, so our E is within (8 + 3.01 u) eps of
 *         exp(libm's u), relatively.
 *   Ours:  P = pow (1 + 9 eps|y| + 8 eps); E - 1 = (e^u - 1)(1 + (8 + 3.01 u) eps K),
 *         the cancellation amplifying E's error by K; then E-1, 1/D, b1*P, *f2 round
 *         once each: total relative error <= eps (9|y| + (8 + 3.01 u)K + 12).
 *   libm:  pow and exp < 1 ulp <= 2 eps relative each, exp amplified by K, four
 *         roundings: <= eps (2K + 6).
 *   So |a - a_ref| <= eps |a| (9|y| + (10 + 3.01 u)K + 18) to first order; the
 *   second-order terms are below 2^-25 relative because eps*K <= 2^-32 (u >= 2^-20),
 *   eps*|y| <= 2^-43 and eps*u*K <= eps (u + 1) <= 2^-43 (u <= 700).
 *   We return err = 4 eps |a| (9|y| + (10 + 4u)K + 18), K computed as E*f2: the factor
 *   4 covers the second-order terms, the rounding of err itself and slack in the counts.
 * Range checks keep every intermediate (P, E, E-1, f2, b1*P on both paths) normal and
 * finite, so the relative-error model holds; see the NaN conditions in amp_block. */
#include "fastamp.h"

#include <math.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#endif

#include "rscd_internal.h" /* after the system headers: contraction off */

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))

#define TGT __attribute__((target("avx2,fma")))
#define SET1 _mm256_set1_pd
#define SET1I(v) _mm256_set1_epi64x((long long)(v))

int rscd_vector_available(void)
{
    /* Only reads what libgcc's start-up code filled in: no state of ours. */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* ln2 = LN2_HI + LN2_LO (LN2_HI the nearest double; the rest below 6e-34). */
#define LN2_HI 0x1.62e42fefa39efp-1
#define LN2_LO 0x1.abc9e3b39803fp-56

/* Natural log of positive normal finite x (other lanes give garbage, never traps). */
static inline TGT __m256d vlog(__m256d x)
{
    /* x = 2^k * m, m in [sqrt(1/2), sqrt(2)): adding 0x3FF0.. - bits(sqrt(1/2)) makes
     * the exponent field of t equal k + 1023 (always in [0, 2047] for normal x), and
     * m's bits are x's bits with k taken off the exponent. */
    const __m256i ix = _mm256_castpd_si256(x);
    const __m256i t = _mm256_add_epi64(ix, SET1I(0x00095F619980C433ULL));
    const __m256i kb = _mm256_srli_epi64(t, 52); /* k + 1023 */
    const __m256d m = _mm256_castsi256_pd(_mm256_add_epi64(
        _mm256_sub_epi64(ix, _mm256_slli_epi64(kb, 52)), SET1I(0x3FF0000000000000ULL)));
    /* k as a double: 2^52 + (k + 1023) written via the bits, minus 2^52 + 1023. */
    const __m256d k = _mm256_sub_pd(
        _mm256_castsi256_pd(_mm256_or_si256(kb, SET1I(0x4330000000000000ULL))),
        SET1(4503599627370496.0 + 1023.0));
    /* log m = 2 atanh(s) = 2s (1 + z/3 + z^2/5 + ...), s = (m-1)/(m+1), z = s^2 <= 0.0295;
     * stopping at z^9/19 leaves < 2^-55.1 relative. */
    const __m256d s = _mm256_div_pd(_mm256_sub_pd(m, SET1(1.0)), _mm256_add_pd(m, SET1(1.0)));
    const __m256d z = _mm256_mul_pd(s, s), z2 = _mm256_mul_pd(z, z);
    const __m256d z4 = _mm256_mul_pd(z2, z2), z8 = _mm256_mul_pd(z4, z4);
    /* Estrin's scheme (pairs, then pairs of pairs): a short dependency chain. */
    const __m256d q01 = _mm256_fmadd_pd(z, SET1(1.0 / 3), SET1(1.0));
    const __m256d q23 = _mm256_fmadd_pd(z, SET1(1.0 / 7), SET1(1.0 / 5));
    const __m256d q45 = _mm256_fmadd_pd(z, SET1(1.0 / 11), SET1(1.0 / 9));
    const __m256d q67 = _mm256_fmadd_pd(z, SET1(1.0 / 15), SET1(1.0 / 13));
    const __m256d q89 = _mm256_fmadd_pd(z, SET1(1.0 / 19), SET1(1.0 / 17));
    const __m256d q0_3 = _mm256_fmadd_pd(q23, z2, q01);
    const __m256d q4_7 = _mm256_fmadd_pd(q67, z2, q45);
    const __m256d p = _mm256_fmadd_pd(q89, z8, _mm256_fmadd_pd(q4_7, z4, q0_3));
    const __m256d logm = _mm256_mul_pd(_mm256_add_pd(s, s), p);
    /* Add the small parts first so that log(x) near 1 (k = 0) keeps its relative accuracy. */
    return _mm256_fmadd_pd(k, SET1(LN2_HI), _mm256_fmadd_pd(k, SET1(LN2_LO), logm));
}

/* exp(v) for |v| <= ~700 (result normal; no overflow/underflow handling needed);
 * other lanes give garbage, never traps. */
static inline TGT __m256d vexp(__m256d v)
{
    const __m256d k = _mm256_round_pd(_mm256_mul_pd(v, SET1(0x1.71547652b82fep+0)), /* 1/ln2 */
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    /* r = v - k ln2: the first step is exact (see the top), |r| <= 0.3466. */
    const __m256d r = _mm256_fnmadd_pd(k, SET1(LN2_LO), _mm256_fnmadd_pd(k, SET1(LN2_HI), v));
    /* Taylor series of e^r to degree 12 (remainder < 2^-51.8 relative), by Estrin's
     * scheme: depth 4 multiply-adds instead of Horner's 12. */
    const __m256d r2 = _mm256_mul_pd(r, r), r4 = _mm256_mul_pd(r2, r2), r8 = _mm256_mul_pd(r4, r4);
    const __m256d q01 = _mm256_add_pd(SET1(1.0), r);
    const __m256d q23 = _mm256_fmadd_pd(r, SET1(1.0 / 6.0), SET1(0.5));
    const __m256d q45 = _mm256_fmadd_pd(r, SET1(1.0 / 120.0), SET1(1.0 / 24.0));
    const __m256d q67 = _mm256_fmadd_pd(r, SET1(1.0 / 5040.0), SET1(1.0 / 720.0));
    const __m256d q89 = _mm256_fmadd_pd(r, SET1(1.0 / 362880.0), SET1(1.0 / 40320.0));
    const __m256d qab = _mm256_fmadd_pd(r, SET1(1.0 / 39916800.0), SET1(1.0 / 3628800.0));
    const __m256d q0_3 = _mm256_fmadd_pd(q23, r2, q01);
    const __m256d q4_7 = _mm256_fmadd_pd(q67, r2, q45);
    const __m256d q8_b = _mm256_fmadd_pd(qab, r2, q89);
    const __m256d q0_7 = _mm256_fmadd_pd(q4_7, r4, q0_3);
    const __m256d q8_c = _mm256_fmadd_pd(SET1(1.0 / 479001600.0), r4, q8_b);
    const __m256d p = _mm256_fmadd_pd(q8_c, r8, q0_7);
    /* 2^k through the exponent bits: adding 2^52 + 1023 puts k + 1023 (in [13, 2033]
     * here) in the low mantissa bits; shifting by 52 moves it into the exponent field. */
    const __m256i kb = _mm256_castpd_si256(_mm256_add_pd(k, SET1(4503599627370496.0 + 1023.0)));
    return _mm256_mul_pd(p, _mm256_castsi256_pd(_mm256_slli_epi64(kb, 52)));
}

#define CMP(x, y, op) _mm256_cmp_pd(x, y, op)

enum { BLK = 32 }; /* elements per block */

/* One block of BLK elements (unaligned loads/stores). The work is split into passes over
 * the block: each pass is a short dependency chain repeated on 8 independent vectors,
 * which the out-of-order core overlaps. (One long log -> exp chain per vector was
 * latency bound: about 2x slower.) */
static TGT void amp_block(const double *c2p, double *ap, double *errp,
                          double b1, double pw, double param3)
{
    double y[BLK], t[BLK], u[BLK], e[BLK];
    const double inv_param3 = 1.0 / param3; /* normal: param3 < 2^1022 (params_ok) */
    const __m256d absmask = _mm256_castsi256_pd(SET1I(0x7FFFFFFFFFFFFFFFULL));
    int j;
    for (j = 0; j < BLK; j += 4) /* y = pw * log(c2) */
        _mm256_storeu_pd(y + j, _mm256_mul_pd(SET1(pw), vlog(_mm256_loadu_pd(c2p + j))));
    for (j = 0; j < BLK; j += 4) /* t = b1 * pow(c2, pw) */
        _mm256_storeu_pd(t + j, _mm256_mul_pd(SET1(b1), vexp(_mm256_loadu_pd(y + j))));
    for (j = 0; j < BLK; j += 4) { /* E = exp(u), u = c2 * (1/param3): see "u" at the top */
        const __m256d uv = _mm256_mul_pd(_mm256_loadu_pd(c2p + j), SET1(inv_param3));
        _mm256_storeu_pd(u + j, uv);
        _mm256_storeu_pd(e + j, vexp(uv));
    }
    for (j = 0; j < BLK; j += 4) {
        const __m256d c2 = _mm256_loadu_pd(c2p + j);
        const __m256d uv = _mm256_loadu_pd(u + j), ev = _mm256_loadu_pd(e + j);
        const __m256d tv = _mm256_loadu_pd(t + j);
        const __m256d f2 = _mm256_div_pd(SET1(1.0), _mm256_sub_pd(ev, SET1(1.0)));
        const __m256d a = _mm256_mul_pd(tv, f2);
        const __m256d absa = _mm256_and_pd(a, absmask);
        const __m256d absy = _mm256_and_pd(_mm256_loadu_pd(y + j), absmask);
        const __m256d kamp = _mm256_mul_pd(ev, f2); /* K = E/(E-1) >= 1 */
        /* err = 4 eps |a| (9|y| + (10 + 4u)K + 18), eps = 2^-53 (derivation at the top). */
        const __m256d rel = _mm256_fmadd_pd(
            SET1(9.0), absy,
            _mm256_fmadd_pd(_mm256_fmadd_pd(SET1(4.0), uv, SET1(10.0)), kamp, SET1(18.0)));
        const __m256d err = _mm256_mul_pd(_mm256_mul_pd(absa, rel), SET1(0x1p-51));
        /* Ordered comparisons: a NaN anywhere fails them and so is flagged. */
        __m256d ok = _mm256_and_pd(CMP(c2, SET1(0x1p-1022), _CMP_GE_OQ),   /* normal, > 0 */
                                   CMP(c2, SET1(0x1.fffffffffffffp+1023), _CMP_LE_OQ)); /* finite */
        ok = _mm256_and_pd(ok, CMP(uv, SET1(0x1p-20), _CMP_GE_OQ));  /* K <= 2^20 + 1 */
        ok = _mm256_and_pd(ok, CMP(uv, SET1(700.0), _CMP_LE_OQ));    /* exp(u) in our range */
        ok = _mm256_and_pd(ok, CMP(absy, SET1(700.0), _CMP_LE_OQ)); /* pow in our range */
        /* |b1*P| < 2^1000 keeps libm's b1*pow (relatively within 2^-30 of ours) finite. */
        ok = _mm256_and_pd(ok, CMP(_mm256_and_pd(tv, absmask), SET1(0x1p1000), _CMP_LT_OQ));
        /* Normal a far from the limits; with f2 <= 2^20 this also makes b1*P normal. */
        ok = _mm256_and_pd(ok, CMP(absa, SET1(0x1p-900), _CMP_GE_OQ));
        ok = _mm256_and_pd(ok, CMP(absa, SET1(0x1p900), _CMP_LT_OQ));
        _mm256_storeu_pd(ap + j, _mm256_blendv_pd(SET1(NAN), a, ok));
        _mm256_storeu_pd(errp + j, _mm256_blendv_pd(SET1(NAN), err, ok));
    }
}

static TGT void fast_amp_avx2(const double *c2, ptrdiff_t n, double b1, double pw,
                              double param3, double *a, double *err)
{
    ptrdiff_t i = 0;
    for (; i + BLK <= n; i += BLK)
        amp_block(c2 + i, a + i, err + i, b1, pw, param3);
    if (i < n) {
        /* Tail: go through a padded local block so no load or store leaves the arrays. */
        double cb[BLK], ab[BLK], eb[BLK];
        size_t rest = (size_t)(n - i), j;
        for (j = 0; j < BLK; j++)
            cb[j] = 1.0;
        memcpy(cb, c2 + i, rest * sizeof *cb);
        amp_block(cb, ab, eb, b1, pw, param3);
        memcpy(a + i, ab, rest * sizeof *ab);
        memcpy(err + i, eb, rest * sizeof *eb);
    }
}

/* param3 < 2^1022: 1/param3 is then a normal number, rounded by at most eps relative
 * (see "u" at the top). */
static int params_ok(double b1, double pw, double param3)
{
    return isfinite(b1) && isfinite(pw) && isfinite(param3) && param3 > 0.0 &&
           param3 < 0x1p1022;
}

void rscd_fast_amp(const double *c2, ptrdiff_t n, double b1, double pw, double param3,
                   double *a, double *err)
{
    ptrdiff_t i;
    if (params_ok(b1, pw, param3)) {
        fast_amp_avx2(c2, n, b1, pw, param3, a, err);
        return;
    }
    for (i = 0; i < n; i++)
        a[i] = err[i] = NAN;
}

/* Blocks of BLK (the tail through local arrays, padded with l = 0, which is
 * flagged): amp_block, then the interval around av = l * a * 0.01. */
static TGT void amp_interval_avx2(const double *l, ptrdiff_t n, double crossopt, double b1,
                                  double pw, double param3, double tol_scale, double *alo,
                                  double *ahi)
{
    const __m256d absmask = _mm256_castsi256_pd(SET1I(0x7FFFFFFFFFFFFFFFULL));
    double lb[BLK], c2[BLK], ab[BLK], eb[BLK];
    ptrdiff_t i;
    int j;

    for (i = 0; i < n; i += BLK) {
        const size_t m = (size_t)(n - i < BLK ? n - i : BLK);
        /* A whole block is read and written where it lies; the tail goes through
         * local arrays (the copies cost some 5% of the method when every block
         * went through them). */
        const double *lp = l + i;
        double *lo = alo + i, *hi = ahi + i;
        if (m < BLK) {
            for (j = 0; j < BLK; j++)
                lb[j] = 0.0;
            memcpy(lb, l + i, m * sizeof *lb);
            lp = lb;
            lo = ab;
            hi = eb;
        }
        for (j = 0; j < BLK; j++)
            c2[j] = lp[j] - crossopt;
        amp_block(c2, ab, eb, b1, pw, param3);
        for (j = 0; j < BLK; j += 4) {
            const __m256d lv = _mm256_loadu_pd(lp + j);
            const __m256d av = _mm256_mul_pd(_mm256_mul_pd(lv, _mm256_loadu_pd(ab + j)),
                                             SET1(0.01));
            const __m256d absav = _mm256_and_pd(av, absmask);
            /* |l| 0.01 err bounds the difference from the libm av before the
             * roundings of l * a * 0.01 on both sides and of av -+ tol, which
             * 2^-50 |av| covers. */
            const __m256d tol = _mm256_mul_pd(SET1(tol_scale), _mm256_add_pd(
                _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(_mm256_and_pd(lv, absmask),
                                                          SET1(0.01)),
                                            _mm256_loadu_pd(eb + j)),
                              SET1(1.0 + 0x1p-50)),
                _mm256_mul_pd(absav, SET1(0x1p-50))));
            /* Far from the decay code's limits (2^103, 0), so the libm value
             * takes the same branches; NaN (not vouched) fails both. */
            const __m256d ok = _mm256_and_pd(CMP(absav, SET1(0x1p100), _CMP_LT_OQ),
                                             CMP(absav, SET1(0x1p-900), _CMP_GT_OQ));
            _mm256_storeu_pd(lo + j, _mm256_blendv_pd(SET1(NAN), _mm256_sub_pd(av, tol), ok));
            _mm256_storeu_pd(hi + j, _mm256_blendv_pd(SET1(NAN), _mm256_add_pd(av, tol), ok));
        }
        if (m < BLK) {
            memcpy(alo + i, ab, m * sizeof *ab);
            memcpy(ahi + i, eb, m * sizeof *eb);
        }
    }
}

void rscd_fast_amp_interval(const double *l, ptrdiff_t n, double crossopt, double b1,
                            double pw, double param3, double tol_scale, double *alo,
                            double *ahi)
{
    ptrdiff_t i;
    if (params_ok(b1, pw, param3) && isfinite(crossopt)) {
        amp_interval_avx2(l, n, crossopt, b1, pw, param3, tol_scale, alo, ahi);
        return;
    }
    for (i = 0; i < n; i++)
        alo[i] = ahi[i] = NAN;
}

/* asinh(x) = sign(x) log(|x| + sqrt(x^2 + 1)), four at a time, with a bound on the
 * distance to libm's asinh (docs: diagnose.rst, "Speed and memory"). Only an absolute
 * bound is needed (the caller bins the value), so the cancellation of log(1 + tiny) is
 * harmless. t = |x| + sqrt(x^2 + 1) (|x| < 2^28) has a relative error below 3 eps, which
 * log turns into an absolute one of 3 eps; above 2^28, t = 2|x| (exact) and dropping
 * 1/(4 x^2) costs below 2^-58. vlog adds 8 eps relative, glibc's asinh at most 2 ulp
 * (4 eps relative): |a - asinh_libm| <= 3 eps + 12 eps |a|, and err = 2^-46 (|a| + 1)
 * is 8 times that, which also covers the rounding of a -+ err by the caller. */
static inline TGT void asinh4(const double *x, __m256d scale, double *a, double *err)
{
    const __m256d absmask = _mm256_castsi256_pd(SET1I(0x7FFFFFFFFFFFFFFFULL));
    const __m256d xv = _mm256_loadu_pd(x), ax = _mm256_and_pd(xv, absmask);
    /* finite and below 2^1000, so t is finite and normal (t >= 1): else NaN */
    const __m256d ok = CMP(ax, SET1(0x1p1000), _CMP_LT_OQ);
    const __m256d t = _mm256_blendv_pd(
        _mm256_add_pd(ax, _mm256_sqrt_pd(_mm256_add_pd(_mm256_mul_pd(ax, ax), SET1(1.0)))),
        _mm256_add_pd(ax, ax), CMP(ax, SET1(0x1p28), _CMP_GE_OQ));
    const __m256d l = vlog(_mm256_blendv_pd(SET1(1.0), t, ok));   /* >= 0 */
    _mm256_storeu_pd(a, _mm256_blendv_pd(SET1(NAN), _mm256_or_pd(
                                             l, _mm256_andnot_pd(absmask, xv)), ok));
    _mm256_storeu_pd(err, _mm256_blendv_pd(
        SET1(NAN), _mm256_mul_pd(scale, _mm256_add_pd(l, SET1(1.0))), ok));
}

static TGT void asinh_avx2(const double *x, ptrdiff_t n, double tol_scale, double *a,
                           double *err)
{
    const __m256d scale = SET1(tol_scale * 0x1p-46);
    ptrdiff_t i;
    for (i = 0; i + 4 <= n; i += 4)
        asinh4(x + i, scale, a + i, err + i);
    if (i < n) {   /* the tail through a padded block */
        double xb[4] = {0.0, 0.0, 0.0, 0.0}, ab[4], eb[4];
        const size_t m = (size_t)(n - i);
        memcpy(xb, x + i, m * sizeof *xb);
        asinh4(xb, scale, ab, eb);
        memcpy(a + i, ab, m * sizeof *ab);
        memcpy(err + i, eb, m * sizeof *eb);
    }
}

void rscd_fast_asinh(const double *x, ptrdiff_t n, double tol_scale, double *a, double *err)
{
    asinh_avx2(x, n, tol_scale, a, err);
}

/* Both ends of four elements: lo is stored where it equals hi (ordered: NaN
 * data, NaN at both ends, are stored as they are); returns the mask of the
 * others, whose old value is stored instead. The sums round as the decay
 * code's plain C loop does (separate multiply and add, no FMA). */
static inline TGT int apply4(float *d, const __m128i *bswap, const double *alo,
                             const double *ahi, __m256d ev)
{
    const __m128 raw = _mm_loadu_ps(d);
    const __m128 old = bswap ? _mm_castsi128_ps(_mm_shuffle_epi8(_mm_castps_si128(raw), *bswap))
                             : raw;
    const __m256d od = _mm256_cvtps_pd(old);
    const __m128 lo = _mm256_cvtpd_ps(_mm256_add_pd(od, _mm256_mul_pd(_mm256_loadu_pd(alo), ev)));
    const __m128 hi = _mm256_cvtpd_ps(_mm256_add_pd(od, _mm256_mul_pd(_mm256_loadu_pd(ahi), ev)));
    const __m128 neq = _mm_cmp_ps(lo, hi, _CMP_NEQ_OQ);
    __m128 out = _mm_blendv_ps(lo, old, neq);
    if (bswap)
        out = _mm_castsi128_ps(_mm_shuffle_epi8(_mm_castps_si128(out), *bswap));
    _mm_storeu_ps(d, out);
    return _mm_movemask_ps(neq);
}

static TGT int apply_row_avx2(float *d, int swapped, ptrdiff_t n, const double *alo,
                              const double *ahi, double e, uint8_t *redo)
{
    const __m128i bswap = _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
    const __m256d ev = SET1(e);
    ptrdiff_t x;
    int any = 0;

    for (x = 0; x + 4 <= n; x += 4) {
        const int bad = apply4(d + x, swapped ? &bswap : NULL, alo + x, ahi + x, ev);
        if (bad) { /* rare: the ends round apart */
            int k;
            for (k = 0; k < 4; k++)
                if (bad >> k & 1)
                    redo[x + k] = 1;
            any = 1;
        }
    }
    if (x < n) {
        /* The tail through a padded block: 0 + 0*e is 0 at both ends. */
        float db[4] = {0, 0, 0, 0};
        double lb[4] = {0, 0, 0, 0}, hb[4] = {0, 0, 0, 0};
        const size_t m = (size_t)(n - x);
        int bad, k;
        memcpy(db, d + x, m * sizeof *db);
        memcpy(lb, alo + x, m * sizeof *lb);
        memcpy(hb, ahi + x, m * sizeof *hb);
        bad = apply4(db, swapped ? &bswap : NULL, lb, hb, ev);
        memcpy(d + x, db, m * sizeof *db);
        for (k = 0; k < (int)m; k++)
            if (bad >> k & 1)
                redo[x + k] = 1, any = 1;
    }
    return any;
}

int rscd_fast_apply_row(float *d, int swapped, ptrdiff_t n, const double *alo,
                        const double *ahi, double e, uint8_t *redo)
{
    return apply_row_avx2(d, swapped, n, alo, ahi, e, redo);
}

#else /* not GCC/Clang on x86: no vector path; every element is left to libm. */

int rscd_vector_available(void)
{
    return 0;
}

void rscd_fast_amp(const double *c2, ptrdiff_t n, double b1, double pw, double param3,
                   double *a, double *err)
{
    ptrdiff_t i;
    (void)c2, (void)b1, (void)pw, (void)param3;
    for (i = 0; i < n; i++)
        a[i] = err[i] = NAN;
}

int rscd_fast_apply_row(float *d, int swapped, ptrdiff_t n, const double *alo,
                        const double *ahi, double e, uint8_t *redo)
{
    (void)d, (void)swapped, (void)n, (void)alo, (void)ahi, (void)e, (void)redo;
    return 0;
}

void rscd_fast_asinh(const double *x, ptrdiff_t n, double tol_scale, double *a, double *err)
{
    ptrdiff_t i;
    (void)x, (void)tol_scale;
    for (i = 0; i < n; i++)
        a[i] = err[i] = NAN;
}

void rscd_fast_amp_interval(const double *l, ptrdiff_t n, double crossopt, double b1,
                            double pw, double param3, double tol_scale, double *alo,
                            double *ahi)
{
    ptrdiff_t i;
    (void)l, (void)crossopt, (void)b1, (void)pw, (void)param3, (void)tol_scale;
    for (i = 0; i < n; i++)
        alo[i] = ahi[i] = NAN;
}

#endif
