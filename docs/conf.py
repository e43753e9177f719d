"""Sphinx configuration for rscd.

Build (warnings are errors, as in CI):

    sphinx-build -W -b html docs docs/_build/html
    sphinx-build -W -b doctest docs docs/_build/doctest

Needs the package importable (installed, or built in place with
``python setup.py build_ext --inplace`` and ``PYTHONPATH`` at the repository).
The tutorial's data (the ``rscd demo`` exposure and example reference files) are
written at build time into a temporary folder; the ramp figure is drawn from them by
matplotlib's ``plot`` directive, so every figure is made by the code shown next to it.
"""
import atexit
import os
import shutil
import tempfile

import matplotlib

matplotlib.use("Agg")

import rscd  # noqa: E402  (the docs document the installed package)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# -- project -----------------------------------------------------------------------------

project = "rscd"
author = "the rscd developers"
copyright = "the rscd developers, BSD 3-Clause"
release = rscd.__version__          # from RSCD_VERSION_* in csrc/rscd.h, the one source
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",          # numpydoc-style docstrings
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "myst_parser",                  # pipeline.md only (kept in Markdown: tests read it)
    "matplotlib.sphinxext.plot_directive",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "examples", "Thumbs.db", ".DS_Store"]
nitpicky = False
# pipeline.md and CHANGES.md are Markdown (MyST); give their "#"/"##" headings anchors.
myst_heading_anchors = 2

# -- autodoc / napoleon ------------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "none"          # the numpydoc sections carry dtype, shape and units
autodoc_default_options = {"members": False}
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True

intersphinx_mapping = {}            # no network at build time

# -- doctest -----------------------------------------------------------------------------

# Every ``>>>`` example, in the pages and in the docstrings autodoc pulls in, runs in a
# fresh folder holding the demo exposure and small reference files.
doctest_global_setup = r"""
import os, tempfile, warnings
import numpy as np
from astropy.io import fits
import rscd
from rscd.demo import synthetic_exposure, write_ramp_file, write_example_references
_rscd_docs_tmp = tempfile.mkdtemp(prefix="rscd-doctest-")
_rscd_docs_cwd = os.getcwd()
os.chdir(_rscd_docs_tmp)
os.makedirs("rscd_demo")
_d, _g, _p, _k = synthetic_exposure()
write_ramp_file("rscd_demo/demo_mirimage_linearity.fits", _d, _g, _p, _k)
write_example_references("rscd_demo")
del _d, _g, _p, _k
rscd.write_flag_reference("flag_reference.fits", [("FULL", "FAST", 1, 2)])
flag_reference_path = "flag_reference.fits"
decay_reference_path = "rscd_demo/example_rscd_decay.fits"
ramp_path = "rscd_demo/demo_mirimage_linearity.fits"
"""
doctest_global_cleanup = r"""
os.chdir(_rscd_docs_cwd)
import shutil
shutil.rmtree(_rscd_docs_tmp, ignore_errors=True)
"""

# -- the tutorial's figure ---------------------------------------------------------------

# The plot directive runs each figure's code in this folder, where ``rscd demo``'s
# exposure has been corrected with both methods (as the tutorial's earlier steps do).
_FIGURE_DIR = tempfile.mkdtemp(prefix="rscd-docs-")
atexit.register(shutil.rmtree, _FIGURE_DIR, ignore_errors=True)


def _tutorial_data(folder):
    from rscd.demo import synthetic_exposure, write_example_references, write_ramp_file

    demo = os.path.join(folder, "rscd_demo")
    os.makedirs(demo)
    data, groupdq, pixeldq, keywords = synthetic_exposure()
    exposure = os.path.join(demo, "demo_mirimage_linearity.fits")
    write_ramp_file(exposure, data, groupdq, pixeldq, keywords)
    flag_ref, decay_ref = write_example_references(demo)
    rscd.apply_file(exposure, flag_ref, output=os.path.join(demo, "demo_mirimage_rscd.fits"))
    rscd.apply_file(exposure, decay_ref,
                    output=os.path.join(demo, "demo_mirimage_decay_rscd.fits"))


_tutorial_data(_FIGURE_DIR)
plot_working_directory = _FIGURE_DIR
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"figure.max_open_warning": 0}

# -- the command-line help, from the code ------------------------------------------------


def _cli_help(path):
    from rscd.cli import _parser

    os.environ["COLUMNS"] = "88"          # argparse wraps to the terminal width
    parser = _parser()
    parser.prog = "rscd"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = parser.format_help()
    old = None
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if old != text:                       # rewritten only when the help changed
        with open(path, "w") as f:
            f.write(text)


_cli_help(os.path.join(HERE, "_generated", "rscd_help.txt"))

# -- HTML --------------------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"rscd {release}"
html_static_path = []
html_theme_options = {
    "description": "Fast, in-place JWST MIRI RSCD correction",
    "fixed_sidebar": True,
}
