"""Reading review CSVs: streaming, any size, every column as text, no row lost or merged.

Arrow parses the fields, but only of complete records: rnnkit first cuts the byte stream
into blocks that end on a record boundary (:func:`scan_block`), so that

* a record of any size up to ``MAX_RECORD_BYTES`` is read (the block grows to hold it);
* a quote that is opened and never closed is an error naming its row, not a silent merge
  of everything after it into one field;
* text after a closing quote (``"abc"def``) is an error, as in Python's ``csv`` (strict);
* a row with fewer fields than the header gets the missing fields as nulls (so its text is
  ``missing_text``), and a row with more is an error naming the row;
* Arrow never reads a Python file object, so no Arrow thread calls back into Python while
  the interpreter shuts down (that once aborted the process on an error path).

Quoting follows RFC 4180 as Python's ``csv`` reads it: a field is quoted only when its
first character is ``"``; inside, ``""`` is a quote; records end at ``\\n``, ``\\r\\n`` or
``\\r`` outside quotes; blank lines are not rows.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import functools
import gzip
import io
import os
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from .errors import DataError, UsageError

TEXT_CANDIDATES = ("review", "text", "content", "body", "comment", "review_text", "sentence")
#: Bytes per block (~1,500 IMDB reviews): large enough that per-block overheads vanish
#: (measured: 2 MiB is 8 % faster end to end than 1 MiB, 4 MiB no faster), small enough
#: that the blocks in flight stay a few MiB.
BLOCK_SIZE = 2 << 20
#: The largest single record (row) rnnkit reads; a larger one is an error naming its row.
MAX_RECORD_BYTES = 256 << 20
_QUOTE, _CR, _LF = ord('"'), ord("\r"), ord("\n")


class InputStream:
    """Bytes of a path, ``-`` (stdin) or gzip data (by magic bytes), as UTF-8.

    Read errors become :class:`DataError` naming the file: a truncated or corrupt gzip
    stream, or text that is not in ``encoding``.
    """

    def __init__(self, source: str | os.PathLike, encoding: str = "utf-8") -> None:
        try:
            codec = codecs.lookup(encoding)
        except LookupError as exc:
            raise UsageError(f"unknown --encoding {encoding!r}") from exc
        self._owned = str(source) != "-"
        if not self._owned:
            self.name, self._raw = "<stdin>", sys.stdin.buffer
            if not hasattr(self._raw, "peek"):  # e.g. a test harness's BytesIO
                self._raw = io.BufferedReader(self._raw)
        else:
            path = Path(source)
            if not path.is_file():
                raise UsageError(f"{path}: no such file")
            self.name, self._raw = str(path), open(path, "rb")  # noqa: SIM115 - see close()
        self._file = self._raw
        if self._raw.peek(2)[:2] == b"\x1f\x8b":
            self._file = gzip.GzipFile(fileobj=self._raw, mode="rb")
        self._decoder = None if codec.name == "utf-8" else codec.incrementaldecoder()
        self.encoding = encoding

    def _read_raw(self, n: int) -> bytes:
        try:
            return self._file.read(n)
        except EOFError as exc:
            raise DataError(
                f"{self.name}: the gzip stream is truncated (the file ends before the "
                "end-of-stream marker); the file was cut short, copy or export it again"
            ) from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise DataError(f"{self.name}: corrupt gzip data ({exc})") from exc
        except OSError as exc:
            raise DataError(f"{self.name}: cannot read ({exc})") from exc

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of UTF-8; ``b""`` only at the end."""
        while True:
            data = self._read_raw(n)
            if self._decoder is None:
                return data
            try:
                text = self._decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{self.name}: not valid {self.encoding} text ({exc.reason}); name the "
                    "file's encoding with --encoding"
                ) from exc
            if text or not data:
                return text.encode("utf-8")

    def close(self) -> None:
        if self._owned:
            self._raw.close()


