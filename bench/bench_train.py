"""How long the default training config takes to reach 95% held-out accuracy (goal: ≤ 30 s on a 2-core CPU).

Run by hand, never in the tests:

    python bench/bench_train.py                          # reverse, seeds 0 1 2, 1 and 2 torch threads
    python bench/bench_train.py --task match --seeds 0 1 2 3 4 --threads 1

Each run is `model.experiments.train.train_until(TrainConfig(task, seed, snapshot_every=10), 0.95)`: the clock
covers building the model, every training step and every held-out evaluation (512 examples every
10 steps), and stops at the first snapshot at or above the target, so the steps are a multiple of 10.
One untimed warm-up run comes first. Prints a markdown table, then the medians per thread count.

torch's thread count is process-wide; it is set here per row (this is a script of its own) and
is worth comparing: the model is so small that a second thread buys nothing, and on a machine
that is busy with other work, two spinning OpenMP threads can be many times slower than one.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.experiments.train import TASKS, TrainConfig, train_until  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="reverse", choices=TASKS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--target", type=float, default=0.95, help="held-out accuracy to reach")
    parser.add_argument("--max-steps", type=int, default=5000)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    defaults = TrainConfig()
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}, device {args.device}"
    )
    print(
        f"task {args.task}: n_layers={defaults.n_layers} n_heads={defaults.n_heads} d_model={defaults.d_model} "
        f"batch_size={defaults.batch_size} lr={defaults.lr} seq_len={defaults.seq_len} vocab={defaults.vocab}\n"
    )
    train_until(TrainConfig(task=args.task, steps=20), None, args.device)  # warm-up

    print(f"| threads | seed | steps to ≥{args.target:.0%} | seconds | accuracy | pattern score |")
    print("|---:|---:|---:|---:|---:|---:|")
    results: dict[int, list[tuple[int, float]]] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for seed in args.seeds:
            config = TrainConfig(task=args.task, seed=seed, steps=args.max_steps, snapshot_every=10)
            last, seconds = train_until(config, args.target, args.device)
            reached = last.accuracy >= args.target
            results.setdefault(threads, []).append((last.step if reached else -1, seconds))
            steps = str(last.step) if reached else f"not in {args.max_steps}"
            print(
                f"| {threads} | {seed} | {steps} | {seconds:.2f} | {last.accuracy:.3f} | {last.pattern_score:.3f} |",
                flush=True,
            )
    print()
    for threads, runs in results.items():
        steps = [s for s, _ in runs]
        print(
            f"threads={threads}: median {statistics.median(t for _, t in runs):.2f} s, "
            f"median {statistics.median(steps):g} steps"
            + ("" if min(steps) > 0 else " (some runs never reached the target)")
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
