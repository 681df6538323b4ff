"""The GPT-2 decoder family, loaded from an operator's folder (safetensors only) and traced head by head.

Like the encoder in `model.families.encoder`, the forward pass is written out so that q, k and v of every head are
in hand; the tests check it against `transformers`' own GPT2Model on the same weights. GPT-2 differs from
BERT in four ways that show up here: its weights are Conv1D ([in, out], applied as x·W + b), q, k and v
come out of one fused matrix (c_attn), LayerNorm comes *before* each block (pre-LN), and every query sees
only itself and the keys before it (the causal mask).

    x        = wte[token] + wpe[position]
    per layer:
      h        = LayerNorm_1(x)
      q, k, v  = split(h·W_attn + b)                        each split into heads
      z        = softmax(mask(q·kᵀ/√d_head))·v              scaled_dot_product_attention, causal mask
      x        = x + concat(z)·W_proj + b
      x        = x + gelu(LayerNorm_2(x)·W_fc + b)·W_proj2 + b
    x        = LayerNorm_f(x)                               after the last layer
    logits   = x·wteᵀ                                       the next-token scores (tied embeddings)

A layer's traced `output` is the residual stream x after the layer, as in transformers' hidden_states:
the last layer's output therefore includes the final LayerNorm (hidden_states[-1] does too), so every
layer's output can be compared one to one with transformers, and the next-token logits are read from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from model.attention import AttentionRule, build_mask, default_scale
from model.errors import InvalidConfigError
from model.families.architecture import Architecture
from model.families.base import Family, build_trace
from model.families.blocks import (
    ACTIVATIONS,
    Ablation,
    Params,
    attention_block,
    layer_norm,
    layer_trace,
    merge_heads,
    split_heads,
)
from model.readers.folder import check_activation, check_heads, config_number, read_folder
from model.tokens import display_tokens, tokenize
from model.trace import AttentionTrace, to_numpy

MODEL_TYPES = ("gpt2",)
_LAYER_PARAMS = [
    f"{part}.{kind}"
    for part in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj")
    for kind in ("weight", "bias")
]


@dataclass(frozen=True)
class GPT2Config:
    """The shape of a GPT-2-family decoder, read from its config.json (same field names as EncoderConfig)."""

    d_model: int  # n_embd: width of every token vector
    n_heads: int  # n_head
    n_layers: int  # n_layer
    max_positions: int  # n_positions: the longest input in tokens
    layer_norm_eps: float  # layer_norm_epsilon
    activation: str  # activation_function of the feed-forward block
    scale: bool = True  # scale_attn_weights: divide the scores by √d_head

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def architecture(self) -> Architecture:
        """Pre-norm (LayerNorm before each part), a bias on q, k, v, positions added to the input, a two-matrix
        feed-forward."""
        return Architecture(norm="layer_norm", norm_first=True, bias=True, activation=self.activation)

    @classmethod
    def from_hf(cls, raw: dict, where: object) -> GPT2Config:
        d_model = config_number(raw, "n_embd", int, where)
        n_heads = config_number(raw, "n_head", int, where)
        check_heads(n_heads, d_model, where)
        activation = raw.get("activation_function", "gelu_new")
        check_activation(activation, "activation_function", where)
        if raw.get("scale_attn_by_inverse_layer_idx"):
            raise InvalidConfigError(f"{where}: scale_attn_by_inverse_layer_idx is not supported")
        return cls(
            d_model=d_model,
            n_heads=n_heads,
            n_layers=config_number(raw, "n_layer", int, where),
            max_positions=config_number(raw, "n_positions", int, where),
            layer_norm_eps=config_number(raw, "layer_norm_epsilon", float, where, 1e-5),
            activation=activation,
            scale=bool(raw.get("scale_attn_weights", True)),
        )

    def required_params(self) -> list[str]:
        per_layer = [f"h.{i}.{name}" for i in range(self.n_layers) for name in _LAYER_PARAMS]
        return ["wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias", *per_layer]


@dataclass(frozen=True)
class GPT2Model:
    """A loaded GPT-2-family decoder. Shared by every user of a server: nothing here is changed after loading."""

    name: str
    config: GPT2Config
    tokenizer: Tokenizer
    params: Params  # safetensors names without a "transformer." prefix, float32 on `device`
    device: torch.device
    hf_config: dict  # the Hugging Face config.json this model is described by (for export)
    decoder = True

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """Every weight under its Hugging Face name (GPT2LMHeadModel, whose head is tied to wte), for export."""
        return {"transformer." + key: value for key, value in self.params.items()}

    def head_matrices(self, layer: int, head: int) -> dict[str, np.ndarray]:
        """The parts of W^q, W^k, W^v that make one head's q, k, v, as [d_head, d_model] like nn.Linear, and the
        part of W^O that reads its output as [d_model, d_head]. They act on the layer's input after ln_1 (pre-LN)."""
        d, d_model = self.config.d_head, self.config.d_model
        w_attn = self.params[f"h.{layer}.attn.c_attn.weight"]  # [d_model, 3 * d_model]: q, k, v side by side
        out = {
            name: to_numpy(w_attn[:, part * d_model + head * d : part * d_model + (head + 1) * d].T)
            for part, name in enumerate(("W_Q", "W_K", "W_V"))
        }
        out["W_O"] = to_numpy(self.params[f"h.{layer}.attn.c_proj.weight"][head * d : (head + 1) * d].T)
        return out

    def next_token_logits(self, hidden: np.ndarray) -> np.ndarray:
        """Next-token scores from final hidden states (the last layer's traced output).  [pos, d_model] -> [pos, vocab]"""
        with torch.inference_mode():
            h = torch.as_tensor(np.array(hidden), device=self.device)  # [pos, d_model]
            return (h @ self.params["wte.weight"].T).float().cpu().numpy()  # [pos, vocab]


