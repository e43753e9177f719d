"""(Re)write the small seed corpus under fuzz/corpus/ (committed; run from anywhere)."""
import os
import sys

import numpy as np

import _common

sys.path.insert(0, os.path.join(_common.ROOT, "tests"))
import rscd  # noqa: E402
from fitsfiles import EVEN, ODD, ramp_arrays, write_astropy  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def main():
    ref_dir = os.path.join(HERE, "reference")
    ramp_dir = os.path.join(HERE, "ramp_header")
    core_dir = os.path.join(HERE, "core")
    for d in (ref_dir, ramp_dir, core_dir):
        os.makedirs(d, exist_ok=True)
    rscd.write_flag_reference(os.path.join(ref_dir, "flag.fits"),
                              [("FULL", "FAST", 1, 2), ("SUBPRISM", "SLOW", -1, 3)],
                              overwrite=True)
    rscd.write_decay_reference(os.path.join(ref_dir, "decay.fits"),
                               [rscd.DecayRow("FULL", "FAST", EVEN, ODD)], overwrite=True)
    tmp = os.path.join(ramp_dir, "tmp.fits")
    for name, mode, kw in (("flag_new", 0, {}), ("decay_inplace", 3, {}),
                           ("segment_decay", 2, {"INTSTART": 3, "NINTS": 9}),
                           ("running_force", 7, {"S_RSCD": "RUNNING"})):
        write_astropy(tmp, *ramp_arrays(2, 4, 2, 3), **kw)
        with open(tmp, "rb") as f:
            body = f.read()
        os.remove(tmp)
        with open(os.path.join(ramp_dir, name), "wb") as f:
            f.write(bytes([mode]) + body)
    rng = np.random.default_rng(9)
    for i in range(4):
        with open(os.path.join(core_dir, f"seed{i}"), "wb") as f:
            f.write(rng.integers(0, 256, 64 + 300 * i, dtype=np.uint8).tobytes())


if __name__ == "__main__":
    main()
