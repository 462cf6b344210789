"""Input readers: sources, formats, bytes and blocks, all as Arrow batches."""
