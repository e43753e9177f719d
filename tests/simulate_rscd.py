"""Ramps with a known RSCD transient for the diagnose tests, from a simulator of this
folder's own (independent of ``rscd.simulate``'s model), and the analytic answer.

The exposure (``independent_exposure``): faint log-uniform backgrounds with stars on top
(Gaussian blobs), hot pixels, reference columns (REFERENCE_PIXEL, bias and noise only),
dead pixels; per group Poisson noise (in electrons, through a gain) and Gaussian read
noise; cosmic rays, most flagged JUMP_DET, some not; saturation at 60000 DN (SATURATED
from that group on); a last-frame effect (the last group off by a few DN). The transient
(``Transient``) of group j (from 0) is, per integration kind and row parity,

    amp * Q / N * (c1 exp(-(j+1)/tau1) + c2 exp(-(j+1)/tau2)) + dn * exp(-(j+1)/tau1)

with Q the charge (DN) the pixel collected in the previous integration (for integration
1: in its own, ``slope * N``), so for a steady pixel ``amp * slope`` times the shape, plus
a DN part that does not scale. Either part may be positive or negative.

Truth (``true_skip``): at a pixel slope ``s``, the offset of group j in units of one
group's increment is ``transient_j(s) / s``; the skip is the smallest k such that it is
within T for every group j in [k, w), the worse of the two row parities.

Also here: the writers of the two (SUBARRAY, READPATT) pairs of the CLI tests, which use
``rscd.simulate`` (the users' simulator) for files.
"""
import math
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

from rscd.dq import DO_NOT_USE, JUMP_DET, REFERENCE_PIXEL, SATURATED
from rscd.simulate import expected_skip, simulate_ramps, write_simulated

__all__ = ["PAIRS", "write_pair_files", "expected_skip", "simulate_ramps", "write_simulated",
           "Transient", "Case", "CASES", "independent_exposure", "true_skip", "offsets"]

FULL_WELL = 60000.0
BIAS = 11000.0
GAIN = 5.5           # electrons per DN
READ_NOISE = 10.0    # DN per group, about MIRI's


@dataclass
class Transient:
    """One kind of integration's transient; ``even``: the same for even detector rows
    (None: as odd rows)."""
    amp: float = 0.0                 # fraction of Q / N (Q: the previous integration's charge)
    tau1: float = 2.0
    tau2: Optional[float] = None     # second time constant (None: one exponential)
    c2: float = 0.0                  # weight of the second exponential (the first: 1 - c2)
    dn: float = 0.0                  # DN part, shape exp(-(j+1)/tau1)
    even: "Optional[Transient]" = None

    def shape(self, j):
        t = np.asarray(j, float) + 1
        first = (1 - self.c2) * np.exp(-t / self.tau1)
        return first + (self.c2 * np.exp(-t / self.tau2) if self.tau2 else 0.0)

    def offset(self, j, slope, parity=0):
        """DN offset of group j for a steady pixel of ``slope`` (parity 1: even rows)."""
        part = self.even if parity == 1 and self.even is not None else self
        return (part.amp * slope * part.shape(j)
                + part.dn * np.exp(-(np.asarray(j, float) + 1) / part.tau1))


def offsets(transient, slope, ngroups, parity=0):
    return transient.offset(np.arange(ngroups), slope, parity)


def true_skip(transient, slope, threshold, w):
    """Groups to flag at pixel slope ``slope``: the worse parity's smallest k with
    ``|offset_j / slope| <= T`` for every j in [k, w)."""
    if transient is None:
        return 0
    worst = 0
    for parity in (0, 1):
        rel = np.abs(transient.offset(np.arange(w), slope, parity) / slope)
        k = w
        while k > 0 and rel[k - 1] <= threshold:
            k -= 1
        worst = max(worst, k)
    return worst


@dataclass
class Case:
    name: str
    int1: Optional[Transient]
    int2p: Optional[Transient]
    ngroups: int = 20
    nints: int = 3
    size: int = 160
    background: Tuple[float, float] = (2.0, 60.0)   # DN/group, log-uniform
    stars: int = 12
    unflagged_cr: float = 0.003      # fraction of samples with an unflagged cosmic ray
    seed: int = 0
    kw: dict = field(default_factory=dict)


