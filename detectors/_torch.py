"""Torch helpers shared by the neural detectors: device choice and stacked MLPs.

A *stacked* MLP holds ``S`` independent networks of one shape: weights ``[S, in, out]`` and
biases ``[S, 1, out]``, so one ``torch.baddbmm`` per layer runs all of them at once. Training
many per-series models this way saves the per-operation overhead of a loop (1.5-2x on one CPU
thread, where float64 arithmetic dominates: ``benchmarks/apre_training.py``; more where launch
overhead dominates, as on a GPU), and gives the numbers of training each one alone:
everything runs in float64, and each network keeps its own
initialisation, shuffling (both drawn from ``numpy.random.default_rng(seed)``), batches and
Adam state. Networks are handed around as numpy arrays (a flat float64 vector per network), so
detectors save them to safetensors like any other fitted array.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from anomalyd.detectors.base import FloatArray

DTYPE = torch.float64
DEVICES = ("auto", "cpu", "cuda")
#: per-sample loss from (network output [S, B, out], input [S, B, d]) -> [S, B]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Params = list[tuple[torch.Tensor, torch.Tensor]]


@functools.cache
def _cuda_available() -> bool:
    """Asked once per process (``pick_device`` runs per series on the streaming hot path)."""
    return torch.cuda.is_available()


def pick_device(name: str) -> torch.device:
    """``"auto"``: CUDA when available, else CPU; ``"cpu"``; ``"cuda"`` (ValueError without one)."""
    if name == "cpu" or (name == "auto" and not _cuda_available()):
        return torch.device("cpu")
    if not _cuda_available():
        raise ValueError("`device` is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'.")
    return torch.device("cuda")


def n_weights(sizes: Sequence[int]) -> int:
    """Length of the flat parameter vector of an MLP with layer widths ``sizes``."""
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def init_flat(sizes: Sequence[int], rng: np.random.Generator) -> FloatArray:
    """``torch.nn.Linear``'s default init, U(+-1/sqrt(fan_in)) for weights and biases, flat."""
    parts = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / np.sqrt(a)
        parts.append(rng.uniform(-bound, bound, size=a * b))  # weight, stored [in, out]
        parts.append(rng.uniform(-bound, bound, size=b))
    return np.concatenate(parts)


def stack(flats: Sequence[FloatArray], device: torch.device) -> torch.Tensor:
    """Flat vectors of ``S`` networks -> one [S, P] float64 tensor."""
    return torch.as_tensor(np.stack(flats), dtype=DTYPE, device=device)


def layer_views(theta: torch.Tensor, sizes: Sequence[int]) -> Params:
    """Views of stacked [S, P] parameters: per layer (weight [S, in, out], bias [S, 1, out])."""
    params, at = [], 0
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        w = theta[:, at : at + a * b].view(-1, a, b)
        bias = theta[:, at + a * b : at + (a + 1) * b].view(-1, 1, b)
        params.append((w, bias))
        at += (a + 1) * b
    return params


def unstack(theta: torch.Tensor) -> list[FloatArray]:
    """Inverse of :func:`stack`: one flat float64 numpy vector per network."""
    return [np.ascontiguousarray(row) for row in theta.detach().cpu().numpy()]


def forward(params: Params, x: torch.Tensor) -> torch.Tensor:
    """Stacked MLP: ``x`` [S, N, in] -> [S, N, out]; ReLU after every layer but the last."""
    h = x
    for i, (w, b) in enumerate(params):
        h = torch.baddbmm(b, h, w)
        if i < len(params) - 1:
            h = torch.relu(h)
    return h


class StackedAdam:
    """Adam (torch's defaults) on a stacked [S, P] parameter tensor, one step count per network.

    ``step(active)`` updates only the networks whose series had rows in this batch (a series
    that has run out of batches this epoch is left exactly as it is), so stacking series with
    different numbers of windows gives each network exactly its own updates.
    """

    def __init__(self, theta: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999)):
        self.theta, self.lr, (self.b1, self.b2), self.eps = theta, lr, betas, 1e-8
        self.m = torch.zeros_like(theta)
        self.v = torch.zeros_like(theta)
        self.t = torch.zeros(len(theta), 1, dtype=DTYPE, device=theta.device)

    @torch.no_grad()
    def step(self, g: torch.Tensor, active: torch.Tensor) -> None:
        """Apply gradient ``g`` [S, P] to the networks where ``active`` ([S] bool) is true."""
        on = active.to(DTYPE)[:, None]
        self.m.lerp_(g, on * (1.0 - self.b1))  # m + w (g - m): unchanged where w = 0
        self.v.lerp_(g * g, on * (1.0 - self.b2))
        self.t += on
        t = self.t.clamp(min=1.0)
        scale = on * self.lr / (1.0 - self.b1**t)
        denom = (self.v / (1.0 - self.b2**t)).sqrt_().add_(self.eps)
        self.theta.sub_(self.m * scale / denom)


