"""The sidebar's widgets: language, presentation mode, the model picker, layer and head, where the model runs,
and the glossary's button with its dialog (every view shows it).
"""

from __future__ import annotations

import streamlit as st

from components.glossary import glossary_table
from components.i18n import LANG_NAMES, LANGS, strings, t
from components.session import MODEL_CHOSEN, checked_state
from components.text import md_escape


def _picked_model() -> None:
    st.session_state[MODEL_CHOSEN] = True


def model_about(lang: str, name: str) -> str:
    """One line on what a model is: the built-in ones each have theirs, an operator's says who added it."""
    key = f"models.about_{name}"
    return t(lang, key) if key in strings() else t(lang, "models.about_operator")


def render_model_picker(lang: str, names: list[str]) -> None:
    """Every model the server offers, each with one line on what it is."""
    with st.sidebar:
        st.radio(
            t(lang, "models.picker"),
            names,
            key="model",
            captions=[model_about(lang, name) for name in names],
            on_change=_picked_model,
            help=t(lang, "models.picker_help"),
        )


def render_sidebar(
    n_layers: int, n_heads: int, device: str, layer_head: bool = True
) -> tuple[str, int, int, bool, bool]:
    """Language, presentation mode, layer, head, the [CLS]/[SEP] switch and where the model runs.
    Layer, head and the switch show only for a view that uses them (layer_head); they keep their values."""
    with st.sidebar:
        lang = st.session_state["lang"]
        st.divider()
        layer = checked_state("layer", high=n_layers - 1)
        head = checked_state("head", high=n_heads - 1)
        hide_special = bool(st.session_state.get("hide_special", False))
        if layer_head:
            keep = {"persist_state": "session"}
            layer = st.select_slider(t(lang, "app.layer"), options=range(n_layers), key="layer", **keep)
            head = st.select_slider(t(lang, "app.head"), options=range(n_heads), key="head", **keep)
            hide_special = st.toggle(
                t(lang, "app.hide_special"), key="hide_special", help=t(lang, "app.hide_special_help"), **keep
            )
            st.divider()
        st.caption(t(lang, "app.device", device=device))
    return lang, layer, head, hide_special, st.session_state["present"]


def render_language_and_presentation() -> str:
    """The first things in the sidebar; returns the language."""
    with st.sidebar:
        lang = st.radio("Language · 语言", LANGS, key="lang", format_func=LANG_NAMES.get, horizontal=True)
        st.toggle(t(lang, "app.presentation"), key="present", help=t(lang, "app.presentation_help"))
    return lang


def glossary_button(lang: str) -> None:
    """The sidebar's "Glossary · 术语表" button; a click opens the dialog."""
    with st.sidebar:
        if st.button(t(lang, "app.glossary"), key="glossary_open", icon=":material/menu_book:", width="stretch"):
            _dialog(lang)


def _dialog(lang: str) -> None:
    @st.dialog(t(lang, "app.glossary"), width="large")
    def show() -> None:
        st.markdown(t(lang, "app.glossary_intro"))
        header = [t(lang, "app.glossary_symbol"), t(lang, "app.glossary_name"), t(lang, "app.glossary_meaning")]
        lines = ["| " + " | ".join(header) + " |", "| --- | --- | --- |"]
        lines += [
            f"| {md_escape(symbol) or '—'} | **{md_escape(name)}** | {md_escape(definition)} |"
            for symbol, name, definition in glossary_table(lang)
        ]
        st.markdown("\n".join(lines))

    show()
