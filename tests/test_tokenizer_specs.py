"""Their tokenizer, exactly: TextVectorization, the legacy Keras Tokenizer and the IMDB
word-index convention as specs, fuzzed against the real implementations (TensorFlow's
layer, ``tf_keras``) and carried through import -> export -> light scoring of raw text."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

tf = pytest.importorskip("tensorflow", reason="needs the [train] extra")
try:
    import tf_keras
except ImportError:
    if os.environ.get("CI"):
        raise  # CI must install it: see README's test command
    pytest.skip("needs `pip install --no-deps tf-keras`", allow_module_level=True)

import keras  # noqa: E402
from keras import layers as L  # noqa: E402
from tf_keras.preprocessing.text import Tokenizer as RealTokenizer  # noqa: E402
from tf_keras.preprocessing.text import text_to_word_sequence  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.cli import main  # noqa: E402
from rnnkit.exporter.export import export_bundle  # noqa: E402
from rnnkit.importer.proof import EDGE_TEXTS, corpus  # noqa: E402
from rnnkit.importer.run import import_model  # noqa: E402
from rnnkit.importer.tokenizers import (  # noqa: E402
    ImdbChoice,
    KerasTokenizerChoice,
    TextVectorizationChoice,
)
from rnnkit.runtime.errors import ModelFileError  # noqa: E402
from rnnkit.runtime.model.statuses import (  # noqa: E402
    EMPTY_CODE,
    NO_OUTPUT_CODE,
    NO_WORDS_CODE,
    OK_CODE,
)
from rnnkit.runtime.text.imdb import ImdbWordIndex  # noqa: E402
from rnnkit.runtime.text.keras_tokenizer import KerasTokenizer  # noqa: E402

EXAMPLES = int(os.environ.get("RNNKIT_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)  # fmt: skip
#: Arbitrary Unicode (no lone surrogates: no file rnnkit reads can hold one, and TensorFlow
#: refuses them), with the characters the traps are made of drawn often.
TRAPS = "ÄÖÜäöüßẞİΣς \u00a0\u3000\u2028\u2029\u0085\t\n\r\v\f'’!?.,-_<>/br BR"
TEXT = st.text(
    st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(TRAPS)), max_size=80
)
MAXLEN = 12


def both_paths(spec, batch):
    """The spec's ids, after checking that its compiled scan (where it has one) gives the
    same ids and word counts as its reference, counting in full and stopping early."""
    ids, counts = spec.encode_with_counts(batch, compiled=False, count_all=True)
    if spec.scan_plan() is not None:
        for count_all in (True, False):
            fast_ids, fast_counts = spec.encode_with_counts(
                batch, compiled=True, count_all=count_all
            )
            assert np.array_equal(fast_ids, ids)
            assert np.array_equal(fast_counts, counts if count_all else np.minimum(
                counts, spec.maxlen + 1
            ))  # fmt: skip
    return ids


@pytest.fixture(scope="module")
def texts(imdb_texts):
    return imdb_texts[:400]


def test_the_reference_tf_keras_matches_this_tensorflow():
    """tf-keras is installed without its dependencies: it must be the one for this TF."""
    assert tf_keras.__version__.split(".")[:2] == tf.__version__.split(".")[:2]


# -- the legacy Keras Tokenizer -------------------------------------------------------


def _real_keras_ids(real, texts, tok):
    seqs = real.texts_to_sequences(texts)
    return keras.utils.pad_sequences(
        seqs, maxlen=tok.maxlen, padding=tok.padding, truncating=tok.truncating
    )


KERAS_CONFIGS = {
    "defaults": {},
    "num_words+oov": {"num_words": 200, "oov_token": "<oov>"},
    "num_words, no oov": {"num_words": 150},
    "no lower, comma split": {"lower": False, "split": ",", "filters": "!?"},
    "char_level": {"char_level": True, "oov_token": "?"},
}


@pytest.fixture(scope="module", params=list(KERAS_CONFIGS))
def keras_pair(request, texts):
    real = RealTokenizer(**KERAS_CONFIGS[request.param])
    real.fit_on_texts(texts + ["ÄÖÜ straße İstanbul no\u00a0break"])
    padding = "post" if "oov" in request.param else "pre"
    ours = KerasTokenizer.from_keras_json(json.loads(real.to_json()), MAXLEN, padding, padding)
    return real, ours


def test_keras_tokenizer_equals_tf_keras_on_the_corpus_and_edges(keras_pair, texts):
    real, ours = keras_pair
    sample = texts[:200] + EDGE_TEXTS
    assert np.array_equal(both_paths(ours, sample), _real_keras_ids(real, sample, ours))


@FUZZ
@given(st.lists(TEXT, min_size=1, max_size=8))
def test_keras_tokenizer_fuzzed_against_tf_keras(keras_pair, batch):
    real, ours = keras_pair
    assert np.array_equal(both_paths(ours, batch), _real_keras_ids(real, batch, ours))


def test_tf_keras_traps_hold_as_the_spec_says():
    """Full str.lower, and a split on " " only: a no-break space stays inside a word."""
    assert text_to_word_sequence("ÄÖÜ no\u00a0break\rx") == ["äöü", "no\u00a0break\rx"]


# -- the IMDB convention ----------------------------------------------------------------


@pytest.fixture(scope="module")
def imdb_index(texts):
    """A word index in imdb_word_index.json's format, built from the embedded reviews."""
    real = RealTokenizer()
    real.fit_on_texts(texts)
    return real.word_index


