"""Lessons: a course's steps through the app, read from assets/lessons/NAME.toml. Pure (no Streamlit).

A lesson is data. Each step names a view, the URL parameters that set it up (the same ones a share link writes,
checked by components/params.py's own parser), what to outline on its figure, and a title, a few sentences to
read aloud and one thing to look at, in English and 简体中文. The URL parameter `lesson` says which step is on:
"3" is step 3 of the default lesson (article.toml), "name:3" step 3 of name.toml. Steps count from 1, as the
counter "3 / 10" shows them.

Applying a step is what a shared link does on a fresh page: every URL setting at its default, then the step's
state, keeping only how the page is shown (language, presentation mode). While a step is on, its state is the
baseline the URL is written against, so the address names the step and only what the class changed since.
"""

from __future__ import annotations

import functools
import io
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import segno

from components import params
from components.figures.common import Mark
from components.i18n import LANGS
from components.params import Notice
from components.text import md_escape

LESSON_DIR = Path(__file__).resolve().parent.parent / "assets" / "lessons"
DEFAULT_LESSON = "article"
KEPT = ("lang", "present", "lesson")  # a step never changes the language or the projector, nor names a lesson
# The views whose tabs a step can open (the view reads "<view>_open" once, as after Attention's button to the
# importance test); every other tabbed view opens its first tab. tests/test_lesson.py holds these to the views.
TABS = {"lab": ("hand", "sqrt_d", "reach", "importance")}
TAB_KEYS = ("attention_tab", "qkv_tab", "lab_tab")  # the tab widgets' keys, cleared by a step
MAX_STEPS = 60
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # a lesson's file stem: never a path
_STEP_KEYS = {"view", "tab", "state", "mark", "title", "text", "look"}
_MARK_KEYS = {"rows", "cols", "cells"}


class LessonError(ValueError):
    """A lesson or step that cannot be shown, as a notice for the page (an i18n key of lesson.toml and its values)."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(f"{key}: {values}")
        self.notice = Notice(f"lesson.{key}", dict(values))


@dataclass(frozen=True)
class Step:
    """One step: a view, its state as URL parameters, what to outline, and its words in each language."""

    number: int  # 1, 2, … as the counter shows it
    view: str
    state: dict[str, str]  # URL parameter → value, as a link writes it ("layer" → "0")
    tab: str  # the view's tab to open ("" for its first)
    mark: Mark | None  # in trace positions: rows are queries, cols keys, cells (query, key)
    title: dict[str, str]
    text: dict[str, str]  # Markdown, two to four sentences a teacher reads aloud
    look: dict[str, str]  # the one thing to look at

    def query(self) -> dict[str, str]:
        """The URL parameters that open this step's view as a share link would."""
        return {"view": self.view, **self.state}

    def values(self) -> dict[str, Any]:
        """The step's settings, parsed by the URL's own parser (checked when the lesson was read)."""
        return params.parse_query(self.query())[0]


@dataclass(frozen=True)
class Lesson:
    """A lesson file: its name (the file stem), a title in each language, its steps in order."""

    name: str
    title: dict[str, str]
    steps: tuple[Step, ...]

    def step(self, number: int) -> Step:
        if not 1 <= number <= len(self.steps):
            raise LessonError("no_step", lesson=self.name, step=number, n=len(self.steps))
        return self.steps[number - 1]


def lesson_names() -> list[str]:
    """The lessons in assets/lessons/, the default first."""
    names = sorted(p.stem for p in LESSON_DIR.glob("*.toml") if _NAME.fullmatch(p.stem))
    return sorted(names, key=lambda name: name != DEFAULT_LESSON)


@functools.cache
def load(name: str) -> Lesson:
    """The lesson assets/lessons/<name>.toml, checked whole: a LessonError names the file, the step and what is
    wrong, so that a teacher who wrote one sees where."""
    if not _NAME.fullmatch(name):
        raise LessonError("unknown", value=name[:40])
    path = LESSON_DIR / f"{name}.toml"
    if not path.is_file():
        raise LessonError("unknown", value=name)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise LessonError("broken", name=name, detail=str(err)) from err
    return read_lesson(name, raw)


