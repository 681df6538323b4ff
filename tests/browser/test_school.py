"""A school through nginx (deploy/school.py, as `make school` starts it) with 2 replicas, in Chromium.

Several students open the app through nginx and paint their views; the replica that serves each is named by
the cookie nginx sets. One replica is killed by its process id. Its students' pages reconnect by themselves,
land on the other replica, and come back with the view their URL holds and a notice that the session
restarted; the other students never notice (their websockets stay open, no notice, the page keeps working).
Then Ctrl-C stops nginx and every replica.

Without nginx this is skipped, except in CI (`CI=true`, .ci/run installs it), where it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import expect

from browserkit.chromium import VIEWPORT
from browserkit.lab import LabPage
from browserkit.server import ROOT, free_port, healthy, log_tail
from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser

COOKIE = "attention_lab_replica"
RESTARTED = "The server that held this page stopped"
READY_S = 180  # nginx and every replica answering /_stcore/health (each replica imports torch and loads MiniLM)
GONE_S = 15  # after Ctrl-C: school.py waits for what it stopped, so only reaping is left
RECONNECT_MS = 120_000  # the page notices the dropped socket, reconnects, and the new session runs
VIEW_LABELS = {"attention": "Attention", "qkv": "Q·K·V", "steps": "Steps"}
# What each student opens (the link) and then types (so the sentence reaches the URL through the page).
STUDENTS = [
    ({"view": "qkv", "layer": "2", "head": "5"}, "The bank of the river"),
    ({"view": "steps", "query": "4"}, "I saw a saw"),
    ({"view": "attention", "layer": "4", "head": "7"}, "Students paint attention"),
    ({"view": "attention", "layer": "1", "head": "3"}, "Quantum giraffes dance"),
]


@dataclass
class Student:
    lab: LabPage
    link: dict[str, str]
    sentence: str
    replica: str = ""
    closed_sockets: list[str] = field(default_factory=list)


def wait_until(condition: Callable[[], object], timeout_s: float, failure: Callable[[], str], every_s: float = 0.1):
    """Poll `condition` until it holds and return its value; past `timeout_s`, fail with `failure()`."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(failure())
        time.sleep(every_s)
    return value


def status(run_dir) -> dict:
    with contextlib.suppress(OSError, ValueError):
        return json.loads((run_dir / "status.json").read_text())
    return {}


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def school(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.isfile(nginx):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("nginx is not installed; the school test must run in CI (.ci/run installs it).", pytrace=False)
        pytest.skip("nginx is not installed (sudo apt-get install -y nginx).")
    port, run_dir, log = free_port(), tmp_path / "school", tmp_path / "school.log"
    command = [sys.executable, "deploy/school.py", "--replicas", "2", "--port", str(port), "--run-dir", str(run_dir)]
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def replica_states() -> list[str]:
        return [r["state"] for r in status(run_dir).get("replicas", [])]

    def ready() -> bool:
        assert proc.poll() is None, f"the school exited with {proc.returncode}:\n{log_tail(log)}"
        return healthy(url) and bool(replica_states()) and all(state == "up" for state in replica_states())

    wait_until(
        ready,
        READY_S,
        lambda: (
            f"the school was not ready within {READY_S} s (nginx answers /_stcore/health: {healthy(url)}, "
            f"replicas: {replica_states() or 'none in status.json'}):\n{log_tail(log)}"
        ),
        every_s=0.3,
    )
    try:
        yield url, run_dir, proc
    finally:
        started = [status(run_dir).get("nginx_pid"), *(r["pid"] for r in status(run_dir)["replicas"])]
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        print(log_tail(log, 60))

        def left() -> list[int]:
            return [pid for pid in started if pid and alive(pid)]

        wait_until(
            lambda: not left(),
            GONE_S,
            lambda: f"{GONE_S} s after the school exited, processes it started still run: {left()}",
        )


def replica_of(student: Student) -> str:
    cookies = {c["name"]: c["value"] for c in student.lab.page.context.cookies()}
    return cookies.get(COOKIE, "")


def assert_view_is_back(student: Student) -> None:
    lab, link = student.lab, student.link
    expect(lab.sentence_box()).to_have_value(student.sentence)
    expect(lab.page.get_by_role("radio", name=VIEW_LABELS[link["view"]], exact=True)).to_be_checked()
    for key in ("layer", "head"):
        if key in link:
            expect(lab.page.locator(f'.st-key-{key} input[type="range"]')).to_have_value(link[key])
    if "query" in link:
        expect(lab.page.locator(".st-key-query")).to_match_aria_snapshot('- combobox "Query token i": 4 saw')


def test_a_dead_replica_sends_its_students_to_the_other_with_their_view(school, browser):
    url, run_dir, _ = school
    students: list[Student] = []
    for link, sentence in STUDENTS:
        page = browser.new_context(viewport=VIEWPORT).new_page()
        student = Student(LabPage(page, url, SCREENSHOTS), link, sentence)
        page.on("websocket", lambda ws, s=student: ws.on("close", lambda _ws: s.closed_sockets.append(ws.url)))
        student.lab.open(link)
        student.lab.type_sentence(sentence)
        student.replica = replica_of(student)
        students.append(student)
    try:
        by_replica = {r: [s for s in students if s.replica == r] for r in ("r0", "r1")}
        assert by_replica["r0"] and by_replica["r1"], f"first visits were not spread: {[s.replica for s in students]}"
        victims, others = by_replica["r0"], by_replica["r1"]
        before = {id(s): s.lab.runs.finished for s in students}

        pid = next(r["pid"] for r in status(run_dir)["replicas"] if r["name"] == "r0")
        os.kill(pid, signal.SIGKILL)

        for s in victims:
            s.lab.page.bring_to_front()
            s.lab.runs.wait_for_finish_after(before[id(s)], RECONNECT_MS / 1000)
            expect(s.lab.main.get_by_text(RESTARTED)).to_be_visible(timeout=RECONNECT_MS)
            s.lab.runs.wait_painted()
            assert s.closed_sockets, "the victim's socket never closed: the wrong replica was killed"
            assert replica_of(s) == "r1", f"came back on {replica_of(s)!r}"
            assert_view_is_back(s)
            assert s.lab.exceptions().count() == 0
        victims[0].lab.screenshot("school-reconnected")
        for s in others:
            s.lab.step_slider("head")  # still working, on the same session
            assert not s.closed_sockets, f"a student of the live replica lost its socket: {s.closed_sockets}"
            expect(s.lab.main.get_by_text(RESTARTED)).to_have_count(0)
            assert replica_of(s) == "r1"
            assert s.lab.exceptions().count() == 0
            s.link = {**s.link, "head": str(int(s.link.get("head", 1)) + 1)}
            assert_view_is_back(s)
    finally:
        for s in students:
            s.lab.page.context.close()
