"""The model families: each one's config, loader and forward pass, which fills an AttentionTrace."""
