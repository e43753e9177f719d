/* fitsscan.c - rscd_fits_walk: the first walk over the HDU headers of a FITS file,
 * before astropy reads it (rscd.h, shell section; docs/architecture.rst).
 *
 * astropy loops for ever on a header whose data size is negative: a negative NAXISn,
 * PCOUNT or GCOUNT makes the next HDU "start" before this one. This walk reads only
 * the cards that size the data and refuses what would make a reader loop: every HDU
 * it accepts starts at least one 2880-byte block after the one before, so the walk
 * always ends. Cards are read as Python's int() reads them and the messages are
 * those rscd's readers show, so the Python package only adds the file name. */
#include <stdint.h>
#include <string.h>

#include "rscd.h"

#define BLOCK 2880
#define CARD 80
#define MAX_HDUS 1000
#define MAX_AXES 999
/* Magnitudes are kept up to CAP: beyond it a size is larger than any file. */
#define CAP ((uint64_t)1 << 62)

/* One sizing card's integer: whether and where its card is (its byte in the file, for
 * the message), its sign and its magnitude, at most CAP. */
typedef struct card_int {
    int present;
    size_t at;
    int negative;
    uint64_t magnitude;
} card_int;

/* Where the bytes come from: read(source, offset, block) copies the block at offset. */
typedef struct reader {
    rscd_fits_read read;
    void *source;
} reader;

typedef struct sizing {
    card_int bitpix, naxis, pcount, gcount;
    card_int axis[MAX_AXES + 1]; /* NAXIS1 .. NAXIS999 */
} sizing;

/* Messages are built by hand (no stdio in the core): text appended at out[*n]. */
static void put(char *out, size_t *n, const char *text)
{
    size_t len = strlen(text);
    memcpy(out + *n, text, len + 1);
    *n += len;
}