def _real_imdb_ids(spec: ImdbWordIndex, batch):
    """load_data's arithmetic on the ranks of the real text_to_word_sequence's words."""
    seqs = []
    for text in batch:
        ranks = [spec.word_index.get(w) for w in text_to_word_sequence(text)]
        x = [spec.start_char] + [r + spec.index_from if r else spec.oov_char for r in ranks]
        seqs.append([w if spec.skip_top <= w < spec.num_words else spec.oov_char for w in x])
    return keras.utils.pad_sequences(seqs, maxlen=spec.maxlen)


@FUZZ
@given(st.lists(TEXT, min_size=1, max_size=8))
def test_imdb_convention_fuzzed_against_the_real_split_and_padding(imdb_index, batch):
    spec = ImdbWordIndex(imdb_index, MAXLEN, num_words=300)
    assert np.array_equal(both_paths(spec, batch), _real_imdb_ids(spec, batch))


def test_imdb_pre_truncation_cuts_the_start_id_away(imdb_index):
    spec = ImdbWordIndex(imdb_index, 5, num_words=300)
    short, long = spec.encode(["the film", "the film was the best film of the year"])
    assert short.tolist()[:3] == [0, 0, 1] and 1 not in long.tolist()


# -- TextVectorization ------------------------------------------------------------------

TV_CONFIGS = {
    "defaults": {},
    "lower": {"standardize": "lower"},
    "strip_punctuation": {"standardize": "strip_punctuation"},
    "none": {"standardize": None},
    "character": {"split": "character", "max_tokens": 60},
}


@pytest.fixture(scope="module", params=list(TV_CONFIGS))
def tv_pair(request, texts):
    config = {"max_tokens": 400, **TV_CONFIGS[request.param]}
    layer = L.TextVectorization(output_sequence_length=MAXLEN, **config)
    layer.adapt(texts + ["ÄÖÜ straße İstanbul no\u00a0break"])
    return layer, TextVectorizationChoice(layer=layer).build()


def _real_tv_ids(layer, batch):
    return np.asarray(layer(np.array(batch, dtype=object)))


@FUZZ
@given(st.lists(TEXT, min_size=1, max_size=8))
def test_text_vectorization_fuzzed_against_the_tf_layer(tv_pair, batch):
    layer, ours = tv_pair
    assert np.array_equal(both_paths(ours, batch), _real_tv_ids(layer, batch))


