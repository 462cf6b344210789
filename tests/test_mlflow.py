"""The MLflow flavor: a bundle logged to MLflow scores what ``rnnkit score`` scores, through
``pyfunc.load_model``, ``mlflow models predict`` and ``spark_udf``, offline."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow.csv as pv
import pytest
from click.testing import CliRunner

import rnnkit
import rnnkit.mlflow as rnnkit_mlflow
from rnnkit.cli import main
from rnnkit.runtime.errors import BundleError
from rnnkit.runtime.model.locations import shipped_bundle_path
from tests.test_signature import _three_class_bundle

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "reviews.csv"
RESULT = ["probability", "label", "status"]


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A local file store: MLflow 3 keeps it behind a switch (a database needs the full
    mlflow package; a tracking server, a network)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    yield
    mlflow.set_tracking_uri(None)


def _cli_scores(source: Path, *args: str) -> pd.DataFrame:
    res = CliRunner().invoke(main, ["score", str(source), "-q", *args])
    assert res.exit_code == 0, res.output
    return pd.read_csv(io.StringIO(res.stdout), keep_default_na=False, na_values=[""])


def _reviews() -> pd.DataFrame:
    """The sample as rnnkit reads it: a quoted empty field is an empty text, a bare one a
    missing text (pandas's reader makes both missing)."""
    options = pv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False)
    return pv.read_csv(SAMPLES, convert_options=options).to_pandas()


def _assert_same_scores(got: pd.DataFrame, want: pd.DataFrame, pandas_csv=False) -> None:
    statuses = want["status"].copy()
    if pandas_csv:  # MLflow reads a CSV with pandas: a quoted "" is a missing text there
        statuses[(_reviews()["review"] == "").to_numpy()] = "missing_text"
    assert got["status"].tolist() == statuses.tolist()
    assert got["label"].fillna("").tolist() == want["label"].fillna("").tolist()
    a, b = got["probability"].to_numpy(float), want["probability"].to_numpy(float)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.nanmax(np.abs(a - b)) <= 1e-6  # the CSV holds printed floats


def test_logged_bundle_scores_as_rnnkit_does(tracking):
    bundle = shipped_bundle_path()
    with mlflow.start_run():
        info = rnnkit_mlflow.log_model(bundle, name="sentiment")
    model = mlflow.pyfunc.load_model(info.model_uri)
    reviews = _reviews().rename(columns={"review": "text"})
    got = model.predict(reviews)
    assert list(got.columns) == RESULT
    want = rnnkit.load(bundle).predict(reviews["text"].tolist())
    np.testing.assert_array_equal(got["probability"].to_numpy(np.float32), want)
    _assert_same_scores(got, _cli_scores(SAMPLES, "--model", str(bundle)))
    assert set(got["status"]) >= {"ok", "missing_text", "empty_text"}
    # The signature: a string column in, the CLI's columns out, the threshold a parameter.
    meta = model.metadata
    assert meta.get_input_schema().input_names() == ["text"]
    assert meta.get_output_schema().input_names() == RESULT
    strict = model.predict(reviews, params={"threshold": 0.999})
    assert (strict["label"] == "positive").sum() < (got["label"] == "positive").sum()
    with pytest.raises(Exception, match="text"):  # MLflow enforces the input column
        model.predict(pd.DataFrame({"review": ["a fine film"]}))
    requirements = Path(mlflow.pyfunc.get_model_dependencies(info.model_uri))
    named = requirements.read_text().split()
    assert named[:2] == ["mlflow==" + mlflow.__version__, f"rnnkit=={rnnkit.__version__}"]
    assert "onnxruntime>=1.18" in named
    assert not [r for r in named if r.startswith(("tensorflow", "tf2onnx", "keras"))]


def test_a_multiclass_bundle_returns_one_column_per_class(tmp_path):
    bundle = _three_class_bundle(tmp_path / "stars")
    rnnkit_mlflow.save_model(bundle, tmp_path / "mlflow-stars")
    model = mlflow.pyfunc.load_model(str(tmp_path / "mlflow-stars"))
    got = model.predict(pd.DataFrame({"text": ["great fun film", "", "awful boring"]}))
    assert list(got.columns) == [*RESULT, "p_one", "p_two", "p_three"]
    want = rnnkit.load(bundle).predict(["great fun film", "", "awful boring"])
    np.testing.assert_array_equal(got[["p_one", "p_two", "p_three"]].to_numpy(), want)
    assert got["status"].tolist() == ["ok", "empty_text", "ok"]


def test_the_trust_checks_run_when_mlflow_loads_the_model(tmp_path):
    saved = tmp_path / "saved"
    rnnkit_mlflow.save_model(shipped_bundle_path(), saved)
    onnx = next(saved.glob("data/*/model.onnx"))
    data = bytearray(onnx.read_bytes())
    data[-100] ^= 0x01
    onnx.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.onnx"):
        mlflow.pyfunc.load_model(str(saved))


def test_save_refuses_a_broken_bundle_and_a_bundle_without_the_backend(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(shipped_bundle_path(), broken)
    (broken / "tokenizer.json").write_text("{}")
    with pytest.raises(BundleError, match="tokenizer.json"):
        rnnkit_mlflow.save_model(broken, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_mlflow_models_predict_through_its_cli(tmp_path):
    saved = tmp_path / "saved"
    rnnkit_mlflow.save_model(shipped_bundle_path(), saved, text_column="review")
    out = tmp_path / "predictions.json"
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", "models", "predict", "-m", str(saved),
         "-i", str(SAMPLES), "-t", "csv", "--env-manager", "local", "-o", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    got = pd.DataFrame(json.loads(out.read_text())["predictions"])
    _assert_same_scores(got, _cli_scores(SAMPLES), pandas_csv=True)


def test_spark_udf_scores_as_the_spark_engine(tmp_path):
    pytest.importorskip("pyspark", reason="needs the [spark] extra")
    from rnnkit.spark import score_dataframe, session
    from tests.test_spark import awkward_rows

    saved = tmp_path / "saved"
    rnnkit_mlflow.save_model(shipped_bundle_path(), saved)
    rows = awkward_rows(300, seed=7, prefix="u")
    spark = session("local[2]")
    try:
        df = spark.createDataFrame(pd.DataFrame(rows, columns=["id", "text"])).repartition(3)
        udf = mlflow.pyfunc.spark_udf(spark, str(saved), env_manager="local")  # types: MLmodel's
        by_udf = df.withColumn("s", udf("text")).select("id", "s.*").toPandas()
        by_engine = score_dataframe(df, "text", id_column="id").toPandas()
    finally:
        spark.stop()
    by_udf = by_udf.sort_values("id").reset_index(drop=True)
    by_engine = by_engine.sort_values("id").reset_index(drop=True)
    assert by_udf["id"].tolist() == by_engine["id"].tolist()
    assert set(by_engine["status"]) >= {"ok", "missing_text", "empty_text"}
    assert by_udf["status"].tolist() == by_engine["status"].tolist()
    np.testing.assert_array_equal(
        by_udf["probability"].to_numpy(np.float32), by_engine["probability"].to_numpy(np.float32)
    )
    scored = (by_engine["status"] == "ok").to_numpy()
    assert by_udf["label"][scored].tolist() == by_engine["label"][scored].tolist()
    # MLflow casts a struct's string fields with numpy, so a row without a score gets the
    # label "nan" instead of a null (docs/mlflow.md gives the one-line fix).
    assert by_engine["label"][~scored].isna().all()
    assert set(by_udf["label"][~scored]) <= {None, "nan"}
