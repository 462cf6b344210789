"""Training recipes: named TrainConfig overrides; each trains, exports with parity and scores."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from rnnkit.cli import main
from tests.conftest import TINY

pytestmark = pytest.mark.train
keras = pytest.importorskip("keras", reason="needs the [train] extra")

from rnnkit.training.model import RECIPES, TrainConfig, build_model  # noqa: E402


def test_the_seed_recipe_is_the_default_and_draws_the_same_weights():
    assert TrainConfig.from_recipe("seed") == TrainConfig()
    small = dict(vocab_size=50, maxlen=5, embed_dim=4, units=3, dense_units=2)
    keras.utils.set_random_seed(7)
    got = build_model(TrainConfig(**small), compile=False).get_weights()
    # The seed's model as it was written before recipes existed: same layers, same order.
    keras.utils.set_random_seed(7)
    layers = keras.layers
    before = keras.Sequential([
        keras.Input(shape=(5,), dtype="int32", name="token_ids"),
        layers.Embedding(50, 4, name="embedding"),
        layers.SimpleRNN(3, activation="relu", name="rnn"),
        layers.Dense(2, activation="relu", name="dense"),
        layers.Dropout(0.5, seed=42, name="dropout"),
        layers.Dense(1, activation="sigmoid", name="probability"),
    ])  # fmt: skip
    expected = before.get_weights()
    assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_an_unknown_recipe_or_pooling_is_refused():
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        TrainConfig.from_recipe("nope")
    with pytest.raises(ValueError, match="pooling must be one of"):
        TrainConfig(pooling="mean")


@pytest.mark.parametrize(
    ("recipe", "shape"),
    [
        ("bigru-maxpool", "Bidirectional(GRU(8)) -> GlobalMaxPooling1D"),
        ("bigru-conv", "[Conv1D(6, 5, relu) -> max | Bidirectional(GRU(8)) -> max] ->"),
        ("bigru-conv-bow", "[Conv1D(6, 5, relu) -> max | Bidirectional(GRU(8)) -> max | average]"),
    ],
)
def test_the_bidirectional_recipes_train_export_with_parity_and_score(tmp_path, recipe, shape):
    """Every recipe beyond the seed's cells (covered by conftest's bundles): tiny sizes."""
    import rnnkit
    from rnnkit.exporter.export import export_bundle
    from rnnkit.training.train import train

    out = tmp_path / recipe
    tiny = {**TINY, "dense_units": 0, "conv_filters": 6 if "conv" in recipe else 0}
    train(TrainConfig.from_recipe(recipe, **tiny), out, echo=lambda s: None, verbose=0)
    _, results = export_bundle(out, ("onnx", "tflite"), echo=lambda s: None)
    assert results and all(r.passed and r.max_abs <= 1e-5 for r in results), results
    assert {r.runtime for r in results} >= {"onnxruntime", "onnx-reference", "ai-edge-litert"}
    res = CliRunner().invoke(main, ["info", str(out)])
    assert shape in res.output, res.output
    probs = rnnkit.load(out).predict(["a wonderful film", "a dull film", ""])
    assert probs.shape == (3,) and np.isnan(probs[2]) and ((probs[:2] > 0) & (probs[:2] < 1)).all()


def test_recipes_are_all_valid_configs():
    for name in RECIPES:
        described = TrainConfig.from_recipe(name).describe()
        assert described.startswith("TextVectorization(" if name == "bow-bigram" else "Embedding(")


def test_the_bag_of_bigrams_recipe_trains_exports_with_parity_and_scores(tmp_path):
    """Deep Learning with Python's multi-hot bigram model, at tiny sizes: Keras's own layer
    makes the vocabulary, its spec is proven equal to it, and the bag scores like Keras."""
    import json

    import rnnkit
    from rnnkit.exporter.export import export_bundle
    from rnnkit.training.train import train

    out = tmp_path / "bow"
    cfg = TrainConfig.from_recipe("bow-bigram", vocab_size=500, epochs=1, limit=400)
    train(cfg, out, echo=lambda s: None, verbose=0)
    _, results = export_bundle(out, ("onnx", "tflite"), echo=lambda s: None)
    assert results and all(r.passed and r.max_abs <= 1e-5 for r in results), results
    manifest = json.loads((out / "manifest.json").read_text())
    tok = manifest["signature"]["input"]["tokenizer"]
    assert tok["kind"] == "text-vectorization-bag" and tok["proof"]["texts"] > 30_000
    res = CliRunner().invoke(main, ["info", str(out)])
    assert "TextVectorization(500, ngrams=2, multi_hot)" in res.output, res.output
    probs = rnnkit.load(out).predict(["a wonderful film", "a dull film", ""])
    assert probs.shape == (3,) and np.isnan(probs[2]) and ((probs[:2] > 0) & (probs[:2] < 1)).all()
