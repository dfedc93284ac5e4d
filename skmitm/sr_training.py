"""Train the face super-resolution network (FaceEDSR) on LFW people outside the benchmark.

Run ``skmitm train-sr --help`` (the command calls :func:`train_sr`). The
network learns from LFW people with fewer than five images: the 423 people
with five or more are the public benchmark's evaluation subjects and are
never read. Faces are
the benchmark's 126×126 crop, loaded once into memory; every step draws a
batch of faces, makes its low-resolution inputs on the fly with a seeded
degradation pipeline and trains all scales at once through the shared body.

Degradations (``--degradation``):

- ``realistic`` (default, shipped): random horizontal flip; the face is
  area-resized to twice the low-resolution size, blurred there (isotropic or
  anisotropic Gaussian, or disk; p = 0.9), resized to the low-resolution size
  with a random kernel (area, bilinear, bicubic or Lanczos), given Gaussian
  noise (colour or grey; p = 0.8) and JPEG-compressed (p = 0.8).
- ``plain``: bicubic downsampling only, as in the paper.

Identity loss (``identity_model``): next to the pixel loss, every step
super-resolves ``identity_batch`` whole degraded faces at every scale, resizes
them to the face network's input exactly as
:class:`~skmitm.TemplateExtractor` does (bicubic) and adds ``identity_weight``
times the mean of ``1 - cos`` between the network's template of each output
and that of the high-resolution face. The face network runs through a
differentiable torch copy of its ONNX graph
(:class:`~skmitm._onnx_torch.OnnxGraphModule`); its weights stay fixed.
``init_weights`` starts from an existing weights card instead of random
weights (fine-tuning).

Training is seeded and resumable: the data of step ``t`` come from
``numpy.random.default_rng([seed, t])`` and the learning rate is a function
of ``t``, so a run resumed from a checkpoint continues exactly where it left.
"""

import inspect
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from ._degradation import match_resolution
from ._edsr import FaceEDSR, load_edsr, save_edsr
from ._io import atomic_write
from ._runtime import progress_bar, torch_threads
from ._validation import is_integer
from .datasets import load_lfw_folder
from .metrics import psnr

__all__ = [
    "DEGRADATIONS",
    "IdentityLoss",
    "degrade_face",
    "load_training_faces",
    "make_batch",
    "make_identity_batch",
    "train",
    "train_sr",
]

#: Low-resolution input pipelines the trainer knows.
DEGRADATIONS = ("realistic", "plain")

#: People with this many images or more are the benchmark's evaluation subjects.
EVALUATION_MIN_IMAGES = 5

_DOWNSAMPLING = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4)


def load_training_faces(lfw_dir, *, max_images_per_subject=EVALUATION_MIN_IMAGES - 1, max_faces=None):
    """Load the face crops of the LFW people who are *not* benchmark subjects.

    Parameters
    ----------
    lfw_dir : str or os.PathLike
        An LFW-style folder ``NAME/NAME_NNNN.jpg`` of 250×250 images.
    max_images_per_subject : int, default=4
        People with more images than this are skipped entirely; the default
        skips the benchmark's evaluation people (five images or more).
    max_faces : int, default=None
        Stop after this many faces (people in name order), for quick runs.

    Returns
    -------
    faces : ndarray of shape (n_faces, 126, 126, 3), dtype uint8
    subjects : ndarray of str, shape (n_faces,)
    """
    lfw = load_lfw_folder(lfw_dir, max_images_in_folder=max_images_per_subject, crop=True)
    faces, subjects = lfw.images[:max_faces], lfw.subjects[:max_faces]
    return np.stack(faces), np.asarray(subjects)


def _blur_kernel(rng, sigma_scale):
    """A random blur kernel (isotropic/anisotropic Gaussian or disk), normalised to sum 1."""
    kind = rng.choice(3, p=[0.5, 0.35, 0.15])
    if kind == 2:
        radius = rng.uniform(0.6, 1.6) * sigma_scale
        r = int(math.ceil(radius))
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        kernel = (xx**2 + yy**2 <= radius**2).astype(np.float32)
    else:
        sx = rng.uniform(0.2, 1.4) * sigma_scale
        sy = sx if kind == 0 else rng.uniform(0.2, 1.4) * sigma_scale
        theta = rng.uniform(0, np.pi)
        r = int(math.ceil(3 * max(sx, sy)))
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
        c, s = np.cos(theta), np.sin(theta)
        u, v = c * xx + s * yy, -s * xx + c * yy
        kernel = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return kernel / kernel.sum()


