"""The app as a student's browser sees it: Debian's Chromium on a real `streamlit run`.

AppTest (tests/test_app.py) checks what the script sends; these check what gets drawn: the heatmap's
SVG, the token chips, the URL in the address bar, files that land in the downloads folder, and that
typed HTML never runs. Every action waits for its rerun to finish and paint (browserkit/runs.py), never a sleep.
"""

from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from browserkit.lab import LabPage

pytestmark = pytest.mark.browser

VIEWS = {  # URL value → the label on its segmented-control button (English)
    "attention": "Attention",
    "qkv": "Q·K·V",
    "steps": "Steps",
    "positional": "Positions",
    "playground": "Playground",
    "compare": "Compare",
    "training": "Training",
    "atlas": "Atlas",
    "lab": "Experiments",
}
VIEW_FAILED = "This view could not be drawn"
HOSTILE = [
    ("<img src=x onerror=alert(1)>", ["im", "one", "alert"]),
    ("<script>alert(1)</script>", ["script", "alert"]),
    ('<a href="javascript:alert(1)">x</a>', ["java", "alert"]),
]
EXPECT_MS = 30_000  # the page is already painted when these run; this only absorbs a slow frame


def heatmap_title(lab: LabPage) -> str:
    return lab.heatmap().locator(".gtitle").text_content() or ""


def heatmap_picture(lab: LabPage) -> str:
    """The drawn heatmap cells (Plotly paints a heatmap as one <image>, its pixels in the href)."""
    image = lab.heatmap().locator(".heatmaplayer image").first
    return image.get_attribute("href") or image.get_attribute("xlink:href") or ""


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(url).query).items()}


def assert_no_failure(lab: LabPage, where: str) -> None:
    assert lab.exceptions().count() == 0, f"{where}: exception box: {lab.exceptions().all_inner_texts()}"
    failed = lab.main.get_by_text(VIEW_FAILED)
    assert failed.count() == 0, f"{where}: {failed.all_inner_texts()}"


