"""The "folded" ONNX form: an unrolled recurrence with the input projection folded away.

For every cell type the per-step input transform ``x_t @ W + b`` only depends on the token
id, so it is precomputed for the whole vocabulary at export time (``E @ W + b``, in float64,
rounded once to float32). The graph then gathers one row per token and runs ``maxlen``
explicit steps of ``h @ U``: no ``Loop`` (whose output stacking the ONNX spec leaves
ambiguous, so onnxruntime and the reference evaluator disagree on it), no per-step input
matmul, and only plain ops that every ONNX implementation runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..runtime.model.backends import INPUT_NAME, OUTPUT_NAME
from .graph import GraphBuilder


def _f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


@dataclass(frozen=True)
class FoldedSpec:
    """What the folded form needs of a model: its cell, for the seed's architecture only
    (Embedding -> one recurrent layer's last state -> a hidden Dense -> one sigmoid)."""

    cell: str

    @classmethod
    def of(cls, config) -> FoldedSpec | None:
        """From the training config of a model rnnkit trained (``None`` for an imported
        one, or any other architecture: the folded form does not apply)."""
        if config is None:
            return None
        seed_like = (
            not config.bidirectional
            and config.pooling == "last"
            and config.classes == 2
            and config.dense_units
            and not config.spatial_dropout
        )
        return cls(config.cell) if seed_like else None


def folded_rnn_onnx(
    cell: str, weights: list[np.ndarray], maxlen: int, opset: int = 13
) -> onnx.ModelProto:
    """Build the folded graph from the Keras weight list of the seed architecture.

    ``weights`` is ``model.get_weights()``: embedding, the cell's (kernel, recurrent kernel,
    bias), dense kernel/bias, output kernel/bias.
    """
    emb, kernel, rec, bias, d1w, d1b, d2w, d2b = (np.asarray(w) for w in weights)
    g = GraphBuilder()
    e64 = emb.astype(np.float64)
    if cell == "gru":
        # Keras 3 GRU (reset_after=True): bias[0] is the input bias, bias[1] the recurrent one.
        table = e64 @ kernel.astype(np.float64) + bias[0].astype(np.float64)
        rec_bias = g.const("gru_recurrent_bias", _f32(bias[1]))
    else:
        table = e64 @ kernel.astype(np.float64) + bias.astype(np.float64)
    g.const("folded_embedding", _f32(table))
    g.const("recurrent_kernel", _f32(rec))
    steps = g.op("Gather", "folded_embedding", INPUT_NAME, axis=0)  # [batch, maxlen, gates]

    units = rec.shape[0]
    h = c = None
    for t in range(maxlen):
        x_t = g.step(steps, t)  # [batch, gates]
        if cell == "simple":
            pre = x_t if h is None else g.op("Add", x_t, g.op("MatMul", h, "recurrent_kernel"))
            h = g.op("Relu", pre)
        elif cell == "lstm":
            z = x_t if h is None else g.op("Add", x_t, g.op("MatMul", h, "recurrent_kernel"))
            i, f, cand, o = g.split(z, [units] * 4)  # Keras gate order: input, forget, cell, output
            i, f, o = g.op("Sigmoid", i), g.op("Sigmoid", f), g.op("Sigmoid", o)
            new_c = g.op("Mul", i, g.op("Tanh", cand))
            c = new_c if c is None else g.op("Add", g.op("Mul", f, c), new_c)
            h = g.op("Mul", o, g.op("Tanh", c))
        elif cell == "gru":
            xz, xr, xh = g.split(x_t, [units] * 3)  # Keras gate order: update, reset, candidate
            if h is None:
                # h0 = 0, so h @ U + b_rec is just the recurrent bias (broadcast by Add).
                hz, hr, hh = (
                    g.const(f"gru_h0_{k}", _f32(part))
                    for k, part in enumerate(np.split(bias[1], 3))
                )
            else:
                rec_h = g.op("Add", g.op("MatMul", h, "recurrent_kernel"), rec_bias)
                hz, hr, hh = g.split(rec_h, [units] * 3)
            zt = g.op("Sigmoid", g.op("Add", xz, hz))
            rt = g.op("Sigmoid", g.op("Add", xr, hr))
            cand = g.op("Tanh", g.op("Add", xh, g.op("Mul", rt, hh)))
            # h_t = z * h + (1 - z) * cand; with h0 = 0 the first term vanishes.
            one_minus_z = g.op("Sub", g.const(f"one_{t}", np.float32(1.0)), zt)
            new = g.op("Mul", one_minus_z, cand)
            h = new if t == 0 else g.op("Add", g.op("Mul", zt, h), new)
        else:
            raise ValueError(f"unknown cell {cell!r}")

    g.const("dense_kernel", _f32(d1w))
    g.const("dense_bias", _f32(d1b))
    g.const("out_kernel", _f32(d2w))
    g.const("out_bias", _f32(d2b))
    hidden = g.op("Relu", g.op("Add", g.op("MatMul", h, "dense_kernel"), "dense_bias"))
    logit = g.op("Add", g.op("MatMul", hidden, "out_kernel"), "out_bias")
    g.nodes.append(helper.make_node("Sigmoid", [logit], [OUTPUT_NAME]))

    graph = helper.make_graph(
        g.nodes,
        f"rnnkit_{cell}_folded",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.INT32, ["batch", maxlen])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", 1])],
        g.inits,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="rnnkit"
    )
