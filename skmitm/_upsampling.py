"""Multi-hypothesis face super-resolution of probes (the probe half of meet-in-the-middle)."""

import copy
import math
import os
from collections.abc import Sequence
from numbers import Integral

import cv2
import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._base import ImageTransformerMixin
from ._edsr import FaceEDSR, load_edsr
from ._hypotheses import HypothesisSet, as_hypothesis_sets, make_meta
from ._io import pixel_limit
from ._param_validation import InvalidParameterError, Interval, ParamValidationMixin, SequenceOf
from ._runtime import torch_threads

__all__ = ["MultiHypothesisUpsampler"]


class MultiHypothesisUpsampler(ImageTransformerMixin, ParamValidationMixin, BaseEstimator):
    """Super-resolve **probes** into many hypotheses in ``transform``; pass the **gallery** through.

    This step acts only on probes: ``transform(X)`` turns every probe image
    into a :class:`~skmitm.HypothesisSet` holding, for each scale and each
    Gaussian blur sigma, the face super-resolution network's output for the
    blurred probe (kind ``"super-resolved"``), plus the plain probe itself as
    the ``"original"`` hypothesis. ``fit_transform(X)`` returns the gallery
    unchanged (as hypothesis sets), so in a pipeline the gallery reaches the
    face network untouched while probes arrive super-resolved. Hence
    ``fit(X).transform(X)`` differs from ``fit_transform(X)`` on purpose.

    Parameters
    ----------
    weights : str, Path, FaceEDSR or None, default=None
        The network: a weights card (``.json``, or its ``.pt``) written by
        :func:`skmitm.sr_training.train_sr` / ``skmitm train-sr``, the name
        of shipped weights (``"realistic"``, ``"plain"``…; see
        :func:`skmitm.load_edsr`),
        a :class:`~skmitm.FaceEDSR` instance (copied in ``fit``), or None for the shipped
        face-trained weights (realistic degradations; see
        ``docs/super_resolution.md``).
    scales : tuple of int, default=(2, 4, 8)
        Magnifications; each must be one the network has a tail for.
    sigmas : int or array-like of float, default=16
        Gaussian blur standard deviations (LR pixels) applied to the probe
        before super-resolution, one hypothesis each; an int ``n`` means
        ``numpy.linspace(0, 1, n)`` (the paper's 16 values from 0 to 1).
        Sigma 0 means no blur, and so does a sigma below about 0.1666, whose
        Gaussian weighs the neighbouring pixel less than 2⁻²⁶: blurring
        would move no pixel by more than float32's rounding (about 10⁻⁷ of
        the value range, far below a thousandth of a grey level).
    include_original : bool, default=True
        Add the plain probe as an ``"original"`` hypothesis (scale 1), the
        baseline's input.
    batch_size : int, default=64
        Low-resolution images sent through the network at once. All
        hypotheses of a batch of probes (grouped by probe size) travel
        together; the shared body runs once per blurred copy for all scales.
    device : str, default="cpu"
        Torch device of the network, e.g. ``"cuda"``.
    n_threads : int, default=None
        Torch CPU threads during ``transform``, restored afterwards; None
        leaves torch's current setting.

    Attributes
    ----------
    net_ : FaceEDSR
        The network, in evaluation mode on ``device``.
    card_ : dict
        The weights card (architecture, training record, sha256); ``{}`` for
        a network passed as an instance.
    sigmas_ : ndarray of float
        The blur levels used.
    n_hypotheses_ : int
        Hypotheses per probe: ``len(scales) * len(sigmas_)`` plus one original.

    See Also
    --------
    skmitm.sr_training : trains the network.

    Notes
    -----
    Hypotheses are ordered: the original first (if included), then scale by
    scale (in the order of ``scales``), sigma by sigma. Each carries metadata
    ``scale``, ``kind``, ``sigma`` (NaN for the original) and ``size``, the
    probe's height in pixels. Blurring is done in floating point on the
    probe, so sigma 0 feeds the probe unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import MultiHypothesisUpsampler
    >>> probe = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    >>> up = MultiHypothesisUpsampler(scales=(2, 4), sigmas=3, n_threads=1)
    >>> gallery = up.fit_transform([np.zeros((126, 126, 3), np.uint8)])
    >>> len(gallery[0])  # the gallery passes through untouched
    1
    >>> hs = up.transform([probe])[0]
    >>> len(hs), hs.meta["kind"][:2].tolist(), [im.shape for im in hs.data[:2]]
    (7, ['original', 'super-resolved'], [(24, 24, 3), (48, 48, 3)])
    """

    _parameter_constraints = {
        "weights": [None, str, os.PathLike, FaceEDSR],
        "scales": [SequenceOf(Interval(Integral, 2, None, closed="left"), unique=True)],
        # A count, or the sigmas themselves (checked to be finite and non-negative in fit).
        "sigmas": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "include_original": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        weights=None,
        *,
        scales=(2, 4, 8),
        sigmas=16,
        include_original=True,
        batch_size=64,
        device="cpu",
        n_threads=None,
    ):
        self.weights = weights
        self.scales = scales
        self.sigmas = sigmas
        self.include_original = include_original
        self.batch_size = batch_size
        self.device = device
        self.n_threads = n_threads


    def _sigmas(self):
        if isinstance(self.sigmas, Integral):
            return np.linspace(0.0, 1.0, self.sigmas)
        if any(isinstance(v, (bool, np.bool_)) for v in np.ravel(np.asarray(self.sigmas, dtype=object))):
            raise InvalidParameterError(
                f"MultiHypothesisUpsampler: sigmas={self.sigmas!r}; expected a count or a list of blur sigmas, "
                "not booleans"
            )
        try:
            sigmas = np.asarray(self.sigmas, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            sigmas = np.array([np.nan])
        if sigmas.size == 0 or not np.isfinite(sigmas).all() or (sigmas < 0).any():
            raise InvalidParameterError(
                f"MultiHypothesisUpsampler: sigmas={self.sigmas!r}; expected a count or non-negative finite blur sigmas"
            )
        return sigmas

    def fit(self, X=None, y=None):
        """Load and check the network; ``X`` and ``y`` are ignored.

        Parameters
        ----------
        X : ignored
        y : ignored

        Returns
        -------
        self : MultiHypothesisUpsampler
        """
        self._validate_params()
        sigmas = self._sigmas()
        scales = tuple(int(s) for s in self.scales)
        if isinstance(self.weights, FaceEDSR):
            # A copy, so that fit leaves the caller's module (its device, its
            # training mode) as it was.
            net, card = copy.deepcopy(self.weights).to(self.device).eval(), {}
        else:
            net, card = load_edsr(self.weights, device=self.device)
        missing = [s for s in scales if s not in net.scales]
        if missing:
            raise InvalidParameterError(
                f"scales={self.scales!r}: the network has no tail for {missing}; it has {net.scales}"
            )
        self.net_ = net
        self.card_ = card
        self.scales_ = scales
        self.sigmas_ = sigmas
        self.n_hypotheses_ = len(scales) * len(sigmas) + bool(self.include_original)
        return self

    def fit_transform(self, X, y=None):
        """Fit, then return the **gallery unchanged** as hypothesis sets (no super-resolution).

        Parameters
        ----------
        X : sequence of images or paths, 4-D uint8 array, or list of HypothesisSet
            Gallery samples.
        y : ignored

        Returns
        -------
        sets : list of HypothesisSet
            ``as_hypothesis_sets(X)``: the gallery as it came.
        """
        sets = as_hypothesis_sets(X, name="X")
        self.fit(X, y)
        return sets

    def transform(self, X):
        """Super-resolve every **probe** into its hypotheses.

        Parameters
        ----------
        X : sequence of images or paths, 4-D uint8 array, or list of HypothesisSet
            Probes; a HypothesisSet must hold exactly one image.

        Returns
        -------
        sets : list of HypothesisSet
            One per probe, with :attr:`n_hypotheses_` images each. The
            images are made when first read, a few probes at a time, so
            that memory does not grow with the number of probes;
            :class:`~skmitm.TemplateExtractor` drops them again once their
            templates exist. ``list(hs.data)`` gives them as a plain list.
        """
        check_is_fitted(self, "net_")
        sets = as_hypothesis_sets(X, name="X", allow_templates=False)
        probes = []
        for i, hs in enumerate(sets):
            if hs.has_templates or len(hs) != 1:
                raise ValueError(
                    f"X[{i}] is a HypothesisSet of {len(hs)} "
                    f"{'templates' if hs.has_templates else 'images'}; expected one probe image"
                )
            probes.append(hs.data[0])
        # Bounded before any allocation: a large probe at 8× is gigabytes per hypothesis.
        limit, largest = pixel_limit(), max(self.scales_)
        for i, probe in enumerate(probes):
            if probe.shape[0] * probe.shape[1] * largest**2 > limit:
                raise ValueError(
                    f"X[{i}] is {probe.shape[0]}×{probe.shape[1]} pixels: super-resolved {largest}× it exceeds the "
                    f"pixel limit of {limit}; expected a small probe face (resize or crop it first)"
                )
        # Probes are super-resolved lazily, a block at a time, when their
        # images are first read (TemplateExtractor reads a few thousand at a
        # time and then releases them), so memory does not grow with the
        # number of probes. A block is a run of probes of one size whose
        # blurred copies fill whole network batches: the network sees exactly
        # the batches an all-at-once pass would, so the images are the same.
        per_block = self.batch_size // math.gcd(self.batch_size, len(self.sigmas_))
        by_size = {}
        for i, probe in enumerate(probes):
            by_size.setdefault(probe.shape[:2], []).append(i)
        data = [None] * len(probes)
        for indices in by_size.values():
            for start in range(0, len(indices), per_block):
                block = _SuperResolvedBlock(self, [probes[i] for i in indices[start : start + per_block]])
                for k, i in enumerate(indices[start : start + per_block]):
                    data[i] = _SuperResolvedImages(block, k)
        n_sigmas = len(self.sigmas_)
        scale_meta = np.repeat(np.asarray(self.scales_, dtype=np.float32), n_sigmas)
        sigma_meta = np.tile(self.sigmas_, len(self.scales_))
        n_sr = len(self.scales_) * n_sigmas
        result = []
        for probe, images in zip(probes, data):
            meta = make_meta(n_sr, scale=scale_meta, kind="super-resolved", sigma=sigma_meta, size=probe.shape[0])
            if self.include_original:
                meta = np.concatenate([make_meta(1, size=probe.shape[0]), meta])
            result.append(HypothesisSet(images, meta))
        return result

    def blurred_copies(self, probe):
        """The probe's blurred copies, one per sigma: the network's input in :meth:`transform`.

        Parameters
        ----------
        probe : ndarray of shape (H, W, 3), dtype uint8
            One probe image.

        Returns
        -------
        copies : ndarray of shape (n_sigmas, H, W, 3), dtype float32
            Values in [0, 1], one copy per entry of ``sigmas_``; copy ``j`` is blurred with ``sigmas_[j]``.
        """
        check_is_fitted(self, "sigmas_")
        image = probe.astype(np.float32) / 255.0
        copies = []
        for sigma in self.sigmas_:
            if sigma < _NO_BLUR_SIGMA:
                copies.append(image)
            else:
                copies.append(cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101))
        return np.stack(copies)

    def distinct_copies(self, probes):
        """The network's input for some probes: their distinct blurred copies, and which copy each sigma gives.

        A probe's blurred copies that are equal (sigma 0 and the sigmas that
        blur nothing, see ``sigmas``) are one copy, which the network runs
        once in :meth:`transform`.

        Parameters
        ----------
        probes : sequence of ndarray of shape (H, W, 3), dtype uint8
            Probe images, all of one size.

        Returns
        -------
        copies : ndarray of shape (n_copies, H, W, 3), dtype float32
            The distinct copies, probe by probe, values in [0, 1].
        rows : ndarray of shape (n_probes, n_sigmas), dtype int
            ``copies[rows[k, j]]`` is probe ``k`` blurred with ``sigmas_[j]``.

        Examples
        --------
        >>> import numpy as np
        >>> from skmitm import MultiHypothesisUpsampler
        >>> up = MultiHypothesisUpsampler(scales=(2,), sigmas=16, n_threads=1).fit()
        >>> probe = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
        >>> copies, rows = up.distinct_copies([probe, probe])
        >>> copies.shape, rows[:, :4].tolist()
        ((28, 24, 24, 3), [[0, 0, 0, 1], [14, 14, 14, 15]])
        """
        distinct, rows = [], []
        for probe in probes:
            own, probe_rows = [], []
            for copy_ in self.blurred_copies(probe):
                row = next((r for r in own if np.array_equal(distinct[r], copy_)), None)
                if row is None:
                    row = len(distinct)
                    distinct.append(copy_)
                    own.append(row)
                probe_rows.append(row)
            rows.append(probe_rows)
        return np.stack(distinct), np.asarray(rows, dtype=np.intp)

    def _super_resolve(self, probes):
        """Per probe (all of one size), its SR images ordered scale by scale, sigma by sigma.

        Blur levels whose copy is the probe itself (sigma 0 and the sigmas
        that blur nothing, see ``sigmas``: with the paper's 16 sigmas from 0
        to 1, the first three) are super-resolved once: their hypotheses are
        one shared image object, which :class:`~skmitm.TemplateExtractor`
        also computes only once.
        """
        lr, rows = self.distinct_copies(probes)
        device = torch.device(self.device)
        per_scale = {s: [] for s in self.scales_}
        for start in range(0, len(lr), self.batch_size):
            x = torch.from_numpy(lr[start : start + self.batch_size]).permute(0, 3, 1, 2).to(device)
            features = self.net_.features(x)
            for s in self.scales_:
                y = self.net_.upsample(x, features, s)
                y = y.clamp_(0, 1).mul_(255).round_().to(torch.uint8)
                per_scale[s].append(y.permute(0, 2, 3, 1).contiguous().cpu())
        images = {s: list(torch.cat(v).numpy()) for s, v in per_scale.items()}
        return [[images[s][r] for s in self.scales_ for r in probe_rows] for probe_rows in rows]


