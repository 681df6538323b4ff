"""`python -m model.export NAME DIR` writes a Hugging Face folder that transformers loads and that computes the
same attention as the app (tests/test_families.py holds the numbers for every family)."""

from __future__ import annotations

import pytest

from model.export import main
from model.registry import DEFAULT_MODEL

pytestmark = pytest.mark.models

transformers = pytest.importorskip("transformers")
TEXT = "The animal didn't cross the street because it was too tired."


def test_an_unknown_name_is_refused_with_a_message(tmp_path, capsys):
    assert main(["no-such-model", str(tmp_path)]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_the_command_writes_a_folder_transformers_reads(tmp_path, capsys):
    """The command line of the export whose numbers tests/test_families.py holds for every family."""
    assert main([DEFAULT_MODEL, str(tmp_path / "out")]) == 0
    assert "wrote" in capsys.readouterr().out
    folder = tmp_path / "out"
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    ids = tokenizer(TEXT)["input_ids"]
    assert tokenizer.convert_ids_to_tokens([ids[0], ids[-1]]) == ["[CLS]", "[SEP]"]
