"""Merging sub-word pieces into words: groups from each tokenizer's marks, and α′ merged against a loop."""

from __future__ import annotations

import numpy as np
import pytest

from model.readouts.words import Words, is_punctuation, merge_words, piece_text, word_groups
from model.registry import trace_any

pytestmark = pytest.mark.fast


def explicit_merge(weights: np.ndarray, groups) -> np.ndarray:
    """Sum over the key word's pieces, mean over the query word's pieces, with plain loops.  [q, k] -> [w, w]"""
    out = np.zeros((len(groups), len(groups)))
    for a, rows in enumerate(groups):
        for b, cols in enumerate(groups):
            out[a, b] = sum(sum(weights[i, j] for j in cols) for i in rows) / len(rows)
    return out


def test_merge_matches_an_explicit_loop_and_rows_sum_to_one():
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(9), size=(2, 3, 9))  # [layer, head, q, k]
    groups = ((0,), (1, 2, 3), (4,), (5, 6), (7,), (8,))
    words = Words(groups, tuple("abcdef"), (True, False, False, False, False, True))
    merged = merge_words(weights, words)
    assert merged.shape == (2, 3, 6, 6)
    for layer in range(2):
        for head in range(3):
            np.testing.assert_allclose(merged[layer, head], explicit_merge(weights[layer, head], groups), atol=1e-12)
    np.testing.assert_allclose(merged.sum(-1), 1.0, atol=1e-12)


@pytest.mark.models
def test_minilm_wordpieces_become_words(pretrained):
    trace = trace_any(pretrained, "Unbelievably, the tokenizer split antidisestablishmentarianism!")
    words = word_groups(trace.tokens, trace.special, trace.word_ids)
    assert words.labels == (
        "[CLS]", "unbelievably", ",", "the", "tokenizer", "split", "antidisestablishmentarianism", "!", "[SEP]"
    )  # fmt: skip
    assert words.special == (True, False, False, False, False, False, False, False, True)
    merged = merge_words(trace.weights, words)  # [layer, head, word, word]
    assert merged.shape == (6, 12, 9, 9)
    np.testing.assert_allclose(merged.sum(-1), 1.0, atol=1e-5)
    assert list(words.position_word) == [0, *[1] * 5, 2, 3, 4, 4, 5, *[6] * 8, 7, 8]


@pytest.mark.parametrize(
    ("tokens", "special", "word_ids", "labels"),
    [
        # SentencePiece (multilingual-e5): "▁" starts a word, punctuation and Chinese pieces stand alone,
        # even when the tokenizer's word index does not tell them apart.
        (
            ["<s>", "▁I", "▁saw", "▁a", "▁saw", ",", "▁un", "beli", "eva", "bly", ".", "</s>"],
            [True] + [False] * 10 + [True],
            [None] + [0] * 10 + [None],
            ("<s>", "I", "saw", "a", "saw", ",", "unbelievably", ".", "</s>"),
        ),
        (
            ["<s>", "▁", "他说", ":“", "明天", "下雨", "。”", "</s>"],
            [True] + [False] * 6 + [True],
            [None] + [0] * 6 + [None],
            ("<s>", "他说", ":“", "明天", "下雨", "。”", "</s>"),
        ),
        # Byte-level BPE as GPT-2's traces show it: a leading space starts a word.
        (
            [" The", " un", "believ", "ably", " good", " day"],
            [],
            [0, 1, 1, 1, 2, 3],
            ("The", "unbelievably", "good", "day"),
        ),
        # The playground's characters: no word index, no marks, every token its own word.
        (["我", "看", "见"], [], [], ("我", "看", "见")),
        # WordPiece without a word index (the playground on MiniLM's tokenizer): "##" continues.
        (["[CLS]", "play", "##ing", "[SEP]"], [True, False, False, True], [], ("[CLS]", "playing", "[SEP]")),
    ],
)
def test_word_groups_follow_each_tokenizers_marks(tokens, special, word_ids, labels):
    words = word_groups(tokens, special, word_ids)
    assert words.labels == labels
    assert [p for g in words.groups for p in g] == list(range(len(tokens)))


def test_piece_text_and_punctuation():
    pieces = {"##ing": "ing", "▁saw": "saw", "Ġsaw": "saw", " saw": "saw", "##": "##", "▁": ""}
    assert {token: piece_text(token) for token in pieces} == pieces
    assert is_punctuation(",") and is_punctuation("。”") and is_punctuation("▁,")
    assert not is_punctuation("'t") and not is_punctuation("▁") and not is_punctuation("3")
