"""jwst 3.0.0's own rscd unit tests, run against rscd (issue 14.3).

``test_rscd.py`` with its flagging routine routed to rscd.apply_model, and
``test_rscd_step.py`` with ``RscdStep`` replaced by our RscdFastStep, both read from the
installed jwst (never copied here) and run in a subprocess by pytest with the plugin
``jwst_routing`` and an offline CRDS cache that answers the tests' model (MIRIMAGE,
2024-01-01, SUB128/FASTR1). Every one of jwst's tests must run and pass.
"""
import ast
import importlib.util
import os
import re
import subprocess
import sys

import pytest

from crds_cache import build_cache, offline_environment
from fitsfiles import flag_reference

pytest.importorskip("jwst", reason="jwst not installed (pip install rscd[jwst])")

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ("jwst.rscd.tests.test_rscd", "jwst.rscd.tests.test_rscd_step")
# Module-level test functions of jwst 3.0.0's two files (none is parametrized).
EXPECTED = {"test_rscd": 7, "test_rscd_step": 4}


def defined_tests(module):
    """Names of the test functions defined in an installed module, read from its source."""
    with open(importlib.util.find_spec(module).origin) as f:
        tree = ast.parse(f.read())
    return sorted(node.name for node in tree.body
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"))


@pytest.mark.slow  # jwst's own test files in a pytest child: .ci/run runs it (pytest -m slow)
def test_jwst_rscd_tests_pass_against_rscd(tmp_path):
    cache = tmp_path / "crds_cache"
    build_cache(cache, lambda path: flag_reference(path, skip1=1, skip2p=4, readpatt="FASTR1",
                                                   subarray="SUB128"))
    env = dict(os.environ)
    for name, value in offline_environment(cache).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["PYTHONPATH"] = os.pathsep.join([HERE] + [p for p in [env.get("PYTHONPATH")] if p])
    # An ini of our own, so neither this project's nor any other configuration applies;
    # warnings are errors, as in this project's own runs.
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\nfilterwarnings =\n    error\n"
                   "    ignore:'get_cache_lock' is deprecated:DeprecationWarning\n")
    # rootdir: the tests' folder, so their node ids read "test_rscd.py::test_..." (nothing
    # is written there: the cache provider is off).
    rootdir = os.path.dirname(importlib.util.find_spec(MODULES[0]).origin)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ini), "--rootdir", rootdir,
         "-p", "jwst_routing", "-p", "no:cacheprovider", "-q", "-rA", "--pyargs", *MODULES],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]

    # -rA: one "OUTCOME path::test" line per test.
    ran = {}
    for outcome, path, name in re.findall(r"^([A-Z]+) (\S+)::(\S+)", output, re.M):
        assert outcome == "PASSED", f"{path}::{name} {outcome}\n{output}"
        ran.setdefault(os.path.basename(path)[:-3], []).append(name)
    for module in MODULES:
        short = module.rsplit(".", 1)[-1]
        assert sorted(ran.get(short, [])) == defined_tests(module), output
        assert len(ran[short]) == EXPECTED[short]
    assert f"{sum(EXPECTED.values())} passed" in output

    # The routing took place: our flagging for test_rscd.py's 7 tests, our step for
    # test_rscd_step.py's 4 (each calls the step once).
    counts = dict(item.split("=") for item in
                  output.split("rscd routing: ", 1)[1].splitlines()[0].split())
    assert int(counts["flag_model"]) >= EXPECTED["test_rscd"]
    assert int(counts["RscdFastStep"]) == EXPECTED["test_rscd_step"]
