/*
 * rscd.h - MIRI reset switch charge decay (RSCD) correction on raw ramp buffers.
 *
 * Plain C99, no Python, no global state, no I/O: every function may be called
 * from several threads at once as long as the arrays they are given differ.
 *
 * Array contract (JWST RampModel layout, C order, no padding):
 *
 *   data    SCI     float32 [nints][ngroups][nrows][ncols]   DN
 *   groupdq GROUPDQ uint8   [nints][ngroups][nrows][ncols]   bit flags per group
 *   pixeldq PIXELDQ uint32  [nrows][ncols]                   bit flags per pixel
 *
 *   element (i, g, y, x) of a cube is at  ((i*ngroups + g)*nrows + y)*ncols + x
 *   element (y, x) of PIXELDQ is at       y*ncols + x
 *
 * SCI may be stored in the opposite byte order of the host (a memory-mapped
 * FITS cube is big-endian); set rscd_ramp.data_byteorder to RSCD_SWAPPED and the
 * core reads and writes the values where they lie, swapping each one on load
 * and store, instead of needing a native copy of the cube.
 *
 * Every argument is validated before the first write: a call that returns a
 * negative status has left all arrays untouched.
 */
#ifndef RSCD_H
#define RSCD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(RSCD_BUILD_DLL)
#define RSCD_API __declspec(dllexport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define RSCD_API __attribute__((visibility("default")))
#else
#define RSCD_API
#endif

/* The one version source: setup.py and the Python package read these lines. */
#define RSCD_VERSION_MAJOR 0
#define RSCD_VERSION_MINOR 2
#define RSCD_VERSION_PATCH 0

/* Largest number of groups rscd_flag_range flags, a bound of the API (MIRI ramps
 * have at most a few hundred groups); a larger skip that survives the clamping of
 * rscd_flag is RSCD_ERR_SKIP. */
#define RSCD_MAX_SKIP 65534

/* Status codes. 0 is success, negative an error (nothing was changed),
 * positive a skip or a warning that still lets the caller use the result. */
enum rscd_status {
    RSCD_OK = 0,
    RSCD_SKIP_FEW_GROUPS = 1,      /* too few groups: nothing changed */
    RSCD_WARN_NO_SKIP1 = 2,        /* flag: skip_int1 < 0 (deprecated reference form), 1 used */
    RSCD_INFO_ONE_INT = 3,         /* decay: a single integration, nothing to correct */
    RSCD_INFO_FIRST_INT_LEFT = 4,  /* decay: segment without its previous integration; first
                                      integration of the buffer left as it is */
    RSCD_ERR_NULL = -1,            /* a required pointer is NULL */
    RSCD_ERR_DIMS = -2,            /* a dimension is negative or the cube size overflows */
    RSCD_ERR_RANGE = -3,           /* integration_start / nints_exposure / first_row invalid */
    RSCD_ERR_SKIP = -4,            /* flag: skip_int2p < 0 */
    RSCD_ERR_COEFFS = -5,          /* decay: tau or param3 not finite and positive */
    RSCD_ERR_NOMEM = -6,           /* scratch memory could not be allocated */
    RSCD_ERR_BYTEORDER = -7,       /* data_byteorder is neither RSCD_NATIVE nor RSCD_SWAPPED */
    RSCD_ERR_PARAMS = -8,          /* rscd_params.struct_size is not the size of a layout
                                      this library knows (see rscd_params) */
    RSCD_ERR_STRUCT = -9,          /* another struct's struct_size is 0 (struct not
                                      initialised) or not the size of a layout this
                                      library knows: fill it with its RSCD_..._INIT */
    RSCD_ERR_MODEL = -10           /* measured: a model with a NULL array, a negative
                                      length or window start, or a non-finite a or b */
};

/* Byte order of SCI relative to the host. */
enum rscd_byteorder {
    RSCD_NATIVE = 0,
    RSCD_SWAPPED = 1
};

/* ABI rule, for every struct of this header. Its first field is struct_size:
 * fill the struct with its init macro (RSCD_RAMP_INIT(&r), RSCD_PARAMS_INIT(&p),
 * RSCD_FLAG_STATS_INIT(&s), ...) before setting any field. The macro records the
 * size of the layout the caller was compiled with and sets every field to its
 * default. Versions only ever append fields, and each version that appends makes
 * the struct larger on every platform. A library given a struct whose
 * struct_size is
 *   - the size of a layout it knows (its own or an older, smaller one): reads or
 *     writes that layout's fields only; fields appended after it take their
 *     defaults;
 *   - 0 (a struct zero-initialised, never given to its init) or any other size
 *     (a newer header's layout): refuses the call before anything is written,
 *     with RSCD_ERR_PARAMS for rscd_params and RSCD_ERR_STRUCT for the others.
 * The init functions write only the first `size` bytes, so a library newer than
 * the caller's header never writes past the caller's struct. (A struct never
 * initialised at all holds garbage, which no library can tell from a size: use
 * the macros.) Before 1.0 a minor version may change layouts incompatibly; the
 * shared library's soname then changes with it (0.MINOR). */

/* A view of one file's (or one segment's) ramp data; the caller owns every buffer.
 * RSCD_RAMP_INIT sets the pointers to NULL, the dimensions to 0 and the exposure
 * fields to their defaults (native SCI, integration_start 1, nints_exposure 0,
 * first_row 1). Layouts: 1 = struct_size .. first_row. */
