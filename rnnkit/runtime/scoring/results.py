"""The output schema, defined once for every engine, from the model's signature:
``source`` (when several files are scored), ``id``, ``probability``, ``label``, ``status``;
for a multi-class model one ``p_<class>`` column per class; then (``--diagnostics``)
``tokens``, ``oov``, ``truncated``; then (``keep_columns``) the input columns, renamed
``input_<name>`` where they would clash with a result column.

``label`` is the decided class (binary: ``classes[1]`` at or above the threshold, else
``classes[0]``; multi-class: the most probable), ``probability`` is P(``classes[1]``) for a
binary model and the decided class's probability for a multi-class one."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..arrays import from_numpy, from_strings
from ..io.coltext import as_output_text
from ..model.signature import BINARY, OutputSpec
from ..model.statuses import STATUSES, RowStats

RESULT_COLUMNS = ("source", "id", "probability", "label", "status")
#: With ``--diagnostics``: words found, out-of-vocabulary share of the words the model
#: reads (null without words), and whether words were cut (only the last maxlen are read).
DIAGNOSTIC_COLUMNS = ("tokens", "oov", "truncated")
_DIAGNOSTIC_TYPES = (pa.int64(), pa.float32(), pa.bool_())
_STATUS_NAMES = from_strings(STATUSES)


def class_columns(output: OutputSpec) -> list[str]:
    """The per-class probability columns: none for a binary model."""
    return [] if output.kind == BINARY else [f"p_{c}" for c in output.classes]


def kept_name(column: str, output: OutputSpec | None = None) -> str:
    """The output name of a kept input column."""
    taken = RESULT_COLUMNS + DIAGNOSTIC_COLUMNS + tuple(class_columns(output or OutputSpec()))
    return f"input_{column}" if column in taken else column


def result_schema(
    id_type: pa.DataType,
    input_columns: list[str] | None = None,
    *,
    source: bool = False,
    diagnostics: bool = False,
    input_types: dict[str, pa.DataType] | None = None,
    output: OutputSpec | None = None,
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
    output = output or OutputSpec()
    fields += [pa.field(name, pa.float32()) for name in class_columns(output)]
    if diagnostics:
        fields += [
            pa.field(n, t) for n, t in zip(DIAGNOSTIC_COLUMNS, _DIAGNOSTIC_TYPES, strict=True)
        ]
    fields += [
        pa.field(kept_name(c, output), input_types.get(c, pa.large_string()))
        for c in input_columns or []
    ]
    return pa.schema(fields)


def result_batch(
    ids: pa.Array,
    probs: np.ndarray,
    status: np.ndarray,
    *,
    threshold: float | None = None,
    kept: pa.RecordBatch | None = None,
    source: str | pa.Array | None = None,
    diagnostics: RowStats | None = None,
    maxlen: int = 0,
    output: OutputSpec | None = None,
) -> pa.RecordBatch:
    """One output batch from the model's outputs ``probs`` (``[n, units]``; NaN rows where
    unscored): missing scores become nulls, and so do their labels. ``threshold``: the
    binary decision threshold (default: the signature's)."""
    output = output or OutputSpec()
    probs = np.asarray(probs).reshape(len(status), output.units)
    chosen = output.probability(probs)
    probability = from_numpy(chosen.astype(np.float32), np.isnan(chosen))
    index = output.decide(probs, threshold)  # -1 where a row has no score: a null label
    label = from_strings(output.classes).take(from_numpy(index.astype(np.int64), index < 0))
    statuses = _STATUS_NAMES.take(from_numpy(np.asarray(status, dtype=np.int64)))
    arrays = [ids, probability, label, statuses]
    names = list(RESULT_COLUMNS[1:])
    for k, name in enumerate(class_columns(output)):
        column = probs[:, k]
        arrays.append(from_numpy(column.astype(np.float32), np.isnan(column)))
        names.append(name)
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
            from_numpy(np.asarray(diagnostics.tokens, dtype=np.int64)),
            from_numpy(share.astype(np.float32), window == 0),
            from_numpy(np.asarray(diagnostics.tokens) > (maxlen or np.inf)),  # 0: whole texts
        ]
        names += list(DIAGNOSTIC_COLUMNS)
    if kept is not None:
        arrays += kept.columns
        names += [kept_name(c, output) for c in kept.schema.names]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def row_numbers(first: int, n: int) -> pa.Array:
    """0-based row numbers ``first .. first + n - 1``: the id when no id column is given."""
    return from_numpy(np.arange(first, first + n, dtype=np.int64))


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
