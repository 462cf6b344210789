"""``rnnkit import``: users' Keras models, one per layer family and mask case, imported from
files the tests write, exported, and scored from raw text within 1e-5 of Keras on every
runtime (onnxruntime, the ONNX reference evaluator, LiteRT, onnxruntime-web)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("tensorflow", reason="needs the [train] extra")

import keras  # noqa: E402
from keras import layers as L  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.cli import main  # noqa: E402
from rnnkit.exporter.export import export_bundle  # noqa: E402
from rnnkit.runtime.model.bundle import Bundle  # noqa: E402
from rnnkit.runtime.text.tokenizer import Tokenizer  # noqa: E402

VOCAB, MAXLEN = 300, 16
JS = Path(__file__).resolve().parent / "js"


def _seq(*stack):
    return keras.Sequential([keras.Input((MAXLEN,), dtype="int32"), *stack])


def _functional_conv():
    x = keras.Input((MAXLEN,), dtype="int32")
    e = L.Embedding(VOCAB, 8)(x)
    a = L.Conv1D(6, 3, padding="same", activation="relu")(e)
    a = L.MaxPooling1D(2)(a)
    a = L.Conv1D(5, 3, strides=2, dilation_rate=1)(a)
    b = L.Conv1D(5, 2, dilation_rate=2, padding="causal", activation="tanh")(e)
    # b, max-pooled straight from the embedding, reads only the columns holding words
    # (exporter/trim.py): every runtime checks the cut here.
    merged = L.Concatenate()([L.GlobalAveragePooling1D()(a), L.GlobalMaxPooling1D()(b)])
    y = L.Dense(4, activation="relu")(L.BatchNormalization()(merged))
    return keras.Model(x, L.Dense(1, activation="sigmoid")(L.Dropout(0.2)(y)))


def _functional_logits():
    """A functional logits model: TFLite's unrolled clone once crashed on its input list."""
    x = keras.Input((MAXLEN,), dtype="int32")
    h = L.Bidirectional(L.GRU(3))(L.Embedding(VOCAB, 6, mask_zero=True)(x))
    return keras.Model(x, L.Dense(3)(h))


#: name -> (model factory, import options). Each is one layer family or mask case.
FAMILIES = {
    # The seed tutorial's shape: Embedding -> SimpleRNN -> Dense(sigmoid).
    "simple-rnn": (lambda: _seq(L.Embedding(VOCAB, 8), L.SimpleRNN(6), L.Dense(1, activation="sigmoid")), {}),
    "lstm-masked": (lambda: _seq(L.Embedding(VOCAB, 8, mask_zero=True), L.LSTM(6), L.Dense(1, activation="sigmoid")), {}),
    "gru-masked-stacked-backwards": (lambda: _seq(
        L.Embedding(VOCAB, 8, mask_zero=True), L.GRU(5, return_sequences=True, go_backwards=True),
        L.GRU(4, reset_after=False, use_bias=False), L.Dense(1, activation="sigmoid")), {}),
    "bilstm-masked-sum": (lambda: _seq(
        L.Embedding(VOCAB, 8, mask_zero=True), L.Bidirectional(L.LSTM(4), merge_mode="sum"),
        L.Dense(1, activation="sigmoid")), {}),
    "bigru-max-ave": (lambda: _seq(
        L.Embedding(VOCAB, 8), L.SpatialDropout1D(0.2),
        L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="ave"),
        L.GlobalMaxPooling1D(), L.LayerNormalization(), L.Dense(1, activation="sigmoid")), {}),
    "conv1d-functional": (_functional_conv, {}),
    "three-class-softmax": (lambda: _seq(
        L.Embedding(VOCAB, 8, mask_zero=True), L.Bidirectional(L.SimpleRNN(4), merge_mode="mul"),
        L.Dense(6, activation="gelu"), L.Dense(3, activation="softmax")), {"labels": "low,mid,high"}),
    "gru-logits": (lambda: _seq(L.Embedding(VOCAB, 8), L.GRU(4), L.Dense(1)), {"logits": "sigmoid"}),
    "functional-softmax-logits": (_functional_logits, {"logits": "softmax", "labels": "a,b,c"}),
    # Keras's tutorials wrap a trained logits model: Sequential([model, Activation]).
    # Keras's own unrolled loop (what TFLite converts) used to get this one wrong.
    "masked-bidirectional-sequences": (lambda: _seq(
        L.Embedding(VOCAB, 6, mask_zero=True), L.Bidirectional(L.GRU(4, return_sequences=True)),
        L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="ave"),
        L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")), {}),
    # Local pooling both ways (TF's "same" pads at the end and leaves the padding out of
    # averages), then Flatten: a fixed-length Conv1D classifier.
    "conv-pool-flatten": (lambda: _seq(
        L.Embedding(VOCAB, 8), L.Conv1D(6, 3, activation="relu"),
        L.AveragePooling1D(3, strides=2, padding="same"), L.MaxPooling1D(2, padding="same"),
        L.AveragePooling1D(2), L.Flatten(), L.Activation("tanh"),
        L.Dense(1, activation="sigmoid")), {}),
    "nested-model": (lambda: _seq(_seq(
        L.Embedding(VOCAB, 8, mask_zero=True), L.LSTM(5), L.Dense(1)), L.Activation("sigmoid")), {}),
}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(imdb_texts):
    texts = imdb_texts[:300]
    return texts, Tokenizer.fit(texts, VOCAB, MAXLEN)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, corpus):
    path = tmp_path_factory.mktemp("import")
    corpus[1].save(path / "tok.json")
    pd = pytest.importorskip("pandas")
    pd.DataFrame({"text": corpus[0][:120]}).to_csv(path / "sample.csv", index=False)
    return path


