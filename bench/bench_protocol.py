"""Students without a browser: one Attention Lab server under simulated students that speak Streamlit's own
websocket protocol (bench/protocol.py), so the server is measured alone: no page is drawn anywhere.

A student joins (a first visit: the page's first run), then, every 5-15 s (--interval), does one thing and
waits for the run's script_finished: a new sentence of 8-20 tokens (half the time), the head or the layer
one step on, or another view. The turnaround is the time from sending the rerun to its script_finished.

1. Single: one student alone does --reps things of the same mix back to back, then --paced-reps more, each
   --interval after the last, as the class acts. The yardstick ("single") is the median turnaround of the
   paced new sentences (a sentence is what a class sends most): a server that idled a few seconds answers
   more slowly than a busy one, and every student in a class acts after a pause.
2. Class: --students (40) join over --join (10) s and work for --seconds (120). p50 / p95 / max of the
   turnaround (all actions, and each kind), errors, the server's CPU and resident memory. The goal compares
   the class's new sentences with the single student's: p95 ≤ 2× single. --runs K does 1 and 2 K times, each on
   a fresh server, and prints the median of the K runs' p95 / single.
3. CPU per view (--profile, the default; not with --url, whose server runs elsewhere): after the (last) class, on
   the same server, one student alone does on every view each action the class does (a first visit at
   ?view=<view>, a new sentence, the head and the layer one step, arriving from another view) PROFILE_REPS
   times after a warm-up, and the server's CPU time is read from /proc around each: a table of view × action,
   the median CPU ms and turnaround, the costliest view first.
4. Sweep (--sweep 10,20,40,100,200): the class again for each count, each on a fresh server. The number of
   students one server (a replica of `make school`) holds is the largest count whose sentence p95 stays
   ≤ 2× single with 0 errors.

Errors, which must be 0: an exception on the page, the app's "could not be drawn" alert, a notice that the
app had to replace widget state, a run that never finished (--timeout) or ended with a compile error, a
dropped websocket, a model the server does not offer. --model (repeatable) mixes models by name: student i
opens the page with ?model=<the i-th name, in turn>; names are those the sidebar offers.

    .venv/bin/python bench/bench_protocol.py [--students 40] [--seconds 120] [--runs 3] [--sweep 10,20,40,100,200]
    .venv/bin/python bench/bench_protocol.py --url http://127.0.0.1:8080   # a running school, through nginx

Run by hand on a quiet machine; never part of the tests. This script shares the cores with the server;
its own CPU use is printed beside the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    LOGS,
    CpuSample,
    classroom_sentence,
    load_average,
    machine_line,
    ms,
    percentile,
)
from bench.protocol import ProtocolSession, Run  # noqa: E402
from browserkit.server import rss_mb, rss_parts_mb, streamlit_server  # noqa: E402
from components.views import VIEWS, offered  # noqa: E402
from model.registry import BUILT_IN, DEFAULT_MODEL  # noqa: E402

ACTIONS = {"type": 50, "head": 20, "layer": 10, "view": 20}  # what a student does next, and how often
DECODERS = tuple(name for name in BUILT_IN if "SmolLM2" in name or "Gemma" in name)
PROFILE_REPS = 5  # each action on each view, by one student alone, for the server's CPU per action
SENTENCE_TOKENS = (8, 20)
RSS_EVERY_S = 2.0


class Student:
    """A simulated student: a ProtocolSession and its own random choices."""

    def __init__(self, url: str, name: str, seed: int, model: str, timeout_s: float) -> None:
        self.name = name
        self.rng = random.Random(seed)
        query = {} if model == DEFAULT_MODEL else {"model": model}
        self.session = ProtocolSession(url, query, timeout_s)
        self.view, self.layer, self.head, self.text = "attention", 3, 1, ""
        self.views = offered(SimpleNamespace(decoder=model in DECODERS))  # the decoders have Next word

    def actions(self) -> dict[str, int]:
        """What the page offers on the current view: Training hides the sentence box, several views the layer
        and head."""
        shown = VIEWS[self.view]
        return {
            kind: weight
            for kind, weight in ACTIONS.items()
            if (shown.sentence or kind != "type") and (shown.layer_head or kind not in ("head", "layer"))
        }

    async def join(self) -> Run:
        try:
            return await self.session.open()
        except (OSError, TimeoutError) as err:  # the websocket could not be opened at all
            run = Run("open", time.perf_counter(), problems=[f"connect_failed: {type(err).__name__}"])
            self.session.runs.append(run)
            return run

    async def act(self) -> Run:
        actions = self.actions()
        kind = self.rng.choices(list(actions), weights=list(actions.values()))[0]
        s = self.session
        if s.closed_unexpectedly or "text" not in s.widgets:
            return await s.rerun(kind)  # records the dropped socket or the missing page
        if kind == "type":
            while (text := classroom_sentence(self.rng, self.rng.randint(*SENTENCE_TOKENS))) == self.text:
                pass
            self.text = text
            return await s.type_sentence(text)
        if kind == "view":
            self.view = self.rng.choice([v for v in self.views if v != self.view])
            return await s.pick_view(self.view)
        value, high = (self.head, s.n_options("head") - 1) if kind == "head" else (self.layer, s.n_options("layer") - 1)
        value = value + 1 if value < high and (value == 0 or self.rng.random() < 0.5) else value - 1
        if kind == "head":
            self.head = value
        else:
            self.layer = value
        return await s.pick(kind, value)


def students_for(url: str, n: int, seed: int, models: list[str], timeout_s: float, first: int = 0) -> list[Student]:
    return [
        Student(url, f"s{i:03d}", seed * 10_000 + i, models[i % len(models)], timeout_s)
        for i in range(first, first + n)
    ]


async def work(student: Student, end: float, interval: tuple[float, float]) -> None:
    """Act at random intervals until `end`; the next action is due `interval` after the last one began."""
    due = time.perf_counter()
    while (due := due + student.rng.uniform(*interval)) < end:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await student.act()


async def sample_rss(pid: int | None, stop: asyncio.Event, samples: list[float]) -> None:
    while pid is not None and not stop.is_set():
        with contextlib.suppress(OSError, RuntimeError):
            samples.append(rss_mb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RSS_EVERY_S)


def summary(runs: list[Run]) -> dict:
    times = [r.seconds for r in runs if r.seconds is not None]
    problems = Counter(p.split(":")[0] for r in runs for p in r.problems)
    return {
        "n": len(runs),
        "p50": percentile(times, 50) if times else float("nan"),
        "p95": percentile(times, 95) if times else float("nan"),
        "max": max(times) if times else float("nan"),
        "errors": sum(problems.values()),
        "problems": problems,
    }


async def single(url: str, args: argparse.Namespace) -> tuple[float, dict[str, list[float]], dict[str, list[float]]]:
    """One student alone, first back to back (--reps actions), then paced as the class is (--paced-reps actions,
    each --interval after the last). The yardstick is the median of the paced new sentences: a server left idle
    for a few seconds answers more slowly than one kept busy (on this project's machine a plain torch forward
    pass takes 3-4x as long after 3-8 s of idling), and every student of a class acts after a pause, so the
    back-to-back times would make any class look slow. Returns (yardstick, back-to-back times, paced times)."""
    student = Student(url, "alone", args.seed, args.model[0], args.timeout)
    await student.join()
    await student.act()  # warm-up: caches, the first figure of each kind
    hot = [await student.act() for _ in range(args.reps)]
    paced = []
    for _ in range(args.paced_reps):
        await asyncio.sleep(student.rng.uniform(*args.interval))
        paced.append(await student.act())
    await student.session.close()
    bad = summary(hot + paced)["problems"]
    if bad:
        print(f"\n**Single student had problems: {dict(bad)}**")
    by_kind_hot, by_kind_paced = _by_kind(hot), _by_kind(paced)
    sentences = by_kind_paced.get("type") or by_kind_hot["type"]
    return statistics.median(sentences), by_kind_hot, by_kind_paced


PROFILE_KINDS = ("open", "type", "head", "layer", "view")  # the class's actions, in the profile table's order


async def cpu_by_view(url: str, pid: int, args: argparse.Namespace) -> dict[tuple[str, str], tuple[list, list]]:
    """The server's CPU milliseconds per action, by view: one student alone on a quiet server does, on every view,
    each action the view offers PROFILE_REPS times, one after another, and the server's CPU time (every thread,
    from /proc) is read around each. The actions: a first visit to the page at ?view=<view> (open), a new sentence,
    the head and the layer one step, and arriving from another view. Returns {(view, action): (CPU ms, wall ms)}."""
    model = args.model[0]
    views = offered(SimpleNamespace(decoder=model in DECODERS))
    query = {} if model == DEFAULT_MODEL else {"model": model}
    samples: dict[tuple[str, str], tuple[list, list]] = {}

    async def measure(view: str, kind: str, action, keep: bool) -> None:
        before = CpuSample.take(pid)
        run = await action
        after = CpuSample.take(pid)
        cpu, wall = samples.setdefault((view, kind), ([], []))
        if keep and run.seconds is not None and not run.problems:
            cpu.append((after.server - before.server) * 1000)
            wall.append(run.seconds * 1000)

    for view in views:
        shown, origin = VIEWS[view], next(v for v in views if v != view)
        # The first of each action is a warm-up (the view's module imported, its first figure of a kind).
        for i in range(PROFILE_REPS + 1):
            session = ProtocolSession(url, {**query, "view": view}, args.timeout)
            await measure(view, "open", session.open(), keep=i > 0)
            await session.close()
        student = Student(url, f"profile-{view}", args.seed, model, args.timeout)
        await student.join()
        s = student.session
        await s.pick_view(view)
        kinds = ["type"] * shown.sentence + ["head", "layer"] * shown.layer_head + ["view"]
        for kind in kinds:
            for i in range(PROFILE_REPS + 1):
                if kind == "view":
                    await s.pick_view(origin)
                    action = s.pick_view(view)
                elif kind == "type":
                    action = s.type_sentence(classroom_sentence(student.rng, student.rng.randint(*SENTENCE_TOKENS)))
                else:
                    action = s.pick(kind, (i + 1) % s.n_options(kind))  # never the value it holds
                await measure(view, kind, action, keep=i > 0)
        await s.close()
    return samples


def print_cpu_by_view(samples: dict[tuple[str, str], tuple[list, list]]) -> None:
    """A table of view × action: median server CPU ms (median turnaround ms), the costliest view first."""

    def cell(cpu: list[float], wall: list[float]) -> str:
        return f"{statistics.median(cpu):.0f} ({statistics.median(wall):.0f})" if cpu else ""

    def costliest(view: str) -> float:
        return max((statistics.median(cpu) for (v, _), (cpu, _) in samples.items() if v == view and cpu), default=0)

    pooled = {kind: ([], []) for kind in PROFILE_KINDS}
    for (_, kind), (cpu, wall) in samples.items():
        pooled[kind][0].extend(cpu)
        pooled[kind][1].extend(wall)
    print(f"\n## Server CPU per action, by view (one student alone, median of {PROFILE_REPS})\n")
    print(
        "Each cell: the server's CPU ms (the turnaround in ms); empty: the view does not offer the action. The kernel "
        "counts CPU in clock ticks (10 ms), so a cell is good to about 10 ms.\n"
    )
    print("| view | " + " | ".join(PROFILE_KINDS) + " |")
    print("| --- |" + " --- |" * len(PROFILE_KINDS))
    for view in sorted({v for v, _ in samples}, key=costliest, reverse=True):
        print(f"| {view} | " + " | ".join(cell(*samples.get((view, k), ([], []))) for k in PROFILE_KINDS) + " |")
    print("| every view | " + " | ".join(cell(*pooled[kind]) for kind in PROFILE_KINDS) + " |")
    every = [x for cpu, _ in pooled.values() for x in cpu]
    if every:
        print(f"\nMedian server CPU per action, every view and action: {statistics.median(every):.0f} ms.")
    if failed := sum(PROFILE_REPS - len(cpu) for cpu, _ in samples.values()):
        print(f"\n**{failed} profiled actions failed or had problems; they are left out.**")


def _by_kind(runs: list[Run]) -> dict[str, list[float]]:
    by_kind: dict[str, list[float]] = {}
    for run in runs:
        if run.seconds is not None:
            by_kind.setdefault(run.kind, []).append(run.seconds)
    return by_kind


async def a_class(url: str, pid: int | None, n: int, args: argparse.Namespace) -> dict:
    """n students join over args.join seconds, then work for args.seconds; the numbers of the working part."""
    students = students_for(url, n, args.seed, args.model, args.timeout)
    stop, rss = asyncio.Event(), []
    sampler = asyncio.create_task(sample_rss(pid, stop, rss))
    cpu0 = CpuSample.take(pid) if pid else None

    async def join_later(student: Student, delay: float) -> None:
        await asyncio.sleep(delay)
        await student.join()

    await asyncio.gather(*(join_later(s, args.join * i / max(n, 1)) for i, s in enumerate(students)))
    opens = [s.session.runs[0] for s in students]
    start = time.perf_counter()
    await asyncio.gather(*(work(s, start + args.seconds, tuple(args.interval)) for s in students))
    cpu1 = CpuSample.take(pid) if pid else None
    stop.set()
    await sampler
    for s in students:
        await s.session.close()
    runs = [r for s in students for r in s.session.runs[1:]]
    result = summary(runs)
    result["open"] = summary(opens)
    result["by_kind"] = {kind: summary([r for r in runs if r.kind == kind]) for kind in ACTIONS}
    result["rss_max"] = max(rss) if rss else float("nan")
    result["rss_end"] = rss[-1] if rss else float("nan")
    result["rss_parts_end"] = rss_parts_mb(pid) if pid else (float("nan"), float("nan"))
    result["cpu"] = cpu_line(cpu0, cpu1)
    result["received_mb"] = sum(r.bytes for r in runs) / 1e6
    return result


def problem_kinds(result: dict) -> str:
    kinds = result["problems"] + result["open"]["problems"]
    return "(" + (", ".join(f"{k} {v}" for k, v in kinds.most_common()) or "none") + ")"


def cpu_line(before: CpuSample | None, after: CpuSample | None) -> str:
    if before is None or after is None:
        return "Server CPU not measured (--url)"
    wall = after.at - before.at
    server, bench = after.server - before.server, after.bench - before.bench
    return (
        f"CPU over {wall:.0f} s: server {server:.0f} s ({server / wall:.2f} cores), "
        f"this script {bench:.0f} s ({bench / wall:.2f} cores), of {os.cpu_count()} cores"
    )


def mb(value: float) -> str:
    return "n/a" if value != value else f"{value:.0f} MB"


def print_class(n: int, result: dict, base: float) -> None:
    print(f"\n### {n} students, {result['n']} actions\n")
    print("| measure | value |")
    print("| --- | --- |")
    typed = result["by_kind"]["type"]
    print(f"| new sentence p50 / p95 / max | {ms(typed['p50'])} / {ms(typed['p95'])} / {ms(typed['max'])} |")
    print(f"| new sentence p95 / single (goal ≤ 2) | {typed['p95'] / base:.2f} |")
    print(f"| every action p50 / p95 / max | {ms(result['p50'])} / {ms(result['p95'])} / {ms(result['max'])} |")
    print(f"| first visit (join) p50 / p95 | {ms(result['open']['p50'])} / {ms(result['open']['p95'])} |")
    errors = result["errors"] + result["open"]["errors"]
    print(f"| errors (goal 0) | {errors} {problem_kinds(result)} |")
    print(f"| server RSS max / at the end | {mb(result['rss_max'])} / {mb(result['rss_end'])} |")
    anon, mapped = result["rss_parts_end"]
    print(f"| of it at the end: anonymous / file-backed (weights mapped from the cache) | {mb(anon)} / {mb(mapped)} |")
    print(f"| received | {result['received_mb']:.1f} MB |")
    print("\n| action | count | p50 | p95 | max | errors |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, s in result["by_kind"].items():
        print(f"| {kind} | {s['n']} | {ms(s['p50'])} | {ms(s['p95'])} | {ms(s['max'])} | {s['errors']} |")
    print(f"\n{result['cpu']}.")


@contextlib.contextmanager
def server(args: argparse.Namespace, tag: str):
    """A fresh server of the app (yields url, pid), or the one at --url (pid None)."""
    if args.url:
        yield args.url.rstrip("/"), None
        return
    with streamlit_server("app.py", LOGS / f"protocol-{tag}.log") as (url, pid):
        yield url, pid


async def class_run(args: argparse.Namespace, k: int) -> tuple[float, dict]:
    """Run k: a fresh server (or the one at --url), the single student, the class; after the last run's class, on
    the same server, the CPU per view (after it, so the class's numbers are the same with and without it).
    Returns (the single student's yardstick, the class's numbers)."""
    of = f" · run {k} of {args.runs}" if args.runs > 1 else ""
    with server(args, f"class-{k}") as (url, pid):
        base, hot, paced = await single(url, args)
        rss_loaded = rss_mb(pid) if pid else float("nan")
        print(f"\n## Single student: new sentence → script_finished, median {ms(base)} (the yardstick){of}\n")
        print(
            f"One student alone, the class's mix of actions: {args.reps} back to back, then {args.paced_reps} each "
            f"{args.interval[0]:g}-{args.interval[1]:g} s after the last, as a class acts (the yardstick: the paced "
            "new sentences' median).\n"
        )
        print("| action | back to back: count | median | p95 | paced: count | median | p95 |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for kind in sorted(set(hot) | set(paced)):
            cells = []
            for times in (hot.get(kind, []), paced.get(kind, [])):
                if times:
                    cells += [str(len(times)), ms(statistics.median(times)), ms(percentile(times, 95))]
                else:
                    cells += ["0", "", ""]
            print(f"| {kind} | {' | '.join(cells)} |")
        print(f"\nServer RSS after the single student (model loaded): {mb(rss_loaded)}.")
        interval = f"{args.interval[0]:g}-{args.interval[1]:g} s"
        print(f"\n## Class of {args.students}, acting every {interval} for {args.seconds:g} s{of}")
        result = await a_class(url, pid, args.students, args)
        print_class(args.students, result, base)
        if args.profile and k == args.runs and pid:
            print_cpu_by_view(await cpu_by_view(url, pid, args))
        elif args.profile and k == args.runs:
            print(
                "\n## Server CPU per action, by view: not measured (--url: the server's process is not on this machine)"
            )
    return base, result


def print_runs(runs: list[tuple[float, dict]], url: str) -> None:
    print(f"\n## {len(runs)} runs, each on {'the server at --url' if url else 'a fresh server'}\n")
    print("| run | single (yardstick) | new sentence p95 | p95 / single | errors |")
    print("| --- | --- | --- | --- | --- |")
    ratios = []
    for k, (base, result) in enumerate(runs, 1):
        p95 = result["by_kind"]["type"]["p95"]
        ratios.append(p95 / base)
        errors = result["errors"] + result["open"]["errors"]
        print(f"| {k} | {ms(base)} | {ms(p95)} | {p95 / base:.2f} | {errors} |")
    print(f"\nMedian of the runs' new-sentence p95 / single (goal ≤ 2): {statistics.median(ratios):.2f}.")


async def main_async(args: argparse.Namespace) -> None:
    counts = [int(c) for c in args.sweep.split(",")] if args.sweep else []
    print(f"# Protocol benchmark · models {', '.join(args.model)} · seed {args.seed}")
    print(f"\n{machine_line()}")
    print(
        "\nEvery student is a websocket session in this one Python process (bench/protocol.py): nothing is drawn, "
        "so the times are the server's. This process shares the machine's cores with the server."
    )
    runs = [await class_run(args, k) for k in range(1, args.runs + 1)]
    if args.runs > 1:
        print_runs(runs, args.url)
    base = statistics.median(b for b, _ in runs)

    if counts:
        print(f"\n## Sweep: students on one server, each count on a fresh server, {args.seconds:g} s each\n")
        rows = []
        for n in counts:
            with server(args, f"sweep-{n}") as (url, pid):
                result = await a_class(url, pid, n, args)
            errors = result["errors"] + result["open"]["errors"]
            rows.append((n, result, errors))
            typed = result["by_kind"]["type"]
            print(
                f"- {n} students: new sentence p50 {ms(typed['p50'])}, p95 {ms(typed['p95'])} "
                f"({typed['p95'] / base:.2f}× single), errors {errors} {problem_kinds(result)}, "
                f"RSS max {mb(result['rss_max'])}",
                flush=True,
            )
        print(
            "\n| students | actions | new sentence p50 | p95 | p95 / single | every action p95 | errors | server RSS max |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for n, result, errors in rows:
            typed = result["by_kind"]["type"]
            print(
                f"| {n} | {result['n']} | {ms(typed['p50'])} | {ms(typed['p95'])} | {typed['p95'] / base:.2f} | "
                f"{ms(result['p95'])} | {errors} | {mb(result['rss_max'])} |"
            )
        held = [n for n, result, errors in rows if result["by_kind"]["type"]["p95"] <= 2 * base and errors == 0]
        print(
            f"\nStudents per server with new-sentence p95 ≤ 2× single ({ms(2 * base)}) and 0 errors: "
            f"{max(held) if held else 'none of the counts tried'}."
        )
    print(f"\nAt the end: {load_average()}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40, help="students in the class")
    parser.add_argument("--seconds", type=float, default=120, help="how long the class works (after joining)")
    parser.add_argument("--join", type=float, default=10, help="the students join one after another over this many s")
    parser.add_argument(
        "--interval", type=float, nargs=2, default=(5.0, 15.0), help="seconds between a student's actions"
    )
    parser.add_argument("--reps", type=int, default=30, help="back-to-back actions of the single student")
    parser.add_argument("--paced-reps", type=int, default=16, help="actions of the single student, paced as the class")
    parser.add_argument("--sweep", default="", help="student counts to try, each on a fresh server: 10,20,40,100,200")
    parser.add_argument("--model", action="append", help="a model name the server offers (repeat to mix)")
    parser.add_argument("--url", default="", help="measure a running server (e.g. make school's nginx) instead")
    parser.add_argument("--runs", type=int, default=1, help="the single student and the class, each on a fresh server")
    parser.add_argument("--seed", type=int, default=1, help="seed of every student's choices")
    parser.add_argument(
        "--profile",
        "--cpu-by-view",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the server's CPU per action on every view, one student alone (not with --url)",
    )
    parser.add_argument("--timeout", type=float, default=90, help="seconds before a run counts as never finished")
    args = parser.parse_args()
    args.model = args.model or [DEFAULT_MODEL]
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
