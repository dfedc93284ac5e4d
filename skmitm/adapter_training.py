"""Train a template adapter for a face network on LFW people outside the benchmark.

Run ``skmitm train-adapter --help`` (the command calls :func:`train_adapter`).
The adapter learns from LFW people with fewer than five images: the 423
people with five or more are the public benchmark's evaluation subjects and
are never read. No identity labels are used: each training face gives pairs
of templates of the same image, low-resolution hypotheses on one side and
the face's high-resolution template on the other.

Each face is degraded once, by one member of a broad family drawn at random
(:func:`degrade_training_face`): the benchmark's probe synthesis at moderate
or harsh severity, the camera-like degradations the super-resolution network
was trained with (isotropic, anisotropic or disk blur, several downsampling
kernels, colour or grey noise, JPEG), or horizontal motion blur before the
probe synthesis; at a probe size drawn from ``probe_sizes``. The
low-resolution face then becomes the probe hypotheses of the pipeline (the
plain probe, and the face super-resolution network's output at every scale
for one blur sigma drawn from the upsampler's sixteen) and, with
``gallery=True``, the gallery hypotheses of the face (resolution-matched and
degraded by one random chain at every scale). :func:`fit_template_maps`
then fits one ridge map per hypothesis group.
"""

import time
from pathlib import Path

import numpy as np

from ._adapter import _map_rows, fit_identity_whitening, fit_template_maps, load_adapter, save_adapter
from ._degradation import GalleryDegrader, motion_blur
from ._hypotheses import HypothesisSet
from ._identification import _centring_groups
from ._io import load_array_file, save_array_file
from ._pipeline import resolve_sr_weights
from ._report import resolve_crop
from ._runtime import progress_bar
from ._templates import TemplateExtractor
from ._upsampling import MultiHypothesisUpsampler
from ._validation import is_integer
from .datasets import degrade_probe, load_lfw_folder
from .sr_training import EVALUATION_MIN_IMAGES, degrade_face

__all__ = [
    "TRAINING_DEGRADATIONS",
    "degrade_training_face",
    "fit_identity_whitening",
    "fit_template_maps",
    "load_adapter",
    "make_training_templates",
    "read_training_templates",
    "save_adapter",
    "train_adapter",
]

#: The degradation family of the training faces, drawn with equal probability.
TRAINING_DEGRADATIONS = ("probe-moderate", "probe-harsh", "camera", "motion")

#: Blur sigmas a training probe's super-resolved hypotheses are drawn from (the upsampler's default grid).
_SIGMAS = np.linspace(0.0, 1.0, 16)

# Faces whose templates are computed together: bounds memory (about 5 MB of images per face).
_CHUNK = 128


def degrade_training_face(face, size, rng, degradations=TRAINING_DEGRADATIONS):
    """Make a low-resolution training probe from a high-resolution face, by a randomly drawn degradation.

    Parameters
    ----------
    face : ndarray of shape (H, W, 3), dtype uint8
    size : int
        Probe height and width in pixels.
    rng : numpy.random.Generator
    degradations : sequence of str, default=TRAINING_DEGRADATIONS
        The members of :data:`TRAINING_DEGRADATIONS` drawn from, with equal
        probability.

    Returns
    -------
    probe : ndarray of shape (size, size, 3), dtype uint8
    kind : str
        The member of :data:`TRAINING_DEGRADATIONS` used.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm.adapter_training import degrade_training_face
    >>> face = np.random.default_rng(0).integers(0, 256, (126, 126, 3), dtype=np.uint8)
    >>> probe, kind = degrade_training_face(face, 24, np.random.default_rng(1))
    >>> probe.shape, kind in ("probe-moderate", "probe-harsh", "camera", "motion")
    ((24, 24, 3), True)
    """
    kind = degradations[int(rng.integers(len(degradations)))]
    if kind == "camera":
        return degrade_face(face, size, rng, degradation="realistic"), kind
    if kind == "motion":
        face = motion_blur(face, window=int(rng.integers(3, 13)))
    severity = "harsh" if kind == "probe-harsh" else "moderate"
    return degrade_probe(face, size=size, severity=severity, rng=rng), kind


