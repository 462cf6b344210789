"""The heavy side: ONNX/TFLite export and parity verification (needs ``rnnkit[train]``)."""

from ..heavy import prepare_tensorflow

prepare_tensorflow()
