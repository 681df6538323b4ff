"""The lesson mode (issue 22): the lesson files are data checked whole (every step's state is what a share link
takes as it is, for the model it names; marks fall on its tokens; words in both languages), a step opens as its
link would in both languages, Back / Next / Leave do what they say, a tampered `lesson` value gets a notice, and
the students' link and QR code are drawn here.

The notation of every lesson's words is checked with the rest of the page's strings in tests/test_notation.py.
"""

from __future__ import annotations

import re
import shutil

import pytest

from components import lesson_plan, params
from components.figures.common import MARK_COLOUR, Mark
from components.i18n import LANGS
from components.keys import key_map, step_setting
from components.lesson_plan import Lesson, LessonError, read_lesson
from components.views import VIEWS
from model.registry import load_named, model_names, trace_any
from tests.apptest import run_app, specs

pytestmark = pytest.mark.fast

ARTICLE = lesson_plan.load("article")
STEPS = [step.number for step in ARTICLE.steps]
INTERNAL = re.compile(r"\b(?:pg|pe|train|cmp|win|lab|att)_[a-z_]+")  # widget keys stay out of a teacher's words


# ── The lesson file ───────────────────────────────────────────────────────────────────────────────


def test_the_article_lesson_has_about_ten_steps_in_the_article_s_order():
    assert 8 <= len(ARTICLE.steps) <= 12
    views = [step.view for step in ARTICLE.steps]
    assert views[0] == "attention" and views[-1] == "next"  # "I saw a saw" first, a decoder that writes last
    assert {"steps", "qkv", "positional", "playground", "lab"} <= set(views)


@pytest.mark.parametrize("number", STEPS)
def test_every_step_s_state_is_what_a_share_link_takes_as_it_is(number):
    step = ARTICLE.step(number)
    values, notices = params.parse_query(step.query())
    assert not notices, notices
    assert values["view"] == step.view and step.view in VIEWS
    assert not set(step.state) & set(lesson_plan.KEPT)


@pytest.mark.models
@pytest.mark.parametrize("number", STEPS)
def test_every_step_names_a_built_in_model_its_view_applies_to_and_marks_real_tokens(number):
    step = ARTICLE.step(number)
    values = {**params.defaults(), **step.values()}  # what the step does not set starts at its default
    name = values["model"]
    assert name in model_names()
    loaded = load_named(name)
    assert VIEWS[step.view].applies(loaded), f"step {number}: {step.view} does not apply to {name}"
    assert values["layer"] < loaded.config.n_layers and values["head"] < loaded.config.n_heads
    if step.mark is not None:
        n = trace_any(loaded, values["text"]).n_positions
        positions = [*step.mark.rows, *step.mark.cols, *(p for cell in step.mark.cells for p in cell)]
        assert max(positions) < n, f"step {number} marks position {max(positions)} of a {n}-token text"


@pytest.mark.parametrize("number", STEPS)
def test_every_step_has_words_in_both_languages_of_a_length_to_read_aloud(number):
    step = ARTICLE.step(number)
    for lang in LANGS:
        sentences = [s for s in re.split(r"(?<=[.。?？!！])\s*", step.text[lang]) if s.strip()]
        assert 2 <= len(sentences) <= 4, f"step {number} ({lang}): {len(sentences)} sentences"
        assert step.title[lang] and step.look[lang]
        for field in (step.title, step.text, step.look):
            assert not INTERNAL.search(field[lang]), field[lang]
    assert re.search(r"[\u4e00-\u9fff]", step.text["zh"]) and step.text["zh"] != step.text["en"]


def test_the_article_s_indices_are_told_apart_from_the_app_s_somewhere():
    """The article writes a¹ … aⁿ, the app a₀ … aₙ₋₁: the lesson says so where it introduces aᵢ."""
    for lang in LANGS:
        assert any("a¹" in step.text[lang] and "a₀" in step.text[lang] for step in ARTICLE.steps), lang


def _lesson(**step) -> dict:
    words = {"en": "x.", "zh": "x。"}
    return {"title": words, "steps": [{"view": "attention", "title": words, "text": words, "look": words, **step}]}


