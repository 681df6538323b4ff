"""The tokenizer of a GGUF file, rebuilt with `tokenizers` from the vocabulary llama.cpp wrote into it
(tokenizer.ggml.*), for the two kinds read here:

    "gpt2"   byte-level BPE (SmolLM2): the file's merges, a byte-level pre-tokenizer picked by tokenizer.ggml.pre
    "llama"  SentencePiece's BPE with byte fallback (Gemma 3): no merges in the file, only pieces, scores and types

SentencePiece's BPE (sentencepiece's bpe_model.cc, and llama.cpp's llm_tokenizer_spm) works on the whole text with
every space written "▁", starting from single characters: the adjacent pair whose joined piece has the highest
score is joined first (the leftmost on a tie), as long as the joined piece is a normal piece of the vocabulary. A
character no piece holds becomes its UTF-8 bytes, <0xE9> <0x94> <0xAF>. User-defined pieces (Gemma: runs of
newlines, tabs and spaces, HTML tags) are cut out of the text first, longest first, and never joined to anything.

`tokenizers`' BPE joins by a ranked list of merges instead of by scores. Ranking every split of every normal piece
by that piece's score gives the same joins: Gemma's scores fall strictly in file order (−0, −1, −2, …). User-defined
pieces become added tokens matched in the normalized text (where a space is already "▁"), so that they come out
whole, as in SentencePiece; llama.cpp writes their "▁" as spaces ("  " for id 138), and that is undone here.
Control tokens (<bos>, <start_of_turn>, …) become special added tokens, as in transformers and llama.cpp, so a
typed "<start_of_turn>" is that one token. BOS goes in front when tokenizer.ggml.add_bos_token says so.

transformers' own GGUF reader (AutoTokenizer.from_pretrained(dir, gguf_file=…)) makes the same ids on all text but
runs of 32 or more spaces: it makes the whitespace pieces out of merges (two spaces first, then pairs of pairs, …)
and cuts 40 spaces as 16 + 24, where SentencePiece takes the longest user-defined piece, 31, and then 9; see
tests/test_gemma_reader.py.
"""

from __future__ import annotations

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from model.errors import InvalidConfigError

_NORMAL = 1  # llama.cpp's token types: 1 normal, 2 unknown, 3 control (special), 4 user-defined, 5 unused, 6 byte
_CONTROL = 3
_USER_DEFINED = 4
METASPACE = "▁"  # U+2581, SentencePiece's space

# How text is cut into words before byte-level BPE, by tokenizer.ggml.pre. "smollm" is SmolLM2's own tokenizer.json
# (and llama.cpp's "smollm" rule): every digit alone, then GPT-2's byte-level split.
_PRE_TOKENIZERS = {
    "gpt2": lambda: pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    "smollm": lambda: pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    ),
}


def gguf_field(reader, key: str, default: object = ...) -> object:
    """A metadata value (a number, a string or a list), or an InvalidConfigError when the file lacks it."""
    field = reader.fields.get(key)
    if field is None:
        if default is ...:
            raise InvalidConfigError(f"{reader.data.filename}: the GGUF metadata lacks {key!r}")
        return default
    return field.contents()


def build_tokenizer(reader) -> Tokenizer:
    """The file's tokenizer as a `tokenizers` Tokenizer, by tokenizer.ggml.model."""
    kind = gguf_field(reader, "tokenizer.ggml.model")
    if kind == "gpt2":
        return byte_level_bpe(reader)
    if kind == "llama":
        return sentencepiece_bpe(reader)
    raise InvalidConfigError(
        f"{reader.data.filename}: tokenizer {kind!r}; only byte-level BPE ('gpt2') and SentencePiece BPE "
        "('llama') are read"
    )


def byte_level_bpe(reader) -> Tokenizer:
    """The file's byte-level BPE: its vocabulary and merges, its control tokens (<|endoftext|>, <|im_start|>, …) as
    special tokens, its pre-tokenizer rule, a byte-level decoder. No BOS is added: SmolLM2's own tokenizer adds none
    (tokenizer.ggml.add_bos_token is false)."""
    pre = gguf_field(reader, "tokenizer.ggml.pre", "gpt2")
    if pre not in _PRE_TOKENIZERS:
        raise InvalidConfigError(
            f"{reader.data.filename}: byte-level BPE with pre-tokenizer {pre!r}; only {', '.join(_PRE_TOKENIZERS)} "
            "are read"
        )
    tokens = gguf_field(reader, "tokenizer.ggml.tokens")
    types = gguf_field(reader, "tokenizer.ggml.token_type", [_NORMAL] * len(tokens))
    merges = [tuple(merge.split(" ")) for merge in gguf_field(reader, "tokenizer.ggml.merges")]
    vocab = {token: i for i, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tokenizer.pre_tokenizer = _PRE_TOKENIZERS[pre]()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.decoder = decoders.ByteLevel()
    special = [token for token, kind in zip(tokens, types, strict=True) if kind == _CONTROL]
    added = [token for token, kind in zip(tokens, types, strict=True) if kind == _USER_DEFINED]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in added])
    return tokenizer


