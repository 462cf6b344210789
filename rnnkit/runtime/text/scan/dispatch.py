"""How every tokenizer encodes a batch: its compiled scan for large inputs, its reference
implementation for small ones and for the rows the scan hands back.

A tokenizer provides ``encode_reference(texts) -> (ids, full word counts)`` (the
definition) and ``scan_plan() -> ScanPlan | None`` (its rules as the scan's tables; None
where the scan cannot express them, and then the reference always runs). The two are
tested to give identical ids.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from ...arrays import from_numpy, from_strings

#: Below this many rows the reference is used, so small inputs never load the scan's machine
#: code (the first time on a machine, numba compiles it: seconds); once the scan
#: is built it serves every batch.
COMPILED_MIN_ROWS = 512
#: An input of at least this many bytes starts loading the scan at once, on its own thread,
#: beside opening the model (about COMPILED_MIN_ROWS reviews of 2 KB: short of that, the
#: reference may serve every batch and the load would be wasted).
WARM_UP_MIN_BYTES = 1 << 20
_SCAN_BUILD_LOCK = threading.Lock()
FAST_PATH = "compiled scan"
#: ``RNNKIT_COMPILED_SCAN=0`` turns the compiled scan off: every batch takes the reference
#: (10-15x slower to tokenize, the same ids), and neither numba nor LLVM is ever loaded.
SWITCH = "RNNKIT_COMPILED_SCAN"


def compiled_scan_enabled() -> bool:
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


class ScannedTokenizer:
    maxlen: int

    def encode_reference(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def scan_plan(self):
        """The scan's plan for this tokenizer, or None (the reference always runs)."""
        return None

    def keras_input(self, ids: np.ndarray) -> np.ndarray:
        """What Keras's model takes for these ids (a bag's spec rebuilds its vector)."""
        return ids

    def oov_and_window(self, ids: np.ndarray, counts: np.ndarray):
        """Per row: the unknown words among those the model reads, and how many it reads
        (the window holds min(words, width) ids: no need to count the padding)."""
        return (
            np.count_nonzero(ids == self.oov_id, axis=1),  # type: ignore[attr-defined]
            np.minimum(counts, ids.shape[1]),
        )

    def standardize_arrow(self, texts: pa.Array) -> pa.Array:
        """What a spec does to whole texts before the scan's per-character rules (the
        reference does the same inside ``encode_reference``)."""
        return texts

    @property
    def fast_path(self) -> str | None:
        return FAST_PATH if self.scan_plan() is not None else None

    def encode(
        self, texts: Sequence[str | None] | pa.Array, *, compiled: bool | None = None
    ) -> np.ndarray:
        """``(len(texts), maxlen)`` int32 ids (None: an empty text).

        ``compiled``: True = always the compiled scan, False = always the reference, None =
        the scan for ``COMPILED_MIN_ROWS`` rows or more, or once it has been built.
        """
        return self.encode_with_counts(texts, compiled=compiled)[0]

    def encode_with_counts(
        self,
        texts: Sequence[str | None] | pa.Array,
        *,
        compiled: bool | None = None,
        count_all: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ids plus each row's word count. Counting stops at ``maxlen + 1`` (enough to
        tell a truncated row) unless ``count_all``, which reads every row to its end."""
        if not isinstance(texts, (pa.Array, pa.ChunkedArray)):
            texts = pa.array(list(texts), type=pa.large_string())
        if compiled is None:
            compiled = len(texts) >= COMPILED_MIN_ROWS or "_compiled_scan" in self.__dict__
        limit = np.iinfo(np.int64).max if count_all else self.maxlen + 1
        scan = self._scan if compiled else None
        if scan is not None:
            ids, counts, redo = scan.encode(self.standardize_arrow(texts), limit)
            if len(redo):  # rows the scan leaves to the reference (e.g. capital sigma)
                ids[redo], counts[redo] = self.encode_reference(
                    texts.take(from_numpy(redo)).to_pylist()
                )
        else:
            ids, counts = self.encode_reference(texts.to_pylist())
        return ids, np.minimum(counts, limit)

    def warm_up(self) -> None:
        """Build the compiled scan and load its machine code now (most of it
        loading LLVM's library) rather than in the first large batch."""
        scan = self._scan
        if scan is not None:
            scan.encode(from_strings([""]).cast(pa.large_string()), 1)

    def warm_up_in_background(self) -> threading.Thread:
        """:meth:`warm_up` on its own thread, so that it overlaps opening the model and
        reading the first blocks. Not a daemon: the interpreter waits for it at exit rather
        than stopping it inside the compiler. A failure is left to the first scoring thread
        that needs the scan, which builds it again and reports the error."""

        def quietly() -> None:
            with contextlib.suppress(Exception):  # reported by the scan's first real user
                self.warm_up()

        thread = threading.Thread(target=quietly, name="rnnkit-scan-warm-up")
        thread.start()
        return thread

    @property
    def _scan(self):
        """The compiled scan, or None where the plan is None.

        Built on first need, under a lock, by whichever scoring thread first meets a large
        batch: a small input, or one that fails early, never loads it."""
        if "_compiled_scan" not in self.__dict__:
            with _SCAN_BUILD_LOCK:
                if "_compiled_scan" not in self.__dict__:
                    plan = self.scan_plan() if compiled_scan_enabled() else None
                    if plan is not None:
                        from .compiled import CompiledScan

                        plan = CompiledScan(plan)
                    object.__setattr__(self, "_compiled_scan", plan)
        return self.__dict__["_compiled_scan"]
