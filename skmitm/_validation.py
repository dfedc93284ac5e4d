"""Input validation shared by every estimator: images, labels, file paths.

Everything that enters skmitm from a user passes through here first, so every
error about bad input is raised in one place, names the offending sample and
says what was expected.
"""

import os
from numbers import Integral, Number

import numpy as np

from ._io import check_face_size, load_image

__all__ = ["check_images", "check_image", "check_rgb", "check_subjects", "load_image"]


def check_image(image, *, name="image"):
    """Validate one image and return it as a C-contiguous H×W×3 uint8 array.

    Parameters
    ----------
    image : array-like or str or os.PathLike
        An H×W×3 uint8 RGB array, an H×W uint8 greyscale array (promoted to
        RGB) or the path of an image file.
    name : str, default="image"
        How the image is named in error messages, e.g. ``"X[3]"``.

    Returns
    -------
    image : ndarray of shape (H, W, 3), dtype uint8
    """
    if isinstance(image, (str, os.PathLike)):
        return load_image(image, name=name)
    arr = np.asarray(image)
    if arr.ndim == 2 and arr.dtype == np.uint8:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    arr = check_rgb(arr, name=name)
    check_face_size(arr.shape, name=f"{name} of shape {arr.shape}")
    return arr


def check_rgb(image, *, name="image"):
    """The one check of an in-memory image: a non-empty H×W×3 uint8 array, returned C-contiguous.

    Input images (:func:`check_image`) must also be at least
    :data:`~skmitm._io.MIN_FACE_SIZE` pixels; images made inside skmitm
    (degradation links, hypotheses) only need to be non-empty.

    Parameters
    ----------
    image : array-like
    name : str, default="image"
        How the image is named in error messages.

    Returns
    -------
    image : ndarray of shape (H, W, 3), dtype uint8
    """
    arr = np.asarray(image)
    if arr.dtype == object:
        raise TypeError(f"{name} is not an image: got an object array; expected H×W×3 RGB uint8")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; expected H×W×3 RGB uint8")
    if arr.dtype != np.uint8:
        raise TypeError(f"{name} has dtype {arr.dtype}; expected H×W×3 RGB uint8")
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
        A single 3-D array is refused (is it one colour image or a stack of
        grey ones?): wrap one image in a list.
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
    >>> check_images(np.zeros((24, 24, 3), np.uint8))
    Traceback (most recent call last):
    ...
    ValueError: X is a single 3-D array of shape (24, 24, 3); pass a list of images ([image]) or a 4-D (n, H, W, 3) array
    """
    if isinstance(X, (str, os.PathLike)):
        raise TypeError(f"{name} is a single path; expected a sequence of images or paths")
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim == 3:
            # One H×W×3 image would otherwise read as H grey images of W×3 pixels.
            raise ValueError(
                f"{name} is a single 3-D array of shape {X.shape}; pass a list of images ([image]) or a 4-D "
                "(n, H, W, 3) array"
            )
        if X.ndim != 4:
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
    _check_one_label_type(y, name)
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


def _check_one_label_type(y, name):
    """Refuse labels mixing strings and numbers: numpy would turn 1 and "1" into one subject."""
    if isinstance(y, np.ndarray) and y.dtype != object:
        return
    values = np.asarray(y, dtype=object).ravel()
    kinds = {"str" if isinstance(v, (str, bytes)) else "number" if isinstance(v, Number) else type(v).__name__
             for v in values}
    if len(kinds) > 1:
        raise TypeError(f"{name} mixes label types ({', '.join(sorted(kinds))}); expected all strings or all "
                        "numbers, so that 1 and '1' are not merged into one subject")


def is_integer(value):
    """True for Python and numpy integers, False for bools."""
    return isinstance(value, Integral) and not isinstance(value, bool)
