"""Start-up of ``rnnkit score`` (issue 21): the compiled scan loads beside the model.

Timings are the harness's job; these tests check the order of things, which is what
makes the overlap possible, and that small inputs still never load the compiler.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from rnnkit.runtime.model import classifier
from rnnkit.runtime.scoring.pipeline import score_files
from rnnkit.runtime.text.scan.dispatch import WARM_UP_MIN_BYTES, ScannedTokenizer

TEXTS = [
    "A quiet, patient film that earns its ending.",
    "Two hours I will not get back; the plot collapses by the middle.",
    "The cast is wonderful and the score even better.",
]


def _write_csv(path, rows: int):
    body = "".join(f'"{TEXTS[i % len(TEXTS)]} {i}"\n' for i in range(rows))
    path.write_text("review\n" + body, encoding="utf-8")
    return path


def _watch_start_up(monkeypatch):
    """Record whether the scan's warm-up had started when the model began its self-check."""
    started = threading.Event()
    seen: dict[str, bool] = {}
    warm_up = ScannedTokenizer.warm_up

    def recording_warm_up(self):
        started.set()
        return warm_up(self)

    check = classifier.self_check

    def recording_check(*args, **kwargs):
        # The warm-up runs on its own thread: give it a moment to be scheduled.
        seen["scan loading during the self-check"] = started.wait(timeout=10)
        return check(*args, **kwargs)

    monkeypatch.setattr(ScannedTokenizer, "warm_up", recording_warm_up)
    monkeypatch.setattr(classifier, "self_check", recording_check)
    return seen


def test_a_large_input_loads_the_scan_while_the_model_opens(tmp_path, monkeypatch):
    rows = 1 + WARM_UP_MIN_BYTES // 40
    src = _write_csv(tmp_path / "big.csv", rows)
    assert src.stat().st_size >= WARM_UP_MIN_BYTES
    seen = _watch_start_up(monkeypatch)
    summary = score_files(src, tmp_path / "out.csv")
    assert summary.rows == rows
    assert seen == {"scan loading during the self-check": True}


def test_a_refused_model_is_reported_before_a_bad_block(tmp_path, monkeypatch):
    """A model that fails its self-check is the error reported, and nothing is written,
    whatever the input holds."""
    from rnnkit.runtime.errors import ParityError

    rows = 1 + WARM_UP_MIN_BYTES // 40
    src = _write_csv(tmp_path / "big.csv", rows)
    with src.open("a", encoding="utf-8") as f:
        f.write('"an unterminated quote\n')

    def failing_check(*args, **kwargs):
        raise ParityError("this runtime disagrees with the recording")

    monkeypatch.setattr(classifier, "self_check", failing_check)
    out = tmp_path / "out.csv"
    with pytest.raises(ParityError, match="disagrees"):
        score_files(src, out)
    assert not out.exists()


def test_a_small_input_does_not_load_the_scan_early(tmp_path, monkeypatch):
    src = _write_csv(tmp_path / "small.csv", 20)
    monkeypatch.setattr(
        ScannedTokenizer,
        "warm_up_in_background",
        lambda self: (_ for _ in ()).throw(AssertionError("warm-up started for 20 rows")),
    )
    assert score_files(src, tmp_path / "out.csv").rows == 20


def _warm_up_in_a_fresh_process() -> list[str]:
    """Warm the shipped model's scan up in a new interpreter; report whether numba was
    imported, then which entry points are loaded."""
    code = (
        "import sys\n"
        "from rnnkit.runtime.model.bundle import Bundle\n"
        "Bundle.open(None).tokenizer().warm_up()\n"
        "print('numba imported' if 'numba' in sys.modules else 'no numba')\n"
        "from rnnkit.runtime.text.scan import machine_code\n"
        "print(*sorted(machine_code._LOADED['scan']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return out.stdout.splitlines() + out.stderr.splitlines()[-1:]


def test_warm_up_loads_the_scan_without_numba():
    """Once this machine has compiled the scan, ``warm_up`` loads its entry points without
    importing numba, whose own start-up (~0.45 s of GIL-held Python) was the critical
    path of every large run."""
    _warm_up_in_a_fresh_process()  # compiles and caches it, if nothing has yet
    assert _warm_up_in_a_fresh_process() == ["no numba", "bag_rows build_table encode_rows"]


def test_a_failed_warm_up_leaves_the_scan_to_its_first_user(monkeypatch):
    """The background warm-up never prints a traceback; the scoring thread that needs the
    scan builds it again and reports any error itself."""
    from rnnkit.runtime.model.bundle import Bundle

    tok = Bundle.open(None).tokenizer()
    calls = []

    def failing_plan():
        calls.append(1)
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(type(tok), "scan_plan", lambda self: failing_plan())
    errors = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args))
    tok.warm_up_in_background().join()
    assert calls and not errors
    assert "_compiled_scan" not in tok.__dict__


def test_the_size_hint_never_fails(tmp_path):
    """Sizing the input only decides the warm-up: stdin and a file gone since it was
    planned count as nothing, never as an error."""
    from rnnkit.runtime.scoring.pipeline import Plan, PlannedFile

    real = _write_csv(tmp_path / "real.csv", 3)
    files = [
        PlannedFile(str(real), "csv", ["review"], "review"),
        PlannedFile("-", "csv", ["review"], "review"),
        PlannedFile(str(tmp_path / "gone.csv"), "csv", ["review"], "review"),
    ]
    assert Plan(files, None, True, None, {}).input_bytes() == real.stat().st_size
