"""Keras's ``TextVectorization`` with ``output_mode`` ``multi_hot``, ``count`` or ``tf_idf``:
a bag of n-grams of the whole text, as TensorFlow computes it.

* tokens as in ``int`` mode (``text_vectorization.py``: standardize, whitespace split), of
  the whole text: a bag reads every word;
* n-grams: for each width in ``ngrams`` (an int n means 1..n), every run of that many
  tokens, joined by one space (``tf.strings.ngrams``); fewer tokens than a width give none;
* ids: the vocabulary starts with ``[UNK]`` at 0 (no padding entry); an unknown n-gram
  counts at 0;
* Keras's input is one vector of ``vocab_size`` per text: 1 where an id occurs
  (``multi_hot``), its occurrences (``count``), occurrences times the layer's idf weight
  (``tf_idf``).

The vector is mostly zeros, so rnnkit does not build it. ``encode`` gives the bag's ids
(``[n, longest bag]`` int32, padded with ``pad_id`` = ``vocab_size``): one per occurrence
(by width, then position) for ``count`` and ``tf_idf``, and for ``multi_hot`` each
distinct id once, where it first occurs. The exported graph gathers and sums the first Dense layer's rows for them
(times the idf weights), which is the vector times that layer's kernel; ``keras_input``
rebuilds the vector, for Keras.

The compiled scan finds the tokens (the same scan as ``int`` mode, as many ids per row as
the longest row has words), as internal ids of every word the vocabulary's n-grams are
made of; the compiled ``bag_rows`` kernel then looks the n-grams up through hash tables of
their prefixes and writes each bag.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from .scan.dispatch import COMPILED_MIN_ROWS
from .scan.plan import PREFIX_HASH_MULTIPLIER, WORD, ScanPlan
from .sequences import MAX_WORD_CHARS, MAX_WORDS, SpecTokenizer
from .standardize import describe
from .text_vectorization import (
    check_standardize,
    layer_standardize_arrow,
    layer_tables,
    layer_tokens,
)

MODES = ("multi_hot", "count", "tf_idf")
#: Token ids per row in the scan's first pass; longer rows get a second pass of their own.
FIRST_PASS_WIDTH = 1024
_ALL = np.iinfo(np.int64).max


def ngram_widths(ngrams) -> tuple[int, ...]:
    """Keras's ``ngrams``: None (1), an int n (1..n) or a tuple of widths."""
    if ngrams is None:
        return (1,)
    if isinstance(ngrams, int) and not isinstance(ngrams, bool):
        widths = tuple(range(1, ngrams + 1))
    else:
        widths = tuple(int(w) for w in ngrams)
    if not widths or any(w < 1 or w > 8 for w in widths) or len(set(widths)) != len(widths):
        raise ValueError(f"ngrams {ngrams!r}: widths must be distinct, from 1 to 8")
    return widths


