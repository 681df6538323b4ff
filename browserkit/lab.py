"""LabPage: one browser page on the app, with what a student does (open a link, type a sentence, pick a
view, step a slider), each action waiting until its rerun is finished and painted (runs.RunWatcher).

    lab = LabPage(page, base_url)
    lab.open({"view": "attention"})             # goto + wait for the first run, painted
    lab.run(lambda: box.press("Enter"))          # any action that starts one rerun
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import Locator, Page

from browserkit.runs import POLL_MS, RunWatcher


class LabPage:
    """One browser page on the app, with the actions the tests need; each waits for its rerun to be painted."""

    def __init__(
        self,
        page: Page,
        base_url: str,
        screenshots: Path | None = None,
        recorder: object = None,
        poll_ms: int = POLL_MS,
    ) -> None:
        self.page = page
        self.base_url = base_url
        self.screenshots = screenshots
        self.recorder = recorder  # the tests' PageRecorder: dialogs, console errors, page errors
        self.runs = RunWatcher(page, poll_ms)

    # --- actions ---------------------------------------------------------------------------------------
    def open(self, query: Mapping[str, object] | str = "") -> LabPage:
        """Open the app (with URL parameters) and wait for its first run to be painted."""
        qs = query if isinstance(query, str) else urlencode({k: str(v) for k, v in query.items()})
        url = self.base_url + ("/?" + qs.lstrip("?") if qs else "/")
        self.runs.run(lambda: self.page.goto(url))
        return self

    def goto_url(self, url: str) -> LabPage:
        self.runs.run(lambda: self.page.goto(url))
        return self

    def run(self, action: Callable[[], object]) -> None:
        self.runs.run(action)

    def type_sentence(self, text: str, label: str = "Sentence (press Enter to run)") -> None:
        """Type into the sentence box as a student does, then Enter."""
        self.page.bring_to_front()  # a page in a background tab is throttled
        box = self.sentence_box(label)
        box.fill(text)
        self.run(lambda: box.press("Enter"))

    def pick_view(self, label: str) -> None:
        button = self.page.get_by_role("radio", name=label, exact=True)
        self.run(button.click)

    def step_slider(self, widget_key: str, key: str = "ArrowRight") -> None:
        """Move a slider (found by its widget key, e.g. "head") one step with the keyboard."""
        self.page.bring_to_front()
        slider = self.page.locator(f'.st-key-{widget_key} input[type="range"]')
        slider.focus()
        self.run(lambda: slider.press(key))

    def screenshot(self, name: str, max_height: int = 6000) -> Path:
        """The whole page as `<name>.png`. Streamlit scrolls inside its main element, so full_page alone
        stops at the window; the window is made as tall as the content for the shot, then put back."""
        path = self.screenshots / f"{name}.png"
        size = self.page.viewport_size
        height = self.main.evaluate("el => el.scrollHeight")
        if size and height > size["height"]:
            self.page.set_viewport_size({"width": size["width"], "height": min(height, max_height)})
            self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            self.runs.wait_painted()
        try:
            self.page.screenshot(path=str(path), full_page=True)
        finally:
            if size:
                self.page.set_viewport_size(size)
        return path

    # --- what is on the page -----------------------------------------------------------------------------
    def sentence_box(self, label: str = "Sentence (press Enter to run)") -> Locator:
        return self.page.get_by_role("textbox", name=label, exact=True)

    @property
    def main(self) -> Locator:
        return self.page.locator('[data-testid="stMain"]')

    @property
    def charts(self) -> Locator:
        return self.main.locator('[data-testid="stPlotlyChart"]')

    def chart_titles(self) -> list[str]:
        return self.charts.locator(".gtitle").all_text_contents()

    def chart_with_title(self, prefix: str) -> Locator:
        return self.charts.filter(has=self.page.locator(".gtitle", has_text=prefix))

    def heatmap(self) -> Locator:
        """The one-head α′ heatmap of the Attention view (its title starts with "α′ ·")."""
        return self.chart_with_title("α′ ·").first

    def chips(self) -> list[str]:
        """The token chips, e.g. "2 · animal" (thin spaces around the dot made plain): those drawn in the view, or
        else those behind the header's tokens button ("16 tokens"), opened for the reading and closed again."""
        badges = self.main.locator(".stMarkdownBadge")
        if badges.count() == 0:
            button = self.main.locator(".st-key-token_chips button").first
            if button.count():
                button.click()
                badges = self.page.locator('[data-testid="stPopoverBody"] .stMarkdownBadge')
                badges.first.wait_for()
                texts = badges.all_text_contents()
                self.page.keyboard.press("Escape")
                return [c.replace("\u2009", " ") for c in texts]
        return [c.replace("\u2009", " ") for c in badges.all_text_contents()]

    def exceptions(self) -> Locator:
        return self.page.locator('[data-testid="stException"]')
