"""Gallery degradations: the paper's Table 1, chained (Eq. 1) and resolution-matched.

The gallery half of "meet in the middle": a high-resolution gallery face is
made to look like what a surveillance camera would have seen, in many
plausible ways. Each of the eleven degradation functions of Table 1 takes an
H×W×3 uint8 RGB image and a :class:`numpy.random.Generator` and returns an
image of the same shape and dtype. Chains of up to three of them, with a
bicubic 2× downsampling between links (Eq. 1), form paths in a tree of
``l + l² + l³`` nodes; :class:`GalleryDegrader` computes every shared prefix
once and resizes each chain's output to the probe's size at every scale.
"""

import functools
import hashlib
import itertools
import types
from collections.abc import Mapping, Sequence
from numbers import Integral, Real

import cv2
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._base import ImageTransformerMixin
from ._digests import content_digest
from ._hypotheses import HypothesisSet, as_hypothesis_sets, make_meta
from ._io import pixel_limit
from ._param_validation import (
    InvalidParameterError,
    Interval,
    ParamValidationMixin,
    SequenceOf,
    StrOptions,
    check_size,
)
from ._validation import check_rgb, is_integer

__all__ = [
    "DEGRADATIONS",
    "GalleryDegrader",
    "apply_chain",
    "brightness_jitter",
    "color_jitter",
    "degradation_chains",
    "disk_blur",
    "down_up_rescale",
    "gaussian_blur",
    "gaussian_noise",
    "match_resolution",
    "motion_blur",
    "patch_shuffle",
    "random_perspective",
    "random_shear",
    "speckle_noise",
]

# Reflection keeps a face's edge statistics; a constant border would add dark
# frames that no camera produces.
_BORDER = cv2.BORDER_REFLECT_101


def _as_generator(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check_real(value, name, *, low=None, high=None, low_open=False):
    if not isinstance(value, Real) or isinstance(value, bool) or not np.isfinite(value):
        raise InvalidParameterError(f"{name}={value!r}; expected a finite real number")
    if low is not None and (value < low or (low_open and value == low)):
        raise InvalidParameterError(f"{name}={value!r}; expected a number {'>' if low_open else '>='} {low}")
    if high is not None and value > high:
        raise InvalidParameterError(f"{name}={value!r}; expected a number <= {high}")
    return float(value)


def _check_int(value, name, *, low):
    if not is_integer(value):
        raise InvalidParameterError(f"{name}={value!r}; expected an integer")
    if value < low:
        raise InvalidParameterError(f"{name}={value!r}; expected an integer >= {low}")
    return int(value)


_RNG_IGNORED = "Ignored; accepted so that every degradation has the same signature."

#: Docstring fragments the degradation functions share, substituted for ``{{name}}`` by :func:`_shared_doc`.
_DOC_FRAGMENTS = {
    "image": "image : ndarray of shape (H, W, 3), dtype uint8\n        RGB image.",
    "rng": "rng : numpy.random.Generator, int or None, default=None",
    "parameters": "Parameters\n    ----------\n    {{image}}\n    {{rng}}\n        {rng}",
    "returns": "Returns\n    -------\n    degraded : ndarray of shape (H, W, 3), dtype uint8",
    "examples": "Examples\n    --------\n    >>> import numpy as np",
}


def _shared_doc(*, rng=None):
    """Decorator: substitute the shared fragments ``{{name}}`` in a function's docstring.

    The fragments are written once here instead of being pasted into eleven
    docstrings; ``rng`` is the description of the function's ``rng``
    parameter, which ``{{parameters}}`` ends with.
    """

    def substitute(func):
        doc = func.__doc__
        for name in ("parameters", "returns", "examples", "image", "rng"):
            doc = doc.replace("{{" + name + "}}", _DOC_FRAGMENTS[name])
        if "{{" in doc or ("{rng}" in doc and rng is None):
            raise ValueError(f"{func.__name__}'s docstring has a fragment left unsubstituted")
        func.__doc__ = doc.replace("{rng}", rng or "")
        return func

    return substitute


def _to_uint8(values):
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _round(x):
    return int(np.floor(x + 0.5))


# --------------------------------------------------------------------------
# The eleven degradation functions of Table 1
# --------------------------------------------------------------------------


@_shared_doc(rng="Source of the noise (an int or None seeds a new Generator).")
def gaussian_noise(image, rng=None, *, mean=0.0, var=0.02):
    """Add Gaussian noise, independently per pixel and channel (Table 1: mean 0, var 0.02).

    The mean and variance are on the image scaled to [0, 1]; the default
    standard deviation is therefore about 36 grey levels.

    {{parameters}}
    mean : float, default=0.0
        Mean of the noise on [0, 1].
    var : float, default=0.02
        Variance of the noise on [0, 1].

    {{returns}}
        The noisy image, clipped to [0, 255].

    {{examples}}
    >>> from skmitm import gaussian_noise
    >>> grey = np.full((64, 64, 3), 128, np.uint8)
    >>> noisy = gaussian_noise(grey, np.random.default_rng(0))
    >>> noisy.shape, noisy.dtype, round(float((noisy / 255.0).var()), 2)
    ((64, 64, 3), dtype('uint8'), 0.02)
    """
    image = check_rgb(image)
    mean = _check_real(mean, "mean")
    std = np.sqrt(_check_real(var, "var", low=0))
    noise = _as_generator(rng).standard_normal(image.shape, dtype=np.float32)
    return _to_uint8(image + (noise * np.float32(255 * std) + np.float32(255 * mean)))


@_shared_doc(rng="Source of the noise.")
def speckle_noise(image, rng=None, *, var=0.02):
    """Multiply each pixel by ``1 + n`` with Gaussian ``n`` of mean 0 (Table 1: var 0.02).

    Speckle is proportional to the signal: dark regions stay nearly clean,
    bright ones get noisy, as in sensor shot noise.

    {{parameters}}
    var : float, default=0.02
        Variance of the multiplicative noise ``n``.

    {{returns}}

    {{examples}}
    >>> from skmitm import speckle_noise
    >>> image = np.full((64, 64, 3), 100, np.uint8)
    >>> ratio = speckle_noise(image, np.random.default_rng(0)) / 100.0 - 1
    >>> round(float(ratio.var()), 2)
    0.02
    """
    image = check_rgb(image)
    std = np.sqrt(_check_real(var, "var", low=0))
    noise = _as_generator(rng).standard_normal(image.shape, dtype=np.float32)
    return _to_uint8(image * (1 + np.float32(std) * noise))


@_shared_doc(rng="Source of the random shift and factor.")
def color_jitter(image, rng=None, *, hue=0.1, saturation=0.5):
    """Randomly rotate the hue and scale the saturation of the whole image (Table 1).

    A hue shift is drawn from U(-hue, hue) (fractions of the colour circle)
    and a saturation factor from U(1 - saturation, 1 + saturation), as in
    torchvision's ``ColorJitter``; the paper gives no ranges.

    {{parameters}}
    hue : float, default=0.1
        Largest hue shift, in [0, 0.5].
    saturation : float, default=0.5
        Largest relative saturation change, in [0, 1].

    {{returns}}

    {{examples}}
    >>> from skmitm import color_jitter
    >>> red = np.zeros((8, 8, 3), np.uint8); red[..., 0] = 200
    >>> color_jitter(red, np.random.default_rng(1))[0, 0].tolist() != [200, 0, 0]
    True
    """
    image = check_rgb(image)
    hue = _check_real(hue, "hue", low=0, high=0.5)
    saturation = _check_real(saturation, "saturation", low=0, high=1)
    rng = _as_generator(rng)
    shift = _round(rng.uniform(-hue, hue) * 256)
    factor = rng.uniform(1 - saturation, 1 + saturation)
    levels = np.arange(256)
    # The _FULL conversions spread hue over 0..255, so a shift wraps modulo 256.
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)
    hsv[..., 0] = ((levels + shift) % 256).astype(np.uint8)[hsv[..., 0]]
    hsv[..., 1] = _to_uint8(levels * factor)[hsv[..., 1]]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)


