"""The tokenizer contract: pinned cases, properties, the fast encoder and the HF twin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.runtime.text.tokenizer import OOV_ID, Tokenizer, build_vocabulary, split_words

WORDS = ("the", "film", "good", "bad", "dont", "café", "br", "σ", "ς", "a1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The FILM, was... GOOD!", ["the", "film", "was", "good"]),
        ("I don't / DON’T like it", ["i", "dont", "dont", "like", "it"]),
        ("one<br />two<br>three<BR/>four", ["one", "two", "three", "four"]),
        ("<brown> br <br", ["brown", "br"]),
        ("a\u00a0b\u0085c\u2028d\u3000e", ["a", "b", "c", "d", "e"]),  # Unicode spaces split
        ("snake_case", ["snake", "case"]),  # underscore is a separator
        ("CAFÉ Ñandú ΣΟΦΟΣ", ["café", "ñandú", "σοφος"]),  # Python lower(), final sigma
        ("x²½ 42", ["x²½", "42"]),  # str.isalnum() digits and numerics are word characters
        ("emoji 👍 here—there", ["emoji", "here", "there"]),
        ("", []),
    ],
)
def test_split_words_pins_the_contract(text, expected):
    assert split_words(text) == expected


def test_vocabulary_ties_break_by_word():
    vocab = build_vocabulary(["b a c", "c a b", "d"], vocab_size=5)
    assert vocab == ["a", "b", "c"]  # a, b, c all twice: alphabetical; d dropped


def test_encode_pads_and_truncates_pre():
    tok = Tokenizer(("the", "film"), vocab_size=10, maxlen=4)
    ids = tok.encode(["the film", "film the film the unknown zzz"])
    assert ids.tolist() == [[0, 0, 2, 3], [3, 2, OOV_ID, OOV_ID]]


def test_roundtrip_json(tmp_path):
    tok = Tokenizer(WORDS, vocab_size=20, maxlen=7)
    tok.save(tmp_path / "t.json")
    back = Tokenizer.load(tmp_path / "t.json")
    assert back == tok and back.fingerprint() == tok.fingerprint()


texts = st.lists(st.text(max_size=60), max_size=8)
# Text built from the pieces where the rules interact: tags, apostrophes, case, Unicode.
pieces = st.sampled_from(list("ab 'Br<>/.,\n\t’éΣ_1\u00a0\u0085") + ["<br />", "film", "DON'T"])
mixed = st.lists(pieces, max_size=30).map("".join)


@settings(max_examples=150, deadline=None)
@given(texts, st.integers(3, 50), st.integers(1, 12))
def test_encode_properties(batch, vocab_size, maxlen):
    tok = Tokenizer.fit(batch, vocab_size=vocab_size, maxlen=maxlen)
    ids = tok.encode(batch)
    assert ids.shape == (len(batch), maxlen) and ids.dtype == np.int32
    assert ((ids >= 0) & (ids < vocab_size)).all()
    for text, row in zip(batch, ids, strict=True):
        full = tok.ids(text)
        tail = full[-maxlen:]
        assert row[maxlen - len(tail) :].tolist() == tail  # truncation keeps the tail
        assert (row[: maxlen - len(tail)] == 0).all()  # padding on the left only
    assert Tokenizer.fit(list(reversed(batch)), vocab_size, maxlen).words == tok.words


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(st.one_of(st.text(max_size=80), mixed, st.none()), max_size=10))
def test_compiled_scan_equals_reference_on_random_text(batch):
    tok = Tokenizer.fit([t for t in batch if t] + ["film the br a dont café"], 40, maxlen=6)
    fast = tok.encode(batch, compiled=True)
    assert np.array_equal(fast, tok.encode([t or "" for t in batch], compiled=False))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(mixed, st.text(max_size=50)), max_size=6),
    st.integers(1, 40),
    st.integers(1, 6),
)
def test_compiled_scan_reads_long_rows_from_the_tail(batch, repeat, maxlen):
    """The scan stops after maxlen tokens from the end; long rows cross that boundary."""
    batch = [t * repeat for t in batch]
    tok = Tokenizer.fit(batch + ["film the br a dont ab b1"], 30, maxlen=maxlen)
    ids, counts = tok.encode_with_counts(batch, compiled=True)
    assert np.array_equal(ids, tok.encode(batch, compiled=False))
    assert all((c == 0) == (not tok.ids(t)) for c, t in zip(counts, batch, strict=True))


def test_compiled_scan_long_words_and_slices():
    long = "supercalifragilisticexpialidocious"
    tok = Tokenizer(("the", long, "abcdefghijklmnop", "abcdefghijklmnopq"), 10, maxlen=5)
    batch = [f"The {long}!", "abcdefghijklmnop abcdefghijklmnopq abcdefghijklmnopqr", None, "x"]
    import pyarrow as pa

    arr = pa.array(["skip me"] + batch, type=pa.string()).slice(1)
    for compiled in (False, True):
        got = tok.encode(arr, compiled=compiled)
        assert np.array_equal(got, tok.encode([t or "" for t in batch], compiled=False))


def test_compiled_scan_equals_reference_on_imdb(imdb_texts):
    tok = Tokenizer.fit(imdb_texts[:3000], vocab_size=10_000, maxlen=100)
    assert np.array_equal(
        tok.encode(imdb_texts, compiled=True), tok.encode(imdb_texts, compiled=False)
    )


def test_encode_uses_the_scan_for_large_inputs_only():
    from rnnkit.runtime.text.scan.dispatch import COMPILED_MIN_ROWS

    tok = Tokenizer(("film",), 10, maxlen=3)
    tok.encode(["film"] * (COMPILED_MIN_ROWS - 1))
    assert "_compiled_scan" not in tok.__dict__  # small input: numba never imported for it
    tok.encode(["film"] * COMPILED_MIN_ROWS)
    assert "_compiled_scan" in tok.__dict__


def test_hf_tokenizer_json_gives_identical_ids(imdb_texts, tmp_path):
    pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer as HF

    from rnnkit.training.hf_tokenizer import write_hf_tokenizer

    tok = Tokenizer.fit(imdb_texts[:3000], vocab_size=10_000, maxlen=100)
    write_hf_tokenizer(tok, tmp_path / "tokenizer.json")
    hf = HF.from_file(str(tmp_path / "tokenizer.json"))  # read back as another runtime would
    sample = imdb_texts[::5]
    hf_ids = np.array([e.ids for e in hf.encode_batch(sample)], dtype=np.int32)
    assert np.array_equal(hf_ids, tok.encode(sample, compiled=False))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(mixed, st.text(max_size=50)), max_size=6), st.integers(1, 30))
def test_counts_are_capped_past_maxlen_unless_all_are_asked_for(batch, repeat):
    batch = [t * repeat for t in batch]
    tok = Tokenizer.fit(batch + ["film the br a dont"], 30, maxlen=4)
    full = [len(tok.ids(t)) for t in batch]
    for compiled in (False, True):
        _, capped = tok.encode_with_counts(batch, compiled=compiled)
        assert capped.tolist() == [min(n, 5) for n in full]
        _, every = tok.encode_with_counts(batch, compiled=compiled, count_all=True)
        assert every.tolist() == full
