"""Pure Plotly and image builders shared by the views: numpy in, go.Figure (or PNG) out.

One way to draw: every heatmap of every view comes from `heatmap_grid` (or `heatmap_figure`, its
one-panel form), so text sizes, hover text, colour scales and the room left for labels change here
and nowhere else. Sizes follow `sizes(presentation)`: on a projector everything grows, and tick
labels are never under 16 px on any screen.

Nothing here imports Streamlit. Axes are positions labelled "index token", so repeated tokens
("saw", "the") stay distinct, and every token is escaped before Plotly sees it: Plotly reads a
small HTML subset in labels, and a typed "<a href=…>" must show as text.
"""

from __future__ import annotations

import csv
import html
import io
import math
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas  # noqa: F401 - whole before any figure is built; see below
import plotly.graph_objects as go
from PIL import Image

# Plotly checks whether a value is a pandas Series with sys.modules.get("pandas"), without importing it. While
# one session's thread imports pandas (the first visit to Steps, say), another thread building a figure then
# finds the half-made module and fails ("partially initialized module 'pandas' has no attribute 'Series'"):
# 39 failed views in a class of 200 that arrived at once. Importing pandas here, before plotly, has every
# thread that draws wait for it to be whole.

# Sequential ramp for α′ (white → deep blue), readable on a projector.
BLUES = [(0.0, "#f7fbff"), (0.25, "#c6dbef"), (0.5, "#6baed6"), (0.75, "#2171b5"), (1.0, "#08306b")]
DIVERGING = "RdBu_r"  # signed values (q, k, v, scores α): red positive, blue negative, white zero
SCALES = ("linear", "row", "log", "signed")  # how values become colours; see colour_values
LOG_FLOOR = 1e-4  # the log scale starts here: smaller weights share the lightest colour
PLOT_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
    "modeBarButtonsToRemove": ["lasso2d", "select2d"],
}
_TICK_ANGLE = -60  # column labels lean so that long tokens fit under narrow columns
_SIN = math.sin(math.radians(-_TICK_ANGLE))


@dataclass(frozen=True)
class Sizes:
    """Text and cell sizes in CSS pixels, for a screen or a projector."""

    font: int  # axis titles, panel titles, legends, hover labels
    tick: int  # tick labels, colour-bar numbers, numbers written in cells
    title: int  # the figure's title
    cell: int  # the height of one labelled row: a tick label and a little air
    screen: int  # the tallest figure that still fits the first screen under the page's header


SCREEN = Sizes(font=16, tick=16, title=18, cell=21, screen=540)  # a 1600 × 1000 window
PROJECTOR = Sizes(font=20, tick=18, title=22, cell=22, screen=540)  # a 1280 × 720 projector, sidebar folded


def sizes(presentation: bool) -> Sizes:
    return PROJECTOR if presentation else SCREEN


def font_size(presentation: bool) -> int:
    return sizes(presentation).font


def escape(token: str) -> str:
    """A token as Plotly shows it literally."""
    return html.escape(token, quote=False)


def token_labels(tokens: tuple[str, ...] | list[str]) -> list[str]:
    """Unique axis labels: "0 [CLS]", "1 i", "2 saw" … keep repeated tokens apart."""
    return [f"{i} {escape(tok)}" for i, tok in enumerate(tokens)]


def plain_labels(tokens: tuple[str, ...] | list[str]) -> list[str]:
    """Like token_labels but unescaped, for files rather than Plotly."""
    return [f"{i} {tok}" for i, tok in enumerate(tokens)]


def text_px(text: str, size: int) -> float:
    """About how wide `text` is drawn at `size` px: wide (CJK) characters a full em, others about half."""
    plain = html.unescape(text)
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else 0.52 * size for ch in plain)