def make_training_templates(faces, extractor, *, scales=(2, 4, 8), probe_sizes=(16, 32), gallery=True,
                            degradations=TRAINING_DEGRADATIONS, random_state=0, draw=0, sr_weights=None,
                            progress=True):
    """Low-resolution hypothesis templates and the high-resolution template of every face.

    Parameters
    ----------
    faces : sequence of ndarray of shape (H, W, 3), dtype uint8
        High-resolution face crops.
    extractor : TemplateExtractor
        The fitted face network.
    scales : sequence of int, default=(2, 4, 8)
        Super-resolution scales (and resolution-matching scales of the gallery).
    probe_sizes : (int, int), default=(16, 32)
        Inclusive range the probe size of each face is drawn from.
    gallery : bool, default=True
        Whether to add each face's gallery hypotheses (matched, and degraded
        by one random chain, at every scale).
    degradations : sequence of str, default=TRAINING_DEGRADATIONS
        The members of :data:`TRAINING_DEGRADATIONS` each face's probe is
        drawn from.
    random_state : int, default=0
        Seed; face ``i`` draws from ``numpy.random.default_rng([random_state, i])``.
    draw : int, default=0
        Which degraded copy of each face to make: draw ``k > 0`` seeds face
        ``i`` with ``[random_state, i, k]`` instead, so that several draws give
        independent degradations, sizes and sigmas of the same faces.
    sr_weights : str, os.PathLike or None, default=None
        The super-resolution weights the probes go through, as
        :class:`~skmitm.MultiHypothesisUpsampler` takes them (None: the
        shipped default).
    progress : bool, default=True

    Returns
    -------
    low : list of HypothesisSet
        Templates of each face's low-resolution hypotheses.
    high : ndarray of shape (n_faces, D)
        The template of each face as it is.
    kinds : ndarray of str
        The degradation each face's probe got.
    """
    if not is_integer(random_state):
        raise ValueError(f"random_state={random_state!r}; expected an integer seed")
    if not is_integer(draw) or draw < 0:
        raise ValueError(f"draw={draw!r}; expected an integer >= 0")
    lo, hi = probe_sizes
    seeds = [[random_state, i] + ([int(draw)] if draw else []) for i in range(len(faces))]
    rngs = [np.random.default_rng(seed) for seed in seeds]
    sizes = np.array([int(rng.integers(lo, hi + 1)) for rng in rngs])
    probes, kinds = zip(*(degrade_training_face(face, size, rng, degradations)
                          for face, size, rng in zip(faces, sizes, rngs)))
    sigmas = np.array([_SIGMAS[int(rng.integers(len(_SIGMAS)))] for rng in rngs])
    upsampler = MultiHypothesisUpsampler(sr_weights, scales=scales, sigmas=[0.0])
    low, high = [None] * len(faces), np.empty((len(faces), extractor.template_dim_), np.float32)
    bar = progress_bar(total=len(faces), enabled=progress, desc="adapter training templates", unit="face")
    try:
        for start in range(0, len(faces), _CHUNK):
            chunk = np.arange(start, min(start + _CHUNK, len(faces)))
            # Every probe size and blur sigma of the chunk is one batch through its transformer.
            for sigma in np.unique(sigmas[chunk]):
                members = chunk[sigmas[chunk] == sigma]
                sets = extractor.transform(upsampler.set_params(sigmas=[sigma]).fit().transform(
                    [probes[i] for i in members]))
                for i, s in zip(members, sets):
                    low[i] = s
            for size in np.unique(sizes[chunk]):
                members = chunk[sizes[chunk] == size]
                if gallery:
                    degrader = GalleryDegrader(probe_size=int(size), scales=scales, n_chains=1,
                                               random_state=np.random.default_rng(seeds[int(members[0])]))
                    sets = extractor.transform(degrader.fit_transform([faces[i] for i in members]))
                else:
                    sets = extractor.transform([faces[i] for i in members])
                for i, s in zip(members, sets):
                    original = s.meta["kind"] == "original"
                    high[i] = s.data[original][0]
                    if gallery:
                        low[i] = HypothesisSet.concatenate([low[i], s.select(~original)])
            bar.update(len(chunk))
    finally:
        bar.close()
    return low, high, np.asarray(kinds)


_TEMPLATES_FORMAT = "skmitm-adapter-training-templates/1"


def _sr_card(sr_weights):
    """The card of the face super-resolution weights the training probes go through."""
    return MultiHypothesisUpsampler(sr_weights).fit().card_


