"""A differentiable torch copy of a small ONNX face network, for training losses.

Super-resolution trained with an identity loss needs gradients through the
face network, which onnxruntime does not give. :class:`OnnxGraphModule`
reads an ONNX graph (protobuf only: nothing in the file is executed) and
evaluates it node by node with torch operations. It covers the operators of
convolutional ArcFace-style networks such as insightface's MobileFaceNet
(``Conv``, ``BatchNormalization``, ``PRelu``, ``Clip``, ``Relu``, ``Add``,
``Mul``, ``Sub``, ``Flatten``/``Reshape`` with its shape arithmetic, ``Gemm``,
``MatMul``); any other operator is refused by name when the file is read.
The graph's weights become frozen buffers: the copy is a fixed function whose
input gradient is what training needs.
"""

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["OnnxGraphModule", "SUPPORTED_OPS"]


def _attributes(node):
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(inputs, a):
    x, w = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ValueError(f"Conv auto_pad={a['auto_pad']!r}; only explicit pads are supported")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    top, left, bottom, right = pads
    if (top, left) != (bottom, right):
        x = F.pad(x, (left, right, top, bottom))
        padding = 0
    else:
        padding = (top, left)
    return F.conv2d(x, w, bias, stride=tuple(a.get("strides", (1, 1))), padding=padding,
                    dilation=tuple(a.get("dilations", (1, 1))), groups=int(a.get("group", 1)))


def _clip(inputs, a):
    low = inputs[1] if len(inputs) > 1 and inputs[1] is not None else a.get("min")
    high = inputs[2] if len(inputs) > 2 and inputs[2] is not None else a.get("max")
    low = None if low is None else float(low)
    high = None if high is None else float(high)
    return torch.clamp(inputs[0], min=low, max=high)


def _batch_norm(inputs, a):
    x, scale, bias, mean, var = inputs
    return F.batch_norm(x, mean, var, scale, bias, training=False, eps=float(a.get("epsilon", 1e-5)))


def _prelu(inputs, a):
    x, slope = inputs
    # ONNX broadcasts the slope; channel-wise slopes come as (C, 1, 1) or (C,).
    return torch.where(x >= 0, x, x * slope.reshape(slope.shape if slope.ndim != 1 else (-1, 1, 1)))


def _flatten(inputs, a):
    axis = int(a.get("axis", 1))
    x = inputs[0]
    return x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)


def _reshape(inputs, a):
    x, shape = inputs
    shape = [int(v) for v in shape.tolist()]
    # ONNX: 0 copies the input's dimension (unless allowzero), -1 is inferred.
    shape = [x.shape[i] if v == 0 and not a.get("allowzero", 0) else v for i, v in enumerate(shape)]
    return x.reshape(shape)


def _unsqueeze(inputs, a):
    axes = a["axes"] if "axes" in a else inputs[1].tolist()
    x = inputs[0]
    for axis in sorted(int(v) if v >= 0 else int(v) + x.ndim + len(axes) for v in axes):
        x = x.unsqueeze(axis)
    return x


def _gemm(inputs, a):
    x, w = inputs[0], inputs[1]
    x = x.t() if a.get("transA", 0) else x
    w = w.t() if a.get("transB", 0) else w
    out = float(a.get("alpha", 1.0)) * (x @ w)
    if len(inputs) > 2:
        out = out + float(a.get("beta", 1.0)) * inputs[2]
    return out


