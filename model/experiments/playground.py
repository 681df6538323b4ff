"""The playground: a small multi-head self-attention model whose every setting is a slider.

Its matrices (W^q, W^k, W^v, W^O) are not trained; they are drawn from a seeded generator, so the same settings always
give the same picture. W^k is drawn as W^q plus noise (nothing here is learned), which makes q·k close
to a similarity between the two tokens (the article's "attention as similarity"): a token attends to
tokens like it.

    x0       = standardize(token vectors) + PE          (PE only when positions are on)
    per layer and head h:
      q, k, v  = x·W^q_h, x·W^k_h, x·W^v_h
      z_h      = normalize(mask(q·kᵀ/√d_head) / T)·v
    per layer:
      x        = LayerNorm(x + concat(z_1 … z_H)·W^O)
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from model.attention import MASK_KINDS, NORMALIZERS, AttentionRule, build_mask, default_scale
from model.errors import EmptyTextError, InvalidConfigError
from model.families.architecture import Architecture
from model.families.blocks import Ablation, attention_block, layer_trace
from model.positional import sinusoidal_encoding
from model.tokens import tokenize
from model.trace import AttentionTrace, to_numpy

# Bounds that keep every setting cheap on a 2-core CPU (the largest costs ~0.1 s and ~100 MB).
D_MODEL_RANGE = (2, 1024)
N_HEADS_RANGE = (1, 16)
N_LAYERS_RANGE = (1, 4)
TEMPERATURE_RANGE = (0.05, 10.0)
MAX_POSITIONS = 512
SEED_RANGE = (0, 2**31 - 1)
PROJECTION_SEED = 1234  # the fixed projection from the pretrained embeddings to d_model


@dataclass(frozen=True)
class PlaygroundConfig:
    """Every setting of the playground model; each field is one control in the app."""

    d_model: int = 64  # width of every token vector
    n_heads: int = 4  # number of heads; must divide d_model, each head gets d_model / n_heads dims
    n_layers: int = 1  # attention layers stacked
    normalizer: str = "softmax"  # "softmax" or "relu": how scores become weights
    temperature: float = 1.0  # scores are divided by this before normalizing (no effect on relu)
    scale: bool = True  # divide q·k by √d_head
    mask: str = "none"  # "none", "causal" or "window"
    window: int = 3  # keys visible to each query with mask="window"
    with_positions: bool = True  # add the sinusoidal positional encoding to the input
    seed: int = 0  # seed of the random matrices
    char_tokens: bool = False  # one token per character (Chinese works) instead of MiniLM's tokenizer

    @property
    def architecture(self) -> Architecture:
        """Post-norm (LayerNorm after attention), no bias, positions added to the input, no feed-forward."""
        return Architecture(norm="layer_norm", norm_first=False, bias=False, feed_forward="none")

    def __post_init__(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise InvalidConfigError(message)

        lo, hi = D_MODEL_RANGE
        check(lo <= self.d_model <= hi, f"d_model must be between {lo} and {hi}, got {self.d_model}")
        lo, hi = N_HEADS_RANGE
        check(lo <= self.n_heads <= hi, f"n_heads must be between {lo} and {hi}, got {self.n_heads}")
        check(
            self.d_model % self.n_heads == 0,
            f"n_heads ({self.n_heads}) must divide d_model ({self.d_model}) so every head gets the same width",
        )
        lo, hi = N_LAYERS_RANGE
        check(lo <= self.n_layers <= hi, f"n_layers must be between {lo} and {hi}, got {self.n_layers}")
        check(self.normalizer in NORMALIZERS, f"normalizer must be one of {NORMALIZERS}")
        lo, hi = TEMPERATURE_RANGE
        check(lo <= self.temperature <= hi, f"temperature must be between {lo} and {hi}")
        check(self.mask in MASK_KINDS, f"mask must be one of {MASK_KINDS}")
        check(1 <= self.window <= MAX_POSITIONS, f"window must be between 1 and {MAX_POSITIONS}")
        lo, hi = SEED_RANGE
        check(lo <= self.seed <= hi, f"seed must be between {lo} and {hi}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


def valid_head_counts(d_model: int) -> list[int]:
    """The head counts that divide d_model, within the allowed range."""
    return [h for h in range(N_HEADS_RANGE[0], N_HEADS_RANGE[1] + 1) if d_model % h == 0]


def config_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(PlaygroundConfig))


def layer_matrices(config: PlaygroundConfig) -> list[dict[str, torch.Tensor]]:
    """The seeded matrices of every layer: W_Q, W_K, W_V, W_O, each [d_model, d_model] (x·W)."""
    gen = torch.Generator().manual_seed(config.seed)
    d = config.d_model
    std = 1 / math.sqrt(d)
    layers = []
    for _ in range(config.n_layers):
        w_q = torch.randn(d, d, generator=gen) * std  # [d_model, d_model]
        w_k = w_q + 0.5 * torch.randn(d, d, generator=gen) * std  # [d_model, d_model]
        w_v = torch.randn(d, d, generator=gen) * std  # [d_model, d_model]
        w_o = torch.randn(d, d, generator=gen) * std  # [d_model, d_model]
        layers.append({"W_Q": w_q, "W_K": w_k, "W_V": w_v, "W_O": w_o})
    return layers


def head_matrices(config: PlaygroundConfig, layer: int, head: int) -> dict[str, np.ndarray]:
    """The slices of W^q, W^k, W^v that make one head's q, k, v, as [d_head, d_model] like nn.Linear, and the
    slice of W^O that reads its output as [d_model, d_head], as the pretrained models give them.

    The playground multiplies x·W, so a head's q uses columns of W^q and its z meets rows of W^O
    (concat(z)·W^O = Σ_h z_h·W^O[rows of h]); both are transposed here into nn.Linear's layout.
    """
    w = layer_matrices(config)[layer]
    part = slice(head * config.d_head, (head + 1) * config.d_head)
    out = {name: to_numpy(w[name][:, part].T) for name in ("W_Q", "W_K", "W_V")}  # each [d_head, d_model]
    out["W_O"] = to_numpy(w["W_O"][part].T)  # [d_model, d_head]
    return out


def char_tokens(text: str) -> list[str]:
    """One token per visible character; spaces and control characters are dropped."""
    return [ch for ch in text if ch.isprintable() and not ch.isspace()]


def _char_vectors(tokens: list[str], d_model: int, seed: int) -> torch.Tensor:
    """A fixed random vector per distinct character, the same wherever it occurs.  # [pos, d_model]"""
    table: dict[str, torch.Tensor] = {}
    for ch in dict.fromkeys(tokens):
        key = zlib.crc32(f"{seed}:{ch}".encode("utf-8", "surrogatepass"))
        table[ch] = torch.randn(d_model, generator=torch.Generator().manual_seed(key))
    return torch.stack([table[ch] for ch in tokens])


