"""The three forms of `--backend stable-audio-3 --model-id X`, and the one-time conversion of Stability's
stable-audio-tools checkpoints into a cached diffusers folder (the key mapping is in sa3_keys).

- a diffusers pipeline folder (model_index.json): used as it is;
- a stable-audio-tools checkpoint folder (model_config.json + model.safetensors): converted;
- a Hub id: a diffusers repo is used as it is; a stable-audio-tools repo (what Stability publishes:
  medium, medium-base, small-music, small-sfx) is downloaded and converted.

A conversion is written atomically into $LATENT_SYNTH_MODEL_CACHE (else $XDG_CACHE_HOME/latent-synth/sa3,
else ~/.cache/latent-synth/sa3) under a key of the checkpoint's config, path, size and mtime; later starts
load that folder directly.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from synth.atomic_io import atomic_dir
from synth.families import sa3_keys
from synth.families.loading import BackendError, looks_local
from synth.hf_quiet import quiet

CACHE_ENV = "LATENT_SYNTH_MODEL_CACHE"
CONVERTER_VERSION = 1  # bump when the mapping changes: old cache folders are then ignored
SOURCE_FILE = "latent_synth_source.json"  # in a converted folder: what it was made from, the encoder's identity
CONFIG, WEIGHTS = "model_config.json", "model.safetensors"
TEXT_ENCODER_HELP = ("accept the Gemma licence at https://huggingface.co/google/t5gemma-b-b-ul2 and run "
                     "`huggingface-cli login` (or put the checkpoint's own text encoder in it)")


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "latent-synth" / "sa3"


def resolve(model_id: str, help_text: str) -> str:
    """A diffusers pipeline folder or Hub id for `from_pretrained`, converting a checkpoint on first use."""
    local = Path(model_id).expanduser()
    if local.is_dir():
        if (local / "model_index.json").is_file():
            return str(local)
        missing = [name for name in (CONFIG, WEIGHTS) if not (local / name).is_file()]
        if missing:
            raise BackendError(f"{str(local)!r} is neither a diffusers folder (model_index.json) nor a stable-audio-tools "
                               f"checkpoint ({CONFIG} + {WEIGHTS}): {' and '.join(missing)} missing. {help_text}")
        return str(convert(local / CONFIG, local / WEIGHTS, help_text))
    if looks_local(model_id):
        raise BackendError(f"model folder {model_id!r} does not exist. {help_text}")
    return resolve_hub(model_id, help_text)


def encoder_source(model_id: str | None) -> str | None:
    """Where a text encoder loads from: a stable-audio-tools checkpoint folder becomes its converted
    diffusers folder (the T5Gemma inside it); anything else is passed on as it is."""
    if model_id is None:
        return None
    root = Path(model_id).expanduser()
    if (root / CONFIG).is_file() and not (root / "model_index.json").is_file():
        return resolve(str(root), "pass a Stable Audio 3 checkpoint or a T5Gemma model")
    return model_id


def resolve_hub(repo: str, help_text: str) -> str:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        hf_hub_download(repo, "model_index.json")
        return repo  # a diffusers repo: from_pretrained fetches the rest
    except (EntryNotFoundError, LocalEntryNotFoundError):
        pass  # not a diffusers repo, or offline: look for the published layout
    except Exception as exc:  # noqa: BLE001 (gated, unknown, network: all become one line)
        raise hub_error(repo, exc, help_text) from None
    try:
        config = hf_hub_download(repo, CONFIG)
        weights = hf_hub_download(repo, WEIGHTS)
    except Exception as exc:  # noqa: BLE001
        raise hub_error(repo, exc, help_text) from None
    return str(convert(Path(config), Path(weights), help_text))


def hub_error(repo: str, exc: Exception, help_text: str) -> BackendError:
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError)

    if isinstance(exc, GatedRepoError):
        why = "the repository is gated and this account has not accepted its licence (or is not logged in)"
    elif isinstance(exc, RepositoryNotFoundError):
        why = "no such repository on the Hub (or it is private)"
    elif isinstance(exc, EntryNotFoundError):
        why = f"it has neither model_index.json (diffusers) nor {CONFIG} + {WEIGHTS} (stable-audio-tools)"
    elif isinstance(exc, LocalEntryNotFoundError):
        why = "it is not in the local Hugging Face cache and the Hub cannot be reached (offline?)"
    else:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
    return BackendError(f"cannot load weights {repo!r}: {why}. {help_text}")


def cache_key(config_text: str, weights: Path) -> str:
    stat = weights.stat()
    ident = f"{CONVERTER_VERSION}\n{weights.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}\n{config_text}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def slug(path: Path) -> str:
    # Hub snapshots live in .../models--org--name/snapshots/<rev>/: name the folder after the repo.
    parts = [p for p in path.resolve().parts if p.startswith("models--")]
    name = parts[-1][len("models--"):] if parts else path.resolve().parent.name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "checkpoint"


def convert(config_path: Path, weights_path: Path, help_text: str = "") -> Path:
    """The converted diffusers folder for one checkpoint, made on first use."""
    try:
        config_text = config_path.read_text(encoding="utf-8")
        model_config = json.loads(config_text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackendError(f"cannot read {str(config_path)!r}: {exc}. {help_text}") from None
    target = cache_root() / f"{slug(weights_path)}-{cache_key(config_text, weights_path)}"
    if (target / "model_index.json").is_file():
        return target
    try:
        pipe, encoder_id = build_pipeline(model_config, load_weights(weights_path))
    except sa3_keys.CheckpointError as exc:
        raise BackendError(f"{str(weights_path.parent)!r} is not a Stable Audio 3 checkpoint this version reads: "
                           f"{exc}. {help_text}") from None
    with atomic_dir(target) as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
        (tmp / SOURCE_FILE).write_text(json.dumps({
            "converted_from": str(weights_path.resolve()), "objective": sa3_keys.objective(model_config),
            "encoder_id": encoder_id, "converter_version": CONVERTER_VERSION}, indent=2))
    return target


def converted_encoder_id(folder: str) -> str | None:
    """The text encoder's identity recorded by `convert` (None for a folder it did not write)."""
    path = Path(folder) / SOURCE_FILE
    return json.loads(path.read_text())["encoder_id"] if path.is_file() else None


