"""Pretrain a small Chronos-Bolt model on synthetic series only: THEMIS' offline encoder.

THEMIS embeds windows with a Chronos-Bolt encoder. Amazon's weights come from the Hugging Face
Hub, which air-gapped hosts cannot reach, so this recipe trains a model with the same
architecture and config format (``ChronosBoltModelForForecasting`` from
``chronos-forecasting``), which THEMIS loads through the same ``from_pretrained`` path
(``--param themis.model=<output folder>``).

Data (never the benchmark series THEMIS is measured on), generated in parallel, seeded:

* **KernelSynth** (Ansari et al., "Chronos: Learning the Language of Time Series", 2024,
  Algorithm 2): a Gaussian-process prior whose kernel is a random sum/product of up to
  ``max_kernels`` kernels drawn from a bank of scikit-learn kernels (``ExpSineSquared`` at
  periods typical of hourly to weekly data, ``RBF``, ``DotProduct``, ``RationalQuadratic``,
  ``WhiteKernel``, ``ConstantKernel``), one sample per series;
* **observability shapes**: zero-inflated error counts, Poisson request counts with a daily
  cycle, level steps, spikes on noise, trends, random walks, periodic batch jobs.

Training: the Chronos-Bolt quantile (pinball) loss of forecasting ``prediction_length``
points after a random crop of ``min_context`` to ``max_context`` points (AdamW, linear warm-up
then linear decay). Checkpoints in safetensors (``save_pretrained``), a JSON-lines loss log and
a model card (data, steps, loss, licence) in the output folder.

    python scripts/pretrain_encoder.py --out build/themis-encoder --steps 4000 --workers 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FloatArray = np.ndarray
#: periods (in points) of the periodic kernels: hourly to weekly cycles at common steps
PERIODS = (4, 6, 7, 12, 14, 24, 28, 30, 48, 52, 60, 96, 144, 168, 288, 336, 365)
QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class PretrainConfig:
    """What one pretraining run does (written into the model card)."""

    d_model: int = 256
    num_layers: int = 4
    num_heads: int = 4
    steps: int = 2000
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    n_series: int = 20000
    series_length: int = 1024
    kernelsynth_share: float = 0.5
    max_kernels: int = 5
    min_context: int = 64
    max_context: int = 512
    prediction_length: int = 64
    seed: int = 0
    workers: int = 1
    log_every: int = 20
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        if self.d_model % self.num_heads:
            raise ValueError(
                f"`d_model` ({self.d_model}) must be a multiple of `num_heads` ({self.num_heads})."
            )
        if not 16 <= self.min_context <= self.max_context:
            raise ValueError("`min_context` must be >= 16 and <= `max_context`.")
        if self.max_context + self.prediction_length > self.series_length:
            raise ValueError("`max_context` + `prediction_length` must fit in `series_length`.")


# ---- KernelSynth ----


def kernel_bank(length: int) -> list[Any]:
    """The kernels KernelSynth composes (time scaled to [0, 1] over ``length`` points)."""
    from sklearn.gaussian_process.kernels import (
        RBF,
        ConstantKernel,
        DotProduct,
        ExpSineSquared,
        RationalQuadratic,
        WhiteKernel,
    )

    periodic = [ExpSineSquared(length_scale=1.0, periodicity=p / length) for p in PERIODS]
    return [
        *periodic,
        DotProduct(sigma_0=0.0),
        DotProduct(sigma_0=1.0),
        DotProduct(sigma_0=10.0),
        RBF(length_scale=0.1),
        RBF(length_scale=1.0),
        RBF(length_scale=10.0),
        RationalQuadratic(alpha=0.1),
        RationalQuadratic(alpha=1.0),
        RationalQuadratic(alpha=10.0),
        WhiteKernel(noise_level=0.1),
        WhiteKernel(noise_level=1.0),
        ConstantKernel(),
    ]


def random_kernel(rng: np.random.Generator, bank: Sequence[Any], max_kernels: int) -> Any:
    """A random sum/product of 1..``max_kernels`` kernels of ``bank`` (with replacement)."""
    picks = rng.integers(len(bank), size=int(rng.integers(1, max_kernels + 1)))
    kernel = bank[picks[0]]
    for i in picks[1:]:
        kernel = kernel + bank[i] if rng.random() < 0.5 else kernel * bank[i]
    return kernel


def kernelsynth(rng: np.random.Generator, length: int, max_kernels: int) -> FloatArray:
    """One draw of a zero-mean GP with a random KernelSynth kernel, shape (length,)."""
    t = np.linspace(0.0, 1.0, length)[:, None]
    cov = random_kernel(rng, kernel_bank(length), max_kernels)(t)
    jitter = 1e-6 * max(float(np.mean(np.diag(cov))), 1e-12)
    chol = np.linalg.cholesky(cov + jitter * np.eye(length))
    out: FloatArray = chol @ rng.standard_normal(length)
    return out


# ---- observability shapes ----


def _daily(rng: np.random.Generator, t: FloatArray) -> FloatArray:
    period = float(rng.choice([24, 96, 144, 288]))
    return np.sin(2 * np.pi * (t / period + rng.random()))


def zero_inflated_counts(rng: np.random.Generator, t: FloatArray) -> FloatArray:
    rate = rng.uniform(0.05, 2.0) * np.exp(0.5 * _daily(rng, t))
    return rng.poisson(rate) * (rng.random(len(t)) < rng.uniform(0.1, 0.7))


def requests(rng: np.random.Generator, t: FloatArray) -> FloatArray:
    base = rng.uniform(10, 1000)
    return rng.poisson(base * (1 + rng.uniform(0.1, 0.8) * _daily(rng, t))).astype(float)


def steps(rng: np.random.Generator, t: FloatArray) -> FloatArray:
    jumps = np.zeros(len(t))
    count = int(rng.integers(1, 6))
    jumps[rng.integers(len(t), size=count)] = rng.normal(0, 3, size=count)
    return np.cumsum(jumps) + rng.normal(0, rng.uniform(0.1, 1.0), len(t))


def spikes(rng: np.random.Generator, t: FloatArray) -> FloatArray:
    x = rng.normal(0, 1, len(t))
    at = rng.random(len(t)) < rng.uniform(0.001, 0.02)
    return x + at * rng.normal(0, rng.uniform(4, 10), len(t))


def trend(rng: np.random.Generator, t: FloatArray) -> FloatArray:
    slope = rng.normal(0, 3) / len(t)
    return slope * t + rng.uniform(0, 1) * _daily(rng, t) + rng.normal(0, 0.3, len(t))


def random_walk(rng: np.random.Generator, t: FloatArray) -> FloatArray:
    return np.cumsum(rng.normal(0, 1, len(t)))


def batch_jobs(rng: np.random.Generator, t: FloatArray) -> FloatArray:
    period, width = int(rng.integers(24, 300)), int(rng.integers(2, 20))
    on = (t.astype(int) % period) < width
    return on * rng.uniform(1, 10) + rng.normal(0, 0.2, len(t))


SHAPES: tuple[Callable[[np.random.Generator, FloatArray], FloatArray], ...] = (
    zero_inflated_counts,
    requests,
    steps,
    spikes,
    trend,
    random_walk,
    batch_jobs,
)


def one_series(seed: int, cfg: PretrainConfig) -> FloatArray:
    """Series number ``seed`` of the corpus: KernelSynth or an observability shape."""
    rng = np.random.default_rng(seed)
    if rng.random() < cfg.kernelsynth_share:
        return kernelsynth(rng, cfg.series_length, cfg.max_kernels)
    t = np.arange(cfg.series_length, dtype=float)
    return np.asarray(SHAPES[int(rng.integers(len(SHAPES)))](rng, t), dtype=float)


def _chunk(seeds: Sequence[int], cfg: PretrainConfig) -> FloatArray:
    return np.stack([one_series(s, cfg) for s in seeds])


def corpus(cfg: PretrainConfig) -> FloatArray:
    """``n_series`` synthetic series, shape (n_series, series_length), float32; the same for
    any ``workers``."""
    seeds = np.random.SeedSequence(cfg.seed).generate_state(cfg.n_series).tolist()
    parts = [seeds[i : i + 256] for i in range(0, len(seeds), 256)]
    if cfg.workers <= 1:
        chunks = [_chunk(p, cfg) for p in parts]
    else:
        with ProcessPoolExecutor(cfg.workers) as pool:
            chunks = list(pool.map(_chunk, parts, [cfg] * len(parts)))
    return np.concatenate(chunks).astype(np.float32)


# ---- the model and its training ----


def model_settings(cfg: PretrainConfig) -> dict[str, Any]:
    """The T5 config of a Chronos-Bolt model sized by ``cfg`` (chronos-bolt-tiny's layout)."""
    return {
        "architectures": ["ChronosBoltModelForForecasting"],
        "chronos_pipeline_class": "ChronosBoltPipeline",
        "chronos_config": {
            "context_length": 2048,
            "input_patch_size": 16,
            "input_patch_stride": 16,
            "prediction_length": cfg.prediction_length,
            "quantiles": list(QUANTILES),
            "use_reg_token": True,
        },
        "d_model": cfg.d_model,
        "d_ff": 4 * cfg.d_model,
        "d_kv": cfg.d_model // cfg.num_heads,
        "num_heads": cfg.num_heads,
        "num_layers": cfg.num_layers,
        "num_decoder_layers": cfg.num_layers,
        "feed_forward_proj": "relu",
        "dense_act_fn": "relu",
        "is_gated_act": False,
        "dropout_rate": 0.1,
        "layer_norm_epsilon": 1e-6,
        "initializer_factor": 0.05,
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
        "vocab_size": 2,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
        "reg_token_id": 1,
        "is_encoder_decoder": True,
    }


def new_model(cfg: PretrainConfig) -> Any:
    """A freshly initialised ``ChronosBoltModelForForecasting`` (seeded by ``cfg.seed``)."""
    import torch
    from chronos.chronos_bolt import ChronosBoltModelForForecasting
    from transformers import T5Config

    torch.manual_seed(cfg.seed)
    return ChronosBoltModelForForecasting(T5Config(**model_settings(cfg)))


def batch(data: FloatArray, cfg: PretrainConfig, rng: np.random.Generator) -> tuple[Any, Any]:
    """Random crops: context (batch, max_context), left-padded with NaN to its crop length,
    and the next ``prediction_length`` points (batch, prediction_length)."""
    import torch

    context = np.full((cfg.batch_size, cfg.max_context), np.nan, dtype=np.float32)
    target = np.empty((cfg.batch_size, cfg.prediction_length), dtype=np.float32)
    for i in range(cfg.batch_size):
        crop, after = crop_of(data, cfg, rng)
        context[i, -len(crop) :], target[i] = crop, after
    return torch.from_numpy(context), torch.from_numpy(target)


def crop_of(
    data: FloatArray, cfg: PretrainConfig, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """One random (context, target) crop whose context is not flat: the model scales the
    target by the context's spread, so a flat context would make its loss explode."""
    for _ in range(10_000):
        row, n = (
            int(rng.integers(len(data))),
            int(rng.integers(cfg.min_context, cfg.max_context + 1)),
        )
        start = int(rng.integers(0, data.shape[1] - n - cfg.prediction_length + 1))
        crop = data[row, start : start + n]
        if np.std(crop) > 1e-3 * max(1.0, float(np.abs(crop).mean())):
            return crop, data[row, start + n : start + n + cfg.prediction_length]
    raise ValueError("no crop of the corpus has a context that is not flat")


def learning_rate(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up over ``warmup_steps``, then linear decay to 0 at ``steps``."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    left = max(cfg.steps - step, 0) / max(cfg.steps - cfg.warmup_steps, 1)
    return cfg.learning_rate * left


def train(cfg: PretrainConfig, data: FloatArray, out: Path) -> tuple[list[dict[str, float]], int]:
    """Train a new model on ``data``; checkpoints and ``loss.jsonl`` go to ``out``. Returns the
    logged records (step, loss: mean over the last ``log_every`` steps, seconds) and the
    model's parameter count."""
    import torch

    model = new_model(cfg)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    rng = np.random.default_rng(cfg.seed + 1)
    log, window, start = [], [], time.perf_counter()
    with (out / "loss.jsonl").open("w") as fh:
        for step in range(cfg.steps):
            for group in opt.param_groups:
                group["lr"] = learning_rate(step, cfg)
            context, target = batch(data, cfg, rng)
            loss = model(context=context, target=target).loss
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            window.append(float(loss.detach()))
            if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
                rec = {"step": step + 1, "loss": float(np.mean(window)),
                       "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
                log.append(rec)
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                window = []
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
                model.save_pretrained(out)
    return log, sum(p.numel() for p in model.parameters())


def write_card(
    out: Path,
    cfg: PretrainConfig,
    log: list[dict[str, float]],
    n_params: int,
    held_out: tuple[float, float],
) -> None:
    """The model card: what the weights are, how they were made, the loss, the licence."""
    first, last = log[0], log[-1]
    lines = [
        "# THEMIS encoder: Chronos-Bolt architecture, pretrained on synthetic series only",
        "",
        f"- Parameters: {n_params:,} (d_model {cfg.d_model}, {cfg.num_layers} encoder and "
        f"{cfg.num_layers} decoder layers, {cfg.num_heads} heads, 16-point patches).",
        f"- Data: {cfg.n_series:,} series of {cfg.series_length} points; "
        f"{cfg.kernelsynth_share:.0%} KernelSynth Gaussian-process draws (random sums and "
        "products of scikit-learn periodic, RBF, linear, rational-quadratic, white-noise and "
        "constant kernels), the rest observability shapes (zero-inflated and Poisson counts, "
        "steps, spikes, trends, random walks, batch jobs). No real or benchmark series.",
        f"- Training: {cfg.steps} steps of {cfg.batch_size} crops ({cfg.min_context}-"
        f"{cfg.max_context} context points, {cfg.prediction_length} forecast), quantile loss, "
        f"AdamW at {cfg.learning_rate:g}; loss {first['loss']:.3f} (first {cfg.log_every} "
        f"steps) -> {last['loss']:.3f} (last), {last['seconds']:.0f} s; on 256 crops of "
        f"series drawn with another seed: {held_out[0]:.3f} untrained -> {held_out[1]:.3f}.",
        "- Recipe: `scripts/pretrain_encoder.py` of anomalyd; `config.json` here is the "
        "model config, `pretrain_config.json` the recipe's settings, `loss.jsonl` the log.",
        "- Licence: Apache-2.0.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))
    (out / "pretrain_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))


def held_out_loss(model: Any, cfg: PretrainConfig, crops: int = 256) -> float:
    """Mean loss of ``model`` on ``crops`` fixed crops of a corpus drawn with another seed
    (series the training never saw)."""
    import torch

    other = dataclasses.replace(cfg, seed=cfg.seed + 10_000, n_series=max(crops // 4, 1))
    rng = np.random.default_rng(other.seed)
    data, sized = corpus(other), dataclasses.replace(cfg, batch_size=crops)
    context, target = batch(data, sized, rng)
    model.eval()
    with torch.no_grad():
        return float(model(context=context, target=target).loss)


def run(cfg: PretrainConfig, out: Path) -> dict[str, Any]:
    """Generate the corpus, train, write the model card. Returns ``{"log": the loss log,
    "held_out": (loss before training, after)}``."""
    from chronos.chronos_bolt import ChronosBoltModelForForecasting

    out.mkdir(parents=True, exist_ok=True)
    before = held_out_loss(new_model(cfg), cfg)
    log, n_params = train(cfg, corpus(cfg), out)
    after = held_out_loss(ChronosBoltModelForForecasting.from_pretrained(out), cfg)
    write_card(out, cfg, log, n_params, (before, after))
    return {"log": log, "held_out": (before, after)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    for f in dataclasses.fields(PretrainConfig):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default
        )
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    cfg = PretrainConfig(**args)
    done = run(cfg, out)
    log, (before, after) = done["log"], done["held_out"]
    seconds = log[-1]["seconds"]
    print(f"training loss {log[0]['loss']:.3f} -> {log[-1]['loss']:.3f} in {seconds:.0f} s; "
          f"held-out {before:.3f} -> {after:.3f}; model in {out}")  # fmt: skip
    return 0 if math.isfinite(after) else 1


if __name__ == "__main__":
    raise SystemExit(main())
