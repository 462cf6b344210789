"""A small ONNX graph builder shared by rnnkit's own graph forms (folded and per-layer).

Every node gets a fresh output name; constants become initializers. Ops are written in their
opset-13 form (``Split`` sizes and ``Unsqueeze`` axes as inputs, ``ReduceMax``/``ReduceMean``
axes as attributes), the lowest opset rnnkit exports.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

OPSET = 13


class GraphBuilder:
    def __init__(self, fused_rnn: bool = False) -> None:
        #: Emit ONNX's own RNN/GRU/LSTM ops where they compute what Keras computes (the
        #: ``layers-fused`` form), instead of unrolling every step.
        self.fused_rnn = fused_rnn
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        """An initializer; the same name given twice holds the first value (shared)."""
        if name not in self._names:
            self._names.add(name)
            self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def fresh(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        out = out or self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def ints(self, *values: int) -> str:
        """An int64 vector constant (shapes, axes, sizes), named by its values."""
        name = "i64_" + "_".join(str(v).replace("-", "m") for v in values)
        return self.const(name, np.array(values, dtype=np.int64))

    def scalar(self, value: float) -> str:
        return self.const(f"f32_{value!r}".replace(".", "p").replace("-", "m"), np.float32(value))

    def split(self, x: str, sizes: list[int]) -> list[str]:
        """Split the last axis into parts of ``sizes``."""
        outs = [self.fresh("part") for _ in sizes]
        self.nodes.append(helper.make_node("Split", [x, self.ints(*sizes)], outs, axis=-1))
        return outs

    def prune(self, output: str) -> None:
        """Drop the nodes and initializers ``output`` does not depend on (an embedding's
        own gather, once every reader takes the folded table instead)."""
        self.nodes, self.inits = pruned(self.nodes, self.inits, {output})

    def step(self, x: str, t: int) -> str:
        """Time step ``t`` of a ``[batch, steps, ...]`` tensor, as ``[batch, ...]``."""
        return self.op("Gather", x, self.const(f"t{t}", np.array(t, dtype=np.int64)), axis=1)


def pruned(nodes, inits, outputs: set[str]) -> tuple[list, list]:
    """The ``nodes`` (in order) and ``inits`` that ``outputs`` depend on."""
    needed, kept = set(outputs), []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
    return kept[::-1], [t for t in inits if t.name in needed]
