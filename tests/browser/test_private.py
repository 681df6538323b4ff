"""Private by default: the server README's commands start connects to nothing outside this machine.

Each command (`make run`, `make classroom`) runs under `strace -f`, which records every connect(),
sendto() and sendmsg() of make, the shell and the server, and every bind(). Chromium opens the page and
types a sentence. Then: the server bound the address it should (127.0.0.1 for `make run`, every
interface for `make classroom`), and no socket call named an address outside 127.0.0.0/8 and ::1.
Streamlit looks up the machine's external IP on an outside service when no address is set for it to
print (net_util.get_external_ip); .streamlit/config.toml and the classroom command set one.

Without strace this test is skipped, except in CI (`CI=true`, .ci/run installs it), where it fails.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import time

import pytest

from browserkit.chromium import VIEWPORT
from browserkit.lab import LabPage
from browserkit.server import ROOT, START_TIMEOUT_S, free_port, healthy, log_tail, stop

pytestmark = pytest.mark.browser

TRACED = "trace=connect,sendto,sendmsg,sendmmsg,bind"
ADDRESS = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"')
PORT_OF = re.compile(r"sin6?_port=htons\((\d+)\)")


def addresses(line: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(v4 or v6) for v4, v6 in ADDRESS.findall(line)]


def outside_this_machine(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is loopback too
    return not (address.is_loopback or (mapped is not None and mapped.is_loopback))


@pytest.fixture(scope="module")
def strace() -> str:
    path = shutil.which("strace")
    if path is None:
        message = "strace is not installed (sudo apt-get install -y strace)."
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} The privacy test must run in CI (.ci/run installs it).", pytrace=False)
        pytest.skip(message)
    return path


@pytest.mark.parametrize("target, bound", [("run", "127.0.0.1"), ("classroom", "0.0.0.0")])
def test_the_server_connects_to_nothing_outside_this_machine(target, bound, strace, browser, tmp_path):
    port = free_port()
    trace, log = tmp_path / "strace.txt", tmp_path / "server.log"
    # `-o .venv/.app`: the environment is already set up; make must not reinstall it under strace.
    command = [strace, "-f", "-qq", "-e", TRACED, "-o", str(trace)]
    command += ["make", "--no-print-directory", "-o", ".venv/.app", target, f"PORT={port}"]
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not healthy(url):
            assert proc.poll() is None, f"make {target} exited:\n{log_tail(log)}"
            assert time.monotonic() < deadline, f"make {target} was not healthy in time:\n{log_tail(log)}"
            time.sleep(0.2)
        context = browser.new_context(viewport=VIEWPORT)
        try:
            lab = LabPage(context.new_page(), url).open()
            lab.type_sentence("Nothing I type here leaves this room")
            assert "5 · leaves" in lab.chips()
        finally:
            context.close()
    finally:
        stop(proc)

    lines = trace.read_text(errors="replace").splitlines()
    binds = [line for line in lines if " bind(" in line and PORT_OF.search(line) and f"htons({port})" in line]
    assert binds, f"strace saw no bind() to port {port}: the server was not traced\n{lines[:20]}"
    assert {str(a) for line in binds for a in addresses(line)} == {bound}, binds
    outside = [line for line in lines if " bind(" not in line and any(map(outside_this_machine, addresses(line)))]
    assert not outside, f"make {target} connected outside this machine:\n" + "\n".join(outside[:10])
    printed = log.read_text(errors="replace")
    assert "URL: http://" in printed and "External URL" not in printed, printed


def test_the_trace_would_see_an_outside_connection(strace, tmp_path):
    """The check itself: a connect() to an outside address (refused at once: nothing routes it) is recorded
    and recognised, so an empty list above means no such call happened."""
    trace = tmp_path / "strace.txt"
    probe = (
        "import socket; s = socket.socket(); s.settimeout(0.2)\ntry: s.connect(('192.0.2.1', 9))\nexcept OSError: pass"
    )
    subprocess.run([strace, "-f", "-qq", "-e", TRACED, "-o", str(trace), "python3", "-c", probe], check=True)
    lines = [line for line in trace.read_text().splitlines() if "connect(" in line]
    assert any(outside_this_machine(a) for line in lines for a in addresses(line)), lines


def test_loopback_and_outside_addresses_are_told_apart():
    inside = ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]
    outside = ["192.0.2.1", "10.0.0.5", "8.8.8.8", "2001:db8::1", "::ffff:8.8.8.8"]
    assert not any(outside_this_machine(ipaddress.ip_address(a)) for a in inside)
    assert all(outside_this_machine(ipaddress.ip_address(a)) for a in outside)
    line = 'connect(5, {sa_family=AF_INET6, sin6_port=htons(443), inet_pton(AF_INET6, "2001:db8::1", &sin6_addr)}, 28)'
    assert addresses(line) == [ipaddress.ip_address("2001:db8::1")]
