"""FusedNearestNeighborIdentifier: the matching half of meet-in-the-middle.

Each probe and each gallery sample arrives as a set of hypothesis templates.
The identifier selects which hypotheses take part (scales, kinds, blur levels,
degradation chains), compares probe and gallery templates with a correlation
similarity, fuses hypotheses by template addition or concatenation and/or by
score max/addition, and ranks gallery subjects by the fused similarity.
"""

import os
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._blas import blas_threads
from ._hypotheses import KINDS, HypothesisSet, as_hypothesis_sets, make_meta
from ._param_validation import InvalidParameterError, Interval, ParamValidationMixin, SequenceOf, StrOptions
from ._validation import check_subjects, is_integer

__all__ = ["FUSION_STRATEGIES", "SIMILARITIES", "FusedNearestNeighborIdentifier"]

SIMILARITIES = ("pearson", "mean-centred", "cosine")

_RULES = ("T_add", "S_add", "S_max")


def _fusion_table():
    table = {"T_concat": ("T_concat", "T_concat")}
    for rule in _RULES:
        table[rule] = (rule, rule)
    for gallery_rule in _RULES:
        for probe_rule in _RULES:
            if gallery_rule != probe_rule:
                table[f"{gallery_rule}/{probe_rule}"] = (gallery_rule, probe_rule)
    return table


#: Every fusion strategy by name, as (rule over gallery hypotheses, rule over
#: probe hypotheses). A single rule name applies it on both sides: ``"S_max"``
#: is the best pair of hypotheses, ``"S_add"`` the mean over all pairs,
#: ``"T_add"`` one summed template per side, ``"T_concat"`` per-scale summed
#: templates concatenated. A two-level name ``"G/P"`` applies rule G over the
#: gallery hypotheses, then rule P over the probe hypotheses (the paper's
#: Figure 4 and Table 3): ``"S_max/S_add"`` is the paper's best,
#: ``"S_max/T_add"`` is Table 3's "T_add on the probe templates, then S_max".
FUSION_STRATEGIES = _fusion_table()

_MAX_SCORE_FLOATS = 1 << 24  # bounds one score block to 64 MiB of float32
_CACHE_FLOATS = 1 << 22  # one 16 MiB block of scores: few BLAS calls, each reduced at once


def _prepare(templates, similarity):
    """Centre (Pearson) and L2-normalise rows so that a dot product is the similarity.

    Templates under the "mean-centred" reading arrive already centred by
    their side's group means, so only "pearson" centres here.
    """
    t = np.array(templates, dtype=np.float32, copy=True)
    if similarity == "pearson":
        t -= t.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(t, axis=1, keepdims=True)
    np.divide(t, norms, out=t, where=norms > 0)
    return t


def _sigma_matches(sigmas, wanted):
    """Which stored (float32) blur sigmas are ``wanted``: equal up to float32 rounding, not nearby values."""
    return np.isclose(sigmas, np.float32(wanted), rtol=1e-6, atol=1e-6)


def _centring_groups(meta):
    """Group label (kind and scale) of each hypothesis, for the mean-centred reading."""
    return np.char.add(np.char.add(meta["kind"], "@"), meta["scale"].astype("U16"))


def _centre_by_group(templates, groups):
    """Subtract from each row the mean template of its group; return centred rows and the means."""
    centred = np.array(templates, dtype=np.float32, copy=True)
    means = {}
    for group in np.unique(groups):
        rows = groups == group
        means[str(group)] = templates[rows].mean(axis=0)
        centred[rows] -= means[str(group)]
    return centred, means


