"""The registry's parts: tensors (with the mask Keras passes a call), ``register``, and the
activations every converter shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..graph import GraphBuilder


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple  # without the batch axis: (steps, features) or (features,)
    mask: str | None = None  # bool [batch, steps], where Keras carries a mask
    #: (table, ids): this tensor is ``table[ids]`` (an Embedding's output), so a layer that
    #: multiplies it by a matrix may gather from ``table @ matrix`` instead.
    rows: tuple | None = None


@dataclass(frozen=True)
class Converter:
    """One layer type's entry: its ONNX nodes (``emit``), why a configuration cannot be
    converted (``problem``, None: it can), how the layer reads in an architecture line
    (``describe``, None: it is left out), and for a layer fed token ids, how many ids it
    has rows for (``id_range``)."""

    emit: Callable[[GraphBuilder, object, list[Tensor]], Tensor]
    problem: Callable[[object], str | None]
    describe: Callable[[object], str | None]
    id_range: Callable[[object], int] | None = None


CONVERTERS: dict[str, Converter] = {}


def _class_name(layer) -> str:
    return type(layer).__name__


def register(
    *class_names: str,
    problem: Callable[[object], str | None] = lambda layer: None,
    describe: Callable[[object], str | None] = _class_name,
    id_range: Callable[[object], int] | None = None,
):
    def add(emit):
        for name in class_names:
            CONVERTERS[name] = Converter(emit, problem, describe, id_range)
        return emit

    return add


def with_activation(layer, size: object, *flags: str) -> str:
    """``Class(size, activation, flags...)``: a layer's description with its built-in
    activation (a custom one is left out)."""
    act = layer.get_config().get("activation")
    parts = [str(size), *([act] if isinstance(act, str) else []), *flags]
    return f"{type(layer).__name__}({', '.join(parts)})"


def weight(variable) -> np.ndarray:
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, np.float32)


def activation_name(layer, key: str = "activation") -> str | None:
    """The built-in activation a layer's config names, or None for a custom one."""
    value = layer.get_config().get(key, "linear")
    if value is None:
        return "linear"
    return value if isinstance(value, str) else None


def _swish(g, x):
    return g.op("Mul", x, g.op("Sigmoid", x))


def _gelu(g, x):  # Keras's default, exact gelu: x/2 * (1 + erf(x / sqrt(2)))
    erf = g.op("Erf", g.op("Mul", x, g.scalar(float(np.float32(1 / np.sqrt(2))))))
    return g.op("Mul", g.op("Mul", x, g.scalar(0.5)), g.op("Add", erf, g.scalar(1.0)))


ACTIVATIONS: dict[str, Callable[[GraphBuilder, str], str]] = {
    "linear": lambda g, x: x,
    "relu": lambda g, x: g.op("Relu", x),
    "sigmoid": lambda g, x: g.op("Sigmoid", x),
    "tanh": lambda g, x: g.op("Tanh", x),
    "softmax": lambda g, x: g.op("Softmax", x, axis=-1),
    "elu": lambda g, x: g.op("Elu", x, alpha=1.0),
    "selu": lambda g, x: g.op("Selu", x),
    "softplus": lambda g, x: g.op("Softplus", x),
    "softsign": lambda g, x: g.op("Softsign", x),
    "swish": _swish,
    "silu": _swish,
    "gelu": _gelu,
    "hard_sigmoid": lambda g, x: g.op("HardSigmoid", x, alpha=1 / 6, beta=0.5),
    "exponential": lambda g, x: g.op("Exp", x),
    "leaky_relu": lambda g, x: g.op("LeakyRelu", x, alpha=0.2),
    "relu6": lambda g, x: g.op("Clip", x, g.scalar(0.0), g.scalar(6.0)),
}


def activation_problem(layer, *keys: str) -> str | None:
    for key in keys or ("activation",):
        name = activation_name(layer, key)
        if name not in ACTIVATIONS:
            value = layer.get_config().get(key)
            return (
                f"{key} {value!r} is not a built-in activation rnnkit converts "
                f"({', '.join(sorted(ACTIVATIONS))})"
            )
    return None


def activate(g: GraphBuilder, layer, x: str, key: str = "activation") -> str:
    return ACTIVATIONS[activation_name(layer, key)](g, x)


def all_problems(*checks: Callable[[object], str | None]) -> Callable[[object], str | None]:
    """One ``problem`` made of several: the first that finds something."""

    def problem(layer) -> str | None:
        return next((p for check in checks if (p := check(layer)) is not None), None)

    return problem
