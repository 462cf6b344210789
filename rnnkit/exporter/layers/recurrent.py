"""SimpleRNN, LSTM and GRU (alone or inside Bidirectional): unrolled step by step, or (the
``layers-fused`` form) as ONNX's own ``RNN``/``GRU``/``LSTM`` op.

Masking follows Keras's own loop (``keras/src/backend/tensorflow/rnn.py``): at a masked step
the state is carried unchanged and the output repeats the previous one (zeros before any
kept step), or is zero with ``zero_output_for_mask`` (Bidirectional sets it when it returns
sequences). So pre- and post-padding, fully padded rows and both directions all follow the
same rule. ONNX's ``sequence_lens`` is not used: it assumes the kept steps come first, and
the ONNX reference evaluator ignores it. A masked layer is fused by gathering each row's
kept steps together, in order (``_masked_direction``): at the front for a forward
direction, at the back for a backward one, so that the op's outputs at the kept steps are
Keras's, whatever follows them.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from .registry import (
    Tensor,
    activate,
    activation_name,
    activation_problem,
    register,
    weight,
    with_activation,
)

MERGE_MODES = ("concat", "sum", "ave", "mul")
#: The layer classes this module converts.
RECURRENT_LAYERS = ("SimpleRNN", "LSTM", "GRU", "Bidirectional")


def _rnn_problem(layer) -> str | None:
    cfg = layer.get_config()
    for option in ("return_state", "stateful"):
        if cfg.get(option):
            return f"{option}=True"
    if getattr(layer, "cell", None) is None or type(layer.cell).__name__ not in (
        "SimpleRNNCell",
        "LSTMCell",
        "GRUCell",
    ):
        return "a custom RNN cell"
    keys = ("activation", "recurrent_activation") if "recurrent_activation" in cfg else ()
    return activation_problem(layer, *keys)


def _bidirectional_problem(layer) -> str | None:
    mode = layer.merge_mode
    if mode not in MERGE_MODES:
        return f"merge_mode {mode!r} (rnnkit merges with {', '.join(MERGE_MODES)})"
    if layer.get_config().get("return_state"):
        return "return_state=True"
    return _rnn_problem(layer.forward_layer) or _rnn_problem(layer.backward_layer)


def _zeros(g, x: str, units: int) -> str:
    """A ``[batch, units]`` zero state, shaped after the input's batch."""
    batch = g.op("Slice", g.op("Shape", x), g.ints(0), g.ints(1))
    return g.op(
        "ConstantOfShape",
        g.op("Concat", batch, g.ints(units), axis=0),
        value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]),
    )


#: Fold the input projection into the embedding table when the folded table is no larger
#: than the embedding (the seed's SimpleRNN: scores as fast as rnnkit's folded form). A GRU
#: or LSTM has 3 or 4 gates per unit: folded, its table (one per direction) would grow the
#: model file several times over, for one MatMul per row.
FOLD_MAX_GROWTH = 1


def _input_projection(g, name: str, x: Tensor, kernel, in_bias) -> str:
    """Every step's ``x_t @ kernel + bias`` at once, ``[batch, steps, gates]``: gathered from
    a folded table (``embeddings @ kernel + bias``, computed in float64) where ``x`` is an
    Embedding's output, else one MatMul."""
    if x.rows is not None and kernel.shape[1] <= FOLD_MAX_GROWTH * kernel.shape[0]:
        table, ids = x.rows
        folded = table.astype(np.float64) @ kernel.astype(np.float64)
        if in_bias is not None:
            folded += in_bias.astype(np.float64)
        return g.op("Gather", g.const(f"{name}_folded", folded.astype(np.float32)), ids, axis=0)
    proj = g.op("MatMul", x.name, g.const(f"{name}_kernel", kernel))
    if in_bias is not None:
        proj = g.op("Add", proj, g.const(f"{name}_input_bias", in_bias))
    return proj


