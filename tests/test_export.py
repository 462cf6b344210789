"""Parity Keras <-> ONNX (onnxruntime + reference evaluator) <-> TFLite, and the gate."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from rnnkit.cli import main

pytestmark = pytest.mark.train


@pytest.mark.parametrize("fixture", ["simple_bundle", "lstm_bundle", "gru_bundle"])
def test_all_runtimes_agree_with_keras(fixture, request):
    from rnnkit.exporter.export import check_live

    path = request.getfixturevalue(fixture)
    results = check_live(path)
    # The first check: the outputs recorded at export still match the live .keras model.
    assert (results[0].format, results[0].variant) == ("keras", "recording")
    runtimes = {(r.format, r.runtime) for r in results[1:]}
    assert runtimes == {
        ("onnx", "onnxruntime"),
        ("onnx", "onnx-reference"),
        ("tflite", "ai-edge-litert"),
    }
    for r in results:
        assert r.passed and r.max_abs <= 1e-5, r.describe()
        assert r.rows == 80 + 7  # the whole test split plus the edge sequences
    manifest = json.loads((path / "manifest.json").read_text())
    onnx_entry = manifest["formats"]["onnx"]["fp32"]
    assert onnx_entry["graph_form"] in {c["form"] for c in onnx_entry["candidates"]}
    assert manifest["parity"]["onnx"]["fp32"]["onnx-reference"]["passed"]


def test_onnx_file_contract(simple_bundle):
    model = onnx.load(simple_bundle / "model.onnx")
    onnx.checker.check_model(model, full_check=True)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "token_ids" and inp.type.tensor_type.elem_type == onnx.TensorProto.INT32
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 20]
    assert out.name == "probability"
    props = {p.key: p.value for p in model.metadata_props}
    manifest = json.loads((simple_bundle / "manifest.json").read_text())
    tokenizer = manifest["signature"]["input"]["tokenizer"]
    assert props["tokenizer_sha256"] == tokenizer["fingerprint"]
    assert props["rnnkit_version"]


def test_perturbed_onnx_weight_is_rejected(simple_bundle, tmp_path):
    from rnnkit.exporter.export import check_live
    from rnnkit.runtime.model.bundle import Bundle

    copy = tmp_path / "b"
    shutil.copytree(simple_bundle, copy)
    model = onnx.load(copy / "model.onnx")
    init = (
        next(i for i in model.graph.initializer if i.name == "recurrent_kernel")
        if any(i.name == "recurrent_kernel" for i in model.graph.initializer)
        else max(model.graph.initializer, key=lambda i: np.prod(i.dims))
    )
    arr = onnx.numpy_helper.to_array(init).copy()
    arr.flat[0] += 0.5
    init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
    onnx.save(model, copy / "model.onnx")
    # Re-record the hash so only the parity gate can catch the change.
    bundle = Bundle.open(copy, verify=False)
    bundle.record_file("model.onnx")
    bundle.write_manifest()
    results = check_live(copy)
    bad = [r for r in results if r.format == "onnx"]
    assert bad and not any(r.passed for r in bad)
    res = CliRunner().invoke(main, ["verify", str(copy)])
    assert res.exit_code == 1 and "FAIL" in res.output and "parity check failed" in res.output


def test_tampered_file_is_reported_by_name(simple_bundle, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(simple_bundle, copy)
    with open(copy / "model.tflite", "ab") as fh:
        fh.write(b"\0")
    res = CliRunner().invoke(main, ["verify", str(copy)])
    assert res.exit_code == 1 and "model.tflite" in res.output and "size" in res.output


def test_export_gate_fails_loudly_and_leaves_manifest_alone(simple_bundle, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(simple_bundle, copy)
    before = (copy / "manifest.json").read_text()
    res = CliRunner().invoke(main, ["export", str(copy), "--format", "tflite", "--atol", "1e-12"])
    assert res.exit_code == 1
    assert "export rejected" in res.output
    assert "worst rows: test[" in res.output  # the rows to look at are named
    assert (copy / "manifest.json").read_text() == before
    assert not list(copy.glob(".*.tmp"))


def test_quantized_variants_are_gated_by_their_stored_criteria(tmp_path):
    """On the shipped model (5,000 test reviews), where the criteria are meaningful."""
    from rnnkit.exporter.export import export_bundle
    from rnnkit.runtime.model.locations import shipped_bundle_path
    from rnnkit.runtime.model.parity import QUANTIZED_CRITERIA

    copy = tmp_path / "b"
    shutil.copytree(shipped_bundle_path(), copy)
    bundle, results = export_bundle(
        copy, ("onnx", "tflite"), quantize=("int8", "float16"), echo=lambda s: None
    )
    variants = {(r.format, r.variant, r.runtime): r for r in results}
    assert {("onnx", "int8", "onnxruntime"), ("onnx", "int8", "onnx-reference"),
            ("tflite", "int8", "ai-edge-litert"),
            ("tflite", "float16", "ai-edge-litert")} <= set(variants)  # fmt: skip
    for (fmt, variant, _), r in variants.items():
        if variant == "fp32":
            continue
        entry = bundle.manifest["formats"][fmt][variant]
        assert entry["criteria"] == QUANTIZED_CRITERIA[fmt, variant].to_dict()
        assert (copy / entry["file"]).stat().st_size < (copy / f"model.{fmt}").stat().st_size
        c = entry["criteria"]
        assert r.passed and r.criteria == c and r.atol is None
        assert r.max_abs <= c["max_abs"] and r.label_agreement >= c["min_label_agreement"]
        assert r.accuracy >= r.keras_accuracy - c["max_accuracy_drop"]
    # The recording holds only what Keras said, never a runtime's outputs.
    with np.load(copy / "reference-outputs.npz") as recording:
        assert set(recording.files) == {"keras", "edge_ids", "edge_names"}


def test_quantized_gate_rejects_a_model_past_any_criterion():
    from rnnkit.runtime.model.parity import ParityInputs, QuantizedCriteria, compare

    labels = np.array([1, 0] * 50)
    ref = np.where(labels == 1, 0.9, 0.1).astype(np.float64)
    inputs = ParityInputs(np.zeros((100, 3), np.int32), labels, [str(i) for i in range(100)], ref)

    def worse(ids):  # flips the first two of every batch of rows
        out = np.array(ref[: len(ids)], dtype=np.float32)
        out[:2] = 1 - out[:2]
        return out

    loose = QuantizedCriteria(max_abs=1.0, min_label_agreement=0.9, max_accuracy_drop=0.1)
    kw = dict(format="onnx", variant="int8", runtime="x")
    assert compare(inputs, worse, criteria=loose, **kw).passed
    for tight in (
        QuantizedCriteria(max_abs=0.5, min_label_agreement=0.9, max_accuracy_drop=0.1),
        QuantizedCriteria(max_abs=1.0, min_label_agreement=0.99, max_accuracy_drop=0.1),
        QuantizedCriteria(max_abs=1.0, min_label_agreement=0.9, max_accuracy_drop=0.01),
    ):
        r = compare(inputs, worse, criteria=tight, **kw)
        assert not r.passed and r.label_flips == 2 and r.accuracy < r.keras_accuracy
        assert "gate: max |Δ| <=" in r.describe()


def test_info_prints_the_model_card(simple_bundle):
    res = CliRunner().invoke(main, ["info", str(simple_bundle)])
    assert res.exit_code == 0
    assert "-> SimpleRNN(8, relu) -> Dense(4, relu)" in res.output and "model.onnx" in res.output


def test_export_twice_gives_byte_identical_model_files(simple_bundle, tmp_path):
    from rnnkit.exporter.export import export_bundle

    copy = tmp_path / "b"
    shutil.copytree(simple_bundle, copy)
    names = ("model.onnx", "model.tflite", "model.int8.onnx", "model.int8.tflite")
    digests = []
    for _ in range(2):
        export_bundle(copy, ("onnx", "tflite"), quantize=("int8",), echo=lambda s: None)
        digests.append({n: (copy / n).read_bytes() for n in names})
    assert digests[0] == digests[1]
