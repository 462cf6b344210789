"""Typed input columns as text, for outputs that hold only text (CSV, JSON Lines).

Parquet inputs carry lists, structs, maps, timestamps, decimals and bytes. rnnkit reads
the text and id columns as text, and keeps every other column as it came: native in a
Parquet output, and here turned into text for CSV and JSON Lines, the same way in both
engines:

* lists, structs and maps become JSON text (a map with text keys is a JSON object, any
  other map a list of ``[key, value]`` pairs); inside them, bytes are base64, times ISO
  8601, decimals their exact digits as a JSON string, float32 values their shortest text
  and NaN or infinity their names as JSON strings;
* bytes become base64;
* everything else (numbers, booleans, dates, times, decimals) Arrow's own text cast.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json

import numpy as np
import pyarrow as pa


def is_nested(t: pa.DataType) -> bool:
    return pa.types.is_nested(t)


def is_bytes(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)


def is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _plain(value, t: pa.DataType):
    """A Python value of Arrow type ``t`` as plain JSON data."""
    if value is None:
        return None
    if pa.types.is_map(t):
        pairs = [(_plain(k, t.key_type), _plain(v, t.item_type)) for k, v in value]
        if is_text(t.key_type):
            return dict(pairs)
        return [list(p) for p in pairs]
    if pa.types.is_struct(t):
        return {f.name: _plain(value[f.name], f.type) for f in t}
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [_plain(v, t.value_type) for v in value]
    if isinstance(value, float):
        if not np.isfinite(value):  # JSON has no NaN or infinity: their names, as strings
            return str(value).replace("inf", "Infinity").replace("nan", "NaN")
        if pa.types.is_float32(t):  # the shortest text that reads back as the same float32
            return float(str(np.float32(value)))
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (dt.date, dt.time, dt.timedelta)):
        return str(value) if isinstance(value, dt.timedelta) else value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def text_form(t: pa.DataType) -> str:
    """How a column of type ``t`` becomes text: ``json`` (lists, structs, maps), ``base64``
    (bytes) or ``cast`` (Arrow's own text cast). Both engines follow it."""
    if is_nested(t):
        return "json"
    if is_bytes(t):
        return "base64"
    return "cast"


def as_output_text(arr: pa.Array) -> pa.Array:
    """Any column as ``large_string`` (see the module's rules)."""
    t = arr.type
    form = text_form(t)
    if form == "json":
        values = [
            None
            if v is None
            else json.dumps(_plain(v, t), ensure_ascii=False, separators=(",", ":"))
            for v in arr.to_pylist()
        ]
        return pa.array(values, type=pa.large_string())
    if form == "base64":
        values = [
            None if v is None else base64.b64encode(v).decode("ascii") for v in arr.to_pylist()
        ]
        return pa.array(values, type=pa.large_string())
    return arr.cast(pa.large_string())


def for_text_output(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with its nested and bytes columns as text (CSV and JSON Lines writers)."""
    if not any(is_nested(t) or is_bytes(t) for t in batch.schema.types):
        return batch
    arrays = [
        as_output_text(a) if is_nested(a.type) or is_bytes(a.type) else a for a in batch.columns
    ]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def text_schema(schema: pa.Schema) -> pa.Schema:
    """The schema :func:`for_text_output` gives."""
    return pa.schema(
        [
            f.with_type(pa.large_string()) if is_nested(f.type) or is_bytes(f.type) else f
            for f in schema
        ]
    )
