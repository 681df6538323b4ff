"""Every head at a glance: the overview PNG as a plain image that a click turns into a layer and a head.

A Plotly chart here cost the browser a second chart to lay out on every new sentence (about 50 ms of
the ~230 ms from Enter to painted at 16 tokens on a 2-core machine). This is an <img> in a
Streamlit component without an iframe: the browser only decodes a small PNG, and a head change moves
one outline instead of redrawing anything. Everything inside is constant code; the data it receives
are numbers, a data: URI and interface strings, always set as text or attributes, never as HTML.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import streamlit as st

from components.figures.common import font_size, long_text
from components.text import head_groups, joined

if TYPE_CHECKING:
    from components.context import ViewContext

_HTML = '<figure class="ov"><figcaption></figcaption><div class="axes"></div><div class="grid"></div></figure>'

_CSS = """
.ov { margin: 0; font-family: "Source Sans Pro", sans-serif; color: #31333f; }
.ov figcaption { font-size: calc(var(--fs) + 3px); margin: 0 0 2px 0; }
.ov .axes { font-size: calc(var(--fs) - 2px); color: #555; margin: 0 0 4px 0; }
.ov .grid { display: grid; grid-template-columns: auto 1fr; gap: 2px 6px; font-size: calc(var(--fs) - 1px); }
.ov .axis { color: #555; }
.ov .heads, .ov .layers { display: flex; text-align: center; }
.ov .heads > span { flex: 1; }
.ov .layers { flex-direction: column; justify-content: space-around; text-align: right; line-height: 1; }
.ov .plot { position: relative; cursor: pointer; line-height: 0; }
.ov img { width: 100%; height: auto; display: block; }
.ov .box { position: absolute; box-sizing: border-box; pointer-events: none; }
.ov .pick { border: 3px solid #e8590c; }
.ov .hover { border: 2px solid #31333f; display: none; }
.ov .plot:hover .hover { display: block; }
"""

_JS = """
export default function ({ data, parentElement, setTriggerValue }) {
  const root = parentElement.querySelector(".ov");
  const grid = root.querySelector(".grid");
  root.style.setProperty("--fs", data.font_px + "px");
  root.querySelector("figcaption").textContent = data.title;
  root.querySelector(".axes").textContent = data.layer_label + " ↓ · " + data.head_label + " →";
  const shape = data.n_layers + "x" + data.n_heads + ":" + data.head_label + ":" + data.layer_label;
  if (grid.dataset.shape !== shape) {
    grid.dataset.shape = shape;
    grid.replaceChildren();
    const add = (parent, tag, cls, text) => {
      const el = document.createElement(tag);
      if (cls) el.className = cls;
      if (text !== undefined) el.textContent = text;
      parent.appendChild(el);
      return el;
    };
    add(grid, "span", "axis", "");
    const heads = add(grid, "div", "heads axis");
    for (let h = 0; h < data.n_heads; h++) add(heads, "span", "", String(h));
    const layers = add(grid, "div", "layers axis");
    for (let l = 0; l < data.n_layers; l++) add(layers, "span", "", String(l));
    const plot = add(grid, "div", "plot");
    add(plot, "img");
    add(plot, "div", "box pick");
    add(plot, "div", "box hover");
  }
  const plot = grid.querySelector(".plot");
  const img = plot.querySelector("img");
  if (img.getAttribute("src") !== data.src) img.setAttribute("src", data.src);
  img.alt = data.title;
  const place = (box, layer, head) => {
    box.style.left = (100 * head / data.n_heads) + "%";
    box.style.top = (100 * layer / data.n_layers) + "%";
    box.style.width = (100 / data.n_heads) + "%";
    box.style.height = (100 / data.n_layers) + "%";
  };
  place(plot.querySelector(".pick"), data.layer, data.head);
  const cell = (event) => {
    const r = img.getBoundingClientRect();
    const head = Math.min(data.n_heads - 1, Math.max(0, Math.floor((event.clientX - r.left) / r.width * data.n_heads)));
    const layer = Math.min(data.n_layers - 1, Math.max(0, Math.floor((event.clientY - r.top) / r.height * data.n_layers)));
    return { layer, head };
  };
  plot.onmousemove = (event) => {
    const { layer, head } = cell(event);
    place(plot.querySelector(".hover"), layer, head);
    plot.title = data.layer_label + " " + layer + " · " + data.head_label + " " + head;
  };
  plot.onclick = (event) => setTriggerValue("pick", cell(event));
}
"""

_overview = st.components.v2.component("attention_lab_overview", html=_HTML, css=_CSS, js=_JS)


def overview(
    png: bytes,
    n_layers: int,
    n_heads: int,
    layer: int,
    head: int,
    *,
    title: str,
    layer_label: str,
    head_label: str,
    font_px: int,
    key: str,
    on_pick: Callable[[], None],
) -> None:
    """The overview PNG with the chosen head outlined; a click on a thumbnail calls `on_pick`, which finds
    the picked {"layer", "head"} in st.session_state[key].pick."""
    data = {
        "src": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "n_layers": n_layers,
        "n_heads": n_heads,
        "layer": layer,
        "head": head,
        "title": title,
        "layer_label": layer_label,
        "head_label": head_label,
        "font_px": font_px,
    }
    _overview(key=key, data=data, on_pick_change=on_pick)


def every_head(
    ctx: ViewContext,
    png: bytes,
    shape: tuple[int, int],
    on_show: tuple[int, int],
    view: str,
    *,
    key: str,
    n: int,
    kv_heads: tuple[int, ...] = (),
) -> None:
    """The overview of a `shape` (layers, heads) model for a text of `n` tokens, with its title and caption
    (`view`.overview_title, `view`.overview_caption), `on_show` (layer, head) outlined. A click on a thumbnail
    sets the Session State keys the view draws from (TARGETS[key]); the page keeps them within range."""
    overview(
        png,
        *shape,
        *on_show,
        title=ctx.t(f"{view}.overview_title"),
        layer_label=ctx.t("common.layer"),
        head_label=ctx.t("common.head"),
        font_px=font_size(ctx.presentation),
        key=key,
        on_pick=functools.partial(_pick, key, TARGETS[key]),
    )
    long_note = ctx.t("app.overview_long") if long_text(n) else ""
    shared = len(set(kv_heads)) < len(kv_heads)  # grouped- or multi-query attention
    sharing = ctx.t("app.kv_sharing", n=len(kv_heads), kv=len(set(kv_heads)), groups=head_groups(kv_heads))
    st.caption(joined(ctx.lang, ctx.t(f"{view}.overview_caption"), long_note, sharing if shared else ""))


TARGETS = {"overview": ("layer", "head"), "pg_overview": ("pg_layer", "pg_head")}  # what a click sets


def _pick(key: str, targets: tuple[str, str]) -> None:
    state = st.session_state.get(key)
    pick = state.get("pick") if state is not None else None
    try:
        layer, head = int(pick["layer"]), int(pick["head"])
    except (TypeError, KeyError, ValueError):  # no click this run, or not what the page sends
        return
    st.session_state[targets[0]], st.session_state[targets[1]] = layer, head