@pytest.mark.parametrize(
    "raw, says",
    [
        ({"title": {"en": "t", "zh": "t"}, "steps": []}, "no [[steps]]"),
        (_lesson(view="slides"), "view 'slides'"),
        (_lesson(state={"layer": 99}), "is not a value the URL takes"),
        (_lesson(state={"pg_mask": "diagonal"}), "is not a value the URL takes"),
        (_lesson(state={"colour": "red"}), "no URL parameter"),
        (_lesson(state={"lang": "zh"}), "may not set 'lang'"),
        (_lesson(state={"view": "qkv"}), "may not set 'view'"),
        (_lesson(state={"layer": [1]}), "not a string, number"),
        (_lesson(tab="sqrt_d"), "tab 'sqrt_d'"),
        (_lesson(mark={"rows": [-1]}), "not a position"),
        (_lesson(mark={"cells": [[1, 2, 3]]}), "pairs"),
        (_lesson(mark={"row": [1]}), "mark is a table"),
        (_lesson(notes="…"), "unknown keys ['notes']"),
        ({**_lesson(), "title": {"en": "only English"}}, "lacks zh"),
        ({**_lesson(), "author": "me"}, "unknown keys ['author']"),
    ],
)
def test_a_lesson_file_with_a_mistake_is_refused_with_where_and_what(raw, says):
    with pytest.raises(LessonError) as err:
        read_lesson("mine", raw)
    assert err.value.notice.key == "lesson.broken"
    assert says in err.value.notice.values["detail"], err.value.notice.values["detail"]


def test_a_teacher_s_second_lesson_is_a_copied_file(tmp_path, monkeypatch):
    shutil.copy(lesson_plan.LESSON_DIR / "article.toml", tmp_path / "article.toml")
    text = (lesson_plan.LESSON_DIR / "article.toml").read_text(encoding="utf-8")
    (tmp_path / "my-class.toml").write_text(text.replace("I saw a saw", "I saw a saw!"), encoding="utf-8")
    (tmp_path / "broken.toml").write_text("title = [", encoding="utf-8")
    monkeypatch.setattr(lesson_plan, "LESSON_DIR", tmp_path)
    lesson_plan.load.cache_clear()
    try:
        assert lesson_plan.lesson_names() == ["article", "broken", "my-class"]
        lesson, step = lesson_plan.resolve("my-class:1")
        assert step.state["text"] == "I saw a saw!" and lesson_plan.ref(lesson.name, 1) == "my-class:1"
        with pytest.raises(LessonError) as err:
            lesson_plan.load("broken")
        assert err.value.notice.key == "lesson.broken"
    finally:
        lesson_plan.load.cache_clear()


@pytest.mark.parametrize(
    "raw, expected", [("3", ("article", 3)), ("article:10", ("article", 10)), (" 2 ", ("article", 2))]
)
def test_a_lesson_reference_names_a_file_and_a_step(raw, expected):
    assert lesson_plan.parse_ref(raw) == expected


@pytest.mark.parametrize(
    "raw, key", [("x", "unknown"), ("../../etc/passwd:1", "unknown"), ("a/b:1", "unknown"), ("Article:1", "unknown"),
                 ("1.5", "unknown"), ("-1", "unknown"), ("１", "unknown"), ("nosuch:1", "unknown"), ("0", "no_step"),
                 ("11", "no_step"), ("99999", "unknown")],
)  # fmt: skip
def test_a_tampered_lesson_reference_is_a_notice_never_a_path(raw, key):
    with pytest.raises(LessonError) as err:
        lesson_plan.resolve(raw)
    assert err.value.notice.key == f"lesson.{key}"


def test_a_lesson_s_words_show_literally_except_bold():
    shown = lesson_plan.markdown("**Look**: W^q_1 * 2, $x$, [a](b), :red[x], <b>")
    assert shown == r"**Look**\: W\^q\_1 \* 2, \$x\$, \[a\]\(b\), \:red\[x\], \<b\>"  # each mark-up escaped


# ── Applying a step ───────────────────────────────────────────────────────────────────────────────


def test_a_step_starts_from_the_defaults_and_keeps_only_the_language_and_the_projector():
    step = ARTICLE.step(2)
    before = {**params.defaults(), "lang": "zh", "present": True, "head": 7, "pg_mask": "causal", "lesson": "1"}
    after = lesson_plan.applied(before, ARTICLE, step)
    assert after["lang"] == "zh" and after["present"] is True and after["lesson"] == "2"
    assert after["pg_mask"] == "none"  # the last step's setting is gone
    assert (after["view"], after["layer"], after["head"], after["query"]) == ("steps", 3, 1, 10)


