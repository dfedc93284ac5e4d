"""Template adaptation: low-resolution hypotheses mapped into the high-resolution template space.

A face network puts the template of a tiny, blurred, super-resolved face in
another region of its template space than the template of a sharp photo of
the same face. :class:`TemplateAdapter` moves the former towards the latter
with one linear map per hypothesis group (kind and scale, ``"kind@scale"``,
the groups :class:`~skmitm.FusedNearestNeighborIdentifier` centres by). The
maps are ridge regressions fitted by :func:`fit_template_maps` on pairs of
templates of the same image (a synthetic low-resolution copy and the
original), without identity labels, and kept in an adapter weights file
(arrays and JSON, no pickle) keyed on the face network's SHA-256.
"""

import json
import numbers
import os
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._backends import default_dlib_model, file_sha256
from ._hypotheses import as_hypothesis_sets
from ._identification import _centring_groups
from ._io import atomic_write, load_array_file, save_array_file
from ._param_validation import ParamValidationMixin
from ._templates import _file_sha256, _unit_rows

__all__ = ["TemplateAdapter", "fit_identity_whitening", "fit_template_maps", "load_adapter", "save_adapter"]

#: Format (kind and version) of an adapter weights file; version 2 adds the optional whitening, and files
#: without one are still written as version 1.
ADAPTER_FORMAT = "skmitm-template-adapter/2"
_FORMAT_V1 = "skmitm-template-adapter/1"

#: Hypothesis kinds mapped on the probe side (``transform``).
PROBE_KINDS = ("original", "super-resolved")

#: Hypothesis kinds mapped on the gallery side (``fit_transform`` with ``adapt_gallery=True``);
#: the gallery's originals are the high-resolution photos and are never mapped.
GALLERY_KINDS = ("matched", "degraded")

_WEIGHTS = Path(__file__).parent / "weights"
_CARD_ARCHITECTURE = "TemplateAdapter"


def _stack(sets):
    """All rows of a list of template sets, their metadata and the sample each row belongs to."""
    templates = np.concatenate([s.data for s in sets]).astype(np.float64)
    meta = np.concatenate([s.meta for s in sets])
    owner = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    return templates, meta, owner


def _ridge(inputs, targets, alpha):
    """Coefficients (D_in, D_out) and intercept (D_out,) of a ridge regression with an unpenalised intercept."""
    input_mean, target_mean = inputs.mean(axis=0), targets.mean(axis=0)
    centred = inputs - input_mean
    gram = centred.T @ centred
    gram[np.diag_indices_from(gram)] += alpha
    coef = np.linalg.solve(gram, centred.T @ (targets - target_mean))
    return coef, target_mean - input_mean @ coef


