"""Parity: run an exported model on the parity inputs and compare with Keras's outputs.

Two kinds of gate, both against Keras's fp32 outputs:

* fp32 files: absolute, max |Δ| <= ``atol`` (``DEFAULT_ATOL``), on every runtime and CPU;
* quantized files: :class:`QuantizedCriteria` (max |Δ|, label agreement, accuracy change).
  Integer kernels take different paths per instruction set (AVX2, AVX-512 VNNI, ARM), so a
  bit-exact replay of a quantized file cannot hold across machines; these bounds can.

A failure names the figures and the worst rows.

Light side: numpy only. The reference outputs come from Keras live (``rnnkit export``,
heavy ``verify``) or from the recording in the bundle (light ``verify``, every load).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from ..text.contract import FIRST_WORD_ID, OOV_ID, PAD_ID
from .backends import predict_in_batches
from .signature import OutputSpec

#: The fp32 parity tolerance, max |Δ| against Keras; defined here and nowhere else.
DEFAULT_ATOL = 1e-5
UNDECIDED_MARGIN = 1e-3


@dataclass(frozen=True)
class QuantizedCriteria:
    """How far a quantized file may stray from Keras's fp32 outputs, on any CPU.

    ``max_abs`` over every parity row (test rows and edge rows); label agreement and
    accuracy change over the test rows, by the signature's decision rule. A row Keras
    itself decides by less than ``UNDECIDED_MARGIN`` (a probability within 0.001 of the
    threshold, or two top classes that close) has no stable label: any rounding may flip
    it, so for these two criteria it keeps Keras's label. (Measured: an untrained model
    whose outputs all sit near 0.5 flipped one such row with |Δ| 4e-5.)
    """

    max_abs: float
    min_label_agreement: float
    max_accuracy_drop: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> QuantizedCriteria:
        return cls(**{k: float(data[k]) for k in ("max_abs", "min_label_agreement",
                                                   "max_accuracy_drop")})  # fmt: skip


#: Per quantized variant, chosen from measurements on two x86 machine types (README,
#: "Quantized variants"); export stores them in the manifest and verify reads them there.
QUANTIZED_CRITERIA = {
    # Weight-only int8 (int8 embedding table, fp32 arithmetic): measured max |Δ| 0.022 and
    # 1 label flip in 5,000 on the shipped model; the bounds leave room for other models.
    ("onnx", "int8"): QuantizedCriteria(0.1, 0.99, 0.005),
    # LiteRT dynamic-range int8 (integer kernels): measured max |Δ| 0.446, 93 flips in
    # 5,000 (agreement 0.981), accuracy -0.3 points, on both machine types.
    ("tflite", "int8"): QuantizedCriteria(0.6, 0.97, 0.01),
    # float16 weights, fp32 arithmetic.
    ("tflite", "float16"): QuantizedCriteria(0.01, 0.995, 0.005),
}


def edge_sequences(
    vocab_size: int, maxlen: int, seed: int = 0, *, pad_id: int = PAD_ID, oov_id: int = OOV_ID
) -> dict[str, np.ndarray]:
    """Fixed inputs that stress the corners: padding only, OOV only, the highest ids, one
    word padded on either side, ..."""
    rng = np.random.default_rng(seed)
    word = min(FIRST_WORD_ID, vocab_size - 1)
    last = np.full(maxlen, pad_id, dtype=np.int32)
    last[-1] = word
    first = np.full(maxlen, pad_id, dtype=np.int32)
    first[0] = word
    return {
        "all padding": np.full(maxlen, pad_id, dtype=np.int32),
        "all out-of-vocabulary": np.full(maxlen, oov_id, dtype=np.int32),
        "highest id": np.full(maxlen, vocab_size - 1, dtype=np.int32),
        "one word then padding": last,
        "one word, padded after": first,
        "random ids": rng.integers(0, vocab_size, maxlen, dtype=np.int32),
        "highest ids descending": np.arange(vocab_size - maxlen, vocab_size, dtype=np.int32)[::-1]
        if vocab_size > maxlen
        else np.full(maxlen, vocab_size - 1, dtype=np.int32),
    }


def parity_rows(ids: np.ndarray, tokenizer: dict, maxlen: int) -> tuple[np.ndarray, list[str]]:
    """The rows every parity check runs: the parity set's ``ids``, then the edge sequences
    of the tokenizer spec ``tokenizer``; and each row's name."""
    edges = edge_sequences(
        int(tokenizer["vocab_size"]),
        maxlen,
        pad_id=int(tokenizer.get("pad_id", PAD_ID)),
        oov_id=int(tokenizer.get("oov_id", OOV_ID)),
    )
    rows = np.concatenate([ids, np.stack(list(edges.values()))]).astype(np.int32)
    return rows, [f"test[{i}]" for i in range(len(ids))] + list(edges)


@dataclass
class ParityInputs:
    ids: np.ndarray  # test rows first, then edge rows
    labels: np.ndarray  # class index of each test row
    row_names: list[str]  # "test[17]" or the edge sequence's name
    reference: np.ndarray  # Keras's outputs for every row, [rows, units]
    reference_name: str = "keras"  # what ``reference`` is: "keras", "recorded keras", ...
    output: OutputSpec = field(default_factory=OutputSpec)  # how outputs become classes

    def __post_init__(self) -> None:
        self.reference = np.asarray(self.reference, dtype=np.float64).reshape(len(self.ids), -1)

    @property
    def n_test(self) -> int:
        return len(self.labels)

    def accuracy_of(self, decided: np.ndarray) -> float:
        """Accuracy of class decisions on the labelled test rows (label -1: unlabelled;
        NaN when none is labelled)."""
        known = self.labels >= 0
        if not known.any():
            return float("nan")
        return float((decided[: self.n_test][known] == self.labels[known]).mean())

    def keras_accuracy(self) -> float:
        return self.accuracy_of(self.output.decide(self.reference[: self.n_test]))


