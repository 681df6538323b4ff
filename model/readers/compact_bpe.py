"""Gemma's tokenizer in 55 MB: `gguf_tokenizer.sentencepiece_bpe`'s tokenizer.json, encoded without
`tokenizers`' BPE model, whose table of 513 511 merges over 262 144 pieces holds about 95 MB resident.

The merges `sentencepiece_merges` writes are every split (left, right) of a normal piece into two normal pieces,
ranked by the joined piece (its first merge's place in the list), then the longer left part first. So a pair of
adjacent symbols joins when both take part in some merge and their joined text is a piece some merge makes, and
the pairs join in the order (the joined piece's first rank, longer left first, leftmost) — `tokenizers`' order, read
off one number per piece instead of a table of pairs. What is left is `tokenizers`' own steps for this file: cut
out the control tokens in the raw text, write each space "▁", cut out the user-defined pieces, join each remaining
run of characters (a character the vocabulary lacks becomes its UTF-8 bytes, <0xE9> …), cut to the app's length,
put <bos> in front.
"""

from __future__ import annotations

import heapq
import json
import re
import zlib
from array import array
from types import SimpleNamespace

from tokenizers import AddedToken, Tokenizer, decoders

from model.readers.gguf_tokenizer import METASPACE
from model.tokens import AppTokenizer, PieceEncoding


