"""The Watch-it-learn view: its helpers and figures against the backend, and the page through AppTest
(start, progress, stop, scrub, the size controls and the server-wide limit)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from components.figures.training import alpha_grid_figure, scores_figure, symbol_labels
from components.playground_state import nearest
from components.views import training
from components.views.training import D_MODELS, SNAPSHOTS, snapshot_every, valid_heads
from model.experiments.train import TASKS, TrainConfig, expected_pattern, head_scores, make_examples, uniform_score

pytestmark = pytest.mark.app

APP = str(Path(__file__).resolve().parent.parent / "app.py")
POLL_S = 0.1
DONE_TIMEOUT_S = 30.0


# --- helpers and figures -----------------------------------------------------------------------


@pytest.mark.fast
def test_every_offered_size_is_a_valid_config():
    for d_model in D_MODELS:
        heads = valid_heads(d_model)
        assert heads and all(d_model % h == 0 for h in heads)
        for n_heads in heads:
            TrainConfig(d_model=d_model, n_heads=n_heads, n_layers=2)  # raises if invalid
    assert valid_heads(32) == [1, 2, 4] and valid_heads(24) == [1, 2, 3, 4]


@pytest.mark.fast
def test_state_config_reads_the_settings_and_moves_heads_to_a_divisor():
    assert training.state_config({}) == (TrainConfig(steps=200, snapshot_every=5), training.PACE_S)
    config, pace = training.state_config(
        {"train_task": "match", "train_d_model": 32, "train_heads": 3, "train_steps": 2000, "train_slow": False}
    )
    assert (config.task, config.n_heads, config.steps, config.snapshot_every, pace) == ("match", 2, 2000, 50, 0.0)
    assert nearest(3, valid_heads(48)) == 3 and nearest(3, valid_heads(16)) == 2


@pytest.mark.fast
def test_snapshots_per_run_are_bounded():
    for steps in training.STEP_CHOICES:
        every = snapshot_every(steps)
        count = steps // every + 1 + (steps % every != 0)  # step 0, every `every` steps, the last step
        assert count <= SNAPSHOTS + 2


@pytest.mark.fast
@pytest.mark.parametrize("task", TASKS)
def test_uniform_score_is_what_the_backend_gives_evenly_spread_attention(task):
    config = TrainConfig(task=task)
    n = config.seq_len
    tokens, _ = make_examples(config, 32, torch.Generator().manual_seed(1))
    visible = torch.tril(torch.ones(n, n)) if task == "previous" else torch.ones(n, n)  # [query_pos, key_pos]
    alphas = (visible / visible.sum(-1, keepdim=True)).expand(1, 32, 1, n, n)  # [layer, batch, head, q, k]
    expected = torch.tensor(expected_pattern(task, tokens.numpy()))  # [batch, query_pos, key_pos]
    assert head_scores(alphas, expected).item() == pytest.approx(uniform_score(task, n), abs=1e-6)


@pytest.mark.fast
def test_alpha_grid_has_every_head_and_the_expected_pattern():
    config = TrainConfig(n_layers=2, n_heads=4)
    s = training.initial_snapshot(config)
    titles = [f"head {h}" for h in range(8)]
    fig = alpha_grid_figure(
        s.weights, s.expected, symbol_labels(s.tokens), titles, ["layer 0", "layer 1"], expected_title="expected"
    )
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert len(heatmaps) == 2 * 4 + 1
    # Row-major: layer 0's four heads and the expected pattern, then layer 1's heads.
    np.testing.assert_array_equal(heatmaps[4].z, s.expected)
    np.testing.assert_array_equal(heatmaps[6].z, s.weights[1, 1])
    assert heatmaps[6].xaxis == "x7" and fig.layout.xaxis7.matches == "x2"  # under layer 0's head 1
    assert {a.text for a in fig.layout.annotations} == {*titles, "expected"}
    assert not fig.layout.shapes  # no outline unless asked
    outlined = alpha_grid_figure(
        s.weights, s.expected, symbol_labels(s.tokens), titles, ["l0", "l1"], expected_title="e", best=(1, 2)
    )
    (shape,) = outlined.layout.shapes
    assert shape.xref == "x8 domain"  # the eighth panel: layer 1, head 2


@pytest.mark.fast
def test_scores_figure_marks_the_shown_step():
    fig = scores_figure([0, 5, 10], [0.1, 0.5, 0.9], [0.1, 0.8, 1.0], total_steps=10, marker_step=5, uniform=0.125)
    assert [list(t.y) for t in fig.data] == [[0.1, 0.5, 0.9], [0.1, 0.8, 1.0]]
    assert [s.x0 for s in fig.layout.shapes if s.type == "line" and s.x0 == s.x1] == [5]


# --- the page ----------------------------------------------------------------------------------


def open_view(lang: str = "en", **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["view"] = "training"
    at.query_params["lang"] = lang
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def the_run(at: AppTest) -> training.TrainingRun:
    return at.session_state["_train_run"]


def wait_done(at: AppTest) -> training.TrainingRun:
    """Rerun until the session's training has finished (a browser's fragment would do the same)."""
    deadline = time.monotonic() + DONE_TIMEOUT_S
    while not the_run(at).done.is_set():
        assert time.monotonic() < deadline, "the training did not finish"
        time.sleep(POLL_S)
        at.run()
    return the_run(at)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def grid_spec(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


@pytest.mark.parametrize("lang, start", [("en", "Start training"), ("zh", "开始训练")])
def test_the_view_renders_in_both_languages(lang, start):
    at = open_view(lang)
    assert_clean(at)
    assert at.button(key="train_start").label == start
    assert at.button(key="train_stop").disabled
    (chart,) = at.get("plotly_chart")  # before any training: step 0 beside the expected pattern
    assert len([t for t in json.loads(chart.proto.spec)["data"] if t["type"] == "heatmap"]) == 2 + 1


def test_a_short_training_makes_its_snapshots_and_the_slider_scrubs_them():
    at = open_view(train_steps=50, train_slow=False)
    at.button(key="train_start").click().run()
    run = wait_done(at)
    at.run()
    assert_clean(at)
    assert [s.step for s in run.snapshots] == list(range(0, 51, 2))  # snapshot_every(50) == 2
    assert "Trained 50 steps" in at.success[0].value
    slider = at.select_slider(key="train_snapshot")
    assert slider.value == len(run.snapshots) - 1  # starts at the end
    assert run.snapshots[-1].accuracy > run.snapshots[0].accuracy
    end = grid_spec(at)
    slider.set_value(0).run()
    assert_clean(at)
    start = grid_spec(at)
    assert start["data"] != end["data"]  # other α
    assert start["layout"]["annotations"] != end["layout"]["annotations"]  # other head scores
    scores = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert [s["x0"] for s in scores["layout"]["shapes"] if s["type"] == "line" and s["x0"] == s["x1"]] == [0]


def test_stop_ends_a_long_training_early_and_says_where():
    at = open_view(train_steps=2000, train_slow=True)  # slow motion: ~10 s unless stopped
    at.button(key="train_start").click().run()
    assert at.button(key="train_start").disabled and not at.button(key="train_stop").disabled
    deadline = time.monotonic() + DONE_TIMEOUT_S
    while len(the_run(at).snapshots) < 3:
        assert time.monotonic() < deadline
        time.sleep(POLL_S)
        at.run()
    (progress,) = at.get("progress")
    assert progress.proto.text.startswith("Step ")
    at.button(key="train_stop").click().run()
    run = the_run(at)
    assert run.done.is_set()  # Stop waited for the thread
    assert 3 <= len(run.snapshots) < 2000 // run.config.snapshot_every + 1
    assert run.snapshots[-1].step < 2000
    assert_clean(at)
    assert at.warning[0].value.startswith("Stopped at step")
    assert not at.button(key="train_start").disabled
    assert at.select_slider(key="train_snapshot").value == len(run.snapshots) - 1


def test_only_head_counts_that_divide_d_model_are_offered():
    at = open_view(train_d_model=24, train_heads=3)
    assert at.select_slider(key="train_heads").options == ["1", "2", "3", "4"]
    at.select_slider(key="train_d_model").set_value(32).run()
    assert at.select_slider(key="train_heads").options == ["1", "2", "4"]
    assert at.select_slider(key="train_heads").value == 2  # 3 moved to the nearest valid count
    assert "3 heads do not divide d_model = 32" in at.info[0].value
    assert_clean(at)


def test_a_full_server_asks_the_class_to_wait():
    taken = [training._SLOTS.acquire(timeout=DONE_TIMEOUT_S) for _ in range(training.MAX_TRAININGS)]
    try:
        assert all(taken), "earlier trainings still hold the slots"
        at = open_view()
        at.button(key="train_start").click().run()
        assert "_train_run" not in at.session_state
        assert "already running" in at.warning[0].value
    finally:
        for _ in taken:
            training._SLOTS.release()