def rows_that_fit(height: int, presentation: bool, longest_label: str = "00 xxxxxx", titled: bool = True) -> int:
    """How many labelled rows a one-panel heatmap of `height` px holds with every label readable."""
    s = sizes(presentation)
    top = _title_px(s) if titled else 10
    bottom = _column_labels_px(s, [longest_label]) + _axis_title_px(s)
    return max(1, int((height - top - bottom) // s.cell))


def columns_that_fit(width: int, presentation: bool, longest_label: str = "00 xxxxxx", panels: int = 1) -> int:
    """How many labelled columns each of `panels` side-by-side heatmaps (each with row labels like
    `longest_label`) holds in a figure `width` px wide, with every leaning column label readable."""
    s = sizes(presentation)
    panel = (width - _colour_bar_width(s) - 20) / panels - text_px(longest_label, s.tick) - _axis_title_px(s) - 12
    return max(1, int(panel // _column_pitch(s)))


# ── Colour scales ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Colours:
    """What a colour axis shows for some matrices: the range, the colour scale and its bar's ticks."""

    cmin: float
    cmax: float
    colorscale: object
    cmid: float | None = None
    tickvals: tuple[float, ...] | None = None
    ticktext: tuple[str, ...] | None = None


def colour_values(z: np.ndarray, scale: str) -> np.ndarray:
    """The numbers Plotly colours, for one matrix [row, col]: the values themselves ("linear", "signed"),
    each row divided by its largest value ("row", so a faint row shows its shape), or log10 of the
    values from LOG_FLOOR up ("log", so small weights stay apart)."""
    z = np.asarray(z, dtype=np.float32)
    if scale in ("linear", "signed"):
        return z
    if scale == "row":
        peak = z.max(axis=-1, keepdims=True)  # [row, 1]
        return np.divide(z, peak, out=np.zeros_like(z), where=peak > 0)
    if scale == "log":
        return np.log10(np.maximum(z, LOG_FLOOR)).astype(np.float32)
    raise ValueError(f"unknown colour scale {scale!r}; one of {SCALES}")


def colour_axis(matrices: Sequence[np.ndarray], scale: str, zmax: float | None = None) -> Colours:
    """One colour axis for matrices drawn alike: zmax (default 1 for weights) or the largest |value| for
    "signed"; 0 … 1 of the row's maximum for "row"; powers of ten for "log"."""
    if scale == "signed":
        bound = zmax if zmax is not None else max((float(np.abs(m).max()) for m in matrices if m.size), default=1.0)
        bound = bound or 1.0
        return Colours(-bound, bound, DIVERGING, cmid=0.0)
    if scale == "row":
        return Colours(0.0, 1.0, BLUES)
    if scale == "log":
        top = math.log10(zmax) if zmax else 0.0
        low = math.log10(LOG_FLOOR)
        powers = tuple(float(p) for p in range(int(low), int(math.floor(top)) + 1))
        return Colours(low, top, BLUES, tickvals=powers, ticktext=tuple(_power_of_ten(p) for p in powers))
    if scale == "linear":
        return Colours(0.0, zmax if zmax is not None else 1.0, BLUES)
    raise ValueError(f"unknown colour scale {scale!r}; one of {SCALES}")


def _power_of_ten(p: float) -> str:
    return {0: "1", -1: "0.1", -2: "0.01"}.get(int(p), f"10<sup>{int(p)}</sup>")


# ── The heatmap builder ───────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Mark:
    """What a panel points at: whole rows, whole columns and single cells (row, column), as indices into the
    panel's rows and columns, each outlined (an index outside the panel is left out); and a band, the cells a
    sliding window lets each query see (a row of booleans per panel row), whose border is drawn."""

    rows: tuple[int, ...] = ()
    cols: tuple[int, ...] = ()
    cells: tuple[tuple[int, int], ...] = ()
    band: tuple[tuple[bool, ...], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rows or self.cols or self.cells or self.band)


MARK_COLOUR = "#e6550d"  # the outline of a marked row, column or cell: the chosen head's orange


@dataclass(frozen=True)
class Panel:
    """One heatmap of a figure: a matrix, its column and row labels, and what to write around it."""

    z: np.ndarray  # [row, col]
    x: Sequence  # column labels: escaped token labels, or numbers (a numeric axis)
    y: Sequence  # row labels, likewise
    title: str = ""  # above the panel (figures with several panels)
    x_title: str = ""
    y_title: str = ""
    name: str = ""  # first line of the hover, e.g. "head 2"
    rules_x: tuple[float, ...] = ()  # vertical lines at these column coordinates (e.g. between heads)
    rules_y: tuple[float, ...] = ()
    outline: bool = False  # a frame around the panel (the best head)
    mark: Mark | None = None  # rows, columns or cells to outline (a lesson's "look here")


@dataclass(frozen=True)
class Bars:
    """A row of bars above the first panel, on its column axis (Step by step: α′ per key)."""

    x: Sequence
    values: np.ndarray  # [col]
    colors: Sequence[str]
    title: str
    value_name: str


def heatmap_figure(
    matrix: np.ndarray,
    x_labels: Sequence,
    y_labels: Sequence,
    *,
    x_title: str = "",
    y_title: str = "",
    mark: Mark | None = None,
    **options,
) -> go.Figure:
    """One matrix as a heatmap: `heatmap_grid` with one panel (same options); `mark` outlines rows, columns or cells."""
    panel = Panel(matrix, x_labels, y_labels, x_title=x_title, y_title=y_title, mark=mark)
    return heatmap_grid([panel], **options)


def heatmap_grid(
    panels: Sequence[Panel | None],
    *,
    columns: int | None = None,
    title: str = "",
    value_name: str = "α′",
    scale: str = "linear",
    zmax: float | None = None,
    shared_scale: bool = True,
    share_x: bool = False,
    share_y: bool = False,
    square: bool = False,
    annotate: bool = False,
    bars: Bars | None = None,
    presentation: bool = False,
    height: int | None = None,
    width_px: int | None = None,
    cell_px: int | None = None,
) -> go.Figure:
    """Heatmaps in a grid of `columns` (row-major; None leaves a place empty), one hover text for all:
    the panel's name, the row, the column and `value_name` to 3 decimals (the true value, also on the
    row and log scales).

    scale: "linear" (0 … zmax, 1 for weights), "row" (each row to its own maximum), "log" (powers of ten
    down to LOG_FLOOR) or "signed" (diverging around 0, ±zmax or the largest |value|).
    shared_scale: one colour bar for every panel, so equal values get equal colours; otherwise each panel
    has its own bar, under it. share_x / share_y: panels in a column / row have the same columns / rows,
    labelled once. square: square cells. annotate: each value written in its cell (small matrices).
    Rows of token labels are `sizes(presentation).cell` px tall, so every label shows; `height` squeezes
    or stretches them to a given figure height, `cell_px` sets them (never under the readable size). `width_px` is about how wide the figure will be drawn
    (a column of the page), to judge whether every column label fits.
    """
    s = sizes(presentation)
    slots = list(panels)
    shown = [p for p in slots if p is not None]
    n_cols = columns or len(slots)
    n_rows = math.ceil(len(slots) / n_cols)
    grid = [slots[r * n_cols : (r + 1) * n_cols] for r in range(n_rows)]
    width_px = width_px or (1100 if presentation else 1000)
    shared = colour_axis([np.asarray(p.z) for p in shown], scale, zmax) if shared_scale else None

    # Pixels, top to bottom: the title; the bars; per row of panels its titles, its cells and (where the
    # columns are not shared, or on the last row) its column labels.
    def labels_below(r: int) -> bool:
        return not share_x or r == n_rows - 1

    def cells_px(row: list[Panel | None]) -> int:
        labelled = [len(p.y) for p in row if p is not None and _is_category(p.y)]
        if labelled:  # every token label readable; a numbered panel beside them (W^O's dimensions) stretches along
            return max(labelled) * max(s.cell, cell_px or 0)
        rows = max((len(p.y) for p in row if p is not None), default=1)
        return int(min(max(6 * rows, 150), 420))

    above = [s.font * 1.7 if any(p is not None and p.title for p in row) else 0.0 for row in grid]
    below = [
        (_column_labels_px(s, [lab for p in row if p is not None for lab in p.x]) if labels_below(r) else 0.0)
        + (_axis_title_px(s) if labels_below(r) and any(p is not None and p.x_title for p in row) else 0.0)
        + (0.0 if shared_scale else _colour_bar_px(s))
        for r, row in enumerate(grid)
    ]
    cells = [cells_px(row) for row in grid]
    gaps = [below[r] + above[r + 1] + 12 for r in range(n_rows - 1)]
    bar_px = 0 if bars is None else max(110, int(0.28 * cells[0]))
    head = 0.0 if bars is None else bar_px + above[0] + s.font * 0.8  # the bars and the gap under them
    top = (_title_px(s) if title else 12) + (s.font * 1.7 if bars is not None else above[0])
    bottom = below[-1] + 6
    if height is not None:
        room = height - top - bottom - head - sum(gaps)
        cells = [max(40, int(c * room / max(sum(cells), 1))) for c in cells]
    plot = head + sum(cells) + sum(gaps)

    # Paper coordinates: the plot area is [0, 1] both ways; the margins hold titles and labels.
    y_domains, y_at = [], plot - head
    for r in range(n_rows):
        y_domains.append((max(0.0, (y_at - cells[r]) / plot), min(1.0, y_at / plot)))
        y_at -= cells[r] + (gaps[r] if r < n_rows - 1 else 0)
    longest_row_label = max((text_px(str(lab), s.tick) for p in shown for lab in p.y), default=0.0)
    _row_labels_px = longest_row_label + _axis_title_px(s) + 12  # the first column's row labels, left of it
    gap = 0.03 if share_y else min(0.3, 0.03 + (longest_row_label + 2 * s.font + 12) / width_px)
    width = (1.0 - gap * (n_cols - 1)) / n_cols
    x_domains = [(c * (width + gap), c * (width + gap) + width) for c in range(n_cols)]

    traces, annotations, shapes, layout = [], [], [], {}
    for r, c, panel, n in _places(grid):
        x_labels_here = not share_x or _last_in_column(grid, r, c)
        y_labels_here = not share_y or c == 0
        x_axis = {
            **_axis(panel.x, s, width * (width_px - _row_labels_px) - _colour_bar_width(s) / n_cols, column=True),
            "domain": x_domains[c],
            "anchor": f"y{n}",
            "showticklabels": x_labels_here,
            "title": {"text": panel.x_title if x_labels_here else "", "font": {"size": s.font}},
        }
        y_axis = {
            **_axis(panel.y, s, cells[r], column=False),
            "domain": y_domains[r],
            "anchor": f"x{n}",
            "autorange": "reversed",
            "showticklabels": y_labels_here,
            "title": {"text": panel.y_title if y_labels_here else "", "font": {"size": s.font}},
        }
        if share_x and (first := _first_axis(grid, "x", lambda rr, cc, c=c: cc == c)) != f"x{n}":
            x_axis["matches"] = first
        if share_y and (first := _first_axis(grid, "y", lambda rr, cc, r=r: rr == r)) != f"y{n}":
            y_axis["matches"] = first
        if square:
            x_axis["constrain"] = "domain"
            y_axis |= {"scaleanchor": f"x{n}", "constrain": "domain", "constraintoward": "top"}
        layout[f"xaxis{n}"], layout[f"yaxis{n}"] = x_axis, y_axis
        raw = np.asarray(panel.z, dtype=np.float32)
        axis_name = "coloraxis" if shared_scale else f"coloraxis{n}"
        if not shared_scale:
            under = (x_domains[c], y_domains[r][0] - below[r] / plot + _colour_bar_px(s) / plot)
            layout[axis_name] = _colour_axis_layout(colour_axis([raw], scale, zmax), value_name, s, scale, under)
        traces.append(_heat(panel, raw, scale, value_name, axis_name, f"x{n}", f"y{n}", annotate, s))
        if panel.title:
            annotations.append(_panel_title(panel.title, x_domains[c], y_domains[r][1], s))
        shapes += [_rule(f"x{n}", f"y{n} domain", x, vertical=True) for x in panel.rules_x]
        shapes += [_rule(f"x{n} domain", f"y{n}", y, vertical=False) for y in panel.rules_y]
        if panel.outline:
            shapes.append(_outline(n))
        if panel.mark:
            shapes += _marks(panel.mark, n, len(panel.y), len(panel.x), s)
    if bars is not None:
        k = len(shown) + 1
        traces.append(
            {
                "type": "bar",
                "x": list(bars.x),
                "y": np.asarray(bars.values, dtype=np.float32),
                "marker": {"color": list(bars.colors)},
                "xaxis": f"x{k}",
                "yaxis": f"y{k}",
                "hovertemplate": f"%{{x}}<br>{bars.value_name} = %{{y:.3f}}<extra></extra>",
                "showlegend": False,
            }
        )
        low = 1.0 - bar_px / plot
        layout[f"xaxis{k}"] = {"domain": x_domains[0], "anchor": f"y{k}", "matches": "x", "showticklabels": False}
        layout[f"yaxis{k}"] = {
            "domain": (low, 1.0),
            "anchor": f"x{k}",
            "range": [0, max(1.0, float(np.max(bars.values)) * 1.1)],
            "tickfont": {"size": s.tick},
            "nticks": 3,
            "automargin": True,
        }
        annotations.append(_panel_title(bars.title, x_domains[0], 1.0, s))

    layout |= {
        "title": {"text": title, **_title_place(s)},
        "font": {"size": s.font},
        "hoverlabel": {"font": {"size": s.font}},
        "margin": {"l": 10, "r": 10, "t": int(top), "b": int(bottom)},
        "height": int(top + plot + bottom),
        "plot_bgcolor": "white",
        "annotations": annotations,
        "shapes": shapes,
    }
    if shared is not None:
        layout["coloraxis"] = _colour_axis_layout(shared, value_name, s, scale, None)
    return unchecked_figure(traces, layout)


def unchecked_figure(data: list, layout: dict) -> go.Figure:
    """A figure from plain dicts without Plotly's property validation, which walks every property and cost more
    than building, serialising and sending the figure (Steps: 60 of its 135 ms per run). The figures' builders are
    checked once against Plotly's schema in the tests instead (tests/test_figures.py)."""
    return go.Figure(data, layout, _validate=False)


def _is_category(labels: Sequence) -> bool:
    return any(isinstance(label, str) for label in labels)


def _axis(labels: Sequence, s: Sizes, span_px: float, column: bool) -> dict:
    """A heatmap axis: token labels, every one drawn while they fit in `span_px`, or plain numbers."""
    base = {"showgrid": False, "zeroline": False, "ticks": "", "tickfont": {"size": s.tick}, "automargin": True}
    if not _is_category(labels):
        return {**base, "type": "linear"}
    axis = {**base, "type": "category", "categoryorder": "array", "categoryarray": list(labels)}
    lean = column and max((len(str(label)) for label in labels), default=0) > 3
    pitch = _column_pitch(s) if column else s.tick * 1.05
    if len(labels) * pitch <= span_px:  # every label (Plotly would skip some); Plotly's choice beyond
        axis |= {"tickmode": "array", "tickvals": list(labels), "ticktext": list(labels)}
    if lean:
        axis["tickangle"] = _TICK_ANGLE
    return axis


def _last_in_column(grid: list[list[Panel | None]], r: int, c: int) -> bool:
    """No panel under (r, c): its column labels are drawn."""
    return all(c >= len(row) or row[c] is None for row in grid[r + 1 :])


def _places(grid: list[list[Panel | None]]) -> Iterator[tuple[int, int, Panel, str]]:
    """(row, column, panel, axis suffix) of every panel: Plotly names the first axes x and y, then x2, y2, …"""
    k = 0
    for r, row in enumerate(grid):
        for c, panel in enumerate(row):
            if panel is not None:
                k += 1
                yield r, c, panel, "" if k == 1 else str(k)


def _first_axis(grid: list[list[Panel | None]], letter: str, where) -> str:
    """The name of the first panel's axis among the places where(r, c) holds (to share it)."""
    return next((letter + n for r, c, _, n in _places(grid) if where(r, c)), letter)


def _hover(panel: Panel, value_name: str, raw_in_customdata: bool) -> str:
    value = "%{customdata:.3f}" if raw_in_customdata else "%{z:.3f}"
    lines = [panel.name] if panel.name else []
    lines.append(f"{panel.y_title}: %{{y}}" if panel.y_title else "%{y}")
    lines.append(f"{panel.x_title}: %{{x}}" if panel.x_title else "%{x}")
    lines.append(f"{value_name} = {value}")
    return "<br>".join(lines) + "<extra></extra>"


def _heat(
    panel: Panel, raw: np.ndarray, scale: str, value_name: str, axis: str, x: str, y: str, annotate: bool, s: Sizes
):
    """One heatmap trace; on the row and log scales the colours are computed and the true values ride along."""
    transformed = scale in ("row", "log")
    extra: dict = {}
    if transformed:
        extra["customdata"] = raw
    if annotate:
        if transformed:
            extra |= {"text": np.char.mod("%.2f", raw), "texttemplate": "%{text}"}
        else:
            extra["texttemplate"] = "%{z:.2f}"
        extra["textfont"] = {"size": s.tick}
    return {
        "type": "heatmap",
        "z": colour_values(raw, scale),
        "x": list(panel.x),
        "y": list(panel.y),
        "xaxis": x,
        "yaxis": y,
        "coloraxis": axis,
        "hovertemplate": _hover(panel, value_name, transformed),
        **extra,
    }


def _colour_axis_layout(colours: Colours, value_name: str, s: Sizes, scale: str, under) -> dict:
    """A colour axis with its bar: at the right of the figure, or (under = (x_domain, y)) flat under a panel."""
    title = {"row": f"{value_name} / max", "log": f"{value_name} (log)"}.get(scale, value_name)
    bar: dict = {"title": {"text": title, "font": {"size": s.font}}, "tickfont": {"size": s.tick}, "thickness": 14}
    if colours.tickvals is not None:
        bar |= {"tickvals": list(colours.tickvals), "ticktext": list(colours.ticktext or ())}
    if under is not None:
        (x0, x1), y = under
        bar |= {
            "orientation": "h",
            "x": (x0 + x1) / 2,
            "xanchor": "center",
            "len": (x1 - x0) * 0.8,
            "y": y,
            "yanchor": "top",
            "yref": "paper",
            "thickness": 10,
            "title": {"text": title, "font": {"size": s.font}, "side": "right"},
        }
    axis = {"colorscale": colours.colorscale, "cmin": colours.cmin, "cmax": colours.cmax, "colorbar": bar}
    if colours.cmid is not None:
        axis["cmid"] = colours.cmid
    return axis


def _panel_title(text: str, x_domain, y: float, s: Sizes) -> dict:
    return {
        "text": text,
        "x": (x_domain[0] + x_domain[1]) / 2,
        "y": y,
        "xref": "paper",
        "yref": "paper",
        "xanchor": "center",
        "yanchor": "bottom",
        "yshift": 4,
        "showarrow": False,
        "font": {"size": s.font, "color": "#31333f"},
    }


def _rule(xref: str, yref: str, at: float, vertical: bool) -> dict:
    line = {"color": "black", "width": 2}
    if vertical:
        return {"type": "line", "xref": xref, "yref": yref, "x0": at, "x1": at, "y0": 0, "y1": 1, "line": line}
    return {"type": "line", "xref": xref, "yref": yref, "x0": 0, "x1": 1, "y0": at, "y1": at, "line": line}


def _outline(n: str) -> dict:
    return {
        "type": "rect",
        "xref": f"x{n} domain",
        "yref": f"y{n} domain",
        "x0": 0,
        "x1": 1,
        "y0": 0,
        "y1": 1,
        "line": {"color": "#e6550d", "width": 3},
    }


def _marks(mark: Mark, n: str, n_rows: int, n_cols: int, s: Sizes) -> list[dict]:
    """Outlines for a panel's marked rows, columns and cells. On a category axis a cell spans its index ± 0.5,
    so the frames sit on the cells' edges whatever their size; the line is thick enough for the back row."""
    line = {"color": MARK_COLOUR, "width": 4 if s is PROJECTOR else 3}
    boxes = [(r - 0.5, r + 0.5, -0.5, n_cols - 0.5) for r in mark.rows if 0 <= r < n_rows]
    boxes += [(-0.5, n_rows - 0.5, c - 0.5, c + 0.5) for c in mark.cols if 0 <= c < n_cols]
    boxes += [(r - 0.5, r + 0.5, c - 0.5, c + 0.5) for r, c in mark.cells if 0 <= r < n_rows and 0 <= c < n_cols]
    shapes = [
        {"type": "rect", "xref": f"x{n}", "yref": f"y{n}", "x0": x0, "x1": x1, "y0": y0, "y1": y1, "line": line}
        for y0, y1, x0, x1 in boxes
    ]
    if mark.band:
        path = band_border(np.asarray(mark.band, dtype=bool)[:n_rows, :n_cols])
        if path:
            band_line = {"color": BAND_COLOUR, "width": line["width"], "dash": "dot"}
            shapes.append({"type": "path", "xref": f"x{n}", "yref": f"y{n}", "path": path, "line": band_line})
    return shapes


BAND_COLOUR = "#31a354"  # a sliding window's border: green, apart from the lesson's orange


def band_border(inside: np.ndarray) -> str:
    """An SVG path along every border between a cell inside the band and one outside it (not the panel's own
    edge), in cell coordinates: a cell (r, c) spans r ± 0.5 and c ± 0.5."""
    n_rows, n_cols = inside.shape
    moves = []
    for r, c in zip(*np.nonzero(inside[:, 1:] != inside[:, :-1]), strict=True):  # between columns c and c + 1
        moves.append(f"M{c + 0.5},{r - 0.5}L{c + 0.5},{r + 0.5}")
    for r, c in zip(*np.nonzero(inside[1:, :] != inside[:-1, :]), strict=True):  # between rows r and r + 1
        moves.append(f"M{c - 0.5},{r + 0.5}L{c + 0.5},{r + 0.5}")
    return "".join(moves)


def _title_place(s: Sizes) -> dict:
    """Every figure's title: top left of the figure, in its own band above the plot (and its legend)."""
    return {
        "font": {"size": s.title},
        "x": 0.0,
        "xanchor": "left",
        "xref": "container",
        "y": 1.0,
        "yanchor": "top",
        "yref": "container",
        "pad": {"t": 8, "l": 12},
    }


def _title_px(s: Sizes) -> float:
    return s.title * 2.2


def _axis_title_px(s: Sizes) -> float:
    return s.font * 1.5


def _colour_bar_width(s: Sizes) -> float:
    return 2.5 * s.tick + 30


def _column_pitch(s: Sizes) -> float:
    """The narrowest column whose leaning label does not touch the next one: the gap between the
    parallel labels, pitch × sin(angle), must hold a line of text."""
    return s.tick * 1.15 / _SIN


def _colour_bar_px(s: Sizes) -> float:
    return 10 + s.tick * 1.6 + s.font * 1.4


def _column_labels_px(s: Sizes, labels: Sequence) -> float:
    """Room under a panel for its column labels: long ones lean (_TICK_ANGLE), numbers stand upright."""
    if not labels:
        return 0.0
    if not _is_category(labels) or max(len(str(label)) for label in labels) <= 3:
        return s.tick * 1.6
    return max(text_px(str(label), s.tick) for label in labels) * _SIN + s.tick * 0.5 + 4


def mixing_figure(
    concat: np.ndarray,
    w_o: np.ndarray,
    output: np.ndarray,
    labels: list[str],
    *,
    d_head: int,
    w_dims: np.ndarray,
    w_cols: np.ndarray | None = None,
    panel_titles: tuple[str, str, str],
    title: str = "",
    dim_title: str = "dimension",
    in_title: str = "concat dimension",
    out_title: str = "output dimension",
    presentation: bool = False,
) -> go.Figure:
    """Multi-head attention's last step: concat [pos, n_heads·d_head] · W^O [n_heads·d_head, d_model] → output
    [pos, d_model], side by side, each on its own signed colour scale (x·W layout: W^O's rows read the concat).

    Lines mark where one head's block ends: columns of concat, rows of W^O. w_dims names the rows of W^O that
    are drawn and w_cols its columns (default: the same; all of them, or every s-th for a large d_model).
    """
    dims = list(range(concat.shape[1]))
    out_dims = list(range(output.shape[1]))
    shown_dims = [int(d) for d in w_dims]
    shown_cols = shown_dims if w_cols is None else [int(d) for d in w_cols]
    edges = tuple(h * d_head - 0.5 for h in range(1, concat.shape[1] // d_head))
    panels = [
        Panel(concat, dims, labels, title=panel_titles[0], x_title=dim_title, name=panel_titles[0], rules_x=edges),
        Panel(
            w_o,
            shown_cols,
            shown_dims,
            title=panel_titles[1],
            x_title=out_title,
            y_title=in_title,
            name=panel_titles[1],
            rules_y=edges,  # in dimension numbers, so they hold when only every s-th row is drawn
        ),
        Panel(output, out_dims, labels, title=panel_titles[2], x_title=dim_title, name=panel_titles[2]),
    ]
    return heatmap_grid(
        panels, title=title, value_name="", scale="signed", shared_scale=False, presentation=presentation
    )


# ── Other figures: lines ──────────────────────────────────────────────────────────────────────────


def style_layout(presentation: bool, height: int | None = None, titled: bool = True) -> dict:
    """Fonts, margins and height of a line figure for the screen or a projector, as a layout dict."""
    s = sizes(presentation)
    axis = {"tickfont": {"size": s.tick}, "title": {"font": {"size": s.font}}, "automargin": True}
    return {
        "font": {"size": s.font},
        "title": _title_place(s),
        "margin": {"l": 10, "r": 10, "t": int(_title_px(s)) if titled else 10, "b": 10},
        "height": height,
        "hoverlabel": {"font": {"size": s.font}},
        "legend": {"font": {"size": s.font}},
        "xaxis": axis,
        "yaxis": axis,
    }


def merged(base: dict, extra: dict) -> dict:
    """`base` with `extra` laid over it, nested dicts merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def styled_figure(data: list | go.Scatter, layout: dict, presentation: bool, height: int) -> go.Figure:
    """A line figure built in one constructor call, styled by `style_layout`: Plotly validates every later
    update_layout by walking its property tree, which cost more than building the figure itself."""
    titled = bool(layout.get("title", {}).get("text"))
    return unchecked_figure(data, merged(style_layout(presentation, height, titled), layout))


def line_series(
    x: Sequence | np.ndarray,
    series: Sequence[tuple[np.ndarray, str, str]],
    hover: str,
    *,
    mode: str = "lines",
    marker_size: int = 0,
) -> list[go.Scatter]:
    """One line per (values, name, colour) over x, 3 px wide, for the views' line figures. `hover` is a Plotly
    hover template in which {name} stands for the series' escaped name."""
    return [
        go.Scatter(
            x=x,
            y=values,
            name=name,
            mode=mode,
            line={"color": colour, "width": 3},
            marker={"size": marker_size} if marker_size else None,
            hovertemplate=hover.replace("{name}", escape(name)),
        )
        for values, name, colour in series
    ]


def arc_figure(
    weights: np.ndarray,
    labels: list[str],
    *,
    title: str = "",
    left_title: str = "query",
    right_title: str = "key",
    presentation: bool = False,
    min_weight: float = 0.02,
) -> go.Figure:
    """Queries on the left, keys on the right, a line for each α′ ≥ min_weight, darker and thicker
    where α′ is larger. Lines are grouped into a few strength bands, one trace each, so the figure
    stays light however many tokens there are."""
    s = sizes(presentation)
    n = len(labels)
    y = -np.arange(n)
    bands = [(0.02, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 1.01)]
    traces = []
    for low, high in bands:
        low = max(low, min_weight)
        qs, ks = np.nonzero((weights >= low) & (weights < high))
        xs, ys = [], []
        for q, k in zip(qs, ks, strict=True):
            xs += [0.0, 1.0, None]
            ys += [y[q], y[k], None]
        mid = (low + min(high, 1.0)) / 2
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"width": 1 + 7 * mid, "color": f"rgba(8, 48, 107, {0.15 + 0.85 * mid:.2f})"},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    for x, side in ((0.0, "left"), (1.0, "right")):
        traces.append(
            go.Scatter(
                x=[x] * n,
                y=y,
                mode="markers+text",
                text=labels,
                textposition=f"middle {side}",
                textfont={"size": s.tick},
                marker={"size": 6, "color": "#08306b"},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    return styled_figure(
        traces,
        {
            "title": {"text": title},
            "xaxis": {
                "range": [-0.8, 1.8],
                "showgrid": False,
                "zeroline": False,
                "tickvals": [0, 1],
                "ticktext": [left_title, right_title],
                "side": "bottom",
            },
            "yaxis": {"visible": False, "range": [-n + 0.3, 0.7]},
            "plot_bgcolor": "white",
        },
        presentation,
        int(_title_px(s) + 60 + s.cell * n),
    )


# ── Images and files ──────────────────────────────────────────────────────────────────────────────


def _ramp(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] to RGB through the BLUES stops.  [...] -> [..., 3] uint8"""
    stops = np.array([s for s, _ in BLUES])
    colors = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for _, c in BLUES], dtype=np.float64)
    rgb = np.stack([np.interp(values, stops, colors[:, ch]) for ch in range(3)], axis=-1)
    return rgb.astype(np.uint8)


_LEVELS = 255  # palette entries 0-254 hold the α′ ramp, 255 the white between the tiles
_PALETTE = np.concatenate([_ramp(np.linspace(0.0, 1.0, _LEVELS)), [[255, 255, 255]]]).astype(np.uint8)


def overview_png(weights: np.ndarray, cell: int = 64, gap: int = 4) -> bytes:
    """Every head's α′ as one PNG grid, layers as rows and heads as columns.

    Each thumbnail is scaled to its own maximum so faint heads still show their pattern; the
    chosen head is drawn exactly (with hover values) in its own heatmap. Tiles are at most `cell`
    pixels (the browser scales them up). A text longer than that (`long_text`) is drawn for contrast:
    each row is scaled to its own maximum (a long row spreads its weight thin, and one large weight on
    [CLS] would leave the rest white), and each pixel keeps the largest value it covers (max pooling;
    averaging would wash one-key-per-query patterns into an even pale blue). The image is a 256-colour
    palette PNG: one byte a pixel and long runs of equal bytes, so it is quick to encode and several
    times smaller than RGB.  [layer, head, q, k] in.
    """
    n_layers, n_heads, n, _ = weights.shape
    side = min(cell, max(n, 8) * max(1, cell // max(n, 1)))
    pitch = side + gap  # each tile sits centred in a pitch × pitch cell, so cell centres fall on integers
    canvas = np.full((n_layers * pitch, n_heads * pitch), _LEVELS, dtype=np.uint8)
    if long_text(n, cell):
        weights = colour_values(weights, "row")  # [layer, head, q, k], each row's largest is 1
        edges = np.linspace(0, n, side + 1).astype(int)[:-1]  # max pooling to side × side
        weights = np.maximum.reduceat(np.maximum.reduceat(weights, edges, axis=2), edges, axis=3)
    peak = weights.max(axis=(2, 3), keepdims=True)  # [layer, head, 1, 1]
    levels = np.rint(weights / np.where(peak > 0, peak, 1.0) * (_LEVELS - 1)).astype(np.uint8)  # [layer, head, q, k]
    for layer in range(n_layers):
        for head in range(n_heads):
            tile = np.asarray(Image.fromarray(levels[layer, head]).resize((side, side), Image.Resampling.NEAREST))
            top, left = layer * pitch + gap // 2, head * pitch + gap // 2
            canvas[top : top + side, left : left + side] = tile
    image = Image.fromarray(canvas, mode="P")
    image.putpalette(_PALETTE.tobytes())
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)  # speed over the last few bytes
    return buf.getvalue()


def long_text(n: int, cell: int = 64) -> bool:
    """More tokens than a thumbnail has pixels: overview_png draws it scaled per row and max-pooled."""
    return n > cell


def matrix_csv(matrix: np.ndarray, row_labels: list[str], col_labels: list[str]) -> str:
    """A labelled matrix as CSV text. Labels are quoted, so tokens with commas survive, and a label that
    a spreadsheet would run as a formula (=, +, -, @) gets a leading apostrophe."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["", *map(_cell, col_labels)])
    for label, row in zip(row_labels, np.asarray(matrix), strict=True):
        writer.writerow([_cell(label), *(f"{v:.6g}" for v in row)])
    return buf.getvalue()


def _cell(label: str) -> str:
    return "'" + label if label[:1] in ("=", "+", "-", "@") else label
