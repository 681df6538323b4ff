"""The blocks every model family builds its forward pass from, written once: norms, linear maps, splitting a
layer's q, k, v into heads and joining them again, activations, the gated feed-forward, and the attention block
itself, which records what the trace keeps, with the one knob the importance experiment turns (Ablation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.attention import AttentionRule, scaled_dot_product_attention
from model.trace import LayerTrace

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
}


Params = dict[str, torch.Tensor]


def layer_norm(x: torch.Tensor, params: Params, prefix: str, eps: float) -> torch.Tensor:
    """(x − mean) / √(var + eps) · γ + β over the last axis; γ, β are `prefix`.weight and .bias."""
    return F.layer_norm(x, x.shape[-1:], params[prefix + ".weight"], params[prefix + ".bias"], eps)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """x / √(mean(x²) + eps) · γ over the last axis (no centring, no bias), as Llama does."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def linear(x: torch.Tensor, params: Params, prefix: str, bias: bool = True) -> torch.Tensor:
    """x·Wᵀ + b with W stored [out, in] as nn.Linear stores it."""
    return F.linear(x, params[prefix + ".weight"], params[prefix + ".bias"] if bias else None)


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """[pos, n_heads * d_head] -> [head, pos, d_head]"""
    n_pos, width = x.shape
    return x.view(n_pos, n_heads, width // n_heads).transpose(0, 1)


def merge_heads(z: torch.Tensor) -> torch.Tensor:
    """The heads' outputs side by side, the input of W^O: [head, pos, d_head] -> [pos, head * d_head]"""
    n_heads, n_pos, d_head = z.shape
    return z.transpose(0, 1).reshape(n_pos, n_heads * d_head)


ABLATION_SCOPES = ("query", "head")  # remove key j from query i's output only / from every query of the head


@dataclass(frozen=True)
class Ablation:
    """Remove one key from one head's output: the term α′ᵢⱼ·vⱼ is taken out of zᵢ (α′ and v are left as they
    were), and the layers above run on what is left. The attention-vs-importance experiment re-runs the model once
    per key with this.

    query=i (scope "query"): from query i's output alone, zᵢ − α′ᵢⱼ·vⱼ; every other query of the head is untouched,
    so what moves query i's final vector is this one term of its own α′ row.
    query=None (scope "head"): from every query i′ of the head, z_i′ − α′_i′ⱼ·vⱼ, as if vⱼ were zero in that head;
    the other queries reach query i in the layers above, so a key that query i hardly looks at can still move it.
    """

    layer: int
    head: int
    key: int
    query: int | None = None  # None: every query of the head

    @property
    def scope(self) -> str:
        """ "query" (one query's term) or "head" (the key's term in every query of the head)."""
        return "head" if self.query is None else "query"

    def apply(self, layer: int, z: torch.Tensor, weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """z without this key's term in this head (for this query, or every query), when `layer` is the ablated
        one.  z, v: [head, pos, d_head]; weights: [head, query_pos, key_pos]  -> [head, pos, d_head]"""
        if layer != self.layer:
            return z
        rows = slice(None) if self.query is None else slice(self.query, self.query + 1)  # the queries it leaves
        term = weights[self.head, rows, self.key, None] * v[self.head, self.key]  # [query, d_head]  α′ᵢⱼ·vⱼ
        z = z.clone()
        z[self.head, rows] -= term
        return z


def gated_feed_forward(h: torch.Tensor, params: Params, prefix: str, activation: str) -> torch.Tensor:
    """(act(h·W_gateᵀ) ⊙ h·W_upᵀ)·W_downᵀ: SwiGLU with silu (Llama), GeGLU with gelu (Gemma).  [pos, d_model]"""
    gate = ACTIVATIONS[activation](linear(h, params, prefix + "gate_proj", bias=False))  # [pos, d_ff]
    return linear(gate * linear(h, params, prefix + "up_proj", bias=False), params, prefix + "down_proj", bias=False)


@dataclass
class KVCache:
    """What a decoder keeps of the tokens it has read, so that the next token costs one token's work: per layer, the
    keys (after RoPE) and values of every key/value head, in order. A generation step computes only the new token's
    q, k and v, appends its k and v here, and attends over all of them. One per generation, never shared between
    users (it grows in place)."""

    keys: list[torch.Tensor]  # per layer [kv_head, pos, d_head]
    values: list[torch.Tensor]  # per layer [kv_head, pos, d_head]

    @classmethod
    def empty(cls, n_layers: int) -> KVCache:
        return cls([None] * n_layers, [None] * n_layers)  # type: ignore[list-item]

    @property
    def length(self) -> int:
        """Tokens held."""
        return 0 if self.keys[0] is None else self.keys[0].shape[1]

    @property
    def nbytes(self) -> int:
        """Bytes held: 2 (k and v) · layers · kv_heads · d_head · tokens · 4 (float32)."""
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values) if t is not None)

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append one layer's new keys and values; returns every key and value so far.  [kv_head, pos, d_head] each"""
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], dim=1)  # [kv_head, pos, d_head]
            v = torch.cat([self.values[layer], v], dim=1)  # [kv_head, pos, d_head]
        self.keys[layer], self.values[layer] = k, v
        return k, v


