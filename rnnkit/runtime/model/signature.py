"""The model signature: what goes in (the tokenizer spec) and what comes out (the output
kind, its classes and the decision rule). Written into the manifest (schema v2) at train or
import time, and read back by everything that touches a model's input or output: the
backends' output shape, results, summary, parity, verify, the card and Spark.

Binary is the one-output case: a sigmoid unit, P(``classes[1]``), decided at a threshold.
Multi-class is a softmax over ``len(classes)`` units, decided by argmax. A v1 manifest
(before signatures) reads as binary with rnnkit's own tokenizer contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import BundleError
from ..text.contract import OOV_ID, PAD_ID
from ..text.specs import LOADERS as TOKENIZER_LOADERS

BINARY, MULTICLASS = "binary", "multiclass"
OUTPUT_KINDS = (BINARY, MULTICLASS)
INPUT_NAME = "token_ids"
OUTPUT_NAME = "probability"
DEFAULT_THRESHOLD = 0.5
BINARY_CLASSES = ("negative", "positive")


@dataclass(frozen=True)
class OutputSpec:
    kind: str = BINARY
    classes: tuple[str, ...] = BINARY_CLASSES
    threshold: float = DEFAULT_THRESHOLD  # binary: P(classes[1]) >= threshold is classes[1]

    @property
    def units(self) -> int:
        """The model's output width: 1 for a sigmoid, one per class for a softmax."""
        return 1 if self.kind == BINARY else len(self.classes)

    def decide(self, probs: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """Class index per row of ``probs`` (``[n, units]``); -1 where a row has no score."""
        probs = np.asarray(probs).reshape(len(probs), self.units)
        missing = np.isnan(probs).any(axis=1)
        if self.kind == BINARY:
            cut = self.threshold if threshold is None else threshold
            index = (probs[:, 0] >= cut).astype(np.int64)
        else:
            index = np.argmax(np.where(np.isnan(probs), -np.inf, probs), axis=1)
        return np.where(missing, -1, index)

    def margin(self, probs: np.ndarray) -> np.ndarray:
        """How clearly each row is decided: binary, |P - threshold|; multi-class, the gap
        between the two most probable classes."""
        probs = np.asarray(probs).reshape(len(probs), self.units)
        if self.kind == BINARY:
            return np.abs(probs[:, 0] - self.threshold)
        top = np.sort(probs, axis=1)
        return top[:, -1] - top[:, -2]

    def probability(self, probs: np.ndarray) -> np.ndarray:
        """The ``probability`` column: P(``classes[1]``) for binary (as rnnkit has always
        written it), the decided class's probability for multi-class."""
        probs = np.asarray(probs).reshape(len(probs), self.units)
        if self.kind == BINARY:
            return probs[:, 0]
        with np.errstate(invalid="ignore"):
            return np.max(probs, axis=1) if len(probs) else np.zeros(0, probs.dtype)

    def rule(self) -> dict:
        if self.kind == BINARY:
            return {
                "rule": "threshold",
                "threshold": self.threshold,
                "at_or_above": self.classes[1],
            }
        return {"rule": "argmax"}

    def to_dict(self) -> dict:
        return {
            "name": OUTPUT_NAME,
            "kind": self.kind,
            "units": self.units,
            "classes": list(self.classes),
            "decision": self.rule(),
            "dtype": "float32",
        }

    @classmethod
    def from_dict(cls, data: dict) -> OutputSpec:
        kind = data.get("kind")
        classes = tuple(str(c) for c in data.get("classes", ()))
        if kind not in OUTPUT_KINDS:
            raise ValueError(f"output kind {kind!r} is not one of {', '.join(OUTPUT_KINDS)}")
        if (kind == BINARY and len(classes) != 2) or (kind == MULTICLASS and len(classes) < 2):
            raise ValueError(f"{kind} output with classes {list(classes)}")
        if len(set(classes)) != len(classes):
            raise ValueError(f"duplicate class names {list(classes)}")
        threshold = float(data.get("decision", {}).get("threshold", DEFAULT_THRESHOLD))
        return cls(kind, classes, threshold)


@dataclass(frozen=True)
class InputSpec:
    maxlen: int
    tokenizer: dict = field(default_factory=dict)  # kind, file, fingerprint, parameters

    @property
    def kind(self) -> str:
        return self.tokenizer.get("kind", "rnnkit")

    def to_dict(self) -> dict:
        return {
            "name": INPUT_NAME,
            "dtype": "int32",
            "shape": ["batch", self.maxlen],
            "tokenizer": self.tokenizer,
        }


@dataclass(frozen=True)
class Signature:
    input: InputSpec
    output: OutputSpec

    def to_dict(self) -> dict:
        return {"input": self.input.to_dict(), "output": self.output.to_dict()}

    @classmethod
    def from_manifest(cls, manifest: dict, where: str = "manifest.json") -> Signature:
        """The signature of a v2 manifest, or what a v1 manifest meant (binary, rnnkit)."""
        try:
            if manifest.get("schema_version", 1) < 2:
                tok = dict(manifest["tokenizer"])
                tok.setdefault("kind", "rnnkit")
                tok.setdefault("pad_id", PAD_ID)
                tok.setdefault("oov_id", OOV_ID)
                return cls(InputSpec(int(tok["maxlen"]), tok), OutputSpec())
            sig = manifest["signature"]
            tok = dict(sig["input"]["tokenizer"])
            if tok.get("kind") not in TOKENIZER_LOADERS:
                raise ValueError(
                    f"tokenizer kind {tok.get('kind')!r} is not one this rnnkit reads "
                    f"({', '.join(TOKENIZER_LOADERS)})"
                )
            maxlen = int(sig["input"]["shape"][1])
            return cls(InputSpec(maxlen, tok), OutputSpec.from_dict(sig["output"]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise BundleError(f"{where}: no usable model signature ({exc})") from exc


def rnnkit_tokenizer_spec(tokenizer, file: str, hf_file: str | None) -> dict:
    """The signature's input tokenizer entry for rnnkit's own contract."""
    spec = {
        "kind": "rnnkit",
        "file": file,
        "fingerprint": tokenizer.fingerprint(),
        "vocab_size": tokenizer.vocab_size,
        "maxlen": tokenizer.maxlen,
        "words": len(tokenizer.words),
        "padding": "pre",
        "truncating": "pre",
        "pad_id": PAD_ID,
        "oov_id": OOV_ID,
    }
    if hf_file is not None:
        spec["hf_file"] = hf_file
    return spec
