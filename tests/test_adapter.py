"""The template adapter: its maps, its weights file, its two sides and its place in a pipeline."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from skmitm import FusedNearestNeighborIdentifier, HypothesisSet, TemplateAdapter, make_meta
from skmitm._param_validation import InvalidParameterError
from skmitm.__main__ import main
from skmitm.adapter_training import (
    TRAINING_DEGRADATIONS,
    degrade_training_face,
    fit_template_maps,
    load_adapter,
    make_training_templates,
    save_adapter,
)

D = 6


def _unit(rows):
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def _network(folder, content=b"network A"):
    """A stand-in face network file: the adapter reads only its SHA-256."""
    path = folder / f"net-{hashlib.sha256(content).hexdigest()[:6]}.onnx"
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def _pairs(rng, groups, W, b, n=400):
    """Training sets with one row per group ({name: (kind, scale)}) and their exact high-resolution targets.

    Each group's rows are the same base templates shifted by a constant of
    the group, so centred on its own mean every group gives the same
    normalised rows ``z``, and ``z @ W + b`` is every group's exact target.
    """
    base = rng.normal(size=(n, D)) + rng.normal(size=D)
    z = _unit(base - base.mean(axis=0))
    shifts = {g: 3 * rng.normal(size=D) for g in groups}
    sets = []
    for i in range(n):
        data = np.stack([base[i] + shifts[g] for g in groups]).astype(np.float32)
        sets.append(HypothesisSet(data, make_meta(len(groups), kind=[k for k, _ in groups.values()],
                                                  scale=[sc for _, sc in groups.values()])))
    return sets, z @ W + b, {g: (base + shifts[g]).mean(axis=0) for g in groups}


def test_ridge_recovers_a_known_linear_map_of_one_group():
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(D, D)), rng.normal(size=D)
    sets, high, means = _pairs(rng, {"sr4": ("super-resolved", 4)}, W, b)
    maps = fit_template_maps(sets, high, alpha=1e-9)
    assert maps["groups"].tolist() == ["super-resolved@4.0"]
    np.testing.assert_allclose(maps["mean"][0], means["sr4"], atol=1e-4)
    np.testing.assert_allclose(maps["coef"][0], W, atol=1e-3)
    np.testing.assert_allclose(maps["intercept"][0], b, atol=1e-3)


def test_ridge_penalty_shrinks_the_map():
    rng = np.random.default_rng(1)
    W, b = rng.normal(size=(D, D)), rng.normal(size=D)
    sets, high, _ = _pairs(rng, {"sr2": ("super-resolved", 2)}, W, b, n=50)
    small = fit_template_maps(sets, high, alpha=1e-6)["coef"][0]
    large = fit_template_maps(sets, high, alpha=1e3)["coef"][0]
    assert np.linalg.norm(large) < 0.2 * np.linalg.norm(small)


def test_each_group_gets_its_own_map_and_a_shared_map_is_one():
    rng = np.random.default_rng(2)
    W, b = rng.normal(size=(D, D)), rng.normal(size=D)
    # Two groups, each centred on its own (different) mean, under one true map: both fits recover it.
    sets, high, means = _pairs(rng, {"o": ("original", 1), "s8": ("super-resolved", 8)}, W, b)
    per_group = fit_template_maps(sets, high, alpha=1e-9)
    shared = fit_template_maps(sets, high, alpha=1e-9, shared=True)
    assert per_group["groups"].tolist() == ["original@1.0", "super-resolved@8.0"]
    np.testing.assert_allclose(per_group["mean"], [means["o"], means["s8"]], atol=1e-4)
    assert per_group["index"].tolist() == [0, 1] and shared["index"].tolist() == [0, 0]
    assert shared["coef"].shape == (1, D, D)
    for coef in (*per_group["coef"], shared["coef"][0]):
        np.testing.assert_allclose(coef, W, atol=1e-3)
    # Groups of different maps, in separate images: each recovers its own.
    W2 = rng.normal(size=(D, D))
    one, high1, _ = _pairs(rng, {"s2": ("super-resolved", 2)}, W, b)
    two, high2, _ = _pairs(rng, {"m2": ("matched", 2)}, W2, -b)
    maps = fit_template_maps(one + two, np.concatenate([high1, high2]), alpha=1e-9)
    assert maps["groups"].tolist() == ["matched@2.0", "super-resolved@2.0"]
    np.testing.assert_allclose(maps["coef"][0], W2, atol=1e-3)
    np.testing.assert_allclose(maps["coef"][1], W, atol=1e-3)
    np.testing.assert_allclose(maps["intercept"][0], -b, atol=1e-3)


def test_fit_template_maps_refuses_bad_input():
    rng = np.random.default_rng(3)
    sets, high, _ = _pairs(rng, {"o": ("original", 1)}, np.eye(D), np.zeros(D), n=5)
    with pytest.raises(ValueError, match=r"high has shape \(4, 6\); expected \(5, D\)"):
        fit_template_maps(sets, high[:4])
    with pytest.raises(ValueError, match="alpha=0"):
        fit_template_maps(sets, high, alpha=0)
    with pytest.raises(ValueError, match="'original@1.0' has 1 template"):
        fit_template_maps(sets[:1], high[:1])
    with pytest.raises(TypeError, match="holds images"):
        fit_template_maps([HypothesisSet.from_image(np.zeros((8, 8, 3), np.uint8))] * 2, high[:2])


@pytest.fixture
def adapter_files(tmp_path):
    """Weights with known maps for probe groups original@1, super-resolved@2 and gallery group matched@2."""
    rng = np.random.default_rng(4)
    network, sha256 = _network(tmp_path)
    maps = {
        "groups": np.array(["matched@2.0", "original@1.0", "super-resolved@2.0"]),
        "mean": rng.normal(size=(3, D)).astype(np.float32),
        "index": np.array([0, 1, 2]),
        "coef": rng.normal(size=(3, D, D)).astype(np.float32),
        "intercept": rng.normal(size=(3, D)).astype(np.float32),
    }
    card = save_adapter(tmp_path / "adapter.npz", maps, network_sha256=sha256, card={"note": "test"})
    return network, tmp_path / "adapter.npz", card, maps


def _expected(row, maps, g):
    """The documented map, written out: unit(unit(t - mean) @ W + b)."""
    z = (row - maps["mean"][g]) / np.linalg.norm(row - maps["mean"][g])
    y = z @ maps["coef"][g] + maps["intercept"][g]
    return y / np.linalg.norm(y)


def test_weights_file_round_trip_and_card(adapter_files):
    network, weights, card_path, maps = adapter_files
    loaded, header = load_adapter(weights)
    for key in maps:
        np.testing.assert_array_equal(loaded[key], maps[key])
    assert header["template_dim"] == D
    card = json.loads(card_path.read_text())
    assert card["weights"] == "adapter.npz" and card["note"] == "test"
    assert card["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert card["groups"] == ["matched@2.0", "original@1.0", "super-resolved@2.0"]
    via_card, _ = load_adapter(card_path)
    np.testing.assert_array_equal(via_card["coef"], maps["coef"])


def test_altered_weights_are_refused(adapter_files, tmp_path):
    _, weights, card_path, _ = adapter_files
    blob = bytearray(weights.read_bytes())
    blob[-200] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="do not match the SHA-256 of their card"):
        load_adapter(card_path)
    with pytest.raises(ValueError, match="adapter weights file"):
        load_adapter(weights)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(2))
    with pytest.raises(ValueError, match="not a skmitm array file"):
        load_adapter(other)


def test_wrong_network_is_refused(adapter_files, tmp_path):
    _, weights, _, _ = adapter_files
    other, other_sha = _network(tmp_path, b"network B")
    with pytest.raises(ValueError, match=f"not for this one \\({other_sha}\\).*skmitm train-adapter"):
        TemplateAdapter(other, weights=weights).fit()
    with pytest.raises(ValueError, match="no template adapter ships for the face network.*skmitm train-adapter"):
        TemplateAdapter(other).fit()
    with pytest.raises(FileNotFoundError, match="model file"):
        TemplateAdapter(tmp_path / "absent.onnx", weights=weights).fit()


def test_probe_groups_are_mapped_and_others_pass_through(adapter_files):
    network, weights, _, maps = adapter_files
    adapter = TemplateAdapter(network, weights=weights).fit()
    assert adapter.groups_ == ["matched@2.0", "original@1.0", "super-resolved@2.0"] and adapter.adapts_gallery_
    rng = np.random.default_rng(5)
    # Mixed and partial: one set with every probe group and a gallery-kind row, one with a lone SR row.
    full = HypothesisSet(rng.normal(size=(3, D)).astype(np.float32),
                         make_meta(3, kind=["original", "super-resolved", "matched"], scale=[1, 2, 2], size=16))
    lone = HypothesisSet(rng.normal(size=(1, D)).astype(np.float32), make_meta(1, kind="super-resolved", scale=2))
    out = adapter.transform([full, lone])
    np.testing.assert_allclose(out[0].data[0], _expected(full.data[0], maps, 1), atol=1e-5)
    np.testing.assert_allclose(out[0].data[1], _expected(full.data[1], maps, 2), atol=1e-5)
    np.testing.assert_array_equal(out[0].data[2], full.data[2])  # a gallery kind is not a probe
    np.testing.assert_allclose(out[1].data[0], _expected(lone.data[0], maps, 2), atol=1e-5)
    assert out[0].meta is full.meta
    assert out[0].data.dtype == np.float32
    # A probe is mapped alone exactly as in a batch.
    np.testing.assert_allclose(adapter.transform([lone])[0].data, out[1].data, atol=1e-6)
    unknown = HypothesisSet(rng.normal(size=(1, D)).astype(np.float32), make_meta(1, kind="super-resolved", scale=4))
    with pytest.raises(ValueError, match="'super-resolved@4.0' has no map"):
        adapter.transform([full, unknown])
    with pytest.raises(ValueError, match="templates of 5 features"):
        adapter.transform([HypothesisSet(np.ones((1, 5), np.float32), make_meta(1))])
    with pytest.raises(TypeError, match="holds images"):
        adapter.transform([HypothesisSet.from_image(np.zeros((8, 8, 3), np.uint8))])


def test_gallery_side(adapter_files, tmp_path):
    network, weights, _, maps = adapter_files
    rng = np.random.default_rng(6)
    gallery = [HypothesisSet(rng.normal(size=(2, D)).astype(np.float32),
                             make_meta(2, kind=["original", "matched"], scale=[1, 2], size=[0, 24]))]
    kept = TemplateAdapter(network, weights=weights).fit_transform(gallery)
    np.testing.assert_array_equal(kept[0].data, gallery[0].data)
    mapped = TemplateAdapter(network, weights=weights, adapt_gallery=True).fit_transform(gallery)
    np.testing.assert_array_equal(mapped[0].data[0], gallery[0].data[0])  # the photo itself: never mapped
    np.testing.assert_allclose(mapped[0].data[1], _expected(gallery[0].data[1], maps, 0), atol=1e-5)
    probe_only = {k: v[1:] if k != "index" else np.array([0, 1]) for k, v in maps.items()}
    _, sha256 = _network(tmp_path)
    save_adapter(tmp_path / "probes.npz", probe_only, network_sha256=sha256)
    with pytest.raises(ValueError, match="no map for gallery hypotheses"):
        TemplateAdapter(network, weights=tmp_path / "probes.npz", adapt_gallery=True).fit()


def test_params_clone_and_validation(adapter_files):
    network, weights, _, _ = adapter_files
    adapter = TemplateAdapter(network, weights=weights, adapt_gallery=True)
    assert adapter.get_params() == {"model": network, "weights": weights, "adapt_gallery": True, "required": True}
    copy = clone(adapter.fit())
    assert copy.get_params() == adapter.get_params() and not hasattr(copy, "groups_")
    with pytest.raises(InvalidParameterError, match="adapt_gallery"):
        TemplateAdapter(network, weights=weights, adapt_gallery="yes").fit()
    with pytest.raises(InvalidParameterError, match="weights"):
        TemplateAdapter(network, weights=3).fit()


def test_pipeline_with_the_identifier_undoes_a_known_distortion(tmp_path):
    """Probes are a rotation of the gallery's templates: only the adapter brings them back."""
    rng = np.random.default_rng(7)
    dim, n_subjects = 16, 40
    rotation = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    network, sha256 = _network(tmp_path)

    def low(high_rows):
        return HypothesisSet((_unit(high_rows @ rotation.T + 0.01 * rng.normal(size=high_rows.shape))
                              ).astype(np.float32), make_meta(len(high_rows), kind="super-resolved", scale=2))

    train_high = _unit(rng.normal(size=(600, dim)))
    maps = fit_template_maps([low(h[None]) for h in train_high], train_high, alpha=1e-3)
    save_adapter(tmp_path / "a.npz", maps, network_sha256=sha256)
    faces = _unit(rng.normal(size=(n_subjects, dim)))
    gallery = [HypothesisSet(f[None].astype(np.float32), make_meta(1)) for f in faces]
    probes = [low(_unit(f + 0.2 * rng.normal(size=dim))[None]) for f in faces]
    subjects = np.arange(n_subjects)
    pipe = Pipeline([("adapt", TemplateAdapter(network, weights=tmp_path / "a.npz")),
                     ("identify", FusedNearestNeighborIdentifier("T_concat", similarity="cosine"))])
    adapted = pipe.fit(gallery, subjects).score(probes, subjects)
    plain = FusedNearestNeighborIdentifier("T_concat", similarity="cosine").fit(gallery, subjects)
    plain = plain.score(probes, subjects)
    assert adapted >= 0.95 and plain <= 0.3
    by_hand = pipe.named_steps["identify"].predict(pipe.named_steps["adapt"].transform(probes))
    np.testing.assert_array_equal(pipe.predict(probes), by_hand)


