"""Start a Streamlit script as its own server on 127.0.0.1 and stop it again."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90


class ServerError(RuntimeError):
    """The server did not come up; the message holds the end of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def log_tail(log: Path, n: int = 40) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no server log)"
    return "\n".join(lines[-n:]) or "(server log is empty)"


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to the server and anything left in its own process group."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group id is its pid: start_new_session
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def streamlit_server(script: str, log: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """Serve `script` (relative to the repo root) headless on a free loopback port; yields (url, pid)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true"]
    cmd += ["--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    # Files edited while tests run must not put a "source changed" prompt on the page.
    cmd += ["--server.fileWatcherType", "none"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not healthy(url):
            if proc.poll() is not None:
                raise ServerError(
                    f"streamlit exited with code {proc.returncode} before it was healthy:\n{log_tail(log)}"
                )
            if time.monotonic() > deadline:
                raise ServerError(f"streamlit was not healthy at {url} within {START_TIMEOUT_S} s:\n{log_tail(log)}")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        stop(proc)


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def rss_parts_mb(pid: int) -> tuple[float, float]:
    """Resident memory of a process in MB, as (anonymous, file-backed) (Linux). The file-backed part is mostly
    weights memory-mapped from the cache: clean pages the kernel can drop and read again, shared by every process
    that maps the same file."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["RssAnon"].split()[0]) / 1024, int(fields["RssFile"].split()[0]) / 1024
