"""Sphinx configuration of the skmitm documentation.

Build with ``bash quickstart.sh docs`` or
``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

import sys
from pathlib import Path

from sphinx.pycode import ModuleAnalyzer

import skmitm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_page import write_cli_page  # noqa: E402

# The command-line page is written from the argparse definitions at every
# build (ignored by git), so it always says what ``skmitm --help`` says.
write_cli_page(Path(__file__).resolve().parent / "cli.md")

project = "skmitm"
author = "the skmitm developers"
copyright = "2025, the skmitm developers"
release = skmitm.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store"]

# The API pages are generated from the numpydoc docstrings at build time into
# docs/generated/ (ignored by git), so they never drift from the code.
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"inherited-members": False}
autodoc_typehints = "none"

# autosummary already lists each class's methods; numpydoc's own member
# tables would list them a second time and reference stub pages that do not
# exist.
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# Headings of the Markdown pages get anchors, so pages can link to sections
# (``user_guide.md#rrssv``).
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath", "colon_fence"]

# The build has no network: no intersphinx inventories are fetched, and
# references to other projects (sklearn, numpy) render as plain text.
html_theme = "alabaster"
html_title = f"skmitm {release}"
html_theme_options = {
    "description": "Meet-in-the-middle cross-resolution face identification with a scikit-learn API",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "240px",
}
html_static_path = []


def _module_comment(app, what, name, obj, options, lines):
    """Document a re-exported constant by the ``#:`` comment where it is defined.

    autodoc looks for ``#:`` comments only in the module named in the page
    (``skmitm``), not in the private module that defines the constant, and
    otherwise shows the docstring of the value's type (``dict``, ``numpy.dtype``).
    """
    if what != "data":
        return
    attr = name.rpartition(".")[2]
    for modname in sorted(m for m in sys.modules if m == "skmitm" or m.startswith("skmitm.")):
        if getattr(sys.modules[modname], attr, None) is not obj:
            continue
        comment = ModuleAnalyzer.for_module(modname).find_attr_docs().get(("", attr))
        if comment:
            lines[:] = list(comment)
            return


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Hide scikit-learn's generated ``set_*_request`` methods (metadata routing).

    Every estimator gets them from scikit-learn; their docstrings point into
    scikit-learn's own documentation, which this build cannot link to.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
    # After numpydoc (priority 500), so the comment replaces whatever it made
    # of the type's docstring.
    app.connect("autodoc-process-docstring", _module_comment, priority=900)
