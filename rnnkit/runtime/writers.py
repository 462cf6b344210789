"""Output writers: CSV, JSON Lines and Parquet, one Arrow record batch at a time."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FORMATS = ("csv", "jsonl", "parquet")


class _CsvWriter:
    def __init__(self, sink, schema: pa.Schema) -> None:
        self._writer = pacsv.CSVWriter(sink, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def close(self) -> None:
        self._writer.close()


class _JsonlWriter:
    def __init__(self, sink, schema: pa.Schema) -> None:
        self._sink = sink

    def write(self, batch: pa.RecordBatch) -> None:
        # pandas' C JSON encoder; nulls become null, floats keep float32 precision.
        text = batch.to_pandas().to_json(orient="records", lines=True, force_ascii=False)
        if text and not text.endswith("\n"):
            text += "\n"
        self._sink.write(text.encode("utf-8"))

    def close(self) -> None:
        self._sink.flush()


class _ParquetWriter:
    def __init__(self, sink, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(sink, schema, compression="zstd")

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def close(self) -> None:
        self._writer.close()


def make_writer(fmt: str, sink, schema: pa.Schema):
    return {"csv": _CsvWriter, "jsonl": _JsonlWriter, "parquet": _ParquetWriter}[fmt](sink, schema)
