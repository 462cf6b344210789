"""``score_files``: stream reviews through the model; rows in = rows out, in order.

The calling thread reads the inputs, cuts them into blocks and writes results in order; a
pool of threads, one per core, parses a block (Arrow), tokenizes it (a compiled, GIL-free
scan) and runs inference (one shared onnxruntime session, which also releases the GIL), so
reading, parsing, tokenizing and inference overlap on all cores in one process. An input
of one block is scored inline, without a pool.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..errors import DataError, UsageError
from ..io import inputs
from ..io.chunks import BlockError, Chunk
from ..io.coltext import is_text
from ..io.inputs import InputFile, expand_sources, pick_columns
from ..model.bundle import Bundle
from ..model.classifier import SentimentModel
from ..model.statuses import STATUSES, RowStats
from .results import conform, result_batch, result_schema, row_numbers
from .summary import ScoreSummary, Tally, file_counts
from .writers import ResultSink, output_format


def check_options(threshold: float | None) -> None:
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise UsageError(f"--threshold must be within [0, 1], got {threshold}")


def open_bundle(model, backend: str, on_bundle: Callable[[Bundle], None] | None) -> Bundle:
    """Open and check the bundle, and fail before reading any input if ``backend`` is absent."""
    bundle = Bundle.open(model)
    bundle.format_file(backend)
    if on_bundle is not None:
        on_bundle(bundle)
    return bundle


@dataclass
class Plan:
    """The files to score, opened lazily, and the output's shape."""

    files: list[str]
    formats: list[str]
    columns: list[list[str]]  # each file's columns
    text_columns: list[str]
    with_source: bool
    kept: list[str] | None  # the union of input columns, when they are kept
    #: A kept column's output type: its own where every file agrees, else text.
    kept_types: dict[str, pa.DataType]
    id_column: str | None

    def read_columns(self, k: int) -> list[str] | None:
        """The columns to read from file ``k`` (``None``: all of them)."""
        if self.kept is not None:
            return None
        return [c for c in (self.text_columns[k], self.id_column) if c is not None]

    def as_text(self, k: int) -> list[str]:
        """The columns of file ``k`` that are read as text: its text and id columns."""
        return [c for c in (self.text_columns[k], self.id_column) if c is not None]


def plan_inputs(
    sources,
    *,
    text_column: str | None,
    id_column: str | None,
    keep_columns: bool,
    input_format: str | None,
    encoding: str | None,
    delimiter: str | None,
) -> tuple[Plan, dict[int, InputFile]]:
    """Expand the sources and read every file's columns before anything is written, so a
    missing column in the tenth file fails at once. Returns the files left open (the
    first, and stdin, which can only be read once), by index."""
    files = expand_sources(sources)
    formats = [inputs.input_format(f, input_format) for f in files]
    columns, text_columns, held = [], [], {}
    types: dict[str, set] = {}  # each input column's types, as read, over all files
    for k, (path, fmt) in enumerate(zip(files, formats, strict=True)):
        opened = inputs.open_input(path, fmt, encoding=encoding, delimiter=delimiter)
        if k == 0 or path == "-":
            held[k] = opened  # read on from here: stdin cannot be opened twice
        else:
            opened.close()
        text = pick_columns(opened.columns, text_column, id_column, opened.name)
        text_columns.append(text)
        columns.append(opened.columns)
        for c in opened.columns:
            read_as_text = c in (text, id_column) or is_text(opened.type_of(c))
            types.setdefault(c, set()).add(pa.large_string() if read_as_text else opened.type_of(c))
    with_source = inputs.names_several(sources, files)
    kept = list(dict.fromkeys(c for cols in columns for c in cols)) if keep_columns else None
    kept_types = {
        c: next(iter(ts)) if len(ts) == 1 else pa.large_string() for c, ts in types.items()
    }
    plan = Plan(files, formats, columns, text_columns, with_source, kept, kept_types, id_column)
    return plan, held


