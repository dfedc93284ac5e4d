"""Hypothesis sets: what travels between the steps of a skmitm pipeline.

One sample (a gallery photo or a probe frame) becomes many *hypotheses* on its
way through the pipeline: degraded and resolution-matched copies of a gallery
image, super-resolved copies of a probe at several scales and blur levels, and
finally one face template per hypothesis. A :class:`HypothesisSet` holds all of
them for one sample, images or templates, with one metadata record each.
"""

import numpy as np

from ._validation import check_image, check_length

__all__ = [
    "HypothesisSet",
    "KINDS",
    "META_DTYPE",
    "as_hypothesis_sets",
    "make_meta",
]

#: The kinds of hypothesis, in the order of the pipeline.
#:
#: - ``"original"``: the input image itself (scale 1). On the gallery side an
#:   original is compared with probe hypotheses of every scale.
#: - ``"matched"``: a gallery image resized to the probe's size × scale
#:   (resolution matching), not otherwise degraded.
#: - ``"degraded"``: a gallery image after a degradation chain, then
#:   resolution-matched.
#: - ``"super-resolved"``: a probe upsampled by the face super-resolution
#:   network at one scale from one blurred copy.
KINDS = ("original", "matched", "degraded", "super-resolved")

#: Metadata of one hypothesis: its scale (the probe magnification it belongs
#: to; 1 for originals), kind (one of :data:`KINDS`), the Gaussian blur sigma
#: applied before super-resolution (NaN where none), the degradation chain as
#: degradation names joined by ``">"`` (empty where none) and the probe size
#: it belongs to: the height in pixels of the low-resolution probe (probe
#: side) or of the probe-size bucket it was resolution-matched for (gallery
#: side); 0 where it does not apply (gallery originals).
META_DTYPE = np.dtype(
    [("scale", "f4"), ("kind", "U14"), ("sigma", "f4"), ("chain", "U128"), ("size", "i4")]
)


def make_meta(n, *, scale=1.0, kind="original", sigma=np.nan, chain="", size=0):
    """Build metadata for ``n`` hypotheses; each field may be a scalar or length-``n`` sequence.

    Parameters
    ----------
    n : int
        Number of hypotheses.
    scale : float or array-like of float, default=1.0
    kind : str or array-like of str, default="original"
    sigma : float or array-like of float, default=nan
    chain : str or array-like of str, default=""
    size : int or array-like of int, default=0

    Returns
    -------
    meta : ndarray of shape (n,), dtype META_DTYPE

    Examples
    --------
    >>> from skmitm import make_meta
    >>> meta = make_meta(2, scale=[2, 4], kind="super-resolved", sigma=0.0)
    >>> meta["scale"].tolist(), meta["kind"].tolist()
    ([2.0, 4.0], ['super-resolved', 'super-resolved'])
    """
    meta = np.zeros(n, dtype=META_DTYPE)
    meta["scale"] = scale
    meta["kind"] = kind
    meta["sigma"] = sigma
    meta["chain"] = chain
    meta["size"] = size
    bad = ~np.isin(meta["kind"], KINDS)
    if bad.any():
        raise ValueError(f"unknown hypothesis kind {str(meta['kind'][bad][0])!r}; expected one of {KINDS}")
    if not (meta["scale"] > 0).all():
        raise ValueError(f"hypothesis scales must be positive; got {meta['scale'][~(meta['scale'] > 0)][0]}")
    return meta


