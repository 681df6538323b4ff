"""Every hostile input through the real page (AppTest), in both languages: a picture or a clear
message, never an exception or an error box."""

import pytest

from tests.apptest import run_app
from tests.hostile_inputs import HOSTILE_INPUTS

pytestmark = pytest.mark.app


@pytest.mark.fast
def test_the_corpus_is_large_enough():
    assert len(HOSTILE_INPUTS) >= 50


@pytest.fixture(scope="module", params=["en", "zh"])
def page(request):
    return run_app(lang=request.param)


@pytest.mark.parametrize("name", sorted(HOSTILE_INPUTS))
def test_hostile_text_gives_a_picture_or_a_message(page, name):
    page.text_input(key="text").input(HOSTILE_INPUTS[name]).run()
    assert not page.exception, name
    assert not page.error, [e.value for e in page.error]
    drawn = len(page.get("plotly_chart")) > 0
    explained = len(page.info) + len(page.warning) > 0
    assert drawn or explained, f"{name}: neither a figure nor a message"
    shown = page.text_input(key="text").value
    assert "\x00" not in shown and len(shown) <= 5_000


@pytest.mark.parametrize("view", ["qkv", "steps", "positional", "playground", "compare"])
@pytest.mark.parametrize("name", ["script_tag", "chars_100k", "nul", "emoji_zwj", "only_punctuation", "chinese"])
def test_hostile_text_in_every_view(view, name):
    at = run_app(view)
    at.text_input(key="text").input(HOSTILE_INPUTS[name]).run()
    assert not at.exception, (view, name)
    assert not at.error, (view, name, [e.value for e in at.error])
