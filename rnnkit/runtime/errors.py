"""rnnkit's one error hierarchy. Every message is written for the user (which file, row,
column, and the fix); ``exit_code`` is what the CLI exits with (1 data/bundle, 2 usage)."""


class RnnkitError(Exception):
    """Base class of every error rnnkit raises on purpose."""

    exit_code = 1


class DataError(RnnkitError):
    """Input data that cannot be read as promised (exit code 1)."""


class BundleError(RnnkitError):
    """A bundle that cannot be trusted or used; the message names the file and the reason."""


class ParityError(RnnkitError):
    """An exported model that does not say what the Keras model said."""


class NotExportedError(BundleError):
    """A bundle without the exported file a command needs (``fmt``/``variant``; ``None``:
    nothing exported yet). The CLI adds the export command that makes it."""

    def __init__(self, message: str, path, fmt: str | None = None, variant: str = "fp32"):
        super().__init__(message)
        self.path, self.fmt, self.variant = path, fmt, variant


class ExportError(RnnkitError):
    """A format that could not be converted; the formats that passed were written."""


class ModelFileError(RnnkitError):
    """A user's model or tokenizer file that rnnkit will not take in (the message says why)."""


class OverwriteError(RnnkitError):
    """An output that would replace or delete something rnnkit did not make: one of the
    command's inputs, the user's folder (exit code 1). Nothing was touched."""


class MissingExtraError(RnnkitError):
    """A feature needs an optional extra that is not installed (the message says which)."""


class UsageError(RnnkitError):
    """The command asked for something impossible: a missing column or file (exit 2)."""

    exit_code = 2


def format_problem(doc: dict, kind: str, version: int, key: str = "format") -> str | None:
    """What is wrong with a versioned rnnkit JSON document (``None``: nothing)."""
    if doc.get(key) != kind:
        return f"not an {kind} file ({key}={doc.get(key)!r})"
    if doc.get(f"{key}_version") != version:
        return (
            f"{key}_version {doc.get(f'{key}_version')} is not supported (this rnnkit "
            f"reads version {version})"
        )
    return None
