"""The page's header widgets: the sentence box with its examples (folded into a button on a projector) and the
view picker. Their values live in Session State under their URL parameters' names.
"""

from __future__ import annotations

import streamlit as st

from components import params
from components.i18n import t
from components.session import NOTICES


def _clean_text_widget(key: str) -> None:
    """The sentence box's callback (before the run): its text checked, then cleaned, the notices kept for the page."""
    value, notice = params.check_value(key, params.PARAMS[key], st.session_state[key])
    text, notices = params.clean_text(value)
    st.session_state[key] = text
    _forget_window()
    st.session_state.setdefault(NOTICES, []).extend(n for n in (notice, *notices) if n is not None)


def _use_example(text: str) -> None:
    st.session_state["text"] = text
    _forget_window()


def _forget_window() -> None:
    """A new sentence starts with its heatmap whole or at its first window, not at the last sentence's window."""
    for key in params.WINDOW_KEYS:
        st.session_state[key] = None


def render_sentence_box(lang: str, examples: list[dict[str, str]], presentation: bool, key: str = "text"):
    """The sentence box and, beside it, the preset examples folded into one button (each shows its whole sentence
    on hover); returns a place in the same row for the tokens' button, so that the view's first figure starts
    high on a laptop's first screen as on a projector. On a projector the box's label is hidden (its placeholder
    says it). The cleaned text is in Session State[key]."""
    box, more, chips = st.columns([5, 1.2, 1.2], vertical_alignment="bottom")
    box.text_input(
        t(lang, "app.sentence"),
        key=key,
        on_change=_clean_text_widget,
        args=(key,),
        placeholder=t(lang, "app.placeholder"),
        label_visibility="collapsed" if presentation else "visible",
        persist_state="session",  # kept while a view without the box (Watch it learn) is shown
    )
    with more.popover(t(lang, "app.examples"), width="stretch"):
        for example in examples:
            st.button(
                example["text"],
                key=f"example_{example['id']}",
                on_click=_use_example,
                args=(example["text"],),
                help=example["text"],
                type="secondary",
                width="stretch",
            )
    return chips


def render_view_picker(lang: str, names: list[str]) -> str:
    """The views offered for this model, on one row."""
    return st.segmented_control(
        t(lang, "app.view"),
        names,
        key="view",
        format_func=lambda v: t(lang, f"app.view_{v}"),
        required=True,
        label_visibility="collapsed",
        width="stretch",
    )
