"""The light side: tokenizer, bundle, backends and CSV scoring. Never imports TensorFlow."""
