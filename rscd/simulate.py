"""Simulated MIRI ramps with a known RSCD transient, to try ``rscd diagnose`` on.

Each pixel ramps up linearly with its own slope ``s`` (DN per group) and carries the
transient ``-a * s * exp(-(j + 1) / tau)`` at group ``j`` (groups from 0), with one
``(a, tau)`` for integration 1 and another for integrations 2 and later, plus Gaussian
read noise. A transient may also be given as a dict (:func:`transient_offset`): a DN
part that does not scale with the pixel (``dn``), a second time constant (``tau2``,
``a2``), a negative ``a`` (offsets above the line) and other values on even detector
rows (``even``: a dict of the keys that differ). So the offset of group ``j`` from the ramp's late straight line, in units of
one group's increment, is ``-a * exp(-(j + 1) / tau)``, and the number of groups whose
offset exceeds a threshold ``T`` is ``max(0, ceil(tau * ln(a / T) - 1))``
(:func:`expected_skip`): the answer ``rscd diagnose`` should find.

The exposure also has what real ramps have and the diagnosis must leave out: reference
pixel columns (REFERENCE_PIXEL, no signal), a few dead pixels (DO_NOT_USE in PIXELDQ),
bright pixels that saturate part way (SATURATED from that group on) and cosmic-ray jumps
(JUMP_DET at the group of the jump).

    python -m rscd.simulate DIR      # three example exposures in DIR (default rscd_diagnose)
"""
import argparse
import math
import os
import sys

import numpy as np

from .dq import DO_NOT_USE, JUMP_DET, REFERENCE_PIXEL, SATURATED

__all__ = ["simulate_ramps", "write_simulated", "expected_skip", "transient_offset",
           "EXAMPLES", "main"]

#: Where simulated pixels saturate (DN), as MIRI's full well after linearity correction.
SATURATION_DN = 60000.0


def expected_skip(amplitude, tau, threshold):
    """Groups to flag for the transient ``-a s exp(-(j+1)/tau)`` at threshold ``T``: the
    smallest ``k`` with ``a * exp(-(j+1)/tau) <= T`` for every ``j >= k``."""
    if amplitude <= threshold:
        return 0
    return max(0, math.ceil(tau * math.log(amplitude / threshold) - 1))


def transient_offset(params, slope, groups, even=False):
    """DN added to groups ``groups`` (from 0) of a pixel of ``slope`` (DN/group) by the
    transient ``params``: ``(a, tau)`` or a dict with ``a``, ``tau`` and optionally
    ``dn`` (DN part), ``a2``/``tau2`` (second exponential, fraction of the slope),
    ``even`` (a dict of values that differ on even detector rows; used when ``even``)::

        -(a s exp(-(j+1)/tau) + a2 s exp(-(j+1)/tau2) + dn exp(-(j+1)/tau))

    ``params`` None: 0."""
    if params is None:
        return 0.0
    p = dict(params) if isinstance(params, dict) else {"a": params[0], "tau": params[1]}
    if even and isinstance(params, dict) and params.get("even"):
        p.update(params["even"])
    t = np.asarray(groups, float) + 1
    out = (p["a"] * slope + p.get("dn", 0.0)) * np.exp(-t / p["tau"])
    if p.get("tau2"):
        out = out + p.get("a2", 0.0) * slope * np.exp(-t / p["tau2"])
    return -out


def simulate_ramps(nints=3, ngroups=20, nrows=64, ncols=64, *, int1=(0.6, 1.5),
                   int2p=(1.2, 2.5), even_scale=1.0, read_noise=8.0, slopes=(30.0, 1500.0),
                   bias=9000.0, saturating=0.03, jumps=0.01, dead=0.01,
                   reference_columns=4, seed=1):
    """Simulated linearity-corrected ramps in the ``RampModel`` layout.

    Parameters
    ----------
    nints, ngroups, nrows, ncols : int
        Shape of the exposure.
    int1, int2p : (float, float), dict or None
        ``(a, tau)`` of the transient of integration 1 and of integrations 2+: amplitude in
        units of the pixel's slope, decay time in groups; or a dict with a DN part, a
        second time constant and even-row values (:func:`transient_offset`). None: no
        transient.
    even_scale : float
        Amplitude factor on even detector rows (rows 2, 4, ... counted from 1), as MIRI's
        row pairs differ.
    read_noise : float
        Gaussian noise per group, DN.
    slopes : (float, float)
        Range of the pixels' slopes, DN per group (log-uniform).
    bias : float
        Level of group 0 without signal, DN.
    saturating, jumps, dead : float
        Fractions of pixels made to saturate part way, of samples (integration, pixel) with
        a cosmic-ray jump, and of dead pixels (DO_NOT_USE in PIXELDQ).
    reference_columns : int
        Reference pixel columns at each side (REFERENCE_PIXEL, bias and noise only).
    seed : int
        Random seed: the same seed gives the same arrays.

    Returns
    -------
    data : ndarray, float32, (nints, ngroups, nrows, ncols)
    groupdq : ndarray, uint8, same shape
    pixeldq : ndarray, uint32, (nrows, ncols)
    """
    rng = np.random.default_rng(seed)
    shape = (nints, ngroups, nrows, ncols)
    slope = np.exp(rng.uniform(np.log(slopes[0]), np.log(slopes[1]), (nrows, ncols)))
    bright = rng.random((nrows, ncols)) < saturating
    # bright pixels reach saturation between groups 3/4 and 3/4 of the ramp
    slope[bright] = (SATURATION_DN - bias) / rng.uniform(ngroups * 0.4, ngroups * 0.75,
                                                         bright.sum())
    pixeldq = np.zeros((nrows, ncols), np.uint32)
    if reference_columns:
        slope[:, :reference_columns] = 0.0
        slope[:, -reference_columns:] = 0.0
        pixeldq[:, :reference_columns] |= REFERENCE_PIXEL
        pixeldq[:, -reference_columns:] |= REFERENCE_PIXEL
    pixeldq[rng.random((nrows, ncols)) < dead] |= DO_NOT_USE

    t = np.arange(1, ngroups + 1, dtype=np.float64)[:, None, None]      # (j + 1)
    even = (np.arange(nrows) % 2 == 1)[:, None]                         # row 2, 4, ... (1-based)
    data = np.empty(shape, np.float32)
    groupdq = np.zeros(shape, np.uint8)
    for i in range(nints):
        ramp = bias + slope * t
        params = int1 if i == 0 else int2p
        if params is not None:
            scale = np.where(even, even_scale, 1.0)
            ramp = ramp + scale * np.where(even, transient_offset(params, slope, t - 1, True),
                                           transient_offset(params, slope, t - 1, False))
        ramp = ramp + rng.normal(0.0, read_noise, ramp.shape)
        hit = rng.random((nrows, ncols)) < jumps
        at = rng.integers(1, ngroups, (nrows, ncols))
        g = np.arange(ngroups)[:, None, None]
        ramp = ramp + np.where(hit & (g >= at), 800.0, 0.0)
        groupdq[i] |= np.where(hit & (g == at), JUMP_DET, 0).astype(np.uint8)
        sat = ramp >= SATURATION_DN
        groupdq[i] |= np.where(np.maximum.accumulate(sat, axis=0), SATURATED, 0).astype(np.uint8)
        data[i] = np.minimum(ramp, SATURATION_DN)
    return data, groupdq, pixeldq


