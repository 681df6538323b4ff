"""A classroom on one Attention Lab server: 20 students in one Chromium, each typing new sentences.

1. Single session: one page alone presses Enter on new ~16-token sentences; the median time to painted is the
   yardstick for the rest.
2. Classroom: the other students join; for --seconds (120) each types a new short sentence (8-20 tokens, new
   words per student and per time) at random intervals of 5-15 s and waits until the page shows it painted.
   Goals: 0 errors, p95 ≤ 2× the single-session median.
3. Burst: all students press Enter on a new sentence at the same instant. Goals: 0 errors, the last page
   painted within 20× the single-session median.
4. The server's resident memory after the model loaded and after the classroom and the burst. Goal: ≤ 1 GB.

An error is a timeout, an exception box, the app's "could not be drawn" alert, an uncaught page error, a dialog,
a dropped websocket or a crashed tab (bench/common.py). Beside "painted", the tables give the time until the
server's script_finished message reached the browser: the run done, not yet drawn (it still includes any delay
of a busy page in sending the Enter). All students are pages of one headless Chromium on the same 2 cores as
the server, so the browser's own work competes with the server's: the output says how much CPU each used.
Prints Markdown tables.

    .venv/bin/python bench/bench_classroom.py [--sessions 20] [--seconds 120] [--reps 7] [--seed 1]
    .venv/bin/python bench/bench_classroom.py --script bench/floor_app.py   # the same class on the floor page

Run by hand on a quiet machine; never part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

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
    median,
    ms,
    percentile,
    print_problems,
    problems_by_kind,
    times_of,
    visible_pages,
)
from browserkit.chromium import CHROMIUM, LOAD_ARGS  # noqa: E402
from browserkit.server import rss_mb, streamlit_server  # noqa: E402

INTERVAL_S = (5.0, 15.0)  # between one student's Enters
CLASS_TOKENS = (8, 20)  # a classroom sentence, [CLS] and [SEP] included
BASELINE_TOKENS = 16


def new_sentence(student: Student) -> str:
    while (text := classroom_sentence(student.rng, student.rng.randint(*CLASS_TOKENS))) == student.text:
        pass
    return text


async def attend(student: Student, start: float, end: float) -> None:
    """Press Enter on a new sentence at random intervals until the class ends (a run still going then finishes).
    The next arrival is counted from the last one; a student whose page is slower than that goes on at once."""
    arrival = start
    while (arrival := arrival + student.rng.uniform(*INTERVAL_S)) < end:
        await asyncio.sleep(max(0.0, arrival - time.perf_counter()))
        await student.type_sentence(new_sentence(student))


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


async def run(args: argparse.Namespace) -> None:
    print(f"# Classroom benchmark · {args.script} · {args.sessions} sessions · {args.seconds:.0f} s · seed {args.seed}")
    print(f"\n{machine_line()}")
    print(
        f"\nEvery student is a page of ONE headless Chromium on this machine, so the browser's rendering of "
        f"{args.sessions} pages competes with the server for the same cores (CPU use is reported below); "
        "on a real classroom's laptops the server would have its cores to itself."
    )
    with streamlit_server(args.script, LOGS / "classroom-app.log") as (url, pid):
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=LOAD_ARGS)
            try:
                await measure(args, browser, url, pid)
            finally:
                await browser.close()


async def measure(args: argparse.Namespace, browser, url: str, pid: int) -> None:
    # 1. One student alone.
    first = await Student.join(browser, url, "s00", args.seed * 1000, timeout_s=args.timeout)
    rss_loaded = rss_mb(pid)
    rng = random.Random(args.seed)
    for rep in range(args.reps + 1):
        first.phase = "single" if rep else "warm-up"  # the first Enter warms up Plotly and the caches
        await first.type_sentence(classroom_sentence(rng, BASELINE_TOKENS))
    single = times_of([first], {"single"})
    base, base_server = median(single), median(times_of([first], {"single"}, server=True))
    print(f"\nSingle session: median {ms(base)} over {len(single)} Enters on {BASELINE_TOKENS}-token sentences.")

    # 2. The class.
    students = await join_class(browser, url, args.sessions, args.seed, first=first, timeout_s=args.timeout)
    print(f"{len(students)} students joined; {await visible_pages(students)} pages are visible (not throttled).")
    for s in students:
        s.phase = "classroom"
    cpu0 = CpuSample.take(pid)
    start = time.perf_counter()
    await asyncio.gather(*(attend(s, start, start + args.seconds) for s in students))
    cpu1 = CpuSample.take(pid)
    rss_class = rss_mb(pid)

    # 3. The burst: every sentence typed first, then every Enter at once.
    for s in students:
        s.phase = "burst"
        await s.fill(new_sentence(s))
    t0 = time.perf_counter()
    results = await asyncio.gather(*(s.press_enter() for s in students))
    painted = [s.last_painted_at - t0 for s, r in zip(students, results, strict=True) if r is not None]
    cpu2 = CpuSample.take(pid)
    rss_end = rss_mb(pid)

    # Report.
    class_times = times_of(students, {"classroom"})
    class_server = times_of(students, {"classroom"}, server=True)
    class_problems = problems_by_kind(students, {"classroom"})
    burst_problems = problems_by_kind(students, {"burst"})
    n_class = sum(a.phase == "classroom" for s in students for a in s.actions)
    p50, p95 = percentile(class_times, 50), percentile(class_times, 95)
    last = max(painted) if painted else float("nan")
    n_errors = sum(class_problems.values())
    n_burst_errors = sum(burst_problems.values())

    print("\n| measure | value | goal | met |")
    print("| --- | --- | --- | --- |")
    print(f"| single session, Enter → painted (median of {len(single)}) | {ms(base)} | | |")
    print(f"| classroom actions (Enters) | {n_class} | | |")
    print(f"| classroom p50 | {ms(p50)} | | |")
    print(f"| classroom p95 | {ms(p95)} | ≤ {ms(2 * base)} | {verdict(p95 <= 2 * base)} |")
    print(f"| classroom max | {ms(max(class_times))} | | |")
    print(f"| classroom p95 / single | {p95 / base:.2f} | ≤ 2 | {verdict(p95 <= 2 * base)} |")
    print(f"| classroom errors | {n_errors} | 0 | {verdict(n_errors == 0)} |")
    print(f"| single session, Enter → script_finished received (median) | {ms(base_server)} | | |")
    print(f"| classroom, Enter → script_finished received: p50 | {ms(percentile(class_server, 50))} | | |")
    s95 = percentile(class_server, 95)
    print(f"| classroom, Enter → script_finished received: p95 | {ms(s95)} | | |")
    print(f"| that p95 / single | {s95 / base_server:.2f} | | |")
    print(f"| burst: last of {len(students)} painted | {ms(last)} | ≤ {ms(20 * base)} | {verdict(last <= 20 * base)} |")
    print(f"| burst: first painted | {ms(min(painted)) if painted else 'n/a'} | | |")
    print(f"| burst last / single | {last / base:.1f} | ≤ 20 | {verdict(last <= 20 * base)} |")
    print(f"| burst errors | {n_burst_errors} | 0 | {verdict(n_burst_errors == 0)} |")
    print(f"| server RSS after the model loaded | {rss_loaded:.0f} MB | | |")
    print(f"| server RSS after the classroom | {rss_class:.0f} MB | | |")
    print(f"| server RSS after the burst | {rss_end:.0f} MB | ≤ 1024 MB | {verdict(rss_end <= 1024)} |")
    if class_problems or burst_problems:
        kinds = ", ".join(f"{k} {v}" for k, v in (class_problems + burst_problems).most_common())
        print(f"\nErrors by kind (classroom + burst): {kinds}")
    print(f"\nClassroom: {cpu1.since(cpu0)}.")
    print(f"Burst: {cpu2.since(cpu1)}.")
    print(f"At the end: {load_average()}.")
    print_problems(students, {"open", "warm-up", "single", "classroom", "burst"})
    for s in students:
        await s.leave()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20, help="students, one browser context each")
    parser.add_argument("--seconds", type=float, default=120, help="length of the classroom run")
    parser.add_argument("--reps", type=int, default=7, help="single-session Enters timed (after one warm-up)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the sentences and the arrival times")
    parser.add_argument(
        "--script", default="app.py", help="the page to serve: app.py, or bench/floor_app.py for the platform's floor"
    )
    parser.add_argument("--timeout", type=float, default=90, help="seconds before an action counts as timed out")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
