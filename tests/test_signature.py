"""The model signature (manifest v2): read back and used everywhere a model's input or
output matters; binary is the one-output case; v1 bundles still load."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner

import rnnkit
from rnnkit.cli import main
from rnnkit.runtime.errors import BundleError
from rnnkit.runtime.model.bundle import Bundle
from rnnkit.runtime.model.locations import shipped_bundle_path
from rnnkit.runtime.model.manifest import new_manifest, rnnkit_signature, upgrade_manifest
from rnnkit.runtime.model.parity import ParityInputs, compare
from rnnkit.runtime.model.signature import MULTICLASS, OutputSpec, Signature
from rnnkit.runtime.model.statuses import MISSING_CODE, OK_CODE, RowStats
from rnnkit.runtime.scoring.results import result_batch, result_schema
from rnnkit.runtime.scoring.summary import ScoreSummary, Tally

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "reviews.csv"
KEPT_V1 = ROOT / "tests" / "data" / "v1-bundle"
STARS = OutputSpec(MULTICLASS, ("one", "two", "three"))


def test_the_shipped_bundle_is_v2_and_a_kept_v1_copy_still_loads(tmp_path):
    shipped = Bundle.open(shipped_bundle_path())
    assert shipped.manifest["schema_version"] == 2 and "tokenizer" not in shipped.manifest
    copy = tmp_path / "v1"
    shutil.copytree(shipped_bundle_path(), copy)
    shutil.copy(KEPT_V1 / "manifest.json", copy / "manifest.json")
    old = Bundle.open(copy)
    assert old.manifest["schema_version"] == 1
    assert old.signature == shipped.signature  # v1 means: binary, rnnkit's contract
    texts = ["A wonderful, moving film", "Dull and badly acted", ""]
    np.testing.assert_array_equal(
        rnnkit.load(copy).predict(texts), rnnkit.load(shipped_bundle_path()).predict(texts)
    )
    for args in (["verify", "--recorded", str(copy)], ["info", str(copy)]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
    res_v1 = CliRunner().invoke(main, ["score", str(SAMPLES), "--model", str(copy), "-q"])
    res_v2 = CliRunner().invoke(main, ["score", str(SAMPLES), "-q"])
    assert res_v1.exit_code == 0 and res_v1.stdout == res_v2.stdout


def test_upgrading_a_v1_manifest_makes_its_meaning_explicit():
    v1 = json.loads((KEPT_V1 / "manifest.json").read_text())
    v2 = upgrade_manifest(v1)
    assert v2["schema_version"] == 2 and not {"tokenizer", "inputs", "outputs"} & set(v2)
    assert Signature.from_manifest(v2) == Signature.from_manifest(v1)
    assert v2["signature"]["output"]["decision"] == {
        "rule": "threshold", "threshold": 0.5, "at_or_above": "positive"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ({"kind": "ordinal", "classes": ["a", "b"]}, "output kind 'ordinal'"),
        ({"kind": "binary", "classes": ["a", "b", "c"]}, "binary output with classes"),
        ({"kind": "multiclass", "classes": ["a", "a"]}, "duplicate class names"),
    ],
)
def test_an_unusable_signature_is_refused_by_name(tmp_path, output, message):
    copy = tmp_path / "b"
    shutil.copytree(shipped_bundle_path(), copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["signature"]["output"] = output
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=f"no usable model signature.*{message}"):
        Bundle.open(copy)


def test_binary_results_are_the_one_output_case():
    probs = np.array([[0.9], [np.nan], [0.2]], np.float32)
    status = np.array([OK_CODE, MISSING_CODE, OK_CODE], np.int8)
    batch = result_batch(pa.array([0, 1, 2]), probs, status, threshold=0.5)
    assert batch.schema.names == ["id", "probability", "label", "status"]
    assert batch.column("label").to_pylist() == ["positive", None, "negative"]
    renamed = OutputSpec(classes=("bad", "good"), threshold=0.95)
    batch = result_batch(pa.array([0, 1, 2]), probs, status, output=renamed)
    assert batch.column("label").to_pylist() == ["bad", None, "bad"]


def test_multiclass_results_summary_and_parity_follow_the_signature():
    probs = np.array([[0.1, 0.7, 0.2], [np.nan] * 3, [0.5, 0.2, 0.3]], np.float32)
    status = np.array([OK_CODE, MISSING_CODE, OK_CODE], np.int8)
    batch = result_batch(pa.array([0, 1, 2]), probs, status, output=STARS)
    assert batch.schema == result_schema(pa.int64(), output=STARS)
    assert batch.schema.names == ["id", "probability", "label", "status", "p_one", "p_two",
                                  "p_three"]  # fmt: skip
    assert batch.column("label").to_pylist() == ["two", None, "one"]
    assert batch.column("probability").to_pylist() == pytest.approx([0.7, None, 0.5])
    assert batch.column("p_three").to_pylist() == pytest.approx([0.2, None, 0.3])

    tally = Tally(10, STARS)
    stats = RowStats(np.array([3, 0, 4]), np.zeros(3, int), np.array([3, 0, 4]))
    tally.add(probs, status, stats, None)
    summary = ScoreSummary.from_tally(tally, None, seconds=1, output="-", bundle="b")
    assert summary.labels == {"one": 1, "two": 1, "three": 0}

    ids = np.zeros((3, 4), np.int32)
    reference = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    inputs = ParityInputs(ids, np.array([1, 0, 1]), ["a", "b", "c"], reference, output=STARS)
    assert inputs.keras_accuracy() == pytest.approx(2 / 3)
    swapped = reference[:, [1, 0, 2]]  # every row's first two classes exchanged
    r = compare(inputs, lambda x: swapped[: len(x)], format="onnx", variant="fp32",
                runtime="x", atol=1e-5)  # fmt: skip
    assert not r.passed and r.label_flips == 2 and r.max_abs == pytest.approx(0.6)


def _three_class_bundle(path: Path) -> Path:
    """A hand-built 3-class bundle: mean embedding -> softmax, as ONNX, with its outputs
    recorded. It exercises the runtime's multi-class path end to end (the exporter and
    its parity with Keras are tested with Keras models elsewhere)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from rnnkit.runtime.model.backends import OnnxBackend, predict_in_batches
    from rnnkit.runtime.model.parity import edge_sequences
    from rnnkit.runtime.model.recording import write_recording
    from rnnkit.runtime.text.tokenizer import Tokenizer

    texts = ["great fun film", "awful boring plot", "fine average film", "superb great acting"]
    tok = Tokenizer.fit(texts * 3, vocab_size=12, maxlen=6)
    path.mkdir()
    tok.save(path / "rnnkit-tokenizer.json")
    table = np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "token_ids"], ["rows"], axis=0),
         helper.make_node("ReduceMean", ["rows"], ["mean"], axes=[1], keepdims=0),
         helper.make_node("Softmax", ["mean"], ["probability"], axis=-1)],
        "stars", [helper.make_tensor_value_info("token_ids", TensorProto.INT32, ["batch", 6])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(table, "table")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.save(model, path / "model.onnx")
    manifest = new_manifest(rnnkit_signature(tok, STARS), {"origin": "handmade"}, {})
    manifest["signature"]["input"]["tokenizer"].pop("hf_file")
    bundle = Bundle(path, manifest)
    ids = tok.encode(texts)
    np.savez_compressed(path / "parity-set.npz", ids=ids, labels=np.array([2, 0, 1, 2]))
    for name in ("rnnkit-tokenizer.json", "parity-set.npz", "model.onnx"):
        bundle.record_file(name)
    edges = edge_sequences(12, 6)
    all_ids = np.concatenate([ids, np.stack(list(edges.values()))]).astype(np.int32)
    outputs = predict_in_batches(OnnxBackend(path / "model.onnx").predict_ids, all_ids)
    write_recording(bundle, ParityInputs(all_ids, np.array([2, 0, 1, 2]),
                                         [f"test[{i}]" for i in range(4)] + list(edges),
                                         outputs, output=STARS))  # fmt: skip
    bundle.manifest["formats"] = {"onnx": {"fp32": {"file": "model.onnx"}}}
    bundle.write_manifest()
    return path


def test_a_three_class_bundle_scores_with_class_columns(tmp_path):
    bundle = _three_class_bundle(tmp_path / "stars")
    model = rnnkit.load(bundle)
    probs, names = model.predict(["great fun film", "", "awful boring"], labels=True)
    assert probs.shape == (3, 3) and np.isnan(probs[1]).all()
    assert np.allclose(probs[[0, 2]].sum(axis=1), 1, atol=1e-6)
    assert names[1] is None and {names[0], names[2]} <= set(STARS.classes)
    res = CliRunner().invoke(main, ["score", str(SAMPLES), "--model", str(bundle), "-q",
                                    "--summary", str(tmp_path / "run.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = pd.read_csv(io.StringIO(res.stdout))
    assert list(out.columns) == [
        "id",
        "probability",
        "label",
        "status",
        "p_one",
        "p_two",
        "p_three",
        "review_id",
    ]  # fmt: skip (the input's key, kept)
    ok = out[out.status == "ok"]
    p = ok[["p_one", "p_two", "p_three"]].to_numpy()
    assert np.allclose(ok["probability"], p.max(axis=1), atol=1e-6)
    assert (ok["label"] == np.array(STARS.classes)[p.argmax(axis=1)]).all()
    summary = json.loads((tmp_path / "run.json").read_text())
    assert set(summary["labels"]) == set(STARS.classes)
    assert sum(summary["labels"].values()) == len(ok)
    res = CliRunner().invoke(main, ["verify", "--recorded", str(bundle)])
    assert res.exit_code == 0 and "PASS" in res.output, res.output
