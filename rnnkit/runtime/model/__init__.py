"""The model bundle, its signature, inference backends and self-checks."""