@_shared_doc(rng="Source of the random factors.")
def brightness_jitter(image, rng=None, *, brightness=0.4, contrast=0.4):
    """Randomly scale brightness, then contrast about the mean grey level (Table 1).

    Factors are drawn from U(1 - brightness, 1 + brightness) and
    U(1 - contrast, 1 + contrast), as in torchvision's ``ColorJitter``; the
    paper gives no ranges.

    {{parameters}}
    brightness : float, default=0.4
        Largest relative brightness change, in [0, 1].
    contrast : float, default=0.4
        Largest relative contrast change, in [0, 1].

    {{returns}}

    {{examples}}
    >>> from skmitm import brightness_jitter
    >>> flat = np.full((8, 8, 3), 100, np.uint8)
    >>> out = brightness_jitter(flat, np.random.default_rng(0))
    >>> bool((out == out[0, 0, 0]).all())
    True
    """
    image = check_rgb(image)
    brightness = _check_real(brightness, "brightness", low=0, high=1)
    contrast = _check_real(contrast, "contrast", low=0, high=1)
    rng = _as_generator(rng)
    b = rng.uniform(1 - brightness, 1 + brightness)
    c = rng.uniform(1 - contrast, 1 + contrast)
    grey = b * cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).mean()
    # Both steps are affine in the pixel value, so one lookup table does them.
    table = _to_uint8(c * b * np.arange(256) + (1 - c) * grey)
    return table[image]


@functools.lru_cache(maxsize=16)
def _motion_kernel(window):
    return np.full((1, window), 1.0 / window, np.float32)


@_shared_doc(rng=_RNG_IGNORED)
def motion_blur(image, rng=None, *, window=20):
    """Blur each row with a horizontal box of ``window`` pixels (Table 1: window 20).

    The window is in pixels of the image it is applied to, so later links of
    a chain (smaller images) are blurred relatively more. Rows never mix.

    {{parameters}}
    window : int, default=20
        Length of the motion in pixels.

    {{returns}}

    {{examples}}
    >>> from skmitm import motion_blur
    >>> dot = np.zeros((5, 40, 3), np.uint8); dot[2, 20] = 200
    >>> out = motion_blur(dot)
    >>> int(out[2].sum(axis=0)[0]), int(out[[0, 1, 3, 4]].sum())
    (200, 0)
    """
    image = check_rgb(image)
    window = _check_int(window, "window", low=1)
    return cv2.filter2D(image, -1, _motion_kernel(window), borderType=_BORDER)