@dataclass
class BlockScan:
    """The complete records at the start of a block of CSV bytes (see :func:`scan_block`)."""

    end: int  # bytes [0, end) are complete records (and blank lines)
    starts: np.ndarray  # each record's first byte
    stops: np.ndarray  # each record's terminator (or the end of the data)
    fields: np.ndarray  # fields per record; 0 for a blank line
    problem: tuple[str, int] | None = None  # (what, byte offset) of a syntax error


def _quoted_spans(data: bytes, delim: int, at_eof: bool) -> tuple[list[int], list[int], tuple]:
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


def scan_block(data: bytes, delim: int, at_eof: bool) -> BlockScan:
    """Find the complete records in ``data``, which starts at a record boundary.

    Every ``\r`` or ``\n`` outside quotes ends a record; the empty "record" inside a
    ``\r\n`` pair is a blank line like any other, and blank lines are not rows. Without
    ``at_eof`` the last, possibly partial, record is left for the next block.
    """
    opens, closes, problem = _quoted_spans(data, delim, at_eof)
    buf = np.frombuffer(data, dtype=np.uint8)
    limit = problem[1] if problem else len(buf)  # nothing past a problem is trusted
    head = buf[:limit]
    # One comparison when the block has no "\r" (most files): this is the hot path.
    breaks = np.flatnonzero((head == _LF) | (head == _CR) if b"\r" in data else head == _LF)
    delims = np.flatnonzero(buf[:limit] == delim)
    if opens:
        o, c = np.array(opens), np.array(closes)

        def outside(x: np.ndarray) -> np.ndarray:
            k = np.searchsorted(o, x, "right") - 1
            return x[(k < 0) | (x > c[np.maximum(k, 0)])]

        breaks, delims = outside(breaks), outside(delims)
    stops = breaks
    if at_eof and not problem and (not len(breaks) or breaks[-1] + 1 < len(buf)):
        stops = np.r_[breaks, len(buf)].astype(np.int64)  # the last line has no terminator
    end = int(stops[-1]) + 1 if len(stops) else 0
    starts = np.r_[0, stops[:-1] + 1].astype(np.int64) if len(stops) else stops
    fields = np.searchsorted(delims, stops) - np.searchsorted(delims, starts) + 1
    fields[stops == starts] = 0
    if problem and problem[0] == "incomplete":
        problem = None
    return BlockScan(min(end, len(buf)), starts, stops, fields, problem)


