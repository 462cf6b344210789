"""The bag-of-bigrams table alone (the full harness's ``--bag`` section), in one run:

    python -m benchmarks.bag BUNDLE [--rows 200000]

BUNDLE is a bag-of-n-grams bundle (``rnnkit train --recipe bow-bigram``). The harness's
end-to-end file (every embedded review, repeated to ``--rows``) is scored by ``rnnkit
score`` (median of three) and by Keras's own ``predict`` on the same raw strings; the
table goes to ``benchmarks/results/DATE-bag.md`` (and ``.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

from .__main__ import HERE, bag_model, machine, make_csv, write_results


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bag", description=__doc__)
    ap.add_argument("bundle")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--output", default=str(HERE / "results"))
    args = ap.parse_args()

    from rnnkit.training.data import load_split

    split = load_split(seed=42)
    res = {"date": dt.datetime.now().strftime("%Y-%m-%d"), "quick": False, "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        src = make_csv(split.train_texts + split.test_texts, args.rows, Path(tmp) / "e2e.csv")
        res["bag"] = bag_model(src, args.rows, args.bundle)
    write_results(res, args.output, f"{res['date']}-bag")


if __name__ == "__main__":
    main()
