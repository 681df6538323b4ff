"""The views, one module each in this folder (render(ctx) draws it), and their table: every view the page offers
and the URL may name, with what it needs around it.

The table is data, and pure: app.py reads it to draw the chosen view and only the controls it uses, and imports
the view's module when it is first drawn; params.py takes the view names for the `view` URL parameter from it.
A new view is one line in VIEWS and one module with render(ctx). No view imports another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def any_model(loaded: Any) -> bool:
    return True


def decoder(loaded: Any) -> bool:
    """A model that predicts the next token (a causal decoder: GPT-2, Llama)."""
    return bool(getattr(loaded, "decoder", False))


@dataclass(frozen=True)
class View:
    """One view: its URL name (also its i18n key app.view_<name>) and what it uses of the page."""

    name: str
    module: str  # the module holding render(ctx)
    needs_text: bool = True  # an empty sentence box stops it with a hint
    sentence: bool = True  # it reads the sentence box (otherwise the box is hidden)
    layer_head: bool = True  # it draws the sidebar's layer and head (otherwise they are hidden)
    query: bool = False  # it has a query picker (the "query" widget), stepped by keys while presenting
    chips: bool = False  # the chosen model's tokens matter to it: on a projector they wait behind a header button
    applies: Callable[[Any], bool] = any_model  # for which loaded models it is offered


VIEWS: dict[str, View] = {
    view.name: view
    for view in (
        View("attention", "components.views.attention", chips=True),
        View("next", "components.views.next_word", chips=True, applies=decoder),
        View("qkv", "components.views.qkv", chips=True),
        View("steps", "components.views.steps", query=True, chips=True),
        View("positional", "components.views.positions", needs_text=False, layer_head=False),
        View("playground", "components.views.playground", layer_head=False),
        View("compare", "components.views.compare", chips=True),
        View("training", "components.views.training", needs_text=False, sentence=False, layer_head=False),
        View("atlas", "components.views.atlas", needs_text=False, sentence=False, layer_head=False),
        View("lab", "components.views.experiments", needs_text=False, chips=True),
    )
}
DEFAULT_VIEW = "attention"


def offered(loaded: Any) -> list[str]:
    """The names of the views that apply to the loaded model, in the table's order."""
    return [name for name, view in VIEWS.items() if view.applies(loaded)]
