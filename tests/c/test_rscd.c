/* test_rscd.c - C-level tests of the public header alone (no Python).
 *
 * Build: cc -std=c99 -Wall -Wextra -Werror -Icsrc tests/c/test_rscd.c csrc/common.c csrc/flag.c csrc/decay.c csrc/fastamp.c -lm
 * Exit status: the number of failed checks (0 = all passed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rscd.h"

static int failures = 0;

static void check_int(const char *test, const char *what, long got, long want)
{
    if (got != want) {
        printf("FAIL %s: %s = %ld, expected %ld\n", test, what, got, want);
        failures++;
    }
}

static void check_str(const char *test, const char *what, const char *got, const char *want)
{
    if (strcmp(got, want) != 0) {
        printf("FAIL %s: %s = \"%s\", expected \"%s\"\n", test, what, got, want);
        failures++;
    }
}

/* A view of caller buffers with the JWST defaults for the exposure fields. */
static rscd_ramp make_ramp(float *data, uint8_t *gdq, uint32_t *pdq, ptrdiff_t nints,
                           ptrdiff_t ngroups, ptrdiff_t nrows, ptrdiff_t ncols)
{
    rscd_ramp r;
    memset(&r, 0, sizeof r);
    r.data = data;
    r.groupdq = gdq;
    r.pixeldq = pdq;
    r.nints = nints;
    r.ngroups = ngroups;
    r.nrows = nrows;
    r.ncols = ncols;
    r.data_byteorder = RSCD_NATIVE;
    r.integration_start = 1;
    r.nints_exposure = 0;
    r.first_row = 1;
    return r;
}

#define GDQ(i, g, p) gdq[((i) * NG + (g)) * NPIX + (p)]

static void t_rscd_version(void)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", RSCD_VERSION_MAJOR, RSCD_VERSION_MINOR,
             RSCD_VERSION_PATCH);
    check_str("rscd_version", "version", rscd_version(), want);
}

static void t_rscd_strerror(void)
{
    check_str("rscd_strerror", "OK", rscd_strerror(RSCD_OK), "success");
    check_str("rscd_strerror", "unknown", rscd_strerror(12345), "unknown status");
    check_str("rscd_strerror", "NOMEM", rscd_strerror(RSCD_ERR_NOMEM), "out of memory");
}

static void t_rscd_params_init(void)
{
    rscd_params p;
    rscd_params_init(&p);
    check_int("rscd_params_init", "dq_do_not_use", p.dq_do_not_use, 1);
    check_int("rscd_params_init", "dq_saturated", p.dq_saturated, 2);
    check_int("rscd_params_init", "dq_flux_estimated", (long)p.dq_flux_estimated, 1L << 28);
    check_int("rscd_params_init", "dq_reference_pixel", (long)p.dq_reference_pixel, 1L << 31);
    rscd_params_init(NULL); /* must not crash */
}

