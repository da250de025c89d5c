"""SynthConfig: which model, where, and how clips are written, read from `synth.yaml`.

The packaged `synth/synth.yaml` holds the documented defaults; a user's file only needs the keys
it changes. CLI flags override config values (see `SynthConfig.override`).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from synth.backends import NAMES as BACKENDS
from synth.backends import SIZES
from synth.state import SynthState, StateError

WINDOWS = ("clip", "full")
WAV_SUBTYPES = ("FLOAT", "PCM_24")
DTYPES = ("auto", "float16", "bfloat16", "float32")


class ConfigError(ValueError):
    """A bad config value; the message names the field (and the file when there is one)."""


SDE_NOISES = ("auto", "tree", "steps")


@dataclass
class SynthConfig:
    backend: str = "tiny"
    model_id: str | None = None          # Hub id or local folder; None = the backend's default
    size: str = "medium"                  # random-full-sa3 only: medium | small (an estimate)
    device: str = "auto"                  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"                   # auto = fp16 on CUDA, fp32 on CPU
    cpu_offload: bool = False             # stable-audio(-3) only: diffusers model CPU offload
    compile: bool | None = None           # torch.compile the denoiser; None: serve on CUDA yes, else no
    quantize: str | None = None           # "int8": dynamic int8 Linear layers (CPU, float32 only)
    sde_noise: str = "auto"               # Stable Audio Open's SDE noise: auto | tree (diffusers') | steps
    soundfont: str | None = None          # score backend: a General MIDI .sf2; None = the first one installed
    sae: str | None = None                # SAE folder (cfg.json + sae_weights.safetensors)
    dit_sae: str | None = None            # SAE folder trained on the DiT's activations (`analysis dit-sae`)
    window: str = "clip"                  # clip = denoise only the frames needed; full = 1024 frames then crop
    wav_subtype: str = "FLOAT"            # FLOAT (32-bit float) | PCM_24
    normalize: bool = False               # peak-normalise each clip
    out_dir: str = "~/latent-synth/clips"  # where clips go when no --out is given
    contrasts: dict[str, list[str]] = field(default_factory=dict)  # name -> [positive, negative]
    default_state: dict[str, Any] = field(default_factory=dict)    # SynthState.from_dict input
    preview_steps: int | None = None      # auto-render preview steps; None = the backend's default, 0 = off
    refine_after: float = 0.5             # seconds of controller stillness before the full render

    def validate(self, source: str = "config") -> "SynthConfig":
        def bad(name: str, msg: str) -> ConfigError:
            return ConfigError(f"{source}: {name}: {msg}")

        if self.backend not in BACKENDS:
            raise bad("backend", f"{self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.size not in SIZES:
            raise bad("size", f"{self.size!r} is not one of {', '.join(SIZES)}")
        if self.sde_noise not in SDE_NOISES:
            raise bad("sde_noise", f"{self.sde_noise!r} is not one of {', '.join(SDE_NOISES)}")
        if self.quantize not in (None, "int8"):
            raise bad("quantize", f"{self.quantize!r} is not null or int8")
        if self.window not in WINDOWS:
            raise bad("window", f"{self.window!r} is not one of {', '.join(WINDOWS)}")
        if self.wav_subtype not in WAV_SUBTYPES:
            raise bad("wav_subtype", f"{self.wav_subtype!r} is not one of {', '.join(WAV_SUBTYPES)}")
        if self.dtype not in DTYPES:
            raise bad("dtype", f"{self.dtype!r} is not one of {', '.join(DTYPES)}")
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu", "cuda", "mps") or self.device.startswith("cuda:")
        ):
            raise bad("device", f"{self.device!r} is not auto, cpu, cuda, cuda:N or mps")
        if self.compile is not None and not isinstance(self.compile, bool):
            raise bad("compile", f"expected true, false or null, got {self.compile!r}")
        for name in ("cpu_offload", "normalize"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, f"expected true or false, got {getattr(self, name)!r}")
        for name in ("model_id", "sae", "dit_sae", "soundfont"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise bad(name, f"expected a non-empty string or null, got {value!r}")
        if not isinstance(self.out_dir, str) or not self.out_dir.strip():
            raise bad("out_dir", f"expected a folder path, got {self.out_dir!r}")
        if not isinstance(self.contrasts, Mapping):
            raise bad("contrasts", f"expected a mapping name -> [positive, negative], got {self.contrasts!r}")
        for cname, pair in self.contrasts.items():
            if (
                not isinstance(pair, (list, tuple))
                or len(pair) != 2
                or not all(isinstance(t, str) and t.strip() for t in pair)
            ):
                raise bad(f"contrasts.{cname}", f"expected [positive, negative] texts, got {pair!r}")
        if self.preview_steps is not None and (
            isinstance(self.preview_steps, bool) or not isinstance(self.preview_steps, int)
            or not 0 <= self.preview_steps <= 1000
        ):
            raise bad("preview_steps", f"expected null or an integer 0..1000, got {self.preview_steps!r}")
        if isinstance(self.refine_after, bool) or not isinstance(self.refine_after, (int, float)) or not (
            0.0 <= float(self.refine_after) <= 60.0
        ):
            raise bad("refine_after", f"expected seconds in [0, 60], got {self.refine_after!r}")
        if not isinstance(self.default_state, Mapping):
            raise bad("default_state", f"expected a mapping, got {self.default_state!r}")
        try:
            SynthState.from_dict(self.default_state)
        except StateError as exc:
            raise bad(f"default_state.{exc.field}", str(exc)) from None
        return self

    def state(self) -> SynthState:
        """The default SynthState this config describes (steps / cfg unset = the backend's defaults)."""
        return SynthState.from_dict(self.default_state)

    def contrast_defs(self) -> dict[str, tuple[str, str]]:
        """name -> (positive, negative), the form `synth.parameters.apply_numeric` takes."""
        return {k: (v[0], v[1]) for k, v in self.contrasts.items()}


    def override(self, **changes: Any) -> "SynthConfig":
        """A validated copy with the non-None `changes` applied (CLI flags left unset are None)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **changes).validate("flags")


def default_config_path() -> Path:
    return Path(str(resources.files("synth").joinpath("synth.yaml")))


def load_config(path: str | os.PathLike | None = None) -> SynthConfig:
    """Read a YAML config; keys it lacks take the packaged defaults. None = the packaged file."""
    base = _read(default_config_path())
    if path is not None:
        user = _read(Path(path))
        base.update(user)
        source = str(path)
    else:
        source = str(default_config_path())
    known = {f.name for f in dataclasses.fields(SynthConfig)}
    unknown = sorted(set(base) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return SynthConfig(**base).validate(source)


def _read(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data
