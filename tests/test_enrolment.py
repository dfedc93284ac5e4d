"""Enrolled galleries: enrol once, save, load, add people, score one probe at a time."""

import io
import warnings
import zipfile

import cv2
import numpy as np
import pytest
import torch

import skmitm._templates
from skmitm import FusedNearestNeighborIdentifier, add_subjects, enrol, load_gallery, make_mitm_pipeline, save_gallery
from skmitm.datasets import degrade_probe


class _Net(torch.nn.Module):
    """A small fixed face network: pooled pixels through a seeded linear map."""

    def __init__(self, seed=0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.proj = torch.nn.Parameter(torch.randn(3 * 8 * 8, 24, generator=generator), requires_grad=False)

    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1) @ self.proj


def _faces(n, seed):
    """Smooth random 64×64 'faces' (upsampled 6×6 noise), so that a degraded copy still resembles its source."""
    rng = np.random.default_rng(seed)
    return [cv2.resize(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), (64, 64), interpolation=cv2.INTER_CUBIC)
            for _ in range(n)]


SETTINGS = dict(n_chains=2, sigmas=2, scales=(2,), probe_size=16)
N_SCALES, N_CHAINS, N_SIGMAS = 1, 2, 2


def _pipe(net=None, **overrides):
    return make_mitm_pipeline(model=net or _Net(), **{**SETTINGS, **overrides})


@pytest.fixture(scope="module")
def gallery():
    images = _faces(12, seed=1)
    subjects = np.array([f"p{i:02d}" for i in range(12)])
    probes = [cv2.resize(img, (16, 16), interpolation=cv2.INTER_AREA) for img in images[:6]]
    return images, subjects, probes


def test_loaded_gallery_scores_like_the_fitted_pipeline(gallery, tmp_path):
    images, subjects, probes = gallery
    net = _Net()
    pipe = enrol(_pipe(net), images, subjects)
    path = tmp_path / "gallery.npz"
    save_gallery(pipe, path)
    with zipfile.ZipFile(path) as archive:  # arrays and a JSON header; nothing that unpickles
        assert all(name.endswith(".npy") for name in archive.namelist())
    loaded = load_gallery(path, model=net)
    np.testing.assert_allclose(loaded.decision_function(probes), pipe.decision_function(probes), atol=1e-6)
    assert loaded.classes_.tolist() == subjects.tolist()
    # The file carries the probe means: one probe alone scores as it does in the batch.
    np.testing.assert_allclose(loaded.decision_function(probes[2:3]), pipe.decision_function(probes)[2:3], atol=1e-6)


