"""How rnnkit writes files without destroying anything it did not make.

* Strict JSON: a missing number is ``null``, never a bare ``NaN`` that ``JSON.parse``,
  ``jq`` and most libraries reject.
* Partial files and folders are written beside their target under a name that says whose
  they are, ``.<target>.rnnkit-<host>-<pid>-<random>.partial``, and renamed into place
  when complete. A run killed with SIGKILL cannot clean up; the next run to the same
  target removes such leftovers, but only those of its own pattern, made on this host by
  a process that no longer exists (a concurrent run's partial file is left alone).
* Two names are the same file when they are the same inode: symlinks and hard links
  included (``first_same_file``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .signals import deferred

PARTIAL_SUFFIX = ".partial"


def finite(value):
    """``value`` with every non-finite float (NaN, ±inf) replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def json_text(value, *, indent: int | None = 2, end: str = "\n") -> str:
    """Strict JSON text of ``value`` (non-finite numbers as ``null``), then ``end``."""
    return json.dumps(finite(value), indent=indent, ensure_ascii=False, allow_nan=False) + end


def _host() -> str:
    # Dashes stay (the pattern reads the pid from the right); path separators cannot.
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "host"


def _prefix(target: Path) -> str:
    return f".{target.name}.rnnkit-{_host()}-{os.getpid()}-"


def _pattern(target: Path) -> re.Pattern:
    return re.compile(
        rf"\.{re.escape(target.name)}\.rnnkit-(?P<host>.+)-(?P<pid>\d+)-[A-Za-z0-9_]+"
        rf"{re.escape(PARTIAL_SUFFIX)}"
    )


def partial_file(target: Path):
    """``(binary stream, path)`` of a new partial file beside ``target``."""
    remove_stale_partials(target)
    fd, path = tempfile.mkstemp(prefix=_prefix(target), suffix=PARTIAL_SUFFIX, dir=target.parent)
    return os.fdopen(fd, "wb"), Path(path)


@contextlib.contextmanager
def replacing(target: Path):
    """A binary stream to a partial file beside ``target``, renamed to ``target`` when the
    block ends without an error, and removed when it ends with one (or a signal)."""
    path = None
    try:
        with deferred():  # a signal here is raised once ``path`` is known, so it is removed
            stream, path = partial_file(target)
        with stream:
            yield stream
        os.chmod(path, 0o644)  # mkstemp's 0600 would keep the file from its group
        os.replace(path, target)
    except BaseException:
        if path is not None:
            path.unlink(missing_ok=True)
        raise


def partial_dir(target: Path) -> Path:
    """A new partial folder beside ``target`` (mode 0755, as a folder made by mkdir)."""
    remove_stale_partials(target)
    path = Path(tempfile.mkdtemp(prefix=_prefix(target), suffix=PARTIAL_SUFFIX, dir=target.parent))
    os.chmod(path, 0o755)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale_partials(target: Path) -> list[Path]:
    """Remove what a killed run to ``target`` left: partial files and folders of rnnkit's
    pattern, made on this host by a process that is gone. Returns what was removed."""
    pattern, host, removed = _pattern(target), _host(), []
    try:
        names = os.listdir(target.parent)
    except OSError:
        return removed
    for name in names:
        found = pattern.fullmatch(name)
        if not found or found["host"] != host or _alive(int(found["pid"])):
            continue
        path = target.parent / name
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def first_same_file(target: str | os.PathLike, paths: Iterable[str | os.PathLike]):
    """The first of ``paths`` that is the same file as ``target`` (``None``: none is)."""
    mine = _identity(target)
    if mine is None:
        return None
    return next((p for p in paths if _identity(p) == mine), None)


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` resolves (symlinks followed) to ``folder`` or somewhere under it."""
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, RuntimeError):
        return False
