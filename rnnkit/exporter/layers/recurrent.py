"""SimpleRNN, LSTM and GRU (alone or inside Bidirectional), unrolled step by step.

Masking follows Keras's own loop (``keras/src/backend/tensorflow/rnn.py``): at a masked step
the state is carried unchanged and the output repeats the previous one (zeros before any
kept step), or is zero with ``zero_output_for_mask`` (Bidirectional sets it when it returns
sequences). So pre- and post-padding, fully padded rows and both directions all follow the
same rule; ONNX's ``sequence_lens``, which assumes the kept steps come first, is not used.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from .registry import Tensor, activate, activation_problem, register, weight

MERGE_MODES = ("concat", "sum", "ave", "mul")


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


def _sequence(g, outputs: list[str]) -> str:
    return g.op("Concat", *(g.op("Unsqueeze", o, g.ints(1)) for o in outputs), axis=1)


def _zero_output(layer) -> bool:
    return bool(getattr(layer, "zero_output_for_mask", False))


@register("SimpleRNN", "LSTM", "GRU", problem=_rnn_problem)
def rnn(g, layer, inputs):
    (x,) = inputs
    outputs, last = run_rnn(g, layer, x, _zero_output(layer))
    units = layer.cell.units
    if layer.return_sequences:
        return Tensor(_sequence(g, outputs), (x.shape[0], units))
    return Tensor(last, (units,))


@register("Bidirectional", problem=_bidirectional_problem)
def bidirectional(g, layer, inputs):
    (x,) = inputs
    fwd, bwd = layer.forward_layer, layer.backward_layer
    f_out, f_last = run_rnn(g, fwd, x, _zero_output(fwd))
    b_out, b_last = run_rnn(g, bwd, x, _zero_output(bwd))
    units = fwd.cell.units
    if layer.return_sequences:
        # Keras flips the backward layer's outputs (which come in the order its steps ran).
        a, b = _sequence(g, f_out), _sequence(g, b_out[::-1])
        steps = (x.shape[0],)
    else:
        a, b, steps = f_last, b_last, ()
    mode = layer.merge_mode
    if mode == "concat":
        y, width = g.op("Concat", a, b, axis=-1), 2 * units
    elif mode == "sum":
        y, width = g.op("Add", a, b), units
    elif mode == "mul":
        y, width = g.op("Mul", a, b), units
    else:
        y, width = g.op("Mul", g.op("Add", a, b), g.scalar(0.5)), units
    return Tensor(y, (*steps, width))