def run_rnn(g, layer, x: Tensor, zero_output: bool) -> tuple[list[str], str]:
    """Unroll ``layer`` over ``x``: the outputs in the order the steps ran, and the last."""
    cell, kind = layer.cell, type(layer.cell).__name__
    units, steps = cell.units, x.shape[0]
    name = f"{layer.name}_{id(layer) % 10_000}"
    kernel = weight(cell.kernel)
    rec = weight(cell.recurrent_kernel)
    bias = weight(cell.bias) if cell.use_bias else None
    in_bias = rec_bias = None
    if bias is not None:
        if kind == "GRUCell" and cell.reset_after:
            in_bias, rec_bias = bias[0], bias[1]
        else:
            in_bias = bias
    proj = _input_projection(g, name, x, kernel, in_bias)
    zeros = _zeros(g, proj, units)
    h = c = zeros
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    outputs, prev_out = [], zeros
    act = lambda v: activate(g, cell, v)  # noqa: E731
    ract = lambda v: activate(g, cell, v, "recurrent_activation")  # noqa: E731
    for t in order:
        x_t = g.step(proj, t)
        if kind == "SimpleRNNCell":
            new_h = act(g.op("Add", x_t, g.op("MatMul", h, g.const(f"{name}_rec", rec))))
            new_c = None
        elif kind == "LSTMCell":
            z = g.op("Add", x_t, g.op("MatMul", h, g.const(f"{name}_rec", rec)))
            i, f, cand, o = g.split(z, [units] * 4)  # Keras: input, forget, cell, output
            new_c = g.op("Add", g.op("Mul", ract(f), c), g.op("Mul", ract(i), act(cand)))
            new_h = g.op("Mul", ract(o), act(new_c))
        else:  # GRU, Keras gate order: update, reset, candidate
            xz, xr, xh = g.split(x_t, [units] * 3)
            if cell.reset_after:
                r_all = g.op("MatMul", h, g.const(f"{name}_rec", rec))
                if rec_bias is not None:
                    r_all = g.op("Add", r_all, g.const(f"{name}_rec_bias", rec_bias))
                hz, hr, hh = g.split(r_all, [units] * 3)
                z, r = ract(g.op("Add", xz, hz)), ract(g.op("Add", xr, hr))
                cand = act(g.op("Add", xh, g.op("Mul", r, hh)))
            else:
                gates = g.op("MatMul", h, g.const(f"{name}_rec_zr", rec[:, : 2 * units]))
                hz, hr = g.split(gates, [units] * 2)
                z, r = ract(g.op("Add", xz, hz)), ract(g.op("Add", xr, hr))
                rh = g.op(
                    "MatMul", g.op("Mul", r, h), g.const(f"{name}_rec_h", rec[:, 2 * units :])
                )
                cand = act(g.op("Add", xh, rh))
            one_minus_z = g.op("Sub", g.scalar(1.0), z)
            new_h = g.op("Add", g.op("Mul", z, h), g.op("Mul", one_minus_z, cand))
            new_c = None
        if x.mask is None:
            h, c, out = new_h, new_c, new_h
        else:
            keep = g.op("Unsqueeze", g.step(x.mask, t), g.ints(1))  # [batch, 1]
            h = g.op("Where", keep, new_h, h)
            c = None if new_c is None else g.op("Where", keep, new_c, c)
            out = g.op("Where", keep, new_h, zeros if zero_output else prev_out)
        outputs.append(out)
        prev_out = out
    return outputs, outputs[-1]


#: ONNX's recurrent ops name their activations; Keras's defaults (tanh, sigmoid) are the
#: ones every runtime rnnkit checks implements (the ONNX reference evaluator's RNN knows
#: only Tanh), so a layer with any other stays unrolled.
FUSED_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid"}
FUSED_OPS = {"SimpleRNNCell": "RNN", "LSTMCell": "LSTM", "GRUCell": "GRU"}


def _fused_activations(cell) -> list[str] | None:
    """The ONNX activations list of one direction (``None``: one has no ONNX name)."""
    act = FUSED_ACTIVATIONS.get(activation_name(cell))
    if type(cell).__name__ == "SimpleRNNCell":
        return None if act is None else [act]
    ract = FUSED_ACTIVATIONS.get(activation_name(cell, "recurrent_activation"))
    if act is None or ract is None:
        return None
    # GRU: gates f (z, r) then g (candidate); LSTM: f (gates), g (candidate), h (cell out).
    return [ract, act] if type(cell).__name__ == "GRUCell" else [ract, act, act]


def may_fuse(layer) -> bool:
    """Whether ONNX's own ops can run ``layer`` (a recurrent layer or Bidirectional) at
    all: their activations have ONNX names. Said before a graph is built."""
    layers = (
        [layer.forward_layer, layer.backward_layer] if hasattr(layer, "forward_layer") else [layer]
    )
    return all(_fused_activations(x.cell) is not None for x in layers)


