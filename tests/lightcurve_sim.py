"""Light curves of a simulated MIRI time series, to judge RSCD corrections on what a
transit observer measures (docs/performance.md, "Method measured on light curves").

The simulator is written independently of the ``measured`` method's assumptions: its
transient at group ``j`` of integration ``i`` is a sum of exponentials of time since the
reset, scaled by the charge of the *previous* integration (its signal per group; the
pixel's own signal for integration 1, which follows idle resets), plus a part in DN that
does not scale with any signal, with its own amplitudes on odd and even detector rows
and for integration 1. ``measured`` models the offset as ``a_j * s + b_j`` with ``s``
the pixel's slope in the *same* integration, so a changing scene (a transit) is a real
mismatch the evaluation sees.

Slopes are fitted with the pipeline's own ramp fitter (stcal's ordinary least squares,
``ramp_fit_data`` with the OLS_C algorithm, as jwst 3.0.0's ramp_fit step runs it).

    CASES                  the transient kinds (proportional, additive, negative, two
                           exponentials, parity difference)
    simulate(case, ...)    SCI with and without the transient (same noise), the truth
    evaluate(sim, ...)     light-curve bias and RMS of: none, flag, measured (true and
                           estimated model), measured with the median slope
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

import rscd
from rscd.reference import MeasuredRow, Reference, SkipRow

GAIN = 4.0            # e-/DN
READ_NOISE = 8.0      # DN per group read
GROUP_TIME = 2.775    # s (FAST, SUBARRAY-sized frames as a TSO uses them)

#: Transient kinds. ``prop``: (amplitude, tau in groups) terms of the part proportional
#: to the previous integration's signal per group; ``dn``: (DN, tau) terms of the part
#: that is not; ``even``: factor on even detector rows; ``int1``: factor on integration 1
#: (shorter, weaker transient after the idle resets: tau scaled by ``int1_tau``).
CASES: Dict[str, dict] = {
    "proportional": dict(prop=[(1.5, 3.0)], dn=[], even=1.0, int1=0.5, int1_tau=0.6),
    "additive": dict(prop=[], dn=[(400.0, 3.0)], even=1.0, int1=0.5, int1_tau=0.6),
    "negative": dict(prop=[(-1.2, 3.0)], dn=[(-150.0, 2.0)], even=1.0, int1=0.5,
                     int1_tau=0.6),
    "two_exponentials": dict(prop=[(1.0, 1.5), (0.25, 8.0)], dn=[], even=1.0, int1=0.5,
                             int1_tau=0.6),
    "parity": dict(prop=[(1.5, 3.0)], dn=[(100.0, 3.0)], even=0.3, int1=0.5, int1_tau=0.6),
}


@dataclass
class Simulation:
    """One exposure: SCI with and without the transient, GROUPDQ, PIXELDQ, the source
    apertures, the true relative light curve and the true transient model."""
    case: str
    data: np.ndarray          # with the transient, float32 (nints, ngroups, ny, nx)
    clean: np.ndarray         # the same noise, no transient
    groupdq: np.ndarray
    pixeldq: np.ndarray
    apertures: Dict[str, np.ndarray]   # name -> boolean (ny, nx)
    shapes: Dict[str, np.ndarray]      # name -> true relative flux per integration
    params: dict


def _profile(terms, ngroups, tau_scale=1.0):
    j = np.arange(ngroups)
    out = np.zeros(ngroups)
    for amp, tau in terms:
        out += amp * np.exp(-(j + 1) / (tau * tau_scale))
    return out


def transit_shape(nints, depth=0.01):
    """Relative flux of the transiting source: a trapezoid over the middle third."""
    t = np.linspace(0.0, 1.0, nints)
    ingress = 0.05
    x = np.clip(np.minimum(t - 1 / 3, 2 / 3 - t) / ingress, 0.0, 1.0)
    return 1.0 - depth * x


def simulate(case: str, nints: int = 200, ngroups: int = 20, ny: int = 32, nx: int = 32,
             peak: float = 800.0, seed: int = 0) -> Simulation:
    """A time series of two point sources (one constant, one transiting) on a faint
    background; Poisson and read noise; no cosmic rays or saturation (they are the
    DQ rules' business, tested elsewhere)."""
    p = CASES[case]
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx]
    apertures, shapes = {}, {}
    rate = 10 ** rng.uniform(np.log10(2.0), np.log10(30.0), size=(ny, nx))  # background
    psf = {}
    for name, (cy, cx) in (("constant", (ny * 0.3, nx * 0.3)),
                           ("transiting", (ny * 0.7, nx * 0.7))):
        r2 = (yy - cy) ** 2 + (xx - cx) ** 2
        psf[name] = peak * np.exp(-r2 / (2 * 1.5 ** 2))
        apertures[name] = r2 <= 3.5 ** 2
    shapes["constant"] = np.ones(nints)
    shapes["transiting"] = transit_shape(nints)
    # DN per group of every (integration, pixel)
    s = (rate[None] + psf["constant"][None] + psf["transiting"][None]
         * shapes["transiting"][:, None, None])
    # Poisson increments (electrons) and read noise on every group
    incr = rng.poisson(s[:, None] * GAIN, size=(nints, ngroups, ny, nx)) / GAIN
    clean = np.cumsum(incr, axis=1) + 5000.0
    clean += rng.normal(0.0, READ_NOISE, size=clean.shape)
    # the transient: proportional to the previous integration's signal per group
    odd = ((yy + 1) % 2 == 1)                     # detector rows counted from 1, ystart 1
    parity = np.where(odd, 1.0, p["even"])[None, None]
    prop = np.empty((nints, ngroups))
    dn = np.empty((nints, ngroups))
    for i in range(nints):
        scale, tscale = (p["int1"], p["int1_tau"]) if i == 0 else (1.0, 1.0)
        prop[i] = scale * _profile(p["prop"], ngroups, tscale)
        dn[i] = scale * _profile(p["dn"], ngroups, tscale)
    s_prev = np.concatenate([s[:1], s[:-1]])      # integration 1: its own signal
    offset = (prop[:, :, None, None] * s_prev[:, None] + dn[:, :, None, None]) * parity
    data = (clean + offset).astype(np.float32)
    return Simulation(case, data, clean.astype(np.float32),
                      np.zeros(data.shape, np.uint8), np.zeros((ny, nx), np.uint32),
                      apertures, shapes, dict(p, ngroups=ngroups, nints=nints))


