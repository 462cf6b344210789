"""`rnnkit score` on the light side: rows in = rows out, errors, atomic output, integrity."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import rnnkit
from rnnkit.cli import main
from rnnkit.runtime.errors import BundleError
from rnnkit.runtime.io import csvio
from rnnkit.runtime.model.locations import shipped_bundle_path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "reviews.csv"

AWKWARD = [
    ("a1", "Great film, truly great."),
    ("a2", 'He said "wow", then left.'),
    ("a3", "line one\nline two\r\nline three"),
    ("a4", ""),  # quoted empty -> empty_text
    ("a5", "   \t "),
    ("a6", "…!?"),  # no letters or digits -> no_words
    ("a7", "Très bien — un chef-d’œuvre 🎬"),
    ("a8", "terrible " * 5000),  # a very long field
    ("a9", None),  # unquoted empty -> missing_text
]
STATUS = ["ok", "ok", "ok", "empty_text", "empty_text", "no_words", "ok", "ok", "missing_text"]


def write_awkward(path: Path, bom=True, crlf=True) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    w.writerow(["review_id", "Review", "stars"])
    for i, (rid, text) in enumerate(AWKWARD):
        w.writerow([rid, text if text is not None else None, i])
    body = buf.getvalue().replace("a4,,", 'a4,"",')
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body.encode("utf-8"))
    return path


def run(args, **kw):
    return CliRunner().invoke(main, ["score", *args], catch_exceptions=False, **kw)


def test_rows_in_equal_rows_out_in_order(tmp_path):
    src = write_awkward(tmp_path / "in.csv")
    res = run([str(src), "--id-column", "review_id", "--keep-columns", "-q"])
    assert res.exit_code == 0, res.output
    out = pd.read_csv(io.StringIO(res.stdout), keep_default_na=False, dtype=str)
    assert out["id"].tolist() == [r for r, _ in AWKWARD]
    assert out["status"].tolist() == STATUS
    assert out["stars"].tolist() == [str(i) for i in range(len(AWKWARD))]
    ok = out["status"] == "ok"
    assert (out.loc[~ok, "probability"] == "").all() and (out.loc[~ok, "label"] == "").all()
    assert out.loc[ok, "probability"].astype(float).between(0, 1).all()
    assert out["Review"][2].replace("\r\n", "\n") == "line one\nline two\nline three"


def test_scores_equal_the_reference_tokenizer_path(tmp_path):
    from rnnkit.runtime.text.scan.dispatch import COMPILED_MIN_ROWS

    model = rnnkit.load()
    texts = [t for _, t in AWKWARD if t and t.strip() and any(c.isalnum() for c in t)]
    texts = (texts * COMPILED_MIN_ROWS)[:COMPILED_MIN_ROWS]  # enough rows for the compiled scan
    ids = model.tokenizer.encode(texts, compiled=False)
    np.testing.assert_array_equal(model.predict(texts), model.backend.predict_ids(ids)[:, 0])
    assert "_compiled_scan" in model.tokenizer.__dict__, "the compiled path was not exercised"
    probs, labels = model.predict(
        ["A wonderful, moving film", "", "Awful, boring mess"], labels=True
    )
    assert probs[0] > 0.5 > probs[2] and np.isnan(probs[1])
    assert labels.tolist() == [True, False, False]


def test_parallel_workers_match_single_process(tmp_path, monkeypatch):
    """Many small blocks: thread pool + compiled tokenizer vs one thread + reference."""
    from rnnkit.runtime.text.scan import dispatch as scanned

    monkeypatch.setattr(csvio, "BLOCK_SIZE", 4096)  # many small blocks -> the pool path
    src = tmp_path / "many.csv"
    rows = [
        (f"r{i}", f"review {i}: " + ("good fun " if i % 3 else "dull, bad ") * (i % 40))
        for i in range(3000)
    ]
    rows[7] = ("r7", "Très drôle — un film CAFÉ’s «bien» 👍")
    pd.DataFrame(rows, columns=["id", "text"]).to_csv(src, index=False)
    monkeypatch.setattr(scanned, "COMPILED_MIN_ROWS", 10**9)
    one = rnnkit.score_files(src, tmp_path / "one.parquet", workers=1)
    monkeypatch.setattr(scanned, "COMPILED_MIN_ROWS", 1)
    two = rnnkit.score_files(src, tmp_path / "two.parquet", workers=2)
    assert one.rows == two.rows == 3000
    a, b = pd.read_parquet(tmp_path / "one.parquet"), pd.read_parquet(tmp_path / "two.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert a["id"].tolist() == list(range(3000))


def test_stdin_gzip_and_formats(tmp_path):
    src = write_awkward(tmp_path / "in.csv", bom=False, crlf=False)
    gz = tmp_path / "in.csv.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    res = run(["-", "--text-column", "Review", "--format", "jsonl", "-q"], input=src.read_bytes())
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(lines) == len(AWKWARD) and lines[3]["probability"] is None
    res = run([str(gz), "-o", str(tmp_path / "s.parquet"), "--id-column", "review_id", "-q"])
    assert res.exit_code == 0
    table = pd.read_parquet(tmp_path / "s.parquet")
    assert table["id"].tolist() == [r for r, _ in AWKWARD]
    res = run([str(src), "-o", str(tmp_path / "s.jsonl"), "--threshold", "0.0", "-q"])
    labels = [json.loads(x)["label"] for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert {lb for lb, st in zip(labels, STATUS, strict=True) if st == "ok"} == {"positive"}


@pytest.mark.parametrize(
    ("args", "content", "code", "message"),
    [
        (["nope.csv"], None, 2, "nope.csv: no such file"),
        ([], b"a,b\n1,2\n", 2, "no obvious text column ('a', 'b')"),
        (["--text-column", "body"], b"text\nhi\n", 2, "no column 'body'; columns found: 'text'"),
        (["--id-column", "rid"], b"text\nhi\n", 2, "no id column 'rid'"),
        ([], b"id,text\n1,fine\n2,caf\xe9 ok\n", 1, "row 1 (0-based), column 'text'"),
        ([], b"id,text\n1,fine\n2,too,many\n", 1, "malformed CSV"),
        ([], b"", 1, "empty file"),
        (["--backend", "tflite", "--model", "EMPTYBUNDLE"], b"text\nhi\n", 1, "no tflite"),
    ],
)
def test_error_paths(tmp_path, args, content, code, message):
    src = tmp_path / "in.csv"
    if content is not None:
        src.write_bytes(content)
    if "EMPTYBUNDLE" in args:
        bundle = tmp_path / "b"
        shutil.copytree(shipped_bundle_path(), bundle)
        m = json.loads((bundle / "manifest.json").read_text())
        del m["formats"]["tflite"]
        (bundle / "manifest.json").write_text(json.dumps(m))
        args = [str(bundle) if a == "EMPTYBUNDLE" else a for a in args]
    target = [str(src)] if content is not None else []
    res = CliRunner().invoke(main, ["score", *target, *args, "-o", str(tmp_path / "o.csv")])
    assert res.exit_code == code, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o.csv").exists()
    if "caf" in message or code == 1 and b"caf" in (content or b""):
        assert "--encoding latin-1" in res.output


def test_latin1_with_encoding_option(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes("id,text\n1,un café très bon\n".encode("latin-1"))
    res = run([str(src), "--encoding", "latin-1", "-q"])
    assert res.exit_code == 0 and res.stdout.count("\n") == 2


def test_output_is_atomic_on_error_and_interrupt(tmp_path, monkeypatch):
    monkeypatch.setattr(csvio, "BLOCK_SIZE", 1024)
    src = tmp_path / "in.csv"
    good = "".join(f"{i},a perfectly fine review number {i}\n" for i in range(500))
    src.write_bytes(b"id,text\n" + good.encode() + b"999,bad \xff byte\n")
    target = tmp_path / "out.csv"
    res = CliRunner().invoke(main, ["score", str(src), "-o", str(target), "--workers", "1"])
    assert res.exit_code == 1 and "row 500 (0-based)" in res.output
    assert not target.exists() and os.listdir(tmp_path) == ["in.csv"]

    from rnnkit.runtime.scoring import writers

    calls = {"n": 0}
    real = writers.make_writer

    class Interrupted:
        def __init__(self, *args):
            self.inner = real(*args)

        def write_batch(self, batch):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            self.inner.write_batch(batch)

    monkeypatch.setattr(writers, "make_writer", Interrupted)
    src.write_bytes(b"id,text\n" + good.encode())
    with pytest.raises(KeyboardInterrupt):
        rnnkit.score_files(src, target, workers=1)
    assert not target.exists() and os.listdir(tmp_path) == ["in.csv"]


def test_tampered_bundle_is_refused(tmp_path):
    bundle = tmp_path / "b"
    shutil.copytree(shipped_bundle_path(), bundle)
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[-10] ^= 0xFF
    (bundle / "model.onnx").write_bytes(bytes(data))
    res = CliRunner().invoke(main, ["score", str(SAMPLES), "--model", str(bundle)])
    assert res.exit_code == 1 and "model.onnx: sha256 does not match" in res.output
    with pytest.raises(BundleError, match="model.onnx"):
        rnnkit.load(bundle)


def test_model_resolution_order(tmp_path, monkeypatch):
    from rnnkit.runtime.model.locations import resolve_bundle_path

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RNNKIT_MODEL", raising=False)
    assert resolve_bundle_path()[1] == "shipped default"
    shutil.copytree(shipped_bundle_path(), tmp_path / "rnnkit-model")
    path, why = resolve_bundle_path()
    assert path == tmp_path / "rnnkit-model" and "rnnkit train" in why
    monkeypatch.setenv("RNNKIT_MODEL", str(shipped_bundle_path()))
    assert resolve_bundle_path() == (shipped_bundle_path(), "$RNNKIT_MODEL")
    assert resolve_bundle_path("x")[0] == Path("x")
    res = CliRunner().invoke(main, ["score", str(SAMPLES)])
    assert "$RNNKIT_MODEL" in res.stderr


LIGHT_SCRIPT = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"tensorflow", "keras", "tf2onnx", "tf_keras"}:
            raise ImportError(f"{name} is not installed (simulated base install)")
sys.meta_path.insert(0, Block())
import rnnkit
from click.testing import CliRunner
from rnnkit.cli import main
res = CliRunner().invoke(main, ["score", sys.argv[1], "-q"])
assert res.exit_code == 0, res.output
print(len(res.stdout.splitlines()))
print(rnnkit.load().predict(["What a wonderful film"])[0])
res = CliRunner().invoke(main, ["info"])
assert res.exit_code == 0 and "onnx" in res.output, res.output
res = CliRunner().invoke(main, ["train"])
assert res.exit_code == 1 and "rnnkit[train]" in res.output, res.output
res = CliRunner().invoke(main, ["verify"])
assert res.exit_code == 0 and "recorded Keras outputs" in res.output, res.output
print(sorted(m for m in sys.modules if m.split(".")[0] in {"tensorflow", "keras", "tf2onnx"}))
"""


def test_light_side_never_imports_tensorflow(tmp_path):
    env = {**os.environ, "RNNKIT_MODEL": ""}
    out = subprocess.run(
        [sys.executable, "-c", LIGHT_SCRIPT, str(SAMPLES)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines, prob, modules = out.stdout.splitlines()
    assert int(lines) == 1 + 25  # header + every sample row
    assert 0.5 < float(prob) <= 1.0
    assert modules == "[]"


def test_scoring_never_imports_pandas(tmp_path):
    """pyarrow imports pandas (where it is installed) on the first ``pa.array`` call or
    Python-scalar compute call: 0.2 s of every run's start. Scoring builds its arrays from
    buffers instead (``runtime/arrays.py``)."""
    pytest.importorskip("pandas")  # where it is not installed there is nothing to check
    script = (
        "import sys\n"
        "from rnnkit.runtime.scoring.pipeline import score_files\n"
        "for out in sys.argv[2:]:\n"
        "    score_files(sys.argv[1], out, diagnostics=True, workers=2)\n"
        "print('pandas' in sys.modules)\n"
    )
    outs = [str(tmp_path / f"out.{ext}") for ext in ("csv", "jsonl", "parquet")]
    res = subprocess.run(
        [sys.executable, "-c", script, str(SAMPLES), *outs],
        capture_output=True, text=True, timeout=120, env={**os.environ, "RNNKIT_MODEL": ""},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"


@pytest.mark.train
def test_shipped_bundle_backends_match_keras_on_the_test_split():
    pytest.importorskip("tensorflow")
    from rnnkit.exporter.export import check_live

    results = check_live(shipped_bundle_path())
    fp32 = [r for r in results if r.variant == "fp32"]
    assert {r.runtime for r in fp32} == {"onnxruntime", "onnx-reference", "ai-edge-litert"}
    for r in fp32:
        assert r.passed and r.max_abs <= 1e-5 and r.rows == 5006, r.describe()
    assert fp32[0].keras_accuracy >= 0.82


def test_tflite_backend_in_threads_agrees_with_onnx(tmp_path, monkeypatch):
    pytest.importorskip("ai_edge_litert", reason="needs the [tflite] extra")
    monkeypatch.setattr(csvio, "BLOCK_SIZE", 8192)
    src = tmp_path / "in.csv"
    pd.DataFrame(
        {
            "text": [
                f"film {i} was " + ("great " if i % 2 else "awful ") * (i % 30) for i in range(2000)
            ]
        }
    ).to_csv(src, index=False)
    rnnkit.score_files(src, tmp_path / "onnx.parquet", workers=2)
    rnnkit.score_files(src, tmp_path / "tfl.parquet", workers=2, backend="tflite")
    a = pd.read_parquet(tmp_path / "onnx.parquet")["probability"].to_numpy()
    b = pd.read_parquet(tmp_path / "tfl.parquet")["probability"].to_numpy()
    assert len(a) == len(b) == 2000 and np.abs(a - b).max() <= 1e-5


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_samples_key_is_kept_without_any_option_in_every_format(tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    res = CliRunner().invoke(main, ["score", str(SAMPLES), "-q", "-o", str(out)])
    assert res.exit_code == 0, res.output
    frame = {"csv": pd.read_csv, "parquet": pd.read_parquet,
             "jsonl": lambda p: pd.read_json(p, lines=True)}[fmt](out)  # fmt: skip
    assert list(frame.columns) == ["id", "probability", "label", "status", "review_id"]
    assert frame["review_id"].tolist()[:3] == ["r01", "r02", "r03"]
    res = CliRunner().invoke(main, ["score", str(SAMPLES), "-q", "--columns", ""])
    assert res.output.splitlines()[0] == '"id","probability","label","status"'
    res = CliRunner().invoke(main, ["score", str(SAMPLES), "-q", "--columns", "nope"])
    assert res.exit_code == 2 and "--columns names 'nope'" in res.output
