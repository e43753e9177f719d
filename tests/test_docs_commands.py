"""The newcomer's path: every shell command and every Python example of the README and of
the tutorial pages runs as written, in order, from the top folder of a fresh copy of the
repository, and succeeds.

A reader works in one shell and, per page, one Python session, so this test does too:

* the pages are followed in the order of ``PAGES``, all in the same copy (the README's
  first command makes and activates the ``.venv`` the later pages use);
* shell commands run one after another in one emulated shell: after each command its
  exported variables (``. .venv/bin/activate``) and its folder are kept for the next;
* Python examples of a page run in one Python process started with the shell's ``python``
  in the copy's top folder (``python -c``, so, like an interactive ``python``, it imports
  from that folder first): ``>>>`` examples as doctests (their output must match), the
  code of ``.. plot::`` directives as plain code;
* shell output shown in a ``console`` block (the lines after a ``$ `` command) must match
  what the command printed (``...`` matches anything, whitespace is normalised).

What counts as an example (kept simple, so a page shows plainly what is run):

* README.md: each line of an indented (4-space) code block after a blank line is a shell
  command; ```` ```console ```` fences hold ``$ `` commands and their output;
  ```` ```python ```` fences hold doctests.
* .rst pages: ``.. code-block:: console`` (``$ `` lines), ``.. doctest::`` and
  ``.. plot::``. ``.. doctest::`` blocks with ``:hide:`` are not shown to the reader, so
  they are not run here.

``NOT_RUN`` lists the few commands that are not run, each with its reason (the test fails
if one of them is no longer in the docs, so the list cannot go stale); ``NOT_RUN_WORDS``
and ``NOT_RUN_SECTIONS`` do the same for commands that need a cluster and for the
README's C section, which another test runs. The test prints each step, run or not.
"""
import doctest
import json
import os
import re
import select
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The pages, in the order a newcomer follows them (a missing page fails the test, except
#: docs/diagnose.rst, which is only run where it exists).
PAGES = ["README.md", "docs/tutorial.rst", "docs/diagnose.rst"]
OPTIONAL_PAGES = {"docs/diagnose.rst"}

#: The commands of the pages that are not run here: command -> why. Each must be in a page.
NOT_RUN = {
    'python3 -m venv .venv && . .venv/bin/activate && pip install ".[test]" "jwst==3.0.0" '
    '&& pytest':
        "the test suite itself, which CI's .ci/run runs as written (checked below); "
        "running it here would run this test again",
    "strun rscd_fast rscd_demo/demo_mirimage_linearity.fits --override_rscd "
    "rscd_demo/example_rscd_flag.fits":
        "needs jwst, which this test's environment does not install (pip install "
        "\".[jwst]\" takes minutes); tests/test_step.py::test_readme_demo_then_strun_offline "
        "runs this command after rscd demo, with no CRDS reachable",
    "strun calwebb_detector1_rscd_fast jw01234_mirimage_uncal.fits   # detector1 with our step":
        "the whole detector1 pipeline, which needs a real exposure and CRDS's reference "
        "files for every step; tests/test_step.py runs it with a local CRDS cache",
    "rscd jw*-seg00?_mirimage_linearity.fits -r my_rscd.fits --method decay --segments "
    "--in-place":
        "needs an exposure split into segment files (the demo's is one file); "
        "tests/test_segments.py runs --segments on such files",
}

#: Commands containing these words are not run here: word -> why.
NOT_RUN_WORDS = {
    "--scheduler ":
        "sends the files to a running dask.distributed scheduler, which the reader starts "
        "on their cluster (docs/cluster.rst); tests/test_scheduler.py starts a scheduler and "
        "two workers and runs the command against them",
}

#: Whole sections not run here: (page, heading) -> why. Each must be in its page.
NOT_RUN_SECTIONS = {
    ("README.md", "## Using the C library"):
        "tests/test_c_library.py checks that this section's commands are those of "
        "docs/embedding.rst and runs that page's, in a copy and with HOME in a temporary "
        "folder (the commands install into $HOME/.local)",
}

SHELL_TIMEOUT = 1200        # s; pip builds the C core
PYTHON_TIMEOUT = 600        # s, per example block

pytestmark = pytest.mark.skipif(
    not os.path.isfile(os.path.join(ROOT, "docs", "tutorial.rst")) or sys.platform == "win32",
    reason="needs the source tree (README.md, docs/) and a POSIX shell")


# --------------------------------------------------------------------------- extraction

class Step:
    """One thing a reader does: a shell command or a block of Python."""

    def __init__(self, page, lineno, kind, text, expected="", section=""):
        self.page, self.lineno, self.kind, self.text, self.expected = (
            page, lineno, kind, text, expected)
        self.section = section      # the Markdown "## " heading above it

    def where(self):
        return f"{self.page}:{self.lineno}"

    def __repr__(self):
        return f"<{self.kind} {self.where()}: {self.text.splitlines()[0]!r}>"


def _join_continuations(commands):
    """Commands as (lineno, text) with backslash-continued lines joined."""
    joined = []
    for lineno, text in commands:
        if joined and joined[-1][1].endswith("\\"):
            joined[-1] = (joined[-1][0], joined[-1][1][:-1].rstrip() + " " + text.strip())
        else:
            joined.append((lineno, text))
    return joined


def _console_steps(page, lines):
    """Steps of console lines [(lineno, line)]: ``$ `` commands, output lines after each."""
    steps = []
    for lineno, line in lines:
        stripped = line.strip()
        if stripped.startswith("$ "):
            if steps and steps[-1].text.endswith("\\"):        # a continued command
                steps[-1].text = steps[-1].text[:-1].rstrip() + " " + stripped[2:].strip()
            else:
                steps.append(Step(page, lineno, "shell", stripped[2:].strip()))
        elif steps and stripped:
            steps[-1].expected += stripped + "\n"
    return steps


def markdown_steps(page, text):
    """Steps of a Markdown page, in order."""
    lines = text.splitlines()
    steps = []
    n = 0
    section = ""
    while n < len(lines):
        line = lines[n]
        for step in steps:
            step.section = step.section or section
        if line.startswith("## "):
            section = line.strip()
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence:
            end = n + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            body = [(k + 1, lines[k]) for k in range(n + 1, end)]
            if fence.group(1) == "console":
                steps += _console_steps(page, body)
            elif fence.group(1) in ("python", "pycon") and any(
                    b.lstrip().startswith(">>>") for _, b in body):
                steps.append(Step(page, n + 2, "doctest",
                                  "\n".join(b for _, b in body) + "\n"))
            n = end + 1
            continue
        if line.startswith("    ") and line.strip() and (n == 0 or not lines[n - 1].strip()):
            block = []
            while n < len(lines) and (lines[n].startswith("    ") or not lines[n].strip()):
                if lines[n].strip():
                    block.append((n + 1, lines[n][4:].rstrip()))
                n += 1
            for lineno, command in _join_continuations(block):
                steps.append(Step(page, lineno, "shell", command))
            continue
        n += 1
    for step in steps:
        step.section = step.section or section
    return steps


def _rst_block(lines, start):
    """The indented body of the directive at ``start``: (options, [(lineno, line)], end)."""
    n = start + 1
    options = []            # the field list right after the directive, up to a blank line
    if n < len(lines) and lines[n].strip().startswith(":"):
        while n < len(lines) and lines[n].strip():
            options.append(lines[n].strip())
            n += 1
    body = []
    while n < len(lines) and (not lines[n].strip() or lines[n].startswith(" ")):
        body.append((n + 1, lines[n]))
        n += 1
    while body and not body[-1][1].strip():
        body.pop()
    while body and not body[0][1].strip():
        body.pop(0)
    indent = min((len(b) - len(b.lstrip()) for _, b in body if b.strip()), default=0)
    return options, [(k, b[indent:]) for k, b in body], n


def rst_steps(page, text):
    """Steps of a reStructuredText page, in order."""
    lines = text.splitlines()
    steps = []
    n = 0
    while n < len(lines):
        directive = re.match(r"^\s*\.\. (code-block|doctest|plot)::\s*(\S*)", lines[n])
        if not directive:
            n += 1
            continue
        kind, argument = directive.groups()
        options, body, end = _rst_block(lines, n)
        if kind == "code-block" and argument == "console":
            steps += _console_steps(page, body)
        elif kind == "doctest" and ":hide:" not in options:
            steps.append(Step(page, body[0][0], "doctest", "\n".join(b for _, b in body) + "\n"))
        elif kind == "plot":
            steps.append(Step(page, body[0][0], "code", "\n".join(b for _, b in body) + "\n"))
        n = end
    return steps


def page_steps(page, root=ROOT):
    with open(os.path.join(root, page), encoding="utf-8") as f:
        text = f.read()
    return markdown_steps(page, text) if page.endswith(".md") else rst_steps(page, text)


def pages(root=ROOT):
    found = []
    for page in PAGES:
        if os.path.isfile(os.path.join(root, page)):
            found.append(page)
        elif page not in OPTIONAL_PAGES:
            raise AssertionError(f"{page} is missing")
    return found


# --------------------------------------------------------------------------- the copy

def copy_repository(dest):
    """The repository's tracked files (``git add`` a new file for it to count) copied to
    ``dest``: what a fresh clone holds, without builds, virtual environments, compiled
    cores, or what a reader's own session of these pages left in the clone (issue 25.3:
    ``rscd_demo/`` from the README's first command made the copy's ``rscd demo
    rscd_demo`` refuse)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached"],
            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        listed = None
    if listed is None:              # an unpacked sdist: everything but builds
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".venv*", "build", "dist", "_build", "_generated", "*.so", "*.pyd",
            "*.egg-info", "__pycache__", ".git", *READER_OUTPUTS))
        return
    for name in filter(None, listed):
        src = os.path.join(ROOT, name)
        if os.path.isfile(src):     # a tracked file deleted in the working tree is skipped
            os.makedirs(os.path.join(dest, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, name))


#: What the pages' commands leave in the clone's top folder (also in .gitignore, which
#: the walkthrough checks): not copied from an unpacked sdist either.
READER_OUTPUTS = ("rscd_demo", "out", "flagged", "rscd_diagnose", "diag.png",
                  "measured_rscd.fits", "my_rscd.fits", "decay_ramp.png",
                  "demo_mirimage_rscd.fits", "build-find-package", "build-add-subdirectory",
                  "embed", "measured_from_arrays.fits")


def untracked_files(top):
    """Files in the git repository ``top`` that are neither committed nor ignored."""
    listed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                            cwd=top, capture_output=True, text=True, check=True).stdout
    return [line[3:] for line in listed.splitlines() if line.startswith("??")]


def fresh_environment():
    """The environment of a new terminal: this test's virtual environment and PYTHONPATH
    dropped (``python3`` is the base interpreter that made it), figures drawn without a
    display."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH",
                        "CONDA_PREFIX", "PYTEST_CURRENT_TEST")}
    path = env.get("PATH", "").split(os.pathsep)
    if sys.prefix != sys.base_prefix:
        venv_bin = os.path.dirname(sys.executable)
        path = [p for p in path if os.path.realpath(p) != os.path.realpath(venv_bin)]
        base = os.path.dirname(getattr(sys, "_base_executable", "") or sys.executable)
        path.insert(0, base)
    env["PATH"] = os.pathsep.join(path)
    env["MPLBACKEND"] = "Agg"
    return env