typedef struct rscd_ramp {
    size_t struct_size;          /* sizeof the caller's rscd_ramp; set by rscd_ramp_init */
    float *data;                 /* SCI [nints][ngroups][nrows][ncols], DN; only read or written
                                    by rscd_decay (rscd_flag accepts NULL) */
    uint8_t *groupdq;            /* GROUPDQ [nints][ngroups][nrows][ncols]; changed by rscd_flag */
    uint32_t *pixeldq;           /* PIXELDQ [nrows][ncols]; changed by rscd_flag */
    ptrdiff_t nints;             /* integrations held in these buffers */
    ptrdiff_t ngroups;           /* groups per integration */
    ptrdiff_t nrows;             /* rows (y) */
    ptrdiff_t ncols;             /* columns (x) */
    int data_byteorder;          /* RSCD_NATIVE or RSCD_SWAPPED: byte order of SCI */
    ptrdiff_t integration_start; /* 1-based exposure number of integration 0 here (INTSTART) */
    ptrdiff_t nints_exposure;    /* integrations in the whole exposure (NINTS); 0 means
                                    integration_start - 1 + nints. Used as given, as jwst
                                    3.0.0 does: it may be smaller than the integrations
                                    held (only whether it is > 1 matters); < 0 is
                                    RSCD_ERR_RANGE */
    ptrdiff_t first_row;         /* 1-based detector row of array row 0 (SUBSTRT2) */
} rscd_ramp;

/* Settings shared by both methods; filled with RSCD_PARAMS_INIT(&p) (the ABI
 * rule above; common.c checks at compile time that each layout grows).
 *
 * Layouts: 1 = struct_size .. nthreads; 2 = layout 1 + use_vector. */
typedef struct rscd_params {
    size_t struct_size;          /* sizeof the caller's rscd_params; set by rscd_params_init */
    uint8_t dq_do_not_use;       /* GROUPDQ DO_NOT_USE bit (JWST: 1) */
    uint8_t dq_saturated;        /* GROUPDQ SATURATED bit (JWST: 2) */
    uint32_t dq_flux_estimated;  /* PIXELDQ FLUX_ESTIMATED bit (JWST: 2**28) */
    uint32_t dq_reference_pixel; /* PIXELDQ REFERENCE_PIXEL bit (JWST: 2**31) */
    int nthreads;                /* OpenMP threads; <= 0: the OpenMP default. Results never
                                    depend on it; ignored when built without OpenMP */
    /* ---- layout 2 ---- */
    int use_vector;              /* nonzero (default): the AVX2 code runs where the build and
                                    the CPU have it; 0: the portable C only. Results are
                                    the same either way (the tests check) */
} rscd_params;

/* What rscd_flag did (docs/overview.rst, "Method flag", rule 9); -1 where the rule
 * did not run. Filled by the library; the caller initialises it with
 * RSCD_FLAG_STATS_INIT(&s) so that struct_size says what may be written. */
typedef struct rscd_flag_stats {
    size_t struct_size;                     /* set by rscd_flag_stats_init */
    ptrdiff_t ngroups_skip_int1;            /* final skip of integration 1 (INT1SKIP) */
    ptrdiff_t ngroups_skip_int2p;           /* final skip of integrations 2+ (INT2SKIP) */
    ptrdiff_t keep_bright_firstgroup_int1;  /* pixels left with group 0 only (INT1UGP1) */
    ptrdiff_t keep_bright_firstgroup_int2p; /* (INT2UGP1) */
    ptrdiff_t keep_groups_saturation_int1;  /* pixels backed off for saturation (INT1BORS) */
    ptrdiff_t keep_groups_saturation_int2p; /* (INT2BORS) */
} rscd_flag_stats;

/* The 14 decay parameters of one row parity (the seed-era RSCD table).
 * RSCD_DECAY_COEFFS_INIT sets every parameter to 0 (tau and param3 must then be set). */
typedef struct rscd_decay_coeffs {
    size_t struct_size;  /* set by rscd_decay_coeffs_init */
    double tau;          /* e-folding of the decay, in groups; finite, > 0 */
    double ascale;       /* amplitude scale */
    double pow;          /* power of the signal above crossopt */
    double illum_zp;     /* amplitude vs ngroups: zero point */
    double illum_slope;  /*   linear term */
    double illum2;       /*   quadratic term */
    double param3;       /* signal scale of the 1/(exp(c/param3)-1) roll-off; finite, > 0 */
    double crossopt;     /* signal (DN) below which nothing is corrected */
    double sat_zp;       /* saturated branch vs ngroups: zero point */
    double sat_slope;    /*   linear term */
    double sat_2;        /*   quadratic term */
    double sat_mzp;      /*   amplitude offset */
    double sat_rowterm;  /*   row term added to sat_final */
    double sat_scale;    /*   scale of the fitted signal */
} rscd_decay_coeffs;

/* The previous integration of a segmented exposure (the last integration of
 * the previous segment file), uncorrected, native byte order.
 * RSCD_PREV_INT_INIT sets both pointers to NULL. */
typedef struct rscd_prev_int {
    size_t struct_size;      /* set by rscd_prev_int_init */
    const float *data;       /* SCI [ngroups][nrows][ncols], DN */
    const uint8_t *groupdq;  /* GROUPDQ [ngroups][nrows][ncols] */
} rscd_prev_int;

/* What rscd_decay did. Counts are of (integration, pixel) pairs. Initialise with
 * RSCD_DECAY_STATS_INIT(&s), as rscd_flag_stats. */
