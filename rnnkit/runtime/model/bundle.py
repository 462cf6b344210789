"""The model bundle: a directory plus ``manifest.json``, the contract between the two sides.
This module holds the trust checks; where a bundle is found is ``locations``, the
manifest's format ``manifest``, the tokenizer's reading ``bundle_tokenizer``.

The runtime trusts nothing in a bundle that the manifest does not vouch for: every listed
file must match its sha256 and size, and the tokenizer must match the manifest's
fingerprint and parameters. Loading reads JSON, ONNX and TFLite flatbuffers only; nothing
is unpickled or executed.

A bundle is a trust boundary: nothing outside its folder is ever read. Every name the
manifest gives is checked by :meth:`Bundle.member` (plain relative names only; symlinks
resolved), all of them when the bundle is opened, before any file is hashed; and an ONNX
file's external-data references must be files the manifest lists.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from ..errors import BundleError, NotExportedError, format_problem
from ..files import json_text, replacing
from ..text.tokenizer import Tokenizer
from .bundle_tokenizer import read_tokenizer
from .locations import resolve_bundle_path, shipped_hint
from .manifest import (
    MANIFEST,
    PARITY_SET_FILE,
    READABLE_SCHEMA_VERSIONS,
    REFERENCE_OUTPUTS_FILE,
    SCHEMA,
    SCHEMA_VERSION,
    sha256_file,
)
from .onnx_refs import MalformedOnnx, external_data_locations
from .signature import Signature


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a plain relative file name inside a folder (``None``: it is)."""
    if not isinstance(name, str) or not name:
        return "not a file name"
    if "\x00" in name or "\\" in name:
        return "holds a NUL or a backslash"
    windows = PureWindowsPath(name)
    if PurePosixPath(name).is_absolute() or windows.drive or windows.root:
        return "is an absolute path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "is not a plain relative path (empty, '.' or '..' parts)"
    return None


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file, never unpickling anything."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, KeyError) as exc:
        raise BundleError(f"{path}: unreadable array file ({exc})") from exc


