"""Head statistics against a direct loop over `transformers`' own attentions, the labels' thresholds, the
corpus, and the command line whose last line is the JSON the head atlas reads."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from model.experiments.atlas import FIELDS, HeadStats, corpus_stats, precomputed, read_sentences, sentence_stats
from model.experiments.playground import PlaygroundConfig, trace_playground
from model.families.encoder import bundled_model_dir
from model.registry import trace_any

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "assets" / "corpus"
PUNCTUATION = set(",.!?;:'\"()-$%")  # MiniLM's pieces for the sentences below that are punctuation


@pytest.fixture(scope="module")
def hf_model():
    transformers = pytest.importorskip("transformers")
    return transformers.BertModel.from_pretrained(str(bundled_model_dir()), attn_implementation="eager").eval()


def loop_stats(attn: np.ndarray, tokens: list[str], special: list[bool]) -> dict[str, float]:
    """The module docstring's definitions for one head and one sentence, written as plain loops.  attn: [q, k]"""
    n = len(tokens)
    rows = range(n)
    entropy = [-sum(a * math.log(a) for a in attn[i] if a > 0) for i in rows]
    return {
        "prev": sum(attn[i, i - 1] for i in range(1, n)) / (n - 1),
        "next": sum(attn[i, i + 1] for i in range(n - 1)) / (n - 1),
        "self": sum(attn[i, i] for i in rows) / n,
        "special": sum(attn[i, j] for i in rows for j in range(n) if special[j]) / n,
        "punct": sum(attn[i, j] for i in rows for j in range(n) if tokens[j] in PUNCTUATION) / n,
        "first": sum(attn[i, 0] for i in rows) / n,
        "entropy": sum(entropy) / n,
        "breadth": sum(math.exp(h) / n for h in entropy) / n,
    }


@pytest.mark.models
def test_statistics_match_a_loop_over_transformers_attentions(pretrained, hf_model):
    sentences = read_sentences(CORPUS / "en.txt")[:6]
    expected = {field: np.zeros((6, 12)) for field in FIELDS}
    for text in sentences:
        encoding = pretrained.tokenizer.encode(text)
        with torch.no_grad():
            out = hf_model(torch.tensor([encoding.ids]), output_attentions=True)
        for layer, attn in enumerate(out.attentions):
            for head in range(12):
                one = loop_stats(attn[0, head].double().numpy(), encoding.tokens, encoding.special_tokens_mask)
                for field, value in one.items():
                    expected[field][layer, head] += value / len(sentences)
    stats = corpus_stats(trace_any(pretrained, s) for s in sentences)
    assert stats.n_sentences == stats.n_pairs == 6 and stats.model == "all-MiniLM-L6-v2"
    for field in FIELDS:
        np.testing.assert_allclose(stats.values[field], expected[field], atol=2e-5, err_msg=field)


def test_a_sentence_of_one_token_is_left_out_of_prev_and_next_only():
    cfg = PlaygroundConfig(d_model=8, n_heads=2, char_tokens=True)
    one, two = trace_playground(cfg, "a"), trace_playground(cfg, "ab")
    alone = sentence_stats(one.weights, one.is_special(), np.zeros(1, bool))
    assert np.isnan(alone["prev"]).all() and np.isnan(alone["next"]).all()
    assert np.allclose(alone["self"], 1.0) and np.allclose(alone["entropy"], 0.0)
    stats = corpus_stats([one, two])
    assert (stats.n_sentences, stats.n_pairs) == (2, 1)
    w = two.weights  # [layer, head, q, k]
    np.testing.assert_allclose(stats.values["prev"], w[..., 1, 0], atol=1e-6)  # "ab" alone
    np.testing.assert_allclose(stats.values["self"], (1.0 + (w[..., 0, 0] + w[..., 1, 1]) / 2) / 2, atol=1e-6)
    only_one = corpus_stats([one])
    assert np.isnan(only_one.values["prev"]).all()
    assert only_one.to_json()["heads"][0]["prev"] is None
    assert only_one.labels(0, 0) == ["self"]


