"""The ``rnnkit`` command line: parses options and calls the library, nothing more.

The heavy side (TensorFlow) is imported lazily inside ``train``, ``export`` and ``verify``;
``score`` and ``info`` run on the light install.
"""

from __future__ import annotations

import gc
import re
import sys
from pathlib import Path

import click

from ._version import __version__
from .heavy import prepare_tensorflow, require_tensorflow
from .runtime.errors import MissingExtraError, NotExportedError, RnnkitError
from .runtime.model.locations import DEFAULT_BUNDLE_DIR
from .runtime.model.parity import DEFAULT_ATOL
from .runtime.signals import Interrupted, interruptible
from .training.model import CELLS, RECIPES, TrainConfig

_RECIPE_VALUE = "[default: the recipe's]"


def _choice(*names: str, choices, default, help: str | None = None):
    """An option with a fixed set of values and a shown default."""
    return click.option(
        *names, type=click.Choice(list(choices)), default=default, show_default=True, help=help
    )


FILE = click.Path(dir_okay=False)
SIDE = click.Choice(["pre", "post"])


def _optional(name: str, type, help: str):
    """An option without a default value: ``None`` when it is not given."""
    return click.option(name, type=type, default=None, help=help)


def _atol(help: str, default: float | None = DEFAULT_ATOL):
    """``--atol``: a tolerance, strictly positive."""
    return click.option(
        "--atol",
        type=click.FloatRange(0, min_open=True),
        default=default,
        show_default=default is not None,
        help=help,
    )


def _signed_by(command):
    """``--public-key`` and ``--signature``: the options of every command that reads a
    bundle it can refuse for its signature."""
    command = click.option(
        "--signature",
        type=click.Path(dir_okay=False),
        default=None,
        help="The bundle's signature file (default: model.sig inside the bundle).",
    )(command)
    return click.option(
        "--public-key",
        type=click.Path(dir_okay=False),
        default=None,
        help="Refuse the bundle unless it is signed with this key's private key (an "
        "OpenSSF model-signing signature; needs rnnkit[sign]). Checked before anything else.",
    )(command)


def _err(message: str) -> None:
    click.echo(message, err=True)


#: A parameter as the library's messages name it: ```name``` or ```name=value```.
_PARAMETER = re.compile(r"`([a-z_]+)(?:=([^`]*))?`")


class _Commands(click.Group):
    """Maps rnnkit's errors to exit codes, in this one place: usage errors exit 2, every
    other rnnkit error exits 1, each with its one-line message and no traceback. The
    library names its parameters (```maxlen=200```); the command line says its flags
    (``--maxlen 200``)."""

    def flags(self, message: str) -> str:
        """``message`` with every parameter a command has an option for said as the flag."""
        options = {}
        for command in self.commands.values():
            for param in command.params:
                if isinstance(param, click.Option):
                    flag = next((o for o in param.opts if o.startswith("--")), param.opts[0])
                    options.setdefault(param.name, flag)
                    for opt in param.opts:
                        if opt.startswith("--"):
                            options.setdefault(opt[2:].replace("-", "_"), opt)

        def say(match: re.Match) -> str:
            flag = options.get(match.group(1))
            if flag is None:
                return match.group(0)
            return flag if match.group(2) is None else f"{flag} {match.group(2)}"

        return _PARAMETER.sub(say, message)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RnnkitError as exc:
            # One line and the error's exit code: a usage banner is for bad options (click
            # prints it itself), not for a file that is missing or a model that refused.
            message = self.flags(str(exc))
            if isinstance(exc, NotExportedError):  # the command that makes what is missing
                message += f"; run: rnnkit export {exc.path}"
                if exc.fmt is not None:
                    message += f" --format {exc.fmt}"
                if exc.variant != "fp32":
                    message += f" --quantize {exc.variant}"
            error = click.ClickException(message)
            error.exit_code = exc.exit_code
            raise error from exc
        except BrokenPipeError:  # e.g. `rnnkit score big.csv | head`
            sys.stderr.close()
            sys.exit(0)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rnnkit")