def _import(workdir, name, **options):
    from rnnkit.importer.run import import_model
    from rnnkit.importer.tokenizers import RnnkitChoice

    keras.utils.set_random_seed(7)
    factory, opts = FAMILIES[name]
    model = factory()
    model.save(workdir / f"{name}.keras")
    out = workdir / name
    import_model(
        workdir / f"{name}.keras", out, RnnkitChoice(str(workdir / "tok.json")),
        sample=str(workdir / "sample.csv"), echo=lambda s: None, **{**opts, **options},
    )  # fmt: skip
    return out, model


@pytest.fixture(scope="module")
def imported(workdir):
    done = {}

    def get(name):
        if name not in done:
            out, model = _import(workdir, name)
            export_bundle(out, ("onnx", "tflite"), echo=lambda s: None)
            done[name] = out, model
        return done[name]

    return get


EDGE_TEXTS = ["", "zzqx unknownword", "!!!", "Great film. " * 40, "a"]


@pytest.mark.parametrize("name", list(FAMILIES))
def test_an_imported_model_scores_raw_text_like_keras_on_every_runtime(name, imported, corpus):
    out, model = imported(name)
    texts = corpus[0][:40] + EDGE_TEXTS
    ids = corpus[1].encode(texts)
    keras_out = keras.models.load_model(out / "model.keras").predict(ids, verbose=0)
    sig = Bundle.open(out).signature
    for backend in ("onnx", "tflite"):
        got = rnnkit.load(out, backend=backend).predict(texts)
        got = got.reshape(len(texts), -1)
        scored = ~np.isnan(got).all(axis=1)
        assert np.abs(got[scored] - keras_out[scored]).max() <= 1e-5, (name, backend)
    from onnx.reference import ReferenceEvaluator

    ref = ReferenceEvaluator(str(out / "model.onnx")).run(None, {"token_ids": ids})[0]
    np.testing.assert_allclose(ref, keras_out, rtol=0, atol=1e-5)  # NaN where Keras has NaN
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["origin"] == "imported"
    # ONNX's own recurrent ops wherever a recurrent layer is (masked or not).
    fusable = name not in ("conv1d-functional", "conv-pool-flatten")
    graph_form = manifest["formats"]["onnx"]["fp32"]["graph_form"]
    assert graph_form == ("layers-fused" if fusable else "layers"), graph_form
    if name == "gru-masked-stacked-backwards":  # what changes a layer's meaning is shown
        assert (
            "mask_zero) -> GRU(5, tanh, return_sequences, go_backwards) -> GRU(4, tanh)"
            in (manifest["model"]["architecture"])
        )
    if name == "gru-logits":  # the sigmoid is part of every exported graph
        assert sig.output.kind == "binary" and manifest["model"]["appended_activation"] == "sigmoid"