def test_training_degradations_cover_the_family():
    face = np.random.default_rng(8).integers(0, 256, (126, 126, 3), dtype=np.uint8)
    seen = set()
    for seed in range(40):
        probe, kind = degrade_training_face(face, 20, np.random.default_rng(seed))
        assert probe.shape == (20, 20, 3) and probe.dtype == np.uint8
        seen.add(kind)
        again, _ = degrade_training_face(face, 20, np.random.default_rng(seed))
        np.testing.assert_array_equal(probe, again)
    assert seen == set(TRAINING_DEGRADATIONS)


def test_training_degradations_can_be_narrowed_to_the_probe_synthesis():
    from skmitm.datasets import degrade_probe

    face = np.random.default_rng(8).integers(0, 256, (126, 126, 3), dtype=np.uint8)
    narrow = ("probe-moderate", "probe-harsh")
    seen = {degrade_training_face(face, 20, np.random.default_rng(seed), narrow)[1] for seed in range(40)}
    assert seen == set(narrow)
    # A family of one member: the probe synthesis at that severity, from the generator after the draw of the member.
    rng = np.random.default_rng(3)
    probe, kind = degrade_training_face(face, 20, rng, ("probe-harsh",))
    expected_rng = np.random.default_rng(3)
    expected_rng.integers(1)
    assert kind == "probe-harsh"
    np.testing.assert_array_equal(probe, degrade_probe(face, size=20, severity="harsh", rng=expected_rng))


