"""Scale-out: the same scoring core as ``rnnkit score``, inside Apache Spark.

The bundle directory is shipped to the executors with ``SparkContext.addFile``; each Python
worker loads it once (a module-level cache) and scores Arrow record batches with
``mapInArrow`` through :meth:`SentimentModel.score_arrow` and the CLI's own result builder,
so tokenizing, inference, statuses and labels are one code path, not a copy.

Reading CSV: Spark's defaults silently mis-read multi-line reviews (a quoted newline starts a
new row and ``\\`` is the escape), so rnnkit reads with ``multiLine=True`` and ``escape='"'``
(RFC 4180). A multi-line CSV file cannot be split, so each file is one partition: the data
is repartitioned after reading. Many files or Parquet scale better than one huge CSV.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .runtime.bundle import Bundle
from .runtime.errors import UsageError
from .runtime.model import SentimentModel
from .runtime.scoring import RESULT_COLUMNS, _result_batch

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
    from pyspark.sql import types as T

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

    id_type = T.LongType() if id_col is None else T.StringType()
    fields = [
        T.StructField("id", id_type),
        T.StructField("probability", T.FloatType()),
        T.StructField("label", T.StringType()),
        T.StructField("status", T.StringType()),
    ]
    if keep_columns:
        fields += [
            T.StructField(f"input_{c}" if c in RESULT_COLUMNS else c, T.StringType())
            for c in columns
        ]
    schema = T.StructType(fields)

    def score_batches(batches):
        import pyarrow as pa
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
            result = _result_batch(inputs, probs, status, 0, id_col, keep_columns, threshold)
            if id_col is None:
                arrays = [batch.column(row_col), *result.columns[1:]]
                result = pa.RecordBatch.from_arrays(arrays, names=result.schema.names)
            yield result.cast(pa.schema([(f.name, _arrow_type(f)) for f in schema.fields]))

    return df.mapInArrow(score_batches, schema)


def _arrow_type(field):
    import pyarrow as pa

    return {"LongType": pa.int64(), "FloatType": pa.float32()}.get(
        type(field.dataType).__name__, pa.string()
    )


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
    format: str = "parquet",
    master: str | None = None,
    encoding: str = "utf-8",
    partitions: int | None = None,
) -> int:
    """``rnnkit score --engine spark``: read, score, write a directory; returns the row count."""
    from .runtime.csvio import pick_text_column

    if format not in ("parquet", "csv"):
        raise UsageError("--engine spark writes parquet or csv directories")
    spark = session(master)
    df = read_reviews(spark, source, encoding=encoding)
    text_col = pick_text_column(df.columns, text_column, source)
    parts = partitions or spark.sparkContext.defaultParallelism
    scored = score_dataframe(
        df,
        text_col,
        id_col=id_column,
        model=model,
        backend=backend,
        threshold=threshold,
        keep_columns=keep_columns,
        partitions=parts,
    )
    writer = scored.write.mode("errorifexists")
    if format == "csv":
        writer.option("header", True).option("escape", '"').csv(output)
        written = spark.read.option("header", True).option("multiLine", True)
        return written.option("escape", '"').csv(output).count()
    writer.parquet(output)
    return spark.read.parquet(output).count()
