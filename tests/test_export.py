"""`python -m model.export NAME DIR` writes a Hugging Face folder that transformers loads and that computes the
same attention as the app, for every built-in model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.export import main
from model.registry import BUILT_IN, load_named, trace_any

pytestmark = pytest.mark.models

transformers = pytest.importorskip("transformers")
TEXT = "The animal didn't cross the street because it was too tired."


@pytest.mark.parametrize("name", list(BUILT_IN))
def test_export_loads_in_transformers_with_the_same_attention(name, tmp_path, capsys):
    assert main([name, str(tmp_path / "out")]) == 0
    assert "wrote" in capsys.readouterr().out
    folder = tmp_path / "out"
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    hf_model = transformers.AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    loaded = load_named(name, device="cpu")
    trace = trace_any(loaded, TEXT)
    ids = tokenizer(TEXT)["input_ids"]
    assert tuple(ids) == trace.token_ids
    with torch.no_grad():
        out = hf_model(torch.tensor([ids]), output_attentions=True)
    assert len(out.attentions) == trace.n_layers
    for layer, expected in zip(trace.layers, out.attentions, strict=True):
        np.testing.assert_allclose(layer.weights, expected[0].numpy(), atol=1e-4)


def test_an_unknown_name_is_refused_with_a_message(tmp_path, capsys):
    assert main(["no-such-model", str(tmp_path)]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
