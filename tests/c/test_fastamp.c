/* test_fastamp.c -- standalone check of csrc/fastamp.c (no Python needed):
 * every element that rscd_fast_amp does not flag must satisfy |a - a_ref| <= err,
 * a_ref being the libm expression (b1 * pow(c2, pw)) * (1.0 / (exp(c2 / param3) - 1.0)).
 * Build: cc -std=c99 -O2 -Wall -Wextra -Werror -Icsrc csrc/fastamp.c tests/c/test_fastamp.c -lm
 * Prints "ok: 0 failure(s)" and exits 0 on success; prints "SKIP: ..." and exits 0 when
 * the CPU (or compiler) cannot run the vector path. */
#include "fastamp.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures;

#define CHECK(cond, ...)                                               \
    do {                                                               \
        if (!(cond)) {                                                 \
            if (++failures <= 20) {                                    \
                printf("FAIL %s:%d: ", __FILE__, __LINE__);            \
                printf(__VA_ARGS__);                                   \
                printf("\n");                                          \
            }                                                          \
        }                                                              \
    } while (0)

/* The libm path, left to right, exactly as the decay code writes it
 * (-std=c99 keeps GCC from contracting into FMA). */
static double ref_amp(double c2, double b1, double pw, double param3)
{
    double f2 = 1.0 / (exp(c2 / param3) - 1.0);
    return (b1 * pow(c2, pw)) * f2;
}

/* splitmix64: deterministic, seeded once. */
static uint64_t rng_state = 0x5EEDF00DCAFEULL;
static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double uniform(double lo, double hi) /* [lo, hi) */
{
    return lo + (hi - lo) * ((double)(next_u64() >> 11) * 0x1p-53);
}
static double log_uniform(double lo, double hi)
{
    return exp(uniform(log(lo), log(hi)));
}
static double pick_pw(void)
{
    static const double special[] = {0.9, 1.0, 0.0, -1.0, -0.5, 2.0, 3.0, -3.0};
    uint64_t r = next_u64() % 16;
    return r < 8 ? special[r] : uniform(-3.0, 3.0);
}

/* Running statistics over checked (not flagged) elements. */
struct stats {
    const char *name;
    long total, flagged;
    double max_ratio;   /* max |a - a_ref| / err */
    double max_relerr;  /* max |a - a_ref| / |a| */
    double *rel;        /* err / |a| of each checked element, for the median */
    long nrel;
};

static int cmp_double(const void *p, const void *q)
{
    double x = *(const double *)p, y = *(const double *)q;
    return (x > y) - (x < y);
}

/* Run one call and check every element against libm. */
static void check_block(struct stats *st, const double *c2, ptrdiff_t n, double b1,
                        double pw, double param3, double *a, double *err)
{
    ptrdiff_t i;
    rscd_fast_amp(c2, n, b1, pw, param3, a, err);
    for (i = 0; i < n; i++) {
        double r, d;
        st->total++;
        if (isnan(err[i])) {
            st->flagged++;
            CHECK(isnan(a[i]), "flagged element has a = %g", a[i]);
            continue;
        }
        r = ref_amp(c2[i], b1, pw, param3);
        d = fabs(a[i] - r);
        CHECK(err[i] >= 0.0 && isfinite(a[i]), "bad err %g or a %g", err[i], a[i]);
        CHECK(d <= err[i], "%s: c2=%.17g b1=%.17g pw=%.17g param3=%.17g: a=%.17g ref=%.17g "
              "|diff|=%g > err=%g", st->name, c2[i], b1, pw, param3, a[i], r, d, err[i]);
        if (d / err[i] > st->max_ratio)
            st->max_ratio = d / err[i];
        if (d / fabs(a[i]) > st->max_relerr)
            st->max_relerr = d / fabs(a[i]);
        if (st->rel)
            st->rel[st->nrel++] = err[i] / fabs(a[i]);
    }
}

static void report(struct stats *st)
{
    double median = NAN;
    if (st->rel && st->nrel > 0) {
        qsort(st->rel, (size_t)st->nrel, sizeof *st->rel, cmp_double);
        median = st->rel[st->nrel / 2];
    }
    printf("%-31s %8ld elements, flagged NaN %.4f%%, max |a-a_ref|/err %.3g, "
           "max |a-a_ref|/|a| 2^%.1f",
           st->name, st->total, 100.0 * (double)st->flagged / (double)st->total,
           st->max_ratio, log2(st->max_relerr));
    if (st->rel)
        printf(", median err/|a| 2^%.1f", log2(median));
    printf("\n");
    CHECK(st->max_ratio < 1.0, "%s: max ratio %g", st->name, st->max_ratio);
}

