"""The heavy side: data sources, the Keras model and training (needs ``rnnkit[train]``)."""