def degrade_face(face, lr_size, rng, *, degradation="realistic"):
    """Make a low-resolution ``lr_size``×``lr_size`` input from a high-resolution face.

    Parameters
    ----------
    face : ndarray of shape (H, W, 3), dtype uint8
    lr_size : int
    rng : numpy.random.Generator
    degradation : {"realistic", "plain"}, default="realistic"
        See the module docstring.

    Returns
    -------
    lr : ndarray of shape (lr_size, lr_size, 3), dtype uint8
        The network's low-resolution input for this face.

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm.sr_training import degrade_face
    >>> face = np.random.default_rng(0).integers(0, 256, (126, 126, 3), dtype=np.uint8)
    >>> degrade_face(face, 24, np.random.default_rng(0)).shape
    (24, 24, 3)
    """
    if degradation == "plain":
        return cv2.resize(face, (lr_size, lr_size), interpolation=cv2.INTER_CUBIC)
    if degradation != "realistic":
        raise ValueError(f"degradation={degradation!r}; expected one of {DEGRADATIONS}")
    # Blurring at twice the target size puts the kernel before the last
    # downsampling, as in a camera, while keeping kernels a few pixels wide.
    mid = 2 * lr_size
    image = cv2.resize(face, (mid, mid), interpolation=cv2.INTER_AREA).astype(np.float32)
    if rng.random() < 0.9:
        image = cv2.filter2D(image, -1, _blur_kernel(rng, 2.0), borderType=cv2.BORDER_REFLECT_101)
    image = cv2.resize(image, (lr_size, lr_size), interpolation=int(rng.choice(_DOWNSAMPLING)))
    if rng.random() < 0.8:
        std = rng.uniform(0.0, 10.0)
        shape = image.shape if rng.random() < 0.7 else image.shape[:2] + (1,)
        image = image + rng.normal(0.0, std, size=shape).astype(np.float32)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if rng.random() < 0.8:
        quality = int(rng.integers(30, 96))
        ok, encoded = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1]
    return np.ascontiguousarray(image)


def make_batch(faces, rng, *, batch_size, scales, patch, lr_sizes, degradation="realistic"):
    """Draw a training batch: LR patches and the matching HR patches at each scale.

    Each face is shown at a random low-resolution size in ``lr_sizes``
    (inclusive range); the HR target at scale ``s`` is the face resized to
    ``s`` times that size, so LR pixel ``k`` covers HR pixels ``s·k … s·k+s-1``.

    Returns
    -------
    lr : Tensor of shape (batch_size, 3, patch, patch), float in [0, 1]
    hr : dict of {scale: Tensor of shape (batch_size, 3, s·patch, s·patch)}
    """
    lrs, hrs = [], {s: [] for s in scales}
    for index in rng.integers(0, len(faces), size=batch_size):
        face = faces[index]
        if rng.random() < 0.5:
            face = face[:, ::-1]
        size = int(rng.integers(lr_sizes[0], lr_sizes[1] + 1))
        lr = degrade_face(face, size, rng, degradation=degradation)
        i, j = (int(v) for v in rng.integers(0, size - patch + 1, size=2))
        lrs.append(lr[i : i + patch, j : j + patch])
        for s in scales:
            hrs[s].append(match_resolution(face, s * size)[s * i : s * (i + patch), s * j : s * (j + patch)])

    def to_tensor(images):
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0)

    return to_tensor(lrs), {s: to_tensor(v) for s, v in hrs.items()}


def _to_uint8(tensor):
    return tensor.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).numpy()