typedef struct rscd_decay_stats {
    size_t struct_size;            /* set by rscd_decay_stats_init */
    ptrdiff_t nints_corrected;     /* integrations of the buffer that received a correction */
    ptrdiff_t first_int_left;      /* 1 when integration 0 was left uncorrected (segment
                                      without rscd_prev_int), else 0 */
    ptrdiff_t npix_corrected;      /* pairs that received a finite, non-zero correction */
    ptrdiff_t npix_saturated;      /* of those, pairs corrected by the saturated branch */
    ptrdiff_t npix_nonfinite;      /* pairs left alone because a term was not finite */
} rscd_decay_stats;

/*
 * rscd_version - the library version as "MAJOR.MINOR.PATCH".
 *
 * Returned (function value): a static string.
 */
RSCD_API const char *rscd_version(void);

/*
 * rscd_strerror - a static, human-readable message for a status code.
 *
 * Given:    status  int  a value returned by a function of this library
 * Returned (function value): a static string (never NULL)
 */
RSCD_API const char *rscd_strerror(int status);

/*
 * rscd_params_init - fill a rscd_params with its defaults: the JWST DQ bits,
 *                    nthreads = 0, use_vector = 1, struct_size = size.
 *
 * Given and returned:
 *   params  rscd_params*  the caller's struct; only its first `size` bytes are written
 * Given:
 *   size    size_t        sizeof the caller's rscd_params (RSCD_PARAMS_INIT passes it)
 * Returned (function value):
 *   RSCD_OK, RSCD_ERR_NULL (params is NULL), RSCD_ERR_PARAMS (size is not the size
 *   of a layout this library knows; nothing written)
 * Notes:
 *   See the ABI rule at rscd_params. Use the macro RSCD_PARAMS_INIT(&p), which
 *   passes sizeof p, so the size always matches the struct being filled.
 */
RSCD_API int rscd_params_init(rscd_params *params, size_t size);

/* rscd_params_init with the size of the struct given. */
#define RSCD_PARAMS_INIT(params) rscd_params_init((params), sizeof *(params))

/*
 * rscd_ramp_init, rscd_flag_stats_init, rscd_decay_stats_init,
 * rscd_decay_coeffs_init, rscd_prev_int_init - fill a struct with its defaults
 *                  (see each struct) and struct_size = size.
 *
 * Given and returned:
 *   s       the caller's struct; only its first `size` bytes are written
 * Given:
 *   size    size_t  sizeof the caller's struct (the RSCD_..._INIT macros pass it)
 * Returned (function value):
 *   RSCD_OK, RSCD_ERR_NULL (s is NULL), RSCD_ERR_STRUCT (size is not the size of a
 *   layout this library knows; nothing written)
 * Notes:
 *   The ABI rule above rscd_ramp. Use the macros, which pass sizeof the struct.
 */
RSCD_API int rscd_ramp_init(rscd_ramp *ramp, size_t size);
RSCD_API int rscd_flag_stats_init(rscd_flag_stats *stats, size_t size);
RSCD_API int rscd_decay_stats_init(rscd_decay_stats *stats, size_t size);
RSCD_API int rscd_decay_coeffs_init(rscd_decay_coeffs *coeffs, size_t size);
RSCD_API int rscd_prev_int_init(rscd_prev_int *prev, size_t size);

#define RSCD_RAMP_INIT(ramp) rscd_ramp_init((ramp), sizeof *(ramp))
#define RSCD_FLAG_STATS_INIT(stats) rscd_flag_stats_init((stats), sizeof *(stats))
#define RSCD_DECAY_STATS_INIT(stats) rscd_decay_stats_init((stats), sizeof *(stats))
#define RSCD_DECAY_COEFFS_INIT(coeffs) rscd_decay_coeffs_init((coeffs), sizeof *(coeffs))
#define RSCD_PREV_INT_INIT(prev) rscd_prev_int_init((prev), sizeof *(prev))

/*
 * rscd_flag_range - flag one range of integrations with one skip value
 *                   (docs/overview.rst, "Method flag", rules 7 and 8).
 *
 * Given and returned:
 *   ramp      const rscd_ramp*   groupdq and pixeldq are changed (data is not used)
 * Given:
 *   int_first ptrdiff_t          first integration index of the range (0-based)
 *   int_count ptrdiff_t          integrations in the range (0 is an empty range)
 *   skip      ptrdiff_t          groups to flag DO_NOT_USE, >= 0, skip + 1 < ngroups,
 *                                <= RSCD_MAX_SKIP
 *   params    const rscd_params* DQ bits and threads
 * Returned:
 *   backed_off ptrdiff_t*        pixels backed off for saturation (may be NULL)
 *   one_group  ptrdiff_t*        pixels left with group 0 only (may be NULL)
 * Returned (function value):
 *   RSCD_OK, RSCD_ERR_NULL, RSCD_ERR_PARAMS (struct_size unknown), RSCD_ERR_STRUCT
 *   (ramp not initialised), RSCD_ERR_DIMS,
 *   RSCD_ERR_RANGE (range outside the buffer), RSCD_ERR_SKIP (skip < 0 or
 *   skip + 1 >= ngroups)
 * Notes:
 *   The back-off visits group levels skip+1, skip, ..., 1 and stops at the first
 *   level where no (integration, pixel) of the whole range is a problem
 *   (SATURATED at that level, not SATURATED in group 0). Scratch is about 17 KB
 *   of stack per thread; nothing is allocated.
 */
