/* test_diagnose.c -- rscd_diagnose_block through the public header, no Python:
 * hand-worked ramps whose sums are known exactly, the DQ rules, byte order, the
 * instrument from other integrations, the outlier cut, thread-count independence,
 * the slopes pass's verdicts in place of GROUPDQ, the pilot's per-sample values and the
 * argument checks; the medians of the clip tables (rscd_median_mad) against a sort.
 * Build: cc -std=c99 -Wall -Wextra -Werror -Icsrc (the csrc C files) tests/c/test_diagnose.c -lm
 * Prints "ok: 0 failure(s)" and exits 0 on success. */
#include "rscd.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                               \
    do {                                                               \
        if (!(cond)) {                                                 \
            if (++failures <= 30) {                                    \
                printf("FAIL %s:%d: ", __FILE__, __LINE__);            \
                printf(__VA_ARGS__);                                   \
                printf("\n");                                          \
            }                                                          \
        }                                                              \
    } while (0)

#define NG 12     /* groups */
#define NY 8
#define NX 5
#define W 6       /* window: groups 6 .. 10, measured: 0 .. 5 and 11 */
#define J (W + 1)
#define STRIPES 4
#define BINS 64

static float sci[NG * NY * NX];
static uint8_t gdq[NG * NY * NX];
static uint32_t pdq[NY * NX];
static double sums[STRIPES * 2 * J * RSCD_DIAG_SUMS];
static int64_t hist[BINS];

/* pixel (y, x): slope 10 + x, offsets off[g] on groups 0..5 and the last */
static double offset_of(int g)
{
    static const double off[J] = {-8.0, -4.0, -2.0, -1.0, -0.5, -0.25, 3.0};
    return g < W ? off[g] : (g == NG - 1 ? off[W] : 0.0);
}

static void fill(void)
{
    int g, y, x;
    memset(gdq, 0, sizeof gdq);
    memset(pdq, 0, sizeof pdq);
    for (g = 0; g < NG; g++)
        for (y = 0; y < NY; y++)
            for (x = 0; x < NX; x++)
                sci[(g * NY + y) * NX + x] =
                    (float)(100.0 + (10.0 + x) * (g + 1) + offset_of(g));
}

static void base_block(rscd_diag_block *b)
{
    RSCD_DIAG_BLOCK_INIT(b);   /* native SCI, no clip, no pixel slopes */
    b->sci = sci;
    b->groupdq = gdq;
    b->pixeldq = pdq;
    b->ngroups = NG;
    b->ny = NY;
    b->nx = NX;
    b->row_first = 0;
    b->row_count = NY;
    b->ystart = 1;
    b->window_start = W;
    b->halves = 1;
    b->stripes = STRIPES;
}

static void base_out(rscd_diag_out *o)
{
    RSCD_DIAG_OUT_INIT(o);
    memset(sums, 0, sizeof sums);
    memset(hist, 0, sizeof hist);
    o->sums = sums;
    o->slope_hist = hist;
    o->slope_bins = BINS;
    o->slope_span = 8.0;
    o->slope_unit = 1.0;
}

static double total(int parity, int j, int k)
{
    int s;
    double t = 0.0;
    for (s = 0; s < STRIPES; s++)
        t += sums[((s * 2 + parity) * J + j) * RSCD_DIAG_SUMS + k];
    return t;
}

static void t_exact_sums(void)
{
    rscd_diag_block b;
    rscd_diag_out o;
    int j, p, status;
    fill();
    base_block(&b);
    base_out(&o);
    status = rscd_diagnose_block(&b, &o, NULL);
    CHECK(status == RSCD_OK, "status %d", status);
    CHECK(o.used == NY * NX, "used %td", o.used);
    for (p = 0; p < 2; p++)
        for (j = 0; j < J; j++) {
            double n = total(p, j, 0), su = total(p, j, 2), so = total(p, j, 3);
            /* 4 rows of each parity, slopes 10..14: sum 60 per row */
            CHECK(n == 20.0, "n %g", n);
            CHECK(fabs(su - 240.0) < 1e-9, "sum u %g", su);
            CHECK(fabs(so - 20.0 * offset_of(j < W ? j : NG - 1)) < 1e-9,
                  "group %d: sum o %g", j, so);
            CHECK(fabs(total(p, j, 1) - su) < 1e-9, "z is u here");
            CHECK(fabs(total(p, j, 5) - (so / 20.0) * total(p, j, 1)) < 1e-7, "sum zo");
        }
}

