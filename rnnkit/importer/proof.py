"""Proof that a tokenizer spec gives exactly the real implementation's ids.

At import, the spec and the real library (TensorFlow's layer, ``tf_keras``'s Tokenizer)
both encode one corpus: the embedded IMDB and rotten-tomatoes texts plus generated edge
texts. Any difference refuses the import, naming the first differing text and position.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..runtime.errors import ModelFileError

#: Every kind of space and break Unicode has, punctuation runs and other traps.
EDGE_TEXTS = [
    "", " ", "\t\n", "a", "A", "ÄÖÜ äöü ß ẞ", "İstanbul ΣΊΣΥΦΟΣ", "ǅ ǈ ǋ", "ﬁne ﬂow",
    "no\u00a0break", "ideo\u3000graphic", "line\u2028sep", "next\u0085line", "para\u2029sep",
    "thin\u2009space", "zero\u200bwidth", "cr\rlf\r\nend", "tab\tsep\vvt\fff",
    "don't don’t", "<br />x<br/>y<BR>z", "!!!???...", "a--b__c..d", "1,000.50 $5 100%",
    "日本語のテキスト", "emoji 🎬🍿 film", "e\u0301 é", "ＦＵＬＬ ｗｉｄｔｈ", "x" * 3000,
    " ".join(["word"] * 2000), "MiXeD CaSe TeXt", "a'b\"c`d", "[UNK] [unk]", "\x00\x01ctrl",
]  # fmt: skip


def corpus() -> list[str]:
    texts = list(EDGE_TEXTS)
    try:
        import pyarrow.csv as pacsv

        from ..training.data import embedded_imdb_path

        table = pacsv.read_csv(embedded_imdb_path())
        texts += [t or "" for t in table.column("text").to_pylist()]
    except Exception:  # the embedded reviews are a [train] dependency; the edges remain
        pass
    return texts


def prove(
    name: str,
    ours: Callable[[list[str]], np.ndarray],
    theirs: Callable[[list[str]], np.ndarray],
    texts: list[str] | None = None,
    rows_at_once: int = 4096,
) -> int:
    """Refuse unless ``ours`` and ``theirs`` give equal ids (or vectors) on every text; the
    count. ``rows_at_once``: fewer for outputs as wide as a vocabulary."""
    texts = corpus() if texts is None else texts
    for start in range(0, len(texts), rows_at_once):
        chunk = texts[start : start + rows_at_once]
        a, b = np.asarray(ours(chunk)), np.asarray(theirs(chunk))
        if a.shape != b.shape:
            raise ModelFileError(f"{name}: ids of shape {a.shape} against the real {b.shape}")
        rows, cols = np.nonzero(a != b)
        if len(rows):
            r, c = int(rows[0]), int(cols[0])
            raise ModelFileError(
                f"{name}: the spec differs from the real implementation on text "
                f"{start + r} ({chunk[r][:80]!r}) at position {c}: {a[r, c]} against "
                f"{b[r, c]}. Refusing the import"
            )
    return len(texts)
