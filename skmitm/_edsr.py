"""A small multi-scale EDSR for faces: one shared body, one pixel-shuffle tail per scale.

The network follows EDSR (Lim et al., CVPRW 2017): residual blocks without
batch normalisation, a global skip around the body and sub-pixel
(pixel-shuffle) upsampling. Like EDSR's multi-scale sibling MDSR, the body is
shared by all scales and each scale has its own tail, so one pass of the body
over a low-resolution probe serves ×2, ×4 and ×8 at once. The reasons for
that choice (training budget, inference cost) are in
``docs/super_resolution.md``.

Shipped weights live in ``skmitm/weights/`` as a ``state_dict`` (``.pt``) and
a ``.json`` card holding the architecture, the training record and the
file's sha256; :func:`load_edsr` checks the hash before ``torch.load``
(``weights_only=True``) reads a byte of it.
"""

import functools
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._io import atomic_write, write_text
from ._backends import file_sha256

__all__ = ["FaceEDSR", "load_edsr", "save_edsr", "shipped_weights", "identity_weights_for", "DEFAULT_WEIGHTS"]

_WEIGHTS_DIR = Path(__file__).with_name("weights")

#: The weights ``MultiHypothesisUpsampler`` uses when given ``weights=None``:
#: trained on realistic degradations (blur kernels, noise, JPEG, several
#: downsampling kernels); see ``docs/super_resolution.md``.
DEFAULT_WEIGHTS = _WEIGHTS_DIR / "face_edsr_realistic.json"


def shipped_weights():
    """The weights cards that ship with skmitm, by name: ``{"realistic": Path, ...}``.

    A card ``face_edsr_NAME.json`` in the package's ``weights`` folder is
    loadable as ``NAME`` by :func:`load_edsr` and by
    ``MultiHypothesisUpsampler(weights=NAME)``.

    Examples
    --------
    >>> from skmitm._edsr import shipped_weights
    >>> {"plain", "realistic"} <= set(shipped_weights())
    True
    """
    return {p.stem[len("face_edsr_"):]: p for p in sorted(_WEIGHTS_DIR.glob("face_edsr_*.json"))}