def true_skip(sim: Simulation, threshold: float = 0.1) -> Tuple[int, int]:
    """The skip a perfect diagnosis recommends (integration 1, integrations 2+): the
    first group from which the transient of the sources' summed light stays within
    ``threshold`` of one group's signal, on the worse row parity."""
    p, n = sim.params, sim.params["ngroups"]
    signal = sum(float(sim.clean[1:, -2][:, ap].mean(axis=0).sum()
                       - sim.clean[1:, -3][:, ap].mean(axis=0).sum())
                 for ap in sim.apertures.values())
    npix = sum(int(ap.sum()) for ap in sim.apertures.values())
    out = []
    for scale, tscale in ((p["int1"], p["int1_tau"]), (1.0, 1.0)):
        prop = scale * np.abs(_profile(p["prop"], n, tscale))
        dn = scale * np.abs(_profile(p["dn"], n, tscale))
        rel = (prop * signal + dn * npix) / signal * max(1.0, p["even"])
        bad = np.nonzero(rel > threshold)[0]
        out.append(int(bad[-1] + 1) if bad.size else 0)
    return out[0], out[1]


def true_model(sim: Simulation, window: Tuple[int, int]) -> List[MeasuredRow]:
    """The simulator's transient as RSCD_MEASURED rows (a in units of the previous
    integration's signal, taken as the current one)."""
    p, n = sim.params, sim.params["ngroups"]
    rows = []
    for kind, (scale, tscale), w in (("1", (p["int1"], p["int1_tau"]), window[0]),
                                     ("2+", (1.0, 1.0), window[1])):
        for parity, f in (("ODD", 1.0), ("EVEN", p["even"])):
            rows.append(MeasuredRow("FULL", "FAST", kind, parity, w,
                                    a=scale * f * _profile(p["prop"], n, tscale),
                                    b=scale * f * _profile(p["dn"], n, tscale)))
    return rows


def _window_line(values, w, n):
    """The straight line fitted to values[w:n-1], evaluated at every group 0..n-1."""
    g = np.arange(w, n - 1)
    slope, level = np.polyfit(g, values[w:n - 1], 1)
    return level + slope * np.arange(n)


def _full_transient(profile, w, n, taus=np.geomspace(0.3, 10.0, 25)):
    """The transient whose offsets from its own late-window line are ``profile``.

    Offsets measured from a line fitted to the late window miss whatever of the
    transient is still in the window, and a line cannot tell that part from the slope.
    A decay of one or two exponentials of time is fitted (amplitudes by least squares,
    decay times on a grid) to the profile as the window line sees it; the fitted decay's
    own window line is then added back to the measured profile, and the fit gives the
    groups from the window on."""
    j = np.arange(n)
    basis = {t: np.exp(-(j + 1) / t) for t in taus}
    seen = {t: e - _window_line(e, w, n) for t, e in basis.items()}
    y = profile[:n - 1]
    best = (np.inf, None)
    for i1, t1 in enumerate(taus):
        for t2 in taus[i1:]:
            cols = [seen[t1]] if t2 == t1 else [seen[t1], seen[t2]]
            m = np.stack([c[:n - 1] for c in cols], axis=1)
            amp, *_ = np.linalg.lstsq(m, y, rcond=None)
            cost = float(np.sum((y - m @ amp) ** 2))
            if cost < best[0]:
                full = sum(A * basis[t] for A, t in zip(amp, (t1, t2)))
                best = (cost, full)
    full = best[1]
    out = full.copy()
    out[:w] = profile[:w] + _window_line(full, w, n)[:w]
    return out


