"""The legacy ``keras.preprocessing.text.Tokenizer`` (now in ``tf_keras``) with
``pad_sequences``, as its source does it, not as its documentation suggests:

* ``lower`` is Python's full ``str.lower()``;
* every character of ``filters`` becomes ``split``, then the text is split on ``split``
  only (a no-break space or a carriage return stays inside a word); empty pieces go;
* ``char_level``: every character (after lowering) is a token, filters unused;
* an id at or past ``num_words`` becomes the OOV id if ``oov_token`` is set, else the
  word is dropped; an unknown word likewise;
* ``pad_sequences`` defaults: padding and truncating ``pre``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .scan.plan import REFERENCE, SEP, TABLE_SIZE, WORD, ScanPlan, unicode_tables
from .sequences import WordIndexSpec

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(text: str, filters: str, lower: bool, split: str) -> list[str]:
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [piece for piece in text.split(split) if piece]


def word_tables(filters: str, lower: bool, split: str) -> tuple[dict, int]:
    """The compiled scan's tables for :func:`text_to_word_sequence` (keyword arguments for
    ``ScanPlan``): a character is a separator where it, lowered first if ``lower``, is in
    ``filters`` or is ``split``."""
    separators = set(filters) | {split}

    def char_class(char: str) -> tuple[int, str]:
        lowered = char.lower() if lower else char
        return (SEP if lowered in separators else WORD), lowered

    tables = unicode_tables(("keras", filters, lower, split), char_class)
    # Past the tables: no lowercase mapping changes a code point, so without a separator
    # there every character is a word character; otherwise the reference decides.
    beyond = WORD if all(ord(c) < TABLE_SIZE for c in separators) else REFERENCE
    return {"tables": tables, "beyond": beyond}


@dataclass(frozen=True, eq=False)
class KerasTokenizer(WordIndexSpec):
    kind = "keras-tokenizer"
    FORMAT = "rnnkit-keras-tokenizer"

    filters: str = DEFAULT_FILTERS
    lower: bool = True
    split: str = " "
    char_level: bool = False
    oov_token: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        types = {"filters": str, "split": str, "lower": bool, "char_level": bool}
        for name, kind in types.items():
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"{name} must be a {kind.__name__}, got {getattr(self, name)!r}")
        if self.oov_token is not None and not isinstance(self.oov_token, str):
            raise ValueError(f"oov_token must be a string or null, got {self.oov_token!r}")
        if self.num_words is not None and (
            isinstance(self.num_words, bool) or not isinstance(self.num_words, int)
        ):
            raise ValueError(f"num_words must be an integer or null, got {self.num_words!r}")
        if not self.split and not self.char_level:
            raise ValueError("split must be a non-empty string")
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        object.__setattr__(self, "_oov_index", oov)

    @classmethod
    def from_keras_json(
        cls,
        doc: dict,
        maxlen: int,
        padding: str = "pre",
        truncating: str = "pre",
        where: str = "tokenizer",
        num_words: int | None = None,
    ):
        """From ``tokenizer.to_json()``: its ``word_index`` is itself a JSON string.
        ``num_words``, when given, replaces the saved one (as setting it on Keras's does)."""
        import json

        if not isinstance(doc, dict) or doc.get("class_name") != "Tokenizer":
            raise ValueError(
                f"{where}: not a Keras Tokenizer JSON (class_name {doc.get('class_name') if isinstance(doc, dict) else None!r})"
            )
        cfg = doc.get("config", {})
        if not isinstance(cfg, dict):
            raise ValueError(f"{where}: its 'config' is not a JSON object")
        if cfg.get("analyzer") not in (None, "null"):
            raise ValueError(f"{where}: a custom analyzer cannot be reproduced")
        index = cfg.get("word_index")
        index = json.loads(index) if isinstance(index, str) else index
        return cls(
            index, maxlen, num_words if num_words is not None else cfg.get("num_words"),
            padding=padding, truncating=truncating,
            filters=cfg.get("filters", DEFAULT_FILTERS), lower=cfg.get("lower", True),
            split=cfg.get("split", " "), char_level=cfg.get("char_level", False),
            oov_token=cfg.get("oov_token"),
        )  # fmt: skip

    def ids_and_words(self, text: str) -> tuple[list[int], int]:
        if self.char_level:
            seq = list(text.lower() if self.lower else text)
        else:
            seq = text_to_word_sequence(text, self.filters, self.lower, self.split)
        index, cap, oov = self.word_index, self.num_words, self._oov_index  # type: ignore[attr-defined]
        ids = []
        for word in seq:
            i = index.get(word)
            if i is None or (cap and i >= cap):
                i = oov  # None (dropped) without an oov_token, or one the index lacks
            if i is not None:
                ids.append(i)
        return ids, len(seq)

    def scan_plan(self) -> ScanPlan | None:
        """Word splitting on one split character fits the scan; ``char_level`` does not."""
        if self.char_level or len(self.split) != 1:
            return None
        cap = self.num_words
        return self.sequence_plan(
            [(self.oov_id if cap and i >= cap else i) for i in self.word_index.values()],
            self.oov_id,
            **word_tables(self.filters, self.lower, self.split),
        )

    @property
    def vocab_size(self) -> int:
        top = max(self.word_index.values(), default=0) + 1
        return min(top, self.num_words) if self.num_words else top

    @property
    def oov_id(self) -> int:
        oov = self._oov_index  # type: ignore[attr-defined]
        return -1 if oov is None else oov