def test_training_templates_pair_each_face_with_its_own_template():
    from skmitm import TemplateExtractor

    rng = np.random.default_rng(9)
    faces = [rng.integers(0, 256, (126, 126, 3), dtype=np.uint8) for _ in range(3)]
    extractor = TemplateExtractor().fit()
    low, high, kinds = make_training_templates(faces, extractor, scales=(2, 4), probe_sizes=(16, 20), gallery=True,
                                               random_state=0, progress=False)
    np.testing.assert_allclose(high, np.concatenate([s.data for s in extractor.transform(faces)]), atol=1e-5)
    for s in low:
        groups = sorted({f"{k}@{sc}" for k, sc in zip(s.meta["kind"], s.meta["scale"])})
        assert groups == ["degraded@2.0", "degraded@4.0", "matched@2.0", "matched@4.0", "original@1.0",
                          "super-resolved@2.0", "super-resolved@4.0"]
        assert 16 <= s.meta["size"][0] <= 20
    assert set(kinds) <= set(TRAINING_DEGRADATIONS)


def test_each_draw_degrades_the_same_faces_with_its_own_seed():
    from skmitm import TemplateExtractor

    rng = np.random.default_rng(11)
    faces = [rng.integers(0, 256, (126, 126, 3), dtype=np.uint8) for _ in range(4)]
    extractor = TemplateExtractor().fit()
    made = {draw: make_training_templates(faces, extractor, scales=(2,), probe_sizes=(16, 32), gallery=False,
                                          random_state=3, draw=draw, progress=False) for draw in (0, 1, 2)}
    for draw, (low, high, _) in made.items():
        # The first number each face's generator gives is its probe size: seeds [3, i], then [3, i, draw].
        seeds = [[3, i] + ([draw] if draw else []) for i in range(len(faces))]
        assert [int(s.meta["size"][0]) for s in low] == [int(np.random.default_rng(seed).integers(16, 33))
                                                         for seed in seeds]
        np.testing.assert_array_equal(high, made[0][1])  # the same faces: the same high-resolution templates
    assert not np.allclose(made[1][0][0].data, made[2][0][0].data)
    with pytest.raises(ValueError, match=r"^draw=-1; expected an integer >= 0"):
        make_training_templates(faces, extractor, draw=-1, progress=False)


