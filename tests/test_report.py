"""The main job: ``skmitm benchmark`` and the report it writes."""

import json
import shutil

import cv2
import numpy as np
import pytest

from skmitm.__main__ import main
from skmitm._report import SPEC_BASELINES, run_public_benchmark
from skmitm.datasets import LFW_CROPS


def _fake_lfw(root, n_subjects=6, n_images=5, seed=0):
    """LFW-like folder: each 'person' is a distinct smooth pattern, images are noisy variants."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:250, 0:250] / 250.0
    for s in range(n_subjects):
        name = f"Person_{chr(65 + s)}"
        (root / name).mkdir(parents=True)
        freq = rng.uniform(2, 9, size=3)
        phase = rng.uniform(0, 6, size=3)
        base = np.stack([np.sin(2 * np.pi * f * (xx + yy * k) + p) for f, p, k in zip(freq, phase, (0.3, 0.7, 1.1))], -1)
        for k in range(1, n_images + 1):
            img = 127 + 100 * base + rng.normal(0, 8, size=base.shape)
            cv2.imwrite(str(root / name / f"{name}_{k:04d}.jpg"), np.clip(img, 0, 255).astype(np.uint8))
    return root


def _impostor_probes(lfw, subject="Person_F", source="Person_A"):
    """Give ``subject`` the images 2-5 of ``source``: its four probes then show someone else's face."""
    for k in range(2, 6):
        shutil.copyfile(lfw / source / f"{source}_{k:04d}.jpg", lfw / subject / f"{subject}_{k:04d}.jpg")
    return lfw


def test_report_on_a_small_folder(tmp_path):
    # Six distinct patterns, but Person_F's four probes show Person_A: those four are
    # identified as Person_A, every other probe correctly, so rank-1 is 20 of 24.
    lfw = _impostor_probes(_fake_lfw(tmp_path / "lfw"))
    out = tmp_path / "report"
    results = run_public_benchmark(lfw=lfw, out=out, conditions=[("moderate", 24), ("harsh", 16)], progress=False)
    names = [r["condition"] for r in results["rows"]]
    assert names == ["moderate 24 px", "harsh 16 px", "HR vs HR (ceiling)"]
    assert results["n_subjects"] == 6 and results["n_probes"] == 24
    rows = {r["condition"]: r for r in results["rows"]}
    assert rows["moderate 24 px"]["rank1"] == pytest.approx(100 * 20 / 24)
    assert rows["HR vs HR (ceiling)"]["rank1"] == pytest.approx(100 * 20 / 24)
    # harsh 16 px loses some of the patterns' detail: no exact figure is known, but it cannot beat
    # the ceiling, whose misses (the impostor probes) it shares
    assert rows["harsh 16 px"]["rank1"] <= rows["HR vs HR (ceiling)"]["rank1"]
    for row in results["rows"]:
        assert row["rank1"] <= row["rank5"] <= 100
    assert results["backend"] == "dlib"
    assert results["crop"] == list(LFW_CROPS["dlib"])  # "auto" gives dlib's network its own face box
    written = json.loads((out / "results.json").read_text())
    assert written["rows"] == results["rows"]
    report = (out / "report.md").read_text()
    assert "| moderate 24 px |" in report and "HR vs HR" in report
    assert (out / "cmc.png").read_bytes()[:4] == b"\x89PNG"
    assert "x 68…184, y 77…193 (116×116)" in report


def test_report_crop_named_and_cli(tmp_path):
    lfw = _fake_lfw(tmp_path / "lfw", n_subjects=3)
    out = tmp_path / "cli"
    assert main(["benchmark", "--lfw", str(lfw), "--out", str(out), "--no-progress", "--conditions", "moderate:16",
                 "--crop", "spec", "--n-jobs", "2"]) == 0
    assert json.loads((out / "results.json").read_text())["crop"] == [62, 55, 188, 181]
    assert main(["benchmark", "--lfw", str(lfw), "--out", str(out), "--no-progress", "--conditions", "moderate:16",
                 "--crop", "20,20,220,220"]) == 0
    assert json.loads((out / "results.json").read_text())["crop"] == [20, 20, 220, 220]
    with pytest.raises(SystemExit):
        main(["benchmark", "--crop", "tight"])


def test_cli_errors_and_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["benchmark", "--lfw", str(tmp_path / "missing"), "--out", str(out), "--no-progress"])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):
        main(["benchmark", "--conditions", "foggy:24"])


def test_baseline_reproduces_spec(tmp_path, lfw_dir, mobilefacenet_path):
    """SPEC §5: the toolkit's baseline within ±1 point of the plain script, every condition."""
    results = run_public_benchmark(lfw=lfw_dir, model=mobilefacenet_path, out=tmp_path, progress=False)
    for row in results["rows"]:
        assert abs(row["rank1"] - row["spec_rank1"]) <= 1.0, row
    assert set(SPEC_BASELINES) >= {("moderate", 24), "HR"}