def read_lesson(name: str, raw: Mapping[str, Any]) -> Lesson:
    """A lesson from its parsed TOML; a LessonError ("broken") says what is wrong where."""

    def broken(where: str, detail: str) -> LessonError:
        return LessonError("broken", name=name, detail=f"{where}: {detail}")

    unknown = set(raw) - {"title", "steps"}
    if unknown:
        raise broken("top", f"unknown keys {sorted(unknown)}")
    title = _words(raw.get("title"), lambda d: broken("title", d))
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        raise broken("top", "no [[steps]]")
    if len(steps) > MAX_STEPS:
        raise broken("top", f"{len(steps)} steps, at most {MAX_STEPS}")
    return Lesson(name, title, tuple(_read_step(i + 1, s, broken) for i, s in enumerate(steps)))


def _read_step(number: int, raw: Any, broken) -> Step:
    where = f"step {number}"
    if not isinstance(raw, dict):
        raise broken(where, "not a table")
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        raise broken(where, f"unknown keys {sorted(unknown)}")
    view = raw.get("view")
    if view not in params.VIEWS:
        raise broken(where, f"view {view!r} is not one of {list(params.VIEWS)}")
    tab = raw.get("tab", "")
    if tab and tab not in TABS.get(view, ()):
        raise broken(where, f"tab {tab!r}: the {view} view's tabs a step can open are {list(TABS.get(view, ()))}")
    state = _read_state(raw.get("state", {}), lambda d: broken(where, d))
    mark = _read_mark(raw.get("mark"), lambda d: broken(where, d))
    words = {
        key: _words(raw.get(key), lambda d, key=key: broken(f"{where} {key}", d)) for key in ("title", "text", "look")
    }
    return Step(number, view, state, tab, mark, words["title"], words["text"], words["look"])


def _read_state(raw: Any, broken) -> dict[str, str]:
    """The step's URL parameters as strings, each one the URL's parser takes as it is (no notice)."""
    if not isinstance(raw, dict):
        raise broken("state is not a table")
    state = {}
    for name, value in raw.items():
        if name in KEPT or name == "view":
            raise broken(f"state may not set {name!r} (the view is the step's `view`; language and projector stay)")
        if name not in params.PARAMS:
            raise broken(f"state names {name!r}, which is no URL parameter (components/params.py)")
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float | str):
            text = str(value)
        else:
            raise broken(f"state {name!r} is a {type(value).__name__}, not a string, number or true/false")
        _, notices = params.parse_query({name: text})
        if notices:
            raise broken(f"state {name} = {text!r} is not a value the URL takes as it is ({notices[0].key})")
        state[name] = text
    return state


