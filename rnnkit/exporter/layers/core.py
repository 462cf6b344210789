"""Embedding, Dense, Activation, the dropouts, the normalisations, Flatten, Concatenate and
the global poolings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .registry import (
    Tensor,
    activate,
    activation_problem,
    all_problems,
    register,
    weight,
    with_activation,
)


def _channels_last(layer) -> str | None:
    fmt = layer.get_config().get("data_format", "channels_last")
    return None if fmt in (None, "channels_last") else f"data_format {fmt!r} (channels_last only)"


def _last_axis(layer) -> str | None:
    axis = layer.get_config().get("axis", -1)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    rank = len(layer.input.shape) if hasattr(layer, "input") else None
    if all(a == -1 or (rank is not None and a == rank - 1) for a in axes):
        return None
    return f"axis {axis!r} (the last axis only)"


def _describe_embedding(layer) -> str:
    mask = ", mask_zero" if layer.get_config().get("mask_zero") else ""
    return f"Embedding({layer.input_dim}, {layer.output_dim}{mask})"


@register("Embedding", describe=_describe_embedding, id_range=lambda layer: int(layer.input_dim))
def embedding(g, layer, inputs):
    (ids,) = inputs
    values = weight(layer.embeddings)
    table = g.const(f"{layer.name}_embeddings", values)
    y = g.op("Gather", table, ids.name, axis=0)
    return Tensor(y, (*ids.shape, layer.output_dim), rows=(values, ids.name))


@register("NotEqual", describe=lambda op: None)  # the mask's op: not a layer of its own
def not_equal(g, op, inputs):
    """The op Keras records for ``mask_zero``: ``ids != 0``, passed on as ``mask=``."""
    a, b = inputs
    return Tensor(g.op("Not", g.op("Equal", a.name, b.name)), a.shape)


@register(
    "Dense", problem=activation_problem, describe=lambda layer: with_activation(layer, layer.units)
)
def dense(g, layer, inputs):
    (x,) = inputs
    y = g.op("MatMul", x.name, g.const(f"{layer.name}_kernel", weight(layer.kernel)))
    if layer.use_bias:
        y = g.op("Add", y, g.const(f"{layer.name}_bias", weight(layer.bias)))
    return Tensor(activate(g, layer, y), (*x.shape[:-1], layer.units))


@dataclass(frozen=True)
class BagInput:
    """A bag of n-grams as the graph's input: ``depth`` (its pad id: one past the vector)
    and, for tf_idf, the idf weights by id."""

    depth: int
    idf: tuple | None = None


def dense_of_bag(g, layer, ids: Tensor, bag: BagInput) -> Tensor:
    """The Dense layer that reads a bag's vector, from the bag's ids: the sum of its
    kernel's rows for them (times their idf weights), which is the vector times the kernel
    without the vector. The pad id gathers a zero row."""
    kernel = weight(layer.kernel)
    padded = np.vstack([kernel, np.zeros((1, kernel.shape[1]), kernel.dtype)])
    rows = g.op("Gather", g.const(f"{layer.name}_kernel_rows", padded), ids.name, axis=0)
    if bag.idf is not None:
        idf = np.zeros(bag.depth + 1, np.float32)
        idf[: len(bag.idf)] = bag.idf
        scale = g.op("Gather", g.const(f"{layer.name}_idf", idf), ids.name, axis=0)
        rows = g.op("Mul", rows, g.op("Unsqueeze", scale, g.ints(2)))
    y = g.op("ReduceSum", rows, g.ints(1), keepdims=0)
    if layer.use_bias:
        y = g.op("Add", y, g.const(f"{layer.name}_bias", weight(layer.bias)))
    return Tensor(activate(g, layer, y), (layer.units,))


@register(
    "Activation",
    problem=activation_problem,
    describe=lambda layer: f"Activation({layer.get_config().get('activation')})",
)
def activation(g, layer, inputs):
    (x,) = inputs
    return Tensor(activate(g, layer, x.name), x.shape)


@register("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout")
def identity_at_inference(g, layer, inputs):
    return inputs[0]


@register("BatchNormalization", problem=_last_axis)
def batch_normalization(g, layer, inputs):
    (x,) = inputs
    var = weight(layer.moving_variance).astype(np.float64)
    mean = weight(layer.moving_mean).astype(np.float64)
    scale = 1.0 / np.sqrt(var + layer.epsilon)
    if layer.scale:
        scale = scale * weight(layer.gamma)
    shift = -mean * scale + (weight(layer.beta) if layer.center else 0.0)
    y = g.op("Mul", x.name, g.const(f"{layer.name}_scale", scale.astype(np.float32)))
    y = g.op("Add", y, g.const(f"{layer.name}_shift", shift.astype(np.float32)))
    return Tensor(y, x.shape)


def _layer_norm_problem(layer) -> str | None:
    if layer.get_config().get("rms_scaling"):
        return "rms_scaling=True"
    return _last_axis(layer)


@register("LayerNormalization", problem=_layer_norm_problem)
def layer_normalization(g, layer, inputs):
    (x,) = inputs
    mean = g.op("ReduceMean", x.name, axes=[-1], keepdims=1)
    centred = g.op("Sub", x.name, mean)
    var = g.op("ReduceMean", g.op("Mul", centred, centred), axes=[-1], keepdims=1)
    eps = g.const(f"{layer.name}_epsilon", np.float32(layer.epsilon))
    y = g.op("Div", centred, g.op("Sqrt", g.op("Add", var, eps)))
    if layer.scale:
        y = g.op("Mul", y, g.const(f"{layer.name}_gamma", weight(layer.gamma)))
    if layer.center:
        y = g.op("Add", y, g.const(f"{layer.name}_beta", weight(layer.beta)))
    return Tensor(y, x.shape)


@register("Flatten", problem=_channels_last)
def flatten(g, layer, inputs):
    (x,) = inputs
    return Tensor(g.op("Reshape", x.name, g.ints(0, -1)), (int(np.prod(x.shape)),))


@register("Concatenate")
def concatenate(g, layer, inputs):
    axis = layer.axis
    y = g.op("Concat", *(t.name for t in inputs), axis=axis)
    shape = list(inputs[0].shape)
    shape[axis if axis < 0 else axis - 1] = sum(
        t.shape[axis if axis < 0 else axis - 1] for t in inputs
    )
    return Tensor(y, tuple(shape))


def _keepdims_problem(layer) -> str | None:
    return "keepdims=True" if layer.get_config().get("keepdims") else _channels_last(layer)


@register("GlobalMaxPooling1D", problem=_keepdims_problem)
def global_max_pooling(g, layer, inputs):
    (x,) = inputs  # Keras's max ignores the mask: padded steps take part
    return Tensor(g.op("ReduceMax", x.name, axes=[1], keepdims=0), x.shape[1:])


@register("GlobalAveragePooling1D", problem=_keepdims_problem)
def global_average_pooling(g, layer, inputs):
    (x,) = inputs
    if x.mask is None:
        return Tensor(g.op("ReduceMean", x.name, axes=[1], keepdims=0), x.shape[1:])
    # Keras: the sum over kept steps / their count. A row with no kept step is 0/0 = NaN in
    # Keras too; scoring gives such a row a status of its own.
    keep = g.op("Unsqueeze", g.op("Cast", x.mask, to=1), g.ints(2))  # [batch, steps, 1]
    total = g.op("ReduceSum", g.op("Mul", x.name, keep), g.ints(1), keepdims=0)
    count = g.op("ReduceSum", keep, g.ints(1), keepdims=0)
    return Tensor(g.op("Div", total, count), x.shape[1:])


__all__ = ["all_problems"]
