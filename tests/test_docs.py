"""The documentation: API reference coverage, links to figures and examples, the build, the examples."""

import os
import re
import shutil
import subprocess
import sys

import pytest

import skmitm
import skmitm.datasets
import skmitm.metrics
from conftest import REPO, SHARED

DOCS = REPO / "docs"
EXAMPLES = sorted((REPO / "examples").glob("**/plot_*.py"))


def _api_entries():
    """{module: set of names} listed under each ``currentmodule`` of docs/api.rst."""
    entries, module, in_table = {}, None, False
    for line in (DOCS / "api.rst").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\.\. currentmodule:: (\S+)", line)
        if match:
            module = match[1]
            continue
        if line.startswith(".. autosummary::"):
            in_table = True
            continue
        if in_table and line.strip() and not line.startswith("   "):
            in_table = False
        if in_table and line.startswith("   ") and not line.strip().startswith(":"):
            entries.setdefault(module, set()).add(line.strip())
    return entries


@pytest.mark.parametrize("module", [skmitm, skmitm.datasets, skmitm.metrics], ids=lambda m: m.__name__)
def test_api_reference_lists_every_public_name(module):
    listed = _api_entries().get(module.__name__, set())
    assert set(module.__all__) - listed == set(), f"docs/api.rst misses names of {module.__name__}.__all__"
    assert listed - set(module.__all__) == set(), f"docs/api.rst lists names {module.__name__}.__all__ lacks"


def test_user_guide_fusion_table_names_every_strategy():
    text = (DOCS / "user_guide.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))
    assert set(skmitm.FUSION_STRATEGIES) <= rows


def test_every_example_is_shown_and_every_figure_exists():
    pages = {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}
    examples_page = pages["examples.md"]
    for script in EXAMPLES:
        assert str(script.relative_to(REPO)) in examples_page, f"docs/examples.md does not show {script.name}"
    for name, text in pages.items():
        for target in re.findall(r"\]\((images/[^)\s]+)\)|^```\{(?:figure|image)\} (images/\S+)", text, re.MULTILINE):
            path = DOCS / (target[0] or target[1])
            assert path.is_file(), f"docs/{name} shows {path.relative_to(DOCS)}, which does not exist"


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx", reason="the docs extra is not installed: pip install -e '.[docs]'")
    pytest.importorskip("myst_parser", reason="the docs extra is not installed: pip install -e '.[docs]'")
    pytest.importorskip("numpydoc", reason="the docs extra is not installed: pip install -e '.[docs]'")
    # A copy of docs/, so the build's generated API pages never land in the work tree.
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "generated"))
    out = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html", str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    assert result.stderr.strip() == ""
    for page in ("index.html", "user_guide.html", "api.html", "generated/skmitm.FusedNearestNeighborIdentifier.html"):
        assert (out / page).is_file(), page
    api = (out / "generated/skmitm.FusedNearestNeighborIdentifier.html").read_text(encoding="utf-8")
    assert "decision_function" in api and "Examples" in api


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: str(p.relative_to(REPO / "examples")))
def test_example_runs_and_draws_its_figure(script, tmp_path):
    for asset in ("data/lfw-deepfunneled", "models/mobilefacenet.onnx"):
        if not (SHARED / asset).exists():
            pytest.skip(f"needs ../shared/{asset}, which is absent (set SKMITM_SHARED to its folder)")
    # The script runs from a copy laid out like the repository, with shared/
    # beside it, so that the figures it writes into docs/images/ land in the
    # copy and the committed ones stay as they are.
    repo = tmp_path / "repo"
    copy = repo / script.relative_to(REPO)
    copy.parent.mkdir(parents=True)
    shutil.copy(script, copy)
    (tmp_path / "shared").symlink_to(SHARED.resolve(), target_is_directory=True)
    env = dict(os.environ, SKMITM_SHARED=str(tmp_path / "shared"), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(copy)], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-5000:]
    assert "skipped" not in result.stdout
    figures = list((repo / "docs/images").glob("*.png"))
    assert len(figures) == 1, f"{script.name} wrote {figures}; expected one figure in docs/images/"
    data = figures[0].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert (REPO / "docs/images" / figures[0].name).is_file(), f"the docs do not hold {figures[0].name}"
