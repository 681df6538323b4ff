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


@dataclass(frozen=True)
class Appended:
    """A text with tokens written after it, as the page keeps it: text, since every view reads the sentence."""

    text: str  # the old text and what decoding the new tokens adds to it
    ids: list[int]  # the old tokens and the new ones, as the model wrote them
    written: int  # new tokens kept (a last token that holds only part of a character is dropped)
    same: bool  # whether tokenizing `text` again gives `ids` back (it may not: "unbeliev" + "ig")


def appended(tokenizer, text: str, ids: list[int], new_ids: list[int]) -> Appended:
    """`text`, whose tokens are `ids`, with `new_ids` written after it. The addition is what the new ids add to the
    decoded text (decoding them alone would lose a leading space in some vocabularies); trailing ids that end inside
    a character's bytes are dropped, since text cannot hold half a character."""
    kept = list(new_ids)
    before = tokenizer.decode(ids)
    while True:
        after = tokenizer.decode(ids + kept)
        addition = after[len(before) :] if after.startswith(before) else tokenizer.decode(kept)
        if not kept or not addition.endswith("\ufffd"):
            break
        kept.pop()
    new_text = text + addition
    return Appended(new_text, ids + kept, len(kept), tokenizer.encode(new_text).ids == ids + kept)


def earlier_rows_change(before: AttentionTrace, after: AttentionTrace) -> float | None:
    """The largest |Δα′| over every layer and head in the rows `before` has, once `after` (the same tokens and more)
    was traced: 0 up to rounding, because the causal mask hides the new tokens from every earlier query. None when
    `after` does not start with `before`'s tokens."""
    n = before.n_positions
    if after.n_positions < n or list(after.token_ids[:n]) != list(before.token_ids):
        return None
    return max(
        float(np.abs(old.weights - new.weights[:, :n, :n]).max())
        for old, new in zip(before.layers, after.layers, strict=True)
    )


def cached_key_lengths(trace: AttentionTrace) -> np.ndarray:
    """What a decoder's KV cache holds for the traced text, drawn as the length ‖kⱼ‖ of every cached key: one per
    key/value head, layer and token (query heads that share a key/value head read the same one).
    -> [kv_head, layer, pos]"""
    firsts = sorted({trace.kv_head(h): h for h in reversed(range(trace.n_heads))}.items())  # kv head -> a query head
    return np.stack(
        [np.stack([np.linalg.norm(layer.k[h], axis=-1) for layer in trace.layers]) for _, h in firsts]
    ).astype(np.float32)
