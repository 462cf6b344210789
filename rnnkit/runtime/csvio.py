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

import codecs
import csv
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
BLOCK_SIZE = 1 << 20  # bytes per parsed block: ~750 IMDB reviews; bounds per-batch temporaries
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
    breaks = np.flatnonzero((buf[:limit] == _LF) | (buf[:limit] == _CR))
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
        self.rows = 0  # data rows handed out so far
        self.lines = 1  # the physical line the next unread byte is on
        self._buf = b""
        self._eof = False
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
        """ "row N (0-based), line L" for the record after ``records_before`` records of the
        current buffer (the header counts as a record until it has been read)."""
        line = self._line_at(offset)
        if not hasattr(self, "header"):
            if records_before == 0:
                return f"the header, line {line}"
            records_before -= 1
        return f"row {self.rows + records_before} (0-based), line {line}"

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
        head = self._buf[:offset]
        return self.lines + head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n")

    def _take(self, end: int) -> bytes:
        block, self._buf = self._buf[:end], self._buf[end:]
        self.lines = self._line_at(0) + (
            block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
        )
        return block

    def _read_header(self) -> list[str]:
        self._fill(3)
        if self._buf.startswith(codecs.BOM_UTF8):
            self._buf = self._buf[3:]
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

    def blocks(self) -> Iterator[tuple[bytes, int]]:
        """``(bytes of complete records, index of its first data row)``; short rows are
        padded with empty (null) fields, a row with too many fields is an error."""
        ncols = len(self.header)
        while True:
            scan = self._next_scan()
            if not scan.end:
                return
            too_many = np.flatnonzero(scan.fields > ncols)
            if len(too_many):
                k = int(too_many[0])
                where = self._where(int((scan.fields[:k] > 0).sum()), int(scan.starts[k]))
                raise DataError(
                    f"{self.name}: malformed CSV at {where}: {scan.fields[k]} fields, the "
                    f"header has {ncols}. Fields containing commas, quotes or newlines must "
                    "be double-quoted."
                )
            short = np.flatnonzero((scan.fields > 0) & (scan.fields < ncols))
            first_row = self.rows
            block = self._take(scan.end)
            if len(short):
                block = _pad(block, scan.stops[short], ncols - scan.fields[short], self.delimiter)
            self.rows += int((scan.fields > 0).sum())
            yield block, first_row


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


def iter_batches(
    source: str | os.PathLike, encoding: str = "utf-8", delimiter: str = ","
) -> tuple[list[str], str, Iterator[pa.RecordBatch], Callable[[], None]]:
    """``(columns, display name, batches, close)``: every column as text, nothing inferred.

    Unquoted empty fields are nulls (status ``missing_text``); quoted ``""`` is an empty
    string. Text is validated as UTF-8 per batch so an error can name the row.
    """
    stream = InputStream(source, encoding)
    try:
        records = CsvRecords(stream, delimiter)
    except BaseException:
        stream.close()
        raise

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for block, first_row in records.blocks():
                table = _parse(block, records.header, delimiter)
                for batch in table.to_batches():
                    yield _as_text(batch, records.name, first_row, encoding)
                    first_row += batch.num_rows
        finally:
            stream.close()

    return records.header, records.name, batches(), stream.close


def _parse(block: bytes, columns: list[str], delimiter: str) -> pa.Table:
    return pacsv.read_csv(
        pa.py_buffer(block),
        read_options=pacsv.ReadOptions(
            column_names=columns, block_size=len(block) + 1, use_threads=False
        ),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.large_binary() for c in columns},
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=False,
        ),
    )


def _as_text(batch: pa.RecordBatch, name: str, first_row: int, encoding: str) -> pa.RecordBatch:
    arrays = []
    for col, arr in zip(batch.schema.names, batch.columns, strict=True):
        try:
            arrays.append(arr.cast(pa.large_string()))
        except pa.ArrowInvalid:
            raise _utf8_error(name, col, arr, first_row, encoding) from None
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _utf8_error(name: str, col: str, arr: pa.Array, first_row: int, encoding: str) -> DataError:
    for i, value in enumerate(arr.to_pylist()):
        if value is None:
            continue
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as exc:
            return DataError(
                f"{name}: row {first_row + i} (0-based), column {col!r}: invalid {encoding} "
                f"text (byte 0x{value[exc.start]:02x} at offset {exc.start}). If the file is "
                "not UTF-8, name its encoding, e.g. --encoding latin-1"
            )
    return DataError(f"{name}: column {col!r}: invalid text near row {first_row}")
