"""rnnkit's benchmark harness: ``python -m benchmarks [--quick]`` (needs the train extra)."""
