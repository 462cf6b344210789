"""User-facing errors of the light side; the CLI maps them to exit codes."""


class RnnkitError(Exception):
    """Base class: the message is written for the user (which file, row, column, fix)."""

    exit_code = 1


class DataError(RnnkitError):
    """The input data cannot be read as promised (exit code 1)."""

    exit_code = 1


class UsageError(RnnkitError):
    """The command was asked for something impossible: a missing column or file (exit 2)."""

    exit_code = 2