_RECORDED: ContextVar[list[np.ndarray] | None] = ContextVar("recorded_weights", default=None)


@contextlib.contextmanager
def recorded_weights() -> Iterator[list[np.ndarray]]:
    """Keep the α′ each attention block computes while inside, one [head, query_pos, key_pos] array per layer, in
    order: the forward pass's own weights, which a trace does not keep (the tests hold a layer's rule to them)."""
    recorded: list[np.ndarray] = []
    token = _RECORDED.set(recorded)
    try:
        yield recorded
    finally:
        _RECORDED.reset(token)


def attention_block(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rule: AttentionRule,
    mask: torch.Tensor | None,
    *,
    layer: int,
    ablate: Ablation | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Self-attention of one layer once its q, k, v are made, the same in every family.

    Keys and values shared by a group of query heads (grouped- or multi-query attention) are repeated for each
    query head of the group; α′ and z follow the layer's rule (its mask, a torch copy of which is `mask`, built
    once per pass); the importance experiment's key term is then taken out of z where `ablate` asks. Returns z and
    the tensors the trace keeps for the layer (q, k, v, z: [head, pos, d_head]).
    q: [head, pos, d_head]; k, v: [kv_head, pos, d_head], kv_head dividing head.
    """
    group = q.shape[0] // k.shape[0]
    if group > 1:
        k = k.repeat_interleave(group, dim=0)  # [head, pos, d_head]: query head h reads key/value head h // group
        v = v.repeat_interleave(group, dim=0)  # [head, pos, d_head]
    z, _, weights = scaled_dot_product_attention(
        q, k, v, mask=mask, normalizer=rule.normalizer, scale=rule.scale, temperature=rule.temperature
    )  # z: [head, pos, d_head], weights: [head, query_pos, key_pos]
    if ablate is not None:
        z = ablate.apply(layer, z, weights, v)  # [head, pos, d_head]
    recorded = _RECORDED.get()
    if recorded is not None:
        recorded.append(weights.detach().to("cpu", torch.float32).numpy().copy())
    return z, {"q": q, "k": k, "v": v, "z": z}


def layer_trace(rule: AttentionRule, attended: dict[str, torch.Tensor], output: torch.Tensor) -> LayerTrace:
    """What the trace keeps of one layer: the attention block's q, k, v, z, the layer's output, its rule."""
    return LayerTrace.from_tensors(rule, output=output, **attended)


# Vocabulary rows dequantized at a time for the output layer: 2.6 MB at Gemma's d_model of 640, small enough to stay in
# the CPU's cache while it is multiplied (on Gemma's 262 144 rows, 74 ms against 330 ms with 8 192 rows at a time).
LOGIT_ROWS = 1024


def chunked_logits(hidden: np.ndarray, table, vocab: int, device: torch.device) -> np.ndarray:
    """Next-token scores of final hidden states against an output table (`rows(ids)` gives float32 rows), a slice of
    the vocabulary at a time, so the float32 table is never whole.  [pos, d_model] -> [pos, vocab]"""
    with torch.inference_mode():
        h = torch.as_tensor(np.array(hidden), device=device)  # [pos, d_model]
        logits = torch.empty(h.shape[0], vocab, device=device)  # [pos, vocab]
        for start in range(0, vocab, LOGIT_ROWS):
            stop = min(start + LOGIT_ROWS, vocab)
            logits[:, start:stop] = h @ table.rows(slice(start, stop)).T  # [pos, chunk]
        return logits.cpu().numpy()
