"""The "Watch it learn" view: a tiny transformer trains on a task whose right attention is known, and
its α′ on one fixed example moves toward that pattern while the class watches.

    reverse   output i = input n-1-i      α′ should sit on the anti-diagonal
    previous  output i = input i-1        α′ should sit just below the diagonal (causal mask)
    match     output i = where input i's  α′ should link each position to its twin
              twin is

How it runs (model/experiments/train.py does the learning; this module only schedules and draws it):

- Start launches one background thread per session. The thread never calls Streamlit: it appends
  each Snapshot to a TrainingRun kept in st.session_state and sets the run's `done` event at the end.
- While it runs, the live part of the page is a fragment that reruns every REFRESH_S seconds and
  draws the latest snapshot; when it sees `done` it asks for one full rerun, which shows the scrub
  slider. Stop sets the run's `stop` event, which the thread checks after every snapshot.
- Load is bounded: at most MAX_TRAININGS threads per server (a semaphore; a session that finds none
  free is told to wait), one run per session, steps ≤ 2,000, at most ~SNAPSHOTS snapshots per run
  (a few KB each). "Slow motion" spaces the snapshots PACE_S apart so a class can follow; the
  waiting also leaves the CPU to everyone else.
- The training thread uses one OpenMP thread, set for that thread only (see model.device.one_cpu_thread_here).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st
import torch

from components import ui
from components.context import ViewContext
from components.figures.training import alpha_grid_figure, scores_figure, symbol_labels
from components.params import Param
from components.playground_state import heads_dividing, nearest, snap_heads
from components.session import checked_state
from model.device import one_cpu_thread_here, pick_device
from model.errors import InvalidConfigError
from model.experiments.train import SYMBOLS, TASKS, Snapshot, TrainConfig, train, uniform_score

log = logging.getLogger("attention_lab")

D_MODELS = (16, 24, 32, 48, 64)
HEAD_COUNTS = (1, 2, 3, 4)  # only those dividing d_model are offered
LAYER_COUNTS = (1, 2)
STEP_CHOICES = (50, 100, 200, 300, 500, 1000, 1500, 2000)
SEED_MAX = 9_999
SETTINGS = {  # each train_* widget: its default and what it may hold
    "train_task": Param("choice", "reverse", choices=TASKS),
    "train_d_model": Param("choice", 32, choices=D_MODELS),
    "train_heads": Param("choice", 2, choices=HEAD_COUNTS),
    "train_layers": Param("choice", 1, choices=LAYER_COUNTS),
    "train_steps": Param("choice", 200, choices=STEP_CHOICES),  # the patterns have formed by step ~100
    "train_seed": Param("int", 0, 0, SEED_MAX),
    "train_slow": Param("bool", True),
}
DEFAULTS = {name: spec.default for name, spec in SETTINGS.items()}
SNAPSHOTS = 40  # snapshots per run, whatever the steps: snapshot_every = ceil(steps / SNAPSHOTS)
PACE_S = 0.25  # slow motion: at least this long between snapshots (~10 s a run)
REFRESH_S = 0.5  # the live view redraws this often
STOP_WAIT_S = 5.0  # Stop waits this long for the thread to finish, so the next page shows the result
MAX_TRAININGS = 2  # trainings running at once on this server (the app runs on 2 cores)
OUTLINE_SCORE = 0.5  # the best head is outlined once half its α′ lands on the expected keys

_RUN = "_train_run"  # session-state key of this session's TrainingRun
_BUSY = "_train_busy"  # set by Start when every slot was taken
_SLOTS = threading.BoundedSemaphore(MAX_TRAININGS)


@dataclass
class TrainingRun:
    """One session's training: written by its thread, read by the page."""

    config: TrainConfig
    device: str
    pace_s: float  # 0: full speed
    snapshots: list[Snapshot] = field(default_factory=list)  # appended by the thread only
    stop: threading.Event = field(default_factory=threading.Event)  # set by Stop
    done: threading.Event = field(default_factory=threading.Event)  # set by the thread when it ends
    error: str = ""  # why the thread failed, if it did
    seconds: float = 0.0  # wall clock, slow-motion pauses included
    compute_seconds: float = 0.0  # the same without the pauses

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    @property
    def stopped_early(self) -> bool:
        return bool(self.snapshots) and self.snapshots[-1].step < self.config.steps


# --- pure helpers and figures --------------------------------------------------------------------


def valid_heads(d_model: int) -> list[int]:
    """The offered head counts that split d_model evenly: each head gets d_head = d_model / heads."""
    return heads_dividing(d_model, HEAD_COUNTS)


