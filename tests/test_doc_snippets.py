"""Every python snippet of README.md and docs/*.md runs as written and prints what the page shows.

The convention is in ``doc_snippets`` (and docs/contributing_docs.md). Snippets
that read data find it through ``SKMITM_SHARED`` (a folder holding ``data/``
and ``models/``, see docs/data_and_models.md), which the test sets to the
folder the other tests use; a snippet whose data is absent is skipped, naming
what it needs.
"""

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, SHARED
from doc_snippets import output_mismatch, read_blocks

DOCS = REPO / "docs"
# cli.md is written by the build from the argparse definitions (docs/cli_page.py).
PAGES = [REPO / "README.md", *sorted(p for p in DOCS.glob("*.md") if p.name != "cli.md")]


def _snippet_params():
    """One test per distinct snippet; a snippet shown on several pages runs once for all of them."""
    groups = {}
    for page in PAGES:
        for block in read_blocks(page.read_text(encoding="utf-8")):
            if block.language == "python":
                groups.setdefault(block.text, []).append((page, block))
    params = []
    for code, places in groups.items():
        slow = any(block.options.get("slow") for _, block in places)
        name = "+".join(f"{page.relative_to(REPO)}:{block.line}" for page, block in places)
        params.append(pytest.param(code, places, marks=[pytest.mark.slow] if slow else [], id=name))
    return params


@pytest.mark.parametrize(("code", "places"), _snippet_params())
def test_snippet_runs_and_prints_what_the_page_shows(code, places, tmp_path):
    env = dict(os.environ, SKMITM_SHARED=str(SHARED), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    for name in re.findall(r"os\.environ\[[\"'](\w+)[\"']\]", code):
        if name not in env:
            pytest.skip(f"the snippet needs the environment variable {name} (see docs/data_and_models.md)")
    missing = sorted({asset for asset in re.findall(r"[\"']((?:data|models)/[^\"']+)[\"']", code)
                      if not (SHARED / asset).exists()})
    if missing:
        pytest.skip(f"the snippet needs {', '.join(missing)} under SKMITM_SHARED={SHARED}, which is absent "
                    "(see docs/data_and_models.md)")
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    # A fresh interpreter in an empty folder: nothing from earlier snippets or
    # the test session is defined, and files a snippet writes land in tmp_path.
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=900)
    where = ", ".join(f"{page.name} line {block.line}" for page, block in places)
    assert result.returncode == 0, f"the snippet of {where} failed:\n{result.stderr[-5000:]}"
    for page, block in places:
        if block.output is not None:
            problem = output_mismatch(block.output.text, result.stdout, block.options.get("atol"))
            assert problem is None, f"{page.name} line {block.output.line}: {problem}"


def test_pages_have_snippets_and_expected_outputs():
    # Guards the reader: a fence typo (```py, ```Python) would silently drop snippets from the test.
    blocks = [b for page in PAGES for b in read_blocks(page.read_text(encoding="utf-8"))]
    assert {b.language for b in blocks} <= {"python", "text", "bash", ""}
    assert sum(b.language == "python" for b in blocks) >= 10
    assert sum(b.output is not None for b in blocks) >= 5


# Pages stand on their own: nothing that only exists beside the repository.
_OUTSIDE = [
    (r"\.\./shared", "the ../shared folder"),
    (r"\bSPEC\b", "the project's internal specification"),
    (r"\bthe spec\b", "the project's internal specification"),
    (r"\bissue \d+", "an issue number"),
    (r"\bitem \d+", "an item of an issue"),
]


@pytest.mark.parametrize(
    "path",
    [*PAGES, DOCS / "api.rst", *sorted(DOCS.glob("*.py")), *sorted((REPO / "examples").glob("**/*.py"))],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_page_refers_to_nothing_outside_the_repository(path):
    text = path.read_text(encoding="utf-8")
    for pattern, what in _OUTSIDE:
        for match in re.finditer(pattern, text, flags=re.IGNORECASE if pattern.startswith(r"\bthe") else 0):
            line = text.count("\n", 0, match.start()) + 1
            pytest.fail(f"{path.relative_to(REPO)} line {line} refers to {what}: {match[0]!r}")


# The convention itself, on hand-written pages and outputs.

_PAGE = """\
Intro.

```python
print("rank-1 37.8%")
```

```text
rank-1 37.8%
```

<!-- snippet: slow, atol=0.5 -->
```python
print(1)
```

Prose between.

```text
not an output: prose stands between
```

<!-- output-of: examples/pipeline/plot_x.py -->
```text
x 1
```
"""


def test_read_blocks_links_outputs_and_reads_options():
    blocks = read_blocks(_PAGE)
    assert [(b.language, b.line) for b in blocks] == [("python", 3), ("text", 7), ("python", 12), ("text", 18),
                                                      ("text", 23)]
    first, second = blocks[0], blocks[2]
    assert first.output is blocks[1] and first.options == {}
    assert first.text == 'print("rank-1 37.8%")\n'
    assert second.options == {"slow": True, "atol": 0.5} and second.output is None
    assert blocks[4].comment == ("output-of", "examples/pipeline/plot_x.py")
    with pytest.raises(ValueError, match="unknown snippet option"):
        read_blocks("<!-- snippet: fast -->\n```python\npass\n```\n")


@pytest.mark.parametrize(
    ("expected", "actual", "atol", "ok"),
    [
        ("rank-1 37.8%", "rank-1 37.8%", None, True),
        ("rank-1 37.8%", "rank-1 37.9%", None, True),  # one unit of the last digit
        ("rank-1 37.8%", "rank-1 38.0%", None, False),
        ("rank-1 37.8%", "rank-1 38.0%", 0.5, True),
        ("rank-1 37.80%", "rank-1 37.81%", None, True),
        ("rank-1 37.80%", "rank-1 37.82%", None, False),
        ("196 hypotheses", "197 hypotheses", None, False),  # integers are exact
        ("196 hypotheses", "196.0 hypotheses", None, False),
        ("(24, 24, 3)", "(24,  24, 3)", None, True),  # runs of spaces count as one
        ("baseline 70.9%", "S_max 70.9%", None, False),  # text must match
        ("a 1\nb 2", "a 1\ntiming 3 s\nb 2", None, True),  # left-out lines are not checked
        ("a 1\nb 2", "b 2\na 1", None, False),  # but the order is
        ("a 1\nb 2", "a 1", None, False),
        ("-0.006", "-0.006", None, True),
        ("-0.006", "0.006", None, False),
    ],
)
def test_output_comparison(expected, actual, atol, ok):
    assert (output_mismatch(expected, actual, atol) is None) is ok
