"""The one place the version is written (``pyproject.toml`` reads its own)."""

__version__ = "0.1.0"
