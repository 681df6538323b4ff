"""The Next-word view on the real decoders: what it draws against the model's own logits, the temperature,
the buttons that write with the model (by id), greedy writing with the KV cache and what the page says about the
cache, the shrunk window's loss on Gemma, and that the view is offered only where it applies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.views.next_word import WRITTEN
from model.generate import generate
from model.readers.gemma3 import GEMMA3_NAME
from model.readouts.next_word import appended, probabilities
from model.registry import load_named, trace_any
from model.tokens import token_text
from tests.apptest import run_app, specs, z_of

pytestmark = pytest.mark.app

SMOL = "SmolLM2-135M-Instruct"
PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def smol():
    return load_named(SMOL, device="cpu")


def bars(at) -> tuple[list[str], np.ndarray | None, np.ndarray]:
    """The candidates' labels, the reference probabilities behind them (T = 1, or the model's own window; None
    when there is nothing to compare with) and the probabilities asked for, as drawn."""
    *behind, shaped = specs(at)[0]["data"]
    reference = np.asarray(behind[0]["x"], dtype=float) if behind else None
    return list(shaped["y"]), reference, np.asarray(shaped["x"], dtype=float)


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
    assert plain is None  # T = 1: one set of bars, and no legend naming the same thing twice
    assert specs(at)[0]["layout"]["showlegend"] is False
    assert any("never their order" in c.value and "greedy" in c.value for c in at.caption)


def test_a_temperature_reshapes_the_distribution_as_p_to_the_power_one_over_t():
    at = run_app("next", model=SMOL, text=PROMPT, next_t="0.5")
    _, plain, shaped = bars(at)
    assert shaped[0] > plain[0] and shaped[-1] < plain[-1]
    ratio = shaped / shaped[0]  # softmax(z / T) ∝ softmax(z)^(1/T): ratios to the top are powers of 2
    np.testing.assert_allclose(ratio, (plain / plain[0]) ** 2, rtol=1e-5)
    assert [d["name"] for d in specs(at)[0]["data"]] == ["T = 1 (the model's own)", "T = 0.5"]
    assert any("never their order" in c.value and "sampler" in c.value for c in at.caption)


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


def test_an_added_token_is_the_id_the_model_wrote_and_a_different_split_is_said(smol):
    """Mid-word, the text "She was unbeliev" + "ig" reads back as other tokens; the page keeps the id the model
    wrote, and says so when reading the text again splits it differently."""
    text = "She was unbeliev"
    ids = trace_any(smol, text).token_ids
    ig = smol.tokenizer.token_to_id("ig")
    done = appended(smol.tokenizer, text, list(ids), [ig])
    assert done.text == text + "ig" and done.ids == [*ids, ig] and done.written == 1
    assert not done.same  # "unbelievig" is not "unbeliev" + "ig" to the tokenizer
    assert smol.tokenizer.encode(done.text).ids != done.ids
    at = run_app("next", model=SMOL, text=done.text)
    at.session_state[WRITTEN] = {
        "text": done.text,
        "ids": done.ids,
        "before": text,
        "dropped": False,
        "timings": None,
        "prompt": len(ids),
    }
    at.run()
    assert not at.exception
    (notice,) = [i.value for i in at.info if "splits differently" in i.value]
    assert "“ig”" in notice


def test_half_a_character_is_not_written(smol):
    """A byte token that starts a character cannot end the text: it is dropped, and the page says so."""
    text = "The cat"
    ids = list(trace_any(smol, text).token_ids)
    first_byte = smol.tokenizer.token_to_id("ä")  # byte-level: the first byte of a three-byte character (0xE4)
    done = appended(smol.tokenizer, text, ids, [first_byte])
    assert done.written == 0 and done.text == text and done.ids == ids


def test_writing_greedily_with_the_cache_appends_what_generate_writes(smol):
    at = run_app("next", model=SMOL, text=PROMPT)
    at.select_slider(key="next_steps").set_value(4).run()
    (write,) = [b for b in at.button if b.key == "next_write"]
    assert write.label == "Write 4 tokens"
    write.click().run()
    assert not at.exception
    expected = generate(smol, PROMPT, 4).new_ids
    prompt_ids = list(trace_any(smol, PROMPT).token_ids)
    done = appended(smol.tokenizer, PROMPT, prompt_ids, expected)
    assert at.text_input(key="text").value == done.text
    n = len(trace_any(smol, done.text).token_ids)  # the cache of the text as the page reads it again
    assert any("splits differently" in i.value for i in at.info) == (not done.same)
    tables = "\n".join(m.value for m in at.markdown)
    assert f"| {2 * 30 * 3 * 64 * n * 4:,} |" in tables  # 2 · layers · kv heads · d_head · tokens · 4
    assert f"| {2 * 30 * 9 * 64 * n * 4:,} |" in tables  # without sharing: 9 heads, 3× as much
    assert "3× smaller" in tables
    assert "with the cache" in tables and "one at a time" in tables
    (earlier,) = [c.value for c in at.caption if "earlier rows of α′" in c.value]
    assert float(earlier.split("at most ")[1].split(" ")[0]) < 1e-5
    cache = next(s for s in specs(at) if "cache holds" in s["layout"]["title"]["text"])
    assert len(cache["data"]) == 3  # one panel per key/value head
    assert len(cache["data"][0]["x"]) == n and len(cache["data"][0]["y"]) == 30  # a column per token, a row per layer
    lines = [shape for shape in cache["layout"]["shapes"] if shape.get("x0") == len(prompt_ids) - 0.5]
    assert lines, "the line where the written tokens begin"


@pytest.fixture(scope="module")
def gemma():
    return load_named(GEMMA3_NAME, device="cpu")


def test_a_shrunk_window_shows_what_the_prediction_loses(gemma):
    text = "一、二、三、四、五、六、七、八、"
    at = run_app("next", model=GEMMA3_NAME, text=text, window="4")
    assert not at.exception and not at.error
    labels, own, shrunk = bars(at)
    own_trace, small = trace_any(gemma, text), trace_any(gemma, text, window=4)
    own_p = probabilities(gemma.next_token_logits(own_trace.layers[-1].output[-1:])[0])
    small_p = probabilities(gemma.next_token_logits(small.layers[-1].output[-1:])[0])
    top = np.argsort(-small_p)[:10]
    assert labels == [f"“{token_text(gemma.tokenizer, int(i))}”" for i in top]
    np.testing.assert_allclose(shrunk, small_p[top], atol=1e-5)
    np.testing.assert_allclose(own, own_p[top], atol=1e-5)
    assert np.abs(own - shrunk).max() > 0.01  # the window changes what the model predicts
    assert [d["name"] for d in specs(at)[0]["data"]] == ["w = 512 (its own)", "w = 4"]
