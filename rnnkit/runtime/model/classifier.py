"""``rnnkit.load()``: a bundle's tokenizer + an inference backend behind ``predict(texts)``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..arrays import nulls_of, values_of
from ..errors import UsageError
from .backends import BACKENDS, OnnxBackend, predict_bags, predict_in_batches
from .bundle import Bundle
from .parallelism import Parallelism, measured
from .recording import recorded_inputs
from .replay import self_check
from .signature import BINARY
from .statuses import EMPTY_CODE, MISSING_CODE, NO_OUTPUT_CODE, NO_WORDS_CODE, OK_CODE, RowStats


def text_array(texts: Sequence[object]) -> pa.Array:
    """Texts as Arrow strings: ``None`` and a float NaN (pandas's missing value) are
    missing texts (status ``missing_text``); anything else that is not a string is refused."""
    values = []
    for k, text in enumerate(texts):
        if text is None or (isinstance(text, float) and text != text):
            values.append(None)
        elif isinstance(text, str):
            values.append(text)
        else:
            raise UsageError(
                f"text {k}: expected a string (or None for a missing text), got "
                f"{type(text).__name__} {text!r:.40}"
            )
    return pa.array(values, type=pa.large_string())


class TextClassifier:
    """A loaded bundle, of any output kind: ``predict(["What a wonderful film"]) ->
    array([0.93], dtype=float32)`` for a binary model (sentiment); ``[n, classes]``
    probabilities for a multi-class one (stars, topics)."""

    def __init__(
        self, bundle: Bundle, backend: str = "onnx", threads: int = 1, *, warm_up: bool = False
    ) -> None:
        """``warm_up``: start loading the tokenizer's compiled scan on its own thread at once,
        beside the inference session and the self-check (for inputs known to be large)."""
        if backend not in BACKENDS:
            raise UsageError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        self.bundle = bundle
        self.output = bundle.signature.output
        self.tokenizer = bundle.tokenizer()
        if warm_up:
            self.tokenizer.warm_up_in_background()
        self.backend_name = backend
        self.backend = BACKENDS[backend](bundle.format_file(backend), threads=threads)
        # Before any scoring: this runtime must reproduce Keras's recorded outputs.
        self_check(bundle, backend, self.backend.predict_ids)
        self._map_calls = map

    def use_cores(self, cores: int, measure: bool = True) -> Parallelism:
        """How to score on ``cores`` cores: for a long-sequence ONNX model, the faster of
        one-thread callers or one caller with a thread per core, as measured on this
        machine (``parallelism.py``; ``measure=False``: the default, batches), and the
        backend is given the threads chosen. Any other model: one caller per core."""
        long_onnx = self.backend_name == "onnx" and self.backend.long_sequence
        if cores < 2 or not long_onnx or not measure:
            return Parallelism(cores)
        path = self.bundle.format_file("onnx")
        rows = 8 * cores * self.backend.batch_rows
        sessions = {1: self.backend}

        def predict_on(threads: int):
            if threads not in sessions:
                sessions[threads] = OnnxBackend(path, threads=threads)
            return sessions[threads].predict_ids

        ids = lambda: recorded_inputs(self.bundle, rows).ids  # noqa: E731 - read if measured
        model = f"{self.bundle.digest} {path.name}"  # the manifest lists the file's hash
        chosen = measured(model, cores, ids, predict_on, batch_rows=self.backend.batch_rows)
        self.backend = sessions.get(chosen.threads) or OnnxBackend(path, threads=chosen.threads)
        return chosen

    @contextlib.contextmanager
    def spreading_calls(self, workers: int) -> Iterator[None]:
        """Within: one block's inference calls run on ``workers`` threads of their own, for
        a long-sequence model (``backend.long_sequence``). Its calls take milliseconds and a
        block holds seconds of them, so one block a worker left a core idle for the last
        block of a file (imdb-bigru-conv, 10k rows: a worker idle for 0.7 of 5.9 s). Calls
        are run in the order they come, so the oldest block is done first. A model of
        fast calls (the seed's: 1,500 rows in 10 ms) keeps them on its block's thread."""
        if workers < 2 or not self.backend.long_sequence:
            yield
            return
        pool = ThreadPoolExecutor(workers, thread_name_prefix="rnnkit-model")
        self._map_calls = pool.map
        try:
            yield
        finally:
            self._map_calls = map
            # On an error, calls still queued are dropped, not run: seconds of them.
            pool.shutdown(wait=True, cancel_futures=True)

    def predict_ids(self, ids: np.ndarray) -> np.ndarray:
        """The model's outputs, ``[n, units]``."""
        if self.tokenizer.maxlen == 0:  # bags of n-grams: as long as each row's own
            return predict_bags(self.backend.predict_ids, ids, self.tokenizer.pad_id)
        return predict_in_batches(
            self.backend.predict_ids,
            ids,
            max_rows=self.backend.batch_rows,
            map_calls=self._map_calls,
            # A long model's graph may cut the padding its rows share (exporter/trim.py).
            pad_id=self.tokenizer.pad_id if self.backend.long_sequence else None,
        )

    def score_arrow(
        self, texts: pa.Array, count_all: bool = False
    ) -> tuple[np.ndarray, np.ndarray, RowStats]:
        """Outputs ``[n, units]`` (NaN rows where unscorable), status codes (index into
        STATUSES) and per-row word statistics (words counted in full with ``count_all``)."""
        ids, counts = self.tokenizer.encode_with_counts(texts, count_all=count_all)
        status = np.full(len(ids), OK_CODE, dtype=np.int8)
        no_tokens = counts == 0
        if no_tokens.any():
            # Compared in numpy (a compute call with a Python scalar, or to_numpy() of an
            # array with nulls, imports pandas: see runtime/arrays.py); nulls come after.
            blank = values_of(pc.utf8_length(pc.utf8_trim_whitespace(texts))) == 0
            nulls = nulls_of(texts)
            status[no_tokens] = NO_WORDS_CODE
            status[no_tokens & blank] = EMPTY_CODE
            status[nulls] = MISSING_CODE
        probs = np.full((len(ids), self.output.units), np.nan, dtype=np.float32)
        scorable = status == OK_CODE
        if scorable.all():
            probs[:] = self.predict_ids(ids)
        elif scorable.any():
            probs[scorable] = self.predict_ids(ids[scorable])
        undefined = np.isnan(probs).any(axis=1) & scorable
        if undefined.any():
            status[undefined] = NO_OUTPUT_CODE
            probs[undefined] = np.nan
        return probs, status, RowStats(counts, *self.tokenizer.oov_and_window(ids, counts))

    def predict(
        self,
        texts: Sequence[str | None],
        *,
        labels: bool = False,
        threshold: float | None = None,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Binary: P(positive) per text, ``(n,)``; multi-class: one probability per class,
        ``(n, classes)``. A text with no words gets NaN. With ``labels=True`` also the
        decision: binary, a boolean array (True = positive at ``threshold``, default the
        signature's); multi-class, the class names (None where there is no score)."""
        probs, _, _ = self.score_arrow(text_array(texts))
        out = probs[:, 0] if self.output.kind == BINARY else probs
        if not labels:
            return out
        if self.output.kind == BINARY:
            return out, out >= (self.output.threshold if threshold is None else threshold)
        index = self.output.decide(probs)
        names = np.array(self.output.classes, dtype=object)[np.maximum(index, 0)]
        names[index < 0] = None
        return out, names

    def __repr__(self) -> str:
        return f"TextClassifier({str(self.bundle.path)!r}, backend={self.backend_name!r})"


def load(
    path: str | os.PathLike | None = None,
    *,
    backend: str = "onnx",
    threads: int = 1,
    public_key: str | os.PathLike | None = None,
    signature: str | os.PathLike | None = None,
) -> TextClassifier:
    """Load a bundle (default: $RNNKIT_MODEL, ./rnnkit-model, else the shipped model).

    Every file is checked against the manifest's sha256, and the backend must reproduce
    Keras's recorded outputs on a slice of the parity set, before anything is scored. With
    ``public_key``, the bundle's signature (default ``BUNDLE/model.sig``) is checked first.
    """
    bundle = Bundle.open(path, public_key=public_key, signature=signature)
    return TextClassifier(bundle, backend=backend, threads=threads)
