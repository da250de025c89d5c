"""Stable Audio Open 1.0 (`StableAudioPipeline`): T5 -> projection model -> DiT (v-prediction,
CosineDPMSolver) -> Oobleck VAE.

Backends:
- ``stable-audio``: the real weights (Hub id or local folder);
- ``tiny``: the same classes from tiny random-weight configs; offline, seconds on a CPU. Its text
  encoder is `synth.encoders.tiny_t5()`. Its output is noise;
- ``random-full``: the full-size architecture with random weights, for GPU timing and memory.

What this family does differently from Stable Audio 3: text goes through the projection model and is
masked (twice, as the pipeline does); two timing tokens are appended; the global token comes from
start and end seconds; the unconditional branch is all zeros; the noise is drawn for the whole
1024-frame window and cropped, so a seed starts from the same noise at any clip length.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Sequence

import torch
from diffusers.models.embeddings import get_1d_rotary_pos_embed
from diffusers.utils.torch_utils import randn_tensor

from synth.encoders import DEFAULT_T5, TINY_ID, TextEncoder
from synth.families.base import Defaults, Family, Inputs, StepNoise, pad_to_hop
from synth.families.loading import check_offload, from_pretrained, resolve_dtype
from synth.hf_quiet import quiet

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
    "--model-id DIR. Use --backend score to play offline (our own model), or --backend tiny (noise)."
)


SIGMA_MIN, SIGMA_MAX = 0.3, 500.0  # the sampler's noise range (the score model trains over it too)


def scheduler():
    # Stable Audio Open's scheduler settings; they are also the class defaults.
    from diffusers import CosineDPMSolverMultistepScheduler

    return CosineDPMSolverMultistepScheduler(
        sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX, sigma_data=1.0, sigma_schedule="exponential",
        solver_order=2, prediction_type="v_prediction", rho=7.0,
        final_sigmas_type="zero", lower_order_final=True, euler_at_final=False,
    )


def tiny_components(seed: int = TINY_SEED) -> dict:
    """Tiny random-weight components with the real hop (2048), sample rate and 1024-frame window,
    so clip lengths and the `clip` / `full` windows behave as they do on the real model."""
    from diffusers import AutoencoderOobleck, StableAudioDiTModel, StableAudioProjectionModel
    from diffusers.models.autoencoders.autoencoder_oobleck import OobleckEncoder

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
        # The encoder gives a mean and a scale per latent channel, so an encoded clip is a latent the DiT
        # reads (variations, jam context). Built apart, after the decoder, so the decoder's weights
        # (and every tiny render) stay what they were.
        torch.manual_seed(seed + 3)
        vae.encoder = OobleckEncoder(encoder_hidden_size=2 * latent_channels, audio_channels=2,
                                     downsampling_ratios=[HOP], channel_multiples=[1])
        vae.encoder_hidden_size = 2 * latent_channels
        vae.register_to_config(encoder_hidden_size=2 * latent_channels)
        torch.manual_seed(seed + 2)
        projection_model = StableAudioProjectionModel(
            text_encoder_dim=TINY_T5_DIM, conditioning_dim=cond_dim, min_value=0, max_value=512,
        )
    return {
        "vae": vae, "text_encoder": text_encoder, "projection_model": projection_model,
        "tokenizer": tokenizer, "transformer": transformer, "scheduler": scheduler(),
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
    return {**models, "tokenizer": tokenizer, "scheduler": scheduler()}


# ------------------------------------------------------------------ conditioning (pure; score training runs it too)
def timing_states(projection, start_seconds, end_seconds, device=None):
    """(start, end) timing states from each clip's start and end values [B] (seconds for Stable Audio Open;
    the score family puts its tempo in the start token)."""
    secs = projection(start_seconds=torch.as_tensor(start_seconds, dtype=torch.float32).to(device),
                      end_seconds=torch.as_tensor(end_seconds, dtype=torch.float32).to(device))
    return secs.seconds_start_hidden_states, secs.seconds_end_hidden_states


def context_inputs(projection, hidden, mask, timing, device=None, dtype=None) -> Inputs:
    """One prompt branch's DiT inputs: projected text, masked (twice, as StableAudioPipeline.encode_prompt
    does), then the two timing tokens `timing` = (start, end) states; the global state is the timing pair."""
    start, end = timing
    text = projection(text_hidden_states=hidden.to(device=device, dtype=dtype)).text_hidden_states
    m = mask.to(device).unsqueeze(-1).to(text.dtype)
    text = text * m * m
    return {"encoder_hidden_states": torch.cat([text, start, end], dim=1),
            "global_hidden_states": torch.cat([start, end], dim=2)}


def unconditional_inputs(cond: Inputs) -> Inputs:
    # The pipeline's unconditional branch: zeros for every cross-attention token (timing ones too).
    return {"encoder_hidden_states": torch.zeros_like(cond["encoder_hidden_states"]),
            "global_hidden_states": cond["global_hidden_states"]}


def rotary_embedding(dim: int, frames: int, device=None) -> tuple:
    """The DiT's rotary position embedding for `frames` latent frames (+1 for the global token)."""
    rot = get_1d_rotary_pos_embed(dim, frames + 1, use_real=True, repeat_interleave_real=False)
    return tuple(r.to(device) for r in rot)