def _read_mark(raw: Any, broken) -> Mark | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - _MARK_KEYS:
        raise broken(f"mark is a table of {sorted(_MARK_KEYS)}")

    def position(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < params.MAX_POSITIONS:
            raise broken(f"mark: {value!r} is not a position 0 … {params.MAX_POSITIONS - 1}")
        return value

    cells = raw.get("cells", [])
    if not isinstance(cells, list) or not all(isinstance(c, list) and len(c) == 2 for c in cells):
        raise broken("mark.cells is a list of [query, key] pairs")
    lists = {key: raw.get(key, []) for key in ("rows", "cols")}
    if not all(isinstance(v, list) for v in lists.values()):
        raise broken("mark.rows and mark.cols are lists of positions")
    mark = Mark(
        rows=tuple(position(v) for v in lists["rows"]),
        cols=tuple(position(v) for v in lists["cols"]),
        cells=tuple((position(q), position(k)) for q, k in cells),
    )
    return mark or None


def _words(raw: Any, broken) -> dict[str, str]:
    """A string in every language: {en = "…", zh = "…"}."""
    if not isinstance(raw, dict):
        raise broken(f'needs en and zh, e.g. title.en = "…" and title.zh = "…" (got {type(raw).__name__})')
    missing = [lang for lang in LANGS if not isinstance(raw.get(lang), str) or not raw[lang].strip()]
    if missing:
        raise broken(f"lacks {', '.join(missing)}")
    return {lang: raw[lang].strip() for lang in LANGS}


# ── References: the `lesson` URL parameter ────────────────────────────────────────────────────────


def parse_ref(raw: str) -> tuple[str, int]:
    """ "3" → (the default lesson, 3); "name:3" → ("name", 3). A LessonError for anything else."""
    text = str(raw).strip()
    name, _, number = text.rpartition(":")
    name = name or DEFAULT_LESSON
    if not number.isascii() or not number.isdigit() or len(number) > 3 or not _NAME.fullmatch(name):
        raise LessonError("unknown", value=text[:40])
    return name, int(number)


def ref(name: str, number: int) -> str:
    """The `lesson` URL value for a step: "3" in the default lesson, "name:3" in another."""
    return str(number) if name == DEFAULT_LESSON else f"{name}:{number}"


def resolve(raw: str) -> tuple[Lesson, Step]:
    """The lesson and step a `lesson` value names; a LessonError (with its notice) when there is none."""
    name, number = parse_ref(raw)
    lesson = load(name)
    return lesson, lesson.step(number)


# ── Applying a step ───────────────────────────────────────────────────────────────────────────────


def baseline(step: Step) -> dict[str, Any]:
    """Every URL setting as the step sets it: the defaults with the step's state laid over them."""
    return {**params.defaults(), **step.values()}


def applied(state: Mapping[str, Any], lesson: Lesson, step: Step) -> dict[str, Any]:
    """The URL settings after moving to `step`: the step's baseline, keeping the page's language and projector."""
    values = baseline(step)
    for name in ("lang", "present"):
        if name in state:
            values[name] = state[name]
    values["lesson"] = ref(lesson.name, step.number)
    return values


def baseline_for(raw: object) -> dict[str, Any] | None:
    """The baseline the URL is written against while the `lesson` value `raw` is on; None outside a lesson (or
    for a value that names no step: the page says so where it draws the lesson)."""
    if not raw:
        return None
    try:
        return baseline(resolve(str(raw))[1])
    except LessonError:
        return None


def mark_for(step: Step, state: Mapping[str, Any]) -> Mark | None:
    """The step's mark while its positions still mean what they meant: the step's view, sentence and model."""
    values = baseline(step)
    if step.mark is None or any(state.get(name) != values[name] for name in ("view", "text", "model")):
        return None
    return step.mark


def moved(lesson: Lesson, number: int, by: int) -> int:
    """The step `by` away from `number`, kept inside the lesson."""
    return min(max(number + by, 1), len(lesson.steps))


def student_link(page_url: str, lesson: Lesson, step: Step, lang: str) -> str:
    """The address that opens `step` on a student's device: the page's own address (the host the browser used,
    which students on the same network can type) with the lesson's parameters and the language, nothing else."""
    parts = urlsplit(page_url)
    query = {"lesson": ref(lesson.name, step.number), **({"lang": lang} if lang != "en" else {})}
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query, safe=":"), ""))


def is_local(page_url: str) -> bool:
    """The address names this machine only (localhost, 127.x, ::1): no student's device can open it."""
    host = (urlsplit(page_url).hostname or "").lower()
    return host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.")


@functools.lru_cache(maxsize=64)
def qr_png(url: str) -> bytes:
    """`url` as a QR code, a PNG drawn here (segno: pure Python, nothing fetched), large enough to scan from a
    projected page."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=2)
    return buffer.getvalue()


def markdown(text: str) -> str:
    """A lesson's words as Streamlit Markdown: shown literally (a formula's *, _, $, <, [ or : does nothing), except
    **bold**, the one mark-up a lesson may use."""
    return "**".join(md_escape(part) for part in text.split("**"))
