"""The built-in models against transformers on the same weights, how fast they load, and the memory they hold.
Run by hand, never in the tests:

    python bench/bench_models.py                         # every built-in model: speed, loads, RSS
    python bench/bench_models.py --threads 1             # as the app's one-thread model thread runs it
    python bench/bench_models.py --model SmolLM2-135M-Instruct --skip-loads
    python bench/bench_models.py --device cuda           # the speed table on a GPU

Speed: the app's trace (`model.registry.trace_any`: tokenize, every layer's q, k, v, z and output as
read-only float32 numpy on the CPU) next to transformers' own model class (BertModel, XLMRobertaModel,
LlamaModel, Gemma3TextModel; eager attention, output_attentions=True) on the same weights, from
`python -m model.export`'s folder, or for Gemma from its package's GGUF file by transformers' own GGUF loader as
tests/test_gemma.py loads it (the model inside AutoModelForCausalLM: no output layer, which the trace has not
either); on ready-made ids, returning tensors. Texts of exactly 16, 128 and 512 tokens; after a warm-up the two
sides are timed in alternation, so that drift in the machine falls on both; medians.

Loads, each in a new Python process as a new server would: "cold" with the model's file evicted from the page
cache (posix_fadvise DONTNEED) and, for SmolLM2 and Gemma, an empty converted-weights cache; "warm" right after. RSS: a
new process with torch, Streamlit and Plotly imported (the server's own baseline), then every built-in model
loaded and given a classroom sentence, then a 512-token text on each (freed memory handed back with
malloc_trim, as components/cache.py does after a large trace).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stderr
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.readers.gemma3 import GEMMA3_NAME, gemma3_chunks, gemma3_sha256  # noqa: E402
from model.readers.gguf import joined_gguf  # noqa: E402
from model.registry import BUILT_IN, LoadedModel, load_named, trace_any  # noqa: E402

LENGTHS = (16, 128, 512)
# Ordinary English, repeated as often as a length needs and then cut at a token boundary.
PASSAGE = (
    "The animal didn't cross the street because it was too tired. The bank of the river was steep, "
    "so the children walked to the bridge and waited for the ferry. Attention lets every word look at "
    "every other word and decide how much of each to take in. "
)
CLASS_SENTENCE = "The animal didn't cross the street because it was too tired."

# Run in a new process; prints one JSON line. {root}, {name}, {text} are filled in.
_LOAD = """
import json, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
import torch
from model.registry import load_named, trace_any
t1 = time.perf_counter()
loaded = load_named({name!r}, device="cpu")
t2 = time.perf_counter()
trace_any(loaded, {text!r})
t3 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "first_trace_s": t3 - t2}}))
"""
_MEMORY = """
import ctypes, gc, json, sys
sys.path.insert(0, {root!r})
from bench.bench_models import rss_mb
import plotly.graph_objects, streamlit, torch
from model.registry import BUILT_IN, load_named, trace_any
out = {{"baseline": rss_mb()}}
models = {{}}
for name in BUILT_IN:
    models[name] = load_named(name, device="cpu")
    trace_any(models[name], {sentence!r})
    out[name] = rss_mb()
for name, loaded in models.items():
    trace_any(loaded, {long_text!r})
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
out["after_long"] = rss_mb()
print(json.dumps(out))
"""


def rss_mb() -> float:
    """This process's resident memory, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_model() -> str:
    """The CPU's marketing name, from /proc/cpuinfo where there is one."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def text_of_length(loaded: LoadedModel, n_tokens: int) -> str:
    """A prefix of the repeated passage that tokenizes to exactly n_tokens (special tokens included)."""
    text = PASSAGE * (n_tokens // 20 + 2)
    encoding = loaded.tokenizer.encode(text)
    ends = sorted({end for _, end in encoding.offsets if end > 0})
    for end in reversed(ends):
        if len(loaded.tokenizer.encode(text[:end]).ids) == n_tokens:
            return text[:end]
    raise RuntimeError(f"no prefix of the passage tokenizes to {n_tokens} tokens for {loaded.name}")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], object], device: torch.device) -> float:
    start = time.perf_counter()
    fn()
    synchronize(device)
    return (time.perf_counter() - start) * 1000


def reference(name: str, folder: Path, device: torch.device):
    """transformers' own network for the model's family on the same weights, without an output layer (the trace
    has none): Gemma as tests/test_gemma.py holds it, transformers' GGUF loader on the package's file; the others
    from `python -m model.export`'s folder."""
    from transformers import AutoModel, AutoModelForCausalLM  # a dev requirement, imported only here
    from transformers.utils import logging

    logging.set_verbosity_error()  # no load report: the pooler BertModel adds is not in the export, and not used
    logging.disable_progress_bar()
    if name == GEMMA3_NAME:
        # the chunks joined into one file, deleted on leaving; stderr kept from its raw tqdm bar, which
        # disable_progress_bar does not reach
        with joined_gguf(gemma3_chunks(), folder, gemma3_sha256()) as path, redirect_stderr(io.StringIO()):
            causal_lm = AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, attn_implementation="eager"
            )
        return causal_lm.model.eval().to(device)  # Gemma3TextModel, without the 262 144-word output layer

    from model.export import export

    export(load_named(name, device="cpu"), folder)
    return AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval().to(device)


