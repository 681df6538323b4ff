"""Every string exists in English and 简体中文, with the same placeholders, and every key the code
asks for is defined."""

import re
import string
from pathlib import Path

import pytest

from components.i18n import LANGS, strings, t
from components.params import VIEWS

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
KEY_IN_CODE = re.compile(r"""(?:\bctx\.t|\bt)\(\s*(?:[a-z_.]+\s*,\s*)?["']([a-z_]+\.[a-z0-9_]+)["']""")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_there_are_strings():
    assert len(strings()) > 30


@pytest.mark.parametrize("key", sorted(strings()))
def test_every_key_in_both_languages_with_same_placeholders(key):
    entry = strings()[key]
    assert set(entry) >= set(LANGS), f"{key} lacks {set(LANGS) - set(entry)}"
    for lang in LANGS:
        assert isinstance(entry[lang], str) and entry[lang].strip(), f"{key}.{lang} is empty"
    assert placeholders(entry["en"]) == placeholders(entry["zh"]), key


def test_chinese_strings_are_translated_not_copied():
    same = [k for k, e in strings().items() if e["en"] == e["zh"] and re.search(r"[A-Za-z]{4,}", e["en"])]
    # A few are the same in both languages by nature (formulas, "Q · K · V").
    assert len(same) <= 5, same


def test_every_key_used_in_the_code_exists():
    sources = [ROOT / "app.py", *sorted((ROOT / "components").rglob("*.py"))]
    used = {key for path in sources for key in KEY_IN_CODE.findall(path.read_text(encoding="utf-8"))}
    assert used, "the scan found no keys: the pattern is broken"
    missing = sorted(used - set(strings()))
    assert not missing, f"keys used in code but not in assets/i18n: {missing}"


def test_every_view_has_a_name_in_both_languages():
    for view in VIEWS:
        for lang in LANGS:
            assert t(lang, f"app.view_{view}")


def test_placeholders_are_filled_and_missing_language_falls_back():
    assert "7" in t("zh", "app.control_removed", count=7)
    assert t("fr", "app.title") == "Attention Lab"
