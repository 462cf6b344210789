"""Output writers: CSV, JSON Lines and Parquet, one Arrow record batch at a time.

Every writer has ``write_batch(batch)`` and ``close()``: Arrow's CSV and Parquet writers
already do, and :class:`JsonlWriter` follows them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import OverwriteError, UsageError
from ..files import first_same_file, is_inside, partial_file
from ..io.coltext import as_output_text, for_text_output, text_schema
from ..signals import deferred

FORMATS = ("csv", "jsonl", "parquet")


class JsonlWriter:
    """One JSON object per row. Numbers are written by Arrow (shortest float32 repr, so
    0.9 stays ``0.9``), text by the json module; nulls are ``null``."""

    def __init__(self, sink, schema: pa.Schema) -> None:
        self._sink = sink
        self._keys = [json.dumps(name, ensure_ascii=False) + ":" for name in schema.names]

    def write_batch(self, batch: pa.RecordBatch) -> None:
        columns = []
        for column in batch.columns:
            t = column.type
            if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                    or pa.types.is_decimal(t)):  # fmt: skip
                # Text, and kept times and dates: a JSON string of their text.
                values = [
                    "null" if v is None else json.dumps(v, ensure_ascii=False)
                    for v in as_output_text(column).to_pylist()
                ]
            else:  # Arrow's text of a number is valid JSON
                text = pc.cast(column, pa.string()).to_pylist()
                values = ["null" if v is None else v for v in text]
            columns.append(values)
        lines = [
            "{" + ",".join(k + v for k, v in zip(self._keys, row, strict=True)) + "}\n"
            for row in zip(*columns, strict=True)
        ]
        self._sink.write("".join(lines).encode("utf-8"))

    def close(self) -> None:
        self._sink.flush()


def make_writer(fmt: str, sink, schema: pa.Schema):
    if fmt == "csv":
        return pacsv.CSVWriter(sink, schema)
    if fmt == "parquet":
        import pyarrow.parquet as pq  # its filesystems' imports: CSV and JSON runs skip them

        return pq.ParquetWriter(sink, schema, compression="zstd")
    return JsonlWriter(sink, schema)


def output_format(fmt: str | None, output: str | None) -> str:
    """``fmt`` if given, else from the output's extension (``.gz`` ignored), else csv."""
    if fmt is None and output and output != "-":
        name = output.lower().removesuffix(".gz")
        for ext, guess in ((".parquet", "parquet"), (".jsonl", "jsonl"), (".json", "jsonl")):
            if name.endswith(ext):
                fmt = guess
    return fmt or "csv"  # a given format was checked with the request


def check_targets(targets: dict[str, str | None], inputs: list[str], bundle_dir: Path) -> None:
    """Refuse, before anything is read or written, an output file (``targets``: option ->
    path) that is one of the ``inputs`` (through a folder, a glob, a symlink or a hard
    link: the same inode), a file of the model bundle, or another output's file."""
    named = [(option, path) for option, path in targets.items() if path]
    files = [p for p in inputs if p != "-"]
    for option, path in named:
        hit = first_same_file(path, files)
        if hit is not None:
            raise OverwriteError(
                f"{path}: is one of the inputs ({hit}); {option} would replace it. Give "
                f"{option} another file name"
            )
        if is_inside(path, bundle_dir):
            raise OverwriteError(
                f"{path}: is inside the model bundle {bundle_dir}; {option} would change a "
                f"file the bundle vouches for. Give {option} a file outside it"
            )
    if len(named) == 2 and Path(named[0][1]).resolve() == Path(named[1][1]).resolve():
        raise OverwriteError(
            f"{named[0][1]}: {named[0][0]} and {named[1][0]} name the same file; give them two"
        )


class AtomicOutput:
    """A file written beside its target and renamed into place only on success.

    After an error, Ctrl-C or SIGTERM there is no file at the target and no partial file
    left behind (and one that a killed run left is removed: see ``runtime/files.py``).
    """

    def __init__(self, target: str | os.PathLike) -> None:
        self.target = Path(target)
        if self.target.is_dir():
            raise UsageError(f"{self.target}: is a directory; give a file name as `output`")
        if not self.target.parent.is_dir():
            raise UsageError(f"{self.target.parent}: output directory does not exist")
        self.stream, self.tmp = partial_file(self.target)

    def commit(self) -> None:
        self.stream.close()
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        self.stream.close()
        self.tmp.unlink(missing_ok=True)


class ResultSink:
    """Where result batches go: stdout, or a file that is complete or absent.

    The writer is made on the first batch, whose schema (the id's type) depends on the data.
    Use as a context manager: leaving it with an exception removes the partial file.
    """

    def __init__(self, output: str | None, fmt: str, stdout=None) -> None:
        self.fmt = fmt
        self.target = None
        try:
            with deferred():  # raised once the partial file is ours to remove
                self.target = AtomicOutput(output) if output else None
        except BaseException:
            if self.target is not None:
                self.target.abort()
            raise
        self.stream = self.target.stream if self.target else (stdout or sys.stdout.buffer)
        self.writer = None

    def write(self, batch: pa.RecordBatch) -> None:
        if self.fmt != "parquet":  # kept nested and bytes columns: text (coltext.py)
            batch = for_text_output(batch)
        if self.writer is None:
            self.writer = make_writer(self.fmt, self.stream, batch.schema)
        self.writer.write_batch(batch)

    def finish(self, empty_schema: pa.Schema) -> None:
        """Close the writer (an empty input still gets a valid, empty output)."""
        if self.writer is None:
            if self.fmt != "parquet":
                empty_schema = text_schema(empty_schema)
            self.writer = make_writer(self.fmt, self.stream, empty_schema)
        self.writer.close()
        if self.target is not None:
            self.target.commit()
        elif hasattr(self.stream, "flush"):
            self.stream.flush()

    def __enter__(self) -> ResultSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or self.target is None:
            return
        if self.writer is not None:
            # Close it now, while its file is open: a Parquet writer left to the garbage
            # collector would write its footer to a closed file and print a traceback.
            with contextlib.suppress(Exception):
                self.writer.close()
        self.target.abort()
