"""Open-set identification: thresholds in the identifier, calibration from the gallery, 1:1 verification."""

import re

import cv2
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from skmitm import (
    FusedNearestNeighborIdentifier,
    GalleryDegrader,
    HypothesisSet,
    MultiHypothesisUpsampler,
    TemplateExtractor,
    calibrate_open_set,
    make_meta,
    make_mitm_pipeline,
    verify,
)
from skmitm._open_set import OpenSetCalibration, operating_threshold
from skmitm.datasets import degrade_probe
from skmitm.metrics import open_set_error_rates

GALLERY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
# cosine to "a" and "b": p1 (1, 0), p2 (0, 0), p3 (0.6, 0.8)
PROBES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.6, 0.8, 0.0]])


def test_threshold_answers_unknown_below_it_and_leaves_scores_alone():
    closed = FusedNearestNeighborIdentifier(similarity="cosine").fit(GALLERY, ["a", "b"])
    assert closed.predict(PROBES).tolist() == ["a", "a", "b"]  # p2 ties at 0: the first subject
    clf = FusedNearestNeighborIdentifier(similarity="cosine", threshold=0.7).fit(GALLERY, ["a", "b"])
    assert clf.predict(PROBES).tolist() == ["a", "unknown", "b"]
    np.testing.assert_array_equal(clf.decision_function(PROBES), closed.decision_function(PROBES))
    clf.set_params(threshold=0.8)  # at least the threshold is accepted: p3 scores 0.8 (float32 rounding aside)
    assert clf.predict(PROBES)[[0, 1]].tolist() == ["a", "unknown"]
    clf.set_params(threshold=0.85, unknown_label="nobody")
    assert clf.predict(PROBES).tolist() == ["a", "nobody", "nobody"]


def test_unknown_label_types():
    ints = FusedNearestNeighborIdentifier(similarity="cosine", threshold=0.7, unknown_label=-1).fit(GALLERY, [3, 5])
    out = ints.predict(PROBES)
    assert out.dtype.kind == "i" and out.tolist() == [3, -1, 5]
    mixed = ints.set_params(unknown_label="unknown").predict(PROBES)
    assert mixed.dtype == object and mixed.tolist() == [3, "unknown", 5]


def _sized(templates, size):
    return [HypothesisSet(t[None, :], make_meta(1, size=size)) for t in templates]


def test_threshold_per_probe_size():
    clf = FusedNearestNeighborIdentifier(similarity="cosine", threshold={16: 0.5, 32: 0.9}).fit(GALLERY, ["a", "b"])
    probe = np.array([[0.6, 0.8, 0.0]])  # best 0.8
    assert clf.predict(_sized(probe, 18)).tolist() == ["b"]  # nearest 16: 0.8 >= 0.5
    assert clf.predict(_sized(probe, 30)).tolist() == ["unknown"]  # nearest 32: 0.8 < 0.9
    with pytest.raises(ValueError, match="no probe size"):
        clf.predict(probe)
    clf.set_params(threshold={24: 0.9})  # one bucket serves probes of any or no size
    assert clf.predict(probe).tolist() == ["unknown"]


@pytest.mark.parametrize("threshold", [float("nan"), True, "0.5", {}, {0: 0.5}, {24: None}])
def test_bad_threshold(threshold):
    clf = FusedNearestNeighborIdentifier(threshold=threshold)
    with pytest.raises(ValueError, match="threshold"):
        clf.fit(GALLERY, ["a", "b"])


def test_one_subject_gallery_needs_background_means():
    rng = np.random.default_rng(0)
    background = rng.normal(size=(20, 16)) + 3.0  # a shared offset, as real templates have
    reference = rng.normal(size=(1, 16)) + 3.0
    mated = reference + 0.3 * rng.normal(size=(1, 16))
    impostor = rng.normal(size=(1, 16)) + 3.0
    with pytest.raises(ValueError, match="gallery_means"):
        FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred").fit(reference, ["ref"])
    means = FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred").fit(
        background, np.arange(20)).gallery_means_
    probe_means = {"original@1.0": background.mean(axis=0)}
    one = FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred", gallery_means=means,
                                         probe_means=probe_means).fit(reference, ["ref"])
    scores = one.decision_function(np.vstack([mated, impostor]))[:, 0]

    def centred_cosine(p, g):  # the mean-centred reading, by hand
        p, g = p - background.mean(axis=0), g - background.mean(axis=0)
        return p @ g / np.linalg.norm(p) / np.linalg.norm(g)

    np.testing.assert_allclose(scores, [centred_cosine(mated[0], reference[0]),
                                        centred_cosine(impostor[0], reference[0])], rtol=1e-4)
    assert scores[0] > 0.8 and abs(scores[1]) < 0.6
    with pytest.raises(ValueError, match="only under similarity='mean-centred'"):
        FusedNearestNeighborIdentifier(gallery_means=means).fit(reference, ["ref"])


