"""Session settings by the graph: its op types, read from the protobuf (the light side has
no ``onnx`` package), decide them, and scores do not depend on them."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.runtime.model.backends import OnnxBackend
from rnnkit.runtime.model.bundle import Bundle
from rnnkit.runtime.model.onnx_refs import graph_ops


@pytest.mark.parametrize("name, arena", [("imdb-rnn", False), ("imdb-bigru-conv", True)])
def test_the_graphs_ops_are_read_and_pick_the_settings(name, arena):
    onnx = pytest.importorskip("onnx")
    path = Bundle.open(name).format_file("onnx")
    assert graph_ops(path.read_bytes()) == [n.op_type for n in onnx.load(str(path)).graph.node]
    backend = OnnxBackend(path)
    options = backend.session.get_session_options()
    assert backend.arena is arena and options.enable_cpu_mem_arena is arena
    assert not backend.large_graph  # neither is unrolled step by step any more


def test_an_unrolled_long_sequence_gets_its_own_settings(tmp_path):
    """A long sequence unrolled (the layers form of imdb-bigru-conv): no graph optimisation
    and the arena on; its scores still replay Keras's recorded outputs."""
    pytest.importorskip("tensorflow", reason="needs the [train] extra")
    import keras
    import onnxruntime as ort

    from rnnkit.exporter.keras_graph import to_onnx
    from rnnkit.runtime.model.recording import recorded_inputs

    bundle = Bundle.open("imdb-bigru-conv")
    model = keras.models.load_model(bundle.path / "model.keras")
    inputs = recorded_inputs(bundle, rows=64)
    unrolled = to_onnx(model, inputs.ids.shape[1], 1).SerializeToString()
    backend = OnnxBackend(unrolled)
    options = backend.session.get_session_options()
    assert backend.large_graph and backend.arena
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    got = backend.predict_ids(inputs.ids)
    assert np.abs(got.astype(np.float64) - inputs.reference).max() <= 1e-5


def test_the_fused_graphs_settings_leave_its_scores_as_recorded():
    """imdb-bigru-conv (ONNX's own GRU op, the arena on) still replays Keras's recorded
    outputs within the export's tolerance (the load's own self-check, in full)."""
    import rnnkit
    from rnnkit.runtime.model.recording import recorded_inputs

    bundle = Bundle.open("imdb-bigru-conv")
    inputs = recorded_inputs(bundle, rows=256)
    got = rnnkit.load("imdb-bigru-conv").predict_ids(inputs.ids)
    assert np.abs(got.astype(np.float64) - inputs.reference).max() <= 1e-5


def test_rows_ordered_by_length_are_scored_together_and_come_back_in_their_order():
    """A long model's batches are made of rows of similar length (its graph may cut the
    padding they share); the outputs return to the rows' own order."""
    from concurrent.futures import ThreadPoolExecutor

    from rnnkit.runtime.model.backends import predict_in_batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 30, 23)
    ids = np.zeros((23, 30), dtype=np.int32)
    for row, n in zip(ids, lengths, strict=True):
        row[30 - n :] = rng.integers(2, 99, n)
    seen = []

    def predict(x):
        seen.append(np.count_nonzero(x, axis=1))
        return x.sum(axis=1, keepdims=True).astype(np.float32)

    with ThreadPoolExecutor(2) as pool:
        got = predict_in_batches(predict, ids, batch_size=4, map_calls=pool.map, pad_id=0)
    assert np.array_equal(got[:, 0], ids.sum(axis=1))
    assert np.array_equal(np.concatenate(sorted(seen, key=np.min)), np.sort(lengths))


@pytest.mark.parametrize("name, spread", [("imdb-bigru-conv", True), ("imdb-rnn", False)])
def test_a_long_models_calls_are_spread_over_the_scoring_threads(name, spread):
    """One block of a long model is scored on every core: its calls run on the model's own
    threads; a fast model's stay on its block's thread. The outputs are the same."""
    import threading

    import rnnkit
    from rnnkit.runtime.model.recording import recorded_inputs

    model = rnnkit.load(name)
    ids = recorded_inputs(model.bundle, rows=64).ids
    alone = model.predict_ids(ids)
    threads = set()
    predict = model.backend.predict_ids

    def recording(x):
        threads.add(threading.current_thread().name)
        return predict(x)

    model.backend.predict_ids = recording
    with model.spreading_calls(2):
        spread_out = model.predict_ids(ids)
    assert np.array_equal(spread_out, alone)
    assert all(t.startswith("rnnkit-model") for t in threads) is spread, threads
    assert spread or threads == {threading.current_thread().name}


def test_the_way_a_long_model_uses_the_cores_is_measured_once_and_kept(tmp_path, monkeypatch):
    """Callers side by side or threads inside one call: measured on this machine for a long
    model, kept in the disk cache and read from it the next time; a fast model is not
    measured (one caller per core)."""
    import rnnkit
    from rnnkit.runtime import disk_cache
    from rnnkit.runtime.model import parallelism

    monkeypatch.setattr(disk_cache, "cache_dirs", lambda: [tmp_path])  # only this test's
    chosen = rnnkit.load("imdb-bigru-conv").use_cores(2)
    rates = chosen.rates
    assert set(rates) == {"batches", "threads"} and min(rates.values()) > 0
    faster = max(rates, key=rates.get)
    assert (chosen.workers, chosen.threads) == ((2, 1) if faster == "batches" else (1, 2))
    assert len(list(tmp_path.glob("parallelism-*.json"))) == 1

    def no_probe(*args):
        raise AssertionError("measured again")

    monkeypatch.setattr(parallelism, "probe", no_probe)
    assert rnnkit.load("imdb-bigru-conv").use_cores(2) == chosen
    seed = rnnkit.load("imdb-rnn").use_cores(2)
    assert (seed.workers, seed.threads, seed.rates) == (2, 1, {})


def test_when_threads_measure_faster_one_caller_scores_on_a_threaded_session(
    tmp_path, monkeypatch, imdb_texts
):
    """The measurement's answer is what scoring does, and the scores do not change."""
    import pandas as pd

    from rnnkit.runtime import disk_cache
    from rnnkit.runtime.model import parallelism
    from rnnkit.runtime.scoring.pipeline import score_files

    monkeypatch.setattr(disk_cache, "cache_dirs", lambda: [tmp_path / "cache"])
    monkeypatch.setattr(parallelism, "probe", lambda *a: {"batches": 1.0, "threads": 2.0})
    src = tmp_path / "in.csv"
    texts = (imdb_texts * 2)[:900]  # over 1 MiB: large enough to be measured
    pd.DataFrame({"text": texts}).to_csv(src, index=False)
    assert src.stat().st_size > 1 << 20
    threaded = score_files(src, tmp_path / "a.csv", model="imdb-bigru-conv")
    assert threaded.parallelism == {
        "workers": 1, "threads": 2, "rates": {"batches": 1.0, "threads": 2.0}
    }  # fmt: skip
    asked = score_files(src, tmp_path / "b.csv", model="imdb-bigru-conv", workers=2)
    assert asked.parallelism == {"workers": 2, "threads": 1, "rates": {}}
    a, b = (pd.read_csv(tmp_path / f)["probability"].to_numpy() for f in ("a.csv", "b.csv"))
    assert len(a) == len(texts) and np.array_equal(a, b)
    import rnnkit

    model = rnnkit.load("imdb-bigru-conv")
    model.use_cores(2)
    assert model.backend.session.get_session_options().intra_op_num_threads == 2
