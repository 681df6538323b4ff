"""The Next-word view on the real decoder: what it draws against the model's own logits, the temperature,
the button that writes with the model, and that it is offered only where it applies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.registry import load_named, trace_any
from model.tokens import token_text
from tests.apptest import run_app, specs, z_of

pytestmark = pytest.mark.app

SMOL = "SmolLM2-135M-Instruct"
PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def smol():
    return load_named(SMOL, device="cpu")


def bars(at) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The candidates' labels, their probabilities at T = 1 and at the chosen temperature, as drawn."""
    plain, shaped = specs(at)[0]["data"]
    return list(shaped["y"]), np.asarray(plain["x"], dtype=float), np.asarray(shaped["x"], dtype=float)


def test_the_bars_are_the_models_own_next_token_probabilities(smol):
    at = run_app("next", model=SMOL, text=PROMPT)
    assert not at.exception and not at.error
    labels, plain, shaped = bars(at)
    assert labels[0] == "“ Paris”"
    trace = trace_any(smol, PROMPT)
    logits = torch.from_numpy(smol.next_token_logits(trace.layers[-1].output[-1:])[0]).double()
    expected = torch.softmax(logits, dim=-1)
    top = torch.topk(expected, 10).indices
    assert labels == [f"“{token_text(smol.tokenizer, int(i))}”" for i in top]
    np.testing.assert_allclose(shaped, expected[top].numpy(), atol=1e-6)
    np.testing.assert_allclose(plain, shaped, atol=1e-12)  # T = 1: the two series are one


def test_a_temperature_reshapes_the_distribution_as_p_to_the_power_one_over_t():
    at = run_app("next", model=SMOL, text=PROMPT, next_t="0.5")
    _, plain, shaped = bars(at)
    assert shaped[0] > plain[0] and shaped[-1] < plain[-1]
    ratio = shaped / shaped[0]  # softmax(z / T) ∝ softmax(z)^(1/T): ratios to the top are powers of 2
    np.testing.assert_allclose(ratio, (plain / plain[0]) ** 2, rtol=1e-5)


def test_a_click_writes_the_predicted_token_and_the_page_follows():
    at = run_app("next", model=SMOL, text=PROMPT)
    (paris,) = [b for b in at.button if b.label == "“ Paris”"]
    paris.click().run()
    assert at.text_input(key="text").value == PROMPT + " Paris"
    assert not at.exception
    title = specs(at)[0]["layout"]["title"]["text"]
    assert "Paris" in title  # the prediction now follows the new last token
    looks = specs(at)[1]["data"][0]
    assert len(looks["x"]) == 6  # the predicting token's α′ row reaches the six tokens up to itself
    assert abs(z_of({"z": looks["y"]}).sum() - 1) < 1e-5


def test_an_earlier_position_shows_what_really_came_next():
    at = run_app("next", model=SMOL, text="The animal didn't cross the street", after="4")
    assert not at.exception
    assert any("comes next" in m.value for m in at.markdown)
    assert not [b for b in at.button if b.label.startswith("“")]  # only the last token's prediction is written


def test_the_view_is_offered_only_for_a_decoder():
    at = run_app("next", model="all-MiniLM-L6-v2")
    assert not at.exception
    assert at.segmented_control(key="view").value == "attention"
    assert "next" not in at.segmented_control(key="view").options
    assert any("Next word" in w.value or "next" in w.value for w in at.warning)
