"""What a newcomer reads: each message one line, at the right time, saying what to do."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnkit.cli import main

from .cli_process import command

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "reviews.csv"


def test_a_mistyped_model_name_lists_the_shipped_models_and_the_nearest():
    res = CliRunner().invoke(main, ["score", str(SAMPLES), "-m", "imdb-bigru"])
    assert res.exit_code == 1, res.output
    assert "did you mean imdb-bigru-conv?" in res.output and "imdb-rnn" in res.output
    assert "rnnkit models" in res.output and "Traceback" not in res.output


def test_a_missing_input_is_said_before_the_model_loads_and_without_a_usage_banner():
    proc = subprocess.run(command("score", "nope.csv"), capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "Error: nope.csv: no such file", proc.stderr
    assert "Usage:" not in proc.stderr and "rnnkit: model" not in proc.stderr


def test_a_bad_option_still_gets_clicks_usage_banner():
    res = CliRunner().invoke(main, ["score", str(SAMPLES), "--threshold", "2"])
    assert res.exit_code == 2 and "Usage:" in res.output


def test_the_run_line_gives_a_rate_only_when_it_means_something():
    res = CliRunner().invoke(main, ["score", str(SAMPLES), "-o", "/dev/null"])
    line = next(x for x in res.output.splitlines() if "rows:" in x)
    assert "25 rows: 21 scored" in line and "rows/s" not in line


def test_the_drift_line_reads_naturally():
    res = CliRunner().invoke(main, ["score", str(SAMPLES), "-o", "/dev/null"])
    line = next(x for x in res.output.splitlines() if "against training" in x)
    assert "median review over 100 words in both" in line, line
    assert "vs more than" not in line and "unknown words" in line


def test_a_long_model_loads_without_a_waiting_line():
    """imdb-bigru-conv (600 steps) loads in well under a second in its fused form: no line
    announces a wait, just the model line and the summary."""
    res = CliRunner().invoke(
        main, ["score", str(SAMPLES), "-m", "imdb-bigru-conv", "-o", "/dev/null"]
    )
    assert res.exit_code == 0, res.output
    assert "loading" not in res.output and "a few seconds" not in res.output
    assert res.output.splitlines()[0].startswith("rnnkit: model ")
    assert res.output.splitlines()[1].startswith("rnnkit: 25 rows: ")


def test_verify_is_as_quiet_as_export():
    """No TensorFlow log lines (absl, oneDNN) on stderr, with TensorFlow installed. The
    suite's own quieting (conftest) is taken out of the environment: a user has none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    proc = subprocess.run(command("verify"), capture_output=True, text=True, cwd="/tmp", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    noise = [x for x in proc.stderr.splitlines() if "oneDNN" in x or "absl" in x or "I0000" in x]
    assert not noise, noise


def test_an_option_the_chosen_tokenizer_does_not_read_is_refused_by_its_flag(tmp_path):
    """The library names the parameter (`skip_top`); the command line says the flag."""
    from rnnkit.importer.tokenizers import TokenizerOptions, tokenizer_choice
    from rnnkit.runtime.errors import UsageError

    with pytest.raises(UsageError, match="`skip_top`: not read by `keras_tokenizer`"):
        tokenizer_choice(keras_tokenizer="tok.json", options=TokenizerOptions(skip_top=3))
    args = ["import", str(tmp_path / "m.keras"), "--keras-tokenizer", "tok.json"]
    res = CliRunner().invoke(main, [*args, "--skip-top", "3", "-o", str(tmp_path / "b")])
    assert res.exit_code == 2, res.output
    assert "--skip-top: not read by --keras-tokenizer; only --imdb-word-index read" in res.output
