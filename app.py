"""Attention Lab: type a sentence, watch self-attention at work on a real transformer.

Thin on purpose: page set-up → shared state and sidebar → sentence box → the chosen view → URL.
Every view lives in components/, every number comes from model/.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import streamlit as st

from components import attention, compare, controls, playground, positional, qkv, steps, training
from components.cache import get_model, selected_model_name
from components.controls import Controls
from components.i18n import t
from components.ui import guarded
from model.errors import AttentionLabError, ModelNotInstalledError
from model.registry import DEFAULT_MODEL, model_names

EXAMPLES = tomllib.loads((Path(__file__).parent / "assets" / "examples.toml").read_text(encoding="utf-8"))["example"]
VIEWS = {
    "attention": attention.render,
    "positional": positional.render,
    "playground": playground.render,
    "compare": compare.render,
    "qkv": qkv.render,
    "steps": steps.render,
    "training": training.render,
}
# Projector-sized text; constant CSS only, nothing a user typed goes into it.
PRESENTATION_CSS = """<style>
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li, [data-testid="stMarkdownContainer"] td,
[data-testid="stMarkdownContainer"] th,
[data-testid="stCaptionContainer"], [data-testid="stWidgetLabel"] p, button p, input, textarea
{font-size: 1.35rem !important; line-height: 1.5 !important;}
[data-testid="stMarkdownContainer"] p span {font-size: 1.15rem !important;}
h1 {font-size: 3.2rem !important;}
</style>"""

st.set_page_config(page_title="Attention Lab", page_icon="🔍", layout="wide")
controls.init_state()
controls.check_state()
lang = controls.render_language_and_presentation()

try:
    names = model_names()
except AttentionLabError as err:  # the operator's model list is broken: say so, offer the bundled model
    names = [DEFAULT_MODEL]
    st.sidebar.warning(str(err))
controls.check_model_choice(names)
controls.render_model_picker(lang, names)
try:
    loaded = get_model()
except ModelNotInstalledError as err:
    st.title("Attention Lab")
    st.error(t(lang, "app.model_missing", detail=str(err)), icon="📦")
    st.stop()
except AttentionLabError as err:  # an operator's folder that cannot be loaded
    st.error(t(lang, "app.model_failed", name=selected_model_name(), detail=str(err)), icon="📦")
    st.session_state["model"] = DEFAULT_MODEL
    loaded = get_model()

lang, layer, head, hide_special, presentation = controls.render_sidebar(
    loaded.config.n_layers, loaded.config.n_heads, loaded.device.type
)
if presentation:
    st.html(PRESENTATION_CSS)
st.title(t(lang, "app.title"))
st.caption(t(lang, "app.subtitle", model=loaded.name, layers=loaded.config.n_layers, heads=loaded.config.n_heads))
text = controls.render_sentence_box(lang, EXAMPLES)
view = controls.render_view_picker(lang)
controls.show_notices(lang)
ctx = Controls(
    lang=lang, text=text, view=view, layer=layer, head=head, hide_special=hide_special, presentation=presentation
)

if not text.strip() and view not in ("positional", "training"):
    st.info(t(lang, "app.empty_text"), icon="✍️")
elif view in VIEWS:
    guarded(lambda: VIEWS[view](ctx), t(lang, "app.view_failed"))
else:
    st.info(t(lang, "app.view_coming"))

controls.sync_url()