RSCD_API int rscd_flag_range(const rscd_ramp *ramp, ptrdiff_t int_first, ptrdiff_t int_count,
                             ptrdiff_t skip, const rscd_params *params,
                             ptrdiff_t *backed_off, ptrdiff_t *one_group);

/*
 * rscd_flag - the `flag` method of the current JWST pipeline (docs/overview.rst,
 *             "Method flag").
 *
 * Given and returned:
 *   ramp        const rscd_ramp*   groupdq and pixeldq are changed (data is not used)
 * Given:
 *   skip_int1   ptrdiff_t          groups to flag in integration 1 (reference
 *                                  group_skip1); < 0: column absent, 1 is used
 *   skip_int2p  ptrdiff_t          groups to flag in integrations 2+ (group_skip), >= 0
 *   params      const rscd_params* DQ bits and threads
 * Returned:
 *   stats       rscd_flag_stats*   the six statistics, -1 where not set
 * Returned (function value):
 *   RSCD_OK, RSCD_WARN_NO_SKIP1 (done, with skip_int1 = 1),
 *   RSCD_SKIP_FEW_GROUPS (ngroups < 3, nothing changed), or an error.
 * Notes:
 *   Integration 1 of the exposure is flagged only when integration_start == 1;
 *   integrations 2+ only when the exposure has more than one integration
 *   (nints_exposure > 1, whatever the integrations held). Which ranges get which
 *   skip is rscd_flag_plan_make's answer (the plan section below); both ranges
 *   are checked and their back-off stops found before anything is written.
 */
RSCD_API int rscd_flag(const rscd_ramp *ramp, ptrdiff_t skip_int1, ptrdiff_t skip_int2p,
                       const rscd_params *params, rscd_flag_stats *stats);

/* Fewest groups rscd_decay works on: L needs groups N-3 and N-2, the fit groups
 * 1 .. N-2 (docs/overview.rst, "Method decay"). */
#define RSCD_DECAY_MIN_GROUPS 4

/*
 * rscd_decay - the decay correction of the 2019 pipeline (docs/overview.rst,
 *              "Method decay").
 *
 * Given and returned:
 *   ramp    const rscd_ramp*          data is changed; groupdq and pixeldq only read
 * Given:
 *   even    const rscd_decay_coeffs*  parameters for even detector rows
 *   odd     const rscd_decay_coeffs*  parameters for odd detector rows
 *                                     (parity of first_row + y, 1-based)
 *   prev    const rscd_prev_int*      previous integration of a segmented exposure, used
 *                                     to correct integration 0; NULL when there is none
 *   params  const rscd_params*        DQ bits and threads
 * Returned:
 *   stats   rscd_decay_stats*
 * Returned (function value):
 *   RSCD_OK, RSCD_SKIP_FEW_GROUPS (ngroups < RSCD_DECAY_MIN_GROUPS), RSCD_INFO_ONE_INT (one integration
 *   and no prev: nothing to correct), RSCD_INFO_FIRST_INT_LEFT (integration_start > 1
 *   without prev: integrations 1+ corrected, 0 left), or an error.
 * Notes:
 *   Every correction is computed from the uncorrected previous integration.
 *   Computation is in double precision; results are stored as float32 in the
 *   buffer's byte order. Pixels where L is 0 or any term is not finite get nothing.
 */
RSCD_API int rscd_decay(const rscd_ramp *ramp, const rscd_decay_coeffs *even,
                        const rscd_decay_coeffs *odd, const rscd_prev_int *prev,
                        const rscd_params *params, rscd_decay_stats *stats);

/*
 * rscd_flag_range_stop - rscd_flag_range with the back-off stop level given
 *                        (appended in 0.1: for callers that split a range into
 *                        blocks of pixels, such as rscd.dask).
 *
 * Given and returned:
 *   ramp      const rscd_ramp*   groupdq and pixeldq are changed (data is not used)
 * Given:
 *   int_first, int_count, skip, params   as for rscd_flag_range
 *   stop      ptrdiff_t          the level at which the back-off of the whole range
 *                                stopped: the first of skip+1, skip, ..., 1 with no
 *                                problem anywhere in the range, 0 when every level had
 *                                one; 0 <= stop <= skip + 1 (skip + 1: no back-off)
 * Returned:
 *   backed_off, one_group        as for rscd_flag_range, counted over this buffer
 * Returned (function value):
 *   as rscd_flag_range; RSCD_ERR_RANGE also for stop outside 0..skip+1.
 * Notes:
 *   The back-off stop is global over a range (docs/overview.rst, "Method flag", rule
 *   7), so a block of the pixels of a range cannot find it alone: the caller ORs
 *   rscd_flag_problem_levels over all blocks and derives stop with
 *   rscd_flag_stop_level (the plan section). Given the stop, every pixel is independent:
 *   the blocks' results are those of one call on the whole range, and their counts
 *   add up to its counts (pixels are disjoint).
 */
RSCD_API int rscd_flag_range_stop(const rscd_ramp *ramp, ptrdiff_t int_first,
                                  ptrdiff_t int_count, ptrdiff_t skip, ptrdiff_t stop,
                                  const rscd_params *params, ptrdiff_t *backed_off,
                                  ptrdiff_t *one_group);

/* ---- the plan of rscd_flag (which groups, the back-off stop) ---- */

/* Fewest groups rscd_flag works on (docs/overview.rst, "Method flag", rule 2). */
#define RSCD_FLAG_MIN_GROUPS 3

