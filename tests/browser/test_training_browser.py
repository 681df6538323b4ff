"""Watch it learn, in Chromium: Start trains in the background while the page redraws itself, Stop is
honoured, and the snapshot slider scrubs back through what was learned.

The live part of the view is a fragment rerun every half second, and a fragment run ends with
FINISHED_FRAGMENT_RUN_SUCCESSFULLY, which the RunWatcher does not count as a full run; so the waits
here after Start are on the page's own text and pictures, never on a fixed sleep.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from browserkit.lab import LabPage

pytestmark = pytest.mark.browser

LIVE_MS = 60_000  # a snapshot is due every 0.25 s in slow motion; this absorbs a very busy machine
STATUS = re.compile(r"^Step (\d+) of 2000 · loss [\d.]+ · accuracy \d+% · pattern score \d+%$")

# The heatmaps as drawn: Plotly paints each heatmap as an <image> whose pixels are in its href.
_PICTURES_JS = """() => Array.from(document.querySelectorAll(
    '[data-testid="stPlotlyChart"] .heatmaplayer image')).map(i => i.getAttribute('href')).join('|')"""
_PROGRESS_JS = """() => document.querySelector('[data-testid="stProgress"] p')?.textContent ?? ''"""


def wait_for_step_after(lab: LabPage, after: int) -> int:
    """Wait until the progress bar reports a step later than `after`; return that step."""
    text = lab.page.wait_for_function(
        f"""after => {{
            const text = ({_PROGRESS_JS})();
            const m = /^Step (\\d+) of 2000 · /.exec(text);
            return m !== null && Number(m[1]) > after ? text : false;
        }}""",
        arg=after,
        timeout=LIVE_MS,
        polling=50,
    ).json_value()
    assert STATUS.match(text), text
    return int(STATUS.match(text)[1])


def wait_for_new_pictures(lab: LabPage, before: str) -> str:
    """Wait until the heatmaps drawn differ from `before` and are as many (a fragment rerun briefly
    shows the old chart beside the new one); return them."""
    return lab.page.wait_for_function(
        f"""before => {{
            const now = ({_PICTURES_JS})();
            return now.split('|').length === before.split('|').length && now !== before ? now : false;
        }}""",
        arg=before,
        timeout=LIVE_MS,
        polling=50,
    ).json_value()


def test_start_watch_stop_and_scrub(lab: LabPage):
    lab.open({"view": "training"})
    page = lab.page
    expect(page.get_by_text("Press Start training", exact=False)).to_be_visible()
    lab.step_slider("train_steps", "End")  # 2,000 steps: in slow motion far longer than this test needs
    expect(page.locator(".st-key-train_steps")).to_contain_text("2000")

    lab.run(lambda: page.locator(".st-key-train_start button").click())
    first = wait_for_step_after(lab, -1)
    wait_for_step_after(lab, first)  # the fragment redraws the progress as the training moves on
    expect(page.locator(".st-key-train_start button")).to_be_disabled()

    lab.run(lambda: page.locator(".st-key-train_stop button").click())
    expect(lab.main.get_by_text(re.compile(r"^Stopped at step \d+ of 2000"))).to_be_visible()
    expect(page.locator('[data-testid="stProgress"]')).to_have_count(0)
    expect(page.locator(".st-key-train_start button")).to_be_enabled()
    stopped = STATUS.match(lab.main.get_by_text(STATUS).first.text_content() or "")
    assert stopped and 0 < int(stopped[1]) < 2000

    # Scrubbing reruns only the results fragment: wait on the pictures, not on a full run.
    end = page.evaluate(_PICTURES_JS)
    assert end.count("data:image/png") == 2 + 1  # two heads and the expected pattern
    slider = page.locator('.st-key-train_snapshot input[type="range"]')
    slider.focus()
    slider.press("Home")
    start = wait_for_new_pictures(lab, end)
    assert start.count("data:image/png") == 3
    expect(lab.main.get_by_text(re.compile(r"^Step 0 of 2000 · "))).to_be_visible()

    assert lab.exceptions().count() == 0, lab.exceptions().all_inner_texts()
    assert lab.main.get_by_text("This view could not be drawn").count() == 0
    lab.screenshot("training")
