"""TFLite conversion, from a clone of the model with its recurrent layers unrolled (see
``unrolled.py``); the result runs on ``ai_edge_litert`` with any batch size."""

from __future__ import annotations

import contextlib
import io

from .unrolled import bag_clone, unrolled_clone

VARIANTS = ("fp32", "int8", "float16")


def convert(keras_model, maxlen: int, variant: str = "fp32", bag=None) -> bytes:
    """``bag``: the model reads a bag of n-grams (``layers.core.BagInput``): the converted
    model takes the bag's ids, as the ONNX file does (``bag_clone``)."""
    import tensorflow as tf

    clone = bag_clone(keras_model, bag) if bag is not None else unrolled_clone(keras_model, maxlen)
    converter = tf.lite.TFLiteConverter.from_keras_model(clone)
    if variant == "int8":
        # Dynamic-range quantisation: int8 weights, float activations; no calibration data.
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant != "fp32":
        raise ValueError(f"unknown TFLite variant {variant!r}; choose from {', '.join(VARIANTS)}")
    # The converter prints every captured resource to stdout; keep the CLI output readable.
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()
