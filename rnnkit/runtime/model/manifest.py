"""The manifest: its schema, the bundle's file names, a new manifest and an old one's
upgrade, and the hashes it records."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import sys
from pathlib import Path

from ..text.tokenizer import Tokenizer
from .signature import InputSpec, OutputSpec, Signature, rnnkit_tokenizer_spec

MANIFEST = "manifest.json"
SCHEMA = "rnnkit-manifest"
#: Version 2 carries the model signature; version 1 bundles still load (as binary models
#: with rnnkit's tokenizer contract), and ``rnnkit export`` rewrites them as version 2.
SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)
TOKENIZER_FILE = "rnnkit-tokenizer.json"
HF_TOKENIZER_FILE = "tokenizer.json"
#: Every other tokenizer spec's document (a Keras spec's: its kind is in the signature).
SPEC_FILE = "tokenizer-spec.json"
#: Held-out test inputs written at train time: ``ids`` (int32, [n, maxlen]) and ``labels``.
PARITY_SET_FILE = "parity-set.npz"
#: Written at export: Keras's outputs on the parity set + edge sequences (``keras``, with
#: ``edge_ids``/``edge_names``) and each quantized variant's own outputs.
REFERENCE_OUTPUTS_FILE = "reference-outputs.npz"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_digest(folder: str | os.PathLike) -> str | None:
    """The sha256 of a bundle's manifest as it is on disk (``None``: there is none). The
    manifest lists every file's hash: an unchanged digest means unchanged files."""
    try:
        return hashlib.sha256((Path(folder) / MANIFEST).read_bytes()).hexdigest()
    except OSError:
        return None


def upgrade_manifest(manifest: dict) -> dict:
    """A v1 manifest rewritten as v2 (its signature made explicit); v2 is returned as is."""
    if manifest.get("schema_version") != 1:
        return manifest
    signature = Signature.from_manifest(manifest)
    upgraded = {k: v for k, v in manifest.items() if k not in ("tokenizer", "inputs", "outputs")}
    upgraded["schema_version"] = SCHEMA_VERSION
    upgraded["signature"] = signature.to_dict()
    return upgraded


def new_manifest(signature: Signature, model: dict, versions: dict) -> dict:
    """A fresh v2 manifest: the signature, the model entry (a trained model's config, or
    where an imported one came from) and the library versions; files are added later."""
    from ..._version import __version__

    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "rnnkit_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": model,
        "signature": signature.to_dict(),
        "files": {},
        "formats": {},
        "parity": {},
        "metrics": {},
        "versions": {"python": sys.version.split()[0], **versions},
    }


def rnnkit_signature(tokenizer: Tokenizer, output: OutputSpec | None = None) -> Signature:
    """The signature of a model fed by rnnkit's own tokenizer contract (and its HF twin)."""
    spec = rnnkit_tokenizer_spec(tokenizer, TOKENIZER_FILE, HF_TOKENIZER_FILE)
    return Signature(InputSpec(tokenizer.maxlen, spec), output or OutputSpec())
