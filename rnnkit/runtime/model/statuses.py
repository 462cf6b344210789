"""Row statuses and per-row word statistics: what scoring a text can end in, defined once.

A status is stored per row as its code, the index into ``STATUSES``; ``OK_CODE`` rows have a
score, the others keep their place with none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OK = "ok"
MISSING = "missing_text"  # null / absent field
EMPTY = "empty_text"  # empty or whitespace only
NO_WORDS = "no_words"  # text without a single letter or digit: nothing to score
#: The model gives no number for the text: Keras itself says NaN (e.g. an average over
#: masked steps when every step is padding). Never an invented score.
NO_OUTPUT = "no_model_output"
STATUSES = (OK, MISSING, EMPTY, NO_WORDS, NO_OUTPUT)
OK_CODE, MISSING_CODE, EMPTY_CODE, NO_WORDS_CODE, NO_OUTPUT_CODE = range(len(STATUSES))


@dataclass
class RowStats:
    """Per row: words found (capped unless counted in full), and out-of-vocabulary words
    and all words in the window the model reads."""

    tokens: np.ndarray
    oov: np.ndarray
    window: np.ndarray
