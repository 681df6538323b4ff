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