class StableAudioFamily(Family):
    family = "stable-audio"
    continues_audio = True   # jam: the previous phrase's tail re-encoded with the VAE

    def __init__(self, pipe, *, backend: str, model_id: str, device: torch.device, dtype: torch.dtype,
                 encoder_id: str, defaults: Defaults | None = None, threads: int | None = None,
                 encoder: TextEncoder | None = None, sample_rate: int | None = None, hop: int | None = None):
        """`pipe` is a StableAudioPipeline, or any object with its transformer, projection_model, scheduler,
        rotary_embed_dim and _execution_device; a pipe without a VAE (the score model) passes `encoder`,
        `sample_rate` and `hop` itself."""
        self.pipe = pipe
        # With CPU offload the text encoder (T5-base, ~0.2 GB in fp16) simply stays on the GPU: its
        # outputs must live on the execution device, and the DiT and VAE are what offload saves.
        if encoder is None:
            encoder = TextEncoder(pipe.text_encoder, pipe.tokenizer, name=encoder_id,
                                  max_length=int(pipe.tokenizer.model_max_length), device=device, dtype=dtype)
        super().__init__(backend=backend, model_id=model_id, device=device, dtype=dtype, encoder=encoder,
                         encoder_id=encoder_id,
                         sample_rate=sample_rate if sample_rate is not None else int(pipe.vae.config.sampling_rate),
                         hop=hop if hop is not None else int(pipe.vae.hop_length),
                         max_frames=int(pipe.transformer.config.sample_size), defaults=defaults, threads=threads)
        self._rotary: dict[int, tuple] = {}
        # The SDE sampler's noise: "tree" = torchsde's Brownian tree on the CPU, bit for bit diffusers';
        # "steps" = fresh N(0, 1) per step from each seed's generator (base.StepNoise), the same statistics
        # without the tree's host work. The GPU gets "steps"; the CPU keeps diffusers' samples.
        self.sde_noise = "steps" if device.type == "cuda" else "tree"

    # ------------------------------------------------------------------ conditioning
    def _timing(self, batch: int, seconds: float):
        return timing_states(self.pipe.projection_model, [0.0] * batch, [float(seconds)] * batch,
                             self.pipe._execution_device)

    def context(self, hidden, mask, seconds) -> Inputs:
        return context_inputs(self.pipe.projection_model, hidden, mask, self._timing(hidden.shape[0], seconds),
                              self.pipe._execution_device,
                              self.pipe.transformer.dtype)

    def unconditional(self, cond: Inputs, seconds: float) -> Inputs:
        return unconditional_inputs(cond)

    # ------------------------------------------------------------------ sampling
    def schedule(self, steps: int):
        # A private copy: the pipeline's own scheduler keeps per-run state.
        sched = type(self.pipe.scheduler).from_config(self.pipe.scheduler.config)
        sched.set_timesteps(int(steps), device=self.pipe._execution_device)
        return sched, sched.timesteps

    def initial_latents(self, generators, frames: int) -> torch.Tensor:
        # Draw the full window's noise and crop it: a seed starts from the same noise whatever the
        # window or clip length, so `clip` and `full` (and a longer or shorter clip) stay comparable.
        cfg = self.pipe.transformer.config
        latents = randn_tensor((len(generators), cfg.in_channels, int(cfg.sample_size)), generator=list(generators),
                               device=self.pipe._execution_device, dtype=self.pipe.transformer.dtype)
        if frames < latents.shape[-1]:
            latents = latents[:, :, :frames].contiguous()
        return latents * self.pipe.scheduler.init_noise_sigma

    def _rotary_for(self, frames: int):
        if frames not in self._rotary:  # once per length, not every step
            self._rotary[frames] = rotary_embedding(self.pipe.rotary_embed_dim, frames, self.pipe._execution_device)
        return self._rotary[frames]

    def predict(self, scheduler, latents, t, inputs) -> torch.Tensor:
        model_in = scheduler.scale_model_input(latents, t)
        return self.pipe.transformer(
            model_in, t.unsqueeze(0), encoder_hidden_states=inputs["encoder_hidden_states"],
            global_hidden_states=inputs["global_hidden_states"],
            rotary_embedding=self._rotary_for(latents.shape[-1]), return_dict=False,
        )[0]

    def step(self, scheduler, pred, t, latents, generators) -> torch.Tensor:
        if self.sde_noise == "steps" and getattr(scheduler, "noise_sampler", False) is None:
            scheduler.noise_sampler = StepNoise(generators, latents.shape[1:], latents.device)
        with warnings.catch_warnings():
            # torchsde warns whenever float32 rounding puts a query a hair outside
            # [sigma_min, sigma_max]; harmless (it clamps), and it would flood the daemon's log.
            warnings.filterwarnings("ignore", message=r"Should have (ta|tb)", category=UserWarning)
            return scheduler.step(pred, t, latents, generator=list(generators)).prev_sample

    def decode(self, latents, seconds, decode_batch: int = 8) -> torch.Tensor:
        return self.decode_in_batches(lambda x: self.pipe.vae.decode(x).sample, latents, seconds, decode_batch)

    # ------------------------------------------------------------------ known content
    def noised(self, x0, noise, sigma):
        # The cosine DPM-solver works in EDM form: x = x0 + sigma * noise.
        return x0 + float(sigma) * noise

    def strength_sigma(self, strength):
        # The EDM level of rectified-flow time s: (1 - s) x0 + s n is (x0 + s / (1 - s) n) scaled.
        return float("inf") if strength >= 1.0 else float(strength) / (1.0 - float(strength))

    @torch.inference_mode()
    def encode_audio(self, audio):
        vae = self.pipe.vae
        x = pad_to_hop(audio, self.hop).to(device=self.pipe._execution_device, dtype=vae.dtype)
        return vae.encode(x).latent_dist.mode().float()  # the posterior's mean: no extra randomness

    def modules(self) -> dict[str, torch.nn.Module]:
        return {k: getattr(self.pipe, k) for k in ("text_encoder", "projection_model", "transformer", "vae")}

    def pipeline_kwargs(self, seconds: float) -> dict:
        return {"audio_end_in_s": seconds}


