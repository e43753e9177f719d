"""Run each atheris harness for a bounded time on a copy of its seed corpus.

    python fuzz/run.py [seconds per harness, default 35]

Exit status 0 when no harness found anything, 1 when one crashed or raised an
undocumented exception (its reproducer is kept in fuzz/findings/), 2 when atheris is
missing. New corpus entries go to a temporary folder, not into the committed corpus."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESSES = [("fuzz_reference.py", "reference"), ("fuzz_ramp_header.py", "ramp_header"),
             ("fuzz_core.py", "core")]


def main(argv):
    seconds = int(argv[1]) if len(argv) > 1 else 35
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("fuzz: atheris is not installed (pip install atheris); fuzz run skipped",
              file=sys.stderr)
        return 2
    findings = os.path.join(HERE, "findings")
    failed = []
    for script, corpus in HARNESSES:
        work = tempfile.mkdtemp(prefix=f"rscd-fuzz-{corpus}-")
        try:
            shutil.copytree(os.path.join(HERE, "corpus", corpus), work, dirs_exist_ok=True)
            os.makedirs(findings, exist_ok=True)
            start = time.monotonic()
            proc = subprocess.run(
                [sys.executable, os.path.join(HERE, script), work,
                 # A fixed seed: the same inputs in the same order on every run, so CI
                 # repeats what was fuzzed (and fixed) before it, up to its time limit.
                 f"-max_total_time={seconds}", "-seed=20261127", "-rss_limit_mb=4096",
                 "-timeout=20",
                 f"-artifact_prefix={findings}{os.sep}{corpus}-"],
                capture_output=True, text=True,
                env=dict(os.environ, PYTHONHASHSEED="0"))
            runs = next((l.split()[1] for l in proc.stderr.splitlines()
                         if l.startswith("Done ") and " runs in " in l), "?")
            status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
            print(f"fuzz: {script}: {runs} runs in {time.monotonic() - start:.0f} s: {status}")
            if proc.returncode != 0:
                failed.append(script)
                print("\n".join(proc.stderr.splitlines()[-60:]), file=sys.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if os.path.isdir(findings) and not os.listdir(findings):
        os.rmdir(findings)
    if failed:
        print(f"fuzz: findings in {', '.join(failed)}; reproducers in {findings}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