@functools.lru_cache(maxsize=16)
def _gaussian_kernel(sigma, window):
    taps = cv2.getGaussianKernel(window, sigma).astype(np.float32)
    return taps @ taps.T


@_shared_doc(rng=_RNG_IGNORED)
def gaussian_blur(image, rng=None, *, sigma=1.1, window=5):
    """Blur with a normalised Gaussian kernel (Table 1: sigma 1.1, window 5).

    {{parameters}}
    sigma : float, default=1.1
        Standard deviation of the kernel in pixels.
    window : int, default=5
        Side of the square kernel in pixels; odd.

    {{returns}}

    {{examples}}
    >>> from skmitm import gaussian_blur
    >>> dot = np.zeros((9, 9, 3), np.uint8); dot[4, 4] = 250
    >>> out = gaussian_blur(dot)
    >>> int((out[..., 0] > 0).sum()), abs(int(out[..., 0].sum()) - 250) <= 12
    (25, True)
    """
    image = check_rgb(image)
    sigma = _check_real(sigma, "sigma", low=0, low_open=True)
    window = _check_int(window, "window", low=1)
    if window % 2 == 0:
        raise InvalidParameterError(f"window={window}; expected an odd kernel size")
    return cv2.filter2D(image, -1, _gaussian_kernel(sigma, window), borderType=_BORDER)


@functools.lru_cache(maxsize=16)
def _disk_kernel(radius):
    # Each cell's weight is the fraction of it covered by the disk (8×8
    # sub-samples), so the edge is anti-aliased like MATLAB's fspecial('disk').
    half = int(np.ceil(radius - 0.5))
    if half == 0:
        # A disk within the centre pixel keeps all of the light there (and may
        # miss every sub-sample, which would make the weights 0/0).
        return np.ones((1, 1), dtype=np.float32)
    sub = 8
    coords = (np.arange((2 * half + 1) * sub) + 0.5) / sub - (half + 0.5)
    inside = (coords[:, None] ** 2 + coords[None, :] ** 2) <= radius**2
    cover = inside.reshape(2 * half + 1, sub, 2 * half + 1, sub).mean(axis=(1, 3))
    return (cover / cover.sum()).astype(np.float32)


@_shared_doc(rng=_RNG_IGNORED)
def disk_blur(image, rng=None, *, radius=5):
    """Blur with a uniform disk, like an out-of-focus lens (Table 1: radius 5).

    {{parameters}}
    radius : float, default=5
        Radius of the disk in pixels.

    {{returns}}

    {{examples}}
    >>> from skmitm import disk_blur
    >>> flat = np.full((20, 20, 3), 77, np.uint8)
    >>> bool((disk_blur(flat) == 77).all())
    True
    """
    image = check_rgb(image)
    radius = _check_real(radius, "radius", low=0, low_open=True)
    return cv2.filter2D(image, -1, _disk_kernel(radius), borderType=_BORDER)


@_shared_doc(rng="Source of the corner displacements.")
def random_perspective(image, rng=None, *, distortion=0.2):
    """Warp by a random perspective transform (Table 1), keeping the shape.

    Each corner moves independently by up to ``distortion / 2`` of the image
    width horizontally and of its height vertically; the paper gives no range.

    {{parameters}}
    distortion : float, default=0.2
        Strength of the warp, in [0, 1].

    {{returns}}

    {{examples}}
    >>> from skmitm import random_perspective
    >>> image = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    >>> warped = random_perspective(image, np.random.default_rng(0))
    >>> warped.shape, bool((random_perspective(image, 0, distortion=0.0) == image).all())
    ((30, 40, 3), True)
    """
    image = check_rgb(image)
    distortion = _check_real(distortion, "distortion", low=0, high=1)
    h, w = image.shape[:2]
    # Pixel-edge corners keep the quadrilateral non-degenerate even for 1-px images.
    src = np.float32([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    offsets = _as_generator(rng).uniform(-1, 1, (4, 2)) * (distortion / 2) * np.array([w, h])
    matrix = cv2.getPerspectiveTransform(src, (src + offsets).astype(np.float32))
    return cv2.warpPerspective(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=_BORDER)


@_shared_doc(rng="Source of the angles.")
def random_shear(image, rng=None, *, max_angle=15.0):
    """Shear about the image centre by random angles along both axes (Table 1).

    Horizontal and vertical shear angles are drawn independently from
    U(-max_angle, max_angle) degrees, as in torchvision's ``RandomAffine``;
    the paper gives no range.

    {{parameters}}
    max_angle : float, default=15.0
        Largest shear angle in degrees, below 90.

    {{returns}}

    {{examples}}
    >>> from skmitm import random_shear
    >>> image = np.random.default_rng(0).integers(0, 256, (31, 41, 3), dtype=np.uint8)
    >>> sheared = random_shear(image, np.random.default_rng(0))  # about the centre pixel, which stays
    >>> sheared.shape, sheared[15, 20].tolist() == image[15, 20].tolist()
    ((31, 41, 3), True)
    """
    image = check_rgb(image)
    max_angle = _check_real(max_angle, "max_angle", low=0)
    if max_angle >= 90:
        raise InvalidParameterError(f"max_angle={max_angle!r}; expected an angle below 90 degrees")
    h, w = image.shape[:2]
    sx, sy = np.tan(np.radians(_as_generator(rng).uniform(-max_angle, max_angle, 2)))
    linear = np.array([[1.0, sx], [sy, 1.0]])
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    matrix = np.hstack([linear, (centre - linear @ centre)[:, None]])
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=_BORDER)


@_shared_doc(rng="Source of the factor.")
def down_up_rescale(image, rng=None, *, factor=(2.0, 4.0)):
    """Downscale by a random factor, then upscale back to the original size (Table 1).

    The factor is drawn from U(low, high); the image is shrunk with area
    averaging (a camera integrates light over each sensor cell) and enlarged
    again bicubically. The paper gives no range.

    {{parameters}}
    factor : float or (float, float), default=(2.0, 4.0)
        Downscaling factor, or the range it is drawn from; at least 1.

    {{returns}}

    {{examples}}
    >>> from skmitm import down_up_rescale
    >>> image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    >>> out = down_up_rescale(image, np.random.default_rng(0))
    >>> out.shape, bool(out.std() < image.std())
    ((32, 32, 3), True)
    """
    image = check_rgb(image)
    low, high = (factor, factor) if isinstance(factor, Real) else _pair(factor, "factor")
    low = _check_real(low, "factor", low=1)
    high = _check_real(high, "factor", low=low)
    f = _as_generator(rng).uniform(low, high)
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, _round(w / f)), max(1, _round(h / f))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _pair(value, name):
    try:
        low, high = value
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name}={value!r}; expected a number or a (low, high) pair") from None
    return low, high


