"""Watch attention learn: a tiny transformer trained on tasks whose right attention pattern is known.

Each task is made so that one head looking at the right position solves it, and we know which
position that is. Training moves the heads' α′ toward that pattern, and the snapshots show it happen.

Tasks (inputs are `seq_len` symbols out of `vocab`, drawn on the fly; nothing is read from disk):

    reverse   output at i = input at n-1-i              α′ should be the anti-diagonal
    previous  output at i = input at i-1                α′ should be the sub-diagonal (causal mask);
              position 0 has no previous token and outputs its own; its row expects nothing
              and is left out of the pattern score
    match     every symbol appears exactly twice;       α′ should link each position to its twin
              output at i = the position of the other   (per example: depends on the input)
              occurrence of input i, e.g.
              A C B A D C B D  ->  3 5 6 0 7 1 2 4

The model (each layer pre-norm, attention only; every head is `scaled_dot_product_attention`):

    x0       = E[token] + PE                            PE: the fixed sinusoidal encoding
    per layer and head h:
      q, k, v  = LN(x)·W^q_h, LN(x)·W^k_h, LN(x)·W^v_h
      z_h      = softmax(mask(q·kᵀ/√d_head))·v
    per layer:
      x        = x + concat(z_1 … z_H)·W^O
    logits   = LN(x)·W_out                              one class per symbol (per position for match)

Scores in every snapshot are measured on a fixed held-out set of EVAL_EXAMPLES examples, the same
for every seed, drawn from a generator that training never uses:

    accuracy       fraction of held-out output positions predicted right, 0..1
                   (chance: 1/vocab for reverse and previous, 1/seq_len for match)
    pattern_score  for each layer and head: the α mass on the expected keys, averaged over every
                   query row that expects a key and every held-out example; then the best head.
                   A task needs one head that routes; the other heads are free to do anything,
                   so an average over heads would mark a correct model down. Uniform attention
                   scores 1/seq_len on reverse and match and (H_n - 1)/(n - 1) on previous
                   (0.25 for n = 8), because the causal mask shows query i only i + 1 keys.

High accuracy does not force the pattern. A head can solve match by attending to every position
*except* the twin (and itself): the positions in its values then add up to a known total minus the
twin's, which the output head reads off. Some seeds find this (n_heads=1, seed=0 does): accuracy
1.0, pattern_score near 0. The score reports where attention looks, not whether the task is solved.

On a CPU this model is too small to gain from a second torch thread, and on a busy machine two
threads are many times slower than one; `train` leaves the thread count alone (it is process-wide),
the command line sets one thread unless told otherwise (--threads).

`random_targets` is a control for the tests: the labels are drawn at random, independent of the
input, so nothing can be learned and the held-out accuracy must stay at chance.

    python -m model.experiments.train --task reverse --steps 1000 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from model.attention import build_mask, scaled_dot_product_attention
from model.device import pick_device
from model.errors import InvalidConfigError
from model.positional import sinusoidal_encoding
from model.trace import to_numpy

TASKS: tuple[str, ...] = ("reverse", "previous", "match")
SYMBOLS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"  # how token i is shown: SYMBOLS[i]

N_LAYERS_RANGE = (1, 2)
N_HEADS_RANGE = (1, 4)
D_MODEL_RANGE = (8, 128)
STEPS_RANGE = (1, 20_000)
BATCH_SIZE_RANGE = (1, 1024)
LR_RANGE = (1e-5, 1.0)
SEED_RANGE = (0, 2**31 - 1)
SEQ_LEN_RANGE = (2, 16)
VOCAB_RANGE = (2, len(SYMBOLS))

EVAL_EXAMPLES = 512  # size of the held-out set
EVAL_SEED = 2**32 + 17  # outside SEED_RANGE, so the held-out stream is never a training stream


@dataclass(frozen=True)
class TrainConfig:
    """One training run; the defaults reach ≥95% held-out accuracy on reverse in seconds on a 2-core CPU."""

    task: str = "reverse"  # one of TASKS
    n_layers: int = 1  # attention layers stacked
    n_heads: int = 2  # heads per layer; must divide d_model
    d_model: int = 32  # width of every token vector
    steps: int = 1000  # optimizer updates
    batch_size: int = 64  # examples per update
    lr: float = 1e-2  # Adam learning rate
    seed: int = 0  # seeds the initial parameters and the training examples
    seq_len: int = 8  # symbols per example; even for match (every symbol appears twice)
    vocab: int = 10  # distinct symbols; at least seq_len / 2 for match
    snapshot_every: int = 50  # a Snapshot every this many steps (and one before the first and after the last)
    random_targets: bool = False  # control for tests: random labels, independent of the input

    def __post_init__(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise InvalidConfigError(message)

        def check_range(name: str, bounds: tuple) -> None:
            lo, hi = bounds
            value = getattr(self, name)
            check(lo <= value <= hi, f"{name} must be between {lo} and {hi}, got {value}")

        check(self.task in TASKS, f"task must be one of {TASKS}, got {self.task!r}")
        check_range("n_layers", N_LAYERS_RANGE)
        check_range("n_heads", N_HEADS_RANGE)
        check_range("d_model", D_MODEL_RANGE)
        check(
            self.d_model % self.n_heads == 0,
            f"n_heads ({self.n_heads}) must divide d_model ({self.d_model}) so every head gets the same width",
        )
        check_range("steps", STEPS_RANGE)
        check_range("batch_size", BATCH_SIZE_RANGE)
        check_range("lr", LR_RANGE)
        check_range("seed", SEED_RANGE)
        check_range("seq_len", SEQ_LEN_RANGE)
        check_range("vocab", VOCAB_RANGE)
        check(self.snapshot_every >= 1, f"snapshot_every must be at least 1, got {self.snapshot_every}")
        if self.task == "match":
            check(self.seq_len % 2 == 0, f"match needs an even seq_len (symbols come in pairs), got {self.seq_len}")
            check(
                self.vocab >= self.seq_len // 2,
                f"match needs vocab >= seq_len / 2 = {self.seq_len // 2} distinct symbols, got {self.vocab}",
            )

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def n_classes(self) -> int:
        """Size of the output: a symbol for reverse and previous, a position for match."""
        return self.seq_len if self.task == "match" else self.vocab


@dataclass(frozen=True)
class Snapshot:
    """The model after `step` updates; arrays are read-only float32 numpy."""

    step: int
    loss: float  # held-out cross-entropy
    accuracy: float  # held-out fraction of output positions right, 0..1
    pattern_score: float  # best head's held-out α′ mass on the expected keys, 0..1 (see the module docstring)
    head_scores: np.ndarray  # [layer, head]  every head's held-out α′ mass on the expected keys
    weights: np.ndarray  # [layer, head, query_pos, key_pos]  α′ on the fixed example, each row sums to 1
    expected: np.ndarray  # [query_pos, key_pos]  the fixed example's expected pattern, 0/1
    tokens: tuple[int, ...]  # the fixed example's input (held-out example 0); show as SYMBOLS[t]
    targets: tuple[int, ...]  # its right outputs (symbols, or positions for match)
    predictions: tuple[int, ...]  # the model's outputs on it


# --- tasks -------------------------------------------------------------------------------------


def _expected(task: str, tokens: torch.Tensor) -> torch.Tensor:
    """The expected attention of each example, 1 = the key(s) a query should look at.  # [batch, query_pos, key_pos]"""
    batch, n = tokens.shape
    if task == "reverse":
        pattern = torch.eye(n, device=tokens.device).flip(-1)  # [query_pos, key_pos]  key = n-1-query
    elif task == "previous":
        pattern = torch.ones(n - 1, device=tokens.device).diag(-1)  # [query_pos, key_pos]  key = query-1
    elif task == "match":
        same = tokens[:, :, None] == tokens[:, None, :]  # [batch, query_pos, key_pos]
        itself = torch.eye(n, dtype=torch.bool, device=tokens.device)  # [query_pos, key_pos]
        return (same & ~itself).float()  # [batch, query_pos, key_pos]  the other positions with the same symbol
    else:
        raise InvalidConfigError(f"task must be one of {TASKS}, got {task!r}")
    return pattern.expand(batch, n, n)  # [batch, query_pos, key_pos]


