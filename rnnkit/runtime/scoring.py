"""``score_csv``: stream a CSV of reviews through the model; rows in = rows out, in order.

The calling thread parses CSV blocks (Arrow) and writes results in order; a pool of
threads, one per core, tokenizes (a compiled, GIL-free scan) and runs inference (one shared
onnxruntime session, which also releases the GIL), so parsing, tokenizing and inference
overlap on all cores in one process. A file with a single block is scored inline, with the
numpy tokenizer: small inputs pay neither a pool nor the compiler.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .bundle import Bundle
from .csvio import AtomicOutput, iter_batches, pick_text_column
from .errors import UsageError
from .model import OK, STATUSES, SentimentModel
from .writers import FORMATS, make_writer

RESULT_COLUMNS = ("id", "probability", "label", "status")
_STATUS_NAMES = pa.array(STATUSES, type=pa.string())


@dataclass
class ScoreSummary:
    rows: int
    scored: int
    not_scored: int
    seconds: float
    output: str
    bundle: str
    statuses: dict[str, int]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def line(self) -> str:
        extra = ", ".join(f"{k} {v}" for k, v in self.statuses.items() if k != OK and v)
        return (
            f"{self.rows} rows: {self.scored} scored, {self.not_scored} not scored"
            f"{f' ({extra})' if extra else ''} in {self.seconds:.2f} s "
            f"({self.rows_per_second:,.0f} rows/s) -> {self.output}"
        )


# -- worker side -------------------------------------------------------------------------

# -- main side ---------------------------------------------------------------------------


def _output_format(fmt: str | None, output: str | None) -> str:
    if fmt is not None:
        return fmt
    if output and output != "-":
        name = output.lower().removesuffix(".gz")
        for ext, guess in ((".parquet", "parquet"), (".jsonl", "jsonl"), (".json", "jsonl")):
            if name.endswith(ext):
                return guess
    return "csv"


def _result_batch(
    batch: pa.RecordBatch,
    probs: np.ndarray,
    status: np.ndarray,
    first_row: int,
    id_column: str | None,
    keep_columns: bool,
    threshold: float,
) -> pa.RecordBatch:
    n = batch.num_rows
    ids = (
        batch.column(id_column)
        if id_column
        else pa.array(np.arange(first_row, first_row + n, dtype=np.int64))
    )
    probability = pa.array(probs, mask=np.isnan(probs), type=pa.float32())
    # Arrow kernels, not object arrays: a null probability gives a null label.
    label = pc.if_else(pc.greater_equal(probability, threshold), "positive", "negative")
    arrays = [ids, probability, label, _STATUS_NAMES.take(pa.array(status))]
    names = list(RESULT_COLUMNS)
    if keep_columns:
        for col in batch.schema.names:
            arrays.append(batch.column(col))
            names.append(f"input_{col}" if col in RESULT_COLUMNS else col)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def score_csv(
    source: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    model: str | os.PathLike | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
    keep_columns: bool = False,
    format: str | None = None,
    threshold: float = 0.5,
    backend: str = "onnx",
    encoding: str = "utf-8",
    workers: int | None = None,
    progress: bool = False,
    stdout=None,
    on_bundle: Callable[[Bundle], None] | None = None,
) -> ScoreSummary:
    """Score every row of ``source`` (path, ``-`` or .gz) into ``output`` (None/``-``: stdout).

    Output columns: ``id`` (``id_column`` or the 0-based row number), ``probability``,
    ``label`` (positive/negative at ``threshold``), ``status`` (ok, missing_text,
    empty_text, no_words) and, with ``keep_columns``, the input columns. A row that cannot
    be scored keeps its place with an empty probability and label.
    """
    started = time.perf_counter()
    out_name = None if output is None or str(output) == "-" else str(output)
    fmt = _output_format(format, out_name)
    if fmt not in FORMATS:
        raise UsageError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    if not 0.0 <= threshold <= 1.0:
        raise UsageError(f"--threshold must be within [0, 1], got {threshold}")
    bundle = Bundle.open(model)
    bundle.format_file(backend)  # fail now, before reading input, if the format is absent
    if on_bundle is not None:
        on_bundle(bundle)
    columns, name, batches = iter_batches(source, encoding)
    text_col = pick_text_column(columns, text_column, name)
    if id_column is not None and id_column not in columns:
        raise UsageError(
            f"{name}: no id column {id_column!r}; columns found: "
            + ", ".join(repr(c) for c in columns)
        )
    workers = workers or os.cpu_count() or 1

    target = AtomicOutput(out_name) if out_name else None
    sink = target.stream if target else (stdout or sys.stdout.buffer)
    writer = None
    counts = np.zeros(len(STATUSES), dtype=np.int64)
    rows = 0
    pool: ThreadPoolExecutor | None = None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit=" rows", unit_scale=True, file=sys.stderr, desc="scoring")
    try:
        pending: deque = deque()

        def emit(batch: pa.RecordBatch, probs: np.ndarray, status: np.ndarray) -> None:
            nonlocal writer, rows
            result = _result_batch(batch, probs, status, rows, id_column, keep_columns, threshold)
            if writer is None:
                writer = make_writer(fmt, sink, result.schema)
            writer.write(result)
            counts[:] += np.bincount(status, minlength=len(STATUSES))
            rows += batch.num_rows
            if bar is not None:
                bar.update(batch.num_rows)

        model = SentimentModel(bundle, backend=backend)
        first = next(batches, None)
        second = next(batches, None) if first is not None else None
        if second is None or workers == 1:
            # Small input (or asked for one worker): no thread pool.
            for batch in (b for b in (first, second) if b is not None):
                emit(batch, *model.score_arrow(batch.column(text_col)))
            for batch in batches:
                emit(batch, *model.score_arrow(batch.column(text_col)))
        else:
            # Threads, not processes: the tokenizer kernel and onnxruntime release the GIL
            # and the CSV parser is Arrow's, so one process uses every core while holding a
            # single copy of the libraries and the model (and no text crosses a pipe).
            model.encoder.warm_up()
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rnnkit-score")
            in_flight = 2 * workers  # bounded: memory stays flat whatever the file size

            def drain(limit: int) -> None:
                while len(pending) > limit:
                    batch, future = pending.popleft()
                    emit(batch, *future.result())

            for batch in (first, second):
                pending.append((batch, pool.submit(model.score_arrow, batch.column(text_col))))
            for batch in batches:
                drain(in_flight - 1)
                pending.append((batch, pool.submit(model.score_arrow, batch.column(text_col))))
            drain(0)
        if writer is None:  # empty input: still write a valid, empty output
            empty = pa.RecordBatch.from_pylist([], schema=_empty_schema(columns, keep_columns))
            writer = make_writer(fmt, sink, empty.schema)
        writer.close()
        if target is not None:
            target.commit()
        elif hasattr(sink, "flush"):
            sink.flush()
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
            pool = None
        if target is not None:
            target.abort()
        raise
    finally:
        if pool is not None:
            pool.shutdown()
        if bar is not None:
            bar.close()
    not_scored = int(counts[1:].sum())
    return ScoreSummary(
        rows=rows,
        scored=int(counts[0]),
        not_scored=not_scored,
        seconds=time.perf_counter() - started,
        output=out_name or "<stdout>",
        bundle=str(bundle.path),
        statuses={s: int(c) for s, c in zip(STATUSES, counts, strict=True)},
    )


def _empty_schema(columns: list[str], keep_columns: bool) -> pa.Schema:
    fields = [
        pa.field("id", pa.int64()),
        pa.field("probability", pa.float32()),
        pa.field("label", pa.string()),
        pa.field("status", pa.string()),
    ]
    if keep_columns:
        fields += [
            pa.field(f"input_{c}" if c in RESULT_COLUMNS else c, pa.large_string()) for c in columns
        ]
    return pa.schema(fields)