class HypothesisSet:
    """All hypotheses of one sample: images or templates, with metadata.

    Parameters
    ----------
    data : list of ndarray of shape (H, W, 3) uint8, or ndarray of shape (n, D)
        Either one image per hypothesis (sizes may differ) or one template per
        row.
    meta : ndarray of shape (n,), dtype META_DTYPE
        One metadata record per hypothesis (see :func:`make_meta`).

    Attributes
    ----------
    data : list of ndarray or ndarray
    meta : ndarray of dtype META_DTYPE

    Notes
    -----
    Sets are plain, picklable Python objects. A batch of samples is a ``list``
    of sets, so scikit-learn's indexing (``_safe_indexing``, cross-validation
    splits) works on it unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import HypothesisSet
    >>> hs = HypothesisSet.from_image(np.zeros((24, 24, 3), np.uint8))
    >>> len(hs), hs.has_templates, hs.meta["kind"][0]
    (1, False, np.str_('original'))
    """

    __slots__ = ("data", "meta")

    def __init__(self, data, meta):
        n = data.shape[0] if isinstance(data, np.ndarray) else len(data)
        if meta.dtype != META_DTYPE:
            raise TypeError(f"meta has dtype {meta.dtype}; expected skmitm.META_DTYPE")
        if meta.shape != (n,):
            raise ValueError(f"meta has shape {meta.shape} for {n} hypotheses; expected ({n},)")
        if isinstance(data, np.ndarray) and data.ndim != 2:
            raise ValueError(f"templates have shape {data.shape}; expected (n_hypotheses, n_features)")
        self.data = data
        self.meta = meta

    @classmethod
    def from_image(cls, image, *, name="image"):
        """A set holding one image as its single ``"original"`` hypothesis (size = its height)."""
        image = check_image(image, name=name)
        return cls([image], make_meta(1, size=image.shape[0]))

    @classmethod
    def from_template(cls, template):
        """A set holding one template vector as its single ``"original"`` hypothesis."""
        template = np.asarray(template, dtype=np.float32).reshape(1, -1)
        return cls(template, make_meta(1))

    @property
    def has_templates(self):
        """True when the set holds templates (a 2-D array) rather than images."""
        return isinstance(self.data, np.ndarray)

    def __len__(self):
        return len(self.meta)

    def __getstate__(self):
        return {"data": self.data, "meta": self.meta}

    def __setstate__(self, state):
        self.data = state["data"]
        self.meta = state["meta"]

    def __repr__(self):
        what = f"templates of {self.data.shape[1]} features" if self.has_templates else "images"
        kinds = {str(k): int(c) for k, c in zip(*np.unique(self.meta["kind"], return_counts=True))}
        return f"HypothesisSet({len(self)} {what}, kinds={kinds})"

    def select(self, mask):
        """A new set holding only the hypotheses where ``mask`` is true (or at those indices)."""
        index = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask, dtype=np.intp)
        data = self.data[index] if self.has_templates else [self.data[i] for i in index]
        return HypothesisSet(data, self.meta[index])

    def with_data(self, data):
        """A new set with the same metadata and new data (e.g. templates for images)."""
        return HypothesisSet(data, self.meta)

    @staticmethod
    def concatenate(sets):
        """Join the hypotheses of several sets of the same type into one set."""
        sets = list(sets)
        if not sets:
            raise ValueError("concatenate needs at least one HypothesisSet")
        meta = np.concatenate([s.meta for s in sets])
        if all(s.has_templates for s in sets):
            return HypothesisSet(np.concatenate([s.data for s in sets]), meta)
        if any(s.has_templates for s in sets):
            raise TypeError("cannot concatenate sets of images with sets of templates")
        return HypothesisSet([im for s in sets for im in s.data], meta)


def as_hypothesis_sets(X, *, name="X", allow_templates=True):
    """Turn any accepted input into a list of :class:`HypothesisSet`.

    Parameters
    ----------
    X : list of HypothesisSet, sequence of images or paths, 4-D uint8 array, or 2-D float array
        Hypothesis sets pass through; images and paths become sets with one
        ``"original"`` image hypothesis; a 2-D numeric array (n_samples,
        n_features) is read as one template per sample when
        ``allow_templates`` is true.
    name : str, default="X"
        How the input is named in error messages.
    allow_templates : bool, default=True
        Whether a 2-D numeric array is accepted as templates.

    Returns
    -------
    sets : list of HypothesisSet
    """
    from ._validation import check_images

    if isinstance(X, np.ndarray) and X.dtype != object and X.ndim == 2 and X.dtype != np.uint8:
        if not allow_templates:
            raise ValueError(f"{name} has shape {X.shape}; expected images, not a 2-D array of templates")
        if X.shape[0] == 0:
            raise ValueError(f"{name} is empty; expected at least one sample")
        if X.dtype.kind not in "iuf":
            raise TypeError(f"{name} has dtype {X.dtype}; expected numeric templates")
        if not np.isfinite(X).all():
            raise ValueError(f"{name} contains NaN or infinity; expected finite templates")
        X = X.astype(np.float32)
        meta = make_meta(X.shape[0])
        return [HypothesisSet(X[i : i + 1], meta[i : i + 1]) for i in range(X.shape[0])]
    check_length(X, name, item="sample")
    if all(isinstance(x, HypothesisSet) for x in X):
        for i, x in enumerate(X):
            if len(x) == 0:
                raise ValueError(f"{name}[{i}] is a HypothesisSet with no hypotheses")
            if x.has_templates and not np.isfinite(x.data).all():
                raise ValueError(f"{name}[{i}] has NaN or infinite templates")
        return list(X)
    if any(isinstance(x, HypothesisSet) for x in X):
        raise TypeError(f"{name} mixes HypothesisSet objects with other samples")
    images = check_images(X, name=name)
    # one metadata array for all, sliced per sample: make_meta per image dominates for small images
    meta = make_meta(len(images), size=[im.shape[0] for im in images])
    return [HypothesisSet([im], meta[i : i + 1]) for i, im in enumerate(images)]
