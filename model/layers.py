"""The pieces every model family shares, written once: norms, linear maps, head splitting, activations,
reading a Hugging Face folder (files, config.json, safetensors, tokenizer.json), tokenizing, showing byte-level
tokens as text, and the one knob the ablation experiment turns.

Each family (model/encoder.py, model/gpt2.py, model/llama.py) keeps only what is its own: its config, the
names of its weights and its forward pass, next to the formula.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from tokenizers import Tokenizer, decoders

from model.device import pick_device
from model.errors import EmptyTextError, InvalidConfigError
from model.trace import AttentionRule, AttentionTrace, LayerTrace, to_numpy

MAX_TOKENS = 512  # the most tokens any model is given: longer text is cut, with a notice in the page
MODEL_FILES = ("config.json", "tokenizer.json", "model.safetensors")

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
}

Params = dict[str, torch.Tensor]
N = TypeVar("N", int, float)


# ── Arithmetic ────────────────────────────────────────────────────────────────────────────────────


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


@dataclass(frozen=True)
class Ablation:
    """Remove one key from one head: its value vector becomes zero in that layer, so the head's output for
    every query loses that key's share (α′ is left as it was). The attention-vs-importance experiment
    re-runs the model once per key with this."""

    layer: int
    head: int
    key: int

    def apply(self, layer: int, v: torch.Tensor) -> torch.Tensor:
        """v with this key's value zeroed in this head, when `layer` is the ablated one.  # [head, pos, d_head]"""
        if layer != self.layer:
            return v
        v = v.clone()
        v[self.head, self.key] = 0.0
        return v


# ── Reading a folder ──────────────────────────────────────────────────────────────────────────────


def require_files(folder: Path, names: tuple[str, ...] = MODEL_FILES) -> None:
    """An InvalidConfigError naming the files `folder` lacks."""
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise InvalidConfigError(f"{folder} is not a usable model folder: missing {', '.join(missing)}")


def read_config(folder: Path) -> dict:
    """config.json of a folder as a dict, or an InvalidConfigError saying why it cannot be read."""
    path = folder / "config.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidConfigError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(raw, dict):
        raise InvalidConfigError(f"{path} must hold a JSON object")
    return raw


def config_number(
    raw: dict, key: str, kind: type[N], where: object, default: N | None = None, *, least: float = 1e-300
) -> N:
    """raw[key] as an int or float of at least `least` (positive by default), or an InvalidConfigError that
    names the key and the file."""
    value = raw.get(key, default)
    if value is None:
        raise InvalidConfigError(f"{where}/config.json lacks {key!r}")
    wrong_kind = isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value))
    if wrong_kind or value < least:
        what = ("a positive integer" if kind is int else "a positive number") if least > 0 else f"a number ≥ {least}"
        raise InvalidConfigError(f"{where}/config.json: {key} must be {what}, not {value!r}")
    return kind(value)


def check_heads(n_heads: int, d_model: int, where: object) -> None:
    if d_model % n_heads:
        raise InvalidConfigError(f"{where}: {n_heads} heads do not divide the model width {d_model}")


def check_activation(name: str, key: str, where: object) -> None:
    if name not in ACTIVATIONS:
        raise InvalidConfigError(f"{where}/config.json: unsupported {key} {name!r}")


def load_params(path: Path, needed: list[str], device: torch.device, prefixes: tuple[str, ...] = ()) -> Params:
    """The `needed` tensors of a safetensors file as float32 on `device`, with any of `prefixes` dropped from
    their names; InvalidConfigError when the file cannot be read or lacks one of them."""
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as err:
        raise InvalidConfigError(f"{path} cannot be read: {err}") from err
    renamed = {}
    for key, tensor in tensors.items():
        for prefix in prefixes:
            key = key.removeprefix(prefix)
        renamed[key] = tensor
    absent = [key for key in needed if key not in renamed]
    if absent:
        raise InvalidConfigError(f"{path} lacks {len(absent)} weights, e.g. {absent[0]}")
    return {key: renamed[key].to(device, torch.float32) for key in needed}  # fp16 checkpoints too


@dataclass(frozen=True)
class Folder:
    """A Hugging Face folder read for a family: its config.json, the family's config, the weights the forward
    pass reads (float32, on `device`) and the fitted tokenizer."""

    path: Path
    raw: dict
    config: Any
    params: Params
    tokenizer: Tokenizer
    device: torch.device