def test_training_templates_go_through_the_chosen_super_resolution():
    from skmitm import TemplateExtractor

    rng = np.random.default_rng(12)
    faces = [rng.integers(0, 256, (126, 126, 3), dtype=np.uint8) for _ in range(3)]
    extractor = TemplateExtractor().fit()
    made = {w: make_training_templates(faces, extractor, scales=(2,), probe_sizes=(16, 20), gallery=False,
                                       random_state=4, sr_weights=w, progress=False) for w in (None, "plain")}
    for default, plain in zip(made[None][0], made["plain"][0]):
        original = default.meta["kind"] == "original"
        # The same probes: the plain probe's template is the same, its super-resolutions are not.
        np.testing.assert_array_equal(default.data[original], plain.data[original])
        assert not np.allclose(default.data[~original], plain.data[~original], atol=1e-3)
    np.testing.assert_array_equal(made[None][1], made["plain"][1])


def _fake_lfw(folder, n_people, *, seed):
    """An LFW-like folder of ``n_people`` people with one random 250×250 image each."""
    import cv2

    rng = np.random.default_rng(seed)
    for p in range(n_people):
        name = f"Person_{p:02d}"
        (folder / name).mkdir(parents=True)
        cv2.imwrite(str(folder / name / f"{name}_0001.jpg"), rng.integers(0, 256, (250, 250, 3), dtype=np.uint8))
    return folder


def test_train_adapter_records_its_super_resolution_and_keeps_templates_apart(tmp_path, monkeypatch):
    from skmitm import adapter_training
    from skmitm._backends import file_sha256

    lfw = _fake_lfw(tmp_path / "lfw", 10, seed=13)
    kept = tmp_path / "templates.npz"
    weights = Path(adapter_training.__file__).parent / "weights"
    settings = dict(max_faces=10, scales=(2,), probe_sizes=(16, 16), draws=1, templates=kept, progress=False)
    card = json.loads(adapter_training.train_adapter(lfw, out=tmp_path / "p.npz", sr_weights="plain",
                                                     **settings).read_text())
    assert card["training"]["super_resolution"] == {"weights": "face_edsr_plain.pt",
                                                    "sha256": file_sha256(weights / "face_edsr_plain.pt")}
    assert load_adapter(tmp_path / "p.npz")[1]["sr_sha256"] == file_sha256(weights / "face_edsr_plain.pt")
    plain = adapter_training.read_training_templates(kept)[0]
    calls = []
    real = adapter_training.make_training_templates
    monkeypatch.setattr(adapter_training, "make_training_templates",
                        lambda *a, **k: calls.append(k["sr_weights"]) or real(*a, **k))
    # Templates kept for the plain weights are not those of the default weights: recomputed, and recorded so.
    card = json.loads(adapter_training.train_adapter(lfw, out=tmp_path / "d.npz", **settings).read_text())
    assert calls == [None]
    assert card["training"]["super_resolution"]["sha256"] == file_sha256(weights / "face_edsr_realistic.pt")
    default = adapter_training.read_training_templates(kept)[0]
    assert not np.allclose(plain["low"][0].data, default["low"][0].data)
    # The same weights again: the kept templates are reused.
    adapter_training.train_adapter(lfw, out=tmp_path / "d2.npz", **settings)
    assert calls == [None]
    with pytest.raises(FileNotFoundError, match="weights .no-such-weights. is neither a file nor the name of shipped"):
        adapter_training.train_adapter(lfw, out=tmp_path / "x.npz", sr_weights="no-such-weights", **settings)


def test_train_adapter_command_checks_arguments_before_work(tmp_path, capsys):
    for argv, message in [
        (["--lfw", str(tmp_path / "absent")], "--lfw folder"),
        (["--lfw", str(tmp_path), "--val-fraction", "0.7"], "--val-fraction 0.7"),
        (["--lfw", str(tmp_path), "--probe-sizes", "20", "16"], "--probe-sizes 20 16"),
        (["--lfw", str(tmp_path), "--alpha", "-1"], "--alpha -1"),
        (["--lfw", str(tmp_path), "--out", str(tmp_path)], "--out file"),
    ]:
        assert main(["train-adapter", *argv]) == 2
        assert message in capsys.readouterr().err


def test_train_adapter_refuses_an_unknown_degradation(tmp_path, capsys):
    from skmitm import adapter_training

    for bad in [(), ("blur",), ("camera", "camera")]:
        with pytest.raises(ValueError, match=r"degradations=.*expected distinct members of \('probe-moderate'"):
            adapter_training.train_adapter(tmp_path, degradations=bad)
    with pytest.raises(SystemExit) as exit_info:
        main(["train-adapter", "--lfw", str(tmp_path), "--degradations", "blur"])
    assert exit_info.value.code == 2
    assert "--degradations: invalid choice: 'blur'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train-adapter", "--lfw", str(tmp_path), "--draws", "0"])
    assert "argument --draws: '0' is not a positive integer" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"^draws=0; expected an integer >= 1"):
        adapter_training.train_adapter(tmp_path, draws=0)