/* What rscd_flag will do to a ramp, decided from its numbers alone
 * (docs/overview.rst, "Method flag", rules 1-6): the one statement of those rules,
 * for callers that report them (rscd.apply) or split the work into blocks of
 * pixels (rscd.dask). Initialise with RSCD_FLAG_PLAN_INIT(&plan) (the ABI rule
 * above rscd_ramp); rscd_flag_plan_make fills the rest.
 * Layouts: 1 = struct_size .. int2p_skip. */
typedef struct rscd_flag_plan {
    size_t struct_size;      /* set by rscd_flag_plan_init */
    int no_skip1;            /* rule 1: skip_int1 < 0 (reference without group_skip1),
                                1 used: warn that the reference is of a deprecated form */
    int too_few_groups;      /* rule 2: ngroups < RSCD_FLAG_MIN_GROUPS: nothing to do */
    int has_int1;            /* rule 5 runs: integration 1 of the exposure is index 0 */
    ptrdiff_t int1_first;    /* its range (0, 1) and final skip (INT1SKIP) */
    ptrdiff_t int1_count;
    ptrdiff_t int1_skip;
    int has_int2p;           /* rule 6 runs: integrations 2+ (nints_exposure > 1) */
    ptrdiff_t int2p_first;   /* first index, count (possibly 0) and final skip (INT2SKIP) */
    ptrdiff_t int2p_count;
    ptrdiff_t int2p_skip;
} rscd_flag_plan;

/* rscd_flag_plan_init - an empty plan (nothing runs), struct_size = size; as
 * rscd_ramp_init. */
RSCD_API int rscd_flag_plan_init(rscd_flag_plan *plan, size_t size);
#define RSCD_FLAG_PLAN_INIT(plan) rscd_flag_plan_init((plan), sizeof *(plan))

/*
 * rscd_flag_plan_make - rules 1-6 of the `flag` method: which integrations get
 *                       which skip.
 *
 * Given:
 *   ramp        const rscd_ramp*   dimensions and exposure fields (buffers not read)
 *   skip_int1   ptrdiff_t          as for rscd_flag (< 0: column absent)
 *   skip_int2p  ptrdiff_t          as for rscd_flag, >= 0
 * Returned:
 *   plan        rscd_flag_plan*    initialised by the caller; filled
 * Returned (function value):
 *   what rscd_flag would return before flagging: RSCD_OK, RSCD_WARN_NO_SKIP1,
 *   RSCD_SKIP_FEW_GROUPS (plan->no_skip1 may be set too), or the error rscd_flag
 *   would refuse the call with (nothing filled then).
 */
RSCD_API int rscd_flag_plan_make(const rscd_ramp *ramp, ptrdiff_t skip_int1,
                                 ptrdiff_t skip_int2p, rscd_flag_plan *plan);

/*
 * rscd_flag_problem_levels - the part of the back-off stop (rule 7) one block of
 *                            pixels can answer alone.
 *
 * Given:
 *   ramp      const rscd_ramp*   groupdq is read (a block of pixels of the ramp, or all)
 *   int_first, int_count, skip, params   a range of the plan, as for rscd_flag_range
 * Given and returned:
 *   problem   uint8_t*           [skip + 1]; problem[L - 1] is set to 1 when some
 *                                (integration, pixel) of the range has SATURATED in
 *                                group L and not in group 0 (L = 1 .. skip + 1); entries
 *                                are only ever set, never cleared
 * Returned (function value):
 *   RSCD_OK or an error as rscd_flag_range (nothing written then)
 * Notes:
 *   Call it on every block with the same zeroed array (or OR the blocks' arrays
 *   together): the result is that of the whole range, and rscd_flag_stop_level
 *   turns it into the stop to give rscd_flag_range_stop for every block.
 */
RSCD_API int rscd_flag_problem_levels(const rscd_ramp *ramp, ptrdiff_t int_first,
                                      ptrdiff_t int_count, ptrdiff_t skip,
                                      const rscd_params *params, uint8_t *problem);

/*
 * rscd_flag_stop_level - the back-off stop of a range from its problem levels.
 *
 * Given:
 *   problem   const uint8_t*     [skip + 1], as rscd_flag_problem_levels leaves it
 *   skip      ptrdiff_t          >= 0
 * Returned (function value):
 *   the first level of skip+1, skip, ..., 1 whose entry is 0; 0 when every level
 *   had a problem; -1 when problem is NULL or skip < 0
 */
RSCD_API ptrdiff_t rscd_flag_stop_level(const uint8_t *problem, ptrdiff_t skip);

/* (end of the plan section) */

/* ---- rscd_diagnose: the measurement kernel of `rscd diagnose` ---- */

/* Number of sums kept per (stripe, row parity, measured group): n, sum z, sum u,
 * sum o, sum z*u, sum z*o (docs/diagnose.rst, "The estimator"). */
#define RSCD_DIAG_SUMS 6

/* Every struct of this section follows the ABI rule above rscd_ramp: fill it with
 * its RSCD_DIAG_..._INIT macro before setting any field. Layouts: 1 (the only one
 * so far) = every field below. */

/* The outlier cut of one row parity (docs/diagnose.rst, "Outliers"): bins of the
 * instrument z (a sample is in bin b when b edges are below z, as numpy's
 * searchsorted), and per bin the centre and half-width of the accepted slope u and
 * of each measured group's offset. In a bright bin u and the offsets are compared
 * scaled by zmed / z. RSCD_DIAG_CLIP_INIT: nbins 1, every pointer NULL. */
