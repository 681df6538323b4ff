"""The thin Streamlit layer around the shared state: URL → Session State → widgets → URL.

Every widget whose value belongs in a shared link uses its URL parameter's name as its key
(components/params.py), so the three stay in step without copying values around.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components import params
from components.i18n import LANG_NAMES, LANGS, t
from components.params import Notice

_NOTICES = "_notices"  # notices gathered before the page is drawn: shown once, then cleared


@dataclass(frozen=True)
class Controls:
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


def init_state() -> None:
    """On a session's first run, take the URL's parameters into Session State (with notices)."""
    if "_initialized" in st.session_state:
        return
    st.session_state["_initialized"] = True
    values, notices = params.parse_query(st.query_params.to_dict())
    for name, value in {**params.defaults(), **values}.items():
        st.session_state[name] = value
    text, text_notices = params.clean_text(st.session_state["text"])
    st.session_state["text"] = text
    st.session_state[_NOTICES] = notices + text_notices


def add_notice(notice: Notice) -> None:
    st.session_state.setdefault(_NOTICES, []).append(notice)


def show_notices(lang: str) -> None:
    """Every pending notice as a warning in the page, then forget them."""
    for notice in st.session_state.pop(_NOTICES, []):
        st.warning(t(lang, notice.key, **notice.values), icon="⚠️")


def clamp_state(name: str, high: int) -> int:
    """Keep an integer setting within [0, high], with a notice when it had to move."""
    value = int(st.session_state.get(name, 0))
    if 0 <= value <= high:
        return value
    clamped = min(max(value, 0), high)
    st.session_state[name] = clamped
    add_notice(Notice("app.value_clamped", {"name": name, "value": value, "used": clamped}))
    return clamped


def _clean_text_widget(key: str) -> None:
    text, notices = params.clean_text(st.session_state[key])
    st.session_state[key] = text
    st.session_state.setdefault(_NOTICES, []).extend(notices)


def _use_example(text: str) -> None:
    st.session_state["text"] = text


def check_model_choice(names: list[str]) -> None:
    """Fall back to the bundled model when the session asks for one the operator does not offer."""
    if st.session_state.get("model") not in names:
        add_notice(Notice("app.model_unknown", {"name": str(st.session_state.get("model"))[:60]}))
        st.session_state["model"] = names[0]


def render_model_picker(lang: str, names: list[str]) -> None:
    """Shown only when the operator offers more than the bundled model."""
    if len(names) > 1:
        with st.sidebar:
            st.selectbox(t(lang, "app.model"), names, key="model", help=t(lang, "app.model_help"))


def render_sidebar(
    n_layers: int, n_heads: int, device: str, layer_head: bool = True
) -> tuple[str, int, int, bool, bool]:
    """Language, presentation mode, layer, head, the [CLS]/[SEP] switch and where the model runs.
    Layer, head and the switch show only for a view that uses them (layer_head); they keep their values."""
    with st.sidebar:
        lang = st.session_state["lang"]
        st.divider()
        layer = clamp_state("layer", n_layers - 1)
        head = clamp_state("head", n_heads - 1)
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


def render_sentence_box(lang: str, examples: list[dict[str, str]], presentation: bool, key: str = "text"):
    """The sentence box and the preset examples (buttons that show their whole sentence on hover; on a
    projector folded into one button beside the box). On a projector, returns a place in the same row
    for the tokens' button; otherwise None. The cleaned text is in Session State[key]."""
    box, chips, more = (
        st.columns([5, 1.2, 1.2], vertical_alignment="bottom") if presentation else (st.container(), None, None)
    )
    box.text_input(
        t(lang, "app.sentence"),
        key=key,
        on_change=_clean_text_widget,
        args=(key,),
        placeholder=t(lang, "app.placeholder"),
        label_visibility="collapsed" if presentation else "visible",
        persist_state="session",  # kept while a view without the box (Watch it learn) is shown
    )
    on_projector = more is not None
    place = more.popover(t(lang, "app.examples"), width="stretch") if on_projector else st.container(horizontal=True)
    with place:
        for example in examples:
            st.button(
                example["text"],
                key=f"example_{example['id']}",
                on_click=_use_example,
                args=(example["text"],),
                help=example["text"],
                type="secondary",
                width="stretch" if on_projector else "content",
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


def sync_url() -> None:
    """Write the shareable state into the URL (only when it changed, to spare a message)."""
    query = params.to_query(st.session_state)
    if query != st.query_params.to_dict():
        st.query_params.from_dict(query)