def test_a_three_class_model_writes_class_columns_and_counts(imported, tmp_path):
    out, _ = imported("three-class-softmax")
    src = tmp_path / "in.csv"
    src.write_text('text\n"a wonderful, moving film"\n""\n"dull and far too long"\n')
    result = CliRunner().invoke(
        main, ["score", str(src), "--model", str(out), "-o", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 0, result.output
    import pandas as pd

    frame = pd.read_csv(tmp_path / "o.csv")
    assert {"p_low", "p_mid", "p_high", "label", "probability"} <= set(frame.columns)
    row = frame.iloc[0]
    probs = row[["p_low", "p_mid", "p_high"]].astype(float)
    assert (
        abs(probs.sum() - 1) < 1e-5
        and row["label"] == ["low", "mid", "high"][int(np.argmax(probs))]
    )
    assert frame["status"].tolist() == ["ok", "empty_text", "ok"]


def test_a_fully_padded_row_with_a_masked_average_gets_its_own_status(workdir, tmp_path):
    """Keras itself says NaN for a masked average over no step: no invented score."""
    FAMILIES["masked-average"] = (lambda: _seq(
        L.Embedding(VOCAB, 8, mask_zero=True), L.GRU(4, return_sequences=True),
        L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")), {})  # fmt: skip
    out, model = _import(workdir, "masked-average")
    export_bundle(out, ("onnx",), echo=lambda s: None)
    # "zzqx" is out of the vocabulary: id 1, which the mask keeps; only padding is masked.
    probs = rnnkit.load(out).predict(["a fine film", "zzqx"])
    assert not np.isnan(probs).any()
    scorer = rnnkit.load(out)
    import pyarrow as pa

    ids = np.zeros((1, MAXLEN), np.int32)
    assert np.isnan(model.predict(ids, verbose=0)).all()  # Keras: no number
    assert np.isnan(scorer.predict_ids(ids)).all()
    _, status, _ = scorer.score_arrow(pa.array(["a fine film"]))
    assert status.tolist() == [0]


# conv1d-functional and bigru-max-ave: the padding cuts (exporter/trim.py) on a second runtime
@pytest.mark.parametrize(
    "name", ["three-class-softmax", "lstm-masked", "conv1d-functional", "bigru-max-ave"]
)
def test_onnxruntime_web_agrees_on_imported_models(name, imported, corpus):
    if shutil.which("node") is None or not (JS / "node_modules" / "onnxruntime-web").is_dir():
        pytest.fail("CI must install tests/js (npm ci) and node; see .ci/run")
    out, _ = imported(name)
    ids = corpus[1].encode(corpus[0][:20] + EDGE_TEXTS)
    expected = keras.models.load_model(out / "model.keras").predict(ids, verbose=0)
    path = out / "ids.bin"
    ids.astype("<i4").tofile(path)
    proc = subprocess.run(
        ["node", str(JS / "run_onnx.mjs"), str(out / "model.onnx"), str(path), str(len(ids)), str(MAXLEN)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = np.array(json.loads(proc.stdout), dtype=np.float64).reshape(len(ids), -1)
    assert np.abs(got - expected).max() <= 1e-5


# -- refusals: one clear line, exit 1, nothing written ------------------------------------


def _refused(workdir, tmp_path, model, *extra):
    path = tmp_path / "model.keras"
    model.save(path)
    out = tmp_path / "bundle"
    args = ["import", str(path), "--tokenizer", str(workdir / "tok.json"), "-o", str(out), *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and not out.exists()
    assert not list(tmp_path.glob(".bundle.*"))  # no half-written temp folder either
    return result.output


def test_a_lambda_layer_is_refused_by_name_before_keras_reads_it(workdir, tmp_path):
    model = _seq(L.Embedding(VOCAB, 4), L.Lambda(lambda t: t * 2, name="doubler"), L.GlobalMaxPooling1D(),
                 L.Dense(1, activation="sigmoid"))  # fmt: skip
    out = _refused(workdir, tmp_path, model)
    assert "'doubler' is a Lambda layer" in out


def test_an_unsupported_layer_is_refused_naming_it_and_its_position(workdir, tmp_path):
    model = _seq(
        L.Embedding(VOCAB, 4),
        L.Reshape((MAXLEN * 4,), name="reshaper"),
        L.Dense(1, activation="sigmoid"),
    )
    out = _refused(workdir, tmp_path, model)
    assert "'reshaper'" in out and "Reshape" in out and "supported:" in out


def test_logits_without_the_logits_option_are_refused_naming_it(workdir, tmp_path):
    out = _refused(workdir, tmp_path, _seq(L.Embedding(VOCAB, 4), L.GRU(3), L.Dense(1)))
    assert "--logits sigmoid" in out


def test_a_tokenizer_beyond_the_embedding_is_refused(workdir, tmp_path):
    model = _seq(L.Embedding(VOCAB - 50, 4), L.SimpleRNN(3), L.Dense(1, activation="sigmoid"))
    out = _refused(workdir, tmp_path, model)
    assert "input_dim 250" in out


def test_a_multilabel_output_is_refused(workdir, tmp_path):
    out = _refused(
        workdir, tmp_path, _seq(L.Embedding(VOCAB, 4), L.GRU(3), L.Dense(3, activation="sigmoid"))
    )
    assert "multi-label" in out


def test_a_savedmodel_folder_gets_the_way_to_a_keras_file(workdir, tmp_path):
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    result = CliRunner().invoke(
        main,
        [
            "import",
            str(folder),
            "--tokenizer",
            str(workdir / "tok.json"),
            "-o",
            str(tmp_path / "b"),
        ],
    )
    assert result.exit_code == 1 and "model.save('model.keras')" in result.output


def test_the_card_says_where_an_imported_model_came_from(imported):
    out, _ = imported("simple-rnn")
    result = CliRunner().invoke(main, ["info", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        "rnnkit did not train this model" in result.output and "simple-rnn.keras" in result.output
    )


def test_registry_masks_match_keras_on_pre_and_post_padding():
    """Masks on either side, fully padded rows, through Bidirectional and pooling: the
    classic converter failures, on ids directly (both ONNX runtimes)."""
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    from rnnkit.exporter.keras_graph import to_onnx

    rng = np.random.default_rng(0)
    ids = rng.integers(1, VOCAB, (48, MAXLEN)).astype(np.int32)
    for r in range(32):
        n = int(rng.integers(0, MAXLEN + 1))
        if r % 2:
            ids[r, : MAXLEN - n] = 0  # pre-padding
        else:
            ids[r, n:] = 0  # post-padding
    keras.utils.set_random_seed(3)
    model = _seq(
        L.Embedding(VOCAB, 6, mask_zero=True),
        L.Bidirectional(L.LSTM(4, return_sequences=True, go_backwards=False)),
        L.GRU(3, return_sequences=True, reset_after=False),
        L.GlobalAveragePooling1D(),
        L.Dense(2, activation="softmax"),
    )
    expected = model.predict(ids, verbose=0)
    onnx_model = to_onnx(model, MAXLEN, 2)
    got = ort.InferenceSession(onnx_model.SerializeToString()).run(None, {"token_ids": ids})[0]
    ref = ReferenceEvaluator(onnx_model).run(None, {"token_ids": ids})[0]
    for out in (got, ref):
        assert np.array_equal(np.isnan(out), np.isnan(expected))
        assert np.nanmax(np.abs(out - expected)) <= 1e-5


FUSED_CASES = {
    "bigru-concat": lambda: [L.Bidirectional(L.GRU(4))],
    "bigru-concat, sequences": lambda: [
        L.Bidirectional(L.GRU(4, return_sequences=True)),
        L.GlobalMaxPooling1D(),
    ],
    "gru-reset-before, sequences": lambda: [
        L.GRU(4, reset_after=False, return_sequences=True),
        L.GlobalMaxPooling1D(),
    ],
    "bilstm-sum, sequences, then lstm": lambda: [
        L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="sum"),
        L.LSTM(3),
    ],
    "bisimplernn-ave": lambda: [L.Bidirectional(L.SimpleRNN(4), "ave")],
    "relu simplernn (stays unrolled)": lambda: [L.SimpleRNN(4, activation="relu")],
    "backwards gru, last": lambda: [L.GRU(4, go_backwards=True)],
    "backwards lstm, sequences (stays unrolled)": lambda: [
        L.LSTM(4, go_backwards=True, return_sequences=True),
        L.GlobalAveragePooling1D(),
    ],
    "conv then bigru-mul, no bias": lambda: [
        L.Conv1D(5, 3, padding="same", activation="relu"),
        L.Bidirectional(L.GRU(4, use_bias=False), merge_mode="mul"),
    ],
}


@pytest.mark.parametrize("case", sorted(FUSED_CASES))
def test_the_fused_form_computes_what_keras_computes(case):
    """ONNX's own RNN/GRU/LSTM ops (the layers-fused form) against Keras, on both ONNX
    runtimes: gate orders, biases, directions, merge modes and sequences."""
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    from rnnkit.exporter.keras_graph import to_onnx

    ids = np.random.default_rng(1).integers(0, VOCAB, (40, MAXLEN)).astype(np.int32)
    keras.utils.set_random_seed(5)
    model = _seq(L.Embedding(VOCAB, 6), *FUSED_CASES[case](), L.Dense(1, activation="sigmoid"))
    expected = model.predict(ids, verbose=0)
    fused = to_onnx(model, MAXLEN, 1, fused_rnn=True)
    fused_ops = {n.op_type for n in fused.graph.node} & {"RNN", "GRU", "LSTM"}
    assert bool(fused_ops) != ("stays unrolled" in case), fused_ops
    got = ort.InferenceSession(fused.SerializeToString()).run(None, {"token_ids": ids})[0]
    ref = ReferenceEvaluator(fused).run(None, {"token_ids": ids})[0]
    for out in (got, ref):
        assert np.abs(out - expected).max() <= 1e-5


MASKED_CASES = {
    "lstm, last": lambda: [L.LSTM(4)],
    "gru, sequences (carried), masked average": lambda: [
        L.GRU(4, return_sequences=True),
        L.GlobalAveragePooling1D(),
    ],
    "backwards gru, last": lambda: [L.GRU(4, go_backwards=True)],
    "keras.io's bilstm twice": lambda: [
        L.Bidirectional(L.LSTM(4, return_sequences=True)),
        L.Bidirectional(L.LSTM(3)),
    ],
    "bisimplernn-sum, last": lambda: [L.Bidirectional(L.SimpleRNN(4), "sum")],
    "bigru-ave, sequences (zeroed), masked average": lambda: [
        L.Bidirectional(L.GRU(4, return_sequences=True), "ave"),
        L.GlobalAveragePooling1D(),
    ],
    "gru reset before, stacked": lambda: [
        L.GRU(5, return_sequences=True, reset_after=False),
        L.GRU(3),
    ],
}


def _masked_rows() -> np.ndarray:
    """Words at the front, at the back, padding between words, no word at all."""
    rng = np.random.default_rng(2)
    rows = []
    for n in (0, 1, 3, 8, MAXLEN):
        words = rng.integers(1, VOCAB, n)
        rows += [np.pad(words, (MAXLEN - n, 0)), np.pad(words, (0, MAXLEN - n))]
    between = rng.integers(1, VOCAB, MAXLEN)
    between[4:9] = 0
    return np.array([*rows, between], dtype=np.int32)


@pytest.mark.parametrize("case", sorted(MASKED_CASES))
def test_a_masked_recurrent_layer_is_fused_and_computes_what_keras_computes(case):
    """A masked layer as ONNX's own op over each row's kept steps gathered together: Keras's
    outputs for every kind of row, in a batch and alone, on both ONNX runtimes."""
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    from rnnkit.exporter.keras_graph import to_onnx

    keras.utils.set_random_seed(5)
    model = _seq(
        L.Embedding(VOCAB, 6, mask_zero=True),
        *MASKED_CASES[case](),
        L.Dense(1, activation="sigmoid"),
    )
    rows = _masked_rows()
    expected = model.predict(rows, verbose=0)
    fused = to_onnx(model, MAXLEN, 1, fused_rnn=True)
    assert {n.op_type for n in fused.graph.node} & {"RNN", "GRU", "LSTM"}
    session = ort.InferenceSession(fused.SerializeToString())
    batch = session.run(None, {"token_ids": rows})[0]
    alone = np.concatenate([session.run(None, {"token_ids": r[None]})[0] for r in rows])
    ref = ReferenceEvaluator(fused).run(None, {"token_ids": rows})[0]
    for out in (batch, alone, ref):
        assert np.array_equal(np.isnan(out), np.isnan(expected))
        assert np.nanmax(np.abs(out - expected)) <= 1e-5


# -- untrusted files: a clear error, never a crash or a hang (issue 22, item 3) ------------


@pytest.mark.parametrize(
    "option, content",
    [
        ("--keras-tokenizer", b"not json at all"),
        ("--keras-tokenizer", b"[" * 100_000 + b"]" * 100_000),  # a nesting bomb
        ("--keras-tokenizer", b'{"class_name": "Tokenizer", "config": "x"}'),
        (
            "--keras-tokenizer",
            b'{"class_name": "Tokenizer", "config": {"word_index": "{\\"a\\": 1.5}"}}',
        ),
        (
            "--keras-tokenizer",
            b'{"class_name": "Tokenizer", "config": {"filters": 7, "word_index": {}}}',
        ),
        ("--imdb-word-index", b'{"the": "1"}'),
        ("--imdb-word-index", b'{"' + b"w" * 70_000 + b'": 1}'),
        ("--imdb-word-index", b"\xff\xfe broken utf-8"),
    ],
)
def test_a_bad_tokenizer_file_is_one_clear_line(workdir, tmp_path, option, content):
    model = _seq(L.Embedding(VOCAB, 4), L.SimpleRNN(3), L.Dense(1, activation="sigmoid"))
    path = tmp_path / "tok.json"
    path.write_bytes(content)
    model.save(tmp_path / "m.keras")
    out = tmp_path / "bundle"
    args = [
        "import",
        str(tmp_path / "m.keras"),
        option,
        str(path),
        "--maxlen",
        str(MAXLEN),
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and str(path) in result.output and not out.exists()
    assert len(result.output.strip().splitlines()) <= 2


@pytest.mark.parametrize(
    "content",
    [b"", b"PK\x03\x04 truncated zip", b"\x89HDF\r\n\x1a\n garbage", b"random bytes " * 10],
)
def test_a_bad_model_file_is_one_clear_line(workdir, tmp_path, content):
    path = tmp_path / "m.keras"
    path.write_bytes(content)
    out = tmp_path / "bundle"
    result = CliRunner().invoke(
        main, ["import", str(path), "--tokenizer", str(workdir / "tok.json"), "-o", str(out)]
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "m.keras" in result.output and not out.exists()


def test_a_legacy_h5_file_imports_and_its_lambda_is_refused_before_loading(workdir, tmp_path):
    from rnnkit.importer.model_file import load_model

    keras.utils.set_random_seed(5)
    model = _seq(L.Embedding(VOCAB, 4, mask_zero=True), L.LSTM(3), L.Dense(1, activation="sigmoid"))
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    ids = np.random.default_rng(0).integers(0, VOCAB, (8, MAXLEN)).astype(np.int32)
    assert np.abs(loaded.predict(ids, verbose=0) - model.predict(ids, verbose=0)).max() == 0
    unsafe = _seq(L.Embedding(VOCAB, 4), L.Lambda(lambda t: t + 1, name="plus_one"),
                  L.GlobalMaxPooling1D(), L.Dense(1, activation="sigmoid"))  # fmt: skip
    unsafe.save(tmp_path / "unsafe.h5")
    out = tmp_path / "b"
    args = [
        "import",
        str(tmp_path / "unsafe.h5"),
        "--tokenizer",
        str(workdir / "tok.json"),
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "'plus_one' is a Lambda layer" in result.output
