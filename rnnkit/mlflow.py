"""An MLflow flavor: an rnnkit bundle as an MLflow pyfunc model (``rnnkit[mlflow]``).

    import rnnkit.mlflow
    info = rnnkit.mlflow.log_model("runs/imdb", name="sentiment")
    scores = mlflow.pyfunc.load_model(info.model_uri).predict(frame)   # a "text" column

The bundle travels whole as the model's data (``data/<bundle>``): its manifest, models,
tokenizer, recorded Keras outputs, and its signature file when it is signed. When MLflow
loads the model, rnnkit's own trust checks run (every file's hash, then the runtime
against the recorded Keras outputs), exactly as ``rnnkit.load`` runs them.

``predict`` returns the columns ``rnnkit score`` writes for each row: ``probability``,
``label``, ``status`` (and ``p_<class>`` per class for a multi-class model), built by the
same function (``scoring.results.result_batch``). The model's requirements are the light
side only: rnnkit and its base dependencies, no TensorFlow.
"""

from __future__ import annotations

import os
import re
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa

from ._version import __version__
from .runtime.errors import MissingExtraError, UsageError
from .runtime.model.bundle import Bundle
from .runtime.model.classifier import TextClassifier, text_array
from .runtime.model.signature import BINARY, OutputSpec
from .runtime.scoring.results import class_columns, result_batch, row_numbers

FLAVOR_NAME = "rnnkit"
#: The input column a logged model reads its texts from, unless ``text_column`` says.
TEXT_COLUMN = "text"
EXAMPLE_TEXT = "A warm, funny film with a cast that clearly enjoyed making it."


def _mlflow():
    try:
        import mlflow
        import mlflow.pyfunc  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(
            f'the MLflow flavor needs mlflow: pip install "rnnkit[mlflow]" ({exc})'
        ) from exc
    return mlflow


def output_columns(output: OutputSpec) -> list[tuple[str, str]]:
    """``(name, MLflow type)`` of every column ``predict`` returns."""
    columns = [("probability", "float"), ("label", "string"), ("status", "string")]
    return columns + [(name, "float") for name in class_columns(output)]


def model_signature(bundle: Bundle, text_column: str = TEXT_COLUMN):
    """A string column in; out, the result columns of ``rnnkit score``; and, for a binary
    model, a ``threshold`` parameter (default: the bundle's)."""
    _mlflow()
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    output = bundle.signature.output
    params = None
    if output.kind == BINARY:
        params = ParamSchema([ParamSpec("threshold", "double", float(output.threshold))])
    return ModelSignature(
        inputs=Schema([ColSpec("string", text_column)]),
        outputs=Schema([ColSpec(kind, name) for name, kind in output_columns(output)]),
        params=params,
    )


def light_requirements() -> list[str]:
    """rnnkit at this version, and its base dependencies (no extra: no TensorFlow)."""
    requirements = [f"rnnkit=={__version__}"]
    try:
        declared = metadata.requires("rnnkit") or []
    except metadata.PackageNotFoundError:  # a source tree that is not installed
        declared = []
    # An extra's requirement carries a marker ``extra == "..."``: the light side has none.
    requirements += [r for r in declared if not re.search(r"\bextra\s*==", r)]
    return requirements


