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
from ..model.bundle import Bundle, resolve_bundle_path
from ..model.classifier import SentimentModel
from ..model.statuses import STATUSES
from ..text.scanned import WARM_UP_MIN_BYTES
from .results import conform, result_batch, result_schema, row_numbers
from .summary import ScoreSummary, Tally, file_counts
from .writers import ResultSink, check_targets, output_format


def check_options(threshold: float | None) -> None:
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise UsageError(f"`threshold` must be within [0, 1], got {threshold}")


def open_bundle(
    model,
    backend: str,
    on_bundle: Callable[[Bundle], None] | None,
    public_key: str | os.PathLike | None = None,
    signature: str | os.PathLike | None = None,
) -> Bundle:
    """Open and check the bundle (its signature first, given a ``public_key``), and fail
    before reading any input if ``backend`` is absent."""
    bundle = Bundle.open(model, public_key=public_key, signature=signature)
    bundle.format_file(backend)
    if on_bundle is not None:
        on_bundle(bundle)
    return bundle


@dataclass
class PlannedFile:
    """One input, as found when its header was read: the plan keeps the first file (and
    stdin, which can only be read once) open, and reopens the others in their turn."""

    path: str
    format: str
    columns: list[str]
    text_column: str
    opened: InputFile | None = None


@dataclass
class Plan:
    """The files to score, in order, and the output's shape."""

    files: list[PlannedFile]
    id_column: str | None
    with_source: bool
    kept: list[str] | None  # the union of the files' kept columns (None: no column kept)
    #: A kept column's output type: its own where every file agrees, else text.
    kept_types: dict[str, pa.DataType]

    def text_columns(self, f: PlannedFile) -> list[str]:
        """The columns of ``f`` read as text: its text and id columns."""
        return [c for c in (f.text_column, self.id_column) if c is not None]

    def read_columns(self, f: PlannedFile) -> list[str] | None:
        """The columns to read from ``f`` (``None``: all of them)."""
        return None if self.kept is not None else self.text_columns(f)

    def input_bytes(self) -> int:
        """The files' sizes on disk (stdin, or a file gone since it was planned, counts as
        0: only a hint for warming up, never an error)."""
        total = 0
        for f in self.files:
            if f.path != "-":
                with contextlib.suppress(OSError):
                    total += os.path.getsize(f.path)
        return total

    def close(self) -> None:
        for f in self.files:
            if f.opened is not None:
                f.opened.close()
                f.opened = None


def plan_inputs(
    sources,
    paths: list[str],
    *,
    text_column: str | None,
    id_column: str | None,
    columns: Sequence[str] | None,
    keep_text: bool,
    input_format: str | None,
    encoding: str | None,
    delimiter: str | None,
) -> Plan:
    """Read the columns of every file (``paths``: the ``sources`` expanded) before anything
    is written, so a missing column in the tenth file fails at once."""
    planned: list[PlannedFile] = []
    types: dict[str, set] = {}  # each input column's types, as read, over all files
    try:
        for path in paths:
            fmt = inputs.input_format(path, input_format)
            opened = inputs.open_input(path, fmt, encoding=encoding, delimiter=delimiter)
            # Held open from here on (closed on any error): the first file, and stdin,
            # which can only be read once; the others are reopened in their turn.
            planned.append(PlannedFile(path, fmt, opened.columns, "", opened))
            text = pick_columns(opened.columns, text_column, id_column, opened.name)
            planned[-1].text_column = text
            if len(planned) > 1 and path != "-":
                planned[-1].opened = None
                opened.close()
            for c in opened.columns:
                typed = opened.type_of(c)
                as_text = c in (text, id_column) or is_text(typed)
                types.setdefault(c, set()).add(pa.large_string() if as_text else typed)
    except BaseException:
        Plan(planned, id_column, False, None, {}).close()
        raise
    kept = list(
        dict.fromkeys(
            c
            for f in planned
            for c in inputs.kept_columns(
                f.columns,
                f.text_column,
                id_column,
                wanted=columns,
                keep_text=keep_text,
                name=f.path,
            )  # fmt: skip
        )
    )
    kept = kept or None  # only the text (and the id): nothing read beyond them
    kept_types = {
        c: next(iter(ts)) if len(ts) == 1 else pa.large_string() for c, ts in types.items()
    }
    with_source = inputs.names_several(sources, [f.path for f in planned])
    return Plan(planned, id_column, with_source, kept, kept_types)


