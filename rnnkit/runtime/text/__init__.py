"""Text to token ids: the tokenizer contract and its compiled scan."""
