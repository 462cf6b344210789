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
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from ..errors import DataError
from ..io import inputs
from ..io.chunks import BlockError, Chunk
from ..io.coltext import is_text
from ..io.inputs import InputFile, expand_sources, pick_columns
from ..model.bundle import Bundle
from ..model.classifier import TextClassifier
from ..model.locations import resolve_bundle_path
from ..model.statuses import STATUSES
from ..text.scan.dispatch import WARM_UP_MIN_BYTES
from .request import ScoreRequest
from .results import conform, result_batch, result_schema, row_numbers
from .summary import ScoreSummary, Tally, file_counts
from .writers import ResultSink, check_targets, output_format


def open_bundle(request: ScoreRequest, on_bundle: Callable[[Bundle], None] | None) -> Bundle:
    """Open and check the request's bundle (its signature first, given a public key), and
    fail before reading any input if the request's backend has no model in it."""
    bundle = Bundle.open(request.model, public_key=request.public_key, signature=request.signature)
    bundle.format_file(request.backend)
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


def plan_inputs(request: ScoreRequest, paths: list[str]) -> Plan:
    """Read the columns of every file (``paths``: the request's sources expanded) before
    anything is written, so a missing column in the tenth file fails at once."""
    text_column, id_column, columns = request.text_column, request.id_column, request.wanted_columns
    keep_text, input_format = request.keep_text, request.input_format
    encoding, delimiter = request.encoding, request.delimiter
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
    kept_types = inputs.united_types(types)
    with_source = inputs.names_several(request.sources, [f.path for f in planned])
    return Plan(planned, id_column, with_source, kept, kept_types)


def score_files(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike | None = None,
    *,
    workers: int | None = None,
    progress: bool = False,
    stdout=None,
    on_bundle: Callable[[Bundle], None] | None = None,
    **options,
) -> ScoreSummary:
    """Score every row of ``sources`` into ``output`` (None/``-``: stdout).

    ``sources``: a path, ``-`` (stdin), a folder, a glob, or a list of them; CSV/TSV,
    Parquet or JSON Lines by extension (or ``input_format``), ``.gz`` for the text formats.
    ``options``: the fields of :class:`ScoreRequest` (``model``, ``text_column``,
    ``id_column``, ``columns``, ``keep_text``, ``keep_columns``, ``format``, ``threshold``,
    ``backend``, ``encoding``, ``input_format``, ``delimiter``, ``diagnostics``,
    ``summary``, ``public_key``, ``signature``). ``workers``: scoring threads (default: one
    per core); ``on_bundle``: called with the opened bundle before anything is read.

    Output columns: ``source`` (the file, when several are scored), ``id`` (``id_column``
    or the 0-based row number within its file), ``probability``, ``label``, ``status`` (ok,
    missing_text, empty_text, no_words, no_model_output), then the input's other columns
    (``columns`` picks them; ``keep_text`` adds the text; ``keep_columns``: every column,
    the text and the id too); ``diagnostics`` adds ``tokens``, ``oov`` and ``truncated``.
    A row that cannot be scored keeps its place with an empty probability and label. The
    returned summary (also written as JSON to ``summary``) holds the counts, and the
    input's word statistics beside training's, with drift warnings. ``public_key``: refuse
    a bundle that is not signed with its private key, before anything is read.
    """
    request = ScoreRequest.of(sources, output, **options)
    return score_request(request, workers=workers, progress=progress, stdout=stdout,
                         on_bundle=on_bundle)  # fmt: skip


def score_request(
    request: ScoreRequest,
    *,
    workers: int | None = None,
    progress: bool = False,
    stdout=None,
    on_bundle: Callable[[Bundle], None] | None = None,
) -> ScoreSummary:
    """:func:`score_files` for a request already made (the CLI makes one for both
    engines)."""
    started = time.perf_counter()
    timing: dict[str, float] = {}
    r = request
    out_name = r.out_name
    fmt = output_format(r.format, out_name)
    paths = expand_sources(r.sources)  # names only: a missing file is said before the model
    summary = None if r.summary is None else str(r.summary)
    check_targets({"`output`": out_name, "`summary`": summary}, paths,
                  resolve_bundle_path(r.model)[0])  # fmt: skip
    bundle = open_bundle(r, on_bundle)
    id_column, diagnostics, threshold = r.id_column, r.diagnostics, r.threshold
    plan = plan_inputs(r, paths)
    large = plan.input_bytes() >= WARM_UP_MIN_BYTES
    scorer = TextClassifier(bundle, backend=r.backend, warm_up=large)
    # Asked for a number of workers, or a small input (a few calls): one caller per core.
    cores = scorer.use_cores(workers or os.cpu_count() or 1, measure=large and not workers)
    timing["model_ready_at"] = time.time()  # bundle, session, self-check and cores done
    tally = Tally(scorer.tokenizer.maxlen, scorer.output)
    per_file = np.zeros((len(plan.files), len(STATUSES)), dtype=np.int64)
    id_type = pa.large_string() if id_column else pa.int64()
    with ResultSink(out_name, fmt, stdout) as sink, _progress_bar(progress) as bar:
        rows_done = [0] * len(plan.files)  # rows emitted per file: the next row's number
        chunks = _chunks_in_order(plan, r.encoding, r.delimiter)
        for k, outcome in score_batches(scorer, chunks, cores.workers, count_all=diagnostics):
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
    result.parallelism = asdict(cores)
    if plan.with_source:
        paths = [f.path for f in plan.files]
        result.files = file_counts(dict(zip(paths, per_file, strict=True)))
    if summary is not None:
        result.write_json(summary)
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


def _score_chunk(scorer: TextClassifier, chunk: Chunk, text_col: str, count_all: bool):
    """``(batch, outputs, statuses, row stats)``, or the block's error as a value: only the
    ordered consumer knows how many rows came before it."""
    try:
        batch = chunk.load()
    except BlockError as exc:
        return exc
    return (batch, *scorer.score_arrow(batch.column(text_col), count_all))


def score_batches(
    scorer: TextClassifier,
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
    with scorer.spreading_calls(workers):  # a long-sequence model's calls: on every core
        yield from _blocks_on_workers(scorer, items, workers, count_all)


def _blocks_on_workers(scorer, items, workers: int, count_all: bool):
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