@dataclass
class Bundle:
    path: Path
    manifest: dict = field(repr=False)
    #: Why this bundle was chosen: "given", "$RNNKIT_MODEL", "./rnnkit-model ...", "shipped".
    reason: str = "given"
    #: name -> sha256 already checked against the manifest: a file is hashed once per load.
    _verified: dict[str, str] = field(default_factory=dict, repr=False)
    _external_checked: set[str] = field(default_factory=set, repr=False)
    #: sha256 of manifest.json as read: the bundle's digest (it lists every file's hash).
    digest: str = ""
    _tokenizer: object = field(default=None, repr=False)

    # -- reading --------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike | None = None,
        *,
        verify: bool = True,
        public_key: str | os.PathLike | None = None,
        signature: str | os.PathLike | None = None,
    ) -> Bundle:
        """Resolve (see :func:`resolve_bundle_path`), read the manifest, check every hash.

        With ``public_key``, the bundle's signature (``signature``, default
        ``BUNDLE/model.sig``) is checked first, before any of its files is read."""
        resolved, reason = resolve_bundle_path(path)
        manifest_path = resolved / MANIFEST
        if not resolved.is_dir():
            raise BundleError(f"{resolved}: no such bundle directory{shipped_hint(path)}")
        if public_key is not None:
            from .signing import check_signature  # the sign extra, only when asked for

            check_signature(resolved, public_key, signature=signature)
        if not manifest_path.is_file():
            raise BundleError(f"{manifest_path}: missing; is {resolved} an rnnkit bundle?")
        bundle = cls(resolved, {}, reason)
        bundle.member(MANIFEST, "the manifest")  # a symlinked manifest may not leave either
        try:
            raw = manifest_path.read_bytes()
            manifest = json.loads(raw.decode("utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from exc
        if not isinstance(manifest, dict):
            raise BundleError(f"{manifest_path}: not an {SCHEMA} file (not a JSON object)")
        version = manifest.get("schema_version")
        problem = format_problem(
            manifest, SCHEMA, version if version in READABLE_SCHEMA_VERSIONS else SCHEMA_VERSION,
            key="schema",
        )  # fmt: skip
        if problem:
            raise BundleError(f"{manifest_path}: {problem}")
        bundle.manifest, bundle.digest = manifest, hashlib.sha256(raw).hexdigest()
        bundle.check_names()  # reads the signature first: an unusable one is refused here
        if verify:
            bundle.check_hashes()
        return bundle

    @functools.cached_property
    def signature(self) -> Signature:
        """What goes in and comes out (v1 manifests: binary, rnnkit's tokenizer contract)."""
        return Signature.from_manifest(self.manifest, str(self.path / MANIFEST))

    def member(self, name: object, entry: str) -> Path:
        """The path of the file that manifest entry ``entry`` names, refusing any name
        that is not a plain relative path or that resolves (through symlinks) outside."""
        problem = name_problem(name)
        if problem is None:
            target = self.path / name
            try:
                inside = target.resolve().is_relative_to(self.path.resolve())
            except (OSError, RuntimeError) as exc:  # a symlink loop, an unreadable folder
                raise BundleError(f"{self.path / MANIFEST}: {entry}: {exc}") from exc
            if inside:
                return target
            problem = "resolves outside the bundle (a symlink leaves its folder)"
        raise BundleError(
            f"{self.path / MANIFEST}: {entry} = {name!r} {problem}; a bundle may only name "
            "files inside its own folder. Refusing the bundle."
        )

    def check_names(self) -> None:
        """Every file name in the manifest, checked before any file is opened."""
        m = self.manifest

        def table(value, where: str) -> dict:
            if not isinstance(value, dict):
                raise BundleError(f"{self.path / MANIFEST}: {where} is not a JSON object")
            return value

        for name, entry in table(m.get("files", {}), "files").items():
            self.member(name, f"files[{name!r}]")
            entry = table(entry, f"files[{name!r}]")
            if not isinstance(entry.get("sha256"), str) or not isinstance(entry.get("bytes"), int):
                raise BundleError(f"{self.path / MANIFEST}: files[{name!r}] needs sha256 and bytes")
        tokenizer = self.signature.input.tokenizer
        for key in ("file", "hf_file"):
            if key in tokenizer:
                self.member(tokenizer[key], f"{self.tokenizer_entry}.{key}")
        for fmt, variants in table(m.get("formats", {}), "formats").items():
            for variant, entry in table(variants, f"formats.{fmt}").items():
                entry = table(entry, f"formats.{fmt}.{variant}")
                self.member(entry.get("file"), f"formats.{fmt}.{variant}.file")

    def file(self, name: str) -> Path:
        return self.member(name, f"files[{name!r}]")

    def check_hashes(self, names: list[str] | None = None) -> None:
        """Check sha256 and size of the listed files; raise naming the first that differs."""
        files = self.manifest.get("files", {})
        for name in names if names is not None else sorted(files):
            entry = files.get(name)
            if entry is None:
                raise BundleError(f"{self.path / name}: not listed in {MANIFEST}")
            if self._verified.get(name) == entry["sha256"]:
                continue
            target = self.file(name)
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

    @property
    def tokenizer_entry(self) -> str:
        """Where the manifest keeps the tokenizer spec (for messages)."""
        return (
            "tokenizer" if self.manifest.get("schema_version") == 1 else "signature.input.tokenizer"
        )

    def tokenizer(self) -> Tokenizer:
        """The tokenizer the signature names, checked against its fingerprint; read once
        per opened bundle (export asks for it at every step)."""
        if self._tokenizer is None:
            spec = self.signature.input.tokenizer
            tok_path = self.member(spec.get("file"), f"{self.tokenizer_entry}.file")
            self._tokenizer = read_tokenizer(tok_path, self.signature.input.kind, spec)
        return self._tokenizer

    def parity_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The held-out test split as token ids and labels, as written at train time."""
        if PARITY_SET_FILE not in self.manifest.get("files", {}):
            raise BundleError(
                f"{self.path}: no {PARITY_SET_FILE}; this bundle predates it, retrain with "
                "rnnkit train"
            )
        self.check_hashes([PARITY_SET_FILE])
        arrays = load_npz(self.file(PARITY_SET_FILE))
        return arrays["ids"], arrays["labels"]

    def reference_outputs(self) -> dict[str, np.ndarray]:
        """The recorded outputs written by ``rnnkit export``."""
        if REFERENCE_OUTPUTS_FILE not in self.manifest.get("files", {}):
            raise NotExportedError(
                f"{self.path}: no {REFERENCE_OUTPUTS_FILE} (Keras's recorded outputs)", self.path
            )
        self.check_hashes([REFERENCE_OUTPUTS_FILE])
        return load_npz(self.file(REFERENCE_OUTPUTS_FILE))

    def format_file(self, fmt: str, variant: str = "fp32") -> Path:
        formats = self.manifest.get("formats", {})
        entry = formats.get(fmt, {}).get(variant)
        if entry is None:
            have = sorted(f"{f}/{v}" for f, vs in formats.items() for v in vs) or ["none"]
            raise NotExportedError(
                f"{self.path}: no {fmt} {variant} model in this bundle (have: {', '.join(have)})",
                self.path, fmt, variant,
            )  # fmt: skip
        path = self.member(entry["file"], f"formats.{fmt}.{variant}.file")
        if fmt == "onnx":
            self._check_external_data(path, f"formats.{fmt}.{variant}.file")
        return path

    def _check_external_data(self, path: Path, entry: str) -> None:
        """An ONNX file may keep tensors in other files (onnxruntime reads them relative to
        the model): each must be listed, hashed and inside the bundle."""
        name = path.relative_to(self.path).as_posix()
        if name in self._external_checked:
            return
        try:
            locations = external_data_locations(path.read_bytes())
        except (OSError, MalformedOnnx) as exc:
            raise BundleError(f"{path}: not a readable ONNX model ({exc})") from exc
        listed = self.manifest.get("files", {})
        for location in sorted(set(locations)):
            ref = f"{entry} external data {location!r}"
            if name_problem(location) is not None:
                self.member(location, ref)  # raises, naming the problem
            member = (PurePosixPath(name).parent / location).as_posix()
            self.member(member, ref)
            if member not in listed:
                raise BundleError(
                    f"{path}: {ref} is not listed in {MANIFEST}; a bundle's model may only "
                    "read files the manifest vouches for. Refusing the bundle."
                )
            self.check_hashes([member])
        self._external_checked.add(name)

    # -- writing (used by train/export; plain file I/O, no TensorFlow) ---------------------

    def sign(
        self,
        private_key: str | os.PathLike,
        *,
        signature: str | os.PathLike | None = None,
        password: str | None = None,
    ) -> Path:
        """Sign every file of this bundle in the OpenSSF model-signing format (needs
        ``rnnkit[sign]``); returns the signature's path (default ``BUNDLE/model.sig``).
        Only an intact bundle is signed: every hash is checked again first."""
        from .signing import sign_folder

        Bundle.open(self.path)  # the files as they are now, the manifest included
        return sign_folder(self.path, private_key, signature=signature, password=password)

    def record_file(self, name: str) -> None:
        target = self.file(name)
        self.manifest.setdefault("files", {})[name] = {
            "sha256": sha256_file(target),
            "bytes": target.stat().st_size,
        }

    def write_manifest(self) -> None:
        """Atomically replace manifest.json (a crash never leaves half a manifest)."""
        self.manifest["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        with replacing(self.path / MANIFEST) as fh:
            fh.write(json_text(self.manifest).encode("utf-8"))


def write_parity_set(folder: Path, ids: np.ndarray, labels: np.ndarray) -> None:
    """The parity inputs: token ids, and each row's class index (-1: not labelled)."""
    np.savez_compressed(
        folder / PARITY_SET_FILE, ids=ids.astype(np.int32), labels=labels.astype(np.int8)
    )
