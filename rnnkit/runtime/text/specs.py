"""The tokenizer spec kinds a bundle's signature may name, and how each is read from its file.

One entry per kind: the signature refuses a kind that is not here, and the bundle loads the
tokenizer through it.
"""

from __future__ import annotations

from .bags import TextVectorizationBag
from .imdb import ImdbWordIndex
from .keras_tokenizer import KerasTokenizer
from .text_vectorization import TextVectorization
from .tokenizer import Tokenizer

LOADERS = {
    "rnnkit": Tokenizer.load,
    KerasTokenizer.kind: KerasTokenizer.load,
    ImdbWordIndex.kind: ImdbWordIndex.load,
    TextVectorization.kind: TextVectorization.load,
    TextVectorizationBag.kind: TextVectorizationBag.load,
}
