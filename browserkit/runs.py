"""Waiting for the app the way a student's browser sees it: a rerun has finished and its charts are drawn.

No fixed sleeps. The end of a run is read from the server itself: Streamlit sends a ForwardMsg with
`script_finished` over the websocket when a run ends, and the watchers here count those frames. The DOM
alone is not enough: for 50-100 ms after Enter the app still says `data-test-script-state="notRunning"`
and shows the old charts, and counting running→notRunning flips misses fast runs.

After the count goes up, the watcher waits in the DOM until the page shows that run (PAINTED_JS): no
stale elements, no loading skeletons (Plotly's bundle loads on first use), every visible chart drawn.
RunWatcher is for Playwright's sync API (the tests), AsyncRunWatcher for its async API (many students
at once in the benchmarks); both count frames with the same FrameCounter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

RUN_TIMEOUT_S = 90.0  # one rerun of the heaviest view on a 2-core CI machine, with room to spare
POLL_MS = 25  # how often a waiting page is looked at; a benchmark timing single runs asks for less

# A full run ended (with or without a compile error). FINISHED_EARLY_FOR_RERUN means another run follows,
# and FINISHED_FRAGMENT_RUN_SUCCESSFULLY ends a fragment only, so neither says the page is up to date.
FULL_RUN_FINISHES = frozenset({ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR})
# A script_finished ForwardMsg is a few dozen bytes; larger frames carry elements and are not parsed at
# all, which spares the process that watches (it shares the cores with the server) from decoding megabytes.
SMALL_FRAME = 4096

# True once the page shows the last run in full. Charts in closed tabs or sections are not drawn by
# Plotly, so only visible ones must hold an SVG.
PAINTED_JS = """() => {
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


class RunTimeout(AssertionError):
    """No full run finished in time after an action."""


class FrameCounter:
    """Counts the full-run `script_finished` messages among the websocket frames a page receives."""

    def __init__(self) -> None:
        self.finished = 0  # full runs finished since the page opened
        self.finished_at = 0.0  # time.perf_counter() when the last one arrived
        self.statuses: list[str] = []  # every script_finished value seen, by name, for failure messages
        self.bytes = 0  # every frame received, in bytes

    def on_frame(self, payload: str | bytes) -> bool:
        """Take one frame; True when it ended a full run."""
        if isinstance(payload, str):
            return False
        self.bytes += len(payload)
        if len(payload) > SMALL_FRAME:
            return False
        msg = ForwardMsg()
        try:
            msg.ParseFromString(bytes(payload))
        except Exception:  # noqa: BLE001 - not every frame need be a ForwardMsg; it then says nothing
            return False
        if msg.WhichOneof("type") != "script_finished":
            return False
        self.statuses.append(ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished))
        if msg.script_finished not in FULL_RUN_FINISHES:
            return False
        self.finished += 1
        self.finished_at = time.perf_counter()
        return True

    def timed_out(self, timeout_s: float) -> RunTimeout:
        return RunTimeout(
            f"no run finished within {timeout_s:.0f} s (script_finished seen: {self.statuses[-3:] or 'none'})"
        )


class RunWatcher(FrameCounter):
    """For Playwright's sync API: `run(action)` does an action that starts a rerun and waits until it is painted."""

    def __init__(self, page, poll_ms: int = POLL_MS) -> None:
        super().__init__()
        self.page = page
        self.poll_ms = poll_ms
        page.on("websocket", lambda ws: ws.on("framereceived", self.on_frame))

    def wait_for_finish_after(self, before: int, timeout_s: float = RUN_TIMEOUT_S) -> None:
        """Wait until more than `before` full runs have finished (Playwright delivers frames while it waits)."""
        deadline = time.monotonic() + timeout_s
        while self.finished <= before:
            if time.monotonic() > deadline:
                raise self.timed_out(timeout_s)
            self.page.wait_for_timeout(self.poll_ms)

    def wait_painted(self, timeout_s: float = RUN_TIMEOUT_S) -> None:
        self.page.wait_for_function(PAINTED_JS, timeout=timeout_s * 1000, polling=self.poll_ms)

    def run(self, action: Callable[[], object], timeout_s: float = RUN_TIMEOUT_S) -> None:
        """Do `action` (which must start a rerun), then wait until that run finished and is painted."""
        before = self.finished
        action()
        self.wait_for_finish_after(before, timeout_s)
        self.wait_painted(timeout_s)


class AsyncRunWatcher(FrameCounter):
    """The same for Playwright's async API; `on_socket` is also told of every websocket the page opens."""

    def __init__(self, page, poll_ms: int = POLL_MS, on_socket: Callable[[object], None] | None = None) -> None:
        super().__init__()
        self.page = page
        self.poll_ms = poll_ms
        self._changed = asyncio.Event()
        self._on_socket = on_socket
        page.on("websocket", self._watch)

    def _watch(self, ws) -> None:
        ws.on("framereceived", self._on_frame)
        if self._on_socket is not None:
            self._on_socket(ws)

    def _on_frame(self, payload: str | bytes) -> None:
        if self.on_frame(payload):
            self._changed.set()

    async def run(self, action: Callable[[], Awaitable[object]], timeout_s: float = RUN_TIMEOUT_S) -> None:
        """Do `action` (which must start a rerun), then wait until that run finished and is painted."""
        deadline = time.monotonic() + timeout_s
        before = self.finished
        await action()
        while self.finished <= before:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.timed_out(timeout_s)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        remaining = max(deadline - time.monotonic(), 0.001)
        await self.page.wait_for_function(PAINTED_JS, timeout=remaining * 1000, polling=self.poll_ms)
