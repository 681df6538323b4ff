"""Word-embedding tables that hand out the rows a sentence uses: dense float32 here; the readers keep theirs
quantized (Q8Rows in model/readers/gguf.py, Q4Rows in model/readers/e5.py) behind the same two methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


class EmbeddingRows(Protocol):
    """A word-embedding table that hands out the rows a sentence uses (dense, or kept quantized)."""

    def rows(
        self, ids: torch.Tensor | slice
    ) -> torch.Tensor: ...  # [pos] (or a span of the vocabulary) -> [pos, d_model] float32

    def dense(self) -> torch.Tensor: ...  # [vocab, d_model], for export and tests


@dataclass(frozen=True)
class DenseRows:
    """An embedding table held as one float32 tensor."""

    weight: torch.Tensor  # [vocab, d_model]

    def rows(self, ids: torch.Tensor | slice) -> torch.Tensor:
        return self.weight[ids if isinstance(ids, slice) else ids.to(self.weight.device)]  # [pos, d_model]

    def dense(self) -> torch.Tensor:
        return self.weight