def fits_fused(layers: list, x: Tensor) -> bool:
    """Whether ONNX's own op computes exactly what Keras's loop computes for ``layers``
    (one per direction): the same cell kind, size and activations."""
    cells = [layer.cell for layer in layers]
    first = cells[0]
    return (
        _fused_activations(first) is not None
        and all(type(c) is type(first) and c.units == first.units for c in cells)
        and all(_fused_activations(c) == _fused_activations(first) for c in cells)
        and len({getattr(c, "reset_after", None) for c in cells}) == 1
    )


def _fused_weights(cell) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One direction's ``W [gates*units, in]``, ``R [gates*units, units]`` and ``B [2 *
    gates*units]`` in ONNX's layout and gate order."""
    kind, units = type(cell).__name__, cell.units
    kernel, rec = weight(cell.kernel), weight(cell.recurrent_kernel)
    width = kernel.shape[1]
    in_bias, rec_bias = np.zeros(width, np.float32), np.zeros(width, np.float32)
    if cell.use_bias:
        bias = weight(cell.bias)
        if kind == "GRUCell" and cell.reset_after:
            in_bias, rec_bias = bias[0], bias[1]
        else:
            in_bias = bias
    if kind == "LSTMCell":  # Keras: input, forget, cell, output; ONNX: input, output, forget, cell
        order = np.concatenate([np.arange(k * units, (k + 1) * units) for k in (0, 3, 1, 2)])
        kernel, rec, in_bias, rec_bias = (
            kernel[:, order],
            rec[:, order],
            in_bias[order],
            rec_bias[order],
        )
    # GRU: both update, reset, candidate.
    return kernel.T, rec.T, np.concatenate([in_bias, rec_bias])


def run_fused(g, layers: list, x: Tensor, direction: str) -> tuple[str, str]:
    """``layers`` (one per direction) as one ONNX ``RNN``/``GRU``/``LSTM`` node over ``x``:
    ``Y [steps, directions, batch, units]`` (each direction's outputs at the positions of
    their inputs) and ``Y_h [directions, batch, units]`` (each direction's last state)."""
    cell = layers[0].cell
    kind = type(cell).__name__
    name = f"{layers[0].name}_{id(layers[0]) % 10_000}_fused"
    parts = [_fused_weights(layer.cell) for layer in layers]
    w, r, b = (np.stack([p[k] for p in parts]) for k in range(3))
    attrs = dict(
        hidden_size=cell.units,
        direction=direction,
        activations=_fused_activations(cell) * len(layers),
    )
    if kind == "GRUCell":
        # reset_after=True applies the reset gate after the recurrent product (bias inside).
        attrs["linear_before_reset"] = int(cell.reset_after)
    steps_first = g.op("Transpose", x.name, perm=[1, 0, 2])
    y, y_h = g.fresh(f"{name}_y"), g.fresh(f"{name}_y_h")
    outputs = [y, y_h] + ([g.fresh(f"{name}_y_c")] if kind == "LSTMCell" else [])
    g.nodes.append(
        helper.make_node(
            FUSED_OPS[kind],
            [steps_first, g.const(f"{name}_W", w), g.const(f"{name}_R", r),
             g.const(f"{name}_B", b)],
            outputs,
            **attrs,
        )
    )  # fmt: skip
    return y, y_h


