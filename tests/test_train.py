"""Training the tiny transformer: attention moves to the known pattern, and only when there is something to learn."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

import model
from model.experiments.train import Snapshot, TrainConfig, expected_pattern, main, make_examples, train

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The model is tiny: one thread is faster, and much faster on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(**overrides) -> list[Snapshot]:
    return list(train(TrainConfig(**overrides), device="cpu"))


def best_head(s: Snapshot) -> np.ndarray:
    """α of the head with the highest pattern score, on the fixed example.  # [query_pos, key_pos]"""
    layer, head = np.unravel_index(np.argmax(s.head_scores), s.head_scores.shape)
    return s.weights[layer, head]


@pytest.mark.parametrize("task", ["reverse", "previous"])
def test_attention_learns_the_expected_pattern(task):
    first, *_, last = run(task=task, steps=200, snapshot_every=100)
    assert first.step == 0 and last.step == 200
    assert first.accuracy < 0.2  # chance is 1/vocab = 0.1
    assert last.accuracy > 0.9
    # Uniform attention scores 1/8 on reverse and 0.25 on previous; a model that only memorized could not route.
    assert first.pattern_score < 0.3
    assert last.pattern_score > 0.5
    assert last.pattern_score > first.pattern_score + 0.3
    # On the fixed example, the best head looks hardest at the expected key in every row that expects one.
    rows = last.expected.sum(-1) > 0
    np.testing.assert_array_equal(best_head(last).argmax(-1)[rows], last.expected.argmax(-1)[rows])


def test_reverse_attends_to_the_anti_diagonal():
    last = run(task="reverse", steps=200, snapshot_every=200)[-1]
    n = last.weights.shape[-1]
    np.testing.assert_array_equal(best_head(last).argmax(-1), np.arange(n)[::-1])
    assert last.predictions == last.targets == last.tokens[::-1]


def test_match_finds_the_twin():
    # Accuracy only: a head can also solve match by attending to every position *except* the twin
    # (the values' positions then sum to a known total minus the twin's), which some seeds find.
    first, last = run(task="match", steps=200, snapshot_every=200)
    assert first.accuracy < 0.25  # chance is 1/seq_len = 0.125
    assert last.accuracy > 0.9


@pytest.mark.parametrize("task", ["reverse", "match"])
def test_random_targets_stay_at_chance(task):
    cfg = TrainConfig(task=task, steps=300, snapshot_every=300, random_targets=True)
    first, last = list(train(cfg, device="cpu"))
    chance = 1 / cfg.n_classes
    assert abs(last.accuracy - chance) < 0.05
    assert last.pattern_score < first.pattern_score + 0.1  # nothing pulls attention anywhere


def test_same_seed_same_snapshots_and_the_global_rng_is_untouched():
    rng_before = torch.random.get_rng_state()
    a = run(steps=40, snapshot_every=20, seed=3)
    b = run(steps=40, snapshot_every=20, seed=3)
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert [s.step for s in a] == [0, 20, 40]
    for sa, sb in zip(a, b, strict=True):
        for f in fields(Snapshot):
            x, y = getattr(sa, f.name), getattr(sb, f.name)
            if isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, y)
            else:
                assert x == y, f.name
    other = run(steps=40, snapshot_every=20, seed=4)
    assert not np.array_equal(other[-1].weights, a[-1].weights)
    assert other[0].tokens == a[0].tokens  # the held-out set does not depend on the seed


def test_training_is_lazy_and_stops_when_the_caller_stops():
    it = train(TrainConfig(steps=10_000, snapshot_every=5), device="cpu")
    steps = [next(it).step for _ in range(3)]
    it.close()
    assert steps == [0, 5, 10]


