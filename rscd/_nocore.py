"""The one-line error of ``import rscd`` when the compiled core (``rscd._core``) is missing.

The usual cause: Python started in the top folder of a clone after ``pip install .``
finds the clone's ``rscd/`` folder before the installed package, and that folder holds
the sources but no built extension. An editable install (``pip install -e .``) builds
the extension in place, so the clone itself imports.
"""
import os


def missing_core_error(init_file):
    """The ImportError to raise from ``rscd/__init__.py`` at ``init_file``."""
    package = os.path.dirname(os.path.abspath(init_file))
    top = os.path.dirname(package)
    # A clone (or unpacked sdist) has the build files and the C sources beside rscd/.
    if os.path.isfile(os.path.join(top, "setup.py")) and os.path.isdir(os.path.join(top, "csrc")):
        return ImportError(
            f"rscd is being imported from the source folder {package}, which has no "
            "compiled core (rscd._core): run Python outside the clone's top folder, or "
            "install for development with `pip install -e .` (builds the core in place)")
    return ImportError(
        f"rscd at {package} has no compiled core (rscd._core): the installation is "
        "incomplete; reinstall it (pip install --force-reinstall --no-deps PATH_TO_CLONE)")