def save_model(
    bundle: str | os.PathLike,
    path: str | os.PathLike,
    *,
    text_column: str = TEXT_COLUMN,
    backend: str = "onnx",
    mlflow_model=None,
    **kwargs,
):
    """Write ``bundle`` as an MLflow model folder at ``path`` (which must not exist).

    The bundle is opened and its hashes checked before it is copied. ``text_column``: the
    input column the model reads; ``backend``: ``onnx`` or ``tflite`` at load. Other
    keywords go to ``mlflow.pyfunc.save_model`` (``input_example``, ``metadata``,
    ``pip_requirements``, ``extra_pip_requirements``, ``signature``...)."""
    mlflow = _mlflow()
    from mlflow.models import Model

    opened = Bundle.open(bundle)
    opened.format_file(backend)  # a bundle without this backend's model is refused here
    if not text_column:
        raise UsageError("text_column: give the name of the input column holding the texts")
    if mlflow_model is None:
        mlflow_model = Model()
    mlflow_model.add_flavor(
        FLAVOR_NAME,
        rnnkit_version=__version__,
        bundle=opened.path.name,
        bundle_digest=opened.digest,
        backend=backend,
        text_column=text_column,
    )
    kwargs.setdefault("signature", model_signature(opened, text_column))
    if "input_example" not in kwargs:  # MLflow checks the model against it as it saves
        import pandas as pd

        kwargs["input_example"] = pd.DataFrame({text_column: [EXAMPLE_TEXT]})
    if "pip_requirements" not in kwargs and "conda_env" not in kwargs:
        kwargs["pip_requirements"] = light_requirements()
    return mlflow.pyfunc.save_model(
        path=str(path),
        loader_module=__name__,
        data_path=str(opened.path),
        mlflow_model=mlflow_model,
        **kwargs,
    )


def log_model(bundle: str | os.PathLike, name: str = "model", **kwargs):
    """Log ``bundle`` to the active MLflow run (one is started if none is); returns
    MLflow's ``ModelInfo``. Keywords: :func:`save_model`'s, and ``Model.log``'s
    (``registered_model_name``, ``tags``...)."""
    _mlflow()
    from mlflow.models import Model

    return Model.log(
        artifact_path=None, name=name, flavor=sys.modules[__name__], bundle=bundle, **kwargs
    )


class RnnkitPyfunc:
    """What ``mlflow.pyfunc.load_model`` wraps: a loaded bundle behind ``predict(frame)``."""

    def __init__(self, bundle_dir: str | os.PathLike, backend: str, text_column: str) -> None:
        # rnnkit's trust checks: hashes, then this runtime against Keras's recorded outputs.
        self.model = TextClassifier(Bundle.open(bundle_dir), backend=backend)
        self.text_column = text_column

    def _texts(self, model_input) -> pa.Array:
        import pandas as pd

        if isinstance(model_input, pd.DataFrame):
            if self.text_column in model_input.columns:
                values = model_input[self.text_column]
            elif model_input.shape[1] == 1:
                values = model_input.iloc[:, 0]
            else:
                raise UsageError(
                    f"the input has no {self.text_column!r} column (columns: "
                    f"{', '.join(map(str, model_input.columns))})"
                )
        elif isinstance(model_input, (pd.Series, list, tuple, np.ndarray)):
            values = model_input
        else:
            raise UsageError(
                f"predict takes a DataFrame with a {self.text_column!r} column, a Series or "
                f"a list of texts, not {type(model_input).__name__}"
            )
        return text_array(list(values))

    def predict(self, model_input, params: dict | None = None):
        """The columns ``rnnkit score`` writes for each row, as a pandas DataFrame."""
        texts = self._texts(model_input)
        threshold = (params or {}).get("threshold")
        probs, status, _ = self.model.score_arrow(texts)
        batch = result_batch(
            row_numbers(0, len(texts)),
            probs,
            status,
            threshold=None if threshold is None else float(threshold),
            output=self.model.output,
        )
        names = [name for name, _ in output_columns(self.model.output)]
        return batch.select(names).to_pandas()


def _load_pyfunc(data_path: str) -> RnnkitPyfunc:
    """MLflow's loader entry point: ``data_path`` is the bundle's copy in the model."""
    from mlflow.models import Model

    model_dir = Path(data_path).parent.parent
    conf = Model.load(str(model_dir)).flavors.get(FLAVOR_NAME, {}) if model_dir.exists() else {}
    return RnnkitPyfunc(
        data_path,
        backend=conf.get("backend", "onnx"),
        text_column=conf.get("text_column", TEXT_COLUMN),
    )
