"""Scale-out: the same scoring core as ``rnnkit score``, inside Apache Spark.

The bundle directory is shipped to the executors with ``SparkContext.addFile``; each Python
worker loads it once (a module-level cache) and scores Arrow record batches with
``mapInArrow`` through :meth:`TextClassifier.score_arrow` and the shared result builder
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
import zlib
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from .runtime.errors import RnnkitError, UsageError
from .runtime.io import coltext, inputs
from .runtime.io.csvio import detect_delimiter
from .runtime.io.inputs import expand_sources
from .runtime.io.streams import bom_encoding
from .runtime.model.bundle import Bundle
from .runtime.model.classifier import TextClassifier
from .runtime.model.signature import OutputSpec
from .runtime.model.statuses import OK_CODE, STATUSES
from .runtime.scoring.pipeline import open_bundle
from .runtime.scoring.request import ScoreRequest
from .runtime.scoring.results import result_batch, result_schema
from .runtime.scoring.summary import ScoreSummary, Tally, file_counts, probability_bin
from .runtime.scoring.writers import check_targets

_MODELS: dict[tuple[str, str], TextClassifier] = {}
SOURCE_COL, ROW_COL, TEXT_COL = "__rnnkit_source", "__rnnkit_row", "__rnnkit_text"
#: Per-row counts behind the run summary: status code, probability bin, words, and the
#: out-of-vocabulary and all words of the window.
STATUS_COL, PBIN_COL, TOKENS_COL = "__rnnkit_status", "__rnnkit_pbin", "__rnnkit_tokens"
OOV_COL, WINDOW_COL = "__rnnkit_oov", "__rnnkit_window"
TALLY_COLUMNS = (STATUS_COL, PBIN_COL, TOKENS_COL, OOV_COL, WINDOW_COL)
# Spark reads both an unquoted empty field and a quoted "" as null by default; rnnkit tells
# them apart (missing_text vs empty_text), so "" is read as this marker and restored.
EMPTY_MARKER = "\x00rnnkit-empty\x00"


def _worker_model(bundle_dir: str, backend: str) -> TextClassifier:
    """One model per Python worker process, loaded on first use and then reused."""
    key = (bundle_dir, backend)
    if key not in _MODELS:
        _MODELS[key] = TextClassifier(Bundle.open(bundle_dir), backend=backend)
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
    # Failed tasks log Java stack traces at ERROR; rnnkit reports the cause itself.
    spark.sparkContext.setLogLevel("FATAL")
    return spark


def list_files(spark, sources) -> list[str]:
    """Input files of ``sources`` (paths, folders, globs), local or on any Hadoop
    filesystem (``hdfs://``, ``s3a://`` ...), each source's files in sorted order."""
    files: list[str] = []
    for source in inputs.source_list(sources):
        if "://" not in source or source.startswith("file://"):
            files += expand_sources([source.removeprefix("file://")])
            continue
        jvm, conf = spark._jvm, spark._jsc.hadoopConfiguration()
        path = jvm.org.apache.hadoop.fs.Path(source)
        fs = path.getFileSystem(conf)
        found = []
        for status in fs.globStatus(path) or []:
            if status.isDirectory():
                it = fs.listFiles(status.getPath(), True)
                while it.hasNext():
                    found.append(it.next().getPath().toString())
            else:
                found.append(status.getPath().toString())
        found = sorted(f for f in found if inputs.is_input_name(f.rsplit("/", 1)[-1]))
        if not found:
            raise UsageError(f"{source}: no input files found")
        files += found
    return files


def _head(spark, path: str, size: int = 1 << 16) -> bytes:
    """The first bytes of a file on any Hadoop filesystem (gzip: decompressed)."""
    jvm = spark._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    stream = hpath.getFileSystem(spark._jsc.hadoopConfiguration()).open(hpath)
    try:
        data = bytes(stream.readNBytes(size))  # a returned byte[] crosses py4j as bytes
    finally:
        stream.close()
    if data[:2] == b"\x1f\x8b":
        data = zlib.decompressobj(wbits=31).decompress(data)
    return data


def sniff(head: bytes, fmt: str, encoding: str | None, delimiter: str | None) -> dict:
    """What the local reader decides from a file's first bytes, for Spark's reader: the
    encoding (byte-order mark), the CSV delimiter, whether a JSON file is one array."""
    if encoding is None:
        encoding = bom_encoding(head)[0]
    text = head.decode(encoding, "replace").lstrip("\ufeff")
    if fmt == "csv" and delimiter is None:
        delimiter = detect_delimiter(text)
    return {
        "encoding": encoding,
        "sep": delimiter or ("\t" if fmt == "tsv" else ","),
        "json_array": text.lstrip()[:1] == "[",
    }


def read_file(spark, path: str, fmt: str, *, encoding: str | None = None, delimiter=None):
    """One input file as a DataFrame of text columns, read with its own header/schema."""
    from pyspark.sql import functions as F

    if fmt == "parquet":
        return spark.read.parquet(path)  # typed columns stay typed, as in the local engine
    if fmt == "jsonl":
        found = sniff(_head(spark, path), fmt, encoding, delimiter)
        df = (
            spark.read.option("mode", "FAILFAST")
            .option("encoding", found["encoding"])
            .option("multiLine", found["json_array"])  # an array is one multi-line document
            .json(path)
        )
    else:
        found = sniff(_head(spark, path), fmt, encoding, delimiter)
        df = (
            spark.read.option("header", True)
            .option("multiLine", True)
            .option("escape", '"')
            .option("sep", found["sep"])
            .option("encoding", found["encoding"])
            .option("emptyValue", EMPTY_MARKER)
            .option("inferSchema", False)
            .option("mode", "FAILFAST")  # a malformed row is an error, never silently dropped
            .csv(path)
        )
    return df.select([F.col(f"`{c}`").cast("string").alias(c) for c in df.columns])


def read_reviews(
    spark,
    sources,
    *,
    text_column: str | None = None,
    id_column: str | None = None,
    input_format: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    keep_text: bool = True,
    files: list[str] | None = None,
):
    """Every input file read on its own (its own header), then united by column name.
    ``files``: ``sources`` already listed (:func:`list_files`), so as not to list them twice.
    Without ``keep_text`` each file's text column is read only as ``__rnnkit_text``.

    Adds ``__rnnkit_source`` (the file), ``__rnnkit_text`` (the file's text column) and,
    without ``id_column``, ``__rnnkit_row`` (0-based row number within the file); a column
    one file lacks is null.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import to_arrow_type

    frames = []
    types: dict[str, set] = {}
    for path in files if files is not None else list_files(spark, sources):
        df = read_file(
            spark, path, inputs.input_format(path, input_format), encoding=encoding,
            delimiter=delimiter,
        )  # fmt: skip
        text = inputs.pick_columns(df.columns, text_column, id_column, path)
        df = df.withColumns({c: _spark_text(df, c) for c in {text, id_column} - {None}})
        for f in df.schema.fields:
            types.setdefault(f.name, set()).add(to_arrow_type(f.dataType))
        if id_column is None:  # row numbers cost a pass over the file: only when they are ids
            df = _with_row_number(df, ROW_COL)
        df = df.withColumn(SOURCE_COL, F.lit(path)).withColumn(TEXT_COL, F.col(text))
        frames.append(df if keep_text else df.drop(text))
    # A column whose files disagree on its type is text everywhere (the local engine's rule).
    united = inputs.united_types(types)
    mixed = {c for c, t in united.items() if any(x != t for x in types[c])}
    frames = [df.withColumns({c: _spark_text(df, c) for c in mixed & set(df.columns)})
              for df in frames]  # fmt: skip
    united = frames[0]
    for df in frames[1:]:
        united = united.unionByName(df, allowMissingColumns=True)
    return united


def _spark_text(df, column: str):
    """A column as text, by the local engine's rule (``coltext.text_form``)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import to_arrow_type

    col = F.col(f"`{column}`")
    form = coltext.text_form(to_arrow_type(df.schema[column].dataType))
    if form == "json":
        return F.to_json(col, {"ignoreNullFields": "false"})
    if form == "base64":
        return F.base64(col)
    return col.cast("string")


def score_dataframe(
    df,
    text_column: str = "review",
    *,
    id_column: str | None = None,
    model: str | os.PathLike | Bundle | None = None,
    backend: str = "onnx",
    threshold: float | None = None,
    columns: list[str] | None = None,
    keep_text: bool = False,
    keep_columns: bool = False,
    partitions: int | None = None,
    diagnostics: bool = False,
    tally_columns: bool = False,
):
    """Score a Spark DataFrame; returns the CLI's columns (id, probability, label, status,
    with ``diagnostics`` tokens, oov, truncated, then the kept input columns: by the local
    engine's rule, ``inputs.kept_columns``).

    Without ``id_column`` the id is the 0-based row number in Spark's read order. A frame
    from :func:`read_reviews` also gets ``source`` and per-file row numbers.
    ``tally_columns`` adds the per-row counts the run summary is built from. ``model``: a
    bundle's path or name, or a :class:`Bundle` already opened (and checked).
    """
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_type

    internal = (SOURCE_COL, ROW_COL, TEXT_COL)
    present = [c for c in df.columns if c not in internal]
    with_source = SOURCE_COL in df.columns
    text_col = TEXT_COL if TEXT_COL in df.columns else text_column
    if text_col != TEXT_COL:
        inputs.pick_columns(present, text_col, id_column, "the DataFrame")
    wanted = inputs.ALL_COLUMNS if keep_columns else columns
    columns = inputs.kept_columns(
        present, text_col, id_column, wanted=wanted, keep_text=keep_text, name="the DataFrame"
    )
    # Hashes checked on the driver before the bundle is shipped (once: an opened one was).
    bundle = model if isinstance(model, Bundle) else Bundle.open(model)
    bundle.format_file(backend)
    df.sparkSession.sparkContext.addFile(str(bundle.path), recursive=True)
    bundle_name = bundle.path.name
    output = bundle.signature.output

    df = df.withColumns({c: _spark_text(df, c) for c in {text_col, id_column} - {None}})
    if id_column is None and ROW_COL not in df.columns:
        df = _with_row_number(df, ROW_COL)
    if partitions:
        df = df.repartition(partitions)
    schema = result_schema(
        pa.int64() if id_column is None else pa.string(),
        columns or None,
        source=with_source,
        diagnostics=diagnostics,
        input_types={f.name: to_arrow_type(f.dataType) for f in df.schema.fields},
        output=output,
    )
    schema = pa.schema(
        [f.with_type(pa.string()) if f.type == pa.large_string() else f for f in schema]
        + [pa.field(c, pa.int64()) for c in (TALLY_COLUMNS if tally_columns else ())]
    )

    def score_partition(batches):
        import pyarrow.compute as pc
        from pyspark import SparkFiles

        scorer = _worker_model(SparkFiles.get(bundle_name), backend)
        for batch in batches:
            names = batch.schema.names
            restored = pa.RecordBatch.from_arrays(
                [
                    pc.if_else(pc.equal(batch.column(c), EMPTY_MARKER), "", batch.column(c))
                    if pa.types.is_string(batch.column(c).type)
                    or pa.types.is_large_string(batch.column(c).type)
                    else batch.column(c)
                    for c in names
                ],
                names=names,
            )
            probs, status, stats = scorer.score_arrow(restored.column(text_col), diagnostics)
            result = result_batch(
                batch.column(ROW_COL if id_column is None else id_column),
                probs,
                status,
                threshold=threshold,
                kept=restored.select(columns) if columns else None,
                source=restored.column(SOURCE_COL) if with_source else None,
                diagnostics=stats if diagnostics else None,
                maxlen=scorer.tokenizer.maxlen,
                output=output,
            )
            if tally_columns:
                chosen = np.nan_to_num(output.probability(probs))
                extra = (status, probability_bin(chosen), stats.tokens, stats.oov,
                         stats.window)  # fmt: skip
                result = pa.RecordBatch.from_arrays(
                    [*result.columns, *(pa.array(x, pa.int64()) for x in extra)],
                    names=[*result.schema.names, *TALLY_COLUMNS],
                )
            yield result.cast(schema)

    return df.mapInArrow(score_partition, from_arrow_schema(schema))


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
    sources,
    output: str,
    *,
    master: str | None = None,
    partitions: int | None = None,
    on_bundle: Callable[[Bundle], None] | None = None,
    **options,
) -> ScoreSummary:
    """``rnnkit score --engine spark``: read, score, write a directory; the same summary as
    the local engine. ``options``: the fields of :class:`ScoreRequest`, as for the local
    engine's ``score_files``; ``master`` and ``partitions``: Spark's."""
    request = ScoreRequest.of(sources, output, **options)
    return score_request(request, master=master, partitions=partitions, on_bundle=on_bundle)


