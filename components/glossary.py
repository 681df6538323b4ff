"""The page's notation, read from assets/glossary.toml: one entry per concept, with its symbol (the score α, the weight α′, b …),
its name in code (scores, weights, z), how a download holding it is named, and a name and one-line definition in
English and 简体中文.

Pure (no Streamlit), so the i18n code, the views and the tests can all import it.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from components.i18n import LANGS

GLOSSARY_FILE = Path(__file__).resolve().parent.parent / "assets" / "glossary.toml"


@dataclass(frozen=True)
class Term:
    """One concept of the glossary."""

    key: str  # the TOML table's name: "score", "weight", "output" …
    symbol: str  # what the page writes: "α" (the score), "α′", "b"; "" when the concept has no symbol
    code: str  # the name in code and in the trace ("scores"); "" when there is none
    file: str  # how a download holding it is named ("alpha_prime"); "" when none is offered
    name: dict[str, str]  # per language
    definition: dict[str, str]  # per language, one line


@functools.cache
def glossary() -> dict[str, Term]:
    """Every term by key, in the file's order. A ValueError names an entry that lacks a language or a field."""
    with GLOSSARY_FILE.open("rb") as f:
        raw = tomllib.load(f)
    terms = {}
    for key, entry in raw.items():
        missing = [
            f"{lang}.{field}" for lang in LANGS for field in ("name", "definition") if field not in entry.get(lang, {})
        ]
        if missing:
            raise ValueError(f"{GLOSSARY_FILE.name}: [{key}] lacks {', '.join(missing)}")
        terms[key] = Term(
            key=key,
            symbol=entry.get("symbol", ""),
            code=entry.get("code", ""),
            file=entry.get("file", ""),
            name={lang: entry[lang]["name"] for lang in LANGS},
            definition={lang: entry[lang]["definition"] for lang in LANGS},
        )
    return terms


def symbol(key: str) -> str:
    """The symbol the page writes for a concept ("α′" for "weight")."""
    return glossary()[key].symbol


def term_name(lang: str, key: str) -> str:
    """A concept's name in `lang` (English for a language the glossary lacks)."""
    names = glossary()[key].name
    return names.get(lang, names["en"])


def label(lang: str, key: str) -> str:
    """The name with its symbol, as a title or an axis writes it: "attention weight α′", "注意力权重 α′"."""
    term = glossary()[key]
    return f"{term_name(lang, key)} {term.symbol}".strip()


def file_name(key: str, prefix: str = "", **where: int) -> str:
    """A download's name, without extension: the concept's file stem, then each index as name+value, in order:
    file_name("weight", layer=3, head=1) -> "alpha_prime_layer3_head1"; a prefix names the model or the part
    ("playground_alpha_prime_layer0"). A ValueError for a concept that names no download."""
    stem = glossary()[key].file
    if not stem:
        raise ValueError(f"the glossary's [{key}] has no file name")
    return "_".join([*([prefix] if prefix else []), stem, *(f"{name}{value}" for name, value in where.items())])


def glossary_table(lang: str) -> list[tuple[str, str, str]]:
    """The glossary as the page shows it: (symbol, the name in both languages, the definition in `lang`) per
    concept, in the file's order; the other language's name rides along so a bilingual class finds both."""
    other = next((x for x in LANGS if x != lang), lang)
    rows = []
    for term in glossary().values():
        names = [term_name(lang, term.key)]
        if term_name(other, term.key) != names[0]:
            names.append(term_name(other, term.key))
        definition = term.definition.get(lang, term.definition["en"])
        rows.append((term.symbol, " · ".join(names), definition))
    return rows
