"""Fuzz rscd.read_reference on mutated bytes (written to a temporary file).

Only rscd.ReferenceFileError may come out; anything else, or a crash, is a finding.
Run: python fuzz/fuzz_reference.py fuzz/corpus/reference -max_total_time=30
"""
import os
import sys
import tempfile

import atheris

import _common  # noqa: E402  (numpy/astropy imported uninstrumented)

with atheris.instrument_imports(include=["rscd"]):
    import rscd

TMP = tempfile.mkdtemp(prefix="rscd-fuzz-ref-")
PATH = os.path.join(TMP, "ref.fits")


def TestOneInput(data):
    with open(PATH, "wb") as f:
        f.write(data)
    try:
        ref = rscd.read_reference(PATH)
    except rscd.ReferenceFileError as exc:
        assert PATH in str(exc), str(exc)
        return
    # A file that reads must be usable: lookups never raise anything but ReferenceFileError.
    for method in ("flag", "decay"):
        try:
            ref.lookup("FAST", "FULL", method)
        except rscd.ReferenceFileError:
            pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
