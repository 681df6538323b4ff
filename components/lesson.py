"""The lesson mode's thin Streamlit layer: the sidebar's entry, the step bar with its text above the view, the
students' link with its QR code, and moving between steps (buttons, and the keys of a presenter's clicker through
components/keys.py). The lessons themselves and every rule about them are in components/lesson_plan.py (pure).

Moving to a step writes its settings into Session State under their URL parameters' names, as a shared link's
first run does (session.init_state), before the page is drawn; the widgets then show them.
"""

from __future__ import annotations

import contextlib

import streamlit as st

from components import lesson_plan
from components.i18n import t
from components.lesson_plan import Lesson, LessonError, Step
from components.session import MODEL_CHOSEN, add_notice


def current() -> tuple[Lesson, Step] | None:
    """The lesson and step on show, or None. A value that names no step (a tampered message, a lesson file
    removed while the class works) turns the lesson off with a notice; the view stays as it is."""
    raw = st.session_state.get("lesson")
    if not raw:
        return None
    try:
        return lesson_plan.resolve(str(raw))
    except LessonError as err:
        add_notice(err.notice)
        st.session_state["lesson"] = ""
        return None


def go_to(lesson: Lesson, number: int) -> None:
    """A callback: show step `number` of `lesson` (kept inside the lesson) as its link would, keeping the
    language and presentation mode; every tabbed view opens its first tab, or the tab the step names."""
    step = lesson.step(lesson_plan.moved(lesson, number, 0))
    state = st.session_state
    for name, value in lesson_plan.applied(state, lesson, step).items():
        state[name] = value
    state[MODEL_CHOSEN] = "model" in step.state
    for key in lesson_plan.TAB_KEYS:
        with contextlib.suppress(KeyError):
            del state[key]
    if step.tab:
        state[f"{step.view}_open"] = step.tab


def step_by(by: int) -> None:
    """A callback for the keys: the next (by = 1) or previous (-1) step of the lesson on show."""
    found = current()
    if found is not None:
        lesson, step = found
        go_to(lesson, lesson_plan.moved(lesson, step.number, by))


def _start(name: str) -> None:
    try:
        go_to(lesson_plan.load(name), 1)
    except LessonError as err:
        add_notice(err.notice)


def _leave() -> None:
    st.session_state["lesson"] = ""


def render_entry(lang: str) -> None:
    """The sidebar's "Lesson · 课程" button for each lesson in assets/lessons/ (a broken one says why when
    clicked)."""
    with st.sidebar:
        for name in lesson_plan.lesson_names():
            try:
                lesson = lesson_plan.load(name)
                title, n = lesson.title[lang], len(lesson.steps)
            except LessonError:
                title, n = name, 0
            label = t(lang, "lesson.entry") + ("" if name == lesson_plan.DEFAULT_LESSON else f": {title}")
            st.button(
                label,
                key=f"lesson_start_{name}",
                on_click=_start,
                args=(name,),
                icon=":material/school:",
                help=t(lang, "lesson.entry_help", title=title, n=n),
                width="stretch",
            )


def page_url() -> str:
    """The page's address as the browser typed it (scheme, host, port, path; no query): what students on the same
    network type too."""
    url = st.context.url
    if url:
        return url
    host = st.context.headers.get("Host") or "localhost:8501"
    return f"http://{host}/"


ASIDE = 0.28  # on a projector, the share of the page's main column the lesson's words take, beside the view
VIEW_WIDTH = 1 - ASIDE - 0.04  # … and about the share left to the view: less the gap, and a margin for labels
# Constant CSS only. Beside the view the words are a little smaller than the page's projector text, so that four
# sentences and the step's title fit the column's first screen; the column stays in place while the view scrolls.
ASIDE_CSS = """<style>
[data-testid="stColumn"]:has(.st-key-lesson_panel) {position: sticky; top: 0.75rem; align-self: flex-start;}
.st-key-lesson_panel [data-testid="stMarkdownContainer"] p {font-size: 1.12rem !important; line-height: 1.4 !important;}
.st-key-lesson_title [data-testid="stMarkdownContainer"] p {font-size: 1.3rem !important; line-height: 1.3 !important;}
.st-key-lesson_panel button p {font-size: 1.05rem !important;}
</style>"""


def render_panel(lang: str, lesson: Lesson, step: Step, beside: bool):
    """The step's bar (back, "3 / 10", next, the students' link, leave), its title, its words and the one thing to
    look at, in one bordered block: a column beside the view on a projector (`beside`), a block above it
    elsewhere. Returns a place for the keys' legend."""
    if beside:
        st.html(ASIDE_CSS)
    with st.container(border=True, key="lesson_panel"):
        with st.container(horizontal=True, vertical_alignment="center", gap="small", key="lesson_bar"):
            _stepper(lang, lesson, step, compact=beside)
            if not beside:
                st.markdown(f"**{lesson_plan.markdown(step.title[lang])}**", width="stretch")
                legend = st.container(width="content")
                _link(lang, lesson, step)
                _leave_button(lang)
        if beside:
            with st.container(key="lesson_title"):
                st.markdown(f"**{lesson_plan.markdown(step.title[lang])}**")
        look = f"**:orange[{t(lang, 'lesson.look')}]** {lesson_plan.markdown(step.look[lang])}"
        if beside:
            st.markdown(lesson_plan.markdown(step.text[lang]))
            st.markdown(look)
            legend = st.container()
            with st.container(horizontal=True, vertical_alignment="center", gap="small"):
                _link(lang, lesson, step)
                _leave_button(lang)
        else:
            st.markdown(lesson_plan.markdown(step.text[lang]) + ("" if lang == "zh" else " ") + look)
    return legend


def _stepper(lang: str, lesson: Lesson, step: Step, compact: bool) -> None:
    """Back, "3 / 10", Next; `compact` (a narrow column): Back as an arrow alone, its name in its tooltip."""
    n = len(lesson.steps)
    st.button(
        "" if compact else t(lang, "lesson.previous"),
        help=t(lang, "lesson.previous") if compact else None,
        key="lesson_previous",
        icon=":material/arrow_back:",
        on_click=go_to,
        args=(lesson, step.number - 1),
        disabled=step.number == 1,
    )
    st.markdown(f"**{t(lang, 'lesson.counter', number=step.number, n=n)}**", width="content")
    st.button(
        t(lang, "lesson.next"),
        key="lesson_next",
        icon=":material/arrow_forward:",
        on_click=go_to,
        args=(lesson, step.number + 1),
        disabled=step.number == n,
        type="primary",
    )


def _leave_button(lang: str) -> None:
    st.button(
        t(lang, "lesson.leave"),
        key="lesson_leave",
        icon=":material/close:",
        on_click=_leave,
        help=t(lang, "lesson.leave_help"),
        type="tertiary",
    )


def _link(lang: str, lesson: Lesson, step: Step) -> None:
    """The step's address for students, with its QR code drawn here on the server."""
    url = lesson_plan.student_link(page_url(), lesson, step, lang)
    with st.popover(t(lang, "lesson.link"), icon=":material/qr_code_2:"):
        st.image(lesson_plan.qr_png(url), width=280)
        st.code(url, language=None, wrap_lines=True)
        st.caption(t(lang, "lesson.link_caption", number=step.number))
        if lesson_plan.is_local(url):
            st.info(t(lang, "lesson.link_local"), icon=":material/wifi_off:")
