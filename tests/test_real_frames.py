"""The user guide's walk from phone photos and CCTV frames to a candidates CSV, on faces built from LFW."""

import csv

import cv2
import numpy as np
import pytest

from skmitm import load_image
from skmitm.__main__ import main
from skmitm.datasets import LFW_CROP, degrade_probe, make_synthetic_frame

from conftest import shared_path

PEOPLE = ["Colin_Powell", "George_W_Bush", "Gloria_Macapagal_Arroyo", "Hugo_Chavez", "Jean_Chretien", "Tony_Blair"]


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    lfw = shared_path("data/lfw-deepfunneled")
    root = tmp_path_factory.mktemp("walk")
    photos, frames = root / "photos", root / "frames"
    for name in PEOPLE:  # phone photos: one whole 250×250 photo per person
        (photos / name).mkdir(parents=True)
        cv2.imwrite(str(photos / name / "front.jpg"), cv2.imread(str(lfw / name / f"{name}_0001.jpg")))
    frames.mkdir()
    truth = {}
    rng = np.random.default_rng(0)
    for k in range(3):  # CCTV frames: two people each, faces of about 24 px, degraded like camera frames
        people = PEOPLE[2 * k : 2 * k + 2]
        small = [degrade_probe(load_image(lfw / n / f"{n}_0002.jpg"), size=48, rng=rng) for n in people]
        frame, boxes = make_synthetic_frame(small, random_state=k)
        cv2.imwrite(str(frames / f"cam{k}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        scale = 48 / 250
        for n, b in zip(people, boxes):
            truth[(f"cam{k}.png", n)] = np.tile(b[:2], 2) + np.asarray(LFW_CROP) * scale
    cv2.imwrite(str(frames / "empty.png"), np.full((240, 320, 3), 100, np.uint8))  # no one in view
    close = np.full((240, 320, 3), 90, np.uint8)  # someone close to the camera: a 100-px face
    close[20:220, 60:260] = cv2.cvtColor(cv2.resize(load_image(lfw / PEOPLE[0] / f"{PEOPLE[0]}_0003.jpg"), (200, 200)),
                                         cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(frames / "close.png"), close)
    return photos, frames, truth


def test_photos_and_frames_to_candidates(walk, tmp_path, capsys):
    photos, frames, truth = walk
    out = tmp_path / "candidates.csv"
    code = main(["identify", str(photos), str(frames), "--detector", "scrfd", "--detector-model",
                 str(shared_path("models/scrfd_2.5g_bnkps.onnx")), "--upscale", "2",
                 "--model", str(shared_path("models/mobilefacenet.onnx")), "--chains", "4", "--sigmas", "2",
                 "--top", "3", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "no face found in 1 of 5 probe frame(s) (empty.png)" in err
    assert "left out 1 face(s) larger than 64 px" in err and "close.png#" in err
    rows = list(csv.DictReader(out.open()))
    probes = sorted({r["probe"] for r in rows})
    assert len(rows) == 3 * len(probes) and len(probes) == len(truth)  # every pasted face, and nothing else
    first = {}
    for probe in probes:
        source, _, box = probe.partition("#")
        x0, y0, x1, y1 = map(float, box.split(","))
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        # The probe id carries the frame and a box around one pasted face, in the frame's own pixels.
        owners = [n for (s, n), t in truth.items() if s == source and t[0] <= centre[0] <= t[2]
                  and t[1] <= centre[1] <= t[3]]
        assert len(owners) == 1, probe
        first[owners[0]] = next(r["subject"] for r in rows if r["probe"] == probe and r["rank"] == "1")
        assert [r["rank"] for r in rows if r["probe"] == probe] == ["1", "2", "3"]
    assert sum(first[n] == n for n in first) >= 3, first  # chance: one in six


def test_detection_flags_are_checked_first(walk, tmp_path, capsys):
    photos, frames, _ = walk
    assert main(["identify", str(photos), str(frames), "--detector", "scrfd"]) == 2
    assert "--detector scrfd needs --detector-model" in capsys.readouterr().err
    assert main(["identify", str(photos), str(frames), "--upscale", "2"]) == 2
    assert "need a --detector" in capsys.readouterr().err
    assert main(["identify", str(photos), str(frames), "--detector", "yunet", "--detector-model",
                 str(tmp_path / "nope.onnx")]) == 2
    assert "nope.onnx" in capsys.readouterr().err
    # Without a detector the frames are taken for faces: too large for super-resolution, refused by name.
    assert main(["identify", str(photos), str(frames), "--no-progress"]) == 2
    assert "larger than 64 px" in capsys.readouterr().err
