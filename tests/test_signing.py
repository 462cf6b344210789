"""Signed bundles, in the OpenSSF model-signing format: sign, check, and refuse every
tampered bundle with one line that names the file; the upstream verifier agrees."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import rnnkit
from rnnkit.cli import main
from rnnkit.runtime.model.bundle import Bundle
from rnnkit.runtime.model.locations import shipped_bundle_path
from rnnkit.runtime.model.signing import SignatureError, check_signature

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "reviews.csv"
UPSTREAM = [sys.executable, "-m", "model_signing"]


def _upstream(action: str, bundle: Path, key_option: str, key: Path):
    """The upstream ``model_signing`` CLI, keyed, on the bundle's ``model.sig``."""
    return subprocess.run(
        [*UPSTREAM, action, "key", bundle, "--signature", bundle / "model.sig", key_option, key],
        capture_output=True, text=True,
    )  # fmt: skip


def _key_pair(folder: Path, name: str, password: bytes | None = None) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    private = folder / f"{name}.pem"
    public = folder / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    return {"ours": _key_pair(folder, "ours"), "theirs": _key_pair(folder, "theirs")}


@pytest.fixture
def bundle(tmp_path):
    copy = tmp_path / "imdb-rnn"
    shutil.copytree(shipped_bundle_path(), copy)
    return copy