class CompactBPE(AppTokenizer):
    """Encodes as `Tokenizer.from_str(text)` does, for a tokenizer.json that `sentencepiece_bpe` wrote."""

    def __init__(self, text: str, max_length: int | None = None):
        spec = json.loads(text)
        self._json = zlib.compress(text.encode("utf-8"), 1)  # for `to_str`: 4 MB instead of 33 M characters
        vocab: dict[str, int] = spec["model"]["vocab"]
        self._ids = vocab
        self._pieces = [""] * len(vocab)
        for piece, i in vocab.items():
            self._pieces[i] = piece
        self._first_rank = array("i", [-1]) * len(vocab)  # rank of the first merge that makes the piece
        self._in_merges = bytearray(len(vocab))  # 1: the piece is the left or right part of some merge
        for rank, (left, right) in enumerate(spec["model"]["merges"]):
            joined = vocab[left + right]
            if self._first_rank[joined] < 0:
                self._first_rank[joined] = rank
            self._in_merges[vocab[left]] = self._in_merges[vocab[right]] = 1
        self._unk = vocab[spec["model"]["unk_token"]]
        added = spec["added_tokens"]
        self._added = {
            a["id"]: AddedToken(a["content"], special=a["special"], normalized=a["normalized"]) for a in added
        }
        self._raw_cut = _longest_first([a["content"] for a in added if not a["normalized"]])
        self._normalized_cut = _longest_first([a["content"].replace(" ", METASPACE) for a in added if a["normalized"]])
        self._added_ids = {
            a["content"].replace(" ", METASPACE) if a["normalized"] else a["content"]: a["id"] for a in added
        }
        template = spec["post_processor"]["single"]
        self._front = [vocab[item["SpecialToken"]["id"]] for item in template[: _sequence_at(template)]]
        self._back = [vocab[item["SpecialToken"]["id"]] for item in template[_sequence_at(template) + 1 :]]
        self.decoder = decoders.Sequence([decoders.Replace(METASPACE, " "), decoders.ByteFallback(), decoders.Fuse()])
        self.model = SimpleNamespace(unk_token=spec["model"]["unk_token"])
        self.max_length = max_length

    def encode(self, text: str, add_special_tokens: bool = True) -> PieceEncoding:
        ids: list[int] = []
        words: list[int] = []
        for word, (part, added) in enumerate(self._parts(text)):
            got = [added] if added is not None else self._join(part)
            ids += got
            words += [word] * len(got)
        ends = len(self._front) + len(self._back) if add_special_tokens else 0
        room = len(ids) if self.max_length is None else max(self.max_length - ends, 0)
        ids, cut, words = ids[:room], ids[room:], words[:room]
        special = [0] * len(ids)
        word_ids: list[int | None] = list(words)
        if add_special_tokens:
            ids = [*self._front, *ids, *self._back]
            special = [1] * len(self._front) + special + [1] * len(self._back)
            word_ids = [None] * len(self._front) + word_ids + [None] * len(self._back)
        return PieceEncoding(ids, [self._pieces[i] for i in ids], special, word_ids, [cut] if cut else [])

    def _parts(self, text: str) -> list[tuple[str, int | None]]:
        """The text cut into added tokens (with their ids) and runs of text between them, normalized, in order."""
        parts: list[tuple[str, int | None]] = []
        for raw, added in _cut(text, self._raw_cut, self._added_ids):
            if added is not None:
                parts.append((raw, added))
                continue
            parts += _cut(raw.replace(" ", METASPACE), self._normalized_cut, self._added_ids)
        return parts

    def _join(self, text: str) -> list[int]:
        """A run of characters as pieces: each character (or its bytes), then joined pair by pair in rank order."""
        symbols: list[int] = []
        unknown = False  # a character with neither a piece nor byte pieces, waiting (tokenizers' order, kept)
        for ch in text:
            piece_id = self._ids.get(ch)
            if piece_id is not None:
                symbols += [self._unk, piece_id] if unknown else [piece_id]
                unknown = False
                continue
            byte_ids = [self._ids.get(f"<0x{b:02X}>") for b in ch.encode("utf-8")]
            if None in byte_ids:
                unknown = True  # unknown characters with only byte pieces between them are one <unk>
            else:
                symbols += byte_ids  # before a waiting <unk>, as tokenizers writes them
        symbols += [self._unk] if unknown else []
        n = len(symbols)
        nxt, prev, alive = list(range(1, n + 1)), list(range(-1, n - 1)), [True] * n
        queue: list[tuple[int, int, int, int, int, int]] = []

        def offer(pos: int) -> None:
            right = nxt[pos]
            if right >= n:
                return
            a, b = symbols[pos], symbols[right]
            if not (self._in_merges[a] and self._in_merges[b]):
                return
            joined = self._ids.get(self._pieces[a] + self._pieces[b])
            if joined is not None and self._first_rank[joined] >= 0:
                heapq.heappush(queue, (self._first_rank[joined], -len(self._pieces[a]), pos, a, b, joined))

        for pos in range(n - 1):
            offer(pos)
        while queue:
            _, _, pos, a, b, joined = heapq.heappop(queue)
            right = nxt[pos] if alive[pos] else n
            if right >= n or symbols[pos] != a or symbols[right] != b:
                continue  # a pair that an earlier join took apart
            symbols[pos], alive[right] = joined, False
            nxt[pos] = nxt[right]
            if nxt[pos] < n:
                prev[nxt[pos]] = pos
            if prev[pos] >= 0:
                offer(prev[pos])
            offer(pos)
        return [s for s, keep in zip(symbols, alive, strict=True) if keep]

    def get_added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(self._added)

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        shown = [i for i in ids if not (skip_special_tokens and i in self._added and self._added[i].special)]
        return self.decoder.decode([self._pieces[i] for i in shown])

    def to_str(self) -> str:
        """The tokenizer.json it was made from (`Tokenizer.from_str` reads it), with the app's length cut."""
        tokenizer = Tokenizer.from_str(zlib.decompress(self._json).decode("utf-8"))
        if self.max_length is not None:
            tokenizer.enable_truncation(max_length=self.max_length)
        return tokenizer.to_str()


def _longest_first(contents: list[str]) -> re.Pattern | None:
    """A pattern that finds the leftmost of `contents`, the longest one where several start there."""
    if not contents:
        return None
    return re.compile("|".join(map(re.escape, sorted(contents, key=len, reverse=True))))


def _cut(text: str, pattern: re.Pattern | None, ids: dict[str, int]) -> list[tuple[str, int | None]]:
    """`text` cut at each match of `pattern`: the matches with their ids, the non-empty runs between them."""
    if pattern is None:
        return [(text, None)] if text else []
    parts: list[tuple[str, int | None]] = []
    start = 0
    for match in pattern.finditer(text):
        if match.start() > start:
            parts.append((text[start : match.start()], None))
        parts.append((match.group(), ids[match.group()]))
        start = match.end()
    if start < len(text):
        parts.append((text[start:], None))
    return parts


def _sequence_at(template: list[dict]) -> int:
    return next(i for i, item in enumerate(template) if "Sequence" in item)