enum { BLOCK = 1000 };

/* Random parameter sets, BLOCK c2 values each. kind: 0 wide, 1 typical MIRI,
 * 2 near the range limits, 3 MIRI values with the demo's param3 of 1e6..1e7. */
static void random_set(struct stats *st, int kind, long nblocks)
{
    double c2[BLOCK], a[BLOCK], err[BLOCK];
    long blk;
    int i;
    for (blk = 0; blk < nblocks; blk++) {
        double b1 = uniform(-10.0, 10.0), pw = pick_pw(), param3;
        if (next_u64() % 50 == 0)
            b1 = 0.0; /* a = 0: flagged (not a normal number) */
        if (kind == 0) {
            param3 = log_uniform(1.0, 1e7);
            for (i = 0; i < BLOCK; i++)
                c2[i] = log_uniform(1e-3, 1e30);
        } else if (kind == 1 || kind == 3) {
            pw = next_u64() % 4 == 0 ? pick_pw() : uniform(0.5, 1.5);
            b1 = (next_u64() % 2 ? -1.0 : 1.0) * log_uniform(1e-8, 10.0);
            param3 = kind == 1 ? log_uniform(1e3, 1e5) : log_uniform(1e6, 1e7);
            for (i = 0; i < BLOCK; i++)
                c2[i] = log_uniform(1.0, 1e5);
        } else {
            /* u near 2^-20 (largest cancellation E/(E-1)) and near 700, and
             * |pw log c2| near 700 (largest pow argument). */
            param3 = log_uniform(1.0, 1e7);
            for (i = 0; i < BLOCK; i++) {
                switch (i % 3) {
                case 0: c2[i] = param3 * 0x1p-20 * uniform(0.999, 1.01); break;
                case 1: c2[i] = param3 * 700.0 * uniform(0.99, 1.001); break;
                default: c2[i] = param3 * uniform(1e-6, 700.0); break;
                }
            }
            /* choose pw so that |pw log c2| is close to 700 for the middle c2 */
            if (next_u64() % 2 && fabs(log(c2[2])) > 1.0)
                pw = 699.0 / log(c2[2]) * (next_u64() % 2 ? 1.0 : -1.0);
        }
        check_block(st, c2, BLOCK, b1, pw, param3, a, err);
    }
}

/* One element; returns err (NaN when flagged). */
static double one(double c2, double b1, double pw, double param3)
{
    double a, err;
    rscd_fast_amp(&c2, 1, b1, pw, param3, &a, &err);
    return err;
}

