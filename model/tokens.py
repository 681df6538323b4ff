"""Text as a model sees it: tokenizing (ids, pieces, special and unknown tokens, words), and showing the pieces
of a byte-level vocabulary (GPT-2, Llama) and SentencePiece's byte-fallback pieces (<0xE9>: Gemma) as readable text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tokenizers import Tokenizer, decoders

from model.errors import EmptyTextError

MAX_TOKENS = 512  # the most tokens any model is given: longer text is cut, with a notice in the page


@dataclass(frozen=True)
class Tokens:
    """One text as a model sees it."""

    ids: list[int]
    tokens: list[str]  # the tokenizer's own pieces ("Ġsaw", "▁我", "##ing")
    special: list[bool]  # [CLS], [SEP], <s>, </s>, <|im_start|> …
    word_ids: list[int | None]  # which word of the text each token belongs to; None for special tokens
    truncated: bool  # the text was cut to the model's (or the app's) maximum
    unknown: list[bool]  # the tokenizer's unknown token ([UNK], <unk>): the vocabulary lacks that part of the text


@dataclass(frozen=True)
class PieceEncoding:
    """One text through the app's own tokenizers (e5's, Gemma's): the part of `tokenizers`' Encoding that
    `tokenize` reads."""

    ids: list[int]
    tokens: list[str]
    special_tokens_mask: list[int]
    word_ids: list[int | None]
    overflowing: list[list[int]]  # the ids cut off past the model's positions (one list), or none


class AppTokenizer:
    """What the app's own tokenizers (e5's, Gemma's) share with `tokenizers.Tokenizer`'s API: the vocabulary
    lookups, over their pieces in `_pieces` (by id) and `_ids` (by piece), and the cut `fit_tokenizer` sets."""

    _pieces: list[str]
    _ids: dict[str, int]
    max_length: int | None = None  # the most tokens an encoding keeps, <bos> or <s> … </s> included; None: all

    def no_padding(self) -> None:
        """Nothing is ever padded (as `tokenizers`' no_padding)."""

    def enable_truncation(self, max_length: int) -> None:
        self.max_length = max_length

    def token_to_id(self, token: str) -> int | None:
        return self._ids.get(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self._pieces[token_id] if 0 <= token_id < len(self._pieces) else None

    def get_vocab_size(self) -> int:
        return len(self._pieces)


def unknown_id(tokenizer: Tokenizer) -> int | None:
    """The id of the tokenizer's unknown token, if it has one (byte-level vocabularies do not need one)."""
    name = getattr(tokenizer.model, "unk_token", None)
    for candidate in (name, "[UNK]", "<unk>"):
        if candidate and tokenizer.token_to_id(candidate) is not None:
            return tokenizer.token_to_id(candidate)
    return None


def tokenize(tokenizer: Tokenizer, text: str) -> Tokens:
    """`text` through a fitted tokenizer; an EmptyTextError when there is nothing to tokenize."""
    if not text or not text.strip():
        raise EmptyTextError("Type a sentence first: the text is empty.")
    encoding = tokenizer.encode(text)
    if not encoding.ids:
        raise EmptyTextError("The text gives no tokens.")
    unk = unknown_id(tokenizer)
    return Tokens(
        ids=list(encoding.ids),
        tokens=list(encoding.tokens),
        special=[bool(s) for s in encoding.special_tokens_mask],
        word_ids=list(encoding.word_ids),
        truncated=bool(encoding.overflowing),
        unknown=[i == unk for i in encoding.ids],
    )


# ── Showing byte-level tokens ─────────────────────────────────────────────────────────────────────

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _byte_alphabet() -> dict[str, int]:
    """GPT-2's byte-level alphabet, character -> byte: printable bytes stand for themselves, the others (space,
    control bytes, …) for the characters from U+0100 on, in order ("Ġ" is the space, "Ċ" the newline)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {chr(b): b for b in printable} | {chr(256 + n): b for n, b in enumerate(others)}


BYTE_ALPHABET = _byte_alphabet()
BYTE_PART = "⁄"  # the fraction slash of "锯¹⁄₃": a token that holds part of a character's bytes
BYTE_HEX = "⟨"  # opens "⟨E9 94⟩": bytes that make no whole character


def _utf8_spans(data: bytes) -> list[tuple[int, int, str | None]]:
    """(start, end, character) of each UTF-8 character in `data`; a byte that starts no whole character (the
    text was cut in the middle of one) is a span of its own with character None."""
    spans, i = [], 0
    while i < len(data):
        lead = data[i]
        size = 1 if lead < 0x80 else 2 if 0xC2 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if lead < 0xF5 else 0
        try:
            char = data[i : i + size].decode("utf-8") if size else ""
        except UnicodeDecodeError:
            char = ""
        if len(char) == 1:
            spans.append((i, i + size, char))
            i += size
        else:
            spans.append((i, i + 1, None))
            i += 1
    return spans


def _part(char: str, n_bytes: int, of: int) -> str:
    """A character of which a token holds n_bytes of its `of` UTF-8 bytes: "锯¹⁄₃"."""
    return f"{char}{str(n_bytes).translate(_SUPERSCRIPT)}{BYTE_PART}{str(of).translate(_SUBSCRIPT)}"


def _show_bytes(pieces: list[bytes]) -> list[str]:
    """Tokens that each hold some bytes of a text, read together, as `show_byte_tokens` shows them."""
    data = b"".join(pieces)
    spans = _utf8_spans(data)
    out, start, s = [], 0, 0
    for piece in pieces:
        end, text, loose = start + len(piece), [], []
        while s < len(spans) and spans[s][0] < end:
            first, last, char = spans[s]
            if char is None:
                loose.append(f"{data[first]:02X}")
            else:
                if loose:
                    text.append(BYTE_HEX + " ".join(loose) + "⟩")
                    loose = []
                held = min(last, end) - max(first, start)
                text.append(char if held == last - first else _part(char, held, last - first))
            if last > end:  # the character goes on in the next token
                break
            s += 1
        if loose:
            text.append(BYTE_HEX + " ".join(loose) + "⟩")
        out.append("".join(text))
        start = end
    return out


def _show_run(tokens: list[str]) -> list[str]:
    """`show_byte_tokens` for tokens that are all in the byte alphabet."""
    return _show_bytes([bytes(BYTE_ALPHABET[c] for c in t) for t in tokens])


def show_byte_tokens(tokens: list[str]) -> list[str]:
    """Byte-level tokens as readable text, read together because a character can be split between tokens.

    A whole character shows as itself ("Ġsaw" -> " saw"). Part of a character shows as that character with the
    share of its UTF-8 bytes the token holds: 锯 is the three bytes E9 94 AF, and a tokenizer that splits it
    into "é", "Ķ", "¯" gives "锯¹⁄₃", "锯¹⁄₃", "锯¹⁄₃"; "æĬ", "Ĭ" (把) give "把²⁄₃", "把¹⁄₃". Bytes that make no
    character (a text cut in the middle of one) show as hex: "⟨E9 94⟩". A token outside the byte alphabet (an
    added token spelled as plain text) shows as it is and ends the bytes before it.
    """
    out, run = [], []
    for token in tokens:
        if set(token) <= BYTE_ALPHABET.keys():
            run.append(token)
        else:
            out += [*_show_run(run), token]
            run = []
    return out + _show_run(run)


BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")  # SentencePiece's piece for one byte of a character it lacks


def has_byte_fallback(tokenizer: Tokenizer) -> bool:
    """Whether the tokenizer's decoder turns SentencePiece's byte pieces (<0x41>) into bytes (Gemma, Llama 2)."""
    decoder = tokenizer.decoder
    return decoder is not None and not isinstance(decoder, decoders.ByteLevel) and decoder.decode(["<0x41>"]) == "A"


def show_byte_fallback(tokens: list[str], decode) -> list[str]:
    """SentencePiece tokens as readable text: `decode` shows a piece ("▁saw" -> " saw"), and a run of byte pieces
    shows as `show_byte_tokens` shows bytes, read together: <0xE9> <0x94> <0xAF> (锯, a character the vocabulary
    lacks) give "锯¹⁄₃", "锯¹⁄₃", "锯¹⁄₃"; a byte that makes no character gives "⟨E9⟩"."""
    out, run = [], []
    for token in tokens:
        match = BYTE_FALLBACK.fullmatch(token)
        if match:
            run.append(bytes([int(match.group(1), 16)]))
            continue
        out += _show_bytes(run)
        run = []
        shown = decode(token)
        out.append(shown if shown and "\ufffd" not in shown else token)
    return out + _show_bytes(run)


_BLANKS = str.maketrans({" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍", "\u3000": "␣"})


def show_blank(text: str) -> str:
    """A token that is only whitespace, made visible: a space as ␣, a newline as ⏎, a tab as ⇥, a carriage return as ␍
    (a Windows line end, CR LF, reads "␍⏎"). Any other token is left as it is: its leading space is seen through
    the quotes around it."""
    return text.translate(_BLANKS) if text and not text.strip() else text


def display_tokens(tokenizer: Tokenizer, tokens: list[str]) -> list[str]:
    """A text's tokens as shown on screen: byte-level ones (GPT-2, Llama) as readable text (`show_byte_tokens`),
    SentencePiece's with byte fallback likewise (`show_byte_fallback`), others as the tokenizer's decoder writes
    each one ("▁我" stays as it is without a decoder); a token of whitespace alone as `show_blank` writes it."""
    decoder = tokenizer.decoder
    if isinstance(decoder, decoders.ByteLevel):
        shown = show_byte_tokens(tokens)
    elif decoder is None:
        shown = list(tokens)
    elif has_byte_fallback(tokenizer):
        shown = show_byte_fallback(tokens, lambda t: decoder.decode([t]))
    else:
        shown = [decoder.decode([t]) for t in tokens]
        shown = [s if s and "\ufffd" not in s else t for s, t in zip(shown, tokens, strict=True)]
    return [show_blank(s) for s in shown]


def token_text(tokenizer, token_id: int) -> str:
    """How a vocabulary entry reads on its own: its text, or ⟨E9 94⟩ when it holds only part of a character."""
    piece = tokenizer.id_to_token(token_id)
    if piece is None:
        return f"#{token_id}"
    text = tokenizer.decode([token_id], skip_special_tokens=False)
    if text and "\ufffd" not in text:
        return show_blank(text)
    match = BYTE_FALLBACK.fullmatch(piece)
    if match and has_byte_fallback(tokenizer):
        return _show_bytes([bytes([int(match.group(1), 16)])])[0]
    return show_byte_tokens([piece])[0]
