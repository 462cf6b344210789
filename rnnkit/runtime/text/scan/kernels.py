"""The scan's kernels: a single pass over each row's UTF-8 bytes, for every tokenizer spec,
written for numba and compiled by it once into object code (:mod:`.machine_code` loads that
code without numba; :mod:`.scan` is what scoring calls).

A spec describes itself as a :class:`ScanPlan`: a class and a lowercase code point for
every character (tables built from the spec's own reference rules, so each rule stays
written once), its vocabulary with the final id of each word (-1: the word is dropped),
which ``maxlen`` tokens survive truncation and where the padding goes.

* "Keep the last N" (``pad_sequences``'s ``pre`` truncating, rnnkit's contract) reads each
  row backwards from its end and stops once it has N tokens: a typical IMDB review is read
  about half. "Keep the first N" (TextVectorization) reads forwards and stops likewise.
* Characters whose class the tables do not settle (a lowercase that depends on context,
  like capital sigma, or is longer than one code point; code points past the table)
  flag the row for the spec's reference implementation, which is the definition.
* Word lookup is an exact open-address hash table (FNV-1a, then a byte-by-byte
  comparison): ids are identical, not probably identical.

Nothing here allocates or raises: the entry points work on the caller's buffers, so their
object code needs none of numba's runtime (``machine_code`` checks this when it compiles).
"""

from __future__ import annotations

import numpy as np
from numba import carray, cfunc, njit, types

from .machine_code import ObjectCode, object_code_of
from .plan import ABIS, MAX_WORD, PREFIX_HASH_MULTIPLIER


@njit(nogil=True)
def _fnv(buf, n, reverse):
    h = np.uint64(14695981039346656037)
    for k in range(n):
        c = buf[n - 1 - k] if reverse else buf[k]
        h = (h ^ np.uint64(c)) * np.uint64(1099511628211)
    return h


@njit(nogil=True)
def build_table(blob, starts, lengths, table):
    """Fill ``table`` (all -1, a power of two in size) as an open-address table of word
    indices."""
    size = len(table)
    for w in range(len(starts)):
        key = _fnv(blob[starts[w] : starts[w] + lengths[w]], lengths[w], False)
        slot = key & np.uint64(size - 1)
        while table[slot] != -1:
            slot = (slot + np.uint64(1)) & np.uint64(size - 1)
        table[slot] = w
    return table


@njit(nogil=True)
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


@njit(nogil=True)
def _char_at(data, i, e):
    """(code point, index after it) of the character starting at byte i; (-1, i + 1) if bad."""
    lead = np.int64(data[i])
    if lead < 0x80:  # ASCII: the common case, no decoding
        return lead, i + 1
    if 0xC2 <= lead <= 0xDF:
        n, cp = 2, lead & 0x1F
    elif 0xE0 <= lead <= 0xEF:
        n, cp = 3, lead & 0x0F
    elif 0xF0 <= lead <= 0xF4:
        n, cp = 4, lead & 0x07
    else:
        return np.int64(-1), i + 1
    if i + n > e:
        return np.int64(-1), i + 1
    for k in range(i + 1, i + n):
        if (data[k] & 0xC0) != 0x80:
            return np.int64(-1), i + 1
        cp = (cp << 6) | (np.int64(data[k]) & 0x3F)
    return cp, i + n


@njit(nogil=True)
def _decode(data, s, e, i, keep_last):
    """(code point, the next byte to read) of the non-ASCII character at byte i, reading
    backwards (i is its last byte) or forwards (its first)."""
    if keep_last:
        cp, first = _char_before(data, s, i)
        return cp, first - 1
    return _char_at(data, i, e)


@njit(nogil=True)
def _push(buf, n, cp, reverse):
    """Append the UTF-8 bytes of ``cp`` to ``buf`` (in reverse order if ``reverse``);
    returns the new length, which keeps counting past MAX_WORD without writing."""
    if cp < 0x80:
        units = 1
    elif cp < 0x800:
        units = 2
    elif cp < 0x10000:
        units = 3
    else:
        units = 4
    if n + units > MAX_WORD:
        return n + units
    if units == 1:
        lead = cp
    elif units == 2:
        lead = 0xC0 | (cp >> 6)
    elif units == 3:
        lead = 0xE0 | (cp >> 12)
    else:
        lead = 0xF0 | (cp >> 18)
    buf[n + units - 1 if reverse else n] = lead
    for k in range(1, units):  # continuation bytes, most significant first
        byte = 0x80 | ((cp >> (6 * (units - 1 - k))) & 0x3F)
        buf[n + units - 1 - k if reverse else n + k] = byte
    return n + units


@njit(nogil=True)
def _class_of(cp, cls, low, beyond):
    """(class, lowercase) of a code point; -1 (malformed) and code points past the tables
    included."""
    if cp < 0:
        return 3, cp  # REFERENCE
    if cp >= len(cls):
        return beyond, cp
    return cls[cp], low[cp]


