"""Debian's Chromium as the tests and benchmarks run it: where it is, its switches, the window size."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("ATTENTION_LAB_CHROMIUM", "/usr/bin/chromium"))  # Debian's; override for another
# Headless, and nothing of Chromium's own that would reach the network (updates, sync, QUIC probes).
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Many students as pages of one headless Chromium: Chromium slows the timers and lowers the priority of
# renderers it takes for background tabs or hidden windows, which would make the pages' own work look
# slower than on laptops each in front of a student. These switches turn that off.
LOAD_ARGS = [
    *ARGS,
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
VIEWPORT = {"width": 1400, "height": 1000}
