"""A compiled (numba) single pass that reads each review backwards from its end.

Only the last ``maxlen`` tokens survive truncation, so the scan starts at the last byte of a
row and stops as soon as it has ``maxlen`` tokens: a typical IMDB review is read about half.

It decodes UTF-8 backwards and classifies each code point with a table built from Python's
own ``str.lower()`` and ``str.isalnum()`` (see :func:`char_tables`), so the contract stays
defined in one place. Characters whose lowercase depends on context (capital sigma) or is
longer than one code point, code points past U+1FFFF and malformed bytes flag the row for
the reference tokenizer. Word lookup is an exact open-address hash table (FNV-1a, then a
byte-by-byte comparison): ids are identical, not probably identical.

Compiling takes about a second once; the machine code is cached next to this file.
:class:`CompiledScan` is what ``Tokenizer.encode`` calls; nothing else uses this module.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from .contract import APOSTROPHES, BREAK_OPENER, BREAK_WORD, FIRST_WORD_ID, OOV_ID

MAX_WORD = 128  # bytes; longer tokens are out of vocabulary without a lookup
_BREAK = np.frombuffer(BREAK_WORD.encode("utf-8"), dtype=np.uint8)
TABLE_SIZE = 0x20000  # code points U+0000..U+1FFFF are classified; beyond: reference
SEP, WORD, APOSTROPHE, REFERENCE = 0, 1, 2, 3

_TABLES: tuple[np.ndarray, np.ndarray] | None = None


def char_tables() -> tuple[np.ndarray, np.ndarray]:
    """(class, lowercase code point) for every code point below ``TABLE_SIZE``."""
    global _TABLES
    if _TABLES is None:
        cls = np.full(TABLE_SIZE, REFERENCE, dtype=np.int8)
        low = np.arange(TABLE_SIZE, dtype=np.int32)
        for cp in range(TABLE_SIZE):
            if 0xD800 <= cp <= 0xDFFF:
                continue  # surrogates never occur in valid UTF-8
            lowered = chr(cp).lower()
            if cp == 0x3A3 or len(lowered) != 1:
                continue  # context-dependent or multi-character lowercase
            low[cp] = ord(lowered)
            if lowered in APOSTROPHES:
                cls[cp] = APOSTROPHE
            elif lowered.isalnum():
                cls[cp] = WORD
            else:
                cls[cp] = SEP
        _TABLES = (cls, low)
    return _TABLES


@njit(cache=True, nogil=True)
def _fnv(buf, n, reverse):
    h = np.uint64(14695981039346656037)
    for k in range(n):
        c = buf[n - 1 - k] if reverse else buf[k]
        h = (h ^ np.uint64(c)) * np.uint64(1099511628211)
    return h


@njit(cache=True)
def build_table(blob, starts, lengths):
    """Open-address table of word indices (-1 = empty), 4x the vocabulary, power of two."""
    size = 16
    while size < 4 * len(starts):
        size *= 2
    table = np.full(size, -1, dtype=np.int32)
    for w in range(len(starts)):
        key = _fnv(blob[starts[w] : starts[w] + lengths[w]], lengths[w], False)
        slot = key & np.uint64(size - 1)
        while table[slot] != -1:
            slot = (slot + np.uint64(1)) & np.uint64(size - 1)
        table[slot] = w
    return table


@njit(cache=True, nogil=True)
def _char_before(data, s, i):
    """(code point, first byte index) of the character ending at byte i; (-1, i) if bad."""
    b = data[i]
    if b < 0x80:
        return np.int64(b), i
    j = i
    while j > s and (data[j] & 0xC0) == 0x80 and i - j < 3:
        j -= 1
    lead = np.int64(data[j])
    n = i - j + 1
    if n == 2 and 0xC2 <= lead <= 0xDF:
        cp = lead & 0x1F
    elif n == 3 and 0xE0 <= lead <= 0xEF:
        cp = lead & 0x0F
    elif n == 4 and 0xF0 <= lead <= 0xF4:
        cp = lead & 0x07
    else:
        return np.int64(-1), i
    for k in range(j + 1, i + 1):
        cp = (cp << 6) | (np.int64(data[k]) & 0x3F)
    return cp, j


@njit(cache=True, nogil=True)
def _push_reversed(buf, n, cp):
    """Append the UTF-8 bytes of ``cp`` to ``buf`` in reverse order; returns the new n."""
    if cp < 0x80:
        units = 1
    elif cp < 0x800:
        units = 2
    elif cp < 0x10000:
        units = 3
    else:
        units = 4
    if n + units > MAX_WORD:
        return n + units  # too long for the vocabulary; keep counting
    if units == 1:
        buf[n] = cp
    elif units == 2:
        buf[n] = 0x80 | (cp & 0x3F)
        buf[n + 1] = 0xC0 | (cp >> 6)
    elif units == 3:
        buf[n] = 0x80 | (cp & 0x3F)
        buf[n + 1] = 0x80 | ((cp >> 6) & 0x3F)
        buf[n + 2] = 0xE0 | (cp >> 12)
    else:
        buf[n] = 0x80 | (cp & 0x3F)
        buf[n + 1] = 0x80 | ((cp >> 6) & 0x3F)
        buf[n + 2] = 0x80 | ((cp >> 12) & 0x3F)
        buf[n + 3] = 0xF0 | (cp >> 18)
    return n + units


@njit(cache=True, nogil=True)
def _classify(cp, cls):
    if cp < 0 or cp >= len(cls):
        return 3  # REFERENCE
    return cls[cp]


@njit(cache=True, nogil=True)
def encode_tails(
    data, offsets, maxlen, limit, cls, low, blob, starts, lengths, ids, table, out, counts, ref,
    oov_id, brk, brk_before,
):  # fmt: skip
    """Fill ``out`` (zeros) and ``counts`` (tokens, counted up to ``limit``; only the last
    ``maxlen`` are looked up); set ``ref[r]`` where row r needs the reference. ``oov_id``,
    ``brk`` (the line-break word's bytes) and ``brk_before`` (the code point before it)
    come from the contract."""
    mask = np.uint64(len(table) - 1)
    buf = np.empty(MAX_WORD, dtype=np.uint8)
    for r in range(len(offsets) - 1):
        s, i = offsets[r], offsets[r + 1] - 1
        found = 0
        while i >= s and found < limit:
            if data[i] < 0x80:  # ASCII: the common case, no decoding
                cp, first = np.int64(data[i]), i
            else:
                cp, first = _char_before(data, s, i)
            kind = _classify(cp, cls)
            if kind == 3:
                ref[r] = True
                break
            if kind != 1:
                i = first - 1
                continue
            # A word ends here: collect it backwards, skipping apostrophes inside it.
            n = 0
            before = -1  # the separator in front of the word (-1: the row starts)
            j = i
            while j >= s:
                if data[j] < 0x80:
                    cp, first = np.int64(data[j]), j
                else:
                    cp, first = _char_before(data, s, j)
                kind = _classify(cp, cls)
                if kind == 2:
                    j = first - 1
                    continue
                if kind != 1:
                    before = cp if kind == 0 else -2
                    break
                lowered = low[cp]
                if lowered < 0x80 and n < MAX_WORD:
                    buf[n] = lowered
                    n += 1
                else:
                    n = _push_reversed(buf, n, lowered)
                j = first - 1
            if before == -2:
                ref[r] = True
                break
            i = j
            if n == len(brk) and before == brk_before:
                is_break = True
                for k in range(n):
                    if buf[n - 1 - k] != brk[k]:
                        is_break = False
                        break
                if is_break:
                    continue  # "<br": an HTML line break, not a word
            found += 1
            if found > maxlen:
                continue  # counted only: truncation drops it
            word_id = oov_id
            if n <= MAX_WORD:
                slot = _fnv(buf, n, True) & mask
                while table[slot] != -1:
                    w = table[slot]
                    if lengths[w] == n:
                        same = True
                        for k in range(n):
                            if blob[starts[w] + k] != buf[n - 1 - k]:
                                same = False
                                break
                        if same:
                            word_id = ids[w]
                            break
                    slot = (slot + np.uint64(1)) & mask
            out[r, maxlen - found] = word_id
        counts[r] = found


class CompiledScan:
    """The vocabulary as flat arrays plus its hash table, ready for :func:`encode_tails`."""

    def __init__(self, words: tuple[str, ...], maxlen: int) -> None:
        encoded = [w.encode("utf-8") for w in words]  # each at most MAX_WORD bytes
        self.maxlen = maxlen
        self.lengths = np.array([len(w) for w in encoded], dtype=np.int64)
        self.starts = np.zeros(len(encoded), dtype=np.int64)
        if len(encoded) > 1:
            np.cumsum(self.lengths[:-1], out=self.starts[1:])
        self.blob = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)
        self.ids = np.arange(len(encoded), dtype=np.int32) + FIRST_WORD_ID
        self.table = build_table(self.blob, self.starts, self.lengths)
        self.cls, self.low = char_tables()

    def encode(self, array: pa.Array | pa.ChunkedArray, limit: int) -> tuple[np.ndarray, ...]:
        """``(ids, counts up to limit, rows for the reference)`` of an Arrow string array."""
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if not pa.types.is_large_string(array.type):
            array = array.cast(pa.large_string())
        n = len(array)
        out = np.zeros((n, self.maxlen), dtype=np.int32)
        counts = np.zeros(n, dtype=np.int64)
        ref = np.zeros(n, dtype=np.bool_)
        if n == 0:
            return out, counts, np.zeros(0, dtype=np.int64)
        # Arrow's own buffers, no copy: int64 offsets into one UTF-8 byte buffer.
        _, off_buf, data_buf = array.buffers()
        offsets = np.frombuffer(off_buf, dtype=np.int64)[array.offset : array.offset + n + 1]
        base = int(offsets[0])
        data = (
            np.frombuffer(data_buf, dtype=np.uint8)[base : int(offsets[-1])]
            if data_buf is not None
            else np.zeros(0, dtype=np.uint8)
        )
        encode_tails(
            data, offsets - base, self.maxlen, limit, self.cls, self.low, self.blob, self.starts,
            self.lengths, self.ids, self.table, out, counts, ref, OOV_ID, _BREAK, ord(BREAK_OPENER),
        )  # fmt: skip
        if array.null_count:  # Arrow does not promise that a null's span is empty
            nulls = array.is_null().to_numpy(zero_copy_only=False)
            out[nulls], counts[nulls], ref[nulls] = 0, 0, False
        return out, counts, np.flatnonzero(ref)
