"""Derived data that every process would otherwise rebuild (the scan's machine code, its
Unicode tables), kept on disk under a key of everything it was derived from.

A file holds named byte blobs, each with JSON metadata, behind a header that gives every
blob's size and SHA-256; a file that is truncated, altered or of another format reads as
missing and is rebuilt. Files are written atomically (a temporary file, then a rename), so
processes that start together never read half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

FORMAT = 1


@dataclass(frozen=True)
class Blob:
    meta: dict
    data: bytes


def key_of(sources: Iterable[Path], facts: Iterable[str]) -> str:
    """A key for data derived from ``sources`` (their bytes) under ``facts`` (versions,
    the CPU, ...)."""
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_bytes())
    digest.update("|".join([str(FORMAT), *facts]).encode())
    return digest.hexdigest()[:32]


def cache_dirs() -> list[Path]:
    """Where files are looked for and written, first choice first: ``RNNKIT_CACHE_DIR``,
    beside this package's code (as Python's own bytecode), the user's cache folder."""
    dirs = [Path(os.environ["RNNKIT_CACHE_DIR"])] if os.environ.get("RNNKIT_CACHE_DIR") else []
    dirs.append(Path(__file__).with_name("__pycache__"))
    try:
        user = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except (RuntimeError, KeyError):  # no home folder to be found (a bare container)
        return dirs
    dirs.append(Path(user) / "rnnkit")
    return dirs


def cached(name: str, build: Callable[[], list[Blob]]) -> list[Blob]:
    """The blobs in file ``name`` from the first cache folder that has it intact, else
    ``build()``, written to the first folder that takes it (none: built again next time)."""
    dirs = cache_dirs()
    for directory in dirs:
        blobs = _read(directory / name)
        if blobs is not None:
            return blobs
    blobs = build()
    for directory in dirs:
        try:
            _write(directory / name, blobs)
            break
        except OSError:
            continue
    return blobs


def _read(path: Path) -> list[Blob] | None:
    try:
        with path.open("rb") as f:
            header = json.loads(f.readline())
            if header.get("format") != FORMAT:
                return None
            blobs = []
            for entry in header["blobs"]:
                data = f.read(entry["size"])
                if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    return None
                blobs.append(Blob(entry["meta"], data))
            return blobs if not f.read(1) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write(path: Path, blobs: list[Blob]) -> None:
    entries = [
        {"meta": b.meta, "size": len(b.data), "sha256": hashlib.sha256(b.data).hexdigest()}
        for b in blobs
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps({"format": FORMAT, "blobs": entries}).encode() + b"\n")
            for b in blobs:
                f.write(b.data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
