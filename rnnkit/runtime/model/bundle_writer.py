"""The one way a bundle folder is written, and the folders it may replace.

A bundle is built in a partial folder beside its target and swapped in only when
complete; the bundle it replaces stays intact until then. rnnkit replaces only what it
made: an existing target must be an rnnkit bundle or an empty folder, and it is never the
current folder or one that holds it, the home folder, a filesystem root, or a folder that
holds one of the command's inputs (the model file, a tokenizer, the sample, the data).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import OverwriteError
from ..files import is_inside, partial_dir
from ..signals import deferred
from .bundle import Bundle
from .manifest import MANIFEST, SCHEMA, new_manifest
from .signature import Signature

_ADVICE = "give `output` a new folder name (rnnkit creates it)"


def is_rnnkit_bundle(folder: Path) -> bool:
    """Whether ``folder`` holds a ``manifest.json`` of rnnkit's schema."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("schema") == SCHEMA


def _protected() -> list[tuple[Path, str]]:
    """Folders no bundle may replace, nor any folder that holds them."""
    found = [(Path.cwd().resolve(), "the current folder")]
    with contextlib.suppress(RuntimeError, KeyError, OSError):  # no home: nothing to protect
        found.append((Path.home().resolve(), "your home folder"))
    return found


def check_bundle_target(out: str | os.PathLike, inputs: Iterable = ()) -> None:
    """Raise :class:`OverwriteError` unless writing a bundle to ``out`` destroys nothing
    that rnnkit did not make. ``inputs``: the command's input files (``None`` skipped)."""
    out = Path(out)
    where = out.resolve()
    if where.parent == where:
        raise OverwriteError(f"{out}: is a filesystem root; {_ADVICE}")
    for folder, name in _protected():
        if where == folder:
            raise OverwriteError(f"{out}: is {name}; a bundle is written as a folder of its "
                                 f"own and replaced whole, so {_ADVICE}")  # fmt: skip
        if folder.is_relative_to(where):
            raise OverwriteError(f"{out}: holds {name}; {_ADVICE}")
    for path in inputs:
        if path is not None and str(path) != "-" and is_inside(path, where):
            raise OverwriteError(
                f"{out}: holds {path}, one of this command's inputs; replacing the folder "
                f"would delete it, so {_ADVICE}"
            )
    if out.is_symlink():
        raise OverwriteError(f"{out}: is a symbolic link; give the folder itself, or a new one")
    if not out.exists():
        return
    if not out.is_dir():
        raise OverwriteError(f"{out}: is a file, not a bundle folder; {_ADVICE}")
    if any(out.iterdir()) and not is_rnnkit_bundle(out):
        raise OverwriteError(
            f"{out}: exists and is not an rnnkit bundle (no {MANIFEST} of rnnkit's); rnnkit "
            f"replaces only its own bundles or an empty folder, so {_ADVICE}"
        )


def _swap(work: Path, out: Path) -> None:
    """Put ``work`` at ``out``; the folder there is set aside first and removed last."""
    if not out.exists():
        os.replace(work, out)
        return
    old = partial_dir(out)  # an empty folder, which rename() may replace
    os.replace(out, old)
    try:
        os.replace(work, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def new_bundle_dir(out: str | os.PathLike, inputs: Iterable = ()):
    """A partial folder to write a bundle into; on success it replaces ``out``, on any
    failure (or signal) it is removed: a crash never leaves half a bundle."""
    out, inputs = Path(out), list(inputs)
    check_bundle_target(out, inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = None
    try:
        with deferred():  # a signal here is raised once ``work`` is known, so it is removed
            work = partial_dir(out)
        yield work
        with deferred():
            check_bundle_target(out, inputs)  # the folder may have changed meanwhile
            _swap(work, out)
    except BaseException:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        raise


def write_bundle(
    out: str | os.PathLike,
    inputs: Iterable,
    write_files: Callable[[Path], Signature],
    *,
    model: dict,
    versions: dict,
    metrics: dict,
    data: dict,
) -> Bundle:
    """The one sequence every bundle is written by (``train``, ``import``): a partial
    folder beside ``out``; ``write_files(folder)`` writes the model, tokenizer and parity
    files there and returns the signature; the manifest lists every file's hash; then the
    folder replaces ``out`` (see :func:`new_bundle_dir`)."""
    with new_bundle_dir(out, inputs) as work:
        signature = write_files(work)
        bundle = Bundle(work, new_manifest(signature, model, versions))
        bundle.manifest["metrics"] = metrics
        bundle.manifest["data"] = data
        for name in sorted(os.listdir(work)):
            bundle.record_file(name)
        bundle.write_manifest()
    bundle.path = Path(out)
    return bundle
