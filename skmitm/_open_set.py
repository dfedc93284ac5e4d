"""Open-set identification and 1:1 verification: thresholds calibrated at enrolment, with no outside data.

Most faces a camera sees belong to nobody in the gallery, so an identifier
must be able to answer "unknown". Its threshold is set for a target
false-positive identification rate (FPIR): the fraction of searches by people
who are not enrolled that still name somebody. Those searches are made here
from the gallery itself: every gallery photo is turned into synthetic
low-resolution probes (:func:`skmitm.datasets.degrade_probe`), and each is
searched against the gallery *without its own subject*, so its best score is
that of a non-mated search. The threshold is the score that only the chosen
fraction of these searches reaches, per probe size, because scores shift with
resolution.
"""

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from ._degradation import GalleryDegrader
from ._hypotheses import as_hypothesis_sets
from ._identification import FusedNearestNeighborIdentifier
from ._io import MIN_FACE_SIZE
from ._upsampling import MultiHypothesisUpsampler
from ._validation import check_images, check_subjects, is_integer
from .datasets import degrade_probe

__all__ = ["OpenSetCalibration", "calibrate_open_set", "verify"]

#: Under the mean-centred similarity, calibration scores the subjects of one
#: fold at a time against gallery means estimated without that fold.
_N_FOLDS = 10


def _identifier(pipeline):
    """The fitted identifier ending ``pipeline``; a clear error otherwise."""
    if not isinstance(pipeline, Pipeline) or not isinstance(pipeline.steps[-1][1], FusedNearestNeighborIdentifier):
        raise TypeError(f"pipeline={pipeline!r}; expected a scikit-learn Pipeline ending with a "
                        "FusedNearestNeighborIdentifier, as make_mitm_pipeline builds it")
    identifier = pipeline.steps[-1][1]
    check_is_fitted(identifier, "classes_")
    return identifier


def _check_rate(rate, name):
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0 < rate < 1:
        raise ValueError(f"{name}={rate!r}; expected a number strictly between 0 and 1")
    return float(rate)


def operating_threshold(scores, rate):
    """The lowest threshold at which at most a fraction ``rate`` of ``scores`` is reached.

    With the scores sorted from the highest and ``m = floor(rate * n)``, the
    threshold lies half-way between the (m+1)-th highest score and the next
    higher distinct score, so exactly the scores above the (m+1)-th are at
    or above it (at most ``m``, fewer where scores tie). With no higher
    distinct score, it is the next float above the (m+1)-th highest.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Non-mated scores (higher is more similar).
    rate : float
        Target false-alarm fraction, strictly between 0 and 1.

    Returns
    -------
    threshold : float

    Examples
    --------
    >>> from skmitm._open_set import operating_threshold
    >>> operating_threshold([0.9, 0.1, 0.5, 0.3], 0.25)  # one of four may pass: half-way between 0.5 and 0.9
    0.7
    """
    rate = _check_rate(rate, "rate")
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())[::-1]
    if s.size == 0 or not np.isfinite(s).all():
        raise ValueError("scores must be a non-empty array of finite numbers")
    m = int(np.floor(rate * s.size + 1e-9))
    cut = s[m]
    higher = s[:m][s[:m] > cut]
    if higher.size == 0:
        return float(np.nextafter(cut, np.inf))
    return float((higher[-1] + cut) / 2)


