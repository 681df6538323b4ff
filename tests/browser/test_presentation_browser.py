"""In front of the class, in Chromium: with presentation mode on a 1280 × 720 projector every view's first
figure is whole on the first screen with tick labels of at least 16 px; the keys step layer and head;
a 512-token text shows a window of its α′ with every label readable; Chinese is drawn with real glyphs.

Sizes are measured in the browser (bounding boxes, computed font sizes), never guessed from the code.
"""

from __future__ import annotations

import math
import re

import pytest
from playwright.sync_api import expect

from browserkit.lab import LabPage

pytestmark = pytest.mark.browser

PROJECTOR = {"width": 1280, "height": 720}
FULL_HD = {"width": 1920, "height": 1080}
SCREEN = {"width": 1600, "height": 1000}
VIEWS = ("attention", "qkv", "steps", "positional", "playground", "compare", "training", "atlas")
MIN_TICK_PX = 16

# Where the first chart of the page is drawn, relative to the window, and the sizes of its tick labels
# (axes and colour bars) as the browser computes them.
_FIRST_CHART_JS = """() => {
  const chart = Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stPlotlyChart"]'))
    .find(c => c.checkVisibility());
  if (!chart) return null;
  const r = chart.querySelector('.main-svg').getBoundingClientRect();
  const ticks = Array.from(chart.querySelectorAll('.xtick text, .ytick text, .cbaxis text'))
    .filter(t => t.textContent.trim() && t.getBoundingClientRect().width > 0);
  const title = chart.querySelector('.gtitle');
  return {
    top: r.top, left: r.left, bottom: r.bottom, right: r.right,
    width: window.innerWidth, height: window.innerHeight,
    scrolled: document.querySelector('[data-testid="stMain"]').scrollTop,
    ticks: ticks.map(t => parseFloat(getComputedStyle(t).fontSize)),
    title: title ? title.textContent : '',
  };
}"""

# Every tick label of one axis of the α′ heatmap, top to bottom (y) or left to right (x), with its box.
_LABELS_JS = """([axis]) => {
  const chart = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]'))
    .find(c => (c.querySelector('.gtitle')?.textContent ?? '').startsWith('α′ ·'));
  return Array.from(chart.querySelectorAll('.' + axis + 'tick text')).map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, top: r.top, bottom: r.bottom, left: r.left, right: r.right,
            size: parseFloat(getComputedStyle(t).fontSize)};
  });
}"""

# Tofu: characters a font cannot draw come out as identical empty boxes. Each character is drawn alone on
# a canvas in the page's own font stack; distinct characters must give distinct, non-blank pictures.
_GLYPHS_JS = """([chars, selector]) => {
  const el = document.querySelector(selector);
  const family = getComputedStyle(el).fontFamily;
  const canvas = document.createElement('canvas');
  canvas.width = 48; canvas.height = 48;
  const g = canvas.getContext('2d', {willReadFrequently: true});
  const picture = (ch) => {
    g.clearRect(0, 0, 48, 48);
    g.font = '36px ' + family;
    g.textBaseline = 'top';
    g.fillStyle = '#000';
    g.fillText(ch, 4, 4);
    return Array.from(g.getImageData(0, 0, 48, 48).data.filter((_, i) => i % 4 === 3)).join(',');
  };
  const pictures = Array.from(chars).map(picture);
  const blank = pictures.filter(p => !/[1-9]/.test(p)).length;
  return {family, distinct: new Set(pictures).size, count: pictures.length, blank};
}"""


def first_chart(lab: LabPage) -> dict:
    box = lab.page.evaluate(_FIRST_CHART_JS)
    assert box is not None, "no chart drawn"
    return box


def assert_whole_and_readable(box: dict, where: str) -> None:
    assert box["scrolled"] == 0, f"{where}: the page opened scrolled"
    assert box["top"] >= 0 and box["left"] >= 0, f"{where}: the figure starts outside the window: {box}"
    assert box["bottom"] <= box["height"] and box["right"] <= box["width"], (
        f"{where}: the figure ({box['top']:.0f}–{box['bottom']:.0f} px) does not fit the {box['height']} px window"
    )
    assert box["ticks"], f"{where}: no tick labels found"
    assert min(box["ticks"]) >= MIN_TICK_PX, f"{where}: tick labels of {min(box['ticks'])} px"


@pytest.mark.parametrize("lang, window", [("en", PROJECTOR), ("zh", PROJECTOR), ("zh", FULL_HD)])
def test_presentation_mode_fits_every_views_first_figure_on_a_projector(new_lab, lang, window):
    lab = new_lab()
    lab.page.set_viewport_size(window)
    size = f"{window['width']}x{window['height']}"
    for view in VIEWS:
        lab.open({"view": view, "present": "true", "lang": lang})
        assert lab.exceptions().count() == 0, f"{view}: {lab.exceptions().all_inner_texts()}"
        assert_whole_and_readable(first_chart(lab), f"{view} ({lang}) at {size}")
        lab.page.screenshot(path=str(lab.screenshots / f"present-{view}-{lang}-{size}.png"))  # the first screen
    sidebar = lab.page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_attribute("data-collapsed") == "true", "the sidebar stays open in presentation mode"