def _cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def _refused(result, *words: str) -> str:
    """The command failed with exit 1 and a single line holding every one of ``words``."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_sign_verify_and_score_a_signed_bundle(bundle, keys):
    private, public = keys["ours"]
    signed = _cli("sign", bundle, "--private-key", private)
    assert signed.exit_code == 0, signed.output
    assert (bundle / "model.sig").is_file()
    checked = _cli("verify", bundle, "--public-key", public, "--recorded")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.startswith(f"signature: {bundle / 'model.sig'} matches")
    scored = _cli("score", SAMPLES, "--model", bundle, "--public-key", public, "-q")
    assert scored.exit_code == 0, scored.output
    unsigned = _cli("score", SAMPLES, "--model", bundle, "-q")
    assert scored.stdout == unsigned.stdout  # the check changes no score
    model = rnnkit.load(bundle, public_key=public)
    assert np.isfinite(model.predict(["a wonderful film"])).all()


def _change_weight(bundle: Path) -> str:
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[-100] ^= 0x01  # one bit of one weight
    (bundle / "model.onnx").write_bytes(bytes(data))
    return "model.onnx changed"


def _add_file(bundle: Path) -> str:
    (bundle / "extra.onnx").write_bytes(b"not part of the bundle")
    return "extra.onnx added"


def _remove_file(bundle: Path) -> str:
    (bundle / "training.png").unlink()
    return "training.png removed"


def _change_manifest(bundle: Path) -> str:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["parity"]["atol"] = 1.0  # a looser gate, and every hash still matches
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return "manifest.json changed"


@pytest.mark.parametrize("tamper", [_change_weight, _add_file, _remove_file, _change_manifest])
def test_a_bundle_changed_after_signing_is_refused_naming_the_file(bundle, keys, tamper):
    private, public = keys["ours"]
    Bundle.open(bundle).sign(private)
    named = tamper(bundle)
    for command in (
        ("verify", bundle, "--public-key", public, "--recorded"),
        ("score", SAMPLES, "--model", bundle, "--public-key", public),
    ):
        line = _refused(_cli(*command), str(bundle), "changed since it was signed", named)
        assert "Traceback" not in line
    with pytest.raises(SignatureError, match=named):
        rnnkit.load(bundle, public_key=public)
    upstream = _upstream("verify", bundle, "--public_key", public)
    assert upstream.returncode != 0  # the independent verifier agrees


def test_the_signature_is_checked_before_anything_is_read(bundle, keys):
    private, public = keys["ours"]
    Bundle.open(bundle).sign(private)
    (bundle / "manifest.json").write_text("{ not json")
    # Without a key, the manifest is what fails; with one, the signature fails first.
    _refused(_cli("score", SAMPLES, "--model", bundle), "not valid JSON")
    _refused(
        _cli("score", SAMPLES, "--model", bundle, "--public-key", public),
        "manifest.json changed",
    )


def test_another_key_an_unsigned_bundle_and_a_broken_signature_are_refused(bundle, keys):
    private, _ = keys["ours"]
    _, other_public = keys["theirs"]
    _refused(
        _cli("score", SAMPLES, "--model", bundle, "--public-key", other_public),
        "not signed",
        "model.sig",
    )
    Bundle.open(bundle).sign(private)
    _refused(_cli("verify", bundle, "--public-key", other_public), "not made with this key")
    (bundle / "model.sig").write_text("{}")
    _refused(_cli("verify", bundle, "--public-key", keys["ours"][1]), "is not valid")


def test_upstream_model_signing_accepts_rnnkit_signatures_and_rnnkit_accepts_its(bundle, keys):
    private, public = keys["ours"]
    Bundle.open(bundle).sign(private)
    upstream = _upstream("verify", bundle, "--public_key", public)
    assert upstream.returncode == 0, upstream.stdout + upstream.stderr
    (bundle / "model.sig").unlink()
    made = _upstream("sign", bundle, "--private_key", private)
    assert made.returncode == 0, made.stdout + made.stderr
    assert check_signature(bundle, public) == bundle / "model.sig"


def test_a_signature_kept_outside_the_bundle_and_an_encrypted_key(bundle, keys, tmp_path):
    private, public = _key_pair(tmp_path, "locked", password=b"s3cret")
    elsewhere = tmp_path / "signatures" / "imdb-rnn.sig"
    elsewhere.parent.mkdir()
    refused = CliRunner().invoke(
        main, ["sign", str(bundle), "--private-key", str(private), "--signature", str(elsewhere)]
    )
    _refused(refused, str(private), "cannot sign with this key")
    assert not elsewhere.exists()
    done = CliRunner(env={"RNNKIT_KEY_PASSWORD": "s3cret"}).invoke(
        main, ["sign", str(bundle), "--private-key", str(private), "--signature", str(elsewhere)]
    )
    assert done.exit_code == 0, done.output
    assert elsewhere.is_file() and not (bundle / "model.sig").exists()
    assert not list(elsewhere.parent.glob(".*partial"))  # written whole, renamed into place
    ok = _cli("verify", bundle, "--public-key", public, "--signature", elsewhere, "--recorded")
    assert ok.exit_code == 0, ok.output
    _refused(_cli("verify", bundle, "--public-key", public), "not signed")


def test_only_an_intact_bundle_is_signed(bundle, keys):
    opened = Bundle.open(bundle)
    _change_weight(bundle)  # after it was opened: sign checks the hashes again
    with pytest.raises(Exception, match="model.onnx"):
        opened.sign(keys["ours"][0])
    _refused(_cli("sign", bundle, "--private-key", keys["ours"][0]), "model.onnx")
    assert not (bundle / "model.sig").exists()


def test_signing_again_replaces_the_signature_whole(bundle, keys):
    Bundle.open(bundle).sign(keys["ours"][0])
    Bundle.open(bundle).sign(keys["theirs"][0])
    check_signature(bundle, keys["theirs"][1])
    with pytest.raises(SignatureError, match="not made with this key"):
        check_signature(bundle, keys["ours"][1])


def test_export_says_that_a_signature_made_before_it_is_stale(simple_bundle, keys, tmp_path):
    from rnnkit.cli import main as cli

    bundle = tmp_path / "tiny"
    shutil.copytree(simple_bundle, bundle)
    Bundle.open(bundle).sign(keys["ours"][0])
    # A looser tolerance is recorded in the manifest: the bundle changes for sure.
    res = CliRunner().invoke(cli, ["export", str(bundle), "--format", "onnx", "--atol", "1e-4"])
    assert res.exit_code == 0, res.output
    assert f"{bundle / 'model.sig'} was made before this export" in res.stderr
    with pytest.raises(SignatureError, match="changed since it was signed"):
        check_signature(bundle, keys["ours"][1])
