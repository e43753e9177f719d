/* rscd_internal.h - helpers shared by the C files of the core; not installed. */
#ifndef RSCD_INTERNAL_H
#define RSCD_INTERNAL_H

#include "rscd.h"

/* Checks pointers, dimensions (no overflow of the index formula), byte order
 * and the exposure fields of a view. need_data: SCI must be present.
 * Returns RSCD_OK or a negative status. */
int rscd_check_ramp(const rscd_ramp *ramp, int need_data);

/* Integrations in the whole exposure (nints_exposure, or its default). */
ptrdiff_t rscd_nints_exposure(const rscd_ramp *ramp);

/* Threads to use: params->nthreads, or the OpenMP default when it is <= 0
 * (1 without OpenMP). */
int rscd_threads(const rscd_params *params);

#endif