class CsvRecords:
    """A CSV input cut into blocks of complete records: ``header`` then :meth:`blocks`."""

    def __init__(self, stream: InputStream, delimiter: str = ",") -> None:
        if len(delimiter.encode("utf-8")) != 1 or delimiter in '\r\n"':
            raise UsageError(f"--delimiter must be one ASCII character, got {delimiter!r}")
        self.stream, self.name = stream, stream.name
        self.delim = ord(delimiter)
        self.delimiter = delimiter
        self.lines = 1  # the physical line the next unread byte is on
        self._buf = b""
        self._eof = False
        self._newline = b"\n"
        self.header = self._read_header()

    def _fill(self, want: int) -> None:
        while not self._eof and len(self._buf) < want:
            chunk = self.stream.read(max(want - len(self._buf), BLOCK_SIZE))
            if not chunk:
                self._eof = True
            self._buf += chunk

    def _next_scan(self) -> BlockScan:
        """Scan until at least one complete record (or the end) is in the buffer."""
        want = BLOCK_SIZE
        while True:
            self._fill(want)
            scan = scan_block(self._buf, self.delim, self._eof)
            if scan.problem:
                self._raise(scan, *scan.problem)
            if scan.end or self._eof:
                return scan
            if len(self._buf) > MAX_RECORD_BYTES:
                raise DataError(
                    f"{self.name}: {self._where(0, 0)}: a single record longer than "
                    f"{MAX_RECORD_BYTES >> 20} MiB; rnnkit reads records up to that size "
                    "(is a quote left open?)"
                )
            want = 2 * len(self._buf)

    def _where(self, records_before: int, offset: int) -> str:
        """ "row N (0-based), line L" for a problem found while the header is read (the
        header counts as a record until then)."""
        line = self._line_at(offset)
        if not hasattr(self, "header"):
            if records_before == 0:
                return f"the header, line {line}"
            records_before -= 1
        return f"row {records_before} (0-based), line {line}"

    def _raise(self, scan: BlockScan, kind: str, where: int) -> None:
        if kind == "unterminated":
            why = (
                'a quoted field opens here (") and is never closed, so every row after it '
                'would be read as part of one field; close the quote or double it ("")'
            )
        else:
            why = 'text follows a closing quote; a quote inside a quoted field is written ""'
        where_ = self._where(int((scan.fields > 0).sum()), where)
        raise DataError(f"{self.name}: malformed CSV at {where_}: {why}")

    def _line_at(self, offset: int) -> int:
        """The physical line of a buffer offset (for messages), counting the file's line
        ends: ``\n`` (and ``\r\n``), or a bare ``\r`` in a file without any ``\n``."""
        return self.lines + self._buf.count(self._newline, 0, offset)

    def _take(self, end: int) -> bytes:
        self.lines = self._line_at(end)
        block, self._buf = self._buf[:end], self._buf[end:]
        return block

    def _read_header(self) -> list[str]:
        self._fill(3)
        if self._buf.startswith(codecs.BOM_UTF8):
            self._buf = self._buf[3:]
        self._fill(BLOCK_SIZE)
        if b"\n" not in self._buf and b"\r" in self._buf:
            self._newline = b"\r"  # old Mac line ends
        while True:
            scan = self._next_scan()
            rows = np.flatnonzero(scan.fields > 0)
            if len(rows) or self._eof:
                break
            self._take(scan.end)  # only blank lines so far
        if not len(rows):
            raise DataError(
                f"{self.name}: empty file, expected a CSV header line with column names"
            )
        first = rows[0]
        start, stop = int(scan.starts[first]), int(scan.stops[first])
        record = self._buf[start:stop]
        self._take(stop)
        try:
            text = record.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{self.name}: the header line is not valid UTF-8 text (byte 0x"
                f"{record[exc.start]:02x} at offset {exc.start}); is this a CSV file? If it "
                "is not UTF-8, name its encoding, e.g. --encoding latin-1"
            ) from exc
        (columns,) = csv.reader([text], delimiter=self.delimiter, strict=True)
        if not any(c.strip() for c in columns):
            raise DataError(f"{self.name}: the header line names no columns")
        if len(set(columns)) != len(columns):
            raise DataError(f"{self.name}: duplicate column names in the header: {columns}")
        return columns

    def blocks(self) -> Iterator[tuple[bytes, int, BlockError | None]]:
        """``(bytes of complete records, line of the first, error)`` per block.

        Only the cut is found here (the calling thread): the last record end outside
        quotes. Checking and parsing the records is :func:`load_block`'s job, in the
        scoring threads. A problem that stops reading comes as a block with its error."""
        while True:
            end, error = self._next_cut()
            if error is not None:
                yield b"", self.lines, error
                return
            if not end:
                return
            line = self.lines
            yield self._take(end), line, None

    def _next_cut(self) -> tuple[int, BlockError | None]:
        want = BLOCK_SIZE
        while True:
            self._fill(want)
            data = self._buf
            opens, closes, problem = _quoted_spans(data, self.delim, self._eof)
            if self._eof and not problem:
                return len(data), None
            end = _last_break_outside(data, problem[1] if problem else len(data), opens, closes)
            if end:
                return end, None
            if problem and problem[0] != "incomplete":
                return 0, self._problem(*problem)
            if len(data) > MAX_RECORD_BYTES:
                return 0, BlockError(
                    lambda row: (
                        f"{self.name}: row {row} (0-based), line {self.lines}: a "
                        f"single record longer than {MAX_RECORD_BYTES >> 20} MiB; rnnkit reads "
                        "records up to that size (is a quote left open?)"
                    )
                )
            want = 2 * len(data)

    def _problem(self, kind: str, where: int) -> BlockError:
        line = self._line_at(where)
        return BlockError(
            lambda row: (
                f"{self.name}: malformed CSV at row {row} (0-based), line {line}: " + PROBLEMS[kind]
            )
        )


