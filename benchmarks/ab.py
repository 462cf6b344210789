"""A/B: ``rnnkit score`` from two or more source trees, interleaved run by run.

This machine's speed drifts by 10-40 % over hours, so a change is measured against a
checkout of the commit before it (``git worktree add /tmp/before HEAD~1``) in alternating
runs, never against a figure from another hour::

    python -m benchmarks.ab /tmp/before . --file e2e_200000.csv --runs 7 \
        --score-args "--id-column id"

Each run is a fresh process (``python -m rnnkit.cli score FILE -o OUT --summary S``) with
``PYTHONPATH`` set to the tree. Reported per tree, as medians with the range: the whole
run's wall time, and from the run summary's timing, when the model was ready and when the
first block came back scored (seconds from launch). The first round warms the page cache
and each tree's compiled-code cache, and is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(
    tree: Path, src: Path, work: Path, extra: list[str]
) -> tuple[float, float, float, int]:
    summary = work / "summary.json"
    cmd = [sys.executable, "-m", "rnnkit.cli", "score", str(src), "-q", *extra]
    cmd += ["-o", str(work / "out.csv"), "--summary", str(summary)]
    start = time.time()
    subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree, check=True)
    wall = time.time() - start
    result = json.loads(summary.read_text())
    timing = result["timing"]
    return wall, timing["model_ready_at"] - start, timing["first_block_at"] - start, result["rows"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="+", type=Path, help="source trees (checkouts)")
    parser.add_argument("--file", type=Path, required=True, help="the CSV to score")
    parser.add_argument("--runs", type=int, default=5, help="counted runs per tree")
    parser.add_argument(
        "--score-args", default="", help='more options for rnnkit score, e.g. "--id-column id"'
    )
    args = parser.parse_args()
    results: dict[Path, list] = {tree: [] for tree in args.trees}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.runs + 1):
            for tree in args.trees:
                extra = args.score_args.split()
                measured = run_once(tree.resolve(), args.file.resolve(), Path(tmp), extra)
                if round_:
                    results[tree].append(measured)
    print("| tree | wall s | reviews/s | model ready s | first block back s |")
    print("|---|---|---|---|---|")
    for tree, runs in results.items():
        cells = []
        for values in list(zip(*runs))[:3]:
            cells.append(f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})")
        rate = runs[0][3] / statistics.median(r[0] for r in runs)
        print(f"| {tree} | {cells[0]} | {rate:,.0f} | {cells[1]} | {cells[2]} |")


if __name__ == "__main__":
    main()
