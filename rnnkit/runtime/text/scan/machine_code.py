"""Machine code that numba compiles once per machine and LLVM loads without numba.

Loading a function from numba's own cache means importing numba, its typing and lowering
registries (loaded on the first call even when the code comes from the cache) and the
cached code, all of it Python holding the GIL: a large scoring run paid that before its
first block, and no other thread could use the time ([performance](docs/performance.md)). So the scan's entry points are compiled (by numba, the first time a
machine needs them) to object code with a C calling convention and cached; every later
process loads that object with LLVM's own loader through llvmlite, without importing numba,
and calls it through ctypes, which releases the GIL for the call as numba's ``nogil`` did.

The cached code (``disk_cache``) is keyed by everything it depends on (the kernels' source,
numba's, llvmlite's and Python's versions, this CPU's name and features) and checked
against its SHA-256 before LLVM sees it: a truncated or foreign file is compiled again,
never loaded.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from ... import disk_cache

#: numba's C helpers that the compiled code names but never calls. numba wraps each C entry
#: point in code that reports an exception the body raised (numba_gil_ensure, numba_unpickle,
#: ...), and its NRT_decref frees an array whose last owner lets go (NRT_MemInfo_call_dtor).
#: The bodies raise nothing (``object_code_of`` checks this) and every array is a view of
#: the caller's buffer, with no owner, so these paths are dead code. They are bound to
#: functions that do nothing, so the code loads without numba's own C extensions.
STUBS = (
    "NRT_Free",
    "NRT_MemInfo_call_dtor",
    "numba_do_raise",
    "numba_gil_ensure",
    "numba_gil_release",
    "numba_runtime_build_excinfo_struct",
    "numba_unpickle",
)
_STUB_IR = "\n".join(f"define ptr @{name}() {{\n  ret ptr null\n}}" for name in STUBS)
#: How numba's code raises: every raise names a pickled exception (``.const.picklebuf``), and
#: one with run-time arguments also calls numba's helpers. (Passing a callee's exception on
#: to the caller is everywhere, and harmless where no callee raises.)
_RAISES = re.compile(r"@\.const\.picklebuf|@(?:" + "|".join(STUBS) + r")\(")
#: Functions that LLVM itself may call for its intrinsics (always in the C library).
_LIBC = ("memcpy", "memmove", "memset")


class MachineCodeError(RuntimeError):
    """The compiled code cannot be built or loaded in this process."""


@dataclass(frozen=True)
class ObjectCode:
    """One entry point's object code."""

    name: str  # what callers ask for
    symbol: str  # its symbol in ``data``
    data: bytes
    undefined: tuple[str, ...]  # symbols it needs from elsewhere


@functools.cache
def _llvm():
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    return llvm


@functools.cache
def _host_cpu() -> tuple[str, str]:
    """(name, features) of this CPU: what the code is compiled for, and so part of its key."""
    llvm = _llvm()
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def _target_machine():
    cpu, features = _host_cpu()
    return (
        _llvm()
        .Target.from_default_triple()
        .create_target_machine(cpu=cpu, features=features, opt=3, codemodel="jitdefault")
    )


def object_code_of(name: str, symbol: str, llvm_ir: str) -> ObjectCode:
    """Compile an entry point's LLVM IR (numba's, with everything it calls) for this CPU,
    after checking that nothing but its C wrapper can raise or free."""
    llvm = _llvm()
    module = llvm.parse_assembly(llvm_ir)
    module.verify()
    for function in module.functions:
        if function.is_declaration or function.name in (symbol, "NRT_decref"):
            continue
        found = _RAISES.search(str(function))
        if found:
            raise MachineCodeError(
                f"{name}: {function.name} can raise or free ({found.group(0)!r}): the "
                "kernels must not, or their code cannot load without numba"
            )
    declared = [f.name for f in module.functions if f.is_declaration]
    declared += [g.name for g in module.global_variables if g.is_declaration]
    undefined = tuple(sorted(n for n in declared if not n.startswith("llvm.")))
    return ObjectCode(name, symbol, _target_machine().emit_object(module), undefined)


def _key(sources: Sequence[Path]) -> str:
    import llvmlite

    facts = [
        llvmlite.__version__,
        sys.implementation.cache_tag,
        sys.platform,
        _llvm().get_process_triple(),
        *_host_cpu(),
    ]
    numba = find_spec("numba")  # its version, without importing it
    if numba is not None and numba.origin:
        version = Path(numba.origin).with_name("_version.py")
        facts.append(version.read_text() if version.exists() else "")
    return disk_cache.key_of(sources, facts)


def cached_object_code(
    tag: str, sources: Sequence[Path], compile_codes: Callable[[], list[ObjectCode]]
) -> list[ObjectCode]:
    """The object code for ``sources`` on this machine: from the disk cache, else compiled
    now (and cached where a cache folder takes it)."""

    def build() -> list[disk_cache.Blob]:
        return [
            disk_cache.Blob({"name": c.name, "symbol": c.symbol, "undefined": c.undefined}, c.data)
            for c in compile_codes()
        ]

    blobs = disk_cache.cached(f"{tag}-{_key(sources)}.o", build)
    return [
        ObjectCode(b.meta["name"], b.meta["symbol"], b.data, tuple(b.meta["undefined"]))
        for b in blobs
    ]


_LOCK = threading.Lock()
_LOADED: dict[str, dict[str, int]] = {}
_ENGINES: list[object] = []  # an engine owns its code: they live as long as the process


def entry_points(
    tag: str, sources: Sequence[Path], compile_codes: Callable[[], list[ObjectCode]]
) -> dict[str, int]:
    """``{name: address}`` of the entry points, loaded once per process."""
    with _LOCK:
        if tag not in _LOADED:
            _LOADED[tag] = _load(cached_object_code(tag, sources, compile_codes))
        return _LOADED[tag]


def _load(codes: list[ObjectCode]) -> dict[str, int]:
    llvm = _llvm()
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(_STUB_IR), _target_machine())
    for code in codes:
        # LLVM stops the process on a symbol it cannot resolve: ask first, fail politely.
        missing = [
            s
            for s in code.undefined
            if s not in STUBS and s not in _LIBC and not llvm.address_of_symbol(s)
        ]
        if missing:
            raise MachineCodeError(
                f"the compiled code needs {', '.join(missing)}, which this process lacks"
            )
        engine.add_object_file(llvm.ObjectFileRef.from_data(code.data))
    engine.finalize_object()
    _ENGINES.append(engine)
    return {code.name: engine.get_function_address(code.symbol) for code in codes}
