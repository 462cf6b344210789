"""Scale-out: the same scoring core as ``rnnkit score``, inside Apache Spark.

The bundle directory is shipped to the executors with ``SparkContext.addFile``; each Python
worker loads it once (a module-level cache) and scores Arrow record batches with
``mapInArrow`` through :meth:`SentimentModel.score_arrow` and the shared result builder
(``runtime/results.py``), so tokenizing, inference, statuses, labels and the output schema
are one code path, not a copy.

Reading CSV: Spark's defaults silently mis-read multi-line reviews (a quoted newline starts a
new row and ``\\`` is the escape), so rnnkit reads with ``multiLine=True`` and ``escape='"'``
(RFC 4180). A multi-line CSV file cannot be split, so each file is one partition: the data
is repartitioned after reading. Many files or Parquet scale better than one huge CSV.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from .runtime.bundle import Bundle
from .runtime.errors import RnnkitError, UsageError
from .runtime.model import SentimentModel
from .runtime.results import STATUSES, result_batch, result_schema
from .runtime.scoring import ScoreSummary, check_options, open_bundle

_MODELS: dict[tuple[str, str], SentimentModel] = {}
# Spark reads both an unquoted empty field and a quoted "" as null by default; rnnkit tells
# them apart (missing_text vs empty_text), so "" is read as this marker and restored.
EMPTY_MARKER = "\x00rnnkit-empty\x00"


def _worker_model(bundle_dir: str, backend: str) -> SentimentModel:
    """One model per Python worker process, loaded on first use and then reused."""
    key = (bundle_dir, backend)
    if key not in _MODELS:
        _MODELS[key] = SentimentModel(Bundle.open(bundle_dir), backend=backend)
    return _MODELS[key]


def session(master: str | None = None, app_name: str = "rnnkit"):
    """A SparkSession (``local[*]`` by default) set up for Arrow and this interpreter."""
    # Spark binds to the external interface otherwise, which fails on closed networks.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Workers must run the interpreter that has rnnkit installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    import warnings

    from pyspark.sql import SparkSession

    # rnnkit exchanges Arrow batches (mapInArrow), never pandas frames, with Spark.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    spark = (
        SparkSession.builder.master(master or "local[*]")
        .appName(app_name)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read_reviews(spark, source: str, *, encoding: str = "utf-8"):
    """A DataFrame of every column as text from CSV (path, directory, glob) or Parquet."""
    if source.rstrip("/").endswith(".parquet") or _is_parquet_dir(source):
        return spark.read.parquet(source)
    return (
        spark.read.option("header", True)
        .option("multiLine", True)
        .option("escape", '"')
        .option("encoding", encoding)
        .option("emptyValue", EMPTY_MARKER)
        .option("inferSchema", False)
        .option("mode", "FAILFAST")  # a malformed row is an error, never silently dropped
        .csv(source)
    )


def _is_parquet_dir(source: str) -> bool:
    path = Path(source)
    return path.is_dir() and any(path.glob("*.parquet"))


def score_dataframe(
    df,
    text_col: str = "review",
    *,
    id_col: str | None = None,
    model: str | os.PathLike | None = None,
    backend: str = "onnx",
    threshold: float = 0.5,
    keep_columns: bool = False,
    partitions: int | None = None,
):
    """Score a Spark DataFrame; returns the CLI's columns (id, probability, label, status).

    Without ``id_col`` the id is the 0-based row number in Spark's read order (for a single
    CSV file: its row number, as in ``rnnkit score``; pass ``id_col`` for many files).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    columns = df.columns
    if text_col not in columns:
        raise UsageError(f"no column {text_col!r}; columns found: {', '.join(map(repr, columns))}")
    if id_col is not None and id_col not in columns:
        raise UsageError(f"no id column {id_col!r}; columns found: {', '.join(map(repr, columns))}")
    bundle = Bundle.open(model)  # verify hashes on the driver before shipping
    bundle.format_file(backend)
    spark = df.sparkSession
    spark.sparkContext.addFile(str(bundle.path), recursive=True)
    bundle_name = bundle.path.name

    df = df.select([F.col(c).cast("string").alias(c) for c in columns])
    row_col = "__rnnkit_row"
    if id_col is None:
        df = _with_row_number(df, row_col)
    if partitions:
        df = df.repartition(partitions)

    schema = result_schema(
        pa.int64() if id_col is None else pa.string(), columns if keep_columns else None
    )
    schema = pa.schema(
        [f.with_type(pa.string()) if f.type == pa.large_string() else f for f in schema]
    )

    def score_batches(batches):
        import pyarrow.compute as pc
        from pyspark import SparkFiles

        scorer = _worker_model(SparkFiles.get(bundle_name), backend)
        for batch in batches:
            restored = [
                pc.if_else(pc.equal(batch.column(c), EMPTY_MARKER), "", batch.column(c))
                for c in columns
            ]
            inputs = pa.RecordBatch.from_arrays(restored, names=columns)
            probs, status = scorer.score_arrow(inputs.column(text_col))
            ids = batch.column(row_col if id_col is None else id_col)
            kept = inputs if keep_columns else None
            result = result_batch(ids, probs, status, threshold=threshold, kept=kept)
            yield result.cast(schema)

    return df.mapInArrow(score_batches, from_arrow_schema(schema))


