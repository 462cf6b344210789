"""Parity: run an exported model on the parity inputs and compare with Keras's outputs.

The gate is absolute: an fp32 export whose max |Δ| exceeds ``atol`` (``DEFAULT_ATOL``) fails,
with the figures and the worst rows in the message. Quantized exports are gated on test
accuracy instead (at most one point below Keras) and report label agreement.

Light side: numpy only. The reference outputs come from Keras live (``rnnkit export``,
heavy ``verify``) or from the recording in the bundle (light ``verify``, every load).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from .backends import predict_in_batches

#: The fp32 parity tolerance, max |Δ| against Keras; defined here and nowhere else.
DEFAULT_ATOL = 1e-5
MAX_ACCURACY_DROP = 0.01


def edge_sequences(vocab_size: int, maxlen: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Fixed inputs that stress the corners: padding only, OOV only, the highest ids, ..."""
    rng = np.random.default_rng(seed)
    single = np.zeros(maxlen, dtype=np.int32)
    single[-1] = 2
    return {
        "all padding": np.zeros(maxlen, dtype=np.int32),
        "all out-of-vocabulary": np.ones(maxlen, dtype=np.int32),
        "highest id": np.full(maxlen, vocab_size - 1, dtype=np.int32),
        "one word then padding": single,
        "random ids": rng.integers(0, vocab_size, maxlen, dtype=np.int32),
        "highest ids descending": np.arange(vocab_size - maxlen, vocab_size, dtype=np.int32)[::-1]
        if vocab_size > maxlen
        else np.full(maxlen, vocab_size - 1, dtype=np.int32),
    }


@dataclass
class ParityInputs:
    ids: np.ndarray  # test rows first, then edge rows
    labels: np.ndarray  # labels of the test rows
    row_names: list[str]  # "test[17]" or the edge sequence's name
    reference: np.ndarray  # Keras probabilities for every row (or a variant's recording)
    reference_name: str = "keras"  # what ``reference`` is: "keras", "recorded keras", ...

    def with_reference(self, reference: np.ndarray, name: str) -> ParityInputs:
        return ParityInputs(self.ids, self.labels, self.row_names, reference, name)

    @property
    def n_test(self) -> int:
        return len(self.labels)

    def keras_accuracy(self) -> float:
        return float(((self.reference[: self.n_test] >= 0.5) == self.labels).mean())


@dataclass
class ParityResult:
    format: str
    variant: str
    runtime: str
    rows: int
    max_abs: float
    mean_abs: float
    label_flips: int
    accuracy: float
    keras_accuracy: float
    atol: float | None  # None: gated on accuracy (quantized variants)
    passed: bool
    worst_rows: list[str] = field(default_factory=list)
    reference: str = "keras"

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        gate = f"atol {self.atol:g}" if self.atol is not None else "accuracy drop <= 1 point"
        return (
            f"{self.format}/{self.variant} on {self.runtime} vs {self.reference}: "
            f"max |Δ| {self.max_abs:.3g}, "
            f"mean |Δ| {self.mean_abs:.3g}, {self.label_flips} label flips in {self.rows} rows, "
            f"accuracy {self.accuracy:.4f} vs Keras {self.keras_accuracy:.4f} ({gate}); "
            f"worst rows: {', '.join(self.worst_rows)}"
        )


def compare(
    inputs: ParityInputs,
    predict: Callable[[np.ndarray], np.ndarray],
    *,
    format: str,
    variant: str,
    runtime: str,
    atol: float | None,
) -> ParityResult:
    """Run ``predict`` over all rows (in batches, plus a batch of one) and gate the result."""
    got = predict_in_batches(predict, inputs.ids)
    # A batch of one goes through its own shape path (dynamic batch axis, resized tensors).
    single = np.asarray(predict(inputs.ids[:1])).reshape(-1)
    return compare_outputs(
        inputs, got, single, format=format, variant=variant, runtime=runtime, atol=atol
    )


def compare_outputs(
    inputs: ParityInputs,
    got: np.ndarray,
    single: np.ndarray | None = None,
    *,
    format: str,
    variant: str,
    runtime: str,
    atol: float | None,
) -> ParityResult:
    """Gate outputs already computed (``single``: the first row run as a batch of one)."""
    reference = np.asarray(inputs.reference, dtype=np.float64)
    diff = np.abs(got.astype(np.float64) - reference)
    single_diff = 0.0 if single is None else float(abs(single[0] - reference[0]))
    flips = int(((got >= 0.5) != (reference >= 0.5)).sum())
    accuracy = float(((got[: inputs.n_test] >= 0.5) == inputs.labels).mean())
    keras_acc = inputs.keras_accuracy()
    max_abs = max(float(diff.max()), single_diff)
    if atol is None:
        passed = accuracy >= keras_acc - MAX_ACCURACY_DROP
    else:
        passed = max_abs <= atol
    worst = np.argsort(-diff)[:5]
    return ParityResult(
        format=format,
        variant=variant,
        runtime=runtime,
        rows=len(got),
        max_abs=max_abs,
        mean_abs=float(diff.mean()),
        label_flips=flips,
        accuracy=accuracy,
        keras_accuracy=keras_acc,
        atol=atol,
        passed=bool(passed),
        worst_rows=[f"{inputs.row_names[i]} (|Δ| {diff[i]:.3g})" for i in worst],
        reference=inputs.reference_name,
    )


def table(results: list[ParityResult]) -> str:
    """A fixed-width table of parity figures for the console."""
    head = (
        "format",
        "variant",
        "runtime",
        "vs",
        "rows",
        "max |Δ|",
        "mean |Δ|",
        "flips",
        "acc",
        "ok",
    )
    rows = [
        (
            r.format,
            r.variant,
            r.runtime,
            r.reference,
            str(r.rows),
            f"{r.max_abs:.2e}",
            f"{r.mean_abs:.2e}",
            str(r.label_flips),
            f"{r.accuracy:.4f}",
            "PASS" if r.passed else "FAIL",
        )
        for r in results
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])