def embed(
    config: PlaygroundConfig, text: str, pretrained=None
) -> tuple[list[str], torch.Tensor, bool, list[bool], list[bool]]:
    """Tokens, their input vectors [pos, d_model], whether the text was cut, which are special and which unknown."""
    if not text or not text.strip():
        raise EmptyTextError("Type a sentence first: the text is empty.")
    if config.char_tokens or pretrained is None:
        tokens = char_tokens(text)
        if not tokens:
            raise EmptyTextError("The text has no visible characters to use as tokens.")
        truncated = len(tokens) > MAX_POSITIONS
        tokens = tokens[:MAX_POSITIONS]
        no = [False] * len(tokens)
        return tokens, _char_vectors(tokens, config.d_model, config.seed), truncated, no, no
    tok = tokenize(pretrained.tokenizer, text)
    emb = pretrained.word_embeddings.rows(torch.tensor(tok.ids)).float().cpu()  # [pos, d_pretrained]
    gen = torch.Generator().manual_seed(PROJECTION_SEED)
    projection = torch.randn(emb.shape[1], config.d_model, generator=gen)  # [d_pretrained, d_model]
    return tok.tokens, emb @ projection, tok.truncated, tok.special, tok.unknown


@torch.inference_mode()
def trace_playground(
    config: PlaygroundConfig, text: str, pretrained=None, *, ablate: Ablation | None = None
) -> AttentionTrace:
    """Run the playground model on `text`; char tokens are used when asked or when no pretrained model is given.

    `ablate` takes one key's term out of one head's output (for one query or all), as the model families' tracers do
    (the importance experiment).
    """
    tokens, vectors, truncated, special, unknown = embed(config, text, pretrained)
    n = len(tokens)
    # Standardized token vectors have entries of size ~1, like the encoding's sines and cosines.
    token_emb = (vectors - vectors.mean(-1, keepdim=True)) / (vectors.std(-1, keepdim=True) + 1e-6)  # [pos, d_model]
    pe = sinusoidal_encoding(n, config.d_model) if config.with_positions else torch.zeros(n, config.d_model)
    mask = build_mask(config.mask, n, config.window)  # [query_pos, key_pos] or None
    rule = AttentionRule.from_mask(  # every layer's
        mask,
        window=config.window if config.mask in ("window", "window2") else None,
        normalizer=config.normalizer,
        temperature=config.temperature,
        scale=default_scale(config.d_head) if config.scale else 1.0,
    )
    x = token_emb + pe  # [pos, d_model]
    layers = []
    for layer, w in enumerate(layer_matrices(config)):
        q = (x @ w["W_Q"]).view(n, config.n_heads, config.d_head).transpose(0, 1)  # [head, pos, d_head]
        k = (x @ w["W_K"]).view(n, config.n_heads, config.d_head).transpose(0, 1)  # [head, pos, d_head]
        v = (x @ w["W_V"]).view(n, config.n_heads, config.d_head).transpose(0, 1)  # [head, pos, d_head]
        z, attended = attention_block(q, k, v, rule, mask, layer=layer, ablate=ablate)  # z: [head, pos, d_head]
        concat = z.transpose(0, 1).reshape(n, config.d_model)  # [pos, d_model]
        x = F.layer_norm(x + concat @ w["W_O"], (config.d_model,))  # [pos, d_model]
        layers.append(layer_trace(rule, attended, x))
    return AttentionTrace(
        model_name="playground",
        tokens=tuple(tokens),
        layers=tuple(layers),
        token_embeddings=to_numpy(token_emb),
        position_embeddings=to_numpy(pe),
        truncated=truncated,
        with_positions=config.with_positions,
        device="cpu",
        special=tuple(special),
        unknown=tuple(unknown),
    )