# A Gaussian whose weight one pixel off the centre is below 2⁻²⁶ blurs
# nothing: OpenCV's normalised centre weight rounds to exactly 1 in float32,
# and the neighbours' share moves a pixel by no more than its rounding.
# exp(-1 / (2 sigma²)) < 2⁻²⁶ is sigma below sqrt(1 / (52 ln 2)) ≈ 0.1666.
_NO_BLUR_SIGMA = math.sqrt(1.0 / (52.0 * math.log(2.0)))


class _SuperResolvedBlock:
    """A few probes of one size, super-resolved together on first access.

    Each probe's hypothesis images are kept until :meth:`release` drops them;
    a released probe read again is super-resolved again (same images).
    """

    __slots__ = ("upsampler", "probes", "images", "n_hypotheses")

    def __init__(self, upsampler, probes):
        self.upsampler = upsampler
        self.probes = probes
        self.images = [None] * len(probes)
        self.n_hypotheses = upsampler.n_hypotheses_

    def get(self, k):
        if self.images[k] is None:
            up = self.upsampler
            with torch_threads(up.n_threads), torch.inference_mode():
                computed = up._super_resolve(self.probes)
            for j, (probe, images) in enumerate(zip(self.probes, computed)):
                if self.images[j] is None:
                    self.images[j] = [probe] + images if up.include_original else images
        return self.images[k]

    def release(self, k):
        self.images[k] = None


class _SuperResolvedImages(Sequence):
    """The hypothesis images of one probe, made on first access (see ``transform``).

    ``release()`` frees them once their templates exist; a copy or a pickle
    is a plain list of the images.
    """

    __slots__ = ("block", "index")

    def __init__(self, block, index):
        self.block = block
        self.index = index

    def __len__(self):
        return self.block.n_hypotheses

    def __getitem__(self, index):
        return self.block.get(self.index)[index]

    def __iter__(self):
        return iter(self.block.get(self.index))

    def release(self):
        self.block.release(self.index)

    def __reduce__(self):
        return (list, (list(self),))
