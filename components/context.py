"""The view context: what the sidebar and the sentence box decided for one run, handed to the view. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from components.figures.common import Mark
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
    width: float = 1.0  # the share of the page's main column the view is drawn in (a lesson's words take the rest)
    mark: Mark | None = None  # what the lesson's step points at, in trace positions (None outside a lesson)

    def t(self, key: str, **values: object) -> str:
        return t(self.lang, key, **values)
