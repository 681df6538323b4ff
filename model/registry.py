"""Which models a server offers, and the one way to load and trace any of them.

Built-in models come from pip packages (nothing is downloaded at run time) and every user may pick them:
all-MiniLM-L6-v2 (the default), and the others listed in BUILT_IN. The operator of a server (never a
browser user) adds local Hugging Face folders in either or both of two ways:

    ATTENTION_LAB_MODELS=/srv/models/gpt2:/srv/models/bert-base-uncased
        os.pathsep-separated folders (":" on Linux and macOS, ";" on Windows), each named after its folder

    attention_lab_models.toml, next to app.py:
        [[models]]
        name = "GPT-2 small"
        path = "/srv/models/gpt2"      # a relative path is relative to the file

A browser user only picks one of these names (`load_named`); a path never comes from a request.

A folder holds config.json, tokenizer.json and model.safetensors, and config.json's model_type picks the
family (FAMILIES below): "bert" and "xlm-roberta" run `model.families.encoder`, "gpt2" runs `model.families.gpt2`,
"llama" runs `model.families.llama`.
Weights are read with safetensors only: a folder with just pytorch_model.bin (a pickle, which can run code
while it loads) is refused, and no code from a folder is ever run (there is no trust_remote_code).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from model.errors import InvalidConfigError
from model.families import encoder, gemma3, gpt2, llama
from model.families.base import Device, Family, LoadedModel
from model.families.blocks import Ablation
from model.readers.folder import read_config, read_tokenizer, require_files
from model.trace import AttentionTrace

MODELS_ENV = "ATTENTION_LAB_MODELS"
MODELS_FILE = Path(__file__).resolve().parent.parent / "attention_lab_models.toml"
DEFAULT_MODEL = encoder.BUNDLED_NAME
CHINESE_READER = encoder.E5_NAME  # the built-in model Chinese text is shown on when the default cannot read it
DEFAULT_DECODER = llama.SMOLLM2_NAME  # the built-in decoder Compare sets beside an encoder
CHINESE_DECODER = gemma3.GEMMA3_NAME  # the built-in decoder that reads (and writes) Chinese as words
_PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".ckpt", ".pkl"}  # weights saved with torch.save / pickle

# Every family the app runs, one entry each. Their built-in models are offered in this order, the default first.
FAMILIES: tuple[Family, ...] = (encoder.FAMILY, gpt2.FAMILY, llama.FAMILY, gemma3.FAMILY)
BY_MODEL_TYPE: dict[str, Family] = {model_type: f for f in FAMILIES for model_type in f.model_types}
# The models every user may pick, by name, each loaded from its pip package.
BUILT_IN: dict[str, Callable[[Device], LoadedModel]] = {
    name: load for f in FAMILIES for name, load in f.built_in.items()
}


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
    absent); does not look into the folders, which `load_model` checks. A name used twice, or a
    built-in model's name, is an InvalidConfigError.
    """
    environ = os.environ if environ is None else environ
    config_file = MODELS_FILE if config_file is None else Path(config_file)
    models: dict[str, Path] = {}

    def add(name: str, path: Path, source: object) -> None:
        if not name:
            raise InvalidConfigError(f"{source}: {str(path)!r} gives a model without a name")
        if name in BUILT_IN or name in models:
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
    """The names a user may choose from: the built-in models (the default first), then the operator's."""
    return [*BUILT_IN, *operator_model_paths()]


def check_model_folder(path: str | Path) -> str:
    """The folder's model_type, once the folder is known to be one this package can load safely.

    Raises InvalidConfigError naming what is wrong: not a folder, pickle weights only, missing files,
    config.json unreadable, of an unknown model_type or with values the family cannot use, an unreadable
    tokenizer.json.
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
    require_files(folder)
    raw = read_config(folder)
    model_type = raw.get("model_type")
    if model_type not in BY_MODEL_TYPE:
        raise InvalidConfigError(
            f"{folder}/config.json has model_type {model_type!r}; supported are {', '.join(BY_MODEL_TYPE)}"
        )
    BY_MODEL_TYPE[model_type].config(raw, folder)
    read_tokenizer(folder / "tokenizer.json")
    return model_type


def load_model(path: str | Path | None = None, device: Device = None, *, name: str | None = None) -> LoadedModel:
    """Load the default built-in model (path=None) or an operator's folder of a supported model_type.

    `name` is what traces are labelled with; it defaults to the built-in name or the folder's name.
    """
    if path is None:
        return encoder.load_encoder(None, device, name=name)
    folder = Path(path)
    model_type = check_model_folder(folder)
    return BY_MODEL_TYPE[model_type].load(folder, device, name=name)


def load_named(name: str, device: Device = None) -> LoadedModel:
    """Load a model by the name a user chose: a built-in one or one the operator listed."""
    if name in BUILT_IN:
        return BUILT_IN[name](device)
    paths = operator_model_paths()
    if name not in paths:
        raise InvalidConfigError(f"unknown model {name!r}; choose one of {', '.join([*BUILT_IN, *paths])}")
    return load_model(paths[name], device, name=name)


def family_of(loaded: LoadedModel) -> Family:
    """The family a loaded model belongs to (a TypeError for anything else)."""
    family = next((f for f in FAMILIES if isinstance(loaded, f.model_class)), None)
    if family is None:
        raise TypeError(f"not a loaded model: {type(loaded).__name__}")
    return family


def has_window(loaded: LoadedModel) -> bool:
    """Whether the model has sliding-window layers whose window a class may change (Gemma 3)."""
    return bool(sliding_layers(loaded))


def sliding_layers(loaded: LoadedModel) -> tuple[int, ...]:
    """The layers that see a sliding window (empty on a model without one)."""
    return tuple(i for i, kind in enumerate(getattr(loaded.config, "layer_types", ())) if kind == "sliding_attention")


def trace_any(
    loaded: LoadedModel,
    text: str,
    *,
    with_positions: bool = True,
    ablate: Ablation | None = None,
    window: int | None = None,
    window_layers: str = "sliding",
) -> AttentionTrace:
    """The trace of `text` by whichever family `loaded` belongs to. `window` (a model with sliding-window layers
    only) replaces the window of its sliding layers, or of every layer with window_layers="all"."""
    family = family_of(loaded)
    if window is None and window_layers == "sliding":
        return family.trace(loaded, text, with_positions=with_positions, ablate=ablate)
    if not has_window(loaded):
        raise InvalidConfigError(f"{loaded.name} has no sliding window to change")
    return family.trace(
        loaded, text, with_positions=with_positions, ablate=ablate, window=window, window_layers=window_layers
    )
