/* decay.c - placeholder until the decay method lands (issue 3). */
#include "rscd_internal.h"

int rscd_decay(const rscd_ramp *ramp, const rscd_decay_coeffs *even,
               const rscd_decay_coeffs *odd, const rscd_prev_int *prev,
               const rscd_params *params, rscd_decay_stats *stats)
{
    (void)ramp; (void)even; (void)odd; (void)prev; (void)params; (void)stats;
    return RSCD_ERR_NULL;
}