def main() -> None:
    """Train, export and score a recurrent sentiment model.

    \b
    rnnkit train                         # embedded IMDB reviews -> ./rnnkit-model
    rnnkit export --format onnx          # convert + verify parity, write manifest
    rnnkit score reviews.csv             # score raw text with onnxruntime (no TensorFlow)
    """


@main.command()
@click.option(
    "--output",
    "-o",
    default=DEFAULT_BUNDLE_DIR,
    show_default=True,
    help="Bundle directory to write. An existing one is replaced only if it is an rnnkit "
    "bundle or empty, once the new bundle is complete.",
)
@_optional(
    "--data",
    FILE,
    "Your own labelled CSV instead of the embedded IMDB reviews.",
)
@click.option("--text-column", default="text", show_default=True)
@click.option(
    "--label-column",
    default="label",
    show_default=True,
    help="Labels 0/1, true/false or positive/negative (binary), or class names: more "
    "than two train a softmax over them.",
)
@_choice(
    "--source",
    choices=["embedded", "keras"],
    default="embedded",
    help="'keras' downloads keras.datasets.imdb (needs network).",
)
@_choice(
    "--recipe",
    choices=RECIPES,
    default="seed",
    help="A named training configuration; the options below override its values.",
)
@click.option("--epochs", type=click.IntRange(1), default=None, help=_RECIPE_VALUE)
@click.option("--batch-size", type=click.IntRange(1), default=None, help=_RECIPE_VALUE)
@click.option("--maxlen", type=click.IntRange(1), default=None, help=_RECIPE_VALUE)
@click.option("--vocab-size", type=click.IntRange(3), default=None, help=_RECIPE_VALUE)
@click.option("--embed-dim", type=click.IntRange(1), default=None, help=_RECIPE_VALUE)
@click.option("--units", type=click.IntRange(1), default=None, help=_RECIPE_VALUE)
@click.option("--cell", type=click.Choice(list(CELLS)), default=None, help=_RECIPE_VALUE)
@click.option("--seed", type=int, default=None, help=_RECIPE_VALUE)
@_optional(
    "--split-seed", int, "The data split's seed (default: --seed); fix it to compare weight seeds."
)
@_optional(
    "--limit", click.IntRange(10), "Use only this many labelled reviews (quick experiments)."
)
def train(output, data, text_column, label_column, source, recipe, **hyper) -> None:
    """Train the sentiment RNN and write a model bundle.

    Recipes: seed (the seed tutorial's SimpleRNN, maxlen 100; the default), lstm, gru,
    bigru-maxpool (a bidirectional GRU pooled over every step, maxlen 400), bigru-conv (a
    Conv1D branch beside it, maxlen 600: the shipped imdb-bigru-conv) and bigru-conv-bow
    (plus the words' average, maxlen 800).

    \b
    Examples:
      rnnkit train
      rnnkit train --cell lstm --epochs 3 --output runs/lstm
      rnnkit train --recipe bigru-conv --output runs/bigru-conv
      rnnkit train --data my_reviews.csv --text-column body --label-column sentiment
      rnnkit train --data tickets.csv --label-column topic --output runs/topics
    """
    require_tensorflow()
    from .training.train import train as run_train

    # The hyper-parameter options are named after TrainConfig's fields.
    given = {k: v for k, v in hyper.items() if v is not None}
    run_train(
        TrainConfig.from_recipe(recipe, **given),
        output,
        data=data,
        text_column=text_column,
        label_column=label_column,
        source=source,
        echo=click.echo,
    )


