"""ONNX conversion: build each candidate graph form; ``export.py`` measures and picks one.

Forms:
  ``folded``           rnnkit's own unrolled graph with the input projection folded into the
                       embedding table (see ``onnx_graph.py``); the seed's architecture only.
  ``layers-fused``     the per-layer converter registry (``layers/``, ``keras_graph.py``),
                       its recurrent layers as ONNX's own ``RNN``/``GRU``/``LSTM`` ops
                       (masked ones too: ``layers/recurrent.py``); refused when none fits.
  ``layers``           the same registry, every recurrent layer unrolled step by step:
                       any model built from the layers it lists, masks included.
                       Both layers forms skip the padding a batch's rows share
                       (``trim.py``: max-pooled convolutions, recurrent forward directions).
  ``tf2onnx-unrolled`` tf2onnx on a clone built with ``unroll=True`` (same weights).
  ``tf2onnx``          tf2onnx on the Keras model as it is (SimpleRNN -> ``Loop``;
                       LSTM/GRU -> the native ONNX ``LSTM``/``GRU`` ops).

tf2onnx's ``from_keras`` fails on Keras 3 models, so every conversion goes through
``from_function`` on a ``tf.function`` with a named input signature.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..runtime.model.backends import INPUT_NAME, OUTPUT_NAME
from ..runtime.text.contract import PAD_ID
from .keras_graph import layer_calls
from .keras_graph import to_onnx as layers_onnx
from .layers.recurrent import FUSED_OPS, RECURRENT_LAYERS, may_fuse
from .onnx_graph import FoldedSpec, folded_rnn_onnx
from .trim import trim_padding
from .unrolled import unrolled_clone

#: In order of preference: the first that agrees with Keras on every runtime is exported.
#: The order was set by measurement (docs/performance.md), not at each export: a choice
#: timed at export would make the exported file depend on the machine's load. The fused
#: form comes before the unrolled one: on the long models (600 and 200 steps) it scores
#: 1.4-2x faster on one thread and its session starts in tens of milliseconds, not seconds.
FORMS = ("folded", "layers-fused", "layers", "tf2onnx-unrolled", "tf2onnx")
#: Opsets tried, lowest first. 13 is the floor: its Split takes sizes as an input (as the
#: folded graph writes it) and tf2onnx 1.17 emits nothing older; 18 is tf2onnx's newest.
OPSETS = tuple(range(13, 19))


def _rename(model: onnx.ModelProto, old: str, new: str) -> None:
    if old == new:
        return
    for node in model.graph.node:
        node.input[:] = [new if x == old else x for x in node.input]
        node.output[:] = [new if x == old else x for x in node.output]
    for vi in list(model.graph.input) + list(model.graph.output):
        if vi.name == old:
            vi.name = new


def opset_of(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def set_portable_versions(model: onnx.ModelProto) -> None:
    """Declare the IR version that matches the opsets (onnx's own table), not the newest.

    onnx >= 1.20 stamps IR 14 on every new model, which onnxruntime-web <= 1.30 and older
    onnxruntime builds reject even when the opset is old.
    """
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))


def _from_keras(keras_model, maxlen: int, units: int, opset: int) -> onnx.ModelProto:
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, maxlen), tf.int32, name=INPUT_NAME),)
    fn = tf.function(lambda ids: keras_model(ids, training=False), input_signature=spec)
    model, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=opset)
    _rename(model, model.graph.input[0].name, INPUT_NAME)
    _rename(model, model.graph.output[0].name, OUTPUT_NAME)
    out = model.graph.output[0].type.tensor_type.shape
    out.dim[0].dim_param, out.dim[1].dim_value = "batch", units
    inp = model.graph.input[0].type.tensor_type.shape
    inp.dim[0].dim_param = "batch"
    return model


def convert(
    form: str, keras_model, folded: FoldedSpec | None, maxlen: int, units: int, bag=None
) -> onnx.ModelProto:
    """One candidate ONNX model for ``keras_model`` (float32), at the lowest opset in
    ``OPSETS`` whose full check accepts it, with the matching IR version. ``folded``: the
    seed architecture's spec (None: the folded form does not apply). ``bag``: the model
    reads a bag of n-grams (``layers.core.BagInput``); only the layers forms do."""
    if bag is not None and form not in ("layers", "layers-fused"):
        raise ValueError(f"{form}: a bag of n-grams is converted by the layers form only")
    errors = []
    for opset in OPSETS:
        model = _convert_at(form, keras_model, folded, maxlen, units, opset, bag)
        set_portable_versions(model)
        try:
            onnx.checker.check_model(model, full_check=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
            errors.append(f"opset {opset}: {str(exc).splitlines()[0]}")
            continue
        return model
    raise ValueError(f"{form}: no opset in {OPSETS[0]}-{OPSETS[-1]} validates: {errors}")


def _convert_at(
    form: str, keras_model, folded: FoldedSpec | None, maxlen: int, units: int, opset: int,
    bag=None,
) -> onnx.ModelProto:  # fmt: skip
    if form == "folded":
        if folded is None:
            raise ValueError("the folded form is written for the seed's architecture only")
        return folded_rnn_onnx(folded.cell, keras_model.get_weights(), maxlen, opset=opset)
    if form in ("layers", "layers-fused"):
        if opset != OPSETS[0]:
            raise ValueError(f"the {form} form is written at the lowest opset only")
        fused = form == "layers-fused"
        if fused and not may_fuse_any(keras_model):  # said before building a graph
            raise ValueError("no recurrent layer fits ONNX's own ops (the layers form is this)")
        model = layers_onnx(keras_model, maxlen, units, bag, fused_rnn=fused)
        if fused and not {n.op_type for n in model.graph.node} & set(FUSED_OPS.values()):
            raise ValueError("no recurrent layer fits ONNX's own ops (the layers form is this)")
        if bag is None:  # a bag has no steps; its padding is cut by scoring already
            trim_padding(model, INPUT_NAME, PAD_ID)
        return model
    if form == "tf2onnx":
        return _from_keras(keras_model, maxlen, units, opset)
    if form == "tf2onnx-unrolled":
        return _from_keras(unrolled_clone(keras_model, maxlen), maxlen, units, opset)
    raise ValueError(f"unknown ONNX form {form!r}; choose from {', '.join(FORMS)}")


def may_fuse_any(keras_model) -> bool:
    """Whether a recurrent layer of the model has activations ONNX's own ops name: checked
    before the fused graph is built, which for a long unrolled model takes seconds."""
    calls, _ = layer_calls(keras_model)
    return any(type(c.layer).__name__ in RECURRENT_LAYERS and may_fuse(c.layer) for c in calls)


WEIGHT_ONLY_INT8 = "weight-only int8: embedding tables int8 per row, fp32 arithmetic"


def quantize_weights_int8(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose embedding tables are stored as int8, one scale per row.

    Why weight-only, and why only the tables:

    * The arithmetic stays fp32 (``Cast`` + ``Mul`` rebuild each table, and onnxruntime
      folds them into a constant at load), so the outputs do not depend on the CPU's
      integer kernels, and scoring runs at fp32 speed. Dynamic activation quantization
      (``MatMulInteger``) gave different outputs on AVX2 and AVX-512 VNNI machines and ran
      at 1/7 of fp32's speed, so rnnkit no longer writes it.
    * The gathered tables hold almost all the bytes (10000 x 32 of the shipped model's
      ~10,600 x 32 floats). Quantizing the recurrent kernel too saves 3 KB and costs
      accuracy, because its rounding compounds over every step (measured on the shipped
      model: 96 label flips in 5,000 against 1).
    * ``Cast``/``Mul`` rather than ``DequantizeLinear``: identical arithmetic, and it runs
      on every ONNX runtime at opset 13, including the reference evaluator (which has
      ``DequantizeLinear`` only from opset 19).
    """
    quantized = onnx.ModelProto()
    quantized.CopyFrom(model)
    graph = quantized.graph
    tables = embedding_tables(graph)
    inits, rebuild = [], []
    for init in graph.initializer:
        values = numpy_helper.to_array(init)
        if init.name not in tables or values.dtype != np.float32 or values.ndim != 2:
            inits.append(init)
            continue
        scale = np.abs(values).max(axis=1, keepdims=True) / np.float32(127)
        scale = np.where(scale > 0, scale, np.float32(1)).astype(np.float32)
        q = np.clip(np.rint(values / scale), -127, 127).astype(np.int8)
        inits += [
            numpy_helper.from_array(q, f"{init.name}_int8"),
            numpy_helper.from_array(scale, f"{init.name}_scale"),
        ]
        cast = f"{init.name}_as_float"
        rebuild += [
            helper.make_node("Cast", [f"{init.name}_int8"], [cast], to=onnx.TensorProto.FLOAT),
            helper.make_node("Mul", [cast, f"{init.name}_scale"], [init.name]),
        ]
    if not rebuild:
        raise ValueError("no embedding table to quantize in this graph")
    del graph.initializer[:]
    graph.initializer.extend(inits)
    nodes = rebuild + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    set_portable_versions(quantized)
    onnx.checker.check_model(quantized, full_check=True)
    return quantized


def embedding_tables(graph: onnx.GraphProto) -> set[str]:
    """The initializers gathered by token ids: the model's input, or a cut of it
    (``trim.py``); not the padding-state tables the cut gathers by a step number, which
    stay fp32 (they seed every row's recurrence)."""
    ids = {INPUT_NAME} | {
        n.output[0] for n in graph.node if n.op_type == "Slice" and n.input[0] == INPUT_NAME
    }
    gathers = [n for n in graph.node if n.op_type == "Gather"]
    return {n.input[0] for n in gathers if n.input[1] in ids} - {n.input[1] for n in gathers}


def stamp_metadata(model: onnx.ModelProto, props: dict[str, str]) -> None:
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
