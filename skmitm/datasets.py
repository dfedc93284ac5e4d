"""Datasets: LFW-style folders and the public cross-resolution benchmark.

The public benchmark is built from Labeled Faces in the Wild: the 423 people
with at least five images are evaluation subjects; each one's first image is
the high-resolution gallery photo and its images 2–5 become low-resolution
probes through a seeded blur → area-downsample → noise → JPEG pipeline.
"""

import os
import re
from pathlib import Path

import cv2
import numpy as np
from sklearn.utils import Bunch

from ._scface import SCFACE_DISTANCES, evaluate_scface, load_scface
from ._io import list_images, list_subfolders, load_image
from ._validation import is_integer

__all__ = [
    "LFW_CROP",
    "LFW_CROPS",
    "SEVERITIES",
    "degrade_probe",
    "load_lfw_folder",
    "make_cross_resolution_benchmark",
    "make_synthetic_frame",
    "SCFACE_DISTANCES",
    "evaluate_scface",
    "load_scface",
]

#: The face box of a 250×250 (deep-)funneled LFW image: x 62…188, y 55…181
#: (126×126 pixels), as (x0, y0, x1, y1) with exclusive ends.
LFW_CROP = (62, 55, 188, 181)

#: Named face boxes of a 250×250 deep-funneled LFW image, (x0, y0, x1, y1):
#: ``"spec"`` is :data:`LFW_CROP`, the benchmark's box (fits the 112×112
#: ArcFace-style networks such as MobileFaceNet); ``"dlib"`` (116×116, lower
#: and tighter) is the mean box of dlib's ``get_face_chip(size=150,
#: padding=0.25)`` measured with dlib's detector and 5-point landmarks on the
#: first image of 200 LFW people, the framing dlib's ResNet was trained on.
LFW_CROPS = {"spec": LFW_CROP, "dlib": (68, 77, 184, 193)}

#: Probe synthesis settings: uniform ranges of the Gaussian blur sigma
#: (pixels of the high-resolution crop), the additive noise standard deviation
#: (0–255 scale) and the JPEG quality.
#: ``"other-camera"`` is another camera model altogether, kept out of every
#: training recipe of the package (super-resolution and template adapter), to
#: test generalisation: vertical motion blur (a line of ``motion_length``
#: high-resolution pixels), area downsampling, a Bayer (RGGB) mosaic
#: demosaiced bilinearly, signal-dependent shot noise (Poisson, full scale =
#: ``photons`` photons), and JPEG at ``jpeg_quality``.
SEVERITIES = {
    "moderate": {"blur_sigma": (0.5, 1.0), "noise_std": (1.0, 4.0), "jpeg_quality": (60, 90)},
    "harsh": {"blur_sigma": (0.8, 1.6), "noise_std": (2.0, 8.0), "jpeg_quality": (40, 80)},
    "other-camera": {"motion_length": (3, 9), "photons": (150, 600), "jpeg_quality": (50, 80)},
}

_LFW_NAME = re.compile(r"^(?P<subject>.+)_(?P<number>\d{4})\.jpe?g$", re.IGNORECASE)


def _scan_lfw(root):
    """{subject: [(number, path), ...] sorted} for every NAME/NAME_NNNN.jpg under root (symlinks followed)."""
    people = {}
    for folder in list_subfolders(root, name="LFW folder"):
        files = []
        for path in list_images(folder, name="LFW folder"):
            match = _LFW_NAME.match(path.name)
            if match and match["subject"] == folder.name:
                files.append((int(match["number"]), str(path)))
        if files:
            people[folder.name] = sorted(files)
    return people


def _default_lfw_root(data_home):
    """The folder of scikit-learn's cached LFW, fetching it on first use (needs internet)."""
    from sklearn.datasets import fetch_lfw_people, get_data_home

    root = Path(get_data_home(data_home)) / "lfw_home" / "lfw_funneled"
    if not root.is_dir():
        # scikit-learn downloads the funneled LFW into data_home; only its
        # image folder is used here, with our own crop.
        fetch_lfw_people(data_home=data_home, download_if_missing=True)
    if not root.is_dir():
        raise FileNotFoundError(f"scikit-learn's LFW fetcher left no image folder at {str(root)!r}")
    return root


