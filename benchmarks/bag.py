"""The bag-of-bigrams table alone (the full harness's ``--bag`` section), in one run:

    python -m benchmarks.bag BUNDLE [--rows 200000]

BUNDLE is a bag-of-n-grams bundle (``rnnkit train --recipe bow-bigram``). The harness's
end-to-end file (every embedded review, repeated to ``--rows``) is scored by ``rnnkit
score`` (median of three) and by Keras's own ``predict`` on the same raw strings; the
table goes to ``benchmarks/results/DATE-bag.md`` (and ``.json``).
"""

from __future__ import annotations

import argparse

from .__main__ import HERE, bag_model, standalone


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bag", description=__doc__)
    ap.add_argument("bundle")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--output", default=str(HERE / "results"))
    args = ap.parse_args()

    standalone("bag", args.rows, args.output, lambda src, _: bag_model(src, args.rows, args.bundle))


if __name__ == "__main__":
    main()
