"""The tokenizer spec kinds a bundle's signature may name, and how each is read from its file.

One entry per kind: the signature refuses a kind that is not here, and the bundle loads the
tokenizer through it. (Other kinds, such as Keras's TextVectorization, join here.)
"""

from __future__ import annotations

from .tokenizer import Tokenizer

LOADERS = {"rnnkit": Tokenizer.load}