def test_operating_threshold_by_hand():
    assert operating_threshold([0.9, 0.1, 0.5, 0.3], 0.25) == pytest.approx(0.7)
    assert operating_threshold([0.9, 0.1, 0.5, 0.3], 0.5) == pytest.approx(0.4)
    # ties at the cut: no threshold lets exactly two of four pass, so fewer pass
    t = operating_threshold([0.5, 0.5, 0.5, 0.1], 0.5)
    assert t > 0.5 and t == np.nextafter(0.5, 1)
    # below one in n: nothing may pass
    assert operating_threshold([0.2, 0.4], 0.1) > 0.4
    rng = np.random.default_rng(0)
    for rate in (0.01, 0.1, 0.3):
        scores = np.round(rng.normal(size=500), 2)
        t = operating_threshold(scores, rate)
        passed = np.mean(scores >= t)
        assert passed <= rate and np.mean(scores >= np.max(scores[scores < t])) > rate
    with pytest.raises(ValueError, match="rate"):
        operating_threshold([0.1], 0.0)


class _MeanColour(torch.nn.Module):
    """A fixed toy face network: colour means of a 4×4 grid (48-D), so a face keeps its identity when blurred."""

    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)


def _faces(n, seed=0):
    rng = np.random.default_rng(seed)
    return [cv2.resize(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), (48, 48), interpolation=cv2.INTER_LINEAR)
            for _ in range(n)]


def _toy_pipeline(similarity="mean-centred"):
    # Deterministic degradations: a photo is degraded alike whatever its position in the gallery.
    return Pipeline([
        ("degrade", GalleryDegrader(probe_size=12, scales=(2,), degradations=["gaussian_blur", "disk_blur"],
                                    n_chains=2, random_state=0)),
        ("upsample", MultiHypothesisUpsampler(scales=(2,), sigmas=1, n_threads=1)),
        ("templates", TemplateExtractor(_MeanColour(), input_size=16)),
        ("identify", FusedNearestNeighborIdentifier("T_concat", similarity=similarity)),
    ])


def test_calibration_scores_are_searches_without_the_own_subject():
    faces, subjects = _faces(6), list("abcdef")
    pipe = _toy_pipeline().fit(faces, subjects)
    cal = calibrate_open_set(pipe, faces, subjects, n_probes_per_image=2, random_state=3)
    assert cal.sizes == [12]  # the gallery's resolution-matched size
    search = cal.search_scores[12]
    assert search.shape == (12,) and cal.pair_scores[12].shape == (12 * 5,)
    # each best non-mated score is the largest of that probe's five pair scores
    np.testing.assert_allclose(search, cal.pair_scores[12].reshape(12, 5).max(axis=1))
    # the own subject is excluded: the mated score (the subject's own photo) is higher than every other
    probes = [degrade_probe(f, size=12, rng=k) for f in faces for k in range(2)]
    scores = pipe.decision_function(probes)
    own = np.repeat(np.arange(6), 2)
    assert np.mean(scores[np.arange(12), own] > search) > 0.8
    # oracle: each subject's probes scored against gallery means of the other subjects only (six subjects make
    # six folds of one), the means taken by an identifier fitted on the other five
    gallery_sets = clone(pipe[:-1]).fit_transform(faces)
    synthetic = pipe[:-1].transform([degrade_probe(f, size=12, rng=np.random.default_rng([3, 12, i, k]))
                                     for i, f in enumerate(faces) for k in range(2)])
    for s in range(6):
        others = [g for j, g in enumerate(gallery_sets) if j != s]
        means = FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred").fit(
            others, [x for j, x in enumerate(subjects) if j != s]).gallery_means_
        scorer = FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred", gallery_means=means,
                                                probe_means=cal.probe_means[12]).fit(gallery_sets, subjects)
        expected = np.delete(scorer.decision_function(synthetic[2 * s : 2 * s + 2]), s, axis=1)
        np.testing.assert_allclose(cal.pair_scores[12].reshape(12, 5)[2 * s : 2 * s + 2], expected, atol=1e-5)
    thresholds = cal.threshold(0.25)
    assert set(thresholds) == {12} and np.mean(search >= thresholds[12]) <= 0.25
    assert sorted(cal.probe_means[12]) == ["original@1.0", "super-resolved@2.0"]
    with pytest.raises(ValueError, match="fpir"):
        cal.threshold(1.5)


