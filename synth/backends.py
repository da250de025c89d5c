"""Build a `StableAudioPipeline` for one of three backends.

- ``stable-audio``: the real Stable Audio Open 1.0 weights (Hub id or local folder).
- ``tiny``: the same pipeline class from tiny random-weight configs; offline, seconds on a CPU.
  Its text encoder is `synth.encoders.tiny_t5()`. Its output is noise.
- ``random-full``: the full-size architecture with random weights from the class-default configs,
  for GPU timing and memory; never for music.
"""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "stabilityai/stable-audio-open-1.0"
SAMPLE_RATE = 44100
HOP = 2048              # Oobleck VAE: downsampling_ratios [2, 4, 4, 8, 8]
LATENT_FRAMES = 1024    # DiT sample_size: 1024 * 2048 / 44100 = 47.55 s
TINY_SEED = 0

GATED_HELP = (
    "Stable Audio Open 1.0 is gated on the Hugging Face Hub: accept its licence at "
    "https://huggingface.co/stabilityai/stable-audio-open-1.0, run `huggingface-cli login` "
    "(or set HF_TOKEN), then run once online to download it; or download the repository "
    "(`huggingface-cli download stabilityai/stable-audio-open-1.0 --local-dir DIR`) and pass "
    "--model-id DIR. Use --backend tiny to try the instrument offline (its output is noise)."
)


class BackendError(OSError):
    """The model could not be loaded; the message says why and what to do."""


@dataclass
class Backend:
    pipe: object            # diffusers.StableAudioPipeline
    model_id: str
    device: torch.device
    dtype: torch.dtype
    offload: bool = False

    @property
    def sample_rate(self) -> int:
        return int(self.pipe.vae.config.sampling_rate)


def resolve_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"device {device!r} asked for, but no CUDA GPU is available (use --device cpu)")
    return dev


def resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    if dtype in (None, "auto"):
        return torch.float16 if device.type == "cuda" else torch.float32
    table = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
    if dtype not in table:
        raise ValueError(f"unknown dtype {dtype!r} (use auto, float16, bfloat16 or float32)")
    return table[dtype]


def _scheduler():
    # Stable Audio Open's scheduler settings; they are also the class defaults.
    from diffusers import CosineDPMSolverMultistepScheduler

    return CosineDPMSolverMultistepScheduler(
        sigma_min=0.3, sigma_max=500.0, sigma_data=1.0, sigma_schedule="exponential",
        solver_order=2, prediction_type="v_prediction", rho=7.0,
        final_sigmas_type="zero", lower_order_final=True, euler_at_final=False,
    )


def tiny_components(seed: int = TINY_SEED) -> dict:
    """Tiny random-weight components with the real hop (2048), sample rate and 1024-frame window,
    so clip lengths and the `clip` / `full` windows behave as they do on the real model."""
    from diffusers import AutoencoderOobleck, StableAudioDiTModel, StableAudioProjectionModel

    from synth.encoders import TINY_T5_DIM, tiny_t5

    text_encoder, tokenizer = tiny_t5(seed)
    cond_dim = 16
    latent_channels = 8
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = StableAudioDiTModel(
            sample_size=LATENT_FRAMES, in_channels=latent_channels, num_layers=2,
            attention_head_dim=8, num_attention_heads=2, num_key_value_attention_heads=1,
            out_channels=latent_channels, cross_attention_dim=16, time_proj_dim=16,
            global_states_input_dim=2 * cond_dim, cross_attention_input_dim=cond_dim,
        )
        torch.manual_seed(seed + 1)
        vae = AutoencoderOobleck(
            # One 2048x upsampling block: the real hop at a fraction of the decoding cost.
            encoder_hidden_size=2, downsampling_ratios=[HOP], channel_multiples=[1],
            decoder_channels=1, decoder_input_channels=latent_channels, audio_channels=2,
            sampling_rate=SAMPLE_RATE,
        )
        with torch.no_grad():
            # A unit-norm 4096-tap upsampling filter makes each output sample ~1/60 of a latent value:
            # DC from the biases would swamp it. Gain 10 gives audible, zero-crossing noise that
            # peaks below full scale.
            vae.decoder.block[0].conv_t1.weight_g.fill_(10.0)
        torch.manual_seed(seed + 2)
        projection_model = StableAudioProjectionModel(
            text_encoder_dim=TINY_T5_DIM, conditioning_dim=cond_dim, min_value=0, max_value=512,
        )
    return {
        "vae": vae, "text_encoder": text_encoder, "projection_model": projection_model,
        "tokenizer": tokenizer, "transformer": transformer, "scheduler": _scheduler(),
    }


