"""Waiting for the app the way a student's browser sees it: a rerun has finished and its charts are drawn.

No fixed sleeps. The end of a run is read from the server itself: Streamlit sends a ForwardMsg with
`script_finished` over the websocket when a run ends, and `RunWatcher` counts those frames. The DOM alone
is not enough: for 50-100 ms after Enter the app still says `data-test-script-state="notRunning"` and shows
the old charts, and counting running→notRunning flips misses fast runs.

After the count goes up, `wait_painted` waits in the DOM until the page shows that run: no stale elements,
no loading skeletons (Plotly's bundle loads on first use), and every visible chart drawn.

    lab = LabPage(page, base_url)
    lab.open({"view": "attention"})             # goto + wait for the first run, painted
    lab.run(lambda: box.press("Enter"))          # any action that starts one rerun
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import Locator, Page, WebSocket
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

RUN_TIMEOUT_S = 90.0  # one rerun of the heaviest view on a 2-core CI machine, with room to spare
POLL_MS = 25  # how often Python looks at the frame count (Playwright delivers events while it waits)

# A full run ended (with or without a compile error). FINISHED_EARLY_FOR_RERUN means another run follows,
# and FINISHED_FRAGMENT_RUN_SUCCESSFULLY ends a fragment only, so neither says the page is up to date.
FULL_RUN_FINISHES = frozenset({ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR})

# True once the page shows the last run in full. Charts in closed tabs or sections are not drawn by
# Plotly, so only visible ones must hold an SVG.
_PAINTED_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') === 'running') return false;
  if (app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  if (document.querySelector('[data-stale="true"]')) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  for (const chart of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    if (chart.checkVisibility() && !chart.querySelector('.main-svg')) return false;
  }
  return true;
}"""


class RunWatcher:
    """Counts the full-run `script_finished` messages the server sends to one page."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.finished = 0  # full runs finished since the page opened
        self.statuses: list[str] = []  # every script_finished value seen, by name, for failure messages
        page.on("websocket", self._watch)

    def _watch(self, ws: WebSocket) -> None:
        ws.on("framereceived", self._on_frame)

    def _on_frame(self, payload: str | bytes) -> None:
        if isinstance(payload, str):
            return
        msg = ForwardMsg()
        try:
            msg.ParseFromString(bytes(payload))
        except Exception:  # noqa: BLE001 - not every frame need be a ForwardMsg; it then says nothing
            return
        if msg.WhichOneof("type") != "script_finished":
            return
        self.statuses.append(ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished))
        if msg.script_finished in FULL_RUN_FINISHES:
            self.finished += 1

    def wait_for_finish_after(self, before: int, timeout_s: float = RUN_TIMEOUT_S) -> None:
        """Wait until more than `before` full runs have finished."""
        deadline = time.monotonic() + timeout_s
        while self.finished <= before:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no run finished within {timeout_s:.0f} s (script_finished seen: {self.statuses or 'none'})"
                )
            self.page.wait_for_timeout(POLL_MS)

    def run(self, action: Callable[[], object], timeout_s: float = RUN_TIMEOUT_S) -> None:
        """Do `action` (which must start a rerun), then wait until that run finished and is painted."""
        before = self.finished
        action()
        self.wait_for_finish_after(before, timeout_s)
        wait_painted(self.page, timeout_s)


def wait_painted(page: Page, timeout_s: float = RUN_TIMEOUT_S) -> None:
    """Wait until the DOM shows the finished run: nothing stale, no skeletons, every visible chart drawn."""
    page.wait_for_function(_PAINTED_JS, timeout=timeout_s * 1000, polling=POLL_MS)


class LabPage:
    """One browser page on the app, with the actions the tests need; each waits for its rerun to be painted."""

    def __init__(self, page: Page, base_url: str, screenshots: Path, recorder: object = None) -> None:
        self.page = page
        self.base_url = base_url
        self.screenshots = screenshots
        self.recorder = recorder  # conftest's PageRecorder: dialogs, console errors, page errors
        self.runs = RunWatcher(page)

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
            wait_painted(self.page)
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
        """The token chips, e.g. "2 · animal" (thin spaces around the dot made plain)."""
        return [c.replace("\u2009", " ") for c in self.main.locator(".stMarkdownBadge").all_text_contents()]

    def exceptions(self) -> Locator:
        return self.page.locator('[data-testid="stException"]')