def expected_pattern(task: str, tokens) -> np.ndarray:
    """The 0/1 pattern α′ should learn for one input: [query_pos, key_pos] (or [batch, ...] for a batch).

    `tokens` is a sequence of symbol ids, or a [batch, pos] array of them. A row of zeros expects
    nothing (position 0 of previous).
    """
    t = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
    pattern = _expected(task, t.reshape(-1, t.shape[-1]))  # [batch, query_pos, key_pos]
    return to_numpy(pattern.reshape(*t.shape, t.shape[-1]))


def _draw_tokens(config: TrainConfig, n: int, gen: torch.Generator) -> torch.Tensor:
    """n inputs.  # [n, pos]"""
    if config.task != "match":
        return torch.randint(config.vocab, (n, config.seq_len), generator=gen)  # [n, pos]
    half = config.seq_len // 2
    symbols = torch.rand(n, config.vocab, generator=gen).argsort(-1)[:, :half]  # [n, pos / 2]  distinct symbols
    pairs = torch.cat([symbols, symbols], dim=1)  # [n, pos]  each symbol twice
    order = torch.rand(n, config.seq_len, generator=gen).argsort(-1)  # [n, pos]  a random shuffle per example
    return pairs.gather(1, order)  # [n, pos]


def make_examples(config: TrainConfig, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n examples of the config's task on the CPU: (tokens, targets), each [n, pos]."""
    tokens = _draw_tokens(config, n, gen)  # [n, pos]
    if config.task == "reverse":
        targets = tokens.flip(-1)  # [n, pos]
    elif config.task == "previous":
        targets = torch.cat([tokens[:, :1], tokens[:, :-1]], dim=1)  # [n, pos]  position 0 keeps its own
    else:
        targets = _expected("match", tokens).argmax(-1)  # [n, pos]  the twin's position
    if config.random_targets:
        targets = torch.randint(config.n_classes, targets.shape, generator=gen)  # [n, pos]
    return tokens, targets


def task_mask(config: TrainConfig, device=None) -> torch.Tensor | None:
    """previous is causal (a query sees itself and earlier keys); reverse and match see everything."""
    return build_mask("causal" if config.task == "previous" else "none", config.seq_len, device=device)


# --- model -------------------------------------------------------------------------------------


class AttentionLayer(nn.Module):
    """Pre-norm multi-head self-attention with a residual connection."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.norm = nn.LayerNorm(d_model)
        self.w_q = nn.Linear(d_model, d_model, bias=False)
        self.w_k = nn.Linear(d_model, d_model, bias=False)
        self.w_v = nn.Linear(d_model, d_model, bias=False)
        self.w_o = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """x [batch, pos, d_model] -> (x + attention, α′ [batch, head, query_pos, key_pos])."""
        batch, n, d_model = x.shape
        h = self.norm(x)  # [batch, pos, d_model]

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, n, self.n_heads, -1).transpose(1, 2)  # [batch, head, pos, d_head]

        q, k, v = split(self.w_q(h)), split(self.w_k(h)), split(self.w_v(h))  # [batch, head, pos, d_head]
        z, _, weights = scaled_dot_product_attention(q, k, v, mask=mask)  # z [batch, head, pos, d_head]
        concat = z.transpose(1, 2).reshape(batch, n, d_model)  # [batch, pos, d_model]
        return x + self.w_o(concat), weights


class TinyTransformer(nn.Module):
    """Embedding + sinusoidal positions, attention-only layers, a linear output head."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(config.vocab, config.d_model)
        self.register_buffer("pe", sinusoidal_encoding(config.seq_len, config.d_model))  # [pos, d_model]
        self.layers = nn.ModuleList(AttentionLayer(config.d_model, config.n_heads) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.out = nn.Linear(config.d_model, config.n_classes)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens [batch, pos] -> (logits [batch, pos, class], α′ [layer, batch, head, query_pos, key_pos])."""
        x = self.embed(tokens) + self.pe  # [batch, pos, d_model]
        alphas = []
        for layer in self.layers:
            x, weights = layer(x, mask)  # weights [batch, head, query_pos, key_pos]
            alphas.append(weights)
        return self.out(self.norm(x)), torch.stack(alphas)


def build_model(config: TrainConfig) -> TinyTransformer:
    """The initial model, seeded by config.seed; the global random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return TinyTransformer(config)


# --- training ----------------------------------------------------------------------------------


def head_scores(alphas: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """Each head's α′ mass on the expected keys, over the rows that expect one.  # [layer, head]

    alphas [layer, batch, head, query_pos, key_pos]; expected [batch, query_pos, key_pos].
    """
    mass = (alphas * expected[None, :, None]).sum(-1)  # [layer, batch, head, query_pos]
    rows = (expected.sum(-1) > 0).float()  # [batch, query_pos]  rows that expect some key
    return (mass * rows[None, :, None]).sum((1, 3)) / rows.sum()  # [layer, head]


@torch.inference_mode()
def _evaluate(
    net: TinyTransformer,
    step: int,
    tokens: torch.Tensor,
    targets: torch.Tensor,
    expected: torch.Tensor,
    mask: torch.Tensor | None,
) -> Snapshot:
    """Score the model on the held-out set; example 0 is the one whose α′ is kept."""
    logits, alphas = net(tokens, mask)  # [batch, pos, class], [layer, batch, head, query_pos, key_pos]
    predictions = logits.argmax(-1)  # [batch, pos]
    scores = head_scores(alphas, expected)  # [layer, head]
    return Snapshot(
        step=step,
        loss=F.cross_entropy(logits.flatten(0, 1), targets.flatten()).item(),
        accuracy=(predictions == targets).float().mean().item(),
        pattern_score=scores.max().item(),
        head_scores=to_numpy(scores),
        weights=to_numpy(alphas[:, 0]),  # [layer, head, query_pos, key_pos]
        expected=to_numpy(expected[0]),  # [query_pos, key_pos]
        tokens=tuple(tokens[0].tolist()),
        targets=tuple(targets[0].tolist()),
        predictions=tuple(predictions[0].tolist()),
    )


def train(config: TrainConfig, device: str | torch.device | None = None) -> Iterator[Snapshot]:
    """Train `config` and yield a Snapshot at step 0, every `snapshot_every` steps and after the last step.

    The work happens while the caller iterates: to stop early, stop iterating (break out of the loop).
    Runs on `device`, or the one `model.device.pick_device` chooses. Weights and examples come from
    generators seeded by config.seed, so a CPU run is repeated exactly by the same config.
    """
    device = pick_device(str(device) if device is not None else None)
    net = build_model(config).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    mask = task_mask(config, device)  # [query_pos, key_pos] or None
    tokens, targets = make_examples(config, EVAL_EXAMPLES, torch.Generator().manual_seed(EVAL_SEED))
    held_out = (tokens.to(device), targets.to(device), _expected(config.task, tokens).to(device))
    gen = torch.Generator().manual_seed(config.seed)

    yield _evaluate(net, 0, *held_out, mask)
    for step in range(1, config.steps + 1):
        tokens, targets = make_examples(config, config.batch_size, gen)  # [batch, pos] each
        logits, _ = net(tokens.to(device), mask)  # [batch, pos, class]
        loss = F.cross_entropy(logits.flatten(0, 1), targets.to(device).flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % config.snapshot_every == 0 or step == config.steps:
            yield _evaluate(net, step, *held_out, mask)


def train_until(
    config: TrainConfig,
    accuracy: float | None = None,
    device: str | torch.device | None = None,
    on_snapshot: Callable[[Snapshot], None] | None = None,
) -> tuple[Snapshot, float]:
    """Train until a snapshot's held-out accuracy reaches `accuracy` (None: all the steps).

    Returns the last snapshot and the wall-clock seconds, evaluation included.
    """
    start = time.perf_counter()
    for snapshot in train(config, device):
        if on_snapshot is not None:
            on_snapshot(snapshot)
        if accuracy is not None and snapshot.accuracy >= accuracy:
            break
    return snapshot, time.perf_counter() - start


# --- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Train from the command line; progress lines, then one JSON object as the last line."""
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog="python -m model.experiments.train", description=__doc__.splitlines()[0])
    parser.add_argument("--task", default=defaults.task, choices=TASKS)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--layers", type=int, default=defaults.n_layers)
    parser.add_argument("--heads", type=int, default=defaults.n_heads)
    parser.add_argument("--d-model", type=int, default=defaults.d_model)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--seq-len", type=int, default=defaults.seq_len)
    parser.add_argument("--vocab", type=int, default=defaults.vocab)
    parser.add_argument("--snapshot-every", type=int, default=defaults.snapshot_every)
    parser.add_argument("--stop-at", type=float, default=None, help="stop once held-out accuracy reaches this")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the best found)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: this model is too small to gain from more, and on a busy machine more is much slower)",
    )
    args = parser.parse_args(argv)
    try:
        config = TrainConfig(
            task=args.task,
            n_layers=args.layers,
            n_heads=args.heads,
            d_model=args.d_model,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            seq_len=args.seq_len,
            vocab=args.vocab,
            snapshot_every=args.snapshot_every,
        )
    except InvalidConfigError as e:
        parser.error(str(e))
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    torch.set_num_threads(args.threads)

    def report(s: Snapshot) -> None:
        print(
            f"step {s.step:>5}  loss {s.loss:.3f}  accuracy {s.accuracy:.3f}  pattern {s.pattern_score:.3f}",
            flush=True,
        )

    last, seconds = train_until(config, args.stop_at, args.device, report)
    result = {
        "task": config.task,
        "steps": last.step,
        "seconds": round(seconds, 3),
        "accuracy": last.accuracy,
        "pattern_score": last.pattern_score,
        "loss": last.loss,
        "seed": config.seed,
        "device": str(pick_device(args.device)),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def uniform_score(task: str, n: int) -> float:
    """The pattern score of attention spread evenly over the keys a query may see: the baseline.

    Query i of previous sees i+1 keys (causal) and row 0 expects nothing: mean of 1/(i+1), i = 1 … n-1.
    """
    if task == "previous":
        return float(np.mean(1.0 / np.arange(2, n + 1)))
    return 1.0 / n
