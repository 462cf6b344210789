"""The tokenizer an imported model is fed by, chosen on the command line: each choice builds
the runtime tokenizer, proves it against the real implementation where one exists, and
writes its spec into the bundle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..runtime.errors import ModelFileError
from ..runtime.model.bundle import HF_TOKENIZER_FILE, TOKENIZER_FILE
from ..runtime.model.signature import rnnkit_tokenizer_spec
from ..runtime.text.tokenizer import Tokenizer


@dataclass
class TokenizerChoice:
    """rnnkit's own contract, from an ``rnnkit-tokenizer.json`` (the default spec)."""

    path: str
    maxlen: int | None = None

    def build(self):
        try:
            tok = Tokenizer.load(self.path)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{self.path}: not an rnnkit tokenizer ({exc})") from exc
        if self.maxlen is not None:
            tok = Tokenizer(tok.words, tok.vocab_size, self.maxlen)
        return tok

    def prove(self, tok) -> None:
        """rnnkit's contract is its own reference: nothing outside to compare with."""

    def write(self, tok, folder: Path) -> dict:
        from ..training.hf_tokenizer import write_hf_tokenizer

        tok.save(folder / TOKENIZER_FILE)
        write_hf_tokenizer(tok, folder / HF_TOKENIZER_FILE)
        return rnnkit_tokenizer_spec(tok, TOKENIZER_FILE, HF_TOKENIZER_FILE)
