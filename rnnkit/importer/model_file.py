"""Reading a user's Keras model file without running anything it holds.

The model's config is read as JSON first (from the ``.keras`` zip or the ``.h5``
attributes) and every layer class is checked before Keras deserializes anything: a
``Lambda`` holds Python bytecode and a custom class needs the user's code, so both are
refused by name. Then Keras loads the file with ``safe_mode=True``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from ..exporter.layers import CONVERTERS
from ..runtime.errors import ModelFileError
from .keras2 import keras2_version, load_translated, translate

#: Limits on what a model file may make rnnkit read (a config is kilobytes in practice).
MAX_CONFIG_BYTES = 16 << 20
MAX_MODEL_BYTES = 2 << 30
CONTAINERS = {"Sequential", "Functional", "Model", "InputLayer"}
#: Ops Keras records in a functional graph (the mask's ``ids != 0``), converted as layers.
RECORDED_OPS = {"NotEqual"}
#: Split off at import and reproduced as a tokenizer spec (``runtime/text``).
PREPROCESSING = {"TextVectorization"}


def read_config(path: Path) -> dict:
    """The model's architecture config, as JSON, without deserializing anything."""
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            raise ModelFileError(
                f"{path}: a TensorFlow SavedModel; rnnkit reads Keras files. In the code that "
                "made the model, save it with model.save('model.keras') (Keras 3) or "
                "model.save('model.h5') (Keras 2, TensorFlow <= 2.15 or tf_keras), or load the "
                "folder with tf_keras.models.load_model and save it as model.h5, then import "
                "that file"
            )
        raise ModelFileError(f"{path}: a folder, not a Keras model file (.keras or .h5)")
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path}: larger than {MAX_MODEL_BYTES >> 20} MB; not a text model")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                info = archive.getinfo("config.json")
                if info.file_size > MAX_CONFIG_BYTES:
                    raise ModelFileError(f"{path}: config.json is larger than 16 MB")
                return json.loads(archive.read(info))
        with open(path, "rb") as fh:
            magic = fh.read(8)
        if magic == b"\x89HDF\r\n\x1a\n":
            import h5py

            with h5py.File(path, "r") as h5:
                raw = h5.attrs.get("model_config")
                if raw is None:
                    raise ModelFileError(f"{path}: an HDF5 file without a model config")
                if len(raw) > MAX_CONFIG_BYTES:
                    raise ModelFileError(f"{path}: model config larger than 16 MB")
                return json.loads(raw)
    except ModelFileError:
        raise
    except (KeyError, OSError, ValueError, RecursionError, zipfile.BadZipFile) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ModelFileError(f"{path}: not a readable Keras model file ({reason})") from exc
    raise ModelFileError(f"{path}: not a Keras model file (expected a .keras zip or an .h5 file)")


def _layer_entries(config: dict, depth: int = 0):
    """Every layer config in a model config, nested ones (Bidirectional's) included."""
    if depth > 32:
        raise ModelFileError("model config nested more than 32 levels deep")
    inner = config.get("config", {}) if isinstance(config, dict) else {}
    if not isinstance(inner, dict):
        return
    for entry in inner.get("layers", []) or []:
        if isinstance(entry, dict):
            yield entry
            yield from _layer_entries(entry, depth + 1)
    for key in ("layer", "backward_layer", "cell"):
        if isinstance(inner.get(key), dict):
            yield inner[key]
            yield from _layer_entries(inner[key], depth + 1)


def _function_name(value) -> str | None:
    """The name of a function a layer config refers to (Keras saves functions by name)."""
    if isinstance(value, dict) and value.get("class_name") == "function":
        return str(value.get("registered_name") if value.get("registered_name") not in
                   (None, "function") else value.get("config"))  # fmt: skip
    return None


def refuse_unsafe_layers(config: dict, path: Path, custom_objects: dict | None = None) -> None:
    """Refuse, before Keras reads the file, any layer holding code or needing user code
    that ``custom_objects`` (the user's ``custom_objects`` file) does not define."""
    cells = {"SimpleRNNCell", "LSTMCell", "GRUCell"}
    known = set(CONVERTERS) | CONTAINERS | RECORDED_OPS | PREPROCESSING | cells
    for entry in _layer_entries(config):
        cls, name = entry.get("class_name"), entry.get("config", {}).get("name", "?")
        module = str(entry.get("module") or "keras")
        if cls == "Lambda":
            raise ModelFileError(
                f"{path}: layer {name!r} is a Lambda layer: it holds Python code, which "
                "rnnkit never runs. Rebuild the model without it (a Keras layer for the same "
                "step, or do that step in preprocessing)"
            )
        for option in ("standardize", "split"):
            function = _function_name(entry.get("config", {}).get(option))
            if function is not None and function.split(">")[-1] not in (custom_objects or {}):
                raise ModelFileError(
                    f"{path}: layer {name!r} ({cls}) uses the function {function!r} as its "
                    f"{option}; give the Python file that defines it as `custom_objects`"
                    + (f" (it defines: {', '.join(sorted(custom_objects))})" if custom_objects
                       else "")
                )  # fmt: skip
        if cls not in known or not module.startswith("keras"):
            raise ModelFileError(
                f"{path}: layer {name!r} is {cls!r} from {module!r}, not a layer rnnkit "
                f"converts; supported: {', '.join(sorted(CONVERTERS))}"
            )


def read_model(path: str | Path, custom_objects: dict | None = None):
    """``(model, translation)``: the Keras model in ``path``, checked layer by layer first,
    loaded in safe mode; a Keras 2 ``.h5`` file's config translated first (``keras2.py``;
    ``translation`` says what changed, ``None`` for a Keras 3 file). ``custom_objects``:
    the functions the model names (``custom_objects.py``)."""
    path = Path(path)
    config = read_config(path)
    refuse_unsafe_layers(config, path, custom_objects)
    import keras

    version = keras2_version(path)
    translation = None
    try:
        if version is not None:
            try:
                config, translation = translate(config, version)
            except ModelFileError as exc:
                raise ModelFileError(f"{path}: Keras {version} file: {exc}") from exc
            return load_translated(path, config), translation
        return keras.saving.load_model(
            path, compile=False, safe_mode=True, custom_objects=custom_objects or None
        ), None
    except ModelFileError:
        raise
    except Exception as exc:  # Keras raises many types for a file it cannot read
        raise ModelFileError(f"{path}: Keras cannot load it ({type(exc).__name__}: {exc})") from exc


def load_model(path: str | Path, custom_objects: dict | None = None):
    """The Keras model in ``path`` (see :func:`read_model`)."""
    return read_model(path, custom_objects)[0]