static void t_dq_rules(void)
{
    rscd_diag_block b;
    rscd_diag_out o;
    fill();
    pdq[0] = 0x80000000u;                 /* reference pixel */
    pdq[1] = 1u;                          /* DO_NOT_USE */
    gdq[(3 * NY + 0) * NX + 2] = 4u;      /* JUMP_DET in group 3 */
    gdq[(NG - 1) * NY * NX + 3] = 2u;     /* SATURATED in the last group */
    gdq[(2 * NY + 0) * NX + 4] = 8u;      /* another flag: kept */
    sci[(5 * NY + 1) * NX + 0] = NAN;
    gdq[1 * NY * NX + 6] = 1u;            /* DO_NOT_USE in group 1 */
    gdq[7] = 1u;                          /* DO_NOT_USE in the first group: kept */
    gdq[(NG - 1) * NY * NX + 8] = 1u;     /* ... and in the last (lastframe): kept */
    gdq[(NG - 1) * NY * NX + 9] = 3u;     /* SATURATED | DO_NOT_USE in the last */
    gdq[10] = 4u;                         /* JUMP_DET in the first */
    gdq[11] = 65u;                        /* AD_FLOOR | DO_NOT_USE in the first */
    base_block(&b);
    base_out(&o);
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_OK, "status");
    CHECK(o.used == NY * NX - 9, "used %td", o.used);
}

static void t_byte_order(void)
{
    static float swapped[NG * NY * NX];
    static double ref[STRIPES * 2 * J * RSCD_DIAG_SUMS];
    rscd_diag_block b;
    rscd_diag_out o;
    size_t i;
    fill();
    base_block(&b);
    base_out(&o);
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_OK, "native");
    memcpy(ref, sums, sizeof sums);
    for (i = 0; i < NG * NY * NX; i++) {
        unsigned char *s = (unsigned char *)&sci[i], *d = (unsigned char *)&swapped[i];
        d[0] = s[3]; d[1] = s[2]; d[2] = s[1]; d[3] = s[0];
    }
    b.sci = swapped;
    b.sci_byteorder = RSCD_SWAPPED;
    base_out(&o);
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_OK, "swapped");
    CHECK(memcmp(ref, sums, sizeof sums) == 0, "swapped SCI gives other sums");
}

static void t_other_integrations(void)
{
    static double psum[NY * NX], pcount[NY * NX];
    rscd_diag_block b;
    rscd_diag_out o;
    int k;
    fill();
    base_block(&b);
    RSCD_DIAG_OUT_INIT(&o);
    memset(psum, 0, sizeof psum);
    memset(pcount, 0, sizeof pcount);
    o.pixel_slope_sum = psum;
    o.pixel_slope_count = pcount;
    for (k = 0; k < 2; k++)       /* the slopes pass over two identical integrations */
        CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_OK, "slopes pass");
    CHECK(pcount[7] == 2.0 && fabs(psum[7] - 2 * 12.0) < 1e-9, "pixel 7: %g %g", pcount[7],
          psum[7]);
    pcount[0] = 1.0;              /* pixel 0: no other integration */
    b.halves = 0;
    b.pixel_slope_sum = psum;
    b.pixel_slope_count = pcount;
    base_out(&o);
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_OK, "sums pass");
    CHECK(total(0, 0, 0) == 19.0, "n %g", total(0, 0, 0));
    CHECK(fabs(total(0, 2, 3) - 19.0 * -2.0) < 1e-9, "sum o %g", total(0, 2, 3));
}

static void t_clip(void)
{
    /* one bin; offsets within 1 DN of 0 pass, u within 100 of 12 */
    static const unsigned char bright[1] = {0};
    static const double zmed[1] = {12.0}, uc[1] = {12.0}, uh[1] = {100.0};
    static const double oc[J] = {0}, oh[J] = {1, 1, 1, 1, 1, 1, 1};
    rscd_diag_clip clip;
    rscd_diag_block b;
    rscd_diag_out o;
    RSCD_DIAG_CLIP_INIT(&clip);   /* nbins 1, edges NULL */
    clip.bright = bright;
    clip.zmed = zmed;
    clip.u_centre = uc;
    clip.u_half = uh;
    clip.o_centre = oc;
    clip.o_half = oh;
    fill();
    base_block(&b);
    b.clip[0] = &clip;
    b.clip[1] = &clip;
    base_out(&o);
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_OK, "status");
    CHECK(total(0, 0, 0) == 0.0 && total(1, 0, 0) == 0.0, "group 0 (offset -8) is cut");
    CHECK(total(0, 4, 0) == 20.0 && total(1, 5, 0) == 20.0, "groups 4, 5 pass");
}

static void t_threads(void)
{
    static double one[STRIPES * 2 * J * RSCD_DIAG_SUMS];
    rscd_params params;
    rscd_diag_block b;
    rscd_diag_out o;
    int g;
    fill();
    for (g = 0; g < NG * NY * NX; g++)      /* noise, so the order of sums would show */
        sci[g] += (float)((g * 7919 % 101) * 0.0137);
    base_block(&b);
    RSCD_PARAMS_INIT(&params);
    params.nthreads = 1;
    base_out(&o);
    CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_OK, "1 thread");
    memcpy(one, sums, sizeof sums);
    params.nthreads = 3;
    base_out(&o);
    CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_OK, "3 threads");
    CHECK(memcmp(one, sums, sizeof sums) == 0, "sums depend on the thread count");
    /* two calls on halves of the rows add up to one call (integer-exact here: n) */
    base_out(&o);
    b.row_count = 4;
    CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_OK, "rows 0-3");
    b.row_first = 4;
    CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_OK, "rows 4-7");
    CHECK(total(0, 0, 0) == 20.0 && total(1, 3, 0) == 20.0, "blocks add up");
}

