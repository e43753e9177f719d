/* test_fitsscan.c - C-level tests of rscd_fits_walk (rscd.h, shell section) through the
 * public header alone: hand-made headers, the refusal messages, and every prefix of a
 * file walked from an exact-size heap copy (AddressSanitizer and valgrind see any read
 * past the bytes). tests/test_fitsscan.py compares the walk with its Python statement.
 *
 * Build: cc -std=c99 -Wall -Wextra -Werror -Icsrc tests/c/test_fitsscan.c csrc/fitsscan.c
 * Exit status: the number of failed checks (0 = all passed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rscd.h"

#define BLOCK 2880

static int failures = 0;

static void check_walk(const char *test, const unsigned char *bytes, size_t size,
                       long want_count, const char *want_message)
{
    char message[RSCD_FITS_WALK_MESSAGE];
    unsigned char *copy = malloc(size ? size : 1); /* exact size: reads past it are seen */
    long got;

    if (!copy) {
        printf("FAIL %s: out of memory\n", test);
        failures++;
        return;
    }
    if (size)
        memcpy(copy, bytes, size);
    got = (long)rscd_fits_walk(size ? copy : NULL, size, message);
    if (got != want_count || strcmp(message, want_message) != 0) {
        printf("FAIL %s: %ld \"%s\", expected %ld \"%s\"\n", test, got, message, want_count,
               want_message);
        failures++;
    }
    free(copy);
}

/* A FITS file being built: whole blocks. */
static unsigned char file[1002 * BLOCK];
static size_t used;

static void put_card(const char *key, const char *value)
{
    char card[81];
    if (value)
        sprintf(card, "%-8s= %20s", key, value);
    else
        sprintf(card, "%-8s", key);
    memset(file + used, ' ', 80);
    memcpy(file + used, card, strlen(card));
    used += 80;
}

static void end_header(void)
{
    put_card("END", NULL);
    while (used % BLOCK) {
        memset(file + used, ' ', 80);
        used += 80;
    }
}

static void primary(void)
{
    used = 0;
    put_card("SIMPLE", "T");
    put_card("BITPIX", "8");
    put_card("NAXIS", "0");
    end_header();
}

/* An image extension with NAXIS1 = naxis1 (text) and NAXIS2 = 3, BITPIX 16, and its
 * data blocks (zeros) when naxis1 is a small number. */
static void image(const char *naxis1)
{
    long n = atol(naxis1);
    put_card("XTENSION", "'IMAGE   '");
    put_card("BITPIX", "16");
    put_card("NAXIS", "2");
    put_card("NAXIS1", naxis1);
    put_card("NAXIS2", "3");
    put_card("PCOUNT", "0");
    put_card("GCOUNT", "1");
    end_header();
    if (n > 0 && n < 10000) {
        size_t size = (size_t)n * 3 * 2;
        size += (BLOCK - size % BLOCK) % BLOCK;
        memset(file + used, 0, size);
        used += size;
    }
}

/* A reader of file[0, used) that counts its calls and reads at most `limit` bytes of the
 * file (a file shortened after its size was taken). */
static size_t reads, limit;

static size_t read_file(void *source, size_t offset, unsigned char *block)
{
    size_t n = offset < limit ? limit - offset : 0;
    (void)source;
    reads++;
    n = n < BLOCK ? n : BLOCK;
    memcpy(block, file + offset, n);
    return n;
}

/* NAXIS1 of an image extension (value as written in the card): the walk's answer. */
static const struct {
    const char *value;
    long count;
    const char *message;
} naxis1_cases[] = {
    {"-5", -1, "HDU 1: NAXIS1 = -5 is negative"},
    {"-0_0_7", -1, "HDU 1: NAXIS1 = -7 is negative"},
    {"1__0", -1, "HDU 1: header card NAXIS1 = b'1__0' is not an integer"},
    {"\"it's\"", -1, "HDU 1: header card NAXIS1 = b'\"it\\'s\"' is not an integer"},
    {"'it''s'", -1, "HDU 1: header card NAXIS1 = b\"'it''s'\" is not an integer"},
    {"a\\b\t\xe9", -1, "HDU 1: header card NAXIS1 = b'a\\\\b\\t\\xe9' is not an integer"},
    {"1000000000000000000000000000000", 2, ""},
    {"-99999999999999999999999999", -1,
     "HDU 1: NAXIS1 = -99999999999999999999999999 is negative"},
};

