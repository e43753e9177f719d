/* fastamp.h -- internal (not installed): vectorised "unsaturated amplitude" of the
 * decay method (and asinh, for rscd diagnose) with a per-element error bound against
 * the libm evaluation
 *     a_ref = (b1 * pow(c2, pw)) * (1.0 / (exp(c2 / param3) - 1.0))
 * so that the caller can prove its float32 results equal those of the libm path
 * and recompute with libm only the elements it cannot prove. */
#ifndef RSCD_FASTAMP_H
#define RSCD_FASTAMP_H

#include <stddef.h>
#include <stdint.h>

/* Nonzero when the AVX2 code of the core can run: this build has it (x86 with GCC or
 * Clang) and the CPU has AVX2 and FMA (asked of __builtin_cpu_supports). The methods
 * use it only when rscd_params.use_vector is also set; otherwise they run their
 * portable C, which gives the same results (the tests check). */
int rscd_vector_available(void);

/* Scale of the error bounds the callers pass (decay.c, diagnose.c); the C tests build
 * with a huge value to send nearly every element of the vector paths to libm. */
#ifndef RSCD_TOL_SCALE
#define RSCD_TOL_SCALE 1.0
#endif

/* For x in [0, n): a[x] ~= (b1 * pow(c2[x], pw)) * (1.0 / (exp(c2[x] / param3) - 1.0)) and
 * err[x] >= |a[x] - a_ref[x]|, a_ref being that expression evaluated with libm (glibc's
 * documented bounds, taken as 1 ulp each for exp and pow).
 * Where the vector path cannot vouch for its bound it sets err[x] = NAN (and a[x] = NAN):
 * the caller then computes that element with libm. This happens exactly when
 *   - b1, pw or param3 is not finite, or param3 <= 0, or param3 >= 2^1022 (then for
 *     every element);
 *   - c2 is not a finite normal positive number (NaN, +-inf, <= 0, subnormal);
 *   - u = c2 * (1 / param3) is outside [2^-20, 700] (or NaN);
 *   - |pw * log(c2)|, as computed here, is above 700 (or NaN);
 *   - |b1 * pow(c2, pw)|, as computed here, is >= 2^1000 (libm's might overflow);
 *   - a is not a normal number or |a| >= 2^900 or |a| < 2^-900 (so b1 == 0 is flagged).
 * Must only be called when rscd_vector_available() is nonzero. No allocation; a, err
 * and c2 may have any alignment; n may be any size (n <= 0 does nothing). */
void rscd_fast_amp(const double *c2, ptrdiff_t n, double b1, double pw, double param3,
                   double *a, double *err);

/* The decay code's amplitude av = l * a * 0.01 of pixels with c2 = l[x] - crossopt, as an
 * interval: alo[x] <= av_ref <= ahi[x], av_ref being l * a_ref * 0.01 with a_ref as above,
 * the bound widened by tol_scale (>= 1; tests use a huge one). NaN at both ends where
 * rscd_fast_amp flags the element, where crossopt is not finite, and where |av| is not
 * within (2^-900, 2^100): the caller computes those with libm.
 * Same conditions of use as rscd_fast_amp. */
void rscd_fast_amp_interval(const double *l, ptrdiff_t n, double crossopt, double b1,
                            double pw, double param3, double tol_scale, double *alo,
                            double *ahi);

/* d[x] = (float)((double)d[x] + alo[x] * e) for x in [0, n) wherever that equals
 * (float)((double)d[x] + ahi[x] * e), or both are NaN; elsewhere d[x] is left and
 * redo[x] = 1 (never set to 0). d holds floats in native byte order, or byte-swapped
 * when `swapped` (then read and written swapped). Returns nonzero when it set a redo[x].
 * Same conditions of use as rscd_fast_amp. */
int rscd_fast_apply_row(float *d, int swapped, ptrdiff_t n, const double *alo,
                        const double *ahi, double e, uint8_t *redo);

/* For x in [0, n): a[x] ~= asinh(x[x]) and err[x] >= |a[x] - asinh_libm(x[x])| times
 * tol_scale (>= 1; tests use a huge one); NaN in both where x is not finite or |x| >=
 * 2^1000. The bound is absolute (about 2^-46 (|a| + 1)): the caller bins the value and
 * calls libm where the interval a -+ err reaches into two bins. Same conditions of use
 * as rscd_fast_amp. */
void rscd_fast_asinh(const double *x, ptrdiff_t n, double tol_scale, double *a, double *err);

#endif
