"""The C library as CMake builds it (CMakeLists.txt): docs/embedding.rst's ``sh`` blocks run
as written, in order, in a copy of the repository (build, ctest, install, then a program
built through pkg-config, find_package and add_subdirectory); the README's C section shows
the same commands; and the installed library is checked: static builds as well as shared
ones run, and only rscd_* is exported."""
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, "docs", "embedding.rst")
EXPECTED = os.path.join(ROOT, "docs", "examples", "embed.out")
# What the CMake project reads: the copy holds these alone, as an unpacked sdist would.
PROJECT_FILES = ["CMakeLists.txt", "cmake", "csrc", os.path.join("tests", "c"),
                 os.path.join("docs", "examples")]
CMAKE = shutil.which("cmake")
PKG_CONFIG = shutil.which("pkg-config")
CC = shutil.which("cc") or shutil.which("gcc")

pytestmark = [
    pytest.mark.slow,       # builds with CMake: .ci/run runs it (pytest -m slow)
    pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "CMakeLists.txt")),
                       reason="needs the source tree (CMakeLists.txt)"),
    pytest.mark.skipif(sys.platform == "win32", reason="the page's commands are POSIX sh"),
    pytest.mark.skipif(CC is None, reason="no C compiler (cc) on PATH"),
    pytest.mark.skipif(CMAKE is None, reason="cmake not on PATH (the test extra installs it)"),
    pytest.mark.skipif(PKG_CONFIG is None,
                       reason="pkg-config not on PATH (the test extra installs pkgconf)"),
]

MARK = "@@rscd-docs-block {}@@"


def sh_blocks():
    """The text of each ``.. code-block:: sh`` of the page, in order."""
    with open(PAGE) as f:
        lines = f.read().splitlines()
    blocks = []
    for n, line in enumerate(lines):
        if line.strip() == ".. code-block:: sh":
            body = []
            for following in lines[n + 1:]:
                if following.strip() and not following.startswith("   "):
                    break
                body.append(following[3:])
            blocks.append("\n".join(body).strip())
    return blocks


def expected_output():
    with open(EXPECTED) as f:
        return f.read()


@pytest.fixture(scope="module")
def docs_run(tmp_path_factory):
    """Run all the page's sh blocks in one shell, in a copy of the repository, with HOME
    (the page's install prefix is $HOME/.local) in a temporary folder."""
    base = tmp_path_factory.mktemp("c_library")
    repo, home = base / "rscd", base / "home"
    home.mkdir()
    for name in PROJECT_FILES:
        src = os.path.join(ROOT, name)
        if os.path.isdir(src):
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("build*"))
        else:
            repo.mkdir(exist_ok=True)
            shutil.copy(src, repo / name)
    blocks = sh_blocks()
    script = ["set -euo pipefail"]
    for i, block in enumerate(blocks):
        script += [f"echo '{MARK.format(i)}'", block]
    env = dict(os.environ, HOME=str(home),
               PATH=os.pathsep.join([os.path.dirname(CMAKE), os.environ.get("PATH", "")]))
    for var in ("PKG_CONFIG_PATH", "CMAKE_PREFIX_PATH", "CFLAGS", "LDFLAGS", "CMAKE_GENERATOR"):
        env.pop(var, None)  # the page's commands must not depend on the caller's settings
    proc = subprocess.run(["bash", "-c", "\n".join(script)], cwd=str(repo), env=env,
                          capture_output=True, text=True, timeout=900)
    parts = re.split(r"@@rscd-docs-block (\d+)@@\n", proc.stdout)
    outputs = {int(parts[k]): parts[k + 1] for k in range(1, len(parts), 2)}
    return dict(proc=proc, blocks=blocks, outputs=outputs, repo=repo,
                prefix=home / ".local", env=env)


