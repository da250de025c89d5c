"""The score model's folder: `model.safetensors` (DiT + projection weights + text heads), `config.json` (the latent
layout `version`, their architectures, the channel normalisation, how it was trained) and `MODEL_CARD.md`.
The package ships one at `synth/models/score/`; `analysis train-score-model` writes others."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from synth.score.layout import MAX_FRAMES, N_CHANNELS, VERSION
from synth.score.normalisation import Normalisation
from synth.score.text_heads import TextHead, heads_from_tensors

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "MODEL_CARD.md"
FORMAT = "latent-synth-score-model/1"
TIMING_MAX = 24
PACKAGED = Path(__file__).resolve().parents[1] / "models" / "score"


def architecture(width: int = 128, layers: int = 6, heads: int = 4, kv_heads: int = 2, cond_dim: int = 128,
                 text_dim: int = 384) -> dict:
    """The DiT and projection configs of a score model of the given size."""
    return {
        "transformer": dict(sample_size=MAX_FRAMES, in_channels=N_CHANNELS, num_layers=layers,
                            attention_head_dim=width // heads, num_attention_heads=heads,
                            num_key_value_attention_heads=kv_heads, out_channels=N_CHANNELS,
                            cross_attention_dim=cond_dim, time_proj_dim=64, global_states_input_dim=2 * cond_dim,
                            cross_attention_input_dim=cond_dim),
        # The timing tokens carry bpm / 10 (start) and the clip's seconds (end): both within 0..TIMING_MAX.
        "projection": dict(text_encoder_dim=text_dim, conditioning_dim=cond_dim, min_value=0, max_value=TIMING_MAX),
    }


def build(arch: dict, seed: int | None = None):
    """(StableAudioDiTModel, StableAudioProjectionModel) with fresh weights."""
    from diffusers import StableAudioDiTModel, StableAudioProjectionModel

    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return StableAudioDiTModel(**arch["transformer"]), StableAudioProjectionModel(**arch["projection"])


def save(folder, transformer, projection, config: dict, card: str, heads: dict[str, TextHead] | None = None) -> Path:
    """Write the folder's three files atomically (each one)."""
    from safetensors.torch import save_file

    from synth.atomic_io import atomic_path, atomic_write_text, current_umask

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"transformer.{k}": v.detach().to(torch.float16).contiguous().cpu()
               for k, v in transformer.state_dict().items()}
    tensors.update({f"projection.{k}": v.detach().to(torch.float16).contiguous().cpu()
                    for k, v in projection.state_dict().items()})
    for name, head in (heads or {}).items():
        tensors.update(head.tensors(name))  # float32: a few hundred numbers, and log2 bpm wants the precision
    with atomic_path(folder / WEIGHTS, suffix=".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
        os.chmod(tmp, 0o666 & ~current_umask())  # save_file recreates the file with private permissions
    # The weights were trained on this code's latent layout: record its version for the loader.
    atomic_write_text(folder / CONFIG, json.dumps({"format": FORMAT, "version": VERSION, **config}, indent=2) + "\n")
    atomic_write_text(folder / CARD, card)
    return folder


def load(folder=None, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
    """(transformer, projection, config, normalisation, text heads by name) from `folder` (default: the
    packaged model)."""
    from safetensors.torch import load_file

    from synth.hf_quiet import quiet

    folder = Path(folder).expanduser() if folder is not None else PACKAGED
    cfg_path, w_path = folder / CONFIG, folder / WEIGHTS
    if not cfg_path.is_file() or not w_path.is_file():
        raise FileNotFoundError(f"{str(folder)!r} is not a score model folder (needs {CONFIG} and {WEIGHTS}); "
                                "train one with `latent-synth analysis train-score-model`")
    config = json.loads(cfg_path.read_text())
    if config.get("format") != FORMAT:
        raise ValueError(f"{str(cfg_path)!r}: format {config.get('format')!r}, expected {FORMAT!r}")
    if config.get("version", 1) != VERSION:  # version 1 had no "version" key
        raise ValueError(f"{str(folder)!r} is a version {config.get('version', 1)} score model; this latent-synth reads "
                         f"version {VERSION} (synth/score/layout.py): retrain it with "
                         "`latent-synth analysis train-score-model`")
    transformer, projection = build(config["architecture"])
    state = load_file(str(w_path))
    for prefix, module in (("transformer.", transformer), ("projection.", projection)):
        part = {k[len(prefix):]: v.float() for k, v in state.items() if k.startswith(prefix)}
        module.load_state_dict(part, strict=True)
    with quiet():  # diffusers warns about casting with `to()` even where nothing is kept in float32
        transformer.to(device=device, dtype=dtype).eval()
        projection.to(device=device, dtype=dtype).eval()
    return transformer, projection, config, Normalisation.from_dict(config["normalisation"]), heads_from_tensors(state)