def _validate(net, faces, scales, *, lr_size, degradation, seed):
    """Mean PSNR of the network and of bicubic at each scale on fixed degraded faces."""
    rng = np.random.default_rng([seed, 2**31])
    lr = np.stack([degrade_face(f, lr_size, rng, degradation=degradation) for f in faces])
    x = torch.from_numpy(lr).permute(0, 3, 1, 2).float().div_(255.0)
    was_training = net.training
    net.eval()
    with torch.no_grad():
        out = {s: _to_uint8(y) for s, y in net(x).items()}
    net.train(was_training)
    result = {}
    for s in scales:
        size = s * lr_size
        hr = [match_resolution(f, size) for f in faces]
        bicubic = [cv2.resize(im, (size, size), interpolation=cv2.INTER_CUBIC) for im in lr]
        result[s] = {
            "net": float(np.mean([psnr(o, h) for o, h in zip(out[s], hr)])),
            "bicubic": float(np.mean([psnr(b, h) for b, h in zip(bicubic, hr)])),
        }
    return result


class IdentityLoss:
    """``1 - cos`` between a face network's templates of super-resolved faces and of their HR originals.

    Parameters
    ----------
    model : str or os.PathLike
        An ONNX face network (see :class:`~skmitm._onnx_torch.OnnxGraphModule`
        for the operators it may use). Its input size, channel order and
        normalisation are those :class:`~skmitm.TemplateExtractor` resolves
        for it, and images reach it resized as the extractor resizes them
        (bicubic).
    device : str, default="cpu"

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skmitm.sr_training import IdentityLoss
    >>> loss = IdentityLoss("mobilefacenet.onnx")  # doctest: +SKIP
    >>> hr = np.zeros((2, 126, 126, 3), np.uint8)  # doctest: +SKIP
    >>> float(loss(torch.zeros(2, 3, 48, 48), loss.targets(hr)))  # doctest: +SKIP
    0.0
    """

    def __init__(self, model, *, device="cpu"):
        from ._onnx_torch import OnnxGraphModule
        from ._templates import TemplateExtractor

        self._extractor = TemplateExtractor(model=model, backend="onnx").fit()
        self.input_size = tuple(int(v) for v in self._extractor.input_size_)
        self._order = torch.tensor([2, 1, 0] if self._extractor.channel_order_ == "BGR" else [0, 1, 2])
        self._mean = torch.tensor(np.asarray(self._extractor.mean_, np.float32)).reshape(1, 3, 1, 1).to(device)
        self._std = torch.tensor(np.asarray(self._extractor.std_, np.float32)).reshape(1, 3, 1, 1).to(device)
        self.net = OnnxGraphModule(model).to(device)
        self.device = device

    def embed(self, images):
        """Unit templates of (N, 3, H, W) RGB images in [0, 1], differentiable in the images."""
        height, width = self.input_size
        if images.shape[2:] != (height, width):
            images = torch.nn.functional.interpolate(images, size=(height, width), mode="bicubic",
                                                     align_corners=False)
        # cv2 saturates and rounds when it resizes uint8; clamping keeps the range, rounding is left out
        # so that gradients flow.
        x = images.clamp(0, 1).mul(255.0)[:, self._order]
        out = self.net((x - self._mean) / self._std)
        return torch.nn.functional.normalize(out, dim=1)

    def targets(self, faces):
        """Unit templates of (N, H, W, 3) uint8 HR faces, from exactly the extractor's network input."""
        x = torch.from_numpy(self._extractor.network_input(list(faces))).to(self.device)
        with torch.no_grad():
            return torch.nn.functional.normalize(self.net(x), dim=1)

    def __call__(self, images, targets):
        return (1.0 - (self.embed(images) * targets).sum(dim=1)).mean()


def make_identity_batch(faces, rng, *, batch_size, lr_sizes, degradation="realistic"):
    """Whole degraded faces at one random LR size, and the HR faces they came from.

    Returns
    -------
    lr : Tensor of shape (batch_size, 3, size, size), float in [0, 1]
    hr : ndarray of shape (batch_size, H, W, 3), dtype uint8
    """
    size = int(rng.integers(lr_sizes[0], lr_sizes[1] + 1))
    chosen = []
    for index in rng.integers(0, len(faces), size=batch_size):
        face = faces[index]
        chosen.append(face[:, ::-1] if rng.random() < 0.5 else face)
    lr = np.stack([degrade_face(f, size, rng, degradation=degradation) for f in chosen])
    return torch.from_numpy(lr).permute(0, 3, 1, 2).float().div_(255.0), np.stack(chosen)