def fit_template_maps(low, high, *, alpha=1.0, shared=False):
    """Fit the maps of a template adapter: one ridge regression per hypothesis group.

    Every low-resolution hypothesis template is centred on the mean of its
    group (``"kind@scale"``, e.g. ``"super-resolved@4.0"``) and scaled to
    unit norm; a ridge regression with an intercept then maps it to the
    high-resolution template of the same image. No identity labels are used.

    Parameters
    ----------
    low : list of HypothesisSet
        Templates of the low-resolution hypotheses of each training image
        (any mix of groups; every group needs at least two rows).
    high : array-like of shape (n_images, D)
        The high-resolution template of each image: the regression target,
        used as given (the extractor's templates are unit-norm already).
    alpha : float, default=1.0
        Ridge penalty.
    shared : bool, default=False
        One map for all groups (each still centred on its own mean) instead of
        one map per group.

    Returns
    -------
    maps : dict of ndarray
        ``groups`` (G,) the group names; ``mean`` (G, D) their mean
        low-resolution templates; ``index`` (G,) the map of each group;
        ``coef`` (M, D, D) and ``intercept`` (M, D) the maps (M = G, or 1
        when shared). A template ``t`` of group ``g`` becomes
        ``unit(unit(t - mean[g]) @ coef[index[g]] + intercept[index[g]])``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import HypothesisSet, make_meta
    >>> from skmitm.adapter_training import fit_template_maps
    >>> rng = np.random.default_rng(0)
    >>> low = [HypothesisSet(rng.normal(size=(2, 8)).astype(np.float32),
    ...                      make_meta(2, kind="super-resolved", scale=[2, 4])) for _ in range(50)]
    >>> maps = fit_template_maps(low, rng.normal(size=(50, 8)))
    >>> maps["groups"].tolist(), maps["coef"].shape
    (['super-resolved@2.0', 'super-resolved@4.0'], (2, 8, 8))
    """
    sets = as_hypothesis_sets(low, name="low")
    if not all(s.has_templates for s in sets):
        raise TypeError("low holds images; expected HypothesisSets of templates (run a TemplateExtractor first)")
    high = np.asarray(high, dtype=np.float64)
    if high.ndim != 2 or len(high) != len(sets):
        raise ValueError(f"high has shape {high.shape}; expected ({len(sets)}, D), one template per set of low")
    if not np.isfinite(high).all():
        raise ValueError("high contains NaN or infinity; expected finite templates")
    if not (isinstance(alpha, numbers.Real) and not isinstance(alpha, (bool, np.bool_)) and alpha > 0):
        raise ValueError(f"alpha={alpha!r}; expected a positive number")
    templates, meta, owner = _stack(sets)
    if templates.shape[1] != high.shape[1]:
        raise ValueError(f"low has templates of {templates.shape[1]} features and high of {high.shape[1]}; expected "
                         "templates of one network")
    targets = high[owner]
    labels = _centring_groups(meta)
    groups = np.unique(labels)
    means = np.empty((len(groups), templates.shape[1]))
    inputs = np.empty_like(templates)
    for g, group in enumerate(groups):
        rows = labels == group
        if rows.sum() < 2:
            raise ValueError(f"hypothesis group {str(group)!r} has {int(rows.sum())} template; expected at least two "
                             "to centre it on its mean")
        means[g] = templates[rows].mean(axis=0)
        inputs[rows] = _unit_rows(templates[rows] - means[g])
    if shared:
        coef, intercept = _ridge(inputs, targets, alpha)
        coefs, intercepts, index = coef[None], intercept[None], np.zeros(len(groups), dtype=np.int64)
    else:
        fitted = [_ridge(inputs[labels == group], targets[labels == group], alpha) for group in groups]
        coefs = np.stack([c for c, _ in fitted])
        intercepts = np.stack([b for _, b in fitted])
        index = np.arange(len(groups), dtype=np.int64)
    return {"groups": groups.astype(str), "mean": means.astype(np.float32), "index": index,
            "coef": coefs.astype(np.float32), "intercept": intercepts.astype(np.float32)}


