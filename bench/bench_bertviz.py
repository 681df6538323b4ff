"""Attention Lab against bertviz's head view at 128 tokens, in the same Chromium. Goal: the app ≥ 5× faster to
painted.

bertviz: its own head-view HTML (`head_view(attention, tokens, html_action="return")`, bertviz 1.4.1) for a
128-token sentence, fed with the very attention weights the app computes for it, opened from a file. The
libraries that HTML loads from a CDN (require.js, d3, jQuery) come from the npm registry and are served to the
page by URL, so the page is bertviz's own output with the libraries it asks for. Timed from `page.goto` to the
head view drawn: its SVG holds the text of all 128 tokens on both sides (the arcs are drawn in the same
synchronous call). Attention Lab: from pressing Enter on a new 128-token sentence to painted (bench_browser's
Session), and, for a like-for-like cold load, from opening the app's URL with the sentence in it, in a fresh
browser context, to painted. Both are also given "+ 2 frames": until two animation frames later, so that the
layout and paint of what the DOM holds are counted too. Prints medians as a Markdown table.

bertviz is never a dependency of the app or its tests: it lives in its own virtual environment, which this
script creates when it is missing (torch is pinned so that pip takes the CPU build already on disk, not GBs of
CUDA), and the libraries are fetched with npm into an ignored cache (bench/.bertviz-cache/):

    python3 -m venv bench/.venv-bertviz
    bench/.venv-bertviz/bin/pip install bertviz==1.4.1 torch==2.13.0 transformers==5.24.0 numpy==2.4.6
    npm pack requirejs@2.3.6 d3@5.7.0 jquery@2.1.0 --pack-destination bench/.bertviz-cache/npm

    .venv/bin/python bench/bench_bertviz.py [--reps 7]

Run by hand on a quiet machine; never part of the tests.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from playwright.sync_api import Route, sync_playwright  # noqa: E402

import model  # noqa: E402
from bench.bench_browser import Session, sentence  # noqa: E402
from bench.common import LOGS, load_average, machine_line  # noqa: E402
from browserkit.chromium import ARGS, CHROMIUM, VIEWPORT  # noqa: E402
from browserkit.server import streamlit_server  # noqa: E402

N_TOKENS = 128
VENV = ROOT / "bench" / ".venv-bertviz"
VENV_PY = VENV / "bin" / "python"
PIP_INSTALL = ["bertviz==1.4.1", "torch==2.13.0", "transformers==5.24.0", "numpy==2.4.6"]
CACHE = ROOT / "bench" / ".bertviz-cache"
CDN = "https://cdnjs.cloudflare.com/ajax/libs/"
# What bertviz's HTML asks the CDN for (require.js by a script tag, d3 and jQuery through require.config, which
# adds ".js") → the npm package and file that hold that library. npm has no jQuery 2.0.0 (its first release there
# is 2.1.0) and ships require.js unminified only: the nearest there is, said in the output.
LIBRARIES = {
    "require.js/2.3.6/require.min.js": ("requirejs@2.3.6", "package/require.js"),
    "d3/5.7.0/d3.min.js": ("d3@5.7.0", "package/dist/d3.min.js"),
    "jquery/2.0.0/jquery.min.js": ("jquery@2.1.0", "package/dist/jquery.min.js"),
}
# Run in bertviz's environment: attention weights (.npz) → bertviz's head-view HTML.
GENERATOR = """
import json, sys
from pathlib import Path
import numpy as np, torch
from bertviz import head_view
data = np.load(sys.argv[1])
tokens = json.loads(str(data["tokens"]))
attention = [torch.from_numpy(np.ascontiguousarray(layer[None])) for layer in data["weights"]]  # [1, head, q, k]
Path(sys.argv[2]).write_text(head_view(attention, tokens, html_action="return").data, encoding="utf-8")
"""
BERTVIZ_DRAWN_JS = """(n) => {
  const svg = document.querySelector('#vis svg');
  return !!svg && svg.querySelectorAll('#left text').length === n && svg.querySelectorAll('#right text').length === n;
}"""
TWO_FRAMES_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
# Bytes the page fetched over HTTP (its document and every resource), as the browser counted them.
HTTP_BYTES_JS = """() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
  .reduce((sum, e) => sum + (e.transferSize || 0), 0)"""


def ensure_venv() -> str:
    """bertviz's own environment (created when missing); returns its torch version."""
    if not VENV_PY.exists():
        print(f"Creating {VENV.relative_to(ROOT)} (once) ...", flush=True)
        subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", *PIP_INSTALL], check=True)
    out = subprocess.run(
        [str(VENV_PY), "-c", "import torch, bertviz; print(torch.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def library_file(suffix: str) -> Path:
    """The npm file that stands in for the CDN's `suffix`, fetched with `npm pack` when missing."""
    spec, member = LIBRARIES[suffix]
    path = CACHE / "lib" / suffix
    if not path.exists():
        npm_dir = CACHE / "npm"
        npm_dir.mkdir(parents=True, exist_ok=True)
        name = subprocess.run(
            ["npm", "pack", spec, "--pack-destination", str(npm_dir), "--silent"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        with tarfile.open(npm_dir / name) as tar:
            data = tar.extractfile(member).read()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path


def head_view_html(text: str) -> Path:
    """bertviz's head view of the app's own attention weights for `text`, as an HTML file."""
    CACHE.mkdir(parents=True, exist_ok=True)
    trace = model.trace_encoder(model.load_encoder(), text)
    assert trace.n_positions == N_TOKENS, trace.n_positions
    weights_path = CACHE / f"attention-{N_TOKENS}.npz"
    np.savez(weights_path, weights=trace.weights, tokens=json.dumps(list(trace.tokens)))
    html = CACHE / f"head_view-{N_TOKENS}.html"
    subprocess.run([str(VENV_PY), "-c", GENERATOR, str(weights_path), str(html)], check=True)
    return html


def cdn_suffixes(html: Path) -> set[str]:
    """The CDN paths the HTML loads, with ".js" added where require.js would add it."""
    found = re.findall(re.escape(CDN) + r"""([^'"\s]+)""", html.read_text(encoding="utf-8"))
    return {s if s.endswith(".js") else s + ".js" for s in found}


def median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="timed repetitions of each (after one warm-up)")
    args = parser.parse_args()

    torch_version = ensure_venv()
    text = sentence(N_TOKENS, seed=N_TOKENS)
    html = head_view_html(text)
    suffixes = cdn_suffixes(html)
    missing = suffixes - LIBRARIES.keys()
    assert not missing, f"bertviz's HTML loads libraries this script does not know: {missing}"
    libraries = {s: library_file(s).read_bytes() for s in suffixes}
    html_bytes, lib_bytes = html.stat().st_size, sum(len(b) for b in libraries.values())

    print(f"# bertviz head view vs Attention Lab · {N_TOKENS} tokens · Chromium · {machine_line()}")
    print(
        f"\nbertviz 1.4.1 in {VENV.relative_to(ROOT)} (torch {torch_version}); libraries from npm: "
        + ", ".join(f"{LIBRARIES[s][0]} for {s}" for s in sorted(suffixes))
    )

    unexpected: list[str] = []

    def serve(route: Route) -> None:
        url = route.request.url
        for suffix, body in libraries.items():
            if url == CDN + suffix or (url.startswith(CDN) and url.split("?")[0].endswith(suffix)):
                route.fulfill(
                    body=body, content_type="application/javascript", headers={"access-control-allow-origin": "*"}
                )
                return
        if url.startswith("file:"):
            route.continue_()
            return
        unexpected.append(url)
        route.abort()

    with streamlit_server("app.py", LOGS / "bertviz-app.log") as (app_url, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            # bertviz, from its file.
            viz = browser.new_context(viewport=VIEWPORT).new_page()
            viz.route("**/*", serve)
            viz_dom, viz_frames = [], []
            for rep in range(args.reps + 1):
                viz.goto("about:blank")
                t0 = time.perf_counter()
                viz.goto(html.as_uri(), wait_until="commit", timeout=120_000)
                viz.wait_for_function(BERTVIZ_DRAWN_JS, arg=N_TOKENS, polling=5, timeout=120_000)
                t1 = time.perf_counter()
                viz.evaluate(TWO_FRAMES_JS)
                t2 = time.perf_counter()
                if rep:
                    viz_dom.append(t1 - t0)
                    viz_frames.append(t2 - t0)
            n_lines = viz.evaluate("() => document.querySelectorAll('#vis svg line').length")
            viz.screenshot(path=str(LOGS / "bertviz-head-view.png"))
            viz.close()

            # Attention Lab: Enter on a new 128-token sentence each time (a trace not yet cached).
            app = Session(browser.new_context(viewport=VIEWPORT).new_page(), app_url)
            app_dom, app_frames, app_bytes = [], [], []
            for rep in range(args.reps + 1):
                seconds, received = app.enter(sentence(N_TOKENS, seed=N_TOKENS + rep))
                t1 = time.perf_counter()
                app.page.evaluate(TWO_FRAMES_JS)
                frames = time.perf_counter() - t1
                if rep:
                    app_dom.append(seconds)
                    app_frames.append(seconds + frames)
                    app_bytes.append(received)
            app.page.screenshot(path=str(LOGS / "bertviz-app-128.png"))

            # Attention Lab, cold: the sentence in the URL, a fresh context (no cache), to painted.
            cold_dom, cold_frames, cold_bytes = [], [], []
            for rep in range(args.reps + 1):
                context = browser.new_context(viewport=VIEWPORT)
                url = f"{app_url}/?text={quote(sentence(N_TOKENS, seed=N_TOKENS + 20 + rep))}"
                t0 = time.perf_counter()
                cold = Session(context.new_page(), url)
                t1 = time.perf_counter()
                cold.page.evaluate(TWO_FRAMES_JS)
                t2 = time.perf_counter()
                if rep:
                    cold_dom.append(t1 - t0)
                    cold_frames.append(t2 - t0)
                    cold_bytes.append(cold.bytes + cold.page.evaluate(HTTP_BYTES_JS))
                context.close()
        finally:
            browser.close()

    v, a, c = median_ms(viz_dom), median_ms(app_dom), median_ms(cold_dom)
    vf, af, cf = median_ms(viz_frames), median_ms(app_frames), median_ms(cold_frames)
    print(f"\nMedians of {args.reps} after one warm-up each; bertviz's SVG holds {n_lines:,} attention lines.")
    print(
        "\n| 128 tokens | bertviz head view | Attention Lab, Enter | bertviz / app | Attention Lab, cold open | bertviz / cold |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| to painted (DOM) | {v:,.0f} ms | {a:,.0f} ms | {v / a:.1f}× | {c:,.0f} ms | {v / c:.1f}× |")
    print(f"| to painted + 2 frames | {vf:,.0f} ms | {af:,.0f} ms | {vf / af:.1f}× | {cf:,.0f} ms | {vf / cf:.1f}× |")
    print(
        f"| bytes | {(html_bytes + lib_bytes) / 1e6:.2f} MB (HTML {html_bytes / 1e6:.2f} MB + libraries "
        f"{lib_bytes / 1e6:.2f} MB, uncompressed) | {statistics.median(app_bytes) / 1e6:.2f} MB per rerun (websocket) "
        f"| | {statistics.median(cold_bytes) / 1e6:.2f} MB (HTTP as transferred + websocket) | |"
    )
    goal = v / a >= 5
    print(f"\nGoal: Attention Lab ≥ 5× faster to painted than bertviz (Enter): {'met' if goal else '**not met**'}.")
    print("bertviz's times include no model run (its weights are precomputed); the app's include computing the trace.")
    if unexpected:
        print(f"Requests the bertviz page made that were not served: {unexpected}")
    print(f"At the end: {load_average()}.")


if __name__ == "__main__":
    main()
