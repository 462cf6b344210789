"""TFLite conversion.

TFLite cannot lower the SimpleRNN ``while`` loop (``TensorListReserve`` needs a static
element shape), so the converter gets a clone built with ``unroll=True`` and the trained
weights; the result runs on ``ai_edge_litert`` with any batch size.
"""

from __future__ import annotations

import contextlib
import io

from ..training.model import TrainConfig, build_model

VARIANTS = ("fp32", "int8", "float16")


def convert(keras_model, cfg: TrainConfig, variant: str = "fp32") -> bytes:
    import tensorflow as tf

    clone = build_model(cfg, unroll=True, compile=False)
    clone.set_weights(keras_model.get_weights())
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
