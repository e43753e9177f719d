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
    RSCD_RAMP_INIT(&r);
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

/* Initialised statistics structs (the ABI rule of rscd.h). */
static rscd_flag_stats new_flag_stats(void)
{
    rscd_flag_stats s;
    RSCD_FLAG_STATS_INIT(&s);
    return s;
}

static rscd_decay_stats new_decay_stats(void)
{
    rscd_decay_stats s;
    RSCD_DECAY_STATS_INIT(&s);
    return s;
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
    unsigned char raw[sizeof(rscd_params) + 16];
    size_t k;
    int bad = 0;

    check_int("rscd_params_init", "status", RSCD_PARAMS_INIT(&p), RSCD_OK);
    check_int("rscd_params_init", "struct_size", (long)p.struct_size, (long)sizeof p);
    check_int("rscd_params_init", "dq_do_not_use", p.dq_do_not_use, 1);
    check_int("rscd_params_init", "dq_saturated", p.dq_saturated, 2);
    check_int("rscd_params_init", "dq_flux_estimated", (long)p.dq_flux_estimated, 1L << 28);
    check_int("rscd_params_init", "dq_reference_pixel", (long)p.dq_reference_pixel, 1L << 31);
    check_int("rscd_params_init", "nthreads", p.nthreads, 0);
    check_int("rscd_params_init", "use_vector", p.use_vector, 1);
    check_int("rscd_params_init", "NULL", rscd_params_init(NULL, sizeof p), RSCD_ERR_NULL);
    /* Sizes of no known layout (a newer header's, a garbage one): refused, and
     * nothing written. */
    memset(raw, 0xAB, sizeof raw);
    check_int("rscd_params_init", "newer size",
              rscd_params_init((rscd_params *)(void *)raw, sizeof(rscd_params) + 8),
              RSCD_ERR_PARAMS);
    check_int("rscd_params_init", "size 3", rscd_params_init((rscd_params *)(void *)raw, 3),
              RSCD_ERR_PARAMS);
    for (k = 0; k < sizeof raw; k++)
        bad |= raw[k] != 0xAB;
    check_int("rscd_params_init", "refused: nothing written", bad, 0);
    check_int("rscd_params_init", "strerror names struct_size",
              strstr(rscd_strerror(RSCD_ERR_PARAMS), "struct_size") != NULL, 1);
}

/* The first layout of rscd_params (rscd.h: fields up to nthreads), as a caller
 * compiled against that header declares it. */
typedef struct params_layout1 {
    size_t struct_size;
    uint8_t dq_do_not_use;
    uint8_t dq_saturated;
    uint32_t dq_flux_estimated;
    uint32_t dq_reference_pixel;
    int nthreads;
} params_layout1;

/* The ABI rule of rscd_params: an older, smaller struct is filled without
 * being overrun and accepted, with defaults for the fields appended since; a
 * struct of a size the library does not know is refused by every function
 * before anything is written. */
static void t_rscd_params_abi(void)
{
    enum { NI = 2, NG = 6, NPIX = 3 };
    struct {
        params_layout1 p;
        unsigned char guard[32];
    } old;
    rscd_params cur, newer;
    uint8_t gdq[NI * NG * NPIX], gdq_old[NI * NG * NPIX];
    uint32_t pdq[NPIX] = {0, 0, 0}, pdq_old[NPIX] = {0, 0, 0};
    float data[NI * NG * NPIX];
    rscd_ramp r = make_ramp(NULL, gdq, pdq, NI, NG, 1, NPIX);
    rscd_flag_stats st = new_flag_stats(), st_old = new_flag_stats();
    rscd_decay_stats dst = new_decay_stats();
    rscd_decay_coeffs c;
    ptrdiff_t b, o;
    size_t k;
    int bad = 0, g;

    /* rscd_params_init with the old size writes that many bytes, no more. */
    memset(&old, 0xAB, sizeof old);
    check_int("rscd_params_abi", "old layout init",
              rscd_params_init((rscd_params *)(void *)&old.p, sizeof old.p), RSCD_OK);
    for (k = 0; k < sizeof old.guard; k++)
        bad |= old.guard[k] != 0xAB;
    check_int("rscd_params_abi", "old layout not overrun", bad, 0);
    check_int("rscd_params_abi", "old struct_size", (long)old.p.struct_size,
              (long)sizeof old.p);
    check_int("rscd_params_abi", "old dq_saturated", old.p.dq_saturated, 2);

    /* The old struct is accepted and flags as the current one does. */
    memset(gdq, 0, sizeof gdq);
    for (g = 2; g < NG; g++)
        gdq[(1 * NG + g) * NPIX + 0] = 2;
    memcpy(gdq_old, gdq, sizeof gdq);
    RSCD_PARAMS_INIT(&cur);
    check_int("rscd_params_abi", "current flag", rscd_flag(&r, 1, 3, &cur, &st), RSCD_OK);
    r.groupdq = gdq_old;
    r.pixeldq = pdq_old;
    check_int("rscd_params_abi", "old flag",
              rscd_flag(&r, 1, 3, (const rscd_params *)(const void *)&old.p, &st_old), RSCD_OK);
    check_int("rscd_params_abi", "old flag GROUPDQ", memcmp(gdq, gdq_old, sizeof gdq), 0);
    check_int("rscd_params_abi", "old flag PIXELDQ", memcmp(pdq, pdq_old, sizeof pdq), 0);
    check_int("rscd_params_abi", "old flag INT2BORS", (long)st_old.keep_groups_saturation_int2p,
              (long)st.keep_groups_saturation_int2p);

    /* A newer header's struct (larger) and an uninitialised one: refused. */
    newer = cur;
    newer.struct_size = sizeof newer + 8;
    memset(gdq, 0, sizeof gdq);
    memset(pdq, 0, sizeof pdq);
    for (k = 0; k < sizeof data / sizeof data[0]; k++)
        data[k] = 100.0f + (float)k;
    r.groupdq = gdq;
    r.pixeldq = pdq;
    r.data = data;
    RSCD_DECAY_COEFFS_INIT(&c);
    c.tau = 1.0;
    c.param3 = 10.0;
    c.ascale = c.illum_zp = c.pow = 1.0;
    for (k = 0; k < 2; k++) {
        const char *what = k ? "zero size" : "newer size";
        if (k)
            newer.struct_size = 0;
        check_int("rscd_params_abi", what, rscd_flag(&r, 1, 1, &newer, &st), RSCD_ERR_PARAMS);
        check_int("rscd_params_abi", what, rscd_flag_range(&r, 0, 1, 1, &newer, &b, &o),
                  RSCD_ERR_PARAMS);
        check_int("rscd_params_abi", what,
                  rscd_flag_range_stop(&r, 0, 1, 1, 2, &newer, &b, &o), RSCD_ERR_PARAMS);
        check_int("rscd_params_abi", what, rscd_decay(&r, &c, &c, NULL, &newer, &dst),
                  RSCD_ERR_PARAMS);
    }
    bad = 0;
    for (k = 0; k < sizeof gdq; k++)
        bad |= gdq[k];
    for (k = 0; k < sizeof data / sizeof data[0]; k++)
        bad |= data[k] != 100.0f + (float)k;
    check_int("rscd_params_abi", "refused: arrays untouched", bad | (int)pdq[0], 0);
    /* The same data is corrected with a struct the library knows (the check above
     * is not vacuous). */
    check_int("rscd_params_abi", "decay known", rscd_decay(&r, &c, &c, NULL, &cur, &dst),
              RSCD_OK);
    check_int("rscd_params_abi", "decay corrected", dst.npix_corrected > 0, 1);
}