def _masked_direction(g, layer, x: Tensor, backwards: bool, sequences: bool) -> str:
    """``layer`` over the steps ``x.mask`` keeps, as ONNX's own op: each row's kept steps
    gathered together in order (at the front, or at the back for a backward direction) and
    the op run over the batch's longest row only. Its outputs at the kept steps are then
    Keras's, which carries the state over masked steps. Returns the last state ``[batch,
    units]`` or the sequence ``[batch, steps, units]`` at the steps' own positions: zero at a
    masked step with ``zero_output_for_mask``, else the previous output (zero before any)."""
    steps = x.shape[0]
    keep = g.op("Cast", x.mask, to=TensorProto.INT64)  # [batch, steps]
    count = g.op("ReduceSum", keep, g.ints(1), keepdims=0)  # [batch]
    longest = g.op("Max", g.op("ReduceMax", count, keepdims=1), g.ints(1))  # [1], at least 1
    # TopK on distinct keys: kept steps first, in order (forward); masked first (backward).
    lift = g.op("Mul", g.op("Cast", x.mask, to=TensorProto.FLOAT), g.scalar(2.0 * steps))
    position = g.const(f"positions_{steps}", np.arange(steps, dtype=np.float32))
    key = g.op("Add" if backwards else "Sub", lift, position)
    order = g.fresh("order")
    g.nodes.append(helper.make_node(
        "TopK", [key, g.ints(steps)], [g.fresh("key"), order], axis=1, largest=int(not backwards)
    ))  # fmt: skip
    gathered = _take_steps(g, x.name, order)
    if backwards:
        start = g.op("Sub", g.ints(steps), longest)
        cut = g.op("Slice", gathered, start, g.ints(steps), g.ints(1))
    else:
        cut = g.op("Slice", gathered, g.ints(0), longest, g.ints(1))
    y, _ = run_fused(g, [layer], Tensor(cut, x.shape), "reverse" if backwards else "forward")
    outs = g.op("Transpose", g.op("Squeeze", y, g.ints(1)), perm=[1, 0, 2])  # [batch, n, units]
    # The op's row for a kept step of rank r (0-based): r at the front, n - count + r at
    # the back (n: the longest row).
    offset = g.op("Sub", longest, count) if backwards else None
    if sequences:
        rank = g.op(
            "Sub", g.op("CumSum", keep, g.const("axis_1", np.array(1, np.int64))), g.ints(1)
        )
        where = rank if offset is None else g.op("Add", rank, g.op("Unsqueeze", offset, g.ints(1)))
        shown = x.mask if _zero_output(layer) else g.op("Greater", rank, g.ints(-1))
    else:
        last = g.op("Sub", count, g.ints(1))
        where = g.op("Unsqueeze", last if offset is None else offset, g.ints(1))  # [batch, 1]
        shown = g.op("Greater", count, g.ints(0))  # [batch]: a row with no kept step: zeros
    within = g.op("Max", g.op("Min", where, g.op("Sub", longest, g.ints(1))), g.ints(0))
    picked = _take_steps(g, outs, within)
    if not sequences:
        picked = g.op("Squeeze", picked, g.ints(1))
    return g.op("Where", g.op("Unsqueeze", shown, g.ints(-1)), picked, g.scalar(0.0))


def _take_steps(g, x: str, steps: str) -> str:
    """``x [batch, n, width]`` at ``steps [batch, m]`` (each row's own), ``[batch, m,
    width]``: one Gather over the rows of all batches. (``GatherElements`` would do it, but
    the ONNX reference evaluator's takes at most 64 steps.)"""
    shape = g.op("Shape", x)
    rows = g.op("Gather", shape, g.const("i64_scalar_1", np.array(1, np.int64)), axis=0)
    batch = g.op("Gather", shape, g.const("i64_scalar_0", np.array(0, np.int64)), axis=0)
    first = g.op("Range", g.const("i64_scalar_0", np.array(0, np.int64)), batch,
                 g.const("i64_scalar_1", np.array(1, np.int64)))  # fmt: skip
    base = g.op("Unsqueeze", g.op("Mul", first, rows), g.ints(1))  # [batch, 1]
    flat = g.op(
        "Reshape", x, g.op("Concat", g.ints(-1), g.op("Slice", shape, g.ints(2), g.ints(3)), axis=0)
    )
    return g.op("Gather", flat, g.op("Add", steps, base), axis=0)


def _mask_fits(layers: list, sequences: bool) -> bool:
    """Whether ``_masked_direction`` computes Keras's masked outputs for ``layers``: a
    backward direction's sequence zero at masked steps, a last state not zeroed."""
    if sequences:
        return all(_zero_output(x) or not x.go_backwards for x in layers)
    return not any(_zero_output(x) for x in layers)


def _fused_direction(g, y: str, y_h: str, k: int, sequences: bool) -> str:
    """Direction ``k``'s outputs: ``[batch, steps, units]`` or its last state ``[batch,
    units]``."""
    if sequences:
        one = g.op("Squeeze", g.op("Slice", y, g.ints(k), g.ints(k + 1), g.ints(1)), g.ints(1))
        return g.op("Transpose", one, perm=[1, 0, 2])
    return g.op("Squeeze", g.op("Slice", y_h, g.ints(k), g.ints(k + 1), g.ints(0)), g.ints(0))