def test_calibration_on_some_photos_searches_the_whole_enrolled_gallery(monkeypatch):
    """Synthetic probes of three of eight enrolled photos, searched against all eight without a second gallery pass."""
    faces, subjects = _faces(8, seed=1), list("abcdefgh")
    pipe = _toy_pipeline().fit(faces, subjects)
    gallery_sets = clone(pipe[:-1]).fit_transform(faces)  # the oracle's own gallery pass, before it is forbidden

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the gallery was passed through the pipeline again")

    monkeypatch.setattr(GalleryDegrader, "fit_transform", no_second_pass)
    cal = calibrate_open_set(pipe, faces[:3], subjects[:3])  # default: four probes per photo
    monkeypatch.undo()
    search, pairs = cal.search_scores[12], cal.pair_scores[12].reshape(12, 7)
    assert search.shape == (3 * 4,)
    synthetic = pipe[:-1].transform([degrade_probe(f, size=12, rng=np.random.default_rng([0, 12, i, k]))
                                     for i, f in enumerate(faces[:3]) for k in range(4)])
    probe_means = pipe[-1].estimate_probe_means(synthetic)
    # oracle: eight subjects make eight folds of one; each photo's probes against means of the seven others
    for s in range(3):
        means = FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred").fit(
            [g for j, g in enumerate(gallery_sets) if j != s], [x for j, x in enumerate(subjects) if j != s]
        ).gallery_means_
        scorer = FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred", gallery_means=means,
                                                probe_means=probe_means).fit(gallery_sets, subjects)
        expected = np.delete(scorer.decision_function(synthetic[4 * s : 4 * s + 4]), s, axis=1)
        np.testing.assert_allclose(pairs[4 * s : 4 * s + 4], expected, atol=1e-5)
        np.testing.assert_allclose(search[4 * s : 4 * s + 4], expected.max(axis=1), atol=1e-5)


def test_calibrated_fpir_holds_on_real_unenrolled_people(mobilefacenet_path, orl_dir):
    """ORL: 20 people enrolled; the other 20 people's photos are the real non-mated searches."""
    read = lambda s, k: cv2.cvtColor(cv2.imread(str(orl_dir / f"s{s}" / f"{k}.pgm"), cv2.IMREAD_GRAYSCALE),
                                     cv2.COLOR_GRAY2RGB)
    gallery, subjects = [read(s, 1) for s in range(1, 21)], [f"s{s}" for s in range(1, 21)]
    pipe = make_mitm_pipeline("baseline", model=str(mobilefacenet_path)).fit(gallery, subjects)
    cal = calibrate_open_set(pipe, gallery, subjects, probe_sizes=[24], n_probes_per_image=10)
    probes, truth = [], []
    for s in range(1, 41):
        for k in range(2, 6):
            probes.append(degrade_probe(read(s, k), size=24, rng=np.random.default_rng([s, k])))
            truth.append(f"s{s}")
    scores = pipe.decision_function(probes)
    # On 20 ORL people the synthetic searches run a little low: measured 0.225 at 0.1 and 0.40 at 0.3.
    for target in (0.1, 0.3):
        fnir, fpir = open_set_error_rates(truth, scores, pipe.classes_, threshold=cal.threshold(target)[24])
        assert target / 2 <= fpir <= target * 2.5, (target, fpir)
    # predict says "unknown" exactly where the metric counts no candidate
    answers = pipe.set_params(identify__threshold=cal.threshold(0.3)).predict(probes)
    unenrolled = np.arange(len(truth)) >= 80
    assert np.mean(answers[unenrolled] != "unknown") == pytest.approx(fpir)
    assert np.mean(answers[~unenrolled] == np.asarray(truth)[~unenrolled]) == pytest.approx(1 - fnir)