# --------------------------------------------------------------------------- the shell

class Shell:
    """Runs commands one by one as if typed into one bash session: exported variables and
    the current folder carry over from one command to the next."""

    def __init__(self, top, state):
        self.state = state
        os.makedirs(state, exist_ok=True)
        self.env_file = os.path.join(state, "env.sh")
        self.cwd_file = os.path.join(state, "cwd")
        with open(self.env_file, "w") as f:
            for key, value in fresh_environment().items():
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                    f.write(f"export {key}={_quote(value)}\n")
        with open(self.cwd_file, "w") as f:
            f.write(top)

    def script(self, command):
        return textwrap.dedent(f"""\
            . {_quote(self.env_file)}
            cd "$(cat {_quote(self.cwd_file)})"
            """) + command + textwrap.dedent(f"""
            __rscd_docs_status=$?
            export -p > {_quote(self.env_file)}
            pwd > {_quote(self.cwd_file)}
            exit $__rscd_docs_status
            """)

    def run(self, command, timeout=SHELL_TIMEOUT):
        """(exit status, stdout and stderr interleaved)."""
        proc = self.popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
        try:
            output, _ = proc.communicate(timeout=timeout)
        except BaseException:       # a timeout or ^C: stop the command and what it started
            stop(proc)
            raise
        return proc.returncode, output

    def popen(self, command, **kwargs):
        return subprocess.Popen(["bash", "-c", self.script(command)], start_new_session=True,
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                                **kwargs)


