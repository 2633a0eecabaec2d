"""Chronos-Bolt encoder for THEMIS: loading (Hub id or local path), caching and window embeddings.

* ``encoder(model, device)`` loads a Chronos-Bolt checkpoint through
  ``chronos.BaseChronosPipeline.from_pretrained`` once per ``(model, device)`` in this process,
  so every series (and every THEMIS detector) shares one encoder.
* ``ChronosEncoder.embed`` maps windows ``(n, window)`` to L2-normalised embeddings ``(n, d)``:
  the mean of the encoder's patch tokens, the final [REG] token left out. Chronos normalises
  each window itself (mean 0, std 1) and left-pads it with NaN to a multiple of 16.
* **Batch invariance.** Windows go through the encoder in chunks of exactly ``batch_size``
  rows (the last chunk padded with zeros). The matrix kernels then always see the same shapes,
  so a window's embedding is bit-identical whichever other windows share its chunk: streaming,
  backfill and batched-across-series scoring give the same numbers. (Measured on CPU: chunks
  of 1 or 2 windows differ from chunks of 32 by ~2e-8, which the scorers amplify past 1e-6.)

The model id ``DEFAULT_MODEL`` can be redirected with the environment variable
``ANOMALYD_CHRONOS_MODEL`` (read when a detector loads its encoder, never at import): tests
point it at a tiny random checkpoint; an explicit non-default ``model`` is never redirected.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies

import numpy as np
import torch

from anomalyd.detectors._torch import pick_device
from anomalyd.detectors.base import FloatArray
from anomalyd.metrics.window import unit_exponent

DEFAULT_MODEL = "amazon/chronos-bolt-tiny"
MODEL_ENV = "ANOMALYD_CHRONOS_MODEL"
MAX_WINDOW = 2048  # Chronos-Bolt context length: longer windows would be cut silently
#: seconds to wait for a TCP connection to the Hub before giving up on downloading weights
HUB_PROBE_S = 3.0
EXTRA_MESSAGE = "THEMIS needs the `chronos` extra: pip install 'anomalyd[chronos]'"

_CACHE: dict[tuple[str, str], ChronosEncoder] = {}
_LOCK = threading.Lock()


class ModelUnavailableError(RuntimeError):
    """The Chronos weights could not be loaded (no network, empty cache, wrong path)."""


def resolve_model(model: str) -> str:
    """``model``, or ``$ANOMALYD_CHRONOS_MODEL`` when ``model`` is the default id."""
    override = os.environ.get(MODEL_ENV, "")
    return override if model == DEFAULT_MODEL and override else model


def encoder(model: str, device: str) -> ChronosEncoder:
    """The shared encoder for ``(model, device)``; loaded on first use."""
    name = resolve_model(model)
    dev = str(pick_device(device))
    with _LOCK:
        if (name, dev) not in _CACHE:
            _CACHE[(name, dev)] = ChronosEncoder(_load_pipeline(name, dev), dev)
        return _CACHE[(name, dev)]


def _load_pipeline(name: str, device: str) -> Any:
    try:
        import chronos
    except ImportError as err:
        raise ImportError(EXTRA_MESSAGE) from err
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    kwargs: dict[str, Any] = {"device_map": device, "torch_dtype": dtype}
    local = Path(name).expanduser()
    target = str(local) if local.is_dir() else name
    try:  # the local cache first: no network round trip (and no retries) when it is there
        return chronos.BaseChronosPipeline.from_pretrained(target, local_files_only=True, **kwargs)
    except (OSError, ValueError) as err:
        if local.is_dir() or _offline():
            raise _unavailable(name, err) from err
        unreachable = _hub_unreachable()
        if unreachable is not None:  # fail now, not after the Hub client's retries
            raise _unavailable(name, unreachable) from err
    try:
        return chronos.BaseChronosPipeline.from_pretrained(target, **kwargs)
    except (OSError, ValueError) as err:
        raise _unavailable(name, err) from err


def _hub_unreachable() -> OSError | None:
    """Why the Hub (``$HF_ENDPOINT``, default huggingface.co) cannot be reached, or None
    when a TCP connection to it opens within ``HUB_PROBE_S`` seconds."""
    url = urlsplit(os.environ.get("HF_ENDPOINT", "") or "https://huggingface.co")
    if url.scheme in getproxies():  # reached through a proxy: leave it to the Hub client
        return None
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=HUB_PROBE_S).close()
    except OSError as err:
        return OSError(
            f"the Hugging Face Hub at {url.scheme}://{url.netloc} is unreachable ({err})"
        )
    return None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _unavailable(name: str, err: Exception) -> ModelUnavailableError:
    text = str(err).strip()
    first = text.splitlines()[0].rstrip(".") if text else type(err).__name__
    return ModelUnavailableError(
        f"Could not load the Chronos model {name!r}: {first}. THEMIS needs Chronos-Bolt weights: "
        f"on a connected machine run `huggingface-cli download {DEFAULT_MODEL} --local-dir "
        "chronos-bolt-tiny`, copy that directory here and pass its path as `model=` (or set "
        f"{MODEL_ENV}), or populate the Hugging Face cache (~/.cache/huggingface/hub) and set "
        "HF_HUB_OFFLINE=1."
    )


class ChronosEncoder:
    """A loaded Chronos-Bolt encoder that embeds windows (see the module docstring)."""

    def __init__(self, pipeline: Any, device: str) -> None:
        from chronos import ChronosBoltPipeline

        if not isinstance(pipeline, ChronosBoltPipeline):
            raise ModelUnavailableError(
                f"THEMIS needs a Chronos-Bolt model; got a {type(pipeline).__name__}. "
                f"Use {DEFAULT_MODEL} or another amazon/chronos-bolt-* checkpoint."
            )
        model = pipeline.model.eval()
        self.model = model
        self.device = device
        self.dim = int(model.config.d_model)
        self.has_reg = bool(model.chronos_config.use_reg_token)
        self.fingerprint = _fingerprint(model)

    def embed(self, windows: FloatArray, batch_size: int) -> FloatArray:
        """L2-normalised embeddings ``(n, d)`` of ``windows`` ``(n, window)`` (no NaN).

        Each window is centred here in float64: Chronos-Bolt's instance normalisation removes
        the mean anyway, and a large offset (1e6 + noise) would lose the noise in float32. It is
        then scaled by a power of two to at most 1 in magnitude, which that normalisation (by
        the window's standard deviation) undoes exactly (but for values under 2**-126 of the
        window's largest, float32 subnormals), so values near 1e300 or 1e-300 fit float32.
        """
        windows = windows - windows.mean(axis=1, keepdims=True)
        windows = np.ldexp(windows, -unit_exponent(windows, axis=1)[:, None])
        out = np.empty((len(windows), self.dim))
        for start in range(0, len(windows), batch_size):
            chunk = windows[start : start + batch_size]
            out[start : start + len(chunk)] = self._embed_chunk(chunk, batch_size)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def _embed_chunk(self, chunk: FloatArray, batch_size: int) -> FloatArray:
        padded = np.zeros((batch_size, chunk.shape[1]), dtype=np.float32)
        padded[: len(chunk)] = chunk
        context = torch.from_numpy(padded).to(self.device)
        with torch.inference_mode():
            hidden = self.model.encode(context=context)[0]
            tokens = hidden[: len(chunk), :-1] if self.has_reg else hidden[: len(chunk)]
            pooled = tokens.float().mean(dim=1)
        return pooled.cpu().numpy().astype(np.float64)


def _fingerprint(model: Any) -> str:
    """Short hash of the weights rounded to bfloat16: names the checkpoint, not the precision."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith(("encoder.", "input_patch_embedding.", "shared.")):
            digest.update(name.encode())
            raw = tensor.detach().to("cpu", torch.bfloat16).view(torch.int16).numpy()
            digest.update(raw.tobytes())
    return digest.hexdigest()[:16]