typedef struct rscd_diag_clip {
    size_t struct_size;            /* set by rscd_diag_clip_init */
    ptrdiff_t nbins;               /* >= 1 */
    const double *edges;           /* nbins - 1, ascending (NULL when nbins == 1) */
    const unsigned char *bright;   /* nbins */
    const double *zmed;            /* nbins */
    const double *u_centre;        /* nbins */
    const double *u_half;          /* nbins */
    const double *o_centre;        /* nbins x nmeasured, row-major */
    const double *o_half;          /* nbins x nmeasured */
} rscd_diag_clip;

/* One block of rows of one integration to measure. Groups are counted from 0; the
 * late window is groups window_start .. ngroups-2, the measured groups are
 * 0 .. window_start-1 and ngroups-1 (nmeasured = window_start + 1).
 * RSCD_DIAG_BLOCK_INIT: pointers NULL, native SCI, ystart 1, stripes 1, the rest 0. */
typedef struct rscd_diag_block {
    size_t struct_size;            /* set by rscd_diag_block_init */
    const float *sci;              /* (ngroups, ny, nx) of one integration, C order */
    int sci_byteorder;             /* RSCD_NATIVE or RSCD_SWAPPED (big-endian FITS map) */
    const uint8_t *groupdq;        /* (ngroups, ny, nx) */
    const uint32_t *pixeldq;       /* (ny, nx) */
    ptrdiff_t ngroups, ny, nx;
    ptrdiff_t row_first, row_count;  /* the rows measured */
    ptrdiff_t ystart;              /* 1-based detector row of array row 0 (parity) */
    ptrdiff_t window_start;        /* w: 1 <= w <= ngroups - 5 */
    int halves;                    /* 1: u and the offsets from the window's first half,
                                      z from its second half; 0: the whole window's line,
                                      z the pixel's mean slope in its other integrations */
    const double *pixel_slope_sum;    /* (ny, nx), halves == 0 in the sums pass */
    const double *pixel_slope_count;  /* (ny, nx) */
    const rscd_diag_clip *clip[2];    /* odd rows, even rows; NULL: no cut */
    ptrdiff_t stripes;             /* row stripes of the whole frame (bootstrap units) */
    /* Where sci and groupdq hold the rows: plane_stride 0 (the default) means whole
     * frames, group g of array row y at g * ny * nx + y * nx. plane_stride > 0 means a
     * buffer of rows data_row_first ... (a block read from a file): group g of row y
     * at g * plane_stride + (y - data_row_first) * nx; it must hold the rows measured. */
    ptrdiff_t data_row_first;
    ptrdiff_t plane_stride;
    /* Sums pass, optional: each sample's verdict from the slopes pass of the same rows
     * (rscd_diag_out.sample_ok), row_count x nx bytes, sample (y, x) at
     * (y - row_first) * nx + x. Given, GROUPDQ is not read (groupdq may be NULL): the
     * verdict already holds it, and the sums are the same bits. NULL (the default):
     * GROUPDQ is read. */
    const uint8_t *sample_ok;
} rscd_diag_block;

/* What a block adds to. Slopes pass: sums == NULL; each used sample's whole-window
 * slope is added to pixel_slope_sum and 1 to pixel_slope_count. Sums pass: sums
 * (stripes, 2, nmeasured, RSCD_DIAG_SUMS; parity 0 = odd detector rows) and
 * slope_hist (slope_bins counts of asinh(slope / slope_unit) over +-slope_span, bin
 * centres at -span + k * 2 span / bins, rounded half to even) are added to.
 * RSCD_DIAG_OUT_INIT: pointers NULL, numbers 0. */
typedef struct rscd_diag_out {
    size_t struct_size;            /* set by rscd_diag_out_init */
    double *sums;
    int64_t *slope_hist;
    ptrdiff_t slope_bins;
    double slope_span, slope_unit;
    double *pixel_slope_sum;
    double *pixel_slope_count;
    ptrdiff_t used;                /* set: samples of the block passing the DQ tests */
    /* Slopes pass only, optional: set to 1 for each sample used (its PIXELDQ, its
     * GROUPDQ and the window's values pass), else 0; row_count x nx bytes, laid out as
     * rscd_diag_block.sample_ok, for the sums pass of the same rows. */
    uint8_t *sample_ok;
    /* Sums pass only, optional: each sample's values before the outlier cut, in 2 +
     * nmeasured planes of row_count x nx doubles: u, z, then the offset of each
     * measured group; sample (y, x) of plane q at (q * row_count + y - row_first) * nx
     * + x. u is NaN where the sample is not used (its DQ, a value not finite, no other
     * usable integration of its pixel). The pilot's clip tables (docs/diagnose.rst,
     * "Outliers") are made of them. */
    double *samples;
} rscd_diag_out;

/* rscd_diag_clip_init, rscd_diag_block_init, rscd_diag_out_init - fill a struct
 * with its defaults (see each struct) and struct_size = size; as rscd_ramp_init:
 * RSCD_OK, RSCD_ERR_NULL, RSCD_ERR_STRUCT (size unknown; nothing written). */
RSCD_API int rscd_diag_clip_init(rscd_diag_clip *clip, size_t size);
RSCD_API int rscd_diag_block_init(rscd_diag_block *block, size_t size);
RSCD_API int rscd_diag_out_init(rscd_diag_out *out, size_t size);

