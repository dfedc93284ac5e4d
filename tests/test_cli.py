"""Command line: identify, evaluate, ablation, help and exit codes."""

import csv
import functools
import json
import shutil
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest

from skmitm.__main__ import main
from skmitm._ablation import ablation_grid, evaluate_grid
from skmitm import FUSION_STRATEGIES, HypothesisSet, make_meta

from conftest import benchmark


@pytest.fixture
def orl_folders(orl_dir, tmp_path):
    """ORL as a surveillance task: image 1 is the gallery, images 2-3 become 24 px probes."""
    gallery, probes = tmp_path / "gallery", tmp_path / "probes"
    for s in range(1, 13):
        (gallery / f"s{s}").mkdir(parents=True)
        (probes / f"s{s}").mkdir(parents=True)
        face = cv2.imread(str(orl_dir / f"s{s}" / "1.pgm"), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(gallery / f"s{s}" / "1.png"), face)
        for k in (2, 3):
            img = cv2.imread(str(orl_dir / f"s{s}" / f"{k}.pgm"), cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(str(probes / f"s{s}" / f"{k}.png"), cv2.resize(img, (20, 24), interpolation=cv2.INTER_AREA))
    return gallery, probes


def test_identify_writes_ranked_candidates(orl_folders, tmp_path, capsys):
    gallery, probes = orl_folders
    out = tmp_path / "cands.csv"
    code = main(["identify", str(gallery), str(probes), "--method", "baseline", "--top", "3", "--out", str(out),
                 "--no-progress"])
    assert code == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 24 * 3
    first = [r for r in rows if r["probe"] == rows[0]["probe"]]
    assert [int(r["rank"]) for r in first] == [1, 2, 3]
    assert float(first[0]["score"]) >= float(first[1]["score"]) >= float(first[2]["score"])
    # the true subject (the probe's folder) is usually the first candidate
    top1 = [r for r in rows if r["rank"] == "1"]
    hits = np.mean([r["probe"].split("/")[0] == r["subject"] for r in top1])
    assert hits > 0.3  # 12 subjects: chance is 8%
    out_json = tmp_path / "cands.json"
    assert main(["identify", str(gallery), str(probes), "--method", "baseline", "--top", "1", "--out", str(out_json),
                 "--no-progress"]) == 0
    assert len(json.loads(out_json.read_text())) == 24


def test_identify_one_probe_with_a_reference_folder(orl_folders, tmp_path, monkeypatch, capsys):
    """--reference: probe-side means from unlabelled images, so a lone probe scores as it does in the whole batch."""
    gallery, probes = orl_folders
    batch, alone = tmp_path / "batch.json", tmp_path / "alone.json"
    common = ["--method", "baseline", "--top", "3", "--no-progress", "--reference", str(probes)]
    assert main(["identify", str(gallery), str(probes), "--out", str(batch), *common]) == 0
    lone = tmp_path / "lone"
    lone.mkdir()
    cv2.imwrite(str(lone / "x.png"), cv2.imread(str(probes / "s5" / "2.png"), cv2.IMREAD_GRAYSCALE))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no small-batch warning: the means come from the reference
        assert main(["identify", str(gallery), str(lone), "--out", str(alone), *common]) == 0
    expected = [r for r in json.loads(batch.read_text()) if r["probe"] == "s5/2.png"]
    got = json.loads(alone.read_text())
    assert [r["subject"] for r in got] == [r["subject"] for r in expected]
    np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in expected], atol=1e-5)
    # a missing reference folder fails before any pipeline is built (enrolling first would take minutes)
    import skmitm._pipeline

    # The stand-in keeps the real signature, from which the command line reads its defaults.
    @functools.wraps(skmitm._pipeline.make_mitm_pipeline)
    def no_pipeline(*args, **kwargs):
        raise AssertionError("the pipeline was built before the reference folder was checked")

    monkeypatch.setattr(skmitm._pipeline, "make_mitm_pipeline", no_pipeline)
    assert main(["identify", str(gallery), str(lone), "--reference", str(tmp_path / "nowhere"), "--no-progress"]) == 2
    assert "reference folder" in capsys.readouterr().err


