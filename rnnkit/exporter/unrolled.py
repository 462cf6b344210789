"""A clone of a Keras model with every recurrent layer unrolled, read from the model's own
config (not from rnnkit's training config), so it serves imported models too.

TFLite cannot lower the RNN ``while`` loop (``TensorListReserve`` needs a static element
shape), and tf2onnx turns an unrolled graph into plain ops; the clone carries the same
weights, and a fixed number of steps (``maxlen``).
"""

from __future__ import annotations

RECURRENT = ("SimpleRNN", "LSTM", "GRU")


def _unrolled_config(config: dict) -> dict:
    config = dict(config)
    if "layer" in config:  # Bidirectional: the wrapped layer (and its backward twin)
        for key in ("layer", "backward_layer"):
            if isinstance(config.get(key), dict):
                inner = dict(config[key])
                inner["config"] = {**inner["config"], "unroll": True}
                config[key] = inner
    else:
        config["unroll"] = True
    return config


def unrolled_clone(keras_model, maxlen: int):
    import keras

    def clone_layer(layer):
        config = layer.get_config()
        if type(layer).__name__ in RECURRENT or type(layer).__name__ == "Bidirectional":
            config = _unrolled_config(config)
        return type(layer).from_config(config)

    clone = keras.models.clone_model(
        keras_model,
        input_tensors=keras.Input((maxlen,), dtype="int32", name="token_ids"),
        clone_function=clone_layer,
        recursive=True,  # the layers of nested models too
    )
    clone.set_weights(keras_model.get_weights())
    return clone
