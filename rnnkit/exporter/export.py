"""``rnnkit export`` and heavy ``rnnkit verify``: convert, validate against Keras, record.

Conversion and validation are separate steps. Files are written under temporary names and
only renamed into place (and entered in the manifest) once every parity gate has passed; a
failed export leaves the bundle exactly as it was. Parity runs on the bundle's own parity
set (written by ``rnnkit train``), so export never needs the training data.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from .._version import __version__
from ..runtime.errors import ExportError, ParityError, RnnkitError
from ..runtime.files import partial_file
from ..runtime.model.backends import REFERENCE_RUNTIME, RUNTIMES, OnnxBackend, TfliteBackend
from ..runtime.model.bundle import Bundle
from ..runtime.model.manifest import upgrade_manifest
from ..runtime.model.parity import (
    DEFAULT_ATOL,
    QUANTIZED_CRITERIA,
    ParityInputs,
    ParityResult,
    compare,
    compare_outputs,
    parity_rows,
)
from ..runtime.model.recording import recorded_inputs, source_outputs, write_recording
from ..runtime.model.replay import check_formats, export_atol, onnx_reference_predict
from ..runtime.signals import deferred
from ..runtime.text.bags import TextVectorizationBag
from ..training.keras_file import library_versions, load_keras_model
from ..training.model import TrainConfig
from . import onnx_export, tflite_export
from .layers.core import BagInput
from .onnx_graph import FoldedSpec

FORMATS = ("onnx", "tflite")
FILES = {
    ("onnx", "fp32"): "model.onnx",
    ("onnx", "int8"): "model.int8.onnx",
    ("tflite", "fp32"): "model.tflite",
    ("tflite", "int8"): "model.int8.tflite",
    ("tflite", "float16"): "model.float16.tflite",
}
SCREEN_ROWS = 256  # rows used to screen candidate ONNX forms before the full parity run


def parity_inputs(bundle: Bundle, keras_model) -> ParityInputs:
    """The bundle's parity set plus the edge sequences, with the reference outputs: the
    imported model's own, where import recorded them (a Keras 2 file's), else Keras's,
    computed live."""
    ids, labels = bundle.parity_set()
    maxlen = bundle.signature.input.maxlen or ids.shape[1]  # a bag: as wide as the set's
    rows, names = parity_rows(ids, bundle.signature.input.tokenizer, maxlen)
    inputs = ParityInputs(rows, labels, names, np.zeros(len(rows)))
    recorded = source_outputs(bundle, rows)
    if recorded is None:
        return live_keras(inputs, bundle, keras_model)
    return ParityInputs(
        rows, labels, names, recorded, "keras 2 (recorded at import)", bundle.signature.output
    )


def live_keras(inputs: ParityInputs, bundle: Bundle, keras_model) -> ParityInputs:
    """The same rows with Keras's outputs, computed now, as the reference."""
    keras_input = bundle.tokenizer().keras_input  # a bag's ids become Keras's vectors
    reference = np.concatenate([
        keras_model.predict(keras_input(inputs.ids[i : i + 1024]), batch_size=1024, verbose=0)
        for i in range(0, max(len(inputs.ids), 1), 1024)
    ]) if len(inputs.ids) else keras_model.predict(inputs.ids, verbose=0)  # fmt: skip
    return ParityInputs(
        inputs.ids,
        inputs.labels,
        inputs.row_names,
        reference.reshape(len(inputs.ids), -1),
        output=bundle.signature.output,
    )


def bag_input(bundle: Bundle) -> BagInput | None:
    """How a bag-of-n-grams bundle's ids feed its model (``None``: token sequences)."""
    tok = bundle.tokenizer()
    if not isinstance(tok, TextVectorizationBag):
        return None
    return BagInput(tok.depth, tok.idf_weights)


def trained_config(bundle: Bundle) -> TrainConfig | None:
    """The training config of a model rnnkit trained (None for an imported one)."""
    config = bundle.manifest["model"].get("config")
    return None if config is None else TrainConfig.from_dict(config)


def _throughput(backend: OnnxBackend, ids: np.ndarray, seconds: float = 1.0) -> float:
    backend.predict_ids(ids)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        backend.predict_ids(ids)
        done += len(ids)
    return done / (time.perf_counter() - start)


