"""Files as users' tools write them: Parquet with nested and typed columns, Excel's UTF-16
and semicolon CSVs, JSON arrays; and a cheap error path. (Spark: tests/test_spark.py.)"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import rnnkit
from rnnkit.cli import main

REVIEWS = ["A wonderful, moving film with a superb cast", "Dull, slow and badly acted", None]


def typed_table() -> pa.Table:
    """What real Parquet tables carry besides the text: ids, embeddings, tags, metadata
    structs, maps, timestamps, decimals and bytes."""
    return pa.table(
        {
            "id": pa.array([10, 11, 12], pa.int64()),
            "review": REVIEWS,
            "tags": pa.array([[1, 2], [], None], pa.list_(pa.int64())),
            "meta": pa.array(
                [{"a": 1, "b": "x"}, {"a": 2, "b": None}, None],
                pa.struct([("a", pa.int64()), ("b", pa.string())]),
            ),
            "attrs": pa.array([[("k", 1)], [], None], pa.map_(pa.string(), pa.int64())),
            "seen": pa.array(
                [dt.datetime(2024, 1, 2, 3, 4, 5), None, dt.datetime(2020, 1, 1)],
                pa.timestamp("us"),
            ),
            "price": pa.array(
                [decimal.Decimal("1.50"), None, decimal.Decimal("-2.25")], pa.decimal128(10, 2)
            ),
            "blob": pa.array([b"\x00\xff", None, b"abc"], pa.binary()),
            "embedding": pa.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], pa.list_(pa.float32())),
        }
    )


@pytest.fixture
def typed_parquet(tmp_path) -> Path:
    path = tmp_path / "typed.parquet"
    pq.write_table(typed_table(), path)
    return path


def _score(args: list[str]) -> str:
    res = CliRunner().invoke(main, ["score", *args, "-q"])
    assert res.exit_code == 0, res.output
    return res.stdout


def test_parquet_with_nested_columns_scores(typed_parquet):
    out = _score([str(typed_parquet), "--columns", ""]).splitlines()
    assert out[0] == '"id","probability","label","status"'
    assert [line.split(",")[-1] for line in out[1:]] == ['"ok"', '"ok"', '"missing_text"']


def test_kept_typed_columns_stay_native_in_parquet(typed_parquet, tmp_path):
    out = tmp_path / "scores.parquet"
    _score([str(typed_parquet), "--keep-columns", "--id-column", "id", "-o", str(out)])
    got = pq.read_table(out)
    source = typed_table()
    for name in ("tags", "meta", "attrs", "seen", "price", "blob", "embedding"):
        assert got.schema.field(name).type == source.schema.field(name).type, name
        assert got.column(name).to_pylist() == source.column(name).to_pylist(), name
    assert got.column("input_id").to_pylist() == ["10", "11", "12"]  # the id column: text


def test_kept_typed_columns_become_json_text_in_csv_and_jsonl(typed_parquet):
    lines = _score([str(typed_parquet), "--keep-columns", "--format", "jsonl"]).splitlines()
    first = json.loads(lines[0])
    assert json.loads(first["tags"]) == [1, 2]
    assert json.loads(first["meta"]) == {"a": 1, "b": "x"}
    assert json.loads(first["attrs"]) == {"k": 1}
    assert json.loads(first["embedding"]) == [0.1, 0.2]  # float32's shortest text
    assert base64.b64decode(first["blob"]) == b"\x00\xff"
    assert first["seen"].startswith("2024-01-02") and first["price"] == 1.5
    assert json.loads(json.loads(lines[1])["meta"]) == {"a": 2, "b": None}
    csv_out = _score([str(typed_parquet), "--keep-columns"]).splitlines()
    assert '"[1,2]","{""a"":1,""b"":""x""}","{""k"":1}"' in csv_out[1]


def test_parquet_reads_only_the_columns_it_needs(typed_parquet, monkeypatch):
    """Keeping no column, only the text (and id) column is read from Parquet."""
    read = []
    original = pq.ParquetFile.iter_batches

    def spy(self, *args, columns=None, **kw):
        read.append(columns)
        return original(self, *args, columns=columns, **kw)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    _score([str(typed_parquet), "--id-column", "id", "--columns", ""])
    assert read == [["id", "review"]]


def test_a_column_whose_files_disagree_on_type_is_text(typed_parquet, tmp_path):
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "x1", "review": "great", "tags": "none"}) + "\n")
    out = tmp_path / "both.parquet"
    _score([str(typed_parquet), str(other), "--keep-columns", "-o", str(out)])
    got = pq.read_table(out)
    assert got.schema.field("tags").type == pa.large_string()
    assert got.column("tags").to_pylist() == ["[1,2]", "[]", None, "none"]
    assert got.schema.field("meta").type == typed_table().schema.field("meta").type


EXCEL_ROWS = [("r1", "A wonderful film; I loved it"), ("r2", 'Terrible, "awful" acting')]


def _delimited(sep: str, quote_all: bool = False) -> str:
    def field(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if quote_all or sep in v or '"' in v else v

    lines = [sep.join(map(field, ("review_id", "review")))]
    lines += [sep.join(map(field, row)) for row in EXCEL_ROWS]
    return "\r\n".join(lines) + "\r\n"


def _labels(stdout: str) -> list[str]:
    return [line.split(",")[2] for line in stdout.splitlines()[1:]]


@pytest.mark.parametrize(
    ("name", "encoding", "sep"),
    [
        ("excel-unicode-text.tsv", "utf-16", "\t"),  # Excel "Unicode Text": UTF-16LE + BOM
        ("utf16be.csv", "utf-16-be-bom", ","),
        ("utf32.csv", "utf-32", ","),
        ("utf8-bom.csv", "utf-8-sig", ","),
    ],
)
def test_encodings_are_taken_from_the_byte_order_mark(tmp_path, name, encoding, sep):
    text = _delimited(sep)
    data = (
        b"\xfe\xff" + text.encode("utf-16-be")
        if encoding == "utf-16-be-bom"
        else text.encode(encoding)
    )
    (tmp_path / name).write_bytes(data)
    expected = _score([str(_utf8_copy(tmp_path, text, name))])
    assert _score([str(tmp_path / name)]) == expected
    assert _labels(expected) == ['"positive"', '"negative"']


def _utf8_copy(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / f"utf8-{name}"
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_utf16_without_a_mark_gets_the_right_hint(tmp_path):
    path = tmp_path / "nobom.csv"
    path.write_bytes(_delimited(",").encode("utf-16-le"))
    res = CliRunner().invoke(main, ["score", str(path), "-q"])
    assert res.exit_code == 1
    assert "--encoding utf-16-le" in res.output and "latin-1" not in res.output


def test_latin1_text_gets_a_code_page_hint(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("id,review\n1,caf\xe9 au lait is great\n".encode("latin-1"))
    res = CliRunner().invoke(main, ["score", str(path), "-q"])
    assert res.exit_code == 1 and "row 0 (0-based), column 'review'" in res.output
    assert "--encoding cp1252" in res.output


@pytest.mark.parametrize("sep", [";", "|", "\t"])
def test_delimiter_is_detected_from_a_csv_header(tmp_path, sep):
    path = tmp_path / "export.csv"
    path.write_text(_delimited(sep, quote_all=True), encoding="utf-8", newline="")
    expected = _score([str(_utf8_copy(tmp_path, _delimited(","), "comma.csv"))])
    assert _score([str(path)]) == expected


def test_a_one_column_csv_keeps_the_comma(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("review\nGreat; really great\nAwful | boring\n", encoding="utf-8")
    assert len(_score([str(path)]).splitlines()) == 3


def test_a_json_array_scores_like_json_lines(tmp_path):
    rows = [{"id": "a", "review": REVIEWS[0]}, {"id": "b", "review": None},
            {"id": "c", "review": REVIEWS[1], "n": 3}]  # fmt: skip
    array, lines = tmp_path / "export.json", tmp_path / "same.jsonl"
    array.write_text("  \n" + json.dumps(rows, indent=2))
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _score([str(array), "--keep-columns"]) == _score([str(lines), "--keep-columns"])


def test_a_json_array_names_its_bad_element(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"review": "fine"}, ["not", "an", "object"]]))
    res = CliRunner().invoke(main, ["score", str(path), "-q"])
    assert res.exit_code == 1
    assert "row 1 (0-based), element 1: expected a JSON object, got list" in res.output


def test_a_malformed_small_file_fails_without_loading_the_compiler(tmp_path):
    path = tmp_path / "bad.csv"
    rows = "".join(f'{i},"review {i}"\n' for i in range(8))
    path.write_text("id,review\n" + rows + '9,"fine" then text\n')
    script = (
        "import sys\nfrom click.testing import CliRunner\nfrom rnnkit.cli import main\n"
        "res = CliRunner().invoke(main, ['score', sys.argv[1], '-q'])\n"
        "print(res.exit_code, 'numba' in sys.modules, res.output.strip())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120
    )
    code, numba, message = out.stdout.split(" ", 2)
    assert code == "1" and "row 8 (0-based), line 10" in message, out.stdout + out.stderr
    assert numba == "False", "the error path loaded the numba compiler"


def test_predict_never_loads_the_compiler_for_a_few_texts():
    script = (
        "import sys, rnnkit\nrnnkit.load().predict(['a fine film'] * 10)\n"
        "print('numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, cwd=Path(rnnkit.__file__).parents[1])  # fmt: skip
    assert out.stdout.strip() == "False", out.stderr


def test_the_readme_first_command_is_quiet_and_the_one_liners_warn():
    samples = Path(__file__).resolve().parents[1] / "samples"
    res = CliRunner().invoke(main, ["score", str(samples / "reviews.csv")])
    assert res.exit_code == 0 and "warning" not in res.stderr, res.stderr
    assert len(res.stdout.splitlines()) == 26
    res = CliRunner().invoke(main, ["score", str(samples / "one-liners.csv"), "-q"])
    assert res.exit_code == 0 and "warning: reviews are short" in res.stderr, res.stderr