def test_while_a_step_is_on_the_url_names_the_step_and_what_changed_since():
    step = ARTICLE.step(1)  # layer 0, head 2
    state = lesson_plan.applied(params.defaults(), ARTICLE, step)
    baseline = lesson_plan.baseline_for(state["lesson"])
    assert params.to_query(state, baseline) == {"lesson": "1"}
    state |= {"head": 5, "layer": 3}  # layer 3 is the default: still written, the step says 0
    assert params.to_query(state, baseline) == {"lesson": "1", "layer": "3", "head": "5"}
    outside = {**state, "lesson": ""}  # outside a lesson the usual defaults apply: layer 3 is one, head 1 another
    assert lesson_plan.baseline_for("") is None
    assert params.to_query(outside, None) == {"text": "I saw a saw", "head": "5"}


def test_a_mark_holds_only_while_the_step_s_sentence_model_and_view_are_on_show():
    step = ARTICLE.step(1)
    state = lesson_plan.applied(params.defaults(), ARTICLE, step)
    assert lesson_plan.mark_for(step, state) == Mark(rows=(2, 4))
    assert lesson_plan.mark_for(step, {**state, "head": 5}) == Mark(rows=(2, 4))
    assert lesson_plan.mark_for(step, {**state, "text": "I saw a cat"}) is None
    assert lesson_plan.mark_for(step, {**state, "view": "qkv"}) is None


def test_steps_move_inside_the_lesson():
    assert lesson_plan.moved(ARTICLE, 1, -1) == 1
    assert lesson_plan.moved(ARTICLE, 3, 1) == 4
    assert lesson_plan.moved(ARTICLE, len(STEPS), 1) == len(STEPS)


def test_the_students_link_is_the_page_s_own_address_with_the_step_and_the_language():
    step = ARTICLE.step(3)
    link = lesson_plan.student_link("http://192.168.1.20:8501/", ARTICLE, step, "zh")
    assert link == "http://192.168.1.20:8501/?lesson=3&lang=zh"
    assert lesson_plan.student_link("http://school.lan/lab", Lesson("mine", {}, ARTICLE.steps), step, "en") == (
        "http://school.lan/lab?lesson=mine:3"
    )
    assert not lesson_plan.is_local(link)
    assert all(lesson_plan.is_local(u) for u in ("http://localhost:8501/", "http://127.0.0.1:8501/", "http://[::1]/"))


def test_the_qr_code_is_a_png_drawn_here_for_each_link():
    a, b = lesson_plan.qr_png("http://10.0.0.2:8501/?lesson=1"), lesson_plan.qr_png("http://10.0.0.2:8501/?lesson=2")
    assert a.startswith(b"\x89PNG\r\n\x1a\n") and b.startswith(b"\x89PNG") and a != b


@pytest.mark.parametrize(
    "settings, key, expected",
    [
        (("layer", "head", "step"), "ArrowRight", ("head", 1)),  # the head keeps its keys
        (("step",), "ArrowRight", ("step", 1)),  # a view without a head: → is the clicker's
        (("step",), "ArrowLeft", ("step", -1)),
        (("layer", "head", "query", "step"), "PageDown", ("step", 1)),
        (("layer", "head", "query", "step"), "PageUp", ("step", -1)),
        (("layer", "head"), "PageDown", None),  # no lesson, no page keys
    ],
)
def test_a_presenter_s_clicker_steps_the_lesson_where_no_setting_takes_its_keys(settings, key, expected):
    assert key_map(settings).get(key) == expected


def test_a_lesson_step_sent_by_the_keys_moves_no_setting():
    state = {"head": 3, "keys": {"step": {"what": "step", "by": 1}}}
    step_setting(state, {"layer": 5, "head": 11, "query": 7})
    assert state["head"] == 3


# ── The page (AppTest) ────────────────────────────────────────────────────────────────────────────

MARKABLE = {"attention", "qkv", "steps", "playground"}  # views whose first figure outlines a step's mark


def _texts(at) -> str:
    return "\n".join(m.value for m in at.markdown)


@pytest.mark.app
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("number", STEPS)
def test_every_step_opens_from_its_link_with_its_view_and_state_in_both_languages(number, lang):
    step = ARTICLE.step(number)
    at = run_app(lesson=str(number), lang=lang)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert not at.warning, [w.value for w in at.warning]  # no notice: the state fits the model as it is
    for name, value in step.values().items():
        assert at.session_state[name] == value, name
    assert at.session_state["lesson"] == str(number) and at.session_state["lang"] == lang
    texts = _texts(at)
    assert f"{number} / {len(STEPS)}" in texts
    assert lesson_plan.markdown(step.title[lang]) in texts
    if step.view in MARKABLE and step.mark is not None:
        shapes = specs(at)[0]["layout"].get("shapes", [])
        assert any(s.get("line", {}).get("color") == MARK_COLOUR for s in shapes), f"step {number}: nothing marked"
    if step.tab == "sqrt_d":
        assert "q·k" in specs(at)[0]["layout"]["title"]["text"]
    if step.tab == "hand":
        assert at.latex, "the hand example's matrices are not drawn"


