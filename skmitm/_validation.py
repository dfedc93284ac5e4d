"""Input validation shared by every estimator: images, labels, file paths.

Everything that enters skmitm from a user passes through here first, so every
error about bad input is raised in one place, names the offending sample and
says what was expected.
"""

import os
from numbers import Integral

import cv2
import numpy as np

__all__ = ["check_images", "check_image", "check_subjects", "load_image"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".bmp", ".tif", ".tiff")


def load_image(path, *, name="path"):
    """Read an image file as an H×W×3 uint8 RGB array.

    Greyscale files (PGM, single-channel PNG/JPEG) are promoted to RGB by
    repeating the channel; an alpha channel is dropped.

    Parameters
    ----------
    path : str or os.PathLike
        File to read (PNG, JPEG, PGM, PPM, BMP or TIFF).
    name : str, default="path"
        How the file is named in error messages, e.g. ``"X[3]"``.

    Returns
    -------
    image : ndarray of shape (H, W, 3), dtype uint8
        The image in RGB channel order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file exists but cannot be decoded as an image.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{name}: no image file at {path!r}")
    # cv2.imread cannot open non-ASCII paths on every platform; decoding bytes can.
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ValueError(f"{name}: {path!r} is not a readable image (corrupt or unsupported format)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def check_image(image, *, name="image", strict=False):
    """Validate one image and return it as a C-contiguous H×W×3 uint8 array.

    Parameters
    ----------
    image : array-like or str or os.PathLike
        An H×W×3 uint8 RGB array, an H×W uint8 greyscale array (promoted to
        RGB) or the path of an image file.
    name : str, default="image"
        How the image is named in error messages, e.g. ``"X[3]"``.
    strict : bool, default=False
        Accept only an H×W×3 uint8 array (no path, no greyscale): the check
        of images that are already inside skmitm, such as hypotheses or the
        input of a degradation function.

    Returns
    -------
    image : ndarray of shape (H, W, 3), dtype uint8
    """
    if isinstance(image, (str, os.PathLike)) and not strict:
        return load_image(image, name=name)
    arr = np.asarray(image)
    if arr.dtype == object:
        raise TypeError(f"{name} is not an image: got an object array; expected H×W×3 RGB uint8")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; expected H×W×3 RGB uint8")
    if arr.dtype != np.uint8:
        raise TypeError(f"{name} has dtype {arr.dtype}; expected H×W×3 RGB uint8")
    if arr.ndim == 2 and not strict:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{name} has shape {arr.shape}; expected H×W×3 RGB uint8")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} has shape {arr.shape}; expected a non-empty H×W×3 RGB uint8 image")
    return np.ascontiguousarray(arr)


def check_images(X, *, name="X"):
    """Validate a collection of images and return a list of H×W×3 uint8 arrays.

    Parameters
    ----------
    X : sequence of array-like or paths, or ndarray of shape (n, H, W, 3)
        Images of possibly different sizes, a 4-D uint8 batch, or file paths.
    name : str, default="X"
        How the collection is named in error messages.

    Returns
    -------
    images : list of ndarray of shape (H, W, 3), dtype uint8

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import check_images
    >>> images = check_images([np.zeros((24, 20, 3), np.uint8), np.zeros((8, 8), np.uint8)])
    >>> [im.shape for im in images]
    [(24, 20, 3), (8, 8, 3)]
    """
    if isinstance(X, (str, os.PathLike)):
        raise TypeError(f"{name} is a single path; expected a sequence of images or paths")
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim not in (3, 4):
            raise ValueError(
                f"{name} has shape {X.shape}; expected a sequence of H×W×3 images or an (n, H, W, 3) array"
            )
        if X.shape[0] == 0:
            raise ValueError(f"{name} is empty; expected at least one image")
    return [check_image(X[i], name=f"{name}[{i}]") for i in range(check_length(X, name, item="image"))]


def check_length(X, name, *, item):
    """The length of a non-empty sequence ``X`` of ``item``s; an error naming ``X`` otherwise."""
    try:
        n = len(X)
    except TypeError:
        raise TypeError(f"{name} of type {type(X).__name__} is not a sequence of {item}s") from None
    if n == 0:
        raise ValueError(f"{name} is empty; expected at least one {item}")
    return n


def check_subjects(y, n_samples, *, name="y"):
    """Validate subject labels: a 1-D array with one label per sample.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Subject identity of each sample (strings or integers).
    n_samples : int
        The number of samples the labels must cover.
    name : str, default="y"
        How the labels are named in error messages.

    Returns
    -------
    y : ndarray of shape (n_samples,)
    """
    if y is None:
        raise ValueError(f"{name} is None; expected one subject label per sample")
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(f"{name} has shape {arr.shape}; expected a 1-D array of subject labels")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} labels for {n_samples} samples; expected one label per sample")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ValueError(f"{name} contains NaN; expected subject labels")
    return arr


def is_integer(value):
    """True for Python and numpy integers, False for bools."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def image_suffixes():
    """File name endings that are read as images when a folder is scanned."""
    return _IMAGE_SUFFIXES