def test_synthetic_probe_means_are_the_means_of_the_gallerys_degraded_copies(gallery):
    images, subjects, probes = gallery
    pipe = enrol(_pipe(), images, subjects, random_state=3)
    # Oracle: synthesise each gallery image's probe by hand, run the probe steps, average each hypothesis group.
    synthetic = [degrade_probe(img, size=16, rng=np.random.default_rng([3, i])) for i, img in enumerate(images)]
    sets = pipe[:-1].transform(synthetic)
    rows = np.concatenate([s.data for s in sets])
    meta = np.concatenate([s.meta for s in sets])
    means = pipe[-1].probe_means
    assert sorted(means) == ["original@1.0", "super-resolved@2.0"]
    np.testing.assert_allclose(means["original@1.0"], rows[meta["kind"] == "original"].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(means["super-resolved@2.0"], rows[meta["kind"] == "super-resolved"].mean(axis=0),
                               atol=1e-6)
    # One probe, three probes: scored with no warning at all, each as it scores in the full batch.
    full = pipe.decision_function(probes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(pipe.decision_function(probes[4:5]), full[4:5], atol=1e-6)
        np.testing.assert_allclose(pipe.decision_function(probes[:3]), full[:3], atol=1e-6)


def test_three_probes_with_batch_means_warn_at_the_callers_line(gallery):
    images, subjects, probes = gallery
    pipe = _pipe(probe_means="batch").fit(images, subjects)  # batch means, so small batches warn
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe.decision_function(probes[:3])
    assert caught and {w.filename for w in caught} == {__file__}


def _count_templates(monkeypatch):
    counted = []
    compute = skmitm._templates.TemplateExtractor._compute

    def counting(self, images, bar=None):
        counted.append(len(images))
        return compute(self, images, bar)

    monkeypatch.setattr(skmitm._templates.TemplateExtractor, "_compute", counting)
    return counted


def test_append_computes_only_the_new_peoples_templates_and_equals_one_enrolment(gallery, tmp_path, monkeypatch):
    images, subjects, probes = gallery
    net = _Net()
    path = tmp_path / "g.npz"
    save_gallery(enrol(_pipe(net), images[:9], subjects[:9]), path)
    loaded = load_gallery(path, model=net)
    counted = _count_templates(monkeypatch)
    add_subjects(loaded, images[9:], subjects[9:])
    # Per new gallery image: its original + (matched + each chain) at each scale; per synthetic probe:
    # its original + one super-resolved image per scale and sigma.
    per_image = 1 + (1 + N_CHAINS) * N_SCALES + 1 + N_SCALES * N_SIGMAS
    assert sum(counted) == 3 * per_image
    monkeypatch.undo()
    whole = enrol(_pipe(net), images, subjects)
    np.testing.assert_allclose(loaded.decision_function(probes), whole.decision_function(probes), atol=1e-5)
    for group, mean in whole[-1].probe_means.items():
        np.testing.assert_allclose(loaded[-1].probe_means[group], mean, atol=1e-6)
    # and it survives another round trip
    save_gallery(loaded, path)
    np.testing.assert_allclose(load_gallery(path, model=net).decision_function(probes),
                               whole.decision_function(probes), atol=1e-5)


def test_another_network_or_other_settings_are_refused_by_name(gallery, tmp_path):
    images, subjects, _ = gallery
    net = _Net(0)
    path = tmp_path / "g.npz"
    pipe = enrol(_pipe(net), images, subjects)
    save_gallery(pipe, path)
    with pytest.raises(ValueError, match="face network sha256 " + pipe[2].model_sha256_):
        load_gallery(path, model=_Net(1))
    with pytest.raises(ValueError, match=r"degrade__n_chains: file 2, given 3"):
        load_gallery(path, model=net, pipeline=_pipe(net, n_chains=3))
    with pytest.raises(ValueError, match=r"identify__fusion: file 'T_concat', given 'S_max'"):
        load_gallery(path, model=net, pipeline=_pipe(net, fusion="S_max"))
    assert load_gallery(path, model=net, pipeline=_pipe(net)).classes_.size == 12


def test_a_tampered_gallery_file_is_refused(gallery, tmp_path):
    images, subjects, _ = gallery
    net = _Net()
    path = tmp_path / "g.npz"
    save_gallery(enrol(_pipe(net), images[:4], subjects[:4]), path)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["templates"][0, 0] += 0.5  # one changed number, header untouched
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    tampered = tmp_path / "tampered.npz"
    tampered.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="does not match its checksum"):
        load_gallery(tampered, model=net)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a readable skmitm array file"):
        load_gallery(truncated, model=net)


@pytest.mark.filterwarnings("ignore:only 3 probe")
def test_identifier_add_subjects_equals_fitting_everyone():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 10))
    y = np.array(["a", "b", "c", "a", "d", "e", "b"])
    probes = X[[0, 2, 5]] + 0.05 * rng.normal(size=(3, 10))
    grown = FusedNearestNeighborIdentifier("S_max", similarity="mean-centred").fit(X[:4], y[:4])
    grown.add_subjects(X[4:], y[4:])  # new people and one more image of "b"
    # Oracle: the mean-centred score computed by hand from all seven templates.
    centred = X - X.mean(axis=0)
    p = probes - probes.mean(axis=0)
    sims = (p / np.linalg.norm(p, axis=1, keepdims=True)) @ (centred / np.linalg.norm(centred, axis=1,
                                                                                       keepdims=True)).T
    expected = np.stack([sims[:, y == s].max(axis=1) for s in np.unique(y)], axis=1)
    np.testing.assert_allclose(grown.decision_function(probes), expected, atol=1e-5)
    with pytest.raises(ValueError, match="subjects of one kind"):
        grown.add_subjects(X[:1], [7])


