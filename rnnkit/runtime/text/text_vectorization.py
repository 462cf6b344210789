"""Keras's ``TextVectorization`` (``output_mode="int"``), as TensorFlow runs it:

* ``lower``: ``tf.strings.lower``, which lowercases ASCII letters only ("ÄÖÜ" stays);
* ``strip_punctuation``: deletes the ASCII punctuation of Keras's regex (and ``'``);
* a custom ``standardize`` function: the steps it was traced to (``standardize.py``);
* ``whitespace`` split: ``tf.strings.split``, on ASCII whitespace only (U+00A0, U+3000,
  U+2028 and U+0085 stay inside a token); ``character`` split: one token per code point;
* ids: 0 is padding (the ``""`` entry), 1 is ``[UNK]``, then the vocabulary in order;
* the sequence is cut and padded at the end to ``output_sequence_length`` (the first
  tokens are kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .scan.plan import WORD, ScanPlan, ascii_tables
from .sequences import MAX_WORD_CHARS, MAX_WORDS, SpecTokenizer
from .standardize import check_steps, describe, run_steps, run_steps_arrow

STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation", None)
SPLIT = ("whitespace", "character")
#: What Keras's ``strip_punctuation`` regex deletes, and what ``tf.strings.split`` splits on.
PUNCTUATION = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'"
ASCII_SPACE = " \t\n\v\f\r"
_PUNCTUATION = re.compile(f"[{re.escape(PUNCTUATION)}]")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_SPACE = re.compile(f"[{re.escape(ASCII_SPACE)}]+")


def check_standardize(standardize):
    """A built-in option's name, or a custom function's checked steps (a tuple)."""
    if isinstance(standardize, (list, tuple)):
        return check_steps(standardize)
    if standardize not in STANDARDIZE:
        raise ValueError(f"standardize {standardize!r} is not one of {STANDARDIZE}")
    return standardize


def layer_tokens(text: str, standardize, split: str) -> list[str]:
    """The layer's tokens of one text: standardized, then split (the reference)."""
    if isinstance(standardize, tuple):
        text = run_steps(text, standardize)
    elif standardize in ("lower", "lower_and_strip_punctuation"):
        text = text.translate(_ASCII_LOWER)
    if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = _PUNCTUATION.sub("", text)
    if split == "character":
        return list(text)
    return [t for t in _ASCII_SPACE.split(text) if t]


def layer_tables(standardize):
    """The scan's character tables for a whitespace split after ``standardize`` (a custom
    function's steps run on Arrow before the scan: then only the split is left)."""
    builtin = "" if isinstance(standardize, tuple) else standardize or ""
    return ascii_tables(
        lower="lower" in builtin,
        skip=PUNCTUATION if "strip_punctuation" in builtin else "",
        space=ASCII_SPACE,
    )


def layer_standardize_arrow(texts, standardize):
    """A custom function's steps on Arrow (RE2, as TF's); built-in options are the scan's."""
    return run_steps_arrow(texts, standardize) if isinstance(standardize, tuple) else texts


@dataclass(frozen=True, eq=False)
class TextVectorization(SpecTokenizer):
    kind = "text-vectorization"
    FORMAT = "rnnkit-text-vectorization"

    vocabulary: tuple = field(repr=False)  # with "" at 0 and "[UNK]" at 1, as get_vocabulary()
    maxlen: int  # output_sequence_length
    #: A built-in option's name, or a custom function's steps (a tuple of step dicts).
    standardize: str | tuple | None = "lower_and_strip_punctuation"
    split: str = "whitespace"
    padding = "post"
    truncating = "post"

    def __post_init__(self) -> None:
        object.__setattr__(self, "standardize", check_standardize(self.standardize))
        if self.split not in SPLIT:
            raise ValueError(f"split {self.split!r} is not one of {SPLIT}")
        object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
        vocab = self.vocabulary
        if len(vocab) < 2 or vocab[0] != "" or len(vocab) > MAX_WORDS:
            raise ValueError("vocabulary must start with '' (padding) then the OOV token")
        if any(not isinstance(w, str) or len(w) > MAX_WORD_CHARS for w in vocab):
            raise ValueError("vocabulary entries must be strings of at most 65,536 characters")
        # Later duplicates never win in a lookup table: the first index is the id.
        index: dict[str, int] = {}
        for i, word in enumerate(vocab[2:], start=2):
            index.setdefault(word, i)
        object.__setattr__(self, "_index", index)

    @property
    def custom_steps(self) -> tuple | None:
        """A custom function's steps (``None``: a built-in option)."""
        return self.standardize if isinstance(self.standardize, tuple) else None

    def tokens(self, text: str) -> list[str]:
        return layer_tokens(text, self.standardize, self.split)

    def ids_and_words(self, text: str) -> tuple[list[int], int]:
        index = self._index  # type: ignore[attr-defined]
        tokens = self.tokens(text)
        return [index.get(t, 1) for t in tokens], len(tokens)

    def scan_plan(self) -> ScanPlan | None:
        """ASCII-only rules over whitespace-split tokens: the scan keeps the first N."""
        if self.split != "whitespace":
            return None
        index = self._index  # type: ignore[attr-defined]
        return ScanPlan(
            words=tuple(index),
            ids=tuple(index.values()),
            tables=layer_tables(self.standardize),
            beyond=WORD,
            maxlen=self.maxlen,
            keep_last=False,
            pad_front=False,
            oov_id=1,
        )

    def standardize_arrow(self, texts):
        """A custom function's steps, on Arrow (RE2, as TF's), before the scan."""
        return layer_standardize_arrow(texts, self.standardize)

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    @property
    def oov_id(self) -> int:
        return 1

    def word_count(self) -> int:
        return len(self.vocabulary) - 2

    def signature_entry(self, file: str) -> dict:
        entry = super().signature_entry(file)
        if self.custom_steps:  # what the user's function was traced to, for the card
            entry["standardize"] = describe(self.custom_steps)
        return entry

    def fixed_params(self) -> dict:
        return {
            "output_mode": "int", "output_sequence_length": self.maxlen, "ngrams": None,
            "padding": "post", "truncating": "post",
        }  # fmt: skip
