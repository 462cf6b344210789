"""``rnnkit export`` and ``rnnkit verify``: convert, validate against Keras, then record.

Conversion and validation are separate steps. Files are written under temporary names and
only renamed into place - and entered in the manifest - once every parity gate has passed;
a failed export leaves the bundle exactly as it was.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from .. import __version__
from ..runtime.backends import OnnxBackend, TfliteBackend
from ..runtime.bundle import Bundle, BundleError
from ..training.data import load_split
from ..training.model import TrainConfig
from ..training.train import library_versions, load_keras_model
from . import onnx_export, tflite_export
from .parity import DEFAULT_ATOL, ParityError, ParityInputs, ParityResult, compare, edge_sequences

FORMATS = ("onnx", "tflite")
FILES = {
    ("onnx", "fp32"): "model.onnx",
    ("onnx", "int8"): "model.int8.onnx",
    ("tflite", "fp32"): "model.tflite",
    ("tflite", "int8"): "model.int8.tflite",
    ("tflite", "float16"): "model.float16.tflite",
}
SCREEN_ROWS = 256  # rows used to screen candidate ONNX forms before the full parity run


def parity_inputs(bundle: Bundle, keras_model, cfg: TrainConfig) -> ParityInputs:
    """The bundle's own test split (rebuilt from the manifest) plus the edge sequences."""
    data = bundle.manifest.get("data", {"source": "embedded"})
    path = data.get("path")
    if path is not None and not Path(path).is_file():
        raise BundleError(
            f"{bundle.path}: the training CSV {path} is gone; parity needs its test split"
        )
    split = load_split(
        data.get("source", "embedded") if path is None else "csv",
        path=path,
        text_column=data.get("text_column", "text"),
        label_column=data.get("label_column", "label"),
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
        limit=cfg.limit,
        vocab_size=cfg.vocab_size,
    )
    tokenizer = bundle.tokenizer()
    edges = edge_sequences(cfg.vocab_size, cfg.maxlen)
    ids = np.concatenate([tokenizer.encode(split.test_texts), np.stack(list(edges.values()))])
    names = [f"test[{i}]" for i in range(len(split.test_texts))] + list(edges)
    reference = keras_model.predict(ids, batch_size=1024, verbose=0).reshape(-1)
    return ParityInputs(ids, split.test_labels, names, reference.astype(np.float64))


def _throughput(backend: OnnxBackend, ids: np.ndarray, seconds: float = 1.0) -> float:
    backend.predict_ids(ids)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        backend.predict_ids(ids)
        done += len(ids)
    return done / (time.perf_counter() - start)