def _shipped_cards():
    """``{name: card}`` of the shipped weights (cards that do not parse are left out)."""
    cards = {}
    for name, path in shipped_weights().items():
        try:
            cards[name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return cards


def identity_weights_for(network_sha256):
    """The name of the shipped weights trained with an identity loss on the face network ``network_sha256``.

    Super-resolution trained with an identity loss helps the network the loss
    used far more than others (``docs/super_resolution.md``), so the full
    method's pipeline picks such weights only for their own network
    (``make_mitm_pipeline(sr_weights="auto")``).

    Parameters
    ----------
    network_sha256 : str
        SHA-256 of the face network file.

    Returns
    -------
    name : str or None
        A name :func:`load_edsr` takes, or None when no shipped weights were
        trained against that network.

    Examples
    --------
    >>> from skmitm._edsr import identity_weights_for
    >>> identity_weights_for("0c9ad2a83969fc82155706f7020e6926b4a1a90a5476fff4a5588dfe207f64a4")  # MobileFaceNet
    'identity'
    >>> identity_weights_for("0" * 64) is None
    True
    """
    for name, card in _shipped_cards().items():
        loss = (card.get("training") or {}).get("identity_loss") or {}
        if loss.get("model_sha256") == network_sha256:
            return name
    return None


def shipped_name_for(weights_sha256):
    """The name of the shipped weights whose file has SHA-256 ``weights_sha256``, or None."""
    for name, card in _shipped_cards().items():
        if card.get("sha256") == weights_sha256:
            return name
    return None


def _resolve_card(card_path):
    """A card path from a path, a shipped name or None (the default)."""
    if card_path is None:
        return DEFAULT_WEIGHTS
    if isinstance(card_path, str) and card_path and not any(c in card_path for c in "/\\."):
        shipped = shipped_weights()
        if card_path in shipped:
            return shipped[card_path]
        if not Path(card_path).exists():
            raise FileNotFoundError(
                f"weights {card_path!r} is neither a file nor the name of shipped weights; "
                f"shipped: {sorted(shipped)}"
            )
    return Path(card_path).with_suffix(".json")


# Mean RGB of LFW face crops in [0, 1]; centring the input keeps the head's
# bias from having to learn it.
_RGB_MEAN = (0.52, 0.42, 0.37)


# Keys' cubic convolution kernel with a = -0.75, the kernel of PyTorch's and
# OpenCV's bicubic resizing.
_CUBIC_A = -0.75


def _cubic(d):
    d = np.abs(d)
    a = _CUBIC_A
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


@functools.lru_cache(maxsize=32)
def _bicubic_matrix(n_in, scale):
    """The (scale·n_in, n_in) matrix of bicubic ×``scale`` resizing along one axis.

    The same map as ``F.interpolate(mode="bicubic", align_corners=False)``:
    output pixel ``o`` samples the input at ``(o + 0.5) / scale - 0.5`` with
    four cubic weights, and taps beyond the border read the border pixel.
    """
    out = np.arange(n_in * scale)
    source = (out + 0.5) / scale - 0.5
    first = np.floor(source).astype(np.int64)
    matrix = np.zeros((len(out), n_in))
    for k in range(-1, 3):
        np.add.at(matrix, (out, np.clip(first + k, 0, n_in - 1)), _cubic(source - (first + k)))
    return matrix.astype(np.float32)


def bicubic_upsample(x, scale):
    """Bicubic ×``scale`` upsampling of an (N, C, H, W) batch as two small matrix products.

    Equal to ``F.interpolate(x, scale_factor=scale, mode="bicubic",
    align_corners=False)`` up to float rounding (within about 1e-6 for
    inputs in [0, 1]), and several times faster for the ×4 and ×8 of small
    faces: resizing is linear and separable, so each axis is one product with
    a fixed (scale·n, n) matrix. A channels-last input gives a channels-last
    output, as ``F.interpolate`` does; gradients flow as through any product.

    Examples
    --------
    >>> import torch
    >>> from torch.nn import functional as F
    >>> from skmitm._edsr import bicubic_upsample
    >>> x = torch.rand(2, 3, 12, 10)
    >>> y = bicubic_upsample(x, 4)
    >>> tuple(y.shape), bool(torch.allclose(y, F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False),
    ...                                               atol=1e-5))
    ((2, 3, 48, 40), True)
    """
    n, c, h, w = x.shape
    # Made from the cached arrays at each call, not cached as tensors: a tensor
    # made under torch.inference_mode could not be saved for a later backward pass.
    rows = torch.from_numpy(_bicubic_matrix(h, scale)).to(x)
    cols = torch.from_numpy(_bicubic_matrix(w, scale)).to(x)
    if c > 1 and x.is_contiguous(memory_format=torch.channels_last):
        # (N, H, W, C) in memory: resize W, then H, staying channels-last.
        y = torch.matmul(cols, x.permute(0, 2, 3, 1))
        y = torch.matmul(rows, y.reshape(n, h, w * scale * c))
        return y.view(n, h * scale, w * scale, c).permute(0, 3, 1, 2)
    return torch.matmul(torch.matmul(rows, x), cols.T)


class _ResBlock(nn.Module):
    def __init__(self, n_feats, res_scale):
        super().__init__()
        self.conv1 = nn.Conv2d(n_feats, n_feats, 3, padding=1)
        self.conv2 = nn.Conv2d(n_feats, n_feats, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.res_scale * self.conv2(F.relu(self.conv1(x), inplace=True))


class _Tail(nn.Module):
    """Pixel-shuffle ×2 stages up to ``scale``, halving the width at each stage after the first.

    High-resolution feature maps dominate the cost of a ×8 tail; halving the
    channels as the maps grow keeps every stage at roughly the cost of the
    first.
    """

    def __init__(self, n_feats, scale, min_feats):
        super().__init__()
        stages = []
        width = n_feats
        for i in range(scale.bit_length() - 1):
            out = width if i == 0 else max(width // 2, min_feats)
            stages += [nn.Conv2d(width, 4 * out, 3, padding=1), nn.PixelShuffle(2)]
            width = out
        self.upsample = nn.Sequential(*stages)
        self.out = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x):
        return self.out(self.upsample(x))


class FaceEDSR(nn.Module):
    """EDSR body shared by several scales, with one pixel-shuffle tail per scale.

    Parameters
    ----------
    scales : tuple of int, default=(2, 4, 8)
        Magnifications, each a power of two.
    n_feats : int, default=32
        Width of the body.
    n_blocks : int, default=8
        Number of residual blocks in the body.
    res_scale : float, default=1.0
        Factor on each block's residual branch (EDSR uses 0.1 for wide nets).
    min_tail_feats : int, default=8
        Narrowest tail stage.

    Notes
    -----
    Input and output are RGB tensors in [0, 1] of shape (N, 3, H, W) and
    (N, 3, s·H, s·W). Besides EDSR's feature-level global skip, every tail's
    output is added to the bicubic upsampling of the input, so the tails only
    learn the residual detail that bicubic misses; with a training budget of
    minutes on a CPU, not having to learn the identity mapping matters.

    Examples
    --------
    >>> import torch
    >>> from skmitm._edsr import FaceEDSR
    >>> net = FaceEDSR(scales=(2, 4), n_feats=8, n_blocks=1)
    >>> {s: tuple(y.shape) for s, y in net(torch.rand(1, 3, 12, 12)).items()}
    {2: (1, 3, 24, 24), 4: (1, 3, 48, 48)}
    """

    def __init__(self, scales=(2, 4, 8), *, n_feats=32, n_blocks=8, res_scale=1.0, min_tail_feats=8):
        super().__init__()
        scales = tuple(int(s) for s in scales)
        for s in scales:
            if s < 2 or s & (s - 1):
                raise ValueError(f"scale {s} is not a power of two >= 2; FaceEDSR upsamples by ×2 stages")
        self.config = {
            "scales": list(scales),
            "n_feats": int(n_feats),
            "n_blocks": int(n_blocks),
            "res_scale": float(res_scale),
            "min_tail_feats": int(min_tail_feats),
        }
        self.scales = scales
        self.register_buffer("mean", torch.tensor(_RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.head = nn.Conv2d(3, n_feats, 3, padding=1)
        self.body = nn.Sequential(
            *[_ResBlock(n_feats, res_scale) for _ in range(n_blocks)],
            nn.Conv2d(n_feats, n_feats, 3, padding=1),
        )
        self.tails = nn.ModuleDict({f"x{s}": _Tail(n_feats, s, min_tail_feats) for s in scales})

    def features(self, x):
        """Body features of a batch of LR images in [0, 1]; shared by every scale."""
        h = self.head(x - self.mean)
        return h + self.body(h)

    def upsample(self, x, features, scale):
        """Output of the ``scale`` tail, given the input batch and its :meth:`features`."""
        return bicubic_upsample(x, scale) + self.tails[f"x{scale}"](features)

    def forward(self, x, scales=None):
        """Super-resolve ``x`` at each of ``scales`` (default: all); returns ``{scale: tensor}``."""
        feats = self.features(x)
        return {s: self.upsample(x, feats, s) for s in (self.scales if scales is None else scales)}


def save_edsr(net, path, *, card=None):
    """Write ``net``'s state_dict to ``path`` (``.pt``) and its card beside it (``.json``).

    Parameters
    ----------
    net : FaceEDSR
    path : str or Path
        Where the ``.pt`` file goes; the card takes the same name with ``.json``.
    card : dict, default=None
        Extra facts for the card (training data, steps, metrics).

    Returns
    -------
    card_path : Path
    """
    path = Path(path).with_suffix(".pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in net.state_dict().items()}
    with atomic_write(path, "wb") as f:
        torch.save(state, f)
    card = {
        "weights": path.name,
        "sha256": file_sha256(path),
        "architecture": "FaceEDSR",
        "config": net.config,
        **(card or {}),
    }
    card_path = path.with_suffix(".json")
    write_text(card_path, json.dumps(card, indent=2) + "\n")
    return card_path


def load_edsr(card_path=None, *, device="cpu"):
    """Build a :class:`FaceEDSR` from a weights card, verifying the weights' sha256.

    Parameters
    ----------
    card_path : str or Path, default=None
        The ``.json`` card (or its ``.pt`` file), or the name of shipped
        weights (see :func:`shipped_weights`, e.g. ``"plain"``); ``None``
        loads the default, :data:`DEFAULT_WEIGHTS`.
    device : str, default="cpu"

    Returns
    -------
    net : FaceEDSR
        In evaluation mode, on ``device``.
    card : dict

    Examples
    --------
    >>> from skmitm._edsr import load_edsr
    >>> net, card = load_edsr()
    >>> net.scales, len(card["sha256"])
    ((2, 4, 8), 64)
    """
    card_path = _resolve_card(card_path)
    if not card_path.is_file():
        raise FileNotFoundError(f"weights card {card_path} does not exist; expected a .json written by save_edsr")
    card = json.loads(card_path.read_text())
    for key in ("weights", "sha256", "config"):
        if key not in card:
            raise ValueError(f"weights card {card_path} lacks {key!r}; expected a card written by save_edsr")
    weights_path = card_path.with_name(card["weights"])
    if not weights_path.is_file():
        raise FileNotFoundError(f"weights file {weights_path} named by {card_path} does not exist")
    actual = file_sha256(weights_path)
    if actual != card["sha256"]:
        raise ValueError(
            f"weights file {weights_path} has sha256 {actual}; its card {card_path.name} expects {card['sha256']}"
        )
    config = dict(card["config"])
    net = FaceEDSR(config.pop("scales"), **config)
    net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    return net.to(device).eval(), card
