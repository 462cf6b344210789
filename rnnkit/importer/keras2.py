"""Keras 2 ``.h5`` files (tf_keras, TensorFlow <= 2.15), read by Keras 3.

Keras 3 refuses the options Keras 2 wrote and it dropped: ``time_major`` on every
recurrent layer (keras-team/keras#20750), ``batch_input_shape`` (#20106), ``input_length``
on ``Embedding``. Their legacy config is read as JSON and translated, each change named
(on the import's output and in ``rnnkit info``); an option that would change what the
model computes (``time_major=True``, ``stateful=True``) is refused. Keras 3 then loads a
copy of the file holding the translated config, with its own legacy weight loader
(weights by layer name), in safe mode.

The translation is proven, not trusted: the real Keras 2 model (tf_keras) and the
translated one score the parity set, and the import fails past the tolerance. The
outputs recorded for the export gate are the Keras 2 model's own.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..runtime.errors import ModelFileError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: Options whose Keras 2 value Keras 3 can only ignore if it is this one.
MEANING = {"time_major": False, "stateful": False}
#: What the option does when set otherwise (for the refusal).
MEANING_WHY = {
    "time_major": "reads inputs as [steps, batch, features]",
    "stateful": "carries its state from one batch to the next, so a text's score would "
    "depend on the texts scored before it",
}


@dataclass
class Translation:
    """What was changed in a Keras 2 config, the Keras version that wrote it, and how the
    result compared with the real Keras 2 model (``proof``; ``None``: not compared)."""

    keras_version: str
    changes: list[str] = field(default_factory=list)
    proof: dict | None = None

    def note(self, change: str) -> None:
        if change not in self.changes:
            self.changes.append(change)

    def to_dict(self) -> dict:
        return {"keras_version": self.keras_version, "translated": self.changes,
                "proof": self.proof}  # fmt: skip


def keras2_version(path: Path) -> str | None:
    """The Keras version of an ``.h5`` model file written by Keras 2 (``None``: another
    file, or one Keras 3 wrote)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != HDF5_MAGIC:
                return None
        import h5py

        with h5py.File(path, "r") as h5:
            version = h5.attrs.get("keras_version")
    except (OSError, ValueError):
        return None
    version = version.decode() if isinstance(version, bytes) else str(version or "")
    return version if version.startswith("2.") else None


def _translate_layer(entry: dict, translation: Translation) -> None:
    cls, cfg = entry.get("class_name"), entry.get("config")
    if not isinstance(cfg, dict):
        return
    name = cfg.get("name", "?")
    for option, harmless in MEANING.items():
        if option in cfg and cfg[option] != harmless:
            raise ModelFileError(
                f"layer {name!r} ({cls}) has {option}={cfg[option]!r}: it "
                f"{MEANING_WHY[option]}; rnnkit scores each text on its own and imports only "
                f"{option}={harmless}"
            )
    if cfg.pop("time_major", None) is not None:
        translation.note(f"{cls}: time_major=False dropped (Keras 3 is always batch-major)")
    if cls == "Embedding" and cfg.pop("input_length", None) is not None:
        translation.note("Embedding: input_length dropped (the model's input keeps the length)")
    if "batch_input_shape" in cfg:
        shape = cfg.pop("batch_input_shape")
        if cls == "InputLayer":
            cfg["batch_shape"] = shape
            translation.note("InputLayer: batch_input_shape renamed batch_shape")
        else:
            translation.note(f"{cls}: batch_input_shape dropped (an InputLayer holds it)")
    policy = cfg.get("dtype")
    if isinstance(policy, dict) and policy.get("class_name") in ("Policy", "DTypePolicy"):
        cfg["dtype"] = policy.get("config", {}).get("name", "float32")
        translation.note(f"dtype policy {cfg['dtype']!r} written as Keras 3's dtype name")
    for key in ("layer", "backward_layer", "cell"):  # Bidirectional's and RNN's inner layers
        if isinstance(cfg.get(key), dict):
            _translate_layer(cfg[key], translation)
    for inner in cfg.get("layers", []) or []:  # nested models
        if isinstance(inner, dict):
            _translate_layer(inner, translation)


def translate(config: dict, version: str) -> tuple[dict, Translation]:
    """A Keras 2 model config as Keras 3 reads it (a new dict) and what was changed."""
    translation = Translation(version)
    config = json.loads(json.dumps(config))
    _translate_layer(config, translation)
    return config, translation


def load_translated(path: Path, config: dict):
    """Keras 3's model from a copy of ``path`` whose config is ``config`` (weights by
    layer, through Keras's own legacy ``.h5`` loader; safe mode)."""
    import h5py
    import keras

    with tempfile.TemporaryDirectory(prefix="rnnkit-keras2-") as folder:
        copy = Path(folder) / "model.h5"
        shutil.copyfile(path, copy)
        with h5py.File(copy, "r+") as h5:
            h5.attrs["model_config"] = json.dumps(config)
        return keras.saving.load_model(copy, compile=False, safe_mode=True)


def original_outputs(
    path: Path, ids: np.ndarray, keras_input=None
) -> tuple[np.ndarray, str] | None:
    """The real Keras 2 model's outputs on ``ids`` and what computed them (``None``: tf_keras
    is not installed). Only called after every layer class was checked: no Lambda, no
    custom class, so loading runs no code from the file."""
    try:
        import tf_keras
    except ImportError:
        return None
    try:
        model = tf_keras.models.load_model(path, compile=False)
    except Exception as exc:  # tf_keras raises many types for a file it cannot read
        raise ModelFileError(f"{path}: Keras 2 (tf_keras) cannot load it ({exc})") from exc
    outputs = model.predict(ids if keras_input is None else keras_input(ids), batch_size=1024,
                            verbose=0)  # fmt: skip
    return np.asarray(outputs, dtype=np.float32).reshape(len(ids), -1), (
        f"tf_keras {tf_keras.__version__}"
    )


def apply_activation(outputs: np.ndarray, name: str) -> np.ndarray:
    """``sigmoid`` or ``softmax`` of a logits model's outputs (what ``logits`` appends)."""
    x = outputs.astype(np.float64)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
