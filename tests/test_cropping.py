"""FaceCropper: real LFW faces pasted at known places are found and cropped 1.3× enlarged."""

import pickle
import shutil
import warnings

import cv2
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from skmitm import FaceCropper, load_image
from skmitm._param_validation import InvalidParameterError
from skmitm.datasets import LFW_CROP

from conftest import shared_path

FACE = "Aaron_Peirsol/Aaron_Peirsol_0001.jpg"
CANVAS = (480, 640)


def _detector(name):
    """A FaceCropper for detector ``name``, skipping when its model file is absent."""
    if name == "dlib":
        return FaceCropper("dlib")
    file = {"scrfd": "scrfd_2.5g_bnkps.onnx", "yunet": "yunet.onnx"}[name]
    return FaceCropper(name, model=shared_path(f"models/{file}"))


def _paste(face, top, left, *, canvas=CANVAS, seed=0):
    """``face`` on a noisy grey canvas at (top, left); returns the image and the known face box."""
    rng = np.random.default_rng(seed)
    image = rng.integers(70, 110, (*canvas, 3), dtype=np.uint8)
    h, w = face.shape[:2]
    image[top : top + h, left : left + w] = face
    scale = h / 250
    x0, y0, x1, y1 = LFW_CROP
    return image, np.array([left + x0 * scale, top + y0 * scale, left + x1 * scale, top + y1 * scale])


def _iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


@pytest.fixture(scope="module")
def face():
    return load_image(shared_path(f"data/lfw-deepfunneled/{FACE}"))


@pytest.mark.parametrize("name", ["dlib", "scrfd", "yunet"])
def test_pasted_face_is_found_and_cropped_enlarged(face, name):
    cropper = _detector(name).fit()
    places = [(100, 300), (200, 40)]
    images, truths = zip(*(_paste(face, top, left) for top, left in places))
    found = cropper.detect(images)
    assert found.found.all()
    for box, truth in zip(found.boxes, truths):
        assert _iou(box, truth) > 0.5, (box, truth)
    # The detector sees the same pixels, shifted: its box moves with the face, up to
    # the detector's grid (dlib's HOG cells are 8 pixels).
    shift = np.array([places[1][1] - places[0][1], places[1][0] - places[0][0]] * 2)
    np.testing.assert_allclose(found.boxes[1] - found.boxes[0], shift, atol=8 if name == "dlib" else 3)

    crops = cropper.transform(images)
    for image, crop, box, crop_box in zip(images, crops, found.boxes, found.crop_boxes):
        height, width = 1.3 * (box[3] - box[1]), 1.3 * (box[2] - box[0])
        assert crop.shape == (crop_box[3] - crop_box[1], crop_box[2] - crop_box[0], 3)
        assert abs(crop.shape[0] - height) <= 1 and abs(crop.shape[1] - width) <= 1
        # Centred on the detection, holding the whole detected box with a margin.
        np.testing.assert_allclose((crop_box[:2] + crop_box[2:]) / 2, (box[:2] + box[2:]) / 2, atol=1)
        assert (crop_box[:2] <= box[:2]).all() and (crop_box[2:] >= box[2:]).all()
        x0, y0, x1, y1 = crop_box
        np.testing.assert_array_equal(crop, image[y0:y1, x0:x1])
    assert cropper.detect(images).found.tolist() == [True, True]


@pytest.mark.parametrize("name", ["dlib", "scrfd", "yunet"])
def test_score_threshold_drops_weaker_detections(face, name):
    image, _ = _paste(face, 100, 300)
    cropper = _detector(name).fit()
    score = cropper.detect([image]).scores[0]
    assert score >= cropper.score_threshold_
    assert cropper.set_params(score_threshold=score - 0.05).fit().detect([image]).found[0]
    assert not cropper.set_params(score_threshold=score + 0.05).fit().detect([image]).found[0]


def test_square_crops_on_the_longer_side_and_output_size_resizes(face):
    image, _ = _paste(face, 100, 300)
    cropper = _detector("yunet").fit()
    box = cropper.detect([image]).boxes[0]
    assert cropper.transform([image])[0].shape[0] > cropper.transform([image])[0].shape[1]  # YuNet boxes are tall
    square = cropper.set_params(square=True).fit().transform([image])[0]
    side = 1.3 * max(box[2] - box[0], box[3] - box[1])
    assert square.shape[0] == square.shape[1] and abs(square.shape[0] - side) <= 1
    assert cropper.set_params(output_size=(40, 30)).fit().transform([image])[0].shape == (40, 30, 3)
    assert FaceCropper(output_size=64).fit().transform([image])[0].shape == (64, 64, 3)