def load_weights(path: Path) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001 (truncated or not a safetensors file)
        raise BackendError(f"cannot read {str(path)!r} as safetensors: {str(exc).splitlines()[0]}") from None


def load_into(module, weights: dict, what: str, computed: tuple[str, ...] = ()):
    """Load `weights`; every parameter must come from the checkpoint except buffers the module computes."""
    try:
        missing, _unused = module.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # a shape that disagrees with model_config.json
        detail = next((line.strip() for line in str(exc).splitlines() if "size mismatch" in line), str(exc).splitlines()[0])
        raise sa3_keys.CheckpointError(f"{what}: {detail}") from None
    missing = [k for k in missing if k not in computed]
    if missing:
        raise sa3_keys.CheckpointError(f"{what}: {len(missing)} weights missing from the checkpoint, e.g. {missing[0]}")
    return module


def build_pipeline(model_config: dict, sd: dict):
    """A StableAudio3Pipeline holding the checkpoint's weights, and its text encoder's identity."""
    import torch
    from diffusers import AutoencoderSAME, StableAudio3DiTModel, StableAudio3Pipeline
    from diffusers.pipelines.stable_audio_3.modeling_stable_audio_3 import StableAudio3DurationEmbedder


    parts = sa3_keys.to_diffusers(sd)
    configs = sa3_keys.component_configs(model_config, parts)
    dtype = parts["transformer"]["to_timestep_embed.0.weight"].dtype  # keep the checkpoint's precision on disk
    with quiet():
        vae = load_into(AutoencoderSAME(**configs["vae"]), parts["vae"], "autoencoder")
        dit = load_into(StableAudio3DiTModel(**configs["transformer"]), parts["transformer"], "DiT")
        duration = load_into(StableAudio3DurationEmbedder(**configs["duration_embedder"]), parts["duration_embedder"],
                             "duration embedder", computed=("freqs",))
        text_encoder, tokenizer, encoder_id = text_encoder_for(sa3_keys.text_encoder_name(model_config),
                                                               parts["text_encoder"])
    distilled = sa3_keys.objective(model_config) == "rf_denoiser"
    with torch.no_grad():
        modules = [m.to(dtype).eval() for m in (vae, dit, duration, text_encoder)]
    return StableAudio3Pipeline(vae=modules[0], transformer=modules[1], duration_embedder=modules[2],
                                text_encoder=modules[3], tokenizer=tokenizer,
                                scheduler=sa3_keys.scheduler(stochastic=distilled)), encoder_id


def text_encoder_for(name: str, weights: dict):
    """T5Gemma with the checkpoint's own weights where it carries them, else `name`'s."""
    from synth.encoder_ids import T5GEMMA_ID, TINY_T5GEMMA_ID

    if name == TINY_T5GEMMA_ID:  # our offline stand-in (bench/make_sa3_checkpoint.py): built, not downloaded
        from synth.encoders import tiny_t5gemma

        model, tokenizer = tiny_t5gemma()
        if weights:
            load_into(model, weights, "text encoder")
        return model, tokenizer, TINY_T5GEMMA_ID
    from transformers import AutoConfig, AutoTokenizer, T5GemmaEncoderModel

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        if weights:
            config = AutoConfig.from_pretrained(name)
            config.is_encoder_decoder = False
            model = load_into(T5GemmaEncoderModel(config), weights, "text encoder")
        else:
            model = T5GemmaEncoderModel.from_pretrained(name)
    except OSError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
        raise BackendError(f"cannot load the T5Gemma text encoder {name!r}: {first}. To fix: {TEXT_ENCODER_HELP}") from None
    return model, tokenizer, T5GEMMA_ID if name == sa3_keys.DEFAULT_TEXT_ENCODER else name
