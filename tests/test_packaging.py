"""The sdist holds everything needed to build, and a wheel built from it works."""
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "setup.py")),
                                reason="needs the source tree (setup.py)")


@pytest.mark.slow          # builds the C core from the sdist: .ci/run runs it (pytest -m slow)
def test_sdist_builds_a_working_wheel(tmp_path):
    pytest.importorskip("Cython", reason="building from the sdist needs Cython")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(dist)], cwd=ROOT,
                   check=True, capture_output=True)
    (sdist,) = dist.glob("rscd-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("setup.py", "pyproject.toml", "csrc/rscd.h", "csrc/rscd_internal.h",
                   "csrc/common.c", "csrc/flag.c", "csrc/decay.c", "csrc/fastamp.c",
                   "csrc/fastamp.h", "rscd/_core.pyx", "rscd/_core.pxd", "tests/c/test_rscd.c",
                   "README.md"):
        assert needed in names, f"{needed} missing from {sdist.name}"
    assert "rscd/_core.c" not in names
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(sdist)], check=True, capture_output=True)
    (wheel,) = wheels.glob("rscd-*.whl")
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    code = ("import numpy as np, rscd, sys; "
            "assert rscd.__file__.startswith(sys.argv[1]), rscd.__file__; "
            "ref = rscd.Reference(name='r', skip_rows=(rscd.SkipRow('FULL','FAST',1,2),)); "
            "g = np.zeros((2, 6, 2, 2), np.uint8); "
            "r = rscd.apply(np.zeros(g.shape, np.float32), g, np.zeros((2, 2), np.uint32), ref, "
            "readpatt='FAST', subarray='FULL'); "
            "assert r.status == 'COMPLETE' and g[1, :2].all() and not g[1, 2:].any()")
    subprocess.run([sys.executable, "-c", code, str(target)], cwd=str(tmp_path), check=True,
                   env=dict(os.environ, PYTHONPATH=str(target)))


def test_stpipe_entry_point_is_declared_installed_and_needs_no_jwst(tmp_path):
    # issue 16: the entry point lived in rscd._integration, a word that means something
    # else in this field; it is rscd.stpipe_steps, and loading it must not import jwst
    # (stpipe loads every package's entry point, also where jwst is not installed).
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        assert '\nrscd = "rscd.stpipe_steps:get_steps"\n' in f.read()
    code = ("import sys; from importlib.metadata import entry_points; "
            "(ep,) = [e for e in entry_points(group='stpipe.steps') if e.dist.name == 'rscd']; "
            "print(ep.value); steps = ep.load()(); "
            "assert not any(m == 'jwst' or m.startswith('jwst.') for m in sys.modules), "
            "'jwst imported'; "
            "assert ('rscd.step.RscdFastStep', 'rscd_fast', False) in steps, steps")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["rscd.stpipe_steps:get_steps"], \
        "the installed entry point is stale: pip install --no-build-isolation -e ."
