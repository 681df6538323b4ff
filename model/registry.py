"""Which models a server offers, and one way to load and trace any of them.

The bundled all-MiniLM-L6-v2 is always offered and is the default. The operator of a server (never
a browser user) adds local Hugging Face folders in either or both of two ways:

    ATTENTION_LAB_MODELS=/srv/models/gpt2:/srv/models/bert-base-uncased
        os.pathsep-separated folders (":" on Linux and macOS, ";" on Windows), each named after its folder

    attention_lab_models.toml, next to app.py:
        [[models]]
        name = "GPT-2 small"
        path = "/srv/models/gpt2"      # a relative path is relative to the file

A browser user only picks one of these names (`load_named`); a path never comes from a request.

A folder holds config.json, tokenizer.json and model.safetensors, and config.json's model_type picks
the code: "bert" runs `model.pretrained` (an encoder, like the bundled model) and "gpt2" runs
`model.gpt2` (a decoder with a causal mask). Weights are read with safetensors only: a folder with
just pytorch_model.bin (a pickle, which can run code while it loads) is refused, and no code from a
folder is ever run (there is no trust_remote_code).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from tokenizers import Tokenizer

from model.errors import InvalidConfigError
from model.gpt2 import MODEL_FILES, PretrainedDecoder, load_gpt2, trace_gpt2
from model.pretrained import BUNDLED_NAME, PretrainedModel, load_pretrained, trace
from model.trace import AttentionTrace

MODELS_ENV = "ATTENTION_LAB_MODELS"
MODELS_FILE = Path(__file__).resolve().parent.parent / "attention_lab_models.toml"
DEFAULT_MODEL = BUNDLED_NAME
MODEL_TYPES = ("bert", "gpt2")
_PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".ckpt", ".pkl"}  # weights saved with torch.save / pickle

LoadedModel = PretrainedModel | PretrainedDecoder

# What model.pretrained reads from a BERT folder: the config keys and, per layer, the weights.
_BERT_CONFIG_KEYS = ("hidden_size", "num_attention_heads", "num_hidden_layers", "max_position_embeddings")
_BERT_LAYER_PARAMS = [
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
_BERT_EMBEDDING_PARAMS = [
    "embeddings.word_embeddings.weight",
    "embeddings.position_embeddings.weight",
    "embeddings.token_type_embeddings.weight",
    "embeddings.LayerNorm.weight",
    "embeddings.LayerNorm.bias",
]


def _models_file_entries(file: Path) -> Iterator[tuple[str, Path]]:
    """(name, path) of every [[models]] table in the operator's TOML file."""
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidConfigError(f"{file} is not valid TOML: {err}") from err
    unknown = sorted(set(data) - {"models"})
    if unknown:
        raise InvalidConfigError(f"{file}: unknown key {unknown[0]!r}; list models as [[models]] tables")
    entries = data.get("models", [])
    if not isinstance(entries, list):
        raise InvalidConfigError(f"{file}: 'models' must be a list of [[models]] tables")
    for i, entry in enumerate(entries):
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("path"), str)):
            raise InvalidConfigError(f"{file}: models[{i}] needs a name and a path, both strings")
        path = Path(entry["path"]).expanduser()
        yield entry["name"].strip(), path if path.is_absolute() else file.parent / path