def load_lfw_folder(
    path=None,
    *,
    min_images_per_subject=1,
    max_images_per_subject=None,
    max_images_in_folder=None,
    crop=True,
    data_home=None,
):
    """Load an LFW-style folder (``NAME/NAME_NNNN.jpg``) of face images.

    Parameters
    ----------
    path : str or os.PathLike, default=None
        The folder holding one sub-folder per person. When None, the LFW
        cached by scikit-learn under ``data_home`` is used, and fetched with
        :func:`sklearn.datasets.fetch_lfw_people` if it is not cached yet (this
        needs internet access; it is the funneled, not deep-funneled, LFW).
    min_images_per_subject : int, default=1
        Keep only people with at least this many images in the folder.
    max_images_per_subject : int, default=None
        Load at most this many images per person (the lowest numbers first).
        People are still selected by their total count.
    max_images_in_folder : int, default=None
        Keep only people with at most this many images in the folder (their
        total count, like ``min_images_per_subject``); the others' files are
        never read. ``4`` keeps out the public benchmark's evaluation people.
    crop : bool, {"spec", "dlib"} or tuple of 4 int, default=True
        The face box cut out of each 250×250 image: True or ``"spec"`` for
        the benchmark's 126×126 box :data:`LFW_CROP`, ``"dlib"`` for the box
        dlib's network expects (see :data:`LFW_CROPS`), an ``(x0, y0, x1, y1)``
        box, or False for the whole image.
    data_home : str or os.PathLike, default=None
        scikit-learn's data folder, used only when ``path`` is None.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``images`` (list of H×W×3 uint8 RGB arrays), ``subjects`` (ndarray of
        names), ``image_numbers`` (ndarray of int, the ``NNNN`` of each file),
        ``paths`` (list of str), ``crop`` (the box cut, or None); people
        sorted by name, images by number.

    Examples
    --------
    >>> import tempfile, os, cv2, numpy as np
    >>> from skmitm.datasets import load_lfw_folder
    >>> root = tempfile.mkdtemp()
    >>> for name, n in [("Ada_Lovelace", 2), ("Alan_Turing", 1)]:
    ...     os.makedirs(os.path.join(root, name))
    ...     for k in range(1, n + 1):
    ...         _ = cv2.imwrite(os.path.join(root, name, f"{name}_{k:04d}.jpg"),
    ...                         np.zeros((250, 250, 3), np.uint8))
    >>> lfw = load_lfw_folder(root, min_images_per_subject=2)
    >>> lfw.subjects.tolist(), lfw.images[0].shape
    (['Ada_Lovelace', 'Ada_Lovelace'], (126, 126, 3))
    """
    if not is_integer(min_images_per_subject) or min_images_per_subject < 1:
        raise ValueError(f"min_images_per_subject={min_images_per_subject!r}; expected an integer >= 1")
    if max_images_per_subject is not None and (
        not is_integer(max_images_per_subject) or max_images_per_subject < 1
    ):
        raise ValueError(f"max_images_per_subject={max_images_per_subject!r}; expected None or an integer >= 1")
    if max_images_in_folder is not None and (not is_integer(max_images_in_folder) or max_images_in_folder < 1):
        raise ValueError(f"max_images_in_folder={max_images_in_folder!r}; expected None or an integer >= 1")
    box = _crop_box(crop)
    root = Path(path) if path is not None else _default_lfw_root(data_home)
    if not root.is_dir():
        raise FileNotFoundError(f"LFW folder {str(root)!r} does not exist")
    people = _scan_lfw(root)
    if not people:
        raise ValueError(f"LFW folder {str(root)!r} holds no NAME/NAME_NNNN.jpg images")
    images, subjects, numbers, paths = [], [], [], []
    for subject in sorted(people):
        files = people[subject]
        if len(files) < min_images_per_subject or len(files) > (max_images_in_folder or len(files)):
            continue
        for number, file in files[:max_images_per_subject]:
            image = load_image(file, name=f"LFW image {file}")
            if box is not None:
                x0, y0, x1, y1 = box
                if image.shape[0] < y1 or image.shape[1] < x1:
                    raise ValueError(
                        f"LFW image {file} has shape {image.shape}; expected at least {y1}×{x1} for the face crop"
                    )
                image = np.ascontiguousarray(image[y0:y1, x0:x1])
            images.append(image)
            subjects.append(subject)
            numbers.append(number)
            paths.append(file)
    if not images:
        at_most = "" if max_images_in_folder is None else f" and at most {max_images_in_folder}"
        raise ValueError(
            f"no person in {str(root)!r} has at least {min_images_per_subject}{at_most} images"
        )
    return Bunch(images=images, subjects=np.asarray(subjects), image_numbers=np.asarray(numbers), paths=paths,
                 crop=box)


