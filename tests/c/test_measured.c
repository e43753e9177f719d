/* test_measured.c - C-level tests of rscd_measured (the `measured` method) through the
 * public header alone (no Python).
 *
 * Build: cc -std=c99 -Wall -Wextra -Werror -Icsrc tests/c/test_measured.c csrc/common.c csrc/flag.c csrc/decay.c csrc/fastamp.c csrc/measured.c -lm
 * Exit status: the number of failed checks (0 = all passed). */
#include <math.h>
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

static void check_true(const char *test, const char *what, int ok)
{
    if (!ok) {
        printf("FAIL %s: %s\n", test, what);
        failures++;
    }
}

static rscd_ramp make_ramp(float *data, uint8_t *gdq, uint32_t *pdq, ptrdiff_t nints,
                           ptrdiff_t ngroups, ptrdiff_t nrows, ptrdiff_t ncols)
{
    rscd_ramp r;
    RSCD_RAMP_INIT(&r); /* native SCI, integration_start 1, first_row 1 */
    r.data = data;
    r.groupdq = gdq;
    r.pixeldq = pdq;
    r.nints = nints;
    r.ngroups = ngroups;
    r.nrows = nrows;
    r.ncols = ncols;
    return r;
}

static uint32_t word_swap(uint32_t u)
{
    return (u >> 24) | ((u >> 8) & 0x0000ff00u) | ((u << 8) & 0x00ff0000u) | (u << 24);
}

/* The four models of the tests: distinct values per kind and parity. */
#define MLEN 6
static double ma[4][MLEN], mb[4][MLEN];
static rscd_measured_model mm[4];

static rscd_measured_models test_models(ptrdiff_t window_start)
{
    rscd_measured_models ms;
    int k, j;
    for (k = 0; k < 4; k++) {
        for (j = 0; j < MLEN; j++) {
            ma[k][j] = (0.5 + 0.25 * k) * exp(-(j + 1) / 2.0);
            mb[k][j] = (k % 2 ? -20.0 : 35.0) * exp(-(j + 1) / 1.5);
        }
        RSCD_MEASURED_MODEL_INIT(&mm[k]);
        mm[k].a = ma[k];
        mm[k].b = mb[k];
        mm[k].length = MLEN;
        mm[k].window_start = window_start;
    }
    RSCD_MEASURED_MODELS_INIT(&ms); /* dq_jump_det 4, the JWST bit */
    ms.int1[0] = &mm[0];
    ms.int1[1] = &mm[1];
    ms.int2p[0] = &mm[2];
    ms.int2p[1] = &mm[3];
    return ms;
}

/* The plain statement of the method, pixel by pixel (docs/overview.rst, "Method
 * measured"), on native data: what every build and thread count must give, bit for bit. */
static double at(const rscd_measured_model *m, ptrdiff_t j)
{
    return j < m->length ? m->a[j] : 0.0;
}

static double bt(const rscd_measured_model *m, ptrdiff_t j)
{
    return j < m->length ? m->b[j] : 0.0;
}

static void reference_measured(float *d, const uint8_t *gdq, const uint32_t *pdq,
                               const rscd_ramp *r, const rscd_measured_models *ms)
{
    ptrdiff_t i, y, x, g, frame = r->nrows * r->ncols, cube = frame * r->ngroups;
    for (i = 0; i < r->nints; i++) {
        for (y = 0; y < r->nrows; y++) {
            const int odd = (int)((r->first_row + y) % 2);
            const rscd_measured_model *m =
                (r->integration_start + i == 1) ? ms->int1[odd] : ms->int2p[odd];
            if (!m)
                continue;
            for (x = 0; x < r->ncols; x++) {
                const ptrdiff_t p = y * r->ncols + x;
                double num = 0.0, den = 0.0, s;
                if (pdq[p] & (1u | (1u << 31)))
                    continue;
                for (g = m->window_start; g + 1 <= r->ngroups - 2; g++) {
                    const double v0 = d[i * cube + g * frame + p], v1 = d[i * cube + (g + 1) * frame + p];
                    const uint8_t q0 = gdq[i * cube + g * frame + p];
                    const uint8_t q1 = gdq[i * cube + (g + 1) * frame + p];
                    if ((q0 & 3) || (q1 & 7) || !isfinite(v0) || !isfinite(v1))
                        continue;
                    num += v1 - v0 - (bt(m, g + 1) - bt(m, g));
                    den += 1.0 + at(m, g + 1) - at(m, g);
                }
                if (!(den > 0.0) || !isfinite(num / den))
                    continue;
                s = num / den;
                for (g = 0; g < m->length && g < r->ngroups; g++) {
                    float *v = d + i * cube + g * frame + p;
                    float out;
                    if (m->a[g] == 0.0 && m->b[g] == 0.0)
                        continue;
                    out = (float)((double)*v - (m->a[g] * s + m->b[g]));
                    if ((gdq[i * cube + g * frame + p] & 2) || !isfinite(*v) || !isfinite(out))
                        continue;
                    *v = out;
                }
            }
        }
    }
}