@dataclass(frozen=True, eq=False)
class TextVectorizationBag(SpecTokenizer):
    kind = "text-vectorization-bag"
    FORMAT = "rnnkit-text-vectorization-bag"

    vocabulary: tuple = field(repr=False)  # get_vocabulary(): "[UNK]" at 0
    ngrams: tuple = (1,)  # widths
    output_mode: str = "multi_hot"
    idf_weights: tuple | None = field(default=None, repr=False)  # tf_idf: one per entry
    standardize: str | tuple | None = "lower_and_strip_punctuation"
    split: str = "whitespace"
    #: The vector's length: the vocabulary's, or ``max_tokens`` with ``pad_to_max_tokens``.
    depth: int | None = None
    maxlen = 0  # a bag reads the whole text: no window
    padding = "post"
    truncating = "post"

    def __post_init__(self) -> None:
        object.__setattr__(self, "standardize", check_standardize(self.standardize))
        object.__setattr__(self, "ngrams", ngram_widths(self.ngrams))
        object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
        if self.split != "whitespace":
            raise ValueError(f"split {self.split!r}: bags of n-grams take the whitespace split")
        if self.output_mode not in MODES:
            raise ValueError(f"output_mode {self.output_mode!r} is not one of {MODES}")
        vocab = self.vocabulary
        if not vocab or len(vocab) > MAX_WORDS:
            raise ValueError("vocabulary must hold the OOV token at 0, then the n-grams")
        if any(not isinstance(w, str) or len(w) > MAX_WORD_CHARS for w in vocab):
            raise ValueError("vocabulary entries must be strings of at most 65,536 characters")
        if (self.output_mode == "tf_idf") != (self.idf_weights is not None):
            raise ValueError("idf_weights are given with output_mode tf_idf, and only then")
        depth = len(vocab) if self.depth is None else int(self.depth)
        if depth < len(vocab):
            raise ValueError(f"depth {depth} is shorter than the vocabulary ({len(vocab)})")
        object.__setattr__(self, "depth", depth)
        if self.idf_weights is not None:
            weights = tuple(float(w) for w in self.idf_weights)
            if not len(vocab) <= len(weights) <= depth or not all(np.isfinite(weights)):
                raise ValueError("idf_weights must be finite, one per vocabulary entry")
            object.__setattr__(self, "idf_weights", weights)
        index: dict[str, int] = {}
        for i, entry in enumerate(vocab[1:], start=1):  # the first index of each entry
            index.setdefault(entry, i)
        object.__setattr__(self, "_index", index)

    # -- the reference ---------------------------------------------------------------

    def bag(self, text: str) -> tuple[list[int], int]:
        """The bag's ids in rnnkit's order, and the text's word count."""
        index = self._index  # type: ignore[attr-defined]
        tokens = layer_tokens(text, self.standardize, self.split)
        ids = [
            index.get(" ".join(tokens[i : i + k]), 0)
            for k in self.ngrams
            for i in range(len(tokens) - k + 1)
        ]
        return (list(dict.fromkeys(ids)) if self.output_mode == "multi_hot" else ids), len(tokens)

    def encode_reference(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        bags = [self.bag(t) if t else ([], 0) for t in texts]
        return self._padded([b for b, _ in bags]), np.array([c for _, c in bags], np.int64)

    def _padded(self, bags: list[list[int]]) -> np.ndarray:
        out = np.full((len(bags), max([1, *map(len, bags)])), self.pad_id, dtype=np.int32)
        for row, ids in enumerate(bags):
            out[row, : len(ids)] = ids
        return out

    # -- the fast path ---------------------------------------------------------------

    def encode_with_counts(self, texts, *, compiled: bool | None = None, count_all: bool = False):
        """Ids and each row's full word count (a bag always reads every word)."""
        if not isinstance(texts, (pa.Array, pa.ChunkedArray)):
            texts = pa.array(list(texts), type=pa.large_string())
        if compiled is None:
            compiled = len(texts) >= COMPILED_MIN_ROWS or "_compiled_scan" in self.__dict__
        scan = self._scan if compiled else None
        if scan is None:
            return self.encode_reference(texts.to_pylist())
        standardized = layer_standardize_arrow(texts, self.standardize)
        tokens, counts, redo = scan.encode(standardized, _ALL, FIRST_PASS_WIDTH)
        rows = np.arange(len(texts))
        long = np.flatnonzero(counts > FIRST_PASS_WIDTH)
        long = long[~np.isin(long, redo)]
        parts = [self._bags(tokens, counts)]  # long and redo rows are replaced below
        if len(long):
            longer, long_counts, _ = scan.encode(
                standardized.take(pa.array(long)), _ALL, int(counts[long].max())
            )
            parts.append((long, self._bags(longer, long_counts)))
        if len(redo):
            ids, redo_counts = self.encode_reference(texts.take(pa.array(redo)).to_pylist())
            counts[redo] = redo_counts
            parts.append((redo, ids))
        out = parts[0]
        if len(parts) > 1:
            width = max(p.shape[1] for p in [out, *(ids for _, ids in parts[1:])])
            merged = np.full((len(rows), width), self.pad_id, dtype=np.int32)
            merged[:, : out.shape[1]] = out
            for where, ids in parts[1:]:
                merged[where] = self.pad_id
                merged[where, : ids.shape[1]] = ids
            out = merged
        return out, counts

    def _bags(self, tokens: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Bags of rows of internal token ids (0: padding), in the reference's order, by
        the compiled ``bag_rows`` kernel (GIL-free, like the scan)."""
        from .scan.compiled import kernels

        tables = self._ngram_tables
        m, width = tokens.shape
        words = np.minimum(counts, width)
        longest = sum(np.maximum(words - k + 1, 0) for k in self.ngrams)
        out = np.empty((m, max(1, int(longest.max()) if m else 1)), dtype=np.int32)
        lengths = np.zeros(m, dtype=np.int64)
        stamp = np.full(self.pad_id + 1, -1, dtype=np.int32)
        kernels()["bag_rows"]({
            "tokens": np.ascontiguousarray(tokens), "counts": np.ascontiguousarray(counts),
            "n_rows": m, "width": width, **tables.kernel_arrays,
            "distinct": self.output_mode == "multi_hot", "stamp": stamp, "n_stamp": len(stamp),
            "pad": self.pad_id, "out": out, "out_width": out.shape[1], "lengths": lengths,
        })  # fmt: skip
        return out[:, : max(1, int(lengths.max()) if m else 1)]

    @functools.cached_property
    def _ngram_tables(self) -> _NgramTables:
        return _NgramTables(self.vocabulary, self.ngrams)

    def scan_plan(self) -> ScanPlan | None:
        tables = self._ngram_tables
        return ScanPlan(
            words=tables.words,
            ids=tuple(range(1, len(tables.words) + 1)),
            tables=layer_tables(self.standardize),
            beyond=WORD,
            maxlen=FIRST_PASS_WIDTH,
            keep_last=False,
            pad_front=False,
            oov_id=tables.unknown,
        )

    # -- what Keras takes, and the spec's figures -------------------------------------

    def keras_input(self, ids: np.ndarray) -> np.ndarray:
        """The vector Keras's layer gives for these bags: ``[n, vocab_size]`` float32."""
        n, size = len(ids), self.depth
        rows = np.repeat(np.arange(n), ids.shape[1])
        flat = ids.reshape(-1)
        keep = flat != self.pad_id
        dense = np.bincount(rows[keep] * size + flat[keep], minlength=n * size)
        dense = dense.reshape(n, size).astype(np.float32)
        if self.idf_weights is not None:
            weights = np.asarray(self.idf_weights, dtype=np.float32)
            dense[:, : len(weights)] *= weights
        return dense

    def oov_and_window(self, ids: np.ndarray, counts: np.ndarray):
        """Per row: the bag's n-grams the vocabulary lacks, and all of them."""
        return np.count_nonzero(ids == 0, axis=1), np.count_nonzero(ids != self.pad_id, axis=1)

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    @property
    def pad_id(self) -> int:  # type: ignore[override]
        return self.depth  # one past the vector: the graph's zero row

    @property
    def oov_id(self) -> int:
        return 0

    def word_count(self) -> int:
        return len(self.vocabulary) - 1

    def fixed_params(self) -> dict:
        return {"pad_id": self.pad_id, "reads": "the whole text"}

    def signature_entry(self, file: str) -> dict:
        entry = super().signature_entry(file)
        entry.update(output_mode=self.output_mode, ngrams=list(self.ngrams))
        if isinstance(self.standardize, tuple):
            entry["standardize"] = describe(self.standardize)
        return entry


class _NgramTables:
    """The vocabulary's words as internal ids (1..U; U+1: any other word) and its n-grams
    as tables of prefixes: level j maps (the key of a j-1 word prefix, the next word), as
    the code ``key * radix + word``, to the key of the j-word prefix."""

    def __init__(self, vocabulary: tuple, widths: tuple[int, ...]) -> None:
        words: dict[str, int] = {}
        entries = []
        for vid, entry in enumerate(vocabulary[1:], start=1):
            parts = entry.split(" ")
            if len(parts) not in widths or "" in parts:
                continue  # no n-gram of the text can be this entry
            entries.append((vid, [words.setdefault(w, len(words) + 1) for w in parts]))
        self.words = tuple(words)
        self.unknown = len(words) + 1
        radix = len(words) + 2
        unigram = np.zeros(radix, dtype=np.int32)
        top = max(widths)
        levels: list[dict] = [{} for _ in range(top + 1)]  # level j: prefix code -> key
        finals: list[dict] = [{} for _ in range(top + 1)]  # level j: key -> vocab id
        for vid, parts in entries:
            if len(parts) == 1:
                if unigram[parts[0]] == 0:
                    unigram[parts[0]] = vid
                continue
            key = parts[0]
            for j in range(2, len(parts) + 1):
                key = levels[j].setdefault(key * radix + parts[j - 1], len(levels[j]))
            finals[len(parts)].setdefault(key, vid)
        tables = [_PrefixTable(level) for level in levels]
        final_ids = [np.zeros(max(1, len(level)), dtype=np.int32) for level in levels]
        for j, final in enumerate(finals):
            for key, vid in final.items():
                final_ids[j][key] = vid
        # What the kernel reads: every level's table and final ids, one after another.
        self.kernel_arrays = {
            "unigram": unigram, "radix": radix,
            "widths": np.array(widths, dtype=np.int64), "n_widths": len(widths),
            "level_codes": np.concatenate([t.codes for t in tables]),
            "level_keys": np.concatenate([t.keys for t in tables]),
            "level_start": _starts([len(t.codes) for t in tables]),
            "level_bits": np.array([t.bits for t in tables], dtype=np.int64),
            "level_probes": np.array([t.probes for t in tables], dtype=np.int64),
            "n_levels": top + 1,
            "finals": np.concatenate(final_ids),
            "final_start": _starts([len(f) for f in final_ids]),
        }  # fmt: skip
        self.kernel_arrays["n_level"] = len(self.kernel_arrays["level_codes"])
        self.kernel_arrays["n_finals"] = len(self.kernel_arrays["finals"])


def _starts(sizes: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


class _PrefixTable:
    """int64 code -> int64 key, as an open-address table with linear probing at a load of
    at most 1/4 (most lookups end at their first slot): ``codes`` (-1: an empty slot),
    ``keys``, and the longest probe any code needs."""

    def __init__(self, entries: dict[int, int]) -> None:
        self.bits = max(4, (4 * max(len(entries), 1) - 1).bit_length())
        size = 1 << self.bits
        self.codes = np.full(size, -1, dtype=np.int64)
        self.keys = np.full(size, -1, dtype=np.int64)
        self.probes = 1
        mask, shift = size - 1, 64 - self.bits
        for code, key in entries.items():
            slot = ((code * PREFIX_HASH_MULTIPLIER) & 0xFFFFFFFFFFFFFFFF) >> shift
            probe = 0
            while self.codes[(slot + probe) & mask] != -1:
                probe += 1
            self.codes[(slot + probe) & mask] = code
            self.keys[(slot + probe) & mask] = key
            self.probes = max(self.probes, probe + 1)
