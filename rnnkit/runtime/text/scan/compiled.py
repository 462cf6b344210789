"""The compiled scan as scoring calls it: a plan's vocabulary as flat arrays and its hash
table, and Arrow string arrays in, ids out, through the machine code of ``kernels``
(loaded by ``machine_code``: no numba import once this machine has compiled it).

Compiling takes a few seconds, once per machine; later processes load the cached code.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pyarrow as pa

from ...arrays import nulls_of
from . import machine_code
from .plan import ABIS, MAX_WORD, ScanPlan

_HERE = Path(__file__).parent
#: What the machine code is built from: a change to any of these compiles it again.
_SOURCES = tuple(_HERE / f for f in ("kernels.py", "plan.py", "machine_code.py"))


def _compile() -> list[machine_code.ObjectCode]:
    from .kernels import compile_object_code  # numba: only on a cache miss

    return compile_object_code()


class _Kernel:
    """An entry point as a ctypes function (it releases the GIL while it runs), called with
    its arguments by parameter name, so that their order lives only in its ABI list."""

    def __init__(self, address: int, abi) -> None:
        self.abi = abi
        kinds = [ctypes.c_int64 if kind == "i64" else ctypes.c_void_p for _, kind in abi]
        self.function = ctypes.CFUNCTYPE(ctypes.c_int64, *kinds)(address)

    def __call__(self, values: dict) -> None:
        args = []
        for name, kind in self.abi:
            value = values[name]
            if kind != "i64":
                # The kernels index raw memory: the right type, contiguous, and alive
                # (``values`` holds it) for the whole call. Checked always, not asserted.
                if value.dtype != _DTYPES[kind] or not value.flags.c_contiguous:
                    raise TypeError(f"{name}: expected a contiguous {_DTYPES[kind].__name__} array")
                value = value.ctypes.data
            args.append(int(value))
        self.function(*args)


_DTYPES = {"u8*": np.uint8, "i8*": np.int8, "i32*": np.int32, "i64*": np.int64}


def kernels() -> dict[str, _Kernel]:
    """The entry points by name, their code loaded once per process."""
    points = machine_code.entry_points("scan", _SOURCES, _compile)
    return {name: _Kernel(points[name], abi) for name, abi in ABIS.items()}


class CompiledScan:
    """A plan's vocabulary as flat arrays plus its hash table, ready for the kernels."""

    def __init__(self, plan: ScanPlan) -> None:
        encoded = [w.encode("utf-8") for w in plan.words]
        # Words too long for the scan's buffer stay out of its table; a row with a token that
        # long then goes to the reference (only where the vocabulary has such words).
        fits = [len(w) <= MAX_WORD for w in encoded]
        encoded = [w for w, ok in zip(encoded, fits) if ok]
        self.plan = plan
        entry = kernels()
        self._encode_rows = entry["encode_rows"]
        lengths = np.array([len(w) for w in encoded], dtype=np.int64)
        starts = np.zeros(len(encoded), dtype=np.int64)
        if len(encoded) > 1:
            np.cumsum(lengths[:-1], out=starts[1:])
        blob = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)
        size = 16
        while size < 4 * len(starts):  # open addressing: a power of two, 4 slots per word
            size *= 2
        table = np.full(size, -1, dtype=np.int32)
        words = {"blob": blob, "n_blob": len(blob), "starts": starts, "lengths": lengths}
        words["n_words"] = len(starts)
        entry["build_table"]({**words, "table": table, "n_slots": size})
        cls, low = plan.tables
        brk = np.frombuffer(plan.break_word or b"\0", dtype=np.uint8)
        # Everything but the rows: the same for every call.
        self._fixed = {
            **words,
            "table": table,
            "n_slots": size,
            "ids": np.array([i for i, ok in zip(plan.ids, fits) if ok], dtype=np.int32),
            "oov_id": plan.oov_id,
            "long_words": not all(fits),
            "brk": brk,
            "n_brk": len(plan.break_word),
            "opener": plan.break_opener,
            "maxlen": plan.maxlen,
            "keep_last": plan.keep_last,
            "pad_front": plan.pad_front,
            "start_id": plan.start_id,
            "cls": np.ascontiguousarray(cls, dtype=np.int8),
            "low": np.ascontiguousarray(low, dtype=np.int32),
            "n_table": len(cls),
            "beyond": plan.beyond,
        }
        self.empty_row = np.zeros(plan.maxlen, dtype=np.int32)
        if plan.start_id >= 0:
            self.empty_row[-1 if plan.pad_front else 0] = plan.start_id

    def encode(
        self, array: pa.Array | pa.ChunkedArray, limit: int, width: int | None = None
    ) -> tuple[np.ndarray, ...]:
        """``(ids, counts up to limit, rows for the reference)`` of an Arrow string array.
        ``width``: ids per row other than the plan's ``maxlen`` (a bag reads whole texts,
        in as many passes as its longest rows need)."""
        plan = self.plan
        width = width or plan.maxlen
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if not pa.types.is_large_string(array.type):
            array = array.cast(pa.large_string())
        n = len(array)
        out = np.zeros((n, width), dtype=np.int32)
        counts = np.zeros(n, dtype=np.int64)
        ref = np.zeros(n, dtype=np.uint8)
        if n == 0:
            return out, counts, np.zeros(0, dtype=np.int64)
        # Arrow's own buffers, no copy: int64 offsets into one UTF-8 byte buffer.
        _, off_buf, data_buf = array.buffers()
        offsets = np.frombuffer(off_buf, dtype=np.int64)[array.offset : array.offset + n + 1]
        base = int(offsets[0])
        data = (
            np.frombuffer(data_buf, dtype=np.uint8)[base : int(offsets[-1])]
            if data_buf is not None
            else np.zeros(0, dtype=np.uint8)
        )
        rows = {"data": data, "n_data": len(data), "offsets": offsets - base, "n_rows": n}
        rows |= {"limit": limit, "out": out, "counts": counts, "ref": ref, "maxlen": width}
        self._encode_rows({**self._fixed, **rows, "buf": _word_buffer()})
        if array.null_count:  # Arrow does not promise that a null's span is empty
            nulls = nulls_of(array)
            empty = self.empty_row if width == plan.maxlen else np.zeros(width, np.int32)
            out[nulls], counts[nulls], ref[nulls] = empty, 0, 0
        return out, counts, np.flatnonzero(ref)


def _word_buffer() -> np.ndarray:
    """Room for one word: per call, since calls run on several threads at once."""
    return np.empty(MAX_WORD, dtype=np.uint8)