/* Linear ramps with noise-like wiggles, pixel-dependent slopes. */
static void fill_ramps(float *d, ptrdiff_t n_int, ptrdiff_t ng, ptrdiff_t npix, unsigned seed)
{
    ptrdiff_t i, g, p;
    for (i = 0; i < n_int; i++)
        for (g = 0; g < ng; g++)
            for (p = 0; p < npix; p++) {
                seed = seed * 1103515245u + 12345u;
                d[(i * ng + g) * npix + p] = (float)(1000.0 + (3.0 + (double)(p % 97)) * g +
                                                     ((seed >> 16) % 1000) / 100.0);
            }
}

/* A hand-worked pixel: exact values. */
static void t_hand_worked(void)
{
    enum { NI = 2, NG = 8, NY = 2, NX = 3, NPIX = NY * NX };
    float d[NI * NG * NPIX];
    uint8_t gdq[NI * NG * NPIX];
    uint32_t pdq[NPIX];
    rscd_params par;
    rscd_measured_stats st;
    rscd_measured_models ms = test_models(4);
    rscd_ramp r = make_ramp(d, gdq, pdq, NI, NG, NY, NX);
    ptrdiff_t g, p, i;
    int status;

    /* slope 10 DN/group everywhere, exactly; no transient in the data */
    for (i = 0; i < NI; i++)
        for (g = 0; g < NG; g++)
            for (p = 0; p < NPIX; p++)
                d[(i * NG + g) * NPIX + p] = (float)(100.0 + 10.0 * g);
    memset(gdq, 0, sizeof gdq);
    memset(pdq, 0, sizeof pdq);
    pdq[1] = 1u << 31;                           /* reference pixel: left */
    pdq[2] = 1u;                                 /* DO_NOT_USE pixel: left */
    gdq[(1 * NG + 0) * NPIX + 3] = 2;            /* int 2, group 0, pixel 3 saturated */
    d[(1 * NG + 1) * NPIX + 4] = NAN;            /* int 2, group 1, pixel 4 NaN */
    /* int 2, pixel 5: a jump of 500 DN at group 5 (in the window), flagged */
    for (g = 5; g < NG; g++) {
        d[(1 * NG + g) * NPIX + 5] += 500.0f;
    }
    gdq[(1 * NG + 5) * NPIX + 5] = 4;
    RSCD_PARAMS_INIT(&par);
    RSCD_MEASURED_STATS_INIT(&st);
    par.nthreads = 1;
    status = rscd_measured(&r, &ms, &par, &st);
    check_int("hand_worked", "status", status, RSCD_OK);
    check_int("hand_worked", "nints_corrected", (long)st.nints_corrected, 2);
    check_int("hand_worked", "npix_flagged", (long)st.npix_flagged, 4);
    check_int("hand_worked", "npix_corrected", (long)st.npix_corrected, 8);
    check_int("hand_worked", "nvalues_left", (long)st.nvalues_left, 2);
    /* pixel 0 (row 0: detector row 1, odd), integration 1: int1[1] = mm[1]. The window
     * 4..6 holds model values too: s = sum(10 - db) / sum(1 + da). */
    {
        const rscd_measured_model *m = &mm[1];
        double num = 0, den = 0, s;
        for (g = 4; g < 6; g++) {
            num += 10.0 - (bt(m, g + 1) - bt(m, g));
            den += 1.0 + at(m, g + 1) - at(m, g);
        }
        s = num / den;
        for (g = 0; g < NG; g++) {
            float want = g < MLEN ? (float)((100.0 + 10.0 * g) - (m->a[g] * s + m->b[g]))
                                  : (float)(100.0 + 10.0 * g);
            check_true("hand_worked", "pixel 0 integration 1 value", d[g * NPIX] == want);
        }
    }
    /* pixel 3 (row 1: even), integration 2: group 0 saturated is left, group 1 changed */
    check_true("hand_worked", "saturated group left", d[(1 * NG + 0) * NPIX + 3] == 100.0f);
    check_true("hand_worked", "next group corrected", d[(1 * NG + 1) * NPIX + 3] != 110.0f);
    check_true("hand_worked", "NaN left", isnan(d[(1 * NG + 1) * NPIX + 4]));
    /* reference and DO_NOT_USE pixels untouched */
    for (i = 0; i < NI; i++)
        for (g = 0; g < NG; g++) {
            check_true("hand_worked", "reference pixel left",
                       d[(i * NG + g) * NPIX + 1] == (float)(100.0 + 10.0 * g));
            check_true("hand_worked", "DO_NOT_USE pixel left",
                       d[(i * NG + g) * NPIX + 2] == (float)(100.0 + 10.0 * g));
        }
    /* pixel 5 (row 1: even, integration 2: int2p[0] = mm[2]): the difference 4 -> 5
     * across the jump is left out, only 5 -> 6 (10 DN) gives the slope */
    {
        const rscd_measured_model *m = &mm[2];
        const double s = (10.0 - (bt(m, 6) - bt(m, 5))) / (1.0 + at(m, 6) - at(m, 5));
        const float want = (float)(120.0 - (m->a[2] * s + m->b[2]));
        check_true("hand_worked", "jump left out of the slope",
                   d[(1 * NG + 2) * NPIX + 5] == want);
    }
    /* GROUPDQ never changes */
    check_int("hand_worked", "groupdq kept", gdq[(1 * NG + 5) * NPIX + 5], 4);
}

