"""What every model family shares: the trace a forward pass fills, built the same way for each family."""

from __future__ import annotations

import torch

from model.tokens import Tokens
from model.trace import AttentionRule, AttentionTrace, LayerTrace, to_numpy


def build_trace(
    name: str,
    device: torch.device,
    tok: Tokens,
    layers: list[LayerTrace],
    token_emb: torch.Tensor,
    position_emb: torch.Tensor,
    rule: AttentionRule,
    with_positions: bool,
    **own: object,
) -> AttentionTrace:
    """The AttentionTrace of one forward pass, the same for every family: the tokens as tokenized, the layers
    recorded, the embeddings made numpy. `own` sets what a family does differently (its tokens as shown, which
    positions are special, grouped-query heads, RoPE's base)."""
    fields = {
        "tokens": tuple(tok.tokens),
        "special": tuple(tok.special),
        "token_ids": tuple(tok.ids),
        "word_ids": tuple(tok.word_ids),
        "unknown": tuple(tok.unknown),
        "truncated": tok.truncated,
    }
    return AttentionTrace(
        model_name=name,
        layers=tuple(layers),
        token_embeddings=to_numpy(token_emb),
        position_embeddings=to_numpy(position_emb),
        rule=rule,
        with_positions=with_positions,
        device=device.type,
        **{**fields, **own},
    )
