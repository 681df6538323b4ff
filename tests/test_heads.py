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

from model.experiments import atlas
from model.experiments.atlas import (
    FIELDS,
    HeadStats,
    corpus_stats,
    precomputed,
    read_sentences,
    sentence_stats,
    shipped_files,
)
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
    """The module docstring's definitions for one head and one sentence of an encoder (every query sees all n
    keys), written as plain loops; breadth is NaN below 8 tokens.  attn: [q, k]"""
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
        "breadth": sum(h / math.log(n) for h in entropy) / n if n >= 8 else math.nan,
    }


@pytest.mark.models
def test_statistics_match_a_loop_over_transformers_attentions(pretrained, hf_model):
    sentences = [*read_sentences(CORPUS / "en.txt")[:6], "Go now."]  # the last one too short for breadth
    values = {field: [[[] for _ in range(12)] for _ in range(6)] for field in FIELDS}  # [layer][head] -> sentences
    for text in sentences:
        encoding = pretrained.tokenizer.encode(text)
        with torch.no_grad():
            out = hf_model(torch.tensor([encoding.ids]), output_attentions=True)
        for layer, attn in enumerate(out.attentions):
            for head in range(12):
                one = loop_stats(attn[0, head].double().numpy(), encoding.tokens, encoding.special_tokens_mask)
                for field, value in one.items():
                    if not math.isnan(value):
                        values[field][layer][head].append(value)
    expected = {field: np.array([[np.mean(h) for h in row] for row in values[field]]) for field in FIELDS}
    assert len(values["breadth"][0][0]) == 6 and len(values["self"][0][0]) == 7
    stats = corpus_stats(trace_any(pretrained, s) for s in sentences)
    assert stats.n_sentences == stats.n_pairs == 7 and stats.model == "all-MiniLM-L6-v2"
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
    """Breadth under a causal mask: Hᵢ / ln nᵢ over the queries that see at least 8 keys (queries 7 … 10 of 11),
    each against the number of keys it sees, in a loop."""
    trace = trace_playground(PlaygroundConfig(d_model=8, n_heads=2, mask="causal", char_tokens=True), "abcdefghijk")
    stats = sentence_stats(trace.weights, trace.is_special(), np.zeros(11, bool), trace.layers[0].rule.mask)
    assert np.allclose(stats["next"], 0.0)
    w = trace.weights[0].astype(np.float64)  # [head, q, k]
    for head in range(2):
        normalised = []
        for i in range(7, 11):
            seen = w[head, i, : i + 1]  # keys 0 … i
            normalised.append(-sum(a * math.log(a) for a in seen if a > 0) / math.log(i + 1))
        assert stats["breadth"][0, head] == pytest.approx(np.mean(normalised), abs=1e-6)


def test_breadth_is_undefined_where_no_query_sees_eight_keys():
    for config, text in (
        (PlaygroundConfig(d_model=8, n_heads=2, mask="window", window=1, char_tokens=True), "abcdefghijk"),
        (PlaygroundConfig(d_model=8, n_heads=2, char_tokens=True), "abcdefg"),  # 7 keys, each query sees all
    ):
        trace = trace_playground(config, text)
        stats = corpus_stats([trace, trace])
        assert np.isnan(stats.values["breadth"]).all() and not np.isnan(stats.values["prev"]).any()
        assert stats.to_json()["heads"][0]["breadth"] is None
    window = trace_playground(PlaygroundConfig(d_model=8, n_heads=2, mask="window", window=1, char_tokens=True), "ab")
    one_key = corpus_stats([window])
    assert np.allclose(one_key.values["self"], 1.0) and one_key.labels(0, 0) == ["self"]


