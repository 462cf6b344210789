"""What the Keras-side tokenizer specs share: Keras's ``pad_sequences`` rules and a base
class that turns a spec's "text -> ids" rule into rnnkit's tokenizer interface.

A spec is a versioned JSON document with every parameter explicit (its ``to_dict``); its
fingerprint is the sha256 of that document. Each spec's reference implementation (pure
Python) is proven equal to the real library's ids at import time and fuzzed in the tests;
where its rules fit the compiled scan, its ``scan_plan`` states them as tables and large
inputs take the scan (tested equal to the reference).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import format_problem
from ..files import json_text
from .scan.dispatch import ScannedTokenizer
from .scan.plan import ScanPlan

SIDES = ("pre", "post")
#: Limits on a spec file from elsewhere (a tokenizer JSON, a word index).
MAX_SPEC_BYTES = 256 << 20
MAX_WORDS = 5_000_000
MAX_WORD_CHARS = 65_536


def pad_truncate(ids: list[int], maxlen: int, padding: str, truncating: str) -> np.ndarray:
    """One row as Keras's ``pad_sequences`` makes it (value 0)."""
    out = np.zeros(maxlen, np.int32)
    kept = ids[-maxlen:] if truncating == "pre" else ids[:maxlen]
    if kept:
        if padding == "pre":
            out[maxlen - len(kept) :] = kept
        else:
            out[: len(kept)] = kept
    return out


def check_shape(maxlen: int, padding: str, truncating: str) -> None:
    """``pad_sequences``'s parameters, as every Keras-side spec takes them."""
    if padding not in SIDES or truncating not in SIDES:
        raise ValueError(f"padding/truncating must be pre or post, got {padding}/{truncating}")
    if maxlen < 1:
        raise ValueError(f"maxlen must be positive, got {maxlen}")


def checked_words(words: object, where: str) -> dict[str, int]:
    """A word -> id mapping from an untrusted file: strings to non-negative ints, bounded."""
    if not isinstance(words, dict):
        raise ValueError(f"{where}: expected a JSON object of word -> index")
    if len(words) > MAX_WORDS:
        raise ValueError(f"{where}: {len(words)} words, more than {MAX_WORDS}")
    for word, index in words.items():
        if len(word) > MAX_WORD_CHARS:
            raise ValueError(f"{where}: a word of {len(word)} characters (limit {MAX_WORD_CHARS})")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 2**31:
            raise ValueError(f"{where}: word {word[:40]!r} has index {index!r}, not an int id")
    return words


def read_json(path: str | Path) -> object:
    path = Path(path)
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise ValueError(f"{path}: larger than {MAX_SPEC_BYTES >> 20} MB")
    return json.loads(path.read_text(encoding="utf-8-sig"))


class SpecTokenizer(ScannedTokenizer):
    """rnnkit's tokenizer interface over a spec's ``ids_and_words(text)`` rule."""

    kind: ClassVar[str]
    FORMAT: ClassVar[str]
    FORMAT_VERSION: ClassVar[int] = 1
    pad_id = 0

    maxlen: int
    padding: str
    truncating: str

    def ids_and_words(self, text: str) -> tuple[list[int], int]:
        """The ids of one text before padding, and how many words it has."""
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    @property
    def oov_id(self) -> int:
        raise NotImplementedError

    def fixed_params(self) -> dict:
        """Parameters a spec does not vary but states, so its document says everything."""
        return {}

    def params(self) -> dict:
        """Every field of the spec, plus its fixed parameters: the whole parameter set."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**values, **self.fixed_params()}

    def encode_reference(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """The reference implementation: ids and full word counts, one text at a time."""
        out = np.zeros((len(texts), self.maxlen), np.int32)
        counts = np.zeros(len(texts), np.int64)
        start = self.start_id()
        for row, text in enumerate(texts):
            ids: list[int] = [] if start is None else [start]
            if text:
                ids, counts[row] = self.ids_and_words(text)
            out[row] = pad_truncate(ids, self.maxlen, self.padding, self.truncating)
        return out, counts

    def start_id(self) -> int | None:
        """An id every sequence starts with, text or not (the IMDB convention's)."""
        return None

    def to_dict(self) -> dict:
        return {"format": self.FORMAT, "format_version": self.FORMAT_VERSION, **self.params()}

    def fingerprint(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json_text(self.to_dict(), indent=None, end=""), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict):
        """The spec back from its document (each spec checks its fields on construction)."""
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

    @classmethod
    def load(cls, path: str | Path):
        data = read_json(path)
        problem = (
            format_problem(data, cls.FORMAT, cls.FORMAT_VERSION)
            if isinstance(data, dict)
            else "not a JSON object"
        )
        if problem:
            raise ValueError(problem)
        return cls.from_dict(data)

    def signature_entry(self, file: str) -> dict:
        """The signature's input tokenizer entry."""
        return {
            "kind": self.kind,
            "file": file,
            "fingerprint": self.fingerprint(),
            "vocab_size": self.vocab_size,
            "maxlen": self.maxlen,
            "words": self.word_count(),
            "padding": self.padding,
            "truncating": self.truncating,
            "pad_id": self.pad_id,
            "oov_id": self.oov_id,
            "fast_path": self.fast_path,
        }

    def word_count(self) -> int:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, eq=False)
class WordIndexSpec(SpecTokenizer):
    """What the specs built on a Keras word index share: the index, the sequence length,
    the ``num_words`` cap, and ``pad_sequences``'s two sides (each spec adds its own
    fields after these)."""

    word_index: dict = dataclasses.field(repr=False)
    maxlen: int
    num_words: int | None = None
    padding: str = "pre"
    truncating: str = "pre"

    def __post_init__(self) -> None:
        check_shape(self.maxlen, self.padding, self.truncating)
        checked_words(self.word_index, "word_index")

    def word_count(self) -> int:
        return len(self.word_index)

    def sequence_plan(self, ids: Sequence[int], oov_id: int, **rules) -> ScanPlan:
        """The scan's plan for this index: ``ids`` (one per word, in the index's order),
        the spec's ``rules`` (tables, start id) and the shared shape."""
        return ScanPlan(
            words=tuple(self.word_index),
            ids=tuple(ids),
            maxlen=self.maxlen,
            keep_last=self.truncating == "pre",
            pad_front=self.padding == "pre",
            oov_id=oov_id,
            **rules,
        )