static void put_number(char *out, size_t *n, size_t value)
{
    char digits[24];
    size_t len = 0;
    do {
        digits[len++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (len)
        out[(*n)++] = digits[--len];
    out[*n] = '\0';
}

static int is_space(unsigned char c) /* Python's bytes.strip() */
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* The value of a card: bytes 10..79 up to the first '/', stripped. */
static void card_text(const unsigned char *card, const unsigned char **text, size_t *len)
{
    const unsigned char *p = card + 10, *end = card + CARD;
    const unsigned char *slash = memchr(p, '/', (size_t)(end - p));

    if (slash)
        end = slash;
    while (p < end && is_space(*p))
        p++;
    while (end > p && is_space(end[-1]))
        end--;
    *text = p;
    *len = (size_t)(end - p);
}

/* Python's int() of the card's text: a sign, then digits with single underscores
 * between them. Returns 0 when it is not an integer; digits (when given, at least
 * CARD bytes) receives the magnitude's digits without leading zeros. */
static int parse_int(const unsigned char *card, card_int *out, char *digits)
{
    const unsigned char *text;
    size_t len, i = 0, ndigits = 0;
    int last_digit = 0;

    card_text(card, &text, &len);
    out->present = 1;
    out->negative = 0;
    out->magnitude = 0;
    if (i < len && (text[i] == '+' || text[i] == '-'))
        out->negative = text[i++] == '-';
    for (; i < len; i++) {
        if (text[i] == '_' && last_digit && i + 1 < len) {
            last_digit = 0;
            continue;
        }
        if (text[i] < '0' || text[i] > '9')
            return 0;
        last_digit = 1;
        if (out->magnitude >= CAP / 10)
            out->magnitude = CAP;
        else
            out->magnitude = out->magnitude * 10 + (uint64_t)(text[i] - '0');
        if (digits && (ndigits || text[i] != '0'))
            digits[ndigits++] = (char)text[i];
    }
    if (!last_digit)
        return 0;
    if (digits) {
        if (!ndigits)
            digits[ndigits++] = '0';
        digits[ndigits] = '\0';
    }
    if (out->magnitude == 0)
        out->negative = 0; /* int("-0") is 0 */
    return 1;
}

/* The keyword of a card as Python's str.rstrip() leaves it (bytes 0..7); non-ASCII
 * bytes stand for U+FFFD, which never matches. */
static size_t keyword(const unsigned char *card)
{
    size_t len = 8;

    while (len && (is_space(card[len - 1]) || (card[len - 1] >= 0x1c && card[len - 1] <= 0x1f)))
        len--;
    return len;
}

static int keyword_is(const unsigned char *card, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(card, name, len) == 0;
}

/* Append the keyword, non-ASCII bytes as U+FFFD in UTF-8, as Python shows it. */
static size_t put_keyword(char *out, const unsigned char *card)
{
    size_t len = keyword(card), n = 0, i;

    for (i = 0; i < len; i++) {
        if (card[i] < 0x80) {
            out[n++] = (char)card[i];
        } else {
            memcpy(out + n, "\xef\xbf\xbd", 3);
            n += 3;
        }
    }
    out[n] = '\0';
    return n;
}

/* repr() of a Python bytes object of at most 20 bytes. */
static void put_bytes_repr(char *out, const unsigned char *text, size_t len)
{
    size_t i, n = 0;
    char quote = memchr(text, '\'', len) && !memchr(text, '"', len) ? '"' : '\'';

    out[n++] = 'b';
    out[n++] = quote;
    for (i = 0; i < len; i++) {
        unsigned char c = text[i];
        if (c == (unsigned char)quote || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c == '\t' || c == '\n' || c == '\r') {
            out[n++] = '\\';
            out[n++] = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
        } else if (c < 0x20 || c >= 0x7f) {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = "0123456789abcdef"[c >> 4];
            out[n++] = "0123456789abcdef"[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    out[n++] = quote;
    out[n] = '\0';
}

/* The refusal of a card whose value is not an integer. */
static void not_integer(char *message, ptrdiff_t hdu, const unsigned char *card)
{
    char key[32], repr[100];
    const unsigned char *text;
    size_t len, n = 0;

    card_text(card, &text, &len);
    put_keyword(key, card);
    put_bytes_repr(repr, text, len < 20 ? len : 20);
    put(message, &n, "HDU ");
    put_number(message, &n, (size_t)hdu);
    put(message, &n, ": header card ");
    put(message, &n, key);
    put(message, &n, " = ");
    put(message, &n, repr);
    put(message, &n, " is not an integer");
}

/* "HDU n: KEY = value " followed by what is wrong; the value's digits as its card
 * spells them (read again), or its magnitude when the file changed meanwhile. */
static void card_problem(char *message, const reader *from, ptrdiff_t hdu, const char *key,
                         const card_int *v, const char *what)
{
    unsigned char block[BLOCK];
    char digits[CARD + 1];
    card_int again;
    size_t n = 0, at = v->at % BLOCK;

    if (from->read(from->source, v->at - at, block) < BLOCK
            || !parse_int(block + at, &again, digits)) {
        size_t d = 0;
        put_number(digits, &d, (size_t)v->magnitude);
    }
    put(message, &n, "HDU ");
    put_number(message, &n, (size_t)hdu);
    put(message, &n, ": ");
    put(message, &n, key);
    put(message, &n, v->negative ? " = -" : " = ");
    put(message, &n, digits);
    put(message, &n, " ");
    put(message, &n, what);
}

static uint64_t mul_capped(uint64_t a, uint64_t b)
{
    if (a == 0 || b == 0)
        return 0;
    return a >= CAP / b + 1 ? CAP : a * b;
}

/* Read the sizing cards of the header at byte start; returns 1 with *data_at the
 * byte after its END card, 0 when no END card comes before the end of the file,
 * -1 after writing a refusal. */
static int read_header(const reader *from, size_t size, size_t start, ptrdiff_t hdu,
                       sizing *s, size_t *data_at, char *message)
{
    unsigned char block[BLOCK];
    size_t pos = start, i;

    memset(s, 0, sizeof *s);
    for (;;) {
        if (size < BLOCK || pos > size - BLOCK || from->read(from->source, pos, block) < BLOCK)
            return 0;
        for (i = 0; i < BLOCK; i += CARD) {
            const unsigned char *card = block + i;
            size_t len = keyword(card);
            card_int value, *slot = NULL;
            if (keyword_is(card, len, "END")) {
                *data_at = pos + BLOCK;
                return 1;
            }
            if (card[8] != '=' || card[9] != ' ')
                continue;
            if (keyword_is(card, len, "BITPIX"))
                slot = &s->bitpix;
            else if (keyword_is(card, len, "PCOUNT"))
                slot = &s->pcount;
            else if (keyword_is(card, len, "GCOUNT"))
                slot = &s->gcount;
            else if (len < 5 || memcmp(card, "NAXIS", 5) != 0)
                continue;       /* not a sizing card */
            else if (len == 5)
                slot = &s->naxis;
            else if (card[5] >= '1' && card[5] <= '9') {
                size_t k = 0, j;
                for (j = 5; j < len && card[j] >= '0' && card[j] <= '9'; j++)
                    k = k * 10 + (size_t)(card[j] - '0');
                if (j == len) /* NAXISk, k = 1 .. 999 (8 bytes at most) */
                    slot = &s->axis[k];
            }
            if (!parse_int(card, &value, NULL)) {
                not_integer(message, hdu, card);
                return -1;
            }
            value.at = pos + i;
            if (slot)
                *slot = value; /* a later card of the same keyword wins */
        }
        pos += BLOCK;
    }
}

/* The reader of a file held in memory. */
typedef struct memory {
    const unsigned char *bytes;
    size_t size;
} memory;

static size_t read_memory(void *source, size_t offset, unsigned char *block)
{
    const memory *m = (const memory *)source;
    size_t n = offset < m->size ? m->size - offset : 0;

    n = n < BLOCK ? n : BLOCK;
    if (n)
        memcpy(block, m->bytes + offset, n);
    return n;
}

ptrdiff_t rscd_fits_walk(const unsigned char *bytes, size_t size, char *message)
{
    memory m;

    if (!bytes && size) {
        if (message)
            strcpy(message, "no bytes given");
        return -1;
    }
    m.bytes = bytes;
    m.size = size;
    return rscd_fits_walk_read(read_memory, &m, size, message);
}

ptrdiff_t rscd_fits_walk_read(rscd_fits_read read, void *source, size_t size, char *message)
{
    sizing s; /* filled by read_header */
    size_t pos = 0, data_at = 0, k;
    ptrdiff_t count = 0;
    char text[RSCD_FITS_WALK_MESSAGE];
    reader from;

    if (!message)
        message = text;
    message[0] = '\0';
    if (!read) {
        strcpy(message, "no reader given");
        return -1;
    }
    from.read = read;
    from.source = source;
    while (pos < size) {
        uint64_t naxis, values, nbytes, blocks;
        int found;
        if (count == MAX_HDUS) {
            strcpy(message, "more than 1000 HDUs"); /* MAX_HDUS */
            return -1;
        }
        found = read_header(&from, size, pos, count, &s, &data_at, message);
        if (found < 0)
            return -1;
        if (found == 0) {
            if (count == 0) {
                size_t n = 0;
                put(message, &n, "HDU 0: no END card before byte ");
                put_number(message, &n, size);
                return -1;
            }
            break; /* no complete header left: nothing a reader could loop on */
        }
        /* NAXIS, PCOUNT, GCOUNT, then NAXIS1 .. NAXISn: the first negative one */
        {
            static const char *names[3] = {"NAXIS", "PCOUNT", "GCOUNT"};
            const card_int *cards[3];
            int c;
            cards[0] = &s.naxis;
            cards[1] = &s.pcount;
            cards[2] = &s.gcount;
            for (c = 0; c < 3; c++) {
                if (cards[c]->present && cards[c]->negative) {
                    card_problem(message, &from, count, names[c], cards[c], "is negative");
                    return -1;
                }
            }
        }
        naxis = s.naxis.present && !s.naxis.negative ? s.naxis.magnitude : 0;
        for (k = 1; k <= MAX_AXES && k <= naxis; k++) {
            if (s.axis[k].present && s.axis[k].negative) {
                char key[32] = "NAXIS";
                size_t n = 5;
                put_number(key, &n, k);
                card_problem(message, &from, count, key, &s.axis[k], "is negative");
                return -1;
            }
        }
        if (naxis > MAX_AXES) {
            card_problem(message, &from, count, "NAXIS", &s.naxis, "is larger than 999");
            return -1;
        }
        values = naxis ? 1 : 0;
        for (k = 1; k <= naxis; k++)
            values = mul_capped(values, s.axis[k].present ? s.axis[k].magnitude : 0);
        /* |BITPIX| / 8 * GCOUNT * (PCOUNT + values), GCOUNT 1 and BITPIX 8 when absent */
        nbytes = mul_capped(s.bitpix.present ? s.bitpix.magnitude / 8 : 1,
                            s.gcount.present ? s.gcount.magnitude : 1);
        values += s.pcount.present ? s.pcount.magnitude : 0;
        nbytes = mul_capped(nbytes, values < CAP ? values : CAP);
        count++;
        blocks = nbytes / BLOCK + (nbytes % BLOCK != 0);
        if (blocks > (size - data_at) / BLOCK)
            break; /* the next HDU would start past the end of the bytes */
        pos = data_at + (size_t)blocks * BLOCK;
    }
    return count;
}