def test_a_uniform_head_is_equally_broad_at_every_length():
    """The reason for the normalisation: an even spread is breadth 1 over 8 keys and over 40, where e^H / n would
    also be 1 but H alone grows from ln 8 to ln 40, and a row on one key is 0 at any length."""
    for n in (8, 40):
        even = np.full((1, 1, n, n), 1 / n)
        assert sentence_stats(even, np.zeros(n, bool), np.zeros(n, bool))["breadth"][0, 0] == pytest.approx(1.0)
        parked = np.zeros((1, 1, n, n))
        parked[..., 0] = 1.0
        assert sentence_stats(parked, np.zeros(n, bool), np.zeros(n, bool))["breadth"][0, 0] == pytest.approx(0.0)


def test_labels_use_the_papers_thresholds_and_the_app_s():
    values = {field: np.zeros((1, 9)) for field in FIELDS}
    values["prev"][0] = [0.51, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    values["next"][0, 2] = 0.7
    values["special"][0] = [0.0, 0.0, 0.0, 0.61, 0.6, 0.0, 0.0, 0.55, 0.5]
    values["breadth"][0] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.81, 0.9, 0.9, 0.9]
    values["first"][0, 6] = 0.51  # more than half on position 0: not broad, however the rest spreads
    stats = HeadStats("m", 1, 1, values)
    assert [stats.labels(0, h) for h in range(9)] == [
        ["previous"], [], ["next"], ["special"], [], ["broad"], [], [], ["broad"],
    ]  # fmt: skip
    assert atlas.PAPER_THRESHOLDS == ("prev", "next") and atlas.THRESHOLDS["breadth"] == 0.8


def test_no_head_that_parks_half_its_weight_on_one_place_is_broad_in_any_shipped_file():
    """Every shipped atlas file, whichever models ship: a head labelled broad puts no more than half its α′ on
    position 0, nor on the special tokens together (issue 20: 63 of SmolLM2's 111 "broad" heads did)."""
    files = shipped_files()
    assert len(files) >= 5, files
    for model, corpus in files:
        for h in precomputed(model, corpus)["heads"]:
            if "broad" in h["labels"]:
                assert h["first"] <= 0.5 and h["special"] <= 0.5, (model, corpus, h)
                assert h["breadth"] > 0.8, (model, corpus, h)


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


def test_the_command_line_writes_the_shipped_file_and_regenerates_every_one(tmp_path, monkeypatch):
    """`--corpus en --write` writes what the atlas ships (the same numbers and labels as the file in the repository);
    `--regenerate` writes every file of the folder again, so that one command refreshes them all."""
    monkeypatch.setattr(atlas, "PRECOMPUTED_DIR", tmp_path)
    assert atlas.main(["--model", "all-MiniLM-L6-v2", "--corpus", "en", "--write"]) == 0
    target = tmp_path / "all-MiniLM-L6-v2.en.json"
    written = json.loads(target.read_text(encoding="utf-8"))
    shipped = json.loads((ROOT / "assets" / "heads" / "all-MiniLM-L6-v2.en.json").read_text(encoding="utf-8"))
    assert written["n_sentences"] == shipped["n_sentences"] == 100
    for ours, theirs in zip(written["heads"], shipped["heads"], strict=True):
        assert ours["labels"] == theirs["labels"]
        for field in FIELDS:
            assert ours[field] == pytest.approx(theirs[field], abs=1e-3), field
    target.write_text("{}", encoding="utf-8")  # stale
    assert atlas.shipped_files() == [("all-MiniLM-L6-v2", "en")]
    assert atlas.main(["--regenerate"]) == 0
    assert json.loads(target.read_text(encoding="utf-8")) == written
    with pytest.raises(SystemExit):
        atlas.main(["--model", "all-MiniLM-L6-v2", "--text-file", str(CORPUS / "en.txt"), "--write"])


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
    assert shipped is not None, "regenerate: python -m model.heads --regenerate"
    assert shipped["n_sentences"] == len(read_sentences(CORPUS / "en.txt"))
    assert len(shipped["heads"]) == 72 and shipped["model"] == "all-MiniLM-L6-v2"
    assert precomputed("all-MiniLM-L6-v2", "xx") is None
