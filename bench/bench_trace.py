"""How long `model.trace_encoder` takes next to Hugging Face transformers' BertModel on the same weights and text.

Run by hand, never in the tests:

    python bench/bench_trace.py                 # CPU
    python bench/bench_trace.py --device cuda   # the same on a GPU
    python bench/bench_trace.py --threads 1     # as the app's model thread runs it

Both sides run in one process on the bundled all-MiniLM-L6-v2, at sentences whose tokenized length
(with [CLS] and [SEP]) is exactly 16, 128 and 512. After a warm-up the two are timed in alternation,
so that drift in the machine (clock, cache, other load) falls on both, and the medians are printed
as a markdown table.

The comparison is as a user meets the two: `trace(model, text)` takes a string and returns every
layer's q, k, v, scores, α, z and output as read-only float32 numpy on the CPU; the transformers side
is `BertModel(ids, output_attentions=True)` on ready-made token ids and returns tensors on the device
(synchronized on CUDA, not copied). So trace's time includes work the transformers time does not:
tokenizing, keeping q, k, v, scores and z of every layer, and copying everything to numpy.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import model  # noqa: E402
from model.encoder import bundled_model_dir  # noqa: E402

LENGTHS = (16, 128, 512)

# Ordinary English, repeated as often as a length needs and then cut at a token boundary.
PASSAGE = (
    "The animal didn't cross the street because it was too tired. The bank of the river was steep, "
    "so the children walked to the bridge and waited for the ferry. Attention lets every word look at "
    "every other word and decide how much of each to take in. "
)


def cpu_model() -> str:
    """The CPU's marketing name, from /proc/cpuinfo where there is one."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def sentence_of_length(pretrained: model.EncoderModel, n_tokens: int) -> str:
    """A prefix of the repeated passage that tokenizes to exactly n_tokens, [CLS] and [SEP] included."""
    text = PASSAGE * (n_tokens // 20 + 2)
    encoding = pretrained.tokenizer.encode(text)
    for n_words in range(n_tokens - 2, 0, -1):  # -2 for [CLS] and [SEP]; step back if a cut splits a word
        end = encoding.offsets[n_words][1]  # offsets[0] is [CLS]: token n_words ends the prefix
        prefix = text[:end]
        if len(pretrained.tokenizer.encode(prefix).ids) == n_tokens:
            return prefix
    raise RuntimeError(f"no prefix of the passage tokenizes to {n_tokens} tokens")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], object], device: torch.device) -> float:
    start = time.perf_counter()
    fn()
    synchronize(device)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each side per length")
    parser.add_argument("--runs", type=int, default=25, help="timed runs of each side per length")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads for both sides (the app's model thread uses 1)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from transformers import BertModel  # a dev requirement, imported only here

    device = torch.device(args.device)
    pretrained = model.load_encoder(device=device)
    hf_model = BertModel.from_pretrained(str(bundled_model_dir()), attn_implementation="eager").eval().to(device)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, CPU {cpu_model()}")
    if device.type == "cuda":
        print(f"GPU {torch.cuda.get_device_name(device)}")
    print(f"warm-up {args.warmup}, then {args.runs} alternating runs of each; medians\n")

    rows = []
    for n_tokens in LENGTHS:
        text = sentence_of_length(pretrained, n_tokens)
        ids = torch.tensor([pretrained.tokenizer.encode(text).ids], device=device)  # [batch=1, pos]

        def run_trace(text=text):
            return model.trace_encoder(pretrained, text)

        def run_transformers(ids=ids):
            with torch.inference_mode():
                return hf_model(ids, output_attentions=True)

        assert model.trace_encoder(pretrained, text).n_positions == n_tokens
        for _ in range(args.warmup):
            run_trace()
            run_transformers()
            synchronize(device)
        trace_ms, hf_ms = [], []
        for i in range(args.runs):
            # Alternate which side goes first, so neither always runs on a cache the other warmed.
            if i % 2 == 0:
                trace_ms.append(time_ms(run_trace, device))
                hf_ms.append(time_ms(run_transformers, device))
            else:
                hf_ms.append(time_ms(run_transformers, device))
                trace_ms.append(time_ms(run_trace, device))
        rows.append((n_tokens, statistics.median(trace_ms), statistics.median(hf_ms)))

    print("| tokens | trace ms | transformers ms | ratio |")
    print("|---:|---:|---:|---:|")
    for n_tokens, t, h in rows:
        print(f"| {n_tokens} | {t:.2f} | {h:.2f} | {t / h:.2f} |")
    print(
        "\ntrace also tokenizes the text, keeps q, k, v, scores and z of every layer and copies them all"
        "\nto read-only numpy on the CPU; transformers gets token ids and returns tensors on the device."
    )


if __name__ == "__main__":
    main()
