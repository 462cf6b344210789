"""The long-sequence models beside Keras, in one run:

    python -m benchmarks.long_sequences [--rows 10000]

Three models: the shipped ``imdb-bigru-conv`` (Conv1D(128, 5) and a BiGRU(32) over 600
steps), keras.io's "Bidirectional LSTM on IMDB" (Embedding(20000, 128), BiLSTM(64) twice,
200 steps), and the same with ``mask_zero=True`` (as TensorFlow's RNN tutorial), built
here with seeded weights, given an rnnkit tokenizer fitted on the embedded reviews, and
brought in with ``rnnkit import`` and ``rnnkit export`` as a user
would (speed does not depend on the weights' values). For each: Keras's ``predict`` (model
only, batch 256, the fastest of three processes; with TensorFlow's defaults, and with
oneDNN off as rnnkit trains), rnnkit's model only (token ids in, one caller), and
``rnnkit score`` end to end on the harness's CSV (its wall time and peak memory), then the
start-up: ``rnnkit score`` of a 3-row file, the second run of two. The table goes to
``benchmarks/results/DATE-long.md`` (and ``.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .__main__ import HERE, rnnkit_cmd, run_process, standalone, timed

#: Keras's predict on the parity set's ids, timed in a fresh process (argv: bundle, rows):
#: the fastest of three calls, so that Keras is not measured at its slowest.
KERAS_SCRIPT = """
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras, numpy as np
folder = sys.argv[1]
model = keras.models.load_model(os.path.join(folder, "model.keras"))
ids = np.load(os.path.join(folder, "parity-set.npz"))["ids"][: int(sys.argv[2])]
model.predict(ids[:256], batch_size=256, verbose=0)
best = float("inf")
for _ in range(3):  # the fastest of three: Keras's rate drifts from call to call
    start = time.perf_counter()
    model.predict(ids, batch_size=256, verbose=0)
    best = min(best, time.perf_counter() - start)
print(json.dumps({"rows": len(ids), "seconds": best}))
"""


def keras_io_bilstm(work: Path, texts: list[str], masked: bool = False) -> Path:
    """keras.io's BiLSTM, imported and exported into ``work/bilstm`` (``masked``: with
    ``mask_zero=True``, as TensorFlow's own RNN tutorial writes its BiLSTM, into
    ``work/bilstm-masked``)."""
    import keras
    from keras import layers as L

    from rnnkit.runtime.text.tokenizer import Tokenizer

    keras.utils.set_random_seed(0)
    inputs = keras.Input((200,), dtype="int32")
    x = L.Embedding(20_000, 128, mask_zero=masked)(inputs)
    x = L.Bidirectional(L.LSTM(64, return_sequences=True))(x)
    x = L.Bidirectional(L.LSTM(64))(x)
    model = keras.Model(inputs, L.Dense(1, activation="sigmoid")(x))
    name = "bilstm-masked" if masked else "bilstm"
    model.save(work / f"{name}.keras")
    Tokenizer.fit(texts, vocab_size=20_000, maxlen=200).save(work / f"{name}-tokenizer.json")
    out = work / name
    cli = [sys.executable, "-m", "rnnkit.cli"]
    subprocess.run(
        [*cli, "import", str(work / f"{name}.keras"), "--tokenizer",
         str(work / f"{name}-tokenizer.json"), "-o", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run([*cli, "export", str(out), "--format", "onnx"], check=True, capture_output=True)
    return out


#: Keras's rate is measured in this many processes, and the fastest is kept: from one
#: process to the next it moved by up to 40 % on this machine (1,048 and 1,427 reviews/s
#: for the BiLSTM in two runs of one afternoon), far more than from call to call.
KERAS_PROCESSES = 3


def keras_predict(folder: Path, rows: int, onednn: bool) -> float:
    """Keras's rows/s at its fastest: with TensorFlow's defaults (oneDNN on, as a user runs
    it), or with oneDNN off (as rnnkit trains, for repeatable sums)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn else "0"
    rates = []
    for _ in range(KERAS_PROCESSES):
        done = subprocess.run(
            [sys.executable, "-c", KERAS_SCRIPT, str(folder), str(rows)],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        timing = json.loads(done.stdout.strip().splitlines()[-1])
        rates.append(timing["rows"] / timing["seconds"])
    return max(rates)


def one_model(name: str, bundle_path: str, src: Path, rows: int, work: Path) -> dict:
    import rnnkit
    from rnnkit.runtime.model.bundle import Bundle

    bundle = Bundle.open(bundle_path)
    ids = np.load(bundle.path / "parity-set.npz")["ids"][:2048]
    keras_rate, keras_repeatable = (
        keras_predict(bundle.path, len(ids), onednn) for onednn in (True, False)
    )
    model = rnnkit.load(bundle.path)
    model_only = timed(lambda: model.predict_ids(ids), 3.0, len(ids))
    wall, rss = sorted(
        run_process(rnnkit_cmd(src, str(bundle.path), "--no-progress", "-o", str(work / "o.csv")))
        for _ in range(3)
    )[1]
    three = work / "three.csv"
    three.write_text("text\nA warm and funny film.\nDull and far too long.\nFine.\n")
    start_cmd = rnnkit_cmd(three, str(bundle.path), "-o", str(work / "three.out.csv"))
    run_process(start_cmd)
    started = time.perf_counter()
    run_process(start_cmd)
    start_up = time.perf_counter() - started
    form = bundle.manifest["formats"]["onnx"]["fp32"]["graph_form"]
    return {
        "model": name,
        "onnx form": form,
        "keras_predict_per_s": round(keras_rate),
        "keras_predict_onednn_off_per_s": round(keras_repeatable),
        "rnnkit_model_only_per_s": round(model_only),
        "score_end_to_end_per_s": round(rows / wall),
        "vs_keras_predict": round(rows / wall / keras_rate, 2),
        "vs_keras_onednn_off": round(rows / wall / keras_repeatable, 2),
        "score_3_rows_s": round(start_up, 2),
        "peak_rss_mib": round(rss),
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.long_sequences", description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--output", default=str(HERE / "results"))
    args = ap.parse_args()

    from rnnkit.runtime.model.locations import shipped_bundle_path
    from rnnkit.training.data import load_split

    def measure(src: Path, work: Path) -> list[dict]:
        texts = load_split(seed=42).train_texts
        bilstm, masked = (keras_io_bilstm(work, texts, m) for m in (False, True))
        return [
            one_model("imdb-bigru-conv", str(shipped_bundle_path("imdb-bigru-conv")), src,
                      args.rows, work),
            one_model("keras.io BiLSTM (imported)", str(bilstm), src, args.rows, work),
            one_model("the same, mask_zero=True", str(masked), src, args.rows, work),
        ]  # fmt: skip

    standalone("long_sequences", args.rows, args.output, measure)


if __name__ == "__main__":
    main()