/* A block of rows copied into a buffer (plane_stride, data_row_first: how
 * diagnose_files reads a file) gives the same sums as the whole frame; a buffer too
 * short for the rows asked is refused. */
static void t_row_buffer(void)
{
    static double whole[STRIPES * 2 * J * RSCD_DIAG_SUMS];
    static float buf[NG * 3 * NX];
    static uint8_t bdq[NG * 3 * NX];
    rscd_diag_block b;
    rscd_diag_out o;
    int g, r0;
    fill();
    for (g = 0; g < NG * NY * NX; g++)
        sci[g] += (float)((g * 7919 % 101) * 0.0137);
    gdq[2 * NY * NX + 5 * NX + 1] = 4;          /* a jump in group 2, row 5 */
    base_block(&b);
    base_out(&o);
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_OK, "whole frame");
    memcpy(whole, sums, sizeof sums);
    base_out(&o);
    for (r0 = 0; r0 < NY; r0 += 3) {            /* rows 0-2, 3-5, 6-7 */
        const int n = r0 + 3 <= NY ? 3 : NY - r0;
        for (g = 0; g < NG; g++) {
            memcpy(buf + g * n * NX, sci + g * NY * NX + r0 * NX, (size_t)(n * NX) * sizeof *buf);
            memcpy(bdq + g * n * NX, gdq + g * NY * NX + r0 * NX, (size_t)(n * NX));
        }
        base_block(&b);
        b.sci = buf;
        b.groupdq = bdq;
        b.row_first = r0;
        b.row_count = n;
        b.data_row_first = r0;
        b.plane_stride = n * NX;
        CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_OK, "rows from %d", r0);
    }
    CHECK(memcmp(whole, sums, sizeof sums) == 0, "a row buffer gives other sums");
    b.row_count = 4;                             /* 4 rows asked, 3 (or fewer) held */
    b.row_first = 4;
    b.data_row_first = 4;
    b.plane_stride = 3 * NX;
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_ERR_RANGE, "short buffer accepted");
    b.plane_stride = 0;                          /* whole frames start at row 0 */
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_ERR_RANGE, "row offset without stride");
}

/* The slopes pass's verdicts (rscd_diag_out.sample_ok), given to the sums pass in
 * blocks of rows with no GROUPDQ at all, give the sums, histogram and count of
 * samples of a sums pass that reads GROUPDQ: flags in the first, middle and last
 * groups (DO_NOT_USE on the first and last does not count), a bad PIXELDQ, values
 * not finite inside and outside the window, on the portable code and the AVX2 code. */
