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


def unprivileged_ids():
    """(uid, gid) of the user ``nobody``, or None when there is none."""
    import pwd
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def run_unprivileged(code, *args, cwd, timeout=120):
    """``python -c CODE ARGS`` completed, as the unprivileged user ``nobody`` when this
    process is root (setpriv, else runuser; skipped when neither exists), else as
    ourselves. The child's HOME is a fresh folder of its own (astropy writes there)."""
    import pytest
    import shutil
    prefix = []
    if os.geteuid() == 0:
        ids = unprivileged_ids()
        if ids is not None and shutil.which("setpriv"):
            # CAP_DAC_READ_SEARCH alone: the child may read (and search) any folder, so
            # it reaches this Python and rscd wherever CI cloned them (a 0700 temporary
            # folder too), while every write is still checked against the user nobody
            prefix = ["setpriv", f"--reuid={ids[0]}", f"--regid={ids[1]}", "--clear-groups",
                      "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
        elif ids is not None and shutil.which("runuser"):
            prefix = ["runuser", "-u", "nobody", "--"]
        else:
            pytest.skip("running as root, and neither setpriv nor runuser (nor a user "
                        "nobody) to run this case unprivileged")
    home = tempfile.mkdtemp(prefix="rscd-home-")
    try:
        if prefix:
            os.chown(home, *unprivileged_ids())
        env = dict(child_env(), HOME=home, XDG_CONFIG_HOME=home, XDG_CACHE_HOME=home)
        return subprocess.run([*prefix, sys.executable, "-c", code, *map(str, args)],
                              capture_output=True, text=True, env=env, cwd=str(cwd),
                              timeout=timeout)
    finally:
        shutil.rmtree(home, ignore_errors=True)