def choose_onnx_form(
    keras_model,
    folded: FoldedSpec | None,
    inputs: ParityInputs,
    atol: float,
    echo,
    measure_seconds: float = 0.0,
    bag: BagInput | None = None,
) -> tuple[onnx.ModelProto, list[dict]]:
    """Convert every candidate form; keep the first, in ``onnx_export.FORMS`` order, that
    agrees with Keras on onnxruntime and on the ONNX reference evaluator.

    A fixed preference, not a timing, decides: the exported file is the same on every
    machine. The throughput of each form is measured and recorded as information only.
    """
    screen = ParityInputs(
        inputs.ids[:SCREEN_ROWS],
        inputs.labels[: min(SCREEN_ROWS, inputs.n_test)],
        inputs.row_names[:SCREEN_ROWS],
        inputs.reference[:SCREEN_ROWS],
        output=inputs.output,
    )
    bench_ids = np.resize(inputs.ids, (1024, inputs.ids.shape[1]))
    candidates, chosen = [], None
    units = inputs.output.units
    for form in onnx_export.FORMS:
        entry: dict = {"form": form}
        try:
            model = onnx_export.convert(
                form, keras_model, folded, inputs.ids.shape[1], units, bag=bag
            )
        except Exception as exc:  # a converter failing is a measured outcome, not fatal
            entry["error"] = f"{type(exc).__name__}: {exc}"[:300]
            candidates.append(entry)
            continue
        ort = OnnxBackend(model.SerializeToString())
        kw = dict(format="onnx", variant="fp32", atol=atol)
        try:
            on_ort = compare(screen, ort.predict_ids, runtime=RUNTIMES["onnx"], **kw)
            on_ref = compare(screen, onnx_reference_predict(model), runtime=REFERENCE_RUNTIME, **kw)
        except Exception as exc:  # a runtime that cannot run the form: the form is refused
            entry["error"] = f"running it: {type(exc).__name__}: {exc}"[:300]
            echo(f"  onnx form {form:17s} refused: {entry['error']}")
            candidates.append(entry)
            continue
        entry.update(
            max_abs_onnxruntime=on_ort.max_abs,
            max_abs_reference=on_ref.max_abs,
            agrees=on_ort.passed and on_ref.passed,
            opset=onnx_export.opset_of(model),
            bytes=model.ByteSize(),
        )
        speed = ""
        if measure_seconds > 0:  # information only, and opt-in: it costs seconds per form
            entry["reviews_per_s_1thread_b1024"] = round(
                _throughput(ort, bench_ids, measure_seconds)
            )
            speed = f"  {entry['reviews_per_s_1thread_b1024']:>8,} reviews/s (1 thread, b1024)"
        echo(
            f"  onnx form {form:17s} ort |Δ| {on_ort.max_abs:.1e}  reference |Δ| "
            f"{on_ref.max_abs:.1e}{speed}"
        )
        candidates.append(entry)
        if entry["agrees"] and chosen is None:
            entry["chosen"] = True
            chosen = model
            if measure_seconds <= 0:  # the later forms are only tried to be timed
                break
    if chosen is None:
        raise ParityError(
            "no ONNX graph form agrees with Keras on both onnxruntime and the ONNX reference "
            f"evaluator within atol {atol:g}: {candidates}"
        )
    return chosen, candidates


@dataclass
class Staged:
    """Exported files written under temporary names, waiting for every gate to pass."""

    bundle: Bundle
    files: dict[tuple[str, str], tuple[Path, dict]] = field(default_factory=dict)

    def path(self, fmt: str, variant: str, info: dict) -> Path:
        # A signal between creating the file and recording it would leave it behind: it is
        # raised once the file is recorded, and ``cleanup`` removes it.
        with deferred():
            stream, tmp = partial_file(self.bundle.path / FILES[fmt, variant])
            stream.close()  # the converters write it by name
            self.files[fmt, variant] = (tmp, info)
        return tmp

    def drop(self, fmt: str) -> None:
        """Forget (and remove) every staged file of ``fmt``."""
        for key in [k for k in self.files if k[0] == fmt]:
            self.files.pop(key)[0].unlink(missing_ok=True)

    def cleanup(self) -> None:
        for tmp, _ in self.files.values():
            tmp.unlink(missing_ok=True)


