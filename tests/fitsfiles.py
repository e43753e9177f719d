"""Builders of small FITS ramp files and reference files for the tests (reusable by any
test module: ``from fitsfiles import ...`` with tests/ on sys.path, which pytest's rootdir
insertion gives)."""
import hashlib
import os

import numpy as np
from astropy.io import fits

import rscd
from rscd.demo import write_ramp_file
from rscd.reference import DecayCoeffs, DecayRow, SkipRow

DO_NOT_USE, SATURATED, JUMP_DET = 1, 2, 4
FLUX_ESTIMATED, REFERENCE_PIXEL = 2**28, 2**31

KEYWORDS = {"TELESCOP": "JWST", "INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE",
            "READPATT": "FAST", "SUBARRAY": "FULL", "EXP_TYPE": "MIR_IMAGE"}

EVEN = DecayCoeffs(tau=1.7, ascale=2e-7, pow=1.1, illum_zp=1.0, illum_slope=0.01, illum2=0.0,
                   param3=1e6, crossopt=10.0, sat_zp=1.0, sat_slope=0.0, sat_2=0.0,
                   sat_mzp=0.5, sat_rowterm=0.0, sat_scale=1e-5)
ODD = DecayCoeffs(**{**EVEN.as_dict(), "tau": 1.3, "ascale": 1.5e-7})


def ramp_arrays(nints=3, ngroups=8, nrows=10, ncols=12, seed=0):
    """Ramps with saturation at varied groups (some from group 0), JUMP_DET bits, and a
    PIXELDQ holding REFERENCE_PIXEL (bit 31) columns, FLUX_ESTIMATED and low bits."""
    rng = np.random.default_rng(seed)
    shape = (nints, ngroups, nrows, ncols)
    rate = rng.uniform(5, 4000, (nrows, ncols))
    data = (1000 + rate * np.arange(1, ngroups + 1)[:, None, None]
            + rng.normal(0, 5, (nints, ngroups, nrows, ncols))).astype(np.float32)
    groupdq = np.zeros(shape, np.uint8)
    first_sat = rng.integers(0, ngroups + 4, (nints, nrows, ncols))   # >= ngroups: never
    g = np.arange(ngroups)[None, :, None, None]
    groupdq[g >= first_sat[:, None]] |= SATURATED
    groupdq[rng.random(shape) < 0.05] |= JUMP_DET
    pixeldq = np.zeros((nrows, ncols), np.uint32)
    pixeldq[:, :2] |= REFERENCE_PIXEL
    pixeldq[:, -2:] |= REFERENCE_PIXEL
    pixeldq[rng.random((nrows, ncols)) < 0.2] |= FLUX_ESTIMATED
    pixeldq[rng.random((nrows, ncols)) < 0.2] |= 1
    return data, groupdq, pixeldq


def keywords(nints, ngroups, **extra):
    out = dict(KEYWORDS, NINTS=nints, NGROUPS=ngroups, INTSTART=1, SUBSTRT2=1)
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def write_astropy(path, data, groupdq, pixeldq, *, extra_hdus=(), **kw):
    """A ramp file written with plain astropy (as rscd.demo writes one)."""
    write_ramp_file(path, data, groupdq, pixeldq, keywords(*data.shape[:2], **kw))
    if extra_hdus:
        with fits.open(path) as hdul:
            fits.HDUList([h.copy() for h in hdul] + list(extra_hdus)).writeto(path,
                                                                              overwrite=True)
    return path


def write_datamodel(path, data, groupdq, pixeldq, *, readpatt="FAST", subarray="FULL",
                    detector="MIRIMAGE", integration_start=1, nints=None, ystart=1):
    """A ramp file written by stdatamodels' RampModel.save (SCI, PIXELDQ, GROUPDQ, ASDF)."""
    from stdatamodels.jwst.datamodels import RampModel
    with RampModel(data.shape) as model:
        model.data[...] = data
        model.groupdq[...] = groupdq
        model.pixeldq[...] = pixeldq
        meta = model.meta
        meta.instrument.name = "MIRI"
        meta.instrument.detector = detector
        meta.exposure.type = "MIR_IMAGE"
        meta.exposure.readpatt = readpatt
        meta.exposure.nints = nints or integration_start - 1 + data.shape[0]
        meta.exposure.ngroups = data.shape[1]
        meta.exposure.integration_start = integration_start
        meta.subarray.name = subarray
        meta.subarray.ystart = ystart
        model.save(path)
    return path


def flag_reference(path, skip1=1, skip2p=3, readpatt="FAST", subarray="FULL"):
    rscd.write_flag_reference(path, [SkipRow(subarray, readpatt, skip1, skip2p),
                                     SkipRow("SUB64", "SLOW", 2, 2)], overwrite=True)
    return path


def decay_reference(path, readpatt="FAST", subarray="FULL"):
    rscd.write_decay_reference(path, [DecayRow(subarray, readpatt, EVEN, ODD)], overwrite=True)
    return path


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def segments(path):
    """(name, header bytes, data bytes) of every HDU, from the file's own offsets."""
    with open(path, "rb") as f:
        raw = f.read()
    out = []
    with fits.open(path, memmap=False) as hdul:
        for i, hdu in enumerate(hdul):
            info = hdul.fileinfo(i)
            out.append((hdu.name, raw[info["hdrLoc"]:info["datLoc"]],
                        raw[info["datLoc"]:info["datLoc"] + info["datSpan"]]))
    return out


def leftovers(folder):
    """Temporary files an interrupted or failed run might have left."""
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp") or ".tmp-" in n)


def fill_primary_header(path):
    """Add PADn keywords to the primary header of ``path`` until no card is free (astropy
    rewrites the file); returns ``path``."""
    with fits.open(path) as hdul:
        header, n = hdul[0].header, 0
        while len(header) + 1 < 36 * (len(header.tostring()) // 2880):
            header[f"PAD{n}"] = n
            n += 1
        hdul.writeto(path, overwrite=True)
    assert free_cards(path) == 0
    return path


def free_cards(path):
    """Cards the primary header can take without growing, read from the file's bytes:
    blank cards just before END (astropy fills them first) and those after END up to
    the end of its 2880-byte block."""
    with open(path, "rb") as f:
        head = f.read(2880)
        while b"END" + b" " * 77 not in [head[i:i + 80] for i in range(0, len(head), 80)]:
            block = f.read(2880)
            if len(block) < 2880:
                raise AssertionError(f"{path}: no END card in the primary header")
            head += block
    cards = [head[i:i + 80] for i in range(0, len(head), 80)]
    end = cards.index(b"END" + b" " * 77)
    blank = 0
    while blank < end and cards[end - 1 - blank] == b" " * 80:
        blank += 1
    return blank + len(cards) - end - 1