def test_no_adapter_ships_and_one_trained_on_lfw_belongs_to_mobilefacenet(mobilefacenet_path, lfw_dir, tmp_path):
    from skmitm import adapter_training
    from skmitm._backends import file_sha256

    # No adapter ships: the pipeline's optional step passes templates through, a required one names the command.
    with pytest.raises(ValueError, match="no template adapter ships .* 'skmitm train-adapter"):
        TemplateAdapter(mobilefacenet_path).fit()
    assert not TemplateAdapter(mobilefacenet_path, required=False).fit().active_
    # One trained here on a few LFW faces from the shared data, as the docs' command does, with its card.
    card_path = adapter_training.train_adapter(lfw_dir, model=mobilefacenet_path, out=tmp_path / "adapter.npz",
                                               max_faces=12, draws=1, progress=False)
    card = json.loads(Path(card_path).read_text())
    adapter = TemplateAdapter(mobilefacenet_path, weights=card_path).fit()
    assert card["network_sha256"] == file_sha256(mobilefacenet_path) == adapter.network_sha256_
    assert card["sha256"] == file_sha256(tmp_path / "adapter.npz") == adapter.weights_sha256_
    assert adapter.template_dim_ == 128 and not adapter.whitens_
    assert card["data"]["source"].startswith("LFW, people with fewer than 5 images")
    assert adapter.groups_ == ["original@1.0", "super-resolved@2.0", "super-resolved@4.0", "super-resolved@8.0"]


def test_train_adapter_end_to_end_and_refit_from_kept_templates(tmp_path, monkeypatch):
    from skmitm import adapter_training

    lfw = _fake_lfw(tmp_path / "lfw", 12, seed=10)
    # A benchmark person (five images) must never be read.
    (lfw / "Evaluation_Person").mkdir()
    for k in range(1, 6):
        (lfw / "Evaluation_Person" / f"Evaluation_Person_{k:04d}.jpg").write_bytes(b"not an image")
    kept = tmp_path / "templates.npz"
    card_path = adapter_training.train_adapter(lfw, out=tmp_path / "a.npz", max_faces=12, scales=(2,),
                                               probe_sizes=(16, 16), draws=2, templates=kept, progress=False)
    card = json.loads(card_path.read_text())
    assert card["groups"] == ["original@1.0", "super-resolved@2.0"] and card["data"]["train_faces"] == 11
    assert card["training"]["draws_per_face"] == 2 and card["training"]["train_pairs"] == 22
    assert card["validation"]["faces"] == 1
    assert set(card["validation"]["mean_cosine_to_high_resolution_after"]) == set(card["groups"])
    assert TemplateAdapter(weights=tmp_path / "a.npz").fit().groups_ == card["groups"]  # dlib's network
    stored, key = adapter_training.read_training_templates(kept)
    assert len(stored["low"]) == 24 and stored["high"].shape == (24, 128) and int(stored["held_out"].sum()) == 2
    # Two copies of each face, draw 0 of every face first: same faces, people and split; other degradations.
    np.testing.assert_array_equal(stored["high"][:12], stored["high"][12:])
    np.testing.assert_array_equal(stored["held_out"][:12], stored["held_out"][12:])
    assert stored["subjects"][:12].tolist() == stored["subjects"][12:].tolist()
    assert not np.allclose(stored["low"][0].data, stored["low"][12].data)
    assert sorted(stored["subjects"][:12].tolist()) == [f"Person_{p:02d}" for p in range(12)]
    assert all(sorted(set(s.meta["kind"])) == ["original", "super-resolved"] for s in stored["low"])
    assert set(stored["kinds"]) <= set(TRAINING_DEGRADATIONS) and card["network_sha256"] in key

    def no_recompute(*args, **kwargs):
        raise AssertionError("the kept templates were not reused")

    monkeypatch.setattr(adapter_training, "make_training_templates", no_recompute)
    adapter_training.train_adapter(lfw, out=tmp_path / "s.npz", max_faces=12, scales=(2,), probe_sizes=(16, 16),
                                   draws=2, templates=kept, shared=True, progress=False)
    shared, _ = load_adapter(tmp_path / "s.npz")
    assert shared["coef"].shape[0] == 1 and shared["index"].tolist() == [0, 0]

    # Identity labels: the whitening sees each training face once, with its person, and ships in the weights.
    seen = {}

    def recording_whitening(high, subjects, *, reg):
        seen.update(high=high, subjects=subjects, reg=reg)
        return np.eye(high.shape[1], dtype=np.float32)

    monkeypatch.setattr(adapter_training, "fit_identity_whitening", recording_whitening)
    card_path = adapter_training.train_adapter(lfw, out=tmp_path / "w.npz", max_faces=12, scales=(2,),
                                               probe_sizes=(16, 16), draws=2, templates=kept, whitening=0.01,
                                               progress=False)
    train = ~stored["held_out"][:12]
    assert seen["reg"] == 0.01 and sorted(seen["subjects"]) == sorted(stored["subjects"][:12][train])
    np.testing.assert_array_equal(seen["high"], stored["high"][:12][train])
    assert json.loads(card_path.read_text())["data"]["identity_labels"].startswith("within-person whitening (reg 0.01)")
    np.testing.assert_array_equal(load_adapter(tmp_path / "w.npz")[0]["whitening"], np.eye(128))

    # A narrower degradation family is other training data: the kept templates are not reused for it.
    monkeypatch.undo()
    card_path = adapter_training.train_adapter(lfw, out=tmp_path / "n.npz", max_faces=12, scales=(2,),
                                               probe_sizes=(16, 16), draws=2, templates=kept,
                                               degradations=("probe-harsh",), progress=False)
    assert json.loads(card_path.read_text())["training"]["degradations"] == {"probe-harsh": 22}


