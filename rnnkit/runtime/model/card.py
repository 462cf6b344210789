"""A readable model card built from a bundle's manifest (no model is loaded)."""

from __future__ import annotations

from .bundle import Bundle


def model_card(bundle: Bundle) -> str:
    m = bundle.manifest
    cfg = m["model"]["config"]
    metrics = m.get("metrics", {})
    data = metrics.get("data", {})
    tok = m["tokenizer"]
    lines = [
        f"rnnkit bundle  {bundle.path}",
        # Hashes prove a bundle consistent with itself, not who made it: compare this with
        # the digest its publisher announced.
        f"  digest       sha256:{bundle.digest} (of manifest.json, which lists every file's "
        "sha256)",
        f"  created      {m.get('created')} by rnnkit {m.get('rnnkit_version')}",
        f"  model        Embedding({cfg['vocab_size']}, {cfg['embed_dim']}) -> "
        f"{cfg['cell']} RNN({cfg['units']}) -> Dense({cfg['dense_units']}, relu) -> "
        f"Dropout({cfg['dropout']}) -> Dense(1, sigmoid)",
        f"  training     {cfg['epochs']} epochs, batch {cfg['batch_size']}, seed {cfg['seed']}; "
        f"best epoch {metrics.get('best_epoch')}",
        f"  data         {data.get('source')}: {data.get('train')} train / "
        f"{data.get('validation')} validation / {data.get('test')} test",
    ]
    if "test_accuracy" in metrics:
        lines.append(
            f"  test         accuracy {metrics['test_accuracy']:.4f}, loss "
            f"{metrics['test_loss']:.4f}, ROC AUC {metrics['test_roc_auc']:.4f}"
        )
    lines.append(
        f"  tokenizer    {tok['words']} words (vocab_size {tok['vocab_size']}), maxlen "
        f"{tok['maxlen']}, padding/truncating pre, sha256 {tok['fingerprint'][:12]}…"
    )
    lines.append(
        f"  input        token_ids [batch, {tok['maxlen']}] int32 -> probability [batch, 1]"
    )
    formats = m.get("formats", {})
    if not formats:
        lines.append("  exports      none yet (run: rnnkit export)")
    for fmt, variants in sorted(formats.items()):
        for variant, entry in sorted(variants.items()):
            size = m["files"][entry["file"]]["bytes"] / 1e6
            parity = m.get("parity", {}).get(fmt, {}).get(variant, {})
            figures = ", ".join(
                f"{rt} max|Δ| {p['max_abs']:.1e}, acc {p['accuracy']:.4f}"
                for rt, p in sorted(parity.items())
            )
            form = entry.get("graph_form", "")
            lines.append(
                f"  {fmt:6s} {variant:7s} {entry['file']} ({size:.2f} MB, {form}); {figures}"
            )
    return "\n".join(lines)
