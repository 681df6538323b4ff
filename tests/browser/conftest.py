"""Fixtures for the real-browser tests: one Streamlit server and one Chromium for the whole session,
a fresh browser context per test.

- `app_url`   the running app, e.g. "http://127.0.0.1:41234" (started here, stopped at the end)
- `browser`   Debian's Chromium through Playwright (missing: fails in CI, skips elsewhere)
- `new_lab`   factory: `new_lab()` → a `LabPage` (browserkit/lab.py) on a new context and page, 1400×1000, downloads
              on, recording console errors, page errors and dialogs; any dialog or uncaught page error
              fails the test (at teardown). As many pages as a test needs, all closed afterwards.
- `lab`       one such `LabPage`: the page plus its run watcher and actions that wait for their rerun
- `page`      the Playwright page of `lab`

Screenshots go to SCREENSHOTS (artifacts/screenshots/ at the repo root, git-ignored); the terminal summary
says where, and how many browser tests ran.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from browserkit.chromium import ARGS, CHROMIUM, VIEWPORT
from browserkit.lab import LabPage
from browserkit.server import ServerError, streamlit_server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
SERVER_LOG = ARTIFACTS / "browser-streamlit.log"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason} Browser tests must run in CI (.ci/run installs Chromium).", pytrace=False)
    pytest.skip(f"{reason} Install it with: sudo apt-get install -y chromium fonts-noto-cjk")


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    """The app served by its own `streamlit run` on 127.0.0.1, for the whole session."""
    try:
        with streamlit_server("app.py", SERVER_LOG) as (url, _pid):
            yield url
    except ServerError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, for the whole session (each launch gets a fresh temp profile)."""
    if not CHROMIUM.is_file():
        _unavailable(f"Chromium is not installed at {CHROMIUM} (or set ATTENTION_LAB_CHROMIUM to its path).")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("The Python package playwright is missing (pip install -r requirements-dev.txt).")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class PageRecorder:
    """What a page said that a student would notice: dialogs (never allowed), console errors, page errors."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []

    def attach(self, page) -> None:
        page.on("dialog", self._on_dialog)
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda err: self.page_errors.append(str(err)))

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message!r}")
        dialog.dismiss()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the test item, so fixtures can tell at teardown that the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def new_lab(request, browser, app_url) -> Iterator[Callable[[], LabPage]]:
    """A factory of `LabPage`s, each on a fresh browser context; all are checked and closed afterwards.
    When the test failed, each of its pages is saved as FAILED-<test>-<n>.png next to the screenshots."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    opened: list[tuple[object, PageRecorder]] = []
    pages: list[object] = []

    def make() -> LabPage:
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        page = context.new_page()
        recorder = PageRecorder()
        recorder.attach(page)
        opened.append((context, recorder))
        pages.append(page)
        return LabPage(page, app_url, SCREENSHOTS, recorder)

    yield make
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for n, page in enumerate(pages):
            with contextlib.suppress(Exception):  # a page that is gone has nothing to show
                page.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}-{n}.png"))
    problems = []
    for context, recorder in opened:
        context.close()
        if recorder.dialogs:
            problems.append(f"dialogs opened: {recorder.dialogs}")
        if recorder.page_errors:
            problems.append(f"uncaught page errors: {recorder.page_errors}")
        if recorder.console_errors:
            print(f"\nbrowser console errors: {recorder.console_errors}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture
def lab(new_lab) -> LabPage:
    return new_lab()


@pytest.fixture
def page(lab):
    """The Playwright page under `lab`, for tests that drive it directly."""
    return lab.page


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    counts: dict[str, int] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if "browser" not in getattr(report, "keywords", {}):
                continue
            if outcome == "passed" and report.when != "call":
                continue
            counts[outcome] = counts.get(outcome, 0) + 1
    if not counts:
        return
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
    terminalreporter.write_sep("-", "browser tests")
    terminalreporter.write_line(f"browser tests: {summary}")
    terminalreporter.write_line(f"screenshots: {SCREENSHOTS}")
    terminalreporter.write_line(f"server log: {SERVER_LOG}")
