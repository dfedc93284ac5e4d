"""Shared fixtures: locating ../shared assets (skipping when absent) and seeding."""

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SKMITM_SHARED", REPO.parent / "shared"))


def shared_path(relative):
    """Path of an asset under ../shared, or skip the test with the reason."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs ../shared/{relative}, which is absent (set SKMITM_SHARED to its folder)")
    return path


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
