"""Our own score model (backend ``score``): the Stable Audio Open architecture, small, over a symbolic
latent, played through a General MIDI SoundFont.

MiniLM token states -> StableAudioProjectionModel -> StableAudioDiTModel (v-prediction,
CosineDPMSolverMultistepScheduler, exactly as Stable Audio Open) -> control curves (the channel layout
in `synth.score.layout`) -> a Score -> FluidSynth. It subclasses `StableAudioFamily`, so prompt mixing,
SAE and contrast steering, guidance modes and the clip window run on it through the same hooks; only
the decoder differs. Everything measured on it is a property of this model, not of Stable Audio.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from synth.encoders import MINILM_ID, load_encoder
from synth.families.base import Defaults
from synth.families.loading import BackendError, resolve_dtype
from synth.families.stable_audio import StableAudioFamily, scheduler
from synth.score import model_files
from synth.score.curves import curves_to_score, score_to_curves
from synth.score.layout import HOP, SAMPLE_RATE
from synth.score.midi import score_to_midi
from synth.score.soundfont import SoundFontError
from synth.score.summary import summary

SAE_DIR = Path(__file__).resolve().parents[1] / "models" / "minilm_sae"
# Measured (docs/score_model.md): 12 steps at cfg 2 keep the held-out scores of 20 steps at cfg 2-7 and
# render a 5 s clip in 0.37 s on this CPU; higher cfg pushes the tempo past its trained range.
DEFAULTS = Defaults(steps=12, cfg=2.0, preview_steps=6)


@dataclass
class ScoreModules:
    """What StableAudioFamily reads from a pipeline, without its VAE and text encoder."""
    transformer: torch.nn.Module
    projection_model: torch.nn.Module
    scheduler: object
    _execution_device: torch.device

    @property
    def rotary_embed_dim(self) -> int:
        return self.transformer.config.attention_head_dim // 2


class ScoreFamily(StableAudioFamily):
    family = "score"
    writes_score = True

    def __init__(self, modules: ScoreModules, normalisation, renderer, *, model_id: str, device: torch.device,
                 dtype: torch.dtype, encoder, defaults: Defaults = DEFAULTS, threads: int | None = None):
        super().__init__(modules, backend="score", model_id=model_id, device=device, dtype=dtype,
                         encoder_id=encoder.name, defaults=defaults, threads=threads, encoder=encoder,
                         sample_rate=SAMPLE_RATE, hop=HOP)
        self.normalisation = normalisation
        self.renderer = renderer

    def scores(self, latents: torch.Tensor, seconds: float):
        """Latents [B, C, L] (normalised curves) -> one Score per clip, from the frames inside `seconds`."""
        frames = min(latents.shape[-1], self.frames(seconds, "clip"))
        raw = latents[:, :, :frames].float().cpu().numpy()
        return [curves_to_score(self.normalisation.denormalise(x)) for x in raw]

    def decode_detailed(self, latents, seconds):
        audio, extras = [], []
        for score in self.scores(latents, seconds):
            audio.append(torch.from_numpy(self.renderer.render(score, seconds)))
            end_beat = seconds / score.seconds_per_beat
            extras.append({"score": summary(score, end_beat), "midi": score_to_midi(score, end_beat=end_beat)})
        return torch.stack(audio), extras

    def decode(self, latents, seconds):
        return self.decode_detailed(latents, seconds)[0]

    def encode_score(self, score, frames: int) -> torch.Tensor:
        """A Score -> its exact latent [1, C, frames] (normalised curves), the inverse of `scores`."""
        raw = score_to_curves(score, frames)
        return torch.from_numpy(self.normalisation.normalise(raw)).float().unsqueeze(0)

    def encode_audio(self, audio):
        raise NotImplementedError("the score backend's latent is a score: give it a .mid file, not audio")

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"text_encoder": self.encoder.model, "projection_model": self.pipe.projection_model,
                "transformer": self.pipe.transformer}

    def bundled_sae(self):
        """(sae, sae_id) of the MiniLM SAE shipped at synth/models/minilm_sae/, or (None, None)."""
        if not (SAE_DIR / "cfg.json").is_file():
            return None, None
        from synth.sae import load_sae

        return load_sae(str(SAE_DIR), device=str(self.device)), "minilm_sae (bundled)"


def load(backend: str, model_id: str | None, device: torch.device, dtype: str | None, cpu_offload: bool = False,
         soundfont: str | None = None) -> ScoreFamily:
    if backend != "score":
        raise ValueError(f"not the score backend: {backend!r}")
    if cpu_offload:
        raise BackendError("cpu_offload is for the Stable Audio backends; the score model is small")
    from synth.score.fluid import FluidRenderer

    try:
        renderer = FluidRenderer(soundfont)
    except SoundFontError as exc:
        raise BackendError(str(exc)) from None
    dt = resolve_dtype(dtype, device, cpu_auto=torch.float32)
    if device.type == "cpu":
        dt = torch.float32  # CPUs have no fast half-precision kernels; the model is small
    try:
        transformer, projection, config, norm = model_files.load(model_id, device=device, dtype=dt)
    except (FileNotFoundError, ValueError) as exc:
        raise BackendError(str(exc)) from None
    encoder = load_encoder("minilm", device=str(device))
    if config.get("encoder", MINILM_ID) != encoder.name:
        raise BackendError(f"score model {model_id!r} was trained on {config.get('encoder')} states, "
                           f"not {encoder.name}")
    modules = ScoreModules(transformer, projection, scheduler(), device)
    # One CPU thread: its batches are a few hundred frames, where a second thread costs more in
    # synchronisation than it gains (and far more on a CPU shared with other jobs).
    return ScoreFamily(modules, norm, renderer, model_id=str(model_id or model_files.PACKAGED), device=device,
                       dtype=dt, encoder=encoder, threads=1 if device.type == "cpu" else None)
