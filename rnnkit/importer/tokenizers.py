"""The tokenizer an imported model is fed by, chosen on the command line. Each choice
builds the runtime tokenizer, proves it against the real implementation where one exists,
and writes its spec into the bundle."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..runtime.errors import ModelFileError, UsageError
from ..runtime.model.manifest import HF_TOKENIZER_FILE, SPEC_FILE, TOKENIZER_FILE
from ..runtime.model.signature import rnnkit_tokenizer_spec
from ..runtime.text.bags import MODES as BAG_MODES
from ..runtime.text.bags import TextVectorizationBag
from ..runtime.text.imdb import ImdbWordIndex
from ..runtime.text.keras_tokenizer import KerasTokenizer
from ..runtime.text.sequences import read_json
from ..runtime.text.text_vectorization import STANDARDIZE, TextVectorization
from ..runtime.text.tokenizer import Tokenizer
from .proof import prove

#: ``keras.datasets.imdb.load_data``'s options (``ImdbWordIndex``'s fields).
IMDB_OPTIONS = ("num_words", "skip_top", "start_char", "oov_char", "index_from")


@dataclass(frozen=True)
class TokenizerOptions:
    """What a tokenizer choice may read besides its file and ``maxlen``: pad_sequences's
    sides and ``load_data``'s options (``None``: not given, the spec's default)."""

    padding: str | None = None
    truncating: str | None = None
    num_words: int | None = None
    skip_top: int | None = None
    start_char: int | None = None
    oov_char: int | None = None
    index_from: int | None = None


def _read(path: str, what: str) -> object:
    try:
        return read_json(path)
    except FileNotFoundError as exc:
        raise UsageError(f"{what} {path}: no such file") from exc
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nesting bombs
        raise ModelFileError(f"{what} {path}: not readable JSON ({type(exc).__name__})") from exc


def _tf_keras():
    try:
        import tf_keras

        return tf_keras
    except ImportError:
        return None


def _keras_pad(seqs: list[list[int]], tok) -> np.ndarray:
    import keras

    return keras.utils.pad_sequences(
        seqs, maxlen=tok.maxlen, padding=tok.padding, truncating=tok.truncating, value=0
    ).astype(np.int32)


@dataclass
class RnnkitChoice:
    """rnnkit's own contract, from an ``rnnkit-tokenizer.json`` (the default spec)."""

    path: str
    maxlen: int | None = None
    caps_ids = False

    def build(self, model=None):
        try:
            tok = Tokenizer.load(self.path)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{self.path}: not an rnnkit tokenizer ({exc})") from exc
        if self.maxlen is not None:
            tok = Tokenizer(tok.words, tok.vocab_size, self.maxlen)
        return tok

    def prove(self, tok) -> dict | None:
        """rnnkit's contract is its own reference, fuzzed against its compiled scan."""
        return {"against": "rnnkit's own contract"}

    def write(self, tok, folder: Path, proof: dict | None) -> dict:
        from ..training.hf_tokenizer import write_hf_tokenizer

        tok.save(folder / TOKENIZER_FILE)
        write_hf_tokenizer(tok, folder / HF_TOKENIZER_FILE)
        return rnnkit_tokenizer_spec(tok, TOKENIZER_FILE, HF_TOKENIZER_FILE)


class _SpecChoice:
    #: Whether ``num_words`` caps its ids (Keras's ``num_words``).
    caps_ids = True

    def write(self, tok, folder: Path, proof: dict | None) -> dict:
        from ..training.hf_tokenizer import hf_twin

        tok.save(folder / SPEC_FILE)
        entry = tok.signature_entry(SPEC_FILE)
        entry["proof"] = proof
        twin, why_not = hf_twin(tok)
        if twin is not None:
            # Written only once proven: its ids must equal the spec's on the proof corpus.
            try:
                prove(
                    "tokenizer.json twin",
                    lambda texts: [e.ids for e in twin.encode_batch(texts)],
                    lambda texts: tok.encode(texts, compiled=False),
                )
            except ModelFileError as exc:
                twin, why_not = None, f"the twin differed, so it was not written ({exc})"
        if twin is not None:
            twin.save(str(folder / HF_TOKENIZER_FILE))
            entry["hf_file"] = HF_TOKENIZER_FILE
        else:
            entry["hf_twin_missing"] = why_not
        return entry


