"""A custom ``standardize`` function of a ``TextVectorization`` layer, as data: the steps it
was traced to at import (``importer/standardize_trace.py``), run without TensorFlow.

Steps, in order, each one of TensorFlow's string ops:

* ``{"op": "lower"}``: ``tf.strings.lower`` (default encoding): ASCII letters only;
* ``{"op": "strip"}``: ``tf.strings.strip``: ASCII whitespace at both ends;
* ``{"op": "replace", "pattern": P, "rewrite": R, "global": G}``:
  ``tf.strings.regex_replace``. TF's regexes are RE2's. Only a subset whose meaning is the
  same in Python's ``re`` is taken: literal characters, escaped punctuation, ``\\t \\n \\r
  \\f \\v``, character classes of those (with ranges, not negated), and alternation of
  such sequences. No quantifiers, groups, anchors, dots or class shorthands (``\\s`` is
  ASCII in RE2 and Unicode in Python). The rewrite is literal text (no ``\\1``).

Two implementations, proven equal in the tests: the reference (Python: ``str.translate``,
``re``) and the fast path (Arrow's compute functions, whose regexes are RE2, as TF's are).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

#: RE2 escapes that are single characters, with the same meaning in Python.
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v"}
_SPECIAL = set(".^$*+?(){}[]|\\")
MAX_CLASS_CHARS = 4096
ASCII_WHITESPACE = " \t\n\v\f\r"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _escape(pattern: str, i: int) -> tuple[str, int]:
    """The literal character of the escape at ``pattern[i] == '\\'``, and the next index."""
    if i + 1 >= len(pattern):
        raise ValueError(f"pattern {pattern!r} ends in a lone backslash")
    ch = pattern[i + 1]
    if ch in _ESCAPES:
        return _ESCAPES[ch], i + 2
    if ch.isascii() and ch.isalnum():
        raise ValueError(
            f"pattern {pattern!r}: the escape \\{ch} is not in the subset rnnkit proves equal "
            "to RE2 (literals, escaped punctuation, \\t \\n \\r \\f \\v, classes of them)"
        )
    return ch, i + 2


def _class(pattern: str, i: int) -> tuple[frozenset, int]:
    """The characters of the class opening at ``pattern[i] == '['``, and the next index."""
    i += 1
    if pattern[i : i + 1] in ("^", "]") or pattern[i : i + 2] == "[:":
        raise ValueError(
            f"pattern {pattern!r}: negated, ']'-first or POSIX character classes are not "
            "in the subset rnnkit proves equal to RE2"
        )
    chars: set[str] = set()
    while True:
        if i >= len(pattern):
            raise ValueError(f"pattern {pattern!r}: a character class is not closed")
        ch = pattern[i]
        if ch == "]":
            return frozenset(chars), i + 1
        if ch == "[":
            raise ValueError(f"pattern {pattern!r}: '[' inside a class must be escaped")
        first, i = _escape(pattern, i) if ch == "\\" else (ch, i + 1)
        if pattern[i : i + 1] == "-" and pattern[i + 1 : i + 2] not in ("]", ""):
            last, i = _escape(pattern, i + 1) if pattern[i + 1] == "\\" else (pattern[i + 1], i + 2)
            if ord(last) < ord(first):
                raise ValueError(f"pattern {pattern!r}: the range {first}-{last} is reversed")
            if ord(last) - ord(first) >= MAX_CLASS_CHARS:
                raise ValueError(f"pattern {pattern!r}: a range of more than {MAX_CLASS_CHARS}")
            chars.update(chr(c) for c in range(ord(first), ord(last) + 1))
        else:
            chars.add(first)


@functools.lru_cache(maxsize=64)
def parse_pattern(pattern: str) -> tuple[tuple, ...]:
    """The pattern as alternatives, each a tuple of atoms (a character, or a frozenset for
    a class); ``ValueError`` naming what lies outside the proven subset."""
    alternatives, current, i = [], [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "|":
            alternatives.append(tuple(current))
            current, i = [], i + 1
        elif ch == "\\":
            atom, i = _escape(pattern, i)
            current.append(atom)
        elif ch == "[":
            atom, i = _class(pattern, i)
            current.append(atom)
        elif ch in _SPECIAL:
            raise ValueError(
                f"pattern {pattern!r}: {ch!r} (a quantifier, group, anchor or wildcard) is "
                "not in the subset rnnkit proves equal to RE2; escape it if it is meant "
                "literally"
            )
        else:
            current.append(ch)
            i += 1
    alternatives.append(tuple(current))
    if any(not alt for alt in alternatives):
        raise ValueError(f"pattern {pattern!r}: an empty alternative matches the empty string")
    return tuple(alternatives)


@functools.lru_cache(maxsize=64)
def python_regex(pattern: str) -> re.Pattern:
    """The same pattern for Python's ``re``, written from its parsed form."""

    def atom(a) -> str:
        if isinstance(a, frozenset):
            return "[" + "".join(re.escape(c) for c in sorted(a)) + "]"
        return re.escape(a)

    return re.compile("|".join("".join(atom(a) for a in alt) for alt in parse_pattern(pattern)))


