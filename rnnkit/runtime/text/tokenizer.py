"""The tokenizer contract shared by training and scoring (reference implementation).

The rules, applied in this order to each review:

1. Lowercase with Python's ``str.lower()`` (full Unicode mapping, no normalisation).
2. Delete apostrophes (``'`` and the typographic ``’``), so "don't" and "don’t" are ``dont``.
3. A token is a maximal run of alphanumeric characters (``str.isalnum()``: Unicode letters
   and digits of any script). Everything else separates tokens: punctuation, symbols,
   the underscore, control characters and *every* Unicode whitespace character
   (U+0085, U+00A0, U+2028, ... behave like a space). This settles the disagreement
   between ``str.split`` and ``tf.strings.split``: neither is used.
4. HTML line breaks: a token ``br`` that directly follows ``<`` (``<br>``, ``<br/>``,
   ``<br />``, ``<BR>``) is a tag, not a word, and is dropped.
5. Ids: 0 = padding, 1 = out-of-vocabulary, vocabulary words from 2 up, ``vocab_size``
   ids in all. The vocabulary is the ``vocab_size - 2`` most frequent tokens of the
   training texts; ties are broken by the word itself (Unicode code point order), so the
   vocabulary is a pure function of the training texts.
6. Sequences are padded and truncated like Keras ``pad_sequences`` defaults: padding
   ``pre`` (zeros on the left), truncating ``pre`` (the *last* ``maxlen`` tokens are kept).

``Tokenizer.encode`` is the one entry point. It runs this module's reference implementation
for small inputs and the compiled scan (``scan.py``, numba, through ``scanned.py``) for large ones; the two
are tested to give identical ids. The scan's character classes are generated from the same
``str.lower()`` / ``str.isalnum()`` / ``APOSTROPHES`` used here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import format_problem
from ..files import json_text
from .contract import APOSTROPHES, BREAK_OPENER, BREAK_WORD, FIRST_WORD_ID, OOV_ID, PAD_ID
from .scan.dispatch import ScannedTokenizer
from .scan.plan import SEP, SKIP, WORD, ScanPlan, unicode_tables

FORMAT = "rnnkit-tokenizer"
FORMAT_VERSION = 1
_APOSTROPHES = re.compile(f"[{APOSTROPHES}]")
# [^\W_] is exactly str.isalnum() for str patterns (Python re docs).
_WORD = re.compile(r"[^\W_]+")
# "<br" that is a whole token (not followed by a letter or digit): an HTML line break.
_BREAK = BREAK_OPENER + BREAK_WORD
_BR_TAG = re.compile(re.escape(_BREAK) + r"(?![^\W_])")


def split_words(text: str) -> list[str]:
    """Split one review into tokens under the contract (rules 1-4)."""
    text = _APOSTROPHES.sub("", text.lower())
    if _BREAK in text:
        text = _BR_TAG.sub(BREAK_OPENER + " ", text)
    return _WORD.findall(text)


def _char_class(char: str) -> tuple[int, str]:
    """One character's class for the compiled scan, from rules 1-3."""
    lowered = char.lower()
    if lowered in APOSTROPHES:
        return SKIP, lowered
    return (WORD if lowered.isalnum() else SEP), lowered


def build_vocabulary(texts: Iterable[str], vocab_size: int) -> list[str]:
    """The ``vocab_size - 2`` most frequent words; ties broken by code point order."""
    if vocab_size < FIRST_WORD_ID + 1:
        raise ValueError(f"vocab_size must be at least 3, got {vocab_size}")
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(split_words(text))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [word for word, _ in ranked[: vocab_size - FIRST_WORD_ID]]


@dataclass(frozen=True)
class Tokenizer(ScannedTokenizer):
    """Maps raw review text to fixed-length id sequences.

    ``words[i]`` has id ``i + 2``. ``vocab_size`` may exceed ``len(words) + 2`` when the
    training texts had fewer distinct words; the extra ids are simply never produced.
    """

    words: tuple[str, ...]
    vocab_size: int = 10_000
    maxlen: int = 100

    def __post_init__(self) -> None:
        if len(self.words) + FIRST_WORD_ID > self.vocab_size:
            raise ValueError(f"{len(self.words)} words do not fit in vocab_size={self.vocab_size}")
        if self.maxlen < 1:
            raise ValueError(f"maxlen must be positive, got {self.maxlen}")
        object.__setattr__(self, "_index", {w: i + FIRST_WORD_ID for i, w in enumerate(self.words)})

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int = 10_000, maxlen: int = 100) -> Tokenizer:
        return cls(tuple(build_vocabulary(texts, vocab_size)), vocab_size, maxlen)

    kind = "rnnkit"
    oov_id = OOV_ID
    pad_id = PAD_ID

    @property
    def index(self) -> dict[str, int]:
        return self._index  # type: ignore[attr-defined]

    def ids(self, text: str) -> list[int]:
        """All token ids of one text, unpadded and untruncated."""
        index = self.index
        return [index.get(w, OOV_ID) for w in split_words(text)]

    def encode_reference(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """The reference implementation: ids and full token counts, one text at a time."""
        out = np.zeros((len(texts), self.maxlen), dtype=np.int32)
        counts = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            all_ids = self.ids(text) if text else []
            counts[row] = len(all_ids)
            tail = all_ids[-self.maxlen :]
            if tail:
                out[row, self.maxlen - len(tail) :] = tail
        return out, counts

    def scan_plan(self) -> ScanPlan | None:
        """The compiled scan's plan: tables from this module's rules, keep the last N."""
        return ScanPlan(
            words=self.words,
            ids=tuple(range(FIRST_WORD_ID, FIRST_WORD_ID + len(self.words))),
            tables=unicode_tables("rnnkit", _char_class),
            maxlen=self.maxlen,
            keep_last=True,
            pad_front=True,
            oov_id=OOV_ID,
            break_word=BREAK_WORD.encode("utf-8"),
            break_opener=ord(BREAK_OPENER),
        )

    # -- persistence -------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "rules": "lower; delete ' and \u2019; tokens = maximal str.isalnum() runs; "
            "drop 'br' directly after '<'; 0=pad 1=oov words from 2; pad/truncate pre",
            "vocab_size": self.vocab_size,
            "maxlen": self.maxlen,
            "pad_id": PAD_ID,
            "oov_id": OOV_ID,
            "first_word_id": FIRST_WORD_ID,
            "padding": "pre",
            "truncating": "pre",
            "words": list(self.words),
        }

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON: identifies the exact tokenizer a model expects."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json_text(self.to_dict(), indent=1, end=""), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict) -> Tokenizer:
        problem = format_problem(data, FORMAT, FORMAT_VERSION)
        if problem:
            raise ValueError(problem)
        return cls(tuple(data["words"]), int(data["vocab_size"]), int(data["maxlen"]))

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
