"""Face detection and cropping: :class:`FaceCropper`, the first step on raw photos and frames.

The paper detects the face in every SCFace image and crops the detected box
enlarged 1.3×. :class:`FaceCropper` does that with one of three detectors:
dlib's HOG frontal face detector (shipped inside dlib, no weights file),
insightface's SCRFD or OpenCV's YuNet (ONNX files given by path; nothing is
ever downloaded).
"""

import math
import os
import warnings
from numbers import Integral, Real

import cv2
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from ._backends import file_sha256
from ._base import ImageTransformerMixin
from ._degradation import match_resolution
from ._param_validation import InvalidParameterError, Interval, Options, ParamValidationMixin, StrOptions, check_size
from ._validation import check_images

__all__ = ["DETECTORS", "KNOWN_DETECTOR_MODELS", "FaceCropper"]

#: Detector backends of :class:`FaceCropper`.
DETECTORS = ("dlib", "scrfd", "yunet")

#: SHA-256 of the detector files skmitm knows, by file name: a file of one of
#: these names must have this content unless ``model_sha256=False``.
KNOWN_DETECTOR_MODELS = {
    # insightface SCRFD-2.5G with 5 landmarks (batch-normalised), as in its model zoo.
    "scrfd_2.5g_bnkps.onnx": "bc24bb349491481c3ca793cf89306723162c280cb284c5a5e49df3760bf5c2ce",
    # OpenCV zoo YuNet, the file cv2.FaceDetectorYN loads.
    "yunet.onnx": "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0",
}

# Each library's own default: dlib reports detections with a positive SVM
# margin, insightface's SCRFD keeps scores above 0.5, cv2.FaceDetectorYN.create
# defaults to 0.9.
_DEFAULT_THRESHOLDS = {"dlib": 0.0, "scrfd": 0.5, "yunet": 0.9}
_ON_MISSING = ("whole", "centre", "error")
_SELECT = ("score", "largest")
_NMS_THRESHOLD = 0.3


class _Detector:
    """A picklable detector: the live object is dropped on pickling and rebuilt on first use."""

    def __init__(self, path):
        self.path = path
        self._live = None

    def __getstate__(self):
        return {"path": self.path, "_live": None}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def detect(self, rgb, threshold):
        """Boxes (n, 4) as (x0, y0, x1, y1) and scores (n,) of the faces in an RGB image."""
        boxes, scores, _ = self.locate(rgb, threshold)
        return boxes, scores


class _DlibDetector(_Detector):
    def locate(self, rgb, threshold):
        """Boxes, scores and five landmarks (n, 5, 2), None where the detector gives none (dlib)."""
        import dlib

        if self._live is None:
            self._live = dlib.get_frontal_face_detector()
        rects, scores, _ = self._live.run(rgb, 0, threshold)
        boxes = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], dtype=np.float64)
        return boxes.reshape(-1, 4), np.asarray(scores, dtype=np.float64), None


class _ScrfdDetector(_Detector):
    def locate(self, rgb, threshold):
        if self._live is None:
            import onnxruntime as ort
            from insightface.model_zoo.scrfd import SCRFD

            session = ort.InferenceSession(self.path, providers=["CPUExecutionProvider"])
            self._live = SCRFD(self.path, session=session)
            self._live.prepare(-1)
        height, width = rgb.shape[:2]
        # SCRFD's strides need multiples of 32; insightface letterboxes the
        # image into this size, so detection runs at the image's own scale.
        size = (32 * math.ceil(width / 32), 32 * math.ceil(height / 32))
        # insightface 0.7 reads the threshold from this attribute only (later versions also take det_thresh=).
        self._live.det_thresh = threshold
        det, kps = self._live.detect(np.ascontiguousarray(rgb[:, :, ::-1]), input_size=size)
        # The bnkps models' five keypoints: eyes, nose tip, mouth corners, image-left first.
        landmarks = np.asarray(kps, dtype=np.float64).reshape(-1, 5, 2)
        return det[:, :4].astype(np.float64), det[:, 4].astype(np.float64), landmarks


