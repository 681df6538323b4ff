"""AttentionTrace: everything a model computed for one text, as plain numpy on the CPU.

This is the one object that flows from the model to the UI. It is frozen and picklable (Streamlit
caches it), and the views only slice it: choosing a layer, head or query never re-runs a model.
Tensors become numpy here and nowhere else (`to_numpy`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


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


@dataclass(frozen=True)
class LayerTrace:
    """One attention layer; every array is float32."""

    q: np.ndarray  # [head, pos, d_head]
    k: np.ndarray  # [head, pos, d_head]
    v: np.ndarray  # [head, pos, d_head]
    scores: np.ndarray  # [head, query_pos, key_pos]  q·kᵀ/√d_head (or q·kᵀ when unscaled), before the mask
    weights: np.ndarray  # [head, query_pos, key_pos]  α, each row sums to 1
    z: np.ndarray  # [head, pos, d_head]  α @ v, one output per head
    output: (
        np.ndarray
    )  # [pos, d_model]  the layer's output (after W^O and, where the model has them, the feed-forward and norms)

    @classmethod
    def from_tensors(cls, **tensors: torch.Tensor) -> LayerTrace:
        """A LayerTrace from the tensors of one layer, each made numpy here (`to_numpy`)."""
        return cls(**{name: to_numpy(t) for name, t in tensors.items()})

    @property
    def concat(self) -> np.ndarray:
        """The heads' outputs side by side, the input of W^O.  # [pos, n_heads * d_head]"""
        n_heads, n_pos, d_head = self.z.shape
        return self.z.transpose(1, 0, 2).reshape(n_pos, n_heads * d_head)


@dataclass(frozen=True)
class AttentionTrace:
    """A model's attention on one text.

    tokens include the special tokens ([CLS], [SEP]) where the model uses them; `special` marks them. `mask` is the
    [query_pos, key_pos] visibility the model applied (True = visible), None when it saw everything.
    """

    model_name: str
    tokens: tuple[str, ...]
    layers: tuple[LayerTrace, ...]
    token_embeddings: np.ndarray  # [pos, d_model]
    position_embeddings: np.ndarray  # [pos, d_model]  zeros when positions were switched off
    mask: np.ndarray | None = None  # [query_pos, key_pos] bool
    truncated: bool = False  # the text was cut to the model's maximum number of positions
    positions: bool = True  # position information was added to the input
    normalizer: str = "softmax"
    scale: bool = True
    temperature: float = 1.0
    device: str = "cpu"
    special: tuple[bool, ...] = ()  # per position: a special token such as [CLS] or [SEP]

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_heads(self) -> int:
        return self.layers[0].weights.shape[0]

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
        arrays = [self.token_embeddings, self.position_embeddings]
        for layer in self.layers:
            arrays += [layer.q, layer.k, layer.v, layer.scores, layer.weights, layer.z, layer.output]
        return sum(a.nbytes for a in arrays)

    def weights(self) -> np.ndarray:
        """α of every layer and head.  # [layer, head, query_pos, key_pos]"""
        return np.stack([layer.weights for layer in self.layers])

    def is_special(self) -> np.ndarray:
        """Which positions hold a special token ([CLS], [SEP], ...).  # [pos] bool"""
        if not self.special:
            return np.zeros(len(self.tokens), dtype=bool)
        return np.array(self.special, dtype=bool)
