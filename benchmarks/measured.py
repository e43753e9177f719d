"""Benchmark and evaluation of the ``measured`` method (not a timed test).

    python benchmarks/measured.py [--speed] [--lightcurves] [--nints 200] [--ngroups 20 30]

``--speed`` (default when neither is given): in this one process, on the same full MIRI
frame cube (1024 x 1032 pixels, ``--speed-nints`` x ``--speed-ngroups``), times

1. ``rscd.apply(..., method="measured", threads=1)`` with a transient model over the first
   half of the groups (window from the middle on), native and big-endian SCI;
2. one numpy float pass over SCI, in place (``np.add(d, 0.5, out=d)``), the floor, on
   native and on big-endian SCI;

and prints their ratios (target: at most 3 on one thread). Each timing is the best of
``--repeat`` runs.

``--lightcurves``: the light-curve evaluation of tests/lightcurve_sim.py for every
transient kind at full size (``--nints`` integrations, each ``--ngroups``): bias and RMS
of none, flag with the recommended skip, measured with the true and with an estimated
model, and the median-slope alternative, against the transient-free truth, all fitted
with stcal's OLS ramp fitter. Prints a Markdown table (docs/performance.md has one).
"""
import argparse
import os
import sys
import time

import numpy as np

import rscd
from rscd.reference import MeasuredRow, Reference

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # the light-curve simulator


def best_of(repeat, setup, run):
    times = []
    for _ in range(repeat):
        args = setup()
        t0 = time.perf_counter()
        run(*args)
        times.append(time.perf_counter() - t0)
    return min(times)


def speed(nints, ngroups, repeat):
    rng = np.random.default_rng(0)
    shape = (nints, ngroups, 1024, 1032)
    base = (1000 + rng.uniform(5, 3000, shape[2:])[None, None]
            * np.arange(ngroups)[None, :, None, None]).astype(np.float32)
    base = np.broadcast_to(base, shape).copy()
    groupdq = np.zeros(shape, np.uint8)
    groupdq[:, :, ::97] |= 2
    pixeldq = np.zeros(shape[2:], np.uint32)
    w = ngroups // 2
    j = np.arange(w)
    rows = tuple(MeasuredRow("FULL", "FAST", k, p, w, a=0.8 * np.exp(-(j + 1) / 3),
                             b=40 * np.exp(-(j + 1) / 3))
                 for k in ("1", "2+") for p in ("EVEN", "ODD"))
    ref = Reference("bench", measured_rows=rows)
    work = base.copy()
    big = base.astype(">f4")

    def refill(target, src):
        def setup():
            np.copyto(target, src)
            return (target,)
        return setup

    floor = best_of(repeat, refill(work, base), lambda d: np.add(d, 0.5, out=d))
    floor_big = best_of(repeat, refill(big, base.astype(">f4")),
                        lambda d: np.add(d, 0.5, out=d))
    native = best_of(repeat, refill(work, base), lambda d: rscd.apply(
        d, groupdq, pixeldq, ref, readpatt="FAST", subarray="FULL", method="measured",
        threads=1))
    swapped = best_of(repeat, refill(big, base.astype(">f4")), lambda d: rscd.apply(
        d, groupdq, pixeldq, ref, readpatt="FAST", subarray="FULL", method="measured",
        threads=1))
    two = best_of(repeat, refill(work, base), lambda d: rscd.apply(
        d, groupdq, pixeldq, ref, readpatt="FAST", subarray="FULL", method="measured",
        threads=2))
    gb = base.nbytes / 1e9
    print(f"SCI cube {shape}, {gb:.2f} GB; model over groups 0..{w - 1}, window {w}.."
          f"{ngroups - 2}; best of {repeat}")
    print(f"  numpy in-place float pass (floor)   {floor:8.3f} s")
    print(f"  the same pass on big-endian SCI     {floor_big:8.3f} s")
    print(f"  measured, 1 thread, native          {native:8.3f} s   ratio {native / floor:5.2f}")
    print(f"  measured, 1 thread, big-endian      {swapped:8.3f} s   ratio {swapped / floor:5.2f}"
          f" (to the big-endian pass: {swapped / floor_big:.2f})")
    print(f"  measured, 2 threads, native         {two:8.3f} s   ratio {two / floor:5.2f}")
    print(f"  load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")


def lightcurves(nints, ngroups_list, ny):
    import lightcurve_sim as lc
    rows = []
    for ngroups in ngroups_list:
        for case in lc.CASES:
            sim = lc.simulate(case, nints=nints, ngroups=ngroups, ny=ny, nx=ny)
            for r in lc.evaluate(sim):
                r["case"] = f"{case}, {ngroups} groups"
                rows.append(r)
            print(f"  {case}, {ngroups} groups: done", file=sys.stderr)
    print(f"{nints} integrations, {ny} x {ny} pixels (two sources, 7-pixel apertures)")
    print(lc.format_table(rows))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--speed", action="store_true")
    p.add_argument("--lightcurves", action="store_true")
    p.add_argument("--speed-nints", type=int, default=2)
    p.add_argument("--speed-ngroups", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--nints", type=int, default=200)
    p.add_argument("--ngroups", type=int, nargs="+", default=[20, 30])
    p.add_argument("--size", type=int, default=32, help="frame side for --lightcurves")
    args = p.parse_args(argv)
    if args.speed or not args.lightcurves:
        speed(args.speed_nints, args.speed_ngroups, args.repeat)
    if args.lightcurves:
        lightcurves(args.nints, args.ngroups, args.size)


if __name__ == "__main__":
    main()
