"""``score_csv``: stream a CSV of reviews through the model; rows in = rows out, in order.

The calling thread parses CSV blocks (Arrow) and writes results in order; a pool of
threads, one per core, tokenizes (a compiled, GIL-free scan) and runs inference (one shared
onnxruntime session, which also releases the GIL), so parsing, tokenizing and inference
overlap on all cores in one process. A file of one block is scored inline, without a pool.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .bundle import Bundle
from .csvio import iter_batches, pick_text_column
from .errors import UsageError
from .model import SentimentModel
from .results import OK, STATUSES, result_batch, result_schema, row_numbers
from .writers import ResultSink, output_format


@dataclass
class ScoreSummary:
    """What a scoring run did; ``score_csv`` and the Spark engine both return one."""

    rows: int
    scored: int
    not_scored: int
    seconds: float
    output: str
    bundle: str
    statuses: dict[str, int]
    engine: str = "local"

    @classmethod
    def from_counts(
        cls, counts: np.ndarray, seconds: float, output: str, bundle: str, engine: str = "local"
    ) -> ScoreSummary:
        """From per-status row counts (indexed like ``STATUSES``)."""
        return cls(
            rows=int(counts.sum()),
            scored=int(counts[0]),
            not_scored=int(counts[1:].sum()),
            seconds=seconds,
            output=output,
            bundle=bundle,
            statuses={s: int(c) for s, c in zip(STATUSES, counts, strict=True)},
            engine=engine,
        )

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def line(self) -> str:
        extra = ", ".join(f"{k} {v}" for k, v in self.statuses.items() if k != OK and v)
        where = " scored on Spark" if self.engine == "spark" else ""
        return (
            f"{self.rows} rows{where}: {self.scored} scored, {self.not_scored} not scored"
            f"{f' ({extra})' if extra else ''} in {self.seconds:.2f} s "
            f"({self.rows_per_second:,.0f} rows/s) -> {self.output}"
        )


def check_options(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise UsageError(f"--threshold must be within [0, 1], got {threshold}")


def open_bundle(model, backend: str, on_bundle: Callable[[Bundle], None] | None) -> Bundle:
    """Open and check the bundle, and fail before reading any input if ``backend`` is absent."""
    bundle = Bundle.open(model)
    bundle.format_file(backend)
    if on_bundle is not None:
        on_bundle(bundle)
    return bundle


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
    fmt = output_format(format, out_name)
    check_options(threshold)
    bundle = open_bundle(model, backend, on_bundle)
    columns, name, batches = iter_batches(source, encoding)
    text_col = pick_text_column(columns, text_column, name)
    if id_column is not None and id_column not in columns:
        raise UsageError(
            f"{name}: no id column {id_column!r}; columns found: "
            + ", ".join(repr(c) for c in columns)
        )
    scorer = SentimentModel(bundle, backend=backend)
    counts = np.zeros(len(STATUSES), dtype=np.int64)
    with ResultSink(out_name, fmt, stdout) as sink, _progress_bar(progress) as bar:
        rows = 0
        for batch, probs, status in score_batches(scorer, batches, text_col, workers):
            ids = batch.column(id_column) if id_column else row_numbers(rows, batch.num_rows)
            kept = batch if keep_columns else None
            sink.write(result_batch(ids, probs, status, threshold=threshold, kept=kept))
            counts += np.bincount(status, minlength=len(STATUSES))
            rows += batch.num_rows
            bar.update(batch.num_rows)
        id_type = pa.large_string() if id_column else pa.int64()
        sink.finish(result_schema(id_type, columns if keep_columns else None))
    return ScoreSummary.from_counts(
        counts, time.perf_counter() - started, out_name or "<stdout>", str(bundle.path)
    )


def score_batches(
    scorer: SentimentModel,
    batches: Iterator[pa.RecordBatch],
    text_col: str,
    workers: int | None = None,
) -> Iterator[tuple[pa.RecordBatch, np.ndarray, np.ndarray]]:
    """``(batch, probabilities, statuses)`` for every batch, in input order.

    Threads, not processes: the tokenizer kernel and onnxruntime release the GIL and the
    CSV parser is Arrow's, so one process uses every core while holding a single copy of
    the libraries and the model (and no text crosses a pipe).
    """
    workers = workers or os.cpu_count() or 1
    first = next(batches, None)
    second = next(batches, None) if first is not None else None
    head = [b for b in (first, second) if b is not None]
    if second is None or workers == 1:  # one block, or asked for one worker: no pool
        for batch in itertools.chain(head, batches):
            yield batch, *scorer.score_arrow(batch.column(text_col))
        return
    scorer.tokenizer.warm_up()  # build the compiled scan before the threads share it
    in_flight = 2 * workers  # bounded: memory stays flat whatever the file size
    pending: deque = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rnnkit-score")
    try:
        for batch in itertools.chain(head, batches):
            while len(pending) >= in_flight:
                done, future = pending.popleft()
                yield done, *future.result()
            pending.append((batch, pool.submit(scorer.score_arrow, batch.column(text_col))))
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
