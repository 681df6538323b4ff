"""What a model's formulas are, as the page writes them: how a layer makes one token's q, k and v from its input aᵢ.

Each family's config describes its models with an `Architecture` (its `architecture` property), and the Steps and
Q·K·V views compose their formulas and words from it, so that no view states one family's formula on another:

    family                     one token's query                          the rows of every token at once
    BERT encoder (MiniLM, e5)  qᵢ = W^q·aᵢ + bias                         Q = X·W^qᵀ + bias
    GPT-2                      qᵢ = W^q·LayerNorm(aᵢ) + bias              Q = LayerNorm(X)·W^qᵀ + bias
    Llama (SmolLM2)            qᵢ = RoPEᵢ(W^q·RMSNorm(aᵢ))                Q = RoPE(RMSNorm(X)·W^qᵀ)
    with QK-norm (Gemma 3)     qᵢ = RoPEᵢ(RMSNorm_head(W^q·RMSNorm(aᵢ)))  Q = RoPE(RMSNorm_head(RMSNorm(X)·W^qᵀ))

kⱼ is made the same way with W^k; vⱼ with W^v, never turned by RoPE nor normed per head. A post-norm encoder's aᵢ
is already the output of the last layer's LayerNorm; a pre-norm decoder's aᵢ is the residual stream, normed before
each part. The bias is written "bias", not b: b is a head's output in the article's notation. Pure: no torch, no
Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass

NORMS = {"layer_norm": "LayerNorm", "rms_norm": "RMSNorm"}  # the norm's kind -> how a formula writes it
FEED_FORWARDS = ("mlp", "gated", "none")
SUBSCRIPTS = {"i": "ᵢ", "j": "ⱼ"}


@dataclass(frozen=True)
class Architecture:
    """How one model makes q, k, v and what surrounds its attention; each field changes a formula on the page."""

    norm: str = "layer_norm"  # "layer_norm" (centres, scales by the spread, shifts) or "rms_norm" (scales only)
    norm_first: bool = False  # pre-norm: q, k, v read Norm(aᵢ) (GPT-2, Llama); post-norm (BERT): aᵢ, normed after
    bias: bool = True  # q, k, v add a learned bias vector each (BERT, GPT-2; not Llama)
    rope: bool = False  # q and k are turned by RoPE at their positions; otherwise positions were added to aᵢ
    qk_norm: bool = False  # each head's q and k are RMS-normed after W^q, W^k and before RoPE (Gemma 3)
    kv_group: int = 1  # query heads that share one key/value head (1: every head its own; SmolLM2: 3)
    feed_forward: str = "mlp"  # "mlp": two matrices, an activation between; "gated": three (SwiGLU, GeGLU); "none"
    activation: str = "gelu"  # the feed-forward's activation (of the gate, when gated)

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; expected one of {tuple(NORMS)}")
        if self.feed_forward not in FEED_FORWARDS:
            raise ValueError(f"unknown feed-forward {self.feed_forward!r}; expected one of {FEED_FORWARDS}")
        if self.kv_group < 1:
            raise ValueError("kv_group must be at least 1")

    @property
    def norm_name(self) -> str:
        return NORMS[self.norm]


ARTICLE = Architecture(bias=False)  # the article's own: qᵢ = W^q·aᵢ, positions added to the input


def vector_formula(arch: Architecture, part: str, index: str = "i") -> str:
    """One token's q, k or v (`part` "q", "k", "v") as made from the layer's input, `index` "i" or "j":
    "RoPEᵢ(W^q·RMSNorm(aᵢ))"."""
    if part not in ("q", "k", "v") or index not in SUBSCRIPTS:
        raise ValueError(f"part must be q, k or v and index i or j, got {part!r}, {index!r}")
    sub = SUBSCRIPTS[index]
    a = f"{arch.norm_name}(a{sub})" if arch.norm_first else f"a{sub}"
    formula = f"W^{part}·{a}" + (" + bias" if arch.bias else "")
    if part != "v" and arch.qk_norm:
        formula = f"RMSNorm_head({formula})"
    if part != "v" and arch.rope:
        formula = f"RoPE{sub}({formula})"
    return formula


def matrix_formula(arch: Architecture, part: str) -> str:
    """Every token's q, k or v at once, tokens as rows (`part` "Q", "K", "V"): "RoPE(RMSNorm(X)·W^qᵀ)"."""
    if part not in ("Q", "K", "V"):
        raise ValueError(f"part must be Q, K or V, got {part!r}")
    small = part.lower()
    x = f"{arch.norm_name}(X)" if arch.norm_first else "X"
    formula = f"{x}·W^{small}ᵀ" + (" + bias" if arch.bias else "")
    if part != "V" and arch.qk_norm:
        formula = f"RMSNorm_head({formula})"
    if part != "V" and arch.rope:
        formula = f"RoPE({formula})"
    return formula