@_shared_doc(rng="Source of the permutations.")
def patch_shuffle(image, rng=None, *, patch_size=2):
    """Shuffle the pixels inside each non-overlapping square patch (Table 1, PatchShuffle [20]).

    Every ``patch_size`` × ``patch_size`` patch gets its own random
    permutation; RGB triplets move together, so each patch keeps its pixels
    and only their places change. Rows and columns beyond the last whole
    patch are left as they are.

    {{parameters}}
    patch_size : int, default=2
        Side of the patches in pixels.

    {{returns}}

    References
    ----------
    .. [20] G. Kang, X. Dong, L. Zheng and Y. Yang, "PatchShuffle
       regularization", arXiv:1707.07103, 2017.

    {{examples}}
    >>> from skmitm import patch_shuffle
    >>> image = np.arange(16 * 3, dtype=np.uint8).reshape(4, 4, 3)
    >>> out = patch_shuffle(image, np.random.default_rng(0))
    >>> sorted(out[:2, :2].reshape(-1, 3).tolist()) == sorted(image[:2, :2].reshape(-1, 3).tolist())
    True
    """
    image = check_rgb(image)
    n = _check_int(patch_size, "patch_size", low=1)
    rows, cols = image.shape[0] // n, image.shape[1] // n
    out = image.copy()
    if rows == 0 or cols == 0:
        return out
    whole = out[: rows * n, : cols * n]
    patches = whole.reshape(rows, n, cols, n, 3).transpose(0, 2, 1, 3, 4).reshape(rows, cols, n * n, 3)
    order = _as_generator(rng).random((rows, cols, n * n)).argsort(axis=2)
    shuffled = np.take_along_axis(patches, order[..., None], axis=2)
    whole[...] = shuffled.reshape(rows, cols, n, n, 3).transpose(0, 2, 1, 3, 4).reshape(rows * n, cols * n, 3)
    return out


#: The degradation functions of the paper's Table 1, by name, in the table's order.
DEGRADATIONS = types.MappingProxyType(
    {
        f.__name__: f
        for f in (
            gaussian_noise,
            speckle_noise,
            color_jitter,
            brightness_jitter,
            motion_blur,
            gaussian_blur,
            disk_blur,
            random_perspective,
            random_shear,
            down_up_rescale,
            patch_shuffle,
        )
    }
)

# Seeds of chain nodes are keyed on these codes, so a node's randomness does
# not depend on which other degradations or chains were selected.
_CODES = {name: i for i, name in enumerate(DEGRADATIONS)}


# --------------------------------------------------------------------------
# Chains (Eq. 1) and resolution matching
# --------------------------------------------------------------------------


def _check_names(degradations, name="degradations"):
    if degradations is None:
        return tuple(DEGRADATIONS)
    if isinstance(degradations, str) or not isinstance(degradations, Sequence):
        raise InvalidParameterError(f"{name}={degradations!r}; expected a sequence of degradation names or None")
    names = tuple(degradations)
    if not names:
        raise InvalidParameterError(f"{name} is empty; expected at least one degradation name")
    for n in names:
        if n not in DEGRADATIONS:
            raise InvalidParameterError(
                f"{name} holds unknown degradation {n!r}; expected names from {tuple(DEGRADATIONS)}"
            )
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"{name}={names!r} repeats a degradation; expected distinct names")
    return names