class OpenSetCalibration:
    """Non-mated scores made at enrolment, and the thresholds they give.

    Built by :func:`calibrate_open_set`; not meant to be built by hand.

    Attributes
    ----------
    sizes : list of int
        Probe sizes (heights in pixels) the synthetic probes were made at.
    search_scores : dict of int to ndarray
        Per size, the best score of each synthetic non-mated search (the
        gallery searched without the probe's own subject): the material of
        :meth:`threshold`.
    pair_scores : dict of int to ndarray
        Per size, every synthetic probe's score against every subject but
        its own: non-mated 1:1 comparisons, the material of
        :meth:`verification_threshold`.
    probe_means : dict of int to dict, or None
        Under the mean-centred similarity, per size, the mean probe template
        of each hypothesis group of the synthetic probes (as
        :meth:`~skmitm.FusedNearestNeighborIdentifier.estimate_probe_means`
        gives them); :func:`verify` centres a lone probe on them. None for the
        other similarities.
    """

    def __init__(self, sizes, search_scores, pair_scores, probe_means):
        self.sizes = sizes
        self.search_scores = search_scores
        self.pair_scores = pair_scores
        self.probe_means = probe_means

    def _per_size(self, table, rate, name):
        rate = _check_rate(rate, name)
        return {size: operating_threshold(table[size], rate) for size in self.sizes}

    def threshold(self, fpir):
        """Thresholds, per probe size, for a target false-positive identification rate.

        Parameters
        ----------
        fpir : float
            Fraction of searches by people not enrolled that may still name
            somebody; strictly between 0 and 1.

        Returns
        -------
        threshold : dict of int to float
            For the identifier's ``threshold`` parameter.
        """
        return self._per_size(self.search_scores, fpir, "fpir")

    def verification_threshold(self, fmr):
        """Thresholds, per probe size, for a target false-match rate of 1:1 comparisons.

        Parameters
        ----------
        fmr : float
            Fraction of non-mated probe–reference pairs that may be accepted;
            strictly between 0 and 1.

        Returns
        -------
        threshold : dict of int to float
        """
        return self._per_size(self.pair_scores, fmr, "fmr")

    def nearest_size(self, height):
        """The calibrated size nearest a probe height."""
        sizes = np.asarray(self.sizes)
        return int(sizes[np.argmin(np.abs(sizes - int(height)))])


