"""A bundle's tokenizer, read from the file its signature names and checked against the
manifest's fingerprint and parameters."""

from __future__ import annotations

from pathlib import Path

from ..errors import BundleError
from ..text.specs import LOADERS as TOKENIZER_LOADERS
from ..text.tokenizer import Tokenizer
from .manifest import MANIFEST


def read_tokenizer(tok_path: Path, kind: str, spec: dict) -> Tokenizer:
    """The tokenizer of ``kind`` in ``tok_path`` (a member the bundle checked), if it is
    the one ``spec`` (the signature's entry) records."""
    load = TOKENIZER_LOADERS[kind]  # the signature checked the kind
    try:
        tok = load(tok_path)
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
