"""One scoring request, validated once, taken by both engines (local and Spark).

What is scored and how the output looks: the inputs, the model, the columns, the output's
file and format, the summary's file and the signature check. How the work is run
(threads, a progress bar, Spark's master and partitions) is each engine's own argument.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, fields

from ..errors import UsageError
from ..io import inputs
from ..io.csvio import check_delimiter
from ..model.backends import BACKENDS
from .writers import FORMATS


@dataclass(frozen=True)
class ScoreRequest:
    """``rnnkit score``'s options, as the library names them (see ``score_files``)."""

    sources: str | os.PathLike | Sequence[str | os.PathLike]
    output: str | os.PathLike | None = None
    model: str | os.PathLike | None = None
    text_column: str | None = None
    id_column: str | None = None
    columns: Sequence[str] | None = None
    keep_text: bool = False
    keep_columns: bool = False
    format: str | None = None
    threshold: float | None = None
    backend: str = "onnx"
    encoding: str | None = None
    input_format: str | None = None
    delimiter: str | None = None
    diagnostics: bool = False
    summary: str | os.PathLike | None = None
    public_key: str | os.PathLike | None = None
    signature: str | os.PathLike | None = None

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise UsageError(f"`threshold` must be within [0, 1], got {self.threshold}")
        if self.backend not in BACKENDS:
            raise UsageError(
                f"unknown `backend` {self.backend!r}; choose from {', '.join(BACKENDS)}"
            )
        if self.format is not None and self.format not in FORMATS:
            raise UsageError(f"unknown `format` {self.format!r}; choose from {', '.join(FORMATS)}")
        if self.input_format is not None and self.input_format not in inputs.INPUT_FORMATS:
            raise UsageError(
                f"unknown `input_format` {self.input_format!r}; choose from "
                f"{', '.join(inputs.INPUT_FORMATS)}"
            )
        if self.delimiter is not None:
            check_delimiter(self.delimiter)
        if isinstance(self.columns, str):
            raise UsageError("`columns`: give a list of column names, not one string")

    @property
    def out_name(self) -> str | None:
        """The output file (``None``: stdout)."""
        return None if self.output is None or str(self.output) == "-" else str(self.output)

    @property
    def wanted_columns(self) -> Sequence[str] | None:
        """The input columns asked for (``keep_columns``: every one)."""
        return inputs.ALL_COLUMNS if self.keep_columns else self.columns

    @classmethod
    def of(cls, sources, output=None, **options) -> ScoreRequest:
        """A request from keyword options, an unknown one refused by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise UsageError(f"unknown scoring option {', '.join(map(repr, unknown))}")
        return cls(sources, output, **options)
