"""Attention Lab: type a sentence, watch self-attention at work on a real transformer.

Thin on purpose: page set-up → shared state and sidebar → sentence box → the chosen view → URL.
Every view lives in components/views/ (listed in its table, components/views/__init__.py), every number comes
from model/.
"""

from __future__ import annotations

import contextlib
import importlib
import tomllib
from pathlib import Path

import streamlit as st

from components import header, lesson, lesson_plan, session, sidebar
from components.cache import get_model, get_trace, is_loaded, selected_model_name
from components.context import ViewContext
from components.i18n import t
from components.keys import keyboard
from components.params import Notice
from components.ui import guarded, token_chips
from components.views import DEFAULT_VIEW, VIEWS, offered
from model.device import one_cpu_thread_here
from model.errors import AttentionLabError, ModelNotInstalledError
from model.registry import DEFAULT_MODEL, LoadedModel, model_names

EXAMPLES = tomllib.loads((Path(__file__).parent / "assets" / "examples.toml").read_text(encoding="utf-8"))["example"]
# Constant CSS only, nothing a user typed goes into it. A compact header on every screen, so that the
# first figure starts high enough to be seen whole.
PAGE_CSS = """<style>
.stMainBlockContainer {padding-top: 1.5rem; padding-bottom: 3rem;}
.stMainBlockContainer h1 {font-size: 1.9rem; padding-bottom: 0;}
[data-testid="stHeader"] {background: transparent;}
[data-testid="stHeader"], [data-testid="stHeader"] * {pointer-events: none !important;}
[data-testid="stHeader"] button, [data-testid="stHeader"] button * {pointer-events: auto !important;}
h1 {padding-top: 0 !important;}
</style>"""
# On a projector: larger text everywhere, the header in two rows, the view picker on one of them.
PRESENTATION_CSS = """<style>
.stMainBlockContainer {padding: 0.6rem 3.5rem 2rem 3.5rem;}
.stMainBlockContainer [data-testid="stVerticalBlock"] {gap: 0.5rem;}
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li, [data-testid="stMarkdownContainer"] td,
[data-testid="stMarkdownContainer"] th, [data-testid="stCaptionContainer"], [data-testid="stWidgetLabel"] p,
[data-testid="stTable"] td, [data-testid="stTable"] th, input, textarea
{font-size: 1.3rem !important; line-height: 1.45 !important;}
button p {font-size: 1.2rem !important;}
[data-testid="stMarkdownContainer"] p span {font-size: 1.15rem !important;}
[data-testid="stCode"] code {font-size: 1.15rem !important;}
[data-testid="stSliderThumbValue"], [data-testid="stSliderTickBarMin"], [data-testid="stSliderTickBarMax"]
{font-size: 1.15rem !important;}
[data-testid="stSlider"] {padding-top: 0.6rem;}
[data-baseweb="tag"] span {font-size: 1.05rem !important;}
.st-key-view button {padding-left: 0.45rem; padding-right: 0.45rem; min-height: 2.4rem;}
.st-key-view button p {font-size: 1.1rem !important; white-space: nowrap;}
</style>"""


def _legend(lang: str, settings: tuple[str, ...]) -> list[tuple[list[str], str]]:
    # A lesson's step: PageDown / PageUp, and → ← where the head does not take them (components/keys.py).
    step = ["PgUp", "PgDn"] + ([] if "head" in settings else ["←", "→"])
    keys = {"head": ["←", "→"], "layer": ["↑", "↓"], "query": ["<", ">"], "step": step}
    return [(keys[name], t(lang, f"app.keys_{name}")) for name in settings]


def load_chosen_model(lang: str) -> LoadedModel:
    """The session's model, with a spinner the first time this server loads it. A model that cannot be
    loaded (its package missing, an operator's broken folder) gives way to the default one, with a notice."""
    name = selected_model_name()
    try:
        with st.spinner(t(lang, "models.loading", name=name)) if not is_loaded(name) else contextlib.nullcontext():
            return get_model()
    except AttentionLabError as err:
        if name == DEFAULT_MODEL:
            raise
        st.error(t(lang, "app.model_failed", name=name, detail=str(err)), icon="📦")
        st.session_state["model"] = DEFAULT_MODEL
        return load_chosen_model(lang)


def _header_chips(place, text: str, lang: str) -> None:
    """On a projector, the tokens behind a button in the header row; the view below says why when none."""
    try:
        trace = get_trace(text)
    except AttentionLabError:
        return
    with place:
        token_chips(trace, lang, folded=True)


