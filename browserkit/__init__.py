"""Driving Attention Lab in a real browser: one small package for the browser tests (tests/browser/) and
the benchmarks (bench/), so both start servers, launch Chromium and wait for a rerun the same way.

- server.py    streamlit_server(): a script served on a free loopback port; stop(); rss_mb()
- chromium.py  where Debian's Chromium is, the switches it runs with, the window size
- runs.py      the one wait for "the rerun finished and the page shows it painted", for Playwright's
               sync API (RunWatcher) and its async API (AsyncRunWatcher)
- lab.py       LabPage: one page on the app with what a student does, each action waiting for its rerun
"""
