"""How scoring uses the cores for a long-sequence model, chosen by measurement.

Two ways: *batches*, one caller per core on a session of one intra-op thread (rnnkit's
default: whole batches side by side, and a block's calls spread over the callers), or
*threads*, one caller on a session with a thread per core. On this project's 2-core
machines batches won for both long models measured (docs/performance.md); a recurrent
step is small to split across threads, but that is a fact about these machines and
models, so it is measured: once per machine, model file (by the bundle's digest) and
onnxruntime version, on the bundle's own recorded ids, in about 0.3 s, and kept in the
disk cache (``disk_cache.py``) for every later run.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import disk_cache

#: Each way is timed for at least this long (and at least two calls per caller).
PROBE_SECONDS = 0.12
BATCHES, THREADS = "batches", "threads"


@dataclass(frozen=True)
class Parallelism:
    """``workers`` scoring threads, each call on ``threads`` onnxruntime threads; ``rates``:
    rows/s measured each way, when a measurement chose (empty when a rule did)."""

    workers: int
    threads: int = 1
    rates: dict[str, float] = field(default_factory=dict)


def measured(
    model: str, cores: int, ids: Callable[[], np.ndarray],
    make_predict: Callable[[int], Callable], *, batch_rows: int,
) -> Parallelism:  # fmt: skip
    """The faster way for ``cores`` cores for ``model`` (a digest of the model file), from
    the disk cache or measured now on ``ids()``. ``make_predict(threads)``: a predict
    function on a session with that many threads."""
    facts = ["parallelism", model, str(cores), str(batch_rows), platform.machine()]
    facts += [_cpu_name(), _runtime_version()]
    name = f"parallelism-{disk_cache.key_of([], facts)}.json"

    def measure() -> list[disk_cache.Blob]:
        rates = probe(cores, ids(), make_predict, batch_rows)
        return [disk_cache.Blob({"rates": rates}, b"")]

    rates = disk_cache.cached(name, measure)[0].meta["rates"]
    if rates[THREADS] > rates[BATCHES]:
        return Parallelism(1, cores, rates)
    return Parallelism(cores, 1, rates)


def probe(cores: int, ids: np.ndarray, make_predict, batch_rows: int) -> dict[str, float]:
    """Rows/s each way: ``cores`` callers of a one-thread session, one caller of a session
    with ``cores`` threads; calls of ``batch_rows`` rows of ``ids``, each way warmed up
    once and timed for ``PROBE_SECONDS``."""
    calls = [ids[i : i + batch_rows] for i in range(0, len(ids), batch_rows)] or [ids]

    def run(predict, callers: int) -> float:
        predict(calls[0])  # warm: the first call allocates the arena
        done = [0] * callers
        stop = time.perf_counter() + PROBE_SECONDS

        def caller(k: int) -> None:
            n = 0
            while n < 2 or time.perf_counter() < stop:
                batch = calls[(k + n * callers) % len(calls)]
                predict(batch)
                done[k] += len(batch)
                n += 1

        started = time.perf_counter()
        workers = [threading.Thread(target=caller, args=(k,)) for k in range(callers)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return round(sum(done) / (time.perf_counter() - started), 1)

    return {BATCHES: run(make_predict(1), cores), THREADS: run(make_predict(cores), 1)}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _runtime_version() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}, {os.cpu_count()} cpus"
