"""The package's own error types: messages are written to be shown to a user as they are."""


class AttentionLabError(Exception):
    """Base class for every error Attention Lab raises on purpose."""


class EmptyTextError(AttentionLabError, ValueError):
    """The text holds nothing to tokenize (empty or whitespace only)."""


class ModelNotInstalledError(AttentionLabError, ImportError):
    """The pip package that ships the bundled model's weights is missing."""


class InvalidConfigError(AttentionLabError, ValueError):
    """A model setting is out of range or inconsistent (e.g. n_heads does not divide d_model)."""
