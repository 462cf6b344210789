"""Finding CSV records in bytes: which quotes open and close fields, where records end,
how many fields each has. Quoting as Python's ``csv`` reads it (strict): a field is quoted
only when it starts with ``"``; inside, ``""`` is a quote; records end at ``\\n``,
``\\r\\n`` or ``\\r`` outside quotes; blank lines are not rows.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

_QUOTE, _CR, _LF = ord('"'), ord("\r"), ord("\n")


@dataclass
class BlockScan:
    """The records of a block of complete CSV records (see :func:`scan_block`)."""

    starts: np.ndarray  # each record's first byte
    stops: np.ndarray  # each record's terminator (or the end of the data)
    fields: np.ndarray  # fields per record; 0 for a blank line


def quoted_spans(data: bytes, delim: int, at_eof: bool) -> tuple[list[int], list[int], tuple]:
    """Offsets of the opening and closing quotes of quoted fields (see
    :func:`_quoted_spans_exact`): vectorised, for data whose quotes all open fields or sit
    inside quoted ones and which ends outside quotes; anything else goes to the exact loop."""
    if b'"' not in data:
        return [], [], ()
    buf = np.frombuffer(data, dtype=np.uint8)
    q = np.flatnonzero(buf == _QUOTE)
    first = np.r_[True, q[1:] != q[:-1] + 1]  # runs of consecutive quotes
    starts, ends = q[first], q[np.r_[first[1:], True]]
    length = ends - starts + 1
    after = np.cumsum(length) % 2  # 1: inside a quoted field after the run
    before = np.r_[0, after[:-1]]
    n = len(data)
    ends_field = np.zeros(256, dtype=bool)  # what may stand before an opening quote
    ends_field[[delim, _LF, _CR]] = True  # and after a closing one
    opening = before == 0
    prev = buf[np.maximum(starts - 1, 0)]
    closing = after == 0
    nxt = buf[np.minimum(ends + 1, n - 1)]
    if not (
        ends_field[prev[opening & (starts > 0)]].all()
        and ends_field[nxt[closing & (ends + 1 < n)]].all()
    ):
        return _quoted_spans_exact(data, delim, at_eof)  # a literal quote, or an error
    opens, closes = starts[opening].tolist(), ends[closing].tolist()
    if after[-1] == 1 or ends[-1] + 1 == n and not at_eof:
        if at_eof:
            return _quoted_spans_exact(data, delim, at_eof)  # unterminated: name its row
        # The last field may go on in the next block: stop before it.
        return opens[:-1], closes[: len(opens) - 1], ("incomplete", opens[-1])
    return opens, closes, ()


def _quoted_spans_exact(
    data: bytes, delim: int, at_eof: bool
) -> tuple[list[int], list[int], tuple]:
    """Offsets of the opening and closing quotes of quoted fields, up to the first problem:
    ``("unterminated", open)``, ``("text after quote", open)``, or ``("incomplete", open)``
    when the block ends before the field can be known to end.

    A loop over quote characters only (a few per record), not over bytes.
    """
    opens: list[int] = []
    closes: list[int] = []
    n = len(data)
    pos = data.find(b'"')
    while pos != -1:
        prev = data[pos - 1] if pos else _LF
        if prev != delim and prev != _LF and prev != _CR:
            pos = data.find(b'"', pos + 1)  # a quote inside an unquoted field is text
            continue
        i = pos + 1
        while True:  # inside the quoted field: find its closing quote ("" is a quote)
            i = data.find(b'"', i)
            if i == -1 or (i + 1 == n and not at_eof):
                return opens, closes, ("unterminated" if at_eof else "incomplete", pos)
            if i + 1 < n and data[i + 1] == _QUOTE:
                i += 2
                continue
            break
        if i + 1 < n and data[i + 1] not in (delim, _LF, _CR):
            return opens, closes, ("text after quote", pos)
        opens.append(pos)
        closes.append(i)
        pos = data.find(b'"', i + 1)
    return opens, closes, ()


def scan_block(data: bytes, delim: int) -> BlockScan:
    """The records of ``data``: complete records whose quoting has been checked.

    Every ``\r`` or ``\n`` outside quotes ends a record; the empty "record" inside a
    ``\r\n`` pair is a blank line like any other, and blank lines are not rows.
    """
    opens, closes, _ = quoted_spans(data, delim, at_eof=True)
    buf = np.frombuffer(data, dtype=np.uint8)
    # One comparison when the block has no "\r" (most files).
    breaks = np.flatnonzero((buf == _LF) | (buf == _CR) if b"\r" in data else buf == _LF)
    delims = np.flatnonzero(buf == delim)
    if opens:
        o, c = np.array(opens), np.array(closes)

        def outside(x: np.ndarray) -> np.ndarray:
            k = np.searchsorted(o, x, "right") - 1
            return x[(k < 0) | (x > c[np.maximum(k, 0)])]

        breaks, delims = outside(breaks), outside(delims)
    stops = breaks.astype(np.int64)
    if not len(breaks) or breaks[-1] + 1 < len(buf):
        stops = np.r_[breaks, len(buf)].astype(np.int64)  # the last line has no terminator
    starts = np.r_[0, stops[:-1] + 1].astype(np.int64)
    fields = np.searchsorted(delims, stops) - np.searchsorted(delims, starts) + 1
    fields[stops == starts] = 0
    return BlockScan(starts, stops, fields)


def last_break_outside(data: bytes, limit: int, opens: list[int], closes: list[int]) -> int:
    """One past the last line end before ``limit`` that is not inside a quoted field."""
    pos = max(data.rfind(b"\n", 0, limit), data.rfind(b"\r", 0, limit))
    while pos >= 0:
        k = bisect.bisect_right(opens, pos) - 1
        if k < 0 or (k < len(closes) and pos > closes[k]):
            return pos + 1
        top = opens[k]
        pos = max(data.rfind(b"\n", 0, top), data.rfind(b"\r", 0, top))
    return 0


def pad_short_rows(block: bytes, stops: np.ndarray, missing: np.ndarray, delimiter: str) -> bytes:
    """Insert ``missing`` delimiters before each record end: the absent fields become
    unquoted empty fields, which read as null."""
    parts, prev = [], 0
    for stop, n in zip(stops.tolist(), missing.tolist(), strict=True):
        parts += [block[prev:stop], delimiter.encode() * n]
        prev = stop
    parts.append(block[prev:])
    return b"".join(parts)
