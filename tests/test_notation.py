"""One notation everywhere (issue 12): α is the score q·k, α′ = softmax(α) the weight, b a head's output, W^q W^k
W^v W^O the matrices, as assets/glossary.toml writes them. Every string the page can show is scanned: the i18n
files in both languages, the glossary itself, every lesson's words (assets/lessons/), and every string, docstring and comment of app.py, components/ and
model/ (the code says α′ where it means the weight, as the page does); tests/test_panels.py runs the same check on every
figure the views draw.

Telling the score α from the weight α′: a primed α (α′) is always the weight. A bare α must be visibly the score
where it stands: defined as q·k beside it ("α = q·k", "αᵢⱼ = qᵢ·kⱼ"), the argument of softmax or exp, or named a
score next to it ("attention score α", "注意力分数 α"). A bare α anywhere else ("Mean α over heads", "weights α",
"α · layer 3") is a weight written without its prime, and fails.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from components.glossary import glossary, glossary_table, symbol
from components.i18n import LANGS, strings
from components.lesson_plan import lesson_names, load

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
PRIME = "′"  # U+2032
_SENTENCE_END = re.compile(r"(?<!\d)[.。;；!?！？\n]")
_SCORE_WORDS = re.compile(r"scores?\b|分数|得分|q·k|qᵢ·k|q_i·k|Q·K|QK|Kᵀ·Q")
_DEFINED_HERE = re.compile(r"^α[ᵢⱼₖ\w(),\s]{0,10}=\s*[qQ]")  # α = q·k, αᵢⱼ = qᵢ·kⱼ, α(i, j) = …
_ARGUMENT = re.compile(r"(?:softmax\w*|exp|e\^|mask|normalize)\s*[(（]?\s*$")  # softmax(α, e^α, exp(α
_WEIGHT_BEFORE = re.compile(r"(?:weights?|权重)\s*[(（]?\s*$")


def bare_alpha_problems(text: str) -> list[str]:
    """Each bare α in `text` that is not visibly the score, shown with a little context; [] when all are fine."""
    problems = []
    for m in re.finditer("α", text):
        at = m.start()
        if text[at + 1 : at + 2] in (PRIME, "'", "’"):
            continue  # a weight (a wrong prime mark is test_prime_is_the_prime_character's to catch)
        start = max((e.end() for e in _SENTENCE_END.finditer(text, 0, at)), default=0)
        end = _SENTENCE_END.search(text, at)
        sentence_before, sentence_after = text[start:at], text[at : end.start() if end else len(text)]
        near_before = sentence_before[-40:]
        if _WEIGHT_BEFORE.search(near_before):
            problems.append(text[max(0, at - 30) : at + 20])
            continue
        if (
            _DEFINED_HERE.match(sentence_after)
            or _ARGUMENT.search(sentence_before)
            or _SCORE_WORDS.search(near_before)
            or _SCORE_WORDS.search(sentence_after[:40])
        ):
            continue
        problems.append(text[max(0, at - 30) : at + 20])
    return problems


def i18n_texts() -> list[tuple[str, str]]:
    return [(f"{key}.{lang}", entry[lang]) for key, entry in strings().items() for lang in LANGS]


def glossary_texts() -> list[tuple[str, str]]:
    out = []
    for lang in LANGS:
        for i, (mark, name, definition) in enumerate(glossary_table(lang)):
            out += [(f"glossary.{lang}.{i}.name", f"{mark} {name}"), (f"glossary.{lang}.{i}.definition", definition)]
    return out


def code_texts() -> list[tuple[str, str]]:
    """Every string literal, docstring and comment of the code: app.py, components/ (what the page shows) and model/
    (where the numbers come from: the same notation in the code as on the page)."""
    out = []
    for path in [
        ROOT / "app.py",
        *sorted((ROOT / "components").rglob("*.py")),
        *sorted((ROOT / "model").rglob("*.py")),
    ]:
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        out += [
            (f"{where}:{node.lineno}", node.value)
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        ]
        out += [
            (f"{where}:{token.start[0]}", token.string)
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT
        ]
    return out


def lesson_texts() -> list[tuple[str, str]]:
    """Every lesson's words in both languages (assets/lessons/*.toml): a teacher reads them aloud."""
    out = []
    for name in lesson_names():
        lesson = load(name)
        out += [(f"lessons/{name}.title.{lang}", text) for lang, text in lesson.title.items()]
        for step in lesson.steps:
            for field in ("title", "text", "look"):
                out += [
                    (f"lessons/{name}.{step.number}.{field}.{lang}", text)
                    for lang, text in getattr(step, field).items()
                ]
    return out


