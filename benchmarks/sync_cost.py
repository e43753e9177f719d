"""What syncing a new-file output costs (issue 22, docs/inplace.rst): the 1 GB full-frame
file of files.py (5 x 40 groups) corrected by `flag` to a new file, with the fsync of the
output (before its rename) and of its folder (after), and with both turned into no-ops,
alternating in one process. Prints the times and their ratio.

    python benchmarks/sync_cost.py [--repeat 3] [--folder DIR]
"""
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--folder", default=None)
    parser.add_argument("--shape", type=int, nargs=2, default=(5, 40), metavar=("NINTS", "NGROUPS"))
    args = parser.parse_args()
    import rscd
    from files import make_file
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        path, ref = make_file(folder, *args.shape)
        print(f"{path}: {os.path.getsize(path) / 1e9:.2f} GB")
        out = os.path.join(folder, "out_rscd.fits")
        real_fsync = os.fsync
        times = {"synced": [], "not synced": []}
        for _ in range(args.repeat):
            for case in times:
                if os.path.exists(out):
                    os.remove(out)
                os.sync()       # no case pays for writing back the previous one's output
                os.fsync = real_fsync if case == "synced" else (lambda fd: None)
                try:
                    t0 = time.perf_counter()
                    rscd.apply_file(path, ref, output=out, method="flag")
                    times[case].append(time.perf_counter() - t0)
                finally:
                    os.fsync = real_fsync
        best = {case: min(t) for case, t in times.items()}
        for case, t in times.items():
            print(f"{case:>11}: best {min(t):.2f} s  (all: {', '.join(f'{x:.2f}' for x in t)})")
        print(f"sync cost: {best['synced'] - best['not synced']:+.2f} s, ratio "
              f"{best['synced'] / best['not synced']:.2f}")


if __name__ == "__main__":
    main()