@pytest.mark.app
def test_next_back_and_the_last_step_move_through_the_lesson_as_its_links_would():
    at = run_app(lesson="1", lang="zh", present="true")
    assert at.button(key="lesson_previous").disabled
    at.button(key="lesson_next").click().run()
    assert at.session_state["lesson"] == "2" and at.session_state["view"] == "steps"
    assert at.session_state["query"] == 10 and at.session_state["present"] is True and at.session_state["lang"] == "zh"
    at.button(key="lesson_next").click().run()  # 3: Q·K·V
    at.button(key="lesson_next").click().run()  # 4: Experiments, the √d tab
    assert at.session_state["view"] == "lab" and "q·k" in specs(at)[0]["layout"]["title"]["text"]
    at.button(key="lesson_next").click().run()  # 5: Playground with ReLU
    at.button(key="lesson_next").click().run()  # 6: Experiments again, now the hand tab
    assert at.session_state["view"] == "lab" and at.latex
    at.button(key="lesson_previous").click().run()
    assert at.session_state["lesson"] == "5" and at.session_state["pg_normalizer"] == "relu"
    assert not at.exception
    last = run_app(lesson=str(len(STEPS)))
    assert last.button(key="lesson_next").disabled


@pytest.mark.app
def test_leaving_the_lesson_keeps_the_view_where_it_is():
    at = run_app(lesson="2")
    at.session_state["head"] = 4  # the class moved on from the step
    at.run()
    at.button(key="lesson_leave").click().run()
    assert at.session_state["lesson"] == ""
    assert (at.session_state["view"], at.session_state["head"], at.session_state["query"]) == ("steps", 4, 10)
    assert not any(b.key == "lesson_next" for b in at.button)
    assert at.query_params["view"] == "steps" and "lesson" not in at.query_params


@pytest.mark.app
def test_the_url_names_the_step_and_what_the_class_changed():
    at = run_app(lesson="1", lang="zh")
    assert dict(at.query_params) == {"lesson": "1", "lang": "zh"}
    at.session_state["head"] = 5
    at.run()
    assert at.query_params["head"] == "5" and at.query_params["lesson"] == "1"


@pytest.mark.app
def test_a_link_that_changes_the_step_s_settings_wins_over_them():
    at = run_app(lesson="1", head="7")
    assert at.session_state["head"] == 7 and at.session_state["text"] == "I saw a saw"


@pytest.mark.app
def test_the_sidebar_starts_the_lesson_at_its_first_step():
    at = run_app(view="positional", lang="zh")
    at.button(key="lesson_start_article").click().run()
    assert at.session_state["lesson"] == "1" and at.session_state["view"] == "attention"
    assert at.session_state["text"] == "I saw a saw" and not at.exception


@pytest.mark.app
@pytest.mark.parametrize("value", ["99", "../../etc/passwd:1", "nosuch:2", "<script>:1", "0"])
def test_a_tampered_lesson_link_says_so_and_shows_the_page(value):
    at = run_app(lesson=value, lang="zh")
    assert not at.exception
    assert at.session_state["lesson"] == ""
    assert any("课程" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.get("plotly_chart"), "the page was not drawn"


@pytest.mark.app
def test_a_tampered_lesson_value_in_session_state_turns_the_lesson_off_with_a_notice():
    at = run_app(lesson="3")
    at.session_state["lesson"] = "article:77"
    at.run()
    assert not at.exception and at.session_state["lesson"] == ""
    assert any("77" in w.value for w in at.warning)
    assert at.session_state["view"] == "qkv"  # the view stays


@pytest.mark.app
def test_the_students_link_and_its_qr_code_are_on_the_teacher_s_page():
    at = run_app(lesson="4", lang="zh")
    codes = [c.value for c in at.code]
    assert any(c.endswith("/?lesson=4&lang=zh") for c in codes), codes
    assert at.get("imgs") or at.get("image"), "no QR code drawn"