def test_evaluate_full_method_small(tmp_path):
    """A known case: six distinct patterns, but s6's probes show s1, so rank-1 is 10 of 12."""
    from test_report import _fake_lfw

    lfw = _fake_lfw(tmp_path / "lfw")
    gallery, probes = tmp_path / "gallery", tmp_path / "probes"
    people = sorted(p.name for p in lfw.iterdir())
    for person in people:
        (gallery / person).mkdir(parents=True)
        (probes / person).mkdir(parents=True)
        shutil.copyfile(lfw / person / f"{person}_0001.jpg", gallery / person / "1.jpg")
        source = people[0] if person == people[-1] else person
        for k in (2, 3):
            image = cv2.imread(str(lfw / source / f"{source}_{k:04d}.jpg"))
            cv2.imwrite(str(probes / person / f"{k}.png"), cv2.resize(image, (24, 24), interpolation=cv2.INTER_AREA))
    out = tmp_path / "report"
    code = main(["evaluate", str(gallery), str(probes), "--chains", "2", "--sigmas", "2", "--scales", "2",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["n_probes"] == 12 and results["n_gallery_subjects"] == 6
    assert results["method"] == "full"
    assert results["rank1"] == pytest.approx(100 * 10 / 12)
    assert results["rank1"] <= results["rank5"] <= 100
    assert (out / "cmc.png").exists() and "rank-1" in (out / "report.md").read_text()


def test_errors_and_exit_codes(tmp_path, capsys):
    assert main(["identify", str(tmp_path / "nope"), str(tmp_path), "--no-progress"]) == 2
    assert "gallery folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    (tmp_path / "g").mkdir()
    cv2.imwrite(str(tmp_path / "g" / "a.png"), np.zeros((30, 30), np.uint8))
    assert main(["identify", str(tmp_path / "g"), str(tmp_path / "empty"), "--no-progress"]) == 2
    assert "holds no images" in capsys.readouterr().err
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "broken.jpg").write_bytes(b"not an image")
    assert main(["identify", str(tmp_path / "g"), str(tmp_path / "p"), "--no-progress"]) == 2
    assert "broken.jpg" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["identify", str(tmp_path / "g"), str(tmp_path / "p"), "--top", "0"])
    assert exit_info.value.code == 2


def test_help_reads_well():
    result = subprocess.run([sys.executable, "-m", "skmitm", "--help"], capture_output=True, text=True, check=True)
    for command in ("benchmark", "ablation", "identify", "evaluate"):
        assert command in result.stdout
    assert "examples:" in result.stdout


def test_ablation_grid_is_the_paper_layout():
    rows = ablation_grid()
    sections = list(dict.fromkeys(r["section"] for r in rows if r["table"] == "2"))
    assert sections[:6] == ["Baseline", "+ Single hypothesis SR", "+ Multi hypothesis SR", "+ Resolution matching",
                            "+ Gallery degradations", "+ Multi-scale accumulation"]
    assert all(r["params"]["fusion"] in FUSION_STRATEGIES for r in rows)
    assert len([r for r in rows if r["table"] == "3"]) == 6
    with_originals = [r for r in rows if r["section"] == "All hypotheses, originals included"]
    assert len(with_originals) == 5 and all("probe_kinds" not in r["params"] for r in with_originals)