def _crop_box(crop):
    """The (x0, y0, x1, y1) box that ``crop`` names, or None for no crop."""
    if crop is False or crop is None:
        return None
    if crop is True:
        return LFW_CROP
    if isinstance(crop, str):
        if crop not in LFW_CROPS:
            raise ValueError(f"crop={crop!r}; expected one of {sorted(LFW_CROPS)}, a bool or an (x0, y0, x1, y1) box")
        return LFW_CROPS[crop]
    box = tuple(crop) if isinstance(crop, (tuple, list)) else None
    if box is None or len(box) != 4 or not all(is_integer(v) for v in box):
        raise ValueError(f"crop={crop!r}; expected a bool, one of {sorted(LFW_CROPS)} or an (x0, y0, x1, y1) "
                         "box of 4 integers")
    x0, y0, x1, y1 = (int(v) for v in box)
    if x0 < 0 or y0 < 0 or x1 <= x0 or y1 <= y0:
        raise ValueError(f"crop={crop!r}; expected 0 <= x0 < x1 and 0 <= y0 < y1")
    return x0, y0, x1, y1


def _severity_settings(severity):
    if isinstance(severity, str):
        if severity not in SEVERITIES:
            raise ValueError(f"severity={severity!r}; expected one of {sorted(SEVERITIES)} or a dict")
        return SEVERITIES[severity]
    if isinstance(severity, dict):
        recipe = "other-camera" if "photons" in severity else "moderate"
        missing = set(SEVERITIES[recipe]) - set(severity)
        if missing:
            raise ValueError(f"severity dict lacks {sorted(missing)}")
        return severity
    raise TypeError(f"severity={severity!r}; expected a name in {sorted(SEVERITIES)} or a dict")


