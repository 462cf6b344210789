"""The heavy side: ONNX/TFLite export and parity verification (needs ``rnnkit[train]``)."""
