"""Enrol once, identify many times: enrolled galleries in a file, subjects added later.

An enrolled gallery is a fitted pipeline reduced to what scoring needs: the
gallery hypotheses the identifier keeps (the selected templates, or under the
template fusions their sums and counts per subject and hypothesis group), the
subjects, every setting that shapes a template or a score, the face network's
sha256 (and the super-resolution weights'), and the probe-side means of the
mean-centred similarity. It is
written with :func:`skmitm._io.save_array_file` (arrays and JSON only, no
pickle) and read back with no code executed: the pipeline is rebuilt from a
fixed list of skmitm classes and JSON values.
"""

import hashlib
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from ._adapter import TemplateAdapter
from ._degradation import GalleryDegrader
from ._edsr import shipped_name_for
from ._hypotheses import HypothesisSet
from ._identification import FusedNearestNeighborIdentifier, _KeptGallery
from ._io import load_array_file, save_array_file
from ._runtime import progress_bar
from ._templates import TemplateExtractor
from ._upsampling import MultiHypothesisUpsampler

__all__ = ["add_subjects", "enrol", "load_gallery", "save_gallery"]

FORMAT = "skmitm-gallery/2"
#: Files of version 1 hold every enrolled template; they are read, and reduced to what the fusion uses.
_OLD_FORMATS = ("skmitm-gallery/1",)

#: The classes a gallery file may name, and the parameters that do not change
#: a template or a score (run-time choices), which the file leaves out.
_STEP_CLASSES = {cls.__name__: cls for cls in (GalleryDegrader, MultiHypothesisUpsampler, TemplateExtractor,
                                               TemplateAdapter, FusedNearestNeighborIdentifier)}
_RUNTIME_PARAMS = {"model", "model_root", "weights", "memory", "progress", "n_jobs", "device", "batch_size",
                   "n_threads", "chunk_size", "probe_means"}
#: What each step's progress bar and timing line call its work.
STAGES = {"degrade": "degradation", "upsample": "super-resolution", "templates": "templates"}