@FUZZ
@given(st.lists(TEXT, min_size=1, max_size=8))
def test_the_text_vectorization_twin_fuzzed_against_the_tf_layer(tv_pair, batch):
    """The tokenizer.json twin gives TF's ids: a Rust/JS runtime can feed the model."""
    from rnnkit.training.hf_tokenizer import hf_twin

    layer, ours = tv_pair
    twin, why_not = hf_twin(ours)
    if twin is None:  # the character split: no twin, and the card says why
        assert ours.split == "character" and why_not
        return
    ids = np.array([e.ids for e in twin.encode_batch(batch)])
    assert np.array_equal(ids, _real_tv_ids(layer, batch))


def test_text_vectorization_traps_hold_as_the_spec_says(texts):
    layer = L.TextVectorization(max_tokens=400, output_sequence_length=3)
    layer.adapt(texts[:100] + ["no\u00a0break"])
    ours = TextVectorizationChoice(layer=layer).build()
    # ASCII-only lowercasing, ASCII-only whitespace split, first tokens kept, post padding.
    assert ours.tokens("ÄB no\u00a0break x\u3000y") == ["Äb", "no\u00a0break", "x\u3000y"]
    batch = ["ÄB no\u00a0break", "the film was the best film"]
    assert np.array_equal(ours.encode(batch), _real_tv_ids(layer, batch))
    assert ours.encode(batch)[0, 2] == 0  # padded at the end


def test_batch_dependent_padding_and_custom_callables_are_refused(texts):
    layer = L.TextVectorization(max_tokens=50)  # output_sequence_length=None
    layer.adapt(texts[:50])
    with pytest.raises(ModelFileError, match="depend on the other texts in its batch"):
        TextVectorizationChoice(layer=layer).build()
    assert TextVectorizationChoice(layer=layer, maxlen=9).build().maxlen == 9
    for function, refusal in [(lambda t: t, "does nothing"), (tf.strings.upper, "StringUpper")]:
        custom = L.TextVectorization(max_tokens=50, output_sequence_length=5, standardize=function)
        custom.adapt(texts[:50])
        with pytest.raises(ModelFileError, match=refusal):  # traced, and refused by name
            TextVectorizationChoice(layer=custom).build()


def test_a_spec_mismatch_refuses_the_import_naming_text_and_position(tv_pair):
    from rnnkit.importer.proof import prove

    layer, ours = tv_pair
    with pytest.raises(ModelFileError, match=r"on text 1 \('b b'\) at position"):
        prove(
            "x",
            ours.encode,
            lambda t: ours.encode(t) + np.array([[0] * MAXLEN, [1] * MAXLEN]),
            ["a", "b b"],
        )


# -- end to end: import, export, light scoring of raw text -----------------------------


def _scores_like_keras(out, batch, expected):
    """Light scores of raw text on every runtime equal Keras's within 1e-5. A text without
    a score is one without words (its status says so; Keras would score the padding) or
    one Keras itself gives no number for (NaN: status ``no_model_output``)."""
    import pyarrow as pa

    expected = np.asarray(expected, np.float64).reshape(len(batch), -1)
    texts = pa.array(batch, type=pa.large_string())
    for backend in ("onnx", "tflite"):
        probs, status, _ = rnnkit.load(out, backend=backend).score_arrow(texts)
        scored, no_output = status == OK_CODE, status == NO_OUTPUT_CODE
        no_words = np.isin(status, [EMPTY_CODE, NO_WORDS_CODE])
        assert (scored | no_output | no_words).all() and no_words.sum() <= len(EDGE_TEXTS)
        assert np.abs(probs[scored] - expected[scored]).max() <= 1e-5, backend
        assert np.isnan(expected[no_output]).all() and not np.isnan(expected[scored]).any()


def _export_and_compare(out, batch, expected):
    export_bundle(out, ("onnx", "tflite"), echo=lambda s: None)
    _scores_like_keras(out, batch, expected)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["signature"]["input"]["tokenizer"]["proof"]["texts"] > 30_000


