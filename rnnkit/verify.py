"""``rnnkit verify``: the command-level choice between the two kinds of verification.

* light (``runtime.model.verify``): the recorded Keras outputs replayed through every
  installed runtime; no TensorFlow;
* heavy (``exporter.export.verify_bundle``): Keras re-run live, which also checks the
  recording against the ``.keras`` file.

It lives here, above both sides, so that the light package never imports the heavy one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .runtime.model.parity import ParityResult
from .runtime.model.verify import installed, verify_recorded


@dataclass
class VerifyReport:
    mode: str  # "live Keras" or "recorded Keras outputs"
    results: list[ParityResult]
    skipped: list[str]

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


def verify(path=None, *, atol: float | None = None, live: bool | None = None) -> VerifyReport:
    """``rnnkit verify``. ``live`` (default: when TensorFlow is installed) re-runs Keras and
    also checks the recording against the ``.keras`` file; otherwise the recorded outputs
    are replayed through every installed runtime."""
    if live is None:
        live = installed("tensorflow")
    if live:
        from .exporter.export import verify_bundle

        return VerifyReport("live Keras", verify_bundle(path, atol=atol), [])
    results, skipped = verify_recorded(path, atol=atol)
    return VerifyReport("recorded Keras outputs", results, skipped)