def _reference_predict(model: onnx.ModelProto) -> Callable[[np.ndarray], np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(model)
    return lambda ids: evaluator.run(None, {"token_ids": ids})[0].reshape(-1)


def choose_onnx_form(
    keras_model, cfg: TrainConfig, inputs: ParityInputs, atol: float, work: Path, echo
) -> tuple[onnx.ModelProto, list[dict]]:
    """Convert every candidate form; keep the fastest that agrees on both ONNX runtimes."""
    screen = ParityInputs(
        inputs.ids[:SCREEN_ROWS],
        inputs.labels[: min(SCREEN_ROWS, inputs.n_test)],
        inputs.row_names[:SCREEN_ROWS],
        inputs.reference[:SCREEN_ROWS],
    )
    bench_ids = np.resize(inputs.ids, (1024, cfg.maxlen))
    candidates, best = [], None
    for form in onnx_export.FORMS:
        entry: dict = {"form": form}
        try:
            model = onnx_export.convert(form, keras_model, cfg)
        except Exception as exc:  # a converter failing is a measured outcome, not fatal
            entry["error"] = f"{type(exc).__name__}: {exc}"[:300]
            candidates.append(entry)
            continue
        path = work / f".candidate-{form}.onnx"
        onnx.save(model, path)
        try:
            ort = OnnxBackend(path)
            kw = dict(format="onnx", variant="fp32", atol=atol)
            on_ort = compare(screen, ort.predict_ids, runtime="onnxruntime", **kw)
            on_ref = compare(screen, _reference_predict(model), runtime="onnx-reference", **kw)
            entry.update(
                max_abs_onnxruntime=on_ort.max_abs,
                max_abs_reference=on_ref.max_abs,
                agrees=on_ort.passed and on_ref.passed,
                reviews_per_s_1thread_b1024=round(_throughput(ort, bench_ids)),
                bytes=path.stat().st_size,
            )
        finally:
            path.unlink(missing_ok=True)
        echo(
            f"  onnx form {form:17s} ort |Δ| {entry['max_abs_onnxruntime']:.1e}  reference "
            f"|Δ| {entry['max_abs_reference']:.1e}  {entry['reviews_per_s_1thread_b1024']:>8,} "
            "reviews/s (1 thread, batch 1024)"
        )
        candidates.append(entry)
        if entry["agrees"] and (
            best is None
            or entry["reviews_per_s_1thread_b1024"] > best[1]["reviews_per_s_1thread_b1024"]
        ):
            best = (model, entry)
    if best is None:
        raise ParityError(
            "no ONNX graph form agrees with Keras on both onnxruntime and the ONNX reference "
            f"evaluator within atol {atol:g}: {candidates}"
        )
    best[1]["chosen"] = True
    return best[0], candidates


def _onnx_int8(fp32_path: Path, out_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        fp32_path, out_path, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gather"]
    )


def export_bundle(
    path: str | os.PathLike | None = None,
    formats: tuple[str, ...] = ("onnx",),
    *,
    quantize: tuple[str, ...] = (),
    atol: float = DEFAULT_ATOL,
    echo: Callable[[str], None] = print,
) -> tuple[Bundle, list[ParityResult]]:
    """Export ``formats`` (and quantized variants), gate on parity, update the manifest."""
    bundle = Bundle.open(path)
    cfg = TrainConfig.from_dict(bundle.manifest["model"]["config"])
    keras_model = load_keras_model(bundle)
    echo(f"bundle {bundle.path}: {cfg.cell} cell, maxlen {cfg.maxlen}, vocab {cfg.vocab_size}")
    inputs = parity_inputs(bundle, keras_model, cfg)
    echo(f"parity set: {inputs.n_test} test reviews + {len(inputs.ids) - inputs.n_test} edge rows")
    staged: dict[tuple[str, str], tuple[Path, dict]] = {}
    results: list[ParityResult] = []
    tok_hash = bundle.manifest["tokenizer"]["fingerprint"]

    def stage(fmt: str, variant: str, info: dict) -> Path:
        tmp = bundle.path / f".{FILES[fmt, variant]}.tmp"
        staged[fmt, variant] = (tmp, info)
        return tmp

    try:
        if "onnx" in formats:
            model, candidates = choose_onnx_form(keras_model, cfg, inputs, atol, bundle.path, echo)
            onnx_export.stamp_metadata(
                model,
                {
                    "rnnkit_version": __version__,
                    "tokenizer_sha256": tok_hash,
                    "cell": cfg.cell,
                    "maxlen": cfg.maxlen,
                },
            )
            chosen = next(c["form"] for c in candidates if c.get("chosen"))
            info = {"graph_form": chosen, "opset": onnx_export.OPSET, "candidates": candidates}
            tmp = stage("onnx", "fp32", info)
            onnx.save(model, tmp)
            ort = OnnxBackend(tmp)
            results.append(
                compare(
                    inputs,
                    ort.predict_ids,
                    format="onnx",
                    variant="fp32",
                    runtime="onnxruntime",
                    atol=atol,
                )
            )
            results.append(
                compare(
                    inputs,
                    _reference_predict(model),
                    format="onnx",
                    variant="fp32",
                    runtime="onnx-reference",
                    atol=atol,
                )
            )
            if "int8" in quantize:
                q_tmp = stage(
                    "onnx", "int8", {"graph_form": chosen, "quantization": "dynamic int8"}
                )
                _onnx_int8(tmp, q_tmp)
                results.append(
                    compare(
                        inputs,
                        OnnxBackend(q_tmp).predict_ids,
                        format="onnx",
                        variant="int8",
                        runtime="onnxruntime",
                        atol=None,
                    )
                )
        if "tflite" in formats:
            for variant in ("fp32", *[q for q in quantize if q in tflite_export.VARIANTS]):
                tmp = stage("tflite", variant, {"graph_form": "keras-unrolled"})
                tmp.write_bytes(tflite_export.convert(keras_model, cfg, variant))
                results.append(
                    compare(
                        inputs,
                        TfliteBackend(tmp).predict_ids,
                        format="tflite",
                        variant=variant,
                        runtime="ai-edge-litert",
                        atol=atol if variant == "fp32" else None,
                    )
                )
        failed = [r for r in results if not r.passed]
        if failed:
            raise ParityError(
                "export rejected, the exported model disagrees with Keras:\n  "
                + "\n  ".join(r.describe() for r in failed)
            )
        fp32 = {r.format: r for r in results if r.variant == "fp32"}
        for fmt, variant in list(staged):
            tmp, info = staged[fmt, variant]
            final = FILES[fmt, variant]
            if variant != "fp32" and fmt in fp32:
                info["label_agreement_with_fp32"] = _agreement(inputs, tmp, fmt)
            os.replace(tmp, bundle.path / final)
            bundle.record_file(final)
            bundle.manifest.setdefault("formats", {}).setdefault(fmt, {})[variant] = {
                "file": final,
                **info,
            }
        for r in results:
            bundle.manifest.setdefault("parity", {}).setdefault(r.format, {}).setdefault(
                r.variant, {}
            )[r.runtime] = r.to_dict()
        bundle.manifest["exported"] = {"rnnkit_version": __version__, **library_versions()}
        bundle.write_manifest()
    finally:
        for tmp, _ in staged.values():
            tmp.unlink(missing_ok=True)
    return bundle, results


def _agreement(inputs: ParityInputs, path: Path, fmt: str) -> float:
    backend = OnnxBackend(path) if fmt == "onnx" else TfliteBackend(path)
    got = np.concatenate(
        [backend.predict_ids(inputs.ids[i : i + 1024]) for i in range(0, inputs.n_test, 1024)]
    )[: inputs.n_test]
    return float(((got >= 0.5) == (inputs.reference[: inputs.n_test] >= 0.5)).mean())


def verify_bundle(
    path: str | os.PathLike | None = None, *, atol: float | None = None
) -> list[ParityResult]:
    """Re-run every parity check the manifest records, against the files on disk."""
    bundle = Bundle.open(path)  # hashes first: a tampered file is refused by name
    cfg = TrainConfig.from_dict(bundle.manifest["model"]["config"])
    keras_model = load_keras_model(bundle)
    inputs = parity_inputs(bundle, keras_model, cfg)
    results = []
    for fmt, variants in sorted(bundle.manifest.get("formats", {}).items()):
        for variant in sorted(variants):
            file = bundle.format_file(fmt, variant)
            gate = (atol if atol is not None else DEFAULT_ATOL) if variant == "fp32" else None
            kw = dict(format=fmt, variant=variant, atol=gate)
            if fmt == "onnx":
                results.append(
                    compare(inputs, OnnxBackend(file).predict_ids, runtime="onnxruntime", **kw)
                )
                if variant == "fp32":
                    model = onnx.load(file)
                    results.append(
                        compare(inputs, _reference_predict(model), runtime="onnx-reference", **kw)
                    )
            else:
                results.append(
                    compare(inputs, TfliteBackend(file).predict_ids, runtime="ai-edge-litert", **kw)
                )
    return results
