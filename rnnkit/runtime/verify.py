"""Checking a bundle against Keras's recorded answers, without TensorFlow.

``rnnkit export`` records what Keras said on the parity inputs (the held-out test split
plus edge sequences) in ``reference-outputs.npz``, and each quantized variant's own outputs
beside them. Here those recordings are replayed:

* :func:`verify_recorded` (``rnnkit verify`` on the light install): every exported format
  whose runtime is installed, over every recorded row;
* :func:`self_check` (every ``rnnkit.load()`` and ``rnnkit score``): the backend about to
  score, over the first ``SELF_CHECK_ROWS`` rows plus the edge sequences. It catches a
  runtime build or CPU that computes differently and a model swapped together with its hash.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backends import OnnxBackend, TfliteBackend, predict_in_batches
from .bundle import REFERENCE_OUTPUTS_FILE, Bundle
from .errors import BundleError
from .parity import DEFAULT_ATOL, ParityInputs, ParityResult, compare, compare_outputs

SELF_CHECK_ROWS = 32
RUNTIMES = {"onnx": "onnxruntime", "tflite": "ai-edge-litert"}


def recorded_key(fmt: str, variant: str) -> str:
    """Where a quantized variant's own outputs are stored in the recording."""
    return f"{fmt}_{variant}"


def recorded_inputs(bundle: Bundle, rows: int | None = None) -> tuple[ParityInputs, dict]:
    """The parity inputs with Keras's recorded outputs, and the whole recording."""
    ids, labels = bundle.parity_set()
    recording = bundle.reference_outputs()
    n = len(ids) if rows is None else min(rows, len(ids))
    edges = recording["edge_ids"]
    keep = np.r_[np.arange(n), len(ids) + np.arange(len(edges))]
    inputs = ParityInputs(
        np.concatenate([ids[:n], edges]).astype(np.int32),
        labels[:n],
        [f"test[{i}]" for i in range(n)] + [str(x) for x in recording["edge_names"]],
        recording["keras"].astype(np.float64)[keep],
        "recorded keras",
    )
    recording = {k: (v[keep] if v.ndim == 1 and len(v) == len(ids) + len(edges) else v)
                 for k, v in recording.items()}  # fmt: skip
    return inputs, recording


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def runtimes_for(fmt: str, variant: str, path: Path) -> list[tuple[str, Callable]]:
    """``(runtime name, predict)`` for every installed runtime that runs this file."""
    if fmt == "onnx":
        out = [("onnxruntime", OnnxBackend(path).predict_ids)]
        if variant == "fp32" and _installed("onnx"):
            out.append(("onnx-reference", onnx_reference_predict(path)))
        return out
    if not _installed("ai_edge_litert"):
        return []
    return [("ai-edge-litert", TfliteBackend(path).predict_ids)]


def onnx_reference_predict(path) -> Callable[[np.ndarray], np.ndarray]:
    """onnx's pure-Python ``ReferenceEvaluator``: a second, independent ONNX runtime."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    model = path if isinstance(path, onnx.ModelProto) else onnx.load(path)
    evaluator = ReferenceEvaluator(model)
    return lambda ids: evaluator.run(None, {"token_ids": ids})[0].reshape(-1)


def verify_formats(
    bundle: Bundle, inputs: ParityInputs, recording: dict, atol: float | None = None
) -> tuple[list[ParityResult], list[str]]:
    """Replay every exported file against ``inputs`` (fp32) or its own recording (quantized).

    Returns the results and one note per format whose runtime is not installed.
    """
    atol = DEFAULT_ATOL if atol is None else atol
    results, skipped = [], []
    for fmt, variants in sorted(bundle.manifest.get("formats", {}).items()):
        for variant in sorted(variants):
            path = bundle.format_file(fmt, variant)
            checks = runtimes_for(fmt, variant, path)
            if not checks:
                skipped.append(f"{fmt}/{variant}: {RUNTIMES[fmt]} is not installed")
            expected = inputs
            if variant != "fp32":
                key = recorded_key(fmt, variant)
                if key not in recording:
                    raise BundleError(f"{bundle.file(REFERENCE_OUTPUTS_FILE)}: no {key} outputs")
                expected = inputs.with_reference(
                    recording[key].astype(np.float64), f"recorded {fmt}/{variant}"
                )
            for runtime, predict in checks:
                kw = dict(format=fmt, variant=variant, runtime=runtime, atol=atol)
                if variant == "fp32":
                    results.append(compare(expected, predict, **kw))
                else:
                    # Dynamic quantization scales activations per batch, so a quantized
                    # row's output depends on its batch: replay in the recorded batches,
                    # without the batch-of-one check.
                    got = predict_in_batches(predict, expected.ids)
                    results.append(compare_outputs(expected, got, **kw))
    return results, skipped


def verify_recorded(
    path=None, *, atol: float | None = None
) -> tuple[list[ParityResult], list[str]]:
    """Light ``rnnkit verify``: hashes, then every recorded row through every runtime."""
    bundle = Bundle.open(path)
    inputs, recording = recorded_inputs(bundle)
    return verify_formats(bundle, inputs, recording, atol)


@dataclass
class VerifyReport:
    mode: str  # "live Keras" or "recorded Keras outputs"
    results: list[ParityResult]
    skipped: list[str]

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


def verify(path=None, *, atol: float | None = None, live: bool | None = None) -> VerifyReport:
    """``rnnkit verify``. ``live`` (default: when TensorFlow is installed) re-runs Keras and
    also checks the recording against the ``.keras`` file; otherwise the recorded outputs
    are replayed through every installed runtime."""
    if live is None:
        live = _installed("tensorflow")
    if live:
        from ..exporter.export import verify_bundle

        return VerifyReport("live Keras", verify_bundle(path, atol=atol), [])
    results, skipped = verify_recorded(path, atol=atol)
    return VerifyReport("recorded Keras outputs", results, skipped)


def self_check(bundle: Bundle, fmt: str, predict: Callable[[np.ndarray], np.ndarray]) -> None:
    """Refuse to score if this machine's runtime disagrees with Keras's recorded outputs."""
    inputs, _ = recorded_inputs(bundle, SELF_CHECK_ROWS)
    runtime = RUNTIMES[fmt]
    result = compare(inputs, predict, format=fmt, variant="fp32", runtime=runtime,
                     atol=DEFAULT_ATOL)  # fmt: skip
    if not result.passed:
        raise BundleError(
            f"{bundle.format_file(fmt)}: on this machine {runtime} disagrees with the Keras "
            f"outputs recorded in the bundle (max |Δ| {result.max_abs:.3g} > atol "
            f"{DEFAULT_ATOL:g}; worst rows: {', '.join(result.worst_rows[:3])}). Refusing to "
            "score: the model file or this runtime does not compute what Keras computed."
        )