def _training_faces(lfw, extractor, crop, max_faces, random_state):
    """``max_faces`` faces drawn at random from the LFW people outside the benchmark, their people and the box."""
    data = load_lfw_folder(lfw, max_images_in_folder=EVALUATION_MIN_IMAGES - 1, crop=resolve_crop(crop, extractor))
    rng = np.random.default_rng(random_state)
    chosen = np.sort(rng.choice(len(data.images), size=min(max_faces, len(data.images)), replace=False))
    box = None if data.crop is None else [int(v) for v in data.crop]
    return [data.images[i] for i in chosen], np.asarray(data.subjects)[chosen], box


def _save_training_templates(path, key, stored):
    arrays = {"low_templates": np.concatenate([s.data for s in stored["low"]]),
              "low_meta": np.concatenate([s.meta for s in stored["low"]]),
              "low_counts": np.array([len(s) for s in stored["low"]]),
              **{k: np.asarray(stored[k]) for k in ("high", "kinds", "held_out", "subjects")}}
    save_array_file(path, arrays, {"key": key, "crop": stored["crop"]}, format=_TEMPLATES_FORMAT)


def _load_training_templates(path, key):
    """The training templates kept in ``path`` for ``key``, or None (absent, or kept for other settings)."""
    if not Path(path).is_file():
        return None
    stored, kept_key = read_training_templates(path)
    return stored if kept_key == key else None


def read_training_templates(path):
    """Read the training templates that :func:`train_adapter` kept in a ``templates`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The file (arrays and JSON, no pickle).

    Returns
    -------
    stored : dict
        ``low`` (list of HypothesisSet: each training face's low-resolution
        hypothesis templates), ``high`` (ndarray of shape (n_faces, D): each
        face's high-resolution template), ``kinds`` (the degradation of each
        face's probe), ``held_out`` (bool: the face's person is held out for
        validation), ``subjects`` and ``crop`` (the LFW face box).
    key : str
        The settings the templates were computed with (data, network and
        super-resolution SHA-256s, degradation settings).

    Raises
    ------
    ValueError
        If the file is not a training templates file or is inconsistent.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skmitm import HypothesisSet, make_meta
    >>> from skmitm.adapter_training import fit_template_maps, read_training_templates, save_adapter
    >>> low = [HypothesisSet(np.eye(4, dtype=np.float32)[[i, (i + 1) % 4]], make_meta(2, scale=[1, 2]))
    ...        for i in range(4)]
    >>> weights = os.path.join(tempfile.mkdtemp(), "adapter.npz")
    >>> _ = save_adapter(weights, fit_template_maps(low, np.eye(4)), network_sha256="0" * 64)
    >>> read_training_templates(weights)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: adapter training templates file '...adapter.npz' has format 'skmitm-template-adapter/1'; expected 'skmitm-adapter-training-templates/1'
    """
    arrays, header = load_array_file(path, format=_TEMPLATES_FORMAT, name="adapter training templates file")
    counts = arrays["low_counts"]
    if counts.sum() != len(arrays["low_templates"]) or len(counts) != len(arrays["high"]):
        raise ValueError(f"adapter training templates file {str(path)!r} is inconsistent")
    bounds = np.cumsum(counts)[:-1]
    low = [HypothesisSet(t, m) for t, m in zip(np.split(arrays["low_templates"], bounds),
                                               np.split(arrays["low_meta"], bounds))]
    return {"low": low, "crop": header.get("crop"),
            **{k: arrays[k] for k in ("high", "kinds", "held_out", "subjects")}}, header.get("key")


def _cosines(low, high, maps=None):
    """Mean cosine between each low-resolution template (mapped by ``maps`` if given) and its face's, per group."""
    templates = np.concatenate([s.data for s in low])
    labels = _centring_groups(np.concatenate([s.meta for s in low]))
    owner = np.repeat(np.arange(len(low)), [len(s) for s in low])
    if maps is not None:
        templates = _map_rows(templates, labels, maps, {g.split("@")[0] for g in labels}, "validation")
    cosine = np.sum(templates * high[owner], axis=1)
    return {str(g): round(float(cosine[labels == g].mean()), 4) for g in np.unique(labels)}


