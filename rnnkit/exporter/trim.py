"""A graph pass: the steps that hold no word in any row of a batch are not computed again.

A review of 230 words in a 600-step model is 370 steps of padding, and every row's padding
is the same id, so what a layer computes from it is the same for every row. The pass cuts
the columns that hold padding in every row of the batch (found inside the graph, from the
ids), where that leaves the outputs as they were for any input:

* **a convolution max-pooled over time** (Embedding -> Conv1D, stride 1 -> per-step ops ->
  GlobalMaxPooling1D) reads the ids between the batch's first and last word, plus a margin
  each side: every window of padding alone has one value, and the cut keeps one such
  window (and the windows at the edges, which see the same zero padding either way);
* **a recurrent layer's forward direction** (ONNX's own GRU/LSTM/RNN op, reading the
  embedding) starts at the batch's first word, from its state after that many padding
  steps, and its outputs for the steps cut are that state's history: both come from
  tables computed at export, by onnxruntime running the same op over padding alone.
  The backward direction reads every step: it meets the padding last, in a state that
  depends on the row.

The parity gate then checks the outputs as for any graph. Scoring orders a block's rows by
length (``backends.predict_in_batches``), so that a batch's cut is close to its own rows'.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..runtime.model.backends import RECURRENT_OPS
from .graph import pruned

#: Ops that act on each step alone (elementwise, no attribute that mixes steps).
PER_STEP_UNARY = frozenset(
    {"Relu", "Tanh", "Sigmoid", "Elu", "Selu", "LeakyRelu", "HardSigmoid", "Softplus",
     "Softsign", "Identity", "Exp", "Neg", "Abs", "Clip"}
)  # fmt: skip
#: Elementwise with a constant second operand (a bias, a scale).
PER_STEP_BINARY = frozenset({"Add", "Sub", "Mul", "Div"})


def trim_padding(model: onnx.ModelProto, input_name: str, pad_id: int) -> int:
    """Rewrite, in place, the branches of ``model`` reading ``input_name`` through an
    embedding that the pass can cut; returns how many were rewritten."""
    graph = model.graph
    cut = _Cut(graph, input_name, pad_id)
    for node in list(graph.node):
        if node.op_type in ("ReduceMax", "ReduceMin"):
            _cut_pooled_convolution(cut, node)
        elif node.op_type in RECURRENT_OPS:
            _cut_forward_recurrence(cut, node)
    if cut.count:
        _topological(graph)
        nodes, inits = pruned(graph.node, graph.initializer, {o.name for o in graph.output})
        del graph.node[:], graph.initializer[:]
        graph.node.extend(nodes)
        graph.initializer.extend(inits)
    return cut.count


class _Cut:
    """The graph being rewritten, and the nodes that find where a batch's words are (made
    once, on first use)."""

    def __init__(self, graph, input_name: str, pad_id: int) -> None:
        self.graph, self.ids, self.pad_id = graph, input_name, pad_id
        self.made = {o: n for n in graph.node for o in n.output}
        self.consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.count = 0
        self._words = None

    def const(self, stem: str, value) -> str:
        name = f"trim_{stem}_{len(self.graph.initializer)}"
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, *inputs: str, outputs: int = 1, **attrs):
        names = [f"trim_{op.lower()}_{len(self.graph.node)}_{k}" for k in range(outputs)]
        self.graph.node.append(helper.make_node(op, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def words(self) -> tuple[str, str, str]:
        """(first column holding a word, columns after the last one, number of columns),
        each ``[1]`` int64; with no word at all, the first is 0 and none come after."""
        if self._words is None:
            pad = self.const("pad", np.int32(self.pad_id))
            word = self.node("Cast", self.node("Not", self.node("Equal", self.ids, pad)), to=6)
            column = self.node("ReduceMax", word, axes=[0], keepdims=0)  # 1: a row has one
            first = self.node("ArgMax", column, axis=0, keepdims=1)
            backwards = self.node(
                "Slice", column, self.const("m1", [-1]), self.const("min", [-(2**62)]),
                self.const("ax0", [0]), self.const("m1", [-1]),
            )  # fmt: skip
            after = self.node("ArgMax", backwards, axis=0, keepdims=1)
            self._words = first, after, self.node("Shape", column)
        return self._words

    def path_to_ids(self, x: str, time_axis: int):
        """The nodes from an embedding's Gather of the ids to ``x`` (Gather first), if each
        acts on every step alone or convolves along the steps, and the convolutions' total
        span; else None. ``time_axis``: the steps' axis in ``x``."""
        nodes, span = [], 0
        while True:
            node = self.made.get(x)
            if node is None or len(node.output) != 1:
                return None
            nodes.append(node)
            op = node.op_type
            if op == "Gather":
                from_ids = node.input[1] == self.ids and node.input[0] in self.consts
                if from_ids and _attr(node, "axis", 0) == 0 and time_axis == 1:
                    return nodes[::-1], span
                return None
            if op == "Transpose":
                time_axis = _attr(node, "perm")[time_axis]
            elif op == "Conv":
                kernel = _attr(node, "kernel_shape") or []
                weights = {i for i in node.input[1:] if i}
                if time_axis != 2 or len(kernel) != 1 or weights - set(self.consts):
                    return None
                if set(_attr(node, "strides", [1])) != {1}:
                    return None  # a stride would move the windows against each other
                (dilation,) = _attr(node, "dilations", [1])
                span += (kernel[0] - 1) * dilation + 1 + sum(_attr(node, "pads", [0, 0]))
            elif op in PER_STEP_UNARY:
                if any(i and i not in self.consts for i in node.input[1:]):
                    return None
            elif op in PER_STEP_BINARY:
                other = node.input[1]
                if other not in self.consts or _varies_along(self.consts[other], time_axis):
                    return None
            else:
                return None
            x = node.input[0]


