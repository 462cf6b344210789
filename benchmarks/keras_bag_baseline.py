"""A bag-of-n-grams bundle's model as Keras runs it on raw strings: its TextVectorization
(the bundle's vocabulary, n-grams, mode and idf weights) in front of the bundle's Keras
model, ``predict`` on the strings. Prints ``{"predict_seconds": s, "rows": n}`` as JSON.

Usage: python benchmarks/keras_bag_baseline.py BUNDLE INPUT.csv OUTPUT.csv
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def string_model(bundle_path: str):
    """The bundle's bag model with its vectorizer in front: strings in, as Keras runs it."""
    import keras
    import numpy as np

    from rnnkit.runtime.model.bundle import Bundle

    bundle = Bundle.open(bundle_path)
    spec = bundle.tokenizer()
    layer = keras.layers.TextVectorization(
        max_tokens=spec.depth, ngrams=spec.ngrams, output_mode=spec.output_mode,
        pad_to_max_tokens=True, standardize=spec.standardize, split=spec.split,
    )  # fmt: skip
    idf = None if spec.idf_weights is None else np.asarray(spec.idf_weights, np.float32)
    layer.set_vocabulary(list(spec.vocabulary[1:]), idf_weights=idf)
    numeric = keras.models.load_model(bundle.file("model.keras"), compile=False)
    inputs = keras.Input((), dtype="string")  # (1,) would give the bag a shape of (1, depth)
    return keras.Model(inputs, numeric(layer(inputs)))


def main(bundle: str, source: str, output: str) -> None:
    import pandas as pd
    import tensorflow as tf

    model = string_model(bundle)
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    strings = tf.constant(frame["text"].to_numpy())
    model.predict(strings[:1024], batch_size=1024, verbose=0)  # traced once, not timed
    start = time.perf_counter()
    probs = model.predict(strings, batch_size=1024, verbose=0)
    seconds = time.perf_counter() - start
    pd.DataFrame({"id": frame["id"], "probability": probs.reshape(-1)}).to_csv(output, index=False)
    print(json.dumps({"predict_seconds": seconds, "rows": len(frame)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
