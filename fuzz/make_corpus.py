"""(Re)write the small seed corpus under fuzz/corpus/ (committed; run from anywhere)."""
import os
import sys

import numpy as np

import _common

sys.path.insert(0, os.path.join(_common.ROOT, "tests"))
import rscd  # noqa: E402
from astropy.io import fits  # noqa: E402
from fitsfiles import EVEN, KEYWORDS, ODD, ramp_arrays, write_astropy  # noqa: E402

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
    # Raw files (uncal: SCI as 16-bit counts with BZERO, no GROUPDQ or PIXELDQ; a REFOUT),
    # which a new-file run writes in the ramp layout (rscd/raw_ramp.py).
    counts = np.clip(ramp_arrays(2, 4, 2, 3)[0] * 9, 0, 65535).astype(np.uint16)
    primary = fits.PrimaryHDU()
    primary.header.update(KEYWORDS, NINTS=2, NGROUPS=4)
    fits.HDUList([primary, fits.ImageHDU(counts, name="SCI"),
                  fits.ImageHDU(counts[..., :1], name="REFOUT")]).writeto(tmp)
    with open(tmp, "rb") as f:
        body = f.read()
    os.remove(tmp)
    for name, mode in (("raw_uncal_flag_new", 0), ("raw_uncal_decay_new", 2)):
        with open(os.path.join(ramp_dir, name), "wb") as f:
            f.write(bytes([mode]) + body)
    rng = np.random.default_rng(9)
    for i in range(4):
        with open(os.path.join(core_dir, f"seed{i}"), "wb") as f:
            f.write(rng.integers(0, 256, 64 + 300 * i, dtype=np.uint8).tobytes())


if __name__ == "__main__":
    main()
