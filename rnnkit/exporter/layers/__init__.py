"""The per-layer ONNX converter registry.

One entry per Keras layer class: ``problem(layer)`` says why this configuration cannot be
converted (None: it can), ``emit(g, layer, inputs)`` writes its ONNX nodes and returns the
output tensor, ``describe(layer)`` is how it reads in a model's architecture line, and
``id_range(layer)`` (a layer fed token ids) how many ids it has rows for.
``keras_graph.py`` walks a model and asks them (the importer asks ``keras_graph``);
nothing else knows about layer types. Importing this package registers every converter.
"""

from . import conv, core, recurrent  # noqa: F401 - each module registers its layers
from .registry import CONVERTERS, Tensor, activation_name

__all__ = ["CONVERTERS", "Tensor", "activation_name"]