static void edge_cases(void)
{
    static const double bad_c2[] = {0.0, -0.0, -1.0, -1e300, 4.9e-324, 2.2e-308 / 4,
                                    -INFINITY, INFINITY};
    size_t i;
    for (i = 0; i < sizeof bad_c2 / sizeof *bad_c2; i++)
        CHECK(isnan(one(bad_c2[i], 1.0, 1.0, 1e-300)), "c2 = %g not flagged", bad_c2[i]);
    CHECK(isnan(one(NAN, 1.0, 1.0, 1e3)), "c2 = NaN not flagged");
    CHECK(isnan(one(1.0, 1.0, 1.0, 1e7)), "tiny u not flagged");
    CHECK(isnan(one(1e6, 1.0, 1.0, 1.0)), "huge u (exp overflow) not flagged");
    CHECK(isnan(one(701.0, 1.0, 1.0, 1.0)), "u = 701 not flagged");
    CHECK(!isnan(one(699.0, 1e200, 1.0, 1.0)), "u = 699 flagged"); /* a ~ 2^-335 */
    CHECK(isnan(one(1e300, 1.0, 3.0, 1e298)), "huge |pw log c2| not flagged");
    CHECK(isnan(one(1e-300, 1.0, -3.0, 1e-302)), "huge |pw log c2| (negative) not flagged");
    CHECK(isnan(one(1e200, 1.0, 3.5, 1e199)), "|pw log c2| ~ 1612 not flagged");
    CHECK(isnan(one(100.0, 0.0, 1.0, 10.0)), "b1 = 0 (a = 0) not flagged");
    CHECK(isnan(one(100.0, 1e-300, -10.0 / 4.6, 10.0)), "tiny a not flagged");
    CHECK(isnan(one(1e100, 1e300, 6.0, 1e99)), "huge b1*pow not flagged");
    CHECK(isnan(one(100.0, NAN, 1.0, 10.0)), "b1 NaN not flagged");
    CHECK(isnan(one(100.0, INFINITY, 1.0, 10.0)), "b1 inf not flagged");
    CHECK(isnan(one(100.0, 1.0, NAN, 10.0)), "pw NaN not flagged");
    CHECK(isnan(one(100.0, 1.0, -INFINITY, 10.0)), "pw -inf not flagged");
    CHECK(isnan(one(100.0, 1.0, 1.0, 0.0)), "param3 0 not flagged");
    CHECK(isnan(one(100.0, 1.0, 1.0, -10.0)), "param3 < 0 not flagged");
    CHECK(isnan(one(100.0, 1.0, 1.0, NAN)), "param3 NaN not flagged");
    CHECK(isnan(one(100.0, 1.0, 1.0, INFINITY)), "param3 inf not flagged");
    /* 1/param3 subnormal (its rounding unbounded relatively), u = 1.49 in range. */
    CHECK(isnan(one(1e308, 1.0, 1.0, 0x1.8p1022)), "param3 >= 2^1022 not flagged");
    /* Ordinary values must not be flagged. */
    CHECK(!isnan(one(100.0, 1.0, 1.0, 10.0)), "ordinary element flagged");
    CHECK(!isnan(one(1.0, -2.0, 0.0, 1e3)), "pw = 0 flagged");
    CHECK(!isnan(one(1.0, 2.0, 0.9, 1e5)), "c2 = 1 flagged");
}

/* Each n, pointers offset by one double (never 32-byte aligned together): results must
 * equal, bit for bit, those of one big call, and nothing outside [0, n) is written. */
static void sizes_and_alignment(void)
{
    static const ptrdiff_t sizes[] = {0, 1, 3, 4, 5, 7, 8, 31, 32, 33, 100, 1023};
    enum { MAXN = 1023 };
    static double c2[MAXN + 2], a[MAXN + 2], err[MAXN + 2], a0[MAXN], e0[MAXN];
    size_t s;
    ptrdiff_t i;
    for (i = 0; i < MAXN; i++)
        c2[i + 1] = log_uniform(1.0, 1e5);
    c2[1 + 5] = -1.0; /* a flagged element inside the tail of several sizes */
    rscd_fast_amp(c2 + 1, MAXN, 3e-3, 0.9, 2e4, a0, e0);
    for (s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        ptrdiff_t n = sizes[s];
        for (i = 0; i < MAXN + 2; i++)
            a[i] = err[i] = 12345.0;
        rscd_fast_amp(c2 + 1, n, 3e-3, 0.9, 2e4, a + 1, err + 1);
        CHECK(a[0] == 12345.0 && err[0] == 12345.0, "n=%ld wrote before the arrays", (long)n);
        CHECK(a[n + 1] == 12345.0 && err[n + 1] == 12345.0, "n=%ld wrote past the end",
              (long)n);
        for (i = 0; i < n; i++) {
            CHECK(memcmp(&a[i + 1], &a0[i], sizeof a0[i]) == 0 &&
                  memcmp(&err[i + 1], &e0[i], sizeof e0[i]) == 0,
                  "n=%ld element %ld differs from the big call", (long)n, (long)i);
        }
    }
    CHECK(isnan(e0[5]) && !isnan(e0[4]) && !isnan(e0[6]), "c2 = -1 flagging in a block");
}

/* rscd_fast_amp_interval: the libm amplitude l * a_ref * 0.01 lies in [alo, ahi]; the
 * interval is NaN exactly where rscd_fast_amp flags c2 = l - crossopt or |av| leaves
 * (2^-900, 2^100); it is narrow; tails of every length leave the guards alone. */
