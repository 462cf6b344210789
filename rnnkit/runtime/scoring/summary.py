"""The run summary, and drift: does the input look like the text the model learned from?

The same statistics are computed over the held-out split at train time (stored in the
bundle's metrics as ``reference_stats``) and over the scored rows at score time:

* words per review, as quantiles. Counting stops at ``maxlen + 1`` words (the model reads
  the last ``maxlen``), so ``maxlen + 1`` means "longer than the model reads";
* ``truncated_share``: reviews longer than ``maxlen`` words;
* ``oov_share``: out-of-vocabulary share of the words the model reads.

Warnings (at least ``MIN_ROWS`` scored rows):
* out-of-vocabulary share above ``OOV_FACTOR`` x training's and ``OOV_MARGIN`` above it;
* median length under ``SHORT_FACTOR`` of training's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..files import json_text
from ..model.signature import OutputSpec
from ..model.statuses import OK, OK_CODE, STATUSES, RowStats

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HIST_BINS = 10
MIN_ROWS = 20
OOV_FACTOR, OOV_MARGIN = 2.0, 0.05
SHORT_FACTOR = 0.25


@dataclass
class Tally:
    """Counts that add up across batches, files and Spark partitions."""

    maxlen: int
    output: OutputSpec = field(default_factory=OutputSpec)
    statuses: np.ndarray = field(init=False)
    labels: np.ndarray = field(init=False)  # per class, in the signature's order
    probability_hist: np.ndarray = field(init=False)
    token_hist: np.ndarray = field(init=False)  # scored rows' word counts, capped
    oov_tokens: int = 0
    window_tokens: int = 0

    def __post_init__(self) -> None:
        self.statuses = np.zeros(len(STATUSES), np.int64)
        self.labels = np.zeros(len(self.output.classes), np.int64)
        self.probability_hist = np.zeros(HIST_BINS, np.int64)
        self.token_hist = np.zeros(words_cap(self.maxlen) + 2, np.int64)

    def add(
        self, probs: np.ndarray, status: np.ndarray, stats: RowStats, threshold: float | None
    ) -> None:
        """One batch of rows: the model's outputs ``[n, units]`` and their statuses."""
        ok = status == OK_CODE
        probs = np.asarray(probs).reshape(len(status), self.output.units)[ok]
        self.add_rows(
            status,
            self.output.decide(probs, threshold),
            probability_bin(self.output.probability(probs)),
            stats.tokens[ok],
            stats.oov[ok],
            stats.window[ok],
        )

    def add_rows(self, status, label, prob_bin, tokens, oov, window, weight=None) -> None:
        """Rows, or groups of identical rows with ``weight`` rows each. All but ``status``
        are for scored rows only (``label``: class index); ``oov`` and ``window`` are totals
        (per row or group)."""
        ok_weight = None if weight is None else weight[status == OK_CODE]

        def count(values, size):
            return np.bincount(values, weights=ok_weight, minlength=size).astype(np.int64)

        self.statuses += np.bincount(status, weights=weight, minlength=len(STATUSES)).astype(
            np.int64
        )
        self.labels += count(label, len(self.labels))
        self.probability_hist += count(prob_bin, HIST_BINS)
        cap = words_cap(self.maxlen)
        self.token_hist += count(np.minimum(tokens, cap + 1), cap + 2)
        self.oov_tokens += int(np.sum(oov))
        self.window_tokens += int(np.sum(window))


def probability_bin(probs: np.ndarray) -> np.ndarray:
    """Which of ``HIST_BINS`` equal bins over [0, 1] each probability falls in."""
    return np.minimum((probs * HIST_BINS).astype(np.int64), HIST_BINS - 1)


def file_counts(per_file: dict[str, np.ndarray]) -> dict[str, dict[str, int]]:
    """``{file: {"rows": n, status: n, ...}}`` from per-file counts indexed like STATUSES."""
    return {
        f: {"rows": int(c.sum()), **{s: int(n) for s, n in zip(STATUSES, c, strict=True)}}
        for f, c in sorted(per_file.items())
    }


#: Where a bag's word counts (which no window cuts) stop being told apart in statistics.
WHOLE_TEXT_WORDS_CAP = 1000


def words_cap(maxlen: int) -> int:
    """The word count past which statistics count a review as long: the model's window, or
    for a model that reads whole texts (``maxlen`` 0, a bag) ``WHOLE_TEXT_WORDS_CAP``."""
    return maxlen or WHOLE_TEXT_WORDS_CAP


def describe(
    token_hist: np.ndarray, oov_tokens: int, window_tokens: int, truncates: bool = True
) -> dict:
    """Reference statistics from a histogram of capped word counts and window totals
    (``truncates``: the model reads a window, and counts past it are cut)."""
    rows = int(token_hist.sum())
    if rows == 0:
        return {"rows": 0}
    cumulative = np.cumsum(token_hist)
    words = {f"p{round(q * 100)}": int(np.searchsorted(cumulative, q * rows)) for q in QUANTILES}
    return {
        "rows": rows,
        "words_per_review": words,
        "words_cap": len(token_hist) - 1,
        "truncated_share": round(float(token_hist[-1] / rows), 4) if truncates else 0.0,
        "oov_share": round(oov_tokens / window_tokens, 4) if window_tokens else None,
    }


