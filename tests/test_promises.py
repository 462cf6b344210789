"""What the README promises about inputs and the tokenizer, each checked."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
from click.testing import CliRunner

from rnnkit.cli import main
from rnnkit.runtime.io import jsonio
from rnnkit.runtime.text.scan.plan import MAX_WORD
from rnnkit.runtime.text.tokenizer import Tokenizer


def score(*args: str):
    return CliRunner().invoke(main, ["score", *args, "-q"])


def test_a_json_lines_key_after_the_first_block_is_an_error_naming_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonio, "BLOCK_ROWS", 2)
    path = tmp_path / "rows.jsonl"
    rows = [{"review": "great"}, {"review": "awful"}, {}, {"review": "fine", "stars": 3}]
    path.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n\n" +
                    "\n".join(json.dumps(r) for r in rows[2:]) + "\n")  # fmt: skip
    res = score(str(path))
    assert res.exit_code == 1
    assert "row 3 (0-based), line 5: key 'stars' is not in the columns found so far" in res.output


def test_the_delimiter_option_wins_and_is_checked(tmp_path):
    path = tmp_path / "piped.txt"
    path.write_text("id|review\n1|a great film, really\n")
    res = score(str(path), "--input-format", "csv", "--delimiter", "|", "--id-column", "id")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[1].startswith('"1",')
    res = score(str(path), "--input-format", "csv", "--delimiter", "||")
    assert res.exit_code == 2 and "--delimiter must be one ASCII character" in res.output


def test_several_text_column_candidates_are_an_error_listing_them(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("review,text\ngood,bad\n")
    res = score(str(path))
    assert res.exit_code == 2
    assert "several candidates ('review', 'text'); choose one with --text-column" in res.output


def test_duplicate_header_names_are_an_error(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("review,review\ngood,bad\n")
    res = score(str(path))
    assert res.exit_code == 1 and "duplicate column names in the header" in res.output


def test_hidden_and_underscore_files_in_folders_are_skipped(tmp_path):
    folder = tmp_path / "exports"
    (folder / "part").mkdir(parents=True)
    (folder / "part" / "a.csv").write_text("review\ngreat film\n")
    for name in (".hidden.csv", "_SUCCESS", "_tmp.csv"):
        (folder / name).write_text("not,a,review\n1,2,3,4\n")
    res = score(str(folder))
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith(f'"{folder / "part" / "a.csv"}",0,')


def test_a_vocabulary_word_longer_than_the_scan_holds_uses_the_reference():
    long_word = "x" * (MAX_WORD + 1)
    tok = Tokenizer(("film", long_word, "great"), vocab_size=5, maxlen=4)
    texts = [f"great {long_word} film", "film film film film film", long_word]
    # The scan's table cannot hold that word: rows with a token that long go to the reference.
    assert tok._scan.encode(pa.array(texts), 5)[2].tolist() == [0, 2]
    np.testing.assert_array_equal(
        tok.encode(texts, compiled=True), tok.encode(texts, compiled=False)
    )
    assert tok.encode([long_word]).tolist() == [[0, 0, 0, 3]]