def test_verify_scores_a_lone_reference_like_the_enrolled_gallery():
    faces, subjects = _faces(8), list("abcdefgh")
    pipe = _toy_pipeline().fit(faces, subjects)
    cal = calibrate_open_set(pipe, faces, subjects, n_probes_per_image=2)
    probe = degrade_probe(faces[2], size=12, rng=7)
    result = verify(probe, faces[2], pipeline=pipe, calibration=cal, fmr=0.1)
    impostor = verify(probe, faces[5], pipeline=pipe, calibration=cal, fmr=0.1)
    # a one-subject gallery centred on the background means scores as that subject does in the whole gallery
    pipe[-1].set_params(probe_means=cal.probe_means[12])
    expected = pipe.decision_function([probe])[0]
    pipe[-1].set_params(probe_means=None)
    assert result.score == pytest.approx(expected[2], abs=1e-5)
    assert impostor.score == pytest.approx(expected[5], abs=1e-5)
    assert result.score > impostor.score and result.score > 0.5
    assert result.threshold == cal.verification_threshold(0.1)[12] and result.probe_size == 12
    assert result.accept == (result.score >= result.threshold)
    # verify enrolled the reference on a copy: the background pipeline is unchanged
    assert pipe[-1].classes_.tolist() == subjects
    with pytest.raises(TypeError, match="OpenSetCalibration"):
        verify(probe, faces[2], pipeline=pipe, calibration={12: 0.5})


def test_operating_threshold_edges_and_errors():
    assert operating_threshold([0.3], 0.5) == np.nextafter(0.3, 1)  # one score: nothing may pass
    # float32 scores: the next float above is taken in float64, so no score just above a tie slips through
    assert operating_threshold(np.float32([0.5, 0.5, 0.5, 0.1]), 0.5) == np.nextafter(0.5, 1)
    for bad in ([], [0.2, np.nan], [np.inf, 0.1]):
        with pytest.raises(ValueError, match="^scores must be a non-empty array of finite numbers$"):
            operating_threshold(bad, 0.5)
    for rate in (0, 1, 1.0, -0.1, True, "0.5", None):
        message = rf"^rate={re.escape(repr(rate))}; expected a number strictly between 0 and 1$"
        with pytest.raises(ValueError, match=message):
            operating_threshold([0.1, 0.2], rate)


def test_calibration_accessors_by_hand():
    search = {16: np.array([0.9, 0.1, 0.5, 0.3]), 32: np.array([0.2, 0.8, 0.6, 0.4])}
    pairs = {16: np.array([0.1, 0.2, 0.3, 0.4, 0.5]), 32: np.array([0.7, 0.7, 0.7, 0.1, 0.0])}
    cal = OpenSetCalibration([16, 32], search, pairs, None)
    assert cal.threshold(0.25) == pytest.approx({16: 0.7, 32: 0.7})  # half-way between the top two
    assert cal.threshold(0.5) == pytest.approx({16: 0.4, 32: 0.5})
    assert cal.verification_threshold(0.2) == pytest.approx({16: 0.45, 32: np.nextafter(0.7, 1)})
    assert cal.verification_threshold(0.6) == pytest.approx({16: 0.25, 32: 0.4})
    assert [cal.nearest_size(h) for h in (8, 20, 24, 30, 100)] == [16, 16, 16, 32, 32]  # a tie takes the smaller
    with pytest.raises(ValueError, match=r"^fpir=0; expected"):
        cal.threshold(0)
    with pytest.raises(ValueError, match=r"^fmr=1.5; expected"):
        cal.verification_threshold(1.5)