@pytest.mark.parametrize("check", [check_get_params_invariance, check_set_params, check_no_attributes_set_in_init,
                                   check_parameters_default_constructible], ids=lambda c: c.__name__)
def test_sklearn_parameter_checks(check):
    check("TemplateAdapter", TemplateAdapter())


def test_a_model_that_is_not_a_file_is_refused_by_name_unless_optional(adapter_files):
    import torch

    network, weights, _, _ = adapter_files
    with pytest.raises(TypeError, match=r"^model is a int; the adapter needs the face network's file"):
        TemplateAdapter(3, weights=weights).fit()
    module = torch.nn.Flatten()
    with pytest.raises(TypeError, match=r"^model is a Flatten; the adapter needs the face network's file"):
        TemplateAdapter(module).fit()
    with pytest.raises(TypeError, match=r"^model is a Flatten"):  # weights given: they must be checked
        TemplateAdapter(module, weights=weights, required=False).fit()
    optional = TemplateAdapter(module, required=False).fit()
    assert not optional.active_ and optional.network_sha256_ is None and optional.weights_sha256_ is None
    with pytest.raises(InvalidParameterError, match="required"):
        TemplateAdapter(network, required="no").fit()


def test_default_penalty_is_a_ridge_of_alpha_one():
    """The maps against scikit-learn's Ridge (intercept unpenalised) on the documented inputs: unit(t - mean)."""
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(12)
    templates = rng.normal(size=(30, D)) + 2.0
    high = rng.normal(size=(30, D))
    sets = [HypothesisSet(t[None].astype(np.float32), make_meta(1, kind="super-resolved", scale=2)) for t in templates]
    maps = fit_template_maps(sets, high)
    rows = templates.astype(np.float32).astype(np.float64)
    inputs = _unit(rows - rows.mean(axis=0))
    ridge = Ridge(alpha=1.0).fit(inputs, high)
    np.testing.assert_allclose(maps["coef"][0], ridge.coef_.T, atol=1e-5)
    np.testing.assert_allclose(maps["intercept"][0], ridge.intercept_, atol=1e-5)
    # The maps are kept in float32 (half the size of the weights file); the group names as text.
    assert [maps[k].dtype for k in ("mean", "coef", "intercept")] == [np.float32] * 3
    # A group of two rows is enough to centre it.
    two = fit_template_maps(sets[:2], high[:2])
    assert two["groups"].tolist() == ["super-resolved@2.0"]


def test_fit_template_maps_error_messages_in_full():
    rng = np.random.default_rng(13)
    sets, high, _ = _pairs(rng, {"o": ("original", 1)}, np.eye(D), np.zeros(D), n=5)
    with pytest.raises(TypeError) as error:
        fit_template_maps([HypothesisSet.from_image(np.zeros((8, 8, 3), np.uint8))] * 2, high[:2])
    assert str(error.value) == "low holds images; expected HypothesisSets of templates (run a TemplateExtractor first)"
    bad = high.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError) as error:
        fit_template_maps(sets, bad)
    assert str(error.value) == "high contains NaN or infinity; expected finite templates"
    with pytest.raises(ValueError) as error:
        fit_template_maps(sets, high[:, :5])
    assert str(error.value) == "low has templates of 6 features and high of 5; expected templates of one network"
    with pytest.raises(ValueError) as error:
        fit_template_maps(sets[:1], high[:1])
    assert str(error.value) == ("hypothesis group 'original@1.0' has 1 template; expected at least two to centre it "
                                "on its mean")
    with pytest.raises(ValueError, match="^low is empty"):
        fit_template_maps([], high[:0])


def _bad_maps(maps, **changes):
    return {**maps, **changes}


