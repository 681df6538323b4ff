"""What the benchmarks in bench/ share: the bundled tokenizer, classroom sentences, and many students at once in
one Chromium (Playwright's async API), each waiting for its reruns with browserkit's AsyncRunWatcher.

A `Student` is one browser context with one page on the app. Its actions (type a sentence, step a slider, pick
a view or a language) each wait until the server said the run finished and the page shows it painted, and
record the time and anything a student would see go wrong: a timeout, an exception box, the app's "could not be
drawn" alert, an uncaught page error, a dialog, a dropped websocket, a crashed tab.

Run by hand only; nothing in tests/ imports this.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import platform
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, Page, WebSocket
from playwright.async_api import Error as PlaywrightError

from browserkit.chromium import VIEWPORT
from browserkit.runs import RUN_TIMEOUT_S, AsyncRunWatcher, RunTimeout
from components.i18n import LANG_NAMES, t
from components.params import DEFAULT_TEXT, VIEWS
from model.families.encoder import bundled_model_dir

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "bench" / "results"
POLL_MS = 20  # how often a waiting page checks the DOM; 20 pages polling every 5 ms would cost the CPU measured

# Common English words; those the bundled (uncased WordPiece) tokenizer keeps as one token make the sentences.
_WORDS = """\
the a cat dog sat on mat while ran far into green hills under bright blue skies and birds sang
teacher student class lesson book page word sentence idea question answer school desk chair window door
river mountain forest city street car bus train road bridge house garden tree flower rain snow sun moon star
morning evening night day week year time people child children friend family mother father brother sister
small big old new young long short happy sad quick slow loud quiet warm cold dark light early late good bad
read write learn teach think know see look watch hear listen speak say tell ask walk run jump swim play sing
eat drink sleep wake open close build find lose keep give take bring carry send buy sell help want need like
love because but so then when where why how what who which this that these those every some many few all
with without over after before near across through between behind beside during about against toward
red yellow white black brown orange purple gray water fire air earth stone paper glass music song story
game ball team field park beach island ocean lake boat ship plane sky cloud wind storm"""


@functools.cache
def tokenizer():
    """The bundled model's tokenizer, without truncation or padding."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


@functools.cache
def one_token_words() -> tuple[str, ...]:
    tok = tokenizer()
    return tuple(dict.fromkeys(w for w in _WORDS.split() if len(tok.encode(w).ids) == 3))  # [CLS] w [SEP]


def classroom_sentence(rng: random.Random, n_tokens: int) -> str:
    """Random words ending in a full stop that the tokenizer splits into exactly n_tokens, [CLS] and [SEP]
    included (n_tokens ≥ 4); each call draws new words from `rng`."""
    words = rng.choices(one_token_words(), k=n_tokens - 3)
    text = " ".join(words).capitalize() + "."
    assert len(tokenizer().encode(text).ids) == n_tokens, text
    return text


# --- statistics -------------------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: a value that was actually observed (p95 of 20 values is the 19th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{1000 * seconds:,.0f} ms"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}×"


# --- the machine ------------------------------------------------------------------------------------------------
def load_average() -> str:
    return "load average (1/5/15 min) " + " / ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_line() -> str:
    return f"{os.cpu_count()} cores · {platform.machine()} · Python {platform.python_version()} · {load_average()}"


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a live process, from /proc (Linux)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _processes() -> dict[int, tuple[int, float]]:
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


def _tree(root: int, procs: dict[int, tuple[int, float]]) -> set[int]:
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _) in procs.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return tree


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by the server, by Chromium with Playwright's driver, and by this script."""

    at: float
    server: float
    browser: float
    bench: float

    @classmethod
    def take(cls, server_pid: int) -> CpuSample:
        procs = _processes()
        server = _tree(server_pid, procs)
        browser = _tree(os.getpid(), procs) - server - {os.getpid()}  # the driver (node) and Chromium under it
        used = lambda pids: sum(procs[p][1] for p in pids if p in procs)  # noqa: E731
        return cls(time.perf_counter(), used(server), used(browser), used({os.getpid()}))

    def since(self, start: CpuSample) -> str:
        wall = self.at - start.at
        parts = [
            f"server {self.server - start.server:.0f} s ({(self.server - start.server) / wall:.2f} cores)",
            f"Chromium + driver {self.browser - start.browser:.0f} s ({(self.browser - start.browser) / wall:.2f} cores)",
            f"this script {self.bench - start.bench:.0f} s ({(self.bench - start.bench) / wall:.2f} cores)",
        ]
        return f"CPU time over {wall:.0f} s of {os.cpu_count()} cores: " + ", ".join(parts)