def read_folder(
    path: str | Path,
    from_hf: Callable[[dict, object], Any],
    device: str | torch.device | None,
    *,
    model_types: tuple[str, ...] = (),
    extra_params: tuple[str, ...] = (),
    prefixes: tuple[str, ...] = (),
) -> Folder:
    """config.json, tokenizer.json and model.safetensors of a folder, each checked (never pickle, never remote
    code): the family's config from `from_hf`, and the weights its `required_params()` names plus `extra_params`,
    with any of `prefixes` dropped from their names. `model_types`, when given, are the ones the family takes."""
    folder = Path(path)
    require_files(folder)
    raw = read_config(folder)
    if model_types and raw.get("model_type") not in model_types:
        expected = " or ".join(repr(t) for t in model_types)
        raise InvalidConfigError(f"{folder}/config.json has model_type {raw.get('model_type')!r}, not {expected}")
    config = from_hf(raw, folder)
    dev = pick_device(str(device) if device is not None else None)
    params = load_params(folder / "model.safetensors", [*extra_params, *config.required_params()], dev, prefixes)
    tokenizer = fit_tokenizer(read_tokenizer(folder / "tokenizer.json"), config.max_positions)
    return Folder(folder, raw, config, params, tokenizer, dev)


def read_tokenizer(path: Path) -> Tokenizer:
    """tokenizer.json, or an InvalidConfigError when the tokenizers library cannot read it."""
    try:
        return Tokenizer.from_file(str(path))
    except Exception as err:  # the tokenizers library raises a bare Exception for any bad file
        raise InvalidConfigError(f"{path} cannot be read: {err}") from err


def fit_tokenizer(tokenizer: Tokenizer, max_positions: int) -> Tokenizer:
    """The tokenizer set to encode one text without padding, cut to what the model and the app allow."""
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=min(max_positions, MAX_TOKENS))
    return tokenizer


# ── Tokenizing ────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Tokens:
    """One text as a model sees it."""

    ids: list[int]
    tokens: list[str]  # the tokenizer's own pieces ("Ġsaw", "▁我", "##ing")
    special: list[bool]  # [CLS], [SEP], <s>, </s>, <|im_start|> …
    word_ids: list[int | None]  # which word of the text each token belongs to; None for special tokens
    truncated: bool  # the text was cut to the model's (or the app's) maximum
    unknown: list[bool]  # the tokenizer's unknown token ([UNK], <unk>): the vocabulary lacks that part of the text


def unknown_id(tokenizer: Tokenizer) -> int | None:
    """The id of the tokenizer's unknown token, if it has one (byte-level vocabularies do not need one)."""
    name = getattr(tokenizer.model, "unk_token", None)
    for candidate in (name, "[UNK]", "<unk>"):
        if candidate and tokenizer.token_to_id(candidate) is not None:
            return tokenizer.token_to_id(candidate)
    return None


def tokenize(tokenizer: Tokenizer, text: str) -> Tokens:
    """`text` through a fitted tokenizer; an EmptyTextError when there is nothing to tokenize."""
    if not text or not text.strip():
        raise EmptyTextError("Type a sentence first: the text is empty.")
    encoding = tokenizer.encode(text)
    if not encoding.ids:
        raise EmptyTextError("The text gives no tokens.")
    unk = unknown_id(tokenizer)
    return Tokens(
        ids=list(encoding.ids),
        tokens=list(encoding.tokens),
        special=[bool(s) for s in encoding.special_tokens_mask],
        word_ids=list(encoding.word_ids),
        truncated=bool(encoding.overflowing),
        unknown=[i == unk for i in encoding.ids],
    )


