"""Bundles signed in the OpenSSF model-signing format (the ``model-signing`` library).

The signature covers every file of the bundle folder (the manifest, the models, the
tokenizer, the parity set, ...), except the signature itself, as the upstream
``model_signing sign key`` command does: so ``model_signing verify key`` accepts rnnkit's
signatures, and rnnkit accepts the upstream ones. Keys are elliptic-curve PEM files
(P-256, P-384 or P-521), so signing and checking work offline; keyless Sigstore signing
needs a network and is left to the upstream command.

The signature is checked before anything else is read from the bundle: a bundle changed
after signing is refused with one line that names the changed, added or missing file.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from ..errors import MissingExtraError, RnnkitError
from ..files import is_inside, replacing

#: Where the signature goes by default: inside the bundle, under the format's usual name.
SIGNATURE_FILE = "model.sig"
_EXTRA = 'signing needs the sign extra: pip install "rnnkit[sign]"'


class SignatureError(RnnkitError):
    """A bundle whose signature is missing, made with another key, or no longer matches."""


def _library():
    try:
        from model_signing import hashing, signing, verifying
    except ImportError as exc:
        raise MissingExtraError(f"{_EXTRA} ({exc})") from exc
    return hashing, signing, verifying


def signature_path(bundle: str | os.PathLike, signature: str | os.PathLike | None) -> Path:
    """The signature file: ``signature``, else ``model.sig`` inside the bundle."""
    return Path(signature) if signature is not None else Path(bundle) / SIGNATURE_FILE


def _hashing_config(hashing, bundle: Path, signature: Path):
    """Every file of ``bundle`` but the signature (when it lies inside the bundle)."""
    ignored = []
    if is_inside(signature, bundle):
        ignored.append(signature.resolve().relative_to(bundle.resolve()))
    return hashing.Config().set_ignored_paths(paths=ignored)


def _key_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SignatureError(f"{path}: no such {what} file")
    return path


def sign_folder(
    folder: str | os.PathLike,
    private_key: str | os.PathLike,
    *,
    signature: str | os.PathLike | None = None,
    password: str | None = None,
) -> Path:
    """Sign every file of ``folder`` with an elliptic-curve ``private_key`` (PEM); returns
    the signature's path (default ``FOLDER/model.sig``). An existing signature is replaced
    whole, once the new one is complete. ``Bundle.sign`` calls this for a checked bundle."""
    hashing, signing, _ = _library()
    folder = Path(folder)
    key = _key_file(private_key, "private key")
    target = signature_path(folder, signature)
    if target.is_dir():
        raise SignatureError(f"{target}: is a folder; give the signature file's path")
    config = signing.Config().set_hashing_config(_hashing_config(hashing, folder, target))
    try:
        # The library hands the password to ``cryptography``, which takes bytes.
        secret = None if password is None else password.encode("utf-8")
        config.use_elliptic_key_signer(private_key=key, password=secret)
    except (ValueError, TypeError) as exc:  # not a PEM key, an unsupported curve, a password
        raise SignatureError(f"{key}: cannot sign with this key ({_reason(exc)})") from exc
    # Signed into a scratch folder, then renamed into place: the bundle never holds a
    # half-written signature, and no partial file is hashed with the bundle's files.
    with tempfile.TemporaryDirectory(prefix="rnnkit-sign-") as scratch:
        scratch_file = Path(scratch) / SIGNATURE_FILE
        config.sign(folder, scratch_file)
        with replacing(target) as out:
            out.write(scratch_file.read_bytes())
    return target


def check_signature(
    bundle: str | os.PathLike,
    public_key: str | os.PathLike,
    *,
    signature: str | os.PathLike | None = None,
) -> Path:
    """Check that ``signature`` (default ``BUNDLE/model.sig``) was made by ``public_key``'s
    private key over exactly the files ``bundle`` holds now; returns the signature's path.
    Raises :class:`SignatureError` with one line otherwise."""
    hashing, _, verifying = _library()
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise SignatureError(f"{bundle}: no such bundle directory")
    key = _key_file(public_key, "public key")
    target = signature_path(bundle, signature)
    if not target.is_file():
        raise SignatureError(
            f"{bundle}: not signed (no signature at {target}); sign it with rnnkit sign"
        )
    config = verifying.Config().set_hashing_config(_hashing_config(hashing, bundle, target))
    try:
        config.use_elliptic_key_verifier(public_key=key)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{key}: not an elliptic-curve public key ({_reason(exc)})") from exc
    try:
        config.verify(bundle, target)
    except Exception as exc:  # the library raises ValueError, and others for a bad file
        raise SignatureError(f"{bundle}: {_mismatch(exc, target)}") from exc
    return target


def _reason(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


#: The library reports a changed bundle as a list of these (model-signing 1.x).
_CHANGED = re.compile(r"Hash mismatch for '([^']+)'")
_ADDED = re.compile(r"Extra files found in model '[^']*': ([^\"'\]]+)")
_MISSING = re.compile(r"Missing files in model '[^']*': ([^\"'\]]+)")


def _mismatch(exc: Exception, signature: Path) -> str:
    """One line for a failed check: which files changed, appeared or went missing since
    the bundle was signed, or why the signature itself was refused."""
    text = str(exc).replace("\\'", "'")  # the library quotes its list of differences
    parts = []
    for pattern, what in ((_CHANGED, "changed"), (_ADDED, "added"), (_MISSING, "removed")):
        names = [n.strip() for found in pattern.findall(text) for n in found.split(",")]
        if names:
            parts.append(f"{', '.join(sorted(names))} {what}")
    if parts:
        return f"changed since it was signed: {'; '.join(parts)}"
    if "key" in text.lower():
        return f"the signature {signature} was not made with this key"
    return f"the signature {signature} is not valid ({_reason(exc)})"
