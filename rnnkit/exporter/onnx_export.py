"""ONNX conversion: build each candidate graph form; ``export.py`` measures and picks one.

Forms:
  ``tf2onnx``          tf2onnx on the Keras model as trained (SimpleRNN -> ``Loop``;
                       LSTM/GRU -> the native ONNX ``LSTM``/``GRU`` ops).
  ``tf2onnx-unrolled`` tf2onnx on a clone built with ``unroll=True`` (same weights).
  ``folded``           rnnkit's own unrolled graph with the input projection folded into the
                       embedding table (see ``onnx_graph.py``).

tf2onnx's ``from_keras`` fails on Keras 3 models, so every conversion goes through
``from_function`` on a ``tf.function`` with a named input signature.
"""

from __future__ import annotations

import onnx

from ..runtime.backends import INPUT_NAME, OUTPUT_NAME
from ..training.model import TrainConfig, build_model
from .onnx_graph import folded_rnn_onnx

FORMS = ("folded", "tf2onnx-unrolled", "tf2onnx")
OPSET = 17  # tf2onnx 1.17 exports opsets 13-18; 17 is widely supported by runtimes.


def _rename(model: onnx.ModelProto, old: str, new: str) -> None:
    if old == new:
        return
    for node in model.graph.node:
        node.input[:] = [new if x == old else x for x in node.input]
        node.output[:] = [new if x == old else x for x in node.output]
    for vi in list(model.graph.input) + list(model.graph.output):
        if vi.name == old:
            vi.name = new


def _from_keras(keras_model, maxlen: int) -> onnx.ModelProto:
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, maxlen), tf.int32, name=INPUT_NAME),)
    fn = tf.function(lambda ids: keras_model(ids, training=False), input_signature=spec)
    model, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=OPSET)
    _rename(model, model.graph.input[0].name, INPUT_NAME)
    _rename(model, model.graph.output[0].name, OUTPUT_NAME)
    out = model.graph.output[0].type.tensor_type.shape
    out.dim[0].dim_param, out.dim[1].dim_value = "batch", 1
    inp = model.graph.input[0].type.tensor_type.shape
    inp.dim[0].dim_param = "batch"
    return model


def convert(form: str, keras_model, cfg: TrainConfig) -> onnx.ModelProto:
    """One candidate ONNX model for ``keras_model`` (float32)."""
    if form == "folded":
        model = folded_rnn_onnx(cfg.cell, keras_model.get_weights(), cfg.maxlen, opset=OPSET)
    elif form == "tf2onnx":
        model = _from_keras(keras_model, cfg.maxlen)
    elif form == "tf2onnx-unrolled":
        clone = build_model(cfg, unroll=True, compile=False)
        clone.set_weights(keras_model.get_weights())
        model = _from_keras(clone, cfg.maxlen)
    else:
        raise ValueError(f"unknown ONNX form {form!r}; choose from {', '.join(FORMS)}")
    onnx.checker.check_model(model, full_check=True)
    return model


def stamp_metadata(model: onnx.ModelProto, props: dict[str, str]) -> None:
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
