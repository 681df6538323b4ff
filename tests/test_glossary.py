"""The glossary: every entry in English and 简体中文, the article's notation for score, weight and output."""

from __future__ import annotations

import re

import pytest

from components.glossary import glossary, label, symbol, term_name
from components.i18n import LANGS

pytestmark = pytest.mark.fast

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_there_are_entries():
    assert len(glossary()) >= 25


@pytest.mark.parametrize("key", sorted(glossary()))
def test_every_entry_has_both_languages(key):
    term = glossary()[key]
    for lang in LANGS:
        assert term.name[lang].strip() and term.definition[lang].strip(), f"{key}.{lang}"
    assert CJK.search(term.name["zh"]) or term.name["zh"] == term.name["en"], key
    assert CJK.search(term.definition["zh"]), f"{key}: the Chinese definition is not in Chinese"
    assert not CJK.search(term.name["en"] + term.definition["en"]), key
    assert term.definition["en"] != term.definition["zh"]


def test_the_article_s_notation():
    assert (symbol("score"), symbol("weight"), symbol("output")) == ("α", "α′", "b")
    codes = {key: term.code for key, term in glossary().items() if term.code}
    assert codes["score"] == "scores" and codes["weight"] == "weights" and codes["output"] == "z"
    assert len(set(codes.values())) == len(codes), "one name per concept"
    symbols = [term.symbol for term in glossary().values() if term.symbol]
    assert len(set(symbols)) == len(symbols), "one symbol per concept"
    assert term_name("zh", "weight") == "注意力权重" and term_name("zh", "multi_head") == "多头注意力"
    assert [term_name("zh", k) for k in ("query", "key", "value")] == ["查询", "键", "值"]
    assert label("en", "weight") == "attention weight α′" and label("zh", "token") == "词元"
    assert term_name("fr", "score") == "attention score"