def test_a_causal_mask_counts_only_the_keys_a_query_may_see():
    trace = trace_playground(PlaygroundConfig(d_model=8, n_heads=2, mask="causal", char_tokens=True), "abcd")
    stats = sentence_stats(trace.weights, trace.is_special(), np.zeros(4, bool), trace.mask)
    assert np.allclose(stats["next"], 0.0)
    w = trace.weights.astype(np.float64)
    logs = np.log(w, out=np.zeros_like(w), where=w > 0)
    row_entropy = -(w * logs).sum(-1)  # [layer, head, q]
    breadth = (np.exp(row_entropy[..., 1:]) / np.arange(2, 5)).mean(-1)  # query 0 sees one key: left out
    np.testing.assert_allclose(stats["breadth"], breadth, atol=1e-6)


def test_breadth_is_undefined_where_every_query_sees_one_key():
    trace = trace_playground(PlaygroundConfig(d_model=8, n_heads=2, mask="window", window=1, char_tokens=True), "abc")
    stats = corpus_stats([trace, trace])
    assert np.isnan(stats.values["breadth"]).all() and np.allclose(stats.values["self"], 1.0)
    assert np.allclose(stats.values["prev"], 0.0) and stats.labels(0, 0) == ["self"]


def test_labels_use_the_papers_thresholds():
    values = {field: np.zeros((1, 5)) for field in FIELDS}
    values["prev"][0] = [0.51, 0.5, 0.0, 0.0, 0.0]
    values["next"][0, 2] = 0.7
    values["special"][0] = [0.0, 0.0, 0.0, 0.61, 0.6]
    values["breadth"][0, 4] = 0.55
    stats = HeadStats("m", 1, 1, values)
    assert [stats.labels(0, h) for h in range(5)] == [["previous"], [], ["next"], ["special"], ["broad"]]


@pytest.mark.models
def test_minilm_has_the_heads_clark_et_al_describe(pretrained):
    """Against the world: BERT-family models have a previous-token head and heads parked on [CLS]/[SEP]."""
    stats = corpus_stats(trace_any(pretrained, s) for s in read_sentences(CORPUS / "en.txt")[:20])
    labels = [stats.labels(layer, head) for layer in range(6) for head in range(12)]
    assert stats.values["prev"].max() > 0.9
    assert sum("previous" in x for x in labels) >= 1 and sum("special" in x for x in labels) >= 10
    assert stats.special_by_layer()[1:].mean() > stats.special_by_layer()[0], "sinks grow after layer 0"


@pytest.mark.models
def test_command_line_prints_the_json_last(tmp_path):
    text = tmp_path / "s.txt"
    text.write_text("The cat sat.\n\n  A dog barked loudly!  \n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "model.heads", "--model", "all-MiniLM-L6-v2", "--text-file", str(text)],
        capture_output=True, text=True, cwd=ROOT, check=True, timeout=300,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["model"] == "all-MiniLM-L6-v2" and result["n_sentences"] == 2
    assert len(result["heads"]) == 72
    assert {"layer", "head", "prev", "next", "self", "special", "entropy"} <= set(result["heads"][0])
    assert [(h["layer"], h["head"]) for h in result["heads"][:13]] == [(0, h) for h in range(12)] + [(1, 0)]
    assert len(result["special_by_layer"]) == 6


def test_command_line_refuses_an_empty_file(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "model.heads", "--text-file", str(empty)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "holds no sentence" in done.stderr


def test_corpus_files_ship_about_a_hundred_sentences_each():
    en, zh = read_sentences(CORPUS / "en.txt"), read_sentences(CORPUS / "zh.txt")
    assert len(en) == len(zh) == 100
    assert len(set(en)) == len(en) and len(set(zh)) == len(zh)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in s) for s in zh)
    assert sum("，" in s or "。" in s for s in zh) > 90, "Chinese sentences use full-width punctuation"
    assert not any(ch in s for s in zh for ch in ",.?!;:"), "no half-width punctuation in the Chinese corpus"


def test_shipped_head_statistics_are_those_of_the_shipped_corpus():
    shipped = precomputed("all-MiniLM-L6-v2", "en")
    assert shipped is not None, "regenerate: python -m model.heads --text-file assets/corpus/en.txt | tail -n 1"
    assert shipped["n_sentences"] == len(read_sentences(CORPUS / "en.txt"))
    assert len(shipped["heads"]) == 72 and shipped["model"] == "all-MiniLM-L6-v2"
    assert precomputed("all-MiniLM-L6-v2", "xx") is None
