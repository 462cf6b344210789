"""Spark local mode: the same answers as single-machine `rnnkit score`, row for row."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import rnnkit
from rnnkit.cli import main

pytestmark = pytest.mark.spark
pyspark = pytest.importorskip("pyspark", reason="needs the [spark] extra")

PIECES = [
    "great",
    "awful",
    "film",
    "plot",
    ",",
    '"',
    "\n",
    "\r\n",
    "café",
    "naïve",
    "—",
    "don't",
    "<br />",
    "  ",
    "!!!",
    "Ünïcödé",
    "10/10",
    "😀",
    "the",
    "boring",
    "x" * 300,
]


def awkward_rows(n: int, seed: int, prefix: str) -> list[tuple[str, str | None]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.04:
            text = None  # unquoted empty field
        elif kind < 0.08:
            text = ""  # quoted empty field
        elif kind < 0.10:
            text = " \t "
        elif kind < 0.12:
            text = "?!... ---"
        else:
            text = " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 60)))
        rows.append((f"{prefix}-{i}", text))
    return rows


def write_csv(path, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write("id,review,extra\n")
        w = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        for rid, text in rows:
            if text is None:
                fh.write(f"{rid},,x\n")
            elif text == "":
                fh.write(f'{rid},"",x\n')
            else:
                w.writerow([rid, text, "x,y"])


@pytest.fixture(scope="module")
def spark():
    from rnnkit.spark import session

    s = session("local[2]")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reviews")
    for k in range(4):
        write_csv(folder / f"part{k}.csv", awkward_rows(750, seed=k, prefix=f"f{k}"))
    return folder


def single_machine(folder) -> pd.DataFrame:
    frames = []
    for path in sorted(folder.glob("*.csv")):
        out = path.with_suffix(".scored.parquet")
        rnnkit.score_files(path, out, id_column="id", workers=1)
        frames.append(pd.read_parquet(out))
        out.unlink()
    return pd.concat(frames, ignore_index=True)


def assert_same(spark_out: pd.DataFrame, local: pd.DataFrame) -> None:
    a = spark_out.sort_values("id").reset_index(drop=True)
    b = local.sort_values("id").reset_index(drop=True)
    assert len(a) == len(b) and a["id"].tolist() == b["id"].tolist()
    assert a["status"].tolist() == b["status"].tolist()
    assert a["label"].fillna("").tolist() == b["label"].fillna("").tolist()
    pa_, pb = a["probability"].to_numpy(float), b["probability"].to_numpy(float)
    assert np.array_equal(np.isnan(pa_), np.isnan(pb))
    assert np.nanmax(np.abs(pa_ - pb)) <= 1e-6


def test_spark_equals_single_machine_row_for_row(spark, files):
    from rnnkit.spark import read_reviews, score_dataframe

    df = read_reviews(spark, str(files / "*.csv"))
    assert df.count() == 3000  # multi-line quoted reviews are not split into extra rows
    out = score_dataframe(df, "review", id_column="id", partitions=4).toPandas()
    local = single_machine(files)
    assert set(local["status"]) == {"ok", "missing_text", "empty_text", "no_words"}
    assert_same(out, local)


def test_row_numbers_match_the_cli_for_one_file(spark, files):
    from rnnkit.spark import read_reviews, score_dataframe

    one = files / "part1.csv"
    out = score_dataframe(read_reviews(spark, str(one)), "review", partitions=3).toPandas()
    local = rnnkit.score_files(one, files / "one.parquet", workers=1)
    expected = pd.read_parquet(files / "one.parquet")
    assert local.rows == 750 and sorted(out["id"]) == list(range(750))
    assert_same(out, expected)


def test_cli_engine_spark_writes_csv_and_refuses_bad_input(spark, files, tmp_path):
    def on_spark(*args):
        return CliRunner().invoke(
            main, ["score", str(files / "part2.csv"), "--engine", "spark", *args]
        )

    target = tmp_path / "scores"
    res = on_spark(
        "--master", "local[2]", "--id-column", "id", "--format", "csv", "-o", str(target)
    )
    assert res.exit_code == 0, res.output
    assert "750 rows scored on Spark" in res.stderr
    written = pd.concat(pd.read_csv(p, keep_default_na=False) for p in target.glob("*.csv"))
    assert len(written) == 750 and set(written["status"]) >= {"ok", "missing_text"}
    res = on_spark("--text-column", "nope", "-o", str(tmp_path / "x"))
    assert res.exit_code == 2 and "no column 'nope'" in res.output
    res = on_spark()
    assert res.exit_code == 2 and "give it as --output" in res.output


def _mixed_folder(tmp_path):
    """Files whose columns differ (extra, missing optional, reordered, typed), in CSV, TSV,
    Parquet and JSON Lines, in one folder."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "mixed"
    folder.mkdir()
    rows = awkward_rows(300, seed=7, prefix="m")
    write_csv(folder / "a.csv", rows[:100])  # id, review, extra
    with open(folder / "b.csv", "w", newline="", encoding="utf-8") as fh:  # reordered, no extra
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["review", "id", "stars"])
        for rid, text in rows[100:150]:
            w.writerow([text if text is not None else "", rid, "5"])
    with open(folder / "c.tsv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["id", "review"])
        for rid, text in rows[150:200]:
            w.writerow([rid, " ".join((text or "x").split())])
    part = rows[200:250]
    table = pa.table(
        {
            "id": [r for r, _ in part],
            "review": [t for _, t in part],
            "stars": pa.array([k % 5 + 1 for k in range(len(part))], pa.int32()),  # b: text
            "tags": [["a", str(k)] for k in range(len(part))],
            "blob": [bytes([k, 0, 255]) for k in range(len(part))],
        }
    )
    pq.write_table(table, folder / "d.parquet")
    with open(folder / "e.jsonl", "w", encoding="utf-8") as fh:
        for rid, text in rows[250:]:
            fh.write(json.dumps({"id": rid, "review": text, "n": 1}) + "\n")
    return folder


def test_mixed_columns_and_formats_equal_single_machine(spark, tmp_path):
    """Scored per file and united by column name, on both engines."""
    from rnnkit.spark import read_reviews, score_dataframe

    folder = _mixed_folder(tmp_path)
    local_out = tmp_path / "local.parquet"
    summary = rnnkit.score_files(folder, local_out, id_column="id", keep_columns=True, workers=1)
    local = pd.read_parquet(local_out)
    assert summary.rows == 300 and set(summary.files) == {
        str(folder / f) for f in ("a.csv", "b.csv", "c.tsv", "d.parquet", "e.jsonl")
    }
    df = read_reviews(spark, str(folder), id_column="id")
    out = score_dataframe(df, id_column="id", keep_columns=True, partitions=3).toPandas()
    assert sorted(out["source"].unique()) == sorted(local["source"].unique())
    assert_same(out, local)
    a = out.set_index("id")[["source", "extra", "stars"]].sort_index()
    b = local.set_index("id")[["source", "extra", "stars"]].sort_index()
    assert a.fillna("<null>").equals(b.fillna("<null>"))


def test_one_request_gives_the_same_output_on_both_engines(spark, tmp_path):
    """The same ScoreRequest, scored by the local engine and by Spark (only the output
    path differs): every column of every row is the same, typed columns included."""
    import dataclasses

    from rnnkit import spark as rnnkit_spark
    from rnnkit.runtime.scoring.pipeline import score_request
    from rnnkit.runtime.scoring.request import ScoreRequest

    folder = _mixed_folder(tmp_path)
    request = ScoreRequest(
        str(folder), tmp_path / "local.parquet", id_column="id", keep_columns=True,
        diagnostics=True, format="parquet",
    )  # fmt: skip
    local_summary = score_request(request, workers=2)
    spark_summary = rnnkit_spark.score_request(
        dataclasses.replace(request, output=str(tmp_path / "spark")), partitions=3
    )
    import pyarrow.parquet as pq

    order = [("source", "ascending"), ("id", "ascending")]
    local = pq.read_table(tmp_path / "local.parquet").sort_by(order)
    remote = pq.read_table(tmp_path / "spark").sort_by(order)
    assert remote.column_names == local.column_names
    assert local.num_rows == remote.num_rows == 300
    for column in local.column_names:
        a, b = local[column].to_pylist(), remote[column].to_pylist()
        if column in ("probability", "oov"):
            x = np.array([np.nan if v is None else v for v in a], dtype=float)
            y = np.array([np.nan if v is None else v for v in b], dtype=float)
            assert np.array_equal(np.isnan(x), np.isnan(y)), column
            assert np.nanmax(np.abs(x - y)) <= 1e-6, column
        else:
            assert a == b, (column, [p for p in zip(a, b) if p[0] != p[1]][:3])
    assert local_summary.to_dict()["statuses"] == spark_summary.to_dict()["statuses"]


def test_spark_failure_names_the_file(spark, files, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('id,review\nb1,"fine"\nb2,too,many,fields\n')
    res = CliRunner().invoke(
        main,
        ["score", str(files / "part0.csv"), str(bad), "--engine", "spark", "--master",
         "local[2]", "--id-column", "id", "-o", str(tmp_path / "out")],
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    assert "Spark failed" in res.output and "bad.csv" in res.output
    assert "Malformed CSV record" in res.output and "Traceback" not in res.output


def test_spark_summary_equals_single_machine(spark, files, tmp_path):
    from rnnkit import spark as rs

    parts = str(files / "part*.csv")
    local = rnnkit.score_files(parts, tmp_path / "local.parquet", id_column="id", workers=1)
    remote = rs.score_files(
        parts, str(tmp_path / "spark"), id_column="id", master="local[2]",
        diagnostics=True, summary=tmp_path / "s.json",
    )  # fmt: skip
    for key in ("rows", "statuses", "labels", "probability_histogram", "files"):
        assert getattr(remote, key) == getattr(local, key), key
    assert remote.drift["input"] == local.drift["input"]
    assert remote.drift["warnings"] == local.drift["warnings"]
    written = pd.read_parquet(tmp_path / "spark")
    assert {"source", "tokens", "oov", "truncated"} <= set(written.columns)
    assert not any(c.startswith("__rnnkit") for c in written.columns)
    assert json.loads((tmp_path / "s.json").read_text())["engine"] == "spark"


@pytest.mark.parametrize(
    "case", ["dotdot_listed_file", "escaping_symlink", "external_data_outside"]
)
def test_spark_refuses_a_bundle_that_reaches_outside_its_folder(spark, files, tmp_path, case):
    import shutil

    from rnnkit.runtime.errors import BundleError
    from rnnkit.runtime.model.locations import shipped_bundle_path
    from rnnkit.spark import score_dataframe
    from tests import test_bundle_boundary as boundary

    shutil.copytree(shipped_bundle_path(), tmp_path / "bundle")
    bundle, reason = getattr(boundary, case)(tmp_path)
    res = CliRunner().invoke(
        main,
        ["score", str(files / "part0.csv"), "--engine", "spark", "--master", "local[2]",
         "--model", str(bundle), "-o", str(tmp_path / "out")],
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    assert reason in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()
    df = spark.read.option("header", True).csv(str(files / "part0.csv"))
    with pytest.raises(BundleError, match="Refusing the bundle"):
        score_dataframe(df, text_column="review", model=bundle)


def _local_and_spark(tmp_path, inputs_: list, fmt: str, *extra: str) -> tuple:
    tmp_path.mkdir(parents=True, exist_ok=True)
    local, far = tmp_path / f"local.{fmt}", tmp_path / "spark"
    args = [str(p) for p in inputs_] + list(extra)
    res = CliRunner().invoke(main, ["score", *args, "-q", "-o", str(local)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["score", *args, "-q", "--engine", "spark", "--master",
                                    "local[2]", "--format", fmt, "-o", str(far)])  # fmt: skip
    assert res.exit_code == 0, res.output
    if fmt == "parquet":
        return pd.read_parquet(local), pd.read_parquet(far)
    read = dict(dtype=str, keep_default_na=False)
    return pd.read_csv(local, **read), pd.concat(pd.read_csv(p, **read) for p in far.glob("*.csv"))


def test_typed_parquet_equals_single_machine_in_both_output_formats(spark, tmp_path):
    import shutil

    import pyarrow.parquet as pq

    from tests.test_inputs_as_written import typed_table

    pq_path = tmp_path / "typed.parquet"
    pq.write_table(typed_table(), pq_path)
    local, far = _local_and_spark(tmp_path, [pq_path], "parquet", "--keep-columns")
    local, far = (f.sort_values("id").reset_index(drop=True) for f in (local, far))
    assert list(local.columns) == list(far.columns)
    assert_same(far, local)
    native = [
        pq.read_table(p).sort_by("id") for p in (tmp_path / "local.parquet", tmp_path / "spark")
    ]
    for name in ("tags", "meta", "attrs", "seen", "price", "blob", "embedding"):
        assert native[0].schema.field(name).type == native[1].schema.field(name).type, name
        assert native[0].column(name).to_pylist() == native[1].column(name).to_pylist(), name
    (tmp_path / "local.parquet").unlink()
    shutil.rmtree(tmp_path / "spark")
    local, far = _local_and_spark(tmp_path, [pq_path], "csv", "--keep-columns")
    local, far = (f.sort_values("id").reset_index(drop=True) for f in (local, far))
    for name in ("tags", "meta", "attrs", "price", "blob", "embedding"):
        assert local[name].tolist() == far[name].tolist(), name


def test_utf16_semicolon_and_json_array_inputs_equal_single_machine(spark, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "excel.tsv").write_bytes(
        "review_id\treview\r\ne1\tA wonderful film, I loved it\r\ne2\tDull and slow\r\n".encode(
            "utf-16"
        )
    )
    (folder / "semi.csv").write_text(
        'review_id;review\r\n"s1";"Great; really great fun"\r\n"s2";"Awful, boring"\r\n'
    )
    (folder / "array.json").write_text(
        json.dumps([{"review_id": "j1", "review": "superb"}, {"review_id": "j2", "review": None}])
    )
    local, far = _local_and_spark(tmp_path, [folder], "parquet", "--id-column", "review_id")
    assert sorted(far["id"]) == ["e1", "e2", "j1", "j2", "s1", "s2"]
    assert_same(far, local)


def test_an_imported_three_class_model_gives_the_same_rows_and_columns(spark, tmp_path):
    """Both engines read the signature: label, probability and one p_<class> per class."""
    pytest.importorskip("tensorflow", reason="needs the [train] extra")
    import keras
    from keras import layers as L

    from rnnkit.exporter.export import export_bundle
    from rnnkit.importer.run import import_model
    from rnnkit.importer.tokenizers import RnnkitChoice
    from rnnkit.runtime.text.tokenizer import Tokenizer

    rows = awkward_rows(300, seed=9, prefix="s")
    Tokenizer.fit([t or "" for _, t in rows], 60, 10).save(tmp_path / "tok.json")
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((10,), dtype="int32"), L.Embedding(60, 4, mask_zero=True),
                              L.GRU(3), L.Dense(3, activation="softmax")])  # fmt: skip
    model.save(tmp_path / "stars.keras")
    bundle = tmp_path / "stars"
    import_model(tmp_path / "stars.keras", bundle, RnnkitChoice(str(tmp_path / "tok.json")),
                 labels="one,two,three", echo=lambda s: None)  # fmt: skip
    export_bundle(bundle, ("onnx",), echo=lambda s: None)
    write_csv(tmp_path / "in.csv", rows)
    local, far = _local_and_spark(
        tmp_path, [tmp_path / "in.csv"], "parquet", "--model", str(bundle), "--id-column", "id"
    )
    assert list(local.columns) == list(far.columns)
    assert {"p_one", "p_two", "p_three"} <= set(local.columns)
    assert_same(far, local)
    for column in ("p_one", "p_two", "p_three"):
        a = far.sort_values("id")[column].to_numpy(float)
        b = local.sort_values("id")[column].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)) and np.nanmax(np.abs(a - b)) <= 1e-6


@pytest.mark.parametrize("extra", [(), ("--columns", "stars"), ("--keep-text",)])
def test_both_engines_keep_the_same_columns_by_default_and_as_asked(spark, tmp_path, extra):
    """A newcomer's key travels with the scores, on both engines and in every format."""
    src = tmp_path / "in.csv"
    src.write_text('review_id,review,stars\nr1,"a fine film",5\nr2,"dull, far too long",1\n')
    for fmt in ("csv", "parquet"):
        local, far = _local_and_spark(tmp_path / fmt, [src], fmt, *extra)
        assert list(local.columns) == list(far.columns), (fmt, extra)
        kept = {(): ["review_id", "stars"], ("--columns", "stars"): ["stars"],
                ("--keep-text",): ["review_id", "review", "stars"]}[extra]  # fmt: skip
        assert list(local.columns)[-len(kept) :] == kept
        assert sorted(local[kept[0]].astype(str)) == sorted(far[kept[0]].astype(str))
