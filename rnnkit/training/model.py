"""The model: the seed's Keras SimpleRNN by default; every hyper-parameter lives in TrainConfig,
and named recipes (``RECIPES``) are sets of overrides on it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

CELLS = ("simple", "lstm", "gru")
POOLING = ("last", "max")  # the RNN's last state, or the max over every step's output


@dataclass
class TrainConfig:
    vocab_size: int = 10_000
    maxlen: int = 100
    embed_dim: int = 32
    units: int = 32
    dense_units: int = 16  # 0: no hidden Dense layer
    dropout: float = 0.5
    cell: str = "simple"
    bidirectional: bool = False
    pooling: str = "last"
    spatial_dropout: float = 0.0  # SpatialDropout1D after the embedding (0: none)
    #: A Conv1D branch beside the RNN (0: none), max-pooled over every step like it, its
    #: features concatenated with the RNN's: n-gram detectors next to the sequence reader.
    conv_filters: int = 0
    conv_kernel: int = 5
    #: Also the embedded steps' average (a bag of words) beside the max-pooled branches.
    average_branch: bool = False
    #: A bag of n-grams instead of a sequence (0: a sequence model): Keras's
    #: TextVectorization with ngrams=bag_ngrams and bag_mode as output_mode, over
    #: vocab_size entries, into the Dense head (Deep Learning with Python, ch. 11).
    bag_ngrams: int = 0
    bag_mode: str = "multi_hot"
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    validation_fraction: float = 0.1  # carved from the training split, never the test split
    test_fraction: float = 0.2  # 25,000 embedded reviews -> 20,000 train / 5,000 test
    seed: int = 42
    #: The data split's seed (None: ``seed``). Fix it to compare weight seeds on one split.
    split_seed: int | None = None
    limit: int | None = None  # use only this many labelled rows (tiny runs, tests)
    classes: int = 2  # set from the data: 2 = one sigmoid unit, more = a softmax over them

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.pooling not in POOLING:
            raise ValueError(f"pooling must be one of {', '.join(POOLING)}, got {self.pooling!r}")
        if self.classes < 2:
            raise ValueError(f"classes must be 2 or more, got {self.classes}")
        if self.branches and self.pooling != "max":
            raise ValueError("branches are pooled over every step: they need pooling='max'")

    @classmethod
    def from_recipe(cls, name: str = "seed", **overrides) -> TrainConfig:
        """A named recipe, with any field overridden."""
        if name not in RECIPES:
            raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
        return cls(**{**RECIPES[name], **overrides})

    @property
    def branches(self) -> bool:
        """Whether branches (Conv1D, the words' average) sit beside the RNN: a functional
        graph then, not a chain."""
        return bool(self.conv_filters or self.average_branch)

    @property
    def data_seed(self) -> int:
        return self.seed if self.split_seed is None else self.split_seed

    def describe(self) -> str:
        """The architecture in one line (stored in the manifest for ``rnnkit info``)."""
        head = "Dense(1, sigmoid)" if self.classes == 2 else f"Dense({self.classes}, softmax)"
        if self.bag_ngrams:
            return (
                f"TextVectorization({self.vocab_size}, ngrams={self.bag_ngrams}, "
                f"{self.bag_mode}) -> Dense({self.dense_units}, relu) -> "
                f"Dropout({self.dropout:g}) -> {head}, a bag of the whole text"
            )
        rnn = {"simple": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}[self.cell]
        rnn = f"{rnn}({self.units}{', relu' if self.cell == 'simple' else ''})"
        parts = [f"Embedding({self.vocab_size}, {self.embed_dim})"]
        if self.spatial_dropout:
            parts.append(f"SpatialDropout1D({self.spatial_dropout:g})")
        rnn = f"Bidirectional({rnn})" if self.bidirectional else rnn
        if self.branches:
            branches = [f"Conv1D({self.conv_filters}, {self.conv_kernel}, relu) -> max"] * bool(
                self.conv_filters
            ) + [f"{rnn} -> max"]
            if self.average_branch:
                branches.append("average")
            parts.append(f"[{' | '.join(branches)}] -> Concatenate")
        else:
            parts.append(rnn)
            if self.pooling == "max":
                parts.append("GlobalMaxPooling1D")
        if self.dense_units:
            parts.append(f"Dense({self.dense_units}, relu)")
        parts += [f"Dropout({self.dropout:g})", head]
        return " -> ".join(parts) + f", maxlen {self.maxlen}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


#: Named training recipes: overrides of TrainConfig's defaults (the seed's SimpleRNN).
#: Their accuracy on three seeds, and the commands: docs/models.md.
RECIPES: dict[str, dict] = {
    "seed": {},  # the seed tutorial's SimpleRNN: 0.8432
    "lstm": {"cell": "lstm"},
    "gru": {"cell": "gru"},
    # Reads 400 words, pools every step of both directions: 0.8756 (AUC 0.945), best at
    # epoch 1 of 3; it overfits from epoch 2 on, which validation-loss selection catches.
    "bigru-maxpool": {
        "cell": "gru", "bidirectional": True, "pooling": "max", "spatial_dropout": 0.2,
        "dense_units": 0, "dropout": 0.3, "vocab_size": 20_000, "maxlen": 400,
        "embed_dim": 64, "epochs": 3,
    },
    # The same BiGRU beside a Conv1D branch (n-gram detectors), both max-pooled, at 600 words.
    "bigru-conv": {
        "cell": "gru", "bidirectional": True, "pooling": "max", "spatial_dropout": 0.2,
        "dense_units": 0, "dropout": 0.5, "vocab_size": 30_000, "maxlen": 600,
        "embed_dim": 64, "conv_filters": 128, "conv_kernel": 5, "epochs": 3,
    },
    # ... and the embedded words' average (a bag of words) as a third branch, at 800 words.
    "bigru-conv-bow": {
        "cell": "gru", "bidirectional": True, "pooling": "max", "spatial_dropout": 0.2,
        "dense_units": 0, "dropout": 0.5, "vocab_size": 30_000, "maxlen": 800,
        "embed_dim": 64, "conv_filters": 128, "conv_kernel": 5, "average_branch": True,
        "epochs": 3,
    },
    # Deep Learning with Python's bag-of-bigrams model: the whole text as a multi-hot vector
    # of its 20,000 most frequent unigrams and bigrams, into Dense(16).
    "bow-bigram": {
        "bag_ngrams": 2, "bag_mode": "multi_hot", "vocab_size": 20_000, "dense_units": 16,
        "dropout": 0.5, "epochs": 10, "batch_size": 32, "maxlen": 0,
    },
}  # fmt: skip


def build_model(cfg: TrainConfig, *, unroll: bool = False, compile: bool = True):
    """Embedding -> [SpatialDropout1D] -> [Bidirectional] RNN (relu for SimpleRNN) ->
    [GlobalMaxPooling1D] -> [Dense(relu)] -> Dropout -> Dense(1, sigmoid), or a softmax over
    ``cfg.classes``; the seed's recipe is the plain chain (``cfg.describe()`` says which).

    ``unroll=True`` builds the same graph with the time loop unrolled; TFLite needs it.
    """
    import keras
    from keras import layers

    if cfg.bag_ngrams:
        return _bag_model(keras, layers, cfg, compile)
    steps = cfg.pooling == "max"  # max pooling reads every step's output
    cell = {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[cfg.cell]
    extra = {"activation": "relu"} if cfg.cell == "simple" else {}
    # Layers are made in the order they run: the order draws their initial weights, so the
    # seed's recipe keeps giving the same weights.
    stack = [
        keras.Input(shape=(cfg.maxlen,), dtype="int32", name="token_ids"),
        layers.Embedding(cfg.vocab_size, cfg.embed_dim, name="embedding"),
    ]
    if cfg.spatial_dropout:
        stack.append(layers.SpatialDropout1D(cfg.spatial_dropout, seed=cfg.seed, name="drop_steps"))
    if cfg.branches:
        stack.append(_branches(keras, layers, cfg, cell, extra, unroll))
    else:
        rnn = cell(cfg.units, return_sequences=steps, unroll=unroll, name="rnn", **extra)
        stack.append(layers.Bidirectional(rnn, name="bidirectional") if cfg.bidirectional else rnn)
        if steps:
            stack.append(layers.GlobalMaxPooling1D(name="max_over_steps"))
    if cfg.dense_units:
        stack.append(layers.Dense(cfg.dense_units, activation="relu", name="dense"))
    stack += [
        layers.Dropout(cfg.dropout, seed=cfg.seed, name="dropout"),
        layers.Dense(1, activation="sigmoid", name="probability")
        if cfg.classes == 2
        else layers.Dense(cfg.classes, activation="softmax", name="probability"),
    ]
    if cfg.branches:  # a functional graph
        inputs = outputs = stack[0]
        for step in stack[1:]:
            outputs = step(outputs)
        model = keras.Model(inputs, outputs, name=f"rnnkit_{cfg.cell}_conv")
    else:
        model = keras.Sequential(stack, name=f"rnnkit_{cfg.cell}")
    return _compiled(keras, cfg, model) if compile else model


def _compiled(keras, cfg: TrainConfig, model):
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss="binary_crossentropy" if cfg.classes == 2 else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _bag_model(keras, layers, cfg: TrainConfig, compile: bool):
    """A bag's vector (``vocab_size`` wide) -> Dense(relu) -> Dropout -> the head."""
    model = keras.Sequential([
        keras.Input(shape=(cfg.vocab_size,), dtype="float32", name="bag"),
        layers.Dense(cfg.dense_units, activation="relu", name="dense"),
        layers.Dropout(cfg.dropout, seed=cfg.seed, name="dropout"),
        layers.Dense(1, activation="sigmoid", name="probability") if cfg.classes == 2
        else layers.Dense(cfg.classes, activation="softmax", name="probability"),
    ], name="rnnkit_bag")  # fmt: skip
    return _compiled(keras, cfg, model) if compile else model


def _branches(keras, layers, cfg: TrainConfig, cell, extra: dict, unroll: bool):
    """One step of the chain, called like a layer: the Conv1D (n-gram detectors) and the RNN
    each read the embedded steps and are max-pooled over them; with ``average_branch`` the
    steps' average (a bag of words) joins them; the features are concatenated. Made in
    that order, which draws the initial weights the recipe table was measured with."""
    conv = None
    if cfg.conv_filters:
        conv = layers.Conv1D(cfg.conv_filters, cfg.conv_kernel, activation="relu", name="conv")
    rnn = cell(cfg.units, return_sequences=True, unroll=unroll, name="rnn", **extra)
    rnn = layers.Bidirectional(rnn, name="bidirectional") if cfg.bidirectional else rnn

    def call(x):
        pooled = [layers.GlobalMaxPooling1D(name=f"max_{b.name}")(b(x)) for b in (conv, rnn) if b]
        if cfg.average_branch:
            pooled.append(layers.GlobalAveragePooling1D(name="average")(x))
        return layers.Concatenate(name="features")(pooled)

    return call
