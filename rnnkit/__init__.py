"""rnnkit: train a Keras RNN sentiment model, export it with proven parity, score without TF.

The light side (this namespace, ``rnnkit.runtime``) never imports TensorFlow.
"""

from __future__ import annotations

from ._version import __version__

__all__ = ["__version__", "load", "score_files"]


def __getattr__(name: str):
    # Lazy: ``import rnnkit`` stays cheap (no onnxruntime/pyarrow until they are needed).
    if name == "load":
        from .runtime.model.classifier import load

        return load
    if name == "score_files":
        from .runtime.scoring.pipeline import score_files

        return score_files
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
