"""Arrow arrays from numpy arrays and short string lists, built from their buffers.

``pa.array`` does the same, but its first call imports pandas wherever pandas is installed
(pyarrow's pandas shim checks every input against pandas types), a large share of a
scoring run's start (``python -X importtime`` shows it). Scoring builds its arrays here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def _bits(flags: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.packbits(flags, bitorder="little"))


def from_numpy(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """A numeric or boolean 1-D array; ``null`` marks the rows that become nulls."""
    values = np.ascontiguousarray(values)
    nulls = 0 if null is None else int(np.count_nonzero(null))
    validity = _bits(~null) if nulls else None
    if values.dtype == np.bool_:
        return pa.Array.from_buffers(pa.bool_(), len(values), [validity, _bits(values)], nulls)
    kind = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, len(values), [validity, pa.py_buffer(values)], nulls)


def from_strings(values: Sequence[str]) -> pa.Array:
    """A string array (class and status names: a handful of values)."""
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded))
    return pa.Array.from_buffers(pa.string(), len(values), [None, pa.py_buffer(offsets), data])


def values_of(array: pa.Array) -> np.ndarray:
    """A fixed-width numeric array's values as a numpy view (no copy). A null's slot holds
    an unspecified value: mask it with ``array.is_null()``."""
    kind = array.type.to_pandas_dtype()
    data = array.buffers()[1]
    return np.frombuffer(data, dtype=kind)[array.offset : array.offset + len(array)]


def nulls_of(array: pa.Array) -> np.ndarray:
    """Which rows are null, as a numpy bool array."""
    validity = array.buffers()[0]
    if validity is None or array.null_count == 0:
        return np.zeros(len(array), dtype=np.bool_)
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    return ~bits[array.offset : array.offset + len(array)].astype(np.bool_)
