"""Inputs from the wild: each defect found on real exports, and what happens to them now."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import rnnkit
from rnnkit.cli import main
from rnnkit.runtime.errors import DataError
from rnnkit.runtime.io import csvio

from .cli_process import RUN_CLI as _RUN_CLI

ROOT = Path(__file__).resolve().parents[1]


def score(path: Path, *args: str):
    out = path.parent / "out.csv"
    res = CliRunner().invoke(main, ["score", str(path), "-q", "-o", str(out), *args])
    return res, out


def test_unterminated_quote_is_an_error_naming_its_row(tmp_path):
    src = tmp_path / "open.csv"
    rows = "".join(f"c{i},row {i}\n" for i in range(300))
    src.write_text('id,review\na,fine film\nb,"it starts well and never closes\n' + rows)
    res, out = score(src)
    assert res.exit_code == 1
    assert "open.csv: malformed CSV at row 1 (0-based), line 3" in res.output
    assert "never closed" in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_text_after_a_closing_quote_is_an_error(tmp_path):
    src = tmp_path / "after.csv"
    src.write_text('id,review\na,"quoted" then more\n')
    res, out = score(src)
    assert res.exit_code == 1 and "row 0 (0-based), line 2: text follows a closing quote" in (
        res.output
    )
    assert not out.exists()


def test_a_record_larger_than_a_block_is_scored(tmp_path, monkeypatch):
    """13 MB in one quoted field: the block grows to hold the record."""
    src = tmp_path / "big.csv"
    src.write_text('id,review\na,"' + "a fine, fine film " * 750_000 + '"\nb,good\n')
    res, out = score(src, "--id-column", "id")
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    assert table["id"].tolist() == ["a", "b"] and (table["status"] == "ok").all()

    monkeypatch.setattr(csvio, "MAX_RECORD_BYTES", 1 << 20)
    res, out = score(src)
    assert res.exit_code == 1 and "row 0 (0-based), line 2: a single record longer than 1 MiB" in (
        res.output
    )


def test_short_rows_are_missing_text_and_long_rows_name_themselves(tmp_path):
    src = tmp_path / "short.csv"
    src.write_text("id,review,stars\na\nb,good\nc,great film,5\n")
    res, out = score(src, "--id-column", "id", "--keep-columns")
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, keep_default_na=False, dtype=str)
    assert table["id"].tolist() == ["a", "b", "c"]
    assert table["status"].tolist() == ["missing_text", "ok", "ok"]
    assert table["stars"].tolist() == ["", "", "5"]

    src.write_text("id,review\na,fine\nb,too,many\n")
    res, out = score(src)
    assert res.exit_code == 1 and "row 1 (0-based), line 3: 3 fields, the header has 2" in (
        res.output
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (  # starts with FF FE, UTF-16's byte-order mark, which chooses the encoding
            "binary.csv",
            bytes(range(255, -1, -1)) * 20,
            "binary.csv: not valid utf-16 text (illegal encoding), the encoding its byte-order",
        ),
        (
            "binary2.csv",
            bytes(range(0x80, 256)) * 20,
            "binary2.csv: the header line is not valid UTF-8",
        ),
        ("cr.csv", b"id,review\r\x80bad,good film\r", "row 0 (0-based), column 'id'"),
        ("empty.csv", b"", "empty.csv: empty file"),
        ("bom.csv", b"\xef\xbb\xbf", "bom.csv: empty file"),
    ],
)
def test_bad_bytes_give_a_clean_error(tmp_path, name, content, message):
    src = tmp_path / name
    src.write_bytes(content)
    res, out = score(src)
    assert res.exit_code == 1, res.output
    assert message in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_bare_cr_line_endings_are_rows(tmp_path):
    src = tmp_path / "cr.csv"
    src.write_bytes(b'id,review\ra,good film\rb,"two\rlines"\r')
    res, out = score(src, "--id-column", "id")
    assert res.exit_code == 0, res.output
    assert pd.read_csv(out)["id"].tolist() == ["a", "b"]


def test_truncated_gzip_names_the_file(tmp_path):
    data = gzip.compress(b"id,review\n" + b"".join(b"%d,some text\n" % i for i in range(20000)))
    src = tmp_path / "cut.csv.gz"
    src.write_bytes(data[: len(data) // 2])
    res, out = score(src)
    assert res.exit_code == 1
    assert "cut.csv.gz: the gzip stream is truncated" in res.output
    assert not out.exists()
    with pytest.raises(DataError, match="truncated"):
        rnnkit.score_files(src, tmp_path / "lib.csv")
    assert not (tmp_path / "lib.csv").exists()


def test_header_only_and_blank_lines(tmp_path):
    src = tmp_path / "blank.csv"
    src.write_text("id,review\n\na,good\n\n\nb,bad\n")
    res, out = score(src, "--id-column", "id")
    assert res.exit_code == 0 and pd.read_csv(out)["id"].tolist() == ["a", "b"]
    src.write_text("id,review\n")
    res, out = score(src)  # the input's id is kept, under a name beside the output's own
    assert res.exit_code == 0
    assert out.read_text().strip() == '"id","probability","label","status","input_id"'


def test_error_paths_never_abort(tmp_path):
    """A failing input, 20 fresh processes: each exits 1 with a message, none by a signal."""
    src = tmp_path / "bad.csv"
    src.write_text(
        "id,review\n" + "".join(f'{i},"open\n' if i == 700 else f"{i},ok\n" for i in range(900))
    )
    for _ in range(20):
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _RUN_CLI,
                "score",
                str(src),
                "-q",
                "-o",
                str(tmp_path / "o.csv"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 1, proc.stderr
        assert "Fatal Python error" not in proc.stderr and "Traceback" not in proc.stderr
        assert "row 700 (0-based)" in proc.stderr
    assert not (tmp_path / "o.csv").exists()


SHADOWED = r"""
import sys
# A regular (non-editable) install shadowed by the checkout: no editable-install finder.
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
import rnnkit
m = rnnkit.load()
print(m.bundle.path)
"""


def test_shipped_model_resolves_from_a_source_checkout():
    proc = subprocess.run(
        [sys.executable, "-c", SHADOWED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RNNKIT_MODEL": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == ROOT / "models" / "imdb-rnn"


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_an_error_after_output_started_leaves_no_traceback(tmp_path, suffix):
    """The writer is closed before its half-written file is removed: no 'Exception ignored'
    traceback from a writer finalised later."""
    src = tmp_path / "late.csv"
    src.write_text("id,review\n" + "".join(f"{i},ok\n" for i in range(30000)) + 'x,"open\n')
    out = tmp_path / f"out.{suffix}"
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_CLI, "score", str(src), "-q", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "row 30000 (0-based)" in proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert not out.exists() and os.listdir(tmp_path) == ["late.csv"]


def test_the_command_ends_with_its_output_complete(tmp_path):
    """``python -m rnnkit.cli`` (the console entry, which freezes the collector as it ends)
    exits 0 with every row written, to a file and to stdout."""
    src = tmp_path / "in.csv"
    src.write_text("id,review\n" + "".join(f"{i},a fine film {i}\n" for i in range(5000)))
    out = tmp_path / "out.csv"
    for target in (str(out), "-"):
        proc = subprocess.run(
            [sys.executable, "-m", "rnnkit.cli", "score", str(src), "-q", "-o", target],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        text = out.read_text() if target != "-" else proc.stdout
        lines = text.splitlines()
        assert len(lines) == 5001 and lines[-1].startswith("4999,")
