"""SentencePiece's BPE encoding written out plainly, as a second reference for Gemma's tokenizer: the algorithm of
sentencepiece's bpe_model.cc (`Model::SampleEncode` without dropout), which llama.cpp's llm_tokenizer_spm follows.

    1. every space becomes "▁" (Gemma adds no dummy prefix and normalizes nothing else)
    2. the text becomes symbols: at each place the longest user-defined piece there, frozen (never joined), else
       one character
    3. repeatedly, of all adjacent unfrozen pairs whose join is a normal (or user-defined) piece, join the one whose
       piece scores highest, the leftmost on a tie
    4. a symbol that is no piece becomes its UTF-8 bytes, <0xNN> each

Control tokens typed in the text (<start_of_turn>, <bos>) are cut out first and kept whole, as llama.cpp does with
parse_special and transformers does with its special tokens; SentencePiece itself would spell them out.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

NORMAL, CONTROL, USER_DEFINED, BYTE = 1, 3, 4, 6  # llama.cpp's token types


class SentencePieceBPE:
    """Encodes text with a vocabulary given as pieces (spelled with "▁"), scores and llama.cpp token types."""

    def __init__(self, pieces: Sequence[str], scores: Sequence[float], types: Sequence[int], bos: int | None = None):
        self.ids = {p: i for i, (p, t) in enumerate(zip(pieces, types, strict=True)) if t in (NORMAL, USER_DEFINED)}
        self.scores = scores
        self.user = {p for p, t in zip(pieces, types, strict=True) if t == USER_DEFINED}
        self.longest_user = max(map(len, self.user), default=0)
        self.control = sorted(((p, i) for i, (p, t) in enumerate(zip(pieces, types, strict=True)) if t == CONTROL),
                              key=lambda item: -len(item[0]))  # fmt: skip
        self.bytes = {int(p[3:5], 16): i for i, (p, t) in enumerate(zip(pieces, types, strict=True)) if t == BYTE}
        self.bos = bos

    def encode(self, text: str) -> list[int]:
        ids = [] if self.bos is None else [self.bos]
        start = i = 0
        while i < len(text):
            hit = next(((p, c) for p, c in self.control if text.startswith(p, i)), None) if text[i] == "<" else None
            if hit is None:
                i += 1
                continue
            ids += self._encode_plain(text[start:i]) + [hit[1]]
            i = start = i + len(hit[0])
        return ids + self._encode_plain(text[start:])

    def _encode_plain(self, text: str) -> list[int]:
        normalized = text.replace(" ", "▁")
        symbols: list[list] = []  # [piece, frozen]
        i = 0
        while i < len(normalized):
            n = next((n for n in range(min(self.longest_user, len(normalized) - i), 0, -1)
                      if normalized[i : i + n] in self.user), 0)  # fmt: skip
            symbols.append([normalized[i : i + max(n, 1)], n > 0])
            i += max(n, 1)
        prev = list(range(-1, len(symbols) - 1))
        after = [*range(1, len(symbols)), -1]
        agenda: list[tuple[float, int, int, int]] = []  # (−score, left, right, length of the join)

        def consider(left: int, right: int) -> None:
            if left < 0 or right < 0 or symbols[left][1] or symbols[right][1]:
                return
            joined = symbols[left][0] + symbols[right][0]
            if joined in self.ids:
                heapq.heappush(agenda, (-self.scores[self.ids[joined]], left, right, len(joined)))

        for right in range(1, len(symbols)):
            consider(right - 1, right)
        while agenda:
            _, left, right, size = heapq.heappop(agenda)
            if not symbols[left][0] or not symbols[right][0] or len(symbols[left][0]) + len(symbols[right][0]) != size:
                continue  # stale: one side has been joined to something else since
            symbols[left][0] += symbols[right][0]
            symbols[right][0] = ""
            after[left] = after[right]
            if after[right] >= 0:
                prev[after[right]] = left
            consider(prev[left], left)
            consider(left, after[left])
        ids = []
        for piece, _ in symbols:
            if piece in self.ids:
                ids.append(self.ids[piece])
            elif piece:
                ids += [self.bytes[b] for b in piece.encode("utf-8")]
        return ids
