"""The Positional-encoding view: its maths against closed forms written here, and the page through AppTest."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import model
from components.figures.positions import default_dims, display_dims, pair_with_wavelength, waves_figure
from model.positional import encoding_similarity, wavelength
from model.readouts.analysis import repeat_similarity, repeated_pair
from tests.apptest import run_app

pytestmark = pytest.mark.app


def specs(at: AppTest) -> list[str]:
    return [chart.proto.spec for chart in at.get("plotly_chart")]


def z_of(spec: str, trace: int = 0) -> np.ndarray:
    """A heatmap's z from the figure JSON (Plotly sends numpy arrays as base64 typed arrays)."""
    z = json.loads(spec)["data"][trace]["z"]
    if isinstance(z, list):
        return np.array(z, dtype=float)
    shape = [int(s) for s in z["shape"].split(",")]
    return np.frombuffer(base64.b64decode(z["bdata"]), dtype=np.dtype(z["dtype"])).reshape(shape)


# --- maths -------------------------------------------------------------------------------------


@pytest.mark.fast
@pytest.mark.parametrize("d_model, base", [(8, 10_000.0), (64, 10_000.0), (16, 100.0)])
def test_similarity_is_a_sum_of_cosines_of_the_distance(d_model, base):
    n = 30
    pe = model.sinusoidal_encoding(n, d_model, base).numpy()
    expected = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            # sin(a)sin(b) + cos(a)cos(b) = cos(a − b), one term per sin/cos pair
            expected[i, j] = sum(math.cos((i - j) / base ** (2 * k / d_model)) for k in range(d_model // 2))
    np.testing.assert_allclose(encoding_similarity(pe), expected, atol=1e-4)


@pytest.mark.fast
@pytest.mark.parametrize("dim, d_model, base", [(0, 64, 10_000.0), (17, 64, 10_000.0), (62, 64, 100.0)])
def test_wavelength_is_the_period_of_the_column(dim, d_model, base):
    period = wavelength(dim, d_model, base)
    omega = 1 / base ** (2 * (dim // 2) / d_model)
    assert period * omega == pytest.approx(2 * math.pi)
    assert dim > 1 or period == pytest.approx(2 * math.pi)


@pytest.mark.fast
def test_display_dims_keep_whole_pairs_within_the_budget():
    dims, stride = display_dims(64, 64)
    assert stride == 1 and dims.tolist() == list(range(64))
    dims, stride = display_dims(512, 1024)
    assert stride == 2 and 512 * len(dims) <= 2**18
    assert dims[:6].tolist() == [0, 1, 4, 5, 8, 9]
    dims, _ = display_dims(512, 1023)
    assert dims.max() < 1023


@pytest.mark.fast
def test_repeated_pair_prefers_words_and_skips_special_tokens():
    tokens = ("[CLS]", "i", "saw", "a", "saw", "[SEP]")
    special = np.array([True, False, False, False, False, True])
    assert repeated_pair(tokens, special) == (2, 4)
    assert repeated_pair((".", "a", ".", "a"), np.zeros(4, bool)) == (1, 3)
    assert repeated_pair((".", "x", "."), np.zeros(3, bool)) == (0, 2)
    assert repeated_pair(("[CLS]", "hello", "[SEP]"), np.array([True, False, True])) is None
    assert repeated_pair(("[UNK]", "[UNK]"), np.zeros(2, bool)) is None


@pytest.mark.models
def test_repeat_similarity_is_one_without_positions_and_less_with(pretrained):
    with_pos = model.trace_encoder(pretrained, "I saw a saw", with_positions=True)
    without = model.trace_encoder(pretrained, "I saw a saw", with_positions=False)
    sims = repeat_similarity(with_pos, 2, 4)
    assert sims.shape == (pretrained.config.n_layers,)
    for layer, value in enumerate(sims):
        a, b = with_pos.layers[layer].output[2], with_pos.layers[layer].output[4]
        assert value == pytest.approx(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)), abs=1e-6)
    np.testing.assert_allclose(repeat_similarity(without, 2, 4), 1.0, atol=1e-5)
    assert (sims < 0.95).all()


@pytest.mark.fast
@pytest.mark.parametrize("d_model, base", [(64, 10_000.0), (128, 10_000.0), (16, 100.0)])
@pytest.mark.parametrize("target", [7.0, 16.0, 64.0, 300.0])
def test_the_pair_picked_for_a_wavelength_is_the_closest_one(d_model, base, target):
    best = pair_with_wavelength(target, d_model, base)
    off = [abs(math.log(wavelength(2 * i, d_model, base) / target)) for i in range(d_model // 2)]
    assert off[best] <= min(off) + 1e-9


@pytest.mark.fast
def test_default_waves_are_few_and_readable_over_the_positions():
    dims = default_dims(64, 64, 10_000.0)
    assert dims == [6, 7, 16, 62]  # λ ≈ 15 (sin and cos), λ ≈ 63, and the slowest sine
    assert 10 < wavelength(6, 64, 10_000.0) < 24 and 40 < wavelength(16, 64, 10_000.0) < 100
    assert default_dims(2, 64, 10_000.0) == [0, 1]  # the only pair there is


@pytest.mark.fast
def test_waves_pair_colours_and_dash_the_cosine():
    pe = model.sinusoidal_encoding(10, 8).numpy()
    fig = waves_figure(pe, [0, 1, 6], ["a", "b", "c"])
    assert [t.line.dash for t in fig.data] == ["solid", "dash", "solid"]
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    np.testing.assert_allclose(fig.data[1].y, np.cos(np.arange(10)), atol=1e-6)


# --- the page ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_default_page_draws_four_figures(lang):
    at = run_app("positional", lang=lang)
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 4
    titles = [json.loads(s)["layout"]["title"]["text"] for s in specs(at)]
    assert "64" in titles[0]
    assert ("位置编码" if lang == "zh" else "Positional encoding") in titles[0]
    # The default sentence repeats "the": the experiment uses it, not the fallback.
    assert "the" in titles[3]


def test_the_table_is_the_formula():
    at = run_app("positional", pe_d_model="16", pe_positions="10", pe_base="100")
    np.testing.assert_allclose(z_of(specs(at)[0]), model.sinusoidal_encoding(10, 16, 100.0).numpy(), atol=1e-6)


def test_sliders_change_what_is_drawn():
    at = run_app("positional")
    before = specs(at)
    at.slider(key="pe_d_model").set_value(32).run()
    after = specs(at)
    assert after[0] != before[0] and after[2] != before[2]
    assert z_of(after[0]).shape == (64, 32)
    at.slider(key="pe_positions").set_value(20).run()
    assert z_of(specs(at)[0]).shape == (20, 32)
    at.select_slider(key="pe_base").set_value(100.0).run()
    np.testing.assert_allclose(z_of(specs(at)[0]), model.sinusoidal_encoding(20, 32, 100.0).numpy(), atol=1e-6)
    waves = specs(at)[1]
    at.multiselect(key="pe_dims").set_value([2, 3]).run()
    assert specs(at)[1] != waves and len(json.loads(specs(at)[1])["data"]) == 2
    assert not at.exception


def test_choosing_other_positions_redraws_the_experiment():
    at = run_app("positional", text="I saw a saw")
    first = specs(at)[3]
    assert (at.selectbox(key="pe_i").value, at.selectbox(key="pe_j").value) == (2, 4)
    at.selectbox(key="pe_j").set_value(3).run()
    assert specs(at)[3] != first
    assert not at.exception
    at.selectbox(key="pe_j").set_value(2).run()
    assert at.info and len(at.get("plotly_chart")) == 3


def test_largest_settings_stay_light():
    at = run_app("positional", pe_d_model="1024", pe_positions="512")
    assert not at.exception
    assert all(len(s) < 2_100_000 for s in specs(at))
    assert any("1024" in c.value for c in at.caption)


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world! Really?!",
        "the cat and the dog",
        "我看见了一把锯子",
        "😀 saw 😀 saw",
        "<script>alert(1)</script> <b>x</b> <b>x</b>",
        "",
    ],
)
def test_typed_sentences_give_a_picture(text):
    at = run_app("positional", text=text, lang="zh")
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 4
    assert all("<script>" not in s and "<b>" not in s for s in specs(at))


# --- RoPE (SmolLM2) -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smol_trace():
    from model.registry import load_named, trace_any

    return trace_any(load_named("SmolLM2-135M-Instruct", device="cpu"), "I saw a saw, and the saw was sharp.")


@pytest.mark.models
def test_shifting_both_positions_keeps_the_models_own_score(smol_trace):
    """On the model's own q and k (turned back to before RoPE): at s = 0 the score is the one the model used,
    with both positions shifted it stays, and with the query alone moved it changes."""
    from model.positional import rope_circle, rope_shift_scores, rotary_np

    trace, layer, head, m, n = smol_trace, 5, 4, 4, 2
    positions = np.arange(trace.n_positions)
    q = rotary_np(trace.layers[layer].q[head], positions, trace.layers[layer].rule.rope_base, inverse=True)[m]
    k = rotary_np(trace.layers[layer].k[head], positions, trace.layers[layer].rule.rope_base, inverse=True)[n]
    both, moved = rope_shift_scores(q, k, m, n, trace.layers[layer].rule.rope_base, np.arange(65))
    assert both[0] == pytest.approx(float(trace.layers[layer].scores[head][m, n]), abs=1e-4)
    assert np.ptp(both) < 1e-4 * max(1.0, abs(both[0]))
    assert np.ptp(moved) > 0.05
    radius = np.hypot(*rope_circle(q, 3, np.arange(20), trace.layers[layer].rule.rope_base).T)
    np.testing.assert_allclose(radius, radius[0], rtol=1e-5)  # a turn keeps the pair's length


def test_the_rope_panel_shows_for_the_decoder_only():
    at = run_app("positional", model="SmolLM2-135M-Instruct", text="I saw a saw.")
    assert not at.exception and not at.error
    titles = [str(json.loads(spec)["layout"].get("title", {}).get("text", "")) for spec in specs(at)]
    assert any(title.startswith("Shift both positions") for title in titles)
    assert any("comes out" in m.value or "Live check" in m.value for m in at.markdown)
    at = run_app("positional", text="I saw a saw.")
    assert not any("Shift both" in spec for spec in specs(at))


def test_the_rope_circle_s_caption_names_where_its_path_ends():
    """The dotted path runs from position 0 to the later copy of the word, and the caption says so (it said "to the
    end of the text", which the figure never reached when the word repeats before the end)."""
    at = run_app("positional", model="SmolLM2-135M-Instruct", text="I saw a saw, and then I left.")
    assert not at.exception and not at.error
    circle = next(json.loads(spec) for spec in specs(at) if "Pair 0" in str(json.loads(spec)["layout"]["title"]))
    path = next(trace for trace in circle["data"] if trace.get("mode") == "lines+markers")
    last = int(path["text"][-1].split()[-1])  # "position 3"
    caption = next(c.value for c in at.caption if "Dotted:" in c.value)
    assert f"from 0 to {last}, the later copy of the word" in caption
    assert "end of the text" not in caption
