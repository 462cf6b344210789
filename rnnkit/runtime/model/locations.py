"""Where a bundle is found: a path, a shipped model's name, ``$RNNKIT_MODEL``,
``./rnnkit-model``, the shipped default."""

from __future__ import annotations

import os
from pathlib import Path

from .manifest import MANIFEST

SHIPPED_NAME = "imdb-rnn"
#: Where ``rnnkit train`` writes and where ``export``/``score`` look when no path is given.
DEFAULT_BUNDLE_DIR = "rnnkit-model"
ENV_MODEL = "RNNKIT_MODEL"


def shipped_models_dir() -> Path:
    """Where the shipped, pretrained bundles are.

    Installed, inside the package (``rnnkit/models/``); in a source checkout (including one
    that shadows an installed rnnkit), the top-level ``models/``.
    """
    package = Path(__file__).resolve().parents[2]  # rnnkit/, from rnnkit/runtime/model/
    for candidate in (package / "models", package.parent / "models"):
        if (candidate / SHIPPED_NAME / MANIFEST).is_file():
            return candidate
    return package / "models"  # absent: Bundle.open names the path


def shipped_bundle_path(name: str = SHIPPED_NAME) -> Path:
    """A shipped bundle by name (the default: the seed's model)."""
    return shipped_models_dir() / name


def bundle_names(folder: Path) -> list[str]:
    """The names of the bundles directly inside ``folder`` (folders with a manifest), sorted."""
    return sorted(p.parent.name for p in Path(folder).glob(f"*/{MANIFEST}"))


def shipped_hint(path) -> str:
    """For a bare name that is no folder: the shipped models, and the nearest one."""
    if path is None or len(Path(path).parts) != 1:
        return ""
    import difflib

    names = shipped_names()
    near = difflib.get_close_matches(str(path), names, n=1, cutoff=0.5)
    return (
        f" and no shipped model of that name{f' (did you mean {near[0]}?)' if near else ''}; "
        f"shipped: {', '.join(names)} (rnnkit models lists them)"
    )


def shipped_names() -> list[str]:
    """The shipped bundles' names, the default first."""
    return sorted(bundle_names(shipped_models_dir()), key=lambda name: name != SHIPPED_NAME)


def resolve_bundle_path(path: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Which bundle to use, and why: explicit path (or a shipped model's name, where no such
    path exists), $RNNKIT_MODEL, ./rnnkit-model, the shipped default."""
    if path is not None:
        if not Path(path).exists() and str(path) in shipped_names():
            return shipped_bundle_path(str(path)), f"shipped model {path}"
        return Path(path), "given"
    if os.environ.get(ENV_MODEL):
        return Path(os.environ[ENV_MODEL]), f"${ENV_MODEL}"
    local = Path.cwd() / DEFAULT_BUNDLE_DIR
    if (local / MANIFEST).is_file():
        return local, f"./{DEFAULT_BUNDLE_DIR} (written by rnnkit train)"
    return shipped_bundle_path(), "shipped default"