def test_snapshot_shapes_and_weights_rows_sum_to_one():
    cfg = TrainConfig(task="previous", n_layers=2, n_heads=4, d_model=16, seq_len=6, steps=30, snapshot_every=7)
    snaps = list(train(cfg, device="cpu"))
    assert [s.step for s in snaps] == [0, 7, 14, 21, 28, 30]
    for s in snaps:
        assert s.weights.shape == (2, 4, 6, 6)
        assert s.head_scores.shape == (2, 4)
        np.testing.assert_allclose(s.weights.sum(-1), 1.0, atol=1e-5)
        assert np.all(np.triu(s.weights, k=1) == 0)  # previous is causal
        assert 0 <= s.accuracy <= 1 and 0 <= s.pattern_score <= 1
        assert s.pattern_score == pytest.approx(s.head_scores.max())
        np.testing.assert_array_equal(s.expected, expected_pattern("previous", s.tokens))
        assert len(s.tokens) == len(s.targets) == len(s.predictions) == 6
        assert not s.weights.flags.writeable


def test_expected_patterns():
    n = 5
    np.testing.assert_array_equal(expected_pattern("reverse", [3] * n), np.eye(n)[::-1])
    previous = expected_pattern("previous", [1, 2, 3, 4, 5])
    assert previous[0].sum() == 0  # position 0 has no previous token
    np.testing.assert_array_equal(previous[1:], np.eye(n)[:-1])
    # A C B A D C B D: every symbol twice; each position's twin.
    match = expected_pattern("match", [0, 2, 1, 0, 3, 2, 1, 3])
    np.testing.assert_array_equal(match.argmax(-1), [3, 5, 6, 0, 7, 1, 2, 4])
    np.testing.assert_array_equal(match.sum(-1), 1)
    assert expected_pattern("reverse", np.zeros((3, n), dtype=int)).shape == (3, n, n)


@pytest.mark.parametrize("task", model.experiments.train.TASKS)
def test_targets_are_read_from_the_expected_positions(task):
    cfg = TrainConfig(task=task)
    tokens, targets = make_examples(cfg, 64, torch.Generator().manual_seed(0))
    expected = expected_pattern(task, tokens.numpy())  # [batch, query_pos, key_pos]
    key = expected.argmax(-1)  # [batch, query_pos]
    if task == "match":
        assert all(np.bincount(row, minlength=cfg.vocab).max() == 2 for row in tokens.numpy())
        np.testing.assert_array_equal(targets.numpy(), key)
    else:
        copied = np.take_along_axis(tokens.numpy(), key, axis=1)  # [batch, pos]
        rows = expected.sum(-1) > 0
        np.testing.assert_array_equal(targets.numpy()[rows], copied[rows])


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"n_heads": 3}, "must divide d_model"),
        ({"task": "sort"}, "task must be one of"),
        ({"n_layers": 3}, "n_layers"),
        ({"d_model": 4, "n_heads": 1}, "d_model"),
        ({"steps": 0}, "steps"),
        ({"lr": 0.0}, "lr"),
        ({"seq_len": 1}, "seq_len"),
        ({"vocab": 1}, "vocab"),
        ({"snapshot_every": 0}, "snapshot_every"),
        ({"task": "match", "seq_len": 7}, "even seq_len"),
        ({"task": "match", "seq_len": 16, "vocab": 6}, "vocab >= seq_len / 2"),
    ],
)
def test_invalid_configs_are_refused(bad, message):
    with pytest.raises(model.InvalidConfigError, match=message):
        TrainConfig(**bad)


def test_cli_prints_json_as_its_last_line():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "model.experiments.train",
            "--task",
            "reverse",
            "--steps",
            "20",
            "--snapshot-every",
            "10",
        ]
        + ["--seed", "1", "--layers", "1", "--heads", "2", "--d-model", "16", "--device", "cpu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4  # steps 0, 10, 20, then the result
    summary = json.loads(lines[-1])
    assert {"accuracy", "pattern_score", "steps", "seconds", "task"} <= summary.keys()
    assert summary["task"] == "reverse" and summary["steps"] == 20
    assert 0 <= summary["accuracy"] <= 1 and 0 <= summary["pattern_score"] <= 1


def test_cli_refuses_a_bad_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--heads", "3", "--d-model", "32"])
    assert exit_info.value.code == 2
    assert "must divide d_model" in capsys.readouterr().err
