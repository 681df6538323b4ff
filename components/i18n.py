"""English and 简体中文 strings, kept in assets/i18n/*.toml and looked up by "file.key".

Each TOML table is one string with an `en` and a `zh` entry, so a missing translation is visible
right beside its original (and tests/test_i18n.py fails on it). Strings may hold {placeholders}.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

LANGS: tuple[str, ...] = ("en", "zh")
LANG_NAMES = {"en": "English", "zh": "简体中文"}
I18N_DIR = Path(__file__).resolve().parent.parent / "assets" / "i18n"


@functools.cache
def strings() -> dict[str, dict[str, str]]:
    """Every string: {"attention.title": {"en": ..., "zh": ...}, ...}."""
    table: dict[str, dict[str, str]] = {}
    for path in sorted(I18N_DIR.glob("*.toml")):
        with path.open("rb") as f:
            for key, entry in tomllib.load(f).items():
                table[f"{path.stem}.{key}"] = entry
    return table


def t(lang: str, key: str, **values: object) -> str:
    """The string `key` in `lang` (English if that language lacks it), with {placeholders} filled."""
    entry = strings()[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**values) if values else text
