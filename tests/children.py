"""Child Python processes for the tests, importing the same rscd as the tests do.

The working folder of a child is never the source tree: `python -m` puts it first on
sys.path, and the source tree's rscd/ has no compiled core when the package is installed.
"""
import os
import subprocess
import sys
import tempfile

import rscd

#: The folder holding the rscd package this test process imported.
RSCD_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(rscd.__file__)))


def child_env(*folders):
    """os.environ with RSCD_PARENT and ``folders`` first on PYTHONPATH."""
    path = [RSCD_PARENT, *map(str, folders)]
    if os.environ.get("PYTHONPATH"):
        path.append(os.environ["PYTHONPATH"])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path))


def run_rscd(*args, cwd=None, timeout=120):
    """`python -m rscd ARGS`, completed, output captured as text."""
    return subprocess.run([sys.executable, "-m", "rscd", *map(str, args)],
                          capture_output=True, text=True, env=child_env(),
                          cwd=cwd or tempfile.gettempdir(), timeout=timeout)