def calibrate_open_set(
    pipeline,
    gallery_images,
    gallery_subjects,
    *,
    probe_sizes=None,
    severity="moderate",
    n_probes_per_image=4,
    random_state=0,
):
    """Non-mated searches made from the gallery alone, for open-set thresholds.

    Each gallery photo becomes ``n_probes_per_image`` synthetic probes per
    probe size (:func:`skmitm.datasets.degrade_probe`: blur, area
    downsampling, noise, JPEG; probe ``k`` of photo ``i`` at size ``s`` is
    seeded with ``numpy.random.default_rng([random_state, s, i, k])``). Each is scored against the
    enrolled gallery by ``pipeline``, and its own subject's score is dropped:
    what is left is a search by somebody not enrolled. No image beyond the
    gallery is needed.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        A fitted pipeline ending with a
        :class:`~skmitm.FusedNearestNeighborIdentifier`, e.g. from
        :func:`~skmitm.make_mitm_pipeline`.
    gallery_images : sequence of ndarray of shape (H, W, 3), dtype uint8
        The enrolled high-resolution photos.
    gallery_subjects : array-like of shape (n_images,)
        Subject of each photo; every one must be enrolled.
    probe_sizes : sequence of int, default=None
        Probe heights to calibrate (each a bucket), at least 8 pixels. None takes the
        identifier's ``gallery_sizes_`` (the sizes the gallery was
        resolution-matched to); required when it has none (the baseline).
    severity : {"moderate", "harsh"} or dict, default="moderate"
        How the synthetic probes are degraded; choose the one nearest the
        cameras (see :data:`skmitm.datasets.SEVERITIES`).
    n_probes_per_image : int, default=4
        Synthetic probes per photo and size. The probes of one photo are
        alike (their best impostor is often the same look-alike), so the
        rarest searches come from a handful of photos, and the lowest rate a
        threshold resolves is set by the number of gallery photos more than
        by the number of searches: as a rule of thumb, a rate below about 10
        over the number of photos is a rough estimate. More probes per photo
        average out only the degradation's share of the variation (see
        Notes); the cost grows in proportion.
    random_state : int, default=0
        Seed of the probe synthesis.

    Returns
    -------
    calibration : OpenSetCalibration

    Notes
    -----
    A synthetic probe's own subject is left out of its search. Under the
    mean-centred similarity it must also be left out of the gallery means:
    the probe is a copy of that subject's photo, so a mean holding the photo
    would be pulled towards the probe and lower every impostor score (by
    about the mated score over the number of subjects: 0.03 on a gallery of
    20). So the enrolled gallery's subjects (what the identifier kept at
    enrolment: its selected templates, or under ``T_concat`` and ``T_add``
    their sums per subject and hypothesis group; the gallery is not passed
    through the network again)
    are split into 10 folds, and the probes of each fold are scored against
    gallery means estimated without that fold. The probe side of the
    synthetic probes is centred on their own means (or on the identifier's
    ``probe_means``), as a batch of real probes is.

    A threshold at a low rate rests on the few highest searches. Part of
    their spread is the photo (whose look-alikes the gallery holds), part
    the random degradation; the first is fixed by the gallery, the second
    shrinks as more probes are drawn per photo. On the public LFW benchmark
    of the open-set page (211 gallery photos), eight probes per photo
    instead of four (twice the cost) left the full method's achieved rates
    at the target 0.01 unchanged (3 and 6 of 848 real non-mated searches at
    harsh and moderate 24 px): there the photos' own spread dominates.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.pipeline import Pipeline
    >>> from skmitm import FusedNearestNeighborIdentifier, TemplateExtractor, calibrate_open_set
    >>> rng = np.random.default_rng(0)
    >>> faces = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(6)]
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 8))
    >>> pipe = Pipeline([("templates", TemplateExtractor(net, input_size=16)),
    ...                  ("identify", FusedNearestNeighborIdentifier())])
    >>> pipe = pipe.fit(faces, list("abcdef"))
    >>> cal = calibrate_open_set(pipe, faces, list("abcdef"), probe_sizes=[12], n_probes_per_image=2)
    >>> cal.search_scores[12].shape, cal.pair_scores[12].shape
    ((12,), (60,))
    >>> sorted(cal.threshold(0.1))
    [12]
    """
    identifier = _identifier(pipeline)
    images = check_images(gallery_images, name="gallery_images")
    subjects = check_subjects(np.asarray(gallery_subjects), len(images), name="gallery_subjects")
    if probe_sizes is None:
        probe_sizes = identifier.gallery_sizes_.tolist()
        if not probe_sizes:
            raise ValueError("the identifier knows no probe size (its gallery was not resolution-matched); "
                             "pass probe_sizes")
    # A synthetic probe is a face like any other: at least MIN_FACE_SIZE pixels.
    if isinstance(probe_sizes, (str, bytes)) or np.size(probe_sizes) == 0 \
            or not all(is_integer(s) and s >= MIN_FACE_SIZE for s in np.ravel(probe_sizes)):
        raise ValueError(f"probe_sizes={probe_sizes!r}; expected None or a non-empty sequence of integers "
                         f">= {MIN_FACE_SIZE}")
    if not is_integer(n_probes_per_image) or n_probes_per_image < 1:
        raise ValueError(f"n_probes_per_image={n_probes_per_image!r}; expected an integer >= 1")
    if not is_integer(random_state):
        raise ValueError(f"random_state={random_state!r}; expected an integer seed")
    column = {c: j for j, c in enumerate(identifier.classes_.tolist())}
    unknown = [s for s in subjects.tolist() if s not in column]
    if unknown:
        raise ValueError(f"gallery_subjects holds {unknown[0]!r}, who is not enrolled; expected the enrolled photos")
    if len(identifier.classes_) < 2:
        raise ValueError("the gallery has a single subject, so no non-mated search can be made from it; "
                         "calibrate on a gallery of several people")
    own = np.array([column[s] for s in subjects.tolist()]).repeat(n_probes_per_image)
    sizes = sorted({int(s) for s in np.ravel(probe_sizes)})
    centred = identifier.similarity == "mean-centred"
    # Held-out means are needed only where the gallery centres on its own means.
    held_out = centred and identifier.gallery_means is None
    search, pairs, means = {}, {}, {} if centred else None
    for size in sizes:
        probes = [
            degrade_probe(image, size=size, severity=severity, rng=np.random.default_rng([random_state, size, i, k]))
            for i, image in enumerate(images) for k in range(n_probes_per_image)
        ]
        templates = pipeline[:-1].transform(probes)
        if centred:
            means[size] = identifier.probe_means or identifier.estimate_probe_means(templates)
        if held_out:
            scores = _held_out_scores(identifier, templates, own, means[size])
        else:
            scores = identifier.decision_function(templates)
        scores = scores.astype(np.float64)
        others = np.ones(scores.shape, dtype=bool)
        others[np.arange(len(own)), own] = False
        search[size] = np.where(others, scores, -np.inf).max(axis=1)
        pairs[size] = scores[others]
    return OpenSetCalibration(sizes, search, pairs, means)


