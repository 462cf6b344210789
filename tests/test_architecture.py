"""The package's shape, checked from the source: no import cycles, and the light runtime in
layers that import downwards only, never the heavy side."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rnnkit"
#: errors <- {io, text} <- model <- scoring: a layer may import its own and lower ones.
LAYERS = {
    "errors": 0,
    "disk_cache": 0,
    "files": 0,
    "signals": 0,
    "io": 1,
    "text": 1,
    "model": 2,
    "scoring": 3,
}
HEAVY = ("rnnkit.exporter", "rnnkit.training", "tensorflow", "keras", "tf2onnx", "tf_keras")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (lazy imports included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            # ``from pkg import module`` imports the module too
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {m for m in imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_the_import_graph_has_no_cycle():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[:2] != ["rnnkit", "runtime"] or len(parts) < 3:
        return None
    return LAYERS.get(parts[2])


def test_the_runtime_imports_downwards_only_and_never_the_heavy_side():
    problems = []
    for path in (PACKAGE / "runtime").rglob("*.py"):
        name = module_name(path)
        mine = _layer(name)
        for target in imports(path):
            if target.startswith(HEAVY):
                problems.append(f"{name} imports the heavy side: {target}")
            elif target.startswith("rnnkit.") and not target.startswith(
                ("rnnkit.runtime", "rnnkit._version")
            ):
                problems.append(f"{name} imports above the runtime: {target}")
            theirs = _layer(target)
            if mine is not None and theirs is not None and theirs > mine:
                problems.append(f"{name} (layer {mine}) imports upwards: {target}")
            if mine == theirs == 1 and name.split(".")[2] != target.split(".")[2]:
                problems.append(f"{name} imports its peer layer: {target}")
    assert not problems, "\n".join(problems)


def test_the_check_sees_a_real_cycle(tmp_path, monkeypatch):
    """The cycle finder is not vacuous: two modules importing each other are caught."""
    import pytest

    fake = tmp_path / "rnnkit"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "a.py").write_text("from . import b\n")
    (fake / "b.py").write_text("def f():\n    from .a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    with pytest.raises(AssertionError, match="import cycle: rnnkit.a -> rnnkit.b -> rnnkit.a"):
        test_the_import_graph_has_no_cycle()


def test_no_library_message_names_a_command_line_flag():
    """The library names its parameters (```maxlen```); only the CLI turns them into flags
    (``--maxlen``), so a Python caller is never told to pass a flag. Docstrings and
    comments may mention the command line; string literals in code may not, but for the
    pip commands that install an extra."""
    import re

    # rnnkit's long options, and its short ones (-o, -m, -q, -f, -h)
    flag = re.compile(r"(?<![\w-])(--[a-z][a-z-]+|-[omqfh](?![\w-]))")
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and "pip install" not in node.value
                and flag.search(node.value)
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value[:60]!r}")
    assert not found, found