def score_request(
    request: ScoreRequest,
    *,
    master: str | None = None,
    partitions: int | None = None,
    on_bundle: Callable[[Bundle], None] | None = None,
) -> ScoreSummary:
    """:func:`score_files` for a request already made (the CLI makes one for both engines).

    Spark's own failures are raised as :class:`SparkJobError` with the root cause.
    """
    from pyspark.sql import functions as F

    started = time.perf_counter()
    r = request
    format = r.format or "parquet"
    if r.out_name is None:
        raise UsageError("the Spark engine writes a directory: give it as `output`")
    if format not in ("parquet", "csv"):
        raise UsageError("the Spark engine writes parquet or csv directories (`format`)")
    bundle = open_bundle(r, on_bundle)
    try:
        spark = session(master)
        files = list_files(spark, r.sources)
        # The summary is a local file: one of the inputs must not be it (Spark's output is
        # a new folder, which Spark itself refuses to write over anything).
        check_targets({"`summary`": r.summary and str(r.summary)}, files, bundle.path)
        df = read_reviews(
            spark,
            r.sources,
            text_column=r.text_column,
            keep_text=r.keep_text or r.keep_columns,
            id_column=r.id_column,
            input_format=r.input_format,
            encoding=r.encoding,
            delimiter=r.delimiter,
            files=files,
        )
        many = inputs.names_several(r.sources, files)
        if not many:
            df = df.drop(SOURCE_COL)
        scored = score_dataframe(
            df,
            id_column=r.id_column,
            model=bundle,
            backend=r.backend,
            threshold=r.threshold,
            columns=r.columns,
            keep_text=r.keep_text,
            keep_columns=r.keep_columns,
            partitions=partitions or spark.sparkContext.defaultParallelism,
            diagnostics=r.diagnostics,
            tally_columns=True,
        ).persist()  # scored once
        frame = scored.drop(*TALLY_COLUMNS)
        if format == "csv":  # CSV holds text only: kept nested and bytes columns as text
            frame = frame.withColumns(
                {f.name: _spark_text(frame, f.name) for f in frame.schema.fields
                 if f.dataType.typeName() in ("struct", "array", "map", "binary")}
            )  # fmt: skip
        out = frame.write.mode("errorifexists")
        if format == "csv":
            out.option("header", True).option("escape", '"').csv(r.out_name)
        else:
            out.parquet(r.out_name)
        keys = ["source"] if many else []
        keys += [STATUS_COL, PBIN_COL, TOKENS_COL]
        groups = (
            scored.groupBy(*keys, "label")
            .agg(
                F.count("*").alias("n"),
                F.sum(OOV_COL).alias("oov"),
                F.sum(WINDOW_COL).alias("window"),
            )
            .collect()
        )
        scored.unpersist()
    except RnnkitError:
        raise
    except Exception as exc:  # Spark's own errors (AnalysisException, Py4JJavaError, ...)
        if type(exc).__module__.startswith(("pyspark", "py4j")):
            raise SparkJobError(f"Spark failed: {root_cause(exc)}") from exc
        raise
    result = ScoreSummary.from_tally(
        _tally(groups, bundle.tokenizer().maxlen, bundle.signature.output),
        bundle.manifest.get("metrics", {}).get("reference_stats"),
        seconds=time.perf_counter() - started,
        output=r.out_name,
        bundle=str(bundle.path),
        engine="spark",
    )
    result.files = _per_file(groups) if many else None
    if r.summary is not None:
        result.write_json(str(r.summary))
    return result


