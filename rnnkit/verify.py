"""``rnnkit verify``: the command-level choice between the two kinds of verification.

* light (``runtime.model.replay``): the recorded Keras outputs replayed through every
  installed runtime; no TensorFlow;
* heavy (``exporter.export.check_live``): Keras re-run live, which also checks the
  recording against the ``.keras`` file.

It lives here, above both sides, so that the light package never imports the heavy one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .runtime.errors import ParityError
from .runtime.model.locations import resolve_bundle_path
from .runtime.model.parity import ParityResult
from .runtime.model.replay import installed, replay_recorded


@dataclass
class VerifyReport:
    mode: str  # "live Keras" or "recorded Keras outputs"
    results: list[ParityResult]
    skipped: list[str]
    #: The signature checked first (``None``: no public key was given).
    signed: Path | None = None

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def raise_for_failure(self) -> None:
        """Verification's rule: a bundle with nothing exported, or any failed check, fails
        (:class:`ParityError`, naming every failed check)."""
        if not self.results:
            raise ParityError("nothing to verify: the bundle has no exported models")
        if not self.passed:
            failed = "; ".join(r.describe() for r in self.results if not r.passed)
            raise ParityError(f"parity check failed: {failed}")


def verify(
    path=None,
    *,
    atol: float | None = None,
    live: bool | None = None,
    public_key: str | os.PathLike | None = None,
    signature: str | os.PathLike | None = None,
) -> VerifyReport:
    """``rnnkit verify``. With ``public_key``, the bundle's signature (default
    ``BUNDLE/model.sig``) is checked before anything else. ``live`` (default: when
    TensorFlow is installed) re-runs Keras and also checks the recording against the
    ``.keras`` file; otherwise the recorded outputs are replayed through every installed
    runtime."""
    signed = None
    if public_key is not None:
        from .runtime.model.signing import check_signature

        signed = check_signature(resolve_bundle_path(path)[0], public_key, signature=signature)
    if live is None:
        live = installed("tensorflow")
    if live:
        from .exporter.export import check_live

        return VerifyReport("live Keras", check_live(path, atol=atol), [], signed)
    results, skipped = replay_recorded(path, atol=atol)
    return VerifyReport("recorded Keras outputs", results, skipped, signed)
