"""``rnnkit import``: a user's Keras text classifier and its tokenizer become a bundle that
``export``, ``verify`` and ``score`` treat exactly like one rnnkit trained."""

from ..heavy import prepare_tensorflow

prepare_tensorflow()
