"""A Hugging Face ``tokenizer.json`` twin of the rnnkit tokenizer, for Rust/JS runtimes.

It encodes the same contract with the ``tokenizers`` building blocks: a Lowercase and two
Replace normalizers (apostrophes deleted; ``<br`` not followed by a letter or digit becomes a
space), a Split pre-tokenizer that removes runs of non-letters/non-digits, a WordLevel model,
left truncation and left padding to ``maxlen``. Letters and digits are ``[\\p{L}\\p{N}]``,
which equals Python's ``str.isalnum()`` up to differences between Unicode versions.
"""

from __future__ import annotations

from pathlib import Path

from ..runtime.text.contract import FIRST_WORD_ID
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
