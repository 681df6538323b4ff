"""Reading a Hugging Face folder for a family, each file checked: config.json (and the numbers a family reads
from it), model.safetensors (never a pickle) and tokenizer.json (fitted to the app's 512-token cut).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from tokenizers import Tokenizer

from model.device import pick_device
from model.errors import InvalidConfigError
from model.families.blocks import ACTIVATIONS, Params
from model.tokens import MAX_TOKENS

MODEL_FILES = ("config.json", "tokenizer.json", "model.safetensors")


N = TypeVar("N", int, float)


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
