"""The thin Streamlit layer around the shared state: URL → Session State → widgets → URL.

Every widget whose value belongs in a shared link uses its URL parameter's name as its key
(components/params.py), so the three stay in step without copying values around.

Session State can hold what a widget does not expect: a tampered URL or websocket message, a value
left by an earlier run, the label of an option instead of the option. Every keyed widget takes its
value through `checked_state` (the URL's settings all at once in `check_state`, at the top of a run),
which puts a usable value in its place with a notice, so no view fails on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

from components import params
from components.i18n import LANG_NAMES, LANGS, strings, t
from components.params import Notice, Param

_NOTICES = "_notices"  # notices gathered before the page is drawn: shown once, then cleared
_MODEL_CHOSEN = "_model_chosen"  # the class picked the model (in the picker or the link): never switched for it
_SHOWN = "_notices_shown"  # the gathered notices are on the page already: later ones are shown where they arise
RECONNECT_FRAGMENT_S = 3600  # the empty timed fragment that has a page rerun after a reconnect (see below)


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
    st.session_state[_MODEL_CHOSEN] = "model" in values
    restarted = [Notice("app.session_restarted", {})] if came_back() else []
    st.session_state[_NOTICES] = restarted + notices + text_notices


def came_back() -> bool:
    """True when this new session's page was already connected to a session that its server lost.

    Streamlit's page reconnects on its own when its websocket drops, and then sends the id of the session it
    had as the third entry of the websocket's subprotocol header ("streamlit, <xsrf token>, <session id>").
    A server that still holds that session resumes it, and no first run happens; one that does not (it
    restarted, or the page came through nginx to another replica) starts a new session, whose first run sees
    the old id. A fresh visit, a shared link or a reload has no session to name, so the entry is absent.
    """
    entries = [e.strip() for e in st.context.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    return len(entries) >= 3 and bool(entries[2])


def add_notice(notice: Notice) -> None:
    """Show a notice with the page's others, or where it arises once those are on the page."""
    st.session_state.setdefault(_NOTICES, []).append(notice)
    if st.session_state.get(_SHOWN):
        show_notices(st.session_state.get("lang", "en"))


def show_notices(lang: str) -> None:
    """Every pending notice as a warning in the page, then forget them."""
    for notice in st.session_state.pop(_NOTICES, []):
        st.warning(t(lang, notice.key, **notice.values), icon="⚠️")
    st.session_state[_SHOWN] = True


def checked_state(
    key: str, spec: Param | None = None, *, high: float | None = None, labels: Callable[[Any], str] | None = None
) -> Any:
    """The value of the keyed widget `key` in Session State, made what its widget expects (with a notice).

    spec: what the widget takes; by default the URL parameter of the same name, `high` narrowing its
    range to this run's sentence or model. labels: the widget's format_func, when its labels change from
    run to run (a selectbox naming tokens). Streamlit's selectbox keeps the *label* of its choice in the
    browser and sends it back on every rerun, so after the sentence changes the browser still holds
    "1 the" where the options now read "1 cat", and that label no longer names any option. Handing such
    a widget its value again on every run makes Streamlit send the browser the current label.
    """
    spec = spec or params.PARAMS[key]
    if high is not None:
        spec = replace(spec, high=high)
    try:
        value = st.session_state[key]
    except KeyError:  # not set yet: the widget starts at the default
        st.session_state[key] = spec.default
        return spec.default
    except Exception:  # noqa: BLE001 - a widget state Streamlit's own deserializer cannot read (tampered)
        value = "?"
    used, notice = params.check_value(key, spec, value, labels)
    if notice is not None:
        add_notice(notice)
    if notice is not None or labels is not None:
        # Dropped first: a widget state read from a tampered message can keep a wrong type inside
        # Streamlit (its value field), which the widget would trip over; a plain assignment keeps it.
        with contextlib.suppress(KeyError):
            del st.session_state[key]
        st.session_state[key] = used
    return used


def check_state() -> None:
    """Every URL setting in Session State made what its widget expects, before any widget reads it."""
    st.session_state[_SHOWN] = False
    for name in params.PARAMS:
        checked_state(name)


def _clean_text_widget(key: str) -> None:
    """The sentence box's callback (before the run): its text checked, then cleaned, the notices kept for the page."""
    value, notice = params.check_value(key, params.PARAMS[key], st.session_state[key])
    text, notices = params.clean_text(value)
    st.session_state[key] = text
    _forget_window()
    st.session_state.setdefault(_NOTICES, []).extend(n for n in (notice, *notices) if n is not None)


def _use_example(text: str) -> None:
    st.session_state["text"] = text
    _forget_window()


def _forget_window() -> None:
    """A new sentence starts with its heatmap whole or at its first window, not at the last sentence's window."""
    for key in params.WINDOW_KEYS:
        st.session_state[key] = None


def check_model_choice(names: list[str]) -> None:
    """Fall back to the default model when the session asks for one the server does not offer; and show
    Chinese text on a model that reads it, unless the class chose the model itself."""
    if st.session_state.get("model") not in names:
        add_notice(Notice("app.model_unknown", {"name": str(st.session_state.get("model"))[:60]}))
        st.session_state["model"] = names[0]
    current, text = st.session_state["model"], st.session_state.get("text", "")
    reader = params.model_for_chinese(current, text, chosen=bool(st.session_state.get(_MODEL_CHOSEN)))
    if reader is not None and reader in names:
        st.session_state["model"] = reader
        add_notice(Notice("models.switched_for_chinese", {"old": current, "new": reader}))


def use_model(name: str) -> None:
    """A button's callback: show the text on `name`, as if the class had picked it."""
    st.session_state["model"] = name
    st.session_state[_MODEL_CHOSEN] = True


def _picked_model() -> None:
    st.session_state[_MODEL_CHOSEN] = True


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
    with st.sidebar:
        _rerun_after_reconnect()


@st.fragment(run_every=RECONNECT_FRAGMENT_S)
def _rerun_after_reconnect() -> None:
    """Draws nothing; it is there for its `run_every`. When its websocket reconnects, Streamlit's page asks
    for a run only if it has a fragment that reruns on a timer: otherwise it takes for granted that the
    server resumed its session. A server that lost the session (a replica that died, see came_back) starts
    a new one that would stay empty until the student's next click; with this the page is redrawn at once,
    its view restored from the URL. Its own run, once an hour, costs nothing."""
