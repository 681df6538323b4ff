"""What a decoder would write next: the next-token distribution after any position of a trace.

A decoder's last layer output, after its final norm, times the (tied) embedding table gives one score
(logit) per vocabulary entry; softmax turns them into probabilities:

    p(token | text up to position i) = softmax(logits_i / T)

T, the temperature, reshapes the distribution the way sampling would: below 1 it sharpens toward the
most likely token, above 1 it flattens. T = 1 is the model's own distribution. The causal mask is why
the distribution after position i depends only on tokens 0 … i.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from model.trace import AttentionTrace


class Decoder(Protocol):
    def next_token_logits(self, hidden: np.ndarray) -> np.ndarray: ...  # [pos, d_model] -> [pos, vocab]


@dataclass(frozen=True)
class Candidate:
    """One possible next token."""

    token_id: int
    probability: float  # under the temperature asked for
    logit: float  # the model's raw score


def probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) over the vocabulary, in float64.  [vocab] -> [vocab]"""
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    z = np.asarray(logits, dtype=np.float64) / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def next_tokens(
    loaded: Decoder, trace: AttentionTrace, position: int, k: int = 10, temperature: float = 1.0
) -> list[Candidate]:
    """The k most likely tokens to follow position `position` of the traced text, most likely first."""
    return top_candidates(position_logits(loaded, trace, position), k, temperature)


def position_logits(loaded: Decoder, trace: AttentionTrace, position: int) -> np.ndarray:
    """The decoder's logits for the token after position `position` of the traced text.  -> [vocab]"""
    hidden = trace.layers[-1].output[position : position + 1]  # [1, d_model], after the final norm
    return loaded.next_token_logits(hidden)[0]  # [vocab]


def top_candidates(logits: np.ndarray, k: int = 10, temperature: float = 1.0) -> list[Candidate]:
    """The k most likely tokens under softmax(logits / T), most likely first.  logits: [vocab]"""
    p = probabilities(logits, temperature)
    top = np.argsort(-p, kind="stable")[:k]
    return [Candidate(int(i), float(p[i]), float(logits[i])) for i in top]