def operator_model_paths(
    environ: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> dict[str, Path]:
    """The operator's models by name: attention_lab_models.toml's first, then $ATTENTION_LAB_MODELS's.

    Reads the environment (default os.environ) and the TOML file (default MODELS_FILE, skipped when
    absent); does not look into the folders, which `load_model` checks. A name used twice, or the
    bundled model's name, is an InvalidConfigError.
    """
    environ = os.environ if environ is None else environ
    config_file = MODELS_FILE if config_file is None else Path(config_file)
    models: dict[str, Path] = {}

    def add(name: str, path: Path, source: object) -> None:
        if not name:
            raise InvalidConfigError(f"{source}: {str(path)!r} gives a model without a name")
        if name == DEFAULT_MODEL or name in models:
            raise InvalidConfigError(f"{source}: the model name {name!r} is already taken")
        models[name] = path

    if config_file.is_file():
        for name, path in _models_file_entries(config_file):
            add(name, path, config_file)
    for entry in environ.get(MODELS_ENV, "").split(os.pathsep):
        if entry.strip():
            path = Path(entry.strip()).expanduser()
            add(path.name, path, f"${MODELS_ENV}")
    return models


def model_names() -> list[str]:
    """The names a user may choose from, the bundled default first."""
    return [DEFAULT_MODEL, *operator_model_paths()]


def _check_int(folder: Path, raw: dict, key: str) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidConfigError(f"{folder}/config.json: {key} must be a positive integer, not {value!r}")
    return value


def check_model_folder(path: str | Path) -> str:
    """The folder's model_type, once the folder is known to be one this package can load safely.

    Raises InvalidConfigError naming what is wrong: not a folder, pickle weights only, missing files,
    config.json unreadable or of an unknown model_type, an unreadable tokenizer.json.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InvalidConfigError(f"{folder} is not a folder")
    if not (folder / "model.safetensors").is_file():
        if (folder / "model.safetensors.index.json").is_file():
            raise InvalidConfigError(f"{folder} holds sharded weights; only a single model.safetensors is supported")
        pickles = [p.name for p in sorted(folder.iterdir()) if p.suffix in _PICKLE_SUFFIXES]
        if pickles:
            raise InvalidConfigError(
                f"{folder} has weights only as {', '.join(pickles)}: Attention Lab reads safetensors only, because "
                "loading a pickle can run code. Convert the folder to model.safetensors on a trusted machine "
                "(e.g. transformers' from_pretrained(...).save_pretrained(..., safe_serialization=True))."
            )
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise InvalidConfigError(f"{folder} is not a usable model folder: missing {', '.join(missing)}")
    try:
        raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidConfigError(f"{folder}/config.json is not valid JSON: {err}") from err
    if not isinstance(raw, dict):
        raise InvalidConfigError(f"{folder}/config.json must hold a JSON object")
    model_type = raw.get("model_type")
    if model_type not in MODEL_TYPES:
        raise InvalidConfigError(
            f"{folder}/config.json has model_type {model_type!r}; supported are {', '.join(MODEL_TYPES)}"
        )
    if model_type == "bert":
        sizes = {key: _check_int(folder, raw, key) for key in _BERT_CONFIG_KEYS}
        d_model, n_heads = sizes["hidden_size"], sizes["num_attention_heads"]
        if d_model % n_heads:
            raise InvalidConfigError(f"{folder}: num_attention_heads={n_heads} does not divide hidden_size={d_model}")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise InvalidConfigError(f"{folder}: only absolute position embeddings are supported")
    try:
        Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as err:  # the tokenizers library raises a bare Exception for any bad file
        raise InvalidConfigError(f"{folder}/tokenizer.json cannot be read: {err}") from err
    return model_type


def load_model(
    path: str | Path | None = None, device: str | torch.device | None = None, *, name: str | None = None
) -> LoadedModel:
    """Load the bundled model (path=None) or an operator's folder of a supported model_type.

    `name` is what traces are labelled with; it defaults to the bundled name or the folder's name.
    """
    if path is None:
        loaded = load_pretrained(device)
        return dataclasses.replace(loaded, name=name) if name else loaded
    folder = Path(path)
    model_type = check_model_folder(folder)
    try:
        if model_type == "gpt2":
            return load_gpt2(folder, device, name=name)
        loaded = load_pretrained(device, folder)
    except SafetensorError as err:
        raise InvalidConfigError(f"{folder}/model.safetensors cannot be read: {err}") from err
    n_layers = loaded.config.n_layers
    needed = _BERT_EMBEDDING_PARAMS + [f"encoder.layer.{i}.{p}" for i in range(n_layers) for p in _BERT_LAYER_PARAMS]
    absent = [key for key in needed if key not in loaded.params]
    if absent:
        raise InvalidConfigError(f"{folder}/model.safetensors lacks {len(absent)} weights, e.g. {absent[0]}")
    return dataclasses.replace(loaded, name=name) if name else loaded


def load_named(name: str, device: str | torch.device | None = None) -> LoadedModel:
    """Load a model by the name a user chose: the bundled default or one the operator listed."""
    if name == DEFAULT_MODEL:
        return load_model(None, device)
    paths = operator_model_paths()
    if name not in paths:
        raise InvalidConfigError(f"unknown model {name!r}; choose one of {', '.join([DEFAULT_MODEL, *paths])}")
    return load_model(paths[name], device, name=name)


def trace_any(loaded: LoadedModel, text: str, *, positions: bool = True) -> AttentionTrace:
    """`model.trace` for an encoder, `model.gpt2.trace_gpt2` for a decoder."""
    if isinstance(loaded, PretrainedDecoder):
        return trace_gpt2(loaded, text, positions=positions)
    if isinstance(loaded, PretrainedModel):
        return trace(loaded, text, positions=positions)
    raise TypeError(f"not a loaded model: {type(loaded).__name__}")