def test_page_shows_build_and_the_three_ways():
    text = "\n".join(sh_blocks())
    for needed in ("cmake --build build", "ctest --test-dir build", "cmake --install build",
                   "pkg-config --cflags --libs rscd", "docs/examples/find_package",
                   "docs/examples/add_subdirectory"):
        assert needed in text, f"docs/embedding.rst has no sh command with {needed!r}"


def logical_lines(text):
    """Shell lines with backslash continuations joined and spaces collapsed."""
    return [" ".join(line.split()) for line in text.replace("\\\n", " ").splitlines()
            if line.strip()]


def test_readme_commands_are_the_pages():
    """The README's C section shows the page's commands, so running the page runs them."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("## Using the C library"):]
    section = section[:section.index("\n## ", 3)]
    shown = "\n".join(line[4:] for line in section.splitlines() if line.startswith("    "))
    commands = logical_lines(shown)
    page = set(logical_lines("\n".join(sh_blocks())))
    assert len(commands) >= 9, commands
    missing = [c for c in commands if c not in page]
    assert not missing, f"README commands not in docs/embedding.rst's sh blocks: {missing}"


def test_page_commands_run_as_written(docs_run):
    proc = docs_run["proc"]
    assert proc.returncode == 0, (
        f"a command of docs/embedding.rst failed (last block started: "
        f"{max(docs_run['outputs'], default=None)}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    ctest = [out for i, out in docs_run["outputs"].items() if "ctest" in docs_run["blocks"][i]]
    assert ctest and "100% tests passed" in ctest[0], ctest


@pytest.mark.parametrize("way", ["pkg-config", "find_package", "add_subdirectory"])
def test_program_built_each_way_prints_the_documented_output(docs_run, way):
    if docs_run["proc"].returncode:
        pytest.fail("the page's commands failed: see test_page_commands_run_as_written")
    (index,) = [i for i, b in enumerate(docs_run["blocks"]) if way in b]
    last = docs_run["blocks"][index].splitlines()[-1]
    assert last.startswith("./"), f"the {way} block should end by running the program"
    assert docs_run["outputs"][index].endswith(expected_output()), docs_run["outputs"][index]


def installed_libdir(prefix):
    for libdir in ("lib", "lib64"):
        if (prefix / libdir / "pkgconfig" / "rscd.pc").exists():
            return prefix / libdir
    pytest.fail(f"no rscd.pc under {prefix}")


def test_install_holds_header_libraries_and_packages(docs_run):
    prefix = docs_run["prefix"]
    libdir = installed_libdir(prefix)
    with open(os.path.join(ROOT, "csrc", "rscd.h")) as f:
        assert (prefix / "include" / "rscd.h").read_text() == f.read()
    assert (libdir / "librscd.a").exists()
    for name in ("rscdConfig.cmake", "rscdConfigVersion.cmake", "rscdTargets.cmake"):
        assert (libdir / "cmake" / "rscd" / name).exists(), name
    import rscd  # the version of the one source, as Python reads it
    major, minor, _ = rscd.__version__.split(".")
    if sys.platform.startswith("linux"):
        assert (libdir / f"librscd.so.{rscd.__version__}").is_file()
        soname = f"librscd.so.{major}.{minor}" if major == "0" else f"librscd.so.{major}"
        assert os.readlink(libdir / soname) == f"librscd.so.{rscd.__version__}"
    pc = subprocess.run([PKG_CONFIG, "--modversion", "rscd"], capture_output=True, text=True,
                        env=dict(docs_run["env"], PKG_CONFIG_PATH=str(libdir / "pkgconfig")))
    assert pc.stdout.strip() == rscd.__version__, pc.stderr


def test_shared_library_exports_only_the_api(docs_run):
    nm = shutil.which("nm")
    if nm is None or not sys.platform.startswith("linux"):
        pytest.skip("needs GNU nm on Linux")
    lib = installed_libdir(docs_run["prefix"]) / "librscd.so"
    proc = subprocess.run([nm, "-D", "--defined-only", str(lib)], capture_output=True,
                          text=True, check=True)
    names = [line.split()[-1] for line in proc.stdout.splitlines() if line.strip()]
    with open(os.path.join(ROOT, "csrc", "rscd.h")) as f:
        api = set(re.findall(r"^RSCD_API [^(]*?\b(rscd_\w+)\(", f.read(), re.M))
    assert api and set(names) == api, (sorted(names), sorted(api))


def run_embed(exe, env):
    proc = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == expected_output()


def without_shared_library(libdir):
    """Move the installed librscd.so* away, so a program that still needs it fails."""
    hidden = libdir / "hidden"
    hidden.mkdir(exist_ok=True)
    for lib in libdir.glob("librscd.so*"):
        lib.rename(hidden / lib.name)
    return hidden


def build_example(docs_run, example, target, build, *args):
    """Build docs/examples/<example> of the copy, linking `target` instead of the one the
    example names; returns the program."""
    repo = docs_run["repo"]
    text = (repo / "docs" / "examples" / example / "CMakeLists.txt").read_text()
    (named,) = re.findall(r"PRIVATE (rscd::\w+)\)", text)
    consumer = build.parent / (build.name + "-src")
    consumer.mkdir()
    (consumer / "CMakeLists.txt").write_text(
        text.replace(f"PRIVATE {named})", f"PRIVATE {target})")
            .replace("../embed.c", str(repo / "docs" / "examples" / "embed.c")))
    for cmd in ([CMAKE, "-S", str(consumer), "-B", str(build), *args],
                [CMAKE, "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=docs_run["env"],
                              timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return build / "embed"


def test_add_subdirectory_gives_the_shared_alias_too(docs_run, tmp_path):
    """The page's add_subdirectory example links rscd::rscd_static; rscd::rscd (the shared
    library of the build tree) works the same way."""
    exe = build_example(docs_run, "add_subdirectory", "rscd::rscd", tmp_path / "b",
                        "-DRSCD_SOURCE_DIR=" + str(docs_run["repo"]))
    run_embed(exe, docs_run["env"])
    assert list((tmp_path / "b" / "rscd").glob("librscd.so*")) or sys.platform != "linux"


def test_static_links_run_without_the_shared_library(docs_run, tmp_path):
    """rscd::rscd_static of the installed package and librscd.a with pkg-config's
    Libs.private give programs that do not need librscd.so; the shared builds do."""
    if docs_run["proc"].returncode:
        pytest.fail("the page's commands failed: see test_page_commands_run_as_written")
    repo, env = docs_run["repo"], docs_run["env"]
    libdir = installed_libdir(docs_run["prefix"])
    static_exe = build_example(docs_run, "find_package", "rscd::rscd_static", tmp_path / "b",
                               "-DCMAKE_PREFIX_PATH=" + str(docs_run["prefix"]))
    pc_env = dict(env, PKG_CONFIG_PATH=str(libdir / "pkgconfig"))
    flags = subprocess.run([PKG_CONFIG, "--cflags", "--static", "--libs", "rscd"],
                           capture_output=True, text=True, env=pc_env, check=True).stdout.split()
    assert "-lrscd" in flags
    flags = [str(libdir / "librscd.a") if f == "-lrscd" else f for f in flags]
    proc = subprocess.run([CC, "-std=c99", str(repo / "docs" / "examples" / "embed.c"), *flags,
                           "-o", str(tmp_path / "embed-pc-static")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    hidden = without_shared_library(libdir)
    try:
        run_embed(static_exe, env)
        run_embed(tmp_path / "embed-pc-static", env)
        shared = subprocess.run([str(repo / "build-find-package" / "embed")],
                                capture_output=True, env=env, timeout=60)
        assert shared.returncode != 0, "the rscd::rscd program should need librscd.so"
    finally:
        for lib in hidden.iterdir():
            lib.rename(libdir / lib.name)