static void t_verdicts(void)
{
    static double psum[NY * NX], pcount[NY * NX], scratch[2][NY * NX];
    static double want[STRIPES * 2 * J * RSCD_DIAG_SUMS];
    static int64_t want_hist[BINS];
    static uint8_t ok[NY * NX];
    rscd_params params;
    rscd_diag_block b, sb;
    rscd_diag_out o, so;
    ptrdiff_t want_used, used;
    int g, v, r0, k, integration, kept;
    for (v = 0; v < 2; v++) {
        RSCD_PARAMS_INIT(&params);
        params.use_vector = v;
        params.nthreads = 2;
        memset(psum, 0, sizeof psum);
        memset(pcount, 0, sizeof pcount);
        for (integration = 0; integration < 2; integration++) {   /* the pixels' slopes */
            fill();
            for (g = 0; g < NG * NY * NX; g++)
                sci[g] += (float)(((g + integration) * 7919 % 101) * 0.0137);
            base_block(&b);
            RSCD_DIAG_OUT_INIT(&o);
            o.pixel_slope_sum = psum;
            o.pixel_slope_count = pcount;
            CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_OK, "slopes pass %d", integration);
        }
        /* the second integration again, with flags and values not finite */
        gdq[0 * NY * NX + 1 * NX + 2] = 1;          /* DO_NOT_USE, first group: no matter */
        gdq[0 * NY * NX + 1 * NX + 3] = 2;          /* SATURATED, first group */
        gdq[4 * NY * NX + 2 * NX + 0] = 4;          /* JUMP_DET, group 4 */
        gdq[(NG - 1) * NY * NX + 6 * NX + 4] = 1;   /* DO_NOT_USE, last group: no matter */
        gdq[(NG - 1) * NY * NX + 7 * NX + 1] = 64;  /* AD_FLOOR, last group */
        pdq[3 * NX + 3] = 1;
        sci[2 * NY * NX + 4 * NX + 4] = NAN;        /* a measured group */
        sci[(W + 1) * NY * NX + 5 * NX + 2] = INFINITY;   /* the window */
        base_block(&b);
        b.halves = 0;
        b.pixel_slope_sum = psum;
        b.pixel_slope_count = pcount;
        base_out(&o);
        CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_OK, "sums pass with GROUPDQ");
        memcpy(want, sums, sizeof sums);
        memcpy(want_hist, hist, sizeof hist);
        want_used = o.used;
        CHECK(want_used == NY * NX - 6, "used %td", want_used);
        base_out(&o);
        used = 0;
        for (r0 = 0; r0 < NY; r0 += 3) {            /* rows 0-2, 3-5, 6-7 */
            sb = b;
            sb.row_first = r0;
            sb.row_count = r0 + 3 <= NY ? 3 : NY - r0;
            sb.pixel_slope_sum = sb.pixel_slope_count = NULL;
            RSCD_DIAG_OUT_INIT(&so);                /* a slopes pass for its verdicts */
            so.pixel_slope_sum = scratch[0];
            so.pixel_slope_count = scratch[1];
            so.sample_ok = ok + r0 * NX;
            CHECK(rscd_diagnose_block(&sb, &so, &params) == RSCD_OK, "verdicts of rows %d", r0);
            sb.pixel_slope_sum = psum;
            sb.pixel_slope_count = pcount;
            sb.groupdq = NULL;                      /* not read */
            sb.sample_ok = ok + r0 * NX;
            CHECK(rscd_diagnose_block(&sb, &o, &params) == RSCD_OK, "sums of rows %d", r0);
            used += o.used;
        }
        CHECK(memcmp(want, sums, sizeof sums) == 0, "vector %d: verdicts give other sums", v);
        CHECK(memcmp(want_hist, hist, sizeof hist) == 0, "vector %d: other histogram", v);
        CHECK(used == want_used, "vector %d: used %td, not %td", v, used, want_used);
        for (k = 0, kept = 0; k < NY * NX; k++)
            kept += ok[k] == 1 ? 1 : (ok[k] == 0 ? 0 : 1000);
        CHECK(kept == NY * NX - 5, "vector %d: %d samples used in the slopes pass", v, kept);
        pdq[3 * NX + 3] = 0;
    }
}

static void t_arguments(void)
{
    rscd_diag_block b;
    rscd_diag_out o;
    fill();
    base_block(&b);
    base_out(&o);
    CHECK(rscd_diagnose_block(NULL, &o, NULL) == RSCD_ERR_NULL, "NULL block");
    b.window_start = NG - 4;
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_ERR_RANGE, "window too short");
    b.window_start = W;
    b.row_first = 5;
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_ERR_RANGE, "rows beyond the frame");
    b.row_first = 0;
    b.sci_byteorder = 7;
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_ERR_BYTEORDER, "byte order");
    b.sci_byteorder = RSCD_NATIVE;
    b.halves = 0;
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_ERR_NULL, "no pixel slopes");
    b.halves = 1;
    b.ngroups = 5;
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_ERR_DIMS, "too few groups");
    b.ngroups = NG;
    b.groupdq = NULL;
    CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_ERR_NULL, "no GROUPDQ, no verdicts");
    b.groupdq = gdq;
    {
        static uint8_t ok[NY * NX];
        static double ps[NY * NX], pc[NY * NX];
        rscd_diag_out slopes;
        b.sample_ok = ok;             /* verdicts go into a sums pass, not a slopes pass */
        RSCD_DIAG_OUT_INIT(&slopes);
        slopes.pixel_slope_sum = ps;
        slopes.pixel_slope_count = pc;
        CHECK(rscd_diagnose_block(&b, &slopes, NULL) == RSCD_ERR_RANGE, "verdicts in");
        b.sample_ok = NULL;
        o.sample_ok = ok;             /* ... and come out of a slopes pass */
        CHECK(rscd_diagnose_block(&b, &o, NULL) == RSCD_ERR_RANGE, "verdicts out");
        o.sample_ok = NULL;
    }
}

/* Every byte of n at p equals v. */
static int all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *c = (const unsigned char *)p;
    size_t k;
    for (k = 0; k < n; k++) {
        if (c[k] != v)
            return 0;
    }
    return 1;
}

/* The ABI rule of rscd.h: the init macros' defaults; a zeroed struct, or one of a
 * size this library does not know, is refused with RSCD_ERR_STRUCT before out or the
 * sums are written; an init function given an unknown size writes nothing. */
