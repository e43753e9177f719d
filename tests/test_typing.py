"""rscd ships type information that is checked: py.typed, a stub of the compiled module that
matches what the module defines (names, enum values, signatures; and mypy's stubtest),
annotations on the public API, and ``mypy rscd`` with default settings reporting nothing.

mypy is in the ``test`` extra, so none of these tests is skipped. The two package-wide
checks (``mypy rscd``, the public API annotated) are strict on purpose: they fail, listing
what remains by file, until every module is typed (issue 16).
"""
import ast
import collections
import importlib
import inspect
import os
import subprocess
import sys

import pytest

import rscd
import rscd._core

PACKAGE = os.path.dirname(os.path.abspath(rscd.__file__))
#: The clone whose tests these are (mypy checks its rscd/ source folder).
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUB = os.path.join(PACKAGE, "_core.pyi")

#: Modules whose ``__all__`` is the public API (rscd.step needs jwst: checked when present).
PUBLIC_MODULES = ("rscd", "rscd.correct", "rscd.fits", "rscd.reference", "rscd.batch",
                  "rscd.segments", "rscd.model", "rscd.plot", "rscd.demo", "rscd.crds",
                  "rscd.dq", "rscd.cli", "rscd.dask", "rscd.diagnose", "rscd.step",
                  "rscd.stpipe_steps")


def stub_tree():
    with open(STUB) as f:
        return ast.parse(f.read())


def stub_names():
    names = set()
    for node in stub_tree().body:
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


_KINDS = inspect.Parameter


def _stub_parameters(args):
    """(name, kind, default) of a stub function's parameters; default is ``...`` for a
    default the stub does not spell out, ``inspect.Parameter.empty`` for none."""
    positional = args.posonlyargs + args.args
    defaults = [_KINDS.empty] * (len(positional) - len(args.defaults)) + args.defaults
    params = [(a.arg, _KINDS.POSITIONAL_ONLY if a in args.posonlyargs
               else _KINDS.POSITIONAL_OR_KEYWORD, d) for a, d in zip(positional, defaults)]
    if args.vararg:
        params.append((args.vararg.arg, _KINDS.VAR_POSITIONAL, _KINDS.empty))
    params += [(a.arg, _KINDS.KEYWORD_ONLY, _KINDS.empty if d is None else d)
               for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        params.append((args.kwarg.arg, _KINDS.VAR_KEYWORD, _KINDS.empty))
    return [(name, kind, default if default is _KINDS.empty else ast.literal_eval(default))
            for name, kind, default in params]


def test_stub_signatures_match_the_compiled_module():
    # Without mypy: every function of the stub has the runtime's parameters, in order,
    # with the same kinds and defaults (Cython 3 functions carry their signature).
    checked = 0
    for node in stub_tree().body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("__"):
            continue
        runtime = inspect.signature(getattr(rscd._core, node.name))
        expected = [(p.name, p.kind, p.default) for p in runtime.parameters.values()]
        got = _stub_parameters(node.args)
        for (name, kind, default), (rname, rkind, rdefault) in zip(got, expected):
            assert (name, kind) == (rname, rkind), f"{node.name}: stub {name} vs {rname}"
            if default is not Ellipsis:
                assert default == rdefault, f"{node.name}({name}): {default!r} vs {rdefault!r}"
        assert len(got) == len(expected), f"{node.name}: {got} vs {expected}"
        checked += 1
    assert checked >= 1


def _mypy(*args, cwd, tmp_path):
    env = dict(os.environ, MYPY_CACHE_DIR=str(tmp_path / "mypy_cache"))
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=900, cwd=cwd, env=env)


@pytest.mark.slow  # stubtest imports and checks the compiled module: .ci/run runs it (pytest -m slow)
def test_stubtest(tmp_path):
    # Only the stub is judged here, not the typing of the package's Python code.
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nignore_missing_imports = True\n"
                      "[mypy-rscd.*]\nignore_errors = True\n")
    # From a neutral folder: the installed package (its compiled core and shipped stub).
    proc = _mypy("mypy.stubtest", "--mypy-config-file", str(config), "rscd._core",
                 cwd=str(tmp_path), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow  # mypy over the whole package takes minutes; .ci/run runs it (pytest -m slow)
def test_mypy_rscd_reports_no_errors(tmp_path):
    # `mypy rscd` as CI runs it: default settings, from the source folder.
    # (The source folder, not the installed copy: CI's virtual environment lies inside the
    # clone, and mypy run inside site-packages refuses its files as shadowing modules.)
    proc = _mypy("mypy", "rscd", cwd=SOURCE_ROOT, tmp_path=tmp_path)
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    by_file = collections.Counter(line.split(":", 1)[0] for line in errors)
    assert proc.returncode == 0 and not errors, (
        f"mypy rscd: {len(errors)} error(s): "
        + ", ".join(f"{f} {n}" for f, n in sorted(by_file.items()))
        + "\n" + "\n".join(errors[:60]) + proc.stderr[-2000:])


def _unannotated(func):
    """Parameters without an annotation, and 'return' when the return is not annotated."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    missing = [p.name for p in sig.parameters.values()
               if p.annotation is inspect.Parameter.empty and p.name not in ("self", "cls")]
    if sig.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def test_public_api_is_annotated():
    # Every function (and public method) named in a module's __all__ says what it takes
    # and returns.
    missing = {}
    for name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:          # rscd.step without jwst, rscd.dask without dask
            continue
        for attr in getattr(module, "__all__", ()):
            obj = getattr(module, attr)
            if getattr(obj, "__module__", name) != name:
                continue                    # re-exported: checked where it is defined
            functions = [(attr, obj)] if inspect.isfunction(obj) else [
                (f"{attr}.{m}", f) for m, f in vars(obj).items()
                if inspect.isfunction(f) and not m.startswith("_")] if inspect.isclass(obj) \
                else []
            for label, func in functions:
                if _unannotated(func):
                    missing[f"{name}.{label}"] = _unannotated(func)
    assert not missing, "not annotated:\n" + "\n".join(
        f"  {k}: {', '.join(v)}" for k, v in sorted(missing.items()))
