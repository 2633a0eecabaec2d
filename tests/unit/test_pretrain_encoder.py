"""The THEMIS encoder recipe (scripts/pretrain_encoder.py): corpus, training, checkpoint."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pytest.importorskip("chronos", reason="needs the `chronos` extra")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pretrain_encoder.py"


@pytest.fixture(scope="module")
def recipe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pretrain_encoder", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _tiny(recipe: ModuleType, **changes: object) -> object:
    settings: dict[str, object] = {
        "d_model": 32, "num_layers": 1, "num_heads": 2, "steps": 60, "batch_size": 16,
        "n_series": 48, "series_length": 256, "min_context": 32, "max_context": 128,
        "prediction_length": 16, "warmup_steps": 5, "learning_rate": 3e-3, "log_every": 10,
        "checkpoint_every": 60,
    }  # fmt: skip
    return recipe.PretrainConfig(**{**settings, **changes})


def test_corpus_is_seeded_and_the_same_for_any_worker_count(recipe: ModuleType) -> None:
    one = recipe.corpus(_tiny(recipe, n_series=300))
    two = recipe.corpus(_tiny(recipe, n_series=300, workers=2))
    assert one.shape == (300, 256) and np.isfinite(one).all()
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, recipe.corpus(_tiny(recipe, n_series=300, seed=1)))


def test_settings_are_checked(recipe: ModuleType) -> None:
    with pytest.raises(ValueError, match="multiple of `num_heads`"):
        _tiny(recipe, d_model=30, num_heads=4)
    with pytest.raises(ValueError, match="must fit in `series_length`"):
        _tiny(recipe, max_context=250)


def test_loss_goes_down_and_themis_loads_the_checkpoint(recipe: ModuleType, tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    done = recipe.run(_tiny(recipe), tmp_path)
    log, (before, after) = done["log"], done["held_out"]
    assert after < 0.8 * before  # on series the training never saw
    assert len((tmp_path / "loss.jsonl").read_text().splitlines()) == len(log) == 6
    assert "synthetic series only" in (tmp_path / "README.md").read_text()
    assert json.loads((tmp_path / "pretrain_config.json").read_text())["steps"] == 60

    from anomalyd.detectors.themis import Themis

    rng = np.random.default_rng(0)
    x = np.sin(np.arange(400) / 4.0) + 0.1 * rng.normal(size=400)
    x[350] += 5.0
    det = Themis(model=str(tmp_path), window=32, stride=2, device="cpu").fit(x[:300])
    scores = det.score(x)
    assert np.isfinite(scores[31:]).all()