def test_enlarge_scales_the_crop(face):
    image, _ = _paste(face, 100, 300)
    tight, loose = (FaceCropper(enlarge=e).fit().transform([image])[0] for e in (1.0, 2.0))
    assert abs(loose.shape[0] - 2 * tight.shape[0]) <= 2


def test_box_past_the_border_replicates_edges(face):
    image, _ = _paste(face, 100, 300)
    cropper = FaceCropper().fit()
    left, top = cropper.detect([image]).crop_boxes[0][:2]
    # Cut the frame inside the crop margin: the face stays whole, its enlarged box now starts outside.
    edge = np.ascontiguousarray(image[top + 8 :, left + 8 :])
    found = cropper.detect([edge])
    x0, y0, x1, y1 = found.crop_boxes[0]
    assert found.found[0] and x0 < 0 and y0 < 0
    crop = cropper.transform([edge])[0]
    assert crop.shape[:2] == (y1 - y0, x1 - x0)
    np.testing.assert_array_equal(crop[-y0:, -x0:], edge[:y1, :x1])
    np.testing.assert_array_equal(crop[: -y0, -x0:], np.broadcast_to(edge[0, :x1], crop[: -y0, -x0:].shape))
    np.testing.assert_array_equal(crop[-y0:, : -x0], np.broadcast_to(edge[:y1, :1], crop[-y0:, : -x0].shape))


def test_detection_size_finds_small_faces_for_dlib(face):
    small = cv2.resize(face, (110, 110), interpolation=cv2.INTER_AREA)
    image, truth = _paste(small, 60, 90, canvas=(240, 320))
    assert not FaceCropper().fit().detect([image]).found[0]
    found = FaceCropper(detection_size=960).fit().detect([image])
    assert found.found[0] and _iou(found.boxes[0], truth) > 0.5


def test_select_picks_the_largest_or_the_best_face(face, lfw_dir):
    other = load_image(lfw_dir / "Al_Gore/Al_Gore_0001.jpg")
    other = cv2.resize(other, (190, 190), interpolation=cv2.INTER_AREA)
    image, big_truth = _paste(face, 100, 350)
    image[150:340, 30:220] = other
    small_truth = np.array([30 + 62 * 0.76, 150 + 55 * 0.76, 30 + 188 * 0.76, 150 + 181 * 0.76])
    cropper = FaceCropper().fit()
    alone = [cropper.detect([_paste(f, *at)[0]]).scores[0] for f, at in ((face, (100, 350)), (other, (150, 30)))]
    largest = cropper.set_params(select="largest").fit().detect([image]).boxes[0]
    assert _iou(largest, big_truth) > 0.5
    best = cropper.set_params(select="score").fit().detect([image]).boxes[0]
    assert _iou(best, big_truth if alone[0] > alone[1] else small_truth) > 0.5


class _TwoFaces:
    """A stand-in detector: a big face with a low score and a small face with a high score."""

    BIG, SMALL = [20.0, 30.0, 220.0, 250.0], [300.0, 40.0, 350.0, 100.0]

    def detect(self, rgb, threshold):
        return np.array([self.BIG, self.SMALL]), np.array([0.6, 0.95])


@pytest.mark.parametrize("select, expected, score", [("score", _TwoFaces.SMALL, 0.95), ("largest", _TwoFaces.BIG, 0.6)])
def test_select_by_score_is_not_select_by_size(select, expected, score):
    cropper = FaceCropper(select=select).fit()
    cropper.detector_ = _TwoFaces()
    found = cropper.detect([np.zeros((300, 400, 3), np.uint8)])
    np.testing.assert_array_equal(found.boxes[0], expected)
    assert found.scores[0] == score


def test_no_face_falls_back_with_a_flag_or_raises(face):
    blank = np.full((120, 200, 3), 128, np.uint8)
    image, _ = _paste(face, 100, 300)
    cropper = FaceCropper().fit()
    with pytest.warns(UserWarning, match=r"no face found in 1 of 2 images \(X\[1\]\); kept the whole image"):
        crops = cropper.transform([image, blank])
    assert not hasattr(cropper, "found_")  # transform leaves the fitted state alone
    assert cropper.detect([image, blank]).found.tolist() == [True, False]
    np.testing.assert_array_equal(crops[1], blank)

    centre = FaceCropper(on_missing="centre").fit()
    with pytest.warns(UserWarning, match="central square"):
        crop = centre.transform([blank])[0]
    assert crop.shape == (120, 120, 3)
    assert np.isnan(centre.detect([blank]).boxes).all()

    strict = FaceCropper(on_missing="error").fit()
    with pytest.raises(ValueError, match=r"X\[1\]: no face found by the dlib detector"):
        strict.transform([image, blank])
    assert not hasattr(strict, "found_")