/* Refusals leave everything as it was. */
static void t_errors(void)
{
    enum { NI = 2, NG = 6, NPIX = 8 };
    float d[NI * NG * NPIX], keep[NI * NG * NPIX];
    uint8_t gdq[NI * NG * NPIX];
    uint32_t pdq[NPIX];
    rscd_params par;
    rscd_measured_stats st;
    rscd_measured_models ms = test_models(2);
    rscd_ramp r = make_ramp(d, gdq, pdq, NI, NG, 2, 4);
    double bad[MLEN];

    fill_ramps(d, NI, NG, NPIX, 3u);
    memcpy(keep, d, sizeof d);
    memset(gdq, 0, sizeof gdq);
    memset(pdq, 0, sizeof pdq);
    RSCD_PARAMS_INIT(&par);
    RSCD_MEASURED_STATS_INIT(&st);

    check_int("errors", "NULL models", rscd_measured(&r, NULL, &par, &st), RSCD_ERR_NULL);
    check_int("errors", "NULL stats", rscd_measured(&r, &ms, &par, NULL), RSCD_ERR_NULL);
    r.data = NULL;
    check_int("errors", "NULL data", rscd_measured(&r, &ms, &par, &st), RSCD_ERR_NULL);
    r.data = d;
    memcpy(bad, ma[3], sizeof bad);
    bad[2] = NAN;
    mm[3].a = bad;
    check_int("errors", "NaN in a", rscd_measured(&r, &ms, &par, &st), RSCD_ERR_MODEL);
    mm[3].a = ma[3];
    mm[2].window_start = -1;
    check_int("errors", "negative window", rscd_measured(&r, &ms, &par, &st), RSCD_ERR_MODEL);
    mm[2].window_start = 2;
    mm[2].a = NULL;
    check_int("errors", "NULL a", rscd_measured(&r, &ms, &par, &st), RSCD_ERR_MODEL);
    mm[2].a = ma[2];
    mm[0].window_start = 4;                     /* window 4..4: one group, no difference */
    check_int("errors", "window too short", rscd_measured(&r, &ms, &par, &st),
              RSCD_SKIP_FEW_GROUPS);
    mm[0].window_start = 2;
    par.struct_size = 3;
    check_int("errors", "params", rscd_measured(&r, &ms, &par, &st), RSCD_ERR_PARAMS);
    check_true("errors", "data untouched by every refusal", memcmp(d, keep, sizeof d) == 0);
    check_true("errors", "strerror knows RSCD_ERR_MODEL",
               strcmp(rscd_strerror(RSCD_ERR_MODEL), "unknown status") != 0);

    /* a segment (integration_start 2): integration 1's short window is not needed */
    RSCD_PARAMS_INIT(&par);
    mm[0].window_start = 4;
    r.integration_start = 2;
    check_int("errors", "segment ignores the int-1 model", rscd_measured(&r, &ms, &par, &st),
              RSCD_OK);
    check_int("errors", "segment: both integrations corrected", (long)st.nints_corrected, 2);
    mm[0].window_start = 2;
}

