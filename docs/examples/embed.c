/* embed.c - the rscd C core in a program of your own (docs/embedding.rst).
 *
 * Build from the repository root:
 *   cc -std=c99 -O2 -Icsrc docs/examples/embed.c csrc/common.c csrc/flag.c csrc/decay.c csrc/fastamp.c -lm -o embed
 *
 * A 3-integration, 6-group, 2 x 3 pixel ramp: flag it as jwst 3.0.0 does, then apply
 * the 2019 decay correction to a copy of SCI stored big-endian, as in a FITS file. */
#include <stdio.h>
#include <string.h>

#include "rscd.h"

enum { NINTS = 3, NGROUPS = 6, NROWS = 2, NCOLS = 3 };
#define NCUBE (NINTS * NGROUPS * NROWS * NCOLS)

/* Index of element (i, g, y, x) of a cube, as documented in rscd.h. */
static size_t at(int i, int g, int y, int x)
{
    return (((size_t)i * NGROUPS + g) * NROWS + y) * NCOLS + x;
}

/* Reverse the bytes of a float: native <-> big-endian on a little-endian host. */
static float swap_float(float v)
{
    unsigned char b[4], t;
    memcpy(b, &v, 4);
    t = b[0]; b[0] = b[3]; b[3] = t;
    t = b[1]; b[1] = b[2]; b[2] = t;
    memcpy(&v, b, 4);
    return v;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

int main(void)
{
    static float data[NCUBE];
    static uint8_t groupdq[NCUBE];
    static uint32_t pixeldq[NROWS * NCOLS];
    rscd_params params;
    rscd_ramp ramp;
    rscd_flag_stats fstats;
    rscd_decay_stats dstats;
    rscd_decay_coeffs even, odd;
    int i, g, y, x, status;

    /* Ramps of 100 DN per group on top of 1000 DN; pixel (0, 2) saturates from group 2
     * of integration 2; pixel (1, 0) is a reference pixel. */
    for (i = 0; i < NINTS; i++)
        for (g = 0; g < NGROUPS; g++)
            for (y = 0; y < NROWS; y++)
                for (x = 0; x < NCOLS; x++)
                    data[at(i, g, y, x)] = 1000.0f + 100.0f * (float)(g + 1);
    for (g = 2; g < NGROUPS; g++)
        groupdq[at(1, g, 0, 2)] = 2;               /* SATURATED */
    pixeldq[1 * NCOLS + 0] = 0x80000000u;          /* REFERENCE_PIXEL */

    printf("rscd %s\n", rscd_version());
    RSCD_PARAMS_INIT(&params);                     /* JWST DQ bits, default threads */

    /* Every struct of rscd.h is filled by its RSCD_..._INIT macro first: it records the
     * struct's size (the ABI rule) and sets the defaults; a struct left zeroed is
     * refused with RSCD_ERR_STRUCT. */
    RSCD_RAMP_INIT(&ramp);        /* integration_start 1, nints_exposure 0, first_row 1 */
    RSCD_FLAG_STATS_INIT(&fstats);
    RSCD_DECAY_STATS_INIT(&dstats);
    RSCD_DECAY_COEFFS_INIT(&even);

    /* The view; nints_exposure 0 means "this file is the exposure". */
    ramp.data = data;
    ramp.groupdq = groupdq;
    ramp.pixeldq = pixeldq;
    ramp.nints = NINTS;
    ramp.ngroups = NGROUPS;
    ramp.nrows = NROWS;
    ramp.ncols = NCOLS;

    /* flag: 1 group in integration 1, 2 in integrations 2+ (the reference row). */
    status = rscd_flag(&ramp, 1, 2, &params, &fstats);
    printf("rscd_flag: %d (%s)\n", status, rscd_strerror(status));
    if (status < 0)
        return 1;
    printf("  INT1SKIP=%td INT2SKIP=%td INT2BORS=%td INT2UGP1=%td\n",
           fstats.ngroups_skip_int1, fstats.ngroups_skip_int2p,
           fstats.keep_groups_saturation_int2p, fstats.keep_bright_firstgroup_int2p);
    for (i = 0; i < NINTS; i++) {
        printf("  integration %d, pixel (0, 2) GROUPDQ:", i + 1);
        for (g = 0; g < NGROUPS; g++)
            printf(" %u", (unsigned)groupdq[at(i, g, 0, 2)]);
        printf("\n");
    }
    printf("  pixel (0, 2) FLUX_ESTIMATED: %s\n",
           (pixeldq[2] & params.dq_flux_estimated) ? "yes" : "no");

    /* decay on SCI stored big-endian, where it lies. */
    even.tau = 1.5;
    even.ascale = 1e-6;       /* a = ascale * c^pow / (exp(c/param3)-1) ~= 1 (per cent) */
    even.pow = 1.0;
    even.illum_zp = 1.0;
    even.param3 = 1e6;        /* for any signal c much below param3 */
    even.sat_zp = 1.0;
    even.sat_mzp = 1.0;
    odd = even;
    odd.ascale = 2e-6;        /* odd detector rows (array row 0 here): twice that */
    odd.sat_mzp = 2.0;
    if (host_is_little_endian()) {
        for (i = 0; i < NCUBE; i++)
            data[i] = swap_float(data[i]);
        ramp.data_byteorder = RSCD_SWAPPED;
    }
    status = rscd_decay(&ramp, &even, &odd, NULL, &params, &dstats);
    printf("rscd_decay: %d (%s)\n", status, rscd_strerror(status));
    if (status < 0)
        return 1;
    if (ramp.data_byteorder == RSCD_SWAPPED)
        for (i = 0; i < NCUBE; i++)
            data[i] = swap_float(data[i]);
    printf("  integrations corrected %td, pixel ramps changed %td, saturated branch %td\n",
           dstats.nints_corrected, dstats.npix_corrected, dstats.npix_saturated);
    for (y = 0; y < NROWS; y++) {
        printf("  integration 2, pixel (%d, 1), groups 1-3, DN:", y);
        for (g = 0; g < 3; g++)
            printf(" %.2f", data[at(1, g, y, 1)]);
        printf("\n");
    }
    printf("  reference pixel (1, 0) unchanged: %s\n",
           data[at(1, 0, 1, 0)] == 1100.0f ? "yes" : "no");
    return 0;
}
