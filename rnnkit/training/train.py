"""``rnnkit train``: data -> tokenizer -> Keras fit (best validation epoch) -> bundle."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..runtime.files import json_text
from ..runtime.model.bundle import Bundle, write_parity_set
from ..runtime.model.bundle_writer import check_bundle_target, write_bundle
from ..runtime.model.manifest import HF_TOKENIZER_FILE, SPEC_FILE, TOKENIZER_FILE, rnnkit_signature
from ..runtime.model.signature import BINARY, MULTICLASS, InputSpec, OutputSpec, Signature
from ..runtime.scoring.summary import reference_stats
from ..runtime.text.tokenizer import Tokenizer
from .data import Split, load_split, stratified_split
from .keras_file import KERAS_FILE, library_versions
from .model import TrainConfig, build_model


def make_deterministic(seed: int) -> None:
    """Same seed -> same weights on CPU: seed every RNG and ask TF for deterministic ops."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the rank statistic (tied scores share their mean rank)."""
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)  # 1-based rank of each distinct score's last occurrence
    ranks = (last - (counts - 1) / 2)[inverse]
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _best_epoch_callback():
    import keras

    class RestoreBestEpoch(keras.callbacks.Callback):
        """Keep the weights of the epoch with the lowest validation loss."""

        def __init__(self) -> None:
            super().__init__()
            self.best_loss, self.best_epoch, self.best_weights = float("inf"), -1, None

        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("val_loss", float("inf"))
            if loss < self.best_loss:
                self.best_loss, self.best_epoch = loss, epoch
                self.best_weights = self.model.get_weights()

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return RestoreBestEpoch()


def save_plot(history: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["loss"]) + 1)
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((ax_acc, "accuracy", "Accuracy"), (ax_loss, "loss", "Loss")):
        ax.plot(epochs, history[key], "o-", label="train")
        ax.plot(epochs, history[f"val_{key}"], "s--", label="validation")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@dataclass
class Parts:
    """The training split cut into the part the model fits and the validation part."""

    fit_texts: list[str]
    fit_labels: np.ndarray
    val_texts: list[str]
    val_labels: np.ndarray


def carve_validation(split: Split, cfg: TrainConfig) -> Parts:
    """Validation comes from the training split only; the test split stays untouched."""
    fit_idx, val_idx = stratified_split(
        split.train_texts, split.train_labels, cfg.validation_fraction, cfg.data_seed + 1
    )
    return Parts(
        [split.train_texts[i] for i in fit_idx],
        split.train_labels[fit_idx],
        [split.train_texts[i] for i in val_idx],
        split.train_labels[val_idx],
    )


def fit_tokenizer(cfg: TrainConfig, texts: list[str]):
    """``(tokenizer, proof)``: rnnkit's contract fitted on ``texts`` (its own reference:
    no proof); for a bag of n-grams, Keras's own TextVectorization adapted on them (its
    vocabulary, in its order), as a spec proven equal to the layer."""
    if not cfg.bag_ngrams:
        return Tokenizer.fit(texts, cfg.vocab_size, cfg.maxlen), None
    import keras

    from ..importer.tokenizers import TextVectorizationChoice

    layer = keras.layers.TextVectorization(
        max_tokens=cfg.vocab_size, ngrams=cfg.bag_ngrams, output_mode=cfg.bag_mode,
        pad_to_max_tokens=True,  # the model's width, however few n-grams the data has
    )  # fmt: skip
    layer.adapt(texts, batch_size=1024)
    choice = TextVectorizationChoice(layer=layer)
    tokenizer = choice.build()
    return tokenizer, choice.prove(tokenizer)


