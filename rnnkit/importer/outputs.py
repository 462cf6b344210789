"""What a user's model outputs, read from its last layers: a sigmoid unit (binary), a
softmax over k units (multi-class), or logits that the user says how to read."""

from __future__ import annotations

from pathlib import Path

from ..exporter.keras_graph import layer_calls
from ..exporter.layers import activation_name
from ..runtime.errors import ModelFileError, UsageError
from ..runtime.model.signature import BINARY, BINARY_CLASSES, MULTICLASS, OutputSpec

LOGITS = ("sigmoid", "softmax")
#: Layers that pass their input through at inference: the activation is found behind them.
PASS_THROUGH = {"Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout"}
MAX_LABEL_BYTES = 1 << 20


def final_activation(model) -> str | None:
    """The activation the model's output goes through last (None: a custom one)."""
    calls, key = layer_calls(model)
    by_key = {c.key: c for c in calls}
    call = by_key[key]
    while type(call.layer).__name__ in PASS_THROUGH and call.inputs[0] in by_key:
        call = by_key[call.inputs[0]]
    if "activation" not in call.layer.get_config():
        return "linear"  # e.g. a pooling or normalisation layer last: raw numbers
    return activation_name(call.layer)


def read_labels(labels: str | None, units_hint: int) -> tuple[str, ...] | None:
    """``labels``: "neg,pos" or a file with one class name per line."""
    if labels is None:
        return None
    path = Path(labels)
    if "," not in labels and path.is_file():
        if path.stat().st_size > MAX_LABEL_BYTES:
            raise UsageError(f"`labels` {labels}: larger than 1 MB")
        names = [n.strip() for n in path.read_text(encoding="utf-8-sig").splitlines()]
        names = [n for n in names if n]
    else:
        names = [n.strip() for n in labels.split(",")]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise UsageError(f"`labels` {labels!r}: class names must be distinct and non-empty")
    return tuple(names)


def output_spec(
    model, labels: tuple[str, ...] | None, logits: str | None
) -> tuple[OutputSpec, str | None]:
    """The signature's output, and the activation to append (for ``logits``), or a
    refusal that says what the model outputs and which option reads it."""
    shape = tuple(model.output_shape)
    if len(shape) != 2 or not shape[1]:
        raise ModelFileError(
            f"the model outputs shape {shape}; rnnkit reads one score per class, [batch, k]"
        )
    units, act = int(shape[1]), final_activation(model)
    append = None
    if act == "linear":
        if logits is None:
            raise ModelFileError(
                f"the model ends in a linear layer ({units} raw scores, logits?): say how to "
                "read them with `logits=sigmoid` (one unit, binary) or `logits=softmax` "
                "(k units, one class each)"
            )
        act = append = logits
    elif logits is not None:
        raise UsageError(f"`logits={logits}`: the model already ends in {act}")
    if act == "sigmoid" and units == 1:
        kind, default = BINARY, BINARY_CLASSES
    elif act == "softmax" and units >= 2:
        kind, default = MULTICLASS, tuple(f"class_{i}" for i in range(units))
    elif act == "sigmoid":
        raise ModelFileError(
            f"the model ends in {units} sigmoid units: a multi-label model, which rnnkit does "
            "not score yet (one sigmoid unit is binary; a softmax is multi-class)"
        )
    elif act == "softmax":
        raise ModelFileError("the model ends in a softmax over 1 unit: it always outputs 1.0")
    else:
        raise ModelFileError(
            f"the model ends in activation {act!r}: not a probability. rnnkit reads a "
            "sigmoid unit, a softmax, or logits with `logits`"
        )
    classes = labels or default
    if len(classes) != len(default):
        raise UsageError(
            f"`labels` names {len(classes)} classes; the model's output has {len(default)}"
        )
    return OutputSpec(kind, tuple(classes)), append