static void t_struct_rule(void)
{
    static const double zero[J] = {0};
    static const unsigned char dark[1] = {0};
    rscd_diag_block b, zb;
    rscd_diag_out o, zo;
    rscd_diag_clip clip, zc;
    rscd_params params;
    struct { rscd_diag_block s; unsigned char tail[16]; } big_block;
    struct { rscd_diag_out s; unsigned char tail[16]; } big_out;
    struct { rscd_diag_clip s; unsigned char tail[16]; } big_clip;

    memset(&zb, 0x5a, sizeof zb);
    CHECK(RSCD_DIAG_BLOCK_INIT(&zb) == RSCD_OK && zb.struct_size == sizeof zb, "block init");
    CHECK(!zb.sci && !zb.groupdq && !zb.pixeldq && !zb.clip[0] && !zb.clip[1] &&
              !zb.pixel_slope_sum && !zb.pixel_slope_count && zb.sci_byteorder == RSCD_NATIVE &&
              zb.ystart == 1 && zb.stripes == 1 && zb.ngroups == 0 && zb.row_count == 0 &&
              zb.window_start == 0 && zb.halves == 0,
          "block defaults");
    memset(&zo, 0x5a, sizeof zo);
    CHECK(RSCD_DIAG_OUT_INIT(&zo) == RSCD_OK && zo.struct_size == sizeof zo, "out init");
    CHECK(!zo.sums && !zo.slope_hist && !zo.pixel_slope_sum && !zo.pixel_slope_count &&
              zo.slope_bins == 0 && zo.slope_span == 0.0 && zo.slope_unit == 0.0 &&
              zo.used == 0,
          "out defaults");
    memset(&zc, 0x5a, sizeof zc);
    CHECK(RSCD_DIAG_CLIP_INIT(&zc) == RSCD_OK && zc.struct_size == sizeof zc, "clip init");
    CHECK(zc.nbins == 1 && !zc.edges && !zc.bright && !zc.zmed && !zc.u_centre &&
              !zc.u_half && !zc.o_centre && !zc.o_half,
          "clip defaults");

    fill();
    base_block(&b);
    base_out(&o);
    memset(sums, 0x5a, sizeof sums);     /* any write would show */
    memset(hist, 0x5a, sizeof hist);
    o.used = -7;
    RSCD_PARAMS_INIT(&params);
    memset(&zb, 0, sizeof zb);
    CHECK(rscd_diagnose_block(&zb, &o, &params) == RSCD_ERR_STRUCT, "zeroed block");
    memset(&zo, 0, sizeof zo);
    CHECK(rscd_diagnose_block(&b, &zo, &params) == RSCD_ERR_STRUCT, "zeroed out");
    CHECK(all_bytes(&zo, sizeof zo, 0), "zeroed out written");
    b.struct_size = sizeof b + 8;
    CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_ERR_STRUCT, "block of a newer size");
    b.struct_size = sizeof b;
    o.struct_size = sizeof o + 8;
    CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_ERR_STRUCT, "out of a newer size");
    o.struct_size = sizeof o;
    memset(&zc, 0, sizeof zc);
    b.clip[1] = &zc;
    CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_ERR_STRUCT, "zeroed clip");
    RSCD_DIAG_CLIP_INIT(&clip);
    clip.bright = dark;
    clip.zmed = clip.u_centre = clip.u_half = clip.o_centre = clip.o_half = zero;
    clip.struct_size = sizeof clip + 8;
    b.clip[1] = &clip;
    CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_ERR_STRUCT, "clip of a newer size");
    b.clip[1] = NULL;
    params.struct_size = 3;
    CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_ERR_PARAMS, "params");
    CHECK(o.used == -7 && all_bytes(sums, sizeof sums, 0x5a) && all_bytes(hist, sizeof hist, 0x5a),
          "a refusal wrote out, the sums or the histogram");
    RSCD_PARAMS_INIT(&params);
    base_out(&o);
    CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_OK && o.used == NY * NX,
          "initialised: used %ld", (long)o.used);

    CHECK(rscd_diag_block_init(NULL, sizeof b) == RSCD_ERR_NULL, "block init NULL");
    CHECK(rscd_diag_out_init(NULL, sizeof o) == RSCD_ERR_NULL, "out init NULL");
    CHECK(rscd_diag_clip_init(NULL, sizeof clip) == RSCD_ERR_NULL, "clip init NULL");
    memset(&big_block, 0xa5, sizeof big_block);
    memset(&big_out, 0xa5, sizeof big_out);
    memset(&big_clip, 0xa5, sizeof big_clip);
    CHECK(rscd_diag_block_init(&big_block.s, sizeof big_block.s + 8) == RSCD_ERR_STRUCT,
          "block init newer size");
    CHECK(rscd_diag_block_init(&big_block.s, 0) == RSCD_ERR_STRUCT, "block init size 0");
    CHECK(rscd_diag_out_init(&big_out.s, sizeof big_out.s + 8) == RSCD_ERR_STRUCT,
          "out init newer size");
    CHECK(rscd_diag_clip_init(&big_clip.s, sizeof big_clip.s + 8) == RSCD_ERR_STRUCT,
          "clip init newer size");
    CHECK(all_bytes(&big_block, sizeof big_block, 0xa5) &&
              all_bytes(&big_out, sizeof big_out, 0xa5) &&
              all_bytes(&big_clip, sizeof big_clip, 0xa5),
          "refused inits wrote nothing");
}