def keras_data(tokenizer, ids: np.ndarray, labels: np.ndarray, cfg: TrainConfig, shuffle: bool):
    """What ``fit``/``evaluate`` take: the ids themselves, or for a bag of n-grams batches
    of its vectors made as they are needed (all at once they would be gigabytes)."""
    if not cfg.bag_ngrams:
        return ids, labels
    import keras

    class Bags(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(cfg.seed)
            self.order = self.rng.permutation(len(ids)) if shuffle else np.arange(len(ids))

        def __len__(self) -> int:
            return -(-len(ids) // cfg.batch_size)

        def __getitem__(self, i):
            rows = self.order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            return tokenizer.keras_input(ids[rows]), labels[rows]

        def on_epoch_end(self) -> None:
            if shuffle:
                self.order = self.rng.permutation(len(ids))

    return Bags(), None


def fit_model(cfg: TrainConfig, tokenizer: Tokenizer, parts: Parts, echo, verbose: int | None):
    """Fit and keep the best validation epoch; returns ``(model, history, best)``."""
    model = build_model(cfg)
    model.summary(print_fn=lambda line, *a, **k: echo(line))
    best = _best_epoch_callback()
    x, y = keras_data(tokenizer, tokenizer.encode(parts.fit_texts), parts.fit_labels, cfg, True)
    val = keras_data(tokenizer, tokenizer.encode(parts.val_texts), parts.val_labels, cfg, False)
    fit = model.fit(
        x,
        y,
        validation_data=val if val[1] is not None else val[0],
        epochs=cfg.epochs,
        batch_size=None if y is None else cfg.batch_size,
        shuffle=y is not None,
        callbacks=[best],
        # One line per epoch when not on a terminal (logs, CI) instead of a redrawn bar.
        verbose=verbose if verbose is not None else (1 if sys.stdout.isatty() else 2),
    )
    history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
    return model, history, best


def output_spec(classes: tuple[str, ...]) -> OutputSpec:
    """Two classes: one sigmoid unit for the second; more: a softmax over them."""
    return OutputSpec(BINARY if len(classes) == 2 else MULTICLASS, tuple(classes))


def evaluate_once(model, x_test, y_feed, y_test: np.ndarray) -> tuple[dict, np.ndarray]:
    """The single look at the test split, after model selection: metrics and probabilities
    (``[n, units]``). ``x_test, y_feed``: what ``keras_data`` gives. With more than two
    classes the ROC AUC is the mean of each class's one-vs-rest AUC (macro)."""
    batch = None if y_feed is None else 1024
    test_loss, test_acc = model.evaluate(x_test, y_feed, batch_size=batch, verbose=0)
    test_prob = model.predict(x_test, batch_size=batch, verbose=0)
    if test_prob.shape[1] == 1:
        auc = roc_auc(y_test, test_prob[:, 0])
    else:
        auc = float(np.mean([roc_auc(y_test == k, p) for k, p in enumerate(test_prob.T)]))
    metrics = {"test_accuracy": float(test_acc), "test_loss": float(test_loss), "test_roc_auc": auc}
    return metrics, test_prob


def train(
    cfg: TrainConfig,
    output: str | Path,
    *,
    data: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    source: str = "embedded",
    echo: Callable[[str], None] = print,
    verbose: int | None = None,
) -> Bundle:
    """Train the model described by ``cfg`` and write a bundle to ``output``."""
    started = time.perf_counter()
    check_bundle_target(output, [data])  # before minutes of training, not after
    make_deterministic(cfg.seed)
    split = load_split(
        source,
        path=data,
        text_column=text_column,
        label_column=label_column,
        test_fraction=cfg.test_fraction,
        seed=cfg.data_seed,
        limit=cfg.limit,
        vocab_size=cfg.vocab_size,
    )
    cfg = replace(cfg, classes=len(split.classes))
    parts = carve_validation(split, cfg)
    echo(
        f"data: {split.source}: {len(parts.fit_texts)} train / {len(parts.val_texts)} "
        f"validation / {len(split.test_texts)} test reviews (split seed {cfg.data_seed}, "
        f"weight seed {cfg.seed})"
    )
    # The vocabulary comes from the fitting part only: validation and test stay unseen.
    tokenizer, proof = fit_tokenizer(cfg, parts.fit_texts)
    model, history, best = fit_model(cfg, tokenizer, parts, echo, verbose)
    x_test, test_counts = tokenizer.encode_with_counts(split.test_texts, count_all=True)
    metrics, test_prob = evaluate_once(
        model, *keras_data(tokenizer, x_test, split.test_labels, cfg, False), split.test_labels
    )
    metrics.update(
        best_epoch=best.best_epoch + 1,
        best_val_loss=float(best.best_loss),
        history=history,
        data={
            "source": split.source,
            "train": len(parts.fit_texts),
            "validation": len(parts.val_texts),
            "test": len(split.test_texts),
        },
        # What held-out text looks like to the model; scoring compares its input with this.
        reference_stats=reference_stats(x_test, test_counts, tokenizer),
        seed=cfg.seed,
        train_seconds=round(time.perf_counter() - started, 1),
        versions=library_versions(),
    )
    echo(
        f"test accuracy {metrics['test_accuracy']:.4f}, loss {metrics['test_loss']:.4f}, "
        f"ROC AUC {metrics['test_roc_auc']:.4f} (best epoch {metrics['best_epoch']})"
    )
    spec = output_spec(split.classes)
    first = spec.decide(test_prob[:1])[0]
    echo(
        f"sample: {split.test_texts[0][:70]!r}... -> {split.classes[first]} (probability "
        f"{spec.probability(test_prob[:1])[0]:.3f}; label {split.classes[split.test_labels[0]]})"
    )
    origin = {  # where the data came from (information: export needs only the parity set)
        "source": source if data is None else "csv",
        "path": None if data is None else str(Path(data).resolve()),
        "text_column": text_column,
        "label_column": label_column,
    }
    bundle = write_trained_bundle(
        Path(output), cfg, model, tokenizer, metrics, (x_test, split.test_labels), origin, spec,
        inputs=[data], proof=proof,
    )  # fmt: skip
    echo(f"bundle written to {bundle.path}")
    return bundle


def write_trained_bundle(
    out: Path,
    cfg: TrainConfig,
    model,
    tokenizer: Tokenizer,
    metrics: dict,
    parity_set: tuple[np.ndarray, np.ndarray],
    origin: dict,
    output: OutputSpec | None = None,
    inputs: list = (),
    proof: dict | None = None,
) -> Bundle:
    """The trained model's bundle (``bundle_writer.write_bundle``: complete or absent).
    ``inputs``: the run's input files, which ``out`` may not hold."""

    def write_files(work: Path) -> Signature:
        # Saved without optimizer state: the bundle carries an inference model (1/3 the size).
        inference_model = build_model(cfg, compile=False)
        inference_model.set_weights(model.get_weights())
        inference_model.save(work / KERAS_FILE)
        signature = write_tokenizer(tokenizer, work, output, proof)
        # The held-out inputs travel with the model: export and verify need no training data.
        write_parity_set(work, *parity_set)
        (work / "config.json").write_text(json_text(cfg.to_dict()))
        (work / "metrics.json").write_text(json_text(metrics))
        write_history(metrics["history"], work / "history.csv")
        save_plot(metrics["history"], work / "training.png")
        return signature

    model_entry = {"origin": "trained", "cell": cfg.cell, "config": cfg.to_dict()}
    model_entry["architecture"] = cfg.describe()
    return write_bundle(
        out, inputs, write_files, model=model_entry, versions=metrics["versions"],
        metrics={k: v for k, v in metrics.items() if k != "history"}, data=origin,
    )  # fmt: skip


def write_tokenizer(tokenizer, folder: Path, output: OutputSpec | None, proof: dict | None):
    """The tokenizer's files in the bundle, and the signature that names them: rnnkit's
    contract with its tokenizer.json twin, or another spec (a bag's) with its proof."""
    from .hf_tokenizer import hf_twin, write_hf_tokenizer

    if isinstance(tokenizer, Tokenizer):
        tokenizer.save(folder / TOKENIZER_FILE)
        write_hf_tokenizer(tokenizer, folder / HF_TOKENIZER_FILE)
        return rnnkit_signature(tokenizer, output)
    tokenizer.save(folder / SPEC_FILE)
    entry = tokenizer.signature_entry(SPEC_FILE)
    entry["proof"], entry["hf_twin_missing"] = proof, hf_twin(tokenizer)[1]
    return Signature(InputSpec(tokenizer.maxlen, entry), output or OutputSpec())


def write_history(history: dict[str, list[float]], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        keys = list(history)
        writer.writerow(["epoch", *keys])
        for i in range(len(history["loss"])):
            writer.writerow([i + 1, *(f"{history[k][i]:.6f}" for k in keys)])
