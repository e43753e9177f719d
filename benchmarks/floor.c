/* floor.c - what any `decay` of a MIRI full frame must spend, in plain C loops on
 * the benchmark's shape (integrations 2-4 of 4 x 20 x 1024 x 1032), best of 7:
 *
 *   float pass   d += 0.5f over SCI[1:] (what numpy's baseline does),
 *   double pass  d = (float)((double)d + a[x] * e[j]) over SCI[1:]: the sum in
 *                double precision, rounded once to float32, as docs/overview.rst
 *                asks of the correction (a: one row of amplitudes, in cache),
 *   inputs       read what the amplitudes need: GROUPDQ groups 1..N-2 and SCI
 *                groups N-3, N-2 of integrations 1-3.
 *
 * and what any `flag` of the benchmark's exposure (4 integrations, skips 2 and 4,
 * every back-off level with a problem) must spend, GROUPDQ being 4 x 20 frames, in
 * CPU time of the thread:
 *
 *   gdq pass     g |= v over all of GROUPDQ (what numpy's baseline does),
 *   flag bytes   read groups 0..skip+1 of each integration and OR into groups
 *                0..skip-1 (22 frames read, 14 of them written), block by block,
 *   pixeldq      the same with one read and write of PIXELDQ (FLUX_ESTIMATED).
 *
 * Built and run by bench.py (cc -O3 -march=native); prints one JSON line. The
 * arrays get huge pages where Linux offers them on request, as numpy's do:
 * without, the same loops run some 1.3x slower here. */
#define _POSIX_C_SOURCE 200112L /* posix_memalign, clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

enum { NINTS = 3, NGROUPS = 20, NROWS = 1024, NCOLS = 1032, REPEATS = 7 };
enum { FLAG_NINTS = 4, FLAG_BLOCK = 16384, LANES = 64 };

static void *alloc_big(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, (size_t)1 << 21, bytes) != 0)
        return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU time of this thread, as bench.py judges flag (a loaded machine does not
 * inflate it); the decay figures keep the wall time above. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The flag figures: best of REPEATS of each loop, in best[0..2] (see the top). */
static int flag_floor(double best[3])
{
    static volatile uint8_t zero_store = 0;
    const uint8_t zero = zero_store;
    const size_t frame = (size_t)NROWS * NCOLS, n = frame * NGROUPS * FLAG_NINTS;
    uint8_t *q = alloc_big(n);
    uint32_t *pdq = alloc_big(frame * sizeof *pdq);
    size_t k, b, p;
    int rep, which, i, g;

    if (!q || !pdq)
        return 1;
    for (k = 0; k < n; k++)
        q[k] = (uint8_t)(k % 50 == 0 ? 2 : 0);
    for (k = 0; k < frame; k++)
        pdq[k] = 0;
    best[0] = best[1] = best[2] = 1e30;
    for (rep = 0; rep < REPEATS; rep++) {
        for (which = 0; which < 3; which++) {
            const uint8_t v = zero; /* 0, unknown to the compiler */
            double t = cpu_now();
            if (which == 0) {
                for (k = 0; k < n; k += LANES) { /* n % LANES == 0 */
                    size_t x;
                    for (x = 0; x < LANES; x++)
                        q[k + x] |= v;
                }
            } else {
                for (b = 0; b < frame; b += FLAG_BLOCK) {
                    const size_t e = b + FLAG_BLOCK < frame ? b + FLAG_BLOCK : frame;
                    for (i = 0; i < FLAG_NINTS; i++) {
                        const int skip = i == 0 ? 2 : 4;
                        uint8_t *qi = q + (size_t)i * NGROUPS * frame;
                        for (p = b; p < e; p += LANES) { /* frame % LANES == 0 */
                            uint8_t acc[LANES];
                            size_t x;
                            for (x = 0; x < LANES; x++)
                                acc[x] = qi[p + x];
                            for (g = 1; g <= skip + 1; g++)
                                for (x = 0; x < LANES; x++)
                                    acc[x] |= qi[(size_t)g * frame + p + x];
                            for (g = 0; g < skip; g++)
                                for (x = 0; x < LANES; x++)
                                    qi[(size_t)g * frame + p + x] |= (uint8_t)(acc[x] & v);
                        }
                    }
                    if (which == 2)
                        for (p = b; p < e; p++)
                            pdq[p] |= (uint32_t)v << 28;
                }
            }
            t = cpu_now() - t;
            if (t < best[which])
                best[which] = t;
        }
    }
    free(q);
    free(pdq);
    return 0;
}

int main(void)
{
    const size_t frame = (size_t)NROWS * NCOLS, n = frame * NGROUPS * NINTS;
    float *d = alloc_big(n * sizeof *d);
    uint8_t *q = alloc_big(n);
    double a[NCOLS], e[NGROUPS], best[3] = {1e30, 1e30, 1e30}, flag[3], sink = 0.0;
    size_t k, j, x, i, g;
    int rep, which;

    if (!d || !q)
        return 1;
    for (k = 0; k < n; k++) {
        d[k] = (float)(k % 60000);
        q[k] = (uint8_t)(k % 7 == 0);
    }
    for (x = 0; x < NCOLS; x++)
        a[x] = 1e-3 * (double)x;
    for (j = 0; j < NGROUPS; j++)
        e[j] = 1.0 / (double)(j + 1);
    for (rep = 0; rep < REPEATS; rep++) {
        for (which = 0; which < 3; which++) {
            double t = now();
            if (which == 0) {
                for (k = 0; k < n; k++)
                    d[k] += 0.5f;
            } else if (which == 1) {
                for (k = 0; k < n; k += NCOLS) {
                    const double ej = e[k / frame % NGROUPS];
                    for (x = 0; x < NCOLS; x++)
                        d[k + x] = (float)((double)d[k + x] + a[x] * ej);
                }
            } else {
                uint8_t acc = 0;
                for (i = 0; i < NINTS; i++) {
                    const size_t cube = i * frame * NGROUPS;
                    for (g = 1; g <= NGROUPS - 2; g++)
                        for (k = 0; k < frame; k++)
                            acc |= q[cube + g * frame + k];
                    for (k = 0; k < frame; k++)
                        sink += (double)d[cube + (NGROUPS - 2) * frame + k] -
                                (double)d[cube + (NGROUPS - 3) * frame + k];
                }
                sink += acc;
            }
            t = now() - t;
            if (t < best[which])
                best[which] = t;
        }
    }
    sink += (double)d[n / 2];
    free(d);
    free(q);
    if (flag_floor(flag))
        return 1;
    printf("{\"float_pass\": %.6f, \"double_pass\": %.6f, \"inputs\": %.6f, \"gdq_pass\": %.6f, "
           "\"flag_bytes\": %.6f, \"flag_pixeldq\": %.6f, \"sink\": %g}\n",
           best[0], best[1], best[2], flag[0], flag[1], flag[2], sink);
}
