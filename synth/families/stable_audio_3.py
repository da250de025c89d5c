"""Stable Audio 3 (`StableAudio3Pipeline`): T5Gemma -> DiT (rectified-flow velocity,
FlowMatchEuler on a log-SNR schedule) -> SAME autoencoder (hop 4096).

Backends:
- ``stable-audio-3``: the real weights; `stabilityai/stable-audio-3-medium` by default, and
  `stable-audio-3-small-music`, `stable-audio-3-small-sfx` or a local folder the same way;
- ``tiny-sa3``: tiny random weights built from configs; deterministic, offline, for CI. Noise;
- ``random-full-sa3``: full-size random weights for timing only. `--size medium` is the DiT at its
  class defaults plus SAME-L; `--size small` is an ESTIMATE of the 433M small DiT (1024 wide,
  16 deep) plus SAME-S, since the small checkpoints' configs are not public in diffusers.

What this family does differently from Stable Audio Open: no projection model; the text mask goes to
the DiT, which swaps padding for a learned embedding itself; one duration vector is both the global
(AdaLN) conditioning and an extra cross-attention token appended after the text; the unconditional
branch is the encoded empty prompt with its mask, not zeros; the noise is drawn for exactly the
clip's frames, as the pipeline does (so both windows are the same here); distilled checkpoints
re-noise at every step with fresh noise from each seed's own generator.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from diffusers.utils.torch_utils import randn_tensor

from synth.encoders import T5GEMMA_ID, T5GEMMA_MAX_LENGTH, TINY_T5_DIM, TINY_T5GEMMA_ID, TextEncoder
from synth.families import sa3_convert
from synth.families.sa3_keys import scheduler
from synth.families.base import Family, Inputs, StepNoise, pad_to_hop
from synth.families.loading import check_offload, cpu_has_fast_bf16, from_pretrained, resolve_dtype
from synth.families.specs import SAO_STEPS
from synth.hf_quiet import quiet

DEFAULT_MODEL_ID = "stabilityai/stable-audio-3-medium"
SAMPLE_RATE = 44100
LOGSNR_MIN, LOGSNR_MAX = -6.2, 2.0
MAX_SECONDS = {"medium": 380.0, "small": 120.0}
SMALL_ESTIMATE = ("stable-audio-3-small is an estimate: DiT 1024 wide x 16 deep (~437M) + SAME-S (~108M); "
                  "the small checkpoints' exact configs are not in diffusers")


def cpu_auto_dtype() -> torch.dtype:
    # bfloat16 where the CPU has bfloat16 matrix units, float32 elsewhere (docs/engine.md has the numbers).
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


GATED_HELP = (
    "Stable Audio 3 weights come from the Hugging Face Hub: accept the licence of "
    "stabilityai/stable-audio-3-medium (or -small-music / -small-sfx), run `huggingface-cli login` "
    "(or set HF_TOKEN), then run once online; or `huggingface-cli download stabilityai/stable-audio-3-medium "
    "--local-dir DIR` and pass --model-id DIR. Use --backend score to play offline (our own model), or "
    "--backend tiny-sa3 (noise)."
)


def logsnr_sigmas(steps: int) -> list[float]:
    from diffusers.pipelines.stable_audio_3.pipeline_stable_audio_3 import logsnr_sigma_schedule

    return logsnr_sigma_schedule(int(steps), LOGSNR_MIN, LOGSNR_MAX)


def wake_decoder(vae, std: float = 0.02) -> None:
    """SAME's decoder zero-initialises its attention and feed-forward output projections, so a randomly
    initialised decoder's output tokens never see the latents: every clip would decode to the same
    constant. Small random values there make random-weight stand-ins respond to what was denoised."""
    with torch.no_grad():
        for name, p in vae.decoder.named_parameters():
            if name.endswith(("to_out.weight", "proj_out.weight")) and not p.is_meta and not p.any():
                p.normal_(0.0, std)


def tiny_components(seed: int = 0) -> dict:
    """Tiny random-weight SA3 components with the real hop (4096) and sample rate."""
    from diffusers import AutoencoderSAME, StableAudio3DiTModel
    from diffusers.pipelines.stable_audio_3.modeling_stable_audio_3 import StableAudio3DurationEmbedder

    from synth.encoders import tiny_t5gemma

    text_encoder, tokenizer = tiny_t5gemma(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = StableAudio3DiTModel(io_channels=8, embed_dim=32, depth=2, num_heads=2,
                                           cond_token_dim=TINY_T5_DIM, global_cond_dim=TINY_T5_DIM,
                                           local_add_cond_dim=9, timestep_features_dim=16, num_memory_tokens=4)
        torch.manual_seed(seed + 1)
        # Plain attention: at random init, differential attention's two softmaxes all but cancel and the
        # decoder would ignore the latents.
        vae = AutoencoderSAME(patch_size=256, encoder_channels=16, encoder_c_mults=(1,), encoder_strides=(16,),
                              encoder_transformer_depths=(1,), latent_dim=8, dim_heads=8, ff_mult=1,
                              use_differential_attention=False, sampling_rate=SAMPLE_RATE)
        wake_decoder(vae, std=1.0)
        torch.manual_seed(seed + 2)
        duration = StableAudio3DurationEmbedder(output_dim=TINY_T5_DIM, fourier_dim=16)
    return {"vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "duration_embedder": duration,
            "transformer": transformer, "scheduler": scheduler()}


def full_components(size: str = "medium", init_device: str | torch.device | None = None) -> dict:
    """Full-size SA3 architecture with random weights (no download). `init_device="meta"` sizes it."""
    from diffusers import AutoencoderSAME, StableAudio3DiTModel
    from diffusers.pipelines.stable_audio_3.modeling_stable_audio_3 import StableAudio3DurationEmbedder
    from transformers import ByT5Tokenizer, T5GemmaConfig, T5GemmaEncoderModel
    from transformers.models.t5gemma.configuration_t5gemma import T5GemmaModuleConfig

    if size not in MAX_SECONDS:
        raise ValueError(f"unknown size {size!r} (use medium or small)")
    # t5gemma-b-b-ul2's encoder shape; a byte tokenizer stands in for its vocabulary (no download).
    tokenizer = ByT5Tokenizer(model_max_length=T5GEMMA_MAX_LENGTH)
    module = dict(vocab_size=256000, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                  num_attention_heads=12, num_key_value_heads=12, head_dim=64, query_pre_attn_scalar=64,
                  pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    ctx = torch.device(init_device) if init_device is not None else contextlib.nullcontext()
    with ctx:
        text_encoder = T5GemmaEncoderModel(T5GemmaConfig(
            encoder=T5GemmaModuleConfig(**module), decoder=T5GemmaModuleConfig(**module),
            vocab_size=256000, is_encoder_decoder=False))
        if size == "medium":
            transformer = StableAudio3DiTModel()
            vae = AutoencoderSAME(encoder_channels=256, encoder_transformer_depths=(12,))  # SAME-L
        else:
            transformer = StableAudio3DiTModel(embed_dim=1024, depth=16, num_heads=16)     # estimate
            vae = AutoencoderSAME()                                                          # SAME-S
        duration = StableAudio3DurationEmbedder(output_dim=768)
    wake_decoder(vae)
    return {"vae": vae, "text_encoder": text_encoder.eval(), "tokenizer": tokenizer, "duration_embedder": duration,
            "transformer": transformer, "scheduler": scheduler()}


@dataclass
class FlowPlan:
    """One render's sampling state: the sigmas on the device, the step reached, and (distilled checkpoints)
    the seeds' step noise (base.StepNoise: the same numbers the scheduler's own draw would give)."""
    sigmas: torch.Tensor
    stochastic: bool
    index: int = 0
    noise: StepNoise | None = None


class StableAudio3Family(Family):
    family = "stable-audio-3"
    continues_audio = True   # jam: the previous phrase's tail re-encoded with SAME
    full_differs = False  # the pipeline denoises exactly the clip's frames whichever the window

    def __init__(self, pipe, *, backend: str, model_id: str, device: torch.device, dtype: torch.dtype,
                 encoder_id: str, max_seconds: float, estimate: str | None = None):
        self.pipe = pipe
        hop = int(pipe.vae.downsampling_ratio)
        sr = int(pipe.vae.config.sampling_rate)
        max_length = min(int(getattr(pipe.tokenizer, "model_max_length", T5GEMMA_MAX_LENGTH)), T5GEMMA_MAX_LENGTH)
        encoder = TextEncoder(pipe.text_encoder, pipe.tokenizer, name=encoder_id, max_length=max_length,
                              device=device, dtype=dtype)
        # The spec's defaults are the distilled checkpoints'; base checkpoints sample as Stable Audio Open does.
        defaults = None if pipe.scheduler.config.stochastic_sampling else SAO_STEPS
        super().__init__(backend=backend, model_id=model_id, device=device, dtype=dtype, encoder=encoder,
                         encoder_id=encoder_id, sample_rate=sr, hop=hop,
                         max_frames=math.ceil(max_seconds * sr / hop), defaults=defaults,
                         max_seconds=max_seconds, estimate=estimate)
        self._empty = None

    def frames(self, seconds: float, window: str) -> int:
        # The SA3 pipeline denoises exactly the clip's frames; there is no fixed window to fill.
        super().frames(seconds, window)
        return max(1, math.ceil(seconds * self.sample_rate / self.hop))

    # ------------------------------------------------------------------ conditioning
    def context(self, hidden, mask, seconds) -> Inputs:
        device = self.pipe._execution_device
        hidden = hidden.to(device=device, dtype=self.dtype)
        mask = mask.to(device)
        seconds_t = torch.tensor([float(seconds)] * hidden.shape[0], dtype=torch.float32, device=device)
        duration = self.pipe.duration_embedder(seconds_t)                        # [B, D]: global AND a token
        return {"encoder_hidden_states": torch.cat([hidden, duration.unsqueeze(1).to(hidden.dtype)], dim=1),
                "encoder_attention_mask": torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1),
                "global_hidden_states": duration}

    def unconditional(self, cond: Inputs, seconds: float) -> Inputs:
        if self._empty is None:  # encode("") once per loaded model
            enc = self.encoder.encode([""])
            self._empty = (enc.hidden, enc.mask)
        batch = cond["encoder_hidden_states"].shape[0]
        hidden, mask = self._empty
        return self.context(hidden.expand(batch, -1, -1), mask.expand(batch, -1), seconds)

    # ------------------------------------------------------------------ sampling
    def schedule(self, steps: int):
        sched = type(self.pipe.scheduler).from_config(self.pipe.scheduler.config)
        sched.set_timesteps(sigmas=logsnr_sigmas(steps), device=self.pipe._execution_device)
        return FlowPlan(sched.sigmas.to(self.pipe._execution_device), bool(sched.config.stochastic_sampling)), \
            sched.timesteps

    def initial_latents(self, generators, frames: int) -> torch.Tensor:
        shape = (len(generators), int(self.pipe.vae.config.latent_dim), frames)
        return randn_tensor(shape, generator=list(generators), device=self.pipe._execution_device, dtype=self.dtype)

    def predict(self, scheduler, latents, t, inputs) -> torch.Tensor:
        return self.pipe.transformer(latents, t.expand(latents.shape[0]), return_dict=False, **inputs)[0]

    def step(self, plan, pred, t, latents, generators) -> torch.Tensor:
        # FlowMatchEulerDiscreteScheduler.step's arithmetic, operation for operation, minus its host work:
        # no timestep lookup (.item()), no blocking copy of the noise; see FlowPlan.
        i = plan.index
        sigma, sigma_next = plan.sigmas[i], plan.sigmas[i + 1]
        sample = latents.to(torch.float32)
        if plan.stochastic:
            if plan.noise is None:
                plan.noise = StepNoise(generators, latents.shape[1:], latents.device)
            prev = (1.0 - sigma_next) * (sample - sigma * pred) + sigma_next * plan.noise.draw()
        else:
            prev = sample + (sigma_next - sigma) * pred
        plan.index += 1
        return prev.to(pred.dtype)

    def decode(self, latents, seconds, decode_batch: int = 4) -> torch.Tensor:
        # The SAME decoder builds a dense band mask over its sequence: small batches. Clamped as the pipeline does.
        vae = self.pipe.vae
        return self.decode_in_batches(lambda x: vae.decode(x.to(vae.dtype)).sample.clamp(-1.0, 1.0), latents,
                                      seconds, decode_batch)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {k: getattr(self.pipe, k) for k in ("text_encoder", "duration_embedder", "transformer", "vae")}

    def pipeline_kwargs(self, seconds: float) -> dict:
        return {"duration": seconds}

    # ------------------------------------------------------------------ known content
    def begin_at(self, plan, index):
        plan.index = index  # our own step reads the plan's sigmas at its index (FlowPlan)

    def strength_sigma(self, strength):
        return float(strength)   # rectified flow: the strength is the noise share itself

    def noised(self, x0, noise, sigma):
        # Rectified flow: x = (1 - sigma) * x0 + sigma * noise (FlowMatchEulerDiscreteScheduler.scale_noise).
        return (1.0 - float(sigma)) * x0 + float(sigma) * noise

    @torch.inference_mode()
    def encode_audio(self, audio):
        vae = self.pipe.vae
        x = pad_to_hop(audio, self.hop).to(device=self.pipe._execution_device, dtype=vae.dtype)
        return vae.encode(x).latents.float()

    def known_inputs(self, clean, known):
        # The DiT's own inpainting input (StableAudio3InpaintPipeline's `local_add_cond`): per frame the
        # mask (1 = given) and the clean latent there, projected and added in every block. Checkpoints
        # trained for it continue from the context; in others `to_local_embed` is zero: a no-op.
        config = self.pipe.transformer.config
        if config.local_add_cond_dim != clean.shape[1] + 1 or config.patch_size > 1 or known <= 0:
            return {}
        mask = torch.zeros(clean.shape[0], 1, clean.shape[-1], device=clean.device, dtype=clean.dtype)
        mask[:, :, :known] = 1.0
        return {"local_add_cond": torch.cat([mask, clean * mask], dim=1).to(self.dtype)}


def load(backend: str, model_id: str | None, device: torch.device, dtype: str | None,
         cpu_offload: bool = False, size: str = "medium") -> StableAudio3Family:
    from diffusers import StableAudio3Pipeline

    if backend == "tiny-sa3":
        with quiet():
            pipe = StableAudio3Pipeline(**tiny_components())
        pipe.to(device)  # stays fp32: it exists for CPU tests
        family = StableAudio3Family(pipe, backend=backend, model_id=model_id or "tiny-sa3-random", device=device,
                                    dtype=torch.float32, encoder_id=TINY_T5GEMMA_ID, max_seconds=MAX_SECONDS["small"])
        family.threads = 1 if device.type == "cpu" else None
    elif backend == "random-full-sa3":
        dt = resolve_dtype(dtype, device, cpu_auto=cpu_auto_dtype())
        with quiet(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            pipe = StableAudio3Pipeline(**full_components(size, init_device=device))
            pipe.to(device, dt)
        family = StableAudio3Family(pipe, backend=backend, model_id=model_id or f"random-full-sa3-{size}",
                                    device=device, dtype=dt, encoder_id="random-full-t5gemma",
                                    max_seconds=MAX_SECONDS[size], estimate=SMALL_ESTIMATE if size == "small" else None)
    elif backend == "stable-audio-3":
        dt = resolve_dtype(dtype, device, cpu_auto=cpu_auto_dtype())
        check_offload(cpu_offload, device)
        name = model_id or DEFAULT_MODEL_ID
        source = sa3_convert.resolve(str(name), GATED_HELP)  # a stable-audio-tools checkpoint converts once
        pipe = from_pretrained(StableAudio3Pipeline, source, dt, GATED_HELP)
        if cpu_offload:
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        small = "small" in str(name).lower() or pipe.transformer.config.embed_dim < 1536
        family = StableAudio3Family(pipe, backend=backend, model_id=str(name), device=device, dtype=dt,
                                    encoder_id=sa3_convert.converted_encoder_id(source) or T5GEMMA_ID,
                                    max_seconds=MAX_SECONDS["small" if small else "medium"])
    else:
        raise ValueError(f"not a Stable Audio 3 backend: {backend!r}")
    pipe.set_progress_bar_config(disable=True)
    return family
