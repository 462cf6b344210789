"""``custom_objects``: the user's file of functions a saved model names.

Keras saves a function (a ``TextVectorization``'s ``standardize``) by name and needs it
again to load the model (``custom_objects``). This is the only place rnnkit runs a user's
code: at import, on the heavy side. What the function computes is traced into declarative
steps and proven equal; the bundle never holds the code, and scoring never runs it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
from pathlib import Path

from ..runtime.errors import ModelFileError, UsageError


def load_custom_objects(path: str | Path | None) -> dict:
    """Every top-level function defined in ``path`` (registered with Keras or not), by
    name; ``{}`` without a file."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"`custom_objects` {path}: no such file")
    name = "rnnkit_custom_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"`custom_objects` {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any error
        raise ModelFileError(
            f"`custom_objects` {path}: running it failed ({type(exc).__name__}: {exc})"
        ) from exc
    found = {
        key: value
        for key, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == name
    }
    if not found:
        raise ModelFileError(f"`custom_objects` {path}: defines no top-level function")
    return found
