"""Ready-made pipelines: the paper's full method and the plain baseline, each able to score one probe alone."""

import math
import os
import re
from numbers import Integral

import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if

from ._adapter import adapter_step
from ._degradation import GalleryDegrader
from ._edsr import identity_weights_for
from ._enrolment import _STEP_CLASSES, fit_gallery
from ._identification import FusedNearestNeighborIdentifier
from ._param_validation import Interval, StrOptions, validate_parameter_constraints
from ._templates import TemplateExtractor, _file_sha256
from ._upsampling import MultiHypothesisUpsampler

__all__ = ["MitmPipeline", "make_mitm_pipeline"]

METHODS = ("full", "baseline")
PROBE_MEANS = ("synthetic", "batch")


def _final_step_has(name):
    """For ``available_if``: the method exists where the last step has it, as in Pipeline."""

    def check(self):
        getattr(self._final_estimator, name)
        return True

    return check


class MitmPipeline(Pipeline):
    """A scikit-learn Pipeline whose ``fit`` also gives the identifier probe-side means, so one probe scores alone.

    The mean-centred similarity centres each probe template on the mean probe
    template of its hypothesis group. Taken over the probes scored together,
    that mean makes a probe's score depend on its batch, and a probe scored
    alone is centred on itself. With ``probe_means="synthetic"``, ``fit``
    enrols the gallery as :func:`skmitm.enrol` does: it fits every step on the
    gallery, then degrades each gallery image to a low-resolution probe
    (:func:`skmitm.datasets.degrade_probe`), passes those synthetic probes
    through the probe steps (super-resolution, templates) and sets the means
    of their hypothesis groups as the identifier's ``probe_means``. Each probe
    is then scored on its own, the same in any batch.

    Everything else is :class:`sklearn.pipeline.Pipeline`: steps are reached
    by name or index, ``set_params(identify__fusion=...)`` reaches a step's
    parameters, and :func:`sklearn.base.clone` and ``GridSearchCV`` work.

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        As for :class:`~sklearn.pipeline.Pipeline`. With
        ``probe_means="synthetic"``, a pipeline that ends with a
        :class:`~skmitm.FusedNearestNeighborIdentifier` must hold skmitm's
        steps only (:class:`~skmitm.GalleryDegrader`,
        :class:`~skmitm.MultiHypothesisUpsampler`,
        :class:`~skmitm.TemplateExtractor`); one that does not (a slice such
        as ``pipe[:-1]``) has no probe means to set and fits as a Pipeline
        does.
    probe_means : {"synthetic", "batch"}, default="synthetic"
        ``"synthetic"``: ``fit`` sets the identifier's ``probe_means`` to the
        means of synthetic probes made from the gallery, replacing any value
        it had (when the identifier's similarity is not ``"mean-centred"``,
        which uses no probe means, it sets None). ``"batch"``: ``fit`` is
        Pipeline's own and leaves the identifier's ``probe_means`` as they
        are: None centres probes on the means of the probes scored together
        (the paper's reading), a dict (say from a reference set of real
        probe-domain images, :meth:`~skmitm.FusedNearestNeighborIdentifier.estimate_probe_means`)
        fixes them.
    synthetic_severity : {"moderate", "harsh"}, default="moderate"
        Degradation of the synthetic probes (see
        :func:`skmitm.datasets.degrade_probe`); their size is the degrader's
        (first) probe size, or 24 without a degrader.
    random_state : int, RandomState, Generator or None, default=0
        Seeds the synthetic probes: with an integer ``s``, gallery image ``i``
        is degraded with ``numpy.random.default_rng([s, i])``, as
        :func:`skmitm.enrol` does with ``random_state=s``. The gallery
        degradations have their own seed, the degrader's ``random_state``.
    batch_size : int or None, default=256
        Probes taken through every step at once by ``predict``,
        ``decision_function`` and ``score`` when each probe is scored on its
        own (the identifier has probe means, or its similarity is not
        ``"mean-centred"``): only the scores of a batch outlive it, so memory
        does not grow with the number of probes. It is rounded up to whole
        blocks of the upsampler, so that probes of one size are
        super-resolved exactly as in one pass over all of them (see Notes).
        None, or batch means, takes all probes at once.
    memory : str, joblib.Memory or None, default=None
        Pipeline's cache of fitted transformers (used with ``"batch"`` only;
        :class:`~skmitm.TemplateExtractor` has its own template cache).
    verbose : bool, default=False
        Pipeline's per-step timing (with ``"batch"`` only).

    Attributes
    ----------
    named_steps, classes_ :
        As for :class:`~sklearn.pipeline.Pipeline`.

    Notes
    -----
    ``fit`` writes the identifier's ``probe_means`` parameter, as
    :func:`skmitm.enrol` does: set it after ``fit`` (``pipe[-1].set_params(probe_means=...)``)
    to use other means until the next ``fit``, or build the pipeline with
    ``probe_means="batch"`` to keep the identifier's own. The fitted
    identifier records the synthetic probes' settings in
    ``synthetic_probes_``, so that :func:`skmitm.add_subjects` and
    :func:`skmitm.save_gallery` work on the fitted pipeline as on an enrolled
    one.

    Scores in batches are those of one pass over all probes when the probes
    share one size. Probes of several sizes are super-resolved in runs of one
    size, and those runs differ between a batch and the whole set: as with
    the upsampler's own ``batch_size``, the order of float sums in the
    network may then change, and with it an output pixel by one grey level.

    See Also
    --------
    make_mitm_pipeline : builds one with the paper's steps.
    skmitm.enrol : the same fit, as a function, with progress bars and stage timings.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import FusedNearestNeighborIdentifier, MitmPipeline, TemplateExtractor
    >>> faces = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    >>> pipe = MitmPipeline([("templates", TemplateExtractor()),
    ...                      ("identify", FusedNearestNeighborIdentifier(similarity="mean-centred"))])
    >>> pipe = pipe.fit(faces, ["ann", "bob", "cy"])
    >>> sorted(pipe[-1].probe_means)
    ['original@1.0']
    >>> pipe.predict(faces[1:2]).tolist()
    ['bob']
    """

    _local_constraints = {
        "probe_means": [StrOptions(set(PROBE_MEANS))],
        "synthetic_severity": [StrOptions({"moderate", "harsh"})],
        "random_state": [Interval(Integral, 0, None, closed="left"), np.random.RandomState, np.random.Generator,
                         None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, steps, *, probe_means="synthetic", synthetic_severity="moderate", random_state=0,
                 batch_size=256, memory=None, verbose=False):
        super().__init__(steps, memory=memory, verbose=verbose)
        self.probe_means = probe_means
        self.synthetic_severity = synthetic_severity
        self.random_state = random_state
        self.batch_size = batch_size

    def fit(self, X, y=None, **params):
        """Fit every step on the gallery ``X``, ``y``; with ``probe_means="synthetic"``, also set the probe means.

        Parameters
        ----------
        X : sequence of images or paths, or 4-D uint8 array
            Gallery images.
        y : array-like of shape (n_samples,)
            Subject of each gallery image.
        **params : dict
            Pipeline's fit parameters (``"batch"`` only).

        Returns
        -------
        self : MitmPipeline
        """
        validate_parameter_constraints(self._local_constraints, self.get_params(deep=False), type(self).__name__)
        if self.probe_means == "batch" or not isinstance(self.steps[-1][1], FusedNearestNeighborIdentifier):
            return super().fit(X, y, **params)
        if params:
            raise TypeError(f"fit parameters {sorted(params)} are not taken with probe_means='synthetic'; "
                            "use probe_means='batch' to pass them to the steps")
        for name, step in self.steps:
            if _STEP_CLASSES.get(type(step).__name__) is not type(step):
                raise TypeError(f"step {name!r} is a {type(step).__name__}; probe_means='synthetic' makes its probes "
                                f"with skmitm's steps only ({', '.join(sorted(_STEP_CLASSES))}): put other steps "
                                "before the pipeline, or use probe_means='batch'")
        self.steps[-1][1].set_params(probe_means=None)
        progress = any(step.get_params(deep=False).get("progress") for _, step in self.steps[:-1])
        return fit_gallery(self, X, y, synthetic=True, probe_size=None, severity=self.synthetic_severity,
                           random_state=_seed(self.random_state), progress=progress)

    @available_if(_final_step_has("predict"))
    def predict(self, X, **params):
        """Subject of each probe, a batch of probes at a time (see ``batch_size``).

        Parameters
        ----------
        X : sequence of images or paths, or 4-D uint8 array
            Probes.
        **params : dict
            Pipeline's predict parameters (given any, all probes go at once).

        Returns
        -------
        y_pred : ndarray of shape (n_probes,)
        """
        return self._batched("predict", X, params) if self._takes_batches(X, params) else super().predict(X, **params)

    @available_if(_final_step_has("decision_function"))
    def decision_function(self, X, **params):
        """Fused similarity of each probe to every subject, a batch of probes at a time (see ``batch_size``).

        Parameters
        ----------
        X : sequence of images or paths, or 4-D uint8 array
            Probes.
        **params : dict
            Pipeline's parameters (given any, all probes go at once).

        Returns
        -------
        scores : ndarray of shape (n_probes, n_subjects)
        """
        if self._takes_batches(X, params):
            return self._batched("decision_function", X, params)
        return super().decision_function(X, **params)

    @available_if(_final_step_has("score"))
    def score(self, X, y=None, sample_weight=None, **params):
        """Rank-1 identification rate (accuracy of :meth:`predict`), a batch of probes at a time.

        Parameters
        ----------
        X : sequence of images or paths, or 4-D uint8 array
            Probes.
        y : array-like of shape (n_probes,)
            Their subjects.
        sample_weight : array-like of shape (n_probes,), default=None
        **params : dict
            Pipeline's parameters (given any, all probes go at once).

        Returns
        -------
        score : float
        """
        if not self._takes_batches(X, params):
            return super().score(X, y, sample_weight=sample_weight, **params)
        return accuracy_score(y, self._batched("predict", X, params), sample_weight=sample_weight)

    def _takes_batches(self, X, params):
        identifier = self.steps[-1][1]
        return (
            self.batch_size is not None
            and not params
            and isinstance(identifier, FusedNearestNeighborIdentifier)
            and (identifier.similarity != "mean-centred" or identifier.probe_means is not None)
            and hasattr(X, "__getitem__")
            and hasattr(X, "__len__")
            and not isinstance(X, (str, bytes))
            and len(X) > 0
        )

    def _batched(self, method, X, params):
        """The identifier's ``method`` on the probes of ``X`` taken through the steps a batch at a time."""
        validate_parameter_constraints(self._local_constraints, self.get_params(deep=False), type(self).__name__)
        step = self.batch_size
        for _, upsampler in self.steps[:-1]:
            if isinstance(upsampler, MultiHypothesisUpsampler) and hasattr(upsampler, "sigmas_"):
                # Whole blocks of the upsampler (probes whose blurred copies fill whole network batches).
                block = upsampler.batch_size // math.gcd(upsampler.batch_size, len(upsampler.sigmas_))
                step = -(-step // block) * block
        out = []
        for start in range(0, len(X), step):
            try:
                Xt = X[start : start + step]
                for _, _, transformer in self._iter(with_final=False):
                    Xt = transformer.transform(Xt)
                out.append(getattr(self.steps[-1][1], method)(Xt))
            except (ValueError, TypeError) as error:
                if not start:
                    raise
                # Name the probe by its place in X, not in the batch.
                message = re.sub(r"\bX\[(\d+)\]", lambda m: f"X[{start + int(m[1])}]", str(error))
                raise type(error)(message) from error
        return np.concatenate(out)

    def __getitem__(self, ind):
        """A step, or a sub-pipeline (for a slice) that keeps this one's parameters."""
        item = super().__getitem__(ind)
        if isinstance(ind, slice):
            item.set_params(probe_means=self.probe_means, synthetic_severity=self.synthetic_severity,
                            random_state=self.random_state, batch_size=self.batch_size)
        return item


def _seed(random_state):
    """An integer seed for the synthetic probes: the integer itself, else one drawn from the generator."""
    if isinstance(random_state, Integral):
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31))
    return int(check_random_state(random_state).randint(2**31))


