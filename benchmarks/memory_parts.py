"""Where ``rnnkit score``'s memory goes, part by part (issue 21).

    python -m benchmarks.memory_parts BUNDLE reviews.csv

Loads what scoring loads, one part at a time, in the order scoring needs them, and prints
(as JSON) the process's proportional set size after each part; the last row is the
high-water mark of the resident set while the file is scored into Parquet. Run in a fresh
process: each figure is what that part adds on top of the ones before it.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import psutil


def pss_mib() -> float:
    info = psutil.Process().memory_full_info()
    return getattr(info, "pss", info.rss) / 2**20


def high_water_mib() -> float:
    """This process's peak resident set. Not ``getrusage``'s ``ru_maxrss``: Linux carries
    that over ``exec`` from the parent (the harness, with TensorFlow loaded)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    bundle_path, src = sys.argv[1], sys.argv[2]
    rows = [{"part": "Python interpreter (+ psutil)", "pss_mib": pss_mib()}]

    def step(part: str) -> None:
        rows.append({"part": part, "pss_mib": pss_mib()})

    import numpy  # noqa: F401

    step("numpy")
    import pyarrow.compute  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    step("pyarrow (csv, compute, parquet)")
    import onnxruntime  # noqa: F401

    step("onnxruntime")
    import rnnkit.cli  # noqa: F401
    from rnnkit.runtime.model.bundle import Bundle
    from rnnkit.runtime.model.classifier import TextClassifier
    from rnnkit.runtime.scoring.pipeline import score_files

    step("rnnkit's modules (and click)")
    model = TextClassifier(Bundle.open(bundle_path))
    step("the model: bundle, tokenizer, inference session, self-check")
    import llvmlite.binding  # noqa: F401

    step("llvmlite (LLVM's library; numba is not loaded)")
    model.tokenizer.warm_up()
    step("the compiled scan loaded (tables, machine code)")
    with tempfile.TemporaryDirectory() as tmp:
        score_files(src, Path(tmp) / "out.parquet", model=bundle_path)
    peak = high_water_mib()
    step("after scoring the file")
    rows.append({"part": "peak resident set while scoring (RSS, not PSS)", "pss_mib": peak})
    out, before = [], 0.0
    for r in rows[:-1]:
        out.append({**r, "pss_mib": round(r["pss_mib"]), "added_mib": round(r["pss_mib"] - before)})
        before = r["pss_mib"]
    out.append({**rows[-1], "pss_mib": round(rows[-1]["pss_mib"])})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