def test_calibration_argument_errors():
    faces, subjects = _faces(3), list("abc")
    pipe = _toy_pipeline("cosine").fit(faces, subjects)
    expected_pipeline = "expected a scikit-learn Pipeline ending with a FusedNearestNeighborIdentifier, as make_mitm"
    for bad in (pipe[-1], Pipeline([("templates", pipe[-2])])):
        with pytest.raises(TypeError, match=expected_pipeline):
            calibrate_open_set(bad, faces, subjects)
        with pytest.raises(TypeError, match=expected_pipeline):
            verify(faces[0], faces[1], pipeline=bad, calibration=None)
    with pytest.raises(ValueError, match="not fitted"):
        calibrate_open_set(_toy_pipeline(), faces, subjects)
    # Below 8 pixels a synthetic probe would be refused as a face later, with a message about X[0].
    for sizes in ("12", [3], [7], [12, 4], [], [12.5], [12, None]):
        message = rf"^probe_sizes={re.escape(repr(sizes))}; expected None or a non-empty sequence of integers >= 8$"
        with pytest.raises(ValueError, match=message):
            calibrate_open_set(pipe, faces, subjects, probe_sizes=sizes)
    for n in (0, 1.5, "2"):
        with pytest.raises(ValueError, match=rf"^n_probes_per_image={n!r}; expected an integer >= 1$"):
            calibrate_open_set(pipe, faces, subjects, n_probes_per_image=n)
    for seed in (None, 1.5):
        with pytest.raises(ValueError, match=rf"^random_state={seed!r}; expected an integer seed$"):
            calibrate_open_set(pipe, faces, subjects, random_state=seed)
    with pytest.raises(ValueError, match="^gallery_subjects holds 'z', who is not enrolled; expected the enrolled"):
        calibrate_open_set(pipe, faces, ["a", "z", "y"])
    with pytest.raises(TypeError, match="^gallery_images is a single path"):
        calibrate_open_set(pipe, "faces.png", subjects)
    with pytest.raises(ValueError, match="^gallery_subjects has 2 labels for 3 samples"):
        calibrate_open_set(pipe, faces, subjects[:2])
    pair = _toy_pipeline("cosine").fit(faces[:2], ["a", "b"])  # two people are enough: each is the other's impostor
    two = calibrate_open_set(pair, faces[:2], ["a", "b"], n_probes_per_image=1)
    np.testing.assert_array_equal(two.search_scores[12], two.pair_scores[12])
    lone = _toy_pipeline("cosine").fit(faces[:1], ["a"])
    with pytest.raises(ValueError, match="^the gallery has a single subject, so no non-mated search can be made "
                                         "from it; calibrate on a gallery of several people$"):
        calibrate_open_set(lone, faces[:1], ["a"])
    baseline = Pipeline([("templates", TemplateExtractor(_MeanColour(), input_size=16)),
                         ("identify", FusedNearestNeighborIdentifier())]).fit(faces, subjects)
    with pytest.raises(ValueError, match=r"^the identifier knows no probe size .*; pass probe_sizes$"):
        calibrate_open_set(baseline, faces, subjects)


def test_cosine_calibration_is_the_plain_search_without_the_own_column():
    """Without mean-centring nothing is held out: the scores are the pipeline's own, less the mated column."""
    faces, subjects = _faces(4, seed=2), list("abcd")
    pipe = _toy_pipeline("cosine").fit(faces, subjects)
    cal = calibrate_open_set(pipe, faces[1:], subjects[1:], probe_sizes=[24, 8, 24], n_probes_per_image=1,
                             severity="harsh", random_state=5)
    assert cal.sizes == [8, 24] and cal.probe_means is None
    for size in (8, 24):
        probes = [degrade_probe(f, size=size, severity="harsh", rng=np.random.default_rng([5, size, i, 0]))
                  for i, f in enumerate(faces[1:])]
        scores = pipe.decision_function(probes)
        expected = [np.delete(row, i + 1) for i, row in enumerate(scores)]  # photo i is subject i + 1
        np.testing.assert_allclose(cal.pair_scores[size], np.concatenate(expected), atol=1e-6)
        np.testing.assert_allclose(cal.search_scores[size], np.max(expected, axis=1), atol=1e-6)
        assert cal.pair_scores[size].dtype == np.float64