# --- one student ------------------------------------------------------------------------------------------------
@dataclass
class Action:
    kind: str  # "type", "head", "view", ...
    phase: str  # which part of the benchmark it belongs to
    started: float  # time.perf_counter() when it began
    seconds: float | None  # to painted; None when it failed before that
    server_seconds: float | None = None  # to the server's script_finished message (the run done, not yet drawn)
    errors: tuple[str, ...] = ()


@dataclass
class Problem:
    kind: str  # timeout, exception, view_failed, page_error, dialog, ws_disconnect, crash, action_failed
    phase: str
    detail: str


# Alerts that mean a view failed for this input, in both languages; an exception box always counts.
_PROBLEMS_JS = """(failed) => [
  document.querySelectorAll('[data-testid="stException"]').length,
  [...document.querySelectorAll('[data-testid="stAlert"]')].filter(a => failed.some(f => a.textContent.includes(f))).length,
]"""
_VIEW_FAILED = [t(lang, "app.view_failed") for lang in LANG_NAMES]


@dataclass
class Student:
    """One browser context and page on the app: a student with a laptop."""

    name: str
    page: Page
    url: str
    rng: random.Random
    timeout_s: float = RUN_TIMEOUT_S
    phase: str = "open"
    lang: str = "en"
    view: str = "attention"
    text: str = DEFAULT_TEXT
    actions: list[Action] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    closing: bool = False
    last_painted_at: float = 0.0

    def __post_init__(self) -> None:
        self.runs = AsyncRunWatcher(self.page, POLL_MS, on_socket=self._on_socket)
        self.page.on("pageerror", lambda err: self._problem("page_error", str(err)[:200]))
        self.page.on("dialog", self._on_dialog)
        self.page.on("crash", lambda _page: self._problem("crash", "the tab crashed"))
        self.page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text[:200]))

    @classmethod
    async def join(cls, browser: Browser, url: str, name: str, seed: int, **kwargs) -> Student:
        """A new context and page on the app, opened and painted."""
        context = await browser.new_context(viewport=VIEWPORT)
        student = cls(name, await context.new_page(), url, random.Random(seed), **kwargs)
        await student.reload()
        return student

    # --- events ---
    def _problem(self, kind: str, detail: str) -> None:
        self.problems.append(Problem(kind, self.phase, detail))

    def _on_socket(self, ws: WebSocket) -> None:
        def closed(_ws: WebSocket) -> None:
            if not self.closing:
                self._problem("ws_disconnect", ws.url)

        ws.on("close", closed)
        ws.on("socketerror", lambda err: self._problem("ws_disconnect", str(err)[:200]))

    async def _on_dialog(self, dialog) -> None:
        self._problem("dialog", f"{dialog.type}: {dialog.message[:100]!r}")
        await dialog.dismiss()

    # --- timing ---
    async def act(self, kind: str, action: Callable[[], Awaitable[object]]) -> float | None:
        """Do an action that starts a rerun; seconds until painted, or None (and a problem) if it failed."""
        started = time.perf_counter()
        errors: list[str] = []
        seconds = server_seconds = None
        try:
            await self.runs.run(action, self.timeout_s)
            self.last_painted_at = time.perf_counter()
            seconds = self.last_painted_at - started
            server_seconds = self.runs.finished_at - started
            exceptions, failed = await self.page.evaluate(_PROBLEMS_JS, _VIEW_FAILED)
            errors += ["exception"] * min(exceptions, 1) + ["view_failed"] * min(failed, 1)
        except RunTimeout as err:
            errors.append("timeout")
            detail = str(err)
        except PlaywrightError as err:  # the painted wait timed out, or a widget was not found in time
            errors.append("timeout" if "Timeout" in str(err) else "action_failed")
            detail = str(err).splitlines()[0][:200]
        else:
            detail = f"{kind} on {self.view!r} ({self.lang}), text {self.text[:60]!r}"
        for kind_ in errors:
            self._problem(kind_, f"{self.name}: {detail}")
        self.actions.append(Action(kind, self.phase, started, seconds, server_seconds, tuple(errors)))
        if seconds is None:
            await self.recover()
        return seconds

    async def recover(self) -> None:
        """After a failed action the page's state is unknown: start again from the app's URL."""
        try:
            await self.reload()
        except (RunTimeout, PlaywrightError) as err:
            self._problem("action_failed", f"{self.name}: could not reload: {str(err).splitlines()[0][:200]}")

    async def reload(self) -> None:
        self.lang, self.view, self.text = "en", "attention", DEFAULT_TEXT
        await self.runs.run(lambda: self.page.goto(self.url), self.timeout_s)

    # --- what a student does ---
    def sentence_box(self):
        return self.page.locator('.st-key-text input[type="text"]')

    async def fill(self, text: str) -> None:
        """Type a sentence without pressing Enter (nothing runs yet)."""
        await self.sentence_box().fill(text)
        self.text = text

    async def press_enter(self, kind: str = "type") -> float | None:
        return await self.act(kind, lambda: self.sentence_box().press("Enter"))

    async def type_sentence(self, text: str, kind: str = "type") -> float | None:
        """Type a sentence (it must differ from the one in the box, or nothing reruns) and press Enter."""
        assert text != self.text, "the same sentence again starts no rerun"
        await self.fill(text)
        return await self.press_enter(kind)

    async def step_slider(self, key: str) -> float | None:
        """Move the sidebar slider `key` ("layer" or "head") one step, away from its ends."""
        slider = self.page.locator(f'.st-key-{key} input[type="range"]')
        value, high = await slider.evaluate("e => [Number(e.value), Number(e.max)]")
        if value <= 0 or value >= high:
            step = "ArrowRight" if value <= 0 else "ArrowLeft"
        else:
            step = self.rng.choice(("ArrowRight", "ArrowLeft"))
        await slider.focus()
        return await self.act(key, lambda: slider.press(step))

    async def pick_view(self, view: str) -> float | None:
        """Click the view's button in the segmented control (by its label in the page's language)."""
        assert view != self.view and view in VIEWS, view
        button = self.page.locator(".st-key-view").get_by_role(
            "radio", name=t(self.lang, f"app.view_{view}"), exact=True
        )
        self.view = view
        return await self.act("view", button.click)

    async def pick_language(self, lang: str) -> float | None:
        assert lang != self.lang and lang in LANG_NAMES, lang
        option = self.page.locator('.st-key-lang [data-testid="stRadioOption"]').filter(has_text=LANG_NAMES[lang])
        self.lang = lang
        return await self.act("lang", option.click)

    async def leave(self) -> None:
        self.closing = True
        await self.page.context.close()


