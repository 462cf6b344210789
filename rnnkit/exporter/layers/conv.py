"""Conv1D and the 1-D poolings. ONNX convolves ``[batch, channels, steps]``, Keras
``[batch, steps, channels]``: each op is wrapped in a pair of transposes."""

from __future__ import annotations

import math

from .core import _channels_last
from .registry import Tensor, activate, activation_problem, all_problems, register, weight


def same_pads(steps: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding: the output has ceil(steps / stride) steps and the extra
    padding goes at the end."""
    span = (kernel - 1) * dilation + 1
    total = max((math.ceil(steps / stride) - 1) * stride + span - steps, 0)
    return total // 2, total - total // 2


def _pads(layer, steps: int, kernel: int, stride: int, dilation: int) -> list[int]:
    padding = layer.padding
    if padding == "same":
        return list(same_pads(steps, kernel, stride, dilation))
    if padding == "causal":
        return [(kernel - 1) * dilation, 0]
    return [0, 0]


def _out_steps(steps: int, pads: list[int], kernel: int, stride: int, dilation: int) -> int:
    return (steps + sum(pads) - ((kernel - 1) * dilation + 1)) // stride + 1


def _to_channels_first(g, x: str) -> str:
    return g.op("Transpose", x, perm=[0, 2, 1])


def _describe_conv(layer) -> str:
    return f"Conv1D({layer.filters}, {_tuple(layer.kernel_size)[0]})"


@register(
    "Conv1D", problem=all_problems(activation_problem, _channels_last), describe=_describe_conv
)
def conv1d(g, layer, inputs):
    (x,) = inputs
    (kernel,), (stride,), (dilation,) = layer.kernel_size, layer.strides, layer.dilation_rate
    pads = _pads(layer, x.shape[0], kernel, stride, dilation)
    w = weight(layer.kernel).transpose(2, 1, 0)  # [k, in/groups, out] -> [out, in/groups, k]
    args = [_to_channels_first(g, x.name), g.const(f"{layer.name}_kernel", w)]
    if layer.use_bias:
        args.append(g.const(f"{layer.name}_bias", weight(layer.bias)))
    y = g.op(
        "Conv", *args, kernel_shape=[kernel], strides=[stride], dilations=[dilation], pads=pads,
        group=layer.groups,
    )  # fmt: skip
    y = g.op("Transpose", y, perm=[0, 2, 1])
    steps = _out_steps(x.shape[0], pads, kernel, stride, dilation)
    return Tensor(activate(g, layer, y), (steps, layer.filters))


def _pool(op_type: str, **extra):
    def emit(g, layer, inputs):
        (x,) = inputs
        (size,), (stride,) = _tuple(layer.pool_size), _tuple(layer.strides)
        pads = list(same_pads(x.shape[0], size, stride)) if layer.padding == "same" else [0, 0]
        y = g.op(
            op_type, _to_channels_first(g, x.name), kernel_shape=[size], strides=[stride],
            pads=pads, **extra,
        )  # fmt: skip
        steps = _out_steps(x.shape[0], pads, size, stride, 1)
        return Tensor(g.op("Transpose", y, perm=[0, 2, 1]), (steps, x.shape[1]))

    return emit


def _tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


register("MaxPooling1D", problem=_channels_last)(_pool("MaxPool"))
# TensorFlow's "same" average leaves the padding out of the count, as count_include_pad=0.
register("AveragePooling1D", problem=_channels_last)(_pool("AveragePool", count_include_pad=0))
