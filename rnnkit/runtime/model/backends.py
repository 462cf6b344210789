"""Inference backends: token ids ``[n, maxlen]`` int32 in, outputs ``[n, units]`` float32 out
(``units``: 1 for a binary model's sigmoid, one per class for a softmax; see the signature)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import MissingExtraError
from .onnx_refs import MalformedOnnx, graph_ops
from .signature import INPUT_NAME, OUTPUT_NAME

#: Rows per inference call. 256 rows of the seed's 100 steps keep onnxruntime's per-step
#: tensors in cache: 172-185k reviews/s on one core against 126-137k/s at 1,024 rows, and
#: scoring's memory peak 50 MiB lower (benchmarks; README "Start-up, memory").
BATCH_SIZE = 256
#: At most this many ids per call: fewer rows of a longer model (128 of 800 steps).
BATCH_TOKENS = 1024 * 100
#: ... and far fewer rows for a graph built on ONNX's own recurrent ops, whose every call
#: walks its whole sequence once: the smaller the call, the more of its gates and
#: convolution outputs stay in the CPU's caches. Two callers, one thread each, rows sorted
#: by length: imdb-bigru-conv (600 steps) 2,644 rows/s at 2 rows per call, 2,902 at 3,
#: 3,010 at 5, 2,947 at 8; keras.io's BiLSTM (200 steps) 2,054 at 2, 2,308 at 4, 2,274 at
#: 8, 2,169 at 16. Peak memory of `rnnkit score` on 10k rows of imdb-bigru-conv: 754 MiB
#: at 170 rows per call, 269 at 5. The seed's folded graph keeps its 256 rows (189k/s
#: against 168k at 64).
FUSED_BATCH_ROWS = 5
#: The runtime that runs each exported format, by its package name (as reports show it),
#: and onnx's pure-Python reference evaluator, the second ONNX runtime checks use.
RUNTIMES = {"onnx": "onnxruntime", "tflite": "ai-edge-litert"}
REFERENCE_RUNTIME = "onnx-reference"


def predict_in_batches(
    predict: Callable[[np.ndarray], np.ndarray],
    ids: np.ndarray,
    batch_size: int | None = None,
    batch_tokens: int = BATCH_TOKENS,
    map_calls: Callable = map,
    pad_id: int | None = None,
    max_rows: int = BATCH_SIZE,
) -> np.ndarray:
    """``predict`` over ``ids`` in slices of ``batch_size`` rows, as one ``[n, units]``
    array. By default a slice holds ``max_rows`` rows, and fewer of a longer model's
    (``batch_tokens`` ids), whose per-step tensors onnxruntime keeps for the whole unrolled
    graph (at 800 steps and 1,024 rows scoring peaked at 3.5 GiB). ``map_calls`` runs the
    slices (an executor's ``map``, which keeps their order, spreads them over threads).
    ``pad_id``: slices are made of rows of similar length, for a graph that cuts the
    padding columns all its rows share (``exporter/trim.py``)."""
    if batch_size is None:
        steps = ids.shape[1] if ids.ndim == 2 and ids.shape[1] else 1
        batch_size = max(1, min(max_rows, batch_tokens // steps))
    if len(ids) <= batch_size:
        return as_rows(predict(ids), len(ids))
    order = None if pad_id is None else by_length(ids, pad_id)[0]
    rows = ids if order is None else ids[order]
    slices = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    outs = [as_rows(out, len(x)) for out, x in zip(map_calls(predict, slices), slices, strict=True)]
    out = np.concatenate(outs)
    if order is None or len(out) != len(ids):  # (a broken graph's odd shape: as it came)
        return out
    back = np.empty_like(out)
    back[order] = out
    return back


def by_length(ids: np.ndarray, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Row order by number of ids other than ``pad_id`` (stable), and those numbers."""
    lengths = np.count_nonzero(ids != pad_id, axis=1)
    return np.argsort(lengths, kind="stable"), lengths


def predict_bags(
    predict: Callable[[np.ndarray], np.ndarray], ids: np.ndarray, pad_id: int
) -> np.ndarray:
    """``predict`` over bags of n-grams (``ids`` padded at the end with ``pad_id``) in
    slices of ``BATCH_SIZE`` rows of similar length, each cut to its longest bag: the
    padding a block's longest review would give every row is never gathered (a 200k-row
    run: 3x fewer ids through the graph)."""
    order, lengths = by_length(ids, pad_id)
    out = None
    for start in range(0, len(ids), BATCH_SIZE):
        rows = order[start : start + BATCH_SIZE]
        width = max(1, int(lengths[rows].max()))
        scores = as_rows(predict(ids[rows, :width]), len(rows))
        if out is None:
            out = np.empty((len(ids), scores.shape[1]), dtype=np.float32)
        out[rows] = scores
    return out if out is not None else as_rows(predict(ids), 0)


def as_rows(outputs, n: int) -> np.ndarray:
    """A model's outputs as one row per input, ``[n, units]``. Outputs that do not divide
    into ``n`` rows (a broken graph) are returned as one column, for the parity gate to
    refuse by their shape."""
    arr = np.asarray(outputs)
    if n == 0:
        return np.zeros((0, 1), np.float32)
    return arr.reshape(n, -1) if arr.size and arr.size % n == 0 else arr.reshape(-1, 1)


#: A graph with at least this many nodes is a long sequence unrolled step by step (the
#: seed's folded graph has about 400 nodes, a 600-step BiGRU unrolled about 20,000).
LARGE_GRAPH_NODES = 2_000
#: ONNX's own recurrent ops: a graph holding one runs a sequence model in a few nodes.
RECURRENT_OPS = frozenset({"RNN", "GRU", "LSTM"})


class OnnxBackend:
    """onnxruntime on the CPU.

    Session options, and why: one intra-op thread by default because rnnkit parallelises
    across batches (worker threads share this session), and a recurrent step is too small
    to split across threads; sequential execution because the unrolled graph is a chain.
    The rest depends on the graph, by measurement (docs/performance.md):

    * graph optimisation, except for a long sequence unrolled step by step
      (``LARGE_GRAPH_NODES`` or more): it barely changes such a graph and took most of its
      start-up (3 to 5 times the session creation); any other graph is optimised once at
      load in milliseconds;
    * the memory arena, for a sequence model whose every batch allocates large
      intermediates: an unrolled long sequence (each step's), or ONNX's own recurrent ops
      (their gates over every step; imdb-bigru-conv's fused graph: 504 -> 678 rows/s on
      one thread). Off for the rest (the seed's folded graph): it keeps every batch's
      high-water mark alive and costs more memory than the allocations it saves;
    * never memory patterns, which are planned and kept per input shape: every CSV block
      has its own row count, so they would pile up.
    """

    name = "onnx"

    def __init__(self, path: str | Path | bytes, threads: int = 1) -> None:
        import onnxruntime as ort

        data = path if isinstance(path, bytes) else Path(path).read_bytes()
        try:
            ops = graph_ops(data)
        except MalformedOnnx:
            ops = []  # onnxruntime says what is wrong with it, below
        unrolled = len(ops) >= LARGE_GRAPH_NODES
        self.large_graph = unrolled
        fused = not RECURRENT_OPS.isdisjoint(ops)
        #: A long sequence model: each call takes milliseconds, so scoring spreads one
        #: block's calls over its workers (TextClassifier.spreading_calls).
        self.long_sequence = unrolled or fused
        self.arena = self.long_sequence
        #: Rows per call (``predict_in_batches``), by the graph's kind.
        self.batch_rows = FUSED_BATCH_ROWS if fused else BATCH_SIZE
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            if unrolled
            else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        )
        opts.log_severity_level = 3
        opts.enable_cpu_mem_arena = self.arena
        opts.enable_mem_pattern = False
        model = path if isinstance(path, bytes) else os.fspath(path)
        self.session = ort.InferenceSession(
            model, sess_options=opts, providers=["CPUExecutionProvider"]
        )

    def predict_ids(self, ids: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        if len(ids) == 0:
            return np.zeros((0, 1), dtype=np.float32)
        (out,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: ids})
        return out.reshape(len(ids), -1)


