"""A tiny, randomly initialised Chronos-Bolt checkpoint with the real architecture.

The Hugging Face Hub is unreachable here, so tests and speed benchmarks build this checkpoint,
save it with ``save_pretrained`` and load it through ``BaseChronosPipeline.from_pretrained`` like
real weights. Its embeddings are random projections: never report quality measured with it as
Chronos quality.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MODEL_ENV = "ANOMALYD_CHRONOS_MODEL"  # the same name as detectors._chronos.MODEL_ENV


def build_tiny_chronos_bolt(
    path: str | Path, *, d_model: int = 64, num_layers: int = 2, seed: int = 0
) -> Path:
    """Write a random Chronos-Bolt checkpoint (the published chronos-bolt-tiny config, scaled
    down to ``d_model`` and ``num_layers``) into directory ``path`` and return it."""
    import torch
    from chronos.chronos_bolt import ChronosBoltModelForForecasting
    from transformers import T5Config

    settings: dict[str, Any] = {
        "architectures": ["ChronosBoltModelForForecasting"],
        "chronos_pipeline_class": "ChronosBoltPipeline",
        "chronos_config": {
            "context_length": 2048,
            "input_patch_size": 16,
            "input_patch_stride": 16,
            "prediction_length": 64,
            "quantiles": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
            "use_reg_token": True,
        },
        "d_model": d_model,
        "d_ff": 4 * d_model,
        "d_kv": d_model // 4,
        "num_heads": 4,
        "num_layers": num_layers,
        "num_decoder_layers": 1,  # THEMIS only runs the encoder
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
    config = T5Config(**settings)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = ChronosBoltModelForForecasting(config)
    out = Path(path)
    model.save_pretrained(out)
    return out


@contextmanager
def tiny_chronos_env(path: str | Path) -> Iterator[Path]:
    """Build the tiny checkpoint, point THEMIS' default model at it, use one torch thread."""
    import torch

    folder = build_tiny_chronos_bolt(path)
    old_env, old_threads = os.environ.get(MODEL_ENV), torch.get_num_threads()
    os.environ[MODEL_ENV] = str(folder)
    torch.set_num_threads(1)  # 2 shared cores: spinning OpenMP threads slow tiny matmuls 50x
    try:
        yield folder
    finally:
        torch.set_num_threads(old_threads)
        if old_env is None:
            os.environ.pop(MODEL_ENV, None)
        else:
            os.environ[MODEL_ENV] = old_env
