"""Fuzzing the CSV input against an independent parser (Python's ``csv``, strict mode).

Most examples go to the reader directly (``open_input`` and its chunks, as the scoring
pipeline reads them): the model is not the subject, and loading it per example would cost
most of the time. A smaller slice goes through the whole command, for the exit codes and
the output file. For every generated or mutated file, exactly one of:
  * exit 0, and the output holds exactly the records Python's csv sees (blank lines are not
    records; a short row's absent fields are empty), in order, with the ids kept;
  * exit 1 (or 2 for a header without the text column), one line naming the file, and no
    output file.
Never a traceback. When the oracle reads the file cleanly and nothing in it is outside
rnnkit's documented rules (a row longer than the header, a bad header), rnnkit must score it.

The default run is a fixed-seed slice (well under a minute). For a long local run:
    RNNKIT_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.cli import main

EXAMPLES = int(os.environ.get("RNNKIT_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # a fixed slice in CI; RNNKIT_FUZZ_EXAMPLES widens it
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
HEADER = ["id", "text", "extra"]

pieces = st.sampled_from(
    ["good", "bad film", ",", '"', '""', "\n", "\r", "\r\n", " ", "\t", "\x00", "\x07",
     "é", "—", "’", "🎬", "<br />", "\ufeff", "Σ", "x" * 300]
)  # fmt: skip
fields = st.lists(pieces, max_size=8).map("".join)


def render(row: list[str], quoting: int) -> str:
    buf = io.StringIO()
    csv.writer(buf, quoting=quoting, lineterminator="\n").writerow(row)
    return buf.getvalue()


@st.composite
def csv_files(draw) -> bytes:
    lines = [",".join(HEADER) + draw(st.sampled_from(["\n", "\r\n", "\r"]))]
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(draw(st.sampled_from(["\n", "\r\n", "\r"])))  # blank line
            continue
        width = draw(st.sampled_from([1, 2, 3, 3, 3, 4]))
        row = [draw(fields) for _ in range(width)]
        quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
        line = render(row, quoting)
        if kind == 1:
            line = line.replace("\n", "\r\n")
        lines.append(line)
    text = "".join(lines)
    if draw(st.booleans()) and text.endswith("\n"):
        text = text[:-1]  # no final newline
    data = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        data = b"\xef\xbb\xbf" + data
    return data


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(csv_files()))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "flip", "insert quote", "delete quote", "byte"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "truncate":
            del data[at:]
        elif op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert quote":
            data.insert(at, ord('"'))
        elif op == "delete quote" and b'"' in data:
            del data[data.index(b'"')]
        elif op == "byte":
            data.insert(at, draw(st.integers(0, 255)))
    return bytes(data)


def oracle(data: bytes) -> list[list[str]] | None:
    """What Python's csv (strict) reads, or None where rnnkit must refuse the file. Two of
    rnnkit's documented decisions apply first: a byte-order mark names the encoding, and a
    header that is one field with commas may name another delimiter."""
    from rnnkit.runtime.io.csvio import detect_delimiter
    from rnnkit.runtime.io.streams import bom_encoding

    encoding = bom_encoding(data)[0]
    try:
        text = data.decode("utf-8-sig" if encoding == "utf-8" else encoding)
        sep = detect_delimiter(text)
        rows = [
            r for r in csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True) if r
        ]
    except (UnicodeDecodeError, csv.Error):
        return None
    if not rows:
        return None  # no header
    header = rows[0]
    if len(set(header)) != len(header) or "text" not in header:
        return None
    if any(len(r) > len(header) for r in rows[1:]):
        return None
    return [r + [""] * (len(header) - len(r)) for r in rows]


def read_directly(src: Path) -> dict[str, list] | str:
    """Every column of every row the reader yields, or its one-line error."""
    from rnnkit.runtime.errors import RnnkitError
    from rnnkit.runtime.io.chunks import BlockError
    from rnnkit.runtime.io.inputs import open_input, pick_columns

    try:
        opened = open_input(str(src), "csv")
        try:
            pick_columns(opened.columns, "text", None, opened.name)
            table: dict[str, list] = {c: [] for c in opened.columns}
            for chunk in opened.chunks(["text"], None):
                try:
                    batch = chunk.load()
                except BlockError as exc:  # the consumer names the row, as the pipeline does
                    raise exc.to_data_error(len(table["text"])) from None
                for name, column in zip(batch.schema.names, batch.columns, strict=True):
                    table[name] += column.to_pylist()
            return table
        finally:
            opened.close()
    except RnnkitError as exc:
        return str(exc)


def check_reader(tmp_path: Path, data: bytes) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    got = read_directly(src)
    expected = oracle(data)
    if isinstance(got, str):
        assert str(src) in got and "\n" not in got, got
        assert expected is None, f"rnnkit refused a file Python's csv reads: {got}"
        return
    assert expected is not None, f"rnnkit accepted a file Python's csv refuses: {data!r}"
    header, rows = expected[0], expected[1:]
    assert list(got) == header
    for col in header:
        assert [v or "" for v in got[col]] == [r[header.index(col)] for r in rows]


def check(tmp_path: Path, data: bytes, compress: bool = False) -> None:
    src = tmp_path / ("in.csv.gz" if compress else "in.csv")
    src.write_bytes(gzip.compress(data) if compress else data)
    out = tmp_path / "out.parquet"
    out.unlink(missing_ok=True)
    res = CliRunner().invoke(
        main, ["score", str(src), "-q", "--keep-columns", "--text-column", "text", "-o", str(out)]
    )
    assert "Traceback" not in res.output, res.output
    expected = oracle(data)
    if res.exit_code != 0:
        assert res.exit_code in (1, 2), (res.exit_code, res.output, res.exception)
        assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
        lines = res.output.strip().splitlines()  # a usage error (2) adds click's usage lines
        assert str(src) in lines[-1] and (res.exit_code == 2 or len(lines) == 1), res.output
        assert not out.exists() and len(list(tmp_path.iterdir())) == 1
        assert expected is None, f"rnnkit refused a file Python's csv reads: {res.output}"
        return
    assert expected is not None, f"rnnkit accepted a file Python's csv refuses: {data!r}"
    header, rows = expected[0], expected[1:]
    table = pq.read_table(out).to_pydict()
    assert table["id"] == list(range(len(rows)))
    for col in header:
        name = f"input_{col}" if col == "id" else col
        assert [v or "" for v in table[name]] == [r[header.index(col)] for r in rows]
    for status, row in zip(table["status"], rows, strict=True):
        text = row[header.index("text")]
        if not text.strip():
            assert status in ("missing_text", "empty_text")
        else:
            assert status in ("ok", "no_words")


@FUZZ
@given(csv_files())
def test_generated_csvs(tmp_path_factory, data):
    check_reader(tmp_path_factory.mktemp("gen"), data)


@FUZZ
@given(mutated())
def test_mutated_csvs(tmp_path_factory, data):
    check_reader(tmp_path_factory.mktemp("mut"), data)


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 20))
@given(st.one_of(csv_files(), mutated()))
def test_csvs_through_the_whole_command(tmp_path_factory, data):
    check(tmp_path_factory.mktemp("cli"), data)


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 20))
@given(csv_files(), st.floats(0.05, 0.95))
def test_truncated_gzip(tmp_path_factory, data, keep):
    tmp = tmp_path_factory.mktemp("gz")
    packed = gzip.compress(data)
    src = tmp / "in.csv.gz"
    src.write_bytes(packed[: int(len(packed) * keep)])
    res = CliRunner().invoke(main, ["score", str(src), "-q", "-o", str(tmp / "o.csv")])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert str(src) in res.output and not (tmp / "o.csv").exists()


@FUZZ
@given(st.one_of(csv_files(), mutated()), st.booleans())
def test_vectorised_quote_scan_equals_the_exact_loop(data, at_eof):
    """The fast path of the record scan gives the same spans (and problems) as the loop."""
    from rnnkit.runtime.io.csvscan import _quoted_spans_exact, quoted_spans

    assert quoted_spans(data, ord(","), at_eof) == _quoted_spans_exact(data, ord(","), at_eof)