int main(void)
{
    size_t cut, hdus, k;
    long last = 0;

    check_walk("empty", NULL, 0, 0, "");
    if (rscd_fits_walk(NULL, 0, NULL) != 0) {
        printf("FAIL null message: not 0\n");
        failures++;
    }

    primary();
    check_walk("primary", file, used, 1, "");
    image("5");
    check_walk("image", file, used, 2, "");

    /* every prefix: the complete headers walked, a cut first header refused */
    for (cut = 0; cut <= used; cut += 80) {
        char message[RSCD_FITS_WALK_MESSAGE];
        unsigned char *copy = malloc(cut ? cut : 1);
        long got;
        if (!copy)
            return 1;
        if (cut)
            memcpy(copy, file, cut);
        got = (long)rscd_fits_walk(cut ? copy : NULL, cut, message);
        free(copy);
        if (got < last && !(cut < BLOCK && got == -1)) {
            printf("FAIL prefix %lu: %ld HDUs after %ld\n", (unsigned long)cut, got, last);
            failures++;
        }
        last = got < 0 ? 0 : got;
    }
    check_walk("cut first header", file, 1000, -1, "HDU 0: no END card before byte 1000");
    check_walk("cut data", file, 2 * BLOCK + 80, 2, "");

    for (k = 0; k < sizeof naxis1_cases / sizeof naxis1_cases[0]; k++) {
        primary();
        image(naxis1_cases[k].value);
        check_walk(naxis1_cases[k].value, file, used, naxis1_cases[k].count,
                   naxis1_cases[k].message);
    }

    primary();
    put_card("XTENSION", "'IMAGE   '");
    put_card("NAXIS", "1000");
    end_header();
    check_walk("naxis", file, used, -1, "HDU 1: NAXIS = 1000 is larger than 999");

    used = 0;
    put_card("SIMPLE", "T");
    put_card("NAXIS", "0");
    while (used < BLOCK)
        put_card("COMMENT", NULL);
    check_walk("no end", file, used, -1, "HDU 0: no END card before byte 2880");

    primary();
    for (hdus = 1; hdus <= 1000; hdus++) {
        size_t start = used;
        put_card("XTENSION", "'IMAGE   '");
        put_card("NAXIS", "0");
        end_header();
        if (used != start + BLOCK)
            return 1;
    }
    check_walk("too many", file, used, -1, "more than 1000 HDUs");
    check_walk("1000 HDUs", file, used - BLOCK, 1000, "");

    /* block by block: only the headers read; a shortened file walked as far as it goes */
    primary();
    image("5");
    image("1000000");           /* 2 MB of data, not written: the file ends at its header */
    limit = used;
    reads = 0;
    if (rscd_fits_walk_read(read_file, NULL, used + 700 * BLOCK, NULL) != 3 || reads != 3) {
        printf("FAIL reader: not 3 HDUs in 3 reads (%lu)\n", (unsigned long)reads);
        failures++;
    }
    limit = BLOCK + 80;         /* the second header cut: the walk ends after the first */
    if (rscd_fits_walk_read(read_file, NULL, used, NULL) != 1) {
        printf("FAIL reader: a cut file\n");
        failures++;
    }
    {
        char message[RSCD_FITS_WALK_MESSAGE];
        if (rscd_fits_walk_read(NULL, NULL, used, message) != -1
                || strcmp(message, "no reader given") != 0) {
            printf("FAIL reader: NULL accepted\n");
            failures++;
        }
    }

    printf("ok: %d failure(s)\n", failures);
    return failures;
}