def resolve_sr_weights(sr_weights, model):
    """The upsampler's ``weights`` for a ``sr_weights`` option: ``"auto"`` resolved for ``model``, else as given.

    Examples
    --------
    >>> from skmitm._pipeline import resolve_sr_weights
    >>> resolve_sr_weights("plain", None), resolve_sr_weights("auto", None)
    ('plain', None)
    """
    if not (isinstance(sr_weights, str) and sr_weights == "auto"):
        return sr_weights
    if isinstance(model, (str, os.PathLike)) and os.path.isfile(model):
        return identity_weights_for(_file_sha256(os.path.abspath(model)))
    return None


def make_mitm_pipeline(
    method="full",
    *,
    model=None,
    probe_size=24,
    scales=(2, 4, 8),
    n_chains=64,
    sigmas=16,
    fusion="T_concat",
    similarity="mean-centred",
    memory=None,
    probe_means="synthetic",
    adapter=None,
    sr_weights="auto",
    random_state=0,
):
    """Build a cross-resolution identification pipeline that can score one probe alone.

    Parameters
    ----------
    method : {"full", "baseline"}, default="full"
        ``"full"``: gallery degradation and resolution matching, multi-scale
        multi-hypothesis super-resolution of probes, face templates, fused
        nearest neighbour (the paper's complete method). ``"baseline"``: face
        templates of the images as they are, nearest neighbour.
    model : str, os.PathLike, torch.nn.Module or None, default=None
        Face network for :class:`~skmitm.TemplateExtractor` (None: dlib's ResNet).
    probe_size : int, tuple or list, default=24
        Probe size (or size buckets) the gallery is resolution-matched to.
    scales : sequence of int, default=(2, 4, 8)
    n_chains : int or None, default=64
        Degradation chains per gallery image.
    sigmas : int or sequence of float, default=16
        Blur hypotheses per probe and scale.
    fusion : str, default="T_concat"
        See :data:`skmitm.FUSION_STRATEGIES`. The default and ``similarity``
        are the best measured on the public benchmark (moderate 24 px,
        MobileFaceNet, ``skmitm ablation``: 58.7% rank-1 against 37.7% for the
        baseline); the paper's own choice is ``"S_max/S_add"`` with
        ``similarity="pearson"`` (42.6% there). See ``docs/results.md``.
    similarity : str, default="mean-centred"
    memory : str, os.PathLike or joblib.Memory, default=None
        Template cache of the :class:`~skmitm.TemplateExtractor`.
    probe_means : {"synthetic", "batch"}, default="synthetic"
        Where the probe-side means of the mean-centred similarity come from
        (see :class:`~skmitm.MitmPipeline`). ``"synthetic"``: ``fit``
        estimates them from synthetic probes made from the gallery photos
        (degraded, super-resolved, templates), so that each probe is scored
        on its own and one probe can be scored alone. ``"batch"``: the means
        of the probes scored together, as in the paper (the 58.7% above was
        measured so).
    adapter : "auto", str, os.PathLike or None, default=None
        Template adaptation of the full method (a
        :class:`~skmitm.TemplateAdapter` step named ``adapt`` after the
        templates). ``"auto"``: an adapter shipped for the face network (none
        ships today), and templates passed through unchanged otherwise; a
        path: that adapter weights file, e.g. one from ``skmitm
        train-adapter``; None: no adapter step. The baseline has none. With
        MobileFaceNet, the adapter trained in ``docs/adapter.md`` raises
        rank-1 on the public benchmark at 16 and 24 px and lowers it at 32 px;
        it is not the default because the figures the documentation quotes
        for the default pipeline were measured without it.
    sr_weights : "auto", str, os.PathLike or None, default="auto"
        Super-resolution weights of the full method's upsampler. ``"auto"``:
        the shipped weights trained with an identity loss on ``model`` when
        there are such (``"identity"``, for MobileFaceNet; see
        :func:`skmitm._edsr.identity_weights_for`), the upsampler's default
        (``"realistic"``) for any other network, and for a network that is
        not given as a file. With MobileFaceNet the identity-trained weights
        raise rank-1 at every condition of the public benchmark; for another
        network they help little (``docs/super_resolution.md``). A name of
        shipped weights (``"identity"``, ``"realistic"``, ``"plain"``), a
        weights card from ``skmitm train-sr``, or None (the upsampler's
        default, ``"realistic"``) picks them outright.
    random_state : int, default=0
        Seeds the gallery degradations and the synthetic probes.

    Returns
    -------
    pipeline : MitmPipeline
        A :class:`sklearn.pipeline.Pipeline` with steps named ``degrade``,
        ``upsample``, ``templates``, ``adapt`` (with an ``adapter``),
        ``identify`` (``templates`` and ``identify`` for the baseline).

    Examples
    --------
    >>> from skmitm import make_mitm_pipeline
    >>> [name for name, _ in make_mitm_pipeline("full").steps]
    ['degrade', 'upsample', 'templates', 'identify']
    >>> [name for name, _ in make_mitm_pipeline("full", adapter="auto").steps]
    ['degrade', 'upsample', 'templates', 'adapt', 'identify']
    >>> make_mitm_pipeline("baseline").named_steps["identify"].fusion
    'T_concat'

    Fitted on a gallery, the default pipeline scores a probe on its own (the
    faces here are smooth random stand-ins, and the network a small fixed
    one, so that the example runs anywhere in seconds):

    >>> import cv2, numpy as np, torch
    >>> rng = np.random.default_rng(0)
    >>> faces = [cv2.resize(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), (64, 64)) for _ in range(4)]
    >>> net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(8), torch.nn.Flatten())
    >>> pipe = make_mitm_pipeline(model=net, probe_size=16, scales=(2,), n_chains=2, sigmas=2)
    >>> pipe = pipe.fit(faces, ["ann", "bob", "cy", "dee"])
    >>> sorted(pipe.named_steps["identify"].probe_means)
    ['original@1.0', 'super-resolved@2.0']
    >>> probe = cv2.resize(faces[2], (16, 16), interpolation=cv2.INTER_AREA)
    >>> pipe.predict([probe]).tolist()
    ['cy']
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}; expected one of {METHODS}")
    if probe_means not in PROBE_MEANS:
        raise ValueError(f"probe_means={probe_means!r}; expected one of {PROBE_MEANS}")
    steps = []
    if method == "full":
        steps += [
            ("degrade", GalleryDegrader(probe_size=probe_size, scales=scales, n_chains=n_chains,
                                        random_state=random_state)),
            ("upsample", MultiHypothesisUpsampler(resolve_sr_weights(sr_weights, model), scales=scales,
                                                  sigmas=sigmas)),
        ]
    steps.append(("templates", TemplateExtractor(model, memory=memory)))
    if method == "full" and adapter is not None:
        steps.append(("adapt", adapter_step(model, adapter)))
    steps.append(("identify", FusedNearestNeighborIdentifier(fusion, similarity=similarity)))
    return MitmPipeline(steps, probe_means=probe_means, random_state=random_state)
