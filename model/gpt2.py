"""A GPT-2-family decoder, loaded from an operator's folder (safetensors only) and traced head by head.

Like the bundled encoder in `model.pretrained`, the forward pass is written out so that q, k and v of
every head are in hand; the tests check it against `transformers`' own GPT2Model on the same weights.
GPT-2 differs from BERT in four ways that show up here: its weights are Conv1D ([in, out], applied as
x·W + b), q, k and v come out of one fused matrix (c_attn), LayerNorm comes *before* each block
(pre-LN), and every query sees only itself and the keys before it (the causal mask).

    x        = wte[token] + wpe[position]
    per layer:
      h        = LayerNorm_1(x)
      q, k, v  = split(h·W_attn + b)                        each split into heads
      z        = softmax(mask(q·kᵀ/√d_head))·v              scaled_dot_product_attention, causal mask
      x        = x + concat(z)·W_proj + b
      x        = x + gelu(LayerNorm_2(x)·W_fc + b)·W_proj2 + b
    x        = LayerNorm_f(x)                               after the last layer

A layer's traced `output` is the residual stream x after the layer, as in transformers' hidden_states:
the last layer's output therefore includes the final LayerNorm (hidden_states[-1] does too), so every
layer's output can be compared one to one with transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tokenizers import Tokenizer

from model.attention import build_mask, scaled_dot_product_attention
from model.device import pick_device
from model.errors import InvalidConfigError
from model.pretrained import _ACTIVATIONS, tokenize
from model.trace import AttentionTrace, LayerTrace, to_numpy

MODEL_FILES = ("config.json", "tokenizer.json", "model.safetensors")


@dataclass(frozen=True)
class DecoderConfig:
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


@dataclass(frozen=True)
class PretrainedDecoder:
    """A loaded GPT-2-family decoder. Shared by every user of a server: nothing here is changed after loading."""

    name: str
    config: DecoderConfig
    tokenizer: Tokenizer
    params: dict[str, torch.Tensor]  # safetensors names without a "transformer." prefix, float32 on `device`
    device: torch.device

    def head_weights(self, layer: int, head: int) -> dict[str, np.ndarray]:
        """The parts of W^Q, W^K, W^V that make one head's q, k, v, as [d_head, d_model] like nn.Linear.

        They act on the layer's input after ln_1 (pre-LN): q = LayerNorm_1(x)·W_Qᵀ + b.
        """
        d, d_model = self.config.d_head, self.config.d_model
        w_attn = self.params[f"h.{layer}.attn.c_attn.weight"]  # [d_model, 3 * d_model]: q, k, v side by side
        return {
            name: to_numpy(w_attn[:, part * d_model + head * d : part * d_model + (head + 1) * d].T)
            for part, name in enumerate(("W_Q", "W_K", "W_V"))
        }


def _read_config(folder: Path, raw: dict) -> DecoderConfig:
    """A DecoderConfig from config.json's keys, or an InvalidConfigError that names the key at fault."""
    try:
        config = DecoderConfig(
            d_model=int(raw["n_embd"]),
            n_heads=int(raw["n_head"]),
            n_layers=int(raw["n_layer"]),
            max_positions=int(raw["n_positions"]),
            layer_norm_eps=float(raw.get("layer_norm_epsilon", 1e-5)),
            activation=raw.get("activation_function", "gelu_new"),
            scale=bool(raw.get("scale_attn_weights", True)),
        )
    except KeyError as err:
        raise InvalidConfigError(f"{folder}/config.json lacks {err.args[0]!r}, which a GPT-2 model needs") from err
    except (TypeError, ValueError) as err:
        raise InvalidConfigError(f"{folder}/config.json has a value of the wrong type: {err}") from err
    if config.n_heads < 1 or config.d_model % config.n_heads:
        raise InvalidConfigError(f"{folder}: n_head={config.n_heads} does not divide n_embd={config.d_model}")
    if config.activation not in _ACTIVATIONS:
        raise InvalidConfigError(f"unsupported activation_function {config.activation!r} in {folder}")
    if raw.get("scale_attn_by_inverse_layer_idx"):
        raise InvalidConfigError(f"{folder}: scale_attn_by_inverse_layer_idx is not supported")
    return config


def _required_params(n_layers: int) -> list[str]:
    per_layer = [
        "ln_1.weight",
        "ln_1.bias",
        "attn.c_attn.weight",
        "attn.c_attn.bias",
        "attn.c_proj.weight",
        "attn.c_proj.bias",
        "ln_2.weight",
        "ln_2.bias",
        "mlp.c_fc.weight",
        "mlp.c_fc.bias",
        "mlp.c_proj.weight",
        "mlp.c_proj.bias",
    ]
    return ["wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"] + [
        f"h.{i}.{name}" for i in range(n_layers) for name in per_layer
    ]


