"""Input bytes: a path, ``-`` (stdin) or gzip data (by magic bytes), decoded to UTF-8.

The encoding is ``encoding`` when given, else the one a byte-order mark names (UTF-8,
UTF-16 LE/BE, UTF-32 LE/BE: what Excel's "Unicode Text" and many Windows tools write), else
UTF-8. Read errors become :class:`DataError` naming the file: a truncated or corrupt gzip
stream, or text that is not in the encoding.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import sys
import zlib
from pathlib import Path

from ..errors import DataError, UsageError

#: Byte-order marks, longest first (UTF-32 LE starts with UTF-16 LE's mark).
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(head: bytes) -> tuple[str, bytes]:
    """The encoding a byte-order mark at the start of ``head`` names, and the mark
    (``("utf-8", b"")`` without one)."""
    return next(((name, bom) for bom, name in BOMS if head.startswith(bom)), ("utf-8", b""))


def wide_encoding_hint(data: bytes) -> str | None:
    """``encoding=utf-16-le`` (or -be, or UTF-32) when ``data`` looks like UTF-16 or
    UTF-32 text without a byte-order mark: a NUL in every other (or three of four) bytes,
    on the side its byte order says. ``None`` otherwise."""
    sample = data[:4096]
    if len(sample) < 4 or sample.count(0) * 4 < len(sample):
        return None
    if sample.count(0) * 8 >= len(sample) * 5:
        return "`encoding=utf-32-le`" if sample[0] else "`encoding=utf-32-be`"
    odd_nuls = sample[1::2].count(0) >= sample[0::2].count(0)
    return "`encoding=utf-16-le`" if odd_nuls else "`encoding=utf-16-be`"


def encoding_hint(data: bytes) -> str:
    """The ``encoding`` that bytes which are not UTF-8 suggest, for messages: a
    wide encoding where the NULs say so, else most likely a Windows or Latin code page."""
    return wide_encoding_hint(data) or "`encoding=cp1252` (Windows) or `encoding=latin-1`"


class InputStream:
    """Bytes of a path, ``-`` (stdin) or gzip data (by magic bytes), as UTF-8.

    ``encoding``: ``None`` reads the byte-order mark (dropped), else UTF-8. Read errors
    become :class:`DataError` naming the file: a truncated or corrupt gzip stream, or text
    that is not in the encoding.
    """

    def __init__(self, source: str | os.PathLike, encoding: str | None = None) -> None:
        try:
            codec = codecs.lookup(encoding or "utf-8")
        except LookupError as exc:
            raise UsageError(f"unknown `encoding` {encoding!r}") from exc
        self._owned = str(source) != "-"
        if not self._owned:
            self.name, self._raw = "<stdin>", sys.stdin.buffer
            if not hasattr(self._raw, "peek"):  # e.g. a test harness's BytesIO
                self._raw = io.BufferedReader(self._raw)
        else:
            path = Path(source)
            if not path.is_file():
                raise UsageError(f"{path}: no such file")
            self.name, self._raw = str(path), open(path, "rb")  # noqa: SIM115 - see close()
        self._file = self._raw
        if self._raw.peek(2)[:2] == b"\x1f\x8b":
            self._file = gzip.GzipFile(fileobj=self._raw, mode="rb")
        self._pending = b""  # decoded bytes read ahead by peek()
        self._raw_pending = b""  # raw bytes read ahead to look for a byte-order mark
        self._from_bom = False
        if encoding is None:
            head = self._read_raw(4)
            name, bom = bom_encoding(head)
            codec = codecs.lookup(name)
            self._raw_pending = head if name != "utf-8" else head[len(bom) :]
            self._from_bom = bool(bom)
        self._decoder = None if codec.name == "utf-8" else codec.incrementaldecoder()
        #: The encoding in force, for messages (UTF-16's and UTF-32's decoders drop the mark).
        self.encoding = codec.name

    def _read_raw(self, n: int) -> bytes:
        if self._raw_pending:
            data, self._raw_pending = self._raw_pending, b""
            return data
        try:
            return self._file.read(n)
        except EOFError as exc:
            raise DataError(
                f"{self.name}: the gzip stream is truncated (the file ends before the "
                "end-of-stream marker); the file was cut short, copy or export it again"
            ) from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise DataError(f"{self.name}: corrupt gzip data ({exc})") from exc
        except OSError as exc:
            raise DataError(f"{self.name}: cannot read ({exc})") from exc

    def peek(self, n: int) -> bytes:
        """Up to ``n`` bytes of UTF-8 from here on, without consuming them."""
        while len(self._pending) < n:
            more = self._decoded(n - len(self._pending))
            if not more:
                break
            self._pending += more
        return self._pending[:n]

    def first_nonspace(self, limit: int = 1 << 20) -> bytes:
        """The first byte that is not ASCII whitespace (``b""``: none in ``limit`` bytes)."""
        size = 64
        while True:
            head = self.peek(size)
            stripped = head.lstrip()
            if stripped or len(head) < size or size >= limit:
                return stripped[:1]
            size *= 4

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of UTF-8; ``b""`` only at the end."""
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        return self._decoded(n)

    def _decoded(self, n: int) -> bytes:
        while True:
            data = self._read_raw(n)
            if self._decoder is None:
                return data
            try:
                text = self._decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                if self._from_bom:
                    why = (
                        f"not valid {self.encoding} text ({exc.reason}), the encoding its "
                        "byte-order mark names; is this a text file? If it is, name its "
                        "encoding with `encoding`"
                    )
                else:
                    why = (
                        f"not valid {self.encoding} text ({exc.reason}); name the file's "
                        f"encoding, e.g. {encoding_hint(data)}"
                    )
                raise DataError(f"{self.name}: {why}") from exc
            if text or not data:
                return text.encode("utf-8")

    def close(self) -> None:
        if self._owned:
            self._raw.close()
