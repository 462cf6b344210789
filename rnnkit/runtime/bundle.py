"""The model bundle: a directory plus ``manifest.json``, the contract between the two sides.

The runtime trusts nothing in a bundle that the manifest does not vouch for: every listed
file must match its sha256 and size, and the tokenizer must match the manifest's
fingerprint and parameters. Loading reads JSON, ONNX and TFLite flatbuffers only; nothing
is unpickled or executed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import BundleError, format_problem
from .tokenizer import Tokenizer

MANIFEST = "manifest.json"
SCHEMA = "rnnkit-manifest"
SCHEMA_VERSION = 1
TOKENIZER_FILE = "rnnkit-tokenizer.json"
HF_TOKENIZER_FILE = "tokenizer.json"
#: Held-out test inputs written at train time: ``ids`` (int32, [n, maxlen]) and ``labels``.
PARITY_SET_FILE = "parity-set.npz"
#: Written at export: Keras's outputs on the parity set + edge sequences (``keras``, with
#: ``edge_ids``/``edge_names``) and each quantized variant's own outputs.
REFERENCE_OUTPUTS_FILE = "reference-outputs.npz"
SHIPPED_NAME = "imdb-rnn"
#: Where ``rnnkit train`` writes and where ``export``/``score`` look when no path is given.
DEFAULT_BUNDLE_DIR = "rnnkit-model"
ENV_MODEL = "RNNKIT_MODEL"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_bundle_path() -> Path:
    """The pretrained default bundle.

    Installed, it is inside the package (``rnnkit/models/imdb-rnn``); in a source checkout
    (including one that shadows an installed rnnkit) it is the top-level ``models/``.
    """
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "models", package.parent / "models"):
        if (candidate / SHIPPED_NAME / MANIFEST).is_file():
            return candidate / SHIPPED_NAME
    return package / "models" / SHIPPED_NAME  # absent: Bundle.open names this path


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file, never unpickling anything."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, KeyError) as exc:
        raise BundleError(f"{path}: unreadable array file ({exc})") from exc


def resolve_bundle_path(path: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Which bundle to use, and why: explicit path, $RNNKIT_MODEL, ./rnnkit-model, shipped."""
    if path is not None:
        return Path(path), "given"
    if os.environ.get(ENV_MODEL):
        return Path(os.environ[ENV_MODEL]), f"${ENV_MODEL}"
    local = Path.cwd() / DEFAULT_BUNDLE_DIR
    if (local / MANIFEST).is_file():
        return local, f"./{DEFAULT_BUNDLE_DIR} (written by rnnkit train)"
    return shipped_bundle_path(), "shipped default"


