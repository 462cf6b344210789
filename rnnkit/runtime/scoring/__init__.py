"""The scoring pipeline: results, summary and writers."""