def load_gpt2(
    path: str | Path, device: str | torch.device | None = None, *, name: str | None = None
) -> PretrainedDecoder:
    """Load a GPT-2-family folder (config.json, tokenizer.json, model.safetensors); never pickle, never remote code."""
    folder = Path(path)
    files = {file: folder / file for file in MODEL_FILES}
    missing = [file for file, f in files.items() if not f.is_file()]
    if missing:
        raise InvalidConfigError(f"{folder} is not a usable model folder: missing {', '.join(missing)}")
    try:
        raw = json.loads(files["config.json"].read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidConfigError(f"{folder}/config.json is not valid JSON: {err}") from err
    if not isinstance(raw, dict) or raw.get("model_type") != "gpt2":
        model_type = raw.get("model_type") if isinstance(raw, dict) else None
        raise InvalidConfigError(f"{folder}/config.json has model_type {model_type!r}, not 'gpt2'")
    config = _read_config(folder, raw)
    dev = pick_device(str(device) if device is not None else None)
    # Only the weights the forward pass reads: older checkpoints also carry each layer's mask buffer (attn.bias).
    needed = set(_required_params(config.n_layers))
    tensors = {key.removeprefix("transformer."): t for key, t in load_file(files["model.safetensors"]).items()}
    absent = sorted(needed - tensors.keys())
    if absent:
        raise InvalidConfigError(f"{files['model.safetensors']} lacks {len(absent)} weights, e.g. {absent[0]}")
    params = {key: tensors[key].to(dev, torch.float32) for key in needed}
    tokenizer = Tokenizer.from_file(str(files["tokenizer.json"]))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=config.max_positions)
    return PretrainedDecoder(name=name or folder.name, config=config, tokenizer=tokenizer, params=params, device=dev)


def _conv1d(x: torch.Tensor, params: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    """GPT-2's Conv1D: x·W + b with W stored as [in, out] (the transpose of nn.Linear's)."""
    return torch.addmm(params[prefix + ".bias"], x, params[prefix + ".weight"])


def _layer_norm(x: torch.Tensor, params: dict[str, torch.Tensor], prefix: str, eps: float) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], params[prefix + ".weight"], params[prefix + ".bias"], eps)


def _split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    n_pos, d_model = x.shape  # [pos, d_model]
    return x.view(n_pos, n_heads, d_model // n_heads).transpose(0, 1)  # [head, pos, d_head]


def _display_token(tokenizer: Tokenizer, token: str) -> str:
    """A byte-level token as text ("Ġsaw" -> " saw"); the raw token where it is only part of a character."""
    decoder = tokenizer.decoder
    if decoder is None:
        return token
    text = decoder.decode([token])
    return token if "\ufffd" in text or not text else text


@torch.inference_mode()
def trace_gpt2(model: PretrainedDecoder, text: str, *, positions: bool = True) -> AttentionTrace:
    """Run the decoder on `text` and record every layer's q, k, v, scores, α, z and output.

    positions=False leaves out the position embeddings. Unlike in the encoder, two copies of one word
    still differ then: the causal mask lets the second copy see more keys than the first.
    """
    ids, tokens, special, truncated = tokenize(model, text)
    p, cfg = model.params, model.config
    n = len(ids)
    input_ids = torch.tensor(ids, device=model.device)  # [pos]
    token_emb = p["wte.weight"][input_ids]  # [pos, d_model]
    position_emb = p["wpe.weight"][:n]  # [pos, d_model]
    if not positions:
        position_emb = torch.zeros_like(position_emb)  # [pos, d_model]
    x = token_emb + position_emb  # [pos, d_model]
    mask = build_mask("causal", n, device=model.device)  # [query_pos, key_pos], True = visible

    activation = _ACTIVATIONS[cfg.activation]
    layers = []
    for i in range(cfg.n_layers):
        pre = f"h.{i}."
        h = _layer_norm(x, p, pre + "ln_1", cfg.layer_norm_eps)  # [pos, d_model]
        qkv = _conv1d(h, p, pre + "attn.c_attn")  # [pos, 3 * d_model]: q, k, v side by side
        q, k, v = (_split_heads(part, cfg.n_heads) for part in qkv.split(cfg.d_model, dim=-1))  # [head, pos, d_head]
        z, scores, weights = scaled_dot_product_attention(q, k, v, mask=mask, scale=cfg.scale)  # z [head, pos, d_head]
        concat = z.transpose(0, 1).reshape(n, cfg.d_model)  # [pos, d_model]
        x = x + _conv1d(concat, p, pre + "attn.c_proj")  # [pos, d_model]
        h = _layer_norm(x, p, pre + "ln_2", cfg.layer_norm_eps)  # [pos, d_model]
        hidden = activation(_conv1d(h, p, pre + "mlp.c_fc"))  # [pos, d_ff]
        x = x + _conv1d(hidden, p, pre + "mlp.c_proj")  # [pos, d_model]
        output = _layer_norm(x, p, "ln_f", cfg.layer_norm_eps) if i == cfg.n_layers - 1 else x  # [pos, d_model]
        layers.append(LayerTrace.from_tensors(q=q, k=k, v=v, scores=scores, weights=weights, z=z, output=output))
    mask_np = mask.cpu().numpy()  # [query_pos, key_pos] bool, a fresh array
    mask_np.flags.writeable = False
    return AttentionTrace(
        model_name=model.name,
        tokens=tuple(_display_token(model.tokenizer, t) for t in tokens),
        layers=tuple(layers),
        token_embeddings=to_numpy(token_emb),
        position_embeddings=to_numpy(position_emb),
        mask=mask_np,
        truncated=truncated,
        positions=positions,
        scale=cfg.scale,
        device=model.device.type,
        special=tuple(special),
    )
