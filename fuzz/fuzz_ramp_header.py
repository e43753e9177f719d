"""Fuzz the FITS reading of rscd.apply_file on mutated small ramp files, both modes.

Allowed outcomes: a Result, rscd.RampFileError, rscd.RSCDError, FileExistsError (never
expected: fresh folder), ValueError/TypeError raised by rscd with a message. Anything
else, or a crash, is a finding. The input must never change in a new-file run and no
temporary file may be left behind.
Run: python fuzz/fuzz_ramp_header.py fuzz/corpus/ramp_header -max_total_time=30
"""
import hashlib
import os
import shutil
import sys
import tempfile

import atheris

import _common  # noqa: E402  (numpy/astropy imported uninstrumented)

with atheris.instrument_imports(include=["rscd"]):
    import rscd

TMP = tempfile.mkdtemp(prefix="rscd-fuzz-ramp-")
REFS = {}


def _refs():
    if not REFS:
        sys.path.insert(0, os.path.join(_common.ROOT, "tests"))
        from fitsfiles import decay_reference, flag_reference
        REFS["flag"] = rscd.read_reference(flag_reference(os.path.join(TMP, "flag.fits")))
        REFS["decay"] = rscd.read_reference(decay_reference(os.path.join(TMP, "decay.fits")))
    return REFS


def TestOneInput(data):
    if len(data) < 2:
        return
    refs = _refs()
    mode, body = data[0], data[1:]
    work = os.path.join(TMP, "work")
    shutil.rmtree(work, ignore_errors=True)
    os.mkdir(work)
    path = os.path.join(work, "x_uncal.fits")
    with open(path, "wb") as f:
        f.write(body)
    before = hashlib.sha256(body).hexdigest()
    inplace = bool(mode & 1)
    ref = refs["decay" if mode & 2 else "flag"]
    try:
        rscd.apply_file(path, ref, inplace=inplace, force=bool(mode & 4))
    except (rscd.RampFileError, rscd.RSCDError) as exc:
        assert str(exc)
    except (ValueError, TypeError) as exc:
        # Documented for bad arguments/values; must say something and name no internals.
        assert str(exc), repr(exc)
    names = os.listdir(work)
    assert not [n for n in names if n.endswith(".tmp")], names
    if not inplace:
        with open(path, "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == before, "input changed"


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