def state_config(state: Mapping[str, Any]) -> tuple[TrainConfig, float]:
    """The TrainConfig and slow-motion pace that the train_* settings in `state` describe (defaults
    where missing; a head count that does not divide d_model moves to the nearest one that does)."""
    values = {**DEFAULTS, **{name: state[name] for name in DEFAULTS if name in state}}
    d_model, steps = int(values["train_d_model"]), int(values["train_steps"])
    config = TrainConfig(
        task=values["train_task"],
        n_layers=int(values["train_layers"]),
        n_heads=nearest(int(values["train_heads"]), valid_heads(d_model)),
        d_model=d_model,
        steps=steps,
        seed=int(values["train_seed"]),
        snapshot_every=snapshot_every(steps),
    )
    return config, PACE_S if values["train_slow"] else 0.0


def snapshot_every(steps: int) -> int:
    return max(1, math.ceil(steps / SNAPSHOTS))


def initial_snapshot(config: TrainConfig) -> Snapshot:
    """Step 0 of `config`: the random start, on the CPU (steps and snapshots play no part in it)."""
    return _initial_snapshot(dataclasses.replace(config, steps=1, snapshot_every=1))


@functools.lru_cache(maxsize=32)
def _initial_snapshot(config: TrainConfig) -> Snapshot:
    return next(train(config, "cpu"))


# --- the training thread ------------------------------------------------------------------------


def _train_in_background(run: TrainingRun, slots: threading.BoundedSemaphore) -> None:
    """The body of a training thread; no st.* calls here, only `run` is written."""
    start = time.perf_counter()
    paused = 0.0
    try:
        if torch.device(run.device).type == "cpu":
            one_cpu_thread_here()
        due = start  # slow motion: when the next snapshot may appear
        for snapshot in train(run.config, run.device):
            if run.pace_s:  # the wait includes the computing, so a run lasts about SNAPSHOTS × pace_s
                before = time.perf_counter()
                run.stop.wait(max(0.0, due - before))  # returns at once when Stop is pressed
                paused += time.perf_counter() - before
                due = time.perf_counter() + run.pace_s
            run.snapshots.append(snapshot)  # one append: atomic, so the page never sees half a snapshot
            if run.stop.is_set():
                break  # closing the generator ends the training
    except Exception as err:  # noqa: BLE001 - reported in the page, not lost in a thread
        log.exception("training failed")
        run.error = f"{type(err).__name__}: {err}"
    finally:
        run.seconds = time.perf_counter() - start
        run.compute_seconds = run.seconds - paused
        run.done.set()
        slots.release()


def start_training(config: TrainConfig, device: str, pace_s: float) -> TrainingRun | None:
    """Start `config` in a background thread, or return None when MAX_TRAININGS are running already."""
    if not _SLOTS.acquire(blocking=False):
        return None
    run = TrainingRun(config=config, device=device, pace_s=pace_s)
    thread = threading.Thread(
        target=_train_in_background, args=(run, _SLOTS), name="attention-lab-training", daemon=True
    )
    try:
        thread.start()
    except RuntimeError:  # no thread could be started: give the slot back
        _SLOTS.release()
        raise
    return run


# --- the page ------------------------------------------------------------------------------------


def _on_start() -> None:
    """Start button: train the settings as they are now (read here, so a change made just before the
    click is never missed) unless this session's run is still going."""
    state = st.session_state
    current = state.get(_RUN)
    if current is not None and current.running:
        return
    try:
        config, pace_s = state_config(state)
    except InvalidConfigError:
        return  # the page that follows says why
    run = start_training(config, str(pick_device()), pace_s)
    if run is None:
        state[_BUSY] = True
        return
    state[_RUN] = run
    state.pop("train_snapshot", None)  # the scrub slider starts at the end of the new run


def _on_stop() -> None:
    run = st.session_state.get(_RUN)
    if run is not None:
        run.stop.set()
        run.done.wait(STOP_WAIT_S)  # the page that follows then shows where it stopped


def _controls(ctx: ViewContext, locked: bool) -> tuple[TrainConfig, float]:
    """The settings as widgets keyed train_* (locked while a run is going); returns the config and the pace.
    Two rows of four; on a projector folded under one line, so the heads fit the first screen."""
    state = st.session_state
    for name, spec in SETTINGS.items():
        checked_state(name, spec)
    if not ctx.presentation:
        return _widgets(ctx, locked)
    config, _ = state_config(state)
    summary = ctx.t("training.settings_summary", task=ctx.t(f"training.task_{config.task}"), steps=config.steps)
    with st.expander(summary, icon=":material/tune:"):
        return _widgets(ctx, locked)