def check_steps(steps: object) -> tuple[dict, ...]:
    """The steps of a spec document, checked (``ValueError`` names the first bad one)."""
    if not isinstance(steps, (list, tuple)) or not steps:
        raise ValueError("standardize steps must be a non-empty list")
    checked = []
    for n, step in enumerate(steps):
        if not isinstance(step, dict) or step.get("op") not in ("lower", "strip", "replace"):
            raise ValueError(f"standardize step {n}: not one of lower, strip, replace: {step!r}")
        if step["op"] == "replace":
            pattern, rewrite = step.get("pattern"), step.get("rewrite")
            if not isinstance(pattern, str) or not isinstance(rewrite, str):
                raise ValueError(f"standardize step {n}: replace needs pattern and rewrite")
            if "\\" in rewrite:
                raise ValueError(
                    f"standardize step {n}: the rewrite {rewrite!r} holds a backslash "
                    "(RE2's group references); rnnkit takes literal rewrites only"
                )
            if not isinstance(step.get("global"), bool):
                raise ValueError(f"standardize step {n}: replace needs global: true/false")
            parse_pattern(pattern)
        elif set(step) != {"op"}:
            raise ValueError(f"standardize step {n}: {step['op']} takes no parameters")
        checked.append(dict(step))
    return tuple(checked)


def describe(steps: Sequence[dict]) -> str:
    """The steps in one line, for the card."""
    words = []
    for step in steps:
        if step["op"] == "replace":
            words.append(f"replace {step['pattern']!r} -> {step['rewrite']!r}")
        else:
            words.append(step["op"])
    return ", then ".join(words)


def _through(value, steps: Sequence[dict], lower, strip, replace):
    """``value`` through every step, each op done by the given function: the one walk over
    the steps that both implementations share."""
    for step in steps:
        if step["op"] == "lower":
            value = lower(value)
        elif step["op"] == "strip":
            value = strip(value)
        else:
            value = replace(value, step["pattern"], step["rewrite"], step["global"])
    return value


def run_steps(text: str, steps: Sequence[dict]) -> str:
    """The reference: one text through every step (Python's ``re``)."""
    return _through(
        text, steps, lambda t: t.translate(_ASCII_LOWER), lambda t: t.strip(ASCII_WHITESPACE),
        lambda t, pattern, rewrite, every: python_regex(pattern).sub(
            lambda _m: rewrite, t, count=0 if every else 1
        ),
    )  # fmt: skip


def run_steps_arrow(texts, steps: Sequence[dict]):
    """The fast path: an Arrow string array through every step (Arrow's RE2, GIL-free)."""
    import pyarrow.compute as pc

    return _through(
        texts, steps, pc.ascii_lower, pc.ascii_trim_whitespace,
        lambda t, pattern, rewrite, every: pc.replace_substring_regex(
            t, pattern=pattern, replacement=rewrite, max_replacements=None if every else 1
        ),
    )  # fmt: skip