/* Every byte of n at p equals v. */
static int all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *b = (const unsigned char *)p;
    size_t k;
    for (k = 0; k < n; k++) {
        if (b[k] != v)
            return 0;
    }
    return 1;
}

/* The ABI rule of rscd.h for this section's structs: the init macros' defaults; a
 * struct left zeroed, or of a size this library does not know, is refused with
 * RSCD_ERR_STRUCT before anything is written (SCI and stats as they were); an init
 * function given an unknown size writes nothing. */
static void t_struct_rule(void)
{
    enum { NI = 2, NG = 6, NPIX = 8 };
    const char *t = "struct_rule";
    float d[NI * NG * NPIX], keep[NI * NG * NPIX];
    uint8_t gdq[NI * NG * NPIX];
    uint32_t pdq[NPIX];
    rscd_params par;
    rscd_measured_stats st, zst;
    rscd_measured_models ms = test_models(2), zms;
    rscd_measured_model zm, saved;
    rscd_ramp r = make_ramp(d, gdq, pdq, NI, NG, 2, 4), zr;
    struct { rscd_measured_models s; unsigned char tail[16]; } big_models;
    struct { rscd_measured_model s; unsigned char tail[16]; } big_model;
    struct { rscd_measured_stats s; unsigned char tail[16]; } big_stats;

    fill_ramps(d, NI, NG, NPIX, 5u);
    memcpy(keep, d, sizeof d);
    memset(gdq, 0, sizeof gdq);
    memset(pdq, 0, sizeof pdq);
    RSCD_PARAMS_INIT(&par);

    /* the defaults */
    memset(&zm, 0x5a, sizeof zm);
    check_int(t, "model init", RSCD_MEASURED_MODEL_INIT(&zm), RSCD_OK);
    check_int(t, "model struct_size", (long)zm.struct_size, (long)sizeof zm);
    check_true(t, "model defaults", !zm.a && !zm.b && zm.length == 0 && zm.window_start == 0);
    memset(&zms, 0x5a, sizeof zms);
    check_int(t, "models init", RSCD_MEASURED_MODELS_INIT(&zms), RSCD_OK);
    check_int(t, "models struct_size", (long)zms.struct_size, (long)sizeof zms);
    check_true(t, "models defaults", !zms.int1[0] && !zms.int1[1] && !zms.int2p[0] &&
                                         !zms.int2p[1] && zms.dq_jump_det == 4);
    memset(&st, 0x5a, sizeof st);
    check_int(t, "stats init", RSCD_MEASURED_STATS_INIT(&st), RSCD_OK);
    check_int(t, "stats struct_size", (long)st.struct_size, (long)sizeof st);
    check_true(t, "stats defaults", st.nints_corrected == 0 && st.npix_corrected == 0 &&
                                        st.npix_flagged == 0 && st.npix_no_slope == 0 &&
                                        st.nvalues_left == 0);

    /* refusals: the stats' counts keep a sentinel that any write would change */
    st.nints_corrected = st.npix_corrected = st.npix_flagged = -7;
    st.npix_no_slope = st.nvalues_left = -7;
    memset(&zr, 0, sizeof zr);
    check_int(t, "zeroed ramp", rscd_measured(&zr, &ms, &par, &st), RSCD_ERR_STRUCT);
    memset(&zms, 0, sizeof zms);
    check_int(t, "zeroed models", rscd_measured(&r, &zms, &par, &st), RSCD_ERR_STRUCT);
    ms.struct_size = sizeof ms + 8;
    check_int(t, "models of a newer size", rscd_measured(&r, &ms, &par, &st), RSCD_ERR_STRUCT);
    ms.struct_size = sizeof ms;
    saved = mm[3];
    memset(&mm[3], 0, sizeof mm[3]);   /* zeroed: also a NULL a, refused as a struct */
    check_int(t, "zeroed model", rscd_measured(&r, &ms, &par, &st), RSCD_ERR_STRUCT);
    mm[3] = saved;
    mm[1].struct_size = sizeof mm[1] + 8;
    check_int(t, "model of a newer size", rscd_measured(&r, &ms, &par, &st), RSCD_ERR_STRUCT);
    mm[1].struct_size = sizeof mm[1];
    check_true(t, "stats untouched by every refusal",
               st.struct_size == sizeof st && st.nints_corrected == -7 &&
                   st.npix_corrected == -7 && st.npix_flagged == -7 &&
                   st.npix_no_slope == -7 && st.nvalues_left == -7);
    memset(&zst, 0, sizeof zst);
    check_int(t, "zeroed stats", rscd_measured(&r, &ms, &par, &zst), RSCD_ERR_STRUCT);
    check_true(t, "zeroed stats left zero", all_bytes(&zst, sizeof zst, 0));
    zst.struct_size = sizeof zst + 8;
    check_int(t, "stats of a newer size", rscd_measured(&r, &ms, &par, &zst), RSCD_ERR_STRUCT);
    check_true(t, "data untouched by every refusal", memcmp(d, keep, sizeof d) == 0);
    /* and the same call with the structs as the macros left them runs */
    check_int(t, "initialised", rscd_measured(&r, &ms, &par, &st), RSCD_OK);
    check_true(t, "initialised: data changed", memcmp(d, keep, sizeof d) != 0);

    /* init functions: NULL, and sizes this library does not know, write nothing */
    check_int(t, "model init NULL", rscd_measured_model_init(NULL, sizeof zm), RSCD_ERR_NULL);
    check_int(t, "models init NULL", rscd_measured_models_init(NULL, sizeof zms),
              RSCD_ERR_NULL);
    check_int(t, "stats init NULL", rscd_measured_stats_init(NULL, sizeof st), RSCD_ERR_NULL);
    memset(&big_model, 0xa5, sizeof big_model);
    memset(&big_models, 0xa5, sizeof big_models);
    memset(&big_stats, 0xa5, sizeof big_stats);
    check_int(t, "model init newer size",
              rscd_measured_model_init(&big_model.s, sizeof big_model.s + 8), RSCD_ERR_STRUCT);
    check_int(t, "model init size 0", rscd_measured_model_init(&big_model.s, 0),
              RSCD_ERR_STRUCT);
    check_int(t, "models init newer size",
              rscd_measured_models_init(&big_models.s, sizeof big_models.s + 8),
              RSCD_ERR_STRUCT);
    check_int(t, "stats init newer size",
              rscd_measured_stats_init(&big_stats.s, sizeof big_stats.s + 8), RSCD_ERR_STRUCT);
    check_true(t, "refused inits wrote nothing",
               all_bytes(&big_model, sizeof big_model, 0xa5) &&
                   all_bytes(&big_models, sizeof big_models, 0xa5) &&
                   all_bytes(&big_stats, sizeof big_stats, 0xa5));

    /* RSCD_ERR_MODEL is an enumerator of rscd_status, next after RSCD_ERR_STRUCT */
    check_int(t, "RSCD_ERR_MODEL", RSCD_ERR_MODEL, RSCD_ERR_STRUCT - 1);
    check_true(t, "strerror of RSCD_ERR_MODEL names the model",
               strstr(rscd_strerror(RSCD_ERR_MODEL), "model") != NULL);
}