def test_maps_that_do_not_fit_together_are_refused(adapter_files, tmp_path):
    _, _, _, maps = adapter_files
    sha = "0" * 64
    broken = {
        "groups of two dimensions": _bad_maps(maps, groups=maps["groups"][:, None]),
        "groups not text": _bad_maps(maps, groups=np.arange(3)),
        "a group twice": _bad_maps(maps, groups=np.array(["a@1.0", "a@1.0", "b@1.0"])),
        "a mean missing": _bad_maps(maps, mean=maps["mean"][:2]),
        "a one-dimensional mean": _bad_maps(maps, mean=maps["mean"][0]),
        "an index missing": _bad_maps(maps, index=np.array([0, 1])),
        "a float index": _bad_maps(maps, index=np.array([0.0, 1.0, 2.0])),
        "maps of another size": _bad_maps(maps, coef=np.zeros((3, D, D + 1), np.float32)),
        "an intercept missing": _bad_maps(maps, intercept=maps["intercept"][:2]),
        "an index past the maps": _bad_maps(maps, index=np.array([0, 1, 3])),
        "a negative index": _bad_maps(maps, index=np.array([0, -1, 2])),
    }
    expected = "maps holds arrays that do not fit together (groups, mean, index, coef, intercept)"
    for what, bad in broken.items():
        with pytest.raises(ValueError) as error:
            save_adapter(tmp_path / "bad.npz", bad, network_sha256=sha)
        assert str(error.value) == expected, what
    coef = maps["coef"].copy()
    coef[1, 2, 3] = np.nan
    with pytest.raises(ValueError) as error:
        save_adapter(tmp_path / "bad.npz", _bad_maps(maps, coef=coef), network_sha256=sha)
    assert str(error.value) == "maps holds NaN or infinite values"
    with pytest.raises(ValueError) as error:
        save_adapter(tmp_path / "bad.npz", {k: v for k, v in maps.items() if k != "coef"}, network_sha256=sha)
    assert str(error.value) == "maps lacks the array 'coef'"
    with pytest.raises(ValueError) as error:
        save_adapter(tmp_path / "bad.npz", maps, network_sha256="abc")
    assert str(error.value) == "network_sha256='abc'; expected the 64 hex digits of a SHA-256"
    assert not list(tmp_path.glob("bad.*"))
    # A file of the adapter format whose arrays do not fit together is refused when read, naming the file.
    from skmitm._adapter import ADAPTER_FORMAT
    from skmitm._io import save_array_file

    save_array_file(tmp_path / "odd.npz", _bad_maps(maps, index=np.array([0, 1, 3])),
                    {"network_sha256": sha, "template_dim": D}, format=ADAPTER_FORMAT)
    with pytest.raises(ValueError) as error:
        load_adapter(tmp_path / "odd.npz")
    assert str(error.value) == (f"adapter weights file {str(tmp_path / 'odd.npz')!r} holds arrays that do not fit "
                                "together (groups, mean, index, coef, intercept)")
    (tmp_path / "plain.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=f"^adapter weights file {str(tmp_path / 'plain.npz')!r} is not a"):
        load_adapter(tmp_path / "plain.npz")


def test_card_records_the_number_of_maps_and_bad_cards_are_refused(adapter_files, tmp_path):
    network, weights, card_path, maps = adapter_files
    assert card_path == tmp_path / "adapter.json"
    assert json.loads(card_path.read_text())["maps"] == 3
    one = {**maps, "index": np.zeros(3, dtype=np.int64), "coef": maps["coef"][:1], "intercept": maps["intercept"][:1]}
    shared_card = save_adapter(tmp_path / "shared.npz", one, network_sha256="0" * 64)
    assert json.loads(shared_card.read_text())["maps"] == 1
    cases = {
        "broken.json": "{not json",
        "other.json": json.dumps({"architecture": "SomethingElse", "weights": "adapter.npz"}),
        "noweights.json": json.dumps({"architecture": "TemplateAdapter"}),
        "list.json": json.dumps(["TemplateAdapter"]),
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError) as error:
            load_adapter(tmp_path / name)
        if name == "broken.json":
            assert str(error.value).startswith(f"adapter card {str(tmp_path / name)!r} is not valid JSON (")
        else:
            assert str(error.value) == f"{str(tmp_path / name)!r} is not a template adapter card", name
    weights.write_bytes(weights.read_bytes() + b"\0")
    with pytest.raises(ValueError) as error:
        load_adapter(card_path)
    assert str(error.value) == (f"adapter weights {str(weights)!r} do not match the SHA-256 of their card "
                                f"{str(card_path)!r}")


def test_adapter_error_messages_in_full(adapter_files, tmp_path):
    network, weights, _, maps = adapter_files
    sha = hashlib.sha256(b"network A").hexdigest()
    other, other_sha = _network(tmp_path, b"network B")
    with pytest.raises(ValueError) as error:
        TemplateAdapter(other, weights=weights).fit()
    assert str(error.value) == (
        f"adapter weights file {str(weights)!r} was trained for the face network with SHA-256 {sha}, not for this "
        f"one ({other_sha}); train one for this network with 'skmitm train-adapter --model MODEL --lfw LFW_FOLDER'")
    with pytest.raises(ValueError) as error:
        TemplateAdapter(other).fit()
    assert str(error.value) == (
        f"no template adapter ships for the face network {other.name!r} (SHA-256 {other_sha}); train one with "
        f"'skmitm train-adapter --model {other} --lfw LFW_FOLDER --out ADAPTER.npz' and pass weights='ADAPTER.npz'")
    with pytest.raises(FileNotFoundError) as error:
        TemplateAdapter(network, weights=tmp_path / "absent.npz").fit()
    assert str(error.value) == f"adapter weights file {str(tmp_path / 'absent.npz')!r} does not exist"
    probe_only = {k: v[1:] if k != "index" else np.array([0, 1]) for k, v in maps.items()}
    save_adapter(tmp_path / "probes.npz", probe_only, network_sha256=sha)
    with pytest.raises(ValueError) as error:
        TemplateAdapter(network, weights=tmp_path / "probes.npz", adapt_gallery=True).fit()
    assert str(error.value) == (
        f"adapt_gallery=True but the adapter {str(tmp_path / 'probes.npz')!r} has no map for gallery hypotheses (it "
        "maps ['original@1.0', 'super-resolved@2.0']); train it with gallery hypotheses or leave adapt_gallery=False")
    adapter = TemplateAdapter(network, weights=weights).fit()
    assert adapter.network_sha256_ == sha and adapter.weights_path_ == str(weights)
    rng = np.random.default_rng(14)
    unknown_probe = HypothesisSet(rng.normal(size=(1, D)).astype(np.float32), make_meta(1, kind="super-resolved",
                                                                                        scale=4))
    with pytest.raises(ValueError) as error:
        adapter.transform([unknown_probe])
    assert str(error.value) == (
        "probe hypothesis group 'super-resolved@4.0' has no map in the adapter, which maps ['matched@2.0', "
        "'original@1.0', 'super-resolved@2.0']; train an adapter for these kinds and scales "
        "('skmitm train-adapter --scales ...')")
    unknown_gallery = HypothesisSet(rng.normal(size=(1, D)).astype(np.float32), make_meta(1, kind="degraded", scale=2))
    with pytest.raises(ValueError, match="^gallery hypothesis group 'degraded@2.0' has no map in the adapter"):
        TemplateAdapter(network, weights=weights, adapt_gallery=True).fit_transform([unknown_gallery])
    with pytest.raises(ValueError, match="^X is empty"):
        adapter.transform([])


def test_a_template_at_its_group_mean_maps_to_the_unit_intercept(adapter_files):
    network, weights, _, maps = adapter_files
    adapter = TemplateAdapter(network, weights=weights).fit()
    # Centred, the template is zero: it stays zero (no NaN), and the map gives unit(b) for its group.
    at_mean = HypothesisSet(maps["mean"][2][None].copy(), make_meta(1, kind="super-resolved", scale=2))
    out = adapter.transform([at_mean])[0].data
    b = maps["intercept"][2].astype(np.float64)
    np.testing.assert_allclose(out[0], b / np.linalg.norm(b), atol=1e-6)


def test_tags_promise_float32_output_and_no_text(adapter_files):
    network, weights, _, maps = adapter_files
    adapter = TemplateAdapter(network, weights=weights).fit()
    tags = adapter.__sklearn_tags__()
    assert tags.input_tags.string is False and tags.transformer_tags.preserves_dtype == ["float32"]
    # What the tag promises: float32 out, whatever float type comes in.
    rows = HypothesisSet(np.random.default_rng(15).normal(size=(2, D)), make_meta(2, kind="original"))
    assert adapter.transform([rows])[0].data.dtype == np.float32


def _within_person_covariance(rows, people):
    """Oracle: the covariance of unit rows around their person's mean, people with one row left out, by loops."""
    rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    spread = []
    for p in np.unique(people):
        mine = rows[people == p]
        if len(mine) > 1:
            spread += list(mine - mine.mean(axis=0))
    spread = np.array(spread)
    return spread.T @ spread / len(spread)


def test_identity_whitening_whitens_the_within_person_spread():
    from skmitm.adapter_training import fit_identity_whitening

    rng = np.random.default_rng(30)
    people = np.concatenate([np.repeat(np.arange(40), 3), np.arange(40, 50)])  # ten people with one face
    faces = 3 * rng.normal(size=(50, D))[people] + rng.normal(size=(len(people), D)) * rng.uniform(0.1, 2, size=D)
    reg = 1e-3
    whitening = fit_identity_whitening(faces, people, reg=reg)
    covariance = _within_person_covariance(faces, people) + reg * np.eye(D)
    np.testing.assert_allclose(whitening, whitening.T, atol=1e-5)
    np.testing.assert_allclose(whitening @ covariance @ whitening, np.eye(D), atol=1e-4)
    # people with one face have no within-person spread: they change nothing
    singles = people < 40
    np.testing.assert_allclose(fit_identity_whitening(faces[singles], people[singles], reg=reg), whitening, atol=1e-5)
    with pytest.raises(ValueError, match=r"^4 templates belong to people with two or more; expected more than 6"):
        fit_identity_whitening(faces[:4], [0, 0, 1, 1])
    with pytest.raises(ValueError, match=r"^reg=0; expected a positive number"):
        fit_identity_whitening(faces, people, reg=0)
    with pytest.raises(ValueError, match=r"^high has shape \(130, 6\) and subjects \(3,\)"):
        fit_identity_whitening(faces, people[:3])


def test_whitening_applies_to_every_template_of_both_sides_after_the_maps(adapter_files, tmp_path):
    network, _, _, maps = adapter_files
    rng = np.random.default_rng(31)
    whitening = rng.normal(size=(D, D)).astype(np.float32)
    whitening = whitening @ whitening.T + np.eye(D, dtype=np.float32)
    _, sha = _network(tmp_path)
    save_adapter(tmp_path / "w.npz", {**maps, "whitening": whitening}, network_sha256=sha)
    from skmitm._io import load_array_file

    assert load_array_file(tmp_path / "w.npz", format="skmitm-template-adapter/2")[1]["format"].endswith("/2")
    assert load_array_file(tmp_path / "adapter.npz", format="skmitm-template-adapter/1")  # no whitening: version 1
    adapter = TemplateAdapter(network, weights=tmp_path / "w.npz").fit()
    assert adapter.whitens_ and not TemplateAdapter(network, weights=tmp_path / "adapter.npz").fit().whitens_
    probe = HypothesisSet(rng.normal(size=(3, D)).astype(np.float32),
                          make_meta(3, kind=["original", "super-resolved", "matched"], scale=[1, 2, 2]))
    out = adapter.transform([probe])[0]
    for row, expected in zip(out.data, [_expected(probe.data[0], maps, 1), _expected(probe.data[1], maps, 2),
                                        probe.data[2]]):
        np.testing.assert_allclose(row, _unit(expected @ whitening), atol=1e-5)
    gallery = adapter.fit_transform([probe])[0]  # gallery side: nothing mapped, everything whitened
    np.testing.assert_allclose(gallery.data, _unit(probe.data @ whitening), atol=1e-5)
    assert gallery.meta["kind"].tolist() == probe.meta["kind"].tolist()
    with pytest.raises(ValueError, match="holds a whitening of shape"):
        save_adapter(tmp_path / "bad.npz", {**maps, "whitening": whitening[:3]}, network_sha256=sha)