def score_files(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike | None = None,
    *,
    model: str | os.PathLike | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    keep_text: bool = False,
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
    public_key: str | os.PathLike | None = None,
    signature: str | os.PathLike | None = None,
) -> ScoreSummary:
    """Score every row of ``sources`` into ``output`` (None/``-``: stdout).

    ``sources``: a path, ``-`` (stdin), a folder, a glob, or a list of them; CSV/TSV,
    Parquet or JSON Lines by extension (or ``input_format``), ``.gz`` for the text formats.
    Output columns: ``source`` (the file, when several are scored), ``id`` (``id_column``
    or the 0-based row number within its file), ``probability``, ``label`` (positive/
    negative at ``threshold``), ``status`` (ok, missing_text, empty_text, no_words, no_model_output) and,
    then the input's other columns (``columns`` picks them; ``keep_text`` adds the text;
    ``keep_columns``: every column, the text and the id too); ``diagnostics`` adds ``tokens``, ``oov`` and
    ``truncated``. A row that cannot be scored keeps its place with an empty probability
    and label. The returned summary (also written as JSON to ``summary``) holds the counts,
    and the input's word statistics beside training's, with drift warnings.
    ``public_key``: refuse a bundle that is not signed with its private key (the signature
    at ``signature``, default ``BUNDLE/model.sig``), before anything is read.
    """
    started = time.perf_counter()
    timing: dict[str, float] = {}
    out_name = None if output is None or str(output) == "-" else str(output)
    fmt = output_format(format, out_name)
    check_options(threshold)
    paths = expand_sources(sources)  # names only: a missing file is said before the model
    outputs = {"`output`": out_name, "`summary`": None if summary is None else str(summary)}
    check_targets(outputs, paths, resolve_bundle_path(model)[0])
    bundle = open_bundle(model, backend, on_bundle, public_key, signature)
    plan = plan_inputs(
        sources,
        paths,
        text_column=text_column,
        id_column=id_column,
        columns=inputs.ALL_COLUMNS if keep_columns else columns,
        keep_text=keep_text,
        input_format=input_format,
        encoding=encoding,
        delimiter=delimiter,
    )
    scorer = SentimentModel(
        bundle, backend=backend, warm_up=plan.input_bytes() >= WARM_UP_MIN_BYTES
    )
    timing["model_ready_at"] = time.time()  # bundle, session and self-check done
    tally = Tally(scorer.tokenizer.maxlen, scorer.output)
    per_file = np.zeros((len(plan.files), len(STATUSES)), dtype=np.int64)
    id_type = pa.large_string() if id_column else pa.int64()
    with ResultSink(out_name, fmt, stdout) as sink, _progress_bar(progress) as bar:
        rows_done = [0] * len(plan.files)  # rows emitted per file: the next row's number
        chunks = _chunks_in_order(plan, encoding, delimiter)
        for k, outcome in score_batches(scorer, chunks, workers, count_all=diagnostics):
            # The end of start-up: the first block is back from scoring (epoch seconds).
            timing.setdefault("first_block_at", time.time())
            first_row = rows_done[k]
            if isinstance(outcome, BlockError):  # its row counts from the rows before it
                raise outcome.to_data_error(first_row) from None
            batch, probs, status, stats = outcome
            ids = batch.column(id_column) if id_column else row_numbers(first_row, batch.num_rows)
            result = result_batch(
                ids,
                probs,
                status,
                threshold=threshold,
                kept=conform(batch, plan.kept, plan.kept_types) if plan.kept is not None else None,
                source=plan.files[k].path if plan.with_source else None,
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
    result.timing = {"started_at": round(time.time() - result.seconds, 3), **timing}
    if plan.with_source:
        paths = [f.path for f in plan.files]
        result.files = file_counts(dict(zip(paths, per_file, strict=True)))
    if summary is not None:
        result.write_json(str(summary))
    return result


def _chunks_in_order(
    plan: Plan, encoding: str | None, delimiter: str | None
) -> Iterator[tuple[int, Chunk, str]]:
    """``(file index, chunk, text column)`` for every chunk of every file, in order."""
    try:
        for k, f in enumerate(plan.files):
            if f.opened is None:
                f.opened = inputs.open_input(
                    f.path, f.format, encoding=encoding, delimiter=delimiter
                )
            if f.opened.columns != f.columns:
                raise DataError(f"{f.opened.name}: its columns changed while it was read")
            for chunk in f.opened.chunks(plan.text_columns(f), plan.read_columns(f)):
                yield k, chunk, f.text_column
            f.opened.close()
            f.opened = None
    finally:
        plan.close()


def _score_chunk(scorer: SentimentModel, chunk: Chunk, text_col: str, count_all: bool):
    """``(batch, outputs, statuses, row stats)``, or the block's error as a value: only the
    ordered consumer knows how many rows came before it."""
    try:
        batch = chunk.load()
    except BlockError as exc:
        return exc
    return (batch, *scorer.score_arrow(batch.column(text_col), count_all))


def score_batches(
    scorer: SentimentModel,
    items: Iterator[tuple[object, Chunk, str]],
    workers: int | None = None,
    count_all: bool = False,
) -> Iterator[tuple[object, tuple | BlockError]]:
    """``(tag, (batch, outputs, statuses, row stats))`` for every ``(tag, chunk, text
    column)`` item, in input order; a block that cannot be read comes as ``(tag, error)``.

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
            yield tag, _score_chunk(scorer, chunk, text_col, count_all)
        return
    in_flight = 2 * workers  # bounded: memory stays flat whatever the file size
    pending: deque = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rnnkit-score")
    try:
        for tag, chunk, text_col in itertools.chain(head, items):
            while len(pending) >= in_flight:
                done, future = pending.popleft()
                yield done, future.result()
            job = pool.submit(_score_chunk, scorer, chunk, text_col, count_all)
            pending.append((tag, job))
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
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
