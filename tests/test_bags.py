"""Bags of n-grams: ``TextVectorization`` with ``output_mode`` multi_hot, count and tf_idf
(and ``ngrams``), as Deep Learning with Python's bag-of-bigrams models use it. The spec's
vectors are fuzzed against the real layer; models are imported from ``.keras``, exported to
ONNX and TFLite, and scored from raw text within 1e-5 of Keras on the strings."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

tf = pytest.importorskip("tensorflow", reason="needs the [train] extra")

import keras  # noqa: E402
from keras import layers as L  # noqa: E402

from rnnkit.cli import main  # noqa: E402
from rnnkit.importer.tokenizers import TextVectorizationChoice  # noqa: E402
from rnnkit.runtime.text import bags  # noqa: E402

from .test_tokenizer_specs import FUZZ, TEXT, _string_model_scores_like_keras  # noqa: E402

#: (output_mode, ngrams, pad_to_max_tokens)
CASES = [
    ("multi_hot", 2, False),
    ("count", (1, 3), False),
    ("tf_idf", 2, True),
    ("multi_hot", None, False),
]


@pytest.fixture(scope="module")
def texts(imdb_texts):
    return imdb_texts[:400]


_LAYERS: dict = {}


def _layer(texts, mode, ngrams, pad, standardize="lower_and_strip_punctuation"):
    key = (mode, ngrams, pad, standardize)
    if key not in _LAYERS:
        layer = L.TextVectorization(max_tokens=400, ngrams=ngrams, output_mode=mode,
                                    pad_to_max_tokens=pad, standardize=standardize)  # fmt: skip
        layer.adapt(texts)
        _LAYERS[key] = layer
    return _LAYERS[key]


def _vectors(spec, batch, compiled):
    return spec.keras_input(spec.encode(batch, compiled=compiled))


def _real(layer, batch):
    return np.asarray(layer(np.array(batch, dtype=object)), dtype=np.float32)


@pytest.mark.parametrize("mode, ngrams, pad", CASES)
@FUZZ
@given(batch=st.lists(TEXT, min_size=1, max_size=8))
def test_bags_fuzzed_against_the_tf_layer(texts, mode, ngrams, pad, batch):
    layer = _layer(texts, mode, ngrams, pad)
    spec = TextVectorizationChoice(layer=layer).build()
    real = _real(layer, batch)
    for compiled in (False, True):  # the reference, and the compiled scan with numpy
        assert np.array_equal(_vectors(spec, batch, compiled), real)


@pytest.mark.parametrize("mode, ngrams, pad", CASES[:2])
def test_whole_texts_are_read_past_the_scans_first_pass(texts, mode, ngrams, pad, monkeypatch):
    """A bag reads every word: rows longer than the scan's first pass get a second."""
    monkeypatch.setattr(bags, "FIRST_PASS_WIDTH", 16)
    layer = _layer(texts, mode, ngrams, pad)
    spec = TextVectorizationChoice(layer=layer).build()
    batch = [" ".join(texts[:3]), "short one", "", texts[5] * 3] * 200
    assert np.array_equal(_vectors(spec, batch, True), _real(layer, batch))
    assert np.array_equal(_vectors(spec, batch, False), _real(layer, batch))


def _bag_model(layer, seed, logits=False):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((1,), dtype="string"), layer, L.Dense(16, activation="relu"), L.Dropout(0.5),
        L.Dense(1) if logits else L.Dense(1, activation="sigmoid"),
    ])  # fmt: skip


@pytest.mark.parametrize("mode, ngrams, pad", CASES[:3])
def test_a_bag_model_imports_exports_and_scores_like_keras(texts, tmp_path, mode, ngrams, pad):
    """The book's bag-of-bigrams model, end to end on strings (every embedded text)."""
    model = _bag_model(_layer(texts, mode, ngrams, pad), 7)
    out, _ = _string_model_scores_like_keras(model, texts, tmp_path)
    card = CliRunner().invoke(main, ["info", str(out)]).output
    assert f"({mode})" in card and "text-vectorization-bag" in card
    assert "the whole text as a bag of" in card and "token_ids [batch, n-grams]" in card


def test_a_functional_bag_model_with_a_custom_standardize_and_logits(texts, tmp_path):
    """A bag fed by a traced standardize function, in a functional model read as logits."""
    from .test_custom_standardize import USER_FILE

    path = tmp_path / "my_bag_text.py"
    path.write_text(USER_FILE)
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("my_bag_text", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["my_bag_text"] = module
    spec.loader.exec_module(module)
    layer = _layer(texts, "count", 2, False, standardize=module.custom_standardization)
    keras.utils.set_random_seed(8)
    x = keras.Input((1,), dtype="string")
    h = L.Dense(8, activation="tanh")(layer(x))
    model = keras.Model(x, L.Dense(1)(L.Dropout(0.3)(h)))
    _string_model_scores_like_keras(model, texts, tmp_path, logits="sigmoid", custom_objects=path)


def test_a_bag_that_does_not_go_into_a_dense_layer_is_refused(texts, tmp_path):
    layer = _layer(texts, "count", 2, False)
    model = keras.Sequential([keras.Input((1,), dtype="string"), layer, L.BatchNormalization(),
                              L.Dense(1, activation="sigmoid")])  # fmt: skip
    model.save(tmp_path / "m.keras")
    result = CliRunner().invoke(
        main, ["import", str(tmp_path / "m.keras"), "-o", str(tmp_path / "b")]
    )
    assert result.exit_code == 1 and "must go into one Dense layer" in result.output, result.output
    assert not (tmp_path / "b").exists()


def test_maxlen_does_not_apply_to_a_bag(texts, tmp_path):
    model = _bag_model(_layer(texts, "multi_hot", 2, False), 9)
    model.save(tmp_path / "m.keras")
    args = ["import", str(tmp_path / "m.keras"), "-o", str(tmp_path / "b"), "--maxlen", "50"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "leave --maxlen out" in result.output, result.output