def full_components(init_device: str | torch.device | None = None) -> dict:
    """Full-size Stable Audio Open 1.0 architecture, random weights, built from class defaults.

    `init_device` builds the weights straight on that device (a GPU, or "meta" to size the model
    without allocating it)."""
    from diffusers import AutoencoderOobleck, StableAudioDiTModel, StableAudioProjectionModel
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    # T5-base shape; a byte tokenizer stands in for T5's sentencepiece vocabulary (no download).
    tokenizer = ByT5Tokenizer(model_max_length=128)
    ctx = torch.device(init_device) if init_device is not None else contextlib.nullcontext()
    with ctx:
        t5 = T5EncoderModel(T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12,
                                     num_heads=12, feed_forward_proj="relu"))
        models = {
            "vae": AutoencoderOobleck(),
            "text_encoder": t5,
            "projection_model": StableAudioProjectionModel(text_encoder_dim=768, conditioning_dim=768,
                                                           min_value=0, max_value=512),
            "transformer": StableAudioDiTModel(),
        }
    return {**models, "tokenizer": tokenizer, "scheduler": _scheduler()}


def load_backend(backend: str, model_id: str | None = None, device: str | None = "auto",
                 dtype: str | None = "auto", cpu_offload: bool = False) -> Backend:
    from diffusers import StableAudioPipeline

    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    if backend == "tiny":
        with _quiet():
            pipe = StableAudioPipeline(**tiny_components())
        # The tiny model stays fp32: its purpose is CPU tests, and fp16 adds nothing at this size.
        dt = torch.float32
        pipe.to(dev)
        name = model_id or "tiny-random"
    elif backend == "random-full":
        with _quiet(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            pipe = StableAudioPipeline(**full_components(init_device=dev))
            pipe.to(dev, dt)
        name = model_id or "random-full"
    elif backend == "stable-audio":
        name = model_id or DEFAULT_MODEL_ID
        if cpu_offload:
            if dev.type != "cuda":
                raise BackendError("cpu_offload needs a CUDA GPU")
            try:
                import accelerate  # noqa: F401  (diffusers' offload hooks live there)
            except ImportError:
                raise BackendError("cpu_offload needs the 'accelerate' package: pip install accelerate") from None
        pipe = _from_pretrained(StableAudioPipeline, name, dt)
        if cpu_offload:
            pipe.enable_model_cpu_offload(device=dev)
        else:
            pipe.to(dev)
    else:
        raise ValueError(f"unknown backend {backend!r} (use tiny, stable-audio or random-full)")
    pipe.set_progress_bar_config(disable=True)
    return Backend(pipe=pipe, model_id=str(name), device=dev, dtype=dt, offload=bool(cpu_offload))


@contextlib.contextmanager
def _quiet():
    """Silence construction-time deprecation chatter from diffusers (weight_norm, dtype casts)."""
    from diffusers.utils import logging as dlog

    level = dlog.get_verbosity()
    dlog.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        dlog.set_verbosity(level)


def _from_pretrained(cls, name: str, dtype: torch.dtype):
    local = Path(name).expanduser()
    looks_local = name.startswith((".", "/", "~")) or os.sep in name.strip("/").replace("/", "", 1) or local.exists()
    if looks_local and not local.exists():
        raise BackendError(f"model folder {name!r} does not exist. {GATED_HELP}")
    if local.exists() and not (local / "model_index.json").is_file():
        raise BackendError(f"{str(local)!r} is not a diffusers pipeline folder (no model_index.json). {GATED_HELP}")
    source = str(local) if local.exists() else name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch_dtype -> dtype rename in newer diffusers
            return cls.from_pretrained(source, torch_dtype=dtype)
    except (OSError, ValueError, EnvironmentError) as exc:
        first = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (HF_HUB_OFFLINE=1 is set, so nothing is downloaded)" if offline else ""
        raise BackendError(f"cannot load Stable Audio weights {name!r}{hint}: {first}. {GATED_HELP}") from None