def _learning_rate(step, steps, lr):
    """Cosine decay from ``lr`` to 2% of it; a function of the step alone, so resuming needs no state."""
    return lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1))))


def train(
    faces,
    *,
    val_faces=None,
    scales=(2, 4, 8),
    n_feats=32,
    n_blocks=8,
    steps=5000,
    batch_size=16,
    patch=16,
    lr_sizes=(16, 32),
    lr=5e-4,
    degradation="realistic",
    identity_model=None,
    identity_weight=0.1,
    identity_batch=8,
    init_weights=None,
    seed=0,
    device="cpu",
    checkpoint=None,
    checkpoint_every=250,
    progress=True,
    log=None,
):
    """Train a :class:`~skmitm._edsr.FaceEDSR` on in-memory faces, resuming from ``checkpoint`` if it exists.

    Parameters
    ----------
    faces : ndarray of shape (n, H, W, 3), dtype uint8
        High-resolution training faces (square).
    val_faces : ndarray of shape (m, H, W, 3), default=None
        Held-out faces; validation PSNR (at LR size 24) is logged at every
        checkpoint and returned.
    scales, n_feats, n_blocks :
        Architecture, see :class:`~skmitm._edsr.FaceEDSR`.
    steps : int, default=5000
    batch_size : int, default=16
    patch : int, default=16
        Side of the LR training patches.
    lr_sizes : (int, int), default=(16, 32)
        Inclusive range of LR face sizes.
    lr : float, default=5e-4
        Peak Adam learning rate (cosine decay).
    degradation : {"realistic", "plain"}, default="realistic"
    identity_model : str or Path, default=None
        ONNX face network for the identity loss (see the module docstring);
        None trains for pixels only.
    identity_weight : float, default=0.1
        Weight of the identity loss beside the mean L1 pixel loss.
    identity_batch : int, default=8
        Whole faces per step for the identity loss.
    init_weights : str or Path, default=None
        Weights card to start from (its architecture must match); None
        starts from random weights. A resumed checkpoint takes precedence.
    seed : int, default=0
    device : str, default="cpu"
    checkpoint : str or Path, default=None
        File holding the resumable state; written every ``checkpoint_every``
        steps and at the end.
    checkpoint_every : int, default=250
    progress : bool, default=True
        Show a tqdm progress bar.
    log : callable, default=None
        Receives one line of text per checkpoint.

    Returns
    -------
    net : FaceEDSR
        In evaluation mode, on the CPU.
    history : dict
        ``steps``, ``seconds`` (training time across resumes), ``loss`` (mean
        L1 per checkpoint interval), ``identity`` (mean identity loss per
        interval, with ``identity_model``) and ``val`` (validation PSNR, if
        any).

    Examples
    --------
    >>> import numpy as np
    >>> from skmitm.sr_training import train
    >>> faces = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    >>> net, history = train(faces, scales=(2,), n_feats=8, n_blocks=1, steps=2,
    ...                      batch_size=2, patch=8, lr_sizes=(12, 16), progress=False)
    >>> history["steps"]
    2
    """
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[3] != 3 or faces.dtype != np.uint8 or faces.shape[1] != faces.shape[2]:
        raise ValueError(f"faces has shape {faces.shape} and dtype {faces.dtype}; expected (n, S, S, 3) uint8")
    if len(faces) == 0:
        raise ValueError("faces is empty; expected at least one training face")
    if degradation not in DEGRADATIONS:
        raise ValueError(f"degradation={degradation!r}; expected one of {DEGRADATIONS}")
    if not (is_integer(patch) and 1 <= patch <= lr_sizes[0] <= lr_sizes[1]):
        raise ValueError(f"patch={patch!r} and lr_sizes={lr_sizes!r}; expected 1 <= patch <= min <= max")
    if identity_model is not None and not (is_integer(identity_batch) and identity_batch >= 1):
        raise ValueError(f"identity_batch={identity_batch!r}; expected a positive integer")
    if not (isinstance(identity_weight, (int, float)) and math.isfinite(identity_weight) and identity_weight >= 0):
        raise ValueError(f"identity_weight={identity_weight!r}; expected a finite number >= 0")
    torch.manual_seed(seed)
    net = FaceEDSR(scales, n_feats=n_feats, n_blocks=n_blocks).to(device)
    if init_weights is not None:
        start, _ = load_edsr(init_weights, device=device)
        if start.config != net.config:
            raise ValueError(f"init_weights {init_weights} holds a network {start.config}; this run builds {net.config}")
        net.load_state_dict(start.state_dict())
    identity = None if identity_model is None else IdentityLoss(identity_model, device=device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    history = {"steps": 0, "seconds": 0.0, "loss": [], "identity": [], "val": []}
    checkpoint = None if checkpoint is None else Path(checkpoint)
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        if state["config"] != net.config:
            raise ValueError(f"checkpoint {checkpoint} holds a network {state['config']}; this run builds {net.config}")
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]

    def save():
        if checkpoint is None:
            return
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(checkpoint, "wb") as f:
            torch.save(
                {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "config": net.config,
                 "history": history},
                f,
            )

    net.train()
    bar = progress_bar(total=steps, initial=history["steps"], enabled=progress, mininterval=5, desc="FaceEDSR")
    losses, id_losses = [], []
    history.setdefault("identity", [])
    start = time.perf_counter() - history["seconds"]
    while history["steps"] < steps:
        step = history["steps"]
        rng = np.random.default_rng([seed, step])
        x, targets = make_batch(
            faces, rng, batch_size=batch_size, scales=scales, patch=patch, lr_sizes=lr_sizes, degradation=degradation
        )
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, steps, lr)
        out = net(x.to(device))
        loss = sum(torch.nn.functional.l1_loss(out[s], targets[s].to(device)) for s in scales) / len(scales)
        losses.append(loss.item())
        if identity is not None:
            # Its own generator, so the pixel batches equal those of a run without the identity loss.
            whole, hr = make_identity_batch(faces, np.random.default_rng([seed, step, 1]), batch_size=identity_batch,
                                            lr_sizes=lr_sizes, degradation=degradation)
            wanted = identity.targets(hr)
            sr = net(whole.to(device))
            id_loss = sum(identity(sr[s], wanted) for s in scales) / len(scales)
            id_losses.append(id_loss.item())
            loss = loss + identity_weight * id_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history["steps"] = step + 1
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        if history["steps"] % checkpoint_every == 0 or history["steps"] == steps:
            history["seconds"] = time.perf_counter() - start
            history["loss"].append([history["steps"], float(np.mean(losses))])
            line = f"step {history['steps']}/{steps}  loss {history['loss'][-1][1]:.4f}"
            if id_losses:
                history["identity"].append([history["steps"], float(np.mean(id_losses))])
                line += f"  identity {history['identity'][-1][1]:.4f}"
            losses, id_losses = [], []
            line += f"  {history['seconds']:.0f} s"
            if val_faces is not None:
                val = _validate(net, val_faces, scales, lr_size=24, degradation=degradation, seed=seed)
                history["val"].append([history["steps"], {str(s): v for s, v in val.items()}])
                line += "  val PSNR " + "  ".join(
                    f"×{s} {v['net']:.2f} (bicubic {v['bicubic']:.2f})" for s, v in val.items()
                )
            save()
            if log is not None:
                log(line)
    bar.close()
    history["seconds"] = time.perf_counter() - start
    return net.cpu().eval(), history