def score_files(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike | None = None,
    *,
    model: str | os.PathLike | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
    keep_columns: bool = False,
    format: str | None = None,
    threshold: float | None = None,
    backend: str = "onnx",
    encoding: str | None = None,
    input_format: str | None = None,
    delimiter: str | None = None,
    workers: int | None = None,
    progress: bool = False,
    diagnostics: bool = False,
    summary: str | os.PathLike | None = None,
    stdout=None,
    on_bundle: Callable[[Bundle], None] | None = None,
) -> ScoreSummary:
    """Score every row of ``sources`` into ``output`` (None/``-``: stdout).

    ``sources``: a path, ``-`` (stdin), a folder, a glob, or a list of them; CSV/TSV,
    Parquet or JSON Lines by extension (or ``input_format``), ``.gz`` for the text formats.
    Output columns: ``source`` (the file, when several are scored), ``id`` (``id_column``
    or the 0-based row number within its file), ``probability``, ``label`` (positive/
    negative at ``threshold``), ``status`` (ok, missing_text, empty_text, no_words) and,
    with ``keep_columns``, the input columns; ``diagnostics`` adds ``tokens``, ``oov`` and
    ``truncated``. A row that cannot be scored keeps its place with an empty probability
    and label. The returned summary (also written as JSON to ``summary``) holds the counts,
    and the input's word statistics beside training's, with drift warnings.
    """
    started = time.perf_counter()
    out_name = None if output is None or str(output) == "-" else str(output)
    fmt = output_format(format, out_name)
    check_options(threshold)
    bundle = open_bundle(model, backend, on_bundle)
    plan, held = plan_inputs(
        sources,
        text_column=text_column,
        id_column=id_column,
        keep_columns=keep_columns,
        input_format=input_format,
        encoding=encoding,
        delimiter=delimiter,
    )
    scorer = SentimentModel(bundle, backend=backend)
    tally = Tally(scorer.tokenizer.maxlen, scorer.output)
    per_file = np.zeros((len(plan.files), len(STATUSES)), dtype=np.int64)
    id_type = pa.large_string() if id_column else pa.int64()
    with ResultSink(out_name, fmt, stdout) as sink, _progress_bar(progress) as bar:
        tagged = _tagged_chunks(plan, held, encoding, delimiter)
        scored = score_batches(scorer, tagged, workers, count_all=diagnostics)
        rows_done = [0] * len(plan.files)  # rows emitted per file: the next row's number
        for k, batch, probs, status, stats in _row_errors_named(scored, rows_done):
            first_row = rows_done[k]
            ids = batch.column(id_column) if id_column else row_numbers(first_row, batch.num_rows)
            result = result_batch(
                ids,
                probs,
                status,
                threshold=threshold,
                kept=conform(batch, plan.kept, plan.kept_types) if plan.kept is not None else None,
                source=plan.files[k] if plan.with_source else None,
                diagnostics=stats if diagnostics else None,
                maxlen=scorer.tokenizer.maxlen,
                output=scorer.output,
            )
            sink.write(result)
            tally.add(probs, status, stats, threshold)
            per_file[k] += np.bincount(status, minlength=len(STATUSES))
            rows_done[k] += batch.num_rows
            bar.update(batch.num_rows)
        sink.finish(
            result_schema(
                id_type,
                plan.kept,
                source=plan.with_source,
                diagnostics=diagnostics,
                input_types=plan.kept_types,
                output=scorer.output,
            )  # fmt: skip
        )
    result = ScoreSummary.from_tally(
        tally,
        bundle.manifest.get("metrics", {}).get("reference_stats"),
        seconds=time.perf_counter() - started,
        output=out_name or "<stdout>",
        bundle=str(bundle.path),
    )
    if plan.with_source:
        result.files = file_counts(dict(zip(plan.files, per_file, strict=True)))
    if summary is not None:
        result.write_json(str(summary))
    return result


#: The name this function had when it read only CSV; kept for existing callers.
score_csv = score_files


def _row_errors_named(scored: Iterator, rows_done: list[int]) -> Iterator:
    """Results in order; a block's error gets its absolute row from the rows before it."""
    try:
        yield from scored
    except BlockError as exc:
        raise exc.to_data_error(rows_done[exc.tag]) from None


def _tagged_chunks(
    plan: Plan, held: dict[int, InputFile], encoding: str | None, delimiter: str | None
) -> Iterator[tuple[int, Chunk, str]]:
    """``(file index, chunk, text column)`` for every chunk of every file, in order."""
    try:
        for k, (path, fmt) in enumerate(zip(plan.files, plan.formats, strict=True)):
            opened = held.pop(k, None) or inputs.open_input(
                path, fmt, encoding=encoding, delimiter=delimiter
            )
            try:
                if opened.columns != plan.columns[k]:
                    raise DataError(f"{opened.name}: its columns changed while it was read")
                for chunk in opened.chunks(plan.as_text(k), plan.read_columns(k)):
                    yield k, chunk, plan.text_columns[k]
            finally:
                opened.close()
    finally:
        for opened in held.values():
            opened.close()


def _score_chunk(scorer: SentimentModel, tag, chunk: Chunk, text_col: str, count_all: bool):
    try:
        batch = chunk.load()
    except BlockError as exc:
        exc.tag = tag  # which input it came from, to count the rows before it
        raise
    return (batch, *scorer.score_arrow(batch.column(text_col), count_all))


def score_batches(
    scorer: SentimentModel,
    items: Iterator[tuple[object, Chunk, str]],
    workers: int | None = None,
    count_all: bool = False,
) -> Iterator[tuple[object, pa.RecordBatch, np.ndarray, np.ndarray, RowStats]]:
    """``(tag, batch, probabilities, statuses, row stats)`` for every ``(tag, chunk, text
    column)`` item, in input order.

    Threads, not processes: Arrow's parser, the tokenizer kernel and onnxruntime release
    the GIL, so one process uses every core while holding a single copy of the libraries
    and the model (and no text crosses a pipe). The calling thread reads and cuts blocks.
    """
    workers = workers or os.cpu_count() or 1
    first = next(items, None)
    second = next(items, None) if first is not None else None
    head = [x for x in (first, second) if x is not None]
    if second is None or workers == 1:  # one block, or asked for one worker: no pool
        for tag, chunk, text_col in itertools.chain(head, items):
            yield tag, *_score_chunk(scorer, tag, chunk, text_col, count_all)
        return
    in_flight = 2 * workers  # bounded: memory stays flat whatever the file size
    pending: deque = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rnnkit-score")
    try:
        for tag, chunk, text_col in itertools.chain(head, items):
            while len(pending) >= in_flight:
                done, future = pending.popleft()
                yield done, *future.result()
            job = pool.submit(_score_chunk, scorer, tag, chunk, text_col, count_all)
            pending.append((tag, job))
        while pending:
            done, future = pending.popleft()
            yield done, *future.result()
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)


class _NoBar:
    def update(self, n: int) -> None:
        pass


def _progress_bar(enabled: bool):
    if not enabled:
        return contextlib.nullcontext(_NoBar())
    from tqdm import tqdm

    return tqdm(unit=" rows", unit_scale=True, file=sys.stderr, desc="scoring")