def stop(proc):
    """Kill a command started by Shell.popen and every process it started."""
    try:
        os.killpg(proc.pid, 9)
    except ProcessLookupError:
        pass
    proc.wait()


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


# --------------------------------------------------------------------------- Python

#: Runs in the reader's Python: reads one JSON step per line, runs it in one namespace,
#: answers one JSON line on the original stdout (everything else printed goes to stderr).
_WORKER = r"""
import doctest, io, json, os, sys, traceback
answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr
namespace = {"__name__": "__main__"}
flags = doctest.ELLIPSIS | doctest.DONT_ACCEPT_TRUE_FOR_1
for line in sys.stdin:
    step = json.loads(line)
    report = io.StringIO()
    if step["kind"] == "doctest":
        test = doctest.DocTestParser().get_doctest(step["text"], namespace, step["where"],
                                                   step["page"], step["lineno"] - 1)
        test.globs = namespace          # one session: names stay for the next block
        runner = doctest.DocTestRunner(optionflags=flags)
        runner.run(test, out=report.write, clear_globs=False)
        ok = runner.failures == 0
    else:
        try:
            exec(compile(step["text"], step["where"], "exec"), namespace)
            ok = True
        except BaseException:
            traceback.print_exc(file=report)
            ok = False
    answers.write(json.dumps({"ok": ok, "report": report.getvalue()}) + "\n")
    answers.flush()
"""


