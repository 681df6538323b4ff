"""Each model's own formulas in words, for the Steps and Q·K·V views: composed from its Architecture
(model/families/architecture.py) and the strings of assets/i18n/formulas.toml, in either language.

Pure (no Streamlit). A new trait of a family (QK-norm, say) is one field of Architecture, its place in
`vector_formula` / `matrix_formula`, and its clause here and in formulas.toml.
"""

from __future__ import annotations

from components.i18n import t
from components.text import joined
from model.families.architecture import Architecture, matrix_formula, vector_formula


def _series(lang: str, clauses: list[str]) -> str:
    """Clauses one after another, the last with "and" (English) or 再 (Chinese): "a and b", "a, b, and c"."""
    if len(clauses) < 2:
        return "".join(clauses)
    if len(clauses) == 2:
        return t(lang, "formulas.pair", first=clauses[0], second=clauses[1])
    return t(lang, "formulas.clause_sep").join(clauses[:-1]) + t(lang, "formulas.series_end", clause=clauses[-1])


def making_query(lang: str, arch: Architecture, token: str, d_head: int, with_positions: bool = True) -> str:
    """How token i's query is made, in words, with where its position comes from: the body of Steps ①."""
    values = {"token": token, "norm": arch.norm_name, "d": d_head, "half": d_head // 2}
    if arch.norm_first:
        clauses = [t(lang, "formulas.make_norm", **values), t(lang, "formulas.make_times_it")]
    else:
        clauses = [t(lang, "formulas.make_times", **values)]
    if arch.bias:
        clauses.append(t(lang, "formulas.make_bias"))
    if arch.qk_norm:
        clauses.append(t(lang, "formulas.make_qk_norm", **values))
    if arch.rope and with_positions:
        clauses.append(t(lang, "formulas.make_rope", **values))
    sentence = t(lang, "formulas.sentence", text=_series(lang, clauses))
    if not with_positions:
        return sentence
    where = "formulas.position_rope" if arch.rope else "formulas.position_added"
    return joined(lang, sentence, t(lang, where))


def key_notes(lang: str, arch: Architecture) -> str:
    """What Steps ② says about kⱼ beyond its formula: a group of query heads shares it ("" when none does)."""
    return t(lang, "formulas.key_shared", group=arch.kv_group) if arch.kv_group > 1 else ""


def model_formulas(lang: str, arch: Architecture, model: str, with_positions: bool = True) -> str:
    """The Q·K·V view's sentence on one model: its qᵢ, kᵢ, vᵢ and what each unfamiliar part of them means."""
    shown = arch if with_positions else _without_rope(arch)
    parts = {part: vector_formula(shown, part, "i") for part in ("q", "k", "v")}
    notes = [t(lang, "formulas.model", model=model, **parts)]
    if arch.norm_first:
        notes.append(t(lang, f"formulas.note_{arch.norm}", norm=arch.norm_name))
    if arch.bias:
        notes.append(t(lang, "formulas.note_bias"))
    if arch.qk_norm:
        notes.append(t(lang, "formulas.note_qk_norm"))
    if shown.rope:
        notes.append(t(lang, "formulas.note_rope"))
    return joined(lang, *notes)


def row_formula(arch: Architecture, part: str, with_positions: bool = True) -> str:
    """Every token's Q, K or V at once, as the models compute it (tokens as rows)."""
    return matrix_formula(arch if with_positions else _without_rope(arch), part)


def feature_sentence(lang: str, arch: Architecture, d_head: int, with_positions: bool = True) -> str:
    """What one feature of qᵢ is in terms of the rows of W^q: the Q·K·V weights' caption. A dot product of one row
    with the (normed) input, unless RoPE turns pairs of features after it (then each feature of qᵢ mixes two
    rows) or a per-head norm rescales them together."""
    shown = arch if with_positions else _without_rope(arch)
    x = f"{arch.norm_name}(aᵢ)" if arch.norm_first else "aᵢ"
    plain = not (shown.rope or shown.qk_norm)
    product = "qᵢ" if plain else f"W^q·{x}" + (" + bias" if arch.bias else "")
    key = "formulas.feature_biased" if arch.bias else "formulas.feature"
    sentences = [t(lang, key, product=product, x=x)]
    if shown.qk_norm:
        sentences.append(t(lang, "formulas.feature_qk_norm"))
    if shown.rope:
        sentences.append(t(lang, "formulas.feature_rope", half=d_head // 2))
    return joined(lang, *sentences)


ACTIVATION_NAMES = {"gelu": "GELU", "gelu_new": "GELU", "gelu_pytorch_tanh": "GELU", "relu": "ReLU", "silu": "SiLU"}
GATED_NAMES = {"SiLU": "SwiGLU", "GELU": "GeGLU", "ReLU": "ReGLU"}  # a gated feed-forward named after its gate


def feed_forward(lang: str, arch: Architecture) -> str:
    """The model's feed-forward in a few words: "two linear maps with GELU between them", "SwiGLU: … three
    matrices"."""
    activation = ACTIVATION_NAMES.get(arch.activation, arch.activation)
    name = GATED_NAMES.get(activation, "GLU")
    return t(lang, f"formulas.ff_{arch.feed_forward}", activation=activation, name=name)


def _without_rope(arch: Architecture) -> Architecture:
    """A trace run without positions: RoPE was left out (with_positions=False)."""
    from dataclasses import replace

    return replace(arch, rope=False)
