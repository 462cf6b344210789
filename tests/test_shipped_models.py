"""The shipped models: listed by ``rnnkit models``, chosen by name, and the second one
independently evaluated on the held-out split with the light runtime."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from rnnkit.cli import main
from rnnkit.runtime.model.bundle import Bundle
from rnnkit.runtime.model.locations import SHIPPED_NAME, shipped_names

SECOND = "imdb-bigru-conv"


def test_rnnkit_models_lists_every_shipped_model_the_default_first():
    assert shipped_names()[0] == SHIPPED_NAME and SECOND in shipped_names()
    res = CliRunner().invoke(main, ["models"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()[1:]
    assert lines[0].startswith(f"* {SHIPPED_NAME}") and "test accuracy 0.8432" in lines[0]
    assert any(line.startswith(f"  {SECOND}") and "Conv1D(128, 5, relu)" in line for line in lines)


def test_a_shipped_model_is_chosen_by_name_and_a_path_still_wins(tmp_path, monkeypatch):
    bundle = Bundle.open(SECOND)
    assert bundle.path.name == SECOND and bundle.reason == f"shipped model {SECOND}"
    monkeypatch.chdir(tmp_path)
    (tmp_path / SECOND).mkdir()  # a folder of that name here is what --model means
    with pytest.raises(Exception, match="manifest.json: missing"):
        Bundle.open(SECOND)


@pytest.mark.train
def test_the_second_shipped_model_reaches_089_on_the_held_out_split():
    """Independent of the manifest's figure: the light runtime scores the 5,000 held-out
    reviews from raw text, and the labels decide."""
    import rnnkit
    from rnnkit.training.data import load_split
    from rnnkit.training.model import TrainConfig

    bundle = Bundle.open(SECOND)
    split = load_split(seed=TrainConfig.from_dict(bundle.manifest["model"]["config"]).data_seed)
    probs = rnnkit.load(SECOND).predict(split.test_texts)
    accuracy = float(((probs >= 0.5) == (split.test_labels == 1)).mean())
    assert accuracy >= 0.89
    metrics = json.loads((bundle.path / "metrics.json").read_text())
    assert abs(accuracy - metrics["test_accuracy"]) < 1e-3  # the card's figure, reproduced
    assert np.isfinite(probs).all()