@dataclass
class KerasTokenizerChoice(_SpecChoice):
    """A legacy Keras ``Tokenizer`` saved with ``to_json()``, plus ``pad_sequences``."""

    path: str
    maxlen: int | None
    padding: str = "pre"
    truncating: str = "pre"
    num_words: int | None = None  # replaces the saved one, as Keras's attribute does

    def build(self, model=None):
        if self.maxlen is None:
            raise UsageError("`keras_tokenizer` needs `maxlen` (the pad_sequences length)")
        doc = _read(self.path, "`keras_tokenizer`")
        try:
            return KerasTokenizer.from_keras_json(
                doc, self.maxlen, self.padding, self.truncating, self.path, self.num_words
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise ModelFileError(f"{self.path}: {exc}") from exc

    def prove(self, tok) -> dict | None:
        tfk = _tf_keras()
        if tfk is None:
            return None  # said on the console and in rnnkit info
        import json

        from tf_keras.preprocessing.text import tokenizer_from_json

        real = tokenizer_from_json(json.dumps(_read(self.path, "`keras_tokenizer`")))
        if self.num_words is not None:
            real.num_words = self.num_words
        n = prove(
            "`keras_tokenizer`", tok.encode, lambda t: _keras_pad(real.texts_to_sequences(t), tok)
        )
        return {
            "against": f"tf_keras {tfk.__version__} Tokenizer + pad_sequences",
            "texts": n,
        }


@dataclass
class ImdbChoice(_SpecChoice):
    """A ``keras.datasets.imdb`` word index (``{word: rank}``) and ``load_data``'s options
    (``ImdbWordIndex``'s fields: num_words, skip_top, start_char, oov_char, index_from)."""

    path: str
    maxlen: int | None
    padding: str = "pre"
    truncating: str = "pre"
    options: dict = field(default_factory=dict)

    def build(self, model=None):
        if self.maxlen is None:
            raise UsageError("`imdb_word_index` needs `maxlen` (the pad_sequences length)")
        try:
            index = _read(self.path, "`imdb_word_index`")
            return ImdbWordIndex(
                index, self.maxlen, padding=self.padding, truncating=self.truncating, **self.options
            )
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"{self.path}: {exc}") from exc

    def prove(self, tok) -> dict | None:
        """The words split by the real ``text_to_word_sequence``, the ranks mapped by
        ``load_data``'s own arithmetic, padded by the real ``pad_sequences``."""
        tfk = _tf_keras()
        if tfk is None:
            return None
        from tf_keras.preprocessing.text import text_to_word_sequence

        def theirs(texts):
            seqs = []
            for text in texts:
                ranks = [tok.word_index.get(w) for w in text_to_word_sequence(text)]
                x = [r + tok.index_from if r is not None else None for r in ranks]
                x = ([tok.start_char] if tok.start_char is not None else []) + x
                top = tok.num_words or float("inf")
                seqs.append(
                    [w if w is not None and tok.skip_top <= w < top else tok.oov_char for w in x]
                )
            return _keras_pad(seqs, tok)

        n = prove("`imdb_word_index`", tok.encode, theirs)
        return {
            "against": f"tf_keras {tfk.__version__} text_to_word_sequence + keras pad_sequences",
            "texts": n,
        }


def text_vectorization_layer(model):
    """The TextVectorization layer of ``model`` (None if it has none)."""
    import keras

    found = [
        layer
        for layer in getattr(model, "layers", [])
        if isinstance(layer, keras.layers.TextVectorization)
    ]
    if len(found) > 1:
        raise ModelFileError("the model holds more than one TextVectorization layer")
    return found[0] if found else None


