"""The three built-in models as a class meets them in Chromium: the picker with a line on each model, a
Chinese sentence read by multilingual-e5-small (no unknown tokens), writing with SmolLM2 one token at a time
in the Next-word view, and RoPE's panel in the Positional view."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from browserkit.lab import LabPage

pytestmark = pytest.mark.browser
SMOL = "SmolLM2-135M-Instruct"
E5 = "multilingual-e5-small"


def test_the_picker_offers_three_models_each_with_a_line_and_switches(lab: LabPage):
    lab.open()
    sidebar = lab.page.locator('[data-testid="stSidebar"]')
    for name in ("all-MiniLM-L6-v2", E5, SMOL):
        expect(sidebar.get_by_text(name, exact=True)).to_be_visible()
    expect(sidebar.get_by_text(re.compile("reads Chinese"))).to_be_visible()
    expect(sidebar.get_by_text(re.compile("predicts the next word"))).to_be_visible()
    lab.run(sidebar.get_by_text(SMOL, exact=True).click)
    expect(lab.main.get_by_role("radio", name="Next word", exact=True)).to_be_visible()
    assert f"model={SMOL}" in lab.page.url
    assert lab.exceptions().count() == 0


def test_a_chinese_sentence_reads_as_words_on_e5(lab: LabPage):
    lab.open({"lang": "zh"})
    lab.type_sentence("我看见了一把锯子。", label="句子（按回车运行）")
    expect(lab.main.get_by_text(re.compile("因此改用能读中文的 multilingual-e5-small"))).to_be_visible()
    chips = lab.chips()
    assert any("锯" in chip for chip in chips) and any("看见" in chip for chip in chips), chips
    assert not any("UNK" in chip or "unk" in chip for chip in chips), chips
    assert f"model={E5}" in lab.page.url
    lab.screenshot("e5-chinese-zh")


def test_writing_with_the_decoder_one_token_at_a_time(lab: LabPage):
    lab.open({"model": SMOL, "view": "next", "text": "The capital of France is"})
    paris = lab.main.get_by_role("button", name="“ Paris”", exact=True)
    expect(paris).to_be_visible()
    lab.run(paris.click)
    expect(lab.sentence_box()).to_have_value("The capital of France is Paris")
    expect(lab.main.locator(".gtitle", has_text=re.compile("What comes after .*Paris"))).to_be_visible()
    lab.screenshot("next-word-after-paris")
    assert lab.exceptions().count() == 0


def test_the_rope_panel_shows_the_flat_score(lab: LabPage):
    lab.open({"model": SMOL, "view": "positional", "text": "I saw a saw."})
    expect(lab.main.locator(".gtitle", has_text="Shift both positions: the score stays")).to_be_visible()
    expect(lab.main.get_by_text(re.compile("Live check on the model's own q and k"))).to_be_visible()
    lab.screenshot("rope-panel")
    assert lab.exceptions().count() == 0
