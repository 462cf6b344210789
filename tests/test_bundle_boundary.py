"""A bundle is a trust boundary: no name in its manifest makes rnnkit read outside its folder.

Each case is refused in ``score``, ``verify`` and ``rnnkit.load()`` with one line naming the
manifest entry (and, in one test, by the Spark engine)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import rnnkit
from rnnkit.cli import main
from rnnkit.runtime.errors import BundleError
from rnnkit.runtime.model.bundle import Bundle
from rnnkit.runtime.model.locations import shipped_bundle_path
from rnnkit.runtime.model.manifest import sha256_file

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "reviews.csv"


def _edit_manifest(bundle: Path, edit: Callable[[dict], None]) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest, indent=2))


def _entry(path: Path) -> dict:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def absolute_model_path(tmp: Path) -> tuple[Path, str]:
    """model.onnx moved to another folder, its absolute path (and hash) in the manifest."""
    bundle = tmp / "bundle"
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    outside = elsewhere / "model.onnx"
    shutil.move(bundle / "model.onnx", outside)

    def edit(m):
        m["formats"]["onnx"]["fp32"]["file"] = str(outside)
        del m["files"]["model.onnx"]
        m["files"][str(outside)] = _entry(outside)

    _edit_manifest(bundle, edit)
    return bundle, "is an absolute path"


def dotdot_listed_file(tmp: Path) -> tuple[Path, str]:
    """A file outside the bundle, listed with its real hash: a hash oracle for any file."""
    bundle = tmp / "bundle"
    secret = tmp / "secret.txt"
    secret.write_text("not the bundle's business\n")
    _edit_manifest(bundle, lambda m: m["files"].__setitem__("../secret.txt", _entry(secret)))
    return bundle, "'..' parts"


def escaping_symlink(tmp: Path) -> tuple[Path, str]:
    """model.onnx is a symlink to an identical file outside the bundle (the hash matches)."""
    bundle = tmp / "bundle"
    outside = tmp / "outside.onnx"
    shutil.move(bundle / "model.onnx", outside)
    (bundle / "model.onnx").symlink_to(outside)
    return bundle, "resolves outside the bundle"


def external_data_outside(tmp: Path) -> tuple[Path, str]:
    """model.onnx keeps its tensors in ../weights.bin (onnxruntime would follow it)."""
    onnx = pytest.importorskip("onnx")
    bundle = tmp / "bundle"
    model = onnx.load(bundle / "model.onnx")
    onnx.save(model, tmp / "model.onnx", save_as_external_data=True, location="weights.bin",
              size_threshold=0)  # fmt: skip
    shutil.move(tmp / "model.onnx", bundle / "model.onnx")
    model = onnx.load(bundle / "model.onnx", load_external_data=False)
    for tensor in model.graph.initializer:
        for kv in tensor.external_data:
            if kv.key == "location":
                kv.value = "../weights.bin"
    onnx.save(model, bundle / "model.onnx")
    _edit_manifest(
        bundle, lambda m: m["files"].__setitem__("model.onnx", _entry(bundle / "model.onnx"))
    )
    return bundle, "'..' parts"


def external_data_unlisted(tmp: Path) -> tuple[Path, str]:
    """External data inside the bundle, but not listed (so not hashed) in the manifest."""
    onnx = pytest.importorskip("onnx")
    bundle = tmp / "bundle"
    model = onnx.load(bundle / "model.onnx")
    onnx.save(model, bundle / "model.onnx", save_as_external_data=True,
              location="weights.bin", size_threshold=0)  # fmt: skip
    _edit_manifest(
        bundle, lambda m: m["files"].__setitem__("model.onnx", _entry(bundle / "model.onnx"))
    )
    return bundle, "is not listed in manifest.json"


CASES = [
    absolute_model_path,
    dotdot_listed_file,
    escaping_symlink,
    external_data_outside,
    external_data_unlisted,
]


@pytest.fixture
def fresh_copy(tmp_path) -> Path:
    shutil.copytree(shipped_bundle_path(), tmp_path / "bundle")
    return tmp_path


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_a_manifest_cannot_reach_outside_its_bundle(fresh_copy, case):
    bundle, reason = case(fresh_copy)
    for args in (
        ["score", str(SAMPLES), "--model", str(bundle), "-q"],
        ["verify", "--recorded", str(bundle)],
        ["info", str(bundle)],
    ):
        if args[0] == "info" and case.__name__.startswith("external_data"):
            continue  # info reads the manifest only; no model file is opened
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 1, (args, res.output)
        line = _one_error_line(res.output)
        assert reason in line and "manifest.json" in line, line
    with pytest.raises(BundleError, match="Refusing the bundle"):
        rnnkit.load(bundle)


def test_external_data_listed_and_inside_is_accepted(fresh_copy):
    onnx = pytest.importorskip("onnx")
    bundle = fresh_copy / "bundle"
    model = onnx.load(bundle / "model.onnx")
    onnx.save(model, bundle / "model.onnx", save_as_external_data=True,
              location="weights.bin", size_threshold=0)  # fmt: skip

    def edit(m):
        m["files"]["model.onnx"] = _entry(bundle / "model.onnx")
        m["files"]["weights.bin"] = _entry(bundle / "weights.bin")

    _edit_manifest(bundle, edit)
    model = rnnkit.load(bundle)  # the self-check replays Keras's outputs through it
    assert model.predict(["a wonderful, moving film"]).shape == (1,)
    # ... but a changed weights file is caught by its hash.
    data = bytearray((bundle / "weights.bin").read_bytes())
    data[100] ^= 0xFF
    (bundle / "weights.bin").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="weights.bin: sha256 does not match"):
        rnnkit.load(bundle)


def test_external_data_scanner_agrees_with_onnx(tmp_path):
    """The light side's wire-format reader finds exactly what the onnx package writes."""
    onnx = pytest.importorskip("onnx")
    from rnnkit.runtime.model.onnx_refs import MalformedOnnx, external_data_locations

    model = onnx.load(shipped_bundle_path() / "model.onnx")
    assert external_data_locations(model.SerializeToString()) == []
    onnx.save(model, tmp_path / "m.onnx", save_as_external_data=True, location="w.bin",
              size_threshold=1024)  # fmt: skip
    raw = (tmp_path / "m.onnx").read_bytes()
    expected = [
        t.name
        for t in onnx.load(tmp_path / "m.onnx", load_external_data=False).graph.initializer
        if t.data_location == onnx.TensorProto.EXTERNAL
    ]
    assert expected and external_data_locations(raw) == ["w.bin"] * len(expected)
    with pytest.raises(MalformedOnnx):
        external_data_locations(raw[: len(raw) // 2])


def test_info_prints_the_digest_of_the_manifest():
    res = CliRunner().invoke(main, ["info", str(shipped_bundle_path())])
    assert res.exit_code == 0, res.output
    digest = sha256_file(shipped_bundle_path() / "manifest.json")
    assert f"digest       sha256:{digest}" in res.output
    assert Bundle.open(shipped_bundle_path()).digest == digest


@pytest.mark.parametrize("name", ["/etc/hostname", "C:\\x.onnx", "a/../../b", "./x", "a\\b", ""])
def test_names_that_are_not_plain_relative_paths(fresh_copy, name):
    bundle = fresh_copy / "bundle"
    _edit_manifest(bundle, lambda m: m["formats"]["onnx"]["fp32"].__setitem__("file", name))
    with pytest.raises(BundleError, match=r"formats\.onnx\.fp32\.file"):
        Bundle.open(bundle)