def fit_identity_whitening(high, subjects, *, reg=1e-3):
    """Within-person whitening of high-resolution templates, from identity labels: ``(S_w + reg I)^(-1/2)``.

    ``S_w`` is the covariance of the unit templates around their person's
    mean, over the people with two or more templates (the others have no
    within-person spread). Applied to every template of both sides after the
    maps, it shrinks the directions in which one person's photos differ and
    stretches the others.

    Parameters
    ----------
    high : array-like of shape (n_faces, D)
        High-resolution templates, each face once.
    subjects : array-like of shape (n_faces,)
        The person of each face.
    reg : float, default=1e-3
        Added to the diagonal of ``S_w`` before its inverse square root.

    Returns
    -------
    whitening : ndarray of shape (D, D), float32
        Symmetric; a template ``t`` becomes ``unit(t @ whitening)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm.adapter_training import fit_identity_whitening
    >>> rng = np.random.default_rng(0)
    >>> people = np.repeat(np.arange(20), 3)
    >>> faces = rng.normal(size=(20, 4))[people] + 0.1 * rng.normal(size=(60, 4))
    >>> fit_identity_whitening(faces, people).shape
    (4, 4)
    """
    high = np.asarray(high, dtype=np.float64)
    subjects = np.asarray(subjects)
    if high.ndim != 2 or len(subjects) != len(high):
        raise ValueError(f"high has shape {high.shape} and subjects {subjects.shape}; expected (n_faces, D) and "
                         "(n_faces,)")
    if not np.isfinite(high).all():
        raise ValueError("high contains NaN or infinity; expected finite templates")
    if not (isinstance(reg, numbers.Real) and not isinstance(reg, (bool, np.bool_)) and reg > 0):
        raise ValueError(f"reg={reg!r}; expected a positive number")
    _, inverse, counts = np.unique(subjects, return_inverse=True, return_counts=True)
    keep = counts[inverse] > 1
    if keep.sum() <= high.shape[1]:
        raise ValueError(f"{int(keep.sum())} templates belong to people with two or more; expected more than "
                         f"{high.shape[1]} (the template length) to estimate the within-person covariance")
    rows = _unit_rows(high[keep])
    person = np.unique(inverse[keep], return_inverse=True)[1]
    means = np.zeros((person.max() + 1, rows.shape[1]))
    np.add.at(means, person, rows)
    means /= np.bincount(person)[:, None]
    spread = rows - means[person]
    values, vectors = np.linalg.eigh(spread.T @ spread / len(rows) + reg * np.eye(rows.shape[1]))
    return ((vectors / np.sqrt(values)) @ vectors.T).astype(np.float32)


def _check_maps(maps, what):
    """The arrays of an adapter fit together: names, shapes, dtypes, finite values."""
    try:
        groups, mean, index, coef, intercept = (maps[k] for k in ("groups", "mean", "index", "coef", "intercept"))
    except KeyError as error:
        raise ValueError(f"{what} lacks the array {error}") from None
    dim = mean.shape[1] if mean.ndim == 2 else -1
    if (groups.ndim != 1 or groups.dtype.kind != "U" or len(np.unique(groups)) != len(groups)
            or mean.shape != (len(groups), dim) or index.shape != (len(groups),) or index.dtype.kind not in "iu"
            or coef.ndim != 3 or coef.shape[1:] != (dim, dim) or intercept.shape != (coef.shape[0], dim)
            or (len(groups) and not ((index >= 0) & (index < coef.shape[0])).all())):
        raise ValueError(f"{what} holds arrays that do not fit together (groups, mean, index, coef, intercept)")
    whitening = maps.get("whitening") if hasattr(maps, "get") else None
    if whitening is not None and whitening.shape != (dim, dim):
        raise ValueError(f"{what} holds a whitening of shape {whitening.shape}; expected ({dim}, {dim})")
    if not all(np.isfinite(a).all() for a in (mean, coef, intercept, *([] if whitening is None else [whitening]))):
        raise ValueError(f"{what} holds NaN or infinite values")