def _cut_pooled_convolution(cut: _Cut, pool) -> None:
    """The branch max-pooled by ``pool`` again, on the ids between the batch's first and
    last word (and a margin)."""
    axes = _attr(pool, "axes")
    if axes is None or len(axes) != 1:
        return
    found = cut.path_to_ids(pool.input[0], axes[0])
    if found is None or not any(n.op_type == "Conv" for n in found[0]):
        return
    nodes, span = found
    margin = cut.const("margin", [2 * span + 1])  # room to spare at every level of a stack
    first, after, steps = cut.words()
    start = cut.node("Max", cut.node("Sub", first, margin), cut.const("zero", [0]))
    end = cut.node("Sub", cut.node("Add", steps, margin), after)
    ids = cut.node("Slice", cut.ids, start, end, cut.const("ax1", [1]))
    renamed = {cut.ids: ids}
    for node in nodes:  # the branch again, on the ids cut
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.input[:] = [renamed.get(i, i) for i in node.input]
        renamed[node.output[0]] = copy.output[0] = f"trim_{node.output[0]}_{cut.count}"
        copy.name = copy.output[0]
        cut.graph.node.append(copy)
    pool.input[0] = renamed[nodes[-1].output[0]]
    cut.count += 1


def _cut_forward_recurrence(cut: _Cut, rec) -> None:
    """``rec``'s forward direction run from the batch's first word, from the state the
    padding before it leaves; its outputs for the steps cut, and the other direction,
    joined as ``rec`` gave them."""
    direction = _attr(rec, "direction", b"forward").decode()
    plain = not any(rec.input[4:])  # no sequence_lens, initial states or peepholes
    if direction == "reverse" or not plain or _attr(rec, "layout", 0) != 0:
        return
    if _attr(rec, "activation_alpha") is not None or _attr(rec, "activation_beta") is not None:
        return
    found = cut.path_to_ids(rec.input[0], 0)
    steps = _steps(cut)
    if found is None or any(n.op_type == "Conv" for n in found[0]) or steps is None:
        return
    x, hidden, lstm = rec.input[0], int(_attr(rec, "hidden_size")), rec.op_type == "LSTM"
    weights = [[cut.consts[w][k : k + 1] for w in rec.input[1:4] if w] for k in range(2)]
    tables = _padding_states(cut, found[0], rec, weights[0], steps)
    first, _, columns = cut.words()
    # At least one step is left to run (a batch of padding alone has no first word).
    start = cut.node("Min", first, cut.node("Sub", columns, cut.const("one", [1])))
    batch = cut.node("Gather", cut.node("Shape", x), cut.const("ax1", [1]), axis=0)
    # [1, batch, hidden]: a state's shape, and (broadcast from the right) Y's per step
    state_shape = cut.node("Concat", cut.const("one", [1]), batch, cut.const("h", [hidden]), axis=0)

    def state_after_start(table: np.ndarray) -> str:  # [1, batch, hidden]
        row = cut.node("Gather", cut.const("state", table), start, axis=0)
        return cut.node("Expand", row, state_shape)

    outs = 3 if lstm else 2
    fwd = [f"trim_{rec.output[0] or rec.name}_fwd{k}" for k in range(outs)]
    later = cut.node("Slice", x, start, cut.const("max", [2**62]), cut.const("ax0", [0]))
    initial = [state_after_start(t) for t in tables]
    ins = [later, *(cut.const("w", w) for w in weights[0])]
    ins += [""] * (4 - len(ins)) + [""] + initial  # no sequence_lens
    cut.graph.node.append(_direction(rec, 0, "forward", ins, fwd))
    # Y for the steps cut: the states after 1 .. start steps of padding, for every row.
    history = cut.node(
        "Slice", cut.const("history", tables[0][1:, None, None, :]), cut.const("zero", [0]),
        start, cut.const("ax0", [0]),
    )  # fmt: skip
    merged = [[cut.node("Concat", cut.node("Expand", history, state_shape), fwd[0], axis=0)]]
    merged += [[f] for f in fwd[1:]]
    if direction == "bidirectional":
        bwd = [f"trim_{rec.output[0] or rec.name}_bwd{k}" for k in range(outs)]
        ins = [x, *(cut.const("w", w) for w in weights[1])]
        cut.graph.node.append(_direction(rec, 1, "reverse", ins, bwd))
        merged = [m + [b] for m, b in zip(merged, bwd, strict=True)]
    for k, (out, parts) in enumerate(zip(rec.output, merged, strict=False)):
        if out:  # Y along its directions' axis (1), the last states along axis 0
            cut.graph.node.append(helper.make_node("Concat", parts, [out], axis=int(k == 0)))
    cut.graph.node.remove(rec)
    cut.count += 1