class Python:
    """The reader's Python session for one page: the shell's ``python``, started in the
    shell's current folder."""

    def __init__(self, shell, log_path):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = shell.popen(f"python -u -c {_quote(_WORKER)}", stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=self.log, text=True)

    def run(self, step):
        message = dict(kind=step.kind, text=step.text, page=step.page, lineno=step.lineno,
                       where=step.where())
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        # the worker answers each step with one line (or exits)
        if not select.select([self.proc.stdout], [], [], PYTHON_TIMEOUT)[0]:
            stop(self.proc)
            return False, f"no answer within {PYTHON_TIMEOUT} s\n" + self.stderr()
        answer = self.proc.stdout.readline()
        if not answer:
            self.proc.wait(timeout=30)
            return False, f"Python exited with status {self.proc.returncode}\n" + self.stderr()
        answer = json.loads(answer)
        return answer["ok"], answer["report"] + self.stderr()

    def stderr(self):
        self.log.flush()
        with open(self.log_path) as f:
            text = f.read()
        return ("--- Python's stderr ---\n" + text[-4000:]) if text.strip() else ""

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                stop(self.proc)
        self.proc.stdout.close()
        self.log.close()


# --------------------------------------------------------------------------- the tests

def _output_matches(expected, got):
    checker = doctest.OutputChecker()
    return checker.check_output(expected, got,
                                doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)


def test_pages_have_examples_and_not_run_list_is_current():
    """The extraction finds the examples, and every command of NOT_RUN is still in a page
    (so the list cannot grow stale); the test suite's command is CI's, verbatim."""
    steps = [s for page in pages() for s in page_steps(page)]
    shell = [s.text for s in steps if s.kind == "shell"]
    for command in NOT_RUN:
        assert command in shell, f"NOT_RUN names a command no page has: {command}"
    for page, heading in NOT_RUN_SECTIONS:
        assert any(s.section == heading and s.kind == "shell" for s in page_steps(page)), (
            f"NOT_RUN_SECTIONS names a section with no command: {page} {heading}")
    with open(os.path.join(ROOT, "tests", "test_c_library.py")) as f:
        assert "def test_readme_commands_are_the_pages" in f.read()
    assert os.path.isfile(os.path.join(ROOT, "tests", "test_scheduler.py"))
    readme = [s for s in page_steps("README.md")]
    assert readme[0].kind == "shell" and "rscd demo rscd_demo" in readme[0].text
    assert any(s.kind == "doctest" for s in readme)
    tutorial = page_steps("docs/tutorial.rst")
    assert tutorial[0].kind == "shell" and tutorial[0].text.startswith("rscd demo rscd_demo")
    assert sum(s.kind == "doctest" for s in tutorial) >= 5
    assert sum(s.kind == "code" for s in tutorial) >= 1
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = f.read().splitlines()
    test_command = next(c for c in NOT_RUN if c.endswith("&& pytest"))
    install_and_test = test_command.split(" && ", 2)[2]      # CI has its own .venv-ci
    assert install_and_test in [line.strip() for line in ci], (
        f".ci/run no longer runs the README's test command {install_and_test!r}")


