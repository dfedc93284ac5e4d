"""The documentation: API reference coverage, links to figures and examples, the CLI page, the build, the
examples, and the pages as headless Chromium renders them."""

import argparse
import contextlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import skmitm
import skmitm.datasets
import skmitm.metrics
from conftest import REPO, SHARED
from doc_snippets import output_mismatch, read_blocks

DOCS = REPO / "docs"
EXAMPLES = sorted((REPO / "examples").glob("**/plot_*.py"))
PAGES = [REPO / "README.md", *sorted(p for p in DOCS.glob("*.md") if p.name != "cli.md")]


def _example_outputs():
    """{example path relative to the repository: [(page, text block)]} of the ``output-of`` blocks."""
    found = {}
    for page in PAGES:
        for block in read_blocks(page.read_text(encoding="utf-8")):
            if block.comment and block.comment[0] == "output-of":
                found.setdefault(block.comment[1], []).append((page, block))
    return found


def _cli_page():
    spec = importlib.util.spec_from_file_location("cli_page", DOCS / "cli_page.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_every_example_output_on_a_page_names_an_example():
    examples = {str(script.relative_to(REPO)) for script in EXAMPLES}
    outputs = _example_outputs()
    assert outputs, "no page quotes an example's output"
    assert set(outputs) <= examples, f"output-of blocks name scripts that do not exist: {set(outputs) - examples}"


def _help_of(parser, argv):
    """What ``skmitm ARGV --help`` prints: argparse's own formatter, not the page generator."""
    stream = io.StringIO()
    with contextlib.redirect_stdout(stream), pytest.raises(SystemExit):
        parser.parse_args([*argv, "--help"])
    return stream.getvalue()


def test_cli_page_lists_every_command_and_option():
    cli_page = _cli_page()
    parser = cli_page._build_parser()
    page = cli_page.render_cli_page(parser)
    top = _help_of(parser, [])
    # The commands, as the top-level help lists them (indented under COMMAND).
    commands = re.findall(r"^ {4}([a-z][\w-]*)\s{2,}", top, flags=re.MULTILINE)
    expected = {"benchmark", "ablation", "identify", "evaluate"}
    assert expected <= set(commands), f"the parser's help lists {commands}"
    for command in commands:
        assert f"## `skmitm {command}`" in page, f"the CLI page has no section for {command}"
        sub_help = _help_of(parser, [command])
        usage = sub_help.split("\n\n")[0]
        section = page.split(f"## `skmitm {command}`", 1)[1].split("\n## ", 1)[0]
        options = set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", sub_help)) - {"--help"}
        assert options, f"no option found in the help of {command}"
        for option in options:
            assert f"`{option}" in section, f"the CLI page's {command} section misses {option}"
        positionals = [word for word in re.findall(r"(?<![\[\w-])([a-z][\w]*)(?=\s|$)", usage.split(command, 1)[1])]
        for name in positionals:
            assert f"| `{name}` |" in section, f"the CLI page's {command} section misses the argument {name}"


def test_cli_page_renders_a_given_parser():
    # A parser made here, so the expected page content is known independently of skmitm's.
    parser = argparse.ArgumentParser(prog="tool", description="Does things.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="run it", description="Run the thing.")
    run.add_argument("source", help="input folder")
    run.add_argument("--level", type=int, default=3, help="how hard (default: %(default)s)")
    run.add_argument("--mode", choices=["a", "b"], help="which | mode")
    run.add_argument("--quiet", action="store_true", help="say less")
    page = _cli_page().render_cli_page(parser)
    assert "## `tool run`" in page and "Run it." in page and "Run the thing." in page
    assert "| `source` | input folder |  |" in page
    assert "| `--level LEVEL` | how hard (default: 3) |  |" in page
    assert "| `--mode {a,b}` | which \\| mode | `a`, `b` |" in page
    assert "| `--quiet` | say less |  |" in page
    assert "usage: tool run [-h] [--level LEVEL]" in page


def test_write_cli_page_rewrites_only_on_change_and_leaves_no_temporary_file(tmp_path):
    cli_page = _cli_page()
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--x", help="the x")
    path = cli_page.write_cli_page(tmp_path / "cli.md", parser)
    assert "| `--x X` | the x |" in path.read_text(encoding="utf-8")
    os.utime(path, (0, 0))
    cli_page.write_cli_page(path, parser)
    assert path.stat().st_mtime == 0  # the same text is not rewritten, so Sphinx need not rebuild the page
    parser.add_argument("--y", help="the y")
    cli_page.write_cli_page(path, parser)
    assert "| `--y Y` | the y |" in path.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["cli.md"]


def test_cli_page_is_in_the_toctree_and_ignored_by_git():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    toctrees = "\n".join(re.findall(r"```\{toctree\}(.*?)```", index, flags=re.DOTALL))
    for page in ("cli", "protocol", "data_and_models", "contributing_docs"):
        assert re.search(rf"^{page}$", toctrees, flags=re.MULTILINE), f"{page} is not in a toctree of docs/index.md"
    assert "/docs/cli.md" in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()


_OUTSIDE_HTML = re.compile(r"\.\./shared|\bSPEC\b|\bissue \d+|\bitem \d+")


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory):
    """The HTML of a ``sphinx -W`` build of a copy of docs/, or the test fails with Sphinx's messages."""
    for name in ("sphinx", "myst_parser", "numpydoc"):
        pytest.importorskip(name, reason="the docs extra is not installed: pip install -e '.[docs]'")
    tmp_path = tmp_path_factory.mktemp("docs")
    # A copy of docs/, so the build's generated pages never land in the work tree.
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "generated", "cli.md"))
    out = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html", str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))),
    )
    assert result.returncode == 0, result.stderr[-5000:]
    assert result.stderr.strip() == ""
    return out