async def join_class(
    browser: Browser, url: str, n: int, seed: int, first: Student | None = None, **kwargs
) -> list[Student]:
    """n students, each on a new context, opened one after the other (`first` already is)."""
    students = [first] if first is not None else []
    while len(students) < n:
        students.append(
            await Student.join(browser, url, f"s{len(students):02d}", seed * 1000 + len(students), **kwargs)
        )
    return students


async def visible_pages(students: list[Student]) -> int:
    """How many pages say document.visibilityState == "visible" (a hidden one would stop drawing frames)."""
    states = await asyncio.gather(*(s.page.evaluate("document.visibilityState") for s in students))
    return sum(state == "visible" for state in states)


def problems_by_kind(students: list[Student], phases: set[str]) -> Counter:
    return Counter(p.kind for s in students for p in s.problems if p.phase in phases)


def times_of(
    students: list[Student], phases: set[str], kinds: set[str] | None = None, server: bool = False
) -> list[float]:
    """Seconds to painted (or, with server=True, to the server's script_finished) of the actions that got there."""
    return [
        a.server_seconds if server else a.seconds
        for s in students
        for a in s.actions
        if a.phase in phases and a.seconds is not None and (kinds is None or a.kind in kinds)
    ]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_problems(students: list[Student], phases: set[str], limit: int = 8) -> None:
    """Each kind of problem with a few examples, for the report."""
    found = [p for s in students for p in s.problems if p.phase in phases]
    consoles = Counter(msg for s in students for msg in s.console_errors)
    if found or consoles:
        print("\nProblems seen (the first few of each kind; console errors are not counted as errors):")
    shown: Counter = Counter()
    for p in found:
        if shown[p.kind] < limit:
            print(f"- {p.kind} [{p.phase}] {p.detail}")
        shown[p.kind] += 1
    for msg, count in consoles.most_common(5):
        print(f"- browser console error ×{count}: {msg}")
