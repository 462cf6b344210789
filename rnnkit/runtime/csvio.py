"""Reading review CSVs: streaming, any size, every column as text."""

from __future__ import annotations

import csv
import gzip
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from .errors import DataError, UsageError

TEXT_CANDIDATES = ("review", "text", "content", "body", "comment", "review_text", "sentence")
BLOCK_SIZE = 1 << 20  # bytes per parsed block: ~750 IMDB reviews; bounds per-batch temporaries
HEADER_PROBE = 64 << 10


class _Prefixed(io.RawIOBase):
    """A stream that replays bytes already read (the header probe) before the rest."""

    def __init__(self, head: bytes, rest) -> None:
        self._head, self._rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._head.nbytes:
            n = min(len(buf), self._head.nbytes)
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def open_input(source: str | os.PathLike) -> tuple[io.BufferedReader, str]:
    """A binary stream for a path, ``-`` (stdin) or a gzip file (by magic bytes)."""
    if str(source) == "-":
        raw, name = sys.stdin.buffer, "<stdin>"
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        raw, name = open(path, "rb"), str(path)  # noqa: SIM115 - handed to the caller
    head = raw.read(2)
    stream = io.BufferedReader(_Prefixed(head, raw), buffer_size=1 << 20)
    if head == b"\x1f\x8b":
        stream = io.BufferedReader(gzip.GzipFile(fileobj=stream, mode="rb"), buffer_size=1 << 20)
    return stream, name


def read_header(stream: io.BufferedReader, name: str, encoding: str) -> tuple[list[str], bytes]:
    """Column names (via the csv module, so quoted names work) and the bytes consumed."""
    head = b""
    while True:
        chunk = stream.read(HEADER_PROBE)
        head += chunk
        text = head.decode(_python_encoding(encoding), errors="replace")
        rows = list(csv.reader(io.StringIO(text)))
        complete = len(rows) > 1 or not chunk or (rows and text.endswith(("\n", "\r")))
        if complete or len(head) > 64 * HEADER_PROBE:
            break
    if not rows or not any(c.strip() for c in rows[0]):
        raise DataError(f"{name}: empty file, expected a CSV header line with column names")
    return rows[0], head


def _python_encoding(encoding: str) -> str:
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


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
    source: str | os.PathLike, encoding: str = "utf-8"
) -> tuple[list[str], str, Iterator[pa.RecordBatch]]:
    """``(columns, display name, batches)``: every column as a string, nothing inferred.

    Unquoted empty fields are nulls (status ``missing_text``); quoted ``""`` is an empty
    string. Bytes are validated as UTF-8 per batch so an error can name the row.
    """
    stream, name = open_input(source)
    columns, head = read_header(stream, name, encoding)
    stream = io.BufferedReader(_Prefixed(head, stream), buffer_size=1 << 20)
    if len(set(columns)) != len(columns):
        raise DataError(f"{name}: duplicate column names in the header: {columns}")
    try:
        reader = _open_reader(stream, columns, encoding)
    except pa.ArrowInvalid as exc:  # the first block is parsed on open
        raise _malformed(name, 0, exc) from exc

    def batches() -> Iterator[pa.RecordBatch]:
        rows_done = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                raise _malformed(name, rows_done, exc) from exc
            arrays = []
            for col, arr in zip(batch.schema.names, batch.columns, strict=True):
                try:
                    arrays.append(arr.cast(pa.large_string()))
                except pa.ArrowInvalid:
                    raise _utf8_error(name, col, arr, rows_done, encoding) from None
            yield pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
            rows_done += batch.num_rows

    return columns, name, batches()


def _malformed(name: str, rows_done: int, exc: Exception) -> DataError:
    return DataError(
        f"{name}: malformed CSV after data row {rows_done} (0-based): {exc}. "
        "Fields containing commas, quotes or newlines must be double-quoted."
    )


def _open_reader(stream, columns: list[str], encoding: str) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE, encoding=encoding, use_threads=True),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.large_binary() for c in columns},
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=False,
        ),
    )


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
