"""Quantized variants hold on every CPU: judged against Keras by stated criteria, not by a
bit-exact replay of the integer kernels of the machine that exported them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnnkit.cli import main
from rnnkit.runtime.model import backends
from rnnkit.runtime.model.bundle import Bundle
from rnnkit.runtime.model.locations import shipped_bundle_path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "reviews.csv"


def _another_cpu(predict):
    """What another instruction set's integer kernels do to a quantized model's outputs:
    small differences everywhere, and the labels of a few rows near 0.5 flipped."""

    def predict_elsewhere(ids):
        out = np.asarray(predict(ids), dtype=np.float32).copy()
        rng = np.random.default_rng(int(ids.sum()) % (2**32))
        out += rng.uniform(-0.004, 0.004, out.shape).astype(np.float32)
        near = np.flatnonzero(np.abs(out - 0.5) < 0.004)[:2]
        out[near] = 1.0 - out[near]
        return np.clip(out, 0, 1)

    return predict_elsewhere


@pytest.fixture
def quantized_kernels_of_another_cpu(monkeypatch):
    """Every quantized file (``model.int8.*``, ``model.float16.*``) computes as on another CPU."""
    for cls in (backends.OnnxBackend, backends.TfliteBackend):
        original_init = cls.__init__

        def init(self, path, *a, _orig=original_init, **kw):
            _orig(self, path, *a, **kw)
            name = Path(path).name if not isinstance(path, bytes) else ""
            if ".int8." in name or ".float16." in name:
                self.predict_ids = _another_cpu(self.predict_ids)

        monkeypatch.setattr(cls, "__init__", init)


def _verify_rows(output: str) -> dict[tuple[str, str, str], str]:
    rows = [line.split() for line in output.splitlines() if line.startswith(("onnx", "tflite"))]
    return {(r[0], r[1], r[2]): r[-1] for r in rows}


def test_verify_passes_when_another_cpu_computes_the_quantized_files_differently(
    quantized_kernels_of_another_cpu,
):
    res = CliRunner().invoke(main, ["verify", "--recorded", str(shipped_bundle_path())])
    assert res.exit_code == 0, res.output
    rows = _verify_rows(res.output)
    assert rows[("onnx", "int8", "onnxruntime")] == "PASS"
    assert all(status == "PASS" for status in rows.values()), rows
    # ... and scoring (which self-checks the fp32 file) is unaffected.
    res = CliRunner().invoke(main, ["score", str(SAMPLES), "-q"])
    assert res.exit_code == 0, res.output


def test_a_wrong_quantized_model_with_a_rewritten_hash_is_still_refused(tmp_path):
    onnx = pytest.importorskip("onnx")
    copy = tmp_path / "wrong-int8"
    shutil.copytree(shipped_bundle_path(), copy)
    # A plausible but wrong model in the int8 file's place: the fp32 graph with its
    # embedding table negated (it loads, runs and gives confident, wrong answers).
    model = onnx.load(copy / "model.onnx")
    table = max(model.graph.initializer, key=lambda i: np.prod(i.dims))
    table.CopyFrom(onnx.numpy_helper.from_array(-onnx.numpy_helper.to_array(table), table.name))
    onnx.save(model, copy / "model.int8.onnx")
    bundle = Bundle.open(copy, verify=False)
    bundle.record_file("model.int8.onnx")
    bundle.write_manifest()
    res = CliRunner().invoke(main, ["verify", "--recorded", str(copy)])
    assert res.exit_code == 1, res.output
    assert _verify_rows(res.output)[("onnx", "int8", "onnxruntime")] == "FAIL"
    assert "parity check failed: onnx/int8" in res.output


def test_onnx_int8_is_weight_only_and_smaller():
    """Integer weights, fp32 arithmetic: no integer kernel whose result depends on the CPU."""
    onnx = pytest.importorskip("onnx")
    path = shipped_bundle_path() / "model.int8.onnx"
    model = onnx.load(path)
    ops = {node.op_type for node in model.graph.node}
    assert not ops & {"MatMulInteger", "DynamicQuantizeLinear", "ConvInteger", "QLinearMatMul"}
    int8 = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert int8, "no int8 weights stored"
    assert path.stat().st_size * 3 <= (shipped_bundle_path() / "model.onnx").stat().st_size


def test_quantized_criteria_are_stored_in_the_manifest():
    formats = Bundle.open(shipped_bundle_path()).manifest["formats"]
    for fmt, variant in (("onnx", "int8"), ("tflite", "int8")):
        criteria = formats[fmt][variant]["criteria"]
        assert set(criteria) == {"max_abs", "min_label_agreement", "max_accuracy_drop"}


def test_a_row_keras_barely_decides_does_not_count_as_a_flip():
    """A probability within 0.001 of the threshold has no stable label; anything farther
    that flips does count."""
    from rnnkit.runtime.model.parity import ParityInputs, QuantizedCriteria, compare

    labels = np.array([1] * 10)
    reference = np.array([0.5004] + [0.9] * 9)
    inputs = ParityInputs(np.zeros((10, 2), np.int32), labels, list("abcdefghij"), reference)
    strict = QuantizedCriteria(max_abs=0.5, min_label_agreement=1.0, max_accuracy_drop=0.0)
    kw = dict(format="onnx", variant="int8", runtime="x", criteria=strict)
    barely = reference.copy()
    barely[0] = 0.4996
    r = compare(inputs, lambda ids: barely[: len(ids)], **kw)
    assert r.passed and r.label_flips == 1 and r.label_agreement == 1.0
    clearly = reference.copy()
    clearly[1] = 0.45
    r = compare(inputs, lambda ids: clearly[: len(ids)], **kw)
    assert not r.passed and r.label_agreement == pytest.approx(0.9)