@dataclass
class ParityResult:
    format: str
    variant: str
    runtime: str
    rows: int
    max_abs: float
    mean_abs: float
    label_flips: int
    label_agreement: float
    accuracy: float
    keras_accuracy: float
    atol: float | None  # the fp32 gate; None for a quantized variant
    passed: bool
    worst_rows: list[str] = field(default_factory=list)
    reference: str = "keras"
    criteria: dict | None = None  # the quantized gate (QuantizedCriteria.to_dict())

    def to_dict(self) -> dict:
        return asdict(self)

    def gate(self) -> str:
        if self.criteria is None:
            return f"atol {self.atol:g}"
        c = self.criteria
        return (
            f"max |Δ| <= {c['max_abs']:g}, label agreement >= {c['min_label_agreement']:g}, "
            f"accuracy drop <= {c['max_accuracy_drop']:g}"
        )

    def describe(self) -> str:
        return (
            f"{self.format}/{self.variant} on {self.runtime} vs {self.reference}: "
            f"max |Δ| {self.max_abs:.3g}, "
            f"mean |Δ| {self.mean_abs:.3g}, {self.label_flips} label flips in {self.rows} rows "
            f"(agreement {self.label_agreement:.4f}), accuracy {self.accuracy:.4f} vs Keras "
            f"{self.keras_accuracy:.4f} (gate: {self.gate()}); "
            f"worst rows: {', '.join(self.worst_rows)}"
        )


def compare(
    inputs: ParityInputs, predict: Callable[[np.ndarray], np.ndarray], **what_and_gate
) -> ParityResult:
    """Run ``predict`` over all rows (in batches, plus a batch of one) and gate the result;
    the keywords (format, variant, runtime, and atol or criteria) are
    :func:`compare_outputs`'s."""
    got = predict_in_batches(predict, inputs.ids)
    # A batch of one goes through its own shape path (dynamic batch axis, resized tensors).
    single = np.asarray(predict(inputs.ids[:1]))
    return compare_outputs(inputs, got, single, **what_and_gate)


def compare_outputs(
    inputs: ParityInputs,
    got: np.ndarray,
    single: np.ndarray | None = None,
    *,
    format: str,
    variant: str,
    runtime: str,
    atol: float | None = None,
    criteria: QuantizedCriteria | None = None,
) -> ParityResult:
    """Gate outputs already computed (``single``: the first row run as a batch of one),
    at ``atol`` (fp32) or by ``criteria`` (quantized): exactly one of the two. Every output
    of a row is compared (|Δ| of a row: its largest); classes follow the signature's rule."""
    if (atol is None) == (criteria is None):
        raise ValueError("give exactly one of atol (fp32) and criteria (quantized)")
    reference = inputs.reference
    got = np.asarray(got, dtype=np.float64)
    if got.size != reference.size:  # a runtime that returns the wrong shape fails outright
        got = np.full(reference.shape, np.inf)
    got = got.reshape(reference.shape)
    # A row Keras gives no number for (NaN, e.g. a masked mean over no step) agrees only
    # with NaN; a NaN anywhere else is an infinite difference.
    nan_got, nan_ref = np.isnan(got), np.isnan(reference)
    with np.errstate(invalid="ignore"):
        cell = np.where(
            nan_got | nan_ref, np.where(nan_got & nan_ref, 0.0, np.inf), got - reference
        )
    diff = np.abs(cell).max(axis=1) if len(got) else np.zeros(0)
    single_diff = 0.0
    if single is not None:
        one = np.asarray(single, np.float64).reshape(-1)
        same_nan = np.isnan(one) & np.isnan(reference[0])
        with np.errstate(invalid="ignore"):
            single_diff = float(np.where(same_nan, 0.0, np.abs(one - reference[0])).max())
        if np.isnan(single_diff):
            single_diff = float("inf")
    decided, keras_decided = inputs.output.decide(got), inputs.output.decide(reference)
    agree = decided == keras_decided
    n = inputs.n_test
    accuracy = inputs.accuracy_of(decided)
    keras_acc = inputs.keras_accuracy()
    # The label criteria: rows Keras barely decides keep Keras's label (see QuantizedCriteria).
    settled = np.where(inputs.output.margin(reference) >= UNDECIDED_MARGIN, decided, keras_decided)
    agreement = float((settled[:n] == keras_decided[:n]).mean()) if n else 1.0
    max_abs = max(float(diff.max()), single_diff)
    if criteria is None:
        passed = max_abs <= atol
    else:
        settled_acc = inputs.accuracy_of(settled)
        passed = (
            max_abs <= criteria.max_abs
            and agreement >= criteria.min_label_agreement
            and (np.isnan(keras_acc) or settled_acc >= keras_acc - criteria.max_accuracy_drop)
        )
    worst = np.argsort(-diff)[:5]
    return ParityResult(
        format=format,
        variant=variant,
        runtime=runtime,
        rows=len(got),
        max_abs=max_abs,
        mean_abs=float(diff.mean()),
        label_flips=int((~agree).sum()),
        label_agreement=agreement,
        accuracy=accuracy,
        keras_accuracy=keras_acc,
        atol=atol,
        passed=bool(passed),
        worst_rows=[f"{inputs.row_names[i]} (|Δ| {diff[i]:.3g})" for i in worst],
        reference=inputs.reference_name,
        criteria=None if criteria is None else criteria.to_dict(),
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
