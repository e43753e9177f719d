/* median.c - rscd_median_mad: medians and median absolute deviations of rows of
 * doubles, the same values numpy.median gives (rscd.h, diagnose section).
 *
 * `rscd diagnose` sets its outlier cut from them (docs/diagnose.rst, "Outliers"):
 * per bin of its pilot samples, the median and the deviation of u and of each
 * measured group's offset, some 700 values a row: 2.3 million values a run. A
 * selection that branches on each comparison (numpy.partition's, or ours at first)
 * took 13 ns a value, its branches mispredicted half the time on such data; the
 * selection below moves values without a branch on them, in about 4 ns.
 * The median is chosen from the values, never computed, except for an even count:
 * the two middle values added and halved, as numpy does, so the values are numpy's
 * (where a row holds 0.0 and -0.0 and the median is zero, its sign is either's). */
#include <math.h>
#include <stdlib.h>

#include "rscd.h"
#include "rscd_internal.h" /* after the system headers: contraction off */

/* Rounds of selection allowed beyond 2 log2(n) before the part left is sorted instead.
 * The C tests build with a negative value, which sends every selection to the sort. */
#ifndef RSCD_SELECT_SPARE_ROUNDS
#define RSCD_SELECT_SPARE_ROUNDS 16
#endif

static int ascending(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void swap(double *v, ptrdiff_t i, ptrdiff_t j)
{
    const double t = v[i];
    v[i] = v[j];
    v[j] = t;
}

/* Moves the values of v[lo .. hi) that are below the pivot (below == 1) or at most
 * the pivot (below == 0) to the front, in one pass without a branch on the values
 * (on random data a branch on each comparison is mispredicted half the time, which
 * made a selection with branches cost 13 ns a value): each value is swapped with the
 * first value not yet moved, and that position advances when it was one to move.
 * Returns the end of the moved values. */
static ptrdiff_t move_front(double *v, ptrdiff_t lo, ptrdiff_t hi, double pivot, int below)
{
    ptrdiff_t s = lo, i;
    for (i = lo; i < hi; i++) {
        const double x = v[i];
        v[i] = v[s];
        v[s] = x;
        s += below ? (x < pivot) : !(pivot < x);
    }
    return s;
}

/* The k-th smallest of v[0 .. n-1] (k from 0; no NaN), v reordered so that every
 * value before position k is at most it. Each round takes the median of three
 * values as the pivot and splits the part holding k into the values below it, those
 * equal to it and those above, keeping the part holding k; every round removes at
 * least the pivot, and many equal values at once. An input that defeats the median
 * of three many times over is sorted instead, so the time stays O(n log n) at worst. */
static double select_kth(double *v, ptrdiff_t n, ptrdiff_t k)
{
    ptrdiff_t lo = 0, hi = n, rounds = RSCD_SELECT_SPARE_ROUNDS;
    ptrdiff_t m;
    for (m = n; m > 1; m /= 2)
        rounds += 2;
    while (hi - lo > 1) {
        const ptrdiff_t mid = lo + (hi - lo) / 2;
        ptrdiff_t below, upto;
        double pivot;
        if (rounds-- <= 0) {
            qsort(v + lo, (size_t)(hi - lo), sizeof *v, ascending);
            break;
        }
        if (v[mid] < v[lo])
            swap(v, mid, lo);
        if (v[hi - 1] < v[lo])
            swap(v, hi - 1, lo);
        if (v[hi - 1] < v[mid])
            swap(v, hi - 1, mid);
        pivot = v[mid];
        below = move_front(v, lo, hi, pivot, 1);
        if (k < below) {
            hi = below;
            continue;
        }
        upto = move_front(v, below, hi, pivot, 0);   /* the pivot's value: below .. upto */
        if (k < upto)
            return pivot;
        lo = upto;
    }
    return v[k];
}

/* numpy.median of v[0 .. n-1] (n >= 1, no NaN), reordering v */
static double median_in_place(double *v, ptrdiff_t n)
{
    const ptrdiff_t k = n / 2;
    const double upper = select_kth(v, n, k);
    double lower;
    ptrdiff_t i;
    if (n % 2 == 1)
        return upper;
    /* the lower middle value: the largest of those before position k */
    lower = v[0];
    for (i = 1; i < k; i++)
        if (v[i] > lower)
            lower = v[i];
    return (lower + upper) / 2.0;
}

/*
 * rscd_median_mad - see rscd.h for the contract.
 */
int rscd_median_mad(const double *values, ptrdiff_t rows, ptrdiff_t n, double *scratch,
                    double *median, double *mad)
{
    ptrdiff_t r, i;
    if (!values || !scratch || !median)
        return RSCD_ERR_NULL;
    if (rows < 0 || n < 1)
        return RSCD_ERR_DIMS;
    for (r = 0; r < rows; r++) {
        const double *row = values + r * n;
        int nan = 0;
        double med;
        for (i = 0; i < n; i++) {
            scratch[i] = row[i];
            nan |= isnan(row[i]) != 0;
        }
        /* numpy's median of values holding a NaN is NaN, and so is its deviation */
        med = nan ? NAN : median_in_place(scratch, n);
        median[r] = med;
        if (!mad)
            continue;
        for (i = 0; i < n; i++) {
            scratch[i] = fabs(row[i] - med);
            nan |= isnan(scratch[i]) != 0;  /* an infinite median: inf - inf */
        }
        mad[r] = nan ? NAN : median_in_place(scratch, n);
    }
    return RSCD_OK;
}
