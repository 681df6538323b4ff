"""Issue 12's panels in Chromium, as a class sees them on a 1280 × 720 projector: each one paints without an
exception in English and 简体中文 (a full-page screenshot of each, `panel-<name>-<lang>.png`, for a person to look
at), a click on a head in the atlas opens that head in the Attention view, and the view picker, now nine views
long, stays on one row."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browserkit.lab import LabPage
from components.i18n import t

pytestmark = pytest.mark.browser

PROJECTOR = {"width": 1280, "height": 720}
SPLIT = "Unbelievably, the tokenizer splits words."
PANELS = {  # name → (URL parameters, the Experiments tab to open or None, a button to press or None)
    "value-weighted": ({"att_show": "sent"}, None, None),
    "words-log": ({"att_words": "1", "att_scale": "log", "text": SPLIT}, None, None),
    "per-row": ({"att_scale": "row", "hide_special": "1"}, None, None),
    "steps-after-the-head": ({"view": "steps"}, None, None),
    "atlas": ({"view": "atlas"}, None, None),
    "atlas-e5-chinese": ({"view": "atlas", "model": "multilingual-e5-small", "atlas_corpus": "zh"}, None, None),
    "atlas-smollm2": ({"view": "atlas", "model": "SmolLM2-135M-Instruct", "atlas_field": "first"}, None, None),
    "by-hand": ({"view": "lab"}, "hand", None),
    "why-sqrt-d": ({"view": "lab"}, "sqrt_d", None),
    "reach": ({"view": "lab"}, "reach", None),
    "importance": ({"view": "lab"}, "importance", "lab.importance_run"),
    "playground-two-sided-window": ({"view": "playground", "pg_mask": "window2", "pg_normalizer": "relu"}, None, None),
    "glossary": ({}, None, "app.glossary"),
}


def assert_no_failure(lab: LabPage, where: str) -> None:
    assert lab.exceptions().count() == 0, f"{where}: {lab.exceptions().all_inner_texts()}"
    alerts = lab.page.locator('[data-testid="stAlertContentError"]')
    assert alerts.count() == 0, f"{where}: {alerts.all_inner_texts()}"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_new_panel_paints_on_a_projector(new_lab, lang):
    lab = new_lab()
    lab.page.set_viewport_size(PROJECTOR)
    for name, (query, tab, button) in PANELS.items():
        lab.open({"present": "true", "lang": lang, **query})
        if tab is not None and tab != "hand":
            lab.run(lambda tab=tab: lab.page.get_by_role("tab", name=t(lang, f"lab.tab_{tab}"), exact=True).click())
        if button is not None:
            label = t(lang, button, n=16)
            if button == "app.glossary":  # in the sidebar, folded away on a projector: open it first
                lab.page.locator('[data-testid="stExpandSidebarButton"]').click()
            target = lab.page.get_by_role("button", name=label, exact=False).first
            lab.run(target.click)
        assert_no_failure(lab, f"{name} ({lang})")
        if button == "app.glossary":
            dialog = lab.page.get_by_role("dialog")
            expect(dialog).to_contain_text("α′")
            expect(dialog).to_contain_text("注意力权重")
            lab.page.screenshot(path=str(lab.screenshots / f"panel-{name}-{lang}.png"))
        else:
            lab.screenshot(f"panel-{name}-{lang}")


def test_clicking_a_head_in_the_atlas_opens_it_in_the_attention_view(lab: LabPage):
    lab.open({"view": "atlas"})
    layer, head = 4, 7
    cell = lab.page.locator('[data-testid="stPlotlyChart"] .scatterlayer .points path').nth(layer * 12 + head)
    lab.run(lambda: cell.click(force=True))
    expect(lab.page.get_by_role("radio", name="Attention", exact=True)).to_be_checked()
    assert lab.heatmap().locator(".gtitle").text_content() == f"α′ · layer {layer} · head {head}"
    expect(lab.page.locator('.st-key-head input[type="range"]')).to_have_value(str(head))
    assert_no_failure(lab, "atlas click")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_view_picker_stays_on_one_row_on_a_projector(new_lab, lang):
    lab = new_lab()
    lab.page.set_viewport_size(PROJECTOR)
    lab.open({"present": "true", "lang": lang})
    row = lab.page.evaluate(
        """() => {
          const buttons = Array.from(document.querySelectorAll('.st-key-view button'));
          const group = document.querySelector('.st-key-view');
          const tops = buttons.map(b => Math.round(b.getBoundingClientRect().top));
          const labels = buttons.map(b => { const p = b.querySelector('p'); return p.scrollWidth <= p.clientWidth + 1; });
          return {n: buttons.length, tops: new Set(tops).size, fits: labels.every(x => x),
                  right: Math.max(...buttons.map(b => b.getBoundingClientRect().right)),
                  edge: group.getBoundingClientRect().right};
        }"""
    )
    assert row["n"] >= 9, row  # nine views for an encoder (a decoder may be offered more)
    assert row["tops"] == 1, f"the view picker wraps onto {row['tops']} rows"
    assert row["fits"] and row["right"] <= row["edge"] + 1, f"a view's label is cut off: {row}"


POEM = "床前明月光，疑是地上"


def test_gemma_writes_a_poem_shrinks_its_window_and_shows_its_cache_in_chinese(new_lab):
    """Issue 19's screens on a 1280 × 720 projector in Chinese: Gemma finishing a line of a poem, the cache panel
    after it wrote, and its window shrunk to 4 (a first screen `gemma-…-zh.png` and the whole page `…-page.png`
    each, for a person to look at)."""
    lab = new_lab()
    lab.page.set_viewport_size(PROJECTOR)
    gemma = {"present": "true", "lang": "zh", "model": "Gemma-3-270M"}
    lab.open({**gemma, "view": "next", "text": POEM})
    assert_no_failure(lab, "Gemma's next word")
    lab.page.screenshot(path=str(lab.screenshots / "gemma-next-poem-zh.png"))
    lab.run(lab.page.locator(".st-key-next_write button").first.click)
    assert_no_failure(lab, "Gemma writing")
    written = lab.page.get_by_role("textbox").first.input_value()
    assert written.startswith(POEM) and len(written) > len(POEM), written
    lab.page.screenshot(path=str(lab.screenshots / "gemma-written-zh.png"))
    lab.screenshot("gemma-written-zh-page")
    lab.open({**gemma, "window": "4"})
    assert_no_failure(lab, "Gemma's window of 4")
    lab.page.screenshot(path=str(lab.screenshots / "gemma-window-4-zh.png"))
    lab.screenshot("gemma-window-4-zh-page")