@main.command("import")
@click.argument("model", type=click.Path())
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(file_okay=False),
    help="Where to write the bundle. An existing one is replaced only if it is an rnnkit "
    "bundle or empty, and never if it holds an input or the current folder.",
)
@click.option(
    "--tokenizer",
    type=click.Path(dir_okay=False),
    help="An rnnkit-tokenizer.json (rnnkit's own contract).",
)
@click.option(
    "--keras-tokenizer",
    type=click.Path(dir_okay=False),
    help="A legacy Keras Tokenizer saved with to_json().",
)
@click.option(
    "--imdb-word-index",
    type=click.Path(dir_okay=False),
    help="A keras.datasets.imdb word index ({word: rank}).",
)
@click.option(
    "--vectorizer", type=click.Path(), help="A .keras file holding a TextVectorization layer."
)
@_optional(
    "--maxlen",
    click.IntRange(1),
    "Ids per text (pad_sequences maxlen; TextVectorization output length).",
)
@_optional(
    "--padding",
    SIDE,
    "pad_sequences padding (--keras-tokenizer, --imdb-word-index) [default: pre].",
)
@_optional(
    "--truncating",
    SIDE,
    "pad_sequences truncating (--keras-tokenizer, --imdb-word-index) [default: pre].",
)
@_optional(
    "--num-words",
    click.IntRange(1),
    "Keep the ids below this (Keras's num_words): --keras-tokenizer, --imdb-word-index.",
)
@click.option("--skip-top", type=click.IntRange(0), default=None, help="IMDB: load_data's [0].")
@click.option("--start-char", type=click.IntRange(0), default=None, help="IMDB: load_data's [1].")
@click.option("--oov-char", type=click.IntRange(0), default=None, help="IMDB: load_data's [2].")
@click.option("--index-from", type=click.IntRange(0), default=None, help="IMDB: load_data's [3].")
@click.option(
    "--labels",
    default=None,
    help="Class names, in output order: 'neg,pos' or a file with one per line.",
)
@_choice(
    "--logits",
    choices=["sigmoid", "softmax"],
    default=None,
    help="The model ends in a linear layer: read its outputs through this activation.",
)
@_optional(
    "--sample",
    FILE,
    "A CSV of texts for the parity set [default: 2,000 embedded IMDB reviews].",
)
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default=None, help="Labels in --sample (class names or indices).")
@_atol("Keras 2 .h5 files: max |Δ| allowed between Keras 3's reading and Keras 2's own.")
@_optional(
    "--custom-objects",
    FILE,
    "A Python file defining the functions the model names (a TextVectorization's "
    "custom standardize). It runs at import only; scoring never runs it.",
)
def import_(
    model, output, labels, logits, sample, text_column, label_column, atol, custom_objects, **tok
) -> None:
    """Import your own Keras text classifier (.keras, or .h5 from Keras 3 or Keras 2) into
    a bundle.

    The model is checked layer by layer (nothing in it runs: Lambda and custom layers are
    refused), its output read as binary (one sigmoid unit) or multi-class (a softmax), and
    its tokenizer made a spec whose ids are proven equal to the real implementation's. A
    Keras 2 file (TensorFlow <= 2.15, tf_keras) is translated for Keras 3, each change
    named, and proven against Keras 2's own outputs. Then export, verify and score it like
    any rnnkit bundle.

    \b
    Examples:
      rnnkit import model.keras -o my-model          # TextVectorization inside the model
      rnnkit import model.keras --vectorizer tv.keras -o my-model
      rnnkit import model.keras --keras-tokenizer tok.json --maxlen 200 -o my-model
      rnnkit import keras2_model.h5 --keras-tokenizer tok.json --maxlen 100 -o my-model
      rnnkit import tutorial.keras --custom-objects my_text.py -o my-model
      rnnkit import seed.keras --imdb-word-index imdb_word_index.json --maxlen 100 \\
          --num-words 10000 -o seed
      rnnkit import stars.keras --tokenizer rnnkit-tokenizer.json --labels 1,2,3,4,5 \\
          --sample reviews.csv --text-column body --label-column stars -o stars
      rnnkit export my-model --format all
    """
    require_tensorflow()
    from .importer.run import import_model
    from .importer.tokenizers import TokenizerOptions, tokenizer_choice

    given = {k: tok.pop(k) for k in ("tokenizer", "keras_tokenizer", "imdb_word_index",
                                     "vectorizer", "maxlen")}  # fmt: skip
    choice = tokenizer_choice(**given, options=TokenizerOptions(**tok))
    bundle = import_model(
        model, output, choice, labels=labels, logits=logits, sample=sample,
        text_column=text_column, label_column=label_column, atol=atol,
        custom_objects=custom_objects, echo=click.echo,
    )  # fmt: skip
    click.echo(f"next: rnnkit export {bundle.path} --format all")