def _widgets(ctx: ViewContext, locked: bool) -> tuple[TrainConfig, float]:
    state = st.session_state
    keep = {"persist_state": "session", "disabled": locked}
    widths = [3, 2.2, 1.4, 1.4]
    at_task, at_steps, at_seed, at_slow, at_d_model, at_heads, at_layers, _ = [
        place for _ in range(2) for place in st.columns(widths)
    ]
    at_task.segmented_control(
        ctx.t("training.task"),
        TASKS,
        key="train_task",
        required=True,
        format_func=lambda v: ctx.t(f"training.task_{v}"),
        **keep,
    )
    at_steps.select_slider(
        ctx.t("training.steps"), STEP_CHOICES, key="train_steps", help=ctx.t("training.steps_help"), **keep
    )
    at_seed.number_input(
        ctx.t("training.seed"), 0, SEED_MAX, step=1, key="train_seed", help=ctx.t("training.seed_help"), **keep
    )
    at_slow.toggle(ctx.t("training.slow"), key="train_slow", help=ctx.t("training.slow_help"), **keep)
    d_model = at_d_model.select_slider(
        ctx.t("training.d_model"), D_MODELS, key="train_d_model", help=ctx.t("training.d_model_help"), **keep
    )
    snapped = snap_heads("train_heads", valid_heads(d_model))
    at_heads.select_slider(
        ctx.t("training.n_heads"), valid_heads(d_model), key="train_heads", help=ctx.t("training.n_heads_help"), **keep
    )
    at_layers.select_slider(ctx.t("training.n_layers"), LAYER_COUNTS, key="train_layers", **keep)
    st.caption(ctx.t(f"training.explain_{state['train_task']}"))
    if snapped:
        st.info(
            ctx.t("training.heads_snapped", old=snapped[0], new=snapped[1], d_model=d_model), icon=":material/build:"
        )
    return state_config(state)


def _status(ctx: ViewContext, s: Snapshot, steps: int) -> str:
    return ctx.t(
        "training.status",
        step=s.step,
        steps=steps,
        loss=f"{s.loss:.3f}",
        accuracy=f"{s.accuracy:.0%}",
        score=f"{s.pattern_score:.0%}",
    )


def _example_table(ctx: ViewContext, config: TrainConfig, s: Snapshot) -> str:
    """The fixed example as a Markdown table: input, right output, the model's output (wrong ones red)."""
    show = str if config.task == "match" else (lambda v: SYMBOLS[v])  # match outputs positions
    cells = [
        [ctx.t("training.row_input"), *(SYMBOLS[t] for t in s.tokens)],
        [ctx.t("training.row_target"), *(show(t) for t in s.targets)],
        [
            ctx.t("training.row_model"),
            *(show(p) if p == t else f":red[**{show(p)}**]" for p, t in zip(s.predictions, s.targets, strict=True)),
        ],
    ]
    header = [ctx.t("training.row_position"), *map(str, range(len(s.tokens)))]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _draw(ctx: ViewContext, config: TrainConfig, snapshots: list[Snapshot], index: int, scores: bool = True) -> None:
    """Snapshot `index` of a run: α′ of every head beside the expected pattern, the example, the scores."""
    s = snapshots[index]
    p = ctx.presentation
    n_layers, n_heads = s.head_scores.shape
    best = tuple(int(i) for i in np.unravel_index(np.argmax(s.head_scores), s.head_scores.shape))
    best = best if s.pattern_score >= OUTLINE_SCORE else None  # at the random start no head stands out
    titles = [
        ctx.t("training.head_panel", head=head, score=f"{s.head_scores[layer, head]:.0%}")
        for layer in range(n_layers)
        for head in range(n_heads)
    ]
    fig = alpha_grid_figure(
        s.weights,
        s.expected,
        symbol_labels(s.tokens),
        titles,
        [ctx.t("training.layer_row", layer=layer) for layer in range(n_layers)],
        expected_title=ctx.t(f"training.expected_{config.task}"),
        best=best,
        title=ctx.t("training.grid_title", step=s.step),
        x_title=ctx.t("common.key"),
        y_title=ctx.t("common.query"),
        presentation=p,
    )
    ui.figure(fig, ctx.t("training.grid_caption"), key="train_grid")
    st.markdown(_example_table(ctx, config, s))
    st.caption(ctx.t(f"training.example_caption_{config.task}"))
    if not scores:
        return
    fig = scores_figure(
        [x.step for x in snapshots],
        [x.pattern_score for x in snapshots],
        [x.accuracy for x in snapshots],
        total_steps=config.steps,
        marker_step=s.step,
        uniform=uniform_score(config.task, config.seq_len),
        names=(ctx.t("training.pattern_score"), ctx.t("training.accuracy")),
        uniform_name=ctx.t("training.uniform"),
        title=ctx.t("training.scores_title"),
        x_title=ctx.t("training.step"),
        presentation=p,
    )
    ui.figure(fig, ctx.t("training.scores_caption", chance=f"{1 / config.n_classes:.0%}"), key="train_scores")