def save_adapter(path, maps, *, network_sha256, card=None, sr_sha256=None):
    """Write adapter maps to ``path`` (``.npz``, arrays and a JSON header) and a model card beside it (``.json``).

    Both files are written atomically. The header and the card name the face
    network by ``network_sha256``; :class:`TemplateAdapter` refuses the file
    for any other network.

    Parameters
    ----------
    path : str or os.PathLike
        The weights file; the card is ``path`` with the suffix ``.json``.
    maps : dict of ndarray
        What :func:`fit_template_maps` returns, optionally with ``whitening``
        (D, D), what :func:`fit_identity_whitening` returns.
    network_sha256 : str
        SHA-256 (hex) of the face network file the templates came from.
    card : dict, default=None
        What the card records besides the file: data, training, validation, command.
    sr_sha256 : str, default=None
        SHA-256 of the super-resolution weights file the training probes went
        through: a pipeline refuses the adapter beside other weights. None:
        not recorded (the adapter is then taken with any weights).

    Returns
    -------
    card_path : Path
    """
    path = Path(path).with_suffix(".npz")
    _check_maps({k: np.asarray(v) for k, v in maps.items()}, "maps")
    if not (isinstance(network_sha256, str) and len(network_sha256) == 64):
        raise ValueError(f"network_sha256={network_sha256!r}; expected the 64 hex digits of a SHA-256")
    header = {"network_sha256": network_sha256, "template_dim": int(np.asarray(maps["mean"]).shape[1])}
    if sr_sha256 is not None:
        if not (isinstance(sr_sha256, str) and len(sr_sha256) == 64):
            raise ValueError(f"sr_sha256={sr_sha256!r}; expected the 64 hex digits of a SHA-256")
        header["sr_sha256"] = sr_sha256
    save_array_file(path, maps, header, format=ADAPTER_FORMAT if "whitening" in maps else _FORMAT_V1)
    full = {"weights": path.name, "sha256": file_sha256(path), "architecture": _CARD_ARCHITECTURE, **header,
            "groups": [str(g) for g in maps["groups"]], "maps": int(np.asarray(maps["coef"]).shape[0]),
            **(card or {})}
    card_path = path.with_suffix(".json")
    with atomic_write(card_path) as f:
        f.write(json.dumps(full, indent=2) + "\n")
    return card_path


