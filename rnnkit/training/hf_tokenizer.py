"""Hugging Face ``tokenizer.json`` twins of tokenizer specs, for Rust/JS runtimes.

rnnkit's own contract:

It encodes the same contract with the ``tokenizers`` building blocks: a Lowercase and two
Replace normalizers (apostrophes deleted; ``<br`` not followed by a letter or digit becomes a
space), a Split pre-tokenizer that removes runs of non-letters/non-digits, a WordLevel model,
left truncation and left padding to ``maxlen``. Letters and digits are ``[\\p{L}\\p{N}]``,
which equals Python's ``str.isalnum()`` up to differences between Unicode versions.
"""

from __future__ import annotations

from pathlib import Path

from ..runtime.text.contract import FIRST_WORD_ID
from ..runtime.text.text_vectorization import ASCII_SPACE, PUNCTUATION, TextVectorization
from ..runtime.text.tokenizer import Tokenizer

PAD_TOKEN, UNK_TOKEN = "[PAD]", "[UNK]"


def build_hf_tokenizer(tok: Tokenizer):
    from tokenizers import Regex, normalizers, pre_tokenizers
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import WordLevel

    # The bracketed specials can never collide with a word: brackets are not alphanumeric.
    vocab = {PAD_TOKEN: 0, UNK_TOKEN: 1}
    vocab.update({w: i + FIRST_WORD_ID for i, w in enumerate(tok.words)})
    hf = HFTokenizer(WordLevel(vocab, unk_token=UNK_TOKEN))
    hf.normalizer = normalizers.Sequence(
        [
            normalizers.Lowercase(),
            normalizers.Replace(Regex("['\u2019]"), ""),
            normalizers.Replace(Regex(r"<br(?![\p{L}\p{N}])"), " "),
        ]
    )
    hf.pre_tokenizer = pre_tokenizers.Split(Regex(r"[^\p{L}\p{N}]+"), behavior="removed")
    hf.enable_truncation(max_length=tok.maxlen, direction="left")
    hf.enable_padding(direction="left", length=tok.maxlen, pad_id=0, pad_token=PAD_TOKEN)
    return hf


def write_hf_tokenizer(tok: Tokenizer, path: str | Path) -> None:
    build_hf_tokenizer(tok).save(str(path))


def _char_class(chars: str) -> str:
    return "[" + "".join(f"\\x{{{ord(c):X}}}" for c in chars) + "]"


def build_text_vectorization_twin(tv: TextVectorization):
    """TextVectorization's rules with ``tokenizers`` parts: ASCII-only lowercasing as 26
    Replace normalizers (``Lowercase`` would lower every script, as TF does not), the
    punctuation deleted, a Split on ASCII whitespace only, a WordLevel model with ``[UNK]``
    at 1, and right truncation and padding to ``maxlen``."""
    from tokenizers import Regex, normalizers, pre_tokenizers
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import WordLevel

    vocab = {"[UNK]": 1}
    vocab.update(tv._index)  # type: ignore[attr-defined]  # the first index of each word
    hf = HFTokenizer(WordLevel(vocab, unk_token="[UNK]"))
    steps = []
    if tv.standardize in ("lower", "lower_and_strip_punctuation"):
        steps += [normalizers.Replace(c, c.lower()) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    if tv.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        steps.append(normalizers.Replace(Regex(_char_class(PUNCTUATION)), ""))
    if steps:
        hf.normalizer = normalizers.Sequence(steps)
    hf.pre_tokenizer = pre_tokenizers.Split(Regex(_char_class(ASCII_SPACE) + "+"), "removed")
    hf.enable_truncation(max_length=tv.maxlen, direction="right")
    hf.enable_padding(direction="right", length=tv.maxlen, pad_id=0, pad_token="")
    return hf


def hf_twin(tok):
    """``(tokenizers.Tokenizer, None)`` for a spec with a twin, else ``(None, why not)``."""
    if isinstance(tok, Tokenizer):
        return build_hf_tokenizer(tok), None
    if not isinstance(tok, (Tokenizer, TextVectorization)) and getattr(tok, "ngrams", None):
        return None, "a bag of n-grams is not a token sequence: tokenizer.json has no twin"
    if isinstance(tok, TextVectorization) and tok.custom_steps:
        return None, "a custom standardize function's steps have no twin written yet"
    if isinstance(tok, TextVectorization) and tok.split == "whitespace":
        return build_text_vectorization_twin(tok), None
    if isinstance(tok, TextVectorization):
        return None, "a character split has no twin written yet"
    reasons = [
        "its lowercasing is Python's str.lower, where a capital sigma lowers by context "
        "(tokenizers lowers one code point at a time)"
    ]
    if getattr(tok, "start_char", None) is not None:
        reasons.append("pre-truncation can cut its start id away, while tokenizers adds "
                       "special tokens after truncating")  # fmt: skip
    if getattr(tok, "oov_token", "") is None:
        reasons.append("it drops unknown words, which a WordLevel model cannot")
    return None, "; ".join(reasons)