@main.command()
@click.argument("bundle", required=False, type=click.Path(file_okay=False))
@_choice("--format", "-f", "fmt", choices=["onnx", "tflite", "all"], default="onnx")
@click.option(
    "--quantize",
    type=click.Choice(["int8", "float16"]),
    multiple=True,
    help="Also write quantized variants (float16: TFLite only). Repeatable.",
)
@_atol("Max |Δ| allowed between Keras and an fp32 export.")
@click.option(
    "--measure-forms",
    type=click.FloatRange(0),
    default=0.0,
    help="Also time each candidate ONNX graph form for this many seconds (information "
    "only; recorded in the manifest).",
)
def export(bundle, fmt, quantize, atol, measure_forms) -> None:
    """Convert a trained bundle to ONNX and/or TFLite and prove parity with Keras.

    BUNDLE defaults to ./rnnkit-model (what `rnnkit train` writes). The export is gated:
    past --atol the command fails and the manifest is left untouched.

    \b
    Examples:
      rnnkit export --format onnx
      rnnkit export runs/imdb --format all --quantize int8
    """
    require_tensorflow()
    from .exporter.export import export_bundle
    from .runtime.model.manifest import manifest_digest
    from .runtime.model.parity import table
    from .runtime.model.signing import SIGNATURE_FILE

    formats = ("onnx", "tflite") if fmt == "all" else (fmt,)
    signature = Path(bundle or DEFAULT_BUNDLE_DIR) / SIGNATURE_FILE
    signed_digest = manifest_digest(signature.parent) if signature.is_file() else None
    done, results = export_bundle(
        bundle or DEFAULT_BUNDLE_DIR, formats, quantize=quantize, atol=atol, echo=click.echo,
        measure_seconds=measure_forms,
    )  # fmt: skip
    click.echo(table(results))
    for f in formats:
        for variant, entry in done.manifest["formats"].get(f, {}).items():
            size = done.manifest["files"][entry["file"]]["bytes"]
            click.echo(f"wrote {done.path / entry['file']} ({size / 1e6:.2f} MB, {f} {variant})")
    click.echo(f"manifest: {done.path / 'manifest.json'}")
    if signed_digest not in (None, manifest_digest(done.path)):  # the signature went stale
        _err(
            f"rnnkit: warning: {signature} was made before this export and "
            "no longer matches the bundle; sign it again (rnnkit sign)"
        )


@main.command()
@click.argument("bundle", required=False, type=click.Path(file_okay=False))
@_atol(
    "Override the fp32 tolerance (default: the one the bundle was exported with, "
    f"{DEFAULT_ATOL:g} unless export was given --atol).",
    default=None,
)
@click.option(
    "--recorded",
    is_flag=True,
    help="Replay the recorded Keras outputs even when TensorFlow is installed.",
)
@_signed_by
def verify(bundle, atol, recorded, public_key, signature) -> None:
    """Check that a bundle's exported models still say what Keras said, and print a table.

    With TensorFlow installed, Keras runs live, and the outputs recorded at export are
    checked against the .keras file too. Without it (the light install), the recorded
    Keras outputs are replayed through every installed runtime (onnxruntime always;
    LiteRT with rnnkit[tflite]). With --public-key, the bundle's signature is checked
    first. Exits non-zero on a changed file or any failed check.

    \b
    Examples:
      rnnkit verify                      # the bundle `rnnkit score` would use
      rnnkit verify runs/imdb --recorded
      rnnkit verify runs/imdb --public-key team.pub
    """
    from .runtime.model.parity import table
    from .verify import verify as run_verify

    prepare_tensorflow()
    report = run_verify(
        bundle,
        atol=atol,
        live=False if recorded else None,
        public_key=public_key,
        signature=signature,
    )
    if report.signed is not None:
        click.echo(f"signature: {report.signed} matches {public_key} over every file")
    if report.results:
        click.echo(f"checked against: {report.mode}")
        click.echo(table(report.results))
    for note in report.skipped:
        click.echo(f"skipped {note}")
    report.raise_for_failure()