def bench_speed(name: str, args: argparse.Namespace) -> list[tuple[int, float, float]]:
    device = torch.device(args.device)
    loaded = load_named(name, device=device)
    with tempfile.TemporaryDirectory() as folder:
        hf_model = reference(name, Path(folder), device)
    rows = []
    for n_tokens in LENGTHS:
        text = text_of_length(loaded, n_tokens)
        ids = torch.tensor([loaded.tokenizer.encode(text).ids], device=device)  # [batch=1, pos]
        assert trace_any(loaded, text).n_positions == n_tokens

        def run_trace(text: str = text) -> object:
            return trace_any(loaded, text)

        def run_transformers(ids: torch.Tensor = ids) -> object:
            with torch.inference_mode():
                return hf_model(ids, output_attentions=True)

        for _ in range(args.warmup):
            run_trace()
            run_transformers()
        trace_ms, hf_ms = [], []
        for i in range(args.runs):
            if i % 2 == 0:
                trace_ms.append(time_ms(run_trace, device))
                hf_ms.append(time_ms(run_transformers, device))
            else:
                hf_ms.append(time_ms(run_transformers, device))
                trace_ms.append(time_ms(run_trace, device))
        rows.append((n_tokens, statistics.median(trace_ms), statistics.median(hf_ms)))
    return rows


def model_files(name: str) -> list[Path]:
    """The files a model is read from, to evict for a cold load."""
    if name == "multilingual-e5-small":
        from model.readers.e5 import e5_file

        return [e5_file()]
    if name == "SmolLM2-135M-Instruct":
        from model.families.llama import smollm2_file

        return [smollm2_file()]
    if name == GEMMA3_NAME:
        return gemma3_chunks()
    from model.families.encoder import bundled_model_dir

    return sorted(p for p in bundled_model_dir().iterdir() if p.is_file())


def evict(paths: list[Path]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def child(code: str, cache_home: str | None = None) -> dict:
    env = {**os.environ, **({"XDG_CACHE_HOME": cache_home} if cache_home else {})}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_loads(name: str, runs: int) -> tuple[list[dict], list[dict]]:
    code = _LOAD.format(root=str(ROOT), name=name, text=CLASS_SENTENCE)
    cold, warm = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache_home:  # SmolLM2's and Gemma's converted weights start empty
            evict(model_files(name))
            cold.append(child(code, cache_home))
            warm.append(child(code, cache_home))
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", choices=list(BUILT_IN), help="a built-in model (repeatable)")
    parser.add_argument("--device", default="cpu", help="torch device for the speed table (cpu, cuda)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (the app's model thread uses 1)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs of each side per length")
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each side per length")
    parser.add_argument("--load-runs", type=int, default=3, help="cold and warm loads per model")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-loads", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    names = args.model or list(BUILT_IN)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}, CPU {cpu_model()}")
    if not args.skip_speed:
        print(f"\nwarm-up {args.warmup}, then {args.runs} alternating runs of each side; medians\n")
        print("| model | tokens | trace ms | transformers ms | trace / transformers |")
        print("|---|---:|---:|---:|---:|")
        for name in names:
            for n_tokens, t, h in bench_speed(name, args):
                print(f"| {name} | {n_tokens} | {t:.1f} | {h:.1f} | {t / h:.2f} |", flush=True)
    if not args.skip_loads:
        print(f"\nloads in a new process, medians of {args.load_runs}\n")
        print("| model | cold: load | warm: load | warm: import torch + registry | first trace |")
        print("|---|---:|---:|---:|---:|")
        for name in names:
            cold, warm = bench_loads(name, args.load_runs)

            def med(runs: list[dict], key: str) -> float:
                return statistics.median(r[key] for r in runs)

            print(
                f"| {name} | {med(cold, 'load_s'):.2f} s | {med(warm, 'load_s'):.2f} s | "
                f"{med(warm, 'import_s'):.2f} s | {med(warm, 'first_trace_s') * 1000:.0f} ms |",
                flush=True,
            )
    if not args.skip_memory:
        long_text = text_of_length(load_named("all-MiniLM-L6-v2", device="cpu"), 512)  # 500 … 512 tokens on each
        out = child(_MEMORY.format(root=str(ROOT), sentence=CLASS_SENTENCE, long_text=long_text))
        print("\n| RSS of one process | MB |")
        print("|---|---:|")
        print(f"| torch, Streamlit and Plotly imported | {out['baseline']:.0f} |")
        for name in BUILT_IN:
            print(f"| + {name} loaded and traced | {out[name]:.0f} |")
        print(f"| then a 512-token text on each (after malloc_trim) | {out['after_long']:.0f} |")


if __name__ == "__main__":
    main()