def _string_model_scores_like_keras(model, texts, tmp_path, logits=None, custom_objects=None):
    """Save a string-input model, import it with its own TextVectorization, export, and
    compare light scores of raw text with the model's own on the same strings (through a
    sigmoid with ``logits="sigmoid"``)."""
    model.save(tmp_path / "model.keras")
    out = tmp_path / "bundle"
    import_model(tmp_path / "model.keras", out, TextVectorizationChoice(), logits=logits,
                 custom_objects=custom_objects, echo=lambda s: None)  # fmt: skip
    batch = corpus()  # every embedded IMDB and rotten-tomatoes text, and the edge texts
    expected = model.predict(tf.constant([[t] for t in batch]), batch_size=4096, verbose=0)
    if logits == "sigmoid":
        expected = 1 / (1 + np.exp(-expected.astype(np.float64)))
    _export_and_compare(out, batch, expected)
    return out, batch


def test_a_model_with_text_vectorization_inside_scores_raw_text_like_keras(texts, tmp_path):
    layer = L.TextVectorization(max_tokens=300, output_sequence_length=MAXLEN)
    layer.adapt(texts)
    keras.utils.set_random_seed(1)
    x = keras.Input((1,), dtype="string")
    h = L.LSTM(4)(L.Embedding(300, 6, mask_zero=True)(layer(x)))  # post-padding, masked
    model = keras.Model(x, L.Dense(3, activation="softmax")(h))
    out, batch = _string_model_scores_like_keras(model, texts, tmp_path)
    from tokenizers import Tokenizer as HF

    twin = HF.from_file(str(out / "tokenizer.json"))  # as a Rust or JS runtime reads it
    assert np.array_equal([e.ids for e in twin.encode_batch(batch)], _real_tv_ids(layer, batch))
    card = CliRunner().invoke(main, ["info", str(out)]).output
    assert "large inputs take the compiled scan" in card and "tokenizer.json twin (ids" in card


def test_a_text_vectorization_model_read_as_logits_exports_to_tflite_too(texts, tmp_path):
    """A functional string-input model ending in logits, imported with --logits sigmoid:
    TFLite's unrolled clone once crashed on it, after the ONNX file had passed."""
    layer = L.TextVectorization(max_tokens=300, output_sequence_length=MAXLEN)
    layer.adapt(texts)
    keras.utils.set_random_seed(4)
    x = keras.Input((1,), dtype="string")
    h = L.GRU(4)(L.Embedding(300, 6)(layer(x)))
    out, _ = _string_model_scores_like_keras(
        keras.Model(x, L.Dense(1)(h)), texts, tmp_path, logits="sigmoid"
    )
    assert (out / "model.tflite").is_file()


def test_the_keras_tutorials_export_model_scores_raw_text_like_keras(texts, tmp_path):
    """Keras's text classification tutorial trains a logits model on ids, then wraps it for
    raw strings: Sequential([vectorize_layer, model, Activation("sigmoid")])."""
    layer = L.TextVectorization(max_tokens=300, output_sequence_length=MAXLEN)
    layer.adapt(texts)
    keras.utils.set_random_seed(3)
    trained = keras.Sequential([keras.Input((MAXLEN,), dtype="int64"), L.Embedding(300, 6),
                                L.Dropout(0.2), L.GlobalAveragePooling1D(), L.Dense(1)])  # fmt: skip
    export_model = keras.Sequential(
        [keras.Input((1,), dtype="string"), layer, trained, L.Activation("sigmoid")]
    )
    _string_model_scores_like_keras(export_model, texts, tmp_path)


