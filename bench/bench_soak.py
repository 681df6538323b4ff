"""A soak of one Attention Lab server: 20 students in one Chromium doing random things for 5 minutes.

Each student, after a think time of 1-5 s, does one of: type a new sentence (mostly short, sometimes long,
sometimes hostile: markup, script tags, emoji, Chinese), step the head or layer slider with the keyboard,
switch to another view, switch the language; then waits until the page shows the rerun painted. The server's
resident memory is sampled every 10 s; the first --warmup (60) seconds are warm-up.

Goals: 0 errors (bench/common.py says what counts), server RSS growth after warm-up ≤ 10%.

All students are pages of one headless Chromium on the same 2 cores as the server (see bench_classroom.py).

    .venv/bin/python bench/bench_soak.py [--sessions 20] [--seconds 300] [--warmup 60] [--seed 1]

Run by hand on a quiet machine; never part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402

from bench.common import (  # noqa: E402
    LOGS,
    CpuSample,
    Student,
    classroom_sentence,
    join_class,
    load_average,
    machine_line,
    ms,
    percentile,
    print_problems,
    problems_by_kind,
    times_of,
    visible_pages,
)
from browserkit.chromium import CHROMIUM, LOAD_ARGS  # noqa: E402
from browserkit.server import rss_mb, streamlit_server  # noqa: E402
from components.i18n import LANG_NAMES  # noqa: E402
from components.views import VIEWS, offered  # noqa: E402

THINK_S = (1.0, 5.0)
RSS_EVERY_S = 10.0
# What a student does next, and how often.
ACTIONS = {
    "type": 30,  # a short sentence, 8-20 tokens
    "type_long": 5,  # 100-300 tokens
    "type_odd": 10,  # one of ODD_TEXTS
    "head": 15,
    "layer": 10,
    "view": 20,
    "lang": 10,
}
ODD_TEXTS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)"> and <b>bold</b>',
    "**bold** _it_ $x^2$ :red[red] [link](javascript:alert(1)) `code` # heading",
    "😀 🐱 ❤️ 🚀 🎉 the cat 👩‍👩‍👧 sat",
    "猫坐在垫子上，因为它累了。",
    "我喜欢学习注意力机制，它很有趣！",
    "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ and e\u0301\u0303 combining marks",
    "zero\u200bwidth and right\u202eto left",
    "'; DROP TABLE students; -- {{7*7}} ${7*7} %s %n",
    "a" * 300,
]


SOAK_VIEWS = offered(SimpleNamespace(decoder=False))  # the default model (MiniLM) is an encoder: no Next word


def open_actions(view: str) -> dict[str, int]:
    """The actions the page offers on `view`: Training hides the sentence box, several views the layer and head."""
    shown = VIEWS[view]
    return {
        kind: weight
        for kind, weight in ACTIONS.items()
        if (shown.sentence or not kind.startswith("type")) and (shown.layer_head or kind not in ("head", "layer"))
    }


async def do_something(student: Student, counter: Counter) -> None:
    actions = open_actions(student.view)
    kind = student.rng.choices(list(actions), weights=list(actions.values()))[0]
    counter[kind] += 1
    rng = student.rng
    if kind == "type":
        await student.type_sentence(classroom_sentence(rng, rng.randint(8, 20)), kind)
    elif kind == "type_long":
        await student.type_sentence(classroom_sentence(rng, rng.randint(100, 300)), kind)
    elif kind == "type_odd":
        await student.type_sentence(f"{rng.choice(ODD_TEXTS)} {counter[kind]}", kind)  # never the same twice
    elif kind in ("head", "layer"):
        await student.step_slider(kind)
    elif kind == "view":
        await student.pick_view(rng.choice([v for v in SOAK_VIEWS if v != student.view]))
    else:
        await student.pick_language(next(lang for lang in LANG_NAMES if lang != student.lang))


async def wander(student: Student, end: float, counter: Counter) -> None:
    while True:
        await asyncio.sleep(student.rng.uniform(*THINK_S))
        if time.perf_counter() >= end:
            return
        await do_something(student, counter)


async def sample_rss(pid: int, start: float, end: float, samples: list[tuple[float, float]]) -> None:
    while (now := time.perf_counter()) < end:
        samples.append((now - start, rss_mb(pid)))
        await asyncio.sleep(RSS_EVERY_S - (now - start) % RSS_EVERY_S)
    samples.append((time.perf_counter() - start, rss_mb(pid)))


async def run(args: argparse.Namespace) -> None:
    print(f"# Soak benchmark · {args.sessions} sessions · {args.seconds:.0f} s (warm-up {args.warmup:.0f} s)")
    print(f"\n{machine_line()}")
    print(
        f"\nEvery student is a page of ONE headless Chromium on this machine, so the browser's rendering of "
        f"{args.sessions} pages competes with the server for the same cores (CPU use is reported below)."
    )
    with streamlit_server("app.py", LOGS / "soak-app.log") as (url, pid):
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=LOAD_ARGS)
            try:
                await measure(args, browser, url, pid)
            finally:
                await browser.close()


async def measure(args: argparse.Namespace, browser, url: str, pid: int) -> None:
    students = await join_class(browser, url, args.sessions, args.seed, timeout_s=args.timeout)
    rss_joined = rss_mb(pid)
    print(f"\n{len(students)} students joined; {await visible_pages(students)} pages are visible (not throttled).")
    for s in students:
        s.phase = "soak"
    counter: Counter = Counter()
    samples: list[tuple[float, float]] = []
    cpu0 = CpuSample.take(pid)
    start = time.perf_counter()
    end = start + args.seconds
    await asyncio.gather(sample_rss(pid, start, end, samples), *(wander(s, end, counter) for s in students))
    cpu1 = CpuSample.take(pid)
    samples.append((time.perf_counter() - start, rss_mb(pid)))  # after the last actions finished

    warm = [rss for at, rss in samples if at <= args.warmup]
    rss_warm = warm[-1] if warm else samples[0][1]
    rss_final, rss_max = samples[-1][1], max(rss for _, rss in samples)
    growth = 100 * (rss_final - rss_warm) / rss_warm
    problems = problems_by_kind(students, {"soak"})
    n_errors = sum(problems.values())
    all_times = times_of(students, {"soak"})
    n_actions = sum(a.phase == "soak" for s in students for a in s.actions)

    print("\n| measure | value | goal | met |")
    print("| --- | --- | --- | --- |")
    print(f"| actions | {n_actions} | | |")
    print(f"| action → painted p50 | {ms(percentile(all_times, 50))} | | |")
    print(f"| action → painted p95 | {ms(percentile(all_times, 95))} | | |")
    print(f"| action → painted max | {ms(max(all_times))} | | |")
    all_server = times_of(students, {"soak"}, server=True)
    print(
        f"| action → script_finished received p50 / p95 | {ms(percentile(all_server, 50))} / {ms(percentile(all_server, 95))} | | |"
    )
    print(f"| errors | {n_errors} | 0 | {'yes' if n_errors == 0 else '**no**'} |")
    print(f"| server RSS after {len(students)} joined | {rss_joined:.0f} MB | | |")
    print(f"| server RSS at the end of warm-up ({args.warmup:.0f} s) | {rss_warm:.0f} MB | | |")
    print(f"| server RSS at the end | {rss_final:.0f} MB | | |")
    print(f"| server RSS max | {rss_max:.0f} MB | | |")
    print(f"| RSS growth after warm-up | {growth:+.1f}% | ≤ 10% | {'yes' if growth <= 10 else '**no**'} |")

    print("\n| action | count | p50 | p95 | max | p95 to script_finished | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind in ACTIONS:
        kind_times = times_of(students, {"soak"}, {kind})
        server = times_of(students, {"soak"}, {kind}, server=True)
        acts = [a for s in students for a in s.actions if a.phase == "soak" and a.kind == kind]
        errs = sum(len(a.errors) for a in acts)
        if kind_times:
            p50, p95, top = (ms(x) for x in (percentile(kind_times, 50), percentile(kind_times, 95), max(kind_times)))
            s95 = ms(percentile(server, 95))
        else:
            p50 = p95 = top = s95 = "n/a"
        print(f"| {kind} | {len(acts)} | {p50} | {p95} | {top} | {s95} | {errs} |")

    by_kind = ", ".join(f"{k} {v}" for k, v in problems.most_common()) or "none"
    print(f"\nErrors by kind: {by_kind}")
    print("RSS samples (s: MB): " + ", ".join(f"{at:.0f}: {rss:.0f}" for at, rss in samples))
    print(f"\n{cpu1.since(cpu0)}.")
    print(f"At the end: {load_average()}.")
    print_problems(students, {"open", "soak"})
    for s in students:
        await s.leave()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20, help="students, one browser context each")
    parser.add_argument("--seconds", type=float, default=300, help="length of the soak")
    parser.add_argument("--warmup", type=float, default=60, help="seconds of the soak that are warm-up for RSS")
    parser.add_argument("--seed", type=int, default=1, help="seed of every student's choices")
    parser.add_argument("--timeout", type=float, default=90, help="seconds before an action counts as timed out")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
