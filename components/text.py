"""String helpers, pure: escaping text for Streamlit's Markdown, joining sentences in either language, telling
Chinese text apart.
"""

from __future__ import annotations

import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$:~&\"'=^@%])")


def md_escape(text: str) -> str:
    """Text that Streamlit's Markdown shows literally: no emphasis, links, LaTeX, :colour[] or emoji codes."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def joined(lang: str, *sentences: str) -> str:
    """Sentences one after another: with a space in English, none in Chinese (whose full stop ends them)."""
    return ("" if lang == "zh" else " ").join(s for s in sentences if s)


def has_chinese(text: str) -> bool:
    """Whether `text` holds a CJK ideograph (the Unified Ideographs and their Extension A)."""
    return any("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)


def head_groups(kv_heads: tuple[int, ...]) -> str:
    """Which query heads read which key/value head, shortest: (0, 0, 0, 1, 1, 1) -> "0–2 → 0, 3–5 → 1"."""
    groups: dict[int, list[int]] = {}
    for head, kv in enumerate(kv_heads):
        groups.setdefault(kv, []).append(head)
    return ", ".join(
        f"{heads[0]}–{heads[-1]} → {kv}" if len(heads) > 1 else f"{heads[0]} → {kv}" for kv, heads in groups.items()
    )