def test_a_legacy_tokenizer_model_scores_raw_text_like_keras(texts, tmp_path):
    real = RealTokenizer(num_words=250)  # no OOV token: unknown words are dropped
    real.fit_on_texts(texts)
    (tmp_path / "tok.json").write_text(real.to_json())
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((MAXLEN,), dtype="int32"), L.Embedding(250, 6, mask_zero=True),
                              L.GRU(4, return_sequences=True), L.GlobalAveragePooling1D(),
                              L.Dense(1, activation="sigmoid")])  # fmt: skip
    model.save(tmp_path / "m.keras")
    out = tmp_path / "bundle"
    choice = KerasTokenizerChoice(str(tmp_path / "tok.json"), MAXLEN, "post", "post")
    import_model(tmp_path / "m.keras", out, choice, echo=lambda s: None)
    batch = corpus() + ["zzqx qqzv"]  # only unknown words: all padding, Keras says NaN
    spec = choice.build()
    expected = model.predict(_real_keras_ids(real, batch, spec), batch_size=4096, verbose=0)
    assert np.isnan(expected[-1]).all()
    _export_and_compare(out, batch, expected)
    import pyarrow as pa

    _, status, _ = rnnkit.load(out).score_arrow(pa.array([texts[0], batch[-1]]))
    assert status.tolist() == [OK_CODE, NO_OUTPUT_CODE]  # no invented score
    card = CliRunner().invoke(main, ["info", str(out)]).output
    assert "no tokenizer.json twin: its lowercasing is Python's str.lower" in card
    assert "drops unknown words" in card and not (out / "tokenizer.json").exists()


def test_the_seed_tutorial_model_on_the_imdb_convention(texts, imdb_index, tmp_path):
    """The seed tutorial's model, trained on ids made with the IMDB convention from a word
    index of the same format, imported, exported and scored from raw text."""
    (tmp_path / "imdb_word_index.json").write_text(json.dumps(imdb_index))
    spec = ImdbWordIndex(imdb_index, 100, num_words=1000)
    ids = _real_imdb_ids(spec, texts)
    labels = np.array([i % 2 for i in range(len(texts))], np.float32)
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((100,), dtype="int32"), L.Embedding(1000, 8),
                              L.SimpleRNN(8, activation="relu"), L.Dense(4, activation="relu"),
                              L.Dropout(0.5), L.Dense(1, activation="sigmoid")])  # fmt: skip
    model.compile("adam", "binary_crossentropy")
    model.fit(ids, labels, epochs=1, batch_size=64, verbose=0)
    model.save(tmp_path / "seed.keras")
    out = tmp_path / "bundle"
    choice = ImdbChoice(str(tmp_path / "imdb_word_index.json"), 100, options={"num_words": 1000})
    import_model(tmp_path / "seed.keras", out, choice, echo=lambda s: None)
    batch = corpus()
    expected = model.predict(_real_imdb_ids(spec, batch), batch_size=4096, verbose=0)
    _export_and_compare(out, batch, expected)


def test_the_scan_settles_ordinary_unicode_itself():
    """Accented letters, CJK and emoji are decoded by the scan, reading forwards and
    backwards; only what its tables leave open (a capital sigma) goes to the reference."""
    import pyarrow as pa

    from rnnkit.runtime.text.text_vectorization import TextVectorization
    from rnnkit.runtime.text.tokenizer import Tokenizer

    texts = ["café résumé naïve", "日本語のテキスト and more", "emoji 🎬🍿 film", "Straße ÄÖÜ x"]
    index = {"café": 1, "film": 2, "straße": 3}
    specs = [
        Tokenizer(("café", "film"), 10, 3),
        KerasTokenizer(index, 3),
        KerasTokenizer(index, 3, padding="post", truncating="post"),
        ImdbWordIndex(index, 4),
        TextVectorization(("", "[UNK]", "café", "film"), 3),
    ]
    for spec in specs:
        spec.warm_up()
        _, _, redo = spec._scan.encode(pa.array(texts, pa.large_string()), spec.maxlen + 1)
        assert redo.tolist() == [], (type(spec).__name__, spec.truncating, redo)
    sigma = pa.array(["ΣΑΣ film"], pa.large_string())
    assert specs[0]._scan.encode(sigma, 4)[2].tolist() == [0]  # lowercase by context
