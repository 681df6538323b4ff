"""Attention Lab in real Chromium against the platform's floor page, measured in one run.

For 16, 128 and 512 tokens: time from pressing Enter to every visible chart of the Attention view
painted, alternating with the floor page (bench/floor_app.py: one text box, one Plotly heatmap of
the same size, no model) served beside the app; websocket bytes received per rerun; time from a
head change to painted; the server's resident memory. Prints medians and ratios as a Markdown table.

    .venv/bin/python bench/bench_browser.py [--reps 7]

Run by hand on a quiet machine; never part of the tests.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from bench.common import tokenizer  # noqa: E402
from browserkit.chromium import ARGS, CHROMIUM, VIEWPORT  # noqa: E402
from browserkit.runs import RunWatcher  # noqa: E402
from browserkit.server import rss_mb, streamlit_server  # noqa: E402

POLL_MS = 5  # finer than the tests need: a benchmark should not round its times up by 25 ms
LOGS = ROOT / "bench" / "results"
WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "while",
    "dogs",
    "ran",
    "far",
    "into",
    "green",
    "hills",
    "under",
    "bright",
    "blue",
    "skies",
    "and",
    "birds",
    "sang",
]
BOX = "Sentence (press Enter to run)"


def sentence(n_tokens: int, seed: int) -> str:
    """A sentence that the bundled tokenizer splits into exactly n_tokens, [CLS] and [SEP] included."""
    tok = tokenizer()
    words = [WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(n_tokens - 2)]
    text = " ".join(words)
    assert len(tok.encode(text).ids) == n_tokens, "every word in WORDS must be one token"
    return text


class Session:
    """One page on one server, with its run watcher and a byte counter for the websocket."""

    def __init__(self, page: Page, url: str):
        self.page, self.url = page, url
        self.runs = RunWatcher(page, POLL_MS)
        self.runs.run(lambda: page.goto(url))

    @property
    def bytes(self) -> int:
        return self.runs.bytes

    def timed(self, action) -> tuple[float, int]:
        """Seconds from the action to the rerun painted, and bytes received meanwhile."""
        self.page.bring_to_front()
        b0, t0 = self.bytes, time.perf_counter()
        self.runs.run(action)
        return time.perf_counter() - t0, self.bytes - b0

    def enter(self, text: str) -> tuple[float, int]:
        box = self.page.get_by_label(BOX)
        box.fill(text)
        return self.timed(lambda: box.press("Enter"))

    def next_head(self) -> tuple[float, int]:
        slider = self.page.locator('.st-key-head input[type="range"], .st-key-head [role="slider"]').first
        slider.focus()
        return self.timed(lambda: slider.press("ArrowRight"))


def median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="timed repetitions per length (after one warm-up)")
    args = parser.parse_args()

    print(f"# Browser benchmark · {platform.processor() or platform.machine()} · {platform.python_version()}")
    with (
        streamlit_server("app.py", LOGS / "bench-app.log") as (app_url, app_pid),
        streamlit_server("bench/floor_app.py", LOGS / "bench-floor.log") as (floor_url, _),
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        app = Session(browser.new_context(viewport=VIEWPORT).new_page(), app_url)
        floor = Session(browser.new_context(viewport=VIEWPORT).new_page(), floor_url)
        rss_loaded = rss_mb(app_pid)

        print("\n| tokens | app ms | floor ms | app / floor | app bytes per rerun | floor bytes |")
        print("| --- | --- | --- | --- | --- | --- |")
        for n in (16, 128, 512):
            times = {"app": [], "floor": []}
            sizes = {"app": [], "floor": []}
            for rep in range(args.reps + 1):
                text = sentence(n, seed=rep + n)  # a new sentence every time: no cached trace
                for name, session in (("app", app), ("floor", floor)):
                    t, b = session.enter(text)
                    if rep:  # the first round warms up Plotly's bundle and the caches
                        times[name].append(t)
                        sizes[name].append(b)
            a, f = median_ms(times["app"]), median_ms(times["floor"])
            print(
                f"| {n} | {a:.0f} | {f:.0f} | {a / f:.2f} | {statistics.median(sizes['app']) / 1e6:.2f} MB"
                f" | {statistics.median(sizes['floor']) / 1e6:.2f} MB |",
                flush=True,
            )

        print("\n| head change → painted (16 tokens) | app ms | floor ms | app / floor |")
        print("| --- | --- | --- | --- |")
        text = sentence(16, seed=99)
        app.enter(text)
        floor.enter(text)
        head_times = {"app": [], "floor": []}
        for _ in range(args.reps):
            for name, session in (("app", app), ("floor", floor)):
                head_times[name].append(session.next_head()[0])
        a, f = median_ms(head_times["app"]), median_ms(head_times["floor"])
        print(f"| head +1 | {a:.0f} | {f:.0f} | {a / f:.2f} |")
        print(f"\nServer RSS: {rss_loaded:.0f} MB after the model loaded, {rss_mb(app_pid):.0f} MB at the end.")
        browser.close()


if __name__ == "__main__":
    main()
