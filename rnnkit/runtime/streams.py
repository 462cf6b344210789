"""Input bytes: a path, ``-`` (stdin) or gzip data (by magic bytes), decoded to UTF-8.

Read errors become :class:`DataError` naming the file: a truncated or corrupt gzip stream,
or text that is not in the named encoding.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import sys
import zlib
from pathlib import Path

from .errors import DataError, UsageError


class InputStream:
    """Bytes of a path, ``-`` (stdin) or gzip data (by magic bytes), as UTF-8.

    Read errors become :class:`DataError` naming the file: a truncated or corrupt gzip
    stream, or text that is not in ``encoding``.
    """

    def __init__(self, source: str | os.PathLike, encoding: str = "utf-8") -> None:
        try:
            codec = codecs.lookup(encoding)
        except LookupError as exc:
            raise UsageError(f"unknown --encoding {encoding!r}") from exc
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
        self._decoder = None if codec.name == "utf-8" else codec.incrementaldecoder()
        self.encoding = encoding

    def _read_raw(self, n: int) -> bytes:
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

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of UTF-8; ``b""`` only at the end."""
        while True:
            data = self._read_raw(n)
            if self._decoder is None:
                return data
            try:
                text = self._decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{self.name}: not valid {self.encoding} text ({exc.reason}); name the "
                    "file's encoding with --encoding"
                ) from exc
            if text or not data:
                return text.encode("utf-8")

    def close(self) -> None:
        if self._owned:
            self._raw.close()
