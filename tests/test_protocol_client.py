"""The load benchmark's student without a browser (bench/protocol.py) against a real server: it finds the
widgets, its reruns finish, and it sees what a student would see go wrong. Correctness only; its timings
belong to bench/bench_protocol.py."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.protocol import ProtocolSession
from browserkit.server import ServerError, streamlit_server

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[1]


def in_own_loop(coroutine):
    """asyncio.run on a thread of its own: Playwright's sync API (the browser tests' session-wide Chromium)
    keeps an event loop running on the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="module")
def url():
    try:
        with streamlit_server("app.py", ROOT / "artifacts" / "protocol-streamlit.log") as (base, _pid):
            yield base
    except ServerError as err:
        pytest.fail(str(err), pytrace=False)


def test_a_student_without_a_browser_types_picks_and_is_answered(url):
    async def visit():
        s = ProtocolSession(url, {"view": "steps"}, timeout_s=120)
        runs = [await s.open()]
        assert {"text", "view", "layer", "head", "query"} <= set(s.widgets)
        assert (s.n_options("layer"), s.n_options("head")) == (6, 12)
        runs.append(await s.type_sentence("Quantum giraffes dance"))
        runs.append(await s.pick("head", 5))
        runs.append(await s.pick_view("attention"))
        # A query label from another sentence, sent as a tampered message: the app replaces it with a notice,
        # and the client counts that notice as a problem.
        await s.pick_view("steps")
        tampered = await s.rerun("tampered", [s.state("query", string_value="9 nowhere")])
        await s.close()
        return runs, tampered

    runs, tampered = in_own_loop(visit())
    for run in runs:
        assert run.status == "FINISHED_SUCCESSFULLY" and run.seconds is not None and not run.problems, run
        assert run.bytes > 1000, run
    assert tampered.problems == ["state_reset"], tampered


def test_a_page_that_reconnects_to_a_server_without_its_session_is_told_so(url):
    """The frontend names its old session when it reconnects; a server that lost it starts a new one, whose
    first run says the session restarted and restores the view from the link. A fresh visit says nothing."""
    query = {"view": "qkv", "layer": "2", "head": "5", "text": "The bank of the river"}

    async def visit(previous):
        s = ProtocolSession(url, query, timeout_s=120, previous_session=previous)
        run = await s.open()
        await s.close()
        return run

    fresh = in_own_loop(visit(None))
    back = in_own_loop(visit("3f2c9a40-0000-4000-8000-00000000dead"))  # a session this server never had
    restarted = "The server that held this page stopped"
    assert not any(restarted in a for a in fresh.alerts), fresh.alerts
    assert any(restarted in a for a in back.alerts), back.alerts
    assert back.status == fresh.status == "FINISHED_SUCCESSFULLY" and back.bytes > 1000