def load_gpt2(path: str | Path, device: str | torch.device | None = None, *, name: str | None = None) -> GPT2Model:
    """Load a GPT-2-family folder (config.json, tokenizer.json, model.safetensors); never pickle, never remote code."""
    # Only the weights the forward pass reads: older checkpoints also carry each layer's mask buffer (attn.bias).
    read = read_folder(path, GPT2Config.from_hf, device, model_types=MODEL_TYPES, prefixes=("transformer.",))
    return GPT2Model(name or read.path.name, read.config, read.tokenizer, read.params, read.device, read.raw)


def _conv1d(x: torch.Tensor, params: Params, prefix: str) -> torch.Tensor:
    """GPT-2's Conv1D: x·W + b with W stored as [in, out] (the transpose of nn.Linear's)."""
    return torch.addmm(params[prefix + ".bias"], x, params[prefix + ".weight"])


@torch.inference_mode()
def trace_gpt2(
    model: GPT2Model, text: str, *, with_positions: bool = True, ablate: Ablation | None = None
) -> AttentionTrace:
    """Run the decoder on `text` and record every layer's q, k, v, z and output.

    with_positions=False leaves out the position embeddings. Unlike in the encoder, two copies of one word
    still differ then: the causal mask lets the second copy see more keys than the first.
    """
    tok = tokenize(model.tokenizer, text)
    p, cfg = model.params, model.config
    n = len(tok.ids)
    token_emb = p["wte.weight"][torch.tensor(tok.ids, device=model.device)]  # [pos, d_model]
    position_emb = p["wpe.weight"][:n]  # [pos, d_model]
    if not with_positions:
        position_emb = torch.zeros_like(position_emb)  # [pos, d_model]
    x = token_emb + position_emb  # [pos, d_model]
    mask = build_mask("causal", n, device=model.device)  # [query_pos, key_pos], True = visible
    rule = AttentionRule.from_mask(mask, scale=default_scale(cfg.d_head) if cfg.scale else 1.0)  # every layer

    activation = ACTIVATIONS[cfg.activation]
    layers = []
    for i in range(cfg.n_layers):
        pre = f"h.{i}."
        h = layer_norm(x, p, pre + "ln_1", cfg.layer_norm_eps)  # [pos, d_model]
        qkv = _conv1d(h, p, pre + "attn.c_attn")  # [pos, 3 * d_model]: q, k, v side by side
        q, k, v = (split_heads(part, cfg.n_heads) for part in qkv.split(cfg.d_model, dim=-1))  # [head, pos, d_head]
        z, attended = attention_block(q, k, v, rule, mask, layer=i, ablate=ablate)  # z: [head, pos, d_head]
        x = x + _conv1d(merge_heads(z), p, pre + "attn.c_proj")  # [pos, d_model]
        h = layer_norm(x, p, pre + "ln_2", cfg.layer_norm_eps)  # [pos, d_model]
        x = x + _conv1d(activation(_conv1d(h, p, pre + "mlp.c_fc")), p, pre + "mlp.c_proj")  # [pos, d_model]
        output = layer_norm(x, p, "ln_f", cfg.layer_norm_eps) if i == cfg.n_layers - 1 else x  # [pos, d_model]
        layers.append(layer_trace(rule, attended, output))
    tokens = tuple(display_tokens(model.tokenizer, tok.tokens))
    return build_trace(model.name, model.device, tok, layers, token_emb, position_emb, with_positions, tokens=tokens)


FAMILY = Family(
    model_types=MODEL_TYPES, model_class=GPT2Model, config=GPT2Config.from_hf, load=load_gpt2, trace=trace_gpt2
)
