"""What the compiled scan (``scan.py``) needs from a tokenizer spec, without numba: the
character tables and the :class:`ScanPlan`. A spec builds its tables from its own
reference rules, so each rule stays written once."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ... import disk_cache

MAX_WORD = 128  # bytes; longer tokens are out of vocabulary without a lookup
TABLE_SIZE = 0x20000  # code points U+0000..U+1FFFF are classified; beyond: ``beyond``
#: Character classes. SKIP characters are deleted (an apostrophe, stripped punctuation):
#: inside a word they join its two halves, elsewhere they are nothing.
SEP, WORD, SKIP, REFERENCE = 0, 1, 2, 3

#: The scan's C entry points (``kernels``): each parameter's name and type, in order,
#: so that the compiled side and the ctypes caller (``scan``) agree from one list. Every
#: array is a pointer; its length travels in an ``n_`` parameter (or is implied: offsets
#: are n_rows + 1 long, out is n_rows x maxlen, buf is MAX_WORD bytes).
ENCODE_ROWS_ABI = (
    ("data", "u8*"), ("n_data", "i64"), ("offsets", "i64*"), ("n_rows", "i64"),
    ("maxlen", "i64"), ("limit", "i64"), ("keep_last", "i64"), ("pad_front", "i64"),
    ("start_id", "i64"), ("cls", "i8*"), ("low", "i32*"), ("n_table", "i64"),
    ("beyond", "i64"), ("table", "i32*"), ("n_slots", "i64"), ("blob", "u8*"),
    ("n_blob", "i64"), ("starts", "i64*"), ("lengths", "i64*"), ("ids", "i32*"),
    ("n_words", "i64"), ("oov_id", "i64"), ("long_words", "i64"), ("brk", "u8*"),
    ("n_brk", "i64"), ("opener", "i64"), ("out", "i32*"), ("counts", "i64*"),
    ("ref", "u8*"), ("buf", "u8*"),
)  # fmt: skip
BUILD_TABLE_ABI = (
    ("blob", "u8*"), ("n_blob", "i64"), ("starts", "i64*"), ("lengths", "i64*"),
    ("n_words", "i64"), ("table", "i32*"), ("n_slots", "i64"),
)  # fmt: skip
#: Fibonacci hashing's multiplier: the slot of an n-gram prefix's code in its table
#: (``bags._PrefixTable`` fills the tables, ``kernels.bag_rows`` reads them).
PREFIX_HASH_MULTIPLIER = 0x9E3779B97F4A7C15
#: Bags of n-grams from the scanned tokens (``bags.py``): the prefix tables of every level
#: concatenated (level j's slots from level_start[j], 2**level_bits[j] of them), the final
#: ids likewise (from final_start[j]); ``stamp`` is depth + 1 cells, all -1.
BAG_ROWS_ABI = (
    ("tokens", "i32*"), ("counts", "i64*"), ("n_rows", "i64"), ("width", "i64"),
    ("unigram", "i32*"), ("radix", "i64"), ("widths", "i64*"), ("n_widths", "i64"),
    ("level_codes", "i64*"), ("level_keys", "i64*"), ("n_level", "i64"),
    ("level_start", "i64*"), ("level_bits", "i64*"), ("level_probes", "i64*"),
    ("n_levels", "i64"), ("finals", "i32*"), ("n_finals", "i64"), ("final_start", "i64*"),
    ("distinct", "i64"), ("stamp", "i32*"), ("n_stamp", "i64"), ("pad", "i64"),
    ("out", "i32*"), ("out_width", "i64"), ("lengths", "i64*"),
)  # fmt: skip
#: Every entry point's ABI, by the name callers ask for.
ABIS = {"encode_rows": ENCODE_ROWS_ABI, "build_table": BUILD_TABLE_ABI, "bag_rows": BAG_ROWS_ABI}

_TABLES: dict[object, tuple[np.ndarray, np.ndarray]] = {}


def unicode_tables(key: object, classify: Callable[[str], tuple[int, str]]):
    """(class, lowercase code point) per code point below ``TABLE_SIZE``, from
    ``classify(char) -> (class, lowered char)``; kept under ``key`` (which must name every
    parameter of ``classify``'s rules) in memory and on disk. A lowercase that is not one
    code point, or depends on context (capital sigma), is REFERENCE.

    On disk because building them calls ``classify`` 131,072 times, Python holding the GIL
    at the start of every large run, where reading them back is a file read. The key holds
    the rules' source and Python's Unicode version: the module ``classify`` is written in
    and every module of this package, since a rule reads constants from its neighbours
    (rnnkit's reads its apostrophes from ``contract.py``)."""
    if key not in _TABLES:
        text = Path(__file__).parent.parent  # the text package, this one included
        rules = Path(sys.modules[classify.__module__].__file__)
        sources = sorted({rules, *text.rglob("*.py")})
        facts = [repr(key), unicodedata.unidata_version, sys.implementation.cache_tag]
        name = f"tables-{disk_cache.key_of(sources, facts)}.bin"
        blobs = disk_cache.cached(name, lambda: _build_tables(classify))
        cls = np.frombuffer(blobs[0].data, dtype=np.int8)
        low = np.frombuffer(blobs[1].data, dtype=np.int32)
        _TABLES[key] = (cls, low)
    return _TABLES[key]


def _build_tables(classify: Callable[[str], tuple[int, str]]) -> list[disk_cache.Blob]:
    cls = np.full(TABLE_SIZE, REFERENCE, dtype=np.int8)
    low = np.arange(TABLE_SIZE, dtype=np.int32)
    for cp in range(TABLE_SIZE):
        if 0xD800 <= cp <= 0xDFFF or cp == 0x3A3:
            continue  # surrogates never occur in valid UTF-8; sigma needs context
        kind, lowered = classify(chr(cp))
        if len(lowered) == 1:
            cls[cp], low[cp] = kind, ord(lowered)
    return [disk_cache.Blob({}, cls.tobytes()), disk_cache.Blob({}, low.tobytes())]


def ascii_tables(lower: bool, skip: str, space: str):
    """Tables for rules that touch ASCII only (TextVectorization): every other code point
    is a word character and stays as it is."""
    cls = np.full(TABLE_SIZE, WORD, dtype=np.int8)
    low = np.arange(TABLE_SIZE, dtype=np.int32)
    cls[0xD800:0xE000] = REFERENCE
    for c in skip:
        cls[ord(c)] = SKIP
    for c in space:
        cls[ord(c)] = SEP
    if lower:
        low[ord("A") : ord("Z") + 1] += 32
    return cls, low


@dataclass(frozen=True)
class ScanPlan:
    """Everything the scan needs from a spec."""

    words: tuple[str, ...]
    ids: tuple[int, ...]  # the id of each word; -1 drops it
    tables: tuple[np.ndarray, np.ndarray]
    maxlen: int
    keep_last: bool  # truncating "pre": the last maxlen tokens survive
    pad_front: bool  # padding "pre": zeros on the left
    oov_id: int  # a word not in the vocabulary; -1 drops it
    beyond: int = REFERENCE  # the class of code points past the tables
    start_id: int = -1  # an id every sequence starts with (-1: none)
    break_word: bytes = b""  # a word dropped when it directly follows ``break_opener``
    break_opener: int = -1