/* The hand-worked case of tests/test_flag.py: global stop of the back-off. */
static void t_rscd_flag(void)
{
    enum { NI = 3, NG = 8, NPIX = 3 };
    uint8_t gdq[NI * NG * NPIX];
    uint32_t pdq[NPIX] = {0, 0, 7};
    rscd_params params;
    rscd_flag_stats st;
    rscd_ramp r = make_ramp(NULL, gdq, pdq, NI, NG, 1, NPIX);
    int g, status;

    memset(gdq, 0, sizeof gdq);
    GDQ(1, 2, 0) = GDQ(1, 4, 0) = 2;        /* pixel A, integration 2: groups 2 and 4 */
    for (g = 3; g < NG; g++)
        GDQ(2, g, 1) = 2;                   /* pixel B, integration 3: from group 3 */
    GDQ(0, 5, 2) = 4;                       /* JUMP_DET must survive */
    rscd_params_init(&params);
    status = rscd_flag(&r, 1, 3, &params, &st);
    check_int("rscd_flag", "status", status, RSCD_OK);
    check_int("rscd_flag", "A group 0", GDQ(1, 0, 0), 1);
    check_int("rscd_flag", "A group 1", GDQ(1, 1, 0), 0);
    check_int("rscd_flag", "B group 0", GDQ(2, 0, 1), 1);
    check_int("rscd_flag", "B group 1", GDQ(2, 1, 1), 0);
    check_int("rscd_flag", "C group 2", GDQ(1, 2, 2), 1);
    check_int("rscd_flag", "C group 3", GDQ(1, 3, 2), 0);
    check_int("rscd_flag", "int 1 group 0", GDQ(0, 0, 2), 1);
    check_int("rscd_flag", "int 1 group 1", GDQ(0, 1, 2), 0);
    check_int("rscd_flag", "jump kept", GDQ(0, 5, 2), 4);
    check_int("rscd_flag", "pixeldq A", (long)pdq[0], 1L << 28);
    check_int("rscd_flag", "pixeldq B", (long)pdq[1], 1L << 28);
    check_int("rscd_flag", "pixeldq C", (long)pdq[2], 7);
    check_int("rscd_flag", "INT1SKIP", (long)st.ngroups_skip_int1, 1);
    check_int("rscd_flag", "INT2SKIP", (long)st.ngroups_skip_int2p, 3);
    check_int("rscd_flag", "INT2BORS", (long)st.keep_groups_saturation_int2p, 2);
    check_int("rscd_flag", "INT2UGP1", (long)st.keep_bright_firstgroup_int2p, 0);
    check_int("rscd_flag", "INT1BORS", (long)st.keep_groups_saturation_int1, 0);
}

/* Rules 2-4 and 6: few groups, clamping, segments, deprecated reference. */
static void t_rscd_flag_rules(void)
{
    enum { NI = 2, NG = 4, NPIX = 1 };
    uint8_t gdq[NI * NG * NPIX];
    uint32_t pdq[1] = {0};
    rscd_params params;
    rscd_flag_stats st;
    rscd_ramp r = make_ramp(NULL, gdq, pdq, NI, NG, 1, 1);
    int status;

    rscd_params_init(&params);
    memset(gdq, 0, sizeof gdq);
    /* ngroups 4 <= 5: skips become 1; 4 >= 1 + 3 so no clamp. No group_skip1. */
    status = rscd_flag(&r, -1, 9, &params, &st);
    check_int("rscd_flag_rules", "deprecated status", status, RSCD_WARN_NO_SKIP1);
    check_int("rscd_flag_rules", "INT1SKIP", (long)st.ngroups_skip_int1, 1);
    check_int("rscd_flag_rules", "INT2SKIP", (long)st.ngroups_skip_int2p, 1);
    check_int("rscd_flag_rules", "int 2 group 0", GDQ(1, 0, 0), 1);
    check_int("rscd_flag_rules", "int 2 group 1", GDQ(1, 1, 0), 0);

    /* Segment starting at integration 3: integration 1 rules do not run. */
    memset(gdq, 0, sizeof gdq);
    r.integration_start = 3;
    r.nints_exposure = 10;
    status = rscd_flag(&r, 2, 2, &params, &st);
    check_int("rscd_flag_rules", "segment status", status, RSCD_OK);
    check_int("rscd_flag_rules", "segment INT1SKIP unset", (long)st.ngroups_skip_int1, -1);
    check_int("rscd_flag_rules", "segment int 0 group 0", GDQ(0, 0, 0), 1);

    /* Too few groups: nothing changed. */
    memset(gdq, 0, sizeof gdq);
    r.ngroups = 2;
    status = rscd_flag(&r, 1, 1, &params, &st);
    check_int("rscd_flag_rules", "few groups", status, RSCD_SKIP_FEW_GROUPS);
    check_int("rscd_flag_rules", "few groups untouched", GDQ(0, 0, 0), 0);
}