def load(backend: str, model_id: str | None, device: torch.device, dtype: str | None,
         cpu_offload: bool = False) -> StableAudioFamily:
    from diffusers import StableAudioPipeline

    dt = resolve_dtype(dtype, device)
    if backend == "tiny":
        with quiet():
            pipe = StableAudioPipeline(**tiny_components())
        pipe.to(device)  # the tiny model stays fp32: it exists for CPU tests
        family = StableAudioFamily(pipe, backend=backend, model_id=model_id or "tiny-random", device=device,
                                   dtype=torch.float32, encoder_id=TINY_ID,
                                   threads=1 if device.type == "cpu" else None)
    elif backend == "random-full":
        with quiet(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            pipe = StableAudioPipeline(**full_components(init_device=device))
            pipe.to(device, dt)
        family = StableAudioFamily(pipe, backend=backend, model_id=model_id or "random-full", device=device,
                                   dtype=dt, encoder_id="random-full-t5")
    elif backend == "stable-audio":
        check_offload(cpu_offload, device)
        name = model_id or DEFAULT_MODEL_ID
        pipe = from_pretrained(StableAudioPipeline, name, dt, GATED_HELP)
        if cpu_offload:
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        # Stable Audio Open's text encoder is T5-base: SAEs trained with `analysis encode --encoder t5` match.
        family = StableAudioFamily(pipe, backend=backend, model_id=str(name), device=device, dtype=dt,
                                   encoder_id=DEFAULT_T5)
    else:
        raise ValueError(f"not a Stable Audio Open backend: {backend!r}")
    pipe.set_progress_bar_config(disable=True)
    return family
