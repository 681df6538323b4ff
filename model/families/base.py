"""The contract every model family keeps, and what the families share around their forward passes.

A family is its config (read from a Hugging Face config.json), its loader and its forward pass, which fills an
AttentionTrace. It registers with one `Family` entry in model/registry.py's FAMILIES; nothing else in the app
names it. Its loaded models keep the `LoadedModel` protocol, which is all the views may use of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from tokenizers import Tokenizer

from model.families.architecture import Architecture
from model.tokens import Tokens
from model.trace import AttentionTrace, LayerTrace, to_numpy

Device = str | torch.device | None


class ModelConfig(Protocol):
    """The shape every family's config has (each adds its own fields)."""

    d_model: int  # width of every token vector
    n_heads: int  # query heads per layer
    n_layers: int
    max_positions: int  # the longest input in tokens

    @property
    def d_head(self) -> int: ...

    @property
    def architecture(self) -> Architecture:
        """How its q, k, v are made and what surrounds its attention, for the formulas the page writes."""
        ...


class LoadedModel(Protocol):
    """A loaded model as the app sees it. Shared by every user of a server: nothing in it changes after loading."""

    name: str
    config: ModelConfig
    tokenizer: Tokenizer
    device: torch.device
    hf_config: dict  # the Hugging Face config.json it is described by (for export)
    decoder: bool  # it predicts the next token (causal mask, next_token_logits)

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """Every parameter under its Hugging Face name, for export."""
        ...

    def head_matrices(self, layer: int, head: int) -> dict[str, np.ndarray]:
        """W_Q, W_K, W_V ([d_head, d_model] each, as nn.Linear stores them) and W_O ([d_model, d_head]) of one head."""
        ...


class Decoder(LoadedModel, Protocol):
    def next_token_logits(self, hidden: np.ndarray) -> np.ndarray:
        """Next-token scores from final hidden states (the last layer's traced output).  [pos, d_model] -> [pos, vocab]"""
        ...


@dataclass(frozen=True)
class Family:
    """One model family: how its folders are read, its models loaded and traced."""

    model_types: tuple[str, ...]  # config.json's model_type values it reads
    model_class: type  # the class of its loaded models: trace_any finds the family by it
    config: Callable[[dict, object], ModelConfig]  # config.json -> the family's config (raises InvalidConfigError)
    load: Callable[..., LoadedModel]  # (folder, device, name=...) -> a loaded model
    trace: Callable[..., AttentionTrace]  # (loaded, text, with_positions=..., ablate=...) -> its trace
    # A decoder's pass over new tokens after a KV cache: (loaded, ids, cache=...) -> (embeddings, per-layer parts);
    # None for an encoder. Generation (model/generate.py) steps with it.
    forward: Callable[..., tuple] | None = None
    built_in: Mapping[str, Callable[[Device], LoadedModel]] = field(default_factory=dict)  # name -> loader, from pip


def build_trace(
    name: str,
    device: torch.device,
    tok: Tokens,
    layers: list[LayerTrace],
    token_emb: torch.Tensor,
    position_emb: torch.Tensor,
    with_positions: bool,
    **own: Any,
) -> AttentionTrace:
    """The AttentionTrace of one forward pass, the same for every family: the tokens as tokenized, the layers
    recorded (each with its rule), the embeddings made numpy. `own` sets what a family does differently (its tokens
    as shown, which positions are special, grouped-query heads)."""
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
        with_positions=with_positions,
        device=device.type,
        **{**fields, **own},
    )