def _quantized(staged: Staged, inputs: ParityInputs, fmt: str, variant: str, predict):
    """Gate a quantized variant by its criteria against Keras, and store them with it."""
    criteria = QUANTIZED_CRITERIA[fmt, variant]
    staged.files[fmt, variant][1]["criteria"] = criteria.to_dict()
    runtime = RUNTIMES[fmt]
    result = compare(
        inputs, predict, format=fmt, variant=variant, runtime=runtime, criteria=criteria
    )
    staged.files[fmt, variant][1]["label_agreement_with_fp32"] = result.label_agreement
    return result


def export_onnx(
    staged: Staged, keras_model, folded: FoldedSpec | None, inputs: ParityInputs, quantize, atol,
    echo, measure_seconds: float = 0.0,
) -> list[ParityResult]:  # fmt: skip
    model, candidates = choose_onnx_form(
        keras_model, folded, inputs, atol, echo, measure_seconds, bag=bag_input(staged.bundle)
    )
    onnx_export.stamp_metadata(
        model,
        {
            "rnnkit_version": __version__,
            "tokenizer_sha256": staged.bundle.signature.input.tokenizer["fingerprint"],
            "model": staged.bundle.manifest["model"].get("architecture", ""),
            "maxlen": inputs.ids.shape[1],
        },
    )
    chosen = next(c["form"] for c in candidates if c.get("chosen"))
    info = {
        "graph_form": chosen,
        "opset": onnx_export.opset_of(model),
        "ir_version": model.ir_version,
        "candidates": candidates,
    }
    tmp = staged.path("onnx", "fp32", info)
    onnx.save(model, tmp)
    kw = dict(format="onnx", variant="fp32", atol=atol)
    results = [
        compare(inputs, OnnxBackend(tmp).predict_ids, runtime=RUNTIMES["onnx"], **kw),
        compare(inputs, onnx_reference_predict(model), runtime=REFERENCE_RUNTIME, **kw),
    ]
    if "int8" in quantize:
        quantized = onnx_export.quantize_weights_int8(model)
        info = {
            "graph_form": chosen,
            "quantization": onnx_export.WEIGHT_ONLY_INT8,
            "opset": onnx_export.opset_of(quantized),
            "ir_version": quantized.ir_version,
        }
        q_tmp = staged.path("onnx", "int8", info)
        onnx.save(quantized, q_tmp)
        results.append(_quantized(staged, inputs, "onnx", "int8", OnnxBackend(q_tmp).predict_ids))
        # fp32 arithmetic: the reference evaluator runs it too (see quantize_weights_int8).
        results.append(
            compare(inputs, onnx_reference_predict(quantized), format="onnx", variant="int8",
                    runtime=REFERENCE_RUNTIME, criteria=QUANTIZED_CRITERIA["onnx", "int8"])
        )  # fmt: skip
    return results


def export_tflite(
    staged: Staged, keras_model, inputs: ParityInputs, quantize, atol
) -> list[ParityResult]:
    results = []
    for variant in ("fp32", *[q for q in quantize if q in tflite_export.VARIANTS]):
        form = "keras-bag" if bag_input(staged.bundle) else "keras-unrolled"
        tmp = staged.path("tflite", variant, {"graph_form": form})
        tmp.write_bytes(
            tflite_export.convert(
                keras_model, inputs.ids.shape[1], variant, bag=bag_input(staged.bundle)
            )
        )
        predict = TfliteBackend(tmp).predict_ids
        if variant == "fp32":
            kw = dict(format="tflite", variant=variant, runtime=RUNTIMES["tflite"], atol=atol)
            results.append(compare(inputs, predict, **kw))
        else:
            results.append(_quantized(staged, inputs, "tflite", variant, predict))
    return results


def commit(staged: Staged, inputs: ParityInputs, results: list[ParityResult]) -> None:
    """Rename the staged files into place, record Keras's outputs, update the manifest;
    a signal waits until all of it is done (half of it would fail the bundle's hashes)."""
    with deferred():
        _commit(staged, inputs, results)


