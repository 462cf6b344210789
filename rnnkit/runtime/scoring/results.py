"""The output schema, defined once for every engine: ``source`` (when several files are
scored), ``id``, ``probability``, ``label``, ``status``, then (``keep_columns``) the input
columns, renamed ``input_<name>`` where they would clash with a result column."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..io.coltext import as_output_text
from ..model.statuses import STATUSES, RowStats

# Row statuses, in this order: ``status`` codes index into it.
RESULT_COLUMNS = ("source", "id", "probability", "label", "status")
#: With ``--diagnostics``: words found, out-of-vocabulary share of the words the model
#: reads (null without words), and whether words were cut (only the last maxlen are read).
DIAGNOSTIC_COLUMNS = ("tokens", "oov", "truncated")
_DIAGNOSTIC_TYPES = (pa.int64(), pa.float32(), pa.bool_())
_STATUS_NAMES = pa.array(STATUSES, type=pa.string())


def kept_name(column: str) -> str:
    """The output name of a kept input column."""
    return f"input_{column}" if column in RESULT_COLUMNS + DIAGNOSTIC_COLUMNS else column


def result_schema(
    id_type: pa.DataType,
    input_columns: list[str] | None = None,
    *,
    source: bool = False,
    diagnostics: bool = False,
    input_types: dict[str, pa.DataType] | None = None,
) -> pa.Schema:
    """Result columns, then the kept input columns (``None``: none kept), of their
    ``input_types`` (text where none is given)."""
    input_types = input_types or {}
    fields = [pa.field("source", pa.large_string())] if source else []
    fields += [
        pa.field("id", id_type),
        pa.field("probability", pa.float32()),
        pa.field("label", pa.string()),
        pa.field("status", pa.string()),
    ]
    if diagnostics:
        fields += [
            pa.field(n, t) for n, t in zip(DIAGNOSTIC_COLUMNS, _DIAGNOSTIC_TYPES, strict=True)
        ]
    fields += [
        pa.field(kept_name(c), input_types.get(c, pa.large_string())) for c in input_columns or []
    ]
    return pa.schema(fields)


def result_batch(
    ids: pa.Array,
    probs: np.ndarray,
    status: np.ndarray,
    *,
    threshold: float,
    kept: pa.RecordBatch | None = None,
    source: str | pa.Array | None = None,
    diagnostics: RowStats | None = None,
    maxlen: int = 0,
) -> pa.RecordBatch:
    """One output batch: NaN probabilities become nulls, and so do their labels."""
    probability = pa.array(probs, mask=np.isnan(probs), type=pa.float32())
    # Arrow kernels, not object arrays: a null probability gives a null label.
    label = pc.if_else(pc.greater_equal(probability, threshold), "positive", "negative")
    arrays = [ids, probability, label, _STATUS_NAMES.take(pa.array(status))]
    names = list(RESULT_COLUMNS[1:])
    if source is not None:
        if isinstance(source, str):
            source = pa.repeat(pa.scalar(source, pa.large_string()), len(ids))
        arrays.insert(0, source)
        names.insert(0, "source")
    if diagnostics is not None:
        window = diagnostics.window
        share = np.divide(
            diagnostics.oov, window, out=np.full(len(window), np.nan), where=window > 0
        )
        arrays += [
            pa.array(diagnostics.tokens, type=pa.int64()),
            pa.array(share, mask=window == 0, type=pa.float32()),
            pa.array(diagnostics.tokens > maxlen),
        ]
        names += list(DIAGNOSTIC_COLUMNS)
    if kept is not None:
        arrays += kept.columns
        names += [kept_name(c) for c in kept.schema.names]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def row_numbers(first: int, n: int) -> pa.Array:
    """0-based row numbers ``first .. first + n - 1``: the id when no id column is given."""
    return pa.array(np.arange(first, first + n, dtype=np.int64))


def conform(
    batch: pa.RecordBatch, columns: list[str], types: dict[str, pa.DataType] | None = None
) -> pa.RecordBatch:
    """``batch`` with exactly ``columns``, in order, of ``types`` (text where none is
    given): a column it lacks is all null; one whose files disagree on its type is text."""
    types = types or {}
    arrays = []
    for c in columns:
        want = types.get(c, pa.large_string())
        if c not in batch.schema.names:
            arrays.append(pa.nulls(batch.num_rows, want))
            continue
        arr = batch.column(c)
        arrays.append(arr if arr.type == want else as_output_text(arr))
    return pa.RecordBatch.from_arrays(arrays, names=columns)