def write_simulated(path, *, subarray="FULL", readpatt="FASTR1", tgroup=2.775,
                    integration_start=1, overwrite=False, **kw):
    """Write :func:`simulate_ramps` to a ramp file (``kw`` goes to it) with the exposure
    keywords of a MIRI imager file, ``TGROUP`` (seconds per group) among them."""
    from .demo import write_ramp_file
    data, groupdq, pixeldq = simulate_ramps(**kw)
    nints, ngroups = data.shape[:2]
    keywords = {"TELESCOP": "JWST", "INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE",
                "EXP_TYPE": "MIR_IMAGE", "READPATT": readpatt, "SUBARRAY": subarray,
                "NINTS": integration_start - 1 + nints, "NGROUPS": ngroups,
                "INTSTART": integration_start, "SUBSTRT2": 1, "TGROUP": tgroup}
    write_ramp_file(path, data, groupdq, pixeldq, keywords, overwrite=overwrite)
    return os.fspath(path)


#: The example exposures of ``python -m rscd.simulate``: file name -> keyword arguments of
#: :func:`write_simulated`. Two FULL/FASTR1 files (one exposure's two halves would do the
#: same) and one SUB256/FASTR1 file with a longer transient in group units.
EXAMPLES = {
    "sim_full_a_linearity.fits": dict(subarray="FULL", readpatt="FASTR1", tgroup=2.775,
                                      int1=(0.6, 1.5), int2p=(1.2, 2.5), seed=11),
    "sim_full_b_linearity.fits": dict(subarray="FULL", readpatt="FASTR1", tgroup=2.775,
                                      int1=(0.6, 1.5), int2p=(1.2, 2.5), seed=12),
    "sim_sub256_linearity.fits": dict(subarray="SUB256", readpatt="FASTR1", tgroup=0.9,
                                      int1=(0.8, 2.5), int2p=(1.5, 4.0), ngroups=30, seed=13),
}


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m rscd.simulate",
        description="Write simulated MIRI ramp files with a known RSCD transient (see "
                    "rscd.simulate) for trying rscd diagnose. Like every rscd command, it "
                    "replaces no existing file without --overwrite.")
    parser.add_argument("directory", nargs="?", default="rscd_diagnose", metavar="DIR",
                        help="folder to write into (created if needed; default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files of these names that exist in DIR")
    args = parser.parse_args(argv)
    paths = {name: os.path.join(args.directory, name) for name in EXAMPLES}
    existing = [p for p in paths.values() if os.path.lexists(p)]
    if existing and not args.overwrite:
        # checked before anything is written: a refusal leaves nothing behind
        print(f"python -m rscd.simulate: error: {existing[0]} exists"
              f"{f' (and {len(existing) - 1} more)' if len(existing) > 1 else ''}; use "
              "--overwrite to replace, or give another folder", file=sys.stderr)
        return 1
    os.makedirs(args.directory, exist_ok=True)
    for name, kw in EXAMPLES.items():
        path = write_simulated(paths[name], overwrite=args.overwrite, **kw)
        a1, tau1 = kw["int1"]
        a2, tau2 = kw["int2p"]
        print(f"wrote {path}: {kw['subarray']} {kw['readpatt']}, "
              f"{kw.get('ngroups', 20)} groups; transient int 1: a = {a1}, tau = {tau1} groups; "
              f"ints 2+: a = {a2}, tau = {tau2} groups")
    return 0


if __name__ == "__main__":
    sys.exit(main())
