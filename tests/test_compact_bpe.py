"""model/readers/compact_bpe.py against `tokenizers`' BPE on toy vocabularies, built as Gemma's is
(`sentencepiece_merges`): small enough that every order of joins is reached. Gemma's own file is checked in
tests/test_gemma.py."""

from __future__ import annotations

import random

import pytest
from tokenizers import Tokenizer, models, normalizers, processors

from model.readers.compact_bpe import CompactBPE
from model.readers.gguf_tokenizer import sentencepiece_merges

pytestmark = pytest.mark.fast

_UNITS = ["aa", "ab", "ba", "bb", "aaa", "aab", "aba", "abb", "baa", "bab", "bba", "bbb", "aaaa", "abab", "baba", "▁a"]


def _toy(pieces: list[str]) -> Tokenizer:
    """A SentencePiece BPE vocabulary of `pieces` (scores falling in file order) as `sentencepiece_bpe` builds it."""
    every = ["<unk>", "<bos>", *pieces, "<0x63>"]
    types = [2, 3, *[1] * len(pieces), 6]
    scores = [0.0, 0.0, *(-float(i) for i in range(len(pieces))), 0.0]
    bpe = models.BPE(
        vocab={p: i for i, p in enumerate(every)},
        merges=sentencepiece_merges(every, scores, types),
        unk_token="<unk>",
        fuse_unk=True,
        byte_fallback=True,
    )
    tokenizer = Tokenizer(bpe)
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.post_processor = processors.TemplateProcessing(single=["<bos>", "$A"], special_tokens=[("<bos>", 1)])
    return tokenizer


def test_joins_as_tokenizers_on_toy_vocabularies() -> None:
    """600 vocabularies of a, b and some of their joins; 20 texts each of a, b, spaces, 'c' (only its byte is a
    piece) and 'd' (no piece: <unk>, fused when side by side)."""
    rng = random.Random(5)
    for _ in range(600):
        reference = _toy(["a", "b", "▁", *rng.sample(_UNITS, rng.randint(2, 10))])
        ours = CompactBPE(reference.to_str())
        for _ in range(20):
            text = "".join(rng.choice("aaabbb cd") for _ in range(rng.randint(1, 12)))
            got, want = ours.encode(text), reference.encode(text)
            assert (got.ids, got.tokens, got.word_ids) == (want.ids, want.tokens, want.word_ids), text


def test_a_cut_keeps_room_for_bos_and_says_what_it_cut() -> None:
    ours = CompactBPE(_toy(["a", "b"]).to_str(), max_length=4)
    encoding = ours.encode("ababab")
    assert encoding.tokens == ["<bos>", "a", "b", "a"] and encoding.overflowing == [[3, 2, 3]]
    assert ours.encode("ab", add_special_tokens=False).special_tokens_mask == [0, 0]