def _with_row_number(df, name: str):
    """0-based row numbers in read order, without collecting the data to the driver."""
    from pyspark.sql import functions as F

    pid, mono = "__rnnkit_pid", "__rnnkit_mono"
    df = df.withColumn(pid, F.spark_partition_id()).withColumn(
        mono, F.monotonically_increasing_id()
    )
    sizes = dict(df.groupBy(pid).count().collect())
    offsets, total = {}, 0
    for p in sorted(sizes):
        offsets[p], total = total, total + sizes[p]
    start = (
        F.create_map(*[F.lit(x) for p, o in offsets.items() for x in (p, o)]) if offsets else None
    )
    # monotonically_increasing_id = partition id << 33 | row within the partition
    within = F.col(mono) - F.shiftleft(F.col(pid).cast("long"), 33)
    row = (start[F.col(pid)] + within) if start is not None else within
    return df.withColumn(name, row.cast("long")).drop(pid, mono)


def score_files(
    source: str,
    output: str,
    *,
    text_column: str | None = None,
    id_column: str | None = None,
    model: str | os.PathLike | None = None,
    backend: str = "onnx",
    threshold: float = 0.5,
    keep_columns: bool = False,
    format: str | None = None,
    master: str | None = None,
    encoding: str = "utf-8",
    partitions: int | None = None,
    on_bundle: Callable[[Bundle], None] | None = None,
) -> ScoreSummary:
    """``rnnkit score --engine spark``: read, score, write a directory, count what was written.

    Spark's own failures are raised as :class:`SparkJobError` with the root cause.
    """
    from .runtime.csvio import pick_text_column

    started = time.perf_counter()
    format = format or "parquet"
    if not output or output == "-":
        raise UsageError("--engine spark writes a directory: give it with -o")
    if format not in ("parquet", "csv"):
        raise UsageError("--engine spark writes parquet or csv directories")
    check_options(threshold)
    bundle = open_bundle(model, backend, on_bundle)
    try:
        spark = session(master)
        df = read_reviews(spark, source, encoding=encoding)
        text_col = pick_text_column(df.columns, text_column, source)
        scored = score_dataframe(
            df,
            text_col,
            id_col=id_column,
            model=bundle.path,
            backend=backend,
            threshold=threshold,
            keep_columns=keep_columns,
            partitions=partitions or spark.sparkContext.defaultParallelism,
        )
        writer = scored.write.mode("errorifexists")
        if format == "csv":
            writer.option("header", True).option("escape", '"').csv(output)
            written = spark.read.schema(scored.schema).option("header", True)
            written = written.option("multiLine", True).option("escape", '"').csv(output)
        else:
            writer.parquet(output)
            written = spark.read.parquet(output)
        by_status = dict(written.groupBy("status").count().collect())
    except RnnkitError:
        raise
    except Exception as exc:  # Spark's own errors (AnalysisException, Py4JJavaError, ...)
        if type(exc).__module__.startswith(("pyspark", "py4j")):
            raise SparkJobError(f"Spark failed: {root_cause(exc)}") from exc
        raise
    counts = np.array([by_status.get(s, 0) for s in STATUSES], dtype=np.int64)
    return ScoreSummary.from_counts(
        counts, time.perf_counter() - started, output, str(bundle.path), engine="spark"
    )


class SparkJobError(RnnkitError):
    """A Spark job failed; the message carries the root cause from the Java side."""


def root_cause(exc: BaseException) -> str:
    """The innermost message of a Spark error: the Java cause chain, not Py4J's wrapper."""
    messages = []
    java = getattr(exc, "java_exception", None)
    while java is not None:
        try:
            text = java.toString()
            java = java.getCause()
        except Exception:  # noqa: BLE001 - the gateway may be gone; keep what we have
            break
        messages.append(text)
    if messages:
        return messages[-1][:1000]
    text = str(exc).strip()
    return text.splitlines()[0][:1000] if text else repr(exc)
