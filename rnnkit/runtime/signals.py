"""SIGTERM and SIGINT as an exception, so that every partial file is removed on the way out.

Spark, Kubernetes, schedulers and Ctrl-C stop a run with SIGTERM or SIGINT. Python's
default for SIGTERM ends the process at once, leaving partial files behind. Inside
:func:`interruptible`, either signal raises :class:`Interrupted` in the main thread
instead: it derives from ``BaseException`` (as ``KeyboardInterrupt`` does), so ``except
Exception`` handlers let it through, and the cleanup in ``finally`` and ``except
BaseException`` blocks runs. The command line then exits with 128 + the signal's number,
as a shell reports a process killed by it.

A few steps must not be cut in half (renaming a finished bundle into place, committing an
export): :func:`deferred` holds a signal that arrives during them until they are done.
"""

from __future__ import annotations

import contextlib
import signal
import threading

HANDLED = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):
    """The run was stopped by a signal; ``exit_code`` is 128 + its number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_state = {"deferring": 0, "pending": None, "raised": False}


def _handler(signum, frame) -> None:
    if _state["deferring"]:
        _state["pending"] = _state["pending"] or signum
        return
    if _state["raised"]:  # cleanup is under way: a second signal must not cut it short
        return
    _state["raised"] = True
    raise Interrupted(signum)


@contextlib.contextmanager
def interruptible():
    """Within the block, SIGTERM and SIGINT raise :class:`Interrupted` (main thread only:
    elsewhere Python cannot install handlers, and the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in HANDLED}
    _state.update(deferring=0, pending=None, raised=False)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def deferred():
    """A signal that arrives within the block is raised when the block ends."""
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1
        pending = _state["pending"]
        if not _state["deferring"] and pending is not None and not _state["raised"]:
            _state["pending"] = None
            if signal.getsignal(pending) is _handler:
                _state["raised"] = True
                raise Interrupted(pending)
