"""Tokens as the page shows them, read back as text: a token of whitespace alone is shown as signs
(model.tokens.show_blank: ␣ ⏎ ⇥ ␍), which these tests undo before comparing the pieces with the text."""

from __future__ import annotations

_UNBLANK = str.maketrans({"␣": " ", "⏎": "\n", "⇥": "\t", "␍": "\r"})


def unblank(token: str) -> str:
    """A shown token as its text: signs undone where the token is made of them alone, any other token as it is."""
    undone = token.translate(_UNBLANK)
    return undone if not undone.strip() else token


def joined(tokens) -> str:
    return "".join(unblank(t) for t in tokens)
