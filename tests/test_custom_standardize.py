"""Custom ``standardize`` functions: TensorFlow's and keras.io's IMDB tutorial models, as
their tutorials write them, imported with ``--custom-objects``, exported and scored from raw
text within 1e-5 of Keras; the traced steps fuzzed against the real layer; what cannot be
translated refused in one line naming it."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

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

from .test_tokenizer_specs import (  # noqa: E402
    FUZZ,
    MAXLEN,
    TEXT,
    _real_tv_ids,
    _string_model_scores_like_keras,
    both_paths,
)

#: The user's file, as the tutorials write it, plus functions the tests need.
USER_FILE = textwrap.dedent(
    r'''
    import re
    import string

    import tensorflow as tf


    def custom_standardization(input_data):
        """TensorFlow's "Basic text classification" and keras.io's "Text classification
        from scratch" both standardize this way."""
        lowercase = tf.strings.lower(input_data)
        stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
        return tf.strings.regex_replace(
            stripped_html, "[%s]" % re.escape(string.punctuation), ""
        )


    def tidy(text):
        """Every other supported op: RegexReplace from constants, alternation, a range, a
        replacement of the first match only, strip."""
        text = tf.strings.regex_replace(text, tf.constant("<br />|<p>|\\t"), tf.constant(" "))
        text = tf.strings.regex_replace(text, "[0-9]", "#", replace_global=False)
        return tf.strings.strip(tf.strings.lower(text))


    def transcode(text):
        return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8")


    def squeeze_spaces(text):
        return tf.strings.regex_replace(text, r"\s+", " ")


    def repeated(text):
        return tf.strings.regex_replace(text, "(ab)+", "x")


    def group_reference(text):
        return tf.strings.regex_replace(text, "([0-9])", r"<\1>")


    def unicode_lower(text):
        return tf.strings.lower(text, encoding="utf-8")
    '''
)


@pytest.fixture(scope="module")
def user_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "my_text.py"
    path.write_text(USER_FILE)
    spec = importlib.util.spec_from_file_location("my_text", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["my_text"] = module  # Keras records the function's module when it saves
    spec.loader.exec_module(module)
    return path, module


@pytest.fixture(scope="module")
def texts(imdb_texts):
    return imdb_texts[:300]


def _layer(fn, texts, **options):
    layer = L.TextVectorization(
        max_tokens=300, standardize=fn, output_sequence_length=options.pop("length", MAXLEN),
        **options,
    )  # fmt: skip
    layer.adapt(texts)
    return layer


@pytest.mark.parametrize("name", ["custom_standardization", "tidy"])
@FUZZ
@given(batch=st.lists(TEXT, min_size=1, max_size=8))
def test_traced_steps_fuzzed_against_the_tf_layer(user_file, texts, name, batch):
    layer = _tv_layers(user_file, texts)[name]
    ours = TextVectorizationChoice(layer=layer).build()
    assert np.array_equal(both_paths(ours, batch), _real_tv_ids(layer, batch))


_LAYERS: dict = {}


def _tv_layers(user_file, texts):
    """One adapted layer per function, made once (Hypothesis calls the test many times)."""
    if not _LAYERS:
        for name in ("custom_standardization", "tidy"):
            _LAYERS[name] = _layer(getattr(user_file[1], name), texts)
    return _LAYERS


def test_the_tensorflow_tutorials_export_model_scores_like_keras(user_file, texts, tmp_path):
    """TF's "Basic text classification": a logits model on ids, wrapped for raw strings as
    Sequential([vectorize_layer, model, Activation("sigmoid")])."""
    layer = _layer(user_file[1].custom_standardization, texts)
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((MAXLEN,), dtype="int64"), L.Embedding(301, 8),
                              L.Dropout(0.2), L.GlobalAveragePooling1D(), L.Dropout(0.2),
                              L.Dense(1)])  # fmt: skip
    export_model = keras.Sequential(
        [keras.Input((1,), dtype="string"), layer, model, L.Activation("sigmoid")]
    )
    out, _ = _string_model_scores_like_keras(
        export_model, texts, tmp_path, custom_objects=user_file[0]
    )
    card = CliRunner().invoke(main, ["info", str(out)]).output
    assert "standardize (a custom function, traced): lower, then replace '<br />'" in card
    assert not list(out.glob("*.py"))  # the user's code never travels with the bundle


def test_the_keras_io_conv1d_model_scores_like_keras(user_file, texts, tmp_path):
    """keras.io's "Text classification from scratch": an end-to-end string model with two
    strided Conv1D layers."""
    layer = _layer(user_file[1].custom_standardization, texts, length=60)
    keras.utils.set_random_seed(6)
    inputs = keras.Input(shape=(1,), dtype="string")
    x = L.Dropout(0.5)(L.Embedding(300, 8)(layer(inputs)))
    x = L.Conv1D(8, 7, padding="valid", activation="relu", strides=3)(x)
    x = L.Conv1D(8, 7, padding="valid", activation="relu", strides=3)(x)
    x = L.Dropout(0.5)(L.Dense(8, activation="relu")(L.GlobalMaxPooling1D()(x)))
    model = keras.Model(inputs, L.Dense(1, activation="sigmoid", name="predictions")(x))
    _string_model_scores_like_keras(model, texts, tmp_path, custom_objects=user_file[0])


@pytest.mark.parametrize(
    "name, named",
    [("transcode", "UnicodeTranscode"), ("squeeze_spaces", "\\s"), ("repeated", "'('"),
     ("group_reference", "backslash"),
     ("unicode_lower", "encoding='utf-8'")],
)  # fmt: skip
def test_what_cannot_be_translated_is_refused_naming_it(user_file, texts, tmp_path, name, named):
    layer = _layer(getattr(user_file[1], name), texts[:20])
    x = keras.Input((1,), dtype="string")
    model = keras.Model(x, L.Dense(1, activation="sigmoid")(L.GlobalAveragePooling1D()(
        L.Embedding(300, 4)(layer(x)))))  # fmt: skip
    model.save(tmp_path / "m.keras")
    out = tmp_path / "b"
    args = ["import", str(tmp_path / "m.keras"), "-o", str(out),
            "--custom-objects", str(user_file[0])]  # fmt: skip
    result = CliRunner().invoke(main, args)
    lines = [x for x in result.output.splitlines() if x.startswith("Error:")]
    assert result.exit_code == 1 and len(lines) == 1 and named in lines[0], result.output
    assert name in lines[0] and not out.exists()


def test_a_model_naming_a_function_needs_its_file(user_file, texts, tmp_path):
    layer = _layer(user_file[1].custom_standardization, texts[:20])
    x = keras.Input((1,), dtype="string")
    model = keras.Model(x, L.Dense(1, activation="sigmoid")(L.GlobalAveragePooling1D()(
        L.Embedding(300, 4)(layer(x)))))  # fmt: skip
    model.save(tmp_path / "m.keras")
    result = CliRunner().invoke(
        main, ["import", str(tmp_path / "m.keras"), "-o", str(tmp_path / "b")]
    )
    assert result.exit_code == 1 and "--custom-objects" in result.output, result.output
    assert "'custom_standardization'" in result.output
