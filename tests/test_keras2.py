"""Keras 2 ``.h5`` files, written here by tf_keras as users of TensorFlow <= 2.15 saved them,
imported, exported to ONNX and TFLite, and scored from raw text on the light side within
1e-5 of Keras 2's own predictions (onnxruntime, LiteRT, the ONNX reference evaluator in the
export gate, and onnxruntime-web)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("tensorflow", reason="needs the [train] extra")
tfk = pytest.importorskip("tf_keras", reason="Keras 2: pip install --no-deps tf-keras")

import rnnkit  # noqa: E402
from rnnkit.cli import main  # noqa: E402
from rnnkit.runtime.text.tokenizer import Tokenizer  # noqa: E402

L = tfk.layers
VOCAB, MAXLEN = 300, 20
JS = Path(__file__).resolve().parent / "js"


def _seq(*stack):
    return tfk.Sequential([L.Embedding(VOCAB, 8, input_length=MAXLEN), *stack])


def _functional():
    x = tfk.Input((MAXLEN,), dtype="int32")
    e = L.Embedding(VOCAB, 8, mask_zero=True)(x)
    a = L.GlobalMaxPooling1D()(L.Conv1D(4, 3, activation="relu")(e))
    b = L.Bidirectional(L.LSTM(3))(e)
    return tfk.Model(x, L.Dense(1, activation="sigmoid")(L.Concatenate()([a, b])))


#: name -> (Keras 2 model factory, vocabulary, maxlen). The seed tutorial's model is as
#: its tutorial writes it.
FAMILIES = {
    "seed-tutorial": (lambda: tfk.Sequential([
        L.Embedding(10000, 32, input_length=100), L.SimpleRNN(32, activation="relu"),
        L.Dense(16, activation="relu"), L.Dropout(0.5), L.Dense(1, activation="sigmoid")]),
        10000, 100),
    "lstm": (lambda: _seq(L.LSTM(6), L.Dense(1, activation="sigmoid")), VOCAB, MAXLEN),
    "gru-reset-after": (lambda: _seq(L.GRU(5), L.Dense(1, activation="sigmoid")), VOCAB, MAXLEN),
    "gru-reset-before": (lambda: _seq(L.GRU(5, reset_after=False), L.Dense(1, activation="sigmoid")),
                         VOCAB, MAXLEN),
    "bidirectional-masked": (lambda: tfk.Sequential([
        L.Embedding(VOCAB, 8, input_length=MAXLEN, mask_zero=True),
        L.Bidirectional(L.GRU(4)), L.Dense(1, activation="sigmoid")]), VOCAB, MAXLEN),
    "stacked-sequences": (lambda: _seq(
        L.LSTM(5, return_sequences=True), L.GRU(4, return_sequences=True, go_backwards=True),
        L.SimpleRNN(3), L.Dense(1, activation="sigmoid")), VOCAB, MAXLEN),
    "conv1d": (lambda: _seq(L.Conv1D(6, 3, activation="relu"), L.MaxPooling1D(2),
                            L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")), VOCAB, MAXLEN),
    "functional": (_functional, VOCAB, MAXLEN),
}  # fmt: skip


@pytest.fixture(scope="module")
def texts(imdb_texts):
    return imdb_texts[:300]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, texts):
    """name -> (folder, Keras 2 model, tokenizer): the .h5 file, its tokenizer and a sample."""
    import pandas as pd

    root = tmp_path_factory.mktemp("keras2")
    pd.DataFrame({"text": texts[:100]}).to_csv(root / "sample.csv", index=False)
    done = {}

    def get(name):
        if name not in done:
            factory, vocab, maxlen = FAMILIES[name]
            folder = root / name
            folder.mkdir()
            tok = Tokenizer.fit(texts, vocab, maxlen)
            tok.save(folder / "tok.json")
            tfk.utils.set_random_seed(11)
            model = factory()
            model.save(folder / "model.h5")
            done[name] = folder, model, tok
        return done[name]

    return get


def _import(folder: Path, root: Path, *extra: str, out: Path | None = None):
    out = out or folder / "bundle"
    args = ["import", str(folder / "model.h5"), "--tokenizer", str(folder / "tok.json"),
            "--sample", str(root / "sample.csv"), "-o", str(out), *extra]  # fmt: skip
    return CliRunner().invoke(main, args), out


@pytest.mark.parametrize("name", list(FAMILIES))
def test_a_keras2_file_imports_exports_and_scores_like_keras2(name, saved, texts):
    folder, model, tok = saved(name)
    result, out = _import(folder, folder.parent)
    assert result.exit_code == 0, result.output
    assert "time_major=False dropped" in result.output or name == "conv1d"
    assert "its translation equals tf_keras" in result.output
    result = CliRunner().invoke(main, ["export", str(out), "--format", "all"])
    assert result.exit_code == 0, result.output
    assert "keras 2 (recorded at import)" in result.output
    batch = texts[100:160] + ["", "zzqx", "a", "great film " * 80]
    expected = model.predict(tok.encode(batch), verbose=0).astype(np.float64)
    for backend in ("onnx", "tflite"):
        got = rnnkit.load(out, backend=backend).predict(batch).reshape(len(batch), -1)
        scored = ~np.isnan(got).all(axis=1)
        assert scored[:60].all()
        assert np.abs(got[scored] - expected[scored]).max() <= 1e-5, (name, backend)
    manifest = json.loads((out / "manifest.json").read_text())
    translated = manifest["model"]["keras2"]
    assert translated["keras_version"].startswith("2.") and translated["proof"]["max_abs"] <= 1e-5
    card = CliRunner().invoke(main, ["info", str(out)]).output
    assert "Keras 2" in card and "translated" in card


def test_onnxruntime_web_agrees_with_keras2(saved, texts):
    if shutil.which("node") is None or not (JS / "node_modules" / "onnxruntime-web").is_dir():
        pytest.fail("CI must install tests/js (npm ci) and node; see .ci/run")
    folder, model, tok = saved("bidirectional-masked")
    out = folder / "bundle"
    if not (out / "model.onnx").exists():
        assert _import(folder, folder.parent)[0].exit_code == 0
        assert CliRunner().invoke(main, ["export", str(out)]).exit_code == 0
    ids = tok.encode(texts[:30])
    path = folder / "ids.bin"
    ids.astype("<i4").tofile(path)
    proc = subprocess.run(
        ["node", str(JS / "run_onnx.mjs"), str(out / "model.onnx"), str(path), str(len(ids)),
         str(MAXLEN)], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = np.array(json.loads(proc.stdout), dtype=np.float64).reshape(len(ids), -1)
    assert np.abs(got - model.predict(ids, verbose=0)).max() <= 1e-5


@pytest.mark.parametrize(
    "layer, option",
    [(lambda: L.GRU(4, stateful=True), "stateful=True"),
     (lambda: L.LSTM(4, time_major=True), "time_major=True")],
)  # fmt: skip
def test_an_option_that_changes_the_meaning_is_refused(tmp_path, texts, layer, option):
    tok = Tokenizer.fit(texts, VOCAB, MAXLEN)
    tok.save(tmp_path / "tok.json")
    model = tfk.Sequential(
        [L.Embedding(VOCAB, 4, batch_input_shape=(8, MAXLEN)), layer(), L.Dense(1, activation="sigmoid")]
    )  # fmt: skip
    model.save(tmp_path / "model.h5")
    out = tmp_path / "b"
    args = ["import", str(tmp_path / "model.h5"), "--tokenizer", str(tmp_path / "tok.json"),
            "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and option in result.output, result.output
    assert "Traceback" not in result.output and not out.exists()


def test_a_translation_that_differs_from_keras2_is_refused(saved, monkeypatch, tmp_path):
    """The proof can fail: Keras 2's outputs, moved by 1e-4, refuse the import."""
    from rnnkit.importer import run

    real = run.original_outputs

    def moved(path, ids, keras_input=None):
        outputs, against = real(path, ids, keras_input)
        return outputs + 1e-4, against

    monkeypatch.setattr(run, "original_outputs", moved)
    folder, _, _ = saved("lstm")
    result, out = _import(folder, folder.parent, out=tmp_path / "refused")
    lines = [x for x in result.output.splitlines() if x.startswith("Error:")]
    assert result.exit_code == 1 and len(lines) == 1 and "past atol 1e-05" in lines[0], (
        result.output
    )
    assert not out.exists()