def test_the_attention_view_fits_a_1600_by_1000_window_without_presentation(lab: LabPage):
    lab.page.set_viewport_size(SCREEN)
    lab.open({"view": "attention"})
    box = first_chart(lab)
    assert box["title"] == "α′ · layer 3 · head 1"
    assert_whole_and_readable(box, "attention at 1600 × 1000")


def test_keys_step_head_and_layer_while_presenting_but_not_while_typing(lab: LabPage):
    lab.page.set_viewport_size(PROJECTOR)
    lab.open({"present": "true"})
    expect(lab.main.locator(".keys kbd").first).to_be_visible()
    lab.run(lambda: lab.page.keyboard.press("ArrowRight"))
    assert first_chart(lab)["title"] == "α′ · layer 3 · head 2"
    lab.run(lambda: lab.page.keyboard.press("ArrowDown"))
    assert first_chart(lab)["title"] == "α′ · layer 4 · head 2"
    lab.page.wait_for_url(re.compile(r"head=2"))
    box = lab.sentence_box()
    box.click()
    box.press("ArrowRight")  # moves the caret in the box, nothing else
    lab.page.wait_for_timeout(300)
    assert first_chart(lab)["title"] == "α′ · layer 4 · head 2"


def test_a_512_token_text_shows_a_window_with_every_label_readable(lab: LabPage):
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "a",
        "lazy",
        "dog",
        "while",
        "seven",
        "bright",
        "birds",
        "sing",
    ]
    text = " ".join(words[i % len(words)] for i in range(600))  # more than the model's 512 positions
    lab.open({"text": text, "win_q": "100-131", "win_k": "200-231"})
    expect(lab.main.get_by_text(re.compile(r"only the first 512 tokens"))).to_be_visible()
    expect(lab.main.get_by_role("button", name="512 tokens")).to_be_visible()  # the chips, folded into the header
    title = first_chart(lab)["title"]
    keys = re.fullmatch(r"α′ · layer 3 · head 1 · queries 100–131, keys 200–(\d+)", title)
    assert keys, title
    shown = {"y": list(range(100, 132)), "x": list(range(200, int(keys[1]) + 1))}
    assert len(shown["x"]) >= 16, "fewer keys than a classroom sentence has"
    for axis, positions in shown.items():
        labels = sorted(lab.page.evaluate(_LABELS_JS, [axis]), key=lambda label: int(label["text"].split()[0]))
        assert [int(label["text"].split()[0]) for label in labels] == positions, axis
        size = min(label["size"] for label in labels)
        assert size >= MIN_TICK_PX
        for a, b in zip(labels, labels[1:], strict=False):
            if axis == "y":  # rows: each label below the one before, never on top of it
                assert b["top"] >= a["bottom"] - 1, f"labels overlap: {a['text']!r} / {b['text']!r}"
            else:  # columns lean 60°: parallel labels, the gap between them at least a line of text
                gap = (b["right"] - a["right"]) * math.sin(math.radians(60))
                assert gap >= size * 0.95, f"labels {a['text']!r} / {b['text']!r} only {gap:.1f} px apart"
    lab.screenshot("long-text-window")


def test_the_overview_of_a_long_text_is_not_blank(lab: LabPage):
    text = " ".join(["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog"] * 45)  # ~ 400 tokens
    lab.open({"text": text})
    dark = lab.main.locator(".ov img").evaluate(
        """async (img) => {
          await img.decode();
          const c = document.createElement('canvas');
          c.width = img.naturalWidth; c.height = img.naturalHeight;
          const g = c.getContext('2d');
          g.drawImage(img, 0, 0);
          const d = g.getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 0; i < d.length; i += 4) if (d[i] < 120) n++;  // well into the blue ramp
          return n / (d.length / 4);
        }"""
    )
    assert dark > 0.01, f"only {dark:.2%} of the overview is darker than pale blue"


def test_chinese_is_drawn_with_real_glyphs_not_empty_boxes(lab: LabPage):
    lab.open({"lang": "zh", "view": "playground", "text": "我看见了一把锯子。", "pg_char_tokens": "1"})
    expect(lab.main.get_by_role("heading", name="注意力实验室")).to_be_visible()
    for selector in ('[data-testid="stMain"] h1', '[data-testid="stPlotlyChart"] .ytick text'):
        glyphs = lab.page.evaluate(_GLYPHS_JS, ["注意力实验我看见锯", selector])
        assert glyphs["blank"] == 0 and glyphs["distinct"] == glyphs["count"], (
            f"Chinese shows as empty boxes in {selector} ({glyphs['family']}): {glyphs}. "
            "Install a CJK font: sudo apt-get install -y fonts-noto-cjk"
        )
    # The check can fail: private-use characters have no glyph in any font and all draw the same box.
    boxes = lab.page.evaluate(_GLYPHS_JS, ["\ue000\ue001\ue002\ue003", '[data-testid="stMain"] h1'])
    assert boxes["distinct"] < boxes["count"], f"the tofu check cannot see missing glyphs: {boxes}"
    ticks = lab.main.locator('[data-testid="stPlotlyChart"] .ytick text').all_text_contents()
    assert "0 我" in ticks
