"""AttentionTrace: everything a model computed for one text, as plain numpy on the CPU.

This is the one object that flows from the model to the UI. It is frozen and picklable (Streamlit
caches it), and the views only slice it: choosing a layer, head or query never re-runs a model.
Tensors become numpy here and nowhere else (`to_numpy`).

A layer keeps q, k, v, z, its output and its own rule (mask or window, normalizer, temperature, the scale of
q·kᵀ, RoPE's base). Its scores and weights are computed from q and k when asked, by that rule: the same
formula the forward pass ran, so they are what the model used (the tests hold them against the forward pass's
own α′ and against `transformers`). Keeping them instead
would cost two [head, pos, pos] arrays per layer: at 512 tokens, 570 MB for SmolLM2's 30 layers × 9 heads,
where q, k, v and z take 140 MB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model.attention import AttentionRule


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A float32 CPU array of a tensor, read-only so that a cached trace cannot be changed by a view.

    A tensor that owns all of its memory (the fresh result of an op, or of the move to the CPU) is
    handed over without a copy: the array shares its memory, and only the array can reach it once
    the caller drops the tensor, so callers must not change `t` in place afterwards. A view into
    a larger tensor (a slice of the weights, a transposed head split) is copied, so the array holds
    just its own numbers, contiguous.
    """
    t = t.detach().to("cpu", torch.float32)
    owns_memory = (
        t._base is None
        and t.is_contiguous()
        and t.storage_offset() == 0
        and t.untyped_storage().nbytes() == t.numel() * t.element_size()
    )
    a = t.numpy() if owns_memory else t.numpy().copy()
    a.flags.writeable = False
    return a


def read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class LayerTrace:
    """One attention layer; every array is float32."""

    q: np.ndarray  # [head, pos, d_head]  as the scores use it (after rotary embedding, where the model has it)
    k: np.ndarray  # [head, pos, d_head]  one per query head: heads that share a key (grouped-query) repeat it
    v: np.ndarray  # [head, pos, d_head]  likewise
    z: np.ndarray  # [head, pos, d_head]  α′ @ v, one output per head
    output: np.ndarray  # [pos, d_model]  the layer's output (after W^O and, where the model has them, FFN and norms)
    rule: AttentionRule  # how this layer turns q and k into α′

    @classmethod
    def from_tensors(cls, rule: AttentionRule, **tensors: torch.Tensor) -> LayerTrace:
        """A LayerTrace from the tensors of one layer, each made numpy here (`to_numpy`)."""
        return cls(rule=rule, **{name: to_numpy(t) for name, t in tensors.items()})

    @property
    def scores(self) -> np.ndarray:
        """The scores α, rule.scale · q·kᵀ, before the mask.  # [head, query_pos, key_pos], computed"""
        return read_only(self.rule.attention_np(self.q, self.k)[0])

    @property
    def weights(self) -> np.ndarray:
        """α′, each row sums to 1 over the keys the rule shows.  # [head, query_pos, key_pos], computed"""
        return read_only(self.rule.attention_np(self.q, self.k)[1])

    @property
    def concat(self) -> np.ndarray:
        """The heads' outputs side by side, the input of W^O.  # [pos, n_heads * d_head]"""
        n_heads, n_pos, d_head = self.z.shape
        return self.z.transpose(1, 0, 2).reshape(n_pos, n_heads * d_head)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.q, self.k, self.v, self.z, self.output))


@dataclass(frozen=True)
class AttentionTrace:
    """A model's attention on one text.

    tokens include the special tokens ([CLS], [SEP], <s>) where the model uses them; `special` marks them.
    What each layer's queries may see, and how its scores are scaled, is that layer's `rule`.
    """

    model_name: str
    tokens: tuple[str, ...]  # as shown on screen ("Ġsaw" is shown " saw")
    layers: tuple[LayerTrace, ...]
    token_embeddings: np.ndarray  # [pos, d_model]
    position_embeddings: np.ndarray  # [pos, d_model]  zeros when positions were switched off or are rotary
    truncated: bool = False  # the text was cut to the model's maximum number of positions
    with_positions: bool = True  # position information was given to the model
    device: str = "cpu"
    special: tuple[bool, ...] = ()  # per position: a special token such as [CLS] or [SEP]
    token_ids: tuple[int, ...] = ()  # the vocabulary ids, per position
    word_ids: tuple[int | None, ...] = ()  # which word of the text each token belongs to; None: special
    unknown: tuple[bool, ...] = ()  # per position: the vocabulary's unknown token ([UNK], <unk>)
    kv_heads: tuple[int, ...] = ()  # per query head, the key/value head it reads (grouped-query); () = its own

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_heads(self) -> int:
        return self.layers[0].q.shape[0]

    @property
    def d_head(self) -> int:
        return self.layers[0].q.shape[-1]

    @property
    def d_model(self) -> int:
        return self.token_embeddings.shape[-1]

    @property
    def n_positions(self) -> int:
        return len(self.tokens)

    @property
    def nbytes(self) -> int:
        """Memory held by the trace's arrays (what a cache counts against its budget)."""
        own = self.token_embeddings.nbytes + self.position_embeddings.nbytes
        return own + sum(layer.nbytes for layer in self.layers)

    @property
    def weights(self) -> np.ndarray:
        """α′ of every layer and head, computed from each layer's q and k.  # [layer, head, query_pos, key_pos]"""
        return np.stack([layer.weights for layer in self.layers])

    def is_special(self) -> np.ndarray:
        """Which positions hold a special token ([CLS], [SEP], ...).  # [pos] bool"""
        if not self.special:
            return np.zeros(len(self.tokens), dtype=bool)
        return np.array(self.special, dtype=bool)

    def kv_head(self, head: int) -> int:
        """The key/value head a query head reads: itself, unless heads share keys (grouped-query attention)."""
        return self.kv_heads[head] if self.kv_heads else head