/* The AVX2 row code (rscd_params.use_vector, where the CPU has it) and the portable C
 * give the same bits: rows longer than a chunk of pixels and not a multiple of the
 * lanes, a clip table of three bins (one bright) that removes samples from single
 * groups, non-finite values, flags, byte-swapped SCI, both kinds of instrument. */
static void t_vector_paths(void)
{
    enum { G = 14, Y = 6, X = 133, WS = 6, JM = WS + 1, B = 3 };
    static float vs[G * Y * X];
    static uint8_t vdq[G * Y * X];
    static uint32_t vpdq[Y * X];
    static double psum[Y * X], pcount[Y * X], vsums[2][STRIPES * 2 * JM * RSCD_DIAG_SUMS];
    static int64_t vhist[2][BINS];
    static const double edges[B - 1] = {12.0, 30.0};
    static const unsigned char bright[B] = {0, 0, 1};
    static const double zmed[B] = {8.0, 20.0, 45.0}, uc[B] = {8.0, 20.0, 45.0};
    static const double uh[B] = {30.0, 30.0, 40.0};
    static double oc[B * JM], oh[B * JM];
    rscd_diag_clip clip;
    rscd_diag_block b;
    rscd_diag_out o;
    rscd_params params;
    ptrdiff_t used[2];
    unsigned seed = 12345u;
    int g, y, x, k, halves, v;
    for (y = 0; y < Y; y++)
        for (x = 0; x < X; x++) {
            const double slope = 2.0 + (double)((x * 7 + y * 13) % 60);
            vpdq[y * X + x] = (x == 3 && y == 1) ? 1u : 0u;
            for (g = 0; g < G; g++) {
                double noise;
                uint32_t w;
                float f;
                seed = seed * 1103515245u + 12345u;
                noise = ((double)(seed >> 8) / 16777216.0 - 0.5) * 6.0;
                if ((seed >> 4) % 97 == 0 && g < WS)
                    noise += 400.0;         /* an unflagged jump in one early group */
                f = (float)(500.0 + slope * (g + 1) + noise);
                memcpy(&w, &f, sizeof w);
                w = (w >> 24) | ((w >> 8) & 0xff00u) | ((w << 8) & 0xff0000u) | (w << 24);
                memcpy(&vs[(g * Y + y) * X + x], &w, sizeof w);
                vdq[(g * Y + y) * X + x] = (x == 50 && y == 2 && g == 4) ? 4u : 0u;
            }
        }
    {
        const float bad[3] = {NAN, INFINITY, NAN};
        const int at[3][3] = {{1, 0, 7}, {G - 1, 3, 130}, {WS + 2, 4, 64}};   /* g, y, x */
        for (k = 0; k < 3; k++) {
            uint32_t w;
            memcpy(&w, &bad[k], sizeof w);
            w = (w >> 24) | ((w >> 8) & 0xff00u) | ((w << 8) & 0xff0000u) | (w << 24);
            memcpy(&vs[(at[k][0] * Y + at[k][1]) * X + at[k][2]], &w, sizeof w);
        }
    }
    for (k = 0; k < B * JM; k++) {
        oc[k] = 0.5 * (double)(k % 3);
        oh[k] = 40.0 + (double)(k % 5);
    }
    RSCD_DIAG_CLIP_INIT(&clip);
    clip.nbins = B;
    clip.edges = edges;
    clip.bright = bright;
    clip.zmed = zmed;
    clip.u_centre = uc;
    clip.u_half = uh;
    clip.o_centre = oc;
    clip.o_half = oh;
    for (halves = 0; halves < 2; halves++) {
        for (v = 0; v < 2; v++) {
            RSCD_DIAG_BLOCK_INIT(&b);
            b.sci = vs;
            b.sci_byteorder = RSCD_SWAPPED;
            b.groupdq = vdq;
            b.pixeldq = vpdq;
            b.ngroups = G;
            b.ny = Y;
            b.nx = X;
            b.row_count = Y;
            b.window_start = WS;
            b.stripes = STRIPES;
            RSCD_PARAMS_INIT(&params);
            params.nthreads = 1;
            params.use_vector = v;
            if (!halves) {
                RSCD_DIAG_OUT_INIT(&o);
                memset(psum, 0, sizeof psum);
                memset(pcount, 0, sizeof pcount);
                o.pixel_slope_sum = psum;
                o.pixel_slope_count = pcount;
                for (k = 0; k < 3; k++)   /* three identical integrations */
                    CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_OK, "slopes pass");
                b.pixel_slope_sum = psum;
                b.pixel_slope_count = pcount;
            }
            b.halves = halves;
            b.clip[0] = b.clip[1] = &clip;
            RSCD_DIAG_OUT_INIT(&o);
            memset(vsums[v], 0, sizeof vsums[v]);
            memset(vhist[v], 0, sizeof vhist[v]);
            o.sums = vsums[v];
            o.slope_hist = vhist[v];
            o.slope_bins = BINS;
            o.slope_span = 8.0;
            o.slope_unit = 1.0;
            CHECK(rscd_diagnose_block(&b, &o, &params) == RSCD_OK, "sums pass");
            used[v] = o.used;
        }
        CHECK(used[0] == used[1] && used[0] == Y * X - 5, "halves %d: used %td %td", halves,
              used[0], used[1]);
        CHECK(memcmp(vsums[0], vsums[1], sizeof vsums[0]) == 0, "halves %d: sums differ",
              halves);
        CHECK(memcmp(vhist[0], vhist[1], sizeof vhist[0]) == 0, "halves %d: hist differs",
              halves);
        {   /* the cut left samples out of single groups: n differs between groups */
            double n[JM] = {0};
            int j, s2, differ = 0;
            for (s2 = 0; s2 < STRIPES * 2; s2++)
                for (j = 0; j < JM; j++)
                    n[j] += vsums[0][(s2 * JM + j) * RSCD_DIAG_SUMS];
            for (j = 1; j < JM; j++)
                differ |= n[j] != n[0];
            CHECK(differ, "halves %d: no single-group cut (n %g)", halves, n[0]);
        }
    }
}