def test_first_page_paints_attention_for_the_preset_sentence(lab: LabPage):
    lab.open()
    heatmap = lab.heatmap()
    expect(heatmap).to_be_visible()
    assert heatmap_title(lab) == "α′ · layer 3 · head 1"
    assert "2 · animal" in lab.chips()
    expect(heatmap.locator(".ytick text", has_text=re.compile(r"^2 animal$"))).to_be_visible()
    assert heatmap_picture(lab).startswith("data:image/png")
    expect(lab.main.locator(".ov figcaption", has_text="All layers × heads")).to_be_visible()
    expect(lab.main.locator(".ov img")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    assert_no_failure(lab, "first page")
    lab.screenshot("first-page")


def test_typing_a_sentence_and_enter_repaints_with_its_tokens(lab: LabPage):
    lab.open()
    before = heatmap_picture(lab)
    lab.type_sentence("Quantum giraffes dance")
    chips = lab.chips()
    # MiniLM's WordPiece splits "giraffes"; the chips show the pieces the model sees.
    assert chips == ["0 · [CLS]", "1 · quantum", "2 · gi", "3 · ##raf", "4 · ##fe", "5 · ##s", "6 · dance", "7 · [SEP]"]
    ticks = sorted(lab.heatmap().locator(".ytick text").all_text_contents(), key=lambda t: int(t.split()[0]))
    assert ticks == ["0 [CLS]", "1 quantum", "2 gi", "3 ##raf", "4 ##fe", "5 ##s", "6 dance", "7 [SEP]"]
    assert heatmap_picture(lab) != before
    assert query_of(lab.page.url)["text"] == "Quantum giraffes dance"


def test_picking_another_head_changes_the_heatmap(lab: LabPage):
    lab.open()
    before = heatmap_picture(lab)
    lab.step_slider("head")
    assert heatmap_title(lab) == "α′ · layer 3 · head 2"
    assert heatmap_picture(lab) != before
    lab.step_slider("layer", "ArrowLeft")
    assert heatmap_title(lab) == "α′ · layer 2 · head 2"
    assert query_of(lab.page.url) == {"layer": "2", "head": "2"}


def outline_of_chosen_head(lab: LabPage) -> tuple[int, int]:
    """(layer, head) of the outlined thumbnail, from the outline's place in the 6 × 12 grid."""
    top, left = lab.main.locator(".ov .pick").evaluate("e => [parseFloat(e.style.top), parseFloat(e.style.left)]")
    return round(top * 6 / 100), round(left * 12 / 100)


def test_clicking_a_thumbnail_in_the_overview_shows_that_head(lab: LabPage):
    lab.open()
    assert outline_of_chosen_head(lab) == (3, 1)
    image = lab.main.locator(".ov img")
    box = image.bounding_box()
    assert box is not None and box["width"] > 200
    # The middle of the thumbnail in row 2 (layer 2), column 5 (head 5) of the 6 × 12 grid.
    lab.run(lambda: image.click(position={"x": box["width"] * 5.5 / 12, "y": box["height"] * 2.5 / 6}))
    assert heatmap_title(lab) == "α′ · layer 2 · head 5"
    assert query_of(lab.page.url) == {"layer": "2", "head": "5"}
    assert outline_of_chosen_head(lab) == (2, 5)
    expect(lab.page.locator('.st-key-head input[type="range"]')).to_have_value("5")
    assert_no_failure(lab, "overview click")


def test_every_view_opens_and_paints_without_an_exception(lab: LabPage):
    lab.open()
    assert_no_failure(lab, "Attention")
    lab.screenshot("view-attention")
    # Attention last again: clicking the view already picked would start no rerun.
    order = [*list(VIEWS)[1:], "attention"]
    for view in order:
        label = VIEWS[view]
        lab.pick_view(label)
        expect(lab.page.get_by_role("radio", name=label, exact=True)).to_be_checked()
        assert_no_failure(lab, label)
        if view == "attention":
            expect(lab.heatmap()).to_be_visible()
        else:
            lab.screenshot(f"view-{view}")
        assert query_of(lab.page.url).get("view", "attention") == view


def test_simplified_chinese_changes_the_labels(lab: LabPage):
    lab.open()
    lab.run(lambda: lab.page.locator('[data-testid="stSidebar"]').get_by_text("简体中文", exact=True).click())
    expect(lab.main.get_by_role("heading", name="注意力实验室")).to_be_visible()
    expect(lab.sentence_box("句子（按回车运行）")).to_be_visible()
    expect(lab.page.get_by_role("radio", name="注意力", exact=True)).to_be_checked()
    assert heatmap_title(lab) == "α′ · 层 3 · 头 1"
    expect(lab.main.get_by_text("Attention Lab", exact=True)).to_have_count(0)
    assert query_of(lab.page.url)["lang"] == "zh"
    assert_no_failure(lab, "简体中文")
    lab.screenshot("zh-attention")


def test_presentation_mode_draws_larger_figures(lab: LabPage):
    lab.open()
    normal = lab.heatmap().locator(".gtitle").evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    lab.open({"present": 1})
    expect(lab.page.get_by_role("switch", name="Presentation mode")).to_be_checked()
    large = lab.heatmap().locator(".gtitle").evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    assert large > normal
    assert_no_failure(lab, "presentation mode")
    lab.screenshot("presentation")


def test_a_shared_link_reproduces_the_view_in_a_fresh_page(new_lab):
    first = new_lab().open("view=attention&layer=2&head=5&text=The+bank+of+the+river")
    assert heatmap_title(first) == "α′ · layer 2 · head 5"
    assert "5 · river" in first.chips()
    expect(first.sentence_box()).to_have_value("The bank of the river")

    first.step_slider("head")
    first.page.wait_for_url(re.compile(r"[?&]head=6(&|$)"), timeout=EXPECT_MS)
    shared = first.page.url
    assert query_of(shared) == {"layer": "2", "head": "6", "text": "The bank of the river"}

    second = new_lab().goto_url(shared)
    assert heatmap_title(second) == "α′ · layer 2 · head 6"
    assert second.chips() == first.chips()
    expect(second.sentence_box()).to_have_value("The bank of the river")
    assert heatmap_picture(second) == heatmap_picture(first)


def test_typed_html_and_script_show_as_text_and_never_run(lab: LabPage):
    lab.open()
    for text, tokens in HOSTILE:
        lab.type_sentence(text)
        expect(lab.sentence_box()).to_have_value(text)
        chips = [c.split(" · ", 1)[1] for c in lab.chips()]
        assert chips[0] == "[CLS]" and chips[-1] == "[SEP]", chips
        for token in ["<", *tokens, ">"]:
            assert token in chips, f"{text!r}: token {token!r} not shown as text in {chips}"
        ticks = lab.heatmap().locator(".ytick text").all_text_contents()
        assert "1 <" in ticks, ticks
        lab.heatmap().hover()  # the hover label shows the tokens too
        page = lab.page
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator('[data-testid="stMain"] script').count() == 0
        assert page.locator('a[href^="javascript:"]').count() == 0
        assert lab.recorder.dialogs == [], f"{text!r} opened a dialog: {lab.recorder.dialogs}"
        assert_no_failure(lab, text)


def test_png_csv_and_json_downloads(lab: LabPage, tmp_path):
    lab.open({"text": "The bank of the river"})
    page, heatmap = lab.page, lab.heatmap()

    heatmap.hover()
    with page.expect_download(timeout=EXPECT_MS) as png_info:
        heatmap.locator('.modebar-btn[data-title*="png" i]').click()
    png = tmp_path / "heatmap.png"
    png_info.value.save_as(png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, png_info.value.suggested_filename

    tokens = ["0 [CLS]", "1 the", "2 bank", "3 of", "4 the", "5 river", "6 [SEP]"]
    with page.expect_download(timeout=EXPECT_MS) as csv_info:
        page.get_by_role("button", name="Download CSV").click()
    assert csv_info.value.suggested_filename == "alpha_prime_layer3_head1.csv"
    rows = list(csv.reader(io.StringIO(_read(csv_info.value, tmp_path / "a.csv"))))
    assert rows[0] == ["", *tokens]
    assert [r[0] for r in rows[1:]] == tokens
    for row in rows[1:]:
        assert sum(float(v) for v in row[1:]) == pytest.approx(1.0, abs=1e-4)

    with page.expect_download(timeout=EXPECT_MS) as json_info:
        page.get_by_role("button", name="Download JSON").click()
    assert json_info.value.suggested_filename == "alpha_prime_layer3_head1.json"
    payload = json.loads(_read(json_info.value, tmp_path / "a.json"))
    assert payload["rows"] == tokens and payload["columns"] == tokens
    assert len(payload["values"]) == len(tokens)
    for row in payload["values"]:
        assert len(row) == len(tokens)
        assert sum(row) == pytest.approx(1.0, abs=1e-4)
    assert_no_failure(lab, "downloads")


def _read(download, path) -> str:
    download.save_as(path)
    return path.read_text(encoding="utf-8")


def test_the_page_works_offline_no_request_leaves_this_machine(lab: LabPage):
    """Classrooms are often offline: no CDN, no fonts, no telemetry. Every request the page makes,
    while opening and while visiting every view, goes to the app's own loopback server."""
    requests: list[str] = []
    lab.page.on("request", lambda request: requests.append(request.url))
    lab.open()
    for view in [*list(VIEWS)[1:], "attention"]:
        lab.pick_view(VIEWS[view])
    own = urlparse(lab.base_url).netloc
    outside = sorted(
        {
            url
            for url in requests
            if urlparse(url).scheme in ("http", "https", "ws", "wss") and urlparse(url).netloc != own
        }
    )
    assert requests, "no request was seen: the listener is broken"
    assert not outside, f"requests to other hosts: {outside[:5]}"


def test_step_by_step_follows_a_new_sentence_and_keeps_working(lab: LabPage):
    """The soak's failure: after a new sentence the page still sent the query picker's old label ("1 the")
    and the view failed on the next rerun. The picker must show the new sentence's label and work on."""
    lab.open({"view": "steps"})
    picker = lab.page.locator(".st-key-query")
    expect(picker).to_match_aria_snapshot('- combobox "Query token i": 1 the')
    lab.type_sentence("Quantum giraffes dance")
    expect(picker).to_match_aria_snapshot('- combobox "Query token i": 1 quantum')
    lab.step_slider("head")
    lab.step_slider("layer")
    assert_no_failure(lab, "steps after a new sentence")
    expect(lab.main.locator('[data-testid="stAlert"]', has_text="held a value")).to_have_count(0)
