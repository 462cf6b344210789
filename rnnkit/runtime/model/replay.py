"""Checking a bundle against Keras's recorded answers, without TensorFlow.

``rnnkit export`` records what Keras said on the parity inputs (the held-out test split
plus edge sequences) in ``reference-outputs.npz``. Here that recording is replayed:

* :func:`replay_recorded` (``rnnkit verify`` on the light install): every exported file
  whose runtime is installed, over every recorded row; fp32 files at ``atol``, quantized
  files by their criteria (see ``parity.py``), both against Keras's fp32 outputs;
* :func:`self_check` (every ``rnnkit.load()`` and ``rnnkit score``): the backend about to
  score, over the first ``SELF_CHECK_ROWS`` rows plus the edge sequences. It catches a
  runtime build or CPU that computes differently and a model swapped together with its hash.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import BundleError
from .backends import REFERENCE_RUNTIME, RUNTIMES, OnnxBackend, TfliteBackend, as_rows
from .bundle import Bundle
from .parity import (
    DEFAULT_ATOL,
    QUANTIZED_CRITERIA,
    ParityInputs,
    ParityResult,
    QuantizedCriteria,
    compare,
)
from .recording import recorded_inputs
from .signature import INPUT_NAME

SELF_CHECK_ROWS = 32


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def runtimes_for(fmt: str, variant: str, path: Path) -> list[tuple[str, Callable]]:
    """``(runtime name, predict)`` for every installed runtime that runs this file."""
    if fmt == "onnx":
        out = [(RUNTIMES["onnx"], OnnxBackend(path).predict_ids)]
        if installed("onnx"):
            # RuntimeError: an op it lacks (older bundles' MatMulInteger at opset 13).
            with contextlib.suppress(RuntimeError):
                out.append((REFERENCE_RUNTIME, onnx_reference_predict(path)))
        return out
    if not installed("ai_edge_litert"):
        return []
    return [(RUNTIMES["tflite"], TfliteBackend(path).predict_ids)]


def onnx_reference_predict(path) -> Callable[[np.ndarray], np.ndarray]:
    """onnx's pure-Python ``ReferenceEvaluator``: a second, independent ONNX runtime."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    model = path if isinstance(path, onnx.ModelProto) else onnx.load(path)
    evaluator = ReferenceEvaluator(model)
    return lambda ids: as_rows(evaluator.run(None, {INPUT_NAME: ids})[0], len(ids))


def quantized_criteria(bundle: Bundle, fmt: str, variant: str) -> QuantizedCriteria:
    """The criteria stored at export; rnnkit's defaults for bundles that predate them."""
    stored = bundle.manifest["formats"][fmt][variant].get("criteria")
    if stored is not None:
        try:
            return QuantizedCriteria.from_dict(stored)
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{bundle.path}: formats.{fmt}.{variant}.criteria: {exc}") from exc
    if (fmt, variant) not in QUANTIZED_CRITERIA:
        raise BundleError(f"{bundle.path}: no criteria for the quantized {fmt}/{variant} file")
    return QUANTIZED_CRITERIA[fmt, variant]


def export_atol(bundle: Bundle) -> float:
    """The fp32 tolerance the bundle's files were exported with (``rnnkit export --atol``,
    recorded with each parity result): what verify and every load hold them to."""
    gates = [
        entry["atol"]
        for variants in bundle.manifest.get("parity", {}).values()
        for entry in variants.get("fp32", {}).values()
        if isinstance(entry, dict) and isinstance(entry.get("atol"), (int, float))
    ]
    return max(gates, default=DEFAULT_ATOL)


def check_formats(
    bundle: Bundle, inputs: ParityInputs, atol: float | None = None
) -> tuple[list[ParityResult], list[str]]:
    """Check every exported file against Keras's outputs in ``inputs``: fp32 at ``atol``,
    quantized by their criteria. Returns the results and one note per format whose
    runtime is not installed."""
    atol = export_atol(bundle) if atol is None else atol
    results, skipped = [], []
    for fmt, variants in sorted(bundle.manifest.get("formats", {}).items()):
        for variant in sorted(variants):
            checks = runtimes_for(fmt, variant, bundle.format_file(fmt, variant))
            if not checks:
                skipped.append(f"{fmt}/{variant}: {RUNTIMES[fmt]} is not installed")
            gate = (
                {"atol": atol}
                if variant == "fp32"
                else {"criteria": quantized_criteria(bundle, fmt, variant)}
            )
            for runtime, predict in checks:
                results.append(
                    compare(inputs, predict, format=fmt, variant=variant, runtime=runtime, **gate)
                )
    return results, skipped


def replay_recorded(
    path=None, *, atol: float | None = None
) -> tuple[list[ParityResult], list[str]]:
    """Light ``rnnkit verify``: hashes, then every recorded row through every runtime."""
    bundle = Bundle.open(path)
    inputs = recorded_inputs(bundle)
    return check_formats(bundle, inputs, atol)


def self_check(bundle: Bundle, fmt: str, predict: Callable[[np.ndarray], np.ndarray]) -> None:
    """Refuse to score if this machine's runtime disagrees with Keras's recorded outputs."""
    inputs = recorded_inputs(bundle, SELF_CHECK_ROWS)
    runtime, atol = RUNTIMES[fmt], export_atol(bundle)
    result = compare(inputs, predict, format=fmt, variant="fp32", runtime=runtime, atol=atol)
    if not result.passed:
        raise BundleError(
            f"{bundle.format_file(fmt)}: on this machine {runtime} disagrees with the Keras "
            f"outputs recorded in the bundle (max |Δ| {result.max_abs:.3g} > atol "
            f"{atol:g}; worst rows: {', '.join(result.worst_rows[:3])}). Refusing to "
            "score: the model file or this runtime does not compute what Keras computed."
        )