/* rscd_diag_out.samples: each sample's u, z and offsets before the cut, in planes, u
 * NaN where the sample is not used; the sums are the same with it or without; on the
 * portable and the vector code alike; refused in the slopes pass. */
static void t_samples(void)
{
    enum { FIRST = 2, ROWS = 4, PLANES = 2 + J };
    static double got[2][PLANES * ROWS * NX];
    static double plain_sums[STRIPES * 2 * J * RSCD_DIAG_SUMS];
    rscd_diag_block b;
    rscd_diag_out o;
    rscd_params prm;
    int v, y, x, j, status;
    fill();
    gdq[(1 * NY + 3) * NX + 2] = 2;                 /* (3, 2) SATURATED in group 1 */
    sci[(0 * NY + 4) * NX + 1] = (float)NAN;        /* (4, 1) a NaN in group 0 */
    for (v = 0; v < 2; v++) {
        RSCD_PARAMS_INIT(&prm);
        prm.use_vector = v;
        base_block(&b);
        b.row_first = FIRST;
        b.row_count = ROWS;
        base_out(&o);
        status = rscd_diagnose_block(&b, &o, &prm);
        CHECK(status == RSCD_OK, "status %d", status);
        memcpy(plain_sums, sums, sizeof sums);
        base_out(&o);
        o.samples = got[v];
        status = rscd_diagnose_block(&b, &o, &prm);
        CHECK(status == RSCD_OK, "status %d", status);
        CHECK(memcmp(plain_sums, sums, sizeof sums) == 0, "vector %d: the sums changed", v);
        for (y = FIRST; y < FIRST + ROWS; y++)
            for (x = 0; x < NX; x++) {
                const double *at = got[v] + (y - FIRST) * NX + x;
                const int unused = (y == 3 && x == 2) || (y == 4 && x == 1);
                const ptrdiff_t plane = ROWS * NX;
                CHECK(unused ? isnan(at[0]) : fabs(at[0] - (10.0 + x)) < 1e-9,
                      "vector %d (%d, %d): u %g", v, y, x, at[0]);
                if (unused)
                    continue;
                CHECK(fabs(at[plane] - (10.0 + x)) < 1e-9, "(%d, %d): z %g", y, x, at[plane]);
                for (j = 0; j < J; j++)
                    CHECK(fabs(at[(2 + j) * plane] - offset_of(j < W ? j : NG - 1)) < 1e-9,
                          "(%d, %d) group %d: offset %g", y, x, j, at[(2 + j) * plane]);
            }
    }
    CHECK(memcmp(got[0], got[1], sizeof got[0]) == 0, "the vector code's samples differ");
    base_block(&b);
    RSCD_DIAG_OUT_INIT(&o);                          /* a slopes pass: refused */
    o.pixel_slope_sum = plain_sums;
    o.pixel_slope_count = plain_sums;
    o.samples = got[0];
    status = rscd_diagnose_block(&b, &o, NULL);
    CHECK(status == RSCD_ERR_RANGE, "samples in the slopes pass: status %d", status);
}

/* numpy.median of v[0 .. n-1] the plain way: a sorted copy's middle (the mean of the
 * two middle values for an even n) */
static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double sorted_median(const double *v, ptrdiff_t n, double *work)
{
    memcpy(work, v, (size_t)n * sizeof *v);
    qsort(work, (size_t)n, sizeof *work, by_value);
    return n % 2 ? work[n / 2] : (work[n / 2 - 1] + work[n / 2]) / 2.0;
}

#define MED_N 1001