class _YunetDetector(_Detector):
    def locate(self, rgb, threshold):
        height, width = rgb.shape[:2]
        if self._live is None:
            try:
                self._live = cv2.FaceDetectorYN.create(self.path, "", (width, height), threshold, _NMS_THRESHOLD, 5000)
            except cv2.error as error:
                raise ValueError(f"detector model {self.path!r} cannot be loaded by OpenCV (corrupt or not a YuNet "
                                 f"model): {' '.join(str(error).split())}") from None
        self._live.setInputSize((width, height))
        self._live.setScoreThreshold(float(threshold))
        _, faces = self._live.detect(np.ascontiguousarray(rgb[:, :, ::-1]))
        if faces is None:
            return np.empty((0, 4)), np.empty(0), np.empty((0, 5, 2))
        x, y, w, h = (faces[:, i].astype(np.float64) for i in range(4))
        # Columns 4..13: the eyes, nose tip and mouth corners, image-left first (as SCRFD's).
        landmarks = faces[:, 4:14].astype(np.float64).reshape(-1, 5, 2)
        return np.stack([x, y, x + w, y + h], axis=1), faces[:, -1].astype(np.float64), landmarks


_DETECTOR_CLASSES = {"dlib": _DlibDetector, "scrfd": _ScrfdDetector, "yunet": _YunetDetector}