def _check_chain(chain):
    names = tuple(chain.split(">")) if isinstance(chain, str) else chain
    if not isinstance(names, Sequence) or len(names) == 0:
        raise InvalidParameterError(f"chain={chain!r}; expected a non-empty sequence of degradation names")
    for n in names:
        if n not in DEGRADATIONS:
            raise InvalidParameterError(
                f"chain holds unknown degradation {n!r}; expected names from {tuple(DEGRADATIONS)}"
            )
    return tuple(names)


def _bind(params, names):
    """The degradation functions by name, with any keyword overrides bound."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise InvalidParameterError(f"degradation_params={params!r}; expected a dict of {{name: {{keyword: value}}}}")
    for name, kwargs in params.items():
        if name not in names:
            raise InvalidParameterError(
                f"degradation_params names {name!r}, which is not among the degradations {names}"
            )
        if not isinstance(kwargs, Mapping):
            raise InvalidParameterError(
                f"degradation_params[{name!r}]={kwargs!r}; expected a dict of keyword arguments"
            )
    return {n: functools.partial(DEGRADATIONS[n], **params[n]) if params.get(n) else DEGRADATIONS[n] for n in names}


def _try_params(funcs):
    # A wrong keyword or value surfaces in fit, not deep inside a chain.
    probe = np.full((8, 8, 3), 128, np.uint8)
    for name, func in funcs.items():
        if isinstance(func, functools.partial):
            try:
                func(probe, np.random.default_rng(0))
            except (TypeError, ValueError) as exc:
                raise InvalidParameterError(f"degradation_params[{name!r}] is invalid: {exc}") from None


def degradation_chains(degradations=None, *, lengths=(1, 2, 3), allow_repeats=True):
    """Every degradation chain: the paths of length ``lengths`` through the graph of Figure 2.

    Parameters
    ----------
    degradations : sequence of str, default=None
        Names from :data:`DEGRADATIONS` to draw links from; all eleven when None.
    lengths : sequence of int, default=(1, 2, 3)
        Chain lengths to include (each at least 1).
    allow_repeats : bool, default=True
        Whether a degradation may appear more than once in a chain (the
        paper's paths allow it: ``l + l² + l³`` chains).

    Returns
    -------
    chains : list of tuple of str
        Shorter chains first, then in the order of ``degradations``.

    Examples
    --------
    >>> from skmitm import degradation_chains
    >>> len(degradation_chains()), len(degradation_chains(allow_repeats=False))
    (1463, 1111)
    >>> degradation_chains(["motion_blur", "gaussian_noise"], lengths=[2])
    [('motion_blur', 'motion_blur'), ('motion_blur', 'gaussian_noise'), ('gaussian_noise', 'motion_blur'), ('gaussian_noise', 'gaussian_noise')]
    """
    names = _check_names(degradations)
    lengths = _check_lengths(lengths)
    paths = itertools.product if allow_repeats else itertools.permutations
    chains = []
    for k in lengths:
        chains.extend(paths(names, repeat=k) if allow_repeats else paths(names, k))
    return chains


def _check_lengths(lengths, name="lengths"):
    if is_integer(lengths) or isinstance(lengths, str) or not isinstance(lengths, Sequence):
        raise InvalidParameterError(f"{name}={lengths!r}; expected a sequence of chain lengths such as (1, 2, 3)")
    if len(lengths) == 0:
        raise InvalidParameterError(f"{name} is empty; expected at least one chain length")
    for k in lengths:
        if not is_integer(k) or k < 1:
            raise InvalidParameterError(f"{name} holds chain length {k!r}; expected integers >= 1")
    if len(set(lengths)) != len(lengths):
        raise InvalidParameterError(f"{name}={tuple(lengths)!r} repeats a length; expected distinct lengths")
    return sorted(int(k) for k in lengths)


def _halve(image):
    # Eq. 1's ↓s: bicubic 2× downsampling, rounding odd sizes up (63 → 32).
    h, w = image.shape[:2]
    return cv2.resize(image, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_CUBIC)


@_shared_doc()
def apply_chain(image, chain, rng=None, *, params=None):
    """Degrade an image by a chain of degradations with 2× downsampling between links (Eq. 1).

    ``apply_chain(G, (a, b, c))`` is ``c(↓(b(↓(a(G)))))``, where ``↓`` is
    bicubic 2× downsampling; each link's window sizes are in pixels of the
    image it receives.

    Parameters
    ----------
    {{image}}
    chain : sequence of str or str
        Degradation names, first applied first, or the same joined by ``">"``
        (the ``chain`` field of hypothesis metadata).
    {{rng}}
        Source of every link's randomness, used in order.
    params : dict of {str: dict}, default=None
        Keyword overrides per degradation, e.g. ``{"motion_blur": {"window": 9}}``.

    Returns
    -------
    degraded : ndarray of shape (ceil(H / 2^(k-1)), ceil(W / 2^(k-1)), 3), dtype uint8
        For a chain of ``k`` links.

    {{examples}}
    >>> from skmitm import apply_chain
    >>> face = np.full((126, 126, 3), 128, np.uint8)
    >>> apply_chain(face, "gaussian_noise>motion_blur>patch_shuffle", 0).shape
    (32, 32, 3)
    """
    image = check_rgb(image)
    chain = _check_chain(chain)
    funcs = _bind(params, tuple(DEGRADATIONS))
    rng = _as_generator(rng)
    for depth, name in enumerate(chain):
        image = funcs[name](_halve(image) if depth else image, rng)
    return image


# Template caches key a resolution-matched hypothesis on how it is made (see
# _MatchedImages.recipe_digests), not on its pixels: bump this whenever
# _match could give other pixels for the same source and target shape.
_MATCH_VERSION = 1


def _match(image, shape):
    h, w = shape
    shrinking = h <= image.shape[0] and w <= image.shape[1]
    # Area averaging when shrinking mimics a coarser sensor; cubic when enlarging.
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


@_shared_doc()
def match_resolution(image, size):
    """Resize an image to a probe's resolution (resolution matching).

    Shrinking averages areas (like a coarser sensor); enlarging is bicubic.

    Parameters
    ----------
    {{image}}
    size : int or (int, int)
        Target height (the width keeps the aspect ratio) or (height, width).

    Returns
    -------
    matched : ndarray of shape (height, width, 3), dtype uint8

    {{examples}}
    >>> from skmitm import match_resolution
    >>> match_resolution(np.zeros((126, 100, 3), np.uint8), 48).shape
    (48, 38, 3)
    """
    image = check_rgb(image)
    h, w = check_size(size, "size", square=False)
    if w is None:
        w = max(1, _round(h * image.shape[1] / image.shape[0]))
    return _match(image, (h, w))


class _MatchedImages(Sequence):
    """The hypothesis images of one gallery sample, resolution-matched on access.

    A degraded chain output is a few kilobytes; its copies matched to 192
    pixels for every scale and bucket would be a hundred times more. So the
    set stores each source image once with the target size of every
    hypothesis, and ``data[i]`` resizes (a fresh array each call).
    ``list(data)`` materialises them all.
    """

    __slots__ = ("sources", "source_index", "shapes")

    def __init__(self, sources, source_index, shapes):
        self.sources = sources
        self.source_index = np.asarray(source_index, dtype=np.intp)
        self.shapes = np.asarray(shapes, dtype=np.intp).reshape(-1, 2)

    def __len__(self):
        return len(self.source_index)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        source = self.sources[self.source_index[index]]
        shape = self.shapes[index]
        # A (0, 0) target marks the original, which is kept as it is.
        return source if shape[0] == 0 else _match(source, shape)

    def recipe_digests(self):
        """A SHA-256 digest of how each hypothesis is made; None for the original.

        A template cache keys a resolution-matched hypothesis on this recipe
        (the version of the matching code and of OpenCV, whose resizing may
        change between releases; the SHA-256 of its source's shape and bytes;
        its target shape) so that a cache hit costs no resizing; each source
        is hashed once, not once per hypothesis. The original, stored as it
        is, is left to be keyed on its content like any plain image, whose
        cache entries it then shares.

        Returns
        -------
        digests : list of bytes or None
            One per hypothesis, in order.
        """
        salt = repr(("skmitm-matched-recipe", _MATCH_VERSION, cv2.__version__)).encode()
        sources = {}
        digests = []
        for index, (height, width) in zip(self.source_index.tolist(), self.shapes.tolist()):
            if height == 0:
                digests.append(None)
                continue
            if index not in sources:
                sources[index] = content_digest(self.sources[index])
            digests.append(hashlib.sha256(salt + sources[index] + repr((height, width)).encode()).digest())
        return digests

    @property
    def nbytes(self):
        """Bytes held by the stored source images."""
        return sum(s.nbytes for s in self.sources)

    def __repr__(self):
        return f"<{len(self)} resolution-matched images from {len(self.sources)} sources>"


# --------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------


class GalleryDegrader(ImageTransformerMixin, ParamValidationMixin, BaseEstimator):
    """Degrade gallery images into many resolution-matched hypotheses; pass probes through.

    **fit_transform(X) and fit(X).transform(X) differ on purpose.**
    ``fit_transform`` (the gallery, enrolled by a pipeline's ``fit``) turns
    each image into a set of hypotheses: the original, its undegraded copies
    resized to the probe's size × scale ("matched"), and the outputs of
    degradation chains, each resized likewise ("degraded"). ``transform``
    (the probes, at ``predict``) returns them unchanged, as hypothesis sets,
    like imbalanced-learn's samplers that act only during ``fit``.

    Chains follow Eq. 1 of the paper: up to three degradations of Table 1
    (see :data:`DEGRADATIONS`) with a bicubic 2× downsampling between links.
    All ``l + l² + l³`` paths or a seeded random subset are used; shared
    prefixes are computed once.

    Parameters
    ----------
    probe_size : int, (int, int) or list of them, default=24
        Size of the low-resolution probes: a height (the width follows each
        gallery image's aspect ratio), a (height, width) tuple, or a list of
        such for several size buckets (each probe is later compared with the
        bucket nearest its own size).
    scales : sequence of float, default=(2, 4, 8)
        Probe magnifications to match: each hypothesis is resized to
        probe size × scale for each scale.
    degradations : sequence of str, default=None
        Names from :data:`DEGRADATIONS` to build chains from; all eleven when None.
    chain_lengths : sequence of int, default=(1, 2, 3)
        Lengths of the chains.
    n_chains : int or None, default=64
        Number of chains drawn at random (without replacement) from all
        paths; all of them when None or when it exceeds their number; 0 keeps
        only the original and matched hypotheses (resolution matching alone).
    allow_repeats : bool, default=True
        Whether a chain may use the same degradation twice.
    include_matched : bool, default=True
        Whether to add the undegraded image resolution-matched at each scale.
    degradation_params : dict of {str: dict}, default=None
        Keyword overrides per degradation, e.g. ``{"motion_blur": {"window": 9}}``.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the chain subset and order and every random degradation. The
        same value gives identical output.

    Attributes
    ----------
    chains_ : list of tuple of str
        The chains used, in the seeded random order of the degraded
        hypotheses: the first ``n`` chains are a random subset of ``n``.
    probe_sizes_ : list of tuple
        The size buckets as (height, width) with width None where it follows
        the image's aspect ratio.
    scales_ : tuple of float
        The scales.

    See Also
    --------
    degradation_chains : The full set of paths.
    apply_chain : Degrade one image by one chain.

    Notes
    -----
    Each output set holds, in order: the original (kind ``"original"``,
    scale 1, size 0); if ``include_matched``, one ``"matched"`` image per
    bucket and scale; then, for each chain in ``chains_``, one
    ``"degraded"`` image per bucket and scale, its ``chain`` field being the
    names joined by ``">"``. ``size`` is the bucket's height.

    To bound memory (a 423-face gallery with 64 chains at 3 scales would
    need about 4 GB as plain arrays), the ``data`` of each set stores each
    chain's output once and resizes on access: ``data[i]`` returns a new
    array each time; ``list(data)`` materialises all.

    The randomness of each link depends only on ``random_state``, the
    image's position in ``X`` and the chain's prefix, so a chain's output is
    the same whatever subset of chains is drawn, and the outputs for
    ``n_chains=16`` are the first 16 chains of those for ``n_chains=64``.

    References
    ----------
    K. Grm, B. Özata, V. Štruc, H. K. Ekenel, "Meet-in-the-middle: Multi-scale
    upsampling and matching for cross-resolution face recognition", WACV
    Workshops 2023, Section 3.2.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import GalleryDegrader
    >>> gallery = np.random.default_rng(0).integers(0, 256, (2, 126, 126, 3), dtype=np.uint8)
    >>> degrader = GalleryDegrader(probe_size=24, n_chains=5, random_state=0)
    >>> sets = degrader.fit_transform(gallery)
    >>> len(sets), len(sets[0])  # 1 original + 3 matched + 5 chains × 3 scales
    (2, 19)
    >>> sets[0].meta["kind"][:5].tolist()
    ['original', 'matched', 'matched', 'matched', 'degraded']
    >>> [im.shape[0] for im in sets[0].data[4:7]]
    [48, 96, 192]
    >>> len(degrader.transform(gallery)[0])  # probes pass through
    1
    """

    _parameter_constraints = {
        # A height, a (height, width) tuple or a list of them; the items are checked in fit.
        "probe_size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "scales": [SequenceOf(Interval(Real, 0, None, closed="neither"), unique=True)],
        "degradations": [None, SequenceOf(StrOptions(set(DEGRADATIONS)), unique=True)],
        "chain_lengths": [SequenceOf(Interval(Integral, 1, None, closed="left"), unique=True)],
        "n_chains": [None, Interval(Integral, 0, None, closed="left")],
        "allow_repeats": ["boolean"],
        "include_matched": ["boolean"],
        # The keyword overrides are checked by calling each degradation once in fit.
        "degradation_params": [None, dict],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        probe_size=24,
        *,
        scales=(2, 4, 8),
        degradations=None,
        chain_lengths=(1, 2, 3),
        n_chains=64,
        allow_repeats=True,
        include_matched=True,
        degradation_params=None,
        random_state=None,
    ):
        self.probe_size = probe_size
        self.scales = scales
        self.degradations = degradations
        self.chain_lengths = chain_lengths
        self.n_chains = n_chains
        self.allow_repeats = allow_repeats
        self.include_matched = include_matched
        self.degradation_params = degradation_params
        self.random_state = random_state


    def fit(self, X, y=None):
        """Check the parameters and the gallery, and draw the chains.

        ``fit`` alone degrades nothing; use :meth:`fit_transform` for the gallery.

        Parameters
        ----------
        X : as :meth:`fit_transform` takes it
            The gallery, checked but not degraded.
        y : None
            Ignored.

        Returns
        -------
        self : GalleryDegrader
        """
        self._fit(self._gallery_images(X))
        return self

    def fit_transform(self, X, y=None):
        """Degrade and resolution-match each gallery image into a hypothesis set.

        Parameters
        ----------
        X : sequence of images or paths, 4-D uint8 array, or list of HypothesisSet
            Gallery images (each set's single ``"original"`` image is used).
        y : None
            Ignored.

        Returns
        -------
        sets : list of HypothesisSet
            One per image; see the class Notes for their contents and order.
        """
        images = self._gallery_images(X)
        self._fit(images)
        return [self._degrade(image, i) for i, image in enumerate(images)]

    def transform(self, X):
        """Pass probes through unchanged, as hypothesis sets.

        Parameters
        ----------
        X : sequence of images or paths, 4-D uint8 array, or list of HypothesisSet
            Probe images.

        Returns
        -------
        sets : list of HypothesisSet
            One ``"original"`` hypothesis per image; sets pass through as they are.
        """
        check_is_fitted(self, "chains_")
        return as_hypothesis_sets(X, name="X")

    @staticmethod
    def _gallery_images(X):
        sets = as_hypothesis_sets(X, name="X", allow_templates=False)
        images = []
        for i, hs in enumerate(sets):
            if hs.has_templates:
                raise TypeError(f"X[{i}] holds templates; GalleryDegrader needs gallery images")
            originals = np.flatnonzero(hs.meta["kind"] == "original")
            if len(originals) != 1:
                raise ValueError(
                    f"X[{i}] has {len(originals)} 'original' hypotheses; expected exactly one gallery image"
                )
            images.append(hs.data[originals[0]])
        return images

    def _fit(self, images):
        # Everything is checked before any fitted attribute is set.
        self._validate_params()
        probe_sizes = self._check_probe_sizes()
        scales = tuple(float(s) for s in self.scales)
        # Bounded before any allocation: the gallery is matched to each probe size times each scale.
        for height, width in probe_sizes:
            pixels = height * (width or height) * max(scales) ** 2
            if pixels > pixel_limit():
                raise ValueError(f"probe_size={self.probe_size!r} at scale {max(scales):g} makes {pixels:.0f}-pixel "
                                 f"gallery hypotheses, more than the pixel limit of {pixel_limit()}")
        names = _check_names(self.degradations)
        lengths = sorted(int(k) for k in self.chain_lengths)
        funcs = _bind(self.degradation_params, names)
        _try_params(funcs)
        if isinstance(self.random_state, np.random.Generator):
            entropy = int(self.random_state.integers(2**63))
        else:
            entropy = int(check_random_state(self.random_state).randint(2**63 - 1))
        chains = degradation_chains(names, lengths=lengths, allow_repeats=bool(self.allow_repeats))
        order = np.random.default_rng(np.random.SeedSequence(entropy)).permutation(len(chains))
        self.probe_sizes_ = probe_sizes
        self.scales_ = scales
        self.chains_ = [chains[i] for i in order[: self.n_chains]]
        self._funcs = funcs
        self._entropy = entropy
        return self

    def _check_probe_sizes(self):
        sizes = self.probe_size if isinstance(self.probe_size, list) else [self.probe_size]
        if not sizes:
            raise InvalidParameterError("probe_size is an empty list; expected at least one probe size")
        buckets = [check_size(s, "probe_size", square=False) for s in sizes]
        heights = [h for h, _ in buckets]
        if len(set(heights)) != len(heights):
            raise InvalidParameterError(
                f"probe_size={self.probe_size!r} has two buckets of the same height; expected distinct heights"
            )
        return buckets

    def _targets(self, image):
        """(height, width, scale, bucket height) of every matched size, bucket-major."""
        h, w = image.shape[:2]
        targets = []
        for bh, bw in self.probe_sizes_:
            width = bw if bw is not None else bh * w / h
            for s in self.scales_:
                targets.append((max(1, _round(bh * s)), max(1, _round(width * s)), s, bh))
        return targets

    def _degrade(self, image, index):
        targets = self._targets(image)
        groups = [(image, "matched", "")] if self.include_matched else []
        groups += [(out, "degraded", ">".join(c)) for c, out in zip(self.chains_, self._chain_outputs(image, index))]
        n_t, n_g = len(targets), len(groups)
        meta = make_meta(
            1 + n_g * n_t,
            scale=[1.0] + [s for _, _, s, _ in targets] * n_g,
            kind=["original"] + [kind for _, kind, _ in groups for _ in targets],
            chain=[""] + [chain for _, _, chain in groups for _ in targets],
            size=[0] + [b for _, _, _, b in targets] * n_g,
        )
        sources = [image] + [src for src, _, _ in groups]
        source_index = np.concatenate([[0], np.repeat(np.arange(1, n_g + 1), n_t)])
        shapes = [(0, 0)] + [(th, tw) for th, tw, _, _ in targets] * n_g
        return HypothesisSet(_MatchedImages(sources, source_index, shapes), meta)

    def _chain_outputs(self, image, index):
        """The output of every chain in ``chains_``, each prefix computed once."""
        outputs = {(): image}
        halves = {}
        for chain in self.chains_:
            for depth in range(len(chain)):
                prefix = chain[: depth + 1]
                if prefix in outputs:
                    continue
                parent = chain[:depth]
                source = outputs[parent]
                if depth:
                    if parent not in halves:
                        halves[parent] = _halve(source)
                    source = halves[parent]
                key = (index, len(prefix), *(_CODES[n] for n in prefix))
                rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self._entropy, spawn_key=key)))
                outputs[prefix] = self._funcs[prefix[-1]](source, rng)
        return [outputs[c] for c in self.chains_]