PROBLEMS = {
    "unterminated": 'a quoted field opens here (") and is never closed, so every row after '
    'it would be read as part of one field; close the quote or double it ("")',
    "text after quote": 'text follows a closing quote; a quote inside a quoted field is written ""',
}


class BlockError(Exception):
    """A problem in a block whose first row number is only known when it is emitted (the
    blocks before it are counted then): ``describe(row)`` writes the message."""

    def __init__(self, describe: Callable[[int], str], rel_row: int = 0) -> None:
        super().__init__(describe(rel_row))
        self.describe, self.rel_row = describe, rel_row

    def to_data_error(self, rows_before: int) -> DataError:
        return DataError(self.describe(rows_before + self.rel_row))


def _last_break_outside(data: bytes, limit: int, opens: list[int], closes: list[int]) -> int:
    """One past the last line end before ``limit`` that is not inside a quoted field."""
    pos = max(data.rfind(b"\n", 0, limit), data.rfind(b"\r", 0, limit))
    while pos >= 0:
        k = bisect.bisect_right(opens, pos) - 1
        if k < 0 or (k < len(closes) and pos > closes[k]):
            return pos + 1
        top = opens[k]
        pos = max(data.rfind(b"\n", 0, top), data.rfind(b"\r", 0, top))
    return 0


def _pad(block: bytes, stops: np.ndarray, missing: np.ndarray, delimiter: str) -> bytes:
    """Insert ``missing`` delimiters before each record end: the absent fields become
    unquoted empty fields, which read as null."""
    parts, prev = [], 0
    for stop, n in zip(stops.tolist(), missing.tolist(), strict=True):
        parts += [block[prev:stop], delimiter.encode() * n]
        prev = stop
    parts.append(block[prev:])
    return b"".join(parts)


def pick_text_column(columns: list[str], wanted: str | None, name: str) -> str:
    listed = ", ".join(repr(c) for c in columns)
    if wanted is not None:
        if wanted not in columns:
            raise UsageError(f"{name}: no column {wanted!r}; columns found: {listed}")
        return wanted
    if len(columns) == 1:
        return columns[0]
    hits = [c for c in columns if c.strip().lower() in TEXT_CANDIDATES]
    if len(hits) == 1:
        return hits[0]
    why = "several candidates" if hits else "no obvious text column"
    raise UsageError(f"{name}: {why} ({listed}); choose one with --text-column")


def iter_chunks(
    source: str | os.PathLike, encoding: str = "utf-8", delimiter: str = ","
) -> tuple[list[str], str, Iterator[Chunk], Callable[[], None]]:
    """``(columns, display name, chunks, close)``: every column as text, nothing inferred.

    The calling thread only cuts the input into blocks of complete records; a block is
    checked and parsed (Arrow) when its chunk is loaded, in the scoring threads.
    Unquoted empty fields are nulls (status ``missing_text``); quoted ``""`` is an empty
    string. Text is validated as UTF-8 per block so an error can name the row.
    """
    stream = InputStream(source, encoding)
    try:
        records = CsvRecords(stream, delimiter)
    except BaseException:
        stream.close()
        raise

    def chunks() -> Iterator[Chunk]:
        try:
            for block, line, error in records.blocks():
                load = functools.partial(
                    load_block, block, records.header, records.delim, records.name, line,
                    records._newline, encoding, error,
                )  # fmt: skip
                yield Chunk(load)
        finally:
            stream.close()

    return records.header, records.name, chunks(), stream.close


@dataclass
class Chunk:
    """A block of input rows, loaded (checked and parsed) on demand, possibly in another
    thread. Loading may raise :class:`BlockError`, whose row is relative to the block."""

    load: Callable[[], pa.RecordBatch]


