"""The lesson in front of a class, in Chromium: on a 1280 × 720 projector, PageDown (what a presenter's clicker
sends) walks every step of the article's lesson and PageUp walks back; each step shows its counter, its words and
its view, with the view's first figure whole on the first screen. A screenshot of every step in Chinese goes to
artifacts/screenshots/lesson-<step>-zh.png.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from browserkit.lab import LabPage
from components import lesson_plan
from tests.browser.test_presentation_browser import PROJECTOR, assert_whole_and_readable, first_chart

pytestmark = pytest.mark.browser

ARTICLE = lesson_plan.load("article")
COUNT = len(ARTICLE.steps)


def on_step(lab: LabPage, number: int, lang: str) -> None:
    """The page shows step `number`: its counter, its title, a first figure whole at 1280 × 720, no exception."""
    step = ARTICLE.step(number)
    expect(lab.main.get_by_text(f"{number} / {COUNT}", exact=False).first).to_be_visible()
    expect(lab.main.get_by_text(step.title[lang], exact=False).first).to_be_visible()
    assert lab.exceptions().count() == 0, f"step {number}: {lab.exceptions().all_inner_texts()}"
    if lab.main.locator('[data-testid="stPlotlyChart"]').count():
        assert_whole_and_readable(first_chart(lab), f"lesson step {number} ({lang})")
    else:  # the article's example by hand: its matrices and first formulas are the figure
        box = lab.main.locator(".katex-display").first.bounding_box()
        assert box is not None and box["y"] + box["height"] <= PROJECTOR["height"], f"step {number}: {box}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_page_down_walks_every_step_and_page_up_walks_back(new_lab, lang):
    lab = new_lab()
    lab.page.set_viewport_size(PROJECTOR)
    lab.open({"lesson": "1", "present": "true", "lang": lang})
    on_step(lab, 1, lang)
    for number in range(2, COUNT + 1):
        lab.run(lambda: lab.page.keyboard.press("PageDown"))
        on_step(lab, number, lang)
        lab.page.wait_for_url(re.compile(rf"lesson={number}\b"))
        if lang == "zh":
            lab.page.screenshot(path=str(lab.screenshots / f"lesson-{number:02d}-zh.png"))
    for number in range(COUNT - 1, 0, -1):
        lab.run(lambda: lab.page.keyboard.press("PageUp"))
        on_step(lab, number, lang)
    if lang == "zh":
        lab.open({"lesson": "1", "present": "true", "lang": lang})
        lab.page.screenshot(path=str(lab.screenshots / "lesson-01-zh.png"))
