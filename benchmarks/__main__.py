"""Side-by-side benchmarks: rnnkit vs the Keras way, on the same data, in the same run.

    python -m benchmarks            # full run (~10 min on 2 cores)
    python -m benchmarks --quick    # small sizes, a smoke test of the harness (CI)

Writes ``benchmarks/results/<date>.json`` and ``.md`` and prints the table. Timings are
reported, never asserted. Ratios measured together hold on a noisy machine; absolute
times do not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import contextlib

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402

HERE = Path(__file__).resolve().parent


def timed(fn, min_seconds: float, items: int) -> float:
    """Items per second of ``fn`` repeated for at least ``min_seconds`` (after a warm-up)."""
    fn()
    done, start = 0, time.perf_counter()
    while True:
        fn()
        done += items
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


def run_process(cmd: list[str], cwd: str | None = None) -> tuple[float, float]:
    """Wall seconds and peak memory (MiB, whole process tree, sampled every 100 ms).

    Reading PSS walks /proc/<pid>/smaps, which costs CPU; sampling more often than this
    measurably slows the process being timed on a 2-core machine.

    Memory is the sum of PSS (proportional set size) over the process and any children
    (the Keras baseline's, for instance): shared pages are counted once.
    """
    start = time.perf_counter()
    proc = psutil.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            rss = sum(_pss(p) for p in [proc, *proc.children(recursive=True)])
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, peak / 2**20


def _pss(p: psutil.Process) -> int:
    try:
        return p.memory_full_info().pss
    except (psutil.AccessDenied, AttributeError):
        return p.memory_info().rss


def machine() -> dict:
    import importlib.metadata as md

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in (
        "rnnkit",
        "onnxruntime",
        "tensorflow-cpu",
        "tensorflow",
        "ai-edge-litert",
        "numpy",
        "pyarrow",
    ):
        with contextlib.suppress(md.PackageNotFoundError):
            versions[name] = md.version(name)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "versions": versions,
    }


def model_only(bundle, texts, seconds: float) -> list[dict]:
    import keras
    import tensorflow as tf

    from rnnkit.exporter import onnx_export
    from rnnkit.runtime.model.backends import OnnxBackend, TfliteBackend, predict_in_batches
    from rnnkit.training.keras_file import load_keras_model
    from rnnkit.training.model import TrainConfig

    cfg = TrainConfig.from_dict(bundle.manifest["model"]["config"])
    ids = bundle.tokenizer().encode(texts)
    km = load_keras_model(bundle)
    rows = []
    for batch in (64, 1024):
        x = np.resize(ids, (max(batch, len(ids) // batch * batch), ids.shape[1]))
        n = len(x)
        base = timed(lambda x=x, b=batch: km.predict(x, batch_size=b, verbose=0), seconds, n)
        rows.append(("Keras predict", batch, base))
        fn = tf.function(lambda t: km(t, training=False), reduce_retracing=True)
        chunks = [tf.constant(x[i : i + batch]) for i in range(0, n, batch)]
        rows.append(
            (
                "Keras tf.function",
                batch,
                timed(lambda c=chunks, f=fn: [f(t) for t in c], seconds, n),
            )
        )
        with tempfile.TemporaryDirectory() as tmp:
            import onnx

            from rnnkit.exporter.onnx_graph import FoldedSpec

            for form in onnx_export.FORMS:
                path = Path(tmp) / f"{form}.onnx"
                units = bundle.signature.output.units
                try:
                    converted = onnx_export.convert(form, km, FoldedSpec.of(cfg), cfg.maxlen, units)
                except ValueError:  # a form that does not apply to this model
                    continue
                onnx.save(converted, path)
                for threads in (1, 2):
                    be = OnnxBackend(path, threads=threads)
                    rate = timed(
                        lambda be=be, x=x, b=batch: predict_in_batches(be.predict_ids, x, b),
                        seconds,
                        n,
                    )
                    rows.append((f"onnxruntime {form}, {threads} thread(s)", batch, rate))
        for variant, fmt, cls in (
            ("int8", "onnx", OnnxBackend),
            ("fp32", "tflite", TfliteBackend),
            ("int8", "tflite", TfliteBackend),
        ):
            try:
                be = cls(bundle.format_file(fmt, variant), threads=1)
            except Exception:  # noqa: BLE001 - variant not exported
                continue
            rate = timed(
                lambda be=be, x=x, b=batch: predict_in_batches(be.predict_ids, x, b), seconds, n
            )
            rows.append(
                (
                    f"{'LiteRT' if fmt == 'tflite' else 'onnxruntime'} {variant}, 1 thread",
                    batch,
                    rate,
                )
            )
        keras.backend.clear_session()
    out = []
    for name, batch, rate in rows:
        ref = next(r for nm, b, r in rows if nm == "Keras predict" and b == batch)
        out.append(
            {
                "model": name,
                "batch": batch,
                "reviews_per_s": round(rate),
                "vs_keras_predict": round(rate / ref, 2),
            }
        )
    return out


def tokenizers(bundle, texts, seconds: float) -> list[dict]:
    """The reference vs the compiled scan, one thread, in blocks of 750 reviews (as scoring)."""
    import pyarrow as pa

    tok = bundle.tokenizer()
    mb = sum(len(t.encode()) for t in texts) / 1e6
    blocks = [pa.array(texts[i : i + 750], pa.large_string()) for i in range(0, len(texts), 750)]
    reference = tok.encode(texts, compiled=False)
    compiled = np.concatenate([tok.encode(b, compiled=True) for b in blocks])
    runs = [
        ("reference (Python regex)", lambda: tok.encode(texts, compiled=False), True),
        (
            "compiled scan (machine code)",
            lambda: [tok.encode(b, compiled=True) for b in blocks],
            bool(np.array_equal(compiled, reference)),
        ),
    ]
    out = []
    for name, fn, same in runs:
        rate = timed(fn, seconds, len(texts))
        out.append(
            {
                "tokenizer": name,
                "reviews_per_s": round(rate),
                "mb_per_s": round(rate * mb / len(texts), 1),
                "ids_identical_to_reference": same,
            }
        )
    return out


def spec_scans(fit_texts, texts, seconds: float) -> list[dict]:
    """Each tokenizer spec's reference and compiled scan, one thread, blocks of 1,500 (as
    scoring cuts them), maxlen 100: the vocabularies come from ``fit_texts``."""
    from collections import Counter

    import pyarrow as pa

    from rnnkit.runtime.text.imdb import ImdbWordIndex
    from rnnkit.runtime.text.keras_tokenizer import (
        DEFAULT_FILTERS,
        KerasTokenizer,
        text_to_word_sequence,
    )
    from rnnkit.runtime.text.text_vectorization import TextVectorization
    from rnnkit.runtime.text.tokenizer import Tokenizer

    keras_words = Counter(
        w for t in fit_texts for w in text_to_word_sequence(t, DEFAULT_FILTERS, True, " ")
    )
    index = {w: i + 1 for i, (w, _) in enumerate(keras_words.most_common(20_000))}
    tv = TextVectorization(("", "[UNK]", *(w for w, _ in keras_words.most_common(9_998))), 100)
    specs = {
        "rnnkit's contract (last 100)": Tokenizer.fit(fit_texts, 10_000, 100),
        "TextVectorization (first 100)": tv,
        "legacy Tokenizer, 20k-word index (last 100)": KerasTokenizer(index, 100, 10_000),
        "IMDB convention (last 100)": ImdbWordIndex(index, 100, num_words=10_000),
    }
    blocks = [pa.array(texts[i : i + 1500], pa.large_string()) for i in range(0, len(texts), 1500)]
    out = []
    for name, spec in specs.items():
        spec.warm_up()
        same = np.array_equal(
            np.concatenate([spec.encode(b, compiled=True) for b in blocks]),
            spec.encode(texts, compiled=False),
        )
        reference = timed(lambda s=spec: s.encode(texts, compiled=False), seconds, len(texts))
        compiled = timed(
            lambda s=spec: [s.encode(b, compiled=True) for b in blocks], seconds, len(texts)
        )
        out.append(
            {
                "spec": name,
                "reference_us_per_review": round(1e6 / reference, 1),
                "compiled_us_per_review": round(1e6 / compiled, 2),
                "ids_identical": bool(same),
            }
        )
    return out


def make_csv(texts, rows: int, path: Path) -> Path:
    reps = -(-rows // len(texts))
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(rows)], "text": (texts * reps)[:rows]})
    frame.to_csv(path, index=False)
    return path


def rnnkit_cmd(src: Path, bundle_path: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rnnkit.cli",
        "score",
        str(src),
        "--model",
        bundle_path,
        "-q",
        *extra,
    ]


def keras_cmd(src: Path, bundle_path: str, out: Path) -> list[str]:
    return [sys.executable, str(HERE / "keras_baseline.py"), bundle_path, str(src), str(out)]


def end_to_end(
    bundle_path: str, texts, rows: int, work: Path, tv_bundle: str, start_up: list[dict]
) -> list[dict]:
    """Every pipeline on the same CSV; ``start_up`` receives the shipped model's start-up
    phases (from its run summary's timing)."""
    src = make_csv(texts, rows, work / f"e2e_{rows}.csv")
    rnnkit = rnnkit_cmd(src, bundle_path, "--id-column", "id", "--no-progress")
    tv = rnnkit_cmd(src, tv_bundle, "--id-column", "id", "--no-progress")
    out = []
    summary = work / "onnx-summary.json"
    runs = {
        "rnnkit score (ONNX)": rnnkit + ["-o", str(work / "onnx.csv"), "--summary", str(summary)],
        "rnnkit score (ONNX), imported TextVectorization twin": tv + ["-o", str(work / "tv.csv")],
        "rnnkit score (ONNX, --diagnostics)": rnnkit
        + ["--diagnostics", "-o", str(work / "diag.csv")],
        "rnnkit score (TFLite)": rnnkit + ["--backend", "tflite", "-o", str(work / "tfl.csv")],
        "Keras baseline pipeline": keras_cmd(src, bundle_path, work / "keras.csv"),
    }
    for name, cmd in runs.items():
        # rnnkit's runs are a few seconds on a machine whose speed wanders: the median of
        # three (its start-up phases from that same run); the Keras baseline runs once.
        measured = []
        for _ in range(1 if name == "Keras baseline pipeline" else 3):
            launched = time.time()
            wall, rss = run_process(cmd)
            timing = json.loads(summary.read_text())["timing"] if "--summary" in cmd else {}
            measured.append((wall, rss, {k: v - launched for k, v in timing.items()}))
        wall, rss, timing = sorted(measured, key=lambda m: m[0])[len(measured) // 2]
        out.append(
            {
                "pipeline": name,
                "rows": rows,
                "seconds": round(wall, 2),
                "reviews_per_s": round(rows / wall),
                "peak_rss_mib": round(rss),
            }
        )
        if timing:  # process launch to the first block scored
            out[-1]["startup_s"] = round(timing["first_block_at"], 3)
            phases = {
                "imports done, scoring starts": "started_at",
                "model ready (bundle checked, session made, self-check passed)": "model_ready_at",
                "first block back scored (the compiled scan loaded on the way)": "first_block_at",
            }
            start_up.extend(
                {"phase": phase, "seconds_from_launch": round(timing[key], 3)}
                for phase, key in phases.items()
            )
    base = out[-1]["seconds"]
    for r in out:
        r["vs_keras"] = round(base / r["seconds"], 2)
    keras_p = pd.read_csv(work / "keras.csv")["probability"].to_numpy()
    files = ("onnx.csv", None, "diag.csv", "tfl.csv", "keras.csv")  # the twin has no baseline
    for r, f in zip(out, files, strict=True):
        if f is not None:
            got = pd.read_csv(work / f)["probability"].to_numpy()
            r["max_abs_vs_keras"] = float(np.nanmax(np.abs(got - keras_p)))
    shipped_rate = out[0]["reviews_per_s"]
    out[1]["vs_shipped_model"] = round(out[1]["reviews_per_s"] / shipped_rate, 3)
    return out


def parts(bundle, src: Path, e2e: list[dict], seconds: float) -> list[dict]:
    """Each part of scoring alone, on one core, in microseconds per review, on the end-to-end
    file: Arrow's CSV parse, the compiled scan on Arrow arrays (blocks of 1,500 reviews, as
    scoring cuts them) and the folded ONNX model (batches as scoring cuts them, one thread). Their sum says
    what this machine's cores could do; the end-to-end rate divided by that is the figure
    to improve (it holds across machines, absolute rates do not)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from rnnkit.runtime.model.backends import BATCH_SIZE, OnnxBackend, predict_in_batches

    data = pa.py_buffer(src.read_bytes())
    read = pacsv.ReadOptions(use_threads=False, block_size=2 << 20)
    convert = pacsv.ConvertOptions(
        column_types={"id": pa.large_string(), "text": pa.large_string()}
    )
    table = pacsv.read_csv(data, read_options=read, convert_options=convert)
    n = table.num_rows
    texts = table.column("text").combine_chunks()
    blocks = [texts.slice(i, 1500) for i in range(0, n, 1500)]
    tok = bundle.tokenizer()
    tok.warm_up()
    ids = tok.encode(texts.slice(0, 20_480))
    onnx = OnnxBackend(bundle.format_file("onnx"), threads=1)
    rates = {
        "Arrow CSV parse": timed(
            lambda: pacsv.read_csv(data, read_options=read, convert_options=convert), seconds, n
        ),
        "compiled scan, on Arrow arrays": timed(
            lambda: [tok.encode_with_counts(b) for b in blocks], seconds, n
        ),
        f"folded ONNX, batches of {BATCH_SIZE} (as scoring cuts them), 1 thread": timed(
            lambda: predict_in_batches(onnx.predict_ids, ids), seconds, len(ids)
        ),
    }
    out = [{"part": k, "value": round(1e6 / r, 2), "unit": "µs/review"} for k, r in rates.items()]
    total = sum(r["value"] for r in out)
    cores = os.cpu_count() or 1
    allowed = cores * 1e6 / total
    e2e_rate = next(r for r in e2e if r["pipeline"] == "rnnkit score (ONNX)")["reviews_per_s"]
    # The same parts, every review through all three as a scoring thread does, on one core
    # and then on every core at once: whether the cores deliver their sum when all are busy.
    all_ids = tok.encode(texts)

    def every_part() -> None:
        pacsv.read_csv(data, read_options=read, convert_options=convert)
        for b in blocks:
            tok.encode_with_counts(b)
        predict_in_batches(onnx.predict_ids, all_ids)

    one_core = min(_wall(every_part, 1) for _ in range(2)) / n
    busy = min(_wall(every_part, cores) for _ in range(2)) / n  # each core did n reviews
    busy_allowed = cores / busy
    out += [
        {"part": "sum: one review through every part", "value": round(total, 2),
         "unit": "µs/review"},
        {"part": f"what the sum allows on {cores} cores", "value": round(allowed),
         "unit": "reviews/s"},
        {"part": "rnnkit score (ONNX), end to end", "value": e2e_rate, "unit": "reviews/s"},
        {"part": "end to end / what the parts allow", "value": round(e2e_rate / allowed, 3),
         "unit": "ratio"},
        {"part": "every part in turn, one core", "value": round(one_core * 1e6, 2),
         "unit": "µs/review"},
        {"part": f"every part in turn, on all {cores} cores at once (per core)",
         "value": round(busy * 1e6, 2), "unit": "µs/review"},
        {"part": f"what {cores} busy cores allow", "value": round(busy_allowed),
         "unit": "reviews/s"},
        {"part": "end to end / what busy cores allow", "value": round(e2e_rate / busy_allowed, 3),
         "unit": "ratio"},
    ]  # fmt: skip
    return out


def _wall(fn, threads: int) -> float:
    """Seconds until ``threads`` threads, each running ``fn`` once, have all finished."""
    import threading

    gate = threading.Barrier(threads + 1)

    def run() -> None:
        gate.wait()
        fn()

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    gate.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    return time.perf_counter() - start


def cold_start(bundle_path: str, texts, work: Path, repeats: int) -> list[dict]:
    src = make_csv(texts, 10, work / "cold.csv")
    cmds = {
        "rnnkit score (ONNX)": rnnkit_cmd(src, bundle_path, "-o", str(work / "c1.csv")),
        "Keras baseline pipeline": keras_cmd(src, bundle_path, work / "c2.csv"),
    }
    out = []
    for name, cmd in cmds.items():
        runs = [run_process(cmd) for _ in range(repeats)]
        out.append(
            {
                "pipeline": name,
                "median_seconds": round(statistics.median(w for w, _ in runs), 3),
                "peak_rss_mib": round(statistics.median(r for _, r in runs)),
            }
        )
    base = out[-1]["median_seconds"]
    for r in out:
        r["vs_keras"] = round(base / r["median_seconds"], 1)
    return out


def text_vectorization_twin(bundle, fit_texts, work: Path) -> str:
    """A bundle imported the way a user brings a model: the shipped model's architecture and
    weights behind a TextVectorization layer (adapted on the training texts, the shipped
    vocabulary size and length) inside a string-input ``.keras`` file. Its scores differ
    from the shipped model's (another vocabulary); its speed is what is compared."""
    import keras

    from rnnkit.exporter.export import export_bundle
    from rnnkit.importer.run import import_model
    from rnnkit.importer.tokenizers import TextVectorizationChoice
    from rnnkit.training.keras_file import load_keras_model

    shipped = load_keras_model(bundle)
    tok = bundle.tokenizer()
    adapted = keras.layers.TextVectorization(max_tokens=tok.vocab_size)
    adapted.adapt(fit_texts)
    # Passed as ``vocabulary=`` the words travel in the model's config. An adapted layer
    # saves them as lines of a text file, and Keras reads that back with splitlines(): a
    # word holding U+0085 (as IMDB's do) splits, and the file no longer loads.
    layer = keras.layers.TextVectorization(
        output_sequence_length=tok.maxlen,
        vocabulary=adapted.get_vocabulary(include_special_tokens=False),
    )
    text = keras.Input((1,), dtype="string")
    model = keras.Model(text, shipped(layer(text)))
    model.save(work / "tv-model.keras")
    out = work / "tv-bundle"
    import_model(work / "tv-model.keras", out, TextVectorizationChoice(), echo=lambda s: None)
    export_bundle(out, ("onnx",), echo=lambda s: None)
    return str(out)


def models_side_by_side(src: Path, rows: int, bundles: dict[str, str]) -> list[dict]:
    """Bundles side by side: test figures (from their manifests), accuracy on the
    rotten-tomatoes snippets (out of domain: one-sentence critic blurbs, not reviews), ONNX
    size, training time, the largest |Δ| against Keras per runtime at export, and
    ``rnnkit score`` end to end on the same file."""
    import rnnkit
    from rnnkit.runtime.model.bundle import Bundle
    from rnnkit.training.data import embedded_imdb_path

    snippets = pd.read_csv(embedded_imdb_path())
    snippets = snippets[snippets["source"] == "rotten_tomatoes"]
    out = []
    for name, where in bundles.items():
        bundle = Bundle.open(where)
        m, metrics = bundle.manifest, bundle.manifest.get("metrics", {})
        probs = rnnkit.load(where).predict(snippets["text"].astype(str).tolist())
        scored = ~np.isnan(probs)
        hits = (probs[scored] >= 0.5) == (snippets["label"].to_numpy()[scored] == 1)
        wall, rss = run_process(rnnkit_cmd(src, where, "-o", str(src.with_suffix(".out.csv"))))
        onnx = m["formats"]["onnx"]["fp32"]["file"]
        parity = {
            runtime: result["max_abs"]
            for fmt in m.get("parity", {}).values()
            for runtime, result in fmt.get("fp32", {}).items()
        }
        out.append(
            {
                "model": name,
                "test_accuracy": round(metrics["test_accuracy"], 4),
                "test_roc_auc": round(metrics["test_roc_auc"], 4),
                "rotten_tomatoes_accuracy": round(float(hits.mean()), 4),
                "onnx_mb": round(m["files"][onnx]["bytes"] / 1e6, 1),
                "train_seconds": metrics.get("train_seconds"),
                "score_reviews_per_s": round(rows / wall),
                "score_peak_rss_mib": round(rss),
                "max_abs_vs_keras": ", ".join(f"{k} {v:.1e}" for k, v in parity.items()),
            }
        )
    return out


def bag_model(src: Path, rows: int, bundle_path: str) -> list[dict]:
    """A bag-of-n-grams bundle (``--bag``): ``rnnkit score`` end to end (median of three)
    beside Keras's own ``predict`` on the raw strings of the same model (its vectorizer in
    front; the timed call only), and their largest |Δ|."""
    out_csv, keras_csv = src.with_suffix(".bag.csv"), src.with_suffix(".bag-keras.csv")
    cmd = rnnkit_cmd(src, bundle_path, "--id-column", "id", "--no-progress", "-o", str(out_csv))
    wall, rss = sorted(run_process(cmd) for _ in range(3))[1]
    keras = subprocess.run(
        [sys.executable, str(HERE / "keras_bag_baseline.py"), bundle_path, str(src), str(keras_csv)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    timing = json.loads(keras.stdout.strip().splitlines()[-1])
    keras_rate = timing["rows"] / timing["predict_seconds"]
    ours = pd.read_csv(out_csv)["probability"].to_numpy()
    theirs = pd.read_csv(keras_csv)["probability"].to_numpy()
    return [
        {
            "pipeline": "rnnkit score (ONNX), end to end",
            "rows": rows,
            "seconds": round(wall, 2),
            "reviews_per_s": round(rows / wall),
            "peak_rss_mib": round(rss),
            "vs_keras_predict": round(rows / wall / keras_rate, 2),
            "max_abs_vs_keras": float(np.nanmax(np.abs(ours - theirs))),
        },
        {
            "pipeline": "Keras predict on the raw strings (model only, batch 1024)",
            "rows": rows,
            "seconds": round(timing["predict_seconds"], 2),
            "reviews_per_s": round(keras_rate),
            "vs_keras_predict": 1.0,
        },
    ]


def recipe_bundles(folder: str | None) -> dict[str, str]:
    """Every bundle directly inside ``folder`` (``--recipes``), by folder name."""
    from rnnkit.runtime.model.locations import bundle_names

    if folder is None:
        return {}
    return {name: str(Path(folder) / name) for name in bundle_names(Path(folder))}


def memory(bundle_path: str, texts, sizes, work: Path) -> list[dict]:
    out = []
    for rows in sizes:
        src = make_csv(texts, rows, work / f"mem_{rows}.csv")
        wall, rss = run_process(rnnkit_cmd(src, bundle_path, "-o", str(work / "mem.parquet")))
        src.unlink()
        out.append(
            {
                "rows": rows,
                "seconds": round(wall, 1),
                "reviews_per_s": round(rows / wall),
                "peak_rss_mib": round(rss),
            }
        )
    return out


def memory_by_part(bundle_path: str, src: Path) -> list[dict]:
    """What each part of scoring adds to the process's memory (``memory_parts.py``)."""
    cmd = [sys.executable, "-m", "benchmarks.memory_parts", bundle_path, str(src)]
    out = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def markdown(res: dict) -> str:
    def table(rows: list[dict]) -> str:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += [
            "| "
            + " | ".join(
                f"{r[k]:,}"
                if isinstance(r.get(k), int) and not isinstance(r[k], bool)
                else str(r.get(k, ""))
                for k in keys
            )
            + " |"
            for r in rows
        ]
        return "\n".join(lines)

    m = res["machine"]
    sections = {
        "model_only": "Model only** (5k test split, already tokenized)",
        "tokenizer": "Tokenizer**",
        "specs": "Tokenizer specs** (one core, blocks of 1,500 reviews)",
        "end_to_end": "End to end** (CSV of IMDB reviews in, scores out; rnnkit's rows: the "
        "median of 3 runs; startup_s: process launch until the first block comes back scored)",
        "start_up": "Start-up** (`rnnkit score (ONNX)` above, from its run summary)",
        "parts": "The parts** (alone, one core each, on the end-to-end file; then all of "
        "them on every core at once)",
        "shipped_models": "Shipped models** (test figures from their manifests; rotten-"
        "tomatoes snippets out of domain; `rnnkit score` on the end-to-end file)",
        "recipes": "Recipes** (one bundle per recipe, `--recipes`; same columns, same file)",
        "bag": "A bag of bigrams** (`--bag`: the bow-bigram recipe's bundle on the end-to-end "
        "file, against Keras's predict on the same raw strings)",
        "long_sequences": "Long sequences** (`python -m benchmarks.long_sequences`: Keras's "
        "predict, model only, batch 256, the fastest of 3 processes; rnnkit's model only, one caller; `rnnkit score` end to "
        "end on the harness's CSV, median of 3; a 3-row file, second run)",
        "mlflow": "MLflow's route** (`python -m benchmarks.mlflow_route`: the bundle saved as "
        "an MLflow model, the end-to-end file scored as a whole process each way, median of 3)",
        "cold_start": "Cold start** (10-row CSV, whole process, median)",
        "memory": "Memory** (`rnnkit score` to parquet)",
        "memory_by_part": "Memory by part** (`python -m benchmarks.memory_parts`: a fresh "
        "process loads what scoring loads, one part at a time, then scores the end-to-end "
        "file to Parquet)",
    }
    head = (
        f"Run {res['date']} ({'quick' if res['quick'] else 'full'}) on {m['cores']} cores, "
        f"{m['cpu']}, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    )
    parts = [head] + [
        f"\n**{title}\n\n{table(res[key])}" for key, title in sections.items() if key in res
    ]
    return "\n".join(parts) + "\n"


def write_results(res: dict, folder: str, stem: str) -> None:
    """``res`` as ``FOLDER/STEM.json`` and ``.md`` (the tables), and the tables printed."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(res, indent=2) + "\n")
    text = markdown(res)
    (out / f"{stem}.md").write_text(text)
    print(text)


def standalone(key: str, rows: int, output: str, measure) -> None:
    """One of the harness's tables in a run of its own: ``measure(src, work)`` gives its
    rows on the end-to-end file (every embedded review, repeated to ``rows``) in a scratch
    folder; written as ``OUTPUT/DATE-key.md`` (and ``.json``)."""
    from rnnkit.training.data import load_split

    split = load_split(seed=42)
    res = {"date": dt.datetime.now().strftime("%Y-%m-%d"), "quick": False, "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = make_csv(split.train_texts + split.test_texts, rows, work / "e2e.csv")
        res[key] = measure(src, work)
    write_results(res, output, f"{res['date']}-{key.split('_')[0]}")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (< 2 minutes)")
    ap.add_argument("--model", default=None, help="bundle (default: the shipped model)")
    ap.add_argument("--output", default=str(HERE / "results"), help="results directory")
    ap.add_argument(
        "--bag",
        default=None,
        help="a bag-of-n-grams bundle (rnnkit train --recipe bow-bigram) to score beside "
        "Keras's own predict on the raw strings",
    )
    ap.add_argument(
        "--recipes",
        default=None,
        help="a folder of bundles (one per recipe) to score beside the shipped models",
    )
    args = ap.parse_args()

    from rnnkit.runtime.model.bundle import Bundle
    from rnnkit.runtime.model.locations import shipped_names
    from rnnkit.training.data import load_split

    bundle = Bundle.open(args.model)
    split = load_split(seed=bundle.manifest["model"]["config"]["seed"])
    test, everything = split.test_texts, split.train_texts + split.test_texts
    q = args.quick
    seconds = 0.3 if q else 2.0
    res = {"date": dt.datetime.now().strftime("%Y-%m-%d"), "quick": q, "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        res["model_only"] = model_only(bundle, test[: 1024 if q else 5000], seconds)
        res["tokenizer"] = tokenizers(bundle, test[: 1000 if q else 5000], seconds)
        res["specs"] = spec_scans(split.train_texts, test[: 1500 if q else 6000], seconds)
        rows = 5_000 if q else 200_000
        tv_bundle = text_vectorization_twin(bundle, split.train_texts, work)
        res["start_up"] = []
        res["end_to_end"] = end_to_end(
            str(bundle.path), everything, rows, work, tv_bundle, res["start_up"]
        )
        res["parts"] = parts(bundle, work / f"e2e_{rows}.csv", res["end_to_end"], seconds)
        e2e_file = work / f"e2e_{rows}.csv"
        res["shipped_models"] = models_side_by_side(
            e2e_file, rows, {name: name for name in shipped_names()}
        )
        if args.recipes:
            res["recipes"] = models_side_by_side(e2e_file, rows, recipe_bundles(args.recipes))
        if args.bag:
            res["bag"] = bag_model(e2e_file, rows, args.bag)
        res["memory_by_part"] = memory_by_part(str(bundle.path), e2e_file)
        res["cold_start"] = cold_start(str(bundle.path), everything, work, 1 if q else 5)
        res["memory"] = memory(
            str(bundle.path), everything, (5_000, 10_000) if q else (100_000, 1_000_000), work
        )
    write_results(res, args.output, res["date"] + ("-quick" if q else ""))


if __name__ == "__main__":
    main()