static void intervals(void)
{
    enum { N = 1000 };
    static double l[N + 2], alo[N + 2], ahi[N + 2], c2[N], a[N], err[N];
    long checked = 0, blk;
    double widest = 0.0;
    for (blk = 0; blk < 300; blk++) {
        const double crossopt = uniform(-100.0, 1000.0), b1 = uniform(-5.0, 5.0);
        const double pw = pick_pw(), param3 = log_uniform(1e2, 1e6);
        const ptrdiff_t n = blk < 40 ? blk : N; /* short rows: every tail length */
        ptrdiff_t i;
        for (i = 0; i < N + 2; i++) {
            l[i] = i % 97 == 3 ? -uniform(1.0, 1e4) : log_uniform(1.0, 1e6);
            alo[i] = ahi[i] = 12345.0;
        }
        l[1 + 7] = 0.0; /* L == 0: av = 0, flagged */
        rscd_fast_amp_interval(l + 1, n, crossopt, b1, pw, param3, 1.0, alo + 1, ahi + 1);
        CHECK(alo[0] == 12345.0 && ahi[n + 1] == 12345.0, "n=%ld wrote outside", (long)n);
        for (i = 0; i < n; i++)
            c2[i] = l[i + 1] - crossopt;
        rscd_fast_amp(c2, n, b1, pw, param3, a, err);
        for (i = 0; i < n; i++) {
            const double lv = l[i + 1], lo = alo[i + 1], hi = ahi[i + 1];
            const double av_ref = lv * ref_amp(c2[i], b1, pw, param3) * 0.01;
            const double av = lv * a[i] * 0.01;
            const int expect_nan = isnan(err[i]) || !(fabs(av) < 0x1p100 && fabs(av) > 0x1p-900);
            CHECK(isnan(lo) == expect_nan && isnan(hi) == expect_nan,
                  "l=%.17g crossopt=%.17g: NaN interval %d, expected %d", lv, crossopt,
                  isnan(lo), expect_nan);
            if (isnan(lo) || isnan(hi))
                continue;
            checked++;
            CHECK(lo <= av_ref && av_ref <= hi, "l=%.17g c2=%.17g: libm av %.17g outside "
                  "[%.17g, %.17g]", lv, c2[i], av_ref, lo, hi);
            if ((hi - lo) / fabs(av_ref) > widest)
                widest = (hi - lo) / fabs(av_ref);
        }
    }
    printf("intervals: %ld checked, widest (ahi - alo) / |av| 2^%.1f\n", checked, log2(widest));
    CHECK(checked > 100000, "too few intervals checked: %ld", checked);
    /* Narrower than a float32 ulp, or the rounding proof could never pass. */
    CHECK(widest < 0x1p-24, "interval too wide: 2^%.1f", log2(widest));
}

static void timing(void)
{
    enum { N = 3000000, REPS = 3 };
    double *c2 = malloc(N * sizeof *c2), *a = malloc(N * sizeof *a), *err = malloc(N * sizeof *err);
    double best_fast = 1e30, best_libm = 1e30, sum = 0.0;
    long i, flagged = 0;
    int rep;
    if (!c2 || !a || !err) {
        printf("timing skipped: out of memory\n");
        free(c2), free(a), free(err);
        return;
    }
    for (i = 0; i < N; i++)
        c2[i] = log_uniform(1.0, 1e5);
    for (rep = 0; rep < REPS; rep++) {
        clock_t t0 = clock();
        rscd_fast_amp(c2, N, 3e-3, 0.9, 2e4, a, err);
        clock_t t1 = clock();
        for (i = 0; i < N; i++)
            a[i] = ref_amp(c2[i], 3e-3, 0.9, 2e4);
        clock_t t2 = clock();
        sum += a[N / 2];
        if ((double)(t1 - t0) < best_fast)
            best_fast = (double)(t1 - t0);
        if ((double)(t2 - t1) < best_libm)
            best_libm = (double)(t2 - t1);
    }
    rscd_fast_amp(c2, N, 3e-3, 0.9, 2e4, a, err);
    for (i = 0; i < N; i++)
        flagged += isnan(err[i]);
    printf("timing (%d typical elements, best of %d): rscd_fast_amp %.2f ns/element, "
           "libm %.2f ns/element, speed-up %.1fx (flagged %ld; checksum %g)\n",
           N, REPS, best_fast / CLOCKS_PER_SEC / N * 1e9, best_libm / CLOCKS_PER_SEC / N * 1e9,
           best_libm / (best_fast > 0 ? best_fast : 1), flagged, sum);
    free(c2), free(a), free(err);
}

/* rscd_fast_asinh: libm's asinh lies within err of a, for x over the whole range
 * (tiny, where log(1 + x) cancels; the switch to 2|x| at 2^28; huge; both signs, -0);
 * err is never more than 2^-45 (|a| + 1); non-finite and |x| >= 2^1000 give NaN in both;
 * every length of tail is right. */
