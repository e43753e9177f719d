"""Test-time access to the 2019 decay correction of jwst 0.17.1.

The function `correction_decay_function` of `jwst/rscd/rscd_sub.py` in the
jwst 0.17.1 sdist (PyPI) is the last released form of the seed's algorithm.
It is fetched once with pip into a cache outside the repository
($RSCD_TEST_CACHE, else ~/.cache/rscd-tests), only that one file is
extracted, checked against a pinned SHA-256, and loaded as a module with a
stub for its one package import (`from ..datamodels import dqflags`). No
code of it is kept in this repository.

Tests call `legacy_decay(...)`, or `require_legacy()` which skips the test
with the reason when the download is impossible (offline, no pip).
"""
import hashlib
import importlib.util
import os
import subprocess
import sys
import tarfile
import types
import warnings

import numpy as np

VERSION = "0.17.1"
MEMBER = "jwst/rscd/rscd_sub.py"
SHA256 = "faedfb494fc5f23ae3e356cdf1eb0ac9c5d20c5e7fd34f9dd267add3504d4e26"
_PKG = "_rscd_legacy_jwst_0_17_1"  # private package name for the stubs

_cache = {}


def cache_dir():
    d = os.environ.get("RSCD_TEST_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "rscd-tests")
    os.makedirs(d, exist_ok=True)
    return d


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _fetch_source():
    """Path of the extracted rscd_sub.py; raises RuntimeError with a reason. One process
    at a time (pytest-xdist runs several): the others wait, then find the file."""
    import fcntl
    with open(os.path.join(cache_dir(), "fetch.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _fetch_source_locked()


def _fetch_source_locked():
    d = cache_dir()
    target = os.path.join(d, "jwst-%s-rscd_sub.py" % VERSION)
    if os.path.exists(target) and _sha256(target) == SHA256:
        return target
    sdist = os.path.join(d, "jwst-%s.tar.gz" % VERSION)
    if not os.path.exists(sdist):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "jwst==%s" % VERSION, "-d", d, "-q", "--disable-pip-version-check"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError("pip download of jwst==%s failed: %s" % (VERSION, exc))
        if proc.returncode != 0 or not os.path.exists(sdist):
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError("pip download of jwst==%s failed: %s" % (VERSION, tail[0]))
    with tarfile.open(sdist, "r:gz") as tar:
        member = next((m for m in tar.getmembers()
                       if m.name.endswith("/" + MEMBER) and m.isfile()), None)
        if member is None:
            raise RuntimeError("%s not found in %s" % (MEMBER, sdist))
        data = tar.extractfile(member).read()
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise RuntimeError("%s in %s does not have the expected SHA-256" % (MEMBER, sdist))
    tmp = target + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
    os.remove(sdist)  # only the one file is needed; the 13 MB sdist goes
    return target


def _load_module(path):
    # Stub packages so that `from ..datamodels import dqflags` resolves to
    # the DQ values the 2019 code uses, without importing any jwst.
    pkg = types.ModuleType(_PKG)
    pkg.__path__ = []
    sub = types.ModuleType(_PKG + ".rscd")
    sub.__path__ = []
    dm = types.ModuleType(_PKG + ".datamodels")
    dm.__path__ = []
    dqflags = types.ModuleType(_PKG + ".datamodels.dqflags")
    dqflags.group = {"GOOD": 0, "DO_NOT_USE": 1, "SATURATED": 2, "JUMP_DET": 4}
    dqflags.pixel = {"GOOD": 0, "DO_NOT_USE": 1, "SATURATED": 2, "JUMP_DET": 4,
                     "FLUX_ESTIMATED": 2 ** 28, "REFERENCE_PIXEL": 2 ** 31}
    dm.dqflags = dqflags
    for m in (pkg, sub, dm, dqflags):
        sys.modules[m.__name__] = m
    name = _PKG + ".rscd.rscd_sub"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    # Its logger is set to DEBUG at import; keep the test log quiet.
    mod.log.setLevel("WARNING")
    return mod


def load():
    """The 2019 module; raises RuntimeError (with the reason) when unavailable."""
    if "mod" not in _cache:
        if "error" in _cache:
            raise RuntimeError(_cache["error"])
        try:
            _cache["mod"] = _load_module(_fetch_source())
        except RuntimeError as exc:
            _cache["error"] = str(exc)
            raise
    return _cache["mod"]


def require_legacy():
    """The 2019 module, or pytest.skip with the reason it is unavailable."""
    import pytest
    try:
        return load()
    except RuntimeError as exc:
        pytest.skip("jwst %s (2019 decay code) unavailable: %s" % (VERSION, exc))


class _CalStep:
    rscd = None


class _Meta:
    def __init__(self):
        self.cal_step = _CalStep()


class _RampStub:
    """What correction_decay_function touches of a RampModel."""

    def __init__(self, data, groupdq, pixeldq):
        self.data = data
        self.groupdq = groupdq
        self.pixeldq = pixeldq
        self.meta = _Meta()

    def copy(self):
        return _RampStub(self.data.copy(), self.groupdq.copy(), self.pixeldq.copy())


def legacy_decay(data, groupdq, pixeldq, even, odd, param_dtype=np.float32,
                 data_dtype=np.float32):
    """Run jwst 0.17.1's correction_decay_function on copies of the arrays.

    even, odd: dicts with our 14 parameter names (`sat_2` is `sat2` there).
    param_dtype: the values are handed over as numpy scalars of this type,
    as the 2019 code read them from the float32 columns of the RSCD table.
    data_dtype: the dtype SCI is handed over in. float32 is what the 2019 code
    ran on (a RampModel); float64 runs the same numpy code without its float32
    intermediates (its `exp(c2/param3) - 1` in float32 loses digits when
    c2 << param3), isolating the algorithm from that rounding.
    The 2019 code knows no SUBSTRT2: its array row 0 is always odd.
    Returns (new native SCI rounded to float32, cal_step status string).
    """
    mod = load()

    def conv(c):
        out = {}
        for k, v in c.items():
            out["sat2" if k == "sat_2" else k] = param_dtype(v)
        return out

    model = _RampStub(np.ascontiguousarray(data, dtype=data_dtype),
                      np.ascontiguousarray(groupdq, dtype=np.uint8),
                      np.ascontiguousarray(pixeldq, dtype=np.uint32))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # It raises numpy warnings on the very inputs that make it produce NaN.
        warnings.simplefilter("ignore")
        out = mod.correction_decay_function(model, {"even": conv(even), "odd": conv(odd)})
    return np.asarray(out.data, dtype=np.float32), out.meta.cal_step.rscd
