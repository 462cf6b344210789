"""The heavy side: data sources, the Keras model and training (needs ``rnnkit[train]``)."""

from ..heavy import prepare_tensorflow

prepare_tensorflow()