CASES = [
    Case("none", None, None, seed=1),
    Case("negative", Transient(-0.6, 1.5), Transient(-1.2, 2.5), seed=2),
    Case("positive", Transient(0.5, 1.4), Transient(0.9, 2.2), seed=3),
    Case("additive", Transient(0.0, 2.0, dn=-25.0), Transient(0.0, 2.6, dn=-40.0), seed=4),
    Case("mixed", Transient(-0.4, 1.6, dn=-10.0), Transient(-0.8, 2.4, dn=30.0), seed=5),
    Case("two_exp", Transient(-0.8, 0.8, tau2=4.0, c2=0.3),
         Transient(-1.5, 1.0, tau2=4.5, c2=0.25), ngroups=30, seed=6),
    Case("parity", Transient(-0.6, 1.5, even=Transient(-0.2, 1.5)),
         Transient(-1.2, 2.5, even=Transient(-0.35, 2.5)), seed=7),
    Case("long", Transient(-0.9, 2.6), Transient(-2.0, 3.7), ngroups=30, seed=8),
    Case("cosmic", Transient(-0.5, 1.2), Transient(-1.3, 2.2), unflagged_cr=0.02, seed=9),
    Case("faint", Transient(-0.5, 1.5), Transient(-1.0, 2.4), background=(2.0, 30.0),
         stars=0, seed=10),
    Case("opposite", Transient(0.4, 1.8, dn=-12.0), Transient(0.7, 2.2, dn=-20.0), seed=11),
]


def independent_exposure(case, rng=None):
    """``(data, groupdq, pixeldq, slope)`` of ``case``: RampModel arrays and the true
    slope (DN/group) of each pixel."""
    rng = np.random.default_rng(case.seed) if rng is None else rng
    n, size, nints = case.ngroups, case.size, case.nints
    lo, hi = case.background
    slope = np.exp(rng.uniform(math.log(lo), math.log(hi), (size, size)))
    yy, xx = np.mgrid[:size, :size]
    for _ in range(case.stars):
        y0, x0 = rng.uniform(0, size, 2)
        peak = np.exp(rng.uniform(math.log(100), math.log(4000)))
        slope += peak * np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * 1.5 ** 2))
    hot = rng.random((size, size)) < 0.002
    slope[hot] = rng.uniform(500, 3000, hot.sum())
    pixeldq = np.zeros((size, size), np.uint32)
    slope[:, :4] = slope[:, -4:] = 0.0
    pixeldq[:, :4] |= REFERENCE_PIXEL
    pixeldq[:, -4:] |= REFERENCE_PIXEL
    pixeldq[rng.random((size, size)) < 0.005] |= DO_NOT_USE
    parity = ((1 + np.arange(size)) % 2 == 0).astype(int)[:, None]     # 1: even detector row
    j = np.arange(n)[:, None, None]
    data = np.empty((nints, n, size, size), np.float32)
    groupdq = np.zeros(data.shape, np.uint8)
    charge = slope * n                    # integration 1: its own charge
    for i in range(nints):
        electrons = rng.poisson(np.broadcast_to(slope * GAIN, (n, size, size)))
        signal = np.cumsum(electrons, axis=0) / GAIN
        transient = case.int1 if i == 0 else case.int2p
        ramp = BIAS + signal
        if transient is not None:
            steady = charge / n
            for p in (0, 1):
                rows = parity[:, 0] == p
                ramp[:, rows] += transient.offset(j, steady[None, rows], p)
        ramp += rng.normal(0.0, READ_NOISE, ramp.shape)
        ramp[-1] += 15.0                                       # last-frame effect
        for frac, flagged in ((0.01, True), (case.unflagged_cr, False)):
            hit = rng.random((size, size)) < frac
            at = rng.integers(1, n, (size, size))
            size_dn = rng.uniform(100, 2000, (size, size))
            ramp += np.where(hit & (j >= at), size_dn, 0.0)
            if flagged:
                groupdq[i] |= np.where(hit & (j == at), JUMP_DET, 0).astype(np.uint8)
        sat = ramp >= FULL_WELL
        groupdq[i] |= np.where(np.maximum.accumulate(sat, axis=0), SATURATED, 0).astype(np.uint8)
        data[i] = np.minimum(ramp, FULL_WELL)
        charge = np.minimum(signal[-1], FULL_WELL - BIAS)
    return data, groupdq, pixeldq, slope


# ---------------------------------------------------------------- files for the CLI tests

#: Two pairs with different transients, (a, tau) per kind of integration (rscd.simulate's
#: convention: offset -a s exp(-(j+1)/tau)). The values put tau * ln(a / 0.1) - 1 away
#: from an integer, so the analytic skip is not a coin toss.
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