/* The hand-worked case of tests/test_flag.py: global stop of the back-off. */
static void t_rscd_flag(void)
{
    enum { NI = 3, NG = 8, NPIX = 3 };
    uint8_t gdq[NI * NG * NPIX];
    uint32_t pdq[NPIX] = {0, 0, 7};
    rscd_params params;
    rscd_flag_stats st = new_flag_stats();
    rscd_ramp r = make_ramp(NULL, gdq, pdq, NI, NG, 1, NPIX);
    int g, status;

    memset(gdq, 0, sizeof gdq);
    GDQ(1, 2, 0) = GDQ(1, 4, 0) = 2;        /* pixel A, integration 2: groups 2 and 4 */
    for (g = 3; g < NG; g++)
        GDQ(2, g, 1) = 2;                   /* pixel B, integration 3: from group 3 */
    GDQ(0, 5, 2) = 4;                       /* JUMP_DET must survive */
    RSCD_PARAMS_INIT(&params);
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
    rscd_flag_stats st = new_flag_stats();
    rscd_ramp r = make_ramp(NULL, gdq, pdq, NI, NG, 1, 1);
    int status;

    RSCD_PARAMS_INIT(&params);
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
    rscd_flag_stats st = new_flag_stats();
    rscd_ramp r = make_ramp(NULL, gdq, pdq, NI, NG, 1, NPIX);
    ptrdiff_t b, o;
    size_t k;
    int bad = 0;

    RSCD_PARAMS_INIT(&params);
    memset(gdq, 0, sizeof gdq);
    check_int("rscd_flag_errors", "NULL ramp", rscd_flag(NULL, 1, 1, &params, &st), RSCD_ERR_NULL);
    check_int("rscd_flag_errors", "NULL params", rscd_flag(&r, 1, 1, NULL, &st), RSCD_ERR_NULL);
    check_int("rscd_flag_errors", "negative skip2p", rscd_flag(&r, 1, -1, &params, &st),
              RSCD_ERR_SKIP);
    r.nints_exposure = -1;
    check_int("rscd_flag_errors", "negative nints_exposure", rscd_flag(&r, 1, 1, &params, &st),
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

/* docs/overview.rst, "Method flag", rules 7-8 written out plainly, one level at a
 * time, for
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

/* Random ramps of GROUPDQ: pixels saturating from a random group on, some from
 * group 0 or 1 (deep back-offs), random DO_NOT_USE and JUMP_DET bits. */
static void random_groupdq(uint8_t *gdq, ptrdiff_t ni, ptrdiff_t ng, ptrdiff_t npix,
                           unsigned long long *seed)
{
    ptrdiff_t i, g, p;

    for (i = 0; i < ni; i++)
        for (p = 0; p < npix; p++) {
            /* onset: 0..ng-1 or beyond (never saturated); 1 in 8 at 0 or 1 */
            ptrdiff_t onset;
            *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
            onset = (*seed >> 61) == 0 ? (ptrdiff_t)(*seed >> 40 & 1)
                                       : (ptrdiff_t)((*seed >> 33) % (unsigned)(ng + 20));
            for (g = 0; g < ng; g++) {
                *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
                gdq[(i * ng + g) * npix + p] =
                    (uint8_t)((g >= onset ? 2 : 0) | ((*seed >> 60) == 0 ? 1 : 0) |
                              ((*seed >> 59) == 3 ? 4 : 0));
            }
        }
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

    RSCD_PARAMS_INIT(&params);
    params.nthreads = 1;
    pp = &params;
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const ptrdiff_t ni = cases[c].ni, ng = cases[c].ng, npix = cases[c].npix;
        const size_t nq = (size_t)(ni * ng * npix);
        uint8_t *gdq = malloc(nq), *want = malloc(nq);
        uint32_t *pdq = calloc((size_t)npix, 4), *pwant = calloc((size_t)npix, 4);
        ptrdiff_t *k = malloc((size_t)(ni * npix) * sizeof *k);
        ptrdiff_t p, b, o, wb, wo;
        rscd_ramp r = make_ramp(NULL, gdq, pdq, ni, ng, 1, npix);
        char what[64];
        int status, bad = 0;

        if (!gdq || !want || !pdq || !pwant || !k) {
            check_int("rscd_flag_reference", "malloc", 0, 1);
            return;
        }
        random_groupdq(gdq, ni, ng, npix, &seed);
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

/* The full-frame cases below use MIRI's frame: 1024 x 1032 pixels, more than
 * one of flag.c's blocks of pixels (16384) and of decay.c's blocks of rows. */
#define FULL_ROWS 1024
#define FULL_COLS 1032

/* rscd_flag on a full frame with 2 threads against reference_flag applied to
 * its two ranges (integration 1 with skip_int1, 2+ with skip_int2p). */
static void t_rscd_flag_full_frame_threads(void)
{
    enum { NI = 2, NG = 7 };
    const ptrdiff_t npix = (ptrdiff_t)FULL_ROWS * FULL_COLS, skip1 = 2, skip2p = 4;
    const size_t nq = (size_t)NI * NG * (size_t)npix;
    uint8_t *gdq = malloc(nq), *want = malloc(nq);
    uint32_t *pdq = calloc((size_t)npix, 4), *pwant = calloc((size_t)npix, 4);
    ptrdiff_t *k = malloc((size_t)NI * (size_t)npix * sizeof *k);
    rscd_ramp r = make_ramp(NULL, gdq, pdq, NI, NG, FULL_ROWS, FULL_COLS);
    unsigned long long seed = 777;
    ptrdiff_t p, wb1, wo1, wb2, wo2;
    rscd_params params;
    rscd_flag_stats st = new_flag_stats();
    int use_vector;

    if (!gdq || !want || !pdq || !pwant || !k) {
        check_int("rscd_flag_full_frame_threads", "malloc", 0, 1);
        free(gdq), free(want), free(pdq), free(pwant), free(k);
        return;
    }
    RSCD_PARAMS_INIT(&params);
    params.nthreads = 2;
    for (use_vector = 0; use_vector <= 1; use_vector++) {
        params.use_vector = use_vector;
        random_groupdq(gdq, NI, NG, npix, &seed);
        for (p = 0; p < npix; p++)
            pdq[p] = pwant[p] = (p % 5 == 0) ? 1u << 28 : (uint32_t)p & 7u;
        memcpy(want, gdq, nq);
        reference_flag(want, pwant, NG, npix, 0, 1, skip1, k, &wb1, &wo1);
        reference_flag(want, pwant, NG, npix, 1, NI - 1, skip2p, k, &wb2, &wo2);
        check_int("rscd_flag_full_frame_threads", "status",
                  rscd_flag(&r, skip1, skip2p, &params, &st), RSCD_OK);
        check_int("rscd_flag_full_frame_threads", "GROUPDQ differs", memcmp(gdq, want, nq) != 0,
                  0);
        check_int("rscd_flag_full_frame_threads", "PIXELDQ differs",
                  memcmp(pdq, pwant, (size_t)npix * 4) != 0, 0);
        check_int("rscd_flag_full_frame_threads", "INT1BORS",
                  (long)st.keep_groups_saturation_int1, (long)wb1);
        check_int("rscd_flag_full_frame_threads", "INT1UGP1",
                  (long)st.keep_bright_firstgroup_int1, (long)wo1);
        check_int("rscd_flag_full_frame_threads", "INT2BORS",
                  (long)st.keep_groups_saturation_int2p, (long)wb2);
        check_int("rscd_flag_full_frame_threads", "INT2UGP1",
                  (long)st.keep_bright_firstgroup_int2p, (long)wo2);
        check_int("rscd_flag_full_frame_threads", "some backed off", wb2 > 0, 1);
    }
    free(gdq), free(want), free(pdq), free(pwant), free(k);
}

/* A uint32_t word of SCI, byte-swapped. */
static uint32_t word_swap(uint32_t u)
{
    return (u >> 24) | ((u >> 8) & 0x0000ff00u) | ((u << 8) & 0x00ff0000u) | (u << 24);
}

/* Ramps of rate * (g + 1) over a bias for rscd_decay, as raw uint32_t words
 * (never loaded as floats: see t_rscd_decay_swapped_snan). With snan, the low
 * 16 bits of each word are set so that its byte-swapped word is a signalling
 * NaN: low byte 0x7F (exponent all ones), next byte 0x80..0xBF (quiet bit 0). */
static void decay_ramps(uint32_t *w, ptrdiff_t ni, ptrdiff_t ng, ptrdiff_t npix, int snan,
                        unsigned long long *seed)
{
    ptrdiff_t i, g, p;

    for (i = 0; i < ni; i++)
        for (p = 0; p < npix; p++) {
            double rate, bias;
            *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
            rate = 1.0 + (double)(*seed >> 44) / 16.0; /* 1 .. 2^16 DN per group */
            bias = 5000.0 + (double)(p % 97) * 31.0;
            for (g = 0; g < ng; g++) {
                const float v = (float)(bias + rate * (double)(g + 1));
                uint32_t u;
                memcpy(&u, &v, sizeof u);
                if (snan) {
                    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
                    u = (u & 0xFFFF0000u) | (uint32_t)(0x80u | (*seed >> 58)) << 8 | 0x7Fu;
                }
                w[(i * ng + g) * npix + p] = u;
            }
        }
}

/* Coefficients of the decay tests below: a correction of a few DN on most
 * pixels, from both branches. */
static rscd_decay_coeffs decay_test_coeffs(double tau)
{
    rscd_decay_coeffs c;
    RSCD_DECAY_COEFFS_INIT(&c);
    c.tau = tau;
    c.ascale = 0.02;
    c.pow = 0.9;
    c.illum_zp = 1.0;
    c.illum_slope = 0.01;
    c.illum2 = -1e-4;
    c.param3 = 3.0e4;
    c.crossopt = 100.0;
    c.sat_zp = 1e-5;
    c.sat_slope = 1e-7;
    c.sat_mzp = 0.2;
    c.sat_scale = 1.0;
    return c;
}

/* Big-endian SCI whose words read natively as signalling NaNs (value 1.0049f
 * is stored as the bytes 3F 80 A0 7F; read as a little-endian float they are a
 * signalling NaN) must give the same words as the same data in native order.
 * The x87 unit (gcc -m32) quiets a signalling NaN it loads as a float, so a
 * swap done on float values changes such words before they are swapped back. */
static void t_rscd_decay_swapped_snan(void)
{
    enum { NI = 3, NG = 8, NROWS = 12, NCOLS = 12, NPIX = NROWS * NCOLS,
           N = NI * NG * NPIX };
    uint32_t *native = malloc(N * sizeof *native), *swapped = malloc(N * sizeof *swapped);
    uint32_t *orig = malloc(N * sizeof *orig);
    uint8_t *gdq = calloc(N, 1);
    uint32_t pdq[NPIX];
    rscd_decay_coeffs even = decay_test_coeffs(3.0), odd = decay_test_coeffs(5.0);
    unsigned long long seed = 4242;
    rscd_params params;
    rscd_decay_stats st = new_decay_stats();
    rscd_ramp r;
    int use_vector, k, g, differ, changed;
    char what[80];

    if (!native || !swapped || !orig || !gdq) {
        check_int("rscd_decay_swapped_snan", "malloc", 0, 1);
        free(native), free(swapped), free(orig), free(gdq);
        return;
    }
    decay_ramps(orig, NI, NG, NPIX, 1, &seed);
    memset(pdq, 0, sizeof pdq);
    pdq[3] = 1u << 31;                      /* a reference pixel */
    for (g = 4; g < NG; g++)                /* pixel 5 saturates in integration 1 */
        gdq[(0 * NG + g) * NPIX + 5] = 2;
    RSCD_PARAMS_INIT(&params);
    for (use_vector = 0; use_vector <= 1; use_vector++) {
        params.use_vector = use_vector;
        memcpy(native, orig, N * sizeof *orig);
        for (k = 0; k < N; k++)
            swapped[k] = word_swap(orig[k]);
        r = make_ramp((float *)(void *)native, gdq, pdq, NI, NG, NROWS, NCOLS);
        snprintf(what, sizeof what, "use_vector %d native status", use_vector);
        check_int("rscd_decay_swapped_snan", what, rscd_decay(&r, &even, &odd, NULL, &params,
                                                              &st), RSCD_OK);
        r.data = (float *)(void *)swapped;
        r.data_byteorder = RSCD_SWAPPED;
        snprintf(what, sizeof what, "use_vector %d swapped status", use_vector);
        check_int("rscd_decay_swapped_snan", what, rscd_decay(&r, &even, &odd, NULL, &params,
                                                              &st), RSCD_OK);
        differ = changed = 0;
        for (k = 0; k < N; k++) {
            differ += word_swap(swapped[k]) != native[k];
            changed += native[k] != orig[k];
        }
        snprintf(what, sizeof what, "use_vector %d values differing from native order",
                 use_vector);
        check_int("rscd_decay_swapped_snan", what, differ, 0);
        snprintf(what, sizeof what, "use_vector %d values corrected", use_vector);
        check_int("rscd_decay_swapped_snan", what, changed > N / 2, 1);
        check_int("rscd_decay_swapped_snan", "saturated branch ran", st.npix_saturated > 0, 1);
    }
    free(native), free(swapped), free(orig), free(gdq);
}

/* rscd_decay on a full frame: 2 threads, with and without the vector path,
 * and byte-swapped, all give the words of one thread with the portable C. */
static void t_rscd_decay_full_frame_threads(void)
{
    enum { NI = 2, NG = 4 };
    const ptrdiff_t npix = (ptrdiff_t)FULL_ROWS * FULL_COLS;
    const size_t n = (size_t)NI * NG * (size_t)npix;
    uint32_t *orig = malloc(n * 4), *want = malloc(n * 4), *got = malloc(n * 4);
    uint8_t *gdq = malloc(n);
    uint32_t *pdq = calloc((size_t)npix, 4);
    rscd_decay_coeffs even = decay_test_coeffs(3.0), odd = decay_test_coeffs(5.0);
    unsigned long long seed = 99;
    rscd_params params;
    rscd_decay_stats st = new_decay_stats(), st1 = new_decay_stats();
    rscd_ramp r;
    size_t k;
    int run, differ;
    char what[80];

    if (!orig || !want || !got || !gdq || !pdq) {
        check_int("rscd_decay_full_frame_threads", "malloc", 0, 1);
        free(orig), free(want), free(got), free(gdq), free(pdq);
        return;
    }
    decay_ramps(orig, NI, NG, npix, 0, &seed);
    random_groupdq(gdq, NI, NG, npix, &seed);
    RSCD_PARAMS_INIT(&params);
    params.nthreads = 1;
    params.use_vector = 0;
    memcpy(want, orig, n * 4);
    r = make_ramp((float *)(void *)want, gdq, pdq, NI, NG, FULL_ROWS, FULL_COLS);
    r.first_row = 5;
    check_int("rscd_decay_full_frame_threads", "reference status",
              rscd_decay(&r, &even, &odd, NULL, &params, &st1), RSCD_OK);
    check_int("rscd_decay_full_frame_threads", "saturated branch ran", st1.npix_saturated > 0,
              1);
    params.nthreads = 2;
    for (run = 0; run < 4; run++) { /* use_vector = run & 1, swapped = run >> 1 */
        params.use_vector = run & 1;
        memcpy(got, orig, n * 4);
        if (run >> 1)
            for (k = 0; k < n; k++)
                got[k] = word_swap(got[k]);
        r.data = (float *)(void *)got;
        r.data_byteorder = run >> 1 ? RSCD_SWAPPED : RSCD_NATIVE;
        snprintf(what, sizeof what, "run %d status", run);
        check_int("rscd_decay_full_frame_threads", what,
                  rscd_decay(&r, &even, &odd, NULL, &params, &st), RSCD_OK);
        differ = 0;
        for (k = 0; k < n; k++)
            differ += (run >> 1 ? word_swap(got[k]) : got[k]) != want[k];
        snprintf(what, sizeof what, "run %d words differing from 1 thread", run);
        check_int("rscd_decay_full_frame_threads", what, differ, 0);
        snprintf(what, sizeof what, "run %d npix_corrected", run);
        check_int("rscd_decay_full_frame_threads", what, (long)st.npix_corrected,
                  (long)st1.npix_corrected);
    }
    free(orig), free(want), free(got), free(gdq), free(pdq);
}

/* The ABI rule covers every struct: a zero-initialised one (struct_size 0) or one
 * of an unknown size is refused with RSCD_ERR_STRUCT before anything is written;
 * the init functions refuse unknown sizes without writing. */
static void t_struct_not_initialised(void)
{
    enum { NI = 2, NG = 6, NPIX = 4 };
    uint8_t gdq[NI * NG * NPIX], problem[3] = {0, 0, 0};
    uint32_t pdq[NPIX];
    float data[NI * NG * NPIX];
    rscd_params params;
    rscd_ramp good = make_ramp(data, gdq, pdq, NI, NG, 1, NPIX), zero;
    rscd_flag_stats fst = new_flag_stats(), fzero;
    rscd_decay_stats dst = new_decay_stats(), dzero;
    rscd_decay_coeffs c, czero;
    rscd_prev_int prev, pzero;
    rscd_flag_plan plan, plzero;
    unsigned char raw[sizeof(rscd_ramp) + 16];
    ptrdiff_t b = 0, o = 0;
    size_t k;
    int bad = 0;
    const char *t = "struct_not_initialised";

    RSCD_PARAMS_INIT(&params);
    memset(gdq, 0, sizeof gdq);
    gdq[(1 * NG + 3) * NPIX + 1] = 2; /* something to back off */
    memset(pdq, 0, sizeof pdq);
    for (k = 0; k < sizeof data / sizeof data[0]; k++)
        data[k] = 1000.0f + (float)k;
    memset(&fzero, 0, sizeof fzero);
    memset(&dzero, 0, sizeof dzero);
    memset(&czero, 0, sizeof czero);
    memset(&pzero, 0, sizeof pzero);
    memset(&plzero, 0, sizeof plzero);
    RSCD_DECAY_COEFFS_INIT(&c);
    c.tau = 2.0;
    c.param3 = 1e4;
    c.ascale = c.illum_zp = c.pow = 1.0;
    RSCD_PREV_INT_INIT(&prev);
    prev.data = data;
    prev.groupdq = gdq;
    RSCD_FLAG_PLAN_INIT(&plan);

    /* The same view as a caller that zeroed the struct instead of initialising it
     * would fill it: every field but struct_size. Given to every function. */
    zero = good;
    zero.struct_size = 0;
    check_int(t, "flag ramp", rscd_flag(&zero, 1, 2, &params, &fst), RSCD_ERR_STRUCT);
    check_int(t, "flag_range ramp", rscd_flag_range(&zero, 0, 1, 1, &params, &b, &o),
              RSCD_ERR_STRUCT);
    check_int(t, "flag_range_stop ramp", rscd_flag_range_stop(&zero, 0, 1, 1, 2, &params, &b, &o),
              RSCD_ERR_STRUCT);
    check_int(t, "plan ramp", rscd_flag_plan_make(&zero, 1, 2, &plan), RSCD_ERR_STRUCT);
    check_int(t, "problem_levels ramp",
              rscd_flag_problem_levels(&zero, 0, 1, 1, &params, problem), RSCD_ERR_STRUCT);
    check_int(t, "decay ramp", rscd_decay(&zero, &c, &c, NULL, &params, &dst), RSCD_ERR_STRUCT);
    /* The other structs, with a good view. */
    check_int(t, "flag stats", rscd_flag(&good, 1, 2, &params, &fzero), RSCD_ERR_STRUCT);
    check_int(t, "plan", rscd_flag_plan_make(&good, 1, 2, &plzero), RSCD_ERR_STRUCT);
    check_int(t, "decay stats", rscd_decay(&good, &c, &c, NULL, &params, &dzero),
              RSCD_ERR_STRUCT);
    check_int(t, "decay even", rscd_decay(&good, &czero, &c, NULL, &params, &dst),
              RSCD_ERR_STRUCT);
    check_int(t, "decay odd", rscd_decay(&good, &c, &czero, NULL, &params, &dst),
              RSCD_ERR_STRUCT);
    good.integration_start = 2;
    check_int(t, "decay prev", rscd_decay(&good, &c, &c, &pzero, &params, &dst),
              RSCD_ERR_STRUCT);
    good.integration_start = 1;
    for (k = 0; k < sizeof gdq; k++)
        bad |= gdq[k] != (k == (1 * NG + 3) * NPIX + 1 ? 2 : 0);
    for (k = 0; k < sizeof data / sizeof data[0]; k++)
        bad |= data[k] != 1000.0f + (float)k;
    bad |= (int)(pdq[0] | pdq[1] | pdq[2] | pdq[3]) | problem[0] | problem[1] | problem[2];
    bad |= fzero.ngroups_skip_int1 != 0 || dzero.npix_corrected != 0 || plzero.has_int1 != 0;
    check_int(t, "refused: nothing written", bad, 0);
    check_int(t, "strerror says so",
              strstr(rscd_strerror(RSCD_ERR_STRUCT), "not initialised") != NULL, 1);

    /* The init functions: defaults, and unknown sizes refused without a write. */
    check_int(t, "ramp default integration_start", (long)good.integration_start, 1);
    check_int(t, "ramp struct_size", (long)good.struct_size, (long)sizeof good);
    check_int(t, "flag stats default", (long)fst.keep_groups_saturation_int2p, -1);
    memset(raw, 0xAB, sizeof raw);
    check_int(t, "ramp_init newer size",
              rscd_ramp_init((rscd_ramp *)(void *)raw, sizeof(rscd_ramp) + 8), RSCD_ERR_STRUCT);
    check_int(t, "ramp_init size 0", rscd_ramp_init((rscd_ramp *)(void *)raw, 0),
              RSCD_ERR_STRUCT);
    check_int(t, "flag_stats_init size 3",
              rscd_flag_stats_init((rscd_flag_stats *)(void *)raw, 3), RSCD_ERR_STRUCT);
    check_int(t, "decay_stats_init size 3",
              rscd_decay_stats_init((rscd_decay_stats *)(void *)raw, 3), RSCD_ERR_STRUCT);
    check_int(t, "decay_coeffs_init size 3",
              rscd_decay_coeffs_init((rscd_decay_coeffs *)(void *)raw, 3), RSCD_ERR_STRUCT);
    check_int(t, "prev_int_init size 3",
              rscd_prev_int_init((rscd_prev_int *)(void *)raw, 3), RSCD_ERR_STRUCT);
    check_int(t, "flag_plan_init size 3",
              rscd_flag_plan_init((rscd_flag_plan *)(void *)raw, 3), RSCD_ERR_STRUCT);
    bad = 0;
    for (k = 0; k < sizeof raw; k++)
        bad |= raw[k] != 0xAB;
    check_int(t, "init refused: nothing written", bad, 0);
    check_int(t, "ramp_init NULL", rscd_ramp_init(NULL, sizeof good), RSCD_ERR_NULL);

    /* The same calls with the initialised structs pass (the checks are not vacuous). */
    check_int(t, "flag ok", rscd_flag(&good, 1, 2, &params, &fst), RSCD_OK);
    check_int(t, "flag backed off", (long)fst.keep_groups_saturation_int2p, 1);
    check_int(t, "decay ok", rscd_decay(&good, &c, &c, NULL, &params, &dst), RSCD_OK);
    check_int(t, "decay corrected", dst.npix_corrected > 0, 1);
}

/* rscd_flag_plan_make: rules 1-6, NINTS below the integrations held used as given
 * (jwst 3.0.0: only NINTS > 1 matters), and the statuses rscd_flag returns. */
static void t_rscd_flag_plan(void)
{
    enum { NI = 3, NG = 10, NPIX = 2 };
    uint8_t gdq[NI * NG * NPIX];
    uint32_t pdq[NPIX];
    rscd_params params;
    rscd_ramp r = make_ramp(NULL, gdq, pdq, NI, NG, 1, NPIX);
    rscd_flag_plan p;
    rscd_flag_stats st = new_flag_stats();
    const char *t = "rscd_flag_plan";

    RSCD_PARAMS_INIT(&params);
    RSCD_FLAG_PLAN_INIT(&p);
    check_int(t, "plain", rscd_flag_plan_make(&r, 2, 4, &p), RSCD_OK);
    check_int(t, "int1", p.has_int1 && p.int1_first == 0 && p.int1_count == 1 && p.int1_skip == 2, 1);
    check_int(t, "int2p", p.has_int2p && p.int2p_first == 1 && p.int2p_count == 2 &&
              p.int2p_skip == 4, 1);
    check_int(t, "clamp (rule 4)", rscd_flag_plan_make(&r, 9, 8, &p), RSCD_OK);
    check_int(t, "clamped skips", (int)(p.int1_skip * 100 + p.int2p_skip), 707);
    check_int(t, "no skip1", rscd_flag_plan_make(&r, -1, 4, &p), RSCD_WARN_NO_SKIP1);
    check_int(t, "no skip1 flag", p.no_skip1 && p.int1_skip == 1, 1);
    /* Segment: integrations 25.. of 26 (jwst's TSO test): int 1 absent, all in 2+. */
    r.integration_start = 25;
    r.nints_exposure = 26;
    check_int(t, "segment", rscd_flag_plan_make(&r, 2, 4, &p), RSCD_OK);
    check_int(t, "segment ranges", !p.has_int1 && p.has_int2p && p.int2p_first == 0 &&
              p.int2p_count == 3, 1);
    /* NINTS below the integrations held: accepted and used as given. */
    r.integration_start = 1;
    r.nints_exposure = 1;
    check_int(t, "nints 1 < 3 held", rscd_flag_plan_make(&r, 2, 4, &p), RSCD_OK);
    check_int(t, "nints 1: int 1 only", p.has_int1 && !p.has_int2p, 1);
    r.nints_exposure = 2;
    check_int(t, "nints 2 < 3 held", rscd_flag_plan_make(&r, 2, 4, &p), RSCD_OK);
    check_int(t, "nints 2: both, all held", p.has_int1 && p.has_int2p && p.int2p_count == 2, 1);
    memset(gdq, 0, sizeof gdq);
    memset(pdq, 0, sizeof pdq);
    r.nints_exposure = 1;
    check_int(t, "flag with nints 1 < 3 held", rscd_flag(&r, 2, 4, &params, &st), RSCD_OK);
    check_int(t, "flag nints 1: INT2SKIP unset", (long)st.ngroups_skip_int2p, -1);
    check_int(t, "flag nints 1: ints 2+ untouched", gdq[(1 * NG + 0) * NPIX] | gdq[(2 * NG) * NPIX], 0);
    check_int(t, "flag nints 1: int 1 flagged", gdq[1 * NPIX] & 1, 1);
    r.integration_start = 4;
    check_int(t, "segment with nints 1", rscd_flag(&r, 2, 4, &params, &st), RSCD_OK);
    check_int(t, "segment with nints 1: nothing", (long)(st.ngroups_skip_int1 + st.ngroups_skip_int2p), -2);
    r.integration_start = 1;
    r.nints_exposure = 0;
    /* Too few groups, with the deprecated form: both told. */
    r.ngroups = 2;
    check_int(t, "few groups", rscd_flag_plan_make(&r, -1, 4, &p), RSCD_SKIP_FEW_GROUPS);
    check_int(t, "few groups flags", p.too_few_groups && p.no_skip1 && !p.has_int1, 1);
    r.ngroups = NG;
    check_int(t, "negative skip2p", rscd_flag_plan_make(&r, 1, -1, &p), RSCD_ERR_SKIP);
    check_int(t, "NULL plan", rscd_flag_plan_make(&r, 1, 1, NULL), RSCD_ERR_NULL);
    check_int(t, "stop NULL", (int)rscd_flag_stop_level(NULL, 2), -1);
}

/* rscd.dask's way: the pixels split into blocks held in separate buffers; each
 * block's problem levels ORed, one stop per range, each block flagged with it.
 * The arrays and the counts equal those of one rscd_flag on the whole ramp. */
static void t_rscd_flag_in_blocks(void)
{
    enum { NI = 4, NG = 9, NPIX = 600, SPLIT = 217 };
    static uint8_t gdq[NI * NG * NPIX], whole[NI * NG * NPIX], blk[2][NI * NG * NPIX];
    static uint32_t pdq[NPIX], pwhole[NPIX], pblk[2][NPIX];
    const ptrdiff_t lo[2] = {0, SPLIT}, n[2] = {SPLIT, NPIX - SPLIT};
    unsigned long long seed = 31337;
    rscd_params params;
    rscd_flag_stats st = new_flag_stats();
    rscd_flag_plan plan;
    rscd_ramp r = make_ramp(NULL, whole, pwhole, NI, NG, 1, NPIX), rb[2];
    ptrdiff_t sums[4] = {0, 0, 0, 0}, p, q, j;
    int b, i, bad = 0, nrun = 0;
    const char *t = "rscd_flag_in_blocks";

    RSCD_PARAMS_INIT(&params);
    random_groupdq(gdq, NI, NG, NPIX, &seed);
    for (p = 0; p < NPIX; p++)
        pdq[p] = (uint32_t)p & 5u;
    memcpy(whole, gdq, sizeof gdq);
    memcpy(pwhole, pdq, sizeof pdq);
    check_int(t, "whole", rscd_flag(&r, 2, 5, &params, &st), RSCD_OK);

    for (b = 0; b < 2; b++) {
        for (q = 0; q < NI * NG; q++)
            memcpy(blk[b] + q * n[b], gdq + q * NPIX + lo[b], (size_t)n[b]);
        memcpy(pblk[b], pdq + lo[b], (size_t)n[b] * 4);
        rb[b] = make_ramp(NULL, blk[b], pblk[b], NI, NG, 1, n[b]);
    }
    RSCD_FLAG_PLAN_INIT(&plan);
    check_int(t, "plan", rscd_flag_plan_make(&rb[0], 2, 5, &plan), RSCD_OK);
    for (j = 0; j < 2; j++) {
        const int has = j ? plan.has_int2p : plan.has_int1;
        const ptrdiff_t first = j ? plan.int2p_first : plan.int1_first;
        const ptrdiff_t count = j ? plan.int2p_count : plan.int1_count;
        const ptrdiff_t skip = j ? plan.int2p_skip : plan.int1_skip;
        uint8_t problem[NG];
        ptrdiff_t stop, bo, og;
        if (!has)
            continue;
        nrun++;
        memset(problem, 0, sizeof problem);
        for (b = 0; b < 2; b++)
            check_int(t, "levels", rscd_flag_problem_levels(&rb[b], first, count, skip, &params,
                                                           problem), RSCD_OK);
        stop = rscd_flag_stop_level(problem, skip);
        check_int(t, "stop in range", stop >= 0 && stop <= skip + 1, 1);
        for (b = 0; b < 2; b++) {
            check_int(t, "block", rscd_flag_range_stop(&rb[b], first, count, skip, stop, &params,
                                                       &bo, &og), RSCD_OK);
            sums[2 * j] += bo;
            sums[2 * j + 1] += og;
        }
    }
    check_int(t, "both ranges ran", nrun, 2);
    for (b = 0; b < 2; b++) {
        for (i = 0; i < NI * NG; i++)
            bad |= memcmp(blk[b] + (ptrdiff_t)i * n[b], whole + (ptrdiff_t)i * NPIX + lo[b],
                          (size_t)n[b]) != 0;
        bad |= memcmp(pblk[b], pwhole + lo[b], (size_t)n[b] * 4) != 0;
    }
    check_int(t, "blocks equal the whole", bad, 0);
    check_int(t, "INT1BORS", (long)sums[0], (long)st.keep_groups_saturation_int1);
    check_int(t, "INT1UGP1", (long)sums[1], (long)st.keep_bright_firstgroup_int1);
    check_int(t, "INT2BORS", (long)sums[2], (long)st.keep_groups_saturation_int2p);
    check_int(t, "INT2UGP1", (long)sums[3], (long)st.keep_bright_firstgroup_int2p);
    check_int(t, "something backed off", st.keep_groups_saturation_int2p > 0, 1);
}

/* nthreads = INT_MAX aborted inside OpenMP (it could not create the threads);
 * the core caps it at the processors there are: same results as 1 thread. */
static void t_huge_nthreads(void)
{
    enum { NI = 3, NG = 8 };
    const ptrdiff_t npix = 200 * 260; /* several blocks of flag and decay */
    const size_t nq = (size_t)NI * NG * (size_t)npix;
    uint8_t *gdq = malloc(nq), *g1 = malloc(nq);
    uint32_t *pdq = calloc((size_t)npix, 4), *p1 = calloc((size_t)npix, 4);
    uint32_t *d = malloc(nq * 4), *d1 = malloc(nq * 4);
    rscd_decay_coeffs c = decay_test_coeffs(3.0);
    unsigned long long seed = 5;
    rscd_params params;
    rscd_flag_stats st = new_flag_stats(), st1 = new_flag_stats();
    rscd_decay_stats dst = new_decay_stats(), dst1 = new_decay_stats();
    rscd_ramp r;
    const char *t = "huge_nthreads";

    if (!gdq || !g1 || !pdq || !p1 || !d || !d1) {
        check_int(t, "malloc", 0, 1);
        free(gdq), free(g1), free(pdq), free(p1), free(d), free(d1);
        return;
    }
    random_groupdq(gdq, NI, NG, npix, &seed);
    decay_ramps(d, NI, NG, npix, 0, &seed);
    memcpy(g1, gdq, nq);
    memcpy(d1, d, nq * 4);
    RSCD_PARAMS_INIT(&params);
    params.nthreads = 1;
    r = make_ramp((float *)(void *)d1, g1, p1, NI, NG, 200, 260);
    check_int(t, "decay 1 thread", rscd_decay(&r, &c, &c, NULL, &params, &dst1), RSCD_OK);
    check_int(t, "flag 1 thread", rscd_flag(&r, 2, 3, &params, &st1), RSCD_OK);
    params.nthreads = 2147483647;
    r = make_ramp((float *)(void *)d, gdq, pdq, NI, NG, 200, 260);
    check_int(t, "decay INT_MAX threads", rscd_decay(&r, &c, &c, NULL, &params, &dst), RSCD_OK);
    check_int(t, "flag INT_MAX threads", rscd_flag(&r, 2, 3, &params, &st), RSCD_OK);
    check_int(t, "same SCI", memcmp(d, d1, nq * 4), 0);
    check_int(t, "same GROUPDQ", memcmp(gdq, g1, nq), 0);
    check_int(t, "same PIXELDQ", memcmp(pdq, p1, (size_t)npix * 4), 0);
    check_int(t, "same counts", (long)st.keep_groups_saturation_int2p,
              (long)st1.keep_groups_saturation_int2p);
    check_int(t, "same decay counts", (long)dst.npix_corrected, (long)dst1.npix_corrected);
    free(gdq), free(g1), free(pdq), free(p1), free(d), free(d1);
}

#ifdef RSCD_TEST_DECAY_CASES
#include "decay_cases.inc"
#endif

int main(void)
{
    t_rscd_version();
    t_rscd_strerror();
    t_rscd_params_init();
    t_rscd_params_abi();
    t_rscd_flag();
    t_rscd_flag_rules();
    t_rscd_flag_errors();
    t_rscd_flag_reference();
    t_rscd_flag_full_frame_threads();
    t_rscd_decay_swapped_snan();
    t_rscd_decay_full_frame_threads();
    t_struct_not_initialised();
    t_rscd_flag_plan();
    t_rscd_flag_in_blocks();
    t_huge_nthreads();
#ifdef RSCD_TEST_DECAY_CASES
    failures += t_rscd_decay();
#endif
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
