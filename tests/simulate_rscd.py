"""Ramp files with a known RSCD transient for tests/test_diagnose.py.

The ramps come from :func:`rscd.simulate.simulate_ramps` (the simulator users get too):
slope ``s`` per pixel, transient ``-a s exp(-(j+1)/tau)`` with one ``(a, tau)`` for
integration 1 and one for integrations 2+, read noise, reference columns, dead pixels,
saturating pixels and jumps. Here: writers for the two (SUBARRAY, READPATT) pairs the
tests use, and the analytic answer.
"""
from rscd.simulate import expected_skip, simulate_ramps, write_simulated

__all__ = ["PAIRS", "write_pair_files", "expected_skip", "simulate_ramps", "write_simulated"]

#: Two pairs with different transients, (a, tau) per kind of integration. The values put
#: tau * ln(a / 0.1) - 1 away from an integer, so the analytic skip is not a coin toss.
PAIRS = {
    ("FULL", "FASTR1"): dict(int1=(0.5, 1.2), int2p=(1.3, 2.2), ngroups=20, tgroup=2.775),
    ("SUB256", "SLOWR1"): dict(int1=(0.9, 2.6), int2p=(2.0, 3.7), ngroups=30, tgroup=0.9),
}


def write_pair_files(folder, files_per_pair=2, nints=3, size=64):
    """Write ``files_per_pair`` files per pair into ``folder``; return their paths."""
    paths = []
    for n, ((subarray, readpatt), kw) in enumerate(PAIRS.items()):
        for f in range(files_per_pair):
            path = folder / f"sim_{subarray.lower()}_{f}_linearity.fits"
            paths.append(write_simulated(path, subarray=subarray, readpatt=readpatt,
                                         nints=nints, nrows=size, ncols=size,
                                         seed=100 * n + f, **kw))
    return paths