def load_block(
    block: bytes, columns: list[str], delim: int, name: str, line: int, newline: bytes,
    encoding: str, error: BlockError | None = None,
) -> pa.RecordBatch:  # fmt: skip
    """Parse a block of complete records (Arrow), validate the text as UTF-8.

    The calling thread has already checked the quoting. Arrow refuses a row whose field
    count differs from the header's; only then is the block scanned here, to pad short rows
    and to name a long one.
    """
    if error is not None:
        raise error
    try:
        table = _parse(block, columns, delim)
    except pa.ArrowInvalid:
        block, rows = _fix_field_counts(block, columns, delim, name, line, newline)
        table = _parse(block, columns, delim)
        if table.num_rows != rows:  # the record scan and Arrow must agree on every row
            raise BlockError(
                lambda row: (
                    f"{name}: from row {row} (0-based), line {line}: rnnkit's "
                    f"record scan found {rows} rows, Arrow's parser {table.num_rows}; please "
                    "report this file"
                )
            ) from None
    batches = table.combine_chunks().to_batches()
    batch = batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)
    return as_text(batch, name, encoding)


def _parse(block: bytes, columns: list[str], delim: int) -> pa.Table:
    return pacsv.read_csv(
        pa.py_buffer(block),
        read_options=pacsv.ReadOptions(
            column_names=columns, block_size=len(block) + 1, use_threads=False
        ),
        parse_options=pacsv.ParseOptions(delimiter=chr(delim), newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.large_binary() for c in columns},
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=False,
        ),
    )


def _fix_field_counts(
    block: bytes, columns: list[str], delim: int, name: str, line: int, newline: bytes
) -> tuple[bytes, int]:
    """Pad short rows with null fields, or name the first long row; returns the block and
    its row count."""
    scan = scan_block(block, delim, at_eof=True)
    ncols = len(columns)
    too_many = np.flatnonzero(scan.fields > ncols)
    if len(too_many):
        k = int(too_many[0])
        at = line + block.count(newline, 0, int(scan.starts[k]))
        raise BlockError(
            lambda row: (
                f"{name}: malformed CSV at row {row} (0-based), line {at}: "
                f"{scan.fields[k]} fields, the header has {ncols}. Fields containing commas, "
                "quotes or newlines must be double-quoted."
            ),
            int((scan.fields[:k] > 0).sum()),
        ) from None
    short = np.flatnonzero((scan.fields > 0) & (scan.fields < ncols))
    if len(short):
        block = _pad(block, scan.stops[short], ncols - scan.fields[short], chr(delim))
    return block, int((scan.fields > 0).sum())


def as_text(batch: pa.RecordBatch, name: str, encoding: str = "utf-8") -> pa.RecordBatch:
    """Every column as ``large_string``: bytes are checked as UTF-8 (the error names the
    row), text stays text, numbers become their text. Raises :class:`BlockError`."""
    arrays = []
    for col, arr in zip(batch.schema.names, batch.columns, strict=True):
        try:
            arrays.append(arr.cast(pa.large_string()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
                raise _utf8_error(name, col, arr, encoding) from None
            raise _type_error(name, col, arr, exc) from None
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _type_error(name: str, col: str, arr: pa.Array, exc: Exception) -> BlockError:
    return BlockError(
        lambda row: (
            f"{name}: rows {row}-{row + len(arr) - 1}, column {col!r}: {arr.type} "
            f"values cannot be read as text ({exc})"
        )
    )


def _utf8_error(name: str, col: str, arr: pa.Array, encoding: str) -> BlockError:
    for i, value in enumerate(arr.to_pylist()):
        if value is None:
            continue
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as exc:
            return BlockError(
                lambda row, b=value[exc.start], at=exc.start: (
                    f"{name}: row {row} (0-based), column {col!r}: invalid {encoding} text "
                    f"(byte 0x{b:02x} at offset {at}). If the file is not UTF-8, name its "
                    "encoding, e.g. --encoding latin-1"
                ),
                i,
            )
    return BlockError(lambda row: f"{name}: column {col!r}: invalid text near row {row}")