@dataclass
class TextVectorizationChoice(_SpecChoice):
    """A TextVectorization layer: inside the model (string input) or saved on its own."""

    path: str | None = None  # a .keras file holding the layer; None: the model's own
    maxlen: int | None = None
    layer: object = None
    caps_ids = False
    custom_objects: dict = field(default_factory=dict)  # ``custom_objects``, for ``vectorizer``

    def loaded(self, model_layer=None) -> TextVectorizationChoice:
        """This choice with its layer: the model's own (``model_layer``) or the one in the
        ``vectorizer`` file. A new value: the choice itself is never changed."""
        if self.path is None:
            return replace(self, layer=model_layer)
        from .model_file import load_model

        layer = text_vectorization_layer(load_model(self.path, self.custom_objects))
        if layer is None:
            raise ModelFileError(f"`vectorizer` {self.path}: holds no TextVectorization layer")
        return replace(self, layer=layer)

    def build(self, model=None):
        if self.layer is None:
            raise UsageError(
                "the model takes token ids: say which tokenizer makes them (`tokenizer`, "
                "`keras_tokenizer`, `imdb_word_index` or `vectorizer`)"
            )
        cfg = self.layer.get_config()
        standardize = cfg.get("standardize")
        if callable(standardize):  # traced into steps, proven below like any spec
            from .standardize_trace import trace_standardize

            standardize = trace_standardize(standardize, self.layer.name)
        elif standardize not in STANDARDIZE:
            raise ModelFileError(
                f"TextVectorization {self.layer.name!r}: standardize={standardize!r} is not "
                "a built-in option or a function rnnkit can trace"
            )
        if cfg.get("split") not in ("whitespace", "character"):
            raise ModelFileError(
                f"TextVectorization {self.layer.name!r}: split={cfg.get('split')!r}: a custom "
                "split (or split=None) cannot be reproduced outside TensorFlow; rnnkit "
                "reproduces split='whitespace' and 'character'"
            )
        if cfg.get("output_mode") in BAG_MODES:
            return self._bag(cfg, standardize)
        if cfg.get("output_mode") != "int" or cfg.get("ngrams") is not None:
            raise ModelFileError(
                f"TextVectorization {self.layer.name!r}: output_mode={cfg.get('output_mode')!r}, "
                f"ngrams={cfg.get('ngrams')!r}; rnnkit reproduces output_mode 'int' (without "
                "ngrams), 'multi_hot', 'count' and 'tf_idf'"
            )
        length = cfg.get("output_sequence_length")
        if length is None and self.maxlen is None:
            raise ModelFileError(
                f"TextVectorization {self.layer.name!r} has output_sequence_length=None: it pads "
                "each batch to its longest text, so a text's score would depend on the other "
                "texts in its batch. Give `maxlen` to fix the length"
            )
        if length is not None and self.maxlen is not None and length != self.maxlen:
            raise UsageError(
                f"`maxlen={self.maxlen}`: the layer's output_sequence_length is {length}"
            )
        vocab = tuple(self.layer.get_vocabulary(include_special_tokens=True))
        return TextVectorization(vocab, int(length or self.maxlen), standardize, cfg.get("split"))

    def _bag(self, cfg: dict, standardize):
        """A bag of n-grams: the whole text, no length (``maxlen`` does not apply)."""
        if self.maxlen is not None:
            raise UsageError(
                f"`maxlen={self.maxlen}`: TextVectorization {self.layer.name!r} makes a bag "
                f"of n-grams (output_mode {cfg['output_mode']!r}) of the whole text; leave "
                "`maxlen` out"
            )
        if cfg.get("split") != "whitespace":
            raise ModelFileError(
                f"TextVectorization {self.layer.name!r}: bags of n-grams are reproduced with "
                "split='whitespace' only"
            )
        vocab = tuple(self.layer.get_vocabulary(include_special_tokens=True))
        idf = None
        if cfg["output_mode"] == "tf_idf":
            idf = tuple(np.asarray(self.layer._lookup_layer.idf_weights).astype(float).tolist())
        depth = int(self.layer.compute_output_shape((None, 1))[-1])
        try:
            return TextVectorizationBag(
                vocab, cfg.get("ngrams"), cfg["output_mode"], idf, standardize, "whitespace",
                depth,
            )  # fmt: skip
        except ValueError as exc:
            raise ModelFileError(f"TextVectorization {self.layer.name!r}: {exc}") from exc

    def prove(self, tok) -> dict | None:
        import keras

        layer = self.layer
        if isinstance(tok, TextVectorizationBag):  # the vectors Keras's model takes
            import tensorflow as tf

            n = prove(
                "TextVectorization", lambda t: tok.keras_input(tok.encode(t)),
                lambda t: np.asarray(layer(np.array(t, dtype=object)), dtype=np.float32),
                rows_at_once=256,
            )  # fmt: skip
            return {"against": f"TensorFlow {tf.__version__} TextVectorization layer", "texts": n}

        def theirs(texts):
            ids = np.asarray(layer(np.array(texts, dtype=object))).astype(np.int32)
            return keras.utils.pad_sequences(
                ids, maxlen=tok.maxlen, padding="post", truncating="post"
            )

        import tensorflow as tf

        n = prove("TextVectorization", tok.encode, theirs)
        return {"against": f"TensorFlow {tf.__version__} TextVectorization layer", "texts": n}


