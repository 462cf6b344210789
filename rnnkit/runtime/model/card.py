"""A readable model card built from a bundle's manifest (no model is loaded)."""

from __future__ import annotations

from .bundle import Bundle
from .locations import SHIPPED_NAME, shipped_bundle_path, shipped_names
from .parity import DEFAULT_ATOL
from .replay import export_atol


def architecture(model: dict, units: int) -> str:
    """The model entry's one-line architecture. Written at train and import time; bundles
    from before recipes hold the seed's architecture, read from their config."""
    if "architecture" in model:
        return model["architecture"]
    cfg = model["config"]
    return (
        f"Embedding({cfg['vocab_size']}, {cfg['embed_dim']}) -> {cfg['cell']} "
        f"RNN({cfg['units']}) -> Dense({cfg['dense_units']}, relu) -> "
        f"Dropout({cfg['dropout']}) -> Dense({units}, {'sigmoid' if units == 1 else 'softmax'})"
    )


def _keras2(entry: dict | None) -> list[str]:
    """A Keras 2 file's translation for Keras 3: what changed, and how it was proven."""
    if not entry:
        return []
    proof = entry.get("proof")
    proven = (
        f"equal to {proof['against']} within {proof['max_abs']:.1e} on {proof['rows']} rows"
        if proof
        else "not compared with Keras 2 (tf_keras was not installed at import)"
    )
    lines = [f"  Keras 2      written by Keras {entry['keras_version']}, translated for Keras 3; "
             f"{proven}"]  # fmt: skip
    lines += [f"               translated: {change}" for change in entry.get("translated", [])]
    return lines


def _origin(model: dict, metrics: dict, data: dict, out) -> list[str]:
    """Where the model came from: rnnkit's training run, or a user's file."""
    if model.get("origin") == "imported":
        src = model["source"]
        appended = model.get("appended_activation")
        acc = metrics.get("sample_accuracy")
        return [
            f"  model        {model['architecture']}"
            + (f" (+ {appended} on its logits)" if appended else ""),
            f"  imported     {src['file']}, sha256 {src['sha256'][:12]}…; rnnkit did not "
            "train this model",
            *_keras2(model.get("keras2")),
            f"  parity set   {data.get('source')}"
            + ("" if not _known(acc) else f"; Keras accuracy on it {acc:.4f}"),
        ]
    cfg = model["config"]
    data = metrics.get("data", {})
    return [
        "  model        " + architecture(model, out.units),
        f"  training     {cfg['epochs']} epochs, batch {cfg['batch_size']}, seed {cfg['seed']}; "
        f"best epoch {metrics.get('best_epoch')}",
        f"  data         {data.get('source')}: {data.get('train')} train / "
        f"{data.get('validation')} validation / {data.get('test')} test",
    ]


