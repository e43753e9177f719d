"""Fuzz the C entry points through the wrapper: rscd._core.flag, _core.flag_range_stop,
_core.decay and rscd.apply, with fuzzed shapes, flags, values, coefficients and counts.

Allowed: a result, TypeError/ValueError (rscd.RSCDError is one), MemoryError never
expected. Checked on every success: flag only adds bits and leaves SCI alone; decay
leaves DQ and integration 0 alone and never turns a finite sample non-finite; a failed
call leaves the arrays byte-identical. A crash (the C core reading or writing out of
bounds) kills the process: that is the main finding this harness looks for.
Run: python fuzz/fuzz_core.py fuzz/corpus/core -max_total_time=30
"""
import sys

import atheris

import _common  # noqa: E402  (numpy/astropy imported uninstrumented)

with atheris.instrument_imports(include=["rscd"]):
    import numpy as np
    import rscd
    from rscd import _core

NAMES = ("tau", "ascale", "pow", "illum_zp", "illum_slope", "illum2", "param3", "crossopt",
         "sat_zp", "sat_slope", "sat_2", "sat_mzp", "sat_rowterm", "sat_scale")
SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-300, 1e300, -1e300, float("inf"), float("-inf"),
           float("nan"), 1e38, 3.4e38, 1e-45, 0.5, 2.0, 1e6]


def _float(fdp):
    if fdp.ConsumeBool():
        return fdp.PickValueInList(SPECIAL)
    return fdp.ConsumeFloat()


def _int(fdp):
    return fdp.PickValueInList([0, 1, 2, 3, -1, -2, 2**31 - 1, 2**31, 2**62, 2**63 - 1,
                                -(2**63), fdp.ConsumeIntInRange(-5, 40)])


def TestOneInput(data):
    fdp = atheris.FuzzedDataProvider(data)
    shape = tuple(fdp.ConsumeIntInRange(0, n) for n in (4, 9, 5, 6))
    size = int(np.prod(shape))
    raw = fdp.ConsumeBytes(size * 4)
    sci = np.frombuffer(raw.ljust(size * 4, b"\0"), np.float32).reshape(shape).copy()
    if fdp.ConsumeBool():
        sci = sci.astype(">f4")
    gdq = np.frombuffer(fdp.ConsumeBytes(size).ljust(size, b"\0"), np.uint8).reshape(shape)
    gdq = gdq.copy() if fdp.ConsumeBool() else (gdq & 2).astype(np.uint8)
    npix = shape[2] * shape[3]
    pdq = np.frombuffer(fdp.ConsumeBytes(npix * 4).ljust(npix * 4, b"\0"),
                        np.uint32).reshape(shape[2:]).copy()
    which = fdp.ConsumeIntInRange(0, 3)
    before = [a.copy() for a in (sci, gdq, pdq)]
    try:
        if which == 0:
            _core.flag(gdq, pdq, _int(fdp), _int(fdp), _int(fdp), _int(fdp),
                       fdp.ConsumeIntInRange(0, 3))
        elif which == 1:
            _core.flag_range_stop(gdq, pdq, _int(fdp), _int(fdp), _int(fdp), _int(fdp),
                                  fdp.ConsumeIntInRange(0, 3))
        elif which == 2:
            even = {n: _float(fdp) for n in NAMES}
            odd = {n: _float(fdp) for n in NAMES}
            prev = None
            if fdp.ConsumeBool():
                prev = (np.full(shape[1:], _float(fdp), np.float32),
                        np.full(shape[1:], fdp.ConsumeIntInRange(0, 255), np.uint8))
            _core.decay(sci.reshape(-1).view(sci.dtype.newbyteorder("=")),
                        not sci.dtype.isnative, gdq, pdq, even, odd, _int(fdp), _int(fdp),
                        _int(fdp), prev[0] if prev else None, prev[1] if prev else None,
                        fdp.ConsumeIntInRange(0, 3))
        else:
            method = fdp.PickValueInList(["flag", "decay"])
            coeffs = rscd.DecayCoeffs(**{n: _float(fdp) for n in NAMES})
            ref = rscd.Reference(
                name="fuzz",
                skip_rows=(rscd.SkipRow("FULL", "FAST", _int(fdp), _int(fdp)),),
                decay_rows=(rscd.DecayRow("FULL", "FAST", coeffs, coeffs),))
            res = rscd.apply(sci, gdq, pdq, ref, readpatt="FAST", subarray="FULL",
                             method=method, nints=fdp.PickValueInList([None, _int(fdp)]),
                             integration_start=max(1, _int(fdp)) if fdp.ConsumeBool() else 1,
                             substrt2=fdp.ConsumeIntInRange(1, 9),
                             threads=fdp.PickValueInList([None, 1, 3]))
            _check_success(method, res, before, sci, gdq, pdq)
    except (TypeError, ValueError) as exc:
        assert str(exc)
        if which == 3:   # rscd.apply validates before it writes
            for a, b in zip((sci, gdq, pdq), before):
                assert a.tobytes() == b.tobytes(), f"changed by a failed call: {exc}"


def _check_success(method, res, before, sci, gdq, pdq):
    assert res.status in ("COMPLETE", "SKIPPED")
    b_sci, b_gdq, b_pdq = before
    if method == "flag":
        assert sci.tobytes() == b_sci.tobytes()
        assert ((gdq & b_gdq) == b_gdq).all() and ((pdq & b_pdq) == b_pdq).all()
        assert not ((gdq ^ b_gdq) & ~np.uint8(1)).any()        # only DO_NOT_USE added
        return
    assert gdq.tobytes() == b_gdq.tobytes() and pdq.tobytes() == b_pdq.tobytes()
    if sci.shape[0]:
        assert sci[0].tobytes() == b_sci[0].tobytes()
    finite = np.isfinite(b_sci)
    assert np.isfinite(sci[finite]).all(), "a finite sample became non-finite"
    assert sci[~finite].tobytes() == b_sci[~finite].tobytes() or \
        np.array_equal(sci[~finite], b_sci[~finite], equal_nan=True)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