def test_docs_build_without_warnings(built_docs):
    out = built_docs
    for page in ("index.html", "user_guide.html", "api.html", "cli.html", "protocol.html", "data_and_models.html",
                 "generated/skmitm.FusedNearestNeighborIdentifier.html"):
        assert (out / page).is_file(), page
    api = (out / "generated/skmitm.FusedNearestNeighborIdentifier.html").read_text(encoding="utf-8")
    assert "decision_function" in api and "Examples" in api
    cli = (out / "cli.html").read_text(encoding="utf-8")
    for command in ("benchmark", "ablation", "identify", "evaluate"):
        assert f"skmitm {command}" in cli
    # The rendered pages, API docstrings included, refer to nothing outside the
    # repository (highlighted source code under _modules/ is code, not prose).
    for page in out.rglob("*.html"):
        if "_modules" in page.parts or "_sources" in page.parts:
            continue
        text = re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))
        match = _OUTSIDE_HTML.search(text)
        assert match is None, f"{page.relative_to(out)} refers to {match[0]!r} outside the repository"


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
    for page, block in _example_outputs().get(str(script.relative_to(REPO)), []):
        problem = output_mismatch(block.text, result.stdout)
        assert problem is None, f"{page.name} line {block.line} quotes {script.name}: {problem}"
    figures = list((repo / "docs/images").glob("*.png"))
    assert len(figures) == 1, f"{script.name} wrote {figures}; expected one figure in docs/images/"
    data = figures[0].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert (REPO / "docs/images" / figures[0].name).is_file(), f"the docs do not hold {figures[0].name}"


# The pages as a browser draws them: Debian's headless Chromium takes screenshots of the built HTML.
SCREENSHOT_PAGES = ["index", "user_guide", "protocol", "data_and_models", "cli", "api"]
_WINDOW = (1280, 1024)


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _screenshot(html, png):
    """The screenshot of ``html`` as an H×W×3 uint8 array, after checking that Chromium wrote a PNG."""
    browser = _chromium()
    if browser is None:
        pytest.skip("needs Chromium for the screenshots (Debian: apt-get install chromium)")
    result = subprocess.run(
        # The virtual time budget and compositor flag make Chromium finish loading and
        # painting (fonts, images) before it takes the screenshot.
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--virtual-time-budget=10000", "--run-all-compositor-stages-before-draw",
         f"--user-data-dir={png.parent / 'chromium-profile'}", f"--window-size={_WINDOW[0]},{_WINDOW[1]}",
         f"--screenshot={png}", html.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0 and png.is_file(), result.stderr[-3000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{png.name} is not a PNG"
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, f"{png.name} does not decode"
    return image


def _variant(html, name, pattern, replacement):
    """A copy of ``html`` beside it (so its styles and images still load) with one change made."""
    source = html.read_text(encoding="utf-8")
    changed, count = re.subn(pattern, replacement, source, flags=re.DOTALL)
    assert count, f"{html.name} has nothing matching {pattern!r}"
    copy = html.with_name(f"_{name}_{html.name}")
    copy.write_text(changed, encoding="utf-8")
    return copy


@pytest.mark.slow
@pytest.mark.parametrize("page", SCREENSHOT_PAGES)
def test_page_renders_in_headless_chromium(page, built_docs, tmp_path):
    html = built_docs / f"{page}.html"
    shot = _screenshot(html, tmp_path / f"{page}.png")
    assert shot.shape == (_WINDOW[1], _WINDOW[0], 3)
    # Not blank: a rendered page of text has a few percent of dark pixels, a blank one none.
    dark = (shot.max(axis=2) < 128).mean()
    assert 0.005 < dark < 0.6, f"{page}: {dark:.1%} of the screenshot is dark"
    # The title is drawn where it stands: the same page with the text of its first
    # heading made invisible (layout unchanged) differs from it in one band near the top.
    hidden = _screenshot(_variant(html, "untitled", r'(<h1[^>]*>)(.*?)(</h1>)',
                                  r'\1<span style="visibility:hidden">\2</span>\3'), tmp_path / f"{page}-untitled.png")
    changed = np.abs(shot.astype(int) - hidden.astype(int)).max(axis=2) > 64
    rows = np.flatnonzero(changed.any(axis=1))
    assert changed.sum() > 150, f"{page}: hiding the title changed {changed.sum()} pixels; the title was not drawn"
    assert rows.max() - rows.min() < 120 and rows.min() < _WINDOW[1] // 2, (
        f"{page}: hiding the title changed rows {rows.min()}–{rows.max()}, not one band near the top")


@pytest.mark.slow
def test_docs_styles_and_figures_load_in_headless_chromium(built_docs, tmp_path):
    html = built_docs / "index.html"
    shot = _screenshot(html, tmp_path / "index.png")
    # Without its stylesheets the page looks very different: the theme's CSS is applied.
    unstyled = _screenshot(_variant(html, "unstyled", r'<link rel="stylesheet"[^>]*>', ""), tmp_path / "unstyled.png")
    assert (np.abs(shot.astype(int) - unstyled.astype(int)).max(axis=2) > 64).mean() > 0.05
    # The figure at the top of the index is drawn: a colourful region, unlike text on white.
    no_figure = _screenshot(_variant(html, "nofigure", r"<img [^>]*meet_in_the_middle[^>]*>", ""),
                            tmp_path / "nofigure.png")
    assert (np.abs(shot.astype(int) - no_figure.astype(int)).max(axis=2) > 64).mean() > 0.05
    saturation = shot.max(axis=2).astype(int) - shot.min(axis=2)
    assert (saturation > 60).mean() > 0.01, "no coloured pixels: the figure did not load"
