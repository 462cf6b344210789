"""A ``TextVectorization``'s custom ``standardize`` function, traced into steps.

The function runs once, at import, under ``tf.function`` on a string placeholder; its
graph is read from the output back to the input, one op at a time. Each op must be one
that ``runtime/text/standardize.py`` reproduces (``StringLower`` without an encoding,
``StaticRegexReplace``/``RegexReplace`` with a pattern in the proven subset and a literal
rewrite, ``StringStrip``, ``Identity``); anything else (``py_function``,
``unicode_transcode``, a lookaround, ...) is refused by name. The steps are then proven
equal to the real layer on the proof corpus, like every spec.
"""

from __future__ import annotations

from ..runtime.errors import ModelFileError
from ..runtime.text.standardize import check_steps

PASS_THROUGH = {"Identity", "IdentityN", "StopGradient"}


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _constant(op, index: int, where: str) -> str:
    import tensorflow as tf

    source = op.inputs[index].op
    if source.type != "Const":
        raise ModelFileError(f"{where}: {op.type}'s pattern/rewrite is computed, not a constant")
    return _text(tf.make_ndarray(source.get_attr("value")).item())


def _step(op, where: str) -> dict | None:
    """The step of one op (``None``: it passes its input through)."""
    kind = op.type
    if kind in PASS_THROUGH:
        return None
    if kind == "StringLower":
        encoding = _text(op.get_attr("encoding"))
        if encoding:
            raise ModelFileError(
                f"{where}: tf.strings.lower(encoding={encoding!r}) lowercases by ICU's Unicode "
                "tables, which rnnkit does not reproduce; tf.strings.lower without an "
                "encoding (ASCII) is supported"
            )
        return {"op": "lower"}
    if kind == "StringStrip":
        return {"op": "strip"}
    if kind in ("StaticRegexReplace", "RegexReplace"):
        if kind == "StaticRegexReplace":
            pattern, rewrite = _text(op.get_attr("pattern")), _text(op.get_attr("rewrite"))
        else:
            pattern, rewrite = _constant(op, 1, where), _constant(op, 2, where)
        return {"op": "replace", "pattern": pattern, "rewrite": rewrite,
                "global": bool(op.get_attr("replace_global"))}  # fmt: skip
    raise ModelFileError(
        f"{where}: the op {kind} ({op.name}) is not one rnnkit reproduces; supported: "
        "tf.strings.lower, tf.strings.regex_replace (literals, escaped punctuation, character "
        "classes, alternation), tf.strings.strip"
    )


def trace_standardize(fn, layer_name: str) -> tuple[dict, ...]:
    """The steps of ``fn`` (a function of a string tensor), or a refusal naming the op or
    the pattern it could not translate."""
    import tensorflow as tf

    name = getattr(fn, "__name__", repr(fn))
    where = f"TextVectorization {layer_name!r}: standardize function {name!r}"
    try:
        concrete = tf.function(fn, autograph=False).get_concrete_function(
            tf.TensorSpec([None], tf.string)
        )
    except Exception as exc:  # the user's code: any error
        raise ModelFileError(f"{where}: cannot be traced ({type(exc).__name__}: {exc})") from exc
    if len(concrete.outputs) != 1:
        raise ModelFileError(f"{where}: returns {len(concrete.outputs)} tensors, not one")
    start = concrete.inputs[0].op
    op, steps = concrete.outputs[0].op, []
    while op is not start:
        if not op.inputs:
            raise ModelFileError(f"{where}: its result does not come from its input ({op.type})")
        step = _step(op, where)
        if step is not None:
            steps.append(step)
        op = op.inputs[0].op
    steps.reverse()
    if not steps:
        raise ModelFileError(f"{where}: does nothing; import the layer with standardize=None")
    try:
        return check_steps(steps)
    except ValueError as exc:
        raise ModelFileError(f"{where}: {exc}") from exc
