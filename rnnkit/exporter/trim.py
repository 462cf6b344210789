"""A graph pass: convolutions max-pooled over time read only the steps that hold words.

A review of 230 words in a 600-step model is 370 steps of padding. A branch built as
Embedding -> Conv1D (stride 1) -> per-position ops -> GlobalMaxPooling1D gives every window
of padding alone the same value, so its maximum does not change when all but ``margin``
of the padding steps are cut off: the cut keeps at least one window of padding alone (and
the windows at the edges, which see the same zero padding in both), and every window
holding a word whole. The pass re-emits such a branch on the ids cut, inside the graph, to
the columns between the batch's first and last word (plus ``margin`` on each side); a
recurrent branch beside it still reads every step. The cut depends only on the ids, so the
outputs equal the uncut graph's for any input (the parity gate checks them as always).
Scoring orders a block's rows by length (``backends.predict_in_batches``), so that a batch's
cut is close to its own rows' lengths.

imdb-bigru-conv (Conv1D(128, 5) beside a BiGRU, 600 steps): the convolution was 38 % of
its run time; on the IMDB reviews the cut keeps 234 of 600 columns on average.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .graph import pruned

#: Ops that act on each step alone (elementwise, no attribute that mixes steps).
PER_STEP_UNARY = frozenset(
    {"Relu", "Tanh", "Sigmoid", "Elu", "Selu", "LeakyRelu", "HardSigmoid", "Softplus",
     "Softsign", "Identity", "Exp", "Neg", "Abs", "Clip"}
)  # fmt: skip
#: Elementwise with a constant second operand (a bias, a scale).
PER_STEP_BINARY = frozenset({"Add", "Sub", "Mul", "Div"})


def trim_padding(model: onnx.ModelProto, input_name: str, pad_id: int) -> int:
    """Rewrite, in place, every max-pooled convolution branch of ``model`` that reads
    ``input_name`` through an embedding; returns how many branches were rewritten."""
    graph = model.graph
    made = {n.output[0]: n for n in graph.node}
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    rewritten = 0
    for pool in [n for n in graph.node if n.op_type in ("ReduceMax", "ReduceMin")]:
        chain = _branch(pool, made, consts, input_name)
        if chain is None:
            continue
        nodes, margin = chain
        ids = _cut_ids(graph, input_name, pad_id, margin, tag=f"trim{rewritten}")
        _reemit(graph, nodes, pool, ids, tag=f"trim{rewritten}")
        rewritten += 1
    if rewritten:  # the uncut branch, unless another reads it
        nodes, inits = pruned(graph.node, graph.initializer, {o.name for o in graph.output})
        del graph.node[:], graph.initializer[:]
        graph.node.extend(nodes)
        graph.initializer.extend(inits)
    return rewritten


def _branch(pool, made, consts, input_name):
    """The nodes from the embedding's Gather to ``pool`` (in order) and the cut's margin, if
    ``pool`` takes the maximum over the steps of a branch the pass can cut; else None."""
    axes = _attr(pool, "axes")
    if axes is None or len(axes) != 1:
        return None
    time_axis, nodes, span = axes[0], [], 0
    x = pool.input[0]
    while True:
        node = made.get(x)
        if node is None:
            return None
        nodes.append(node)
        op = node.op_type
        if op == "Gather":
            from_ids = node.input[1] == input_name and node.input[0] in consts
            if not (from_ids and _attr(node, "axis", 0) == 0 and time_axis == 1):
                return None
            break
        if op == "Transpose":
            perm = _attr(node, "perm")
            if perm != [0, 2, 1]:
                return None
            time_axis = perm[time_axis]
        elif op == "Conv":
            kernel = _attr(node, "kernel_shape") or []
            if time_axis != 2 or len(kernel) != 1 or {i for i in node.input[1:] if i} - set(consts):
                return None
            if set(_attr(node, "strides", [1])) != {1}:
                return None  # a stride would move the windows against each other
            (dilation,) = _attr(node, "dilations", [1])
            span += (kernel[0] - 1) * dilation + 1 + sum(_attr(node, "pads", [0, 0]))
        elif op in PER_STEP_UNARY:
            if any(i and i not in consts for i in node.input[1:]):
                return None
        elif op in PER_STEP_BINARY:
            if node.input[1] not in consts or _steps_of(consts[node.input[1]], time_axis):
                return None
        else:
            return None
        x = node.input[0]
    # Each convolution's windows of padding alone, and its zero-padded edges, kept whole,
    # with room to spare at every level of a stack.
    return nodes[::-1], 2 * span + 1


def _steps_of(value, time_axis: int) -> bool:
    """Whether a constant operand varies along the steps (a rank-3 one with time > 1)."""
    shape = value.shape
    offset = 3 - len(shape)
    return time_axis - offset >= 0 and shape[time_axis - offset] > 1


def _cut_ids(graph, ids: str, pad_id: int, margin: int, tag: str) -> str:
    """Nodes cutting ``ids`` ``[batch, steps]`` to its columns holding a word, widened by
    ``margin`` each side (all of them when no row has a word)."""

    def const(name, value, dtype="int64"):
        graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=dtype), name))
        return name

    def node(op, *inputs, **attrs):
        out = f"{tag}_{op.lower()}_{len(graph.node)}"
        graph.node.append(helper.make_node(op, list(inputs), [out], **attrs))
        return out

    pad = const(f"{tag}_pad", pad_id, "int32")
    words = node("Cast", node("Not", node("Equal", ids, pad)), to=onnx.TensorProto.INT32)
    column = node("ReduceMax", words, axes=[0], keepdims=0)  # [steps]: 1 where any row has one
    first = node("ArgMax", column, axis=0, keepdims=1)
    reverse = node(
        "Slice", column, const(f"{tag}_m1", [-1]), const(f"{tag}_min", [-(2**62)]),
        const(f"{tag}_ax0", [0]), const(f"{tag}_step", [-1]),
    )  # fmt: skip
    from_end = node("ArgMax", reverse, axis=0, keepdims=1)  # steps - 1 - the last one
    start = node(
        "Max", node("Sub", first, const(f"{tag}_margin", [margin])), const(f"{tag}_0", [0])
    )
    steps = node("Shape", column)
    end = node("Sub", node("Add", steps, const(f"{tag}_margin1", [margin])), from_end)
    return node("Slice", ids, start, end, const(f"{tag}_ax1", [1]))


def _reemit(graph, nodes, pool, ids: str, tag: str) -> None:
    """Copies of ``nodes`` (Gather first) reading ``ids``, and ``pool`` reading the copy."""
    renamed = {nodes[0].input[1]: ids}
    for k, node in enumerate(nodes):
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = f"{tag}_{node.name or node.op_type}_{k}"
        copy.input[:] = [renamed.get(i, i) for i in node.input]
        renamed[node.output[0]] = f"{tag}_{node.output[0]}"
        copy.output[:] = [renamed[node.output[0]]]
        graph.node.append(copy)
    pool.input[0] = renamed[nodes[-1].output[0]]
    _topological(graph)


def _topological(graph) -> None:
    """Reorder the nodes so that each comes after the nodes it reads (ONNX requires it)."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError("trim_padding: the graph has a cycle")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)


def _attr(node, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default
