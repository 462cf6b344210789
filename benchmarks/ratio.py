"""The issue-21 ratio, measured several times in a row, to see its spread on this machine.

    python -m benchmarks.ratio e2e_200000.csv --repeat 4

Each repetition does what one harness run does for the ratio: ``rnnkit score`` on FILE
three times (the median wall time, launch to exit), then every part alone and all of them
on every core at once (:func:`benchmarks.__main__.parts`). A machine whose speed wanders
moves the end-to-end run and the parts independently, so one harness run's ratio can land
far from its usual value; the repetitions show how far.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from .__main__ import parts, rnnkit_cmd, run_process

RATIOS = ("end to end / what the parts allow", "end to end / what busy cores allow")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ratio", description=__doc__)
    ap.add_argument("file", type=Path, help="the CSV to score (columns id, text)")
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--model", default=None, help="bundle (default: the shipped model)")
    args = ap.parse_args()

    import pyarrow.csv as pacsv

    from rnnkit.runtime.model.bundle import Bundle

    bundle = Bundle.open(args.model)
    rows = pacsv.read_csv(
        args.file, convert_options=pacsv.ConvertOptions(include_columns=["id"])
    ).num_rows
    seen: dict[str, list[float]] = {k: [] for k in RATIOS}
    for rep in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = rnnkit_cmd(args.file, str(bundle.path), "--id-column", "id", "--no-progress")
            cmd += ["-o", f"{tmp}/out.csv"]
            wall = statistics.median(run_process(cmd)[0] for _ in range(3))
        rate = round(rows / wall)
        e2e = [{"pipeline": "rnnkit score (ONNX)", "reviews_per_s": rate}]
        got = {r["part"]: r["value"] for r in parts(bundle, args.file, e2e, 2.0)}
        for k in RATIOS:
            seen[k].append(got[k])
        print(
            f"{rep + 1}: end to end {wall:.2f} s ({rate:,}/s); parts "
            f"{got['sum: one review through every part']} µs/review; "
            + "; ".join(f"{k}: {got[k]}" for k in RATIOS),
            flush=True,
        )
    for k, v in seen.items():
        print(f"{k}: {min(v)}-{max(v)} (median {statistics.median(v)})")


if __name__ == "__main__":
    main()
