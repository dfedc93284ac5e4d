"""The library and its applications apart: what ``import skmitm`` loads, what the wheel holds, how benchmarks work."""

import ast
import os
import subprocess
import sys
import tomllib

import pytest
from setuptools import find_packages

from conftest import REPO, benchmark

EXPERIMENT_MODULES = ("skmitm._ablation", "skmitm._report")


def test_import_skmitm_loads_no_experiment_code_and_no_matplotlib():
    code = (
        "import sys, skmitm; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib' or m in %r))" % (EXPERIMENT_MODULES,)
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert loaded.stdout.strip() == "[]"


def test_the_ablation_names_load_it_on_first_use():
    code = ("import sys, skmitm; before = 'skmitm._ablation' in sys.modules; rows = skmitm.ablation_grid(); "
            "print(before, 'skmitm._ablation' in sys.modules, rows[0]['section'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["False", "True", "Baseline"]


def test_the_wheel_holds_the_library_only():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(str(REPO), include=config["include"], exclude=config.get("exclude", ()))
    assert "skmitm" in packages
    assert not [p for p in packages if not p.startswith("skmitm")]
    assert not (REPO / "skmitm" / "benchmarks").exists()
    assert "prune benchmarks" in (REPO / "MANIFEST.in").read_text().splitlines()


def _benchmark_files():
    return sorted((REPO / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("path", _benchmark_files(), ids=lambda p: p.name)
def test_benchmarks_use_public_api_only(path):
    """No import of a private skmitm module or name, no private attribute of a skmitm object."""
    tree = ast.parse(path.read_text())
    private = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("skmitm"):
            private += [node.module] if any(part.startswith("_") for part in node.module.split(".")) else []
            private += [a.name for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Import):
            private += [a.name for a in node.names if a.name.startswith("skmitm") and "._" in a.name]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            private.append(node.attr)
    assert not private, f"{path.name} uses private names {private}"


@pytest.mark.parametrize("path", _benchmark_files(), ids=lambda p: p.name)
def test_benchmarks_find_data_only_through_shared_path(path):
    text = path.read_text()
    if path.name != "_shared.py":
        assert "SKMITM_SHARED\"" not in text.replace("$SKMITM_SHARED", "") and "parents[" not in text
        assert "../shared" not in text and "os.environ" not in text


def test_shared_path_reads_the_variable_and_names_what_is_missing(tmp_path, monkeypatch):
    shared = benchmark("_shared")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.onnx").write_bytes(b"x")
    monkeypatch.setenv("SKMITM_SHARED", str(tmp_path))
    assert shared.shared_path("models/net.onnx") == tmp_path / "models" / "net.onnx"
    with pytest.raises(FileNotFoundError, match=rf"data/lfw not found under {tmp_path}.*SKMITM_SHARED"):
        shared.shared_path("data/lfw")
    monkeypatch.delenv("SKMITM_SHARED")
    assert shared.shared_path.__module__ == "_shared"
    assert os.path.samefile(shared._DEFAULT.parent, REPO.parent)
