"""Shared fixtures: locating ../shared assets (skipping when absent), benchmark modules, seeding."""

import importlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# Absolute: snippets and subprocesses run in temporary folders, where a relative path means nothing.
SHARED = Path(os.environ.get("SKMITM_SHARED") or REPO.parent / "shared").expanduser().resolve()


def shared_path(relative):
    """Path of an asset under ../shared, or skip the test with the reason."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs ../shared/{relative}, which is absent (set SKMITM_SHARED to its folder)")
    return path


def benchmark(name):
    """The module of ``benchmarks/NAME.py``, which is not part of the package, imported by path."""
    folder = str(REPO / "benchmarks")
    if folder not in sys.path:
        # Benchmarks import each other and their _shared helper as top-level modules, as when run as scripts.
        sys.path.insert(0, folder)
    return importlib.import_module(name)


@pytest.fixture
def mobilefacenet_path():
    return shared_path("models/mobilefacenet.onnx")


@pytest.fixture
def lfw_dir():
    return shared_path("data/lfw-deepfunneled")


@pytest.fixture
def orl_dir():
    return shared_path("data/orl_faces")


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(0)
