"""What a user would write without rnnkit: pandas + the reference tokenizer + Keras predict.

Usage: python benchmarks/keras_baseline.py BUNDLE INPUT.csv OUTPUT.csv
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(bundle: str, source: str, output: str) -> None:
    import keras
    import pandas as pd

    from rnnkit.runtime.text.tokenizer import Tokenizer

    model = keras.models.load_model(os.path.join(bundle, "model.keras"), compile=False)
    tok = Tokenizer.load(os.path.join(bundle, "rnnkit-tokenizer.json"))
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    # The reference tokenizer, as a user without rnnkit's compiled scan would have it.
    ids = tok.encode(frame["text"].tolist(), compiled=False)
    probs = model.predict(ids, batch_size=1024, verbose=0)
    pd.DataFrame({"id": frame["id"], "probability": probs.reshape(-1)}).to_csv(output, index=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])