def model_card(bundle: Bundle) -> str:
    m = bundle.manifest
    metrics = m.get("metrics", {})
    sig = bundle.signature
    tok, out = sig.input.tokenizer, sig.output
    lines = [
        f"rnnkit bundle  {bundle.path}",
        # Hashes prove a bundle consistent with itself, not who made it: compare this with
        # the digest its publisher announced.
        f"  digest       sha256:{bundle.digest} (of manifest.json, which lists every file's "
        "sha256)",
        f"  created      {m.get('created')} by rnnkit {m.get('rnnkit_version')}",
        *_origin(m["model"], metrics, m.get("data", {}), out),
    ]
    if "test_accuracy" in metrics:
        lines.append(
            f"  test         accuracy {metrics['test_accuracy']:.4f}, loss "
            f"{metrics['test_loss']:.4f}, ROC AUC {metrics['test_roc_auc']:.4f}"
        )
    lines.append(
        f"  tokenizer    {tok.get('kind', 'rnnkit')}: {tok.get('words')} words (vocab_size "
        f"{tok['vocab_size']}), {_reads(tok)}, sha256 {tok['fingerprint'][:12]}…"
    )
    if tok.get("standardize"):
        lines.append(
            f"               standardize (a custom function, traced): {tok['standardize']}"
        )
    if tok.get("kind", "rnnkit") != "rnnkit":
        proof = tok.get("proof")
        lines.append(
            "               ids "
            + (
                f"proven equal to {proof['against']} on {proof.get('texts')} texts at import"
                if proof
                else "not proven at import (tf_keras was not installed there)"
            )
            + (
                "; large inputs take the compiled scan"
                if tok.get("fast_path")
                else "; no compiled fast path for this spec's options (the reference runs: "
                "slower on large files)"
            )
            + (
                "; tokenizer.json twin (ids proven equal at import)"
                if tok.get("hf_file")
                else f"; no tokenizer.json twin: {tok.get('hf_twin_missing') or 'none written'}"
            )
        )
    rule = out.rule()
    decision = (
        f"{out.classes[1]} at probability >= {rule['threshold']:g}, else {out.classes[0]}"
        if rule["rule"] == "threshold"
        else "the most probable class"
    )
    lines.append(
        f"  signature    token_ids [batch, {sig.input.maxlen or 'n-grams'}] int32 -> probability "
        f"[batch, {out.units}]: {out.kind}, classes {', '.join(out.classes)}; label: {decision}"
    )
    formats = m.get("formats", {})
    if not formats:
        lines.append("  exports      none yet (run: rnnkit export)")
    gate_atol = export_atol(bundle)  # what verify and every load hold fp32 files to
    for fmt, variants in sorted(formats.items()):
        for variant, entry in sorted(variants.items()):
            size = m["files"][entry["file"]]["bytes"] / 1e6
            parity = m.get("parity", {}).get(fmt, {}).get(variant, {})
            figures = ", ".join(
                f"{rt} max|Δ| {p['max_abs']:.1e}"
                + ("" if not _known(p.get("accuracy")) else f", acc {p['accuracy']:.4f}")
                for rt, p in sorted(parity.items())
            )
            form = entry.get("graph_form", "")
            fp32_gate = variant == "fp32" and gate_atol != DEFAULT_ATOL
            gate = f" (gate atol {gate_atol:g})" if fp32_gate else ""
            lines.append(
                f"  {fmt:6s} {variant:7s} {entry['file']} ({size:.2f} MB, {form}); {figures}{gate}"
            )
    return "\n".join(lines)


def shipped_models_listing() -> str:
    """The shipped bundles, one line each: name, test figures, ONNX size, architecture."""
    lines = ["shipped models (the default is marked *)"]
    for name in shipped_names():
        bundle = Bundle.open(shipped_bundle_path(name), verify=False)
        m = bundle.manifest
        metrics = m.get("metrics", {})
        onnx = m.get("formats", {}).get("onnx", {}).get("fp32", {}).get("file")
        size = m["files"][onnx]["bytes"] / 1e6 if onnx else float("nan")
        lines.append(
            f"{'*' if name == SHIPPED_NAME else ' '} {name:<20} test accuracy "
            f"{metrics.get('test_accuracy', float('nan')):.4f}, ROC AUC "
            f"{metrics.get('test_roc_auc', float('nan')):.3f}, ONNX {size:.1f} MB: "
            f"{architecture(m['model'], bundle.signature.output.units)}"
        )
    return "\n".join(lines)


def _reads(tok: dict) -> str:
    """What of a text the spec reads: a window of ids, or a bag of the whole text."""
    if tok.get("maxlen"):
        return (f"maxlen {tok['maxlen']}, padding {tok.get('padding', 'pre')}, truncating "
                f"{tok.get('truncating', 'pre')}")  # fmt: skip
    widths = "/".join(str(w) for w in tok.get("ngrams", [1]))
    return f"the whole text as a bag of {widths}-grams ({tok.get('output_mode')})"


def _known(number) -> bool:
    """A recorded figure that exists: ``null`` (strict JSON) and older bundles' NaN do not."""
    return isinstance(number, (int, float)) and number == number
