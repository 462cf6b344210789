"""The model: the seed's Keras SimpleRNN by default; every hyper-parameter lives in TrainConfig."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

CELLS = ("simple", "lstm", "gru")


@dataclass
class TrainConfig:
    vocab_size: int = 10_000
    maxlen: int = 100
    embed_dim: int = 32
    units: int = 32
    dense_units: int = 16
    dropout: float = 0.5
    cell: str = "simple"
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    validation_fraction: float = 0.1  # carved from the training split, never the test split
    test_fraction: float = 0.2  # 25,000 embedded reviews -> 20,000 train / 5,000 test
    seed: int = 42
    limit: int | None = None  # use only this many labelled rows (tiny runs, tests)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def build_model(cfg: TrainConfig, *, unroll: bool = False, compile: bool = True):
    """Embedding -> RNN(relu for SimpleRNN) -> Dense(relu) -> Dropout -> Dense(sigmoid).

    ``unroll=True`` builds the same graph with the time loop unrolled; TFLite needs it.
    """
    import keras
    from keras import layers

    rnn = {
        "simple": lambda: layers.SimpleRNN(cfg.units, activation="relu", unroll=unroll, name="rnn"),
        "lstm": lambda: layers.LSTM(cfg.units, unroll=unroll, name="rnn"),
        "gru": lambda: layers.GRU(cfg.units, unroll=unroll, name="rnn"),
    }[cfg.cell]
    model = keras.Sequential(
        [
            keras.Input(shape=(cfg.maxlen,), dtype="int32", name="token_ids"),
            layers.Embedding(cfg.vocab_size, cfg.embed_dim, name="embedding"),
            rnn(),
            layers.Dense(cfg.dense_units, activation="relu", name="dense"),
            layers.Dropout(cfg.dropout, seed=cfg.seed, name="dropout"),
            layers.Dense(1, activation="sigmoid", name="probability"),
        ],
        name=f"rnnkit_{cfg.cell}",
    )
    if compile:
        model.compile(
            optimizer=keras.optimizers.Adam(cfg.learning_rate),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
    return model
