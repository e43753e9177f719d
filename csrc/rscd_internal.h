/* rscd_internal.h - helpers shared by the C files of the core; not installed. */
#ifndef RSCD_INTERNAL_H
#define RSCD_INTERNAL_H

#include <string.h>

#include "rscd.h"

/* Floating-point contraction off, whatever the build flags: the results are
 * bit-identical to numpy's only when a*b + c rounds twice, as written (the
 * vector path's proof assumes it too). GCC fuses a*b + c into one FMA under
 * its default -std=gnu* with a target that has FMA (-march=native, the
 * target("avx2,fma") functions) and ignores the STDC pragma, hence its own;
 * Clang and MSVC honour theirs. Include this header after the system headers
 * so the GCC pragma covers only our functions. Explicit FMA intrinsics
 * (fastamp.c) are unaffected. Clang's -ffp-contract=fast, like -ffast-math,
 * overrides every pragma: builds with either are not supported. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#else
#pragma STDC FP_CONTRACT OFF
#endif

/*----------------------------------------------------------------------
 * Byte order. A word of SCI is handled as a uint32_t until it is in native
 * order, and only then becomes a float: a swapped word whose native reading
 * is a signalling NaN would otherwise be quieted (one bit changed) when the
 * x87 unit of 32-bit x86 loads it as a float. memcpy is the aliasing-safe
 * reinterpretation; compilers turn it into a register move and the shifts
 * into one bswap instruction.
 *--------------------------------------------------------------------*/
static inline uint32_t rscd_bswap32(uint32_t u)
{
    return (u >> 24) | ((u >> 8) & 0x0000ff00u) | ((u << 8) & 0x00ff0000u) | (u << 24);
}

/* The value of the word at p, stored swapped or not. */
static inline double load_f32(const float *p, int swapped)
{
    uint32_t u;
    float v;
    memcpy(&u, p, sizeof u);
    if (swapped)
        u = rscd_bswap32(u);
    memcpy(&v, &u, sizeof v);
    return (double)v;
}

/* Store v at p, swapped or not. */
static inline void store_f32(float *p, float v, int swapped)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    if (swapped)
        u = rscd_bswap32(u);
    memcpy(p, &u, sizeof u);
}

/* The caller's rscd_params as the current layout: its fields where its
 * struct_size has them, the defaults for fields appended since. Returns
 * RSCD_OK, RSCD_ERR_NULL or RSCD_ERR_PARAMS (struct_size unknown). */
int rscd_params_read(const rscd_params *given, rscd_params *out);

/* RSCD_OK when the struct at s (NULL: RSCD_ERR_NULL) has the struct_size of
 * its current layout `current`, else RSCD_ERR_STRUCT (the ABI rule of rscd.h). */
int rscd_struct_ok(const void *s, size_t current);

/* An init function of rscd.h: writes the first `size` bytes of the defaults
 * `d` (its struct_size set to `size`) to s when size is a known layout (the
 * current one, `current`); RSCD_ERR_NULL or RSCD_ERR_STRUCT otherwise. */
int rscd_init_struct(void *s, size_t size, void *d, size_t current);

/* Checks struct_size, pointers, dimensions (no overflow of the index formula), byte order
 * and the exposure fields of a view. need_data: SCI must be present.
 * Returns RSCD_OK or a negative status. */
int rscd_check_ramp(const rscd_ramp *ramp, int need_data);

/* Integrations in the whole exposure (nints_exposure, or its default). */
ptrdiff_t rscd_nints_exposure(const rscd_ramp *ramp);

/* For helpers inlined into both builds of their caller (portable and AVX2), so each
 * copy is compiled for that caller's instruction set. Empty elsewhere: MSVC's C
 * before C11 has no `inline` keyword. */
#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE
#endif

/* Threads to use: params->nthreads, or the OpenMP default when it is <= 0,
 * at most the processors OpenMP sees (1 without OpenMP). The one place the
 * core decides its thread count. */
int rscd_threads(const rscd_params *params);

#endif