static void asinh_bounds(void)
{
    enum { N = 200000 };
    static double x[N], a[N], err[N];
    static const double special[] = {0.0, -0.0, 0x1p-1074, 1e-300, 0x1p-28, 0x1p28,
                                     0x1p28 - 1.0, 0x1p28 + 2.0, 1.0, -1.0, 0x1p999,
                                     -0x1p999};
    static const double bad[] = {NAN, INFINITY, -INFINITY, 0x1p1000, -1e308};
    const size_t nspecial = sizeof special / sizeof *special;
    double worst = 0.0;
    ptrdiff_t i, n;
    for (i = 0; i < N; i++) {
        const double sign = next_u64() & 1 ? -1.0 : 1.0;
        x[i] = i < (ptrdiff_t)nspecial ? special[i]
               : sign * (i % 3 == 0 ? log_uniform(1e-20, 1e20) : uniform(0.0, 50.0));
    }
    rscd_fast_asinh(x, N, 1.0, a, err);
    for (i = 0; i < N; i++) {
        const double d = fabs(a[i] - asinh(x[i]));
        CHECK(!isnan(err[i]) && d <= err[i], "asinh(%a): a = %a, libm %a, err %a", x[i],
              a[i], asinh(x[i]), err[i]);
        CHECK(err[i] <= 0x1p-45 * (fabs(a[i]) + 1.0), "asinh(%a): err %a too wide", x[i],
              err[i]);
        CHECK(signbit(a[i]) == signbit(x[i]), "asinh(%a): sign of %a", x[i], a[i]);
        if (d / (fabs(a[i]) + 1.0) > worst)
            worst = d / (fabs(a[i]) + 1.0);
    }
    printf("rscd_fast_asinh: %d values, largest |a - asinh| / (|a| + 1) = %.3g (2^%.1f); "
           "bound 2^-46\n", N, worst, worst > 0 ? log2(worst) : -INFINITY);
    for (i = 0; i < (ptrdiff_t)(sizeof bad / sizeof *bad); i++) {
        rscd_fast_asinh(&bad[i], 1, 1.0, a, err);
        CHECK(isnan(a[0]) && isnan(err[0]), "asinh(%g) not flagged", bad[i]);
    }
    for (n = 0; n <= 9; n++) {   /* tails: nothing written past n, the same values */
        for (i = 0; i < 12; i++)
            a[i] = err[i] = 12345.0;
        rscd_fast_asinh(x, n, 1.0, a, err);
        CHECK(a[n] == 12345.0 && err[n] == 12345.0, "n=%ld wrote past the end", (long)n);
        for (i = 0; i < n; i++)
            CHECK(fabs(a[i] - asinh(x[i])) <= err[i], "n=%ld element %ld", (long)n, (long)i);
    }
}

int main(void)
{
    struct stats wide = {"wide (c2 1e-3..1e30)", 0, 0, 0, 0, NULL, 0};
    struct stats typical = {"typical MIRI (param3 1e3..1e5)", 0, 0, 0, 0, NULL, 0};
    struct stats limits = {"near the range limits", 0, 0, 0, 0, NULL, 0};
    struct stats demo = {"MIRI c2, param3 1e6..1e7", 0, 0, 0, 0, NULL, 0};

    if (!rscd_vector_available()) {
        printf("SKIP: this CPU or build lacks AVX2/FMA: rscd_fast_amp's vector path "
               "is unavailable\n");
        return 0;
    }
    typical.rel = malloc(1000L * BLOCK * sizeof *typical.rel);
    wide.rel = malloc(1000L * BLOCK * sizeof *wide.rel);
    if (!typical.rel || !wide.rel) {
        printf("FAIL: out of memory\n");
        return 1;
    }

    random_set(&wide, 0, 1000);
    random_set(&typical, 1, 1000);
    random_set(&limits, 2, 300);
    random_set(&demo, 3, 100);
    intervals();
    report(&wide);
    report(&typical);
    report(&limits);
    report(&demo);
    CHECK((double)typical.flagged / (double)typical.total < 0.03,
          "too many typical elements flagged: %ld", typical.flagged);
    CHECK(limits.total - limits.flagged > 100000, "too few limit elements checked");
    free(typical.rel);
    free(wide.rel);

    edge_cases();
    sizes_and_alignment();
    asinh_bounds();
    timing();

    printf("ok: %d failure(s)\n", failures);
    return failures != 0;
}