class TfliteBackend:
    """LiteRT (``ai-edge-litert``) interpreter; the tensor is resized for each batch size.

    A LiteRT interpreter is not thread-safe, so each thread gets its own (thread-local),
    sharing the same model file.
    """

    name = "tflite"
    batch_rows = BATCH_SIZE
    long_sequence = False  # not measured: scoring keeps one block's calls on its thread

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise MissingExtraError(
                'the TFLite backend needs ai-edge-litert: pip install "rnnkit[tflite]"'
            ) from exc
        self._make = lambda: Interpreter(model_path=os.fspath(path), num_threads=threads)
        self._local = threading.local()
        self._state()  # fail now, in the caller's thread, if the file does not load

    def _state(self):
        state = getattr(self._local, "state", None)
        if state is None:
            interpreter = self._make()
            state = self._local.state = {
                "interpreter": interpreter,
                "input": interpreter.get_input_details()[0]["index"],
                "output": interpreter.get_output_details()[0]["index"],
                "shape": None,
            }
        return state

    def predict_ids(self, ids: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        if len(ids) == 0:
            return np.zeros((0, 1), dtype=np.float32)
        st = self._state()
        interpreter = st["interpreter"]
        if ids.shape != st["shape"]:  # the batch, and a bag's width, vary
            interpreter.resize_tensor_input(st["input"], list(ids.shape), strict=False)
            interpreter.allocate_tensors()
            st["shape"] = ids.shape
        interpreter.set_tensor(st["input"], ids)
        interpreter.invoke()
        return interpreter.get_tensor(st["output"]).reshape(len(ids), -1).copy()


BACKENDS = {"onnx": OnnxBackend, "tflite": TfliteBackend}
