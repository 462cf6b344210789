"""Where the calling thread's time goes while ``score_files`` runs (issue: the serial stage).

    python -m benchmarks.main_thread reviews.csv

The calling thread reads, cuts and writes while the scoring threads parse, tokenize and run
the model; on a 2-core machine every second it spends is taken from them. This wraps the
calling thread's stages with timers (the scoring threads are left alone) and prints the
seconds each took, beside the run's total and its start-up (until the first block is back).
"""

from __future__ import annotations

import collections
import functools
import sys
import tempfile
import threading
import time
from pathlib import Path

STAGES = {
    "rnnkit.runtime.io.csvio": ["quoted_spans", "last_break_outside"],
    "rnnkit.runtime.io.csvio.CsvRecords": ["_fill", "_take"],  # _take counts line ends
    "rnnkit.runtime.scoring.pipeline": ["result_batch"],
    "rnnkit.runtime.scoring.writers.ResultSink": ["write"],
}


def main() -> None:
    import importlib

    import rnnkit

    spent: collections.Counter = collections.Counter()
    calling = threading.main_thread()
    for where, names in STAGES.items():
        module, _, last = where.rpartition(".")
        if last[0].isupper():  # a class in a module
            owner = getattr(importlib.import_module(module), last)
        else:
            owner = importlib.import_module(where)
        for name in names:
            original = getattr(owner, name)

            @functools.wraps(original)
            def timed(*args, _original=original, _name=name, **kwargs):
                if threading.current_thread() is not calling:
                    return _original(*args, **kwargs)
                start = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    spent[_name] += time.perf_counter() - start

            setattr(owner, name, timed)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = rnnkit.score_files(sys.argv[1], Path(tmp) / "out.csv")
        total = time.perf_counter() - start
    startup = summary.timing["first_block_at"] - summary.timing["started_at"]
    print(f"{summary.rows:,} rows in {total:.2f} s; first block back after {startup:.2f} s")
    for name, seconds in spent.most_common():
        print(f"  {name:20s} {seconds:.3f} s")
    print(f"  {'(calling thread)':20s} {sum(spent.values()):.3f} s")


if __name__ == "__main__":
    main()