# ---------------------------------------------------------------- command line
from skmitm.__main__ import main  # noqa: E402

CLI_SETTINGS = ["--chains", "2", "--sigmas", "2", "--scales", "2"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Twelve people: a 64 px gallery photo each (split 8 + 4 for appending), a 16 px probe each; a TorchScript net."""
    root = tmp_path_factory.mktemp("cli")
    images = _faces(12, seed=2)
    for i, image in enumerate(images):
        part = "first" if i < 8 else "more"
        for folder, picture in ((root / part / f"p{i:02d}", image), (root / "all" / f"p{i:02d}", image),
                                (root / "probes" / f"p{i:02d}", cv2.resize(image, (16, 16),
                                                                           interpolation=cv2.INTER_AREA))):
            folder.mkdir(parents=True)
            cv2.imwrite(str(folder / "1.png"), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    for name, seed in (("net.pt", 0), ("other.pt", 1)):
        torch.jit.trace(_Net(seed), torch.zeros(1, 3, 112, 112)).save(str(root / name))
    return root


def _scores(path):
    import json

    return {(r["probe"], r["subject"]): r["score"] for r in json.loads(path.read_text())}


def test_cli_enrol_append_and_identify_with_the_gallery_file(folders, tmp_path, capsys):
    net, probes = str(folders / "net.pt"), str(folders / "probes")
    common = ["--model", net, "--no-progress"]
    direct, from_file, grown = tmp_path / "direct.json", tmp_path / "file.json", tmp_path / "grown.json"
    assert main(["identify", str(folders / "all"), probes, "--top", "12", "--out", str(direct), *CLI_SETTINGS,
                 *common]) == 0
    gallery_file = tmp_path / "g.npz"
    assert main(["enrol", str(folders / "all"), "--out", str(gallery_file), "--probe-size", "16", *CLI_SETTINGS,
                 *common]) == 0
    assert main(["identify", "--gallery", str(gallery_file), probes, "--top", "12", "--out", str(from_file),
                 "--no-progress"]) == 0
    expected = _scores(direct)
    assert len(expected) == 144
    got = _scores(from_file)
    assert got.keys() == expected.keys()
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()), atol=1e-5)
    # Eight people, then four more: the same file as enrolling all twelve at once.
    small = tmp_path / "small.npz"
    assert main(["enrol", str(folders / "first"), "--out", str(small), "--probe-size", "16", *CLI_SETTINGS,
                 *common]) == 0
    assert main(["enrol", str(folders / "more"), "--out", str(small), "--append", "--no-progress"]) == 0
    assert "added 4 image(s) of 4 subject(s) (4 new); the gallery holds 12 subject(s)" in capsys.readouterr().out
    assert main(["identify", "--gallery", str(small), probes, "--top", "12", "--out", str(grown),
                 "--no-progress"]) == 0
    got = _scores(grown)
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()), atol=1e-5)


def test_cli_matches_probes_a_batch_at_a_time_with_the_same_scores(folders, tmp_path, capsys, monkeypatch):
    import skmitm.__main__ as cli

    args = ["identify", str(folders / "all"), str(folders / "probes"), "--top", "12", "--model",
            str(folders / "net.pt"), *CLI_SETTINGS]
    whole, batched = tmp_path / "whole.json", tmp_path / "batched.json"
    assert main([*args, "--no-progress", "--out", str(whole)]) == 0
    seen, scores = [], FusedNearestNeighborIdentifier.decision_function
    monkeypatch.setattr(FusedNearestNeighborIdentifier, "decision_function",
                        lambda self, X: seen.append(len(X)) or scores(self, X))
    monkeypatch.setattr(cli, "_MATCH_PROBES", 5)
    capsys.readouterr()
    assert main([*args, "--out", str(batched)]) == 0
    # 12 probes, 5 at a time (the enrolment's synthetic probes are not matched).
    assert seen == [5, 5, 2]
    err = capsys.readouterr().err
    assert "matching: 100%" in err and "12/12" in err
    expected, got = _scores(whole), _scores(batched)
    assert got.keys() == expected.keys() and len(got) == 144
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()), atol=1e-6)


def test_cli_refuses_before_any_work(folders, tmp_path, capsys, monkeypatch):
    import skmitm._enrolment

    net, probes = str(folders / "net.pt"), str(folders / "probes")
    gallery_file = tmp_path / "g.npz"
    assert main(["enrol", str(folders / "all"), "--out", str(gallery_file), "--probe-size", "16", "--model", net,
                 *CLI_SETTINGS, "--no-progress"]) == 0
    capsys.readouterr()
    refusals = [
        (["identify", "--gallery", str(gallery_file), probes, "--fusion", "S_max"],
         "enrolled with other settings: --fusion S_max (the file: T_concat)"),
        (["identify", "--gallery", str(gallery_file), probes, "--chains", "4"], "--chains 4 (the file: 2)"),
        (["identify", "--gallery", str(gallery_file), probes, "--model", str(folders / "other.pt")],
         "face network sha256"),
        (["identify", str(folders / "all"), probes, "--gallery", str(gallery_file)], "not both"),
        (["identify", probes], "expected 'GALLERY_DIR PROBES' or '--gallery FILE PROBES'"),
        (["identify", "--gallery", str(tmp_path / "none.npz"), probes], "--gallery file"),
        (["identify", str(folders / "all"), probes, "--device", "tpu"], "--device 'tpu'"),
        (["evaluate", str(folders / "all"), probes, "--n-jobs", "0", "--out", str(tmp_path / "r")], "--n-jobs 0"),
        (["enrol", str(folders / "more"), "--out", str(tmp_path / "absent.npz"), "--append"], "--append"),
        (["enrol", str(folders / "more"), "--out", str(tmp_path / "no" / "dir" / "g.npz")], "--out file"),
    ]
    for argv, message in refusals:
        assert main([*argv, "--no-progress"]) == 2, argv
        assert message in capsys.readouterr().err, argv
    # The cheap checks come before any enrolment or gallery loading.
    monkeypatch.setattr(skmitm._enrolment, "enrol", lambda *a, **k: pytest.fail("enrolled before the checks"))
    assert main(["enrol", str(folders / "all"), "--out", str(tmp_path / "x.npz"), "--device", "gpu"]) == 2


def test_cli_bars_name_their_stage_and_count_its_unit(folders, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["evaluate", str(folders / "all"), str(folders / "probes"), "--model", str(folders / "net.pt"),
                 *CLI_SETTINGS, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    # Gallery templates: each image's original, matched copy and two chains at one scale.
    for stage, unit, count in (("degradation", "gallery image", 12), ("super-resolution", "probe", 12),
                               ("templates", "hypothesis", 12 * (1 + 3 * N_SCALES)), ("matching", "probe", 12)):
        assert f"{stage}: 100%" in err and f"{count}/{count}" in err and f"{unit}/s" in err, stage
    assert "time per stage:" in err and "model net.pt" in err and "n_chains=2" in err
    import csv
    import json

    rows = list(csv.DictReader(open(out / "probes.csv")))
    results = json.loads((out / "results.json").read_text())
    assert len(rows) == 12 and "net.pt" in results["model"]
    assert results["rank1"] == pytest.approx(100 * np.mean([r["true_rank"] == "1" for r in rows]))
    assert all(r["true_rank"] != "1" or r["rank1_subject"] == r["subject"] for r in rows)


def test_the_enrolment_page_runs_and_prints_what_it_shows(tmp_path, monkeypatch):
    """docs/enrolment.md: each python block runs (in one namespace); the text block after it is its output."""
    import contextlib
    from pathlib import Path

    from doc_snippets import read_blocks

    page = (Path(__file__).parents[1] / "docs" / "enrolment.md").read_text()
    blocks = [block for block in read_blocks(page) if block.language == "python"]
    assert len(blocks) == 2 and all(block.output is not None for block in blocks)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(block.text, "docs/enrolment.md", "exec"), namespace)
        assert printed.getvalue() == block.output.text


def _hand_synthetic_means(pipe, images, seed, size=16):
    """Oracle: each gallery image degraded by hand, through the fitted probe steps, averaged per hypothesis kind."""
    synthetic = [degrade_probe(img, size=size, rng=np.random.default_rng([seed, i])) for i, img in enumerate(images)]
    sets = pipe[:-1].transform(synthetic)
    rows, meta = np.concatenate([s.data for s in sets]), np.concatenate([s.meta for s in sets])
    return {"original@1.0": rows[meta["kind"] == "original"].mean(axis=0),
            "super-resolved@2.0": rows[meta["kind"] == "super-resolved"].mean(axis=0)}


def test_default_pipeline_fit_scores_one_probe_alone_with_the_synthetic_means(gallery):
    images, subjects, probes = gallery
    pipe = _pipe(random_state=5).fit(images, subjects)  # a plain fit, the factory's defaults otherwise
    means = _hand_synthetic_means(pipe, images, seed=5)
    assert sorted(pipe[-1].probe_means) == sorted(means)
    for group, mean in means.items():
        np.testing.assert_allclose(pipe[-1].probe_means[group], mean, atol=1e-6)
    # The same probe scored by a batch-means pipeline (Pipeline's own fit) given the hand-made means.
    reference = _pipe(random_state=5, probe_means="batch").fit(images, subjects)
    reference.set_params(identify__probe_means=means)
    expected = reference.decision_function(probes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a lone probe: no warning, no error
        for i in (0, 3, 5):
            np.testing.assert_allclose(pipe.decision_function(probes[i : i + 1]), expected[i : i + 1], atol=1e-5)
            assert pipe.predict(probes[i : i + 1]).tolist() == reference.classes_[[expected[i].argmax()]].tolist()
    # and what enrol gives with the same seed
    enrolled = enrol(_pipe(random_state=5), images, subjects, random_state=5)
    np.testing.assert_allclose(enrolled.decision_function(probes[2:3]), expected[2:3], atol=1e-5)


def test_batch_means_leave_a_lone_probe_to_the_identifiers_error(gallery):
    images, subjects, probes = gallery
    pipe = _pipe(probe_means="batch").fit(images, subjects)
    assert pipe[-1].probe_means is None
    with pytest.raises(ValueError, match="enrol"):
        pipe.predict(probes[:1])


def test_refit_replaces_the_means_and_a_similarity_without_means_gets_none(gallery):
    images, subjects, _ = gallery
    pipe = _pipe().fit(images[:5], subjects[:5])
    first = {k: v.copy() for k, v in pipe[-1].probe_means.items()}
    pipe.fit(images, subjects)  # not kept from the first gallery: estimated again from the whole one
    for group, mean in _hand_synthetic_means(pipe, images, seed=0).items():
        np.testing.assert_allclose(pipe[-1].probe_means[group], mean, atol=1e-6)
        assert not np.allclose(pipe[-1].probe_means[group], first[group])
    pipe.set_params(identify__similarity="cosine").fit(images, subjects)
    assert pipe[-1].probe_means is None


@pytest.mark.filterwarnings("ignore:only .* probe")  # the batch-means candidates score 6 probes together
def test_pipeline_stays_a_scikit_learn_citizen(gallery):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    from skmitm import FaceCropper, MitmPipeline
    from skmitm._param_validation import InvalidParameterError

    images, subjects, probes = gallery
    pipe = _pipe()
    assert isinstance(pipe, MitmPipeline)
    params = pipe.get_params(deep=False)
    assert (params["probe_means"], params["random_state"], params["synthetic_severity"]) == ("synthetic", 0, "moderate")
    copy = clone(pipe.set_params(probe_means="batch", random_state=7, identify__fusion="S_max"))
    assert copy.get_params()["probe_means"] == "batch" and copy.get_params()["random_state"] == 7
    assert copy.get_params()["identify__fusion"] == "S_max" and copy[-1] is not pipe[-1]
    with pytest.raises(InvalidParameterError, match="probe_means"):
        clone(pipe).set_params(probe_means="reference").fit(images, subjects)
    with pytest.raises(ValueError, match="probe_means"):
        make_mitm_pipeline(probe_means="reference")
    with pytest.raises(TypeError, match="'crop' is a FaceCropper"):
        MitmPipeline([("crop", FaceCropper()), *_pipe().steps]).fit(images, subjects)
    # A slice keeps the parameters; one without the identifier has no means to set and fits as a Pipeline.
    features = _pipe(random_state=7)[:-1]
    assert isinstance(features, MitmPipeline) and features.random_state == 7
    assert len(features.fit(images[:2], subjects[:2]).transform(probes[:1])) == 1
    # A grid over a step's parameter and the pipeline's own: gallery images train, probes test, each candidate
    # scored by its probes' mean best score (continuous, so that a candidate run with other settings shows).
    X, y = [*images, *probes], np.concatenate([subjects, subjects[:6]])
    split = [(np.arange(12), np.arange(12, 18))]
    grid = {"identify__fusion": ["S_max", "T_concat"], "probe_means": ["synthetic", "batch"]}
    top = lambda estimator, X, y: float(estimator.decision_function(X).max(axis=1).mean())
    search = GridSearchCV(_pipe(), grid, cv=split, scoring=top, refit=False).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert len(set(np.round(scores, 6))) == 4
    for candidate, score in zip(search.cv_results_["params"], scores):
        alone = _pipe(fusion=candidate["identify__fusion"], probe_means=candidate["probe_means"])
        assert score == pytest.approx(top(alone.fit(images, subjects), probes, None), abs=1e-6)


def test_probes_go_through_the_pipeline_a_batch_at_a_time_with_the_same_scores(gallery, monkeypatch):
    images, subjects, probes = gallery
    pipe = _pipe().set_params(upsample__batch_size=2).fit(images, subjects)  # blocks of 2 // gcd(2, 2 sigmas) = 1 probe
    whole = pipe.set_params(batch_size=None).decision_function(probes)
    seen, scores = [], pipe[-1].decision_function

    def spy(X):
        seen.append(len(X))
        return scores(X)

    monkeypatch.setattr(pipe[-1], "decision_function", spy)
    pipe.set_params(batch_size=4)
    batched = pipe.decision_function(probes)
    assert seen == [4, 2]  # never more than a batch of probes' templates at once
    np.testing.assert_allclose(batched, whole, atol=1e-6)
    expected = pipe.classes_[whole.argmax(axis=1)]
    seen.clear()
    assert pipe.predict(probes).tolist() == expected.tolist() and seen == [4, 2]
    truth = subjects[:6].copy()
    truth[expected != subjects[:6]] = "nobody"
    seen.clear()
    assert pipe.score(probes, truth) == pytest.approx(np.mean(expected == truth)) and seen == [4, 2]
    # Batch means need every probe at once: one call.
    seen.clear()
    pipe[-1].set_params(probe_means=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.decision_function(probes)
    assert seen == [6]


def test_batches_are_whole_upsampler_blocks_and_errors_name_the_probe_in_x(gallery, monkeypatch):
    images, subjects, probes = gallery
    pipe = _pipe().set_params(batch_size=3).fit(images, subjects)  # upsampler blocks: 64 // gcd(64, 2) = 32 probes
    sizes = []
    transform = pipe[1].transform
    monkeypatch.setattr(pipe[1], "transform", lambda X: sizes.append(len(X)) or transform(X))
    pipe.predict(probes * 8)  # 48 probes: batches of 32 and 16, not 3
    assert sizes == [32, 16]
    bad = [*probes * 6, probes[0].astype(np.float32)]
    with pytest.raises(TypeError, match=r"X\[36\]"):
        pipe.predict(bad)
    features = pipe[:-1]
    assert not hasattr(features, "predict") and not hasattr(features, "decision_function")
