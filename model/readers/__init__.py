"""Readers of the files models ship in: Hugging Face folders, GGUF, e5's data file, and their tokenizers."""