def test_paths_and_arrays_give_the_same_crops(face, tmp_path):
    image, _ = _paste(face, 100, 300)
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), image[:, :, ::-1])
    cropper = FaceCropper().fit()
    np.testing.assert_array_equal(cropper.transform([str(path)])[0], cropper.transform([image])[0])


@pytest.mark.parametrize("name", ["dlib", "scrfd"])
def test_pickled_cropper_crops_the_same(face, name):
    image, _ = _paste(face, 100, 300)
    cropper = _detector(name).fit()
    again = pickle.loads(pickle.dumps(cropper))
    np.testing.assert_array_equal(again.transform([image])[0], cropper.transform([image])[0])


def test_known_detector_files_are_checked_by_sha256(tmp_path):
    real = shared_path("models/yunet.onnx")
    fitted = FaceCropper("yunet", model=real).fit()
    assert fitted.model_sha256_ == "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"
    fake = tmp_path / "yunet.onnx"
    fake.write_bytes(b"not a network")
    with pytest.raises(ValueError, match="has SHA-256 .*; expected ebafce4e"):
        FaceCropper("yunet", model=fake).fit()
    with pytest.raises(ValueError, match="could not be loaded as a yunet detector"):
        FaceCropper("yunet", model=fake, model_sha256=False).fit()
    renamed = tmp_path / "my_yunet.onnx"
    shutil.copy(real, renamed)
    assert FaceCropper("yunet", model=renamed).fit().model_sha256_ == fitted.model_sha256_
    with pytest.raises(ValueError, match="has SHA-256"):
        FaceCropper("yunet", model=renamed, model_sha256="0" * 64).fit()


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"detector": "mtcnn"}, ValueError, "detector='mtcnn'; expected one of"),
        ({"detector": "scrfd"}, ValueError, "needs model=<path of its ONNX file>"),
        ({"model": "x.onnx"}, ValueError, "takes no model file"),
        ({"detector": "yunet", "model": "/nonexistent/yunet.onnx"}, FileNotFoundError, "no yunet detector file"),
        ({"enlarge": 0}, ValueError, r"enlarge=0; expected a real number in \(0, inf\)"),
        ({"enlarge": "1.3"}, InvalidParameterError, "enlarge='1.3'"),
        ({"detection_size": "64"}, InvalidParameterError, "detection_size='64'"),
        ({"square": "yes"}, TypeError, "square='yes'"),
        ({"score_threshold": "high"}, TypeError, "score_threshold='high'"),
        ({"detection_size": 10}, ValueError, "detection_size=10"),
        ({"select": "first"}, ValueError, "select='first'"),
        ({"on_missing": "skip"}, ValueError, "on_missing='skip'"),
        ({"output_size": (0, 3)}, ValueError, r"output_size=\(0, 3\)"),
        ({"model_sha256": 5}, TypeError, "model_sha256=5"),
    ],
)
def test_bad_parameters_are_named_in_fit(params, error, match):
    cropper = FaceCropper().set_params(**params)
    with pytest.raises(error, match=match):
        cropper.fit()
    assert not hasattr(cropper, "detector_")


def test_bad_images_are_named():
    cropper = FaceCropper().fit()
    with pytest.raises(ValueError, match=r"X\[1\] has shape \(24, 24, 4\); expected H×W×3 RGB uint8"):
        cropper.transform([np.zeros((24, 24, 3), np.uint8), np.zeros((24, 24, 4), np.uint8)])
    with pytest.raises(FileNotFoundError, match=r"X\[0\]: no image file"):
        cropper.transform(["/nonexistent/frame.jpg"])
    with pytest.raises(NotFittedError):
        FaceCropper().transform([np.zeros((24, 24, 3), np.uint8)])


@pytest.mark.parametrize(
    "check",
    [check_get_params_invariance, check_set_params, check_no_attributes_set_in_init, check_parameters_default_constructible],
    ids=lambda c: c.__name__,
)
def test_parameter_checks(check):
    check("FaceCropper", FaceCropper())


def test_clone_and_tags():
    cropper = FaceCropper("yunet", model="m.onnx", enlarge=1.5)
    assert clone(cropper).get_params() == cropper.get_params()
    tags = cropper.__sklearn_tags__()
    assert not tags.input_tags.two_d_array and tags.input_tags.string
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FaceCropper().fit()