def _live(ctx: ViewContext, run: TrainingRun) -> None:
    """The running part of the page: redrawn every REFRESH_S by its fragment."""
    if run.done.is_set():
        st.rerun()  # the whole page: unlock the settings, show the scrub slider
    snapshots = list(run.snapshots)  # a copy: the thread keeps appending
    if not snapshots:
        st.progress(0.0, text=ctx.t("training.warming_up"))
        return
    s = snapshots[-1]
    text = ctx.t("training.stopping") if run.stop.is_set() else _status(ctx, s, run.config.steps)
    st.progress(s.step / run.config.steps, text=text)
    # A fragment shows its own exceptions as such; guarded() keeps a failure a short message here too.
    ui.guarded(lambda: _draw(ctx, run.config, snapshots, len(snapshots) - 1), ctx.t("app.view_failed"))


def _results(ctx: ViewContext, run: TrainingRun) -> None:
    """A finished run: the scrub slider over its snapshots and the snapshot it points at."""
    snapshots = run.snapshots
    state = st.session_state
    if state.get("train_snapshot") not in range(len(snapshots)):
        state["train_snapshot"] = len(snapshots) - 1
    index = st.select_slider(
        ctx.t("training.scrub"),
        range(len(snapshots)),
        key="train_snapshot",
        format_func=lambda i: ctx.t("training.scrub_step", step=snapshots[i].step),
        help=ctx.t("training.scrub_help"),
    )
    st.markdown(ui.md_escape(_status(ctx, snapshots[index], run.config.steps)))
    ui.guarded(lambda: _draw(ctx, run.config, snapshots, index), ctx.t("app.view_failed"))


def _outcome(ctx: ViewContext, run: TrainingRun) -> None:
    """One line on how the run ended."""
    if run.error:
        st.error(ctx.t("training.failed", detail=run.error), icon=":material/error:")
        return
    last = run.snapshots[-1]
    values = {"step": last.step, "steps": run.config.steps, "seconds": f"{run.seconds:.1f}"}
    values |= {"compute": f"{run.compute_seconds:.1f}", "device": run.device}
    if run.stopped_early:
        st.warning(ctx.t("training.stopped", **values), icon=":material/stop_circle:")
    else:
        st.success(
            ctx.t("training.finished_slow" if run.pace_s else "training.finished", **values),
            icon=":material/check_circle:",
        )
    if last.accuracy >= 0.9 and last.pattern_score < 0.5:
        st.info(ctx.t("training.other_route"), icon=":material/alt_route:")


def render(ctx: ViewContext) -> None:
    state = st.session_state
    run: TrainingRun | None = state.get(_RUN)
    running = run is not None and run.running
    # On a projector the buttons come first, with the paragraph behind a button beside them, and the
    # settings folded under them; on a screen the paragraph and the settings come first.
    top = st.columns([1.6, 1.4, 1.4, 4], vertical_alignment="center") if ctx.presentation else None
    if top is None:
        ui.intro(ctx, ctx.t("training.intro"))
    else:
        with top[0]:
            ui.intro(ctx, ctx.t("training.intro"))
    try:
        config, _ = _controls(ctx, locked=running)
    except InvalidConfigError as err:
        st.warning(ctx.t("training.invalid", detail=str(err)), icon=":material/warning:")
        return
    _buttons(ctx, config, running, top[1:] if top else st.columns([1, 1, 4]))
    if state.pop(_BUSY, False):
        st.warning(ctx.t("training.busy", n=MAX_TRAININGS), icon=":material/hourglass_top:")

    if running:
        st.fragment(run_every=REFRESH_S)(_live)(ctx, run)
    elif run is not None and run.config == config and (run.snapshots or run.error):
        _outcome(ctx, run)
        if run.snapshots:
            st.fragment(_results)(ctx, run)
    else:
        if not ctx.presentation:  # on a projector the Start button beside the figure says it
            st.info(ctx.t("training.press_start"), icon=":material/play_arrow:")
        _draw(ctx, config, [initial_snapshot(config)], 0, scores=False)


def _buttons(ctx: ViewContext, config: TrainConfig, running: bool, places) -> None:
    """Start, Stop and what a run will do, in one row."""
    start, stop, note = places
    start.button(
        ctx.t("training.start"),
        key="train_start",
        type="primary",
        icon=":material/play_arrow:",
        disabled=running,
        on_click=_on_start,
        width="stretch",
    )
    stop.button(
        ctx.t("training.stop"),
        key="train_stop",
        icon=":material/stop:",
        disabled=not running,
        on_click=_on_stop,
        width="stretch",
    )
    setup = {"n": config.seq_len, "vocab": config.vocab, "last": SYMBOLS[config.vocab - 1]}
    note.caption(ctx.t("training.setup", every=config.snapshot_every, device=str(pick_device()), **setup))
