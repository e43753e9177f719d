"""The C example of docs/embedding.rst: every shell command shown on that page is run
(in a copy of csrc/ and docs/examples/), and the program prints what the page shows."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, "docs", "embedding.rst")
EXAMPLES = os.path.join(ROOT, "docs", "examples")
CC = shutil.which("cc") or shutil.which("gcc")

pytestmark = [
    pytest.mark.skipif(not os.path.exists(PAGE), reason="needs the source tree (docs/)"),
    pytest.mark.skipif(CC is None or sys.platform == "win32", reason="no C compiler (cc)"),
]


def console_blocks():
    """The ``$ `` lines of each ``code-block:: console`` of the page, block by block."""
    blocks = []
    with open(PAGE) as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines):
        if line.strip() == ".. code-block:: console":
            block = []
            for following in lines[n + 1:]:
                if following.strip() and not following.startswith("   "):
                    break
                if following.strip().startswith("$ "):
                    block.append(following.strip()[2:])
            blocks.append(block)
    return blocks


def workdir(tmp_path):
    """A folder laid out like the repository root, as the page's commands expect."""
    shutil.copytree(os.path.join(ROOT, "csrc"), tmp_path / "csrc")
    shutil.copytree(EXAMPLES, tmp_path / "docs" / "examples")
    return tmp_path


def shell(command, cwd):
    return subprocess.run(command, shell=True, cwd=str(cwd), capture_output=True, text=True,
                          timeout=120)


def expected_output():
    with open(os.path.join(EXAMPLES, "embed.out")) as f:
        return f.read()


def test_page_has_the_three_builds():
    blocks = console_blocks()
    assert len(blocks) == 3, blocks
    assert blocks[0][-1] == "./embed"
    assert any("-fopenmp" in c for c in blocks[1])
    assert any(c.startswith("ar ") for c in blocks[2])


@pytest.mark.parametrize("index", [0, 1, 2], ids=["plain", "openmp", "static-library"])
def test_page_commands_build_and_run_the_example(tmp_path, index):
    cwd = workdir(tmp_path)
    commands = [c for c in console_blocks()[index] if c != "./embed"]
    for command in commands:
        proc = shell(command, cwd)
        if proc.returncode and "-fopenmp" in command:
            pytest.skip(f"this compiler has no OpenMP: {proc.stderr.strip()[:200]}")
        assert proc.returncode == 0, f"{command}\n{proc.stderr}"
        # the documented line compiles cleanly: no warnings either
        assert "warning" not in proc.stderr.lower(), f"{command}\n{proc.stderr}"
    proc = subprocess.run([str(cwd / "embed")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == expected_output()


def test_example_is_warning_free_under_strict_flags(tmp_path):
    exe = str(tmp_path / "embed")
    sources = [os.path.join(EXAMPLES, "embed.c")] + [
        os.path.join(ROOT, "csrc", f) for f in ("common.c", "flag.c", "decay.c", "fastamp.c")]
    proc = subprocess.run([CC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic",
                           "-I" + os.path.join(ROOT, "csrc"), *sources, "-lm", "-o", exe],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert subprocess.run([exe], capture_output=True, text=True).stdout == expected_output()


def test_example_reports_the_package_version():
    rscd = pytest.importorskip("rscd")
    first = expected_output().splitlines()[0]
    assert first == f"rscd {rscd.__version__}", (
        "docs/examples/embed.out is stale: rebuild the example and save its output")