/* Every argument is checked before anything is written. */
static void t_rscd_flag_errors(void)
{
    enum { NI = 2, NG = 6, NPIX = 2 };
    uint8_t gdq[NI * NG * NPIX];
    uint32_t pdq[NPIX] = {0, 0};
    rscd_params params;
    rscd_flag_stats st;
    rscd_ramp r = make_ramp(NULL, gdq, pdq, NI, NG, 1, NPIX);
    ptrdiff_t b, o;
    size_t k;
    int bad = 0;

    rscd_params_init(&params);
    memset(gdq, 0, sizeof gdq);
    check_int("rscd_flag_errors", "NULL ramp", rscd_flag(NULL, 1, 1, &params, &st), RSCD_ERR_NULL);
    check_int("rscd_flag_errors", "NULL params", rscd_flag(&r, 1, 1, NULL, &st), RSCD_ERR_NULL);
    check_int("rscd_flag_errors", "negative skip2p", rscd_flag(&r, 1, -1, &params, &st),
              RSCD_ERR_SKIP);
    r.nints_exposure = 1; /* fewer than the buffer holds */
    check_int("rscd_flag_errors", "nints_exposure", rscd_flag(&r, 1, 1, &params, &st),
              RSCD_ERR_RANGE);
    r.nints_exposure = 0;
    r.ncols = -1;
    check_int("rscd_flag_errors", "negative ncols", rscd_flag(&r, 1, 1, &params, &st),
              RSCD_ERR_DIMS);
    r.ncols = NPIX;
    r.nrows = PTRDIFF_MAX / 2;
    check_int("rscd_flag_errors", "overflow", rscd_flag(&r, 1, 1, &params, &st), RSCD_ERR_DIMS);
    r.nrows = 1;
    check_int("rscd_flag_errors", "range", rscd_flag_range(&r, 1, 2, 1, &params, &b, &o),
              RSCD_ERR_RANGE);
    check_int("rscd_flag_errors", "skip too large",
              rscd_flag_range(&r, 0, 1, NG - 1, &params, &b, &o), RSCD_ERR_SKIP);
    for (k = 0; k < sizeof gdq; k++)
        bad |= gdq[k];
    check_int("rscd_flag_errors", "arrays untouched", bad | (int)pdq[0] | (int)pdq[1], 0);
}

/* SPEC section 2 rules 7-8 written out plainly, one level at a time, for
 * t_rscd_flag_reference. k has room for nints * npix samples. */
static void reference_flag(uint8_t *gdq, uint32_t *pdq, ptrdiff_t ngroups, ptrdiff_t npix,
                           ptrdiff_t first, ptrdiff_t count, ptrdiff_t skip, ptrdiff_t *k,
                           ptrdiff_t *backed_off, ptrdiff_t *one_group)
{
    const uint8_t dnu = 1, sat = 2;
    ptrdiff_t i, p, g, level;
    int backoff = 0;

#define REF_GDQ(i, g, p) gdq[((i) * ngroups + (g)) * npix + (p)]
#define REF_PROBLEM(i, l, p) ((REF_GDQ(i, l, p) & sat) && !(REF_GDQ(i, 0, p) & sat))
    for (i = first; i < first + count; i++)
        for (p = 0; p < npix; p++)
            k[i * npix + p] = skip;
    for (level = skip + 1; level >= 1; level--) {
        int any = 0;
        for (i = first; i < first + count; i++)
            for (p = 0; p < npix; p++)
                any |= REF_PROBLEM(i, level, p);
        if (!any)
            break;
        backoff = 1;
        for (i = first; i < first + count; i++)
            for (p = 0; p < npix; p++)
                if (REF_PROBLEM(i, level, p) && k[i * npix + p] > 0)
                    k[i * npix + p]--;
    }
    *backed_off = *one_group = 0;
    for (p = 0; p < npix && backoff; p++) {
        int b = 0, o = 0;
        for (i = first; i < first + count; i++) {
            b |= k[i * npix + p] < skip;
            o |= k[i * npix + p] == 0;
        }
        if (b)
            pdq[p] |= 1u << 28;
        *backed_off += b;
        *one_group += o;
    }
    for (i = first; i < first + count; i++)
        for (p = 0; p < npix; p++)
            for (g = 0; g < k[i * npix + p]; g++)
                REF_GDQ(i, g, p) |= dnu;
#undef REF_PROBLEM
#undef REF_GDQ
}

/* rscd_flag_range against reference_flag on random ramps: pixels saturating
 * from a random group on, some from group 0 or 1 (deep back-offs), random
 * other bits; skips past 254 (the core's 8-bit counters) up to ngroups - 2,
 * and frames wider than the core's blocks of pixels. */