def _per_file(groups) -> dict[str, dict[str, int]]:
    per_file: dict[str, np.ndarray] = {}
    for g in groups:
        counts = per_file.setdefault(g["source"], np.zeros(len(STATUSES), dtype=np.int64))
        counts[g[STATUS_COL]] += g["n"]
    return file_counts(per_file)


def _tally(groups, maxlen: int, output: OutputSpec) -> Tally:
    """The summary's counts from Spark's groups of identical (status, bin, words, label)."""
    tally = Tally(maxlen, output)
    if not groups:
        return tally
    status = np.array([g[STATUS_COL] for g in groups], dtype=np.int64)
    scored = [g for g, s in zip(groups, status, strict=True) if s == OK_CODE]

    def pick(key: str) -> np.ndarray:
        return np.array([g[key] for g in scored], dtype=np.int64)

    tally.add_rows(
        status,
        np.array([output.classes.index(g["label"]) for g in scored], dtype=np.int64),
        pick(PBIN_COL),
        pick(TOKENS_COL),
        pick("oov"),
        pick("window"),
        weight=np.array([g["n"] for g in groups], dtype=np.float64),
    )
    return tally


class SparkJobError(RnnkitError):
    """A Spark job failed; the message carries the root cause from the Java side."""


def root_cause(exc: BaseException) -> str:
    """What went wrong, from the Java cause chain rather than Py4J's wrapper: the messages
    that name a file (which file failed), then the innermost cause (why)."""
    messages = []
    java = getattr(exc, "java_exception", None)
    while java is not None and len(messages) < 50:
        try:
            text = str(java.getMessage() or java.toString())
            java = java.getCause()
        except Exception:  # noqa: BLE001 - the gateway may be gone; keep what we have
            break
        messages.append(" ".join(text.split("SQLSTATE")[0].split()))
    if not messages:
        text = str(exc).strip()
        return text.splitlines()[0][:1000] if text else repr(exc)
    naming = [m for m in messages[:-1] if "file" in m.lower()]
    return "; cause: ".join([*naming[:1], messages[-1]])[:2000]