def test_extraction_of_each_kind():
    md = markdown_steps("x.md", textwrap.dedent("""\
        Text:

            rscd a.fits \\
                --reference r.fits
            rscd b.fits   # comment

        ```console
        $ rscd c.fits
        c -> d
        ```

        ```python
        >>> 1 + 1
        2
        ```
        """))
    assert [(s.kind, s.lineno, s.text) for s in md] == [
        ("shell", 3, "rscd a.fits --reference r.fits"),
        ("shell", 5, "rscd b.fits   # comment"),
        ("shell", 8, "rscd c.fits"), ("doctest", 13, ">>> 1 + 1\n2\n")]
    assert md[2].expected == "c -> d\n"
    rst = rst_steps("x.rst", textwrap.dedent("""\
        .. code-block:: console

           $ rscd demo d
           wrote ...

        .. doctest::
           :hide:

           >>> hidden()

        .. doctest::

           >>> shown()

        .. plot::
           :caption: a caption
              on two lines

           import x
        """))
    assert [(s.kind, s.text) for s in rst] == [
        ("shell", "rscd demo d"), ("doctest", ">>> shown()\n"), ("code", "import x\n")]


def test_source_folder_without_core_says_what_to_do(tmp_path):
    """issue 17: in a clone's top folder after ``pip install .``, ``import rscd`` found the
    source folder and stopped on ``No module named 'rscd._core'``."""
    copy = tmp_path / "clone"
    copy_repository(str(copy))
    assert not [n for n in os.listdir(copy / "rscd") if n.startswith("_core.") and
                not n.endswith((".pyx", ".pxd", ".pyi", ".c"))]
    # -S: no site-packages, so an editable install's import hook (a developer's setup)
    # cannot send "rscd" elsewhere; the source folder comes first on sys.path either way
    proc = subprocess.run([sys.executable, "-S", "-c", "import rscd"], cwd=copy,
                          capture_output=True, text=True, env=fresh_environment(), timeout=120)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: rscd is being imported from the source folder "
                           f"{copy / 'rscd'}, which has no compiled core (rscd._core)")
    assert "pip install -e ." in last and "ModuleNotFoundError" not in proc.stderr


@pytest.mark.slow          # a new venv and pip builds: .ci/run runs it (pytest -m slow)
def test_every_command_and_example_of_the_docs(tmp_path):
    top = str(tmp_path / "clone")
    copy_repository(top)
    # a clone: what the reader's session leaves behind must be ignored (issue 25.3)
    has_git = shutil.which("git") is not None
    if has_git:
        for command in (["git", "init", "-q"], ["git", "add", "-A"]):
            subprocess.run(command, cwd=top, check=True, capture_output=True)
    shell = Shell(top, str(tmp_path / "shell"))
    done = []
    for page in pages(top):
        python = None
        try:
            for step in page_steps(page, top):
                skipped = NOT_RUN_SECTIONS.get((step.page, step.section))
                if skipped:
                    print(f"{step.where()}: not run ({skipped}): {step.text}")
                    continue
                if step.kind == "shell":
                    why = NOT_RUN.get(step.text) or next(
                        (w for word, w in NOT_RUN_WORDS.items() if word in step.text), None)
                    if why:
                        print(f"{step.where()}: not run ({why}): {step.text}")
                        continue
                    print(f"{step.where()}: $ {step.text}", flush=True)
                    status, output = shell.run(step.text)
                    assert status == 0, (
                        f"{step.where()}: the command\n    {step.text}\nexited with status "
                        f"{status}; its output (last 6000 characters):\n{output[-6000:]}"
                        f"\n(after: {', '.join(done[-5:])})")
                    if step.expected:
                        assert _output_matches(step.expected, output), (
                            f"{step.where()}: the command\n    {step.text}\nprinted\n"
                            f"{output}\nwhere the page shows\n{step.expected}")
                else:
                    print(f"{step.where()}: python ({step.kind})", flush=True)
                    if python is None:
                        python = Python(shell, str(tmp_path / f"python-{len(done)}.log"))
                    ok, report = python.run(step)
                    assert ok, (f"{step.where()}: the Python example failed:\n{report}"
                                f"\n(after: {', '.join(done[-5:])})")
                done.append(step.where())
        finally:
            if python is not None:
                python.close()
    assert done
    if has_git:
        left = untracked_files(top)
        assert not left, ("the pages' commands leave files that .gitignore does not "
                          f"ignore (add them to it and to READER_OUTPUTS): {left}")