static void t_rscd_flag_reference(void)
{
    static const struct { ptrdiff_t ni, ng, npix, first, count, skip; } cases[] = {
        {3, 300, 7, 0, 3, 0},    {3, 300, 7, 0, 3, 1},    {3, 300, 7, 1, 2, 4},
        {3, 300, 7, 0, 3, 254},  {3, 300, 7, 0, 3, 255},  {3, 300, 7, 1, 2, 256},
        {3, 300, 7, 0, 3, 298},  {2, 8, 40000, 0, 2, 2}, {2, 8, 40000, 1, 1, 6},
        {1, 260, 300, 0, 1, 257},
    };
    const rscd_params *pp;
    rscd_params params;
    unsigned long long seed = 12345;
    size_t c;

    rscd_params_init(&params);
    params.nthreads = 1;
    pp = &params;
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const ptrdiff_t ni = cases[c].ni, ng = cases[c].ng, npix = cases[c].npix;
        const size_t nq = (size_t)(ni * ng * npix);
        uint8_t *gdq = malloc(nq), *want = malloc(nq);
        uint32_t *pdq = calloc((size_t)npix, 4), *pwant = calloc((size_t)npix, 4);
        ptrdiff_t *k = malloc((size_t)(ni * npix) * sizeof *k);
        ptrdiff_t i, g, p, b, o, wb, wo;
        rscd_ramp r = make_ramp(NULL, gdq, pdq, ni, ng, 1, npix);
        char what[64];
        int status, bad = 0;

        if (!gdq || !want || !pdq || !pwant || !k) {
            check_int("rscd_flag_reference", "malloc", 0, 1);
            return;
        }
        for (i = 0; i < ni; i++)
            for (p = 0; p < npix; p++) {
                /* onset: 0..ng-1 or beyond (never saturated); 1 in 8 at 0 or 1 */
                ptrdiff_t onset;
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                onset = (seed >> 61) == 0 ? (ptrdiff_t)(seed >> 40 & 1)
                                          : (ptrdiff_t)((seed >> 33) % (unsigned)(ng + 20));
                for (g = 0; g < ng; g++) {
                    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                    gdq[(i * ng + g) * npix + p] =
                        (uint8_t)((g >= onset ? 2 : 0) | ((seed >> 60) == 0 ? 1 : 0) |
                                  ((seed >> 59) == 3 ? 4 : 0));
                }
            }
        for (p = 0; p < npix; p++)
            pdq[p] = pwant[p] = (p % 5 == 0) ? 1u << 28 : (uint32_t)p & 7u;
        memcpy(want, gdq, nq);
        reference_flag(want, pwant, ng, npix, cases[c].first, cases[c].count, cases[c].skip, k,
                       &wb, &wo);
        status = rscd_flag_range(&r, cases[c].first, cases[c].count, cases[c].skip, pp, &b, &o);
        snprintf(what, sizeof what, "case %d status", (int)c);
        check_int("rscd_flag_reference", what, status, RSCD_OK);
        bad = memcmp(gdq, want, nq) != 0 || memcmp(pdq, pwant, (size_t)npix * 4) != 0;
        snprintf(what, sizeof what, "case %d arrays differ", (int)c);
        check_int("rscd_flag_reference", what, bad, 0);
        snprintf(what, sizeof what, "case %d backed_off", (int)c);
        check_int("rscd_flag_reference", what, (long)b, (long)wb);
        snprintf(what, sizeof what, "case %d one_group", (int)c);
        check_int("rscd_flag_reference", what, (long)o, (long)wo);
        free(gdq);
        free(want);
        free(pdq);
        free(pwant);
        free(k);
    }
}

#ifdef RSCD_TEST_DECAY_CASES
#include "decay_cases.inc"
#endif

int main(void)
{
    t_rscd_version();
    t_rscd_strerror();
    t_rscd_params_init();
    t_rscd_flag();
    t_rscd_flag_rules();
    t_rscd_flag_errors();
    t_rscd_flag_reference();
#ifdef RSCD_TEST_DECAY_CASES
    failures += t_rscd_decay();
#endif
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