def estimate_model(data: np.ndarray, groupdq: np.ndarray, pixeldq: np.ndarray,
                   window: Tuple[int, int], ystart: int = 1) -> List[MeasuredRow]:
    """A simple estimate of a_j and b_j from the exposure itself (until ``rscd diagnose``
    writes them): per integration kind and row parity, the offsets of each group from
    the sample's late-window line, regressed across samples on the pixel's median
    late-window slope over all integrations (a regressor the sample's own noise barely
    moves, so no selection bias); then the part of the transient the window line hides
    (:func:`_full_transient`)."""
    nints, n, ny, nx = data.shape
    rows = []
    d = data.astype(np.float64)
    odd = ((np.arange(ny) + ystart) % 2 == 1)
    usable = (pixeldq == 0) & ~np.any(groupdq != 0, axis=(0, 1))
    for kind, ints, w in (("1", slice(0, 1), window[0]), ("2+", slice(1, nints), window[1])):
        g = np.arange(w, n - 1)
        x = g - g.mean()
        s_all = np.tensordot(x, d[:, w:n - 1], axes=([0], [1])) / (x @ x)
        s_med = np.median(s_all, axis=0)                                 # (ny, nx)
        j = np.arange(n)
        for parity, rowsel in (("ODD", odd), ("EVEN", ~odd)):
            m = usable & rowsel[:, None]
            sm = s_med[m]                                                # (p,)
            dk = d[ints][:, :, m]                                        # (k, n, p)
            seg = dk[:, w:n - 1]
            slope = np.tensordot(x, seg, axes=([0], [1])) / (x @ x)      # (k, p)
            line = seg.mean(axis=1)[:, None] + slope[:, None] * (j - g.mean())[None, :, None]
            dev = (dk - line).transpose(1, 0, 2).reshape(n, -1)          # (n, k*p)
            design = np.stack([np.broadcast_to(sm, dk[:, 0].shape).ravel(),
                               np.ones(dev.shape[1])], axis=1)
            a, b = np.linalg.lstsq(design, dev.T, rcond=None)[0]         # (n,), (n,)
            rows.append(MeasuredRow("FULL", "FAST", kind, parity, w,
                                    a=_full_transient(a, w, n), b=_full_transient(b, w, n)))
    return rows


def fit_slopes(data: np.ndarray, groupdq: np.ndarray) -> np.ndarray:
    """Per-integration slopes (DN/s) from stcal's OLS ramp fitter, as jwst's ramp_fit
    step runs it (optimal weighting, OLS_C)."""
    from stcal.ramp_fitting.ramp_fit import ramp_fit_data
    from stcal.ramp_fitting.ramp_fit_class import RampData
    from stdatamodels.jwst.datamodels import dqflags

    nints, n, ny, nx = data.shape
    rd = RampData()
    rd.algorithm = "OLS_C"
    rd.set_arrays(np.ascontiguousarray(data, dtype=np.float32),
                  np.ascontiguousarray(groupdq, dtype=np.uint8),
                  np.zeros((ny, nx), np.uint32), np.zeros((ny, nx), np.float32))
    rd.set_meta(name="MIRI", frame_time=GROUP_TIME, group_time=GROUP_TIME, groupgap=0,
                nframes=1, drop_frames1=None)
    rd.set_dqflags(dqflags.pixel)
    rd.start_row = 0
    rd.num_rows = ny
    readnoise = np.full((ny, nx), READ_NOISE, np.float32)
    gain = np.full((ny, nx), GAIN, np.float32)
    _, integ, _ = ramp_fit_data(rd, False, readnoise, gain, "OLS_C", "optimal", "none")
    return np.asarray(integ["slope"], dtype=np.float64)


def light_curves(slopes: np.ndarray, sim: Simulation) -> Dict[str, np.ndarray]:
    return {name: slopes[:, ap].sum(axis=1) for name, ap in sim.apertures.items()}


def _measured_copy(sim, rows, groupdq=None):
    data = sim.data.copy()
    ref = Reference(name="model", measured_rows=tuple(rows))
    rscd.apply(data, sim.groupdq if groupdq is None else groupdq, sim.pixeldq, ref,
               readpatt="FAST", subarray="FULL", method="measured")
    return data