@dataclass(frozen=True)
class TrainConfig:
    """What stacked training needs besides the data; networks stack only with equal configs."""

    sizes: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float
    seed: int
    device: str


def train_stacked(data: Sequence[FloatArray], cfg: TrainConfig, loss: LossFn) -> list[FloatArray]:
    """Train one MLP per array in ``data`` (rows = samples), all at once; flat weights back.

    Network ``s`` is initialised and shuffled by ``default_rng(cfg.seed)`` alone and sees
    mini-batches of its own rows only (padded to ``batch_size`` with zero-weight rows), so its
    weights do not depend on which other series share the stack.
    """
    device = pick_device(cfg.device)
    rngs = [np.random.default_rng(cfg.seed) for _ in data]
    theta = stack([init_flat(cfg.sizes, r) for r in rngs], device)
    x, counts = _padded(data, device)
    opt = StackedAdam(theta, cfg.lr)
    steps = -(-max(counts) // cfg.batch_size)
    rows = torch.arange(len(data), device=device)[:, None]
    for _ in range(cfg.epochs):
        idx, mask = _epoch_batches(rngs, counts, cfg.batch_size * steps, device)
        for step in range(steps):
            cut = slice(step * cfg.batch_size, (step + 1) * cfg.batch_size)
            with torch.enable_grad():  # also when the caller runs under no_grad
                _train_step(cfg.sizes, opt, x[rows, idx[:, cut]], mask[:, cut], loss)
    return unstack(theta)


def _train_step(
    sizes: Sequence[int], opt: StackedAdam, xb: torch.Tensor, mask: torch.Tensor, loss: LossFn
) -> None:
    leaves = [t.detach().requires_grad_(True) for wb in layer_views(opt.theta, sizes) for t in wb]
    params = list(zip(leaves[::2], leaves[1::2], strict=True))
    per_sample = loss(forward(params, xb), xb)
    count = mask.sum(dim=1)
    total = ((per_sample * mask).sum(dim=1) / count.clamp(min=1.0)).sum()
    grads = torch.autograd.grad(total, leaves)
    opt.step(torch.cat([g.flatten(1) for g in grads], dim=1), count > 0)


def _padded(data: Sequence[FloatArray], device: torch.device) -> tuple[torch.Tensor, list[int]]:
    """[S, max_n + 1, d] with zeros after each series' rows (row ``max_n`` is the pad row)."""
    counts = [len(a) for a in data]
    out = np.zeros((len(data), max(counts) + 1, data[0].shape[1]))
    for s, a in enumerate(data):
        out[s, : len(a)] = a
    return torch.as_tensor(out, dtype=DTYPE, device=device), counts


def _epoch_batches(
    rngs: Sequence[np.random.Generator], counts: Sequence[int], width: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row order [S, width] (a fresh permutation per series, then the pad row) and its mask."""
    pad = max(counts)
    idx = np.full((len(counts), width), pad, dtype=np.int64)
    for s, (rng, n) in enumerate(zip(rngs, counts, strict=True)):
        idx[s, :n] = rng.permutation(n)
    mask = idx != pad
    return (
        torch.as_tensor(idx, device=device),
        torch.as_tensor(mask, dtype=DTYPE, device=device),
    )


STACK_MAX_ROWS = 256
"""Above this many rows per network, ``forward_many`` runs the networks one by one."""


@torch.inference_mode()
def forward_many(
    flats: Sequence[FloatArray],
    sizes: Sequence[int],
    inputs: Sequence[FloatArray],
    device: str,
    chunk_elements: int = 2**22,
) -> list[FloatArray]:
    """Run network ``s`` on ``inputs[s]`` (rows = samples) for all ``s`` at once, in row chunks.

    A chunk holds about ``chunk_elements`` activations of the widest layer (32 MiB). Stacking
    pays when each network sees few rows (streaming: a few new windows per series); with more
    than ``STACK_MAX_ROWS`` rows one large product per network is faster than a padded
    batched one, so each network then runs on its own (the same code with one network).
    """
    if len(inputs) > 1 and max((len(a) for a in inputs), default=0) > STACK_MAX_ROWS:
        return [
            forward_many([f], sizes, [a], device, chunk_elements)[0]
            for f, a in zip(flats, inputs, strict=True)
        ]
    dev = pick_device(device)
    chunk = max(64, chunk_elements // (len(inputs) * max(sizes)))
    params = layer_views(stack(flats, dev), sizes)
    outs = [np.empty((len(a), sizes[-1])) for a in inputs]
    longest = max((len(a) for a in inputs), default=0)
    for start in range(0, longest, chunk):
        block = np.zeros((len(inputs), min(chunk, longest - start), sizes[0]))
        for s, a in enumerate(inputs):
            block[s, : len(a[start : start + chunk])] = a[start : start + chunk]
        y = forward(params, torch.as_tensor(block, dtype=DTYPE, device=dev)).cpu().numpy()
        for s, out in enumerate(outs):
            out[start : start + chunk] = y[s, : len(out[start : start + chunk])]
    return outs