def _commit(staged: Staged, inputs: ParityInputs, results: list[ParityResult]) -> None:
    bundle = staged.bundle
    for (fmt, variant), (tmp, info) in staged.files.items():
        final = FILES[fmt, variant]
        os.replace(tmp, bundle.path / final)
        bundle.record_file(final)
        bundle.manifest.setdefault("formats", {}).setdefault(fmt, {})[variant] = {
            "file": final,
            **info,
        }
    for r in results:
        bundle.manifest.setdefault("parity", {}).setdefault(r.format, {}).setdefault(r.variant, {})[
            r.runtime
        ] = r.to_dict()
    # Keras's outputs are recomputed live on every export: the recording is rewritten whole.
    write_recording(bundle, inputs)
    bundle.manifest = upgrade_manifest(bundle.manifest)  # a v1 bundle is written back as v2
    bundle.manifest["exported"] = {"rnnkit_version": __version__, **library_versions()}
    bundle.write_manifest()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def export_bundle(
    path: str | os.PathLike | None = None,
    formats: tuple[str, ...] = ("onnx",),
    *,
    quantize: tuple[str, ...] = (),
    atol: float = DEFAULT_ATOL,
    echo: Callable[[str], None] = print,
    measure_seconds: float = 0.0,
) -> tuple[Bundle, list[ParityResult]]:
    """Export ``formats`` (and quantized variants), gate on parity, update the manifest.
    ``measure_seconds``: also time each candidate ONNX form (information only)."""
    bundle = Bundle.open(path)
    folded = FoldedSpec.of(trained_config(bundle))
    keras_model = load_keras_model(bundle)
    sig = bundle.signature
    echo(
        f"bundle {bundle.path}: {bundle.manifest['model'].get('architecture', 'a Keras model')}; "
        f"{sig.output.kind} output, {sig.input.kind} tokenizer, maxlen {sig.input.maxlen}"
    )
    inputs = parity_inputs(bundle, keras_model)
    echo(f"parity set: {inputs.n_test} test reviews + {len(inputs.ids) - inputs.n_test} edge rows")
    staged = Staged(bundle)
    unconverted = []  # one line per format that could not be converted
    try:
        results = []
        for fmt in formats:
            try:
                if fmt == "onnx":
                    results += export_onnx(
                        staged, keras_model, folded, inputs, quantize, atol, echo, measure_seconds
                    )
                else:
                    results += export_tflite(staged, keras_model, inputs, quantize, atol)
            except RnnkitError:
                raise
            except Exception as exc:  # a converter's failure: the other formats still count
                staged.drop(fmt)
                results = [r for r in results if r.format != fmt]
                unconverted.append(f"{fmt}: cannot convert this model ({_first_line(exc)})")
                echo(f"  {unconverted[-1]}")
        failed = [r for r in results if not r.passed]
        if failed:
            raise ParityError(
                "export rejected, the exported model disagrees with Keras:\n  "
                + "\n  ".join(r.describe() for r in failed)
            )
        if results:
            commit(staged, inputs, results)
    finally:
        staged.cleanup()
    if unconverted:
        kept = sorted({f"{r.format} {r.variant}" for r in results})
        raise ExportError(
            "; ".join(unconverted)
            + (
                f"; kept the formats that passed: {', '.join(kept)}"
                if kept
                else "; nothing written"
            )
        )
    return bundle, results


def check_live(
    path: str | os.PathLike | None = None, *, atol: float | None = None
) -> list[ParityResult]:
    """Heavy verify: Keras runs live. Checks that the recording still matches the ``.keras``
    file, then every exported file against live Keras (quantized: by their criteria)."""
    bundle = Bundle.open(path)  # hashes first: a tampered file is refused by name
    recorded = recorded_inputs(bundle)
    # Keras runs on the recorded rows themselves, whatever edge rows this rnnkit would add.
    live = live_keras(recorded, bundle, load_keras_model(bundle))
    results = [
        compare_outputs(
            live,
            recorded.reference,
            format="keras",
            variant="recording",
            runtime="keras (live)",
            atol=export_atol(bundle) if atol is None else atol,
        )
    ]
    return results + check_formats(bundle, live, atol)[0]
