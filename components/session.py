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
from dataclasses import replace
from typing import Any

import streamlit as st

from components import lesson_plan, params
from components.i18n import t
from components.params import Notice, Param

NOTICES = "_notices"  # notices gathered before the page is drawn: shown once, then cleared
MODEL_CHOSEN = "_model_chosen"  # the class picked the model (in the picker or the link): never switched for it
_SHOWN = "_notices_shown"  # the gathered notices are on the page already: later ones are shown where they arise
RECONNECT_FRAGMENT_S = 3600  # the empty timed fragment that has a page rerun after a reconnect (see below)


def init_state() -> None:
    """On a session's first run, take the URL's parameters into Session State (with notices). A link into a
    lesson (`lesson=3`) starts from that step's settings, and the rest of the link changes them."""
    if "_initialized" in st.session_state:
        return
    st.session_state["_initialized"] = True
    values, notices = params.parse_query(st.query_params.to_dict())
    start, chosen = params.defaults(), "model" in values
    if values.get("lesson"):
        try:
            lesson, step = lesson_plan.resolve(values["lesson"])
        except lesson_plan.LessonError as err:
            notices.append(err.notice)
            values["lesson"] = ""
        else:
            start, chosen = lesson_plan.baseline(step), chosen or "model" in step.state
            values["lesson"] = lesson_plan.ref(lesson.name, step.number)
            if step.tab:
                st.session_state[f"{step.view}_open"] = step.tab
    for name, value in {**start, **values}.items():
        st.session_state[name] = value
    text, text_notices = params.clean_text(st.session_state["text"])
    st.session_state["text"] = text
    st.session_state[MODEL_CHOSEN] = chosen
    restarted = [Notice("app.session_restarted", {})] if came_back() else []
    st.session_state[NOTICES] = restarted + notices + text_notices


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
    st.session_state.setdefault(NOTICES, []).append(notice)
    if st.session_state.get(_SHOWN):
        show_notices(st.session_state.get("lang", "en"))


def show_notices(lang: str) -> None:
    """Every pending notice as a warning in the page, then forget them."""
    for notice in st.session_state.pop(NOTICES, []):
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


def check_model_choice(names: list[str]) -> None:
    """Fall back to the default model when the session asks for one the server does not offer; and show
    Chinese text on a model that reads it, unless the class chose the model itself."""
    if st.session_state.get("model") not in names:
        add_notice(Notice("app.model_unknown", {"name": str(st.session_state.get("model"))[:60]}))
        st.session_state["model"] = names[0]
    current, text = st.session_state["model"], st.session_state.get("text", "")
    reader = params.model_for_chinese(current, text, chosen=bool(st.session_state.get(MODEL_CHOSEN)))
    if reader is not None and reader in names:
        st.session_state["model"] = reader
        add_notice(Notice("models.switched_for_chinese", {"old": current, "new": reader}))


def use_model(name: str) -> None:
    """A button's callback: show the text on `name`, as if the class had picked it."""
    st.session_state["model"] = name
    st.session_state[MODEL_CHOSEN] = True


def sync_url() -> None:
    """Write the shareable state into the URL (only when it changed, to spare a message); while a lesson's step
    is on, against the step's settings, so that the address names the step and what changed since."""
    query = params.to_query(st.session_state, lesson_plan.baseline_for(st.session_state.get("lesson")))
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