def sentencepiece_merges(pieces: list[str], scores: list[float], types: list[int]) -> list[tuple[str, str]]:
    """SentencePiece's joins as `tokenizers` merges: every split (left, right) of a normal piece into two normal
    pieces, ranked by the joined piece's score, highest first (the file's order on a tie); the splits of one piece
    with the longer left part first, as transformers ranks them."""
    normal = {piece for piece, kind in zip(pieces, types, strict=True) if kind == _NORMAL}
    order = sorted((i for i, kind in enumerate(types) if kind == _NORMAL), key=lambda i: (-scores[i], i))
    merges = []
    for i in order:
        piece = pieces[i]
        for cut in range(len(piece) - 1, 0, -1):
            left, right = piece[:cut], piece[cut:]
            if left in normal and right in normal:
                merges.append((left, right))
    return merges


def sentencepiece_bpe(reader) -> Tokenizer:
    """tokenizer.ggml.model "llama": SentencePiece's BPE with byte fallback, as this module's docstring says, for a
    vocabulary without a dummy prefix (tokenizer.ggml.add_space_prefix false: Gemma's)."""
    where = reader.data.filename
    if gguf_field(reader, "tokenizer.ggml.add_space_prefix", True):
        raise InvalidConfigError(
            f"{where}: a SentencePiece vocabulary with a dummy prefix (▁ before the text) is not read"
        )
    tokens = gguf_field(reader, "tokenizer.ggml.tokens")
    scores = gguf_field(reader, "tokenizer.ggml.scores")
    types = gguf_field(reader, "tokenizer.ggml.token_type")
    # llama.cpp wrote the "▁" of user-defined pieces as spaces, to match them in raw text: spell them as the model does.
    pieces = [t.replace(" ", METASPACE) if kind == _USER_DEFINED else t for t, kind in zip(tokens, types, strict=True)]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    if len(vocab) != len(pieces):
        raise InvalidConfigError(f"{where}: the vocabulary spells two tokens alike")
    unk = pieces[int(gguf_field(reader, "tokenizer.ggml.unknown_token_id"))]
    bpe = models.BPE(
        vocab=vocab,
        merges=sentencepiece_merges(pieces, scores, types),
        unk_token=unk,
        fuse_unk=True,
        byte_fallback=True,
    )
    tokenizer = Tokenizer(bpe)
    # No pre-tokenizer: SentencePiece joins pieces across the whole text ("▁of▁the" could be one piece).
    tokenizer.normalizer = normalizers.Replace(" ", METASPACE)
    tokenizer.decoder = decoders.Sequence([decoders.Replace(METASPACE, " "), decoders.ByteFallback(), decoders.Fuse()])
    control = [piece for piece, kind in zip(pieces, types, strict=True) if kind == _CONTROL]
    user = [piece for piece, kind in zip(pieces, types, strict=True) if kind == _USER_DEFINED]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=True) for t in user])
    tokenizer.post_processor = _sentencepiece_ends(reader, pieces)
    return tokenizer


def _sentencepiece_ends(reader, pieces: list[str]) -> processors.TemplateProcessing:
    """BOS before the text (and EOS after it) where the file's add_bos_token (add_eos_token) says so; llama.cpp and
    transformers add BOS to a SentencePiece vocabulary that does not say."""
    ends = {}
    for key, default in (("bos", True), ("eos", False)):
        if gguf_field(reader, f"tokenizer.ggml.add_{key}_token", default):
            token_id = int(gguf_field(reader, f"tokenizer.ggml.{key}_token_id"))
            ends[key] = (pieces[token_id], token_id)
    bos = [ends["bos"][0]] if "bos" in ends else []
    eos = [ends["eos"][0]] if "eos" in ends else []
    single = [*bos, "$A", *eos]
    pair = [*single, *(f"{t}:1" for t in bos), "$B:1", *(f"{t}:1" for t in eos)]
    return processors.TemplateProcessing(single=single, pair=pair, special_tokens=list(ends.values()))