ALL_TEXTS = i18n_texts() + glossary_texts() + code_texts() + lesson_texts()


def test_the_check_tells_a_score_from_a_weight():
    for fine in (
        "α = q·k is the score",
        "αᵢⱼ = qᵢ·kⱼ for each key",
        "α′ = softmax(α)",
        "e^αᵢⱼ / Σₖ e^αᵢₖ",
        "the attention score α before softmax",
        "注意力分数 α 尚未经过 softmax",
        "Cell (i, j) is qᵢ·kⱼ / √d: the article's αᵢⱼ, scaled",
        "attention weight α′ · layer 3",
    ):
        assert not bare_alpha_problems(fine), fine
    for wrong in (
        "Mean α over the heads of layer 3",
        "α · layer 3 · head 1",
        "the attention weights α of every head",
        "注意力权重 α",
        "Each row sums to 1. α is drawn darker where it is larger.",
    ):
        assert bare_alpha_problems(wrong), wrong


def test_no_string_calls_the_weights_alpha():
    assert len(ALL_TEXTS) > 500, "the scan found too few strings: it is broken"
    wrong = [(where, problem) for where, text in ALL_TEXTS for problem in bare_alpha_problems(text)]
    assert not wrong, wrong


def test_prime_is_the_prime_character():
    wrong = [(where, text) for where, text in ALL_TEXTS if re.search(r"α['’ʹ]", text)]
    assert not wrong, wrong


def test_every_matrix_symbol_is_the_glossary_s():
    """W^x in a string is one of the glossary's W^q, W^k, W^v, W^O (or its Plotly form W<sup>q</sup>)."""
    allowed = {term.symbol for term in glossary().values() if term.symbol.startswith("W^")}
    assert allowed == {"W^q", "W^k", "W^v", "W^O"}
    found = []
    for where, text in ALL_TEXTS:
        for m in re.finditer(r"W(?:\^|<sup>)\s*([A-Za-z])", text):
            if f"W^{m.group(1)}" not in allowed:
                found.append((where, m.group(0)))
    assert not found, found


NOTATION = ("score", "weight", "output", "query", "key", "value", "w_q", "w_k", "w_v", "w_o", "value_weighted")
_SYMBOL_AFTER = re.compile(r"\s*[(（]?\s*(α′?|[a-zA-Z](?:\^[a-zA-Z])?|‖[^‖]*‖)(?=[\s,，.。)）:：·]|$)")


@pytest.mark.parametrize("key", NOTATION)
def test_a_term_named_with_a_symbol_gets_the_glossary_s_symbol(key):
    """Where a string names a concept and writes a symbol right after it ("attention weight α′", "注意力分数 α"),
    the symbol is the glossary's for that concept."""
    term = glossary()[key]
    wrong = []
    for lang in LANGS:
        name = term.name[lang]
        for where, text in ALL_TEXTS:
            for m in re.finditer(re.escape(name), text, flags=re.IGNORECASE):
                after = _SYMBOL_AFTER.match(text, m.end())
                if after and after.group(1).startswith(("α", "W^", "‖")) and after.group(1) != term.symbol:
                    wrong.append((where, text[m.start() : after.end()]))
    assert not wrong, wrong


def test_the_strings_use_the_article_s_symbols_in_both_languages():
    for lang in LANGS:
        texts = [entry[lang] for entry in strings().values()]
        for key in ("score", "weight", "output"):
            mark = symbol(key)
            pattern = rf"{mark}(?!′)" if mark == "α" else rf"\b{mark}[ᵢⱼ₀-₉]*\b" if mark == "b" else re.escape(mark)
            assert any(re.search(pattern, text) for text in texts), f"{lang}: no string writes {key} as {mark}"