def _held_out_scores(identifier, templates, own, probe_means):
    """Scores of each probe against the enrolled gallery centred on means that leave out its own subject's fold.

    The enrolled gallery is what the identifier kept at ``fit`` (its selected
    templates, or their sums per subject and hypothesis group under the
    template fusions), so the gallery is not passed through the pipeline again.
    """
    n_classes = len(identifier.classes_)
    fold_of = np.arange(n_classes) % min(_N_FOLDS, n_classes)
    scores = np.empty((len(own), n_classes), dtype=np.float32)
    for fold in np.unique(fold_of[own]):  # the folds of the synthetic probes' subjects
        held_out_means = identifier._gallery.group_means(keep=fold_of != fold)
        scorer = identifier._refitted(threshold=None, gallery_means=held_out_means, probe_means=probe_means)
        mine = np.flatnonzero(fold_of[own] == fold)
        scores[mine] = scorer.decision_function([templates[i] for i in mine])
    return scores


def _gallery_templates(pipeline, images):
    """Templates of new gallery images through a fitted pipeline's steps, leaving the pipeline as it is.

    The gallery path differs from the probe path: a :class:`~skmitm.GalleryDegrader`
    degrades only in ``fit_transform`` (a clone does it, so the pipeline is
    not refitted) and a :class:`~skmitm.MultiHypothesisUpsampler` lets a
    gallery pass untouched.
    """
    X = images
    for _, step in pipeline.steps[:-1]:
        if step is None or step == "passthrough":
            continue
        if isinstance(step, GalleryDegrader):
            X = clone(step).fit_transform(X)
        elif isinstance(step, MultiHypothesisUpsampler):
            X = as_hypothesis_sets(X, name="reference")
        else:
            X = step.transform(X)
    return X


def verify(probe, reference, *, pipeline, calibration, fmr=0.01):
    """1:1 verification: is the low-resolution ``probe`` the person in the ``reference`` photo?

    The reference is enrolled alone, through the same gallery steps as
    ``pipeline``'s gallery (degradation, resolution matching), and the probe
    is scored against it by the same cross-resolution method. A gallery of
    one cannot supply its own mean templates for the mean-centred
    similarity (centred on itself, the reference would be rounding noise),
    so the reference is centred on the gallery means of ``pipeline``'s
    enrolled gallery and the lone probe on the probe means of the
    calibration's synthetic probes.

    Parameters
    ----------
    probe : ndarray of shape (h, w, 3), dtype uint8, or str
        The low-resolution face (or its file).
    reference : ndarray of shape (H, W, 3), dtype uint8, or str
        The high-resolution photo of the claimed identity (or its file).
    pipeline : sklearn.pipeline.Pipeline
        Fitted on a background gallery of other people, ending with a
        :class:`~skmitm.FusedNearestNeighborIdentifier`.
    calibration : OpenSetCalibration
        :func:`calibrate_open_set` of ``pipeline`` on its gallery.
    fmr : float, default=0.01
        Target false-match rate: the fraction of non-mated pairs accepted.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``score`` (float, the fused similarity), ``threshold`` (float, for
        the probe's size at ``fmr``), ``accept`` (bool, ``score >=
        threshold``), ``probe_size`` (the calibrated size used) and ``fmr``.
    """
    identifier = _identifier(pipeline)
    if not isinstance(calibration, OpenSetCalibration):
        raise TypeError(f"calibration={calibration!r}; expected the OpenSetCalibration of calibrate_open_set")
    fmr = _check_rate(fmr, "fmr")
    probe_image = check_images([probe], name="probe")
    reference_image = check_images([reference], name="reference")
    size = calibration.nearest_size(probe_image[0].shape[0])
    params = {"threshold": None}
    if identifier.similarity == "mean-centred":
        params.update(gallery_means=identifier.gallery_means_,
                      probe_means=identifier.probe_means or calibration.probe_means[size])
    one = clone(identifier).set_params(**params)
    one.fit(_gallery_templates(pipeline, reference_image), ["reference"])
    score = float(one.decision_function(pipeline[:-1].transform(probe_image))[0, 0])
    threshold = calibration.verification_threshold(fmr)[size]
    return Bunch(score=score, threshold=threshold, accept=bool(score >= threshold), probe_size=size, fmr=fmr)
