"""Session settings by the graph's size: the node count read from the protobuf (the light
side has no ``onnx`` package) decides them, and scores do not depend on them."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.runtime.model.backends import LARGE_GRAPH_NODES, OnnxBackend
from rnnkit.runtime.model.bundle import Bundle
from rnnkit.runtime.model.onnx_refs import graph_node_count


@pytest.mark.parametrize("name, large", [("imdb-rnn", False), ("imdb-bigru-conv", True)])
def test_the_node_count_is_the_graphs_and_picks_the_settings(name, large):
    onnx = pytest.importorskip("onnx")
    path = Bundle.open(name).format_file("onnx")
    count = graph_node_count(path.read_bytes())
    assert count == len(onnx.load(str(path)).graph.node)
    assert (count >= LARGE_GRAPH_NODES) is large
    backend = OnnxBackend(path)
    options = backend.session.get_session_options()
    assert backend.large_graph is large and options.enable_cpu_mem_arena is large


def test_a_large_graphs_settings_leave_its_scores_as_recorded():
    """imdb-bigru-conv, loaded with the large-graph settings, still replays Keras's
    recorded outputs within the export's tolerance (the load's own self-check, in full)."""
    import rnnkit
    from rnnkit.runtime.model.recording import recorded_inputs

    bundle = Bundle.open("imdb-bigru-conv")
    inputs = recorded_inputs(bundle, rows=256)
    got = rnnkit.load("imdb-bigru-conv").predict_ids(inputs.ids)
    assert np.abs(got.astype(np.float64) - inputs.reference).max() <= 1e-5