#: The settings :func:`train_sr` passes on to :func:`train`, with train's defaults.
TRAIN_OPTIONS = {
    name: parameter.default
    for name, parameter in inspect.signature(train).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in ("val_faces", "checkpoint", "log")
}


def train_sr(lfw, *, out="sr-training", export=None, val_people=100, max_faces=None, threads=1, command=None,
             **options):
    """Train FaceEDSR on the LFW people outside the benchmark and export a weights file with its card.

    Loads the training faces (:func:`load_training_faces`), holds out one face
    of each of ``val_people`` random people for validation, trains with
    :func:`train` (resuming from ``OUT/checkpoint_DEGRADATION.pt`` if it
    exists), logs to ``OUT/train.log`` and writes the weights and their card
    with :func:`~skmitm._edsr.save_edsr`. :func:`train`'s defaults are the
    settings of the shipped weights.

    Parameters
    ----------
    lfw : str or os.PathLike
        LFW deep-funneled folder (``NAME/NAME_NNNN.jpg``).
    out : str or os.PathLike, default="sr-training"
        Folder for the checkpoint and the log.
    export : str or os.PathLike, default=None
        Weights file to write (``.pt``; the ``.json`` card goes beside it);
        None: ``OUT/face_edsr_DEGRADATION.pt``.
    val_people : int, default=100
        Training people held out for validation (at most half of them).
    max_faces : int, default=None
        Use only the first faces (people in name order), for quick runs.
    threads : int, default=1
        Torch CPU threads during training (restored afterwards).
    command : str, default=None
        The command line that started the run, recorded in the card.
    **options
        Keyword arguments of :func:`train` (``degradation``, ``scales``,
        ``steps``, ``lr``…); the others keep :func:`train`'s defaults.

    Returns
    -------
    card_path : Path
        The weights card written.
    """
    unknown = set(options) - set(TRAIN_OPTIONS)
    if unknown:
        raise TypeError(f"train_sr got {sorted(unknown)}; expected keyword arguments of train: {sorted(TRAIN_OPTIONS)}")
    settings = {**TRAIN_OPTIONS, **options}
    degradation = settings["degradation"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train.log", "a") as logfile, torch_threads(threads):

        def log(line):
            print(line, flush=True)
            logfile.write(line + "\n")
            logfile.flush()

        t0 = time.perf_counter()
        faces, subjects = load_training_faces(lfw, max_faces=max_faces)
        people = np.unique(subjects)
        n_val = min(val_people, len(people) // 2)
        held_out = np.random.default_rng(settings["seed"]).choice(people, size=n_val, replace=False)
        is_val = np.isin(subjects, held_out)
        # One face per held-out person, so no person dominates validation.
        _, first = np.unique(subjects[is_val], return_index=True)
        val_faces = faces[is_val][first]
        train_faces = faces[~is_val]
        log(
            f"loaded {len(faces)} faces of {len(people)} people with < {EVALUATION_MIN_IMAGES} images in "
            f"{time.perf_counter() - t0:.0f} s; training on {len(train_faces)} faces, validating on {len(val_faces)}"
        )
        net, history = train(train_faces, val_faces=val_faces, checkpoint=out / f"checkpoint_{degradation}.pt", log=log,
                             **settings)
        export = Path(export) if export else out / f"face_edsr_{degradation}.pt"
        card = {
            "degradation": degradation,
            "data": {
                "source": "LFW deep-funneled, people with fewer than 5 images (never the benchmark's 423)",
                "crop": "x 62..188, y 55..181 (126x126)",
                "train_faces": int(len(train_faces)),
                "train_people": int(len(people) - len(held_out)),
                "val_faces": int(len(val_faces)),
            },
            "training": {
                "steps": history["steps"], **{k: settings[k] for k in ("batch_size", "patch", "lr", "seed", "device")},
                "lr_sizes": list(settings["lr_sizes"]), "threads": threads, "seconds": round(history["seconds"], 1),
                "torch": torch.__version__,
            },
            "validation_psnr_lr24": history["val"][-1][1] if history["val"] else None,
            "command": command,
        }
        if settings["identity_model"] is not None:
            from ._backends import file_sha256

            card["training"]["identity_loss"] = {
                "model": Path(settings["identity_model"]).name,
                "model_sha256": file_sha256(settings["identity_model"]),
                "weight": settings["identity_weight"], "batch": settings["identity_batch"],
                "final": history["identity"][-1][1] if history["identity"] else None,
            }
        if settings["init_weights"] is not None:
            _, start_card = load_edsr(settings["init_weights"])
            card["training"]["init_weights"] = {"card": Path(settings["init_weights"]).name,
                                                "sha256": start_card["sha256"],
                                                "steps": start_card.get("training", {}).get("steps")}
        card_path = save_edsr(net, export, card=card)
        log(f"wrote {export.with_suffix('.pt')} and {card_path} after {history['seconds']:.0f} s of training")
    return card_path
