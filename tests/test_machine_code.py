"""The scan's machine code (issue 21): compiled by numba once, cached, loaded without it.

Loading must never cost correctness or a crash: a damaged cache is compiled again, an
unwritable one is worked around, code that needs a missing symbol is refused before LLVM
sees it (LLVM would stop the process), and kernels that could raise are refused when they
are compiled.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.runtime import disk_cache
from rnnkit.runtime.model.bundle import Bundle
from rnnkit.runtime.text.scan import compiled as scan
from rnnkit.runtime.text.scan import machine_code
from rnnkit.runtime.text.scan.plan import ABIS, BUILD_TABLE_ABI, ENCODE_ROWS_ABI

TEXTS = [
    "A quiet, patient film that earns its ending.<br /><br />Recommended!",
    "Two hours I will not get back; the plot COLLAPSES by the middle.",
    "Très drôle — un film «bien» 👍, ΣΟΦΟΣ",
    "",
] * 200


def test_the_entry_points_take_their_parameters_in_the_abis_order():
    from rnnkit.runtime.text.scan import kernels as scan_kernels

    assert set(scan_kernels.ENTRY_POINTS) == set(ABIS)
    for name, function in scan_kernels.ENTRY_POINTS.items():
        assert list(inspect.signature(function).parameters) == [p for p, _ in ABIS[name]]
    assert ABIS["encode_rows"] is ENCODE_ROWS_ABI and ABIS["build_table"] is BUILD_TABLE_ABI


@pytest.fixture(scope="module")
def real_codes():
    """The scan's real object code for this machine (compiled once for the module)."""
    return scan._compile()


def _cache(tmp_path, monkeypatch, real_codes):
    monkeypatch.setattr(disk_cache, "cache_dirs", lambda: [tmp_path])
    compiled = []

    def compile_codes():
        compiled.append(1)
        return real_codes

    def load():
        return machine_code.cached_object_code("scan", scan._SOURCES, compile_codes)

    return load, compiled


@pytest.mark.parametrize("damage", ["truncate", "flip a byte", "garbage", "empty", "extra"])
def test_a_damaged_cache_file_is_compiled_again(tmp_path, monkeypatch, real_codes, damage):
    load, compiled = _cache(tmp_path, monkeypatch, real_codes)
    assert load() == real_codes and compiled == [1]
    (path,) = tmp_path.glob("scan-*.o")
    assert load() == real_codes and compiled == [1], "a good file is read, not compiled"
    data = path.read_bytes()
    damaged = {
        "truncate": data[: len(data) - 10],
        "flip a byte": data[:-100] + bytes([data[-100] ^ 1]) + data[-99:],
        "garbage": b"\x7fELF not a cache",
        "empty": b"",
        "extra": data + b"\0",
    }[damage]
    path.write_bytes(damaged)
    assert load() == real_codes and compiled == [1, 1]
    assert path.read_bytes() == data, "the compiled code is written back"


def test_no_writable_cache_still_gives_the_code(tmp_path, monkeypatch, real_codes):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(disk_cache, "cache_dirs", lambda: [blocker / "cache"])
    codes = machine_code.cached_object_code("scan", scan._SOURCES, lambda: real_codes)
    assert codes == real_codes
    assert blocker.read_text() == "not a folder"


def test_a_source_change_is_a_new_cache_key(tmp_path):
    source = tmp_path / "kernels.py"
    source.write_text("x = 1\n")
    before = machine_code._key([source])
    source.write_text("x = 2\n")
    assert machine_code._key([source]) != before


def test_the_unicode_tables_read_back_are_the_ones_built(tmp_path, monkeypatch):
    """The scan's character tables come from disk after the first build: the same arrays;
    a damaged file is built again."""
    from rnnkit.runtime.text import keras_tokenizer
    from rnnkit.runtime.text.scan import plan as scanplan

    monkeypatch.setattr(disk_cache, "cache_dirs", lambda: [tmp_path])
    rule = lambda c: (scanplan.SEP if c.lower() == " " else scanplan.WORD, c.lower())  # noqa: E731
    built = [
        np.frombuffer(blob.data, dtype=kind)
        for blob, kind in zip(scanplan._build_tables(rule), (np.int8, np.int32))
    ]

    def tables():
        monkeypatch.setattr(scanplan, "_TABLES", {})  # what a new process has
        return keras_tokenizer.word_tables("", True, " ")["tables"]

    first = tables()
    build = scanplan._build_tables
    monkeypatch.setattr(scanplan, "_build_tables", lambda c: pytest.fail("rebuilt"))
    from_disk = tables()
    (path,) = tmp_path.glob("tables-*.bin")
    path.write_bytes(path.read_bytes()[:-1])
    monkeypatch.setattr(scanplan, "_build_tables", build)
    rebuilt = tables()
    for got in (first, from_disk, rebuilt):
        np.testing.assert_array_equal(got[0], built[0])
        np.testing.assert_array_equal(got[1], built[1])
    assert built[0][ord(" ")] == scanplan.SEP and built[1][ord("A")] == ord("a")


