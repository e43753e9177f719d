"""A slow, plain-numpy statement of the `flag` method (docs/overview.rst, "Method
flag", rules 1-9), written from that page, to check the C core against. Not imported
by the package."""
import numpy as np

DO_NOT_USE = 1
SATURATED = 2
FLUX_ESTIMATED = 1 << 28


def flag_range(groupdq, pixeldq, first, last, skip):
    """Rules 7 and 8 for integrations first..last (inclusive); returns (backed, one)."""
    sat = (groupdq[first:last + 1] & SATURATED) != 0      # (n, ngroups, ny, nx)
    g0 = sat[:, 0]
    k = np.full(g0.shape, skip, dtype=np.int64)
    backed = one = 0
    level = skip + 1
    problem = sat[:, level] & ~g0
    if problem.any():
        while problem.any() and level >= 1:
            k[problem] -= 1
            level -= 1
            problem = sat[:, level] & ~g0 if level >= 1 else np.zeros_like(g0)
        k = np.maximum(k, 0)
        backed_px = (k < skip).any(axis=0)
        pixeldq[backed_px] |= np.uint32(FLUX_ESTIMATED)
        backed = int(backed_px.sum())
        one = int((k == 0).any(axis=0).sum())
    for n in range(k.shape[0]):
        for g in range(groupdq.shape[1]):
            groupdq[first + n, g][g < k[n]] |= DO_NOT_USE
    return backed, one


def flag_oracle(groupdq, pixeldq, skip1, skip2p, nints=None, integration_start=1):
    """Apply the method to copies; returns (groupdq, pixeldq, status, stats dict)."""
    groupdq = groupdq.copy()
    pixeldq = pixeldq.copy()
    nints_file, ngroups = groupdq.shape[:2]
    if nints is None:
        nints = integration_start - 1 + nints_file
    stats = {}
    if skip1 < 0:
        skip1 = 1
    if ngroups < 3:
        return groupdq, pixeldq, "SKIPPED", stats
    if ngroups <= 5:
        skip1 = skip2p = 1
    if ngroups < skip1 + 3:
        skip1 = max(0, ngroups - 3)
    if nints > 1 and ngroups < skip2p + 3:
        skip2p = max(0, ngroups - 3)
    if integration_start == 1:
        b, o = flag_range(groupdq, pixeldq, 0, 0, skip1)
        stats.update(ngroups_skip_int1=skip1, keep_groups_saturation_int1=b,
                     keep_bright_firstgroup_int1=o)
    if nints > 1:
        first = 1 if integration_start == 1 else 0
        b, o = flag_range(groupdq, pixeldq, first, nints_file - 1, skip2p)
        stats.update(ngroups_skip_int2p=skip2p, keep_groups_saturation_int2p=b,
                     keep_bright_firstgroup_int2p=o)
    return groupdq, pixeldq, "COMPLETE", stats