def reference_stats(ids: np.ndarray, counts: np.ndarray, tokenizer) -> dict:
    """The training-time figures (over the held-out split), stored in the bundle."""
    oov, window = tokenizer.oov_and_window(ids, counts)
    cap = words_cap(tokenizer.maxlen)
    hist = np.bincount(np.minimum(counts, cap + 1), minlength=cap + 2)
    return describe(hist, int(oov.sum()), int(window.sum()), truncates=tokenizer.maxlen > 0)


def _words(value: int, cap: int) -> str:
    return f"over {cap - 1}" if value >= cap else str(value)


def drift_warnings(current: dict, training: dict | None) -> list[str]:
    if not training or training.get("rows", 0) == 0 or current.get("rows", 0) < MIN_ROWS:
        return []
    out = []
    oov, oov_train = current.get("oov_share"), training.get("oov_share")
    known = oov is not None and oov_train is not None
    if known and oov > max(OOV_FACTOR * oov_train, oov_train + OOV_MARGIN):
        out.append(
            f"{oov:.0%} of words are unknown to the model (training: {oov_train:.0%}): "
            "is this English movie-review text?"
        )
    median, median_train = current["words_per_review"]["p50"], training["words_per_review"]["p50"]
    if median < SHORT_FACTOR * median_train:
        cap = training.get("words_cap", median_train + 1)
        out.append(
            f"reviews are short: median {median} words (training: "
            f"{_words(median_train, cap)}); the model learned from full movie reviews"
        )
    return out


@dataclass
class ScoreSummary:
    """What a scoring run did; ``score_files`` and the Spark engine both return one."""

    rows: int
    scored: int
    not_scored: int
    seconds: float
    output: str
    bundle: str
    statuses: dict[str, int]
    engine: str = "local"
    files: dict[str, dict[str, int]] | None = None  # per-file counts, when several files
    labels: dict[str, int] = field(default_factory=dict)
    probability_histogram: list[int] = field(default_factory=list)
    drift: dict = field(default_factory=dict)  # input and training statistics, warnings
    #: Epoch seconds: when scoring started (its imports done), when the model was ready
    #: (checked, its session made) and when the first block came back scored.
    timing: dict[str, float] = field(default_factory=dict)
    #: How the cores were used: scoring threads (``workers``), onnxruntime threads per call
    #: (``threads``), and the rows/s measured each way when a measurement chose (``rates``).
    parallelism: dict = field(default_factory=dict)

    @classmethod
    def from_tally(
        cls, tally: Tally, training: dict | None, *, seconds: float, output: str, bundle: str,
        engine: str = "local",
    ) -> ScoreSummary:  # fmt: skip
        current = describe(
            tally.token_hist, tally.oov_tokens, tally.window_tokens, truncates=tally.maxlen > 0
        )
        counts = tally.statuses
        return cls(
            rows=int(counts.sum()),
            scored=int(counts[OK_CODE]),
            not_scored=int(counts.sum() - counts[OK_CODE]),
            seconds=seconds,
            output=output,
            bundle=bundle,
            statuses={s: int(c) for s, c in zip(STATUSES, counts, strict=True)},
            engine=engine,
            labels={c: int(n) for c, n in zip(tally.output.classes, tally.labels, strict=True)},
            probability_histogram=[int(x) for x in tally.probability_hist],
            drift={
                "input": current,
                "training": training or {},
                "warnings": drift_warnings(current, training),
            },
        )

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    @property
    def warnings(self) -> list[str]:
        return self.drift.get("warnings", [])

    def line(self) -> str:
        extra = ", ".join(f"{k} {v}" for k, v in self.statuses.items() if k != OK and v)
        where = " scored on Spark" if self.engine == "spark" else ""
        # A rate over a second or more says something; over 3 rows, nothing.
        rate = f" ({self.rows_per_second:,.0f} rows/s)" if self.seconds >= 1 else ""
        return (
            f"{self.rows} rows{where}: {self.scored} scored, {self.not_scored} not scored"
            f"{f' ({extra})' if extra else ''} in {self.seconds:.2f} s{rate} -> {self.output}"
        )

    def drift_line(self) -> str | None:
        """Input statistics beside training's, for stderr."""
        now, then = self.drift.get("input", {}), self.drift.get("training", {})
        if not now.get("rows") or not then.get("rows") or now["oov_share"] is None:
            return None
        cap = then.get("words_cap", 0)
        here = _words(now["words_per_review"]["p50"], cap)
        there = _words(then["words_per_review"]["p50"], cap)
        length = f"{here} words in both" if here == there else f"{here} words, training {there}"
        parts = [f"median review {length}"]
        if then.get("truncated_share") or now.get("truncated_share"):
            parts.append(f"longer than the model reads: {now['truncated_share']:.0%} "
                         f"(training {then['truncated_share']:.0%})")  # fmt: skip
        parts.append(f"unknown words {now['oov_share']:.1%} (training {then['oov_share']:.1%})")
        return "input against training: " + "; ".join(parts)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["rows_per_second"] = round(self.rows_per_second, 1)
        return out

    def write_json(self, path: str) -> None:
        """Written beside ``path`` and renamed into place: complete or absent."""
        from .writers import AtomicOutput

        target = AtomicOutput(path)
        try:
            text = json_text(self.to_dict())
            target.stream.write(text.encode("utf-8"))
            target.commit()
        except BaseException:
            target.abort()
            raise
