"""The padding cut (``exporter/trim.py``): a convolution max-pooled over time reads only the
columns holding words, a recurrent layer's forward direction starts at the batch's first
word, and the model still computes what Keras computes, for every kind of row: padded at
the front or the back, empty, full, with padding ids in the middle, alone or in a batch of
other lengths."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="needs the [train] extra")

import keras  # noqa: E402
from keras import layers as L  # noqa: E402

from rnnkit.exporter.keras_graph import to_onnx  # noqa: E402
from rnnkit.exporter.onnx_export import convert  # noqa: E402
from rnnkit.runtime.model.backends import INPUT_NAME  # noqa: E402

VOCAB, MAXLEN = 60, 40

#: name -> (conv branch layers, whether the pass cuts it)
CASES = {
    "valid": (lambda: [L.Conv1D(6, 3, activation="relu"), L.GlobalMaxPooling1D()], True),
    "same, dilated": (
        lambda: [L.Conv1D(6, 3, padding="same", dilation_rate=2), L.GlobalMaxPooling1D()],
        True,
    ),
    "causal, stacked, activation layer": (
        lambda: [
            L.Conv1D(6, 2, padding="causal", activation="tanh"),
            L.Conv1D(5, 3, padding="same"),
            L.Activation("sigmoid"),
            L.GlobalMaxPooling1D(),
        ],
        True,
    ),
    "strided (not cut)": (lambda: [L.Conv1D(6, 3, strides=2), L.GlobalMaxPooling1D()], False),
    "averaged (not cut)": (lambda: [L.Conv1D(6, 3), L.GlobalAveragePooling1D()], False),
}


#: name -> (recurrent layers, how many recurrent ops the pass cuts)
RECURRENT = {
    "bigru, sequences, max-pooled": (
        lambda: [L.Bidirectional(L.GRU(4, return_sequences=True)), L.GlobalMaxPooling1D()],
        1,
    ),
    "keras.io's bilstm twice (the second reads both directions: not cut)": (
        lambda: [L.Bidirectional(L.LSTM(4, return_sequences=True)), L.Bidirectional(L.LSTM(3))],
        1,
    ),
    "gru, last state, reset before": (lambda: [L.GRU(4, reset_after=False)], 1),
    "simplernn both ways, summed": (lambda: [L.Bidirectional(L.SimpleRNN(4), "sum")], 1),
    "lstm after a convolution (not cut)": (
        lambda: [L.Conv1D(4, 3, padding="same"), L.LSTM(3)],
        0,
    ),
    "backwards gru (not cut)": (lambda: [L.GRU(4, go_backwards=True)], 0),
}


def _model(conv_branch, recurrent=None):
    keras.utils.set_random_seed(3)
    ids = keras.Input((MAXLEN,), dtype="int32")
    embedded = L.Embedding(VOCAB, 8)(ids)
    x = embedded
    for layer in conv_branch:
        x = layer(x)
    beside = embedded  # reads every step, padding included
    for layer in recurrent or [L.Bidirectional(L.GRU(4))]:
        beside = layer(beside)
    if not conv_branch:
        return keras.Model(ids, L.Dense(1, activation="sigmoid")(beside))
    out = L.Dense(1, activation="sigmoid")(L.Concatenate()([x, beside]))
    return keras.Model(ids, out)


def _rows() -> np.ndarray:
    rng = np.random.default_rng(7)
    rows = []
    for length in (0, 1, 2, 5, 12, 25, MAXLEN):
        words = rng.integers(1, VOCAB, length)
        rows.append(np.pad(words, (MAXLEN - length, 0)))  # at the front (rnnkit's own)
        rows.append(np.pad(words, (0, MAXLEN - length)))  # at the back (TextVectorization)
    middle = rng.integers(1, VOCAB, MAXLEN)
    middle[10:30] = 0  # padding ids between words
    rows.append(middle)
    return np.array(rows, dtype=np.int32)


def _cuts(model) -> int:
    return sum(1 for n in model.graph.node if n.op_type == "Slice" and INPUT_NAME in n.input)


def _recurrent_cuts(model) -> int:
    sliced = {n.output[0] for n in model.graph.node if n.op_type == "Slice"}
    return sum(
        1 for n in model.graph.node if n.op_type in ("RNN", "GRU", "LSTM") and n.input[0] in sliced
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_max_pooled_convolution_reads_only_the_words_and_keeps_keras_outputs(case):
    branch, cut = CASES[case]
    model = _model(branch())
    trimmed = convert("layers-fused", model, None, MAXLEN, 1)
    assert _cuts(trimmed) == int(cut)
    _same_as_keras_and_uncut(model, trimmed)


@pytest.mark.parametrize("case", sorted(RECURRENT))
def test_a_recurrent_layers_forward_direction_starts_at_the_first_word(case):
    layers, cuts = RECURRENT[case]
    model = _model([], layers())
    trimmed = convert("layers-fused", model, None, MAXLEN, 1)
    assert _recurrent_cuts(trimmed) == cuts
    _same_as_keras_and_uncut(model, trimmed)


def _same_as_keras_and_uncut(model, trimmed) -> None:
    """The cut graph on onnxruntime against Keras, for the rows in one batch and alone, and
    against the graph without the cut."""
    import onnxruntime as ort

    rows = _rows()
    expected = model.predict(rows, verbose=0)
    uncut = to_onnx(model, MAXLEN, 1, fused_rnn=True)
    assert _cuts(uncut) == _recurrent_cuts(uncut) == 0
    sessions = [ort.InferenceSession(m.SerializeToString()) for m in (trimmed, uncut)]
    for session in sessions:
        batch = session.run(None, {INPUT_NAME: rows})[0]
        alone = np.concatenate([session.run(None, {INPUT_NAME: r[None]})[0] for r in rows])
        # in a batch the cut is the batch's; alone, each row's own
        for got in (batch, alone):
            assert np.abs(got - expected).max() <= 1e-5
    # the cut changes no output: the same windows are maximised
    a, b = (s.run(None, {INPUT_NAME: rows[::2]})[0] for s in sessions)
    assert np.abs(a - b).max() <= 1e-6


def test_the_cuts_run_on_the_onnx_reference_evaluator():
    """The cuts' ops (ArgMax, a reversed Slice, Expand of an empty history) as the ONNX spec
    defines them: both cuts in one graph, the reference evaluator against Keras."""
    from onnx.reference import ReferenceEvaluator

    model = _model(CASES["valid"][0](), RECURRENT["bigru, sequences, max-pooled"][0]())
    rows = _rows()
    trimmed = convert("layers-fused", model, None, MAXLEN, 1)
    assert _cuts(trimmed) == _recurrent_cuts(trimmed) == 1
    evaluator = ReferenceEvaluator(trimmed)
    for batch in (rows, rows[-1:], rows[:1]):  # a full row: nothing to cut; padding alone
        got = evaluator.run(None, {INPUT_NAME: batch})[0]
        assert np.abs(got - model.predict(batch, verbose=0)).max() <= 1e-5


def test_weight_only_int8_leaves_the_padding_states_in_fp32():
    """The int8 variant quantizes the tables gathered by token ids (the embedding, also
    through the cut ids), never the padding-state tables the cut gathers by a step number."""
    import onnxruntime as ort
    from onnx import numpy_helper

    from rnnkit.exporter.onnx_export import quantize_weights_int8

    model = _model(CASES["valid"][0](), RECURRENT["bigru, sequences, max-pooled"][0]())
    trimmed = convert("layers-fused", model, None, MAXLEN, 1)
    quantized = quantize_weights_int8(trimmed)
    dtypes = {t.name: numpy_helper.to_array(t).dtype for t in quantized.graph.initializer}
    states = [
        n.input[0]
        for n in quantized.graph.node
        if n.op_type == "Gather" and n.input[0].startswith("trim_state")
    ]
    assert states and all(dtypes[s] == np.float32 for s in states)
    assert any(name.endswith("_int8") and dtype == np.int8 for name, dtype in dtypes.items())
    rows = _rows()
    got = ort.InferenceSession(quantized.SerializeToString()).run(None, {INPUT_NAME: rows})[0]
    assert np.abs(got - model.predict(rows, verbose=0)).max() <= 0.05  # int8 embedding only
