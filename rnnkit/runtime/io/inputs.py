"""Inputs as they come: files, folders, globs and stdin; CSV/TSV, Parquet and JSON Lines.

Every reader yields Arrow record batches whose text and id columns are text
(``large_string``; nothing is type-guessed, numbers arrive as their text), so column
picking, statuses and the output are the same whatever the format. CSV and JSON Lines
columns are all text; a Parquet file's other columns keep their types, and only the
columns the output needs are read. Both engines use :func:`expand_sources` and
:func:`input_format`.
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa

from ..errors import DataError, UsageError
from .chunks import Chunk, InputFile, as_text
from .csvio import iter_chunks
from .jsonio import open_json

INPUT_FORMATS = ("csv", "tsv", "parquet", "jsonl")
TEXT_CANDIDATES = ("review", "text", "content", "body", "comment", "review_text", "sentence")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
PARQUET_BATCH_ROWS = 4096


def input_format(name: str, forced: str | None = None) -> str:
    """``forced`` if given, else the format named by the extension (``.gz`` ignored)."""
    if forced is not None:
        if forced not in INPUT_FORMATS:
            raise UsageError(f"unknown `input_format` {forced!r}; choose from {INPUT_FORMATS}")
        return forced
    if name == "-":
        return "csv"
    stem = name.lower().removesuffix(".gz")
    for ext, fmt in EXTENSIONS.items():
        if stem.endswith(ext):
            return fmt
    raise UsageError(
        f"{name}: cannot tell the input format from the extension; name it with "
        f"`input_format` ({', '.join(INPUT_FORMATS)})"
    )


def pick_columns(
    columns: list[str], text_column: str | None, id_column: str | None, name: str
) -> str:
    """The text column (see :func:`pick_text_column`), after checking the id column."""
    if id_column is not None and id_column not in columns:
        raise UsageError(
            f"{name}: no id column {id_column!r}; columns found: "
            + ", ".join(repr(c) for c in columns)
        )
    return pick_text_column(columns, text_column, name)


#: ``kept_columns``'s ``wanted`` for every column, the text and the id included
#: (``keep_columns``).
ALL_COLUMNS = ("*",)


def kept_columns(
    columns: Sequence[str],
    text_column: str,
    id_column: str | None,
    *,
    wanted: Sequence[str] | None = None,
    keep_text: bool = False,
    name: str = "the input",
) -> list[str]:
    """The input columns an output carries beside the scores, in the input's order: by
    default every column but the text and the id (a newcomer's keys are kept); ``wanted``
    (``columns``) picks them instead; ``keep_text`` adds the text. One rule for both
    engines."""
    if tuple(wanted or ()) == ALL_COLUMNS:
        return list(columns)
    if wanted is not None:
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise UsageError(
                f"{name}: `columns` names {', '.join(map(repr, missing))}, which it lacks; "
                "columns found: " + ", ".join(repr(c) for c in columns)
            )
        chosen = set(wanted)
    else:
        chosen = {c for c in columns if c not in (text_column, id_column)}
    if keep_text:
        chosen.add(text_column)
    return [c for c in columns if c in chosen]


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
    raise UsageError(f"{name}: {why} ({listed}); choose one with `text_column`")


def is_input_name(name: str) -> bool:
    """A file name an input folder is scanned for: a known extension (``.gz`` too), not
    hidden, not Spark's ``_SUCCESS`` and the like."""
    stem = name.lower().removesuffix(".gz")
    return not name.startswith((".", "_")) and any(stem.endswith(e) for e in EXTENSIONS)


def source_list(sources: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """One source or several, as a list of strings (every engine takes either)."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    return [str(s) for s in sources]


def expand_sources(sources: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Paths, folders (their input files, recursively) and globs, as a list of files.

    Each folder and each glob contributes its files in sorted order; the sources keep the
    order they were given in. ``-`` is stdin.
    """
    sources = source_list(sources)
    files: list[str] = []
    for source in sources:
        if source == "-":
            files.append(source)
        elif Path(source).is_dir():
            found = sorted(
                str(p) for p in Path(source).rglob("*") if p.is_file() and is_input_name(p.name)
            )
            if not found:
                raise UsageError(
                    f"{source}: no input files in this folder (looked for "
                    f"{', '.join(EXTENSIONS)}, also .gz)"
                )
            files += found
        elif glob.has_magic(source):
            found = sorted(p for p in glob.glob(source, recursive=True) if Path(p).is_file())
            if not found:
                raise UsageError(f"{source}: no file matches this pattern")
            files += found
        elif Path(source).is_file():
            files.append(source)
        else:
            raise UsageError(f"{source}: no such file")
    if files.count("-") > 1:
        raise UsageError("stdin (-) can be read only once")
    return files


def names_several(sources, files: list[str]) -> bool:
    """Whether output rows need a ``source`` column: several files, or a folder or glob
    (whose file count the user does not choose)."""
    sources = source_list(sources)
    return len(files) > 1 or any(Path(s).is_dir() or glob.has_magic(s) for s in sources)


def open_input(
    source: str, fmt: str, *, encoding: str | None = None, delimiter: str | None = None
) -> InputFile:
    """``encoding=None``: from the byte-order mark, else UTF-8. ``delimiter=None``: tab for
    TSV, and detected from the header for CSV (see ``csvio.detect_delimiter``)."""
    if fmt in ("csv", "tsv"):
        sep = delimiter or ("\t" if fmt == "tsv" else None)
        return iter_chunks(source, encoding, sep)
    if source == "-" and fmt == "parquet":
        raise UsageError("Parquet cannot be read from stdin; give a path")
    if fmt == "parquet":
        return _open_parquet(source)
    return open_json(source, encoding)


def _open_parquet(source: str) -> InputFile:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{source}: not a readable Parquet file ({exc})") from exc
    schema = file.schema_arrow
    columns = schema.names

    def chunks(text_columns: Sequence[str], read: Sequence[str] | None) -> Iterator[Chunk]:
        first_row = 0
        wanted = None if read is None else [c for c in columns if c in read]
        try:
            # Streamed by row group, only the columns needed: a file is never loaded whole,
            # and a nested column nobody asked for is never decoded. The text conversion
            # runs in the scoring threads; its errors name their row like a CSV block's.
            for batch in file.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=wanted):
                yield Chunk(functools.partial(as_text, batch, source, columns=list(text_columns)))
                first_row += batch.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(
                f"{source}: unreadable Parquet data after row {first_row} ({exc})"
            ) from exc
        finally:
            file.close()

    types = {f.name: f.type for f in schema}
    return InputFile(source, columns, chunks, file.close, types)


def united_types(types: dict[str, set[pa.DataType]]) -> dict[str, pa.DataType]:
    """Each column's type over every file: its own where all files agree, else text (both
    engines' rule)."""
    return {c: next(iter(ts)) if len(ts) == 1 else pa.large_string() for c, ts in types.items()}