static void t_median_mad(void)
{
    static double v[MED_N], keep[MED_N], scratch[MED_N], work[MED_N], dev[MED_N];
    const double hand[7] = {5.0, -1.0, 3.0, 3.0, 8.0, -2.0, 3.5};
    double med[2], mad[2];
    unsigned seed = 12345u;
    ptrdiff_t n, i;
    int kind;
    /* by hand: sorted -2 -1 3 3 3.5 5 8, median 3, deviations 5 4 0 0 0.5 2 5 -> 2;
     * the first six: -2 -1 3 3 5 8 -> median 3, deviations 2 4 0 0 5 5 -> 3 */
    CHECK(rscd_median_mad(hand, 1, 7, scratch, med, mad) == RSCD_OK, "hand 7");
    CHECK(med[0] == 3.0 && mad[0] == 2.0, "hand 7: %g %g", med[0], mad[0]);
    CHECK(rscd_median_mad(hand, 1, 6, scratch, med, mad) == RSCD_OK, "hand 6");
    CHECK(med[0] == 3.0 && mad[0] == 3.0, "hand 6: %g %g", med[0], mad[0]);
    /* two rows of 3 (row r at r * n); medians only */
    CHECK(rscd_median_mad(hand, 2, 3, scratch, med, NULL) == RSCD_OK, "two rows");
    CHECK(med[0] == 3.0 && med[1] == 3.0, "two rows: %g %g", med[0], med[1]);
    {   /* an even count: the middle values added and halved */
        const double two[2] = {1.0, 0x1p-1074};
        CHECK(rscd_median_mad(two, 1, 2, scratch, med, mad) == RSCD_OK && med[0] == 0.5
              && mad[0] == 0.5, "two values: %g %g", med[0], mad[0]);
    }
    {   /* numpy: a NaN makes the median NaN; an infinite median a NaN deviation */
        const double nan_row[3] = {1.0, NAN, 2.0}, inf_row[3] = {INFINITY, INFINITY, 1.0};
        CHECK(rscd_median_mad(nan_row, 1, 3, scratch, med, mad) == RSCD_OK
              && isnan(med[0]) && isnan(mad[0]), "NaN row");
        CHECK(rscd_median_mad(inf_row, 1, 3, scratch, med, mad) == RSCD_OK
              && med[0] == INFINITY && isnan(mad[0]), "inf row");
    }
    /* refusals, nothing written */
    med[0] = mad[0] = 7.0;
    CHECK(rscd_median_mad(NULL, 1, 3, scratch, med, mad) == RSCD_ERR_NULL, "NULL values");
    CHECK(rscd_median_mad(hand, 1, 3, NULL, med, mad) == RSCD_ERR_NULL, "NULL scratch");
    CHECK(rscd_median_mad(hand, 1, 3, scratch, NULL, mad) == RSCD_ERR_NULL, "NULL median");
    CHECK(rscd_median_mad(hand, 1, 0, scratch, med, mad) == RSCD_ERR_DIMS, "n 0");
    CHECK(rscd_median_mad(hand, -1, 3, scratch, med, mad) == RSCD_ERR_DIMS, "rows -1");
    CHECK(med[0] == 7.0 && mad[0] == 7.0, "written before refusing");
    CHECK(rscd_median_mad(hand, 0, 3, scratch, med, mad) == RSCD_OK, "no row");
    /* against a sort: every length to 64 and some longer, data that is random, sorted,
     * reversed, an organ pipe, three distinct values, all equal */
    for (kind = 0; kind < 6; kind++)
        for (n = 1; n <= MED_N; n += n < 64 ? 1 : 117) {
            double want_med, want_mad;
            for (i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                switch (kind) {
                case 0: v[i] = (double)(seed >> 8) / 16777216.0 - 0.5; break;
                case 1: v[i] = (double)i; break;
                case 2: v[i] = (double)(n - i); break;
                case 3: v[i] = (double)(i < n / 2 ? i : n - i); break;
                case 4: v[i] = (double)((seed >> 12) % 3) - 1.0; break;
                default: v[i] = 2.5; break;
                }
            }
            memcpy(keep, v, (size_t)n * sizeof *v);
            want_med = sorted_median(v, n, work);
            for (i = 0; i < n; i++)
                dev[i] = fabs(v[i] - want_med);
            want_mad = sorted_median(dev, n, work);
            CHECK(rscd_median_mad(v, 1, n, scratch, med, mad) == RSCD_OK, "status");
            CHECK(med[0] == want_med && mad[0] == want_mad,
                  "kind %d n %ld: %.17g %.17g, want %.17g %.17g", kind, (long)n, med[0],
                  mad[0], want_med, want_mad);
            CHECK(memcmp(keep, v, (size_t)n * sizeof *v) == 0, "values changed");
        }
}

int main(void)
{
    t_exact_sums();
    t_dq_rules();
    t_byte_order();
    t_other_integrations();
    t_clip();
    t_threads();
    t_row_buffer();
    t_verdicts();
    t_arguments();
    t_struct_rule();
    t_vector_paths();
    t_samples();
    t_median_mad();
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
