"""Command line, open set: --threshold / --fpir for identify and evaluate, and verify."""

import csv
import json

import cv2
import numpy as np
import pytest

from skmitm.__main__ import main


@pytest.fixture
def open_set_folders(orl_dir, tmp_path):
    """ORL: people 1-8 enrolled (image 1); probes (24 px) of people 1-12, so 9-12 belong to nobody enrolled."""
    gallery, probes = tmp_path / "gallery", tmp_path / "probes"
    for s in range(1, 13):
        (probes / f"s{s}").mkdir(parents=True)
        if s <= 8:
            (gallery / f"s{s}").mkdir(parents=True)
            cv2.imwrite(str(gallery / f"s{s}" / "1.png"), cv2.imread(str(orl_dir / f"s{s}" / "1.pgm"), 0))
        for k in (2, 3):
            img = cv2.imread(str(orl_dir / f"s{s}" / f"{k}.pgm"), 0)
            cv2.imwrite(str(probes / f"s{s}" / f"{k}.png"), cv2.resize(img, (20, 24), interpolation=cv2.INTER_AREA))
    return gallery, probes


def _model(mobilefacenet_path):
    return ["--model", str(mobilefacenet_path), "--method", "baseline", "--no-progress"]


def test_identify_threshold_marks_unknown_beside_the_candidates(open_set_folders, mobilefacenet_path, tmp_path):
    gallery, probes = open_set_folders
    out = tmp_path / "c.csv"
    assert main(["identify", str(gallery), str(probes), "--top", "3", "--threshold", "0.3", "--out", str(out),
                 *_model(mobilefacenet_path)]) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 24 * 3 and list(rows[0]) == ["probe", "rank", "subject", "score", "decision"]
    for probe in {r["probe"] for r in rows}:
        mine = [r for r in rows if r["probe"] == probe]
        assert len({r["decision"] for r in mine}) == 1  # one answer per probe, on every candidate row
        expected = mine[0]["subject"] if float(mine[0]["score"]) >= 0.3 else "unknown"
        assert mine[0]["decision"] == expected
    assert {r["decision"] for r in rows} >= {"unknown"}
    # without a threshold the columns stay as they were
    assert main(["identify", str(gallery), str(probes), "--top", "1", "--out", str(out),
                 *_model(mobilefacenet_path)]) == 0
    assert list(next(csv.DictReader(open(out)))) == ["probe", "rank", "subject", "score"]


def test_evaluate_counts_unenrolled_probes_and_reports_open_set(open_set_folders, mobilefacenet_path, tmp_path,
                                                                capsys):
    gallery, probes = open_set_folders
    out = tmp_path / "report"
    assert main(["evaluate", str(gallery), str(probes), "--fpir", "0.3", "--out", str(out),
                 *_model(mobilefacenet_path)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["n_probes"] == 24
    assert results["n_probes_enrolled"] == 16 and results["n_probes_not_enrolled"] == 8
    assert set(results["dir_at_fpir"]) == {"0.01", "0.1", "0.3"}
    assert 0 <= results["fpir"] <= 1 and 0 <= results["fnir"] <= 1
    assert 0 <= results["rank1"] <= results["rank5"] <= 100
    report = (out / "report.md").read_text()
    assert "8 of 24 probes belong to nobody in the gallery" in report and (out / "dir_fpir.png").is_file()
    captured = capsys.readouterr()
    assert "8 belong to nobody in the gallery" in captured.out and "synthetic non-mated searches" in captured.err


def test_evaluate_all_enrolled_has_no_open_set_section(open_set_folders, mobilefacenet_path, tmp_path):
    gallery, probes = open_set_folders
    for s in range(9, 13):
        for f in (probes / f"s{s}").iterdir():
            f.unlink()
        (probes / f"s{s}").rmdir()
    out = tmp_path / "report"
    assert main(["evaluate", str(gallery), str(probes), "--out", str(out), *_model(mobilefacenet_path)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["n_probes_not_enrolled"] == 0 and "dir_at_fpir" not in results
    assert "Open set" not in (out / "report.md").read_text()


def test_verify_accepts_the_same_person_more_often(open_set_folders, mobilefacenet_path, orl_dir, tmp_path, capsys):
    gallery, probes = open_set_folders  # the background: people 1-8; the claimed identities are people 9-12
    results = {}
    for s, claimed in [(9, 9), (10, 10), (11, 11), (12, 12), (9, 10), (10, 11), (11, 12), (12, 9)]:
        reference = tmp_path / f"ref{claimed}.png"
        cv2.imwrite(str(reference), cv2.imread(str(orl_dir / f"s{claimed}" / "1.pgm"), 0))
        assert main(["verify", str(probes / f"s{s}" / "2.png"), str(reference), "--background", str(gallery),
                     "--fmr", "0.1", *_model(mobilefacenet_path)]) == 0
        words = capsys.readouterr().out.split()  # score S  threshold T (FMR F)  accept|reject
        assert words[0] == "score" and words[-1] in ("accept", "reject")
        assert (words[-1] == "accept") == (float(words[1]) >= float(words[3]))
        results[(s, claimed)] = float(words[1])
    genuine = [v for k, v in results.items() if k[0] == k[1]]
    impostor = [v for k, v in results.items() if k[0] != k[1]]
    assert np.mean(genuine) > np.mean(impostor) + 0.1


def test_verify_needs_a_background(open_set_folders, capsys):
    gallery, probes = open_set_folders
    with pytest.raises(SystemExit):
        main(["verify", str(probes / "s1" / "2.png"), str(gallery / "s1" / "1.png")])
    assert "--background" in capsys.readouterr().err
    assert main(["verify", str(probes / "s1" / "2.png"), str(gallery / "s1" / "nope.png"), "--background",
                 str(gallery), "--no-progress"]) == 2
    assert "nope.png" in capsys.readouterr().err
