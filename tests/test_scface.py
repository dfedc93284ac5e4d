"""SCFace loader and protocols, on folders laid out like SCFace.

SCFace itself is licensed and not available here. The loader tests write tiny
images in its layout; the protocol tests build an SCFace-like set from LFW:
each subject's first photo is its mugshot, and five further photos, shrunk
and pasted at random places into noisy surveillance-like frames, are its
camera probes at two distances. Without face detection those frames are
mostly background, so identification needs the FaceCropper step.
"""

import os
import statistics
import warnings

import cv2
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.utils import Bunch

from conftest import SHARED, shared_path
from skmitm import FaceCropper, FusedNearestNeighborIdentifier, RepeatedSubjectSubsampling, TemplateExtractor, load_image
from skmitm.datasets import SCFACE_DISTANCES, evaluate_scface, load_scface

MUGSHOTS = "mugshot_frontal_cropped_all"
FRAME = (240, 320)
#: How much an LFW photo shrinks at each synthetic distance (1 is the farthest).
SHRINK = {1: 0.5, 2: 0.8}


def _write(path, rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


def _probe_path(root, subject, camera, distance, suffix=".png"):
    return root / f"surveillance_cameras_distance_{distance}" / f"cam{camera}" / f"{subject:03d}_cam{camera}_{distance}{suffix}"


def _tiny_scface(root, *, subjects=(1, 2, 3), distances=(1, 2, 3), cameras=(1, 2, 3, 4, 5)):
    """A lossless SCFace layout where every pixel says which file it came from."""
    for s in subjects:
        _write(root / MUGSHOTS / f"{s:03d}_frontal.png", np.full((40, 30, 3), s, np.uint8))
        for d in distances:
            for c in cameras:
                _write(_probe_path(root, s, c, d), np.full((12, 10, 3), 100 + 10 * d + c, np.uint8))
    return root


def test_loader_reads_the_layout(tmp_path):
    root = _tiny_scface(tmp_path)
    data = load_scface(root, distances=(3, 1))
    assert data.gallery_subjects.tolist() == [1, 2, 3]
    assert [int(im[0, 0, 0]) for im in data.gallery_images] == [1, 2, 3]
    assert len(data.probe_images) == 3 * 2 * 5
    # Sorted by distance, camera, subject; every pixel matches its file's name.
    assert data.probe_distances.tolist() == [1] * 15 + [3] * 15
    assert data.probe_cameras[:6].tolist() == [1, 1, 1, 2, 2, 2]
    assert data.probe_subjects[:4].tolist() == [1, 2, 3, 1]
    for im, d, c in zip(data.probe_images, data.probe_distances, data.probe_cameras):
        assert im.shape == (12, 10, 3) and im[0, 0, 0] == 100 + 10 * d + c
    for path, s, c, d in zip(data.probe_paths, data.probe_subjects, data.probe_cameras, data.probe_distances):
        assert os.path.basename(path) == f"{s:03d}_cam{c}_{d}.png"
    assert len(data.X) == 33 and data.X[3] is data.probe_images[0]
    assert data.y.tolist() == data.gallery_subjects.tolist() + data.probe_subjects.tolist()
    assert data.roles.tolist() == ["gallery"] * 3 + ["probe"] * 30
    assert data.distances == (1, 3) and data.cameras == (1, 2, 3, 4, 5)
    assert {d: SCFACE_DISTANCES[d] for d in data.distances} == {1: 4.2, 3: 1.0}


def test_loader_selects_cameras_and_can_return_paths(tmp_path):
    root = _tiny_scface(tmp_path, distances=(1,))
    data = load_scface(root, cameras=[4, 2], return_paths=True)
    assert sorted(set(data.probe_cameras.tolist())) == [2, 4]
    assert all(isinstance(x, str) and os.path.isfile(x) for x in data.X)
    assert data.probe_images == data.probe_paths


def test_loader_feeds_repeated_subject_subsampling(tmp_path):
    root = _tiny_scface(tmp_path, subjects=range(1, 11), distances=(1,))
    data = load_scface(root)
    cv = RepeatedSubjectSubsampling(4, n_repeats=5, random_state=0)
    for train, test in cv.split(data.X, data.y, data.roles):
        drawn = set(data.y[train].tolist())
        assert len(drawn) == 4 and len(train) == 4
        assert (data.roles[train] == "gallery").all() and (data.roles[test] == "probe").all()
        assert set(data.y[test].tolist()) == drawn and len(test) == 4 * 5


@pytest.mark.parametrize(
    "damage, error, match",
    [
        (lambda r: r / "nowhere", FileNotFoundError, "SCFace folder .*nowhere' does not exist"),
        (lambda r: os.rename(r / MUGSHOTS, r / "mugs") or r, FileNotFoundError, "mugshot folder .* does not exist"),
        (
            lambda r: [os.remove(r / MUGSHOTS / f) for f in os.listdir(r / MUGSHOTS)] and r,
            ValueError,
            "holds no NNN_frontal.jpg images",
        ),
        (
            lambda r: os.rename(r / "surveillance_cameras_distance_1/cam3", r / "cam3") or r,
            FileNotFoundError,
            r"cam3' does not exist; expected camera 3's frames at distance 1 there, or pass cameras=",
        ),
        (
            lambda r: os.remove(r / MUGSHOTS / "002_frontal.png") or r,
            ValueError,
            r"1 subjects have probes but no mugshot .*: 2; every probe subject needs",
        ),
        (
            lambda r: _write(r / MUGSHOTS / "002_frontal.jpg", np.zeros((4, 4, 3), np.uint8)) or r,
            ValueError,
            "subject 2 has two mugshots",
        ),
        (
            lambda r: _write(r / MUGSHOTS / "portrait.png", np.zeros((4, 4, 3), np.uint8)) or r,
            ValueError,
            r"portrait.png' is not named NNN_frontal.jpg",
        ),
        (
            lambda r: os.rename(_probe_path(r, 1, 2, 1), _probe_path(r, 1, 1, 1).with_name("001_cam2_1.png")) or r,
            ValueError,
            "names camera 2 at distance 1 but lies in the folder of camera 1",
        ),
        (
            lambda r: [_probe_path(r, 3, 5, 1).write_bytes(b"not an image"), r][-1],
            ValueError,
            r"003_cam5_1.png' is not a readable image",
        ),
    ],
    ids=["root", "mugshot-folder", "no-mugshots", "camera", "orphan", "two-mugshots", "misnamed", "misplaced", "unreadable"],
)
def test_loader_errors_name_the_problem(tmp_path, damage, error, match):
    root = damage(_tiny_scface(tmp_path, distances=(1,)))
    with pytest.raises(error, match=match):
        load_scface(root)


def test_loader_rejects_missing_distances_and_bad_selections(tmp_path):
    root = _tiny_scface(tmp_path, distances=(1,))
    (root / "notes.txt").write_text("other files are ignored")
    (root / MUGSHOTS / "Thumbs.db").write_bytes(b"")
    assert len(load_scface(root).gallery_images) == 3
    with pytest.raises(FileNotFoundError, match=r"distance_2' does not exist; expected the probes of distance 2 \(2.6 m\)"):
        load_scface(root, distances=(1, 2))
    with pytest.raises(ValueError, match=r"distances=\(4,\); expected values among \(1, 2, 3\)"):
        load_scface(root, distances=(4,))
    with pytest.raises(ValueError, match=r"cameras=\(0,\); expected a non-empty sequence of positive integers"):
        load_scface(root, cameras=0)
    with pytest.raises(ValueError, match="repeats a value"):
        load_scface(root, distances=(1, 1))


# ---------------------------------------------------------------- protocols on an LFW-built set


def _lfw_scface(root, lfw, n_subjects):
    """An SCFace-like folder from the first ``n_subjects`` LFW people with at least six photos."""
    people = sorted(p for p in os.listdir(lfw) if len(os.listdir(lfw / p)) >= 6)[:n_subjects]
    rng = np.random.default_rng(0)
    for s, person in enumerate(people, 1):
        photo = lambda k: load_image(lfw / person / f"{person}_{k:04d}.jpg")  # noqa: E731
        _write(root / MUGSHOTS / f"{s:03d}_frontal.jpg", photo(1))
        for camera in range(1, 6):
            for distance, shrink in SHRINK.items():
                face = cv2.resize(photo(camera + 1), None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
                frame = rng.integers(60, 120, (*FRAME, 3), dtype=np.uint8)
                top, left = rng.integers(0, FRAME[0] - face.shape[0] + 1), rng.integers(0, FRAME[1] - face.shape[1] + 1)
                frame[top : top + face.shape[0], left : left + face.shape[1]] = face
                _write(_probe_path(root, s, camera, distance, ".jpg"), frame)
    return root


def _features():
    # dlib's HOG detector needs faces of about 80 pixels; frames are enlarged for it.
    return make_pipeline(FaceCropper(detection_size=640), TemplateExtractor())


@pytest.fixture(scope="module")
def lfw_set(tmp_path_factory):
    lfw = SHARED / "data/lfw-deepfunneled"
    if not lfw.is_dir():
        pytest.skip("needs ../shared/data/lfw-deepfunneled, which is absent (set SKMITM_SHARED to its folder)")
    # Three of the five cameras keep the default tests fast; the slow test uses all five.
    root = _lfw_scface(tmp_path_factory.mktemp("scface"), lfw, 8)
    return Bunch(
        three_cameras=load_scface(root, distances=(1, 2), cameras=(1, 2, 3), return_paths=True),
        all_cameras=load_scface(root, distances=(1, 2), return_paths=True),
    )


@pytest.fixture(scope="module")
def lfw_templates(lfw_set):
    """The LFW-built set (three cameras) with every image replaced by its template set, computed once."""
    lfw_set = lfw_set.three_cameras
    features = _features()
    gallery = features.fit_transform(lfw_set.gallery_images)
    probes = features.transform(lfw_set.probe_images)
    return Bunch(X=gallery + probes, y=lfw_set.y, roles=lfw_set.roles, probe_distances=lfw_set.probe_distances)


def test_all_subjects_protocol_identifies_well_above_chance(lfw_templates):
    result = evaluate_scface(FusedNearestNeighborIdentifier(), lfw_templates, protocol="all")
    chance = 1 / 8
    assert result.protocol == "all" and result.scores.shape == (1,)
    assert result.scores[0] >= max(0.8, 4 * chance)
    assert set(result.by_distance) == {1, 2}
    # Both distances hold 24 probes, so the overall rate is their mean.
    assert result.scores[0] == pytest.approx(np.mean([r[0] for r in result.by_distance.values()]))
    train, test = result.splits[0]
    assert len(train) == 8 and len(test) == 48
    assert result.subjects[0].tolist() == list(range(1, 9))
    assert result.scores[0] == pytest.approx(np.mean(result.predictions[0] == lfw_templates.y[test]))


def test_rrssv_protocol_draws_subjects_and_summarises(lfw_templates):
    result = evaluate_scface(
        FusedNearestNeighborIdentifier(), lfw_templates, protocol="rrssv", n_subjects=5, n_repeats=6, random_state=1
    )
    assert result.scores.shape == (6,)
    # each repetition's score is its share of correct predictions; the summary is their mean and
    # population standard deviation (as documented), computed here from those shares
    hand = [float(np.mean(p == lfw_templates.y[test])) for p, (_, test) in zip(result.predictions, result.splits)]
    np.testing.assert_allclose(result.scores, hand)
    assert result.mean == pytest.approx(statistics.fmean(hand)) and result.std == pytest.approx(statistics.pstdev(hand))
    assert result.mean >= 0.8
    assert len({tuple(s) for s in result.subjects}) > 1
    for subjects, (train, test), predicted in zip(result.subjects, result.splits, result.predictions):
        assert len(subjects) == 5 and len(train) == 5 and len(test) == 5 * 6
        assert set(lfw_templates.y[test].tolist()) == set(subjects.tolist())
        # Only the drawn subjects are enrolled, so no probe can be given another one.
        assert set(predicted.tolist()) <= set(subjects.tolist())
    again = evaluate_scface(
        FusedNearestNeighborIdentifier(), lfw_templates, protocol="rrssv", n_subjects=5, n_repeats=6, random_state=1
    )
    np.testing.assert_array_equal(again.scores, result.scores)


def test_features_computed_once_give_the_same_scores_as_a_full_pipeline_per_split(lfw_set):
    lfw_set = lfw_set.three_cameras
    keep = (lfw_set.probe_distances == 1) & (lfw_set.probe_subjects <= 4)
    small = Bunch(
        X=lfw_set.X[:4] + [p for p, k in zip(lfw_set.probe_images, keep) if k],
        y=np.concatenate([lfw_set.gallery_subjects[:4], lfw_set.probe_subjects[keep]]),
        roles=np.array(["gallery"] * 4 + ["probe"] * 12),
        probe_distances=np.ones(12, int),
    )
    settings = dict(protocol="rrssv", n_subjects=2, n_repeats=2, random_state=0)
    shared = evaluate_scface(FusedNearestNeighborIdentifier(), small, features=_features(), **settings)
    full = evaluate_scface(make_pipeline(_features(), FusedNearestNeighborIdentifier()), small, **settings)
    np.testing.assert_array_equal(shared.scores, full.scores)
    for a, b in zip(shared.predictions, full.predictions):
        np.testing.assert_array_equal(a, b)


def test_protocol_errors_are_named():
    data = Bunch(X=np.eye(4), y=np.array([0, 1, 0, 1]), roles=np.array(["gallery"] * 2 + ["probe"] * 2),
                 probe_distances=np.array([1, 1]))
    identifier = FusedNearestNeighborIdentifier()

    def changed(**fields):
        return Bunch(**{**data, **fields})

    with pytest.raises(ValueError, match="protocol='half'; expected one of"):
        evaluate_scface(identifier, data, protocol="half")
    with pytest.raises(ValueError, match=r"data lacks \['roles'\]; expected the Bunch returned by load_scface"):
        evaluate_scface(identifier, Bunch(X=data.X, y=data.y, probe_distances=[1, 1]))
    with pytest.raises(ValueError, match=r"data.roles\[1\] is 'train'"):
        evaluate_scface(identifier, changed(roles=np.array(["gallery", "train", "probe", "probe"])))
    with pytest.raises(ValueError, match="0 probe samples"):
        evaluate_scface(identifier, changed(roles=np.array(["gallery"] * 4), probe_distances=[]))
    with pytest.raises(ValueError, match=r"probe_distances has shape \(3,\)"):
        evaluate_scface(identifier, changed(probe_distances=[1, 1, 1]))
    with pytest.raises(ValueError, match="n_subjects=3 but 2 subjects"):
        evaluate_scface(identifier, data, protocol="rrssv", n_subjects=3)


@pytest.mark.slow
@pytest.mark.parametrize("detector", ["dlib", "scrfd", "yunet", None])
def test_cropping_is_what_makes_the_synthetic_set_identifiable(lfw_set, detector):
    """Rank-1 on the LFW-built set (8 subjects, 5 cameras, 2 distances) with each detector and without cropping.

    Run with ``pytest tests/test_scface.py -m slow -s`` to see the figures.
    """
    if detector is None:
        features = TemplateExtractor()
    else:
        model = {"dlib": None, "scrfd": "models/scrfd_2.5g_bnkps.onnx", "yunet": "models/yunet.onnx"}[detector]
        cropper = FaceCropper(detector, model=None if model is None else shared_path(model),
                              detection_size=640 if detector == "dlib" else None)
        features = make_pipeline(cropper, TemplateExtractor())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = evaluate_scface(FusedNearestNeighborIdentifier(), lfw_set.all_cameras, features=features)
    by_distance = {d: round(float(r[0]), 3) for d, r in result.by_distance.items()}
    print(f"\n{detector or 'no cropping'}: rank-1 {result.scores[0]:.3f}, by distance {by_distance}")
    if detector is None:
        assert result.scores[0] < 0.4
    else:
        assert result.scores[0] >= 0.8