def degrade_probe(image, *, size=24, severity="moderate", rng=None):
    """Turn a high-resolution face into a synthetic low-resolution probe.

    Gaussian blur (sigma drawn uniformly), area downsampling to ``size``,
    additive Gaussian noise (standard deviation drawn uniformly, 0–255 scale),
    then JPEG compression (quality drawn uniformly, integer).

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        The high-resolution RGB face.
    size : int or tuple of int, default=24
        Probe height and width in pixels (an int means a square probe).
    severity : {"moderate", "harsh", "other-camera"} or dict, default="moderate"
        Parameter ranges, see :data:`SEVERITIES`; ``"other-camera"`` is
        another recipe (see there).
    rng : numpy.random.Generator or int, default=None
        Source of the random parameters and noise.

    Returns
    -------
    probe : ndarray of shape (size, size, 3), dtype uint8

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm.datasets import degrade_probe
    >>> face = np.full((126, 126, 3), 128, np.uint8)
    >>> degrade_probe(face, size=24, rng=0).shape
    (24, 24, 3)
    """
    settings = _severity_settings(severity)
    rng = np.random.default_rng(rng)
    height, width = (size, size) if is_integer(size) else tuple(size)
    if "photons" in settings:
        small = _other_camera(image, height, width, settings, rng)
        return _jpeg(small, _quality(settings, rng))
    sigma = rng.uniform(*settings["blur_sigma"])
    noise_std = rng.uniform(*settings["noise_std"])
    quality = _quality(settings, rng)
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
    small = cv2.resize(blurred, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    small += rng.normal(0.0, noise_std, size=small.shape).astype(np.float32)
    return _jpeg(np.clip(np.rint(small), 0, 255).astype(np.uint8), quality)


def _quality(settings, rng):
    lo, hi = settings["jpeg_quality"]
    return int(rng.integers(lo, hi + 1))


def _jpeg(small, quality):
    """JPEG round trip at ``quality`` (the last step of every recipe)."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV failed to JPEG-encode a probe")
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _other_camera(image, height, width, settings, rng):
    """The ``"other-camera"`` model up to JPEG: vertical motion, area down, Bayer mosaic, shot noise."""
    lo, hi = settings["motion_length"]
    length = int(rng.integers(lo, hi + 1))
    kernel = np.full((length, 1), 1.0 / length, np.float32)  # vertical: the training motion is horizontal
    moved = cv2.filter2D(image.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    small = cv2.resize(moved, (width, height), interpolation=cv2.INTER_AREA)
    photons = rng.uniform(*settings["photons"])
    mosaic = np.empty((height, width), np.float32)  # RGGB: R at (even, even), G twice, B at (odd, odd)
    mosaic[0::2, 0::2] = small[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = small[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = small[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = small[1::2, 1::2, 2]
    counts = rng.poisson(np.clip(mosaic, 0, 255) / 255.0 * photons)
    raw = np.clip(np.rint(counts / photons * 255.0), 0, 255).astype(np.uint8)
    # OpenCV names Bayer patterns from the second row: RGGB starting at (0, 0) is its BayerBG.
    return np.ascontiguousarray(cv2.cvtColor(raw, cv2.COLOR_BayerBG2RGB))


def make_cross_resolution_benchmark(
    lfw=None,
    *,
    probe_size=24,
    severity="moderate",
    n_probes_per_subject=4,
    random_state=0,
    crop=True,
):
    """Build the public LFW cross-resolution benchmark.

    Subjects are the people with at least ``1 + n_probes_per_subject`` images.
    Each subject's first image is its gallery photo (the face crop, high
    resolution); its next ``n_probes_per_subject`` images become probes
    through :func:`degrade_probe`, seeded per probe from ``random_state`` and
    the probe's index, so any probe can be rebuilt alone.

    Parameters
    ----------
    lfw : str, os.PathLike, Bunch or None, default=None
        An LFW-style folder, the result of :func:`load_lfw_folder`, or None for
        scikit-learn's cached LFW.
    probe_size : int or tuple of int, default=24
        Probe height and width in pixels.
    severity : {"moderate", "harsh"} or dict, default="moderate"
        Probe degradation ranges, see :data:`SEVERITIES`.
    n_probes_per_subject : int, default=4
        Number of probe images per subject.
    random_state : int, default=0
        Seed of the probe synthesis.
    crop : bool, {"spec", "dlib"} or tuple of 4 int, default=True
        Face box cut from each LFW image when ``lfw`` is a folder or None, as
        :func:`load_lfw_folder` takes it (True: the benchmark's 126×126 box).
        Ignored when ``lfw`` is already loaded.

    Returns
    -------
    benchmark : :class:`~sklearn.utils.Bunch`
        ``gallery_images``, ``gallery_subjects``, ``probe_images``,
        ``probe_subjects``, ``hr_probe_images`` (the undegraded probe crops,
        for the high-resolution ceiling), ``probe_size``, ``severity`` and
        ``crop`` (the face box, when known).
    """
    if not is_integer(n_probes_per_subject) or n_probes_per_subject < 1:
        raise ValueError(f"n_probes_per_subject={n_probes_per_subject!r}; expected an integer >= 1")
    if not is_integer(random_state):
        raise ValueError(f"random_state={random_state!r}; expected an integer seed, so the benchmark is reproducible")
    _severity_settings(severity)
    need = 1 + n_probes_per_subject
    if lfw is None or isinstance(lfw, (str, os.PathLike)):
        lfw = load_lfw_folder(lfw, min_images_per_subject=need, max_images_per_subject=need, crop=crop)
    gallery_images, gallery_subjects, hr_probes, probe_subjects = [], [], [], []
    subjects = np.asarray(lfw.subjects)
    for subject in np.unique(subjects):
        index = np.flatnonzero(subjects == subject)
        if len(index) < need:
            continue
        gallery_images.append(lfw.images[index[0]])
        gallery_subjects.append(subject)
        for i in index[1:need]:
            hr_probes.append(lfw.images[i])
            probe_subjects.append(subject)
    if not gallery_images:
        raise ValueError(f"no subject has at least {need} images; cannot build the benchmark")
    probes = [
        degrade_probe(face, size=probe_size, severity=severity, rng=np.random.default_rng([random_state, i]))
        for i, face in enumerate(hr_probes)
    ]
    return Bunch(
        gallery_images=gallery_images,
        gallery_subjects=np.asarray(gallery_subjects),
        probe_images=probes,
        probe_subjects=np.asarray(probe_subjects),
        hr_probe_images=hr_probes,
        probe_size=probe_size,
        severity=severity,
        crop=lfw.get("crop") if hasattr(lfw, "get") else None,
    )


def make_synthetic_frame(images, *, size=(240, 320), random_state=None):
    """Paste images (faces, or whole photos holding a face) into a frame with a random, face-free background.

    The background is smooth random colour (noise drawn on a coarse grid and
    enlarged) under a few random rectangles, like clutter in a camera frame;
    the images are placed at random, without overlapping.

    Parameters
    ----------
    images : sequence of ndarray of shape (h, w, 3), dtype uint8
        What to paste, each at its own size.
    size : (int, int), default=(240, 320)
        Frame height and width.
    random_state : int or numpy.random.Generator, default=None

    Returns
    -------
    frame : ndarray of shape (height, width, 3), dtype uint8
    boxes : ndarray of shape (len(images), 4), dtype int
        Where each image lies, (x0, y0, x1, y1) with exclusive ends.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm.datasets import make_synthetic_frame
    >>> frame, boxes = make_synthetic_frame([np.zeros((30, 20, 3), np.uint8)], random_state=0)
    >>> frame.shape, (boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1])
    ((240, 320, 3), (np.int64(20), np.int64(30)))
    """
    rng = np.random.default_rng(random_state)
    height, width = size
    coarse = rng.uniform(0, 255, size=(max(2, height // 40), max(2, width // 40), 3)).astype(np.float32)
    frame = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(3, 9))):
        x0, x1 = np.sort(rng.integers(0, width, 2))
        y0, y1 = np.sort(rng.integers(0, height, 2))
        frame[y0:y1, x0:x1] = rng.uniform(0, 255, 3)
    frame = np.clip(frame + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8)
    boxes = np.zeros((len(images), 4), dtype=np.int64)
    for i, image in enumerate(images):
        h, w = image.shape[:2]
        if h > height or w > width:
            raise ValueError(f"images[{i}] is {w}×{h}; expected at most the frame's {width}×{height}")
        for _ in range(1000):
            x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            box = np.array([x, y, x + w, y + h])
            if not np.any((box[0] < boxes[:i, 2]) & (boxes[:i, 0] < box[2]) & (box[1] < boxes[:i, 3])
                          & (boxes[:i, 1] < box[3])):
                break
        else:
            raise ValueError(f"images[{i}] does not fit in the frame beside the others; use fewer or smaller images")
        frame[y : y + h, x : x + w] = image
        boxes[i] = box
    return frame, boxes
