"""The table of views: one list that the URL and the page both read, views that do not import each
other, and the keyboard steps used while presenting."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from components import params
from components.keys import step_setting
from components.views import VIEWS, View, offered
from tests.apptest import run_app

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.fast
def test_the_url_offers_exactly_the_views_of_the_table():
    assert params.PARAMS["view"].choices == tuple(VIEWS) == params.VIEWS
    assert all(view.name == name for name, view in VIEWS.items())


@pytest.mark.fast
def test_every_view_module_has_a_render_and_imports_no_other_view():
    view_modules = {view.module for view in VIEWS.values()}
    assert all(module.startswith("components.views.") for module in view_modules)
    for module in view_modules:
        tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))
        assert any(isinstance(node, ast.FunctionDef) and node.name == "render" for node in tree.body), module
        imported = set()  # the modules it takes anything from ("from components.views import x" too)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
        others = imported & (view_modules - {module})
        assert not others, f"{module} imports another view: {others}"


@pytest.mark.fast
def test_the_next_word_view_is_offered_for_a_decoder_only():
    encoder, decoder = SimpleNamespace(decoder=False), SimpleNamespace(decoder=True)
    assert offered(decoder) == list(VIEWS)
    assert offered(encoder) == [name for name in VIEWS if name != "next"]
    assert offered(SimpleNamespace()) == offered(encoder)  # a model that does not say is not a decoder


def test_a_view_that_does_not_apply_falls_back_with_a_notice(monkeypatch):
    import components.views

    only_attention = {**VIEWS, "qkv": View("qkv", "components.views.qkv", applies=lambda loaded: False)}
    monkeypatch.setattr(components.views, "VIEWS", only_attention)
    at = run_app("qkv")
    assert not at.exception
    assert at.segmented_control(key="view").value == "attention"
    assert "qkv" not in at.segmented_control(key="view").options
    assert any("qkv" in w.value for w in at.warning)


@pytest.mark.parametrize(
    "view, sliders, sentence",
    [("attention", True, True), ("positional", False, True), ("playground", False, True), ("training", False, False)],
)
def test_the_page_shows_only_the_controls_a_view_uses(view, sliders, sentence):
    at = run_app(view, layer="2", head="5")
    assert not at.exception
    keys = {w.key for w in at.select_slider}
    assert ({"layer", "head"} <= keys) is sliders
    assert bool([w for w in at.text_input if w.key == "text"]) is sentence
    at.segmented_control(key="view").set_value("attention").run()  # layer and head kept while hidden
    assert at.select_slider(key="layer").value == 2 and at.select_slider(key="head").value == 5


@pytest.mark.fast
@pytest.mark.parametrize(
    "step, state, expected",
    [
        ({"what": "head", "by": 1}, {"head": 3}, {"head": 4}),
        ({"what": "head", "by": 1}, {"head": 11}, {"head": 11}),  # the last head stays the last
        ({"what": "layer", "by": -1}, {"layer": 0}, {"layer": 0}),
        ({"what": "query", "by": 1}, {"query": 2}, {"query": 3}),
        ({"what": "query", "by": 1}, {"query": 7}, {"query": 7}),
        ({"what": "text", "by": 1}, {"head": 3}, {"head": 3}),  # not a setting: ignored
        ({"what": "head", "by": 5}, {"head": 3}, {"head": 3}),  # not a step: ignored
        ("junk", {"head": 3}, {"head": 3}),
    ],
)
def test_a_key_steps_its_setting_within_its_range(step, state, expected):
    state = {**state, "keys": {"step": step}}
    step_setting(state, {"layer": 5, "head": 11, "query": 7})
    assert {k: v for k, v in state.items() if k != "keys"} == expected


INTERNAL = re.compile(r"\b(?:pg|pe|train|cmp|win)_[a-z_]+|\b[a-z]+_layer\d+|\b[a-z]+_head\d+")


@pytest.mark.parametrize("view", list(VIEWS))
def test_no_internal_name_reaches_the_page(view):
    """Widget keys and file names (pg_alpha_layer0, win_q) stay in the code and the URL."""
    at = run_app(view)
    texts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [b.label for b in at.button]
    texts += [w.proto.label for w in at.get("download_button")]
    texts += [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]
    found = sorted({m.group(0) for text in texts for m in INTERNAL.finditer(text)})
    assert not found, f"{view}: {found}"
