"""Fast encoders that give exactly the reference tokenizer's ids.

Two implementations, chosen per batch: the compiled tail scan (``tailscan``, numba, used
for batches of ``COMPILED_MIN_ROWS`` rows or more, ~300k IMDB reviews/s per core) and the
numpy byte path below (~85k/s, no compiler, used for small inputs).

The numpy path works on the UTF-8 bytes of a whole Arrow string array at once (no Python
loop per token), reading long rows from a tail window. Rows with a non-ASCII byte in the
window are sent to the reference implementation, so Unicode lowercasing and ``str.isalnum()`` stay defined in one
place. For ASCII rows the contract reduces to byte rules: A-Z lowercased, ``'`` deleted,
tokens are runs of ``[a-z0-9]``, and ``br`` directly after ``<`` is dropped.

Word lookup is exact, not hashed: a token of up to 16 bytes is packed into two uint64
(bytes 0-7 and 8-15, zero-padded; word bytes are never zero, so the packing is injective).
A mixed hash of the pair only locates the candidate vocabulary entry, which is then
confirmed by comparing both words. Tokens longer than 16 bytes go through a dict.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .tokenizer import FIRST_WORD_ID, OOV_ID, Tokenizer

_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[ord("A") : ord("Z") + 1] += 32
_IS_WORD = np.zeros(256, dtype=bool)
_IS_WORD[ord("a") : ord("z") + 1] = True
_IS_WORD[ord("0") : ord("9") + 1] = True
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
_APOSTROPHE, _LT, _B, _R = ord("'"), ord("<"), ord("b"), ord("r")
_BUCKET_BITS = 20  # 1M-entry int32 table (4 MiB): few shared buckets for a 10k vocabulary
_SHARED = -2
COMPILED_MIN_ROWS = 512


def _pack(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, ...]:
    """Tokens (<= 16 bytes) as (lo, hi) uint64 pairs, read with unaligned 8-byte loads."""
    padded = np.zeros(len(data) + 16, dtype=np.uint8)
    padded[: len(data)] = data
    words8 = np.ndarray((len(data) + 9,), dtype="<u8", buffer=padded, strides=(1,))
    lo = words8[starts] & _MASKS[np.minimum(lengths, 8)]
    hi = words8[starts + 8] & _MASKS[np.clip(lengths - 8, 0, 8)]
    return lo, hi


def _mix(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (lo * _MIX[0]) ^ ((hi + np.uint64(1)) * _MIX[1])


class FastEncoder:
    """``encode_arrow(array)`` == ``tokenizer.encode(list_of_str)``; nulls encode as padding."""

    def __init__(self, tokenizer: Tokenizer, compiled: bool | None = None) -> None:
        """``compiled``: True = always the numba tail scan, False = never, None = for
        batches of at least ``COMPILED_MIN_ROWS`` rows when numba is installed (small
        inputs then never pay numba's import)."""
        self.tokenizer = tokenizer
        self.maxlen = tokenizer.maxlen
        self.compiled = compiled
        self._scan = None
        self.long_words: dict[bytes, int] = {}
        short, short_ids = [], []
        for i, word in enumerate(tokenizer.words):
            if not word.isascii():
                continue  # only reachable from non-ASCII rows, which use the reference
            raw = word.encode("ascii")
            if len(raw) > 16:
                self.long_words[raw] = i + FIRST_WORD_ID
            else:
                short.append(raw)
                short_ids.append(i + FIRST_WORD_ID)
        blob = np.frombuffer(b"".join(short), dtype=np.uint8)
        lengths = np.array([len(w) for w in short], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        lo, hi = _pack(blob, starts, lengths) if short else (np.zeros(0, np.uint64),) * 2
        keys = _mix(lo, hi)
        order = np.argsort(keys, kind="stable")
        self._keys, self._lo, self._hi = keys[order], lo[order], hi[order]
        self._ids = np.array(short_ids, dtype=np.int32)[order]
        if len(np.unique(self._keys)) != len(self._keys):  # pragma: no cover - never seen
            raise ValueError("hash collision inside the vocabulary; cannot build FastEncoder")
        # A direct-address table on the top hash bits finds most candidates with one gather;
        # buckets shared by two vocabulary words fall back to a binary search.
        self._bucket_shift = np.uint64(64 - _BUCKET_BITS)
        buckets = (self._keys >> self._bucket_shift).astype(np.int64)
        self._table = np.full(1 << _BUCKET_BITS, -1, dtype=np.int32)
        self._table[buckets] = np.arange(len(buckets), dtype=np.int32)
        shared = np.flatnonzero(np.bincount(buckets, minlength=1 << _BUCKET_BITS) > 1)
        self._table[shared] = _SHARED

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encode_arrow(pa.array(texts, type=pa.large_string()))

    def encode_arrow(self, array: pa.Array) -> np.ndarray:
        """Ids ``(len(array), maxlen)`` int32 for an Arrow string array (nulls -> padding)."""
        ids, _ = self.encode_with_counts(array)
        return ids

    def _scanner(self):
        """The compiled tail scan and its tables, built on first use."""
        if self._scan is None:
            from . import tailscan

            words = [w.encode("utf-8") for w in self.tokenizer.words]
            if any(len(w) > tailscan.MAX_WORD for w in words):  # pragma: no cover
                raise ImportError("vocabulary words longer than the compiled scan supports")
            lengths = np.array([len(w) for w in words], dtype=np.int64)
            starts = np.zeros(len(lengths), dtype=np.int64)
            if len(lengths) > 1:
                np.cumsum(lengths[:-1], out=starts[1:])
            blob = np.frombuffer(b"".join(words) or b"\0", dtype=np.uint8)
            ids = np.arange(len(words), dtype=np.int32) + FIRST_WORD_ID
            table = tailscan.build_table(blob, starts, lengths)
            cls, low = tailscan.char_tables()
            self._scan = (tailscan.encode_tails, cls, low, blob, starts, lengths, ids, table)
        return self._scan

    def warm_up(self) -> None:
        """Build the compiled scan now (before threads share this encoder), if it is used."""
        self._use_compiled(COMPILED_MIN_ROWS)

    def _use_compiled(self, rows: int) -> bool:
        if self.compiled is False:
            return False
        if self.compiled is None and rows < COMPILED_MIN_ROWS:
            return False
        try:
            self._scanner()
        except ImportError:
            if self.compiled:
                raise
            self.compiled = False
            return False
        return True

    def encode_with_counts(
        self, array: pa.Array, tail_bytes: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ids plus each row's token count (for rows read only in part: at least maxlen).

        Only the last ``maxlen`` tokens survive truncation, so a long row is first cut to
        its last ``tail_bytes`` bytes (default ``8 * maxlen + 64``) and the window's first
        token, which may be the cut end of a longer word, is discarded. A row whose window
        then holds fewer than ``maxlen`` tokens is encoded again in full.
        """
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if not pa.types.is_large_string(array.type):
            array = array.cast(pa.large_string())
        n = len(array)
        if n == 0:
            return np.zeros((0, self.maxlen), np.int32), np.zeros(0, np.int64)
        _, off_buf, data_buf = array.buffers()
        offsets = np.frombuffer(off_buf, dtype=np.int64)[array.offset : array.offset + n + 1]
        base = int(offsets[0])
        offsets = offsets - base
        raw = (
            np.frombuffer(data_buf, dtype=np.uint8)[base : base + int(offsets[-1])]
            if data_buf is not None
            else np.zeros(0, dtype=np.uint8)
        )
        tail = 8 * self.maxlen + 64 if tail_bytes is None else tail_bytes
        if tail_bytes is None and self._use_compiled(n):
            scan, *tables = self._scanner()
            out = np.zeros((n, self.maxlen), dtype=np.int32)
            counts = np.zeros(n, dtype=np.int64)
            ref = np.zeros(n, dtype=np.bool_)
            scan(raw, offsets, self.maxlen, *tables, out, counts, ref)
            self._reference_rows(array, np.flatnonzero(ref), out, counts, tail)
            return out, counts
        lengths = np.diff(offsets)
        cut = lengths > tail
        if cut.any():
            starts = np.where(cut, offsets[1:] - tail, offsets[:-1])
            kept = offsets[1:] - starts
            new_offsets = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(kept, out=new_offsets[1:])
            index = np.repeat(starts - new_offsets[:-1], kept)
            index += np.arange(len(index), dtype=np.int64)
            raw, offsets = raw[index], new_offsets
        out, counts = self._encode_bytes(raw, offsets, cut)
        redo = cut & (counts < self.maxlen)
        redo_rows = np.flatnonzero(redo)
        if len(redo_rows):
            full_ids, full_counts = self.encode_with_counts(
                array.take(pa.array(redo_rows)), tail_bytes=1 << 62
            )
            out[redo_rows], counts[redo_rows] = full_ids, full_counts
        non_ascii_rows = np.unique(
            np.searchsorted(offsets, np.flatnonzero(raw >= 128), "right") - 1
        )
        self._reference_rows(array, non_ascii_rows[~redo[non_ascii_rows]], out, counts, tail)
        return out, counts

    def _reference_rows(
        self, array: pa.Array, rows: np.ndarray, out: np.ndarray, counts: np.ndarray, tail: int
    ) -> None:
        """Encode ``rows`` with the reference tokenizer, reading long texts from the end.

        A long text is cut to its last ``tail`` characters and the window's first token is
        discarded. Python's ``str.lower()`` is context-free except for capital sigma (its
        final form depends on the neighbours), so a window holding a Σ is not cut.
        """
        if not len(rows):
            return
        for row, text in zip(rows, array.take(pa.array(rows)).to_pylist(), strict=True):
            row_ids = None
            if len(text) > tail and "\u03a3" not in text[-tail:]:
                row_ids = self.tokenizer.ids(text[-tail:])[1:]
                if len(row_ids) < self.maxlen:
                    row_ids = None
            if row_ids is None:
                row_ids = self.tokenizer.ids(text)
            counts[row] = len(row_ids)
            out[row] = 0
            tail_ids = row_ids[-self.maxlen :]
            if tail_ids:
                out[row, self.maxlen - len(tail_ids) :] = tail_ids

    def _encode_bytes(
        self, raw: np.ndarray, offsets: np.ndarray, cut: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The byte rules on concatenated rows; ``cut`` rows lose their first token."""
        n = len(offsets) - 1
        out = np.zeros((n, self.maxlen), dtype=np.int32)
        data = _LOWER[raw]
        dropped = np.flatnonzero(data == _APOSTROPHE)
        if len(dropped):
            data = np.delete(data, dropped)
            offsets = offsets - np.searchsorted(dropped, offsets)
        is_word = _IS_WORD[data]
        row_starts, row_ends = offsets[:-1], offsets[1:]
        prev = np.zeros_like(is_word)
        prev[1:] = is_word[:-1]
        prev[row_starts[row_starts < len(data)]] = False  # tokens never span two rows
        nxt = np.zeros_like(is_word)
        nxt[:-1] = is_word[1:]
        nxt[row_ends[row_ends > 0] - 1] = False
        starts = np.flatnonzero(is_word & ~prev)
        lengths = np.flatnonzero(is_word & ~nxt) + 1 - starts
        rows = np.searchsorted(offsets, starts, "right") - 1

        drop = (
            (lengths == 2)
            & (data[starts] == _B)
            & (data[np.minimum(starts + 1, len(data) - 1)] == _R)
            & (starts > offsets[rows])
            & (data[starts - 1] == _LT)
        )
        # The first token of a cut row may be the tail end of a longer word.
        first = np.ones(len(starts), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        drop |= first & cut[rows]
        if drop.any():
            keep_tok = ~drop
            starts, lengths, rows = starts[keep_tok], lengths[keep_tok], rows[keep_tok]

        token_ids = np.full(len(starts), OOV_ID, dtype=np.int32)
        short = lengths <= 16
        lo, hi = _pack(data, starts[short], lengths[short])
        if len(self._keys):
            keys = _mix(lo, hi)
            pos = self._table[(keys >> self._bucket_shift).astype(np.int64)]
            shared = pos == _SHARED
            if shared.any():
                pos[shared] = np.searchsorted(self._keys, keys[shared])
            pos = np.clip(pos, 0, len(self._keys) - 1)
            found = (self._lo[pos] == lo) & (self._hi[pos] == hi)
            token_ids[short] = np.where(found, self._ids[pos], OOV_ID)
        if self.long_words and not short.all():
            for k in np.flatnonzero(~short):
                word = data[starts[k] : starts[k] + lengths[k]].tobytes()
                token_ids[k] = self.long_words.get(word, OOV_ID)

        counts = np.bincount(rows, minlength=n).astype(np.int64)
        ends = np.cumsum(counts)
        from_end = ends[rows] - 1 - np.arange(len(rows))  # 0 = the row's last token
        take = from_end < self.maxlen
        out[rows[take], self.maxlen - 1 - from_end[take]] = token_ids[take]

        return out, counts