def test_held_out_means_leave_out_a_fold_of_ten():
    """Twelve subjects make ten folds by enrolment order: subjects 0 and 10 (and 1 and 11) share one."""
    faces, subjects = _faces(12, seed=4), [f"s{j:02d}" for j in range(12)]
    pipe = _toy_pipeline().fit(faces, subjects)
    cal = calibrate_open_set(pipe, faces, subjects, n_probes_per_image=1)
    gallery_sets = clone(pipe[:-1]).fit_transform(faces)
    synthetic = pipe[:-1].transform([degrade_probe(f, size=12, rng=np.random.default_rng([0, 12, i, 0]))
                                     for i, f in enumerate(faces)])
    pairs = cal.pair_scores[12].reshape(12, 11)
    for s in range(12):
        kept = [j for j in range(12) if j % 10 != s % 10]
        means = FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred").fit(
            [gallery_sets[j] for j in kept], [subjects[j] for j in kept]).gallery_means_
        scorer = FusedNearestNeighborIdentifier("T_concat", similarity="mean-centred", gallery_means=means,
                                                probe_means=cal.probe_means[12]).fit(gallery_sets, subjects)
        expected = np.delete(scorer.decision_function(synthetic[s : s + 1])[0], s)
        np.testing.assert_allclose(pairs[s], expected, atol=1e-5)


def test_calibration_uses_the_identifiers_own_means_when_it_has_them():
    faces, subjects = _faces(6, seed=5), list("abcdef")
    pipe = _toy_pipeline().fit(faces, subjects)
    fixed = {key: value + 0.5 for key, value in calibrate_open_set(pipe, faces, subjects).probe_means[12].items()}
    pipe.set_params(identify__probe_means=fixed, identify__gallery_means=pipe[-1].gallery_means_).fit(faces, subjects)
    cal = calibrate_open_set(pipe, faces, subjects, n_probes_per_image=1)
    assert cal.probe_means[12] is fixed
    # with the gallery's means given, nothing is held out: the identifier's own scores, less the mated column
    scores = pipe.decision_function([degrade_probe(f, size=12, rng=np.random.default_rng([0, 12, i, 0]))
                                     for i, f in enumerate(faces)])
    np.testing.assert_allclose(cal.pair_scores[12], scores[~np.eye(6, dtype=bool)], atol=1e-6)


def test_verify_decision_and_errors():
    faces, subjects = _faces(5, seed=3), list("abcde")
    pipe = Pipeline([("noop", "passthrough")] + _toy_pipeline("cosine").steps).fit(faces, subjects)
    plain = _toy_pipeline("cosine").fit(faces, subjects)
    cal = calibrate_open_set(pipe, faces, subjects, probe_sizes=[12, 24], n_probes_per_image=1)
    probe = degrade_probe(faces[1], size=12, rng=0)
    wide = cv2.resize(probe, (24, 12))  # 12 high, 24 wide: the size is the height
    result = verify(wide, faces[1], pipeline=pipe, calibration=cal)
    assert result.probe_size == 12 and result.fmr == 0.01
    # the reference passes the gallery steps (a passthrough skipped) and scores as in the enrolled gallery
    assert result.score == pytest.approx(plain.decision_function([wide])[0, 1], abs=1e-5)
    # the boundary: a score equal to the threshold is accepted, one float below it is not
    at = OpenSetCalibration([12], {12: np.zeros(2)}, {12: np.full(2, np.nextafter(result.score, -1))}, None)
    assert at.verification_threshold(0.5)[12] == result.score
    decided = verify(wide, faces[1], pipeline=pipe, calibration=at, fmr=0.5)
    assert decided.accept is True and decided.threshold == result.score and decided.fmr == 0.5
    above = OpenSetCalibration([12], {12: np.zeros(2)}, {12: np.full(2, result.score)}, None)
    assert verify(wide, faces[1], pipeline=pipe, calibration=above, fmr=0.5).accept is False
    with pytest.raises(ValueError, match=r"^fmr=0; expected a number strictly between 0 and 1$"):
        verify(probe, faces[1], pipeline=pipe, calibration=cal, fmr=0)
    with pytest.raises(TypeError, match=r"^probe\[0\] has dtype float32"):
        verify(probe.astype(np.float32), faces[1], pipeline=pipe, calibration=cal)
    with pytest.raises(TypeError, match=r"^reference\[0\] has dtype float64"):
        verify(probe, faces[1] / 255.0, pipeline=pipe, calibration=cal)