def _enlarged_box(box, enlarge, square):
    """Integer (x0, y0, x1, y1) of ``box`` scaled ``enlarge``× about its centre (a square on the longer side)."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = x1 - x0, y1 - y0
    if square:
        w = h = max(w, h)
    w, h = max(1, round(enlarge * w)), max(1, round(enlarge * h))
    left, top = round(cx - w / 2), round(cy - h / 2)
    return np.array([left, top, left + w, top + h], dtype=np.int64)


def _cut(image, box):
    """The pixels of ``box`` (which may reach outside the image), edges replicated outside it."""
    x0, y0, x1, y1 = (int(v) for v in box)
    height, width = image.shape[:2]
    pad = max(0, -x0, -y0, x1 - width, y1 - height)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(image[y0 + pad : y1 + pad, x0 + pad : x1 + pad])


def check_detector_params(detector, model, model_sha256):
    """Raise a clear error for a detector name, model file or SHA-256 of the wrong kind."""
    if detector not in DETECTORS:
        raise InvalidParameterError(f"detector={detector!r}; expected one of {DETECTORS}")
    if detector == "dlib":
        if model is not None:
            raise InvalidParameterError("detector='dlib' is built into dlib and takes no model file; leave model=None")
    elif not isinstance(model, (str, os.PathLike)):
        raise InvalidParameterError(f"detector={detector!r} needs model=<path of its ONNX file>; got {model!r}")
    if not (model_sha256 is None or model_sha256 is False or isinstance(model_sha256, str)):
        raise InvalidParameterError(f"model_sha256={model_sha256!r}; expected None, False or a hex SHA-256 string")


def load_detector(detector_name, model, model_sha256, score_threshold):
    """Load a detector (its file checked against its SHA-256) and build it once on a blank image.

    Returns the detector, the file's absolute path and SHA-256 (None for dlib)
    and the score threshold in use.
    """
    path = sha256 = None
    if detector_name != "dlib":
        path = os.path.abspath(os.fspath(model))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model: no {detector_name} detector file at {path!r}")
        sha256 = file_sha256(path)
        expected = model_sha256
        if expected is None:
            expected = KNOWN_DETECTOR_MODELS.get(os.path.basename(path))
        if expected is not False and expected is not None and sha256 != expected.lower():
            raise ValueError(
                f"model {path!r} has SHA-256 {sha256}; expected {expected}. The file is corrupt or another "
                "version: replace it, or pass model_sha256=False to use it unchecked"
            )
    detector = _DETECTOR_CLASSES[detector_name](path)
    threshold = _DEFAULT_THRESHOLDS[detector_name] if score_threshold is None else float(score_threshold)
    # Build the live detector now, so a file the library cannot load fails in fit, not mid-transform.
    try:
        detector.detect(np.zeros((64, 64, 3), np.uint8), threshold)
    except Exception as exc:
        if path is None:
            raise
        raise ValueError(f"model {path!r} could not be loaded as a {detector_name} detector: {exc}") from exc
    return detector, path, sha256, threshold


class FaceCropper(ImageTransformerMixin, ParamValidationMixin, BaseEstimator):
    """Detect the face in each image and crop its box enlarged 1.3×.

    The same step serves gallery photos and probe frames: ``fit`` only loads
    the detector, and ``transform`` crops every image it is given, so in a
    pipeline it acts alike on the gallery (``fit``) and on the probes
    (``predict``/``score``). Where several faces are found, one is kept (see
    ``select``); where none is, ``on_missing`` decides.

    Parameters
    ----------
    detector : {"dlib", "scrfd", "yunet"}, default="dlib"
        ``"dlib"``: dlib's HOG + linear SVM frontal face detector, built into
        dlib (no weights file, works offline); it finds frontal faces of
        about 80 pixels and larger. ``"scrfd"``: insightface's SCRFD ONNX
        detector (needs ``model``). ``"yunet"``: OpenCV's YuNet ONNX detector
        through ``cv2.FaceDetectorYN`` (needs ``model``).
    model : str or path, default=None
        The ONNX file of the ``"scrfd"`` or ``"yunet"`` detector, e.g.
        ``scrfd_2.5g_bnkps.onnx`` from insightface's model zoo or
        ``face_detection_yunet_2023mar.onnx`` from OpenCV's. Must be None for
        ``"dlib"``.
    model_sha256 : str, None or False, default=None
        Expected SHA-256 of ``model``. None: checked when the file name is in
        :data:`KNOWN_DETECTOR_MODELS`, not otherwise. A hex string: the file
        must have it. False: not checked.
    enlarge : float, default=1.3
        Factor by which the detected box grows about its centre before
        cropping (1.3 in the paper).
    square : bool, default=False
        False: width and height are each enlarged, keeping the detector's
        aspect ratio, as the paper does (its MTCNN crops of SCFace probes
        average 22×29 pixels at 4.2 m). SCRFD's and YuNet's boxes are about
        three quarters as wide as tall; dlib's are square. True: the crop is
        a square whose side is ``enlarge`` times the longer side of the box.
    score_threshold : float, default=None
        Detections scoring below it are discarded. None: the library's own
        default — 0.0 for dlib (its SVM margin), 0.5 for SCRFD
        (insightface), 0.9 for YuNet (OpenCV).
    detection_size : int, default=None
        Longer side, in pixels, that each image is resized to before
        detection; boxes are mapped back to the original image, and the crop
        is always cut from the original. None: detect at the image's own
        size. Raise it to find small faces with dlib; lower it to speed up
        detection on large photos.
    select : {"score", "largest"}, default="score"
        Which face to keep when several are found: the highest-scoring one or
        the one with the largest box.
    on_missing : {"whole", "centre", "error"}, default="whole"
        When no face is found: ``"whole"`` keeps the whole image, ``"centre"``
        keeps its central square (side = the shorter image side), ``"error"``
        raises a ValueError naming the image. With ``"whole"`` and
        ``"centre"`` a warning names the images; :meth:`detect` tells which.
    output_size : int or (int, int), default=None
        Size the crops are resized to: an int gives a square, a pair is
        (height, width). None keeps each crop at its own size.

    Attributes
    ----------
    detector_ : object
        The loaded detector (picklable; the live detector is rebuilt lazily).
    model_path_ : str or None
        Absolute path of the detector file (None for dlib).
    model_sha256_ : str or None
        SHA-256 of the detector file (None for dlib).
    score_threshold_ : float
        The threshold in use.

    See Also
    --------
    skmitm.datasets.load_scface : SCFace, whose images this step crops.

    Notes
    -----
    Detectors draw boxes differently: dlib's box runs from the eyebrows to the
    chin, SCRFD's and YuNet's include the forehead, so the same ``enlarge``
    gives somewhat looser crops with the ONNX detectors. Where an enlarged box
    reaches past the image border, the edge pixels are replicated, so the face
    stays at the centre of the crop.

    ``transform`` leaves the estimator as ``fit`` left it; :meth:`detect`
    returns the boxes, scores and found flags of any batch.
    :class:`~skmitm.FaceAligner` adds five-landmark alignment to the face
    network's layout and cuts tiny faces at their native resolution.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import FaceCropper
    >>> blank = np.full((120, 160, 3), 127, np.uint8)
    >>> cropper = FaceCropper(on_missing="centre", output_size=64).fit([blank])
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     crops = cropper.transform([blank])
    >>> crops[0].shape, cropper.detect([blank]).found.tolist()
    ((64, 64, 3), [False])
    """

    _parameter_constraints = {
        "detector": [StrOptions(set(DETECTORS))],
        # None for dlib, a path for the ONNX detectors: checked against detector in fit.
        "model": [None, str, os.PathLike],
        "model_sha256": [None, Options(bool, {False}), str],
        "enlarge": [Interval(Real, 0, None, closed="neither")],
        "square": ["boolean"],
        "score_threshold": [None, Interval(Real, None, None)],
        "detection_size": [None, Interval(Integral, 32, None, closed="left")],
        "select": [StrOptions(set(_SELECT))],
        "on_missing": [StrOptions(set(_ON_MISSING))],
        # A side or a (height, width) pair, checked in fit.
        "output_size": [None, Interval(Integral, 1, None, closed="left"), tuple, list],
    }

    def __init__(
        self,
        detector="dlib",
        *,
        model=None,
        model_sha256=None,
        enlarge=1.3,
        square=False,
        score_threshold=None,
        detection_size=None,
        select="score",
        on_missing="whole",
        output_size=None,
    ):
        self.detector = detector
        self.model = model
        self.model_sha256 = model_sha256
        self.enlarge = enlarge
        self.square = square
        self.score_threshold = score_threshold
        self.detection_size = detection_size
        self.select = select
        self.on_missing = on_missing
        self.output_size = output_size


    def fit(self, X=None, y=None):
        """Check the parameters and load the detector (and verify its file).

        Parameters
        ----------
        X : ignored
            Accepted for pipelines; the cropper learns nothing from data.
        y : ignored

        Returns
        -------
        self : FaceCropper
        """
        self._check_params()
        detector, path, sha256, threshold = load_detector(self.detector, self.model, self.model_sha256,
                                                          self.score_threshold)
        self.detector_ = detector
        self.model_path_ = path
        self.model_sha256_ = sha256
        self.score_threshold_ = threshold
        return self

    def _check_params(self):
        self._validate_params()
        check_detector_params(self.detector, self.model, self.model_sha256)
        _output_size(self.output_size)

    def _detect_one(self, image):
        """The kept face's box in image coordinates and its score, or (None, nan)."""
        scale = 1.0
        search = image
        if self.detection_size is not None:
            scale = self.detection_size / max(image.shape[:2])
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            search = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        boxes, scores = self.detector_.detect(search, self.score_threshold_)
        if len(scores) == 0:
            return None, np.nan
        if self.select == "score":
            best = int(np.argmax(scores))
        else:
            best = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
        return boxes[best] / scale, float(scores[best])

    def detect(self, X):
        """Find the face in each image and the box that would be cropped.

        Parameters
        ----------
        X : sequence of images or paths, or ndarray of shape (n, H, W, 3)
            H×W×3 uint8 RGB images (greyscale is promoted) or image files.

        Returns
        -------
        detections : :class:`~sklearn.utils.Bunch`
            ``boxes`` (n, 4) float, the kept face box as (x0, y0, x1, y1)
            with exclusive ends, NaN where none was found; ``scores`` (n,),
            NaN where none; ``found`` (n,) bool; ``crop_boxes`` (n, 4) int,
            the region each crop is cut from (it may reach outside the
            image), following ``on_missing`` where no face was found.
        """
        check_is_fitted(self)
        images = check_images(X, name="X")
        return self._detect_all(images)

    def _detect_all(self, images):
        n = len(images)
        boxes = np.full((n, 4), np.nan)
        scores = np.full(n, np.nan)
        crop_boxes = np.zeros((n, 4), dtype=np.int64)
        for i, image in enumerate(images):
            box, score = self._detect_one(image)
            height, width = image.shape[:2]
            if box is not None:
                boxes[i], scores[i] = box, score
                crop_boxes[i] = _enlarged_box(box, self.enlarge, self.square)
            elif self.on_missing == "error":
                raise ValueError(
                    f"X[{i}]: no face found by the {self.detector} detector (score threshold "
                    f"{self.score_threshold_}); expected one face, or pass on_missing='whole' or 'centre'"
                )
            elif self.on_missing == "whole":
                crop_boxes[i] = (0, 0, width, height)
            else:
                side = min(width, height)
                left, top = (width - side) // 2, (height - side) // 2
                crop_boxes[i] = (left, top, left + side, top + side)
        return Bunch(boxes=boxes, scores=scores, found=~np.isnan(scores), crop_boxes=crop_boxes)

    def transform(self, X):
        """Crop the enlarged face box of each image.

        Parameters
        ----------
        X : as :meth:`detect` takes it
            The photos or frames to crop.

        Returns
        -------
        crops : list of ndarray of shape (h, w, 3), dtype uint8
            One crop per image, of ``output_size`` when it is set.
        """
        check_is_fitted(self)
        images = check_images(X, name="X")
        detections = self._detect_all(images)
        size = _output_size(self.output_size)
        crops = []
        for image, box in zip(images, detections.crop_boxes):
            crop = _cut(image, box)
            crops.append(crop if size is None else match_resolution(crop, size))
        missing = np.flatnonzero(~detections.found)
        if len(missing):
            shown = ", ".join(f"X[{i}]" for i in missing[:10]) + (" …" if len(missing) > 10 else "")
            kept = "whole image" if self.on_missing == "whole" else "central square"
            warnings.warn(
                f"no face found in {len(missing)} of {len(images)} images ({shown}); kept the {kept}",
                UserWarning,
                stacklevel=2,
            )
        return crops


def _output_size(output_size):
    """(height, width) or None, from an int, a pair or None."""
    return None if output_size is None else check_size(output_size, "output_size")
