"""The constants of rnnkit's tokenizer contract, in one place for the reference tokenizer
(``tokenizer.py``) and its compiled scan (``scan.py``, driven by ``Tokenizer.scan_plan``); see ``tokenizer.py`` for the
rules themselves."""

from __future__ import annotations

#: Reserved ids: padding, then out-of-vocabulary; vocabulary words from ``FIRST_WORD_ID``.
PAD_ID = 0
OOV_ID = 1
FIRST_WORD_ID = 2

#: Deleted before tokens are found, so "don't" and "don’t" are ``dont``.
APOSTROPHES = "'\u2019"

#: A token ``BREAK_WORD`` directly after ``BREAK_OPENER`` is an HTML line break (``<br>``,
#: ``<br/>``, ``<br />``), not a word, and is dropped.
BREAK_OPENER = "<"
BREAK_WORD = "br"
