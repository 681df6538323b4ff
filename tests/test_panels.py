"""Every panel of issue 12 through AppTest, in English and 简体中文, on all-MiniLM-L6-v2 and multilingual-e5-small
(SmolLM2-135M-Instruct once): it renders without an exception or an error box, and every text it puts on the page
(captions, Markdown, LaTeX, widget labels, figure titles, axis and colour-bar names, hover templates) follows the
glossary's notation (tests/test_notation.py's check: no weight written α, every W^x a glossary matrix)."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from components.i18n import t
from model.families.encoder import BUNDLED_NAME, E5_NAME
from model.families.llama import SMOLLM2_NAME
from tests.apptest import APP, TIMEOUT_S, specs
from tests.test_notation import bare_alpha_problems

pytestmark = pytest.mark.app

TEXT = "The animal didn't cross the street because it was too tired."
ZH_TEXT = "我看见了一把锯子。"
MATRIX = re.compile(r"W(?:\^|<sup>)\s*([A-Za-z])")


def _strings(value: object) -> list[str]:
    """Every string inside a figure's JSON."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def page_texts(at: AppTest) -> list[str]:
    """What the page shows in words: text elements, widget labels and everything written in its figures."""
    texts = [e.value for kind in ("markdown", "caption", "latex", "info", "warning", "success") for e in at.get(kind)]
    texts += [w.label for kind in ("button", "toggle", "selectbox", "select_slider", "slider") for w in at.get(kind)]
    texts += [w.proto.label for w in at.get("segmented_control")]
    for spec in specs(at):
        layout = spec["layout"]
        texts += _strings({k: v for k, v in layout.items() if k not in ("template",)})
        texts += [
            s for trace in spec["data"] for key in ("hovertemplate", "name", "text") for s in _strings(trace.get(key))
        ]
    return [text for text in texts if text]


def assert_page_is_well(at: AppTest, where: str) -> None:
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
    assert not at.error, f"{where}: {[e.value for e in at.error]}"
    texts = page_texts(at)
    alpha = [problem for text in texts for problem in bare_alpha_problems(text)]
    assert not alpha, f"{where}: the weights written α: {alpha}"
    matrices = {m.group(1) for text in texts for m in MATRIX.finditer(text)}
    assert matrices <= {"q", "k", "v", "O"}, f"{where}: matrices {matrices}"


def open_page(model: str, lang: str, text: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params.update({"model": model, "lang": lang, "text": text})
    return at.run()


def show(at: AppTest, view: str, **state: object) -> AppTest:
    """The same session on another view or setting (a rerun, as a click would start)."""
    at.session_state["view"] = view
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


@pytest.mark.parametrize("model", [BUNDLED_NAME, E5_NAME])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_new_panel_renders_in_both_languages(model, lang):
    at = open_page(model, lang, ZH_TEXT if model == E5_NAME and lang == "zh" else TEXT)
    assert_page_is_well(at, "attention")
    for state in (
        {"att_show": "sent"},
        {"att_show": "sent", "att_words": True, "att_scale": "log"},
        {"att_show": "weights", "att_scale": "row", "hide_special": True},
        {"att_words": False, "attention_tab": t(lang, "attention.tab_layer")},
    ):
        assert_page_is_well(show(at, "attention", **state), f"attention {state}")
    assert len(specs(at)) == 2, "the whole layer: head average and rollout"
    assert_page_is_well(show(at, "steps", hide_special=False), "steps")
    assert any(t(lang, "steps.after_title") in m.value for m in at.subheader)
    for corpus in ("en", "zh"):
        assert_page_is_well(show(at, "atlas", atlas_corpus=corpus, atlas_field="special"), f"atlas {corpus}")
    offered = at.segmented_control(key="atlas_corpus").options
    assert len(offered) == (2 if model == E5_NAME else 1), offered
    for tab in ("hand", "sqrt_d", "reach", "importance"):
        assert_page_is_well(show(at, "lab", lab_tab=t(lang, f"lab.tab_{tab}")), f"lab {tab}")
    at.button(key="lab_run").click().run()
    assert_page_is_well(at, "lab importance, run")
    assert any(m.value.startswith("## ρ = ") for m in at.markdown), "Spearman's ρ is shown once the re-runs are done"
    assert_page_is_well(show(at, "playground", pg_mask="window2", pg_normalizer="relu"), "playground")
    assert at.toggle(key="pg_scale").disabled, "√d does nothing under ReLU"
    assert at.number_input(key="pg_window"), "the two-sided window has its width"


def test_smollm2_once_every_new_panel():
    """SmolLM2 (a decoder: no special tokens, grouped-query attention, RoPE) through the same panels, one session."""
    at = open_page(SMOLLM2_NAME, "en", TEXT)
    for view, state in (
        ("attention", {"att_show": "sent", "att_words": True}),
        ("steps", {}),
        ("atlas", {"atlas_corpus": "zh"}),
        ("lab", {"lab_tab": t("en", "lab.tab_reach")}),
    ):
        assert_page_is_well(show(at, view, **state), f"{view} {state}")
    assert "30 layers" in " ".join(m.value for m in at.caption) or at.segmented_control(key="atlas_corpus")


def test_the_attention_view_says_weights_are_not_by_themselves_explanations_and_leads_to_the_test():
    """Not "are not explanations", as if settled (issue 20, item 12): the debate is cited, both sides."""
    at = open_page(BUNDLED_NAME, "en", TEXT)
    (line,) = [c.value for c in at.caption if "explanation" in c.value.lower()]
    assert "not, by itself, an explanation" in line and "are not explanations" not in line
    assert "Jain & Wallace 2019" in line and "Wiegreffe & Pinter 2019" in line
    at.button(key="to_importance").click().run()
    assert not at.exception
    assert at.session_state["view"] == "lab"
    assert at.session_state["lab_tab"] == t("en", "lab.tab_importance")
    assert at.button(key="lab_run"), "the importance tab is open"


def test_the_glossary_opens_from_the_sidebar_in_every_view():
    at = open_page(BUNDLED_NAME, "zh", TEXT)
    for view in ("attention", "atlas", "lab", "training"):
        show(at, view)
        assert at.sidebar.button(key="glossary_open").label == t("zh", "app.glossary")
    at.sidebar.button(key="glossary_open").click().run()
    assert not at.exception
    table = "\n".join(m.value for m in at.markdown)
    assert "注意力权重" in table and "attention weight" in table and "α′" in table


def test_links_keep_the_display_settings():
    at = open_page(BUNDLED_NAME, "en", TEXT)
    show(at, "attention", att_show="sent", att_scale="log", att_words=True)
    assert {"att_show": "sent", "att_scale": "log", "att_words": "1"}.items() <= dict(at.query_params).items()
    spec = json.dumps(specs(at)[0]["layout"]["coloraxis"])
    assert "(log)" in spec