def load_adapter(path, *, network_sha256=None):
    """Read an adapter weights file written by :func:`save_adapter`.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` weights file, or its ``.json`` card (whose recorded
        SHA-256 the weights file must then match).
    network_sha256 : str, default=None
        The face network the adapter must belong to; None skips the check.

    Returns
    -------
    maps : dict of ndarray
    header : dict
        ``network_sha256`` and ``template_dim``; ``weights_file``, the
        ``.npz`` read (the card's weights when ``path`` is a card).

    Raises
    ------
    ValueError
        If the file is not an adapter weights file, is corrupt, does not match
        its card, or belongs to another network.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        with open(path) as f:
            try:
                card = json.load(f)
            except ValueError as error:
                raise ValueError(f"adapter card {str(path)!r} is not valid JSON ({error})") from None
        if not isinstance(card, dict) or card.get("architecture") != _CARD_ARCHITECTURE or "weights" not in card:
            raise ValueError(f"{str(path)!r} is not a template adapter card")
        weights = path.parent / card["weights"]
        if file_sha256(weights) != card.get("sha256"):
            raise ValueError(f"adapter weights {str(weights)!r} do not match the SHA-256 of their card {str(path)!r}")
        path = weights
    maps, header = load_array_file(path, format=(ADAPTER_FORMAT, _FORMAT_V1), name="adapter weights file")
    header["weights_file"] = str(path)
    _check_maps(maps, f"adapter weights file {str(path)!r}")
    if network_sha256 is not None and header.get("network_sha256") != network_sha256:
        raise ValueError(
            f"adapter weights file {str(path)!r} was trained for the face network with SHA-256 "
            f"{header.get('network_sha256')}, not for this one ({network_sha256}); train one for this network with "
            "'skmitm train-adapter --model MODEL --lfw LFW_FOLDER'")
    return maps, header


def shipped_adapter(network_sha256):
    """The card of the adapter shipped for the face network ``network_sha256``, or None."""
    for card_path in sorted(_WEIGHTS.glob("template_adapter_*.json")):
        with open(card_path) as f:
            card = json.load(f)
        if card.get("network_sha256") == network_sha256:
            return card_path
    return None


def _map_rows(templates, labels, maps, wanted, what):
    """Templates with every row of a group in ``wanted`` kinds mapped; the others as they are."""
    out = np.array(templates, dtype=np.float32, copy=True)
    known = {str(g): i for i, g in enumerate(maps["groups"])}
    for group in np.unique(labels):
        if str(group).split("@")[0] not in wanted:
            continue
        if str(group) not in known:
            raise ValueError(
                f"{what} hypothesis group {str(group)!r} has no map in the adapter, which maps "
                f"{sorted(known)}; train an adapter for these kinds and scales ('skmitm train-adapter --scales ...')")
        g = known[str(group)]
        rows = labels == group
        m = maps["index"][g]
        centred = _unit_rows(templates[rows].astype(np.float64) - maps["mean"][g])
        out[rows] = _unit_rows(centred @ maps["coef"][m] + maps["intercept"][m])
    return out


def adapter_step(model, adapter):
    """The unfitted step for an ``adapter`` option: ``"auto"`` (shipped, else pass-through) or a weights file."""
    auto = isinstance(adapter, str) and adapter == "auto"
    return TemplateAdapter(model, weights=None if auto else adapter, required=not auto)


class TemplateAdapter(ParamValidationMixin, TransformerMixin, BaseEstimator):
    """Map low-resolution hypothesis templates into the high-resolution template space of their network.

    Sits after :class:`~skmitm.TemplateExtractor` in a pipeline. Like
    :class:`~skmitm.MultiHypothesisUpsampler`, it tells the two sides apart
    by the call: ``transform(X)`` maps **probes** — every ``"original"`` and
    ``"super-resolved"`` hypothesis goes through the map of its group
    (``"kind@scale"``) — while ``fit_transform(X)`` returns the **gallery**
    as it is, or, with ``adapt_gallery=True``, with its ``"matched"`` and
    ``"degraded"`` hypotheses mapped by their own groups' maps. The
    gallery's originals, the high-resolution photos, are never mapped.
    Weights trained with identity labels also hold a whitening
    (:func:`~skmitm.adapter_training.fit_identity_whitening`): then every
    template of both sides, photos included, is whitened after the maps.
    Metadata pass through unchanged, so the identifier's selection and
    fusion parameters work on adapted templates as on any others.

    Parameters
    ----------
    model : str, os.PathLike or None, default=None
        The face network file the templates come from, as given to
        :class:`~skmitm.TemplateExtractor` (None: dlib's ResNet). Only its
        SHA-256 is read: the adapter must have been trained for it.
    weights : str, os.PathLike or None, default=None
        An adapter weights file (``.npz``, or its ``.json`` card) written by
        :func:`skmitm.adapter_training.train_adapter` or ``skmitm
        train-adapter``; None: an adapter shipped for ``model`` (none ships
        yet: ``fit`` then names the command that trains one).
    adapt_gallery : bool, default=False
        Whether ``fit_transform`` maps the gallery's matched and degraded
        hypotheses too (the weights must hold maps for their groups).
    required : bool, default=True
        With ``weights=None``, whether ``fit`` fails when no adapter ships for
        ``model`` (or ``model`` is not a network file, e.g. a torch module).
        ``False`` makes the step pass every template through unchanged in that
        case (``active_`` is then False): what
        :func:`~skmitm.make_mitm_pipeline` uses, so that its default pipeline
        adapts templates for the networks an adapter ships for and still runs
        for any other.

    Attributes
    ----------
    active_ : bool
        Whether the step maps templates (False only for ``required=False``
        without a shipped adapter).
    network_sha256_ : str or None
        SHA-256 of the face network file (None when it is not a file).
    weights_path_ : str or None
        The weights file read (None when inactive).
    weights_sha256_ : str or None
        SHA-256 of the weights ``.npz`` (None when inactive).
    sr_sha256_ : str or None
        SHA-256 of the super-resolution weights the adapter was trained
        through, as its file records it (None when inactive or not
        recorded); a pipeline refuses the adapter beside other weights.
    groups_ : list of str
        The hypothesis groups the adapter has maps for (empty when inactive).
    template_dim_ : int or None
        Length of a template (None when inactive).
    adapts_gallery_ : bool
        Whether the weights hold maps for gallery groups.
    whitens_ : bool
        Whether the weights hold a whitening (applied to every template).
    maps_ : dict of ndarray or None
        The maps, as :func:`~skmitm.adapter_training.fit_template_maps` returns them.

    See Also
    --------
    skmitm.adapter_training.train_adapter : trains the maps for a network.

    Notes
    -----
    A template ``t`` of group ``g`` becomes ``unit(unit(t - mean_g) @ W_g +
    b_g)``: centred on the training templates' mean of its group, scaled to
    unit norm, mapped, scaled to unit norm. Each template is mapped on its
    own, so a single probe is adapted exactly as it would be in a batch.
    With a whitening ``P``, every template then becomes ``unit(t @ P)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import HypothesisSet, TemplateAdapter, make_meta
    >>> from skmitm.adapter_training import fit_template_maps, save_adapter
    >>> rng = np.random.default_rng(0)
    >>> low = [HypothesisSet(rng.normal(size=(2, 8)).astype(np.float32),
    ...                      make_meta(2, kind=["original", "super-resolved"], scale=[1, 4])) for _ in range(50)]
    >>> maps = fit_template_maps(low, rng.normal(size=(50, 8)))
    >>> import hashlib, os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> network = os.path.join(folder, "net.onnx")  # stands for the face network file
    >>> with open(network, "wb") as f:
    ...     _ = f.write(b"a face network")
    >>> sha256 = hashlib.sha256(b"a face network").hexdigest()
    >>> _ = save_adapter(os.path.join(folder, "adapter.npz"), maps, network_sha256=sha256)
    >>> adapter = TemplateAdapter(network, weights=os.path.join(folder, "adapter.npz")).fit()
    >>> adapter.groups_
    ['original@1.0', 'super-resolved@4.0']
    >>> probes = adapter.transform(low[:3])
    >>> [round(float(np.linalg.norm(row)), 4) for row in probes[0].data]
    [1.0, 1.0]
    >>> adapter.fit_transform(low[:3])[0].data is low[0].data  # the gallery passes through
    True
    """

    _parameter_constraints = {
        # A network file, a pack name or a torch module, as TemplateExtractor takes it: checked in fit.
        "model": "no_validation",
        "weights": [None, str, os.PathLike],
        "adapt_gallery": ["boolean"],
        "required": ["boolean"],
    }

    def __init__(self, model=None, *, weights=None, adapt_gallery=False, required=True):
        self.model = model
        self.weights = weights
        self.adapt_gallery = adapt_gallery
        self.required = required

    def fit(self, X=None, y=None):
        """Read the adapter weights and check that they belong to ``model``.

        Parameters
        ----------
        X : ignored
            Accepted for pipelines; the maps come from the weights file.
        y : ignored

        Returns
        -------
        self : TemplateAdapter
        """
        self._validate_params()
        network = default_dlib_model() if self.model is None else self.model
        if not isinstance(network, (str, os.PathLike)) or not os.path.isfile(network):
            if self.weights is None and not self.required:
                return self._inactive(None)
            if isinstance(network, (str, os.PathLike)):
                raise FileNotFoundError(f"model file {os.fspath(network)!r} does not exist")
            raise TypeError(f"model is a {type(network).__name__}; the adapter needs the face network's file, "
                            "whose SHA-256 its weights are keyed on")
        network = os.fspath(network)
        sha256 = _file_sha256(os.path.abspath(network))
        weights = self.weights
        if weights is None:
            weights = shipped_adapter(sha256)
            if weights is None:
                if not self.required:
                    return self._inactive(sha256)
                raise ValueError(
                    f"no template adapter ships for the face network {Path(network).name!r} (SHA-256 {sha256}); "
                    f"train one with 'skmitm train-adapter --model {network} --lfw LFW_FOLDER --out ADAPTER.npz' "
                    "and pass weights='ADAPTER.npz'")
        elif not os.path.isfile(weights):
            raise FileNotFoundError(f"adapter weights file {os.fspath(weights)!r} does not exist")
        maps, header = load_adapter(weights, network_sha256=sha256)
        groups = [str(g) for g in maps["groups"]]
        adapts_gallery = any(g.split("@")[0] in GALLERY_KINDS for g in groups)
        if self.adapt_gallery and not adapts_gallery:
            raise ValueError(f"adapt_gallery=True but the adapter {os.fspath(weights)!r} has no map for gallery "
                             f"hypotheses (it maps {groups}); train it with gallery hypotheses or leave "
                             "adapt_gallery=False")
        self.active_ = True
        self.maps_ = maps
        self.network_sha256_ = sha256
        self.weights_path_ = os.fspath(weights)
        self.weights_sha256_ = file_sha256(header["weights_file"])  # the .npz, also when a card was given
        self.groups_ = groups
        self.template_dim_ = int(header["template_dim"])
        self.adapts_gallery_ = adapts_gallery
        self.whitens_ = "whitening" in maps
        self.sr_sha256_ = header.get("sr_sha256")
        return self

    def _inactive(self, sha256):
        """Fitted as a step that passes templates through (``required=False`` and no adapter for the network)."""
        if self.adapt_gallery:
            raise ValueError("adapt_gallery=True but no template adapter ships for this face network; pass weights= "
                             "or leave adapt_gallery=False")
        self.active_ = False
        self.maps_ = None
        self.network_sha256_ = sha256
        self.weights_path_ = self.weights_sha256_ = self.template_dim_ = None
        self.groups_ = []
        self.adapts_gallery_ = self.whitens_ = False
        self.sr_sha256_ = None
        return self

    def _sets(self, X):
        sets = as_hypothesis_sets(X, name="X")
        for i, s in enumerate(sets):
            if not s.has_templates:
                raise TypeError(f"X[{i}] holds images; expected templates (put a TemplateExtractor before the adapter)")
            if self.active_ and s.data.shape[1] != self.template_dim_:
                raise ValueError(f"X[{i}] has templates of {s.data.shape[1]} features; the adapter maps templates "
                                 f"of {self.template_dim_} (another face network?)")
        return sets

    def _map(self, sets, kinds, what):
        if not self.active_:
            return sets
        templates, meta, owner = _stack(sets)
        mapped = _map_rows(templates, _centring_groups(meta), self.maps_, kinds, what)
        if self.whitens_:
            mapped = _unit_rows(mapped.astype(np.float64) @ self.maps_["whitening"]).astype(np.float32)
        bounds = np.cumsum([len(s) for s in sets])[:-1]
        return [s.with_data(t) for s, t in zip(sets, np.split(mapped, bounds))]

    def transform(self, X):
        """Map every probe hypothesis (``"original"``, ``"super-resolved"``) into the high-resolution space.

        Parameters
        ----------
        X : list of HypothesisSet of templates, or ndarray of shape (n_samples, D)
            Probe templates (a 2-D array is one ``"original"`` template per probe).

        Returns
        -------
        sets : list of HypothesisSet
            The input's metadata; its probe hypotheses mapped (unit-norm
            float32), any other kind as it is; then every template whitened
            when the weights hold a whitening.
        """
        check_is_fitted(self, "active_")
        return self._map(self._sets(X), PROBE_KINDS, "probe")

    def fit_transform(self, X, y=None):
        """Fit, then return the gallery as :meth:`transform_gallery` does.

        Parameters
        ----------
        X : list of HypothesisSet of templates, or ndarray of shape (n_samples, D)
            Gallery templates.
        y : ignored

        Returns
        -------
        sets : list of HypothesisSet
        """
        return self.fit(X, y).transform_gallery(X)

    def transform_gallery(self, X):
        """The gallery as ``fit_transform`` returns it, from a fitted adapter.

        Parameters
        ----------
        X : list of HypothesisSet of templates, or ndarray of shape (n_samples, D)
            Gallery templates.

        Returns
        -------
        sets : list of HypothesisSet
            As they are, or, with ``adapt_gallery=True``, with the matched and
            degraded hypotheses mapped; every template whitened when the
            weights hold a whitening.
        """
        check_is_fitted(self, "active_")
        sets = self._sets(X)
        if not (self.adapt_gallery or self.whitens_):
            return sets
        return self._map(sets, GALLERY_KINDS if self.adapt_gallery else (), "gallery")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