#define RSCD_DIAG_CLIP_INIT(clip) rscd_diag_clip_init((clip), sizeof *(clip))
#define RSCD_DIAG_BLOCK_INIT(block) rscd_diag_block_init((block), sizeof *(block))
#define RSCD_DIAG_OUT_INIT(out) rscd_diag_out_init((out), sizeof *(out))

/* rscd_diagnose_block: the per-sample measurement of `rscd diagnose` on a block.
 * A sample (one pixel of the integration) is used when its PIXELDQ has neither
 * DO_NOT_USE nor REFERENCE_PIXEL, none of its groups has SATURATED, JUMP_DET or
 * AD_FLOOR (64), none but the first and the last has DO_NOT_USE (which jwst's
 * firstframe and lastframe steps set there in every pixel), and all its values are
 * finite; in the sums pass
 * with halves == 0 also
 * when its pixel has another usable integration. Nothing is allocated for the cube
 * and SCI is only read. Row stripes are computed one per thread, each in row order,
 * so the results do not depend on the number of threads (rscd_threads of params;
 * params may be NULL: one thread). Every argument is checked before out is written.
 * Returns RSCD_OK, RSCD_ERR_NULL, RSCD_ERR_PARAMS, RSCD_ERR_STRUCT (block, out or a
 * clip given not initialised by its init macro), RSCD_ERR_DIMS, RSCD_ERR_RANGE
 * (rows, window; sample_ok or samples given to the wrong pass), RSCD_ERR_BYTEORDER or
 * RSCD_ERR_NOMEM. */
RSCD_API int rscd_diagnose_block(const rscd_diag_block *block, rscd_diag_out *out,
                                 const rscd_params *params);

/* rscd_median_mad: for each of `rows` rows of n values (row r at values + r * n),
 * median[r] = its median and, when mad is not NULL, mad[r] = the median of |value -
 * median[r]|, the values numpy.median gives: for an even n the two middle values
 * added and halved; NaN for a row holding a NaN (and a deviation of NaN where the
 * median is infinite and so is a value). A row holding both 0.0 and -0.0 may give
 * either as its median, as numpy may. The pilot's clip tables of `rscd diagnose`
 * are made of them. values is only read; scratch (n doubles) is the work space.
 * Returns RSCD_OK, RSCD_ERR_NULL (values, scratch or median NULL) or RSCD_ERR_DIMS
 * (rows < 0 or n < 1); nothing is written before the checks pass. */
RSCD_API int rscd_median_mad(const double *values, ptrdiff_t rows, ptrdiff_t n,
                             double *scratch, double *median, double *mad);

/* (end of the diagnose section) */

/* ---- rscd_measured: subtract the measured transient ---- */

/* Every struct of this section follows the ABI rule above rscd_ramp: fill it
 * with its RSCD_MEASURED_..._INIT macro before setting any field. Layouts: 1 (the
 * only one so far) = every field below. */

/* The measured transient of one integration kind and row parity
 * (docs/overview.rst, "Method measured"): group j of a ramp whose signal grows
 * by s DN per group sits a[j] * s + b[j] DN above its straight line.
 * RSCD_MEASURED_MODEL_INIT sets a and b to NULL, length and window_start to 0. */
typedef struct rscd_measured_model {
    size_t struct_size;       /* set by rscd_measured_model_init */
    const double *a;          /* [length] fraction of one group's increment (finite) */
    const double *b;          /* [length] DN (finite) */
    ptrdiff_t length;         /* groups modelled, >= 0; groups j >= length get nothing */
    ptrdiff_t window_start;   /* first group (0-based) of the late window the pixel's
                                 slope is estimated from: groups window_start .. N-2 */
} rscd_measured_model;

/* The four models of one READPATT/SUBARRAY: [0] even detector rows, [1] odd
 * (parity of first_row + y, 1-based). A NULL entry: that integration kind and
 * parity is left uncorrected. RSCD_MEASURED_MODELS_INIT sets the four entries to
 * NULL and dq_jump_det to the JWST bit, 4. */
typedef struct rscd_measured_models {
    size_t struct_size;                   /* set by rscd_measured_models_init */
    const rscd_measured_model *int1[2];   /* integration 1 of the exposure */
    const rscd_measured_model *int2p[2];  /* integrations 2 and later */
    uint8_t dq_jump_det;                  /* GROUPDQ JUMP_DET bit (JWST: 4) */
} rscd_measured_models;

/* What rscd_measured did. Counts of (integration, pixel) pairs unless named
 * values. Filled by the library; the caller initialises it with
 * RSCD_MEASURED_STATS_INIT(&s) (every count 0) so that struct_size says what may
 * be written. */
typedef struct rscd_measured_stats {
    size_t struct_size;          /* set by rscd_measured_stats_init */
    ptrdiff_t nints_corrected;   /* integrations of the buffer that had a model */
    ptrdiff_t npix_corrected;    /* pairs whose ramp was changed */
    ptrdiff_t npix_flagged;      /* pairs left: PIXELDQ DO_NOT_USE or REFERENCE_PIXEL */
    ptrdiff_t npix_no_slope;     /* pairs left: no usable group difference in the window */
    ptrdiff_t nvalues_left;      /* group values of corrected pairs left as they were:
                                    SATURATED, not finite, or the result would not be */
} rscd_measured_stats;