def _caller_stacklevel():
    """``stacklevel`` of the first frame outside skmitm and scikit-learn: the user's call, even through a Pipeline."""
    import sys

    import sklearn

    inside = (os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.abspath(sklearn.__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def _check_group_sizes(groups, owner, *, allow_single):
    """Warn for probe hypothesis groups of fewer than 10 probes; refuse single-probe groups unless allowed."""
    for group in np.unique(groups):
        count = len(np.unique(owner[groups == group]))
        if count == 1 and not allow_single:
            raise ValueError(
                f"only one probe in hypothesis group {str(group)!r}: centred on its own mean it has no "
                "template left under the mean-centred similarity; score more probes together, pass "
                "probe_means estimated from a reference set (estimate_probe_means), or enrol the gallery with "
                "skmitm.enrol, which estimates them from synthetic probes made from the gallery"
            )
        if count < 10:
            warnings.warn(
                f"only {count} probe(s) in hypothesis group {str(group)!r}: under the mean-centred similarity its "
                "mean template is mostly the probes themselves; score more probes together, or pass probe_means "
                "estimated from a reference set (estimate_probe_means)",
                UserWarning,
                stacklevel=_caller_stacklevel(),
            )


def _check_gallery_groups(groups, owner, classes):
    """Refuse a gallery hypothesis group of one subject: centred on its own mean it leaves only noise."""
    for group in np.unique(groups):
        subjects = np.unique(owner[groups == group])
        if len(subjects) == 1:
            raise ValueError(
                f"only subject {classes[subjects[0]].item()!r} has gallery hypotheses in group {str(group)!r}: "
                "centred on its own mean, its template is rounding noise under the mean-centred similarity; "
                "pass gallery_means from an identifier fitted on a background gallery (its gallery_means_), "
                "as skmitm.verify does"
            )


def _rounded_to_float16(sets):
    """The sets with their templates stored as float16; refuses a value float16 cannot hold."""
    limit = np.finfo(np.float16).max
    for i, s in enumerate(sets):
        if s.data.dtype != np.float16 and s.data.size and np.abs(s.data).max() > limit:
            raise ValueError(f"X[{i}] holds a template value of magnitude {np.abs(s.data).max():.6g}, beyond "
                             f"float16's largest ({limit:g}); use template_dtype='float32' or rescale the templates")
    return [HypothesisSet(s.data.astype(np.float16), s.meta) for s in sets]


def _segment_reduce(scores, starts, counts, rule, n_segments):
    """Reduce rows of ``scores`` over contiguous segments; empty segments give NaN rows."""
    out = np.full((n_segments, scores.shape[1]), np.nan, dtype=np.float32)
    nonempty = counts > 0
    if not nonempty.any():
        return out
    if nonempty.all() and (counts == counts[0]).all():
        blocks = scores.reshape(n_segments, counts[0], scores.shape[1])
        return blocks.max(axis=1) if rule == "S_max" else blocks.mean(axis=1)
    idx = starts[nonempty]
    if rule == "S_max":
        out[nonempty] = np.maximum.reduceat(scores, idx, axis=0)
    else:
        out[nonempty] = np.add.reduceat(scores, idx, axis=0) / counts[nonempty, None]
    return out


def _sorted_means(rows, runs, totals=None):
    """Mean of each run of ``runs[k]`` consecutive rows, summed in float64; zeros for a run of none.

    ``totals[k]`` is the number of templates behind run ``k`` when a row is a
    sum of several templates (None: one template per row).
    """
    sums = np.zeros((len(runs), rows.shape[1]), dtype=np.float64)
    nonempty = runs > 0
    if nonempty.any():
        starts = np.concatenate([[0], np.cumsum(runs)[:-1]])[nonempty]
        sums[nonempty] = np.add.reduceat(rows, starts, axis=0, dtype=np.float64)
    totals = runs if totals is None else totals
    return (sums / np.maximum(totals, 1)[:, None]).astype(np.float32)


#: A cell of the kept gallery: the hypotheses of one kind, scale and probe-size bucket, which is all that the
#: centring groups (kind and scale) and the fusion groups (scale and size bucket, or originals) tell apart.
_CELL_DTYPE = np.dtype([("kind", "U14"), ("scale", "f4"), ("size", "i4")])


class _KeptGallery:
    """What an identifier keeps of its enrolled gallery: only what its fusion can use.

    Rows of ``data`` belong to a subject (``subjects``, codes into the
    identifier's ``classes_``) and a cell (``cell_of``, rows of ``cells``).
    Under the score fusions (gallery rule ``S_max``/``S_add``) a row is one
    selected template (count 1), in the identifier's ``template_dtype``.
    Under the template fusions (``T_add``/``T_concat``), which compare with
    each subject's mean template per group, a row is the sum of one subject's
    ``counts`` templates in one cell (``summed``): accumulated in float64 and
    stored in float32, whose rounding (one part in 2**24) is that of the
    float32 mean templates the fusion compares, at half float64's bytes.
    The gallery means of the mean-centred similarity, and the centred means of
    every fusion group, are sums of these sums.
    """

    __slots__ = ("cells", "data", "counts", "subjects", "cell_of", "summed")

    def __init__(self, cells, data, counts, subjects, cell_of, summed):
        self.cells, self.data, self.counts = cells, data, counts
        self.subjects, self.cell_of, self.summed = subjects, cell_of, summed

    @classmethod
    def of_rows(cls, data, counts, cells, subjects, *, summed):
        """Rows with their cell records (``cells``, one per row) and subject codes; summed by subject and cell."""
        cells, cell_of = np.unique(np.asarray(cells, dtype=_CELL_DTYPE), return_inverse=True)
        cell_of = cell_of.ravel().astype(np.int32)
        subjects = np.asarray(subjects, dtype=np.int32)
        counts = np.asarray(counts, dtype=np.int64)
        if not summed:
            return cls(cells, data, counts, subjects, cell_of, False)
        key = subjects.astype(np.int64) * len(cells) + cell_of
        order = np.argsort(key, kind="stable")
        keys, starts = np.unique(key[order], return_index=True)
        sums = np.add.reduceat(data[order], starts, axis=0, dtype=np.float64)
        return cls(cells, sums.astype(np.float32), np.add.reduceat(counts[order], starts),
                   (keys // len(cells)).astype(np.int32), (keys % len(cells)).astype(np.int32), True)

    def as_summed(self):
        """The same gallery with its rows summed by subject and cell."""
        return _KeptGallery.of_rows(self.data, self.counts, self.cells[self.cell_of], self.subjects, summed=True)

    def merged(self, other, subject_codes, other_codes):
        """This gallery and ``other``, their subjects recoded (``codes[old] = new``), rows of one subject and cell
        summed."""
        return _KeptGallery.of_rows(np.concatenate([self.data, other.data]),
                                    np.concatenate([self.counts, other.counts]),
                                    np.concatenate([self.cells[self.cell_of], other.cells[other.cell_of]]),
                                    np.concatenate([subject_codes[self.subjects], other_codes[other.subjects]]),
                                    summed=self.summed)

    @property
    def nbytes(self):
        """Bytes of the kept arrays."""
        return sum(a.nbytes for a in (self.cells, self.data, self.counts, self.subjects, self.cell_of))

    def group_means(self, keep=None):
        """Mean template (float32) of each centring group (``"kind@scale"``) over the subjects ``keep`` (a mask
        over subject codes; None: all), summed in float64."""
        groups = _centring_groups(self.cells)[self.cell_of]
        rows = np.ones(len(self.counts), dtype=bool) if keep is None else keep[self.subjects]
        means = {}
        for group in np.unique(groups[rows]):
            mine = rows & (groups == group)
            total = self.data[mine].sum(axis=0, dtype=np.float64)
            means[str(group)] = (total / self.counts[mine].sum()).astype(np.float32)
        return means

    def to_arrays(self):
        """The arrays of a gallery file."""
        return {"templates": self.data, "counts": self.counts, "subject_of": self.subjects, "cells": self.cells,
                "cell_of": self.cell_of}

    @classmethod
    def from_arrays(cls, arrays, n_classes, *, summed, dtype):
        """Rebuild from :meth:`to_arrays`' arrays, checked: a ValueError names what is wrong."""
        data, counts = arrays["templates"], arrays["counts"]
        subjects, cells, cell_of = arrays["subject_of"], arrays["cells"], arrays["cell_of"]
        n = len(data)
        if data.ndim != 2 or data.dtype != (np.float32 if summed else np.dtype(dtype)):
            raise ValueError(f"templates of shape {data.shape} and dtype {data.dtype}; expected 2-D "
                             f"{'float32 sums' if summed else dtype + ' templates'}")
        if cells.dtype != _CELL_DTYPE or not np.isin(cells["kind"], KINDS).all():
            raise ValueError("hypothesis cells of another kind or layout than skmitm writes")
        for name, array, stop in (("subject_of", subjects, n_classes), ("cell_of", cell_of, len(cells))):
            if array.shape != (n,) or array.dtype.kind not in "iu" or (n and not (0 <= array.min() <= array.max()
                                                                                < stop)):
                raise ValueError(f"{name} must hold {n} integers in [0, {stop})")
        if counts.shape != (n,) or counts.dtype.kind not in "iu" or (counts < 1).any() or (
                not summed and (counts != 1).any()):
            raise ValueError(f"counts must hold {n} positive integers{'' if summed else ' equal to 1'}")
        return cls(cells, data, counts.astype(np.int64), subjects.astype(np.int32), cell_of.astype(np.int32),
                   summed)


class _GalleryGroup:
    """Gallery rows that one probe scale/size is compared with.

    Under the score fusions every row, sorted by subject (``raw``, until
    prepared; ``starts``); under the template fusions (``summed``, each row a
    sum of templates) only each subject's mean template. ``counts`` are the
    templates of each subject in the group.
    """

    __slots__ = ("raw", "starts", "counts", "prepared", "subject_means")

    def __init__(self, rows, counts, subjects, n_classes, *, summed):
        order = np.argsort(subjects, kind="stable")
        runs = np.bincount(subjects, minlength=n_classes)
        self.counts = np.bincount(subjects, weights=counts, minlength=n_classes).astype(np.int64)
        self.prepared = None
        if summed:
            self.subject_means = _sorted_means(rows[order], runs, self.counts)
            self.raw = self.starts = None
        else:
            self.raw = np.ascontiguousarray(rows[order], dtype=np.float32)
            self.starts = np.concatenate([[0], np.cumsum(runs)[:-1]]).astype(np.intp)
            self.subject_means = None


class FusedNearestNeighborIdentifier(ClassifierMixin, ParamValidationMixin, BaseEstimator):
    """Nearest-neighbour face identification over fused multi-hypothesis templates.

    ``fit`` enrols a gallery: one hypothesis set of templates per gallery
    image and its subject. ``predict`` gives each probe the subject whose
    gallery hypotheses are most similar after fusion; ``decision_function``
    returns the fused similarity to every subject, so rank-k rates come from
    :func:`sklearn.metrics.top_k_accuracy_score`; ``score`` is the rank-1
    identification rate. With a ``threshold``, ``predict`` answers
    ``unknown_label`` for probes whose best score is below it (open-set
    identification; :func:`skmitm.calibrate_open_set` sets it for a target
    false-positive identification rate).

    Which hypotheses take part is chosen here, late, so one set of templates
    serves every row of the paper's ablation and a ``GridSearchCV`` over these
    parameters never recomputes a template.

    Parameters
    ----------
    fusion : str, default="S_max/S_add"
        A name from :data:`FUSION_STRATEGIES`: ``"S_max"``, ``"S_add"``,
        ``"T_add"``, ``"T_concat"``, or a two-level ``"G/P"`` (rule G over the
        gallery hypotheses, then rule P over the probe hypotheses). The default
        is the paper's best: the most similar gallery hypothesis for each probe
        hypothesis, then the mean over probe hypotheses.
    similarity : {"pearson", "mean-centred", "cosine"}, default="pearson"
        Template similarity (Eq. 3 of the paper); ``"mean-centred"`` needs a
        gallery of at least two subjects. ``"pearson"`` centres each
        template on its own mean; ``"mean-centred"`` subtracts the mean
        template of its side and hypothesis group (kind and scale): the
        gallery's from ``fit``, the probes' from the probes passed to
        ``decision_function`` together (see Notes); ``"cosine"`` centres
        nothing.
    scales : sequence of float, default=None
        Scales that take part (probe hypotheses of these scales, gallery
        ``"matched"``/``"degraded"`` hypotheses of these scales). Gallery
        ``"original"`` hypotheses take part at every scale. None keeps all.
    probe_kinds : sequence of str, default=None
        Kinds of probe hypotheses that take part (see :data:`skmitm.KINDS`).
        None keeps all.
    gallery_kinds : sequence of str, default=None
        Kinds of gallery hypotheses that take part. None keeps all.
    probe_sigmas : sequence of float, default=None
        Blur sigmas of the ``"super-resolved"`` probe hypotheses that take
        part, e.g. ``(0.0,)`` for single-hypothesis super-resolution. None
        keeps all. A sigma matches a hypothesis's up to float32 rounding
        only (``1/3`` matches ``0.33333334``; ``0.333`` does not match
        ``0.33``); a sigma that matches no super-resolved probe hypothesis
        is an error listing the sigmas the probes hold.
    n_degraded : int, default=None
        Use only the first ``n_degraded`` degradation chains of each gallery
        image (the degrader orders chains randomly, so this is a random
        subset). None keeps all.
    chunk_size : int, default=None
        Probes compared at once. None sizes chunks so that one block of
        scores stays under 64 MiB.
    probe_means : dict of str to array-like of shape (n_features,), default=None
        Under ``"mean-centred"``, the mean probe template of each probe
        hypothesis group (``"kind@scale"``), as :meth:`estimate_probe_means`
        returns them for a reference set of unlabelled probe-domain images.
        Each probe is then scored on its own, whatever batch it comes in.
        None takes the means over the probes scored together. Used only at
        scoring time, so it can be set after ``fit``.
    gallery_means : dict of str to array-like of shape (n_features,), default=None
        Under ``"mean-centred"``, the mean gallery template of each gallery
        hypothesis group (``"kind@scale"``) to subtract instead of the
        enrolled gallery's own means: typically another identifier's
        ``gallery_means_``, fitted on a background gallery of other people.
        Needed for a gallery of one subject (1:1 verification), whose own
        mean is that subject's template: centred on it, nothing but rounding
        noise is left. None takes the means of the enrolled gallery.
    threshold : float or dict of int to float, default=None
        Open-set identification: :meth:`predict` answers ``unknown_label``
        for a probe whose best fused score is below the threshold. A dict
        maps probe sizes (heights in pixels) to thresholds, and each probe
        takes the threshold of the size nearest its own (scores shift with
        resolution); :func:`skmitm.calibrate_open_set` finds them for a
        target false-positive identification rate. None is closed-set: the
        best subject is always named. Used only by ``predict``, so it can be
        set after ``fit``; ``decision_function`` ignores it.
    unknown_label : str or int, default="unknown"
        What :meth:`predict` answers for a probe below ``threshold``.
    template_dtype : {"float32", "float16"}, default="float32"
        Precision in which the enrolled gallery templates are kept (and
        written by :func:`skmitm.save_gallery`). ``"float16"`` halves the
        templates kept by the score fusions: ``fit`` rounds each gallery
        template to float16 once, and everything after (summing, centring,
        fusion, scoring) runs on the rounded values, so the scores are
        exactly those of a float32 identifier fitted on the rounded
        templates. The ``T_concat`` and ``T_add`` gallery rules keep float32
        sums of the (rounded) templates whatever the dtype. Probes are not
        rounded.

    Attributes
    ----------
    classes_ : ndarray of shape (n_subjects,)
        Enrolled subjects, sorted.
    n_features_in_ : int
        Template dimension.
    gallery_means_ : dict of str to ndarray of shape (n_features,)
        Mean gallery template of each hypothesis group (``"kind@scale"``),
        subtracted under ``"mean-centred"`` (the ``gallery_means`` given, if
        any); empty otherwise.
    gallery_scales_ : ndarray
        Scales of the selected non-original gallery hypotheses.
    gallery_sizes_ : ndarray
        Probe-size buckets (heights) of the selected non-original gallery
        hypotheses; a probe is compared with the bucket nearest its size.
    n_gallery_hypotheses_ : int
        Number of gallery hypotheses that take part.
    gallery_nbytes_ : int
        Bytes of what the identifier keeps of the enrolled gallery for
        :meth:`add_subjects`, :func:`skmitm.save_gallery` and open-set
        calibration: the selected templates, or under the ``T_concat`` and
        ``T_add`` gallery rules each subject's float32 sum and count of
        templates per kind, scale and probe size; and each image's subject.

    See Also
    --------
    skmitm.GalleryDegrader : gallery hypotheses (degraded, resolution-matched).
    skmitm.MultiHypothesisUpsampler : probe hypotheses (super-resolved).
    skmitm.TemplateExtractor : hypothesis images to templates.

    Notes
    -----
    Pairs: a probe hypothesis of scale ``s`` is compared with the gallery
    ``"original"`` hypotheses and the gallery hypotheses of scale ``s`` (and
    of the probe-size bucket nearest the probe's height). Score addition is a
    mean, so subjects with different numbers of hypotheses compare fairly; it
    ranks exactly like the paper's sum when counts are equal. Template
    addition is likewise a mean (the similarity ignores length). A subject
    with no gallery hypothesis for any of a probe's hypotheses gets a score
    of ``-inf`` for that probe.

    Under ``"mean-centred"`` the probe side's mean templates are taken over
    the probes scored together, so a probe's scores depend on the batch it
    comes with (the paper's "mean probe template" is such a mean). Score the
    whole probe set at once; a group of fewer than 10 probes gives a
    ``UserWarning``, since its mean is mostly the probes themselves. To score
    probes one at a time, estimate the means once from a reference set of
    unlabelled images from the probes' domain (the same cameras) with
    :meth:`estimate_probe_means` and pass them as ``probe_means``: on the
    public benchmark (moderate 24 px, T_concat) 100 reference probes of
    other subjects came within 0.1 points of the whole-batch rank-1 with
    MobileFaceNet and within 1.3 with dlib's network; 300 matched it with
    both (``python benchmarks/probe_reference.py``).

    ``decision_function`` has one column per subject also for two subjects
    (scikit-learn's binary classifiers return one column), because rank-k
    identification needs a score for every subject.

    References
    ----------
    K. Grm, B. K. Özata, V. Štruc, H. K. Ekenel. "Meet-in-the-middle:
    Multi-scale upsampling and matching for cross-resolution face
    recognition". WACV Workshops, 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import FusedNearestNeighborIdentifier
    >>> rng = np.random.default_rng(0)
    >>> gallery = rng.normal(size=(3, 16))
    >>> probes = gallery[[2, 0]] + 0.1 * rng.normal(size=(2, 16))
    >>> clf = FusedNearestNeighborIdentifier().fit(gallery, ["ann", "bob", "cy"])
    >>> clf.predict(probes).tolist()
    ['cy', 'ann']
    >>> clf.decision_function(probes).shape
    (2, 3)

    Open set: a probe of somebody not enrolled is answered ``"unknown"``
    when its best score stays below the threshold.

    >>> stranger = rng.normal(size=(1, 16))
    >>> clf.set_params(threshold=0.8).predict(np.vstack([probes, stranger])).tolist()
    ['cy', 'ann', 'unknown']
    """

    _parameter_constraints = {
        "fusion": [StrOptions(set(FUSION_STRATEGIES))],
        "similarity": [StrOptions(set(SIMILARITIES))],
        "scales": [None, SequenceOf(Interval(Real, None, None))],
        "probe_kinds": [None, SequenceOf(StrOptions(set(KINDS)))],
        "gallery_kinds": [None, SequenceOf(StrOptions(set(KINDS)))],
        "probe_sigmas": [None, SequenceOf(Interval(Real, None, None))],
        "n_degraded": [None, Interval(Integral, 0, None, closed="left")],
        "chunk_size": [None, Interval(Integral, 1, None, closed="left")],
        # Checked against similarity (and non-empty) at fit and at scoring time.
        "probe_means": [None, dict],
        "gallery_means": [None, dict],
        # Checked to be finite (or a dict of probe size to finite) at fit and at predict time.
        "threshold": [None, Interval(Real, None, None), dict],
        "unknown_label": [str, Real],
        "template_dtype": [StrOptions({"float32", "float16"})],
    }

    def __init__(
        self,
        fusion="S_max/S_add",
        *,
        similarity="pearson",
        scales=None,
        probe_kinds=None,
        gallery_kinds=None,
        probe_sigmas=None,
        n_degraded=None,
        chunk_size=None,
        probe_means=None,
        gallery_means=None,
        threshold=None,
        unknown_label="unknown",
        template_dtype="float32",
    ):
        self.fusion = fusion
        self.similarity = similarity
        self.scales = scales
        self.probe_kinds = probe_kinds
        self.gallery_kinds = gallery_kinds
        self.probe_sigmas = probe_sigmas
        self.n_degraded = n_degraded
        self.chunk_size = chunk_size
        self.probe_means = probe_means
        self.gallery_means = gallery_means
        self.threshold = threshold
        self.unknown_label = unknown_label
        self.template_dtype = template_dtype

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        """Every parameter check of ``fit``."""
        self._validate_params()
        self._check_probe_means()
        self._check_open_set_params()

    def _check_open_set_params(self):
        """What the constraints cannot say about gallery means (non-empty, mean-centred only) and thresholds."""
        if self.gallery_means is not None:
            if not self.gallery_means:
                raise InvalidParameterError("gallery_means must be None or a non-empty dict of hypothesis group to "
                                            "mean template, as another identifier's gallery_means_")
            if self.similarity != "mean-centred":
                raise InvalidParameterError(
                    f"gallery_means is set but similarity={self.similarity!r}; gallery means are used only under "
                    "similarity='mean-centred'")
        self._check_threshold()

    def _check_threshold(self):
        """A finite threshold, or a non-empty dict of positive probe sizes to finite thresholds."""
        threshold = self.threshold
        if threshold is None:
            return
        values = threshold.values() if isinstance(threshold, dict) else [threshold]
        keys_ok = not isinstance(threshold, dict) or (threshold and all(is_integer(k) and k > 0 for k in threshold))
        if not keys_ok or not all(isinstance(v, Real) and not isinstance(v, bool) and np.isfinite(v) for v in values):
            raise InvalidParameterError(
                f"threshold={threshold!r}; expected None, a finite number, or a non-empty dict of probe size (a "
                "positive integer) to a finite number")
        if not isinstance(self.unknown_label, (str, Real)) or isinstance(self.unknown_label, bool):
            raise InvalidParameterError(f"unknown_label={self.unknown_label!r}; expected a string or a number")
    def _check_probe_means(self):
        """What the constraints cannot say: probe means are a non-empty dict, and only for mean-centred."""
        if self.probe_means is not None:
            if not isinstance(self.probe_means, dict) or not self.probe_means:
                raise InvalidParameterError(
                    "probe_means must be None or a non-empty dict of hypothesis group to mean template, "
                    "as estimate_probe_means returns"
                )
            if self.similarity != "mean-centred":
                raise InvalidParameterError(
                    f"probe_means is set but similarity={self.similarity!r}; probe means are used only "
                    "under similarity='mean-centred'"
                )

    def _template_sets(self, X, *, reset):
        """Hypothesis sets of templates; a 2-D array is validated the scikit-learn way."""
        if isinstance(X, (list, tuple)) and not X:
            raise ValueError("X is empty; expected at least one sample")
        if isinstance(X, (list, tuple)) and X and all(isinstance(x, HypothesisSet) for x in X):
            sets = as_hypothesis_sets(X, name="X")
            for i, s in enumerate(sets):
                if not s.has_templates:
                    raise TypeError(
                        f"X[{i}] holds images; expected templates (put a TemplateExtractor before the identifier)"
                    )
            return sets
        if (isinstance(X, np.ndarray) and X.ndim == 4) or (
            isinstance(X, (list, tuple)) and X and all(getattr(x, "ndim", 0) == 3 or isinstance(x, str) for x in X)
        ):
            raise TypeError("X holds images; expected templates (put a TemplateExtractor before the identifier)")
        X = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64])
        X = X.astype(np.float32, copy=False)
        meta = make_meta(X.shape[0])
        return [HypothesisSet(X[i : i + 1], meta[i : i + 1]) for i in range(X.shape[0])]

    # -------------------------------------------------------------- selection
    def _in_scales(self, scale):
        if self.scales is None:
            return np.ones(scale.shape, dtype=bool)
        return np.isclose(scale[:, None], np.asarray(self.scales, dtype=np.float32)[None, :]).any(axis=1)

    def _gallery_mask(self, meta):
        kind = meta["kind"]
        keep = self._in_scales(meta["scale"]) | (kind == "original")
        if self.gallery_kinds is not None:
            keep &= np.isin(kind, self.gallery_kinds)
        if self.n_degraded is not None:
            degraded = kind == "degraded"
            chains = list(dict.fromkeys(meta["chain"][degraded]))[: self.n_degraded]
            keep &= ~degraded | np.isin(meta["chain"], chains)
        return keep

    def _probe_mask(self, meta):
        keep = self._in_scales(meta["scale"])
        if self.probe_kinds is not None:
            keep &= np.isin(meta["kind"], self.probe_kinds)
        if self.probe_sigmas is not None:
            sr = meta["kind"] == "super-resolved"
            wanted = np.zeros(len(meta), dtype=bool)
            for sigma in self.probe_sigmas:
                wanted |= _sigma_matches(meta["sigma"], sigma)
            keep &= ~sr | wanted
        return keep

    # -------------------------------------------------------------------- fit
    def fit(self, X, y):
        """Enrol the gallery.

        Parameters
        ----------
        X : list of HypothesisSet, or ndarray of shape (n_samples, n_features)
            Gallery templates: one hypothesis set per gallery image (a 2-D
            array is one template per image).
        y : array-like of shape (n_samples,)
            Subject of each gallery image; a subject may have several images.

        Returns
        -------
        self : FusedNearestNeighborIdentifier
        """
        self._check_params()
        sets = self._template_sets(X, reset=True)
        if y is not None:
            check_subjects(y, len(sets))  # before numpy turns mixed labels such as 1 and "1" into one type
        with warnings.catch_warnings():
            # One gallery image per subject is the normal case in identification,
            # so scikit-learn's "more than 50% unique classes" hint is noise here.
            warnings.filterwarnings("ignore", message="The number of unique classes", category=UserWarning)
            check_classification_targets(y)
        y = check_subjects(column_or_1d(y, warn=True), len(sets))
        dims = {s.data.shape[1] for s in sets}
        if len(dims) != 1:
            raise ValueError(f"X holds templates of different dimensions {sorted(dims)}; expected one dimension")
        if self.template_dtype == "float16":
            sets = _rounded_to_float16(sets)
        classes, codes = np.unique(y, return_inverse=True)
        self._fit_kept(self._kept_gallery(sets, codes.ravel()), classes)
        self._gallery_y = y
        return self

    def _selection(self):
        """The parameters that decide what the kept gallery holds."""
        return {"scales": None if self.scales is None else tuple(self.scales),
                "gallery_kinds": None if self.gallery_kinds is None else tuple(self.gallery_kinds),
                "n_degraded": self.n_degraded, "template_dtype": self.template_dtype}

    def _sums_templates(self):
        """Whether the fusion compares with mean templates only (gallery rule T_add or T_concat)."""
        return FUSION_STRATEGIES[self.fusion][0] in ("T_add", "T_concat")

    def _kept_gallery(self, sets, codes):
        """The selected hypotheses of ``sets`` (subject codes ``codes``), kept as the fusion needs them.

        Kept for add_subjects, for saving an enrolled gallery (skmitm.save_gallery) and for open-set calibration:
        rows outside the selection never are, and the template fusions keep sums per subject and cell.
        """
        lengths = [len(s) for s in sets]
        if self.n_degraded is None:  # one selection over all metadata; chains are chosen image by image
            per_set = np.split(self._gallery_mask(np.concatenate([s.meta for s in sets])), np.cumsum(lengths)[:-1])
        else:
            per_set = [self._gallery_mask(s.meta) for s in sets]
        templates = np.concatenate([s.data[k] for s, k in zip(sets, per_set)]).astype(self.template_dtype)
        meta = np.concatenate([s.meta[k] for s, k in zip(sets, per_set)])
        cells = np.zeros(len(meta), dtype=_CELL_DTYPE)
        for field in _CELL_DTYPE.names:
            cells[field] = meta[field]
        owner = np.repeat(codes.astype(np.intp), [int(k.sum()) for k in per_set])
        self._kept_selection = self._selection()
        return _KeptGallery.of_rows(templates, np.ones(len(templates), dtype=np.int64), cells, owner,
                                    summed=self._sums_templates())

    def _fit_kept(self, gallery, classes):
        """Enrol the kept gallery ``gallery`` of subjects ``classes``: everything scoring needs.

        Every check comes before the first attribute is set, so a refused gallery leaves the identifier as it was.
        """
        if self._sums_templates() and not gallery.summed:  # fitted under a score fusion, now a template one
            gallery = gallery.as_summed()
        n_classes = len(classes)
        if self.similarity == "mean-centred" and n_classes < 2 and self.gallery_means is None:
            # Centred on the mean of one subject, every template is (nearly)
            # zero: the scores would be rounding noise.
            raise ValueError(
                f"the gallery holds one subject ({classes[0].item()!r}); the mean-centred similarity needs at "
                "least two, since one subject's templates minus their own mean are zero; use 'pearson' or 'cosine', "
                "or pass gallery_means from a gallery of other people (as skmitm.verify does)"
            )
        owner, counts, cells = gallery.subjects, gallery.counts, gallery.cells[gallery.cell_of]
        missing = np.flatnonzero(np.bincount(owner, weights=counts, minlength=n_classes) == 0)
        if missing.size:
            raise ValueError(
                f"subject {classes[missing[0]].item()!r} has no gallery hypothesis left after selection "
                f"(gallery_kinds={self.gallery_kinds!r}, scales={self.scales!r}, n_degraded={self.n_degraded!r})"
            )
        # Sums of many templates are centred in float64; single templates in float32, as they are stored.
        templates = gallery.data.astype(np.float64 if gallery.summed else np.float32)
        gallery_means = {}
        if self.similarity == "mean-centred":
            groups = _centring_groups(cells)
            if self.gallery_means is None:
                _check_gallery_groups(groups, owner, classes)
            means = gallery.group_means() if self.gallery_means is None else self.gallery_means
            templates = self._centre_by_means(templates, groups, means, "gallery_means",
                                              counts=counts if gallery.summed else None)
            gallery_means = {str(g): np.asarray(means[str(g)], np.float32) for g in np.unique(groups)}
        original = cells["kind"] == "original"
        scales = np.unique(cells["scale"][~original])
        sizes = np.unique(cells["size"][~original & (cells["size"] > 0)])

        def group(member):
            return _GalleryGroup(templates[member], counts[member], owner[member], n_classes, summed=gallery.summed)

        groups = {"all": group(np.ones(len(cells), dtype=bool)), "original": group(original)}
        for scale in scales:
            at_scale = ~original & (cells["scale"] == scale)
            for size in sizes if sizes.size else [0]:
                member = original | (at_scale & ((cells["size"] == size) | (size == 0)))
                groups[(float(scale), int(size))] = group(member)
        gallery_rule, _ = FUSION_STRATEGIES[self.fusion]
        for member in groups.values():
            if gallery_rule == "T_add":
                member.prepared = _prepare(member.subject_means, self.similarity)
            elif gallery_rule != "T_concat":
                member.prepared = _prepare(member.raw, self.similarity)
                member.raw = None  # scoring reads the prepared rows only
        self._gallery, self.classes_ = gallery, classes
        self.n_features_in_ = templates.shape[1]
        self.n_gallery_hypotheses_ = int(counts.sum())
        self.gallery_means_, self.gallery_scales_, self.gallery_sizes_ = gallery_means, scales, sizes
        self._groups, self._concatenated = groups, {}
        return self

    @property
    def gallery_nbytes_(self):
        return self._gallery.nbytes + self._gallery_y.nbytes

    def _check_kept_selection(self, action):
        """Refuse to reuse the kept gallery under a selection that would need hypotheses it does not hold."""
        kept, now = self._kept_selection, self._selection()
        changed = [f"{name}={now[name]!r} (fitted with {kept[name]!r})" for name in now if now[name] != kept[name]]
        if self._gallery.summed and not self._sums_templates():
            changed.append(f"fusion={self.fusion!r}, which needs every gallery hypothesis, where the fitted "
                           "fusion kept each subject's sum per hypothesis group")
        if changed:
            raise ValueError(f"cannot {action}: {'; '.join(changed)}; the identifier keeps only the gallery "
                             "hypotheses its fit selected, as its fusion uses them: fit again on every template")

    def _refitted(self, **params):
        """A copy with ``params`` set, fitted on this identifier's kept gallery (no template is recomputed)."""
        other = clone(self).set_params(**params)
        other._check_params()
        other._kept_selection, other._gallery, other._gallery_y = self._kept_selection, self._gallery, self._gallery_y
        other._check_kept_selection("refit on the kept gallery")
        return other._fit_kept(self._gallery, self.classes_)

    def _restore(self, gallery, y):
        """Enrol a kept gallery read back from a gallery file, with ``y`` the subject of each enrolled image."""
        self._check_params()
        self._kept_selection = self._selection()
        self._fit_kept(gallery, np.unique(y))
        self._gallery_y = y
        return self

    def add_subjects(self, X, y):
        """Enrol more gallery samples without recomputing the templates of those enrolled.

        New subjects, or more images of enrolled ones. The identifier is
        refitted from what it kept of the gallery at ``fit`` (the selected
        templates; under the ``T_concat`` and ``T_add`` gallery rules each
        subject's sum and count of templates per kind, scale and probe size)
        and the new templates, so the result is the same as ``fit`` on the
        whole gallery, up to float32 rounding; no network runs. Under
        ``"mean-centred"`` the gallery means are **recomputed** from all kept
        and new templates (every subject's centred templates change a
        little). ``probe_means`` is a parameter and stays as it is. The
        selection (``scales``, ``gallery_kinds``, ``n_degraded``) and
        ``template_dtype`` must be those of ``fit``, and a gallery fitted
        under a template fusion cannot serve a score fusion: the hypotheses
        they need were not kept.

        Parameters
        ----------
        X : list of HypothesisSet, or ndarray of shape (n_samples, n_features)
            Templates of the new gallery samples.
        y : array-like of shape (n_samples,)
            Their subjects.

        Returns
        -------
        self : FusedNearestNeighborIdentifier

        Examples
        --------
        >>> import numpy as np
        >>> from skmitm import FusedNearestNeighborIdentifier
        >>> rng = np.random.default_rng(0)
        >>> gallery = rng.normal(size=(3, 16))
        >>> clf = FusedNearestNeighborIdentifier().fit(gallery[:2], ["ann", "bob"])
        >>> clf.add_subjects(gallery[2:], ["cy"]).classes_.tolist()
        ['ann', 'bob', 'cy']
        >>> clf.predict(gallery[2:] + 0.01).tolist()
        ['cy']
        """
        check_is_fitted(self, "classes_")
        sets = self._template_sets(X, reset=False)
        y = check_subjects(y, len(sets))
        if (y.dtype.kind in "US") != (self._gallery_y.dtype.kind in "US"):
            raise ValueError(f"y holds {y.dtype.kind!r}-kind subjects and the gallery {self._gallery_y.dtype.kind!r}-"
                             "kind ones; expected subjects of one kind (all strings or all integers)")
        self._check_params()
        self._check_kept_selection("add subjects")
        for i, s in enumerate(sets):
            if s.data.shape[1] != self.n_features_in_:
                raise ValueError(f"X[{i}] has templates of {s.data.shape[1]} features; the gallery has "
                                 f"{self.n_features_in_}")
        if self.template_dtype == "float16":
            sets = _rounded_to_float16(sets)
        everyone = np.concatenate([self._gallery_y, y])
        classes, codes = np.unique(everyone, return_inverse=True)
        codes = codes.ravel()
        added = self._kept_gallery(sets, codes[len(self._gallery_y):])
        gallery = self._gallery.merged(added, np.searchsorted(classes, self.classes_), np.arange(len(classes)))
        self._fit_kept(gallery, classes)
        self._gallery_y = everyone
        return self

    # ---------------------------------------------------------------- predict
    def _group_key(self, scale, size):
        if scale in self.gallery_scales_:
            if self.gallery_sizes_.size == 0:
                return (float(scale), 0)
            bucket = self.gallery_sizes_[np.argmin(np.abs(self.gallery_sizes_.astype(np.int64) - int(size)))]
            return (float(scale), int(bucket))
        return "original"

    def _selected_probe_rows(self, X):
        """Selected probe hypotheses: templates, metadata and owning probe of each row."""
        sets = self._template_sets(X, reset=False)
        self._check_probe_sigmas_found(sets)
        for i, s in enumerate(sets):
            if s.data.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X[{i}] has templates of {s.data.shape[1]} features; the gallery has {self.n_features_in_}"
                )
        # One selection over every probe's metadata at once (a loop of small
        # selections costs more than the scoring in a parameter sweep).
        lengths = [len(s) for s in sets]
        meta = np.concatenate([s.meta for s in sets])
        keep = self._probe_mask(meta)
        owner = np.repeat(np.arange(len(sets), dtype=np.intp), lengths)
        empty = np.flatnonzero(np.bincount(owner[keep], minlength=len(sets)) == 0)
        if empty.size:
            raise ValueError(
                f"X[{empty[0]}] has no hypothesis left after selection (probe_kinds={self.probe_kinds!r}, "
                f"scales={self.scales!r}, probe_sigmas={self.probe_sigmas!r})"
            )
        # Joined first, then selected: indexing each set's structured metadata costs more than the scoring.
        templates = np.concatenate([s.data for s in sets])[keep].astype(np.float32, copy=False)
        return len(sets), templates, meta[keep], owner[keep]

    def _check_probe_sigmas_found(self, sets):
        """Refuse a requested blur sigma that matches no super-resolved probe hypothesis (a typo, 0.333 for 0.33)."""
        if self.probe_sigmas is None:
            return
        sigmas = np.concatenate([s.meta["sigma"][s.meta["kind"] == "super-resolved"] for s in sets])
        if sigmas.size == 0:
            return
        available = np.unique(sigmas)
        for wanted in self.probe_sigmas:
            if not _sigma_matches(available, wanted).any():
                raise ValueError(
                    f"probe_sigmas={list(self.probe_sigmas)!r}: {wanted!r} matches no super-resolved probe "
                    f"hypothesis; the probes hold sigmas {[round(float(v), 6) for v in available]}"
                )

    def _probe_rows(self, X):
        self._check_probe_means()  # it may have been set after fit
        n_probes, templates, meta, owner = self._selected_probe_rows(X)
        # The gallery group of each row, worked out once per distinct (scale, size).
        pairs, pair_of = np.unique(np.stack([meta["scale"].astype(np.float64), meta["size"].astype(np.float64)]),
                                   axis=1, return_inverse=True)
        pair_keys = [self._group_key(scale, size) for scale, size in pairs.T.tolist()]
        keys = list(dict.fromkeys(pair_keys))
        codes = np.array([keys.index(k) for k in pair_keys], dtype=np.intp)[pair_of.ravel()]
        if self.similarity == "mean-centred":
            groups = _centring_groups(meta)
            if self.probe_means is None:
                _check_group_sizes(groups, owner, allow_single=False)
                templates, _ = _centre_by_group(templates, groups)
            else:
                templates = self._centre_by_means(templates, groups, self.probe_means, "probe_means")
        return n_probes, templates, codes, keys, owner

    def _centre_by_means(self, templates, groups, means, name, *, counts=None):
        """Subtract each row's group mean (``counts[i]`` times it from a row that sums ``counts[i]`` templates)."""
        centred = templates.copy()
        side = name.partition("_")[0]
        for group in np.unique(groups):
            mean = means.get(str(group))
            if mean is None:
                raise ValueError(f"{name} has no mean template for the {side} hypothesis group {str(group)!r}; "
                                 f"it holds {sorted(means)}")
            mean = np.asarray(mean, dtype=np.float32)
            if mean.shape != (templates.shape[1],):
                raise ValueError(f"{name}[{str(group)!r}] has shape {mean.shape}; expected "
                                 f"({templates.shape[1]},), the template dimension")
            rows = groups == group
            centred[rows] -= mean if counts is None else counts[rows, None] * mean.astype(np.float64)
        return centred

    def estimate_probe_means(self, X):
        """Mean probe template of each hypothesis group of ``X``, for ``probe_means``.

        ``X`` is a reference set from the probes' domain (unlabelled: no
        subject needs to be enrolled), passed through the same steps as the
        probes; this identifier's probe selection (``scales``,
        ``probe_kinds``, ``probe_sigmas``) applies.

        Parameters
        ----------
        X : list of HypothesisSet, or ndarray of shape (n_samples, n_features)
            Reference probe templates.

        Returns
        -------
        means : dict of str to ndarray of shape (n_features,)
            One mean per hypothesis group (``"kind@scale"``).

        Examples
        --------
        >>> import numpy as np
        >>> from skmitm import FusedNearestNeighborIdentifier
        >>> rng = np.random.default_rng(0)
        >>> gallery, reference = rng.normal(size=(3, 8)), rng.normal(size=(40, 8))
        >>> clf = FusedNearestNeighborIdentifier(similarity="mean-centred").fit(gallery, [0, 1, 2])
        >>> means = clf.estimate_probe_means(reference)
        >>> sorted(means), means["original@1.0"].shape
        (['original@1.0'], (8,))
        >>> clf.set_params(probe_means=means).predict(gallery[:1]).tolist()
        [0]
        """
        check_is_fitted(self, "classes_")
        _, templates, meta, owner = self._selected_probe_rows(X)
        groups = _centring_groups(meta)
        # A one-probe reference mean is noisy but usable later: warn only.
        _check_group_sizes(groups, owner, allow_single=True)
        return _centre_by_group(templates, groups)[1]

    def _chunks(self, n_probes, rows_per_probe, gallery_rows):
        if self.chunk_size is not None:
            step = self.chunk_size
        else:
            step = max(1, _MAX_SCORE_FLOATS // max(1, int(np.ceil(rows_per_probe)) * max(1, gallery_rows)))
        return [(start, min(n_probes, start + step)) for start in range(0, n_probes, step)]

    def decision_function(self, X):
        """Fused similarity of every probe to every enrolled subject.

        Parameters
        ----------
        X : list of HypothesisSet, or ndarray of shape (n_probes, n_features)
            Probe templates.

        Returns
        -------
        scores : ndarray of shape (n_probes, n_subjects)
            Column ``j`` is the fused similarity to ``classes_[j]``; higher
            is more similar.
        """
        check_is_fitted(self, "classes_")
        n_probes, templates, codes, keys, owner = self._probe_rows(X)
        gallery_rule, probe_rule = FUSION_STRATEGIES[self.fusion]
        n_classes = len(self.classes_)
        scores = np.empty((n_probes, n_classes), dtype=np.float32)
        if gallery_rule == "T_concat":
            # One fused row per probe against one per subject.
            rows_per_probe, widest = 1, n_classes
        else:
            rows_per_probe = len(owner) / n_probes
            widest = max(int(g.counts.sum()) for g in self._groups.values())
        # Small products (a parameter sweep's folds) run on one BLAS thread; large galleries on all.
        with blas_threads(len(owner) * widest * templates.shape[1]):
            for start, stop in self._chunks(n_probes, rows_per_probe, widest):
                in_chunk = (owner >= start) & (owner < stop)
                args = (templates[in_chunk], codes[in_chunk], owner[in_chunk] - start, stop - start)
                if gallery_rule == "T_concat":
                    block = self._t_concat(*args, keys)
                elif probe_rule == "T_add":
                    block = self._probe_t_add(*args, gallery_rule)
                else:
                    block = self._score_fusion(*args, keys, gallery_rule, probe_rule)
                scores[start:stop] = block
        bad = np.flatnonzero(~np.isfinite(scores).any(axis=1))
        if bad.size:
            raise ValueError(
                f"X[{bad[0]}] has no hypothesis with a gallery counterpart: its scales do not occur in the "
                f"gallery (gallery scales {self.gallery_scales_.tolist()}) and no gallery originals take part"
            )
        return np.where(np.isfinite(scores), scores, -np.inf)

    def _compare(self, group, prepared_probes, gallery_rule):
        """(n_rows, n_classes) similarities of prepared probe rows to one gallery group."""
        if gallery_rule == "T_add":
            sims = prepared_probes @ group.prepared.T
            return np.where(group.counts > 0, sims, np.nan).astype(np.float32)
        # Score blocks of whole subjects, each at most _CACHE_FLOATS scores: few
        # large BLAS calls (on a loaded machine each call waits for its
        # threads, so many small ones cost far more than their FLOPs). Each
        # block is gallery rows × probe rows: OpenBLAS computes that layout
        # faster than its transpose, and the reduction over a subject's
        # hypotheses then runs over contiguous rows.
        n_classes = len(self.classes_)
        out = np.empty((n_classes, prepared_probes.shape[0]), dtype=np.float32)
        probes_t = np.ascontiguousarray(prepared_probes.T)
        ends = group.starts + group.counts
        block_rows = max(1, _CACHE_FLOATS // max(1, prepared_probes.shape[0]))
        first = 0
        while first < n_classes:
            last = int(np.searchsorted(ends, group.starts[first] + block_rows, side="right"))
            last = max(last, first + 1)
            r0, r1 = group.starts[first], ends[last - 1]
            out[first:last] = _segment_reduce(
                group.prepared[r0:r1] @ probes_t, group.starts[first:last] - r0, group.counts[first:last],
                gallery_rule, last - first
            )
            first = last
        return out.T

    def _score_fusion(self, rows, codes, owner, n, keys, gallery_rule, probe_rule):
        per_row = np.empty((rows.shape[0], len(self.classes_)), dtype=np.float32)
        prepared = _prepare(rows, self.similarity)
        for code, key in enumerate(keys):
            mine = codes == code
            if mine.any():
                per_row[mine] = self._compare(self._groups[key], prepared[mine], gallery_rule)
        order = np.argsort(owner, kind="stable")
        per_row, owner = per_row[order], owner[order]
        starts = np.searchsorted(owner, np.arange(n))
        if probe_rule == "S_max":
            return np.fmax.reduceat(per_row, starts, axis=0)
        valid = np.isfinite(per_row)
        sums = np.add.reduceat(np.where(valid, per_row, 0), starts, axis=0)
        counts = np.add.reduceat(valid, starts, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    @staticmethod
    def _mean_per_probe(rows, owner, n):
        # Rows come in probe order (owner never decreases).
        return _sorted_means(rows, np.bincount(owner, minlength=n))

    def _probe_t_add(self, rows, codes, owner, n, gallery_rule):
        fused = _prepare(self._mean_per_probe(rows, owner, n), self.similarity)
        return self._compare(self._groups["all"], fused, gallery_rule)

    def _t_concat(self, rows, codes, owner, n, keys):
        # One block per gallery group a probe touches (a scale at the probe's
        # size bucket), in a fixed key order; probes with the same set of
        # keys are compared together.
        key_order = sorted(range(len(keys)), key=lambda c: str(keys[c]))
        membership = np.zeros((n, len(keys)), dtype=bool)
        membership[owner, codes] = True
        out = np.full((n, len(self.classes_)), np.nan, dtype=np.float32)
        patterns, pattern_of = np.unique(membership[:, key_order], axis=0, return_inverse=True)
        for p, pattern in enumerate(patterns):
            probes = np.flatnonzero(pattern_of.ravel() == p)
            used = [key_order[j] for j in np.flatnonzero(pattern)]
            probe_blocks = []
            for code in used:
                mine = (codes == code) & np.isin(owner, probes)
                local = np.searchsorted(probes, owner[mine])
                probe_blocks.append(self._mean_per_probe(rows[mine], local, len(probes)))
            p_vec = _prepare(np.concatenate(probe_blocks, axis=1), self.similarity)
            g_vec, present = self._concatenated_gallery(tuple(keys[code] for code in used))
            out[probes] = np.where(present, p_vec @ g_vec.T, np.nan)
        return out

    def _concatenated_gallery(self, keys):
        """Prepared concatenated subject means of the gallery groups ``keys``, and which subjects have all;
        made once per combination of groups, not once per chunk of probes."""
        if keys not in self._concatenated:
            groups = [self._groups[key] for key in keys]
            present = np.logical_and.reduce([group.counts > 0 for group in groups])
            g_vec = _prepare(np.concatenate([group.subject_means for group in groups], axis=1), self.similarity)
            self._concatenated[keys] = (g_vec, present)
        return self._concatenated[keys]

    def predict(self, X):
        """The most similar enrolled subject of each probe (rank 1).

        Parameters
        ----------
        X : list of HypothesisSet, or ndarray of shape (n_probes, n_features)

        Returns
        -------
        subjects : ndarray of shape (n_probes,)
            With ``threshold`` set, ``unknown_label`` where the best fused
            score is below the probe's threshold (an object array when
            ``unknown_label`` and the subjects are of different types).
        """
        self._check_threshold()  # it may have been set after fit
        scores = self.decision_function(X)
        subjects = self.classes_[np.argmax(scores, axis=1)]
        if self.threshold is None:
            return subjects
        unknown = scores.max(axis=1) < self._probe_thresholds(X)
        label = np.asarray([self.unknown_label])
        same_kind = (label.dtype.kind in "US") == (subjects.dtype.kind in "US")
        out = subjects.astype(np.result_type(subjects, label) if same_kind else object)
        out[unknown] = self.unknown_label
        return out

    def _probe_thresholds(self, X):
        """Threshold of each probe: a dict threshold by the size bucket nearest the probe's height."""
        sets = self._template_sets(X, reset=False)
        if not isinstance(self.threshold, dict):
            return np.full(len(sets), float(self.threshold))
        sizes = np.array(sorted(self.threshold), dtype=np.int64)
        out = np.empty(len(sets))
        for i, s in enumerate(sets):
            height = int(s.meta["size"].max())
            if height <= 0 and len(sizes) > 1:
                raise ValueError(
                    f"X[{i}] carries no probe size (its hypotheses have size 0), so none of the thresholds for "
                    f"sizes {sizes.tolist()} can be chosen; pass probes through the pipeline's upsampler or use a "
                    "single threshold"
                )
            out[i] = self.threshold[int(sizes[np.argmin(np.abs(sizes - height))])]
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags
