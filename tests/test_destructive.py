"""What rnnkit must never destroy: the user's folders and files.

Every refusal here is one line, exit 1, and leaves every file of the folders involved
byte-identical. Interrupted runs (SIGTERM, SIGINT) leave no partial file and exit 128 + the
signal's number; a partial file that a killed run left is removed by the next run to the
same output, and only files of rnnkit's own naming pattern.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnkit.cli import main

from .cli_process import command

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "reviews.csv"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too), by relative path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


def refused(result, *needles: str) -> str:
    """A refusal: exit 1, one line, no traceback; returns the line."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def strict_json(text: str):
    """JSON as the standard defines it: a bare NaN or Infinity is an error."""

    def reject(name: str):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=reject)


# -- score -o: an output that is one of the inputs ----------------------------------------


@pytest.fixture
def reviews(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SAMPLES, folder / "reviews.csv")
    return folder


@pytest.mark.parametrize("how", ["path", "folder", "glob", "symlink", "hardlink", "relative"])
def test_score_refuses_to_write_over_one_of_its_inputs(reviews, tmp_path, monkeypatch, how):
    target = reviews / "reviews.csv"
    source, output = str(target), str(target)
    if how == "folder":
        source = str(reviews)
    elif how == "glob":
        source = str(reviews / "*.csv")
    elif how == "symlink":
        (tmp_path / "link.csv").symlink_to(target)
        output = str(tmp_path / "link.csv")
    elif how == "hardlink":
        os.link(target, tmp_path / "same.csv")
        output = str(tmp_path / "same.csv")
    elif how == "relative":
        monkeypatch.chdir(reviews)
        source, output = "reviews.csv", "./../in/reviews.csv"
    before = snapshot(tmp_path)
    result = CliRunner().invoke(main, ["score", source, "-o", output])
    refused(result, "is one of the inputs")
    assert snapshot(tmp_path) == before


def test_score_refuses_a_summary_that_is_an_input_or_the_output(reviews, tmp_path):
    target = reviews / "reviews.csv"
    before = snapshot(tmp_path)
    result = CliRunner().invoke(main, ["score", str(target), "--summary", str(target)])
    refused(result, "is one of the inputs")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["score", str(target), "-o", str(out), "--summary", str(out)])
    refused(result, "the same file")
    assert snapshot(tmp_path) == before


def test_score_refuses_to_write_into_the_bundle_it_reads(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(ROOT / "models" / "imdb-rnn", bundle)
    before = snapshot(tmp_path)
    result = CliRunner().invoke(
        main, ["score", str(SAMPLES), "-m", str(bundle), "-o", str(bundle / "model.onnx")]
    )
    refused(result, "inside the model bundle")
    assert snapshot(tmp_path) == before


# -- bundle outputs: train and import ------------------------------------------------------


tf = pytest.importorskip("tensorflow", reason="needs the [train] extra")


@pytest.fixture(scope="module")
def user_files(tmp_path_factory, imdb_texts):
    """What a user has: a Keras model, its rnnkit tokenizer, its Keras tokenizer, notes and
    a sample, in one folder that tests copy."""
    import keras
    import pandas as pd

    from rnnkit.runtime.text.tokenizer import Tokenizer

    folder = tmp_path_factory.mktemp("user")
    texts = imdb_texts[:200]
    Tokenizer.fit(texts, 300, 16).save(folder / "tok.json")
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((16,), dtype="int32"), keras.layers.Embedding(300, 4),
         keras.layers.SimpleRNN(3), keras.layers.Dense(1, activation="sigmoid")]
    )  # fmt: skip
    model.save(folder / "model.keras")
    (folder / "notes.txt").write_text("my notes\n")
    pd.DataFrame({"text": texts[:60]}).to_csv(folder / "sample.csv", index=False)
    return folder


@pytest.fixture
def project(tmp_path, user_files):
    folder = tmp_path / "proj"
    shutil.copytree(user_files, folder)
    return folder


def import_args(project: Path, out: str, *extra: str) -> list[str]:
    return [
        "import", str(project / "model.keras"), "--tokenizer", str(project / "tok.json"),
        "--sample", str(project / "sample.csv"), "-o", out, *extra,
    ]  # fmt: skip


def test_import_into_the_current_folder_is_refused_and_touches_nothing(project, monkeypatch):
    monkeypatch.chdir(project)
    before = snapshot(project.parent)
    result = CliRunner().invoke(main, import_args(project, "."))
    refused(result, "the current folder")
    assert snapshot(project.parent) == before


def test_import_into_the_folder_that_holds_its_inputs_is_refused(project):
    before = snapshot(project.parent)
    result = CliRunner().invoke(main, import_args(project, str(project)))
    refused(result, "holds", "model.keras")
    assert snapshot(project.parent) == before


def test_a_bundle_that_holds_an_input_is_refused_too(project):
    """Even an rnnkit bundle is not replaced when one of the command's inputs is in it."""
    result = CliRunner().invoke(main, import_args(project, str(project / "b")))
    assert result.exit_code == 0, result.output
    shutil.copy(project / "tok.json", project / "b" / "my-tok.json")
    before = snapshot(project.parent)
    args = import_args(project, str(project / "b"))
    args[args.index("--tokenizer") + 1] = str(project / "b" / "my-tok.json")
    refused(CliRunner().invoke(main, args), "holds", "my-tok.json")
    assert snapshot(project.parent) == before


@pytest.mark.parametrize(
    "name, content", [("cat.jpg", b"\xff\xd8 not really"), ("manifest.json", b'{"name": "my app"}')]
)
def test_a_folder_that_is_not_a_bundle_is_refused(project, tmp_path, name, content):
    """A folder of the user's, even one with a manifest.json of another tool's."""
    other = tmp_path / "mine"
    other.mkdir()
    (other / name).write_bytes(content)
    before = snapshot(tmp_path)
    result = CliRunner().invoke(main, import_args(project, str(other)))
    refused(result, "not an rnnkit bundle")
    assert snapshot(tmp_path) == before


def test_the_parent_of_the_current_folder_home_and_root_are_refused(project, tmp_path, monkeypatch):
    inner = project / "deep" / "er"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    before = snapshot(tmp_path)
    refused(CliRunner().invoke(main, import_args(project, str(project / "deep"))), "current folder")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    refused(CliRunner().invoke(main, import_args(project, str(home))), "home folder")
    refused(CliRunner().invoke(main, import_args(project, "/")), "filesystem root")
    assert snapshot(tmp_path) == before


def test_an_empty_folder_and_an_earlier_bundle_are_replaced(project, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(main, import_args(project, str(empty))).exit_code == 0
    assert (empty / "manifest.json").is_file()
    first = (empty / "manifest.json").read_text()
    result = CliRunner().invoke(main, import_args(project, str(empty)))
    assert result.exit_code == 0, result.output
    assert (empty / "manifest.json").read_text() != first  # a new bundle (its times differ)
    # Nothing of the old one's swap is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "proj"]


def test_a_bundle_being_replaced_stays_intact_until_the_new_one_is_complete(tmp_path):
    from rnnkit.runtime.model.bundle_writer import new_bundle_dir

    out = tmp_path / "b"
    with new_bundle_dir(out) as work:
        (work / "manifest.json").write_text('{"schema": "rnnkit-manifest"}')
        (work / "model.onnx").write_bytes(b"old")
    before, old = snapshot(tmp_path), snapshot(out)

    class Crash(Exception):
        pass

    with pytest.raises(Crash), new_bundle_dir(out) as work:
        (work / "model.onnx").write_bytes(b"new, half")
        assert snapshot(out) == old and (work / "model.onnx").exists()
        raise Crash
    assert snapshot(tmp_path) == before


def test_train_refuses_a_folder_that_is_not_a_bundle_before_it_trains(tmp_path, monkeypatch):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("\\documentclass{article}")
    before = snapshot(tmp_path)
    refused(CliRunner().invoke(main, ["train", "-o", str(other)]), "not an rnnkit bundle")
    data = other / "data.csv"  # --data inside the target: refused even for an empty one
    data.write_text("text,label\ngood,1\nbad,0\n")
    before = snapshot(tmp_path)
    result = CliRunner().invoke(main, ["train", "-o", str(other), "--data", str(data)])
    refused(result, "holds", "data.csv")
    monkeypatch.chdir(other)
    refused(CliRunner().invoke(main, ["train", "-o", "."]), "current folder")
    assert snapshot(tmp_path) == before


# -- signals and stale partial files -------------------------------------------------------


def _big_csv(path: Path, rows: int) -> None:
    line = "a fine film with a good cast and a story that goes somewhere"
    with open(path, "w") as fh:
        fh.write("id,review\n")
        for i in range(rows):
            fh.write(f"{i},{line} {i}\n")


def _wait_for(predicate, proc, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, "the run ended before the signal could be sent"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def _partials(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_in_the_middle_of_a_200k_row_score_leaves_no_partial_file(tmp_path, signum):
    src = tmp_path / "big.csv"
    _big_csv(src, 200_000)
    out = tmp_path / "scores.csv"
    proc = subprocess.Popen(
        command("score", str(src), "-o", str(out), "-q"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _wait_for(lambda: any(p.stat().st_size > 0 for p in _partials(tmp_path)), proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert signal.Signals(signum).name in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]


def test_a_sigterm_in_the_middle_of_an_import_leaves_nothing(project, tmp_path):
    """SIGTERM while the bundle's partial folder is being written. On a loaded machine the
    import can finish between seeing the folder and the signal's arrival: then it must
    have written a whole bundle (a signal during the swap waits for it), and the run is
    tried again (three times at most)."""
    out = tmp_path / "bundle"
    for _ in range(3):
        proc = subprocess.Popen(
            command(*import_args(project, str(out))),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _wait_for(lambda: any(p.name.startswith(".bundle.") for p in tmp_path.iterdir()), proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], err
        if out.exists():  # too late: the swap had begun, so the bundle is whole
            assert proc.returncode in (0, 143) and (out / "manifest.json").is_file(), err
            shutil.rmtree(out)
            continue
        assert proc.returncode == 143, err
        assert "Traceback" not in err and "SIGTERM" in err, err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]
        return
    pytest.fail("the import finished before SIGTERM arrived, three times")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_next_run_removes_a_killed_runs_partial_file_and_only_its_own(tmp_path):
    src = tmp_path / "in.csv"
    shutil.copy(SAMPLES, src)
    host, dead = socket.gethostname(), _dead_pid()
    stale = tmp_path / f".out.csv.rnnkit-{host}-{dead}-k3j9x_2a.partial"
    stale.write_text("half a file")
    alive = tmp_path / f".out.csv.rnnkit-{host}-{os.getpid()}-aaaa1111.partial"
    alive.write_text("another run, still going")
    others = [
        tmp_path / ".out.csv.partial",  # not rnnkit's pattern
        tmp_path / f".other.csv.rnnkit-{host}-{dead}-k3j9x_2a.partial",  # another output's
        tmp_path / f".out.csv.rnnkit-elsewhere-{dead}-k3j9x_2a.partial",  # another machine's
    ]
    for p in others:
        p.write_text("not ours to remove")
    result = CliRunner().invoke(main, ["score", str(src), "-q", "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    assert not stale.exists() and alive.exists() and all(p.exists() for p in others)


def test_the_next_import_removes_a_killed_imports_temporary_folder(project, tmp_path):
    stale = tmp_path / f".bundle.rnnkit-{socket.gethostname()}-{_dead_pid()}-zz9.partial"
    stale.mkdir()
    (stale / "model.keras").write_bytes(b"half")
    result = CliRunner().invoke(main, import_args(project, str(tmp_path / "bundle")))
    assert result.exit_code == 0, result.output
    assert not stale.exists() and (tmp_path / "bundle" / "manifest.json").is_file()


# -- strict JSON ---------------------------------------------------------------------------


def test_every_json_file_of_an_unlabelled_import_is_strict_json(project, tmp_path):
    from rnnkit.exporter.export import export_bundle

    out = tmp_path / "bundle"
    result = CliRunner().invoke(main, import_args(project, str(out)))
    assert result.exit_code == 0, result.output
    export_bundle(out, ("onnx",), echo=lambda s: None)
    manifest = strict_json((out / "manifest.json").read_text())
    assert manifest["metrics"]["sample_accuracy"] is None
    unlabelled = manifest["parity"]["onnx"]["fp32"]["onnxruntime"]
    assert "accuracy" in unlabelled and unlabelled["accuracy"] is None
    for path in out.glob("*.json"):
        strict_json(path.read_text())
    if shutil.which("node"):
        script = "JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'))"
        for path in out.glob("*.json"):
            node = subprocess.run(["node", "-e", script, str(path)], capture_output=True)
            assert node.returncode == 0, (path, node.stderr)


def test_a_run_summary_of_no_rows_is_strict_json(tmp_path):
    src = tmp_path / "empty.csv"
    src.write_text("id,review\n")
    summary = tmp_path / "run.json"
    result = CliRunner().invoke(main, ["score", str(src), "-q", "--summary", str(summary)])
    assert result.exit_code == 0, result.output
    doc = strict_json(summary.read_text())
    numbers = [v for v in _leaves(doc) if isinstance(v, float)]
    assert all(math.isfinite(v) for v in numbers)


def _leaves(doc):
    if isinstance(doc, dict):
        for v in doc.values():
            yield from _leaves(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _leaves(v)
    else:
        yield doc


# -- options that did nothing, advice that did not work -----------------------------------


@pytest.fixture(scope="module")
def keras_tokenizer(tmp_path_factory, imdb_texts):
    tfk = pytest.importorskip("tf_keras")
    real = tfk.preprocessing.text.Tokenizer(oov_token="<unk>")
    real.fit_on_texts(imdb_texts[:200])
    path = tmp_path_factory.mktemp("kt") / "keras-tok.json"
    path.write_text(real.to_json())
    return path


@pytest.mark.parametrize(
    "option", ["--start-char=5", "--skip-top=2", "--oov-char=7", "--index-from=1"]
)
def test_imdb_options_beside_another_tokenizer_are_refused(project, keras_tokenizer, option):
    args = ["import", str(project / "model.keras"), "--keras-tokenizer", str(keras_tokenizer),
            "--maxlen", "16", "-o", str(project.parent / "b"), option]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and option.split("=")[0] in result.output, result.output
    assert "--imdb-word-index" in result.output and not (project.parent / "b").exists()


def test_the_num_words_advice_works_and_caps_a_keras_tokenizer_as_keras_does(
    project, keras_tokenizer, imdb_texts
):
    """The out-of-range refusal recommends --num-words; following it imports, and the ids
    are those of the real Tokenizer with that num_words."""
    tfk = pytest.importorskip("tf_keras")
    out = project.parent / "b"
    args = ["import", str(project / "model.keras"), "--keras-tokenizer", str(keras_tokenizer),
            "--maxlen", "16", "--sample", str(project / "sample.csv"), "-o", str(out)]  # fmt: skip
    line = refused(CliRunner().invoke(main, args), "--num-words 300")
    assert not out.exists(), line
    result = CliRunner().invoke(main, [*args, "--num-words", "300"])
    assert result.exit_code == 0, result.output
    from rnnkit.runtime.model.bundle import Bundle

    tok = Bundle.open(out).tokenizer()
    real = tfk.preprocessing.text.tokenizer_from_json(keras_tokenizer.read_text())
    real.num_words = 300
    texts = imdb_texts[200:260]
    want = tfk.preprocessing.sequence.pad_sequences(real.texts_to_sequences(texts), maxlen=16)
    assert (tok.encode(texts) == want).all() and tok.encode(texts).max() < 300


def test_the_maxlen_advice_works(project, keras_tokenizer):
    out = project.parent / "b"
    args = ["import", str(project / "model.keras"), "--keras-tokenizer", str(keras_tokenizer),
            "--num-words", "300", "--sample", str(project / "sample.csv"), "-o", str(out)]  # fmt: skip
    refused(CliRunner().invoke(main, [*args, "--maxlen", "20"]), "--maxlen 16")
    assert CliRunner().invoke(main, [*args, "--maxlen", "16"]).exit_code == 0


@pytest.mark.parametrize("option", ["--num-words=100", "--padding=post", "--truncating=post"])
def test_options_a_tokenizer_does_not_read_are_refused(project, option):
    result = CliRunner().invoke(main, [*import_args(project, str(project.parent / "b")), option])
    assert result.exit_code == 2 and option.split("=")[0] in result.output, result.output
    assert not (project.parent / "b").exists()


def test_a_sigterm_in_the_middle_of_an_export_leaves_the_bundle_as_it_was(simple_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(simple_bundle, bundle)
    before = snapshot(tmp_path)
    proc = subprocess.Popen(
        command("export", str(bundle), "--format", "all", "--quantize", "int8"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _wait_for(lambda: bool(_partials(bundle)), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "SIGTERM" in err, err
    assert snapshot(tmp_path) == before


def _advice(line: str) -> list[str]:
    """The command an error line recommends (after 'run: '), as arguments to rnnkit."""
    import shlex

    advised = shlex.split(line.split("run: ", 1)[1])
    assert advised[0] == "rnnkit", line
    return advised[1:]


def test_the_export_advice_for_a_missing_format_works(project, tmp_path):
    out = tmp_path / "b"
    assert CliRunner().invoke(main, import_args(project, str(out))).exit_code == 0
    assert CliRunner().invoke(main, ["export", str(out), "--format", "onnx"]).exit_code == 0
    score = ["score", str(SAMPLES), "-m", str(out), "--backend", "tflite", "-q"]
    line = refused(CliRunner().invoke(main, score), "run: rnnkit export")
    result = CliRunner().invoke(main, _advice(line))
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, score)
    assert result.exit_code == 0 and len(result.output.splitlines()) == 26, result.output


def test_the_logits_advice_works(project, tmp_path):
    import keras

    model = keras.Sequential(
        [keras.Input((16,), dtype="int32"), keras.layers.Embedding(300, 4),
         keras.layers.GRU(3), keras.layers.Dense(1)]
    )  # fmt: skip
    model.save(project / "logits.keras")
    args = import_args(project, str(tmp_path / "b"))
    args[1] = str(project / "logits.keras")
    refused(CliRunner().invoke(main, args), "--logits sigmoid")
    result = CliRunner().invoke(main, [*args, "--logits", "sigmoid"])
    assert result.exit_code == 0, result.output


def _signal_once_created(monkeypatch, module, name: str):
    """``module.name`` (partial_file or partial_dir) that sends this process SIGTERM right
    after it has made the partial file: the worst moment, before its owner knows of it."""
    real = getattr(module, name)

    def made_then_signalled(target):
        made = real(target)
        os.kill(os.getpid(), signal.SIGTERM)
        return made

    monkeypatch.setattr(module, name, made_then_signalled)


@pytest.mark.parametrize("site", ["replacing", "bundle folder", "score output"])
def test_a_signal_just_after_a_partial_is_made_leaves_nothing(monkeypatch, tmp_path, site):
    """The signal is raised once the partial file or folder has an owner, which removes it."""
    from rnnkit.runtime import files
    from rnnkit.runtime.model import bundle_writer
    from rnnkit.runtime.scoring import writers
    from rnnkit.runtime.signals import Interrupted, interruptible

    target = tmp_path / "out.csv"
    with interruptible(), pytest.raises(Interrupted):
        if site == "replacing":
            _signal_once_created(monkeypatch, files, "partial_file")
            with files.replacing(target) as out:
                out.write(b"never")
        elif site == "bundle folder":
            _signal_once_created(monkeypatch, bundle_writer, "partial_dir")
            with bundle_writer.new_bundle_dir(tmp_path / "bundle") as work:
                (work / "x").write_text("never")
        else:
            _signal_once_created(monkeypatch, writers, "partial_file")
            with writers.ResultSink(str(target), "csv"):
                pass
    assert list(tmp_path.iterdir()) == []