@main.command()
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option(
    "--private-key",
    type=click.Path(dir_okay=False),
    required=True,
    help="Elliptic-curve private key, PEM (P-256, P-384 or P-521).",
)
@_optional(
    "--signature",
    FILE,
    "Where to write the signature (default: model.sig inside the bundle).",
)
@click.option(
    "--key-password",
    envvar="RNNKIT_KEY_PASSWORD",
    default=None,
    help="The private key's password, if it is encrypted (better: set RNNKIT_KEY_PASSWORD).",
)
def sign(bundle, private_key, signature, key_password) -> None:
    """Sign every file of a bundle, in the OpenSSF model-signing format (needs rnnkit[sign]).

    The bundle's hashes are checked first; the signature covers every file in the folder
    but itself. Sign after the last export: exporting again changes the bundle. Anyone
    with the public key checks it with `rnnkit verify --public-key` (or the upstream
    `model_signing verify key`), and `rnnkit score --public-key` refuses a bundle that
    fails the check.

    \b
    Examples:
      openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out key.pem
      openssl ec -in key.pem -pubout -out key.pub
      rnnkit sign runs/imdb --private-key key.pem
      rnnkit score reviews.csv --model runs/imdb --public-key key.pub
    """
    from .runtime.model.bundle import Bundle

    written = Bundle.open(bundle).sign(private_key, signature=signature, password=key_password)
    click.echo(f"signed {bundle}: {written}")