def train_adapter(lfw, *, model=None, out="template_adapter.npz", max_faces=8000, val_fraction=0.1, scales=(2, 4, 8),
                  probe_sizes=(16, 32), degradations=TRAINING_DEGRADATIONS, draws=3, gallery=False, alpha=1.0,
                  shared=False, whitening=None, random_state=0, crop="auto", templates=None, sr_weights="auto",
                  progress=True, command=None):
    """Train a template adapter for ``model`` on LFW people outside the benchmark and write it with its card.

    Parameters
    ----------
    lfw : str or os.PathLike
        LFW deep-funneled folder (``NAME/NAME_NNNN.jpg``); only the people
        with fewer than five images are read.
    model : str, os.PathLike or None, default=None
        The face network file, as :class:`~skmitm.TemplateExtractor` takes it
        (None: dlib's ResNet).
    out : str or os.PathLike, default="template_adapter.npz"
        The weights file to write; its card (``.json``) goes beside it.
    max_faces : int, default=8000
        Faces drawn at random (seeded) from the training people (LFW has
        7,248 outside the benchmark: the default takes them all).
    val_fraction : float, default=0.1
        Share of the drawn faces held out to measure the mean cosine to the
        high-resolution template before and after the maps (in the card).
    scales : sequence of int, default=(2, 4, 8)
        Super-resolution scales the adapter maps.
    probe_sizes : (int, int), default=(16, 32)
        Inclusive range of the training probes' sizes.
    degradations : sequence of str, default=TRAINING_DEGRADATIONS
        The members of :data:`TRAINING_DEGRADATIONS` the training probes are
        drawn from, with equal probability: the broad family by default;
        e.g. ``("probe-moderate", "probe-harsh")`` for the benchmark's probe
        synthesis alone (a narrow family: an adapter meant for unknown
        cameras should be trained on the broad one).
    draws : int, default=3
        Degraded copies of each face (each with its own degradation, probe
        size and sigma; see ``draw`` in :func:`make_training_templates`): more
        training pairs from the same faces. Validation holds out people, so
        every copy of a held-out face stays held out.
    gallery : bool, default=False
        Also fit maps for the gallery's matched and degraded hypotheses.
    alpha : float, default=1.0
        Ridge penalty.
    shared : bool, default=False
        One map for all groups instead of one per group.
    whitening : float or None, default=None
        Use identity labels: add a within-person whitening fitted on the
        high-resolution templates of the training people with two or more
        faces (:func:`fit_identity_whitening`, ``reg=whitening``), which the
        adapter applies to every template of both sides. None: no labels used.
    random_state : int, default=0
        Seeds the choice of faces, the held-out faces and every degradation.
    crop : "auto", bool, {"spec", "dlib"} or tuple of 4 int, default="auto"
        Face box cut from each LFW image; ``"auto"`` is the box the network
        expects (dlib's own for dlib, the benchmark's otherwise).
    templates : str or os.PathLike, default=None
        A file keeping the training templates (arrays and JSON, no pickle):
        reused by a rerun with the same data, network and degradation settings
        (to fit with another ``alpha`` or ``shared``), written otherwise.
    sr_weights : "auto", str, os.PathLike or None, default="auto"
        The super-resolution weights the training probes go through, as
        :func:`~skmitm.make_mitm_pipeline` takes them: ``"auto"``, the
        weights that function picks for ``model`` (the identity-trained
        weights for MobileFaceNet, else the default), a shipped name
        (``"identity"``…), a card from ``skmitm train-sr``, or None (the
        upsampler's default, ``"realistic"``). An adapter maps the templates
        of the super-resolution it was trained through: the weights file
        records their sha256, and a pipeline refuses the adapter beside other
        weights.
    progress : bool, default=True
    command : str, default=None
        The command line that started the run, recorded in the card.

    Returns
    -------
    card_path : Path
        The card written beside the weights.
    """
    if not is_integer(max_faces) or max_faces < 10:
        raise ValueError(f"max_faces={max_faces!r}; expected an integer >= 10")
    if not 0 < val_fraction < 0.5:
        raise ValueError(f"val_fraction={val_fraction!r}; expected a share between 0 and 0.5")
    if len(probe_sizes) != 2 or not 4 <= probe_sizes[0] <= probe_sizes[1]:
        raise ValueError(f"probe_sizes={probe_sizes!r}; expected (MIN, MAX) with 4 <= MIN <= MAX")
    degradations = tuple(degradations)
    if not degradations or not set(degradations) <= set(TRAINING_DEGRADATIONS) or len(set(degradations)) < len(
            degradations):
        raise ValueError(f"degradations={degradations!r}; expected distinct members of {TRAINING_DEGRADATIONS}")
    if not is_integer(draws) or draws < 1:
        raise ValueError(f"draws={draws!r}; expected an integer >= 1")
    started = time.perf_counter()
    extractor = TemplateExtractor(model).fit()
    sr_weights = resolve_sr_weights(sr_weights, extractor.model_path_)
    sr_card = _sr_card(sr_weights)
    key = repr((str(lfw), extractor.model_sha256_, sr_card.get("sha256"), max_faces, val_fraction, tuple(scales),
                tuple(probe_sizes), gallery, random_state, crop)
               # The broad family keeps the key of the files written before the family could be chosen.
               + ((degradations,) if degradations != TRAINING_DEGRADATIONS else ())
               + ((("draws", int(draws)),) if draws != 1 else ()))
    stored = _load_training_templates(templates, key) if templates is not None else None
    if stored is None:
        faces, subjects, box = _training_faces(lfw, extractor, crop, max_faces, random_state)
        # Validation holds out whole people, so that no held-out face has a sibling in training.
        rng = np.random.default_rng([random_state, 1])
        people = np.unique(subjects)
        held_out = np.isin(subjects, rng.choice(people, size=max(1, int(val_fraction * len(people))), replace=False))
        low, high, kinds = [], [], []
        for draw in range(int(draws)):
            made = make_training_templates(faces, extractor, scales=scales, probe_sizes=probe_sizes, gallery=gallery,
                                           degradations=degradations, random_state=random_state, draw=draw,
                                           sr_weights=sr_weights, progress=progress)
            for kept, new in zip((low, high, kinds), made):
                kept.append(new)
        # One row per degraded copy: draw k of every face, then draw k + 1.
        stored = {"low": [s for sets in low for s in sets], "high": np.concatenate(high),
                  "kinds": np.concatenate(kinds), "held_out": np.tile(held_out, int(draws)),
                  "subjects": np.tile(subjects, int(draws)), "crop": box}
        if templates is not None:
            _save_training_templates(templates, key, stored)
    low, high, kinds, held_out, subjects = (stored[k] for k in ("low", "high", "kinds", "held_out", "subjects"))
    train = np.flatnonzero(~held_out)
    val = np.flatnonzero(held_out)
    maps = fit_template_maps([low[i] for i in train], high[train], alpha=alpha, shared=shared)
    labels = "not used"
    if whitening is not None:
        faces = train[train < len(high) // int(draws)]  # each training face once (its first draw)
        maps["whitening"] = fit_identity_whitening(high[faces], subjects[faces], reg=whitening)
        _, counts = np.unique(subjects[faces], return_counts=True)
        labels = (f"within-person whitening (reg {whitening:g}) from the {int(counts[counts > 1].sum())} training "
                  f"faces of the {int((counts > 1).sum())} people with two or more")
    validation = {
        "faces": int(len(val) // int(draws)),
        "mean_cosine_to_high_resolution_before": _cosines([low[i] for i in val], high[val]),
        "mean_cosine_to_high_resolution_after": _cosines([low[i] for i in val], high[val], maps),
    }
    card = {
        "network": Path(extractor.model_path_).name,
        "data": {
            "source": f"LFW, people with fewer than {EVALUATION_MIN_IMAGES} images (never the benchmark's 423)",
            "crop": stored["crop"],
            "train_faces": int(len(train) // int(draws)),
            "train_people": int(len(np.unique(subjects[train]))),
            "identity_labels": labels,
        },
        "training": {
            "method": "ridge regression per hypothesis group" if not shared else "one ridge regression, all groups",
            "alpha": alpha, "scales": list(scales), "probe_sizes": list(probe_sizes),
            "draws_per_face": int(draws), "train_pairs": int(len(train)),
            "degradations": {k: int((kinds[train] == k).sum()) for k in np.unique(kinds)},
            "sigmas": "one per face, drawn from numpy.linspace(0, 1, 16)",
            "super_resolution": {"weights": sr_card.get("weights"), "sha256": sr_card.get("sha256")},
            "gallery_hypotheses": "matched and 1 random degradation chain per scale" if gallery else "none",
            "random_state": random_state, "seconds": round(time.perf_counter() - started, 1),
        },
        "validation": validation,
        "command": command,
    }
    card_path = save_adapter(out, maps, network_sha256=extractor.model_sha256_, card=card,
                             sr_sha256=sr_card.get("sha256"))
    return card_path