def _direction(rec, k: int, name: str, inputs: list[str], outputs: list[str]):
    """One direction of the recurrent node ``rec`` (``k``: its index in ``rec``)."""
    attrs = {a.name: helper.get_attribute_value(a) for a in rec.attribute}
    attrs["direction"] = name
    acts = attrs.get("activations")
    if acts is not None:
        per = len(acts) // (2 if _attr(rec, "direction", b"") == b"bidirectional" else 1)
        attrs["activations"] = acts[k * per : (k + 1) * per]
    while inputs and not inputs[-1]:
        inputs = inputs[:-1]
    return helper.make_node(rec.op_type, inputs, outputs, **attrs)


def _padding_states(cut: _Cut, chain, rec, weights, steps: int) -> list[np.ndarray]:
    """The forward direction's states (``h``, and ``c`` for an LSTM) after 0 .. ``steps``
    steps of padding, ``[steps + 1, hidden]`` each: onnxruntime runs the op once over
    padding alone, one row per length (``sequence_lens``)."""
    import onnxruntime as ort

    lstm = rec.op_type == "LSTM"
    outs = ["y", "y_h", "y_c"][: 3 if lstm else 2]
    names = ["w", "r", "b"][: len(weights)]
    lengths = np.arange(1, steps + 1, dtype=np.int32)
    inputs = [rec.input[0], *names, *[""] * (3 - len(names)), "lengths"]
    used = {i for n in chain for i in n.input} & set(cut.consts)
    inits = [numpy_helper.from_array(cut.consts[i], i) for i in sorted(used)]
    inits += [numpy_helper.from_array(w, n) for w, n in zip(weights, names, strict=True)]
    inits.append(numpy_helper.from_array(lengths, "lengths"))
    graph = helper.make_graph(
        [*chain, _direction(rec, 0, "forward", inputs, outs)],
        "padding_states",
        [helper.make_tensor_value_info(cut.ids, onnx.TensorProto.INT32, [steps, steps])],
        [helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in outs[1:]],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    padding = np.full((steps, steps), cut.pad_id, dtype=np.int32)
    hidden = int(_attr(rec, "hidden_size"))
    zero = np.zeros((1, hidden), np.float32)
    return [
        np.concatenate([zero, s.reshape(steps, hidden)]).astype(np.float32)
        for s in session.run(outs[1:], {cut.ids: padding})
    ]


def _steps(cut: _Cut) -> int | None:
    for vi in cut.graph.input:
        if vi.name == cut.ids:
            dims = vi.type.tensor_type.shape.dim
            return dims[1].dim_value if len(dims) == 2 and dims[1].dim_value else None
    return None


def _varies_along(value: np.ndarray, time_axis: int) -> bool:
    """Whether a constant operand varies along the steps (broadcast from the right)."""
    offset = value.ndim - 3
    return time_axis + offset >= 0 and value.shape[time_axis + offset] > 1


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
