"""The numbers the new panels compute themselves, each against an independent computation: explicit loops, the
closed form, brute force, `transformers` on the same weights. (The model/ functions they call are tested in
test_value_weighted, test_heads, test_hand, test_scaling, test_reach, test_importance and test_words.)"""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pytest
import torch

from components.figures.atlas import atlas_figure, curve_figure
from components.figures.experiments import reach_figure
from components.glossary import file_name
from components.views.atlas import available
from components.views.attention import compare_shares, strongest_key
from components.views.experiments import importance_for
from model.experiments.atlas import FIELDS, THRESHOLDS, atlas_from_json, corpus_stats, precomputed, read_sentences
from model.experiments.importance import ablation_effects
from model.experiments.scaling import dot_product_spread, histogram
from model.families.encoder import BUNDLED_NAME, E5_NAME, bundled_model_dir
from model.families.llama import SMOLLM2_NAME
from model.readouts.analysis import layer_w_o
from model.readouts.steps import full_w_o
from model.registry import load_named, trace_any
from tests.apptest import run_app, specs, z_of
from tests.test_reach import brute_force

pytestmark = pytest.mark.app

TEXT = "The animal didn't cross the street because it was too tired."
CORPUS = "assets/corpus"


def array(value: object) -> np.ndarray:
    """A number array from Plotly's JSON (a list, or a base64 typed array with or without a shape)."""
    if isinstance(value, dict) and "shape" not in value:
        value = {**value, "shape": str(len(base64.b64decode(value["bdata"])) // np.dtype(value["dtype"]).itemsize)}
    return z_of({"z": value})


def customdata(trace: dict) -> np.ndarray:
    return array(trace["customdata"])


# ── The Attention view ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("model", [BUNDLED_NAME, SMOLLM2_NAME])
def test_what_each_key_sends_is_the_length_of_its_term_in_an_explicit_loop(model):
    """‖α′ᵢⱼ · W^O_h vⱼ‖ per key, each row divided by its sum; SmolLM2's heads read a shared value head."""
    at = run_app("attention", model=model, text=TEXT, att_show="sent", layer="2", head="4")
    assert not at.exception
    drawn = z_of(specs(at)[0]["data"][0])  # [query, key]
    loaded = load_named(model)
    trace = trace_any(loaded, TEXT)
    lt, w_o = trace.layers[2], loaded.head_matrices(2, 4)["W_O"]  # W_O: [d_model, d_head]
    if trace.kv_heads:
        group = [h for h in range(trace.n_heads) if trace.kv_heads[h] == trace.kv_heads[4]]
        assert len(group) == 3 and all(np.array_equal(lt.v[h], lt.v[4]) for h in group)
    n = trace.n_positions
    expected = np.zeros((n, n))
    for i in range(n):
        lengths = [math.sqrt(sum(x * x for x in lt.weights[4][i, j] * (w_o @ lt.v[4][j]))) for j in range(n)]
        expected[i] = [length / sum(lengths) for length in lengths]
    np.testing.assert_allclose(drawn, expected, atol=2e-5)
    caption = next(c.value for c in at.caption if "is sent" in c.value)
    key, alpha, sent = strongest_key(lt.weights[4].astype(np.float64), expected)
    said = "about as much" if abs(sent - alpha) <= 0.1 * alpha else "but only" if sent < alpha else "even more"
    assert f"“{key} {trace.tokens[key]}”, the key with the most α′, gets {alpha:.1%} of α′ on average" in caption
    assert said in caption and f"{sent:.1%}" in caption


def test_the_value_weighted_caption_reads_the_numbers_it_names():
    """Issue 20, item 7: MiniLM L3 H11, "." gets 19.5 % of α′ and 20.0 % of what is sent; the caption used to say
    that a key with a large α′ but a short vⱼ·W^O sends little, beside these very numbers."""
    at = run_app("attention", text="The cat sat on the mat because it was warm.", layer="3", head="11", att_show="sent")
    caption = next(c.value for c in at.caption if "is sent" in c.value)
    assert "“11 .”, the key with the most α′, gets 19.5% of α′ on average and about as much, 20.0%" in caption
    assert "only" not in caption.split("Here")[1]


def test_a_word_sends_its_pieces_vectors_summed_before_the_norm():
    """Over words, what a split word sends is ‖Σ over its pieces of α′ᵢⱼ·W^O vⱼ‖ (a loop here), not the sum of
    their lengths, which only bounds it; the query word's rows are averaged over its pieces, as for α′."""
    text = "Unbelievably, the tokenizer splits words."
    at = run_app("attention", text=text, att_words="1", att_show="sent", layer="1", head="3")
    drawn = z_of(specs(at)[0]["data"][0])  # [query_word, key_word]
    loaded = load_named(BUNDLED_NAME)
    trace = trace_any(loaded, text)
    lt, w_o = trace.layers[1], loaded.head_matrices(1, 3)["W_O"].astype(np.float64)
    groups = [[0], [1, 2, 3, 4, 5], [6], [7], [8, 9], [10], [11], [12], [13]]
    sent = np.zeros((len(groups), len(groups)))
    bound = np.zeros_like(sent)
    for a, rows in enumerate(groups):
        for b, cols in enumerate(groups):
            for i in rows:
                vector = sum(lt.weights[3][i, j] * (w_o @ lt.v[3][j]) for j in cols)
                sent[a, b] += math.sqrt(sum(x * x for x in vector)) / len(rows)
                bound[a, b] += sum(lt.weights[3][i, j] * np.linalg.norm(w_o @ lt.v[3][j]) for j in cols) / len(rows)
    expected = sent / sent.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(drawn, expected, atol=2e-5)
    assert (bound[:, 1] > sent[:, 1] * 1.01).any(), "the split word's pieces point apart: the old sum overstated it"
    assert any("added before the length is taken" in c.value for c in at.caption)


def test_the_caption_compares_the_two_shares_as_they_are():
    assert compare_shares(0.195, 0.200) == "same" and compare_shares(0.30, 0.10) == "less"
    assert compare_shares(0.20, 0.35) == "more" and compare_shares(0.2, 0.2 * 1.09) == "same"


@pytest.mark.fast
def test_strongest_key_against_a_loop():
    rng = np.random.default_rng(3)
    weights, sent = rng.dirichlet(np.ones(6), size=6), rng.dirichlet(np.ones(6), size=6)  # [query, key]
    means = [sum(weights[i, j] for i in range(6)) / 6 for j in range(6)]
    best = max(range(6), key=means.__getitem__)
    assert strongest_key(weights, sent) == (best, pytest.approx(means[best]), pytest.approx(sent[:, best].mean()))


def test_words_merge_a_split_word_by_summing_its_keys_and_averaging_its_queries():
    text = "Unbelievably, the tokenizer splits words."
    at = run_app("attention", text=text, att_words="1", layer="1", head="3")
    spec = specs(at)[0]["data"][0]
    trace = trace_any(load_named(BUNDLED_NAME), text)
    assert trace.tokens == ("[CLS]", "un", "##bel", "##ie", "##va", "##bly", ",", "the", "token", "##izer", "splits",
                            "words", ".", "[SEP]")  # fmt: skip
    groups = [[0], [1, 2, 3, 4, 5], [6], [7], [8, 9], [10], [11], [12], [13]]  # by hand
    assert spec["y"] == ["0 [CLS]", "1 unbelievably", "2 ,", "3 the", "4 tokenizer", "5 splits", "6 words", "7 .",
                         "8 [SEP]"]  # fmt: skip
    alpha = trace.layers[1].weights[3]
    expected = [[sum(alpha[i, j] for i in rows for j in cols) / len(rows) for cols in groups] for rows in groups]
    np.testing.assert_allclose(z_of(spec), expected, atol=1e-5)


@pytest.mark.parametrize("scale", ["row", "log"])
def test_the_colour_scales_colour_what_they_say_and_hover_the_true_alpha(scale):
    at = run_app("attention", text="The bank of the river", att_scale=scale)
    spec = specs(at)[0]["data"][0]
    alpha = trace_any(load_named(BUNDLED_NAME), "The bank of the river").layers[3].weights[1]  # [query, key]
    np.testing.assert_allclose(customdata(spec), alpha, atol=1e-5)  # float32 on another thread count
    if scale == "row":
        expected = [[a / max(row) for a in row] for row in alpha]
    else:
        expected = [[math.log10(max(a, 1e-4)) for a in row] for row in alpha]
    np.testing.assert_allclose(z_of(spec), expected, atol=1e-5)


def test_download_names_follow_the_glossary():
    assert file_name("weight", layer=3, head=1) == "alpha_prime_layer3_head1"
    assert file_name("score", layer=0, head=2) == "alpha_layer0_head2"
    assert file_name("weight", prefix="playground", layer=0) == "playground_alpha_prime_layer0"
    with pytest.raises(ValueError):
        file_name("token")
    at = run_app("attention", text="The bank of the river")
    keys = [b.proto.id.rsplit("-", 1)[1] for b in at.get("download_button")]  # the widget key: format_name
    assert keys == ["csv_alpha_prime_layer3_head1", "json_alpha_prime_layer3_head1"]


# ── Step by step ⑦ ─────────────────────────────────────────────────────────────────────────────────


@pytest.mark.fast
def test_w_o_is_assembled_from_the_heads_slices_in_order():
    rng = np.random.default_rng(0)
    slices = rng.standard_normal((3, 5, 2))  # [head, d_model, d_head]
    w = full_w_o(slices)  # [head · d_head, d_model]
    for h in range(3):
        for d in range(2):
            np.testing.assert_array_equal(w[h * 2 + d], slices[h][:, d])


@pytest.mark.models
def test_concat_times_w_o_is_what_transformers_attention_output_computes():
    """The right panel of ⑦: concat(b)·W^O equals BertSelfOutput.dense of the same layer, less its bias."""
    transformers = pytest.importorskip("transformers")
    at = run_app("steps", text="I saw a saw.", layer="2", query="2")
    assert not at.exception
    drawn = z_of(specs(at)[1]["data"][2])  # [token, d_model]
    hf = transformers.BertModel.from_pretrained(str(bundled_model_dir()), attn_implementation="eager").eval()
    captured = {}
    dense = hf.encoder.layer[2].attention.output.dense
    hook = dense.register_forward_hook(lambda module, args, out: captured.update(out=out[0] - module.bias))
    ids = load_named(BUNDLED_NAME).tokenizer.encode("I saw a saw.").ids
    with torch.no_grad():
        hf(torch.tensor([ids]))
    hook.remove()
    np.testing.assert_allclose(drawn, captured["out"].numpy()[: len(drawn)], atol=2e-4)
    loaded = load_named(BUNDLED_NAME)
    np.testing.assert_allclose(
        full_w_o(layer_w_o(loaded.head_matrices, 2, 12)), dense.weight.detach().numpy().T, atol=1e-6
    )


# ── The head atlas ─────────────────────────────────────────────────────────────────────────────────


def shipped() -> list[tuple[str, str, dict]]:
    return [
        (model, corpus, precomputed(model, corpus))
        for model in (BUNDLED_NAME, E5_NAME, SMOLLM2_NAME)
        for corpus in ("en", "zh")
        if precomputed(model, corpus) is not None
    ]


@pytest.mark.fast
def test_every_built_in_model_ships_its_statistics_for_the_corpora_it_reads():
    assert {(m, c) for m, c, _ in shipped()} == {
        (BUNDLED_NAME, "en"),
        (E5_NAME, "en"),
        (E5_NAME, "zh"),
        (SMOLLM2_NAME, "en"),
        (SMOLLM2_NAME, "zh"),
    }
    assert available(BUNDLED_NAME) == ["en"] and available(E5_NAME) == ["en", "zh"]
    assert available("an operator's model") == ["en", "zh"]


@pytest.mark.models
@pytest.mark.slow(model=E5_NAME)
@pytest.mark.parametrize("model, corpus", [(BUNDLED_NAME, "en"), (E5_NAME, "en"), (E5_NAME, "zh")])
def test_shipped_statistics_are_those_of_the_model_and_corpus_today(model, corpus):
    """Recomputed from the corpus (about 2 s each; SmolLM2's 10 s are left to the command line)."""
    loaded = load_named(model)
    fresh = corpus_stats((trace_any(loaded, s) for s in read_sentences(f"{CORPUS}/{corpus}.txt")), model=model)
    atlas = atlas_from_json(precomputed(model, corpus), corpus)
    for field in FIELDS:
        np.testing.assert_allclose(atlas.values[field], fresh.values[field], atol=1e-3, err_msg=field)


@pytest.mark.fast
@pytest.mark.parametrize("model, corpus, payload", shipped(), ids=[f"{m}.{c}" for m, c, _ in shipped()])
def test_shipped_labels_and_curve_follow_from_the_numbers(model, corpus, payload):
    """The thresholds applied by hand to every head (broad: breadth > 0.8 and no more than half on position 0 or on
    the special tokens), and the per-layer curve as a plain mean."""
    names = {"prev": "previous", "next": "next", "special": "special", "self": "self", "breadth": "broad"}
    n_layers = 1 + max(h["layer"] for h in payload["heads"])
    for h in payload["heads"]:
        expected = [names[f] for f, cut in THRESHOLDS.items() if h[f] is not None and h[f] > cut]
        if h["first"] > 0.5 or h["special"] > 0.5:
            expected = [name for name in expected if name != "broad"]
        assert h["labels"] == expected, (h["layer"], h["head"])
    for layer in range(n_layers):
        values = [h["special"] for h in payload["heads"] if h["layer"] == layer]
        assert payload["special_by_layer"][layer] == pytest.approx(sum(values) / len(values), abs=2e-4)
    assert payload["n_sentences"] == len(read_sentences(f"{CORPUS}/{corpus}.txt"))


def test_the_atlas_page_counts_the_shipped_broad_heads_and_says_whose_cuts_they_are():
    """SmolLM2's English atlas: the broad heads listed are those of the shipped file (13 with the length-fair
    breadth, where the earlier e^H / n called 111 broad), each label says whether its cut is Clark et al.'s or
    this app's, and a note says that breadth changed."""
    payload = precomputed(SMOLLM2_NAME, "en")
    broad = [h for h in payload["heads"] if "broad" in h["labels"]]
    assert len(broad) == 13
    at = run_app("atlas", model=SMOLLM2_NAME, atlas_corpus="en")
    assert not at.exception
    lines = {line.split("**")[1]: line for m in at.markdown for line in m.value.splitlines() if "**" in line}
    assert "n = 13:" in lines["Broad heads"] and "this app's rule" in lines["Broad heads"]
    assert "Clark et al.'s cut" in lines["Previous-token heads"] and "Clark et al.'s cut" in lines["Next-token heads"]
    assert "this app's cut" in lines["Special-token heads"] and "this app's cut" in lines["Self heads"]
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Changed: breadth") for c in captions)
    assert any("special > 0.6, this app's cut" in c and "breadth > 0.8" in c for c in captions)
    assert any("a suggestion, not a finding" in c for c in captions)


@pytest.mark.fast
def test_the_atlas_map_and_curve_draw_the_shipped_numbers():
    payload = precomputed(E5_NAME, "zh")
    atlas = atlas_from_json(payload, "zh")
    assert atlas.shape == (12, 12)
    fig = json.loads(atlas_figure(atlas, "prev", chosen=(3, 1)).to_json())
    heat, cells = fig["data"]
    z = z_of(heat)
    for h in payload["heads"]:
        assert z[h["layer"], h["head"]] == pytest.approx(h["prev"], abs=1e-6)
    clicks = customdata(cells)  # [cell, 2 + fields]: what a click reads back
    for k, h in enumerate(payload["heads"]):
        assert tuple(clicks[k, :2]) == (h["layer"], h["head"])
        assert array(cells["x"])[k] == h["head"] and array(cells["y"])[k] == h["layer"]
    curve = json.loads(curve_figure({"special": atlas.by_layer("special")}).to_json())["data"][0]
    np.testing.assert_allclose(array(curve["y"]), payload["special_by_layer"], atol=1e-4)
    marks = cells["text"]
    assert marks[0 * 12 + 2] == "←"  # layer 0 · head 2 is e5's previous-token head
    assert sum("▣" in m for m in marks) == sum("special" in h["labels"] for h in payload["heads"])


# ── The Experiments view ───────────────────────────────────────────────────────────────────────────


def latex_numbers(latex: str) -> np.ndarray:
    """The entries of the last bmatrix of a LaTeX line, as a matrix."""
    body = latex.rsplit(r"\begin{bmatrix}", 1)[1].split(r"\end{bmatrix}")[0]
    return np.array([[float(x) for x in row.split("&")] for row in body.split(r"\\")])


def test_the_hand_example_on_the_page_is_explicit_arithmetic():
    at = run_app("lab", text=TEXT)
    assert not at.exception
    lines = [e.value.strip("$\n") for e in at.latex]
    by_name = {re.match(r"[^=]+", line).group(0).strip(): line for line in lines}
    inputs = [[1, 0, 1, 0], [0, 2, 0, 1], [1, 1, 0, 0]]
    w = {"q": [[1, 0, 1], [0, 1, 0]], "k": [[0, 1, 1], [1, 0, 0]], "v": [[1, 1, 0], [0, 0, 2]]}

    def matmul(a, b):
        return [[sum(a[i][t] * b[t][j] for t in range(len(b))) for j in range(len(b[0]))] for i in range(len(a))]

    q, k, v = (matmul(w[x], inputs) for x in "qkv")
    a = [[sum(k[d][j] * q[d][i] for d in range(2)) for i in range(4)] for j in range(4)]  # A[j][i] = kⱼ·qᵢ
    a_prime = [[math.exp(a[j][i]) / sum(math.exp(a[r][i]) for r in range(4)) for i in range(4)] for j in range(4)]
    o = matmul(v, a_prime)
    np.testing.assert_array_equal(latex_numbers(by_name["Q"]), q)
    np.testing.assert_array_equal(latex_numbers(by_name["A"]), a)
    np.testing.assert_allclose(latex_numbers(by_name["A'"]), a_prime, atol=0.005)
    np.testing.assert_allclose(latex_numbers(by_name["O"]), o, atol=0.005)
    np.testing.assert_allclose(latex_numbers(next(x for x in lines if x.startswith("Z"))), np.array(o).T, atol=0.005)


@pytest.mark.fast
def test_the_histogram_counts_match_a_loop():
    spread = dot_product_spread(16, n_queries=50)
    centres, unscaled, scaled = histogram(spread, bins=9)
    width = centres[1] - centres[0]
    low = centres[0] - width / 2
    for counts, values in ((unscaled, spread.unscaled), (scaled, spread.scaled)):
        loop = [0] * 9
        for x in values:
            loop[min(8, max(0, int((x - low) // width)))] += 1
        assert list(counts) == loop


@pytest.mark.fast
def test_the_reach_figure_is_the_brute_force_product_of_the_masks():
    labels = [str(i) for i in range(11)]
    names = {kind: kind for kind in ("none", "causal", "window2", "window", "rnn")}
    fig = json.loads(reach_figure(labels, 6, 3, names, ["1", "2", "3"]).to_json())
    for trace, kind in zip(fig["data"], names, strict=True):
        drawn = z_of(trace)  # [layer, pos]
        for steps in (1, 2, 3):
            np.testing.assert_array_equal(drawn[steps - 1], brute_force(kind, 11, 3, steps)[6], err_msg=kind)


def test_the_reach_table_counts_an_rnn_in_one_layer_and_both_works_with_their_d():
    """Issue 20, item 5: an RNN joins the ends in one layer along n − 1 steps (not n − 1 layers); n²·d multiply-adds
    against n·d², with the model's d and which is cheaper; no "about twice as many" for a two-sided window."""
    at = run_app("lab", text=TEXT)
    at.session_state["lab_tab"] = "Attention vs window vs RNN"
    at.run()
    assert not at.exception
    table = next(m.value for m in at.markdown if m.value.startswith("| kind"))
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1:] for line in table.splitlines()[2:]}
    n = trace_any(load_named(BUNDLED_NAME), TEXT).n_positions  # 16, all drawn
    rnn = next(cells for name, cells in rows.items() if name.startswith("RNN"))
    assert [c.strip(" |") for c in rnn] == ["2", "1", str(n - 1), str(n), f"{n * 384 * 384:,}", str(n)]
    attention = rows["self-attention (encoder)"]
    assert [c.strip(" |") for c in attention] == [str(n), "1", "1", str(n * n), f"{n * n * 384:,}", "1"]
    assert "multiply-adds per layer (d = 384)" in table.splitlines()[0]
    caption = next(c.value for c in at.caption if "multiply-adds" in c.value)
    assert f"Here n = {n} < d = 384: self-attention does less work per layer than the RNN." in caption
    assert "twice as many" not in caption and "never for w ≤ 2" in caption


@pytest.mark.models
def test_the_importance_test_re_runs_the_model_once_per_key():
    loaded = load_named(BUNDLED_NAME)
    runs = []

    def run(ablate):
        runs.append(ablate)
        return trace_any(loaded, "The bank of the river", ablate=ablate)

    direct = ablation_effects(run, 3, 1, 5, max_keys=24)
    cached = importance_for.__wrapped__(BUNDLED_NAME, "The bank of the river", 3, 1, 5)
    assert len(runs) == 1 + 7, "one ordinary run and one per key"
    np.testing.assert_allclose(cached.l2, direct.l2, atol=1e-5)  # float32 on one thread and on several
    np.testing.assert_array_equal(cached.keys, direct.keys)
    capped = importance_for.__wrapped__(BUNDLED_NAME, "The bank of the river", 3, 1, 5, max_keys=3)
    assert len(capped.keys) == 3 and capped.skipped == 4
    assert set(capped.keys) == set(np.argsort(-direct.weights)[:3])


def test_the_page_s_rho_is_the_rank_correlation_of_its_bars():
    at = run_app("lab", text="The bank of the river", lab_tab="Attention vs importance")
    at.session_state["lab_tab"] = "Attention vs importance"
    at.run()
    at.button(key="lab_run").click().run()
    assert not at.exception
    bars = specs(at)[0]["data"]
    weights, effects = array(bars[0]["y"]), array(bars[1]["y"])
    rank = lambda x: np.argsort(np.argsort(x))  # noqa: E731 - no ties among these floats
    d = rank(weights) - rank(effects)
    n = len(d)
    rho = 1 - 6 * (d * d).sum() / (n * (n * n - 1))
    assert f"## ρ = {rho:+.2f}" in [m.value for m in at.markdown]


def test_the_page_removes_a_key_from_one_query_by_default_and_reads_the_rho_it_got():
    """Issue 20's example: by default the key leaves query 7's output alone (ρ = +0.82, read as agreement); the
    whole-head variant is the second choice (ρ = −0.27, read as disagreement); "A low ρ is the point" is gone."""
    text = "The cat sat on the mat because it was warm."
    at = run_app("lab", text=text, layer="2", head="3")
    at.session_state["lab_tab"] = "Attention vs importance"
    at.run()
    at.selectbox(key="lab_query").set_value(7).run()
    assert at.segmented_control(key="lab_scope").value == "query"
    assert at.segmented_control(key="lab_scope").options == ["from query i only", "from every query of the head"]
    expected = {"query": ("+0.82", "by and large"), "head": ("-0.27", "says little")}
    for scope, (rho, words) in expected.items():
        at.segmented_control(key="lab_scope").set_value(scope).run()
        at.button(key="lab_run").click().run()
        assert not at.exception
        markdown = [m.value for m in at.markdown]
        assert f"## ρ = {rho}" in markdown, (scope, markdown)
        assert any(m.startswith("Here") and words in m for m in markdown), scope
        texts = markdown + [c.value for c in at.caption]
        assert not any("low ρ is the point" in x for x in texts)
        assert any("Changed:" in c.value for c in at.caption)


# ── Positional encoding ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("d_model", [64, 63])
def test_the_similarity_caption_gives_the_diagonal_exactly(d_model):
    at = run_app("positional", pe_d_model=str(d_model), pe_positions="40")
    caption = next(c.value for c in at.caption if "sin² + cos²" in c.value)
    pairs = d_model // 2
    diagonal = [
        pairs + (math.sin(p / 10_000 ** ((d_model - 1) / d_model)) ** 2 if d_model % 2 else 0) for p in range(40)
    ]
    expected = " – ".join(dict.fromkeys(f"{x:.4g}" for x in (min(diagonal), max(diagonal))))
    assert f"({expected} here" in caption
