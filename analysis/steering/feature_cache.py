"""Per-clip feature cache: what makes `validate` and `validate-preset` resumable.

One small JSON file per clip, `ROOT/<key[:2]>/<key>.json`, written atomically (temp file, then
rename), so a run killed at any moment (even with kill -9) leaves only whole entries behind. The
key is a SHA-256 over everything that decides the clip's features: the state as rendered (its
dict, seed set to the rendered seed), the seed, the backend, model id, SAE id, the engine's
denoising window, the analysis rate and the feature definitions' version. A rerun with the same
arguments finds every finished clip and renders only the rest.

Values round-trip exactly: features are Python floats, and JSON keeps a float's shortest repr.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from analysis.steering.acoustic_features import ANALYSIS_SR, FEATURE_NAMES, FEATURES_VERSION, FileResult
from synth.atomic_io import atomic_write_text

DEFAULT_CACHE_ENV = "LATENT_SYNTH_CACHE"


def default_cache_root() -> Path:
    """$LATENT_SYNTH_CACHE, else $XDG_CACHE_HOME/latent-synth/features, else ~/.cache/latent-synth/features."""
    if os.environ.get(DEFAULT_CACHE_ENV):
        return Path(os.environ[DEFAULT_CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "latent-synth" / "features"


@dataclass(frozen=True)
class RenderIdentity:
    """What, besides the state and seed, decides a clip's audio and features."""
    backend: str
    model_id: str | None
    sae_id: str | None
    window: str | None = None
    analysis_sr: int = ANALYSIS_SR


def clip_key(state, seed: int, ident: RenderIdentity) -> str:
    """SHA-256 hex of the canonical JSON of (state as rendered, seed, backend, model, SAE, window, rate)."""
    state_dict = state.to_dict()
    state_dict["seed"] = int(seed)
    payload = {
        "state": state_dict, "seed": int(seed), "backend": ident.backend, "model_id": ident.model_id,
        "sae_id": ident.sae_id, "window": ident.window, "analysis_sr": ident.analysis_sr,
        "features_version": FEATURES_VERSION,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FeatureCache:
    """get/put FileResults by clip key. `fresh=True` never reads (but still writes), so a
    `--fresh` run refreshes the cache instead of leaving stale entries beside it."""

    def __init__(self, root, fresh: bool = False):
        self.root = Path(root).expanduser()
        self.fresh = fresh
        self.hits = 0
        self.writes = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str, name: str) -> FileResult | None:
        """The cached result under `key`, renamed to `name`; None when absent, unreadable or --fresh."""
        if self.fresh:
            return None
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None   # absent, or not ours: render again
        feats, error = entry.get("features"), entry.get("error")
        if feats is not None:
            if not isinstance(feats, dict) or set(feats) != set(FEATURE_NAMES):
                return None
            self.hits += 1
            return FileResult(name, {n: float(feats[n]) for n in FEATURE_NAMES})
        if isinstance(error, str):
            self.hits += 1
            return FileResult(name, None, f"{name}: {error}")
        return None

    def put(self, key: str, result: FileResult) -> None:
        """Store one clip's result. Errors are stored without the clip's name, which `get` puts back."""
        error = None
        if result.features is None:
            prefix = f"{result.path}: "
            error = result.error[len(prefix):] if (result.error or "").startswith(prefix) else result.error
        entry = {"features": result.features, "error": error}
        atomic_write_text(self._path(key), json.dumps(entry, allow_nan=True) + "\n")
        self.writes += 1