def _sequence(g, outputs: list[str]) -> str:
    return g.op("Concat", *(g.op("Unsqueeze", o, g.ints(1)) for o in outputs), axis=1)


def _zero_output(layer) -> bool:
    return bool(getattr(layer, "zero_output_for_mask", False))


#: Recurrent options that change what a layer computes, shown when set.
_SHOWN_FLAGS = ("return_sequences", "go_backwards")


def _describe_rnn(layer) -> str:
    cfg = layer.get_config()
    return with_activation(layer, layer.cell.units, *(f for f in _SHOWN_FLAGS if cfg.get(f)))


def _describe_bidirectional(layer) -> str:
    return f"Bidirectional({_describe_rnn(layer.forward_layer)}, {layer.merge_mode})"


@register(*RECURRENT_LAYERS[:3], problem=_rnn_problem, describe=_describe_rnn)
def rnn(g, layer, inputs):
    (x,) = inputs
    units = layer.cell.units
    seq = layer.return_sequences
    shape = (x.shape[0], units) if seq else (units,)
    # Keras returns a go_backwards layer's sequence in the order its steps ran; ONNX's
    # reverse direction, at its inputs' positions: that one case stays unrolled.
    fused = g.fused_rnn and fits_fused([layer], x) and not (layer.go_backwards and seq)
    if fused and x.mask is not None and _mask_fits([layer], seq):
        return Tensor(_masked_direction(g, layer, x, layer.go_backwards, seq), shape)
    if fused and x.mask is None:
        y, y_h = run_fused(g, [layer], x, "reverse" if layer.go_backwards else "forward")
        return Tensor(_fused_direction(g, y, y_h, 0, seq), shape)
    outputs, last = run_rnn(g, layer, x, _zero_output(layer))
    if layer.return_sequences:
        return Tensor(_sequence(g, outputs), (x.shape[0], units))
    return Tensor(last, (units,))


@register(RECURRENT_LAYERS[3], problem=_bidirectional_problem, describe=_describe_bidirectional)
def bidirectional(g, layer, inputs):
    (x,) = inputs
    fwd, bwd = layer.forward_layer, layer.backward_layer
    units = fwd.cell.units
    steps = (x.shape[0],) if layer.return_sequences else ()
    mode = layer.merge_mode
    fused = g.fused_rnn and fits_fused([fwd, bwd], x) and not fwd.go_backwards and bwd.go_backwards
    if fused and x.mask is not None and _mask_fits([fwd, bwd], layer.return_sequences):
        seq = layer.return_sequences
        a, b = (_masked_direction(g, d, x, d is bwd, seq) for d in (fwd, bwd))
    elif fused and x.mask is None:
        # ONNX's bidirectional op puts the backward outputs at their inputs' positions, as
        # Keras's Bidirectional does once it flips them.
        y, y_h = run_fused(g, [fwd, bwd], x, "bidirectional")
        if mode == "concat":
            # [steps, 2, batch, units] -> [batch, steps, 2 * units] (or the last states'
            # [2, batch, units] -> [batch, 2 * units]) in one layout change: no copy per
            # direction, no Concat.
            if layer.return_sequences:
                merged = g.op("Transpose", y, perm=[2, 0, 1, 3])
                shape = g.ints(0, 0, 2 * units)
            else:
                merged = g.op("Transpose", y_h, perm=[1, 0, 2])
                shape = g.ints(0, 2 * units)
            return Tensor(g.op("Reshape", merged, shape), (*steps, 2 * units))
        a, b = (_fused_direction(g, y, y_h, k, layer.return_sequences) for k in (0, 1))
    else:
        f_out, f_last = run_rnn(g, fwd, x, _zero_output(fwd))
        b_out, b_last = run_rnn(g, bwd, x, _zero_output(bwd))
        if layer.return_sequences:
            # Keras flips the backward layer's outputs (which come in the order its steps ran).
            a, b = _sequence(g, f_out), _sequence(g, b_out[::-1])
        else:
            a, b = f_last, b_last
    if mode == "concat":
        y, width = g.op("Concat", a, b, axis=-1), 2 * units
    elif mode == "sum":
        y, width = g.op("Add", a, b), units
    elif mode == "mul":
        y, width = g.op("Mul", a, b), units
    else:
        y, width = g.op("Mul", g.op("Add", a, b), g.scalar(0.5)), units
    return Tensor(y, (*steps, width))