def _encode(value, name):
    """A parameter value as JSON; tuples are tagged, since a tuple and a list can mean different things."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, name) for v in value]}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list):
        return [_encode(v, name) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v, name) for k, v in value.items()}}
    raise TypeError(f"{name}={value!r} cannot be stored in a gallery file; expected numbers, strings, lists or "
                    "tuples (an integer random_state, not a Generator)")


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"tuple"}:
            return tuple(_decode(v) for v in value["tuple"])
        if set(value) == {"dict"}:
            return {k: _decode(v) for k, v in value["dict"].items()}
        raise ValueError(f"unexpected setting {value!r}")
    return value


def pipeline_settings(pipeline):
    """Every setting of ``pipeline`` that shapes a template or a score, as JSON: ``[[step, class, params], ...]``.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        A pipeline of skmitm steps, as :func:`skmitm.make_mitm_pipeline` builds.

    Returns
    -------
    settings : list

    Examples
    --------
    >>> from skmitm import make_mitm_pipeline
    >>> from skmitm._enrolment import pipeline_settings
    >>> pipeline_settings(make_mitm_pipeline("baseline"))[1][2]["similarity"]
    'mean-centred'
    """
    if not isinstance(pipeline, Pipeline):
        raise TypeError(f"pipeline is a {type(pipeline).__name__}; expected a scikit-learn Pipeline of skmitm steps")
    settings = []
    for name, step in pipeline.steps:
        cls = type(step).__name__
        if _STEP_CLASSES.get(cls) is not type(step):
            raise TypeError(f"pipeline step {name!r} is a {cls}; a gallery file holds only skmitm's "
                            f"{sorted(_STEP_CLASSES)}")
        params = {k: _encode(v, f"{name}__{k}") for k, v in sorted(step.get_params(deep=False).items())
                  if k not in _RUNTIME_PARAMS}
        settings.append([name, cls, params])
    return settings


def _differences(stored, wanted):
    """``step__param: file X, given Y`` for every setting that differs."""
    lines = []
    stored_steps = {name: (cls, params) for name, cls, params in stored}
    wanted_steps = {name: (cls, params) for name, cls, params in wanted}
    for name in dict.fromkeys([*stored_steps, *wanted_steps]):
        if name not in stored_steps or name not in wanted_steps or stored_steps[name][0] != wanted_steps[name][0]:
            lines.append(f"step {name!r}: file {stored_steps.get(name, ('none',))[0]}, given "
                         f"{wanted_steps.get(name, ('none',))[0]}")
            continue
        a, b = stored_steps[name][1], wanted_steps[name][1]
        cls = _STEP_CLASSES.get(stored_steps[name][0])
        defaults = {} if cls is None else cls().get_params(deep=False)
        for key in sorted(set(a) | set(b)):
            if key not in a and key in defaults and _decode(b.get(key)) == defaults[key]:
                continue  # a parameter newer than the file, left at its default: the file's behaviour
            if a.get(key) != b.get(key):
                lines.append(f"{name}__{key}: file {_decode(a.get(key))!r}, given {_decode(b.get(key))!r}")
    return lines


def _sr_sha256(upsampler):
    """The super-resolution weights' sha256: the card's, or a hash of an in-memory network's parameters."""
    if upsampler.card_.get("sha256"):
        return upsampler.card_["sha256"]
    digest = hashlib.sha256()
    for key, tensor in sorted(upsampler.net_.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


class StageTimer:
    """Wall-clock seconds per named stage, summed over calls.

    Examples
    --------
    >>> from skmitm._enrolment import StageTimer
    >>> timer = StageTimer()
    >>> with timer("matching"):
    ...     pass
    >>> list(timer.seconds)
    ['matching']
    """

    def __init__(self):
        self.seconds = {}

    @contextmanager
    def __call__(self, stage):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

    def summary(self):
        """One line per stage: ``stage  12.3 s``."""
        width = max(map(len, self.seconds), default=0)
        return "\n".join(f"{stage:<{width}}  {seconds:8.1f} s" for stage, seconds in self.seconds.items())


def probe_templates(pipeline, probes, *, progress=False, timer=None):
    """Templates of ``probes`` through a fitted pipeline's steps but the identifier, each step timed.

    Super-resolution runs a few probes at a time under a progress bar that
    counts probes; the template step's bar counts hypotheses.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted.
    probes : sequence of images or paths, or 4-D uint8 array
    progress : bool, default=False
    timer : StageTimer, default=None
        Collects the seconds of each stage (``"super-resolution"``, ``"templates"``).

    Returns
    -------
    sets : list of HypothesisSet
        The probes' hypothesis templates, for ``pipeline[-1].decision_function``.
    """
    timer = timer or StageTimer()
    out = probes
    for name, step in pipeline.steps[:-1]:
        with timer(STAGES.get(name, name)):
            if isinstance(step, MultiHypothesisUpsampler):
                bar = progress_bar(total=len(out), enabled=progress, desc="super-resolution", unit="probe")
                done = []
                with bar:
                    for start in range(0, len(out), _SR_PROBES):
                        done += step.transform(out[start : start + _SR_PROBES])
                        bar.update(len(done) - bar.n)
                out = done
            else:
                out = step.transform(out)
    return out


#: Probes super-resolved per call under a progress bar: enough to fill the network's batches.
_SR_PROBES = 8


def _gallery_templates(pipeline, X, timer, progress, *, first_index=0):
    """Gallery hypothesis templates of images ``X`` through a fitted pipeline's steps (no identifier)."""
    out = X
    for name, step in pipeline.steps[:-1]:
        with timer(STAGES.get(name, name)):
            if isinstance(step, GalleryDegrader):
                # Image i of the whole gallery draws its chain randomness from index i,
                # so people added later are degraded as a single enrolment would.
                images = step._gallery_images(out)
                bar = progress_bar(images, enabled=progress, desc="degradation", unit="gallery image")
                out = [step._degrade(image, first_index + i) for i, image in enumerate(bar)]
            elif isinstance(step, TemplateAdapter):  # whose transform is for probes
                out = step.transform_gallery(out)
            elif not isinstance(step, MultiHypothesisUpsampler):  # which passes the gallery through
                out = step.transform(out)
    return out


def _synthetic_probes(images, size, severity, random_state, first_index):
    from .datasets import degrade_probe

    return [degrade_probe(np.asarray(image), size=size, severity=severity,
                          rng=np.random.default_rng([random_state, first_index + i]))
            for i, image in enumerate(images)]


def _probe_size(pipeline, size):
    if size is not None:
        return size
    degrader = pipeline.steps[0][1]
    if isinstance(degrader, GalleryDegrader):
        first = degrader.probe_size[0] if isinstance(degrader.probe_size, list) else degrader.probe_size
        return first
    return 24


def _load_images(X):
    from ._hypotheses import as_hypothesis_sets

    return [hs.data[0] for hs in as_hypothesis_sets(X, name="X", allow_templates=False)]


def _check_gallery_pipeline(pipeline):
    pipeline_settings(pipeline)  # only skmitm steps
    if not isinstance(pipeline.steps[-1][1], FusedNearestNeighborIdentifier):
        raise TypeError("the pipeline's last step must be a FusedNearestNeighborIdentifier")


def enrol(pipeline, X, y, *, probe_means="synthetic", probe_size=None, severity="moderate", random_state=0,
          progress=False, timer=None):
    """Fit ``pipeline`` on a gallery, with probe-side means that let one probe be scored alone.

    Like ``pipeline.fit(X, y)``; then, when the identifier uses the
    ``"mean-centred"`` similarity and has no ``probe_means`` of its own, its
    probe-side mean templates are estimated from **synthetic probes made from
    the gallery itself**: each gallery image is degraded to a low-resolution
    probe with :func:`skmitm.datasets.degrade_probe`, passed through the
    pipeline's probe steps (super-resolution, templates) and the means of
    their hypothesis groups are set as the identifier's ``probe_means``. A
    probe is then scored on its own, whatever batch it comes in.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted, as :func:`skmitm.make_mitm_pipeline` builds it.
    X : sequence of images or paths, or 4-D uint8 array
        Gallery images.
    y : array-like of shape (n_samples,)
        Subject of each gallery image.
    probe_means : {"synthetic", "batch"}, default="synthetic"
        ``"batch"`` leaves the identifier's ``probe_means`` as they are (the
        means of the probes scored together when None).
    probe_size : int, default=None
        Size of the synthetic probes (None: the degrader's probe size, else 24).
    severity : {"moderate", "harsh"}, default="moderate"
        Degradation of the synthetic probes.
    random_state : int, default=0
        Seed of the synthetic probes (image ``i`` uses ``[random_state, i]``).
    progress : bool, default=False
        Progress bars for every stage.
    timer : StageTimer, default=None
        Collects the seconds of each stage.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Fitted. The identifier gets ``probe_mean_counts_`` (the number of
        synthetic probes behind each mean, so that :func:`add_subjects` can
        update them exactly) and ``synthetic_probes_`` (their settings).

    Notes
    -----
    The probe means come from one synthetic probe per gallery image, so they
    are as noisy as the gallery's own means: a gallery of a handful of people
    gives rough ones. A reference set of real probe-domain images
    (:meth:`FusedNearestNeighborIdentifier.estimate_probe_means`) can replace
    them at any time through ``probe_means``.

    See Also
    --------
    save_gallery, load_gallery, add_subjects
    MitmPipeline : the pipeline of :func:`make_mitm_pipeline`, whose ``fit`` does the same.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import skmitm
    >>> faces = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    >>> pipe = skmitm.enrol(skmitm.make_mitm_pipeline("baseline"), faces[:3], ["ann", "bob", "cy"])
    >>> sorted(pipe[-1].probe_means)
    ['original@1.0']
    >>> path = os.path.join(tempfile.mkdtemp(), "gallery.npz")
    >>> skmitm.save_gallery(pipe, path)
    >>> loaded = skmitm.load_gallery(path)
    >>> skmitm.add_subjects(loaded, faces[3:], ["dee"]).classes_.tolist()
    ['ann', 'bob', 'cy', 'dee']
    """
    if probe_means not in ("synthetic", "batch"):
        raise ValueError(f"probe_means={probe_means!r}; expected 'synthetic' or 'batch'")
    _check_gallery_pipeline(pipeline)
    _set_progress(pipeline, progress)
    return fit_gallery(pipeline, X, y, synthetic=probe_means == "synthetic", probe_size=probe_size, severity=severity,
                       random_state=random_state, progress=progress, timer=timer)


def _check_adapter_sr(pipeline):
    """Refuse a fitted template adapter beside super-resolution weights other than those it was trained through."""
    steps = dict(pipeline.steps[:-1])
    upsampler = next((s for s in steps.values() if isinstance(s, MultiHypothesisUpsampler)), None)
    adapter = next((s for s in steps.values() if isinstance(s, TemplateAdapter)), None)
    check_adapter_sr(upsampler, adapter)


def check_adapter_sr(upsampler, adapter):
    """Refuse a fitted ``adapter`` beside a fitted ``upsampler`` whose weights it was not trained through."""
    if upsampler is None or adapter is None or getattr(adapter, "sr_sha256_", None) is None:
        return
    used = _sr_sha256(upsampler)
    if used != adapter.sr_sha256_:
        trained = shipped_name_for(adapter.sr_sha256_)
        raise ValueError(
            f"the template adapter {adapter.weights_path_!r} was trained through the super-resolution weights with "
            f"sha256 {adapter.sr_sha256_}{f' (shipped as {trained!r})' if trained else ''}, but the pipeline's "
            f"upsampler has weights with sha256 {used}; pass those weights (sr_weights= or --sr-weights"
            f"{f' {trained}' if trained else ''}) or train an adapter through these ('skmitm train-adapter "
            "--sr-weights')")


def fit_gallery(pipeline, X, y, *, synthetic, probe_size, severity, random_state, progress, timer=None):
    """What :func:`enrol` does once its arguments are checked, with the steps' own progress settings kept.

    ``synthetic``: estimate the probe means from synthetic probes (when the
    identifier is mean-centred and has none of its own). ``progress`` drives
    the degradation and super-resolution bars that this module draws itself.
    """
    timer = timer or StageTimer()
    images = _load_images(X)
    identifier = pipeline.steps[-1][1]
    for _, step in pipeline.steps[:-1]:
        if isinstance(step, GalleryDegrader):
            step.fit(images)
        else:
            step.fit()
    _check_adapter_sr(pipeline)
    templates = _gallery_templates(pipeline, images, timer, progress)
    with timer("enrolment"):
        identifier.fit(templates, y)
    identifier.probe_mean_counts_ = {}
    size = _probe_size(pipeline, probe_size)
    identifier.synthetic_probes_ = {"probe_size": size if isinstance(size, int) else list(size), "severity": severity,
                                    "random_state": int(random_state), "enabled": False}
    if synthetic and identifier.similarity == "mean-centred" and identifier.probe_means is None:
        _add_synthetic_means(pipeline, images, timer, progress, first_index=0)
        identifier.synthetic_probes_["enabled"] = True
    return pipeline


def _set_progress(pipeline, progress):
    for _, step in pipeline.steps[:-1]:
        if "progress" in step.get_params(deep=False):
            step.set_params(progress=bool(progress))


def _add_synthetic_means(pipeline, images, timer, progress, *, first_index):
    """Fold the synthetic probes of ``images`` into the identifier's probe means (a running, count-weighted mean)."""
    identifier = pipeline.steps[-1][1]
    synthetic = identifier.synthetic_probes_
    with timer("synthetic probes"):
        probes = _synthetic_probes(images, synthetic["probe_size"], synthetic["severity"], synthetic["random_state"],
                                   first_index)
    templates = probe_templates(pipeline, probes, progress=progress, timer=timer)
    with warnings.catch_warnings():
        # Its small-group warning is about scoring probes together, which these means are not for.
        warnings.filterwarnings("ignore", message="only .* probe", category=UserWarning)
        means = identifier.estimate_probe_means(templates)
    old, counts = dict(identifier.probe_means or {}), dict(identifier.probe_mean_counts_)
    merged = {}
    for group, mean in means.items():
        n_old = counts.get(group, 0)
        merged[group] = ((np.asarray(old[group], np.float64) * n_old + np.asarray(mean, np.float64) * len(images))
                         / (n_old + len(images))).astype(np.float32) if n_old else np.asarray(mean, np.float32)
        counts[group] = n_old + len(images)
    identifier.set_params(probe_means=merged)
    identifier.probe_mean_counts_ = counts


def add_subjects(pipeline, X, y, *, progress=False, timer=None):
    """Add gallery images (new people, or more images of enrolled ones) to a fitted pipeline.

    Only the new images' templates are computed: they are degraded as they
    would have been in one enrolment of the whole gallery (image ``i`` of the
    combined gallery draws its randomness from ``i``) and passed to
    :meth:`FusedNearestNeighborIdentifier.add_subjects`, which refits the
    identifier from what it kept of everyone (under ``T_concat``, each
    subject's sum and count of templates per hypothesis group). Under the
    ``"mean-centred"`` similarity the **gallery means are recomputed** from
    all kept and new templates; probe means estimated by :func:`enrol` from
    synthetic probes are updated with the new images' synthetic probes (a
    count-weighted mean, equal to estimating them from the whole gallery).

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted by :func:`enrol` or :func:`load_gallery`.
    X : sequence of images or paths, or 4-D uint8 array
    y : array-like of shape (n_samples,)
    progress : bool, default=False
    timer : StageTimer, default=None

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline

    See Also
    --------
    enrol : its example adds a subject to a loaded gallery.
    """
    _check_gallery_pipeline(pipeline)
    identifier = pipeline.steps[-1][1]
    if not hasattr(identifier, "_gallery"):
        raise ValueError("the pipeline is not enrolled; call enrol (or load_gallery) first")
    timer = timer or StageTimer()
    _set_progress(pipeline, progress)
    images = _load_images(X)
    first = len(identifier._gallery_y)  # gallery images enrolled so far
    templates = _gallery_templates(pipeline, images, timer, progress, first_index=first)
    with timer("enrolment"):
        identifier.add_subjects(templates, y)
    if getattr(identifier, "synthetic_probes_", {}).get("enabled"):
        _add_synthetic_means(pipeline, images, timer, progress, first_index=first)
    return pipeline


def save_gallery(pipeline, path):
    """Write a pipeline enrolled by :func:`enrol` to an enrolled-gallery file.

    The file (an ``.npz`` of arrays and a JSON header, checksummed) holds
    the gallery hypotheses the identifier keeps (under ``T_concat`` and
    ``T_add``, each subject's sum and count of templates per hypothesis
    group; under the score fusions every selected template), the subjects, the
    settings of every step, the face network's sha256, the super-resolution
    weights' sha256 and the probe-side means. It holds no pickle.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Enrolled by :func:`enrol` (or loaded by :func:`load_gallery`).
    path : str or os.PathLike
        The file to write (written to a temporary file, then renamed).

    See Also
    --------
    enrol : its example saves and loads a gallery.
    """
    settings = pipeline_settings(pipeline)
    identifier = pipeline.steps[-1][1]
    if not hasattr(identifier, "_gallery"):
        raise ValueError("the pipeline is not enrolled; call enrol (or pipeline.fit) first")
    degrader = pipeline.steps[0][1]
    if isinstance(degrader, GalleryDegrader) and not isinstance(degrader.random_state, (int, np.integer)):
        raise ValueError(f"degrade__random_state={degrader.random_state!r}; a saved gallery needs an integer seed, "
                         "so that people added later are degraded with the same chains")
    extractor = next(step for _, step in pipeline.steps if isinstance(step, TemplateExtractor))
    upsampler = next((step for _, step in pipeline.steps if isinstance(step, MultiHypothesisUpsampler)), None)
    adapter = next((step for _, step in pipeline.steps if isinstance(step, TemplateAdapter)), None)
    subjects = np.asarray(identifier._gallery_y)
    if subjects.dtype.kind not in "iuU":
        raise TypeError(f"subjects of dtype {subjects.dtype} cannot be stored; expected strings or integers")
    # What the identifier keeps: float16 templates when it stores them so (template_dtype), float32 sums under
    # the template fusions.
    arrays = {**identifier._gallery.to_arrays(), "subjects": subjects}
    means = identifier.probe_means or {}
    groups = sorted(means)
    for i, group in enumerate(groups):
        arrays[f"probe_mean_{i}"] = np.asarray(means[group], dtype=np.float32)
    counts = getattr(identifier, "probe_mean_counts_", {})
    header = {
        "settings": settings,
        "model_sha256": extractor.model_sha256_,
        "model": None if extractor.model_path_ is None or extractor.model is None else str(extractor.model_path_),
        "sr_sha256": None if upsampler is None else _sr_sha256(upsampler),
        "adapter_sha256": None if adapter is None else adapter.weights_sha256_,
        "probe_mean_groups": groups,
        "probe_mean_counts": [int(counts.get(g, 0)) for g in groups],
        "synthetic": getattr(identifier, "synthetic_probes_", {"enabled": False}),
        "summed": bool(identifier._gallery.summed),
    }
    save_array_file(path, arrays, header, format=FORMAT)


def read_gallery_header(path):
    """The arrays and JSON header of a gallery file (checked: format, of this version or an older one; checksum)."""
    return load_array_file(path, format=(FORMAT, *_OLD_FORMATS), name="gallery file")


def load_gallery(path, model=None, *, weights=None, adapter=None, pipeline=None, device="cpu", n_jobs=None,
                 progress=False):
    """Rebuild a fitted pipeline from an enrolled-gallery file, computing no gallery template.

    Parameters
    ----------
    path : str or os.PathLike
        Written by :func:`save_gallery`.
    model : str, os.PathLike, torch.nn.Module or None, default=None
        The face network. None: the file the gallery was enrolled with
        (dlib's ResNet if that was the default). Its sha256 must be the one
        recorded in the file.
    weights : str, os.PathLike or None, default=None
        Super-resolution weights: a name of shipped weights or a weights card
        (None, or ``"auto"``: the shipped weights the gallery was enrolled
        with; a gallery enrolled with weights of your own needs their card).
        Their sha256 must be the recorded one.
    adapter : str, os.PathLike or None, default=None
        Template adapter weights file of a pipeline with a
        :class:`~skmitm.TemplateAdapter` step (None: the one shipped for the
        network); its sha256 must be the recorded one.
    pipeline : sklearn.pipeline.Pipeline, default=None
        Settings the caller expects (e.g. ``make_mitm_pipeline(...)``): a
        setting that differs from the file's is refused, naming it.
    device : str, default="cpu"
    n_jobs : int, default=None
        Template extraction workers for the probes.
    progress : bool, default=False

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Fitted; ``pipeline.predict`` and ``pipeline.decision_function`` score
        probes.

    Raises
    ------
    ValueError
        If the file is corrupt or altered, the network, the weights or the
        adapter differ from the recorded ones, or ``pipeline``'s settings differ.

    See Also
    --------
    enrol : its example saves and loads a gallery.
    """
    arrays, header = read_gallery_header(path)
    try:
        settings = header["settings"]
        steps = []
        for name, cls, params in settings:
            if cls not in _STEP_CLASSES:
                raise ValueError(f"unknown step class {cls!r}")
            steps.append((str(name), _STEP_CLASSES[cls](**{k: _decode(v) for k, v in params.items()})))
        subjects = arrays["subjects"]
        if header["format"] == FORMAT:
            identifier = steps[-1][1]
            kept = _KeptGallery.from_arrays(arrays, len(np.unique(subjects)), summed=header["summed"],
                                            dtype=identifier.template_dtype)
            if kept.summed != identifier._sums_templates():
                raise ValueError(f"summed={header['summed']} does not fit fusion={identifier.fusion!r}")
        else:
            offsets, templates, meta = arrays["offsets"], arrays["templates"], arrays["meta"]
        means = {g: arrays[f"probe_mean_{i}"] for i, g in enumerate(header["probe_mean_groups"])}
        counts = dict(zip(header["probe_mean_groups"], header["probe_mean_counts"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"gallery file {str(path)!r} is not a valid enrolled gallery ({error})") from None
    if pipeline is not None:
        different = _differences(settings, pipeline_settings(pipeline))
        if different:
            raise ValueError(f"gallery file {str(path)!r} was enrolled with other settings: {'; '.join(different)}")
    loaded = Pipeline(steps)
    if model is None and header.get("model") is not None:
        model = header["model"]
    for name, step in loaded.steps[:-1]:
        if isinstance(step, TemplateExtractor):
            step.set_params(model=model, device=device, n_jobs=n_jobs)
            step.fit()
            if step.model_sha256_ != header["model_sha256"]:
                raise ValueError(
                    f"gallery file {str(path)!r} was enrolled with face network sha256 {header['model_sha256']}"
                    f"{' (' + Path(header['model']).name + ')' if header.get('model') else ''}; the network given "
                    f"({step.model_path_ or type(model).__name__}) has sha256 {step.model_sha256_}")
        elif isinstance(step, MultiHypothesisUpsampler):
            if weights is None or (isinstance(weights, str) and weights == "auto"):
                weights = shipped_name_for(header["sr_sha256"])
            step.set_params(weights=weights, device=device)
            step.fit()
            if _sr_sha256(step) != header["sr_sha256"]:
                raise ValueError(f"gallery file {str(path)!r} was enrolled with super-resolution weights sha256 "
                                 f"{header['sr_sha256']}; the weights given have sha256 {_sr_sha256(step)}")
        elif isinstance(step, TemplateAdapter):
            step.set_params(model=model, weights=adapter)
            step.fit()
            if step.weights_sha256_ != header.get("adapter_sha256"):
                raise ValueError(f"gallery file {str(path)!r} was enrolled with template adapter weights sha256 "
                                 f"{header.get('adapter_sha256')}; the adapter given has sha256 "
                                 f"{step.weights_sha256_} ({step.weights_path_ or 'none: templates pass through'})")
        else:
            step._fit([])  # draws the same chains from the stored seed; degrades nothing
    _set_progress(loaded, progress)
    identifier = loaded.steps[-1][1]
    if means:
        identifier.set_params(probe_means=means)
    if header["format"] == FORMAT:
        identifier._restore(kept, subjects)
    else:  # every enrolled template: fit reduces them to what the fusion uses
        identifier.fit([HypothesisSet(templates[a:b], meta[a:b]) for a, b in zip(offsets[:-1], offsets[1:])],
                       subjects)
    identifier.probe_mean_counts_ = counts
    identifier.synthetic_probes_ = dict(header.get("synthetic", {"enabled": False}))
    return loaded
