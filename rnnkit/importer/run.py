"""``import_model``: check a user's model and tokenizer, build the parity set, write the
bundle. Nothing is written until every check has passed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..exporter.keras_graph import (
    INPUT_KEY,
    UnsupportedModel,
    bag_problem,
    bag_reader,
    describe,
    functional,
    id_input,
    layer_calls,
    problems,
)
from ..runtime.errors import ModelFileError, UsageError
from ..runtime.files import json_text
from ..runtime.model.bundle import Bundle, write_parity_set
from ..runtime.model.bundle_writer import check_bundle_target, write_bundle
from ..runtime.model.parity import DEFAULT_ATOL, parity_rows
from ..runtime.model.recording import write_source_outputs
from ..runtime.model.signature import InputSpec, Signature
from ..runtime.scoring.summary import reference_stats
from ..runtime.text.bags import TextVectorizationBag
from ..training.keras_file import KERAS_FILE, library_versions
from .custom_objects import load_custom_objects
from .keras2 import apply_activation, original_outputs
from .model_file import read_model
from .outputs import output_spec, read_labels
from .sample import sample_texts
from .tokenizers import TextVectorizationChoice, TokenizerChoice, text_vectorization_layer


def with_activation(model, activation: str, maxlen: int):
    """The model with ``activation`` applied to its logits, as one flat model (same layers,
    same weights), so Keras, ONNX and TFLite all include it."""
    import keras

    name = f"{activation}_of_logits"
    if type(model).__name__ == "Sequential":
        known = getattr(model, "inputs", None)
        dtype = known[0].dtype if known else "int32"
        shape = tuple(known[0].shape[1:]) if known else (maxlen,)
        return keras.Sequential(
            [keras.Input(shape, dtype=dtype), *model.layers, keras.layers.Activation(activation, name=name)],
            name=model.name,
        )  # fmt: skip
    graph = functional(model)
    out = keras.layers.Activation(activation, name=name)(graph.outputs[0])
    return keras.Model(graph.inputs, out, name=model.name)


def numeric_part(model, vectorizer):
    """The model from the vectorizer's output (token ids, or a bag's vector) on: what ONNX
    and TFLite get."""
    import keras

    if vectorizer.get_config().get("output_mode") != "int":
        return _after_bag(model, vectorizer)
    if type(model).__name__ != "Sequential":
        return keras.Model(vectorizer.output, model.output, name=model.name)
    # A loaded Sequential's layers are called in its own inner graph: chain them again.
    if model.layers.index(vectorizer) != 0:
        raise ModelFileError("the TextVectorization layer must come first in the Sequential")
    x = ids = keras.Input(tuple(vectorizer.compute_output_shape((None, 1)))[1:], dtype="int64")
    for layer in model.layers[1:]:
        x = layer(x)
    return keras.Model(ids, x, name=model.name)


def _after_bag(model, vectorizer):
    """The layers after a bag-making vectorizer, called again on a ``[batch, depth]``
    float input. (Keras gives a string input of shape (1,) a bag of shape (1, depth) in
    the graph, and (depth,) when it runs: the graph's shapes would be wrong.)"""
    import keras

    calls, output_key = layer_calls(model)
    first = [c for c in calls if c.layer is vectorizer]
    if len(first) != 1 or first[0].inputs != (INPUT_KEY,):
        raise ModelFileError("the TextVectorization layer must read the model's input, once")
    try:
        bag_reader(calls, first[0].key)
    except UnsupportedModel as exc:
        raise ModelFileError(str(exc)) from exc
    depth = int(vectorizer.compute_output_shape((None,))[-1])
    tensors = {first[0].key: keras.Input((depth,), dtype="float32", name="bag")}
    for call in calls:
        if call.key not in tensors:
            args = [tensors[a] for a in call.inputs]
            try:
                tensors[call.key] = call.layer(args[0] if len(args) == 1 else args)
            except Exception as exc:  # Keras refuses the layer on a [batch, depth] vector
                raise ModelFileError(f"{call.where()}: {exc}") from exc
    return keras.Model(tensors[first[0].key], tensors[output_key], name=model.name)


def _check_fit(model, tokenizer, maxlen: int, cap_option: str | None) -> None:
    """The tokenizer's ids must fit the first Embedding, and its length the model's input:
    out-of-range ids fail in some runtimes and are silently clamped in others.
    ``cap_option``: the tokenizer option that caps its ids (``None``: it has none). A bag
    of n-grams goes into a Dense layer as wide as its vector."""
    if isinstance(tokenizer, TextVectorizationBag):
        problem = bag_problem(model, tokenizer.depth)
        if problem:
            raise ModelFileError(problem)
        return
    found = id_input(model)
    if found is None:
        raise ModelFileError(
            "the model has no Embedding layer: rnnkit imports text models fed token ids"
        )
    first, input_dim = found
    if tokenizer.vocab_size > input_dim:
        raise ModelFileError(
            f"the tokenizer gives ids up to {tokenizer.vocab_size - 1}, but the model's first "
            f"Embedding ({first.name!r}) has input_dim {input_dim}: ids past "
            f"{input_dim - 1} have no row. Use the tokenizer the model was trained with"
            + (f", or cap it as Keras's num_words does: `{cap_option}={input_dim}`" if cap_option
               else "")
        )  # fmt: skip
    steps = tuple(model.input_shape)[1] if len(tuple(model.input_shape)) == 2 else None
    if steps is not None and steps != maxlen:
        raise ModelFileError(
            f"the model reads {steps} ids per text, the tokenizer gives {maxlen}: pass "
            f"`maxlen={steps}`"
        )


def _prove_translation(path, model, ids, tokenizer: dict, keras_input, maxlen: int, append,
                       translation, atol: float, echo):  # fmt: skip
    """The translated model against the real Keras 2 model on every parity row; past
    ``atol`` the import fails. Returns ``(rows, Keras 2's outputs)``, the export's reference
    (``None`` when tf_keras is not installed: the translation is then unproven)."""
    rows, _ = parity_rows(ids, tokenizer, maxlen or ids.shape[1])
    found = original_outputs(path, rows, keras_input)
    if found is None:
        translation.proof = None
        echo(f"note: the Keras {translation.keras_version} file's translation was not proven "
             "against Keras 2 here (tf_keras is not installed: pip install --no-deps tf-keras)")  # fmt: skip
        return None
    theirs, against = found
    if append:
        theirs = apply_activation(theirs, append)
    ours = model.predict(keras_input(rows), batch_size=1024, verbose=0).reshape(len(rows), -1)
    worst = float(np.abs(ours.astype(np.float64) - theirs).max())
    translation.proof = {"against": against, "rows": len(rows), "max_abs": worst, "atol": atol}
    if not worst <= atol:
        raise ModelFileError(
            f"{path}: Keras 3's reading of this Keras {translation.keras_version} file differs "
            f"from {against}'s own by {worst:.2e} (past atol {atol:g}) on the parity rows; "
            "nothing was written"
        )
    echo(f"Keras {translation.keras_version} file: its translation equals {against} within "
         f"{worst:.1e} on {len(rows)} rows")  # fmt: skip
    return rows, theirs


def import_model(
    model_path: str | os.PathLike,
    output: str | os.PathLike,
    tokenizer: TokenizerChoice,
    *,
    labels: str | None = None,
    logits: str | None = None,
    sample: str | None = None,
    text_column: str = "text",
    label_column: str | None = None,
    atol: float = DEFAULT_ATOL,
    custom_objects: str | os.PathLike | None = None,
    echo: Callable[[str], None] = print,
) -> Bundle:
    """Import ``model_path`` (``.keras`` or ``.h5``, Keras 3's or Keras 2's) fed by
    ``tokenizer`` into a bundle at ``output``; then ``rnnkit export`` converts and verifies
    it like any other. ``atol``: how far a Keras 2 file's translation may be from the real
    Keras 2 model. ``custom_objects``: a Python file defining the functions the model names
    (a custom ``standardize``); it runs here, and only here."""
    model_path = Path(model_path)
    inputs = [model_path, getattr(tokenizer, "path", None), sample, custom_objects]
    check_bundle_target(output, inputs)  # before anything is loaded
    objects = load_custom_objects(custom_objects)
    if isinstance(tokenizer, TextVectorizationChoice):
        tokenizer = replace(tokenizer, custom_objects=objects)
    model, translation = read_model(model_path, objects)
    for change in translation.changes if translation else ():
        echo(f"Keras {translation.keras_version} file: {change}")
    vectorizer = text_vectorization_layer(model)
    if vectorizer is not None:  # string input: the layer becomes the spec, the rest is exported
        if not isinstance(tokenizer, TextVectorizationChoice) or tokenizer.path is not None:
            raise UsageError(
                f"{model_path.name} holds its own TextVectorization layer "
                f"({vectorizer.name!r}); import it without a tokenizer option"
            )
        model = numeric_part(model, vectorizer)
    if isinstance(tokenizer, TextVectorizationChoice):
        tokenizer = tokenizer.loaded(vectorizer)
    found = problems(model)
    if found:
        raise ModelFileError(f"{model_path}: cannot convert: " + "; ".join(found))
    tok = tokenizer.build()
    maxlen = tok.maxlen
    _check_fit(model, tok, maxlen, "num_words" if tokenizer.caps_ids else None)
    out_spec, append = output_spec(model, read_labels(labels, 0), logits)
    if append:
        model = with_activation(model, append, maxlen)
    proof = tokenizer.prove(tok)  # ids equal to the real implementation's, or refused
    if proof is None:
        echo(
            f"note: the {tok.kind} spec was not proven against tf_keras here (not installed: "
            'pip install --no-deps "tf-keras==<your TensorFlow version>"); rnnkit\'s tests '
            "prove it on fuzzed text"
        )
    elif "texts" in proof:
        echo(f"tokenizer: {tok.kind}, ids equal to {proof['against']} on "
             f"{proof['texts']} texts")  # fmt: skip
    texts, text_labels, where = sample_texts(sample, text_column, label_column, out_spec.classes)
    ids, counts = tok.encode_with_counts(texts, count_all=True)
    probs = np.concatenate([
        model.predict(tok.keras_input(ids[i : i + 1024]), batch_size=1024, verbose=0)
        for i in range(0, len(ids), 1024)
    ]).reshape(len(ids), -1)  # fmt: skip
    source_rows = None
    if translation is not None:
        source_rows = _prove_translation(model_path, model, ids, {"vocab_size": tok.vocab_size, "pad_id": tok.pad_id, "oov_id": tok.oov_id},
            tok.keras_input,
                                         maxlen, append, translation, atol, echo)  # fmt: skip
    known = text_labels >= 0
    accuracy = (
        float((out_spec.decide(probs)[known] == text_labels[known]).mean()) if known.any() else None
    )
    source = model_path.read_bytes()
    model_entry = {
        "origin": "imported",
        "architecture": describe(model)
        + (
            f", maxlen {maxlen}"
            if maxlen
            else f", a bag of {'/'.join(map(str, tok.ngrams))}-grams ({tok.output_mode})"
        ),  # fmt: skip
        "source": {
            "file": model_path.name,
            "sha256": hashlib.sha256(source).hexdigest(),
            "bytes": len(source),
        },
        "appended_activation": append,
    }
    if translation is not None:
        model_entry["keras2"] = translation.to_dict()
    echo(f"model {model_path.name}: {model_entry['architecture']}")
    echo(f"output: {out_spec.kind}, classes {', '.join(out_spec.classes)}")

    def write_files(work: Path) -> Signature:
        model.save(work / KERAS_FILE)
        entry = tokenizer.write(tok, work, proof)
        write_parity_set(work, ids, text_labels)
        if source_rows is not None:
            write_source_outputs(work, *source_rows)
        (work / "import.json").write_text(json_text(model_entry))
        return Signature(InputSpec(maxlen, entry), out_spec)

    bundle = write_bundle(
        output, inputs, write_files, model=model_entry, versions=library_versions(),
        metrics={"sample_accuracy": accuracy,
                 "reference_stats": reference_stats(ids, counts, tok)},
        data={"source": where, "rows": len(texts), "labelled": bool(known.any())},
    )  # fmt: skip
    acc = "" if accuracy is None else f"; Keras accuracy on the sample {accuracy:.4f}"
    echo(f"parity set: {len(texts)} texts from {where}{acc}")
    echo(f"bundle written to {bundle.path}")
    return bundle
