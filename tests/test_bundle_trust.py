"""A bundle that proves itself: recorded Keras outputs, checked wherever it is loaded, and
exports that load in runtimes other than Python's onnxruntime."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnnkit.cli import main
from rnnkit.runtime.model.backends import OnnxBackend, predict_in_batches
from rnnkit.runtime.model.bundle import Bundle
from rnnkit.runtime.model.locations import shipped_bundle_path
from rnnkit.runtime.model.manifest import REFERENCE_OUTPUTS_FILE
from rnnkit.runtime.model.recording import recorded_inputs

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "reviews.csv"
JS = ROOT / "tests" / "js"


def rehash(bundle_dir: Path, name: str) -> None:
    """Rewrite a file's manifest hash, as an attacker or a careless tool would."""
    bundle = Bundle.open(bundle_dir, verify=False)
    bundle.record_file(name)
    bundle.write_manifest()


def perturbed_onnx_copy(tmp_path: Path) -> Path:
    onnx = pytest.importorskip("onnx")
    copy = tmp_path / "tampered"
    shutil.copytree(shipped_bundle_path(), copy)
    model = onnx.load(copy / "model.onnx")
    init = max(model.graph.initializer, key=lambda i: np.prod(i.dims))
    arr = onnx.numpy_helper.to_array(init).copy()
    arr += np.float32(0.05)
    init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
    onnx.save(model, copy / "model.onnx")
    rehash(copy, "model.onnx")
    return copy


def test_light_verify_passes_on_the_shipped_model():
    res = CliRunner().invoke(main, ["verify", "--recorded", str(shipped_bundle_path())])
    assert res.exit_code == 0, res.output
    assert "checked against: recorded Keras outputs" in res.output
    rows = [line.split() for line in res.output.splitlines() if line.startswith(("onnx", "tflite"))]
    assert {(r[0], r[1], r[2]) for r in rows} >= {
        ("onnx", "fp32", "onnxruntime"),
        ("onnx", "int8", "onnxruntime"),
        ("tflite", "fp32", "ai-edge-litert"),
    }
    assert all(r[-1] == "PASS" and r[5] == "5006" for r in rows)


def test_tampered_onnx_with_rewritten_hash_is_refused(tmp_path):
    copy = perturbed_onnx_copy(tmp_path)
    res = CliRunner().invoke(main, ["verify", "--recorded", str(copy)])
    assert res.exit_code == 1 and "FAIL" in res.output and "parity check failed" in res.output
    res = CliRunner().invoke(main, ["score", str(SAMPLES), "--model", str(copy), "-q"])
    assert res.exit_code == 1, res.output
    assert "disagrees with the Keras outputs recorded in the bundle" in res.output
    assert "Refusing to score" in res.output and "Traceback" not in res.output


@pytest.mark.train
def test_changed_recording_is_caught_by_live_verify(simple_bundle, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(simple_bundle, copy)
    path = copy / REFERENCE_OUTPUTS_FILE
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["keras"] = arrays["keras"].copy()
    arrays["keras"][3] += 0.25
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    rehash(copy, REFERENCE_OUTPUTS_FILE)
    res = CliRunner().invoke(main, ["verify", str(copy)])
    assert res.exit_code == 1
    assert "keras/recording on keras (live)" in res.output and "test[3]" in res.output


def test_onnx_declares_the_ir_version_of_its_opset():
    onnx = pytest.importorskip("onnx")
    for name in ("model.onnx", "model.int8.onnx"):
        model = onnx.load(shipped_bundle_path() / name)
        onnx.checker.check_model(model, full_check=True)
        assert model.ir_version == onnx.helper.find_min_ir_version_for(list(model.opset_import))
        assert model.ir_version <= 8  # onnxruntime-web <= 1.30 reads IR 13 at most
        (opset,) = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
        assert opset == 13  # the lowest rnnkit's graph forms are written for


def test_tflite_uses_builtin_ops_only():
    pytest.importorskip("ai_edge_litert", reason="needs the [tflite] extra")
    from ai_edge_litert.interpreter import Interpreter

    for name in ("model.tflite", "model.int8.tflite"):
        interpreter = Interpreter(model_path=str(shipped_bundle_path() / name))
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        assert ops and not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops


def _node_ready() -> bool:
    return shutil.which("node") is not None and (JS / "node_modules" / "onnxruntime-web").is_dir()


@pytest.mark.parametrize("name", ["model.onnx", "model.int8.onnx"])
def test_onnxruntime_web_under_node_agrees(tmp_path, name):
    """A second ONNX runtime, outside Python: onnxruntime-web's WebAssembly backend. Both
    files compute in fp32, so both must agree with Python's onnxruntime within 1e-5 (and
    the fp32 file with Keras's recording too)."""
    if not _node_ready():
        if os.environ.get("CI"):
            pytest.fail("CI must install tests/js (npm ci) and node; see .ci/run")
        pytest.skip("needs node and `npm ci --prefix tests/js`")
    bundle = Bundle.open(shipped_bundle_path())
    inputs = recorded_inputs(bundle)
    ids = tmp_path / "ids.bin"
    inputs.ids.astype("<i4").tofile(ids)
    proc = subprocess.run(
        ["node", str(JS / "run_onnx.mjs"), str(bundle.file(name)), str(ids),
         str(len(inputs.ids)), str(inputs.ids.shape[1])],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.array(json.loads(proc.stdout), dtype=np.float64)
    assert got.shape == (len(inputs.ids),)
    python_ort = predict_in_batches(OnnxBackend(bundle.file(name)).predict_ids, inputs.ids)
    assert np.abs(got - python_ort[:, 0]).max() <= 1e-5
    if name == "model.onnx":
        assert np.abs(got - inputs.reference[:, 0]).max() <= 1e-5


def test_a_refused_model_writes_nothing_even_for_an_input_without_rows(tmp_path):
    """The model loads while the input is read: its self-check must still gate the output."""
    copy = perturbed_onnx_copy(tmp_path)
    src = tmp_path / "header-only.csv"
    src.write_text("id,review\n")
    out = tmp_path / "scores.csv"
    res = CliRunner().invoke(main, ["score", str(src), "--model", str(copy), "-o", str(out)])
    assert res.exit_code == 1 and "Refusing to score" in res.output, res.output
    assert not out.exists()