_OPS = {
    "Conv": _conv,
    "Clip": _clip,
    "Relu": lambda i, a: torch.relu(i[0]),
    "PRelu": _prelu,
    "BatchNormalization": _batch_norm,
    "Add": lambda i, a: i[0] + i[1],
    "Sub": lambda i, a: i[0] - i[1],
    "Mul": lambda i, a: i[0] * i[1],
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Shape": lambda i, a: torch.tensor(i[0].shape, dtype=torch.int64),
    "Gather": lambda i, a: torch.index_select(i[0], int(a.get("axis", 0)), i[1].reshape(-1).long()).reshape(
        i[0].shape[: int(a.get("axis", 0))] + i[1].shape + i[0].shape[int(a.get("axis", 0)) + 1:]
    ),
    "Unsqueeze": _unsqueeze,
    "Concat": lambda i, a: torch.cat([t.reshape(1) if t.ndim == 0 else t for t in i], dim=int(a["axis"])),
    "Gemm": _gemm,
    "MatMul": lambda i, a: i[0] @ i[1],
    "Identity": lambda i, a: i[0],
}

#: The ONNX operators :class:`OnnxGraphModule` evaluates.
SUPPORTED_OPS = frozenset(_OPS) | {"Constant"}


class OnnxGraphModule(torch.nn.Module):
    """Evaluate an ONNX graph with torch operations, so gradients reach its input.

    Parameters
    ----------
    path : str or os.PathLike
        An ONNX file with one image input and one output whose operators are
        in :data:`SUPPORTED_OPS`. Weights must be stored inside the file.

    Attributes
    ----------
    input_name, output_name : str
        The graph's input and output.

    Examples
    --------
    >>> import tempfile, numpy as np, onnx, torch
    >>> from onnx import helper, numpy_helper, TensorProto
    >>> from skmitm._onnx_torch import OnnxGraphModule
    >>> w = numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32), "w")
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Conv", ["x", "w"], ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2, 2])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])], [w])
    >>> path = tempfile.mkdtemp() + "/tiny.onnx"
    >>> onnx.save(helper.make_model(graph), path)
    >>> OnnxGraphModule(path)(torch.ones(1, 3, 2, 2))[0, :, 0, 0].tolist()
    [3.0, 3.0]
    """

    def __init__(self, path):
        super().__init__()
        import onnx
        from onnx import numpy_helper

        path = Path(os.fspath(path))
        try:
            model = onnx.load(os.fspath(path), load_external_data=False)
        except Exception as error:  # protobuf raises several types for a broken file
            raise ValueError(f"{path}: not a readable ONNX file ({type(error).__name__}: {error})") from None
        graph = model.graph
        unknown = sorted({node.op_type for node in graph.node} - SUPPORTED_OPS)
        if unknown:
            raise ValueError(
                f"{path}: operators {unknown} have no torch copy here; supported: {sorted(SUPPORTED_OPS)}"
            )
        names = {}
        for index, tensor in enumerate(graph.initializer):
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                raise ValueError(f"{path}: weight {tensor.name!r} is stored outside the file; expected inline weights")
            names[tensor.name] = f"w{index}"
            self.register_buffer(f"w{index}", torch.from_numpy(numpy_helper.to_array(tensor).copy()))
        inputs = [v.name for v in graph.input if v.name not in names]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise ValueError(f"{path}: {len(inputs)} inputs and {len(graph.output)} outputs; expected one of each")
        self.input_name, self.output_name = inputs[0], graph.output[0].name
        self._names = names
        self._nodes = []
        for node in graph.node:
            attributes = _attributes(node)
            if node.op_type == "Constant":
                if "value" not in attributes:
                    raise ValueError(f"{path}: Constant {node.name!r} without a tensor value is not supported")
                buffer = f"c{len(self._names)}"
                self.register_buffer(buffer, torch.from_numpy(numpy_helper.to_array(attributes["value"]).copy()))
                self._names[node.output[0]] = buffer
                continue
            self._nodes.append((node.op_type, list(node.input), list(node.output), attributes))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x):
        values = {self.input_name: x}
        for name, buffer in self._names.items():
            values[name] = getattr(self, buffer)
        for op, inputs, outputs, attributes in self._nodes:
            result = _OPS[op]([values[i] if i else None for i in inputs], attributes)
            values[outputs[0]] = result
        return values[self.output_name]
