"""MLflow's route beside ``rnnkit score``, on the same file, in one run:

    python -m benchmarks.mlflow_route [--rows 200000] [--model BUNDLE]

The bundle (default: the shipped model) is saved as an MLflow model (``rnnkit.mlflow``);
the harness's end-to-end CSV is then scored three ways, each a whole process (median of
three; peak memory of the process tree): ``rnnkit score``; ``mlflow models predict``
(``--env-manager local``, JSON out); and a Python script that loads the model with
``mlflow.pyfunc.load_model``, reads the CSV with pandas and writes Parquet. The table goes
to ``benchmarks/results/DATE-mlflow.md`` (and ``.json``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .__main__ import HERE, rnnkit_cmd, run_process, standalone

#: The Python route: what a notebook or a batch job does with a logged model.
PYFUNC_SCRIPT = """
import sys
import mlflow.pyfunc
import pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
frame = pd.read_csv(sys.argv[2], keep_default_na=False, na_values=[""])
model.predict(frame).to_parquet(sys.argv[3])
"""


def routes(src: Path, rows: int, bundle_path: str, work: Path) -> list[dict]:
    import rnnkit.mlflow

    saved = work / "mlflow-model"
    rnnkit.mlflow.save_model(bundle_path, saved)
    commands = {
        "rnnkit score, CSV out": rnnkit_cmd(
            src, bundle_path, "--id-column", "id", "--no-progress", "-o", str(work / "out.csv")
        ),
        "mlflow models predict (--env-manager local), JSON out": [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "predict",
            "-m",
            str(saved),
            "-i",
            str(src),
            "-t",
            "csv",
            "--env-manager",
            "local",
            "-o",
            str(work / "out.json"),
        ],  # fmt: skip
        "mlflow.pyfunc.load_model + pandas, Parquet out": [
            sys.executable,
            "-c",
            PYFUNC_SCRIPT,
            str(saved),
            str(src),
            str(work / "out.parquet"),
        ],  # fmt: skip
    }
    out = []
    for name, cmd in commands.items():
        wall, rss = sorted(run_process(cmd) for _ in range(3))[1]
        out.append(
            {
                "route": name,
                "rows": rows,
                "seconds": round(wall, 2),
                "reviews_per_s": round(rows / wall),
                "peak_rss_mib": round(rss),
            }
        )
    fastest = out[0]["reviews_per_s"]
    for row in out:
        row["vs_rnnkit_score"] = round(row["reviews_per_s"] / fastest, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.mlflow_route", description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--model", default=None, help="bundle (default: the shipped model)")
    ap.add_argument("--output", default=str(HERE / "results"))
    args = ap.parse_args()

    from rnnkit.runtime.model.bundle import Bundle

    bundle = str(Bundle.open(args.model).path)
    standalone(
        "mlflow", args.rows, args.output, lambda src, work: routes(src, args.rows, bundle, work)
    )


if __name__ == "__main__":
    main()