def test_evaluate_grid_on_handmade_templates():
    """Probe SR hypotheses are informative only at scale 2: the 2× rows must beat the 8× rows."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(8, 16))
    gallery, probes, truth = [], [], []
    for c in range(8):
        data = np.vstack([centers[c]] + [centers[c] + 0.2 * rng.normal(size=16) for _ in range(6)])
        meta = make_meta(7, kind=["original"] + ["matched", "degraded"] * 3, scale=[1, 2, 2, 4, 4, 8, 8],
                         chain=["", "", "a", "", "a", "", "a"])
        gallery.append(HypothesisSet(data.astype(np.float32), meta))
        for _ in range(3):
            good = centers[c] + 0.5 * rng.normal(size=(2, 16))
            bad = rng.normal(size=(4, 16))
            meta = make_meta(6, kind="super-resolved", scale=[2, 2, 4, 4, 8, 8], sigma=[0, 1] * 3)
            probes.append(HypothesisSet(np.vstack([good, bad]).astype(np.float32), meta))
            truth.append(c)
    rows = [r for r in ablation_grid() if r["section"] == "+ Multi hypothesis SR"]
    results = evaluate_grid(rows, gallery, np.arange(8), probes, np.array(truth))
    by_column = {r["column"]: r["rank1"] for r in results}
    assert by_column["2×"] > 80 and by_column["8×"] < 50


def test_run_ablation_end_to_end_reuses_templates(tmp_path, monkeypatch):
    import skmitm._ablation
    from skmitm._ablation import run_ablation
    from test_report import _fake_lfw

    computed = []
    compute = skmitm._ablation.compute_templates
    monkeypatch.setattr(skmitm._ablation, "compute_templates",
                        lambda *args, **kwargs: computed.append(1) or compute(*args, **kwargs))
    lfw = _fake_lfw(tmp_path / "lfw", n_subjects=4)
    kwargs = dict(lfw=lfw, out=tmp_path / "out", scales=(2,), n_chains=1, sigmas=2, progress=False,
                  templates_path=tmp_path / "templates.npz")
    first = run_ablation(**kwargs)
    assert (tmp_path / "templates.npz").is_file() and len(computed) == 1
    second = run_ablation(**kwargs)
    assert len(computed) == 1  # the rerun read the templates file back instead of computing them
    assert [r["rank1"] for r in first["rows"]] == [r["rank1"] for r in second["rows"]]
    run_ablation(**{**kwargs, "random_state": 1, "out": tmp_path / "other"})
    assert len(computed) == 2  # other settings: the kept templates do not fit, so they are computed
    assert {r["similarity"] for r in first["rows"]} == {"pearson", "mean-centred"}
    assert first["settings"]["probe_hypotheses"] == 16 * (1 + 2)  # original + 2 blur levels at one scale
    table = (tmp_path / "out" / "ablation.md").read_text()
    assert "Table 2" in table and "Table 3" in table and "mean-centred similarity" in table
    lines = (tmp_path / "out" / "ablation.csv").read_text().splitlines()
    assert len(lines) == 1 + len(first["rows"])
    # the component benchmark reads the kept templates and agrees with the ablation's own row
    component_gain = benchmark("component_gain").run

    gains = dict(component_gain(templates=tmp_path / "templates.npz", lfw=lfw))
    everything = [r for r in first["rows"] if r["similarity"] == "mean-centred"
                  and r["section"] == "All hypotheses, originals included" and r["column"] == "T_concat"]
    assert gains["all hypotheses"] == pytest.approx(everything[0]["rank1"])
    assert len(gains) == 7
    # the reference-set benchmark runs on the same kept templates: half the subjects scored, draws per size
    probe_reference = benchmark("probe_reference").run

    ref = probe_reference(templates=tmp_path / "templates.npz", lfw=lfw, sizes=(2, 8), n_draws=2)
    assert ref["n_scored"] == 8 and set(ref["references"]) == {2, 8}
    assert all(len(d) == 2 and all(0 <= v <= 100 for v in d) for d in ref["references"].values())
    with pytest.raises(ValueError, match="exceeds the 8 probes"):
        probe_reference(templates=tmp_path / "templates.npz", lfw=lfw, sizes=(9,), n_draws=1)


def test_ablation_adds_the_adapter_rows_over_probes_mapped_as_documented(tmp_path):
    from skmitm import FusedNearestNeighborIdentifier
    from skmitm._ablation import run_ablation
    from skmitm._backends import default_dlib_model, file_sha256
    from skmitm.adapter_training import save_adapter
    from test_report import _fake_lfw

    lfw = _fake_lfw(tmp_path / "lfw", n_subjects=4)
    rng = np.random.default_rng(21)
    maps = {"groups": np.array(["original@1.0", "super-resolved@2.0"]), "mean": rng.normal(size=(2, 128)) / 20,
            "index": np.array([0, 1]), "coef": rng.normal(size=(2, 128, 128)), "intercept": rng.normal(size=(2, 128))}
    maps = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in maps.items()}
    save_adapter(tmp_path / "a.npz", maps, network_sha256=file_sha256(default_dlib_model()))
    kwargs = dict(lfw=lfw, scales=(2,), n_chains=1, sigmas=2, progress=False, templates_path=tmp_path / "t.npz")
    results = run_ablation(out=tmp_path / "out", adapter=tmp_path / "a.npz", **kwargs)
    adapted = [r for r in results["rows"] if r.get("adapted")]
    assert [(r["similarity"], r["section"], r["column"]) for r in adapted][:4] == [
        ("pearson", "+ Template adapter", "T_concat"), ("pearson", "+ Template adapter", "S_max/S_add"),
        ("pearson", "+ Template adapter, gallery photos only", "T_concat"),
        ("pearson", "+ Template adapter, sigma-0 probes vs gallery photos", "S_add")]
    assert len(adapted) == 8 and "+ Template adapter" in (tmp_path / "out" / "ablation.md").read_text()
    assert results["settings"]["adapter"] == {"weights": "a.npz", "sha256": file_sha256(tmp_path / "a.npz")}
    # The first adapted row by hand: every probe template mapped as unit(unit(t - mean) @ W + b).
    gallery, gallery_subjects, probes, probe_subjects = benchmark("component_gain").kept_templates(
        tmp_path / "t.npz", lfw)
    mapped = []
    for s in probes:
        g = np.where(s.meta["kind"] == "original", 0, 1)
        z = s.data - maps["mean"][g]
        y = np.einsum("nd,nde->ne", z / np.linalg.norm(z, axis=1, keepdims=True), maps["coef"][g]) + maps["intercept"][g]
        mapped.append(s.with_data((y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)))
    clf = FusedNearestNeighborIdentifier("T_concat", similarity="pearson").fit(gallery, gallery_subjects)
    assert adapted[0]["rank1"] == pytest.approx(100 * clf.score(mapped, probe_subjects))
    plain = [r for r in results["rows"] if not r.get("adapted")]
    assert not any("adapter" in r["section"] for r in plain)
    # none, or auto for a network no adapter ships for (dlib's): no adapter rows
    for adapter in (None, "auto"):
        rows = run_ablation(out=tmp_path / "o", adapter=adapter, **kwargs)["rows"]
        assert len(rows) == len(plain) and not any(r.get("adapted") for r in rows)
    # An adapter trained through the plain SR weights: refused beside the default, taken with sr_weights="plain".
    from skmitm._edsr import DEFAULT_WEIGHTS

    plain_sha = file_sha256(DEFAULT_WEIGHTS.parent / "face_edsr_plain.pt")
    save_adapter(tmp_path / "p.npz", maps, network_sha256=file_sha256(default_dlib_model()), sr_sha256=plain_sha)
    with pytest.raises(ValueError, match=rf"trained through the super-resolution weights with sha256 {plain_sha} "
                                         r"\(shipped as 'plain'\)"):
        run_ablation(out=tmp_path / "p", adapter=tmp_path / "p.npz", **kwargs)
    assert not (tmp_path / "p").exists()  # refused before anything is written
    results = run_ablation(out=tmp_path / "p", adapter=tmp_path / "p.npz", sr_weights="plain", **kwargs)
    assert results["settings"]["adapter"]["sha256"] == file_sha256(tmp_path / "p.npz")
    assert results["settings"]["sr_weights"] == plain_sha and any(r.get("adapted") for r in results["rows"])


def test_ablation_command_passes_the_sr_weights(tmp_path, monkeypatch):
    import skmitm._ablation

    seen = {}

    @functools.wraps(skmitm._ablation.run_ablation)  # the command's defaults are read from the signature
    def recording(**kwargs):
        seen.update(kwargs)
        return {"rows": []}

    monkeypatch.setattr(skmitm._ablation, "run_ablation", recording)
    lfw = tmp_path / "lfw"
    lfw.mkdir()
    assert main(["ablation", "--lfw", str(lfw), "--out", str(tmp_path / "o"), "--sr-weights", "plain"]) == 0
    assert seen["sr_weights"] == "plain"
    assert main(["ablation", "--lfw", str(lfw), "--out", str(tmp_path / "o")]) == 0
    assert seen["sr_weights"] is None  # the paper's method: the realistic weights, whatever the network


def test_network_label_names_the_networks_of_the_results_page():
    from skmitm._ablation import network_label

    assert network_label("/x/models/mobilefacenet.onnx") == "MobileFaceNet"
    assert network_label("/site/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat") == \
        "dlib ResNet"
    assert network_label("glintr100.onnx") == "glintr100"
