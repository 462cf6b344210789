"""A clone of a Keras model with every recurrent layer unrolled, read from the model's own
config (not from rnnkit's training config), so it serves imported models too.

TFLite cannot lower the RNN ``while`` loop (``TensorListReserve`` needs a static element
shape), and tf2onnx turns an unrolled graph into plain ops; the clone carries the same
weights, and a fixed number of steps (``maxlen``).
"""

from __future__ import annotations

import numpy as np

RECURRENT = ("SimpleRNN", "LSTM", "GRU")


def _unrolled_rnn(layer):
    """A copy of ``layer`` that unrolls and reads its input in order (``go_backwards`` is
    done by the caller, who flips the input and the mask)."""
    return type(layer).from_config({**layer.get_config(), "unroll": True, "go_backwards": False})


def _unrolled_bidirectional(layer):
    """Bidirectional for the clone. Keras's unrolled loop zeroes a ``go_backwards`` layer's
    masked outputs with the mask in input order while the outputs run in reverse
    (``keras/src/backend/tensorflow/rnn.py``, ``zero_output_for_mask``, which Bidirectional
    sets when it returns sequences): masked sequences came out wrong. Here each direction
    reads its input flipped, mask and all, then runs forwards, which is what
    ``go_backwards`` means; Bidirectional's own flip of the backward outputs follows."""
    import keras
    from keras import ops

    class FlippedBidirectional(keras.layers.Layer):
        def __init__(self, source, **kwargs):
            super().__init__(name=source.name, **kwargs)
            # Made in this order so the weights line up with the source's get_weights().
            self.forward_layer = _unrolled_rnn(source.forward_layer)
            self.backward_layer = _unrolled_rnn(source.backward_layer)
            self.flips = (source.forward_layer.go_backwards, source.backward_layer.go_backwards)
            self.merge_mode, self.return_sequences = source.merge_mode, source.return_sequences
            self.supports_masking = True

        def _direction(self, rnn, flip, x, mask):
            if flip:
                x = ops.flip(x, axis=1)
                mask = None if mask is None else ops.flip(mask, axis=1)
            return rnn(x, mask=mask)

        def call(self, x, mask=None):
            y = self._direction(self.forward_layer, self.flips[0], x, mask)
            y_rev = self._direction(self.backward_layer, self.flips[1], x, mask)
            if self.return_sequences:
                y_rev = ops.flip(y_rev, axis=1)
            merge = {
                "concat": lambda: ops.concatenate([y, y_rev], axis=-1),
                "sum": lambda: y + y_rev,
                "ave": lambda: (y + y_rev) / 2,
                "mul": lambda: y * y_rev,
            }
            return merge[self.merge_mode]()

        def compute_mask(self, x, mask=None):
            return mask if self.return_sequences else None

    return FlippedBidirectional(layer)


def unrolled_clone(keras_model, maxlen: int):
    import keras

    def clone_layer(layer):
        kind = type(layer).__name__
        if kind == "Bidirectional":
            return _unrolled_bidirectional(layer)
        config = layer.get_config()
        if kind in RECURRENT:
            config = {**config, "unroll": True}
        return type(layer).from_config(config)

    ids = keras.Input((maxlen,), dtype="int32", name="token_ids")
    # The same structure as the model's input: a functional model made from a list of
    # inputs (Keras 2 files, models with an appended activation) takes a list of one. (A
    # loaded Sequential may have no ``input`` until called: it takes the tensor.)
    try:
        as_list = isinstance(keras_model.input, (list, tuple))
    except (AttributeError, ValueError):
        as_list = False
    clone = keras.models.clone_model(
        keras_model,
        input_tensors=[ids] if as_list else ids,
        clone_function=clone_layer,
        recursive=True,  # the layers of nested models too
    )
    clone.set_weights(keras_model.get_weights())
    return clone


def bag_clone(keras_model, bag):
    """The model fed a bag's ids instead of its vector (for TFLite): the Dense layer that
    reads the vector becomes a gather and sum of its kernel's rows (times the idf weights),
    as in the ONNX graph (``layers.core.dense_of_bag``); every later layer is the model's
    own, called again in order."""
    import keras
    from keras import ops

    from .keras_graph import INPUT_KEY, bag_reader, layer_calls

    calls, output_key = layer_calls(keras_model)
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    reader = bag_reader(calls)
    first = reader.layer
    kernel = np.asarray(first.kernel.numpy(), np.float32)
    rows = ops.take(np.vstack([kernel, np.zeros((1, kernel.shape[1]), np.float32)]), ids, axis=0)
    if bag.idf is not None:
        idf = np.zeros(bag.depth + 1, np.float32)
        idf[: len(bag.idf)] = bag.idf
        rows = rows * ops.expand_dims(ops.take(idf, ids, axis=0), -1)
    x = ops.sum(rows, axis=1)
    if first.use_bias:
        x = x + np.asarray(first.bias.numpy(), np.float32)
    tensors = {INPUT_KEY: ids, reader.key: first.activation(x)}
    for call in calls:
        if call.key in tensors:
            continue
        args = [tensors[a] for a in call.inputs]
        tensors[call.key] = call.layer(args[0] if len(args) == 1 else args)
    return keras.Model(ids, tensors[output_key])
