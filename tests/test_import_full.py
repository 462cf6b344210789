"""One full-size import (``slow``): the shipped model's own ``.keras`` file and tokenizer,
brought in as a user's model would be, with the 5,000 held-out reviews as its sample."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

pytestmark = [pytest.mark.slow, pytest.mark.train]
pytest.importorskip("tensorflow", reason="needs the [train] extra")


def test_the_shipped_model_imported_full_size_scores_like_keras(tmp_path):
    import keras
    import pandas as pd

    import rnnkit
    from rnnkit.cli import main
    from rnnkit.runtime.model.bundle import Bundle
    from rnnkit.training.data import load_split

    shipped = Bundle.open(None)
    split = load_split(seed=shipped.manifest["model"]["config"]["seed"])
    sample = tmp_path / "held-out.csv"
    pd.DataFrame({"text": split.test_texts, "label": split.test_labels}).to_csv(sample, index=False)
    out = tmp_path / "imported"
    args = ["import", str(shipped.path / "model.keras"), "-o", str(out),
            "--tokenizer", str(shipped.path / "rnnkit-tokenizer.json"),
            "--sample", str(sample), "--label-column", "label"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["export", str(out), "--format", "all"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    # The sample's labels give the card an accuracy: the shipped model's own test figure.
    shipped_accuracy = shipped.manifest["metrics"]["test_accuracy"]
    assert abs(manifest["metrics"]["sample_accuracy"] - shipped_accuracy) < 1e-6

    ids = shipped.tokenizer().encode(split.test_texts)
    expected = keras.models.load_model(out / "model.keras").predict(ids, verbose=0)[:, 0]
    for backend in ("onnx", "tflite"):
        got = rnnkit.load(out, backend=backend).predict(split.test_texts)
        assert np.abs(got - expected).max() <= 1e-5, backend
