"""The heavy side's threshold: TensorFlow's environment, set before TensorFlow is imported.

The training, import and export packages call :func:`prepare_tensorflow` as they are
imported, so the Python API gets what the command line gets: repeatable CPU sums and a
quiet console. A variable the user set is left as it is.
"""

from __future__ import annotations

import os

from .runtime.errors import MissingExtraError


def prepare_tensorflow() -> None:
    # oneDNN reorders float sums between runs and machines; off, CPU training is repeatable
    # (and TensorFlow does not announce it on stderr).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    # TensorFlow's C++ logging is noise for a user; errors still surface as exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def require_tensorflow() -> None:
    """Prepare TensorFlow's environment and check that it is installed."""
    prepare_tensorflow()
    try:
        import tensorflow  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(
            'this needs the training extra: pip install "rnnkit[train]"'
        ) from exc
