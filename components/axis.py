"""Which positions of a trace a view shows: all of them or all but the special tokens, its words instead of
its sub-word pieces, and, for a long text, a window of them small enough that every label can be read.

Pure numpy (no Streamlit), written once for every view that hides [CLS]/[SEP] or shows a window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.figures.common import Mark, plain_labels, token_labels
from model.readouts.analysis import renormalize_without
from model.readouts.words import Words, word_groups
from model.trace import AttentionTrace


@dataclass(frozen=True)
class Axis:
    """The positions a view draws, in order, with their tokens and labels (or its words: see `word_axis`)."""

    positions: np.ndarray  # [shown] indices into the trace's positions (into its words, for word_axis)
    tokens: tuple[str, ...]
    special: np.ndarray  # [shown] bool
    labels: list[str]  # for Plotly, escaped: "5 river"
    files: list[str]  # for downloads, plain
    hidden: bool  # special tokens were left out (and α′ rows renormalized)

    def __len__(self) -> int:
        return len(self.positions)

    def weights(self, matrix: np.ndarray) -> np.ndarray:
        """A [..., query_pos, key_pos] α′ of the whole trace, on the shown positions; rows renormalized
        when special tokens were left out, so each still sums to 1."""
        if not self.hidden:
            return matrix
        special = np.ones(matrix.shape[-1], dtype=bool)
        special[self.positions] = False
        return renormalize_without(matrix, special)

    def first(self, limit: int) -> Axis:
        """The first `limit` of these positions."""
        return Axis(
            positions=self.positions[:limit],
            tokens=self.tokens[:limit],
            special=self.special[:limit],
            labels=self.labels[:limit],
            files=self.files[:limit],
            hidden=self.hidden,
        )

    def rows(self, matrix: np.ndarray) -> np.ndarray:
        """The shown rows of a [pos, ...] matrix (q, k, v: no renormalizing)."""
        return matrix[self.positions]

    def cells(self, matrix: np.ndarray) -> np.ndarray:
        """The shown rows and columns of a [..., query_pos, key_pos] matrix (scores α: no renormalizing)."""
        return matrix[..., self.positions[:, None], self.positions[None, :]]


def axis_of(trace: AttentionTrace, hide_special: bool) -> Axis:
    """All positions, or all but [CLS]/[SEP] when asked, unless that would leave nothing."""
    return _axis(trace.tokens, trace.is_special(), hide_special)


def word_axis(trace: AttentionTrace, hide_special: bool) -> tuple[Axis, Words]:
    """The trace's words instead of its pieces (model/readouts/words.py), all or all but the special ones: a view merges
    a [..., query_pos, key_pos] matrix with `merge_words(matrix, words)`, then draws it through the Axis,
    whose positions are word indices. Labels are "index word", the index counting words."""
    words = word_groups(trace.tokens, trace.is_special(), trace.word_ids)
    return _axis(words.labels, np.array(words.special, dtype=bool), hide_special), words


def _axis(tokens: tuple[str, ...], special: np.ndarray, hide_special: bool) -> Axis:
    hide = hide_special and special.any() and not special.all()
    keep = np.flatnonzero(~special) if hide else np.arange(len(tokens))
    labels, files = token_labels(tokens), plain_labels(tokens)
    return Axis(
        positions=keep,
        tokens=tuple(tokens[i] for i in keep),
        special=special[keep],
        labels=[labels[i] for i in keep],
        files=[files[i] for i in keep],
        hidden=bool(hide),
    )


@dataclass(frozen=True)
class Window:
    """A block of a square matrix: rows first … last and columns first … last (inclusive), as indices
    into the shown positions."""

    queries: tuple[int, int]
    keys: tuple[int, int]

    @property
    def rows(self) -> slice:
        return slice(self.queries[0], self.queries[1] + 1)

    @property
    def cols(self) -> slice:
        return slice(self.keys[0], self.keys[1] + 1)

    def whole(self, n: int) -> bool:
        return self.queries == (0, n - 1) and self.keys == (0, n - 1)


def fit_range(asked: object, n: int, capacity: int) -> tuple[int, int]:
    """A range of at most `capacity` positions inside 0 … n-1: `asked` (a pair) moved and cut to fit,
    or the first `capacity` positions when it is not a pair of whole numbers."""
    span = min(n, max(1, capacity))
    try:
        first, last = (int(v) for v in asked)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return 0, span - 1
    first, last = sorted((first, last))
    first = min(max(first, 0), n - 1)
    last = min(max(last, first), n - 1, first + span - 1)
    return first, last


def centred_range(centre: int, n: int, capacity: int) -> tuple[int, int]:
    """`capacity` positions (or all n) around `centre`, kept inside 0 … n-1."""
    span = min(n, max(1, capacity))
    first = min(max(centre - span // 2, 0), n - span)
    return first, first + span - 1


def marked(
    mark: Mark | None,
    axis: Axis,
    rows: slice = slice(None),
    cols: slice = slice(None),
    visible: np.ndarray | None = None,
) -> Mark | None:
    """A mark written in trace positions (a lesson's), as indices into a panel that draws the shown positions
    `rows` (as rows) and `cols` (as columns) of `axis`; positions the panel does not draw are left out.
    visible: a sliding window's [query, key] cells over trace positions (AttentionRule.visible), drawn as a band."""
    if not mark and visible is None:
        return None
    mark = mark or Mark()
    shown_rows, shown_cols = axis.positions[rows], axis.positions[cols]
    row_at, col_at = (
        {p: i for i, p in enumerate(shown_rows.tolist())},
        {p: i for i, p in enumerate(shown_cols.tolist())},
    )
    band = () if visible is None else tuple(map(tuple, visible[np.ix_(shown_rows, shown_cols)].tolist()))
    return Mark(
        rows=tuple(row_at[p] for p in mark.rows if p in row_at),
        cols=tuple(col_at[p] for p in mark.cols if p in col_at),
        cells=tuple((row_at[r], col_at[c]) for r, c in mark.cells if r in row_at and c in col_at),
        band=band,
    )
