"""Random ramp inputs shared by the test modules (seeded, reproducible)."""
import numpy as np

SATURATED = 2
REFERENCE_PIXEL = 1 << 31
OTHER_GROUP_BITS = np.array([4, 8, 16, 32, 64, 128], dtype=np.uint8)


def random_groupdq(rng, shape, p_sat=0.3, p_noise=0.05):
    """GROUPDQ with saturation from a random group on (sometimes from group 0), some
    non-monotonic SATURATED bits, and other flag bits that must survive."""
    nints, ngroups, ny, nx = shape
    gdq = np.zeros(shape, dtype=np.uint8)
    start = rng.integers(0, max(ngroups, 1) + 1, size=(nints, ny, nx))
    saturating = rng.random((nints, ny, nx)) < p_sat
    groups = np.arange(ngroups)[None, :, None, None]
    gdq[(groups >= start[:, None]) & saturating[:, None]] |= SATURATED
    gdq[rng.random(shape) < p_noise] ^= SATURATED               # non-monotonic flags
    others = rng.random(shape) < 0.1
    gdq[others] |= rng.choice(OTHER_GROUP_BITS, size=int(others.sum()))
    return gdq


def random_pixeldq(rng, ny, nx):
    pdq = np.zeros((ny, nx), dtype=np.uint32)
    bits = rng.random((ny, nx)) < 0.2
    pdq[bits] = rng.integers(0, 2**32, size=int(bits.sum()), dtype=np.uint64).astype(np.uint32)
    pdq[:, :1] |= np.uint32(REFERENCE_PIXEL)
    return pdq


def random_flag_case(seed):
    """One random exposure for the flag method, as a dict of apply() arguments."""
    rng = np.random.default_rng(seed)
    nints_file = int(rng.integers(1, 6))
    ngroups = int(rng.integers(1, 31))
    ny, nx = int(rng.integers(1, 9)), int(rng.integers(1, 10))
    shape = (nints_file, ngroups, ny, nx)
    start = 1 if rng.random() < 0.7 else int(rng.integers(2, 6))
    nints = start - 1 + nints_file + (int(rng.integers(0, 4)) if rng.random() < 0.4 else 0)
    skip1 = int(rng.integers(-1, ngroups + 4)) if rng.random() < 0.9 else -1
    skip2p = int(rng.integers(0, ngroups + 4))
    subarray = str(rng.choice(["FULL", "SLITLESSPRISM", "SUBPRISM", "MASK1550"]))
    table_subarray = str(rng.choice(["FULL", "SLITLESSPRISM", "SUBPRISM"]))
    return dict(
        data=rng.normal(1000, 50, size=shape).astype(np.float32),
        groupdq=random_groupdq(rng, shape, p_sat=float(rng.choice([0.0, 0.05, 0.3, 0.9]))),
        pixeldq=random_pixeldq(rng, ny, nx),
        skip1=skip1, skip2p=skip2p, nints=nints, integration_start=start,
        readpatt="FAST", subarray=subarray, table_subarray=table_subarray,
    )