# Streamlit runs every rerun on a new thread. The torch a view calls here (Steps' check, the RoPE panels) would have
# OpenMP start a team of threads for each of them, which spin while they wait: Steps cost the server 200 ms of CPU
# per action for 120 ms of wall time. One thread, as on the model thread.
one_cpu_thread_here()
session.init_state()
session.check_state()
presentation = bool(st.session_state["present"])
st.set_page_config(
    page_title="Attention Lab",
    page_icon="🔍",
    layout="wide",
    initial_sidebar_state="collapsed" if presentation else "auto",
)
lang = sidebar.render_language_and_presentation()
lesson.render_entry(lang)

try:
    names = model_names()
except AttentionLabError as err:  # the operator's model list is broken: say so, offer the bundled model
    names = [DEFAULT_MODEL]
    st.sidebar.warning(str(err))
session.check_model_choice(names)
try:
    loaded = load_chosen_model(lang)
except ModelNotInstalledError as err:  # the default model's package is missing: nothing can be shown
    st.title("Attention Lab")
    st.error(t(lang, "app.model_missing", detail=str(err)), icon="📦")
    st.stop()
sidebar.render_model_picker(lang, names)

views = offered(loaded)
if st.session_state["view"] not in views:  # a link to a view this model does not have
    name = st.session_state["view"]
    session.add_notice(Notice("app.view_unavailable", {"name": name, "model": selected_model_name()}))
    st.session_state["view"] = DEFAULT_VIEW
view = VIEWS[st.session_state["view"]]
lang, layer, head, hide_special, presentation = sidebar.render_sidebar(
    loaded.config.n_layers, loaded.config.n_heads, loaded.device.type, layer_head=view.layer_head
)
st.html(PAGE_CSS)
if presentation:
    st.html(PRESENTATION_CSS)
else:  # the title and what the app does on one line, so that the first figure starts high on a laptop
    # The title as wide as its words (in a fixed column, 注意力实验室 broke over two lines at 1280 px), the rest to the line.
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium", wrap=False):
        st.title(t(lang, "app.title"), width="content")
        st.caption(
            t(lang, "app.subtitle", model=loaded.name, layers=loaded.config.n_layers, heads=loaded.config.n_heads)
        )
on_lesson = lesson.current()
# A lesson's words: on a projector beside the view (the view in the wider column, its figures as tall as ever, so
# that the first one stays whole on the first screen), elsewhere above it.
view_column, width, lesson_legend = contextlib.ExitStack(), 1.0, None
if on_lesson is not None and presentation:
    at_view, aside = st.columns([1 - lesson.ASIDE, lesson.ASIDE], gap="small")
    with aside:
        lesson_legend = lesson.render_panel(lang, *on_lesson, beside=True)
    view_column.enter_context(at_view)  # the header and the view below are drawn in it, up to sync_url
    width = lesson.VIEW_WIDTH
elif on_lesson is not None:
    lesson_legend = lesson.render_panel(lang, *on_lesson, beside=False)
text = st.session_state["text"]
if view.sentence:
    at_chips = header.render_sentence_box(lang, EXAMPLES, presentation)
    text = st.session_state["text"]
    if at_chips is not None and view.chips and text.strip():
        _header_chips(at_chips, text, lang)
in_row = presentation and on_lesson is None  # the keys' legend beside the picker, or in the lesson's panel
picker, legend = st.columns([5, 2], vertical_alignment="center") if in_row else (st.container(), None)
with picker:
    header.render_view_picker(lang, views)
stepped = (("layer", "head") if view.layer_head else ()) + (("query",) if view.query else ())
stepped = (stepped if presentation else ()) + (("step",) if on_lesson else ())  # a lesson's keys on any screen
keys_place = legend if legend is not None else lesson_legend
if keys_place is not None and stepped:
    with keys_place:
        keys = _legend(lang, stepped)
        keyboard(keys, stepped, loaded.config.n_layers, loaded.config.n_heads, lesson_step=lesson.step_by)
session.show_notices(lang)
ctx = ViewContext(
    lang=lang,
    text=text,
    view=view.name,
    layer=layer,
    head=head,
    hide_special=hide_special,
    presentation=presentation,
    width=width,
    mark=lesson_plan.mark_for(on_lesson[1], st.session_state) if on_lesson else None,
)

sidebar.glossary_button(lang)
if view.needs_text and not text.strip():
    st.info(t(lang, "app.empty_text"), icon="✍️")
else:
    guarded(lambda: importlib.import_module(view.module).render(ctx), t(lang, "app.view_failed"))
view_column.close()

session.sync_url()