# ── Showing byte-level tokens ─────────────────────────────────────────────────────────────────────

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _byte_alphabet() -> dict[str, int]:
    """GPT-2's byte-level alphabet, character -> byte: printable bytes stand for themselves, the others (space,
    control bytes, …) for the characters from U+0100 on, in order ("Ġ" is the space, "Ċ" the newline)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {chr(b): b for b in printable} | {chr(256 + n): b for n, b in enumerate(others)}


BYTE_ALPHABET = _byte_alphabet()
BYTE_PART = "⁄"  # the fraction slash of "锯¹⁄₃": a token that holds part of a character's bytes
BYTE_HEX = "⟨"  # opens "⟨E9 94⟩": bytes that make no whole character


def _utf8_spans(data: bytes) -> list[tuple[int, int, str | None]]:
    """(start, end, character) of each UTF-8 character in `data`; a byte that starts no whole character (the
    text was cut in the middle of one) is a span of its own with character None."""
    spans, i = [], 0
    while i < len(data):
        lead = data[i]
        size = 1 if lead < 0x80 else 2 if 0xC2 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if lead < 0xF5 else 0
        try:
            char = data[i : i + size].decode("utf-8") if size else ""
        except UnicodeDecodeError:
            char = ""
        if len(char) == 1:
            spans.append((i, i + size, char))
            i += size
        else:
            spans.append((i, i + 1, None))
            i += 1
    return spans


def _part(char: str, n_bytes: int, of: int) -> str:
    """A character of which a token holds n_bytes of its `of` UTF-8 bytes: "锯¹⁄₃"."""
    return f"{char}{str(n_bytes).translate(_SUPERSCRIPT)}{BYTE_PART}{str(of).translate(_SUBSCRIPT)}"


def _show_run(tokens: list[str]) -> list[str]:
    """`show_byte_tokens` for tokens that are all in the byte alphabet."""
    pieces = [bytes(BYTE_ALPHABET[c] for c in t) for t in tokens]
    data = b"".join(pieces)
    spans = _utf8_spans(data)
    out, start, s = [], 0, 0
    for piece in pieces:
        end, text, loose = start + len(piece), [], []
        while s < len(spans) and spans[s][0] < end:
            first, last, char = spans[s]
            if char is None:
                loose.append(f"{data[first]:02X}")
            else:
                if loose:
                    text.append(BYTE_HEX + " ".join(loose) + "⟩")
                    loose = []
                held = min(last, end) - max(first, start)
                text.append(char if held == last - first else _part(char, held, last - first))
            if last > end:  # the character goes on in the next token
                break
            s += 1
        if loose:
            text.append(BYTE_HEX + " ".join(loose) + "⟩")
        out.append("".join(text))
        start = end
    return out


def show_byte_tokens(tokens: list[str]) -> list[str]:
    """Byte-level tokens as readable text, read together because a character can be split between tokens.

    A whole character shows as itself ("Ġsaw" -> " saw"). Part of a character shows as that character with the
    share of its UTF-8 bytes the token holds: 锯 is the three bytes E9 94 AF, and a tokenizer that splits it
    into "é", "Ķ", "¯" gives "锯¹⁄₃", "锯¹⁄₃", "锯¹⁄₃"; "æĬ", "Ĭ" (把) give "把²⁄₃", "把¹⁄₃". Bytes that make no
    character (a text cut in the middle of one) show as hex: "⟨E9 94⟩". A token outside the byte alphabet (an
    added token spelled as plain text) shows as it is and ends the bytes before it.
    """
    out, run = [], []
    for token in tokens:
        if set(token) <= BYTE_ALPHABET.keys():
            run.append(token)
        else:
            out += [*_show_run(run), token]
            run = []
    return out + _show_run(run)


def display_tokens(tokenizer: Tokenizer, tokens: list[str]) -> list[str]:
    """A text's tokens as shown on screen: byte-level ones (GPT-2, Llama) as readable text (`show_byte_tokens`),
    others as the tokenizer's decoder writes each one ("▁我" stays as it is without a decoder)."""
    decoder = tokenizer.decoder
    if isinstance(decoder, decoders.ByteLevel):
        return show_byte_tokens(tokens)
    if decoder is None:
        return list(tokens)
    shown = [decoder.decode([t]) for t in tokens]
    return [s if s and "\ufffd" not in s else t for s, t in zip(shown, tokens, strict=True)]


def build_trace(
    name: str,
    device: torch.device,
    tok: Tokens,
    layers: list[LayerTrace],
    token_emb: torch.Tensor,
    position_emb: torch.Tensor,
    rule: AttentionRule,
    positions: bool,
    **own: object,
) -> AttentionTrace:
    """The AttentionTrace of one forward pass, the same for every family: the tokens as tokenized, the layers
    recorded, the embeddings made numpy. `own` sets what a family does differently (its tokens as shown, which
    positions are special, grouped-query heads, RoPE's base)."""
    fields = {
        "tokens": tuple(tok.tokens),
        "special": tuple(tok.special),
        "token_ids": tuple(tok.ids),
        "word_ids": tuple(tok.word_ids),
        "unknown": tuple(tok.unknown),
        "truncated": tok.truncated,
    }
    return AttentionTrace(
        model_name=name,
        layers=tuple(layers),
        token_embeddings=to_numpy(token_emb),
        position_embeddings=to_numpy(position_emb),
        rule=rule,
        positions=positions,
        device=device.type,
        **{**fields, **own},
    )