@main.command()
@click.argument("bundle", required=False, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the raw manifest.")
def info(bundle, as_json) -> None:
    """Print a bundle's model card (light side: reads the manifest only).

    \b
    Examples:
      rnnkit info                # the bundle `rnnkit score` would use
      rnnkit info runs/imdb --json
    """
    from .runtime.model.bundle import Bundle
    from .runtime.model.card import model_card

    opened = Bundle.open(bundle)
    if as_json:
        import json

        click.echo(json.dumps(opened.manifest, indent=2, ensure_ascii=False))
    else:
        click.echo(model_card(opened))


@main.command()
def models() -> None:
    """List the shipped, pretrained models (light side: reads their manifests).

    \b
    Examples:
      rnnkit models
      rnnkit score reviews.csv --model imdb-bigru-conv
    """
    from .runtime.model.card import shipped_models_listing

    click.echo(shipped_models_listing())
    click.echo("score with one: rnnkit score FILE --model NAME")


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--output",
    "-o",
    default=None,
    help="Output file (default: stdout). Written atomically: complete or absent.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "parquet"]),
    default=None,
    help="Output format (default: from the -o extension, else csv).",
)
@click.option(
    "--model", "-m", type=click.Path(file_okay=False),
    help="Bundle directory, or a shipped model's name (rnnkit models lists them; default: "
    "$RNNKIT_MODEL, ./rnnkit-model, the shipped default).",
)  # fmt: skip
@click.option(
    "--text-column",
    default=None,
    help="Column with the review text (default: detect review/text/content/...).",
)
@click.option(
    "--id-column", default=None, help="Column to use as the row id (default: row number)."
)
@click.option(
    "--columns",
    default=None,
    help="Input columns to carry beside the scores, comma-separated ('' for none) "
    "[default: every column but the text and the id].",
)
@click.option("--keep-text", is_flag=True, help="Carry the text column too.")
@click.option(
    "--keep-columns", is_flag=True, hidden=True, help="Every input column, the text included."
)
@_optional(
    "--threshold",
    click.FloatRange(0, 1),
    "Binary models: the probability at or above which the label is the positive class "
    "(default: the model's, 0.5).",
)
@_choice("--backend", choices=["onnx", "tflite"], default="onnx")
@click.option(
    "--encoding",
    default=None,
    help="Input text encoding (default: what the file's byte-order mark says, else UTF-8).",
)
@_optional(
    "--input-format",
    click.Choice(["csv", "tsv", "parquet", "jsonl"]),
    "Input format (default: from each file's extension; stdin: csv).",
)
@click.option(
    "--delimiter",
    default=None,
    help="CSV field delimiter (default: tab for .tsv; for .csv a comma, or ; tab | when the "
    "header splits on that and not on commas).",
)
@_optional(
    "--workers",
    click.IntRange(1),
    "Worker threads (default: one per core; for a long-sequence model, callers or threads "
    "as measured once on this machine).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
@click.option(
    "--diagnostics",
    is_flag=True,
    help="Add per-row columns: tokens (words found), oov (unknown share of the words read), "
    "truncated (words beyond the last maxlen were dropped).",
)
@click.option(
    "--summary", "summary_path", type=click.Path(dir_okay=False),
    help="Write the run summary (counts, histogram, drift statistics, warnings) as JSON.",
)  # fmt: skip
@click.option(
    "--quiet", "-q", is_flag=True, help="No bundle line and no summary on stderr (warnings stay)."
)
@_choice(
    "--engine",
    choices=["local", "spark"],
    default="local",
    help="'spark': score on Apache Spark (needs rnnkit[spark]).",
)
@click.option(
    "--master", default=None, help="Spark master URL with --engine spark (default: local[*])."
)
@_optional(
    "--partitions",
    click.IntRange(1),
    "Spark partitions to score in (default: the cluster's parallelism).",
)
@_signed_by
def score(
    sources, output, fmt, columns, summary_path, quiet, engine, master, partitions, workers,
    progress, **options,
) -> None:  # fmt: skip
    """Score raw reviews without TensorFlow: files, folders, globs or '-' (stdin), as
    CSV/TSV, Parquet or JSON Lines (by extension; .gz works for text formats).

    Every input row gets one output row, in order: id, probability, label, status (and
    source, the file, when several files are scored). Rows without scorable text get a
    status (missing_text, empty_text, no_words, no_model_output) and no probability.
    Exit codes: 0 ok, 1 data error, 2 usage error.

    \b
    Examples:
      rnnkit score samples/reviews.csv
      rnnkit score reviews.csv.gz -o scores.parquet --id-column review_id --keep-text
      rnnkit score reviews.csv --columns review_id,stars
      rnnkit score exports/ "more/2026-*.jsonl.gz" extra.parquet -o all.parquet
      rnnkit score tweets.csv --diagnostics --summary run.json
      rnnkit score reviews.csv --model imdb-bigru-conv   # the stronger shipped model
      rnnkit score reviews.csv --model runs/imdb --public-key team.pub   # signed only
      cat reviews.csv | rnnkit score - --text-column body --format jsonl
      rnnkit score reviews/ --engine spark -o scores/
      rnnkit score "s3a://bucket/reviews/*.csv" --engine spark --master yarn -o s3a://bucket/out/
    """

    from .runtime.scoring.request import ScoreRequest

    # ``options``: the rest of the command's options, named as the library names them.
    request = ScoreRequest.of(
        sources,
        output,
        columns=None if columns is None else [c for c in columns.split(",") if c],
        format=fmt,
        summary=summary_path,
        **options,
    )

    def announce(bundle) -> None:
        if not quiet:
            _err(f"rnnkit: model {bundle.path} ({bundle.reason}), backend {request.backend}")

    if engine == "spark":
        try:
            from . import spark
        except ImportError as exc:
            raise MissingExtraError(
                f'the Spark engine needs pyspark: pip install "rnnkit[spark]" ({exc})'
            ) from exc
        summary = spark.score_request(
            request, master=master, partitions=partitions, on_bundle=announce
        )
    else:
        from .runtime.scoring.pipeline import score_request

        if progress is None:
            progress = sys.stderr.isatty()
        summary = score_request(
            request, workers=workers, progress=progress and not quiet, on_bundle=announce
        )
    if not quiet:
        _err(f"rnnkit: {summary.line()}")
        if summary.drift_line():
            _err(f"rnnkit: {summary.drift_line()}")
    for warning in summary.warnings:
        _err(f"rnnkit: warning: {warning}")


def run() -> None:
    """The ``rnnkit`` command: :func:`main`, stoppable, then a process that ends promptly.

    SIGTERM and SIGINT stop a command as an exception (``runtime/signals.py``), so every
    partial file and folder is removed on the way out; the exit status is then 128 + the
    signal's number, as for a process the signal killed.

    Freezing the garbage collector's objects as the command ends makes the interpreter's
    last collection at exit skip them (a 200k-row ``score`` exits in about half the time).
    Objects in reference cycles are then left to the operating system, which nothing here
    needs: every output is complete and closed before ``main`` returns, and the standard
    streams are flushed at exit as always."""
    try:
        with interruptible():
            main()
    except Interrupted as exc:
        _err(f"rnnkit: stopped by {exc.name}; no partial file was left")
        sys.exit(exc.exit_code)
    finally:
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    run()
