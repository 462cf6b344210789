"""The shipped, pretrained default bundle (``imdb-rnn/``), installed as ``rnnkit.models``."""
