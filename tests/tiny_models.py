"""Tiny random model folders of every model_type an operator may list (BERT, XLM-RoBERTa, GPT-2, Llama), built with
transformers in a temporary folder: a tokenizer trained on a few sentences with `tokenizers`, random weights saved as
safetensors. Nothing is downloaded. Shared by the family contract (tests/test_families.py) and the tests of an
operator's folders (tests/test_operator_models.py, tests/test_llama.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

CORPUS = [
    "I saw a saw.",
    "The animal didn't cross the street because it was too tired.",
    "The bank of the river was steep.",
    "The bank approved the loan.",
    "Attention lets every word look at every other word.",
    "the the the the the",
] * 5
N_POSITIONS = 24  # small, so that a long text is cut


def randomize(hf_model: torch.nn.Module) -> None:
    """Weights large enough that attention is far from uniform (the default init gives near-equal α′)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in hf_model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.dim() > 1:  # matrices and embedding tables
                p.copy_(0.3 * noise)
            elif name.endswith("weight"):  # LayerNorm gains
                p.copy_(1 + 0.1 * noise)
            else:  # biases
                p.copy_(0.1 * noise)


def wordpiece_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=120, special_tokens=special))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.decoder = decoders.WordPiece()
    return tok


def byte_level_bpe_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<|endoftext|>"]
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def _save(folder: Path, hf_model: torch.nn.Module, tok: Tokenizer) -> Path:
    randomize(hf_model)
    hf_model.save_pretrained(folder, safe_serialization=True)
    tok.save(str(folder / "tokenizer.json"))
    return folder


def bert_folder(folder: Path) -> Path:
    import transformers

    tok = wordpiece_tokenizer()
    config = transformers.BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=N_POSITIONS,
    )
    return _save(folder, transformers.BertModel(config), tok)


def xlm_roberta_folder(folder: Path) -> Path:
    """XLM-RoBERTa: BERT's network with positions numbered from padding_idx + 1 and a single token type."""
    import transformers

    tok = wordpiece_tokenizer()
    config = transformers.XLMRobertaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=N_POSITIONS + 1,
        pad_token_id=0,  # the tokenizer's [PAD]: RoBERTa numbers the positions from pad_token_id + 1
        type_vocab_size=1,
    )
    return _save(folder, transformers.XLMRobertaModel(config), tok)


def gpt2_folder(folder: Path) -> Path:
    import transformers

    tok = byte_level_bpe_tokenizer()
    config = transformers.GPT2Config(
        vocab_size=tok.get_vocab_size(),
        n_positions=N_POSITIONS,
        n_embd=32,
        n_layer=2,
        n_head=4,
        bos_token_id=0,
        eos_token_id=0,
    )
    return _save(folder, transformers.GPT2Model(config), tok)


def llama_folder(folder: Path, **config) -> Path:
    import transformers

    tok = byte_level_bpe_tokenizer()
    hf_config = transformers.LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        intermediate_size=48,
        max_position_embeddings=N_POSITIONS,
        rms_norm_eps=1e-5,
        **config,
    )
    return _save(folder, transformers.LlamaForCausalLM(hf_config), tok)


def gqa_llama_folder(folder: Path) -> Path:
    """Grouped-query attention (4 query heads, 2 key/value heads), RoPE base 500, its own output layer."""
    return llama_folder(
        folder,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_parameters={"rope_type": "default", "rope_theta": 500.0},
        tie_word_embeddings=False,
    )


def wide_head_llama_folder(folder: Path) -> Path:
    """A head_dim (12) that is not hidden_size / heads, one key/value head per query head, tied embeddings."""
    return llama_folder(folder, num_attention_heads=4, num_key_value_heads=4, head_dim=12, tie_word_embeddings=True)


def copy_of(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / folder.name))


def edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
