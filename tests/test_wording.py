"""What the strings say, held to the facts and to the words the course uses (issue 20): the glossary's decoder
clauses, the √d captions against the numbers drawn, the article's b¹ as this app's b₀, and the Chinese terms
(查询词元, 只能回看前面的词元, 注意力分数 for α, 热力图 not 地图, 注意力汇聚点 with "attention sink" beside it)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from components.glossary import glossary
from components.i18n import strings, t
from model.experiments.scaling import dot_product_spread
from tests.apptest import run_app

pytestmark = pytest.mark.fast


def zh_strings() -> dict[str, str]:
    """Every Chinese text on the page: the i18n strings and the glossary's names and definitions."""
    texts = {key: entry["zh"] for key, entry in strings().items()}
    for key, term in glossary().items():
        texts[f"glossary.{key}.name"] = term.name["zh"]
        texts[f"glossary.{key}.definition"] = term.definition["zh"]
    return texts


def test_the_decoder_never_looks_ahead_in_chinese():
    """往前看 / 向前看 read as "looks ahead"; a decoder looks back (只能回看前面的词元), and a query is 查询词元."""
    wrong = {k: v for k, v in zh_strings().items() if any(w in v for w in ("往前看", "向前看", "提问词元"))}
    assert not wrong, wrong
    assert t("zh", "models.about_SmolLM2-135M-Instruct").endswith("只能回看前面的词元")
    assert "查询词元之后" in t("zh", "compare.real_share") and "只能回看前面的词元" in t("zh", "compare.real_share")
    assert "回看前面 w − 1 个词元" in t("zh", "lab.reach_table_caption")


def test_the_score_is_always_zhuyili_fenshu():
    """α is 注意力分数 (the glossary's name) and never 得分; the training view's 得分 is its pattern score (模式得分),
    another quantity."""
    wrong = {k: v for k, v in zh_strings().items() if "得分" in v and not k.startswith("training.")}
    assert not wrong, wrong
    assert glossary()["score"].name["zh"] == "注意力分数"
    for key in ("steps.temperature", "steps.step4_mask", "steps.step5_softmax", "qkv.tab_projections",
                "qkv.scores_heading"):  # fmt: skip
        assert "注意力分数" in t("zh", key), key


def test_the_atlas_draws_a_heatmap_not_a_map_and_names_the_attention_sink():
    atlas = {k: v for k, v in zh_strings().items() if k.startswith("atlas.")}
    assert not [k for k, v in atlas.items() if "地图" in v]
    assert "热力图" in t("zh", "atlas.marks_off")
    sinks = {k: v for k, v in zh_strings().items() if "注意力汇聚点" in v}
    assert sinks, "the term is used"
    for key, text in sinks.items():
        assert "attention sink" in text, key


def test_the_article_counts_from_one_and_this_app_from_zero():
    assert "文章记作 a¹…aⁿ" in glossary()["input_matrix"].definition["zh"]
    assert "本应用记作 a₀…aₙ₋₁" in glossary()["input_matrix"].definition["zh"]
    assert "a¹ … aⁿ" in glossary()["input_matrix"].definition["en"]
    assert "a₀ … aₙ₋₁" in glossary()["input_matrix"].definition["en"]
    for lang in ("en", "zh"):
        help_text = t(lang, "lab.hand_scale_help")
        assert "b¹" in help_text and "b₀" in help_text and "b₁" not in help_text


def test_the_glossary_says_what_every_model_does():
    """Entries shown on every model carry the decoder's clause: a gated feed-forward of three matrices, RMSNorm that
    neither centres nor shifts, key and value matrices shared by a group of heads; ÷√d needs mean 0 too."""
    terms = glossary()
    assert (
        "three matrices" in terms["feed_forward"].definition["en"]
        and "SwiGLU" in terms["feed_forward"].definition["zh"]
    )
    assert "neither centres nor shifts" in terms["layer_norm"].definition["en"]
    assert "既不减去均值，也不加偏移" in terms["layer_norm"].definition["zh"]
    assert "RMSNorm" in terms["layer_norm"].symbol
    assert (
        "shares one W^k and W^v" in terms["head"].definition["en"]
        and "共用一个 W^k 和 W^v" in terms["head"].definition["zh"]
    )
    assert "mean 0 and variance 1" in terms["scale"].definition["en"]
    assert "均值为 0、方差为 1" in terms["scale"].definition["zh"]


@pytest.mark.app
def test_the_sqrt_d_caption_gives_the_share_beyond_one_standard_deviation():
    """q·k has standard deviation √d_head: a spread, not a bound. The caption counts the scores beyond ±√d_head in
    the drawn sample (a loop here): about a third at large widths, as for a normal variable (1 − erf(1/√2) ≈ 0.317),
    fewer at small ones, where q·k is far from normal."""
    assert 1 - math.erf(1 / math.sqrt(2)) == pytest.approx(0.317, abs=1e-3)
    for d in (64, 512):
        spread = dot_product_spread(d)
        assert 0.29 < float(np.mean(np.abs(spread.unscaled) > math.sqrt(d))) < 0.35
        assert float(np.std(spread.scaled)) == pytest.approx(1.0, abs=0.05)
    at = run_app("lab")
    at.session_state["lab_tab"] = t("en", "lab.tab_sqrt_d")
    at.run()
    caption = next(c.value for c in at.caption if "standard deviation" in c.value)
    spread = dot_product_spread(64)  # the slider's default width
    outside = sum(1 for x in spread.unscaled if abs(x) > 8) / len(spread.unscaled)
    assert f"{outside:.0%} of these scores lie further out than ±√d_head" in caption
    assert "±1" not in caption and "spread over" not in caption


@pytest.mark.app
def test_the_sqrt_d_table_writes_an_even_share_of_one_sixteenth_exactly():
    at = run_app("lab")
    at.session_state["lab_tab"] = t("en", "lab.tab_sqrt_d")
    at.run()
    assert not at.exception
    caption = next(c.value for c in at.caption if "Spread evenly" in c.value)
    assert "each key would get 0.0625." in caption