/* Full frames: 1 and 2 threads, native and swapped SCI, all equal to the plain
 * statement bit for bit. */
static void t_full_frame(void)
{
    const ptrdiff_t ni = 3, ng = 10, ny = 64, nx = 1032, npix = ny * nx, n = ni * ng * npix;
    float *d1 = malloc(n * sizeof(float)), *d2 = malloc(n * sizeof(float));
    float *ref = malloc(n * sizeof(float));
    uint32_t *sw = malloc(n * sizeof(uint32_t));
    uint8_t *gdq = calloc(n, 1);
    uint32_t *pdq = calloc(npix, sizeof(uint32_t));
    rscd_params par;
    rscd_measured_stats s1, s2, s3;
    rscd_measured_models ms = test_models(5);
    rscd_ramp r;
    ptrdiff_t k;
    int threads;

    if (!d1 || !d2 || !ref || !sw || !gdq || !pdq) {
        printf("FAIL full_frame: out of memory\n");
        failures++;
        goto done;
    }
    fill_ramps(ref, ni, ng, npix, 7u);
    for (k = 0; k < n; k += 37)
        gdq[k] = (uint8_t)((k / 37) % 8);          /* every mix of the three bits */
    for (k = 0; k < npix; k += 101)
        pdq[k] = (k % 202) ? 1u : (1u << 31);
    for (k = 5; k < n; k += 997)
        ref[k] = (k % 2) ? NAN : INFINITY;
    memcpy(d1, ref, n * sizeof(float));
    memcpy(d2, ref, n * sizeof(float));
    for (k = 0; k < n; k++) {
        uint32_t u;
        memcpy(&u, ref + k, sizeof u);
        sw[k] = word_swap(u);
    }
    r = make_ramp(ref, gdq, pdq, ni, ng, ny, nx);
    r.first_row = 2;                               /* array row 0 is an even row */
    reference_measured(ref, gdq, pdq, &r, &ms);

    RSCD_PARAMS_INIT(&par);
    RSCD_MEASURED_STATS_INIT(&s1);
    RSCD_MEASURED_STATS_INIT(&s2);
    RSCD_MEASURED_STATS_INIT(&s3);
    par.nthreads = 1;
    r.data = d1;
    check_int("full_frame", "status 1 thread", rscd_measured(&r, &ms, &par, &s1), RSCD_OK);
    for (threads = 2; threads <= 2; threads++) {
        par.nthreads = threads;
        r.data = d2;
        check_int("full_frame", "status 2 threads", rscd_measured(&r, &ms, &par, &s2), RSCD_OK);
    }
    r.data = (float *)(void *)sw;
    r.data_byteorder = RSCD_SWAPPED;
    check_int("full_frame", "status swapped", rscd_measured(&r, &ms, &par, &s3), RSCD_OK);
    for (k = 0; k < n; k++) {
        uint32_t u;
        memcpy(&u, d1 + k, sizeof u);
        if (memcmp(d1 + k, ref + k, sizeof(float)) != 0 ||
            memcmp(d2 + k, ref + k, sizeof(float)) != 0 || word_swap(sw[k]) != u) {
            printf("FAIL full_frame: element %ld differs\n", (long)k);
            failures++;
            break;
        }
    }
    check_int("full_frame", "npix_corrected threads", (long)s2.npix_corrected,
              (long)s1.npix_corrected);
    check_int("full_frame", "nvalues_left threads", (long)s2.nvalues_left, (long)s1.nvalues_left);
    check_int("full_frame", "npix_no_slope swapped", (long)s3.npix_no_slope,
              (long)s1.npix_no_slope);
    check_true("full_frame", "some pixels corrected", s1.npix_corrected > ni * npix / 2);
    check_true("full_frame", "some pixels without a slope", s1.npix_no_slope > 0);
done:
    free(d1);
    free(d2);
    free(ref);
    free(sw);
    free(gdq);
    free(pdq);
}

int main(void)
{
    t_hand_worked();
    t_errors();
    t_struct_rule();
    t_full_frame();
    printf("ok: %d failure(s)\n", failures);
    return failures;
}
