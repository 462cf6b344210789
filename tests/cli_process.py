"""The ``rnnkit`` console entry, run in a fresh interpreter (exit codes, signals, stderr)."""

from __future__ import annotations

import sys

#: ``[python, -c, RUN_CLI, *args]`` runs the console entry with ``args``.
RUN_CLI = "import sys; from rnnkit.cli import run; sys.argv = ['rnnkit', *sys.argv[1:]]; run()"


def command(*args: str) -> list[str]:
    return [sys.executable, "-c", RUN_CLI, *args]