@dataclass
class Bundle:
    path: Path
    manifest: dict = field(repr=False)
    #: Why this bundle was chosen: "given", "$RNNKIT_MODEL", "./rnnkit-model ...", "shipped".
    reason: str = "given"
    #: name -> sha256 already checked against the manifest: a file is hashed once per load.
    _verified: dict[str, str] = field(default_factory=dict, repr=False)

    # -- reading --------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, verify: bool = True) -> Bundle:
        """Resolve (see :func:`resolve_bundle_path`), read the manifest, check every hash."""
        resolved, reason = resolve_bundle_path(path)
        manifest_path = resolved / MANIFEST
        if not resolved.is_dir():
            raise BundleError(f"{resolved}: no such bundle directory")
        if not manifest_path.is_file():
            raise BundleError(f"{manifest_path}: missing; is {resolved} an rnnkit bundle?")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from exc
        problem = format_problem(manifest, SCHEMA, SCHEMA_VERSION, key="schema")
        if problem:
            raise BundleError(f"{manifest_path}: {problem}")
        bundle = cls(resolved, manifest, reason)
        if verify:
            bundle.verify_files()
        return bundle

    def file(self, name: str) -> Path:
        return self.path / name

    def verify_files(self, names: list[str] | None = None) -> None:
        """Check sha256 and size of the listed files; raise naming the first that differs."""
        files = self.manifest.get("files", {})
        for name in names if names is not None else sorted(files):
            entry = files.get(name)
            if entry is None:
                raise BundleError(f"{self.path / name}: not listed in {MANIFEST}")
            if self._verified.get(name) == entry["sha256"]:
                continue
            target = self.path / name
            if not target.is_file():
                raise BundleError(f"{target}: listed in {MANIFEST} but missing")
            if target.stat().st_size != entry["bytes"]:
                raise BundleError(
                    f"{target}: size {target.stat().st_size} bytes, manifest says "
                    f"{entry['bytes']}; the file was changed after the bundle was written"
                )
            if sha256_file(target) != entry["sha256"]:
                raise BundleError(
                    f"{target}: sha256 does not match {MANIFEST}; the file was changed "
                    "after the bundle was written"
                )
            self._verified[name] = entry["sha256"]

    def tokenizer(self) -> Tokenizer:
        spec = self.manifest["tokenizer"]
        tok_path = self.path / spec["file"]
        try:
            tok = Tokenizer.load(tok_path)
        except (OSError, ValueError, KeyError) as exc:
            raise BundleError(f"{tok_path}: unreadable tokenizer ({exc})") from exc
        if tok.fingerprint() != spec["fingerprint"]:
            raise BundleError(f"{tok_path}: tokenizer fingerprint does not match {MANIFEST}")
        if (tok.vocab_size, tok.maxlen) != (spec["vocab_size"], spec["maxlen"]):
            raise BundleError(
                f"{tok_path}: vocab_size/maxlen {tok.vocab_size}/{tok.maxlen} differ from "
                f"{MANIFEST} ({spec['vocab_size']}/{spec['maxlen']})"
            )
        return tok

    def parity_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The held-out test split as token ids and labels, as written at train time."""
        if PARITY_SET_FILE not in self.manifest.get("files", {}):
            raise BundleError(
                f"{self.path}: no {PARITY_SET_FILE}; this bundle predates it, retrain with "
                "rnnkit train"
            )
        self.verify_files([PARITY_SET_FILE])
        arrays = load_npz(self.file(PARITY_SET_FILE))
        return arrays["ids"], arrays["labels"]

    def reference_outputs(self) -> dict[str, np.ndarray]:
        """The recorded outputs written by ``rnnkit export``."""
        if REFERENCE_OUTPUTS_FILE not in self.manifest.get("files", {}):
            raise BundleError(
                f"{self.path}: no {REFERENCE_OUTPUTS_FILE} (Keras's recorded outputs); "
                f"run: rnnkit export {self.path}"
            )
        self.verify_files([REFERENCE_OUTPUTS_FILE])
        return load_npz(self.file(REFERENCE_OUTPUTS_FILE))

    def format_file(self, fmt: str, variant: str = "fp32") -> Path:
        formats = self.manifest.get("formats", {})
        entry = formats.get(fmt, {}).get(variant)
        if entry is None:
            have = sorted(f"{f}/{v}" for f, vs in formats.items() for v in vs) or ["none"]
            hint = f"rnnkit export {self.path} --format {fmt}"
            if variant != "fp32":
                hint += f" --quantize {variant}"
            raise BundleError(
                f"{self.path}: no {fmt} {variant} model in this bundle (have: {', '.join(have)}); "
                f"run: {hint}"
            )
        return self.path / entry["file"]

    # -- writing (used by train/export; plain file I/O, no TensorFlow) ---------------------

    def record_file(self, name: str) -> None:
        target = self.path / name
        self.manifest.setdefault("files", {})[name] = {
            "sha256": sha256_file(target),
            "bytes": target.stat().st_size,
        }

    def write_manifest(self) -> None:
        """Atomically replace manifest.json (a crash never leaves half a manifest)."""
        self.manifest["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        tmp = self.path / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(self.manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
        os.replace(tmp, self.path / MANIFEST)


def new_manifest(tokenizer: Tokenizer, config: dict, versions: dict) -> dict:
    from .. import __version__

    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "rnnkit_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": {"cell": config["cell"], "config": config},
        "tokenizer": {
            "file": TOKENIZER_FILE,
            "hf_file": HF_TOKENIZER_FILE,
            "fingerprint": tokenizer.fingerprint(),
            "vocab_size": tokenizer.vocab_size,
            "maxlen": tokenizer.maxlen,
            "words": len(tokenizer.words),
            "padding": "pre",
            "truncating": "pre",
        },
        "inputs": [{"name": "token_ids", "shape": ["batch", tokenizer.maxlen], "dtype": "int32"}],
        "outputs": [{"name": "probability", "shape": ["batch", 1], "dtype": "float32"}],
        "files": {},
        "formats": {},
        "parity": {},
        "metrics": {},
        "versions": {"python": sys.version.split()[0], **versions},
    }