@njit(nogil=True)
def _scan_row(data, s, e, row, maxlen, limit, keep_last, kept, cls, low, beyond, vocab, buf):
    """Keep the last ``maxlen`` ids right-aligned in ``row`` (``keep_last``: read backwards
    from the end), or the first ones left-aligned after the ``kept`` already there (read
    forwards). Returns (kept, words), or (-1, -1) where the reference must decide.

    One loop with the lookup inline, on purpose: a call per word that passes arrays costs
    numba's reference counting, which made the scan about 30 % slower."""
    table, blob, starts, lengths, ids, oov_id, long_words, brk, opener = vocab
    words = 0
    before = -1  # the separator in front of the word (-1: the row starts)
    step = -1 if keep_last else 1
    i = e - 1 if keep_last else s
    while (i >= s if keep_last else i < e) and (kept < maxlen or words < limit):
        if data[i] < 0x80:  # ASCII: the common case, no decoding
            cp, nxt = np.int64(data[i]), i + step
            kind = cls[cp]
        else:
            cp, nxt = _decode(data, s, e, i, keep_last)
            kind = _class_of(cp, cls, low, beyond)[0]
        if kind == 3:
            return -1, -1
        if kind != 1:
            if kind == 0 and not keep_last:
                before = cp
            i = nxt
            continue
        # A word starts (or, backwards, ends) here: collect it, skipping SKIP characters.
        n = 0
        if keep_last:
            before = -1
        while i >= s if keep_last else i < e:
            if data[i] < 0x80:
                cp, nxt = np.int64(data[i]), i + step
                kind = cls[cp]
                if kind == 1 and n < MAX_WORD:
                    buf[n] = low[cp]
                    n += 1
                    i = nxt
                    continue
            else:
                cp, nxt = _decode(data, s, e, i, keep_last)
                kind = _class_of(cp, cls, low, beyond)[0]
            if kind == 2:
                i = nxt
                continue
            if kind == 3:
                return -1, -1
            if kind == 0:
                if keep_last:
                    before = cp
                break  # the separator is read again by the outer loop
            n = _push(buf, n, low[cp] if cp < len(low) else cp, keep_last)
            i = nxt
        stored = min(n, MAX_WORD)
        if not keep_last:  # store it backwards, as below expects
            for k in range(stored // 2):
                buf[k], buf[stored - 1 - k] = buf[stored - 1 - k], buf[k]
        if n == len(brk) and before == opener:
            is_break = True
            for k in range(n):
                if buf[n - 1 - k] != brk[k]:
                    is_break = False
                    break
            if is_break:
                continue  # e.g. "<br": an HTML line break, not a word
        words += 1
        if kept >= maxlen:
            continue  # counted only: truncation drops it
        word_id = oov_id
        if n > MAX_WORD:
            if long_words:
                return -1, -1  # the vocabulary has words this long: the reference decides
        else:
            mask = np.uint64(len(table) - 1)
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
        if word_id >= 0:  # -1: the spec drops this word
            kept += 1
            row[maxlen - kept if keep_last else kept - 1] = word_id
    return kept, words


@njit(nogil=True)
def encode_rows(data, offsets, maxlen, limit, keep_last, pad_front, start_id, cls, low, beyond,
                vocab, out, counts, ref, buf):  # fmt: skip
    """Fill ``out`` (zeros) and ``counts`` (words, counted up to ``limit``); set ``ref[r]``
    where row r needs the reference. ``buf`` holds one word (MAX_WORD bytes): passed in, so
    that nothing here allocates."""
    for r in range(len(offsets) - 1):
        row = out[r]
        first = 0
        if start_id >= 0 and not keep_last:
            row[0] = start_id
            first = 1
        kept, words = _scan_row(data, offsets[r], offsets[r + 1], row, maxlen, limit, keep_last,
                                first, cls, low, beyond, vocab, buf)  # fmt: skip
        if kept < 0:
            row[:] = 0
            ref[r] = 1
            continue
        if start_id >= 0 and keep_last and kept < maxlen:  # the row was read to its start
            kept += 1
            row[maxlen - kept] = start_id
        counts[r] = words
        if keep_last != pad_front and kept < maxlen:  # move the ids to the other side
            if pad_front:
                for k in range(kept - 1, -1, -1):
                    row[maxlen - kept + k] = row[k]
                row[: maxlen - kept] = 0
            else:
                for k in range(kept):
                    row[k] = row[maxlen - kept + k]
                row[kept:] = 0


HASH_MULTIPLIER = np.uint64(PREFIX_HASH_MULTIPLIER)


@njit(nogil=True)
def _prefix_key(codes, keys, start, bits, probes, code):
    """The key of ``code`` in one level's open-address table (-1: absent)."""
    mask = (np.int64(1) << bits) - 1
    slot = np.int64((np.uint64(code) * HASH_MULTIPLIER) >> np.uint64(64 - bits))
    for probe in range(probes):
        at = start + ((slot + probe) & mask)
        if codes[at] == code:
            return keys[at]
        if codes[at] == -1:
            return np.int64(-1)
    return np.int64(-1)


@njit(nogil=True)
def bag_rows(tokens, counts, width, unigram, radix, widths, level, finals, final_start,
             distinct, stamp, pad, out, lengths):  # fmt: skip
    """Each row's bag: for each n-gram width in turn, the id of the n-gram at each position
    (0: not in the vocabulary), found through the prefix tables one word at a time; with
    ``distinct``, an id only where it first occurs (``stamp[id]`` holds the last row that
    had it). The rest of the row is ``pad``."""
    codes, keys, level_start, level_bits, level_probes = level
    for r in range(tokens.shape[0]):
        c = min(counts[r], width)
        n = 0
        for w in range(len(widths)):
            k = widths[w]
            for p in range(c - k + 1):
                if k == 1:
                    vid = np.int64(unigram[tokens[r, p]])
                else:
                    key = np.int64(tokens[r, p])
                    for j in range(2, k + 1):
                        code = key * radix + tokens[r, p + j - 1]
                        key = _prefix_key(codes, keys, level_start[j], level_bits[j],
                                          level_probes[j], code)  # fmt: skip
                        if key < 0:
                            break
                    vid = np.int64(finals[final_start[k] + key]) if key >= 0 else np.int64(0)
                if distinct:
                    if stamp[vid] == r:
                        continue
                    stamp[vid] = r
                out[r, n] = vid
                n += 1
        for q in range(n, out.shape[1]):
            out[r, q] = pad
        lengths[r] = n


# C entry points: flat pointers and sizes in, in the order the ABI lists give (a test
# checks the parameter names against them), so that the caller needs only ctypes.


def _encode_rows_c(data, n_data, offsets, n_rows, maxlen, limit, keep_last, pad_front,
                   start_id, cls, low, n_table, beyond, table, n_slots, blob, n_blob, starts,
                   lengths, ids, n_words, oov_id, long_words, brk, n_brk, opener, out, counts,
                   ref, buf):  # fmt: skip
    vocab = (
        carray(table, n_slots), carray(blob, n_blob), carray(starts, n_words),
        carray(lengths, n_words), carray(ids, n_words), oov_id, long_words != 0,
        carray(brk, n_brk), opener,
    )  # fmt: skip
    encode_rows(
        carray(data, n_data), carray(offsets, n_rows + 1), maxlen, limit, keep_last != 0,
        pad_front != 0, start_id, carray(cls, n_table), carray(low, n_table), beyond, vocab,
        carray(out, (n_rows, maxlen)), carray(counts, n_rows), carray(ref, n_rows),
        carray(buf, MAX_WORD),
    )  # fmt: skip
    return 0


def _build_table_c(blob, n_blob, starts, lengths, n_words, table, n_slots):
    build_table(
        carray(blob, n_blob), carray(starts, n_words), carray(lengths, n_words),
        carray(table, n_slots),
    )  # fmt: skip
    return 0


def _bag_rows_c(tokens, counts, n_rows, width, unigram, radix, widths, n_widths, level_codes,
                level_keys, n_level, level_start, level_bits, level_probes, n_levels, finals,
                n_finals, final_start, distinct, stamp, n_stamp, pad, out, out_width,
                lengths):  # fmt: skip
    level = (
        carray(level_codes, n_level), carray(level_keys, n_level),
        carray(level_start, n_levels), carray(level_bits, n_levels),
        carray(level_probes, n_levels),
    )  # fmt: skip
    bag_rows(
        carray(tokens, (n_rows, width)), carray(counts, n_rows), width, carray(unigram, radix),
        radix, carray(widths, n_widths), level, carray(finals, n_finals),
        carray(final_start, n_levels), distinct != 0, carray(stamp, n_stamp), pad,
        carray(out, (n_rows, out_width)), carray(lengths, n_rows),
    )  # fmt: skip
    return 0


ENTRY_POINTS = {
    "encode_rows": _encode_rows_c,
    "build_table": _build_table_c,
    "bag_rows": _bag_rows_c,
}
_NUMBA_TYPES = {
    "u8*": types.CPointer(types.uint8),
    "i8*": types.CPointer(types.int8),
    "i32*": types.CPointer(types.int32),
    "i64*": types.CPointer(types.int64),
    "i64": types.int64,
}


def compile_object_code() -> list[ObjectCode]:
    """Compile every entry point (a few seconds) to object code for this CPU."""
    codes = []
    for name, function in ENTRY_POINTS.items():
        signature = types.int64(*(_NUMBA_TYPES[kind] for _, kind in ABIS[name]))
        compiled = cfunc(signature, nogil=True)(function)
        codes.append(object_code_of(name, compiled.native_name, compiled.inspect_llvm()))
    return codes