/*
 * rscd_measured_model_init, rscd_measured_models_init, rscd_measured_stats_init -
 *                  fill a struct with its defaults (see each struct) and
 *                  struct_size = size; as rscd_ramp_init.
 *
 * Returned (function value):
 *   RSCD_OK, RSCD_ERR_NULL (s is NULL), RSCD_ERR_STRUCT (size is not the size of a
 *   layout this library knows; nothing written)
 */
RSCD_API int rscd_measured_model_init(rscd_measured_model *model, size_t size);
RSCD_API int rscd_measured_models_init(rscd_measured_models *models, size_t size);
RSCD_API int rscd_measured_stats_init(rscd_measured_stats *stats, size_t size);

#define RSCD_MEASURED_MODEL_INIT(model) rscd_measured_model_init((model), sizeof *(model))
#define RSCD_MEASURED_MODELS_INIT(models) rscd_measured_models_init((models), sizeof *(models))
#define RSCD_MEASURED_STATS_INIT(stats) rscd_measured_stats_init((stats), sizeof *(stats))

/*
 * rscd_measured - subtract the measured transient a[j] * s + b[j] from every
 *                 group j of every usable pixel (docs/overview.rst, "Method
 *                 measured").
 *
 * Given and returned:
 *   ramp    const rscd_ramp*             data is changed; groupdq and pixeldq only read
 * Given:
 *   models  const rscd_measured_models*  the models and the JUMP_DET bit
 *   params  const rscd_params*           DQ bits and threads
 * Returned:
 *   stats   rscd_measured_stats*
 * Returned (function value):
 *   RSCD_OK, RSCD_SKIP_FEW_GROUPS (a model needed by the buffer has fewer than two
 *   groups in its window window_start .. ngroups-2: nothing changed), or an error:
 *   RSCD_ERR_NULL, RSCD_ERR_PARAMS, RSCD_ERR_STRUCT (ramp, models, a model given or
 *   stats not initialised by its init macro), RSCD_ERR_DIMS, RSCD_ERR_RANGE,
 *   RSCD_ERR_BYTEORDER, RSCD_ERR_MODEL (a malformed model), RSCD_ERR_NOMEM.
 * Notes:
 *   s is the pixel's slope in that integration, from the late window alone:
 *   sum over the usable differences g -> g+1 of (D[g+1] - D[g] - (b[g+1] - b[g]))
 *   divided by the sum of (1 + a[g+1] - a[g]) (the mean difference when the model
 *   is 0 there). A difference is usable when both values are finite, neither group
 *   has SATURATED or DO_NOT_USE and group g+1 has no JUMP_DET. Integration index
 *   i uses int1 when integration_start + i == 1, else int2p. SATURATED and
 *   non-finite values are left alone; GROUPDQ and PIXELDQ never change.
 *   Computation in double precision, stored back as float32 in the buffer's byte
 *   order; each pixel is independent, so results do not depend on threads.
 */
RSCD_API int rscd_measured(const rscd_ramp *ramp, const rscd_measured_models *models,
                           const rscd_params *params, rscd_measured_stats *stats);

/* (end of the measured section) */

/* ---- shell: work of the Python package's file handling (csrc/fitsscan.c) ---- */

/* Size of the message buffer of rscd_fits_walk, its terminating NUL included. */
#define RSCD_FITS_WALK_MESSAGE 256

/*
 * rscd_fits_walk - walk the HDU headers of a FITS file held in memory, reading only
 *                  the cards that size the data (BITPIX, NAXIS, NAXISn, PCOUNT,
 *                  GCOUNT), before a FITS library reads it.
 *
 * Given:
 *   bytes     const unsigned char*  the file's bytes (may be NULL when size is 0)
 *   size      size_t
 * Returned:
 *   message   char*    [RSCD_FITS_WALK_MESSAGE] or NULL; on a refusal one line naming
 *                      the HDU (counted from 0) and the card, else ""
 * Returned (function value):
 *   the number of HDUs walked (>= 0), or -1 for a refusal: a header whose data size
 *   is negative (a negative NAXIS, NAXISn, PCOUNT or GCOUNT, on which astropy loops
 *   for ever), NAXIS > 999, a sizing card whose value is not an integer (read as
 *   Python's int() reads it), a first header without END card, more than 1000 HDUs.
 * Notes:
 *   Every HDU accepted starts at least one 2880-byte block after the one before, so
 *   the walk always ends; it stops at a header left incomplete at the end of the
 *   bytes, or where the next HDU would start past them. Reads no byte outside
 *   [bytes, bytes + size); no allocation; thread-safe.
 */
RSCD_API ptrdiff_t rscd_fits_walk(const unsigned char *bytes, size_t size, char *message);

/* What rscd_fits_walk_read calls for the 2880 bytes at offset (a multiple of 2880) of
 * a file: copy them to block and return how many there are; fewer (0 included) at the
 * end of the file or on a read error, which ends the walk as the end of the file does. */
typedef size_t (*rscd_fits_read)(void *source, size_t offset, unsigned char *block);

/*
 * rscd_fits_walk_read - rscd_fits_walk on a file read block by block through read
 *                       (source is handed to it), size bytes long: only the headers'
 *                       blocks are read, and a file that shrinks meanwhile is walked
 *                       as far as it goes. read must not be NULL (else -1, "no reader
 *                       given").
 */
RSCD_API ptrdiff_t rscd_fits_walk_read(rscd_fits_read read, void *source, size_t size,
                                       char *message);

/* (end of the shell section) */

#ifdef __cplusplus
}
#endif

#endif /* RSCD_H */
