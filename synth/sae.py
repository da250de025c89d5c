"""Sparse autoencoder over pooled text embeddings, stored in the SAELens folder layout.

Folder: ``cfg.json`` + ``sae_weights.safetensors`` with ``W_enc [d_in, d_sae]``, ``b_enc [d_sae]``,
``W_dec [d_sae, d_in]``, ``b_dec [d_in]`` and, for BatchTopK (saved as SAELens ``jumprelu``),
``threshold [d_sae]``. Our own architecture name and provenance live in ``cfg.json["metadata"]``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path

import torch

from synth.atomic_io import current_umask

ARCHS = ("relu-l1", "topk", "batchtopk")
# Our architecture -> the SAELens architecture whose forward pass reads our weights.
SAELENS_ARCH = {"relu-l1": "standard", "topk": "topk", "batchtopk": "jumprelu"}
CFG_FILE = "cfg.json"
log = logging.getLogger(__name__)
LABELS_FILE = "labels.json"
WEIGHTS_FILE = "sae_weights.safetensors"


class SAEFileError(ValueError):
    """An SAE folder that is missing, truncated, inconsistent or of the wrong shape."""


class SparseAutoencoder(torch.nn.Module):
    """x -> codes -> x_hat. ``encode`` gives the inference codes (TopK@k for relu-l1 and topk,
    the learned global threshold for batchtopk)."""

    def __init__(self, d_in: int, d_sae: int, arch: str = "topk", k: int = 64, metadata: dict | None = None):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown SAE architecture {arch!r}; choose one of {', '.join(ARCHS)}")
        if d_in < 1 or d_sae < 1:
            raise ValueError(f"SAE sizes must be positive, got d_in={d_in}, d_sae={d_sae}")
        if not 1 <= k <= d_sae:
            raise ValueError(f"SAE k must be in 1..d_sae={d_sae}, got {k}")
        self.d_in, self.d_sae, self.arch, self.k = int(d_in), int(d_sae), arch, int(k)
        self.W_enc = torch.nn.Parameter(torch.zeros(d_in, d_sae))
        self.b_enc = torch.nn.Parameter(torch.zeros(d_sae))
        self.W_dec = torch.nn.Parameter(torch.zeros(d_sae, d_in))
        self.b_dec = torch.nn.Parameter(torch.zeros(d_in))
        self.register_buffer("threshold", torch.zeros(d_sae))
        self.metadata: dict = dict(metadata or {})
        self.labels: dict[int, list[str]] = {}  # feature id -> its top prompts (labels.json, written by `analysis sliders`)
        self.effects: dict[int, str] = {}       # feature id -> its measured effect (labels.json, the sliders' effect screen)

    # --- math -------------------------------------------------------------------------------
    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to(self.W_enc.dtype) - self.b_dec) @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Inference codes [..., d_sae] for x [..., d_in]; non-negative and sparse."""
        if x.shape[-1] != self.d_in:
            raise ValueError(f"SAE expects inputs of width {self.d_in}, got {tuple(x.shape)}")
        lead = x.shape[:-1]
        pre = torch.relu(self.pre_activation(x.reshape(-1, self.d_in)))
        if self.arch == "batchtopk":
            codes = pre * (pre > self.threshold)
        else:
            vals, idx = pre.topk(self.k, dim=-1)
            codes = torch.zeros_like(pre).scatter_(-1, idx, vals)
        return codes.reshape(*lead, self.d_sae)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        if codes.shape[-1] != self.d_sae:
            raise ValueError(f"SAE expects codes of width {self.d_sae}, got {tuple(codes.shape)}")
        return codes.to(self.W_dec.dtype) @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def feature_scale(self) -> torch.Tensor:
        """Typical activation per feature [d_sae] (slider unit); ones when the metadata lacks it."""
        scale = self.metadata.get("feature_scale")
        if scale is None:
            return torch.ones(self.d_sae, device=self.W_dec.device)
        return torch.as_tensor(scale, dtype=torch.float32, device=self.W_dec.device)

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Unit-norm decoder rows (dead-zero rows stay zero)."""
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))

    def extra_repr(self) -> str:
        return f"arch={self.arch}, d_in={self.d_in}, d_sae={self.d_sae}, k={self.k}"


def random_sae(d_in: int, d_sae: int, k: int = 8, seed: int = 0) -> SparseAutoencoder:
    """A deterministic untrained SAE with the tied init (unit-norm decoder rows, W_enc = W_dec^T)."""
    gen = torch.Generator().manual_seed(seed)
    sae = SparseAutoencoder(d_in, d_sae, arch="topk", k=k, metadata={"encoder": None, "pooling": "mean"})
    with torch.no_grad():
        sae.W_dec.copy_(torch.randn(d_sae, d_in, generator=gen))
        sae.normalize_decoder()
        sae.W_enc.copy_(sae.W_dec.T)
    return sae


# --- identity ---------------------------------------------------------------------------------
def sae_identity(sae: SparseAutoencoder) -> str:
    """What a feature id means, as a short content hash of the encoder and decoder weights (cast to float16
    first, so a float32 SAE and its float16 copy share it). Presets record it (synth.preset_sae)."""
    import hashlib

    h = hashlib.sha256()
    for name in ("W_enc", "W_dec"):
        t = getattr(sae, name).detach().to("cpu", torch.float16).contiguous()
        h.update(name.encode())
        h.update(t.numpy().tobytes())
    return "sha256:" + h.hexdigest()[:16]


# --- files ----------------------------------------------------------------------------------
def _cfg_for(sae: SparseAutoencoder) -> dict:
    meta = dict(sae.metadata)
    meta["arch"] = sae.arch
    meta["sae_id"] = sae_identity(sae)
    scale = meta.get("feature_scale")
    if scale is not None:
        meta["feature_scale"] = [float(v) for v in (scale.tolist() if hasattr(scale, "tolist") else scale)]
    return {
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        "architecture": SAELENS_ARCH[sae.arch],
        "k": sae.k,
        "dtype": str(sae.W_dec.dtype).replace("torch.", ""),
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "metadata": meta,
    }


def save_sae(sae: SparseAutoencoder, path) -> None:
    """Write the SAELens folder atomically: a temp folder beside ``path``, then a rename."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it private; a saved SAE is ordinary user data
        tensors = {n: getattr(sae, n).detach().cpu().contiguous() for n in ("W_enc", "b_enc", "W_dec", "b_dec")}
        if sae.arch == "batchtopk":
            tensors["threshold"] = sae.threshold.detach().cpu().contiguous()
        save_file(tensors, str(tmp / WEIGHTS_FILE))
        (tmp / CFG_FILE).write_text(json.dumps(_cfg_for(sae), indent=1) + "\n")
        for f in (tmp / WEIGHTS_FILE, tmp / CFG_FILE):  # safetensors writes owner-only files
            os.chmod(f, 0o666 & ~current_umask())
        if path.exists():
            # Files kept beside the weights (metrics, labels, plots) survive a re-save.
            for extra in path.iterdir():
                if extra.is_file() and extra.name not in (WEIGHTS_FILE, CFG_FILE) and not extra.name.startswith("."):
                    shutil.copy2(extra, tmp / extra.name)
            # Directories cannot be replaced in one rename: move the old one aside first.
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "sae")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _arch_from_cfg(cfg: dict, cfg_path: Path) -> str:
    meta_arch = (cfg.get("metadata") or {}).get("arch")
    if meta_arch is not None:
        if meta_arch not in ARCHS:
            raise SAEFileError(f"{cfg_path}: unknown metadata.arch {meta_arch!r}")
        return meta_arch
    # A plain SAELens folder: map its architecture back to ours.
    by_saelens = {v: k for k, v in SAELENS_ARCH.items()}
    arch = cfg.get("architecture", "standard")
    if arch not in by_saelens:
        raise SAEFileError(f"{cfg_path}: unsupported architecture {arch!r}")
    return by_saelens[arch]


