"""A Keras model as a list of layer calls, checked against the converter registry and
turned into one ONNX graph (the ``layers`` form).

Sequential and functional models are read the same way: each call names its layer, the
calls whose outputs it reads, and its position (for messages). A model nested inside
another (Keras's own tutorials wrap a trained model with its vectorizer and an activation)
is read as its calls, in place. A layer used twice or a second input is refused: rnnkit
reads one flat graph from token ids to one output.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..runtime.model.signature import INPUT_NAME, OUTPUT_NAME
from .graph import OPSET, GraphBuilder
from .layers import CONVERTERS, Tensor
from .layers.core import BagInput, dense_of_bag

INPUT_KEY = "<input>"


@dataclass(frozen=True)
class LayerCall:
    layer: object  # a Keras layer, or an op Keras recorded in the graph (the mask's NotEqual)
    inputs: tuple  # per positional argument: the key of the call it reads, or a constant
    mask: str | None  # the key of the call that computes the mask Keras passes, if any
    position: str  # "3", or "3.2" for the second call inside the model that is layer 3
    key: str  # the layer's name, prefixed by the names of the models it is nested in

    def where(self) -> str:
        return f"layer {self.position} {self.layer.name!r} ({type(self.layer).__name__})"


class UnsupportedModel(ValueError):
    """The model holds something rnnkit cannot convert; the message says what and where."""


@dataclass(frozen=True)
class Constant:
    value: object  # a plain argument of a recorded op (NotEqual's 0)


def _is_tensor(value) -> bool:
    return isinstance(value, dict) and "keras_history" in value.get("config", {})


def _arguments(args: list) -> tuple:
    """Positional arguments: a tensor becomes its producer's name; a list of tensors
    (Concatenate's) is unpacked; anything else is a constant."""
    out = []
    for arg in args:
        if isinstance(arg, list) and arg and all(_is_tensor(a) for a in arg):
            out += [a["config"]["keras_history"][0] for a in arg]
        else:
            out.append(arg["config"]["keras_history"][0] if _is_tensor(arg) else Constant(arg))
    return tuple(out)


def _entries(value) -> list:
    """A config's input/output layer list: one ``[name, node, index]`` or a list of them."""
    if not value:
        return []
    return [value] if isinstance(value[0], str) else list(value)


def functional(model):
    """The graph Keras runs: a Sequential runs an internal functional model, in which the
    masks are explicit (``NotEqual`` ops passed as ``mask=`` to the layers that take one)."""
    if type(model).__name__ == "Sequential":
        import keras

        return keras.Model(model.inputs, model.outputs, name=model.name)
    return model


def layer_calls(model, prefix: str = "", at: str = "") -> tuple[list[LayerCall], str]:
    """The model's calls in the order they run, and the key of the output. Inside a nested
    model, keys start with ``prefix`` and positions with ``at``."""
    graph = functional(model)
    config = graph.get_config()
    inputs = [entry[0] for entry in _entries(config.get("input_layers"))]
    outputs = _entries(config.get("output_layers"))
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedModel(
            f"the model has {len(inputs)} inputs and {len(outputs)} outputs; rnnkit reads "
            "models with one input (token ids) and one output"
        )
    operations = {op.name: op for op in graph.operations}
    calls, position = [], 0
    keys = {name: INPUT_KEY for name in inputs}  # a call's name -> the key of its output

    def key_of(arg):
        if isinstance(arg, Constant):
            return arg
        if arg not in keys:
            raise UnsupportedModel(
                f"layer {at}{position} {entry['name']!r} reads {arg!r} from inside a nested "
                "model (a mask crossing its boundary); rnnkit reads nested models whole"
            )
        return keys[arg]

    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            continue
        position += 1
        nodes = entry.get("inbound_nodes", [])
        if len(nodes) != 1:
            raise UnsupportedModel(
                f"layer {at}{position} {entry['name']!r} is called {len(nodes)} times; rnnkit "
                "reads each layer called once"
            )
        args = tuple(key_of(a) for a in _arguments(nodes[0]["args"]))
        layer = operations[entry["name"]]
        if _is_model(layer):
            if nodes[0].get("kwargs", {}).get("mask") is not None or len(args) != 1:
                raise UnsupportedModel(
                    f"layer {at}{position} {entry['name']!r} (a nested model) is called with "
                    "a mask or several inputs; rnnkit reads nested models fed one tensor"
                )
            inner, inner_out = layer_calls(layer, f"{prefix}{entry['name']}/", f"{at}{position}.")
            outer_input = args[0]
            calls += [
                replace(c, inputs=tuple(outer_input if a == INPUT_KEY else a for a in c.inputs))
                for c in inner
            ]
            keys[entry["name"]] = inner_out
            continue
        kwargs = dict(nodes[0].get("kwargs", {}))
        mask = kwargs.pop("mask", None)
        if isinstance(mask, list):  # Concatenate: one mask per input
            if any(m is not None for m in mask):
                raise UnsupportedModel(
                    f"layer {position} {entry['name']!r} merges masked inputs; rnnkit "
                    "converts masks that reach one layer input"
                )
            mask = None
        other = [k for k, v in kwargs.items() if _is_tensor(v)]
        if other or (mask is not None and not _is_tensor(mask)):
            raise UnsupportedModel(
                f"layer {position} {entry['name']!r} is called with tensor arguments "
                f"{other or ['mask']}; rnnkit converts plain calls"
            )
        mask_key = None if mask is None else key_of(mask["config"]["keras_history"][0])
        key = keys[entry["name"]] = prefix + entry["name"]
        calls.append(LayerCall(layer, args, mask_key, f"{at}{position}", key))
    return calls, keys[outputs[0][0]]


def _is_model(layer) -> bool:
    import keras

    return isinstance(layer, keras.Model)


def describe(model) -> str:
    """The architecture in one line, each layer as its registry entry describes it (with
    what changes its meaning: masking, direction, whole sequences, merge modes)."""
    parts = []
    for call in layer_calls(model)[0]:
        entry = CONVERTERS.get(type(call.layer).__name__)
        part = entry.describe(call.layer) if entry else type(call.layer).__name__
        if part is not None:
            parts.append(part)
    return " -> ".join(parts)


def id_input(model) -> tuple[object, int] | None:
    """The first layer that is fed token ids and how many ids it has rows for (an
    Embedding: its ``input_dim``), as the registry says; ``None``: no such layer."""
    for call in layer_calls(model)[0]:
        entry = CONVERTERS.get(type(call.layer).__name__)
        if entry is not None and entry.id_range is not None:
            return call.layer, entry.id_range(call.layer)
    return None


def problems(model) -> list[str]:
    """Everything that stops this model converting, one line each (empty: it converts)."""
    try:
        calls, _ = layer_calls(model)
    except UnsupportedModel as exc:
        return [str(exc)]
    return call_problems(calls)


def call_problems(calls: list[LayerCall]) -> list[str]:
    found = []
    for call in calls:
        name = type(call.layer).__name__
        module = type(call.layer).__module__
        if name not in CONVERTERS or not module.startswith("keras."):
            kind = (
                "a nested model" if hasattr(call.layer, "layers") else "not a layer rnnkit converts"
            )
            found.append(f"{call.where()}: {kind}; supported: {', '.join(sorted(CONVERTERS))}")
            continue
        if getattr(getattr(call.layer, "dtype_policy", None), "quantization_mode", None):
            found.append(f"{call.where()}: a quantized Keras layer; import the float model")
            continue
        problem = CONVERTERS[name].problem(call.layer)
        if problem:
            found.append(f"{call.where()}: {problem}")
    return found


def _constant(g: GraphBuilder, value) -> Tensor:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnsupportedModel(f"a constant argument {value!r}")
    dtype = np.int32 if isinstance(value, int) else np.float32  # ids are int32 in the graph
    return Tensor(g.const(f"arg_{dtype.__name__}_{value!r}", dtype(value)), ())


def bag_reader(calls: list[LayerCall], key: str = INPUT_KEY) -> LayerCall:
    """The one Dense layer a bag of n-grams (the output of call ``key``) goes into, whose
    rows the graph gathers; ``UnsupportedModel`` for any other reader."""
    readers = [c for c in calls if key in c.inputs]
    if len(readers) != 1 or type(readers[0].layer).__name__ != "Dense":
        raise UnsupportedModel(
            "a bag of n-grams must go into one Dense layer first (rnnkit gathers its rows); "
            f"this model reads it with {[c.where() for c in readers]}"
        )
    return readers[0]


def bag_problem(model, depth: int) -> str | None:
    """Why a bag of n-grams (a ``depth``-wide vector per text) cannot feed ``model``."""
    try:
        reader = bag_reader(layer_calls(model)[0])
    except UnsupportedModel as exc:
        return str(exc)
    rows = int(reader.layer.kernel.shape[0])
    return None if rows == depth else f"{reader.where()} has {rows} inputs, the bag {depth}"


def to_onnx(
    model, maxlen: int, units: int, bag: BagInput | None = None, fused_rnn: bool = False
) -> onnx.ModelProto:
    """The model as one ONNX graph: int32 ids ``[batch, maxlen]`` in, float32 ``[batch,
    units]`` out, every layer emitted by its registry entry. With ``bag``, the ids are a
    bag's (``[batch, n]``, any n), and the Dense layer that reads them gathers its rows.
    ``fused_rnn``: recurrent layers as ONNX's own ops where they fit (else unrolled)."""
    calls, output_key = layer_calls(model)
    found = call_problems(calls)
    if bag is not None:
        found += [p for p in [bag_problem(model, bag.depth)] if p]
    if found:
        raise UnsupportedModel("; ".join(found))
    g = GraphBuilder(fused_rnn=fused_rnn)
    width = "ngrams" if bag is not None else maxlen
    tensors = {INPUT_KEY: Tensor(INPUT_NAME, (width,))}
    for call in calls:
        if bag is not None and INPUT_KEY in call.inputs:
            tensors[call.key] = dense_of_bag(g, call.layer, tensors[INPUT_KEY], bag)
            continue
        emit = CONVERTERS[type(call.layer).__name__].emit
        args = [
            _constant(g, a.value) if isinstance(a, Constant) else tensors[a] for a in call.inputs
        ]
        if call.mask is not None:  # the mask Keras passes this call, as Keras computed it
            args[0] = replace(args[0], mask=tensors[call.mask].name)
        # Masks travel only where Keras passes them (``mask=``), never implicitly.
        tensors[call.key] = replace(emit(g, call.layer, args), mask=None)
    g.op("Identity", tensors[output_key].name, out=OUTPUT_NAME)
    g.prune(OUTPUT_NAME)
    graph = helper.make_graph(
        g.nodes,
        f"rnnkit_{model.name}_layers",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.INT32, ["batch", width])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", units])],
        g.inits,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rnnkit"
    )
