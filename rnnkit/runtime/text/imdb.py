"""The ``keras.datasets.imdb`` convention, applied to raw text.

``load_data`` gives each review ``[start_char] + [rank + index_from for each word]``, then
replaces every id outside ``[skip_top, num_words)`` by ``oov_char`` (the start id too). Its
words are a word index's ranks (1 = most frequent). For raw text, words are split the way
``text_to_word_sequence`` does by default, and a word the index does not hold is
``oov_char``. Sequences are then padded and truncated like ``pad_sequences`` (``pre``
by default: pre-truncation can cut the start id away, as it does in Keras).
"""

from __future__ import annotations

from dataclasses import dataclass

from .keras_tokenizer import DEFAULT_FILTERS, text_to_word_sequence, word_tables
from .scan.plan import ScanPlan
from .sequences import WordIndexSpec


@dataclass(frozen=True, eq=False)
class ImdbWordIndex(WordIndexSpec):
    kind = "imdb-word-index"
    FORMAT = "rnnkit-imdb-word-index"

    skip_top: int = 0
    start_char: int | None = 1
    oov_char: int = 2
    index_from: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.oov_char is None:
            raise ValueError("oov_char must be an id (raw text has words the index lacks)")

    def _keep(self, i: int) -> int:
        top = self.num_words
        return i if self.skip_top <= i and (top is None or i < top) else self.oov_char

    def start_id(self) -> int | None:
        return None if self.start_char is None else self._keep(self.start_char)

    def ids_and_words(self, text: str) -> tuple[list[int], int]:
        words = text_to_word_sequence(text, DEFAULT_FILTERS, True, " ")
        index, shift = self.word_index, self.index_from
        ids = [] if self.start_char is None else [self._keep(self.start_char)]
        for word in words:
            rank = index.get(word)
            ids.append(self.oov_char if rank is None else self._keep(rank + shift))
        return ids, len(words)

    def scan_plan(self) -> ScanPlan:
        start = self.start_id()
        return self.sequence_plan(
            [self._keep(rank + self.index_from) for rank in self.word_index.values()],
            self.oov_char,
            start_id=-1 if start is None else start,
            **word_tables(DEFAULT_FILTERS, True, " "),
        )

    @property
    def vocab_size(self) -> int:
        if self.num_words is not None:
            return self.num_words
        return max(max(self.word_index.values(), default=0) + self.index_from, self.oov_char) + 1

    @property
    def oov_id(self) -> int:
        return self.oov_char

    def fixed_params(self) -> dict:
        return {"split": "text_to_word_sequence defaults"}
