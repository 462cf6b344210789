"""Inputs as they come (folders, globs, several files; CSV/TSV, Parquet, JSON Lines) and the
run summary with its drift check."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import rnnkit
from rnnkit.cli import main

ROWS = [
    ("r1", "A wonderful film, moving and funny."),
    ("r2", "Dull, slow and far too long."),
    ("r3", ""),
    ("r4", None),
    ("r5", "!!!"),
]


def write_all_formats(folder) -> dict[str, list[tuple[str, str | None]]]:
    """The same kind of rows in every format; returns what each file holds."""
    folder.mkdir(exist_ok=True)
    ids, texts = [r for r, _ in ROWS], [t for _, t in ROWS]

    def field(text):  # None: an unquoted empty field (missing); "": a quoted one
        return "" if text is None else '"' + text.replace('"', '""') + '"'

    (folder / "a.csv").write_text(
        "id,review\n" + "".join(f"{i},{field(t)}\n" for i, t in ROWS), encoding="utf-8"
    )
    (folder / "b.tsv").write_text(
        "review\tid\tn\n" + "".join(f"{field(t)}\t{i}\t{k}\n" for k, (i, t) in enumerate(ROWS)),
        encoding="utf-8",
    )
    pq.write_table(pa.table({"id": ids, "review": texts}), folder / "c.parquet", row_group_size=2)
    lines = "".join(json.dumps({"id": i, "review": t, "stars": 3}) + "\n" for i, t in ROWS)
    (folder / "d.jsonl.gz").write_bytes(gzip.compress(("\n" + lines).encode()))
    return {name: ROWS for name in ("a.csv", "b.tsv", "c.parquet", "d.jsonl.gz")}


def test_folder_of_mixed_formats(tmp_path):
    files = write_all_formats(tmp_path / "in")
    out = tmp_path / "out.parquet"
    summary = rnnkit.score_files(tmp_path / "in", out, keep_columns=True)
    table = pd.read_parquet(out)
    expected_sources = [str(tmp_path / "in" / f) for f in sorted(files) for _ in ROWS]
    assert table["source"].tolist() == expected_sources  # sorted files, rows in order
    assert table["id"].tolist() == list(range(5)) * 4  # row number within each file
    assert table["status"].tolist() == ["ok", "ok", "empty_text", "missing_text", "no_words"] * 4
    probs = table["probability"].to_numpy().reshape(4, 5)
    assert np.allclose(probs[:, :2], probs[0, :2], atol=1e-6)  # same text, same score
    assert set(table.columns) >= {"input_id", "review", "n", "stars"}
    assert summary.rows == 20 and all(v["rows"] == 5 for v in summary.files.values())


def test_glob_and_several_paths_with_id_column(tmp_path):
    write_all_formats(tmp_path)
    res = CliRunner().invoke(
        main,
        ["score", str(tmp_path / "*.csv"), str(tmp_path / "c.parquet"), "--id-column", "id",
         "--format", "jsonl", "-q"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["source"] for r in rows] == [str(tmp_path / "a.csv")] * 5 + [
        str(tmp_path / "c.parquet")
    ] * 5
    assert [r["id"] for r in rows] == [r for r, _ in ROWS] * 2


def test_single_file_has_no_source_column_and_forced_format(tmp_path):
    src = tmp_path / "reviews.txt"
    src.write_text('{"review": "great fun"}\n{"review": "awful"}\n')
    res = CliRunner().invoke(main, ["score", str(src), "-q"])
    assert res.exit_code == 2 and "--input-format" in res.output
    res = CliRunner().invoke(main, ["score", str(src), "--input-format", "jsonl", "-q"])
    assert res.exit_code == 0 and res.stdout.splitlines()[0] == (
        '"id","probability","label","status"'
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "bad.jsonl",
            b'{"review": "ok"}\n{"review": "no end}\n',
            "bad.jsonl: row 1 (0-based), line 2",
        ),
        ("list.jsonl", b'{"review": "ok"}\n[1, 2]\n', "expected a JSON object"),
        ("bad.parquet", b"PAR1 not really", "bad.parquet: not a readable Parquet file"),
        ("bad.csv", b"id,review\n1,ok\n2,x,y\n", "bad.csv: malformed CSV at row 1"),
    ],
)
def test_errors_name_the_file_among_several(tmp_path, name, content, message):
    write_all_formats(tmp_path / "in")
    (tmp_path / "in" / name).write_bytes(content)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(main, ["score", str(tmp_path / "in"), "-q", "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert message in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_missing_text_column_in_one_file_fails_before_writing(tmp_path):
    write_all_formats(tmp_path / "in")
    pd.DataFrame({"id": [1], "body2": ["x"]}).to_csv(tmp_path / "in" / "z.csv", index=False)
    res = CliRunner().invoke(
        main, ["score", str(tmp_path / "in"), "--text-column", "review", "-q", "-o", "x.csv"]
    )
    assert res.exit_code == 2 and "z.csv: no column 'review'" in res.output


def test_diagnostics_columns(tmp_path):
    model = rnnkit.load()
    long_text = "good " * 150
    texts = ["a fine film", "zzqx wubble a film", long_text, "", "?!"]
    src = tmp_path / "in.csv"
    pd.DataFrame({"text": texts}).to_csv(src, index=False)
    out = tmp_path / "out.parquet"
    rnnkit.score_files(src, out, diagnostics=True)
    table = pd.read_parquet(out)
    assert table["tokens"].tolist() == [3, 4, 150, 0, 0]  # words found, counted in full
    assert table["truncated"].tolist() == [False, False, True, False, False]
    oov = table["oov"].tolist()
    assert oov[0] == 0 and oov[1] == pytest.approx(0.5) and oov[2] == 0
    assert np.isnan(oov[3]) and np.isnan(oov[4])
    # Scores do not change with diagnostics on.
    plain = rnnkit.score_files(src, tmp_path / "plain.parquet")
    assert plain.rows == 5
    a = pd.read_parquet(tmp_path / "plain.parquet")["probability"]
    assert np.allclose(a, table["probability"], equal_nan=True)
    assert model.tokenizer.maxlen == 100


def test_summary_json_counts_add_up(tmp_path):
    write_all_formats(tmp_path / "in")
    path = tmp_path / "summary.json"
    res = CliRunner().invoke(
        main, ["score", str(tmp_path / "in"), "-o", str(tmp_path / "o.csv"), "--summary", str(path)]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(path.read_text())
    assert data["rows"] == 20 and data["scored"] == 8
    assert data["statuses"] == {
        "ok": 8, "missing_text": 4, "empty_text": 4, "no_words": 4, "no_model_output": 0
    }  # fmt: skip
    assert sum(data["labels"].values()) == 8 and sum(data["probability_histogram"]) == 8
    assert data["drift"]["training"]["rows"] == 5000 and data["drift"]["input"]["rows"] == 8
    assert data["bundle"].endswith("imdb-rnn") and data["seconds"] > 0
    assert len(data["files"]) == 4


GERMAN = (
    "Der Film war wirklich schön und die Schauspieler haben sehr gut gespielt",
    "Leider war die Geschichte langweilig und viel zu lang für einen Abend",
    "Ich habe selten so gelacht, die Dialoge sind witzig und die Musik passt",
    "Die Kamera wackelt ständig und das Ende ergibt überhaupt keinen Sinn",
    "Ein wunderbarer Abend im Kino mit Freunden, jederzeit wieder gerne",
)
TITLES = ("Wireless Mouse", "Coffee Grinder", "USB Cable", "Desk Lamp", "Phone Case", "Kettle")


def drift_run(tmp_path, texts):
    src = tmp_path / "in.csv"
    pd.DataFrame({"text": texts}).to_csv(src, index=False)
    return rnnkit.score_files(src, tmp_path / "out.csv")


def test_drift_warns_on_foreign_text(tmp_path):
    rng = random.Random(0)
    texts = [" ".join(rng.choice(GERMAN) for _ in range(6)) for _ in range(200)]
    summary = drift_run(tmp_path, texts)
    assert any("unknown to the model" in w for w in summary.warnings), summary.drift
    assert summary.drift["input"]["oov_share"] > 0.5


def test_drift_warns_on_one_line_titles(tmp_path):
    summary = drift_run(tmp_path, [random.Random(i).choice(TITLES) for i in range(200)])
    assert any("reviews are short" in w for w in summary.warnings), summary.drift


def test_drift_is_silent_on_held_out_imdb_reviews(tmp_path, imdb_texts):
    from rnnkit.runtime.model.bundle import Bundle

    ids, _ = Bundle.open().parity_set()
    assert len(ids) == 5000
    summary = drift_run(tmp_path, imdb_texts[::10][:2000])
    assert summary.warnings == [], summary.drift
    assert abs(summary.drift["input"]["oov_share"] - summary.drift["training"]["oov_share"]) < 0.01


def test_too_few_rows_never_warn(tmp_path):
    assert drift_run(tmp_path, list(TITLES)).warnings == []
