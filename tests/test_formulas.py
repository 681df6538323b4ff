"""Each model's formulas as the page writes them (model/families/architecture.py, components/formulas.py): the
formula of every family, the words composed from it in both languages, and a trait still to come (QK-norm) as one
field. That each built-in family's Architecture makes its traced q, k, v is held in tests/test_families.py."""

from __future__ import annotations

import pytest

from components.formulas import feature_sentence, feed_forward, key_notes, making_query, model_formulas, row_formula
from model.families.architecture import ARTICLE, Architecture, matrix_formula, vector_formula
from model.registry import load_named

pytestmark = pytest.mark.fast

ENCODER = Architecture(norm="layer_norm", norm_first=False, bias=True)
GPT2 = Architecture(norm="layer_norm", norm_first=True, bias=True)
LLAMA = Architecture(norm="rms_norm", norm_first=True, bias=False, rope=True, kv_group=3, feed_forward="gated",
                     activation="silu")  # fmt: skip
QK_NORM = Architecture(norm="rms_norm", norm_first=True, bias=False, rope=True, qk_norm=True, kv_group=4,
                       feed_forward="gated", activation="gelu_pytorch_tanh")  # fmt: skip


@pytest.mark.parametrize(
    "arch, q, k, v, rows, values",
    [
        (ARTICLE, "W^q·aᵢ", "W^k·aⱼ", "W^v·aⱼ", "X·W^qᵀ", "X·W^vᵀ"),
        (ENCODER, "W^q·aᵢ + bias", "W^k·aⱼ + bias", "W^v·aⱼ + bias", "X·W^qᵀ + bias", "X·W^vᵀ + bias"),
        (GPT2, "W^q·LayerNorm(aᵢ) + bias", "W^k·LayerNorm(aⱼ) + bias", "W^v·LayerNorm(aⱼ) + bias",
         "LayerNorm(X)·W^qᵀ + bias", "LayerNorm(X)·W^vᵀ + bias"),
        (LLAMA, "RoPEᵢ(W^q·RMSNorm(aᵢ))", "RoPEⱼ(W^k·RMSNorm(aⱼ))", "W^v·RMSNorm(aⱼ)", "RoPE(RMSNorm(X)·W^qᵀ)",
         "RMSNorm(X)·W^vᵀ"),
        (QK_NORM, "RoPEᵢ(RMSNorm_head(W^q·RMSNorm(aᵢ)))", "RoPEⱼ(RMSNorm_head(W^k·RMSNorm(aⱼ)))", "W^v·RMSNorm(aⱼ)",
         "RoPE(RMSNorm_head(RMSNorm(X)·W^qᵀ))", "RMSNorm(X)·W^vᵀ"),
    ],
    ids=["article", "encoder", "gpt2", "llama", "qk-norm"],
)  # fmt: skip
def test_each_architecture_writes_its_own_formulas(arch, q, k, v, rows, values):
    assert (vector_formula(arch, "q", "i"), vector_formula(arch, "k", "j"), vector_formula(arch, "v", "j")) == (q, k, v)
    assert (matrix_formula(arch, "Q"), matrix_formula(arch, "V")) == (rows, values)


@pytest.mark.models
def test_the_built_in_models_describe_themselves():
    assert load_named("all-MiniLM-L6-v2").config.architecture == Architecture(bias=True, activation="gelu")
    smollm2 = load_named("SmolLM2-135M-Instruct").config.architecture
    assert smollm2 == LLAMA


def test_the_words_follow_the_formula_in_both_languages():
    rope = making_query("en", LLAMA, "“sat” (3)", 64)
    assert rope.startswith("normalize the vector aᵢ of token “sat” (3) with RMSNorm, multiply it by the learned")
    assert "(f, f + 32)" in rope and "(RoPE)" in rope and "through RoPE, and not through aᵢ" in rope
    assert "bias" not in rope and "already holds the token's position" not in rope
    plain = making_query("en", ENCODER, "“sat” (3)", 32)
    assert plain.startswith("multiply the vector aᵢ of token “sat” (3) by the learned matrix W^q and add a learned")
    assert "already holds the token's position" in plain and "RoPE" not in plain
    zh = making_query("zh", LLAMA, "“sat”（3）", 64)
    assert zh.startswith("先用 RMSNorm 对词元 “sat”（3） 的向量 aᵢ 做归一化，乘以学到的矩阵 W^q，再按位置 i")
    assert zh.endswith("位置信息是在这里通过 RoPE 进入的，而不是通过 aᵢ。")
    assert "RMSNorm_head" in making_query("en", QK_NORM, "x", 64) and "RMSNorm_head" in making_query(
        "zh", QK_NORM, "x", 64
    )
    assert "RoPE" not in making_query("en", LLAMA, "x", 64, with_positions=False)


def test_one_feature_of_q_is_one_row_s_dot_product_only_without_rope():
    assert feature_sentence("en", ENCODER, 32) == (
        "Each feature of qᵢ is the dot product of one row with aᵢ, plus its bias."
    )
    assert feature_sentence("en", GPT2, 32).startswith(
        "Each feature of qᵢ is the dot product of one row with LayerNorm(aᵢ)"
    )
    rope = feature_sentence("en", LLAMA, 64)
    assert not rope.startswith("Each feature of qᵢ is")
    assert rope.startswith("Each feature of W^q·RMSNorm(aᵢ) is the dot product of one row with RMSNorm(aᵢ).")
    assert "(f, f + 32)" in rope and "mixes two rows" in rope
    assert "RMSNorm_head" in feature_sentence("en", QK_NORM, 64)
    assert "混合了两行" in feature_sentence("zh", LLAMA, 64)


def test_the_model_sentence_keys_and_feed_forward():
    line = model_formulas("en", LLAMA, "SmolLM2-135M-Instruct")
    assert "qᵢ = RoPEᵢ(W^q·RMSNorm(aᵢ)), kᵢ = RoPEᵢ(W^k·RMSNorm(aᵢ)), vᵢ = W^v·RMSNorm(aᵢ)." in line
    assert "neither centres nor shifts" in line and "vᵢ is not turned" in line
    assert row_formula(LLAMA, "K") == "RoPE(RMSNorm(X)·W^kᵀ)" and row_formula(LLAMA, "K", False) == "RMSNorm(X)·W^kᵀ"
    assert key_notes("en", ENCODER) == "" and "group of 3" in key_notes("en", LLAMA)
    assert feed_forward("en", LLAMA).startswith("SwiGLU: SiLU(h·W_gateᵀ)") and "three matrices" in feed_forward(
        "en", LLAMA
    )
    assert feed_forward("en", QK_NORM).startswith("GeGLU")
    assert feed_forward("en", ENCODER) == "two linear maps with GELU between them"


def test_an_architecture_refuses_what_it_cannot_write():
    with pytest.raises(ValueError):
        Architecture(norm="batch_norm")
    with pytest.raises(ValueError):
        vector_formula(LLAMA, "z")