def _median_slope_copy(sim, rows):
    """The alternative the method did not choose: s = the pixel's median late-window
    slope over all integrations instead of its own in each integration."""
    data = sim.data.astype(np.float64)
    nints, n, ny, nx = data.shape
    odd = (np.arange(ny) + 1) % 2 == 1
    w = rows[-1].window_start
    g = np.arange(w, n - 1)
    x = g - g.mean()
    s_med = np.median(np.tensordot(x, data[:, w:n - 1], axes=([0], [1])) / (x @ x), axis=0)
    for r in rows:
        ints = slice(0, 1) if r.integration == "1" else slice(1, nints)
        sel = odd if r.rows == "ODD" else ~odd
        a = np.asarray(r.a)[:, None, None]
        b = np.asarray(r.b)[:, None, None]
        k = len(r.a)
        data[ints, :k][:, :, sel] -= (a * s_med[None] + b)[:, sel]
    return data.astype(np.float32)


def evaluate(sim: Simulation, methods: Optional[Sequence[str]] = None) -> List[dict]:
    """Light-curve bias and RMS of each method against the transient-free truth fitted
    with all groups. Bias: mean difference from the truth's light curve in units of the
    truth's per-integration scatter (integrations 2+); RMS: scatter of the light curve
    divided by the true relative flux, relative to the truth's (1.0 = as good as no
    transient at all); depth error of the transiting source in ppm."""
    skip1, skip2p = true_skip(sim)
    n = sim.params["ngroups"]
    # The late window: where the transient is below 1 % of a group's signal, keeping at
    # least 4 groups before the last (a diagnosis chooses it the same way).
    clean1, clean2p = true_skip(sim, threshold=0.01)
    window = (min(clean1, n - 5), min(clean2p, n - 5))
    truth = light_curves(fit_slopes(sim.clean, sim.groupdq), sim)
    runs = {}
    runs["none"] = (sim.data, sim.groupdq)
    gdq = sim.groupdq.copy()
    flag_ref = Reference(name="flag", skip_rows=(SkipRow("FULL", "FAST", skip1, skip2p),))
    res = rscd.apply(sim.data, gdq, sim.pixeldq.copy(), flag_ref, readpatt="FAST",
                     subarray="FULL", method="flag")
    runs[f"flag ({res.ngroups_skip_int1}/{res.ngroups_skip_int2p} of {n})"] = (sim.data, gdq)
    model = true_model(sim, window)
    runs["measured, true model"] = (_measured_copy(sim, model), sim.groupdq)
    est = estimate_model(sim.data, sim.groupdq, sim.pixeldq, window)
    runs["measured, estimated model"] = (_measured_copy(sim, est), sim.groupdq)
    runs["true model, median slope"] = (_median_slope_copy(sim, model), sim.groupdq)
    out = []
    for name, (data, g) in runs.items():
        if methods is not None and not any(name.startswith(m) for m in methods):
            continue
        lc = light_curves(fit_slopes(data, g), sim)
        row = {"case": sim.case, "method": name}
        for src in ("constant", "transiting"):
            t, m = truth[src][1:], lc[src][1:]
            shape = sim.shapes[src][1:]
            sigma = np.std(t / shape)
            row[f"{src}_bias_sigma"] = float(np.mean(m - t) / sigma)
            row[f"{src}_rms_ratio"] = float(np.std(m / shape) / sigma)
        row["int1_bias_sigma"] = float((lc["constant"][0] - truth["constant"][0])
                                       / np.std(truth["constant"][1:]))
        row["depth_error_ppm"] = float(1e6 * (_depth(lc["transiting"], sim)
                                              - _depth(truth["transiting"], sim)))
        out.append(row)
    return out


def _depth(lc, sim):
    shape = sim.shapes["transiting"]
    inside = shape < shape.max() - 0.9 * (shape.max() - shape.min())
    outside = shape == shape.max()
    outside[0] = False
    return 1.0 - lc[inside].mean() / lc[outside].mean()


def format_table(rows: List[dict]) -> str:
    head = ("| case | method | bias const (σ) | bias transit (σ) | RMS const / truth | "
            "RMS transit / truth | int 1 bias (σ) | depth error (ppm) |")
    lines = [head, "|" + " --- |" * 8]
    for r in rows:
        lines.append(f"| {r['case']} | {r['method']} | {r['constant_bias_sigma']:+.2f} | "
                     f"{r['transiting_bias_sigma']:+.2f} | {r['constant_rms_ratio']:.3f} | "
                     f"{r['transiting_rms_ratio']:.3f} | {r['int1_bias_sigma']:+.2f} | "
                     f"{r['depth_error_ppm']:+.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys
    case = sys.argv[1] if len(sys.argv) > 1 else "proportional"
    sim = simulate(case, nints=int(sys.argv[2]) if len(sys.argv) > 2 else 100,
                   ngroups=int(sys.argv[3]) if len(sys.argv) > 3 else 20)
    print(true_skip(sim))
    print(format_table(evaluate(sim)))
