"""Words, not only sub-words: group a trace's tokens into the words of the text and merge α′ over them.

A tokenizer cuts a rare word into pieces ("un", "##believ", "##ably"); a reader thinks in words. Merging
follows bertviz users' usual rule: the attention a query pays to a split word is the SUM over its pieces
(it is one key, spread over several positions), and the attention a split word pays is the MEAN over its
pieces (each piece is one query whose row already sums to 1). Rows of the merged matrix still sum to 1.

Where words start, in order of precedence:
    special tokens ([CLS], [SEP], <s>) are words of their own
    a change of `word_ids` (the tokenizer's own word index, where the trace has it) starts a word
    a piece marked as a word start ("▁" SentencePiece, "Ġ" byte-level BPE, a leading space as GPT-2's
        traces show " saw") starts a word; "##" (WordPiece) continues one
    a piece made only of punctuation is a word of its own ("saw" "," stay apart)
    a piece with a CJK character is a word of its own: Chinese has no spaces, so a tokenizer's word index
        spans the whole sentence; its pieces ("看见", "锯") are already word-sized
A bare marker piece ("▁" alone) belongs to the word after it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

START_MARKS = ("▁", "Ġ", " ", "␣")  # a piece that begins with one of these begins a word (␣: a lone space, shown)
CONTINUE_MARK = "##"  # WordPiece: this piece continues the word before it


def piece_text(token: str) -> str:
    """A token without its tokenizer's marks: "##ing" -> "ing", "▁saw" / "Ġsaw" / " saw" -> "saw"."""
    if token.startswith(CONTINUE_MARK) and len(token) > len(CONTINUE_MARK):
        return token[len(CONTINUE_MARK) :]
    return token.lstrip("".join(START_MARKS))


def is_punctuation(token: str) -> bool:
    """A piece made only of punctuation (Unicode category P*, full-width "，。" included), marks stripped."""
    text = piece_text(token)
    return bool(text) and all(unicodedata.category(ch).startswith("P") for ch in text)


def has_cjk(token: str) -> bool:
    """Whether a piece holds a CJK ideograph (Chinese, or kanji/hanja)."""
    return any(unicodedata.name(ch, "").startswith("CJK ") for ch in token)


@dataclass(frozen=True)
class Words:
    """How a trace's positions group into words."""

    groups: tuple[tuple[int, ...], ...]  # per word, its positions (consecutive, in order)
    labels: tuple[str, ...]  # per word, its pieces joined without their marks ("unbelievably")
    special: tuple[bool, ...]  # per word: a special token

    @property
    def position_word(self) -> np.ndarray:
        """Which word each position belongs to.  # [pos] int"""
        out = np.empty(sum(len(g) for g in self.groups), dtype=int)
        for w, group in enumerate(self.groups):
            out[list(group)] = w
        return out


def word_groups(tokens: Sequence[str], special: Sequence[bool] = (), word_ids: Sequence[int | None] = ()) -> Words:
    """The words of a tokenized text, by the rules in this module's docstring.

    tokens: as in a trace (`trace.tokens`); special and word_ids may be empty (the playground's character
    tokens have none), and then every non-special piece without a "##" mark starts a word.
    """
    n = len(tokens)
    special = tuple(bool(s) for s in special) or (False,) * n
    has_ids = len(word_ids) == n
    groups: list[list[int]] = []
    for p, token in enumerate(tokens):
        prev = p - 1
        starts = (
            p == 0
            or special[p]
            or special[prev]
            or (has_ids and word_ids[p] != word_ids[prev])
            or token.startswith(START_MARKS)
            or is_punctuation(token)
            or is_punctuation(tokens[prev])
            or has_cjk(token)
            or has_cjk(tokens[prev])
            or (not has_ids and not token.startswith(CONTINUE_MARK))
        )
        bare_before = prev >= 0 and not special[prev] and piece_text(tokens[prev]) == ""
        if bare_before and not special[p] and len(groups[-1]) == 1:
            starts = False  # "▁" alone joins the word it marks
        if starts:
            groups.append([p])
        else:
            groups[-1].append(p)
    labels = tuple(
        tokens[g[0]] if special[g[0]] else "".join(piece_text(tokens[p]) for p in g) or tokens[g[0]] for g in groups
    )
    return Words(tuple(tuple(g) for g in groups), labels, tuple(special[g[0]] for g in groups))


def merge_words(weights: np.ndarray, words: Words) -> np.ndarray:
    """α′ between words: columns of a word summed (the attention it receives), rows averaged (the attention it
    pays).  [..., query_pos, key_pos] -> [..., query_word, key_word]; rows still sum to 1."""
    n_words = len(words.groups)
    member = np.zeros((n_words, weights.shape[-1]), dtype=weights.dtype)  # [word, pos]: 1 where pos is in word
    for w, group in enumerate(words.groups):
        member[w, list(group)] = 1
    summed = weights @ member.T  # [..., query_pos, key_word]
    mean_rows = member / member.sum(axis=1, keepdims=True)  # [word, pos]
    return mean_rows @ summed  # [..., query_word, key_word]