def load_sae(path, device=None) -> SparseAutoencoder:
    """Load an SAE folder; every defect raises SAEFileError naming the file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_dir():
        raise SAEFileError(f"SAE folder not found: {path}")
    cfg_path, w_path = path / CFG_FILE, path / WEIGHTS_FILE
    if not cfg_path.is_file():
        raise SAEFileError(f"SAE config missing: {cfg_path}")
    if not w_path.is_file():
        raise SAEFileError(f"SAE weights missing: {w_path}")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SAEFileError(f"SAE config is not valid JSON: {cfg_path} ({exc})") from None
    if not isinstance(cfg, dict):
        raise SAEFileError(f"SAE config is not a JSON object: {cfg_path}")
    try:
        d_in, d_sae = int(cfg["d_in"]), int(cfg["d_sae"])
    except (KeyError, TypeError, ValueError):
        raise SAEFileError(f"SAE config lacks integer d_in/d_sae: {cfg_path}") from None
    arch = _arch_from_cfg(cfg, cfg_path)
    k = cfg.get("k") or (cfg.get("metadata") or {}).get("k") or min(64, d_sae)
    metadata = dict(cfg.get("metadata") or {})
    try:
        sae = SparseAutoencoder(d_in, d_sae, arch=arch, k=int(k), metadata=metadata)
    except ValueError as exc:
        raise SAEFileError(f"{cfg_path}: {exc}") from None

    expected = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    if arch == "batchtopk":
        expected["threshold"] = (d_sae,)
    try:
        with safe_open(str(w_path), framework="pt") as f:
            keys = set(f.keys())
            missing = sorted(set(expected) - keys)
            if missing:
                raise SAEFileError(f"SAE weights lack tensor(s) {', '.join(missing)}: {w_path}")
            tensors = {name: f.get_tensor(name) for name in expected}
    except SAEFileError:
        raise
    except Exception as exc:  # safetensors raises its own error types for truncated headers/data
        raise SAEFileError(f"SAE weights unreadable (truncated or corrupt?): {w_path} ({exc})") from None
    for name, shape in expected.items():
        got = tuple(tensors[name].shape)
        if got != shape:
            raise SAEFileError(f"SAE tensor {name} has shape {got}, cfg.json says {shape}: {w_path}")
        if not torch.isfinite(tensors[name]).all():
            raise SAEFileError(f"SAE tensor {name} holds non-finite values: {w_path}")
    scale = metadata.get("feature_scale")
    if scale is not None:
        if not isinstance(scale, list) or len(scale) != d_sae:
            n = len(scale) if isinstance(scale, list) else type(scale).__name__
            raise SAEFileError(f"metadata.feature_scale has {n} entries, expected d_sae={d_sae}: {cfg_path}")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in scale):
            raise SAEFileError(f"metadata.feature_scale holds non-numeric or non-finite values: {cfg_path}")
    dtype = tensors["W_dec"].dtype
    if dtype in (torch.float16, torch.bfloat16) and (device is None or torch.device(device).type == "cpu"):
        dtype = torch.float32  # stored small (a shipped SAE), computed in float32 on the CPU
    sae = sae.to(dtype)
    with torch.no_grad():
        for name, t in tensors.items():
            getattr(sae, name).copy_(t)
    if device is not None:
        sae = sae.to(device)
    sae.labels, sae.effects = _read_labels(path / LABELS_FILE)
    return sae.eval()


def _read_labels(path: Path) -> tuple[dict[int, list[str]], dict[int, str]]:
    """labels.json's top prompts per feature, and the measured effect of the screened ones; ({}, {}) when
    absent. A broken file is reported and skipped: labels are a convenience, the weights are what matter."""
    if not path.is_file():
        return {}, {}
    try:
        feats = json.loads(path.read_text(encoding="utf-8"))["features"]
        return ({int(k): [str(t) for t in v["top"]] for k, v in feats.items()},
                {int(k): str(v["effect"]) for k, v in feats.items() if "effect" in v})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable SAE labels %s: %s", path, exc)
        return {}, {}
