"""The view context: what the sidebar and the sentence box decided for one run, handed to the view. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from components.i18n import t


@dataclass(frozen=True)
class ViewContext:
    """What the sidebar and sentence box decided for this run."""

    lang: str
    text: str  # cleaned: control characters removed, cut to params.MAX_CHARS
    view: str
    layer: int
    head: int
    hide_special: bool
    presentation: bool

    def t(self, key: str, **values: object) -> str:
        return t(self.lang, key, **values)
