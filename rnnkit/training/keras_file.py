"""The bundle's Keras model file and the library versions a bundle records.

Kept apart from ``train.py`` so that ``export`` and ``verify`` need neither the training
data code nor pandas.
"""

from __future__ import annotations

from ..runtime.model.bundle import Bundle

KERAS_FILE = "model.keras"


def library_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("rnnkit", "tensorflow", "keras", "numpy", "onnx", "onnxruntime", "tf2onnx"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            try:
                out[name] = md.version(name + "-cpu")
            except md.PackageNotFoundError:
                continue
    return out


def load_keras_model(bundle: Bundle):
    """Load the bundle's Keras model in safe mode (no arbitrary code runs on load)."""
    import keras

    bundle.check_hashes([KERAS_FILE])
    return keras.models.load_model(bundle.file(KERAS_FILE), safe_mode=True, compile=False)
