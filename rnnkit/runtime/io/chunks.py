"""What every input reader hands to the scoring threads: chunks of rows, loaded on demand,
whose errors name their row once the rows before them have been counted."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from ..errors import DataError
from .streams import encoding_hint


@dataclass
class Chunk:
    """A block of input rows, loaded (checked and parsed) on demand, possibly in another
    thread. Loading may raise :class:`BlockError`, whose row is relative to the block."""

    load: Callable[[], pa.RecordBatch]


#: ``chunks(text_columns, read)``: the file's chunks, with ``text_columns`` as text and
#: only the columns in ``read`` (``None``: all) read; the text formats ignore both.
ReadChunks = Callable[[Sequence[str], "Sequence[str] | None"], Iterator[Chunk]]


@dataclass
class InputFile:
    """One opened input: its display name, its columns and their types, and its chunks."""

    name: str
    columns: list[str]
    chunks: ReadChunks
    close: Callable[[], None]
    types: dict[str, pa.DataType] = field(default_factory=dict)  # absent: large_string

    def type_of(self, column: str) -> pa.DataType:
        return self.types.get(column, pa.large_string())


def all_text(chunks: Iterator[Chunk]) -> ReadChunks:
    return lambda text_columns, read: chunks


class BlockError(Exception):
    """A problem in a block whose first row number is only known when it is emitted (the
    blocks before it are counted then): ``describe(row)`` writes the message."""

    def __init__(self, describe: Callable[[int], str], rel_row: int = 0) -> None:
        super().__init__(describe(rel_row))
        self.describe, self.rel_row = describe, rel_row

    def to_data_error(self, rows_before: int) -> DataError:
        return DataError(self.describe(rows_before + self.rel_row))


def as_text(
    batch: pa.RecordBatch, name: str, encoding: str = "utf-8", columns=None
) -> pa.RecordBatch:
    """``columns`` (``None``: every column) as ``large_string``, the others as they are:
    bytes are checked as UTF-8 (the error names the row), text stays text, numbers become
    their text. Raises :class:`BlockError`."""
    arrays = []
    for col, arr in zip(batch.schema.names, batch.columns, strict=True):
        if columns is not None and col not in columns:
            arrays.append(arr)
            continue
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
            why = (
                f"invalid {encoding} text (byte 0x{value[exc.start]:02x} at offset "
                f"{exc.start}). If the file is not UTF-8, name its encoding, e.g. "
                f"{encoding_hint(value)}"
            )
            return BlockError(
                lambda row, why=why: f"{name}: row {row} (0-based), column {col!r}: {why}", i
            )
    return BlockError(lambda row: f"{name}: column {col!r}: invalid text near row {row}")
