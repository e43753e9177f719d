"""rscd ships type information: py.typed and a stub of the compiled module that lists
exactly what the module defines (checked without mypy; with mypy, by stubtest too)."""
import ast
import importlib.util
import os
import subprocess
import sys

import pytest

import rscd
import rscd._core

PACKAGE = os.path.dirname(os.path.abspath(rscd.__file__))
STUB = os.path.join(PACKAGE, "_core.pyi")


def stub_names():
    with open(STUB) as f:
        tree = ast.parse(f.read())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            if not any(getattr(d, "id", None) == "type_check_only" for d in node.decorator_list):
                names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets)
    return {n for n in names if not n.startswith("__")}


def test_py_typed_and_stub_are_installed_with_the_package():
    assert os.path.exists(os.path.join(PACKAGE, "py.typed"))
    assert os.path.exists(STUB)


def test_stub_lists_what_the_compiled_module_defines():
    runtime = {n for n in dir(rscd._core) if not n.startswith("__")}
    assert stub_names() == runtime, ("rscd/_core.pyi is out of date: update it to match "
                                     "rscd/_core.pyx")


def test_stub_enum_values_match():
    with open(STUB) as f:
        text = f.read()
    for member in rscd._core.Status:
        assert f"    {member.name} = {int(member)}\n" in text, member


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed")
def test_stubtest(tmp_path):
    # Only the stub is judged here, not the typing of the package's Python code.
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nignore_missing_imports = True\n"
                      "[mypy-rscd.*]\nignore_errors = True\n")
    proc = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--mypy-config-file",
                           str(config), "rscd._core"],
                          capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(PACKAGE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