TokenizerChoice = RnnkitChoice | KerasTokenizerChoice | ImdbChoice | TextVectorizationChoice


#: The options each tokenizer choice reads besides its file (and ``maxlen``, which all read).
#: Any other option given beside it is refused: an option must never be silently ignored.
READS = {
    "tokenizer": (),
    "keras_tokenizer": ("padding", "truncating", "num_words"),
    "imdb_word_index": ("padding", "truncating", *IMDB_OPTIONS),
    "vectorizer": (),
}


def tokenizer_choice(
    *,
    tokenizer: str | None = None,
    keras_tokenizer: str | None = None,
    imdb_word_index: str | None = None,
    vectorizer: str | None = None,
    maxlen: int | None = None,
    options: TokenizerOptions | None = None,
) -> TokenizerChoice:
    """The one tokenizer given (none: the model's own TextVectorization), with the options
    it reads (:class:`TokenizerOptions`). An option the chosen tokenizer does not read is
    refused."""
    options = asdict(options or TokenizerOptions())
    files = {
        "tokenizer": tokenizer,
        "keras_tokenizer": keras_tokenizer,
        "imdb_word_index": imdb_word_index,
        "vectorizer": vectorizer,
    }
    given = [name for name, value in files.items() if value]
    if len(given) > 1:
        raise UsageError(f"give one tokenizer, not {' and '.join(f'`{g}`' for g in given)}")
    chosen = given[0] if given else "vectorizer"
    options = {k: v for k, v in options.items() if v is not None}
    unread = [k for k in options if k not in READS[chosen]]
    if unread:
        names = ", ".join(f"`{k}`" for k in unread)
        takers = sorted(f"`{c}`" for c, reads in READS.items() if unread[0] in reads)
        what = f"`{chosen}`" if given else "a model's own TextVectorization layer"
        raise UsageError(
            f"{names}: not read by {what}; only {' and '.join(takers)} read "
            f"`{unread[0]}`. Leave it out"
        )
    pads = {k: options.pop(k) for k in ("padding", "truncating") if k in options}
    if tokenizer:
        return RnnkitChoice(tokenizer, maxlen)
    if keras_tokenizer:
        return KerasTokenizerChoice(keras_tokenizer, maxlen, **pads, **options)
    if imdb_word_index:
        return ImdbChoice(imdb_word_index, maxlen, **pads, options=options)
    return TextVectorizationChoice(vectorizer, maxlen)