def test_the_unicode_tables_are_rebuilt_when_a_module_their_rules_import_changes(
    tmp_path, monkeypatch
):
    """rnnkit's character rule lives in tokenizer.py but reads its apostrophes from
    contract.py: an edit there must not leave the scan on tables built from the old ones."""
    from rnnkit.runtime.text import contract, tokenizer
    from rnnkit.runtime.text.scan import plan as scanplan

    monkeypatch.setattr(disk_cache, "cache_dirs", lambda: [tmp_path])

    def build_tables():
        monkeypatch.setattr(scanplan, "_TABLES", {})  # what a new process has
        scanplan.unicode_tables("rnnkit", tokenizer._char_class)

    build_tables()
    edited = Path(contract.__file__).resolve()
    read_bytes = Path.read_bytes

    def read_edited(path):
        data = read_bytes(path)
        return data + b'\nAPOSTROPHES = "\'"\n' if path.resolve() == edited else data

    monkeypatch.setattr(Path, "read_bytes", read_edited)
    build_tables()
    assert len(list(tmp_path.glob("tables-*.bin"))) == 2


def test_the_loaded_code_gives_the_references_ids():
    tok = Bundle.open(None).tokenizer()
    compiled = scan.CompiledScan(tok.scan_plan())
    import pyarrow as pa

    ids, counts, redo = compiled.encode(pa.array(TEXTS, type=pa.large_string()), tok.maxlen + 1)
    reference, _ = tok.encode_reference(TEXTS)
    assert sorted(set(redo.tolist())) == [i for i, t in enumerate(TEXTS) if "Σ" in t]
    keep = np.setdiff1d(np.arange(len(TEXTS)), redo)
    np.testing.assert_array_equal(ids[keep], reference[keep])
    assert counts[3] == 0 and counts[0] > 5


def test_code_that_needs_a_missing_symbol_is_refused_not_crashed(real_codes):
    """LLVM ends the process on a symbol it cannot resolve; the loader asks first."""
    code = (
        "import dataclasses, sys\n"
        "from rnnkit.runtime.text.scan import compiled as scan, machine_code\n"
        "codes = machine_code.cached_object_code('scan', scan._SOURCES, scan._compile)\n"
        "bad = [dataclasses.replace(c, undefined=c.undefined + ('rnnkit_no_such_symbol',))"
        " for c in codes]\n"
        "try:\n"
        "    machine_code._load(bad)\n"
        "except machine_code.MachineCodeError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "rnnkit_no_such_symbol" in out.stdout


@pytest.mark.parametrize("dynamic", [False, True])
def test_kernels_that_could_raise_are_refused_when_compiled(dynamic):
    from numba import cfunc, njit, types

    @njit
    def checked(x):
        if x < 0:
            if dynamic:
                raise ValueError("negative", x)
            raise ValueError("negative")
        return x + 1

    def entry(x):
        return checked(x)

    compiled = cfunc(types.int64(types.int64))(entry)
    with pytest.raises(machine_code.MachineCodeError, match="can raise"):
        machine_code.object_code_of("entry", compiled.native_name, compiled.inspect_llvm())


def test_no_home_folder_still_leaves_the_other_cache_folders(monkeypatch):
    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("RNNKIT_CACHE_DIR", "/somewhere")
    monkeypatch.setattr(disk_cache.Path, "home", staticmethod(no_home))
    dirs = disk_cache.cache_dirs()
    assert dirs[0] == disk_cache.Path("/somewhere") and dirs[1].name == "__pycache__"
    assert len(dirs) == 2


def test_the_compiled_scan_can_be_turned_off(tmp_path):
    """RNNKIT_COMPILED_SCAN=0: a large input is scored by the reference alone, with the
    same output, and neither numba nor LLVM's library is loaded."""
    rows = [
        f"review {k}: a warm and funny film {'Σ' if k % 97 == 0 else 'no'} doubt"
        for k in range(2000)
    ]
    src = tmp_path / "many.csv"
    src.write_text("text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    code = (
        "import sys, rnnkit\n"
        f"rnnkit.score_files({str(src)!r}, sys.argv[1], workers=2)\n"
        "print('numba' in sys.modules, 'llvmlite' in sys.modules)\n"
    )
    outputs = {}
    for switch in ("1", "0"):
        out = tmp_path / f"out-{switch}.csv"
        env = {**os.environ, "RNNKIT_COMPILED_SCAN": switch}
        done = subprocess.run(
            [sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs[switch] = (out.read_text(), done.stdout.split())
    assert outputs["0"][0] == outputs["1"][0]  # the same scores, row for row
    assert outputs["1"][1][1] == "True"  # the scan's machine code loads through llvmlite
    assert outputs["0"][1] == ["False", "False"]
