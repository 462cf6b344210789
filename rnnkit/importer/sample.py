"""The texts an imported model's parity set is made of: the user's ``sample`` CSV (with
labels when it has them), else a fixed sample of the embedded IMDB reviews (unlabelled:
rnnkit does not know what an imported model's classes mean)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runtime.errors import DataError, UsageError

#: Rows of the embedded reviews used when no ``sample`` is given, drawn with a fixed seed.
EMBEDDED_ROWS = 2000
MAX_SAMPLE_ROWS = 20_000


def _label_index(value: str, classes: tuple[str, ...], path: str, row: int, column: str) -> int:
    text = str(value).strip()
    if text in classes:
        return classes.index(text)
    if text.isdigit() and int(text) < len(classes):
        return int(text)
    raise DataError(
        f"{path}: row {row}, column {column!r}: label {value!r} is not a class of the model "
        f"({', '.join(classes)}) or a class index 0-{len(classes) - 1}"
    )


def sample_texts(
    sample: str | None, text_column: str, label_column: str | None, classes: tuple[str, ...]
) -> tuple[list[str], np.ndarray, str]:
    """Texts, class indices (-1: unlabelled) and a description of where they came from."""
    if sample is None:
        if label_column is not None:
            raise UsageError("`label_column` needs `sample`")
        from ..training.data import load_embedded_imdb

        texts, _ = load_embedded_imdb()
        rows = np.random.default_rng(0).choice(len(texts), EMBEDDED_ROWS, replace=False)
        picked = [texts[i] for i in sorted(rows)]
        return picked, np.full(len(picked), -1, np.int64), f"embedded IMDB reviews ({len(picked)})"
    import pyarrow.csv as pacsv

    columns = [text_column] + ([label_column] if label_column else [])
    try:
        table = pacsv.read_csv(
            sample,
            convert_options=pacsv.ConvertOptions(
                include_columns=columns, column_types={c: "string" for c in columns}
            ),
        )
    except FileNotFoundError as exc:
        raise UsageError(f"`sample` {sample}: no such file") from exc
    except Exception as exc:  # pyarrow's own errors name the problem
        raise DataError(f"{sample}: cannot read it as CSV with columns {columns} ({exc})") from exc
    if table.num_rows == 0 or table.num_rows > MAX_SAMPLE_ROWS:
        raise DataError(f"{sample}: {table.num_rows} rows; a sample holds 1 to {MAX_SAMPLE_ROWS}")
    texts = [t or "" for t in table.column(text_column).to_pylist()]
    if label_column is None:
        return texts, np.full(len(texts), -1, np.int64), f"{Path(sample).name} ({len(texts)})"
    labels = np.array(
        [
            _label_index(v, classes, sample, row, label_column)
            for row, v in enumerate(table.column(label_column).to_pylist(), start=2)
        ]
    )
    return texts, labels, f"{Path(sample).name} ({len(texts)}, labelled)"
