"""Our own score model (backend ``score``): the Stable Audio Open architecture, small, over a symbolic
latent, played through a General MIDI SoundFont.

MiniLM token states -> StableAudioProjectionModel -> StableAudioDiTModel (v-prediction,
CosineDPMSolverMultistepScheduler, exactly as Stable Audio Open) -> control curves (the channel layout
in `synth.score.layout`) -> a Score -> FluidSynth. It subclasses `StableAudioFamily`, so prompt mixing,
SAE and contrast steering, guidance modes and the clip window run on it through the same hooks; only
the decoder differs. Everything measured on it is a property of this model, not of Stable Audio.

The latent is in musical time (a frame is a 16th note, `synth.score.layout` version 3), so each clip is
played at a tempo chosen before denoising, in this order: an explicit bpm (the state's), else a number
its prompts state ("92 bpm"; both arrive as `Conditioning.bpm`), else the model's tempo head reading
the text's tempo words (`synth.score.text_heads`). The tempo is also the model's start-seconds token
(bpm / 10, clamped to the trained range), so it writes for the tempo it will be played at.

Whether drums play, and whether the clip holds its notes (pads, drones, held chords), are also read from
the text (the drums and held heads), so a prompt keeps or lacks them from seed to seed: the seed varies
the notes and the groove, not the arrangement. Without a drums head (or for latents decoded outside a
render) the curves decide the drums; without a held head notes are read as written.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from synth.conditioning import normalized_weights
from synth.encoders import MINILM_ID, load_encoder
from synth.families.base import Decoded, Defaults
from synth.families.loading import BackendError, resolve_dtype
from synth.families.stable_audio import timing_states, StableAudioFamily, scheduler
from synth.score import model_files
from synth.score.arrangement_words import SETTLES_KIT, arrangement_of
from synth.score.caption_plan import Plan, bpm_within, contrast_moves, follow, read_plan, release
from synth.score.curves import curves_to_score, score_to_curves
from synth.score import layout as L
from synth.score.layout import HOP, SAMPLE_RATE
from synth.score.soundfont import SoundFontError
from synth.score.summary import summary
from synth.score.text_heads import TextHead, bpm_from_log2, drums_from_logit, held_from_logit

SAE_DIR = Path(__file__).resolve().parents[1] / "models" / "minilm_sae"
DIT_SAE_DIR = Path(__file__).resolve().parents[1] / "models" / "score_dit_sae"
log = logging.getLogger(__name__)


# The tempo head's move (log2 bpm) at which steering takes the tempo from the words: 0.1 is 7%, about the
# smallest change a player hears as another tempo (7 bpm at 100).
TEMPO_MOVE = 0.1


def per_clip(values: list, batch: int) -> list:
    """One value per clip: the batch's own, or its first for every clip (one conditioning, many seeds)."""
    return values if len(values) == batch else [values[0]] * batch


def _source(plan: Plan, attribute: str, fixed) -> str:
    """Where a clip's attribute came from: the words, the steering that took it from them, or the model."""
    return "steering" if attribute in plan.steered else "words" if fixed is not None else "model"


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
    continues_audio = False  # jam: the score latent is exact, the previous phrase's own frames

    def __init__(self, modules: ScoreModules, normalisation, renderer, *, model_id: str, device: torch.device,
                 dtype: torch.dtype, encoder, defaults: Defaults | None = None, threads: int | None = None,
                 heads: dict[str, TextHead] | None = None):
        super().__init__(modules, backend="score", model_id=model_id, device=device, dtype=dtype,
                         encoder_id=encoder.name, defaults=defaults, threads=threads, encoder=encoder,
                         sample_rate=SAMPLE_RATE, hop=HOP)
        # The latent holds MAX_FRAMES 16ths: the longest clip is that many at the slowest trained tempo; at a
        # given tempo `check_seconds` (on the bound family) holds it to the 16ths themselves.
        self.max_seconds = L.beats_in(L.MAX_FRAMES) * 60.0 / L.BPM_RANGE[0]
        self.normalisation = normalisation
        self.renderer = renderer
        self.heads = dict(heads or {})
        self.tempi: list[float] | None = None     # set on the copy `for_batch` returns: one bpm per clip
        self.tempo_sources: list[str] | None = None
        self.drums: list[bool | None] | None = None  # likewise: drums on / off per clip (None: the curves say)
        self.drum_sources: list[str] | None = None   # likewise: "words", "text" (the drums head) or "model"
        self.held: list[bool] | None = None          # likewise: held notes per clip
        self.plans: list[Plan] | None = None         # likewise: what each clip's words fix (empty: nothing)
        # Our own model has no diffusers samples to match bit for bit, and the Brownian tree's host work
        # is a third of a 5 s render on the CPU: fresh per-step noise, the same statistics.
        self.sde_noise = "steps"

    # ------------------------------------------------------------------ tempo
    def for_batch(self, conds) -> "ScoreFamily":
        bound = copy.copy(self)
        bound.tempi, bound.tempo_sources = [], []
        bound.plans = [self.plan(c) for c in conds]
        for c, plan in zip(conds, bound.plans):
            if c.bpm is not None:
                bound.tempi.append(float(c.bpm))
                bound.tempo_sources.append("set")
            elif plan.tempo is not None:
                bound.tempi.append(bpm_within(self.predicted_bpm(c), plan))
                bound.tempo_sources.append("words")
            else:
                bound.tempi.append(self.predicted_bpm(c))
                bound.tempo_sources.append("steering" if "tempo" in plan.steered else
                                           "model" if "tempo" in self.heads else "default")
        bound.drums = [plan.drums if plan.drums is not None else self.drums_wanted(c) for c, plan in zip(conds, bound.plans)]
        bound.drum_sources = [("set" if plan.set_arrangement and plan.arrangement in SETTLES_KIT else
                               "words" if plan.drums is not None else "steering" if "drums" in plan.steered else
                               "text" if on is not None else "model")
                              for plan, on in zip(bound.plans, bound.drums)]
        bound.held = [self.held_wanted(c) for c in conds]
        return bound

    def words_plan(self, cond) -> Plan:
        """What the prompt's words fix (`synth.score.caption_plan`), less what the steering moves: what a
        contrast's poles' words fix differently; the tempo where any steering moves the tempo head by
        `TEMPO_MOVE`, the drums where it turns the drums head's decision; loudness and register under SAE
        sliders, the text SAE's or the DiT SAE's (no head reads them, and they are what those sliders are
        named by). The words keep the
        rest, so "a sitar raga" stays a sitar while a "darker" slider moves."""
        if not cond.words:
            return Plan()
        plan = read_plan(cond.words)
        if not (cond.wordless or cond.inside is not None or bool(cond.delta.abs().sum() > 0)):
            return plan
        return release(plan, self.steering_moves(cond))

    def steering_moves(self, cond) -> frozenset[str]:
        moved = {"dynamics", "register"} if cond.wordless else set()
        for positive, negative in cond.contrasts:
            moved |= contrast_moves(positive, negative)
        if "tempo" in self.heads and abs(self._read("tempo", cond) - self._read("tempo", cond, plain=True)) >= TEMPO_MOVE:
            moved.add("tempo")
        if "drums" in self.heads and (drums_from_logit(self._read("drums", cond))
                                      != drums_from_logit(self._read("drums", cond, plain=True))):
            moved.add("drums")
        return frozenset(moved)

    def plan(self, cond) -> Plan:
        """The words' plan, with the arrangement the state sets over theirs (drums-only plays the kit, a
        solo none)."""
        plan = self.words_plan(cond)
        if cond.arrangement is None:
            return plan
        drums = SETTLES_KIT.get(cond.arrangement, plan.drums)
        return replace(plan, arrangement=cond.arrangement, drums=drums, set_arrangement=True)

    def _read(self, name: str, cond, plain: bool = False) -> float:
        """A text head's output for a conditioning: its branches mixed by their weights, a guidance-mode
        steering direction counted with its gain (so sliders and prompt mixes move tempo and drums too), an
        inside-mode head shift added (`synth.inside_vectors`); with `plain`, the text before any steering."""
        hidden = cond.hidden
        if plain:
            hidden = cond.plain if cond.plain is not None else hidden
        elif cond.steered is not None:
            hidden = hidden + cond.gain * (cond.steered - hidden)
        w = normalized_weights(torch.tensor(cond.weights, dtype=torch.float32))
        inside = cond.inside.heads.get(name, 0.0) if cond.inside is not None and not plain else 0.0
        return float((w * self.heads[name](hidden, cond.mask)).sum()) + inside

    def head_readings(self, cond) -> dict[str, float]:
        return {name: self._read(name, cond) for name in self.heads}

    def predicted_bpm(self, cond) -> float:
        """The tempo head's bpm for a conditioning's text, or the layout's default without a head."""
        return bpm_from_log2(self._read("tempo", cond)) if "tempo" in self.heads else L.DEFAULT_BPM

    def drums_wanted(self, cond) -> bool | None:
        """Whether the text asks for drums (the drums head, `synth.score.text_heads.DRUMS_ODDS`), or None
        without a head."""
        return drums_from_logit(self._read("drums", cond)) if "drums" in self.heads else None

    def held_wanted(self, cond) -> bool:
        """Whether the text asks for held notes (the held head); False without one."""
        return "held" in self.heads and held_from_logit(self._read("held", cond))

    def check_seconds(self, seconds: float) -> None:
        super().check_seconds(seconds)
        for bpm in self.tempi or ():
            if L.frames_for(seconds, bpm) > self.max_frames:
                bars = self.max_frames // L.FRAMES_PER_BAR
                raise ValueError(f"{seconds:.2f} s at {bpm:g} bpm is {seconds * bpm / 60:.1f} beats; the score backend "
                                 f"plays at most {L.beats_in(self.max_frames):g} beats ({bars} bars) per clip")

    def frame_seconds(self, bpm: float | None = None) -> float:
        if bpm is None:
            raise ValueError("the score backend's frames are 16ths: their length needs the tempo")
        return 60.0 / float(bpm) / L.FRAMES_PER_BEAT

    def _tempi(self, batch: int) -> list[float]:
        if self.tempi is None:
            raise RuntimeError("the score family renders through for_batch (it needs each clip's tempo)")
        return per_clip(self.tempi, batch)

    def frames(self, seconds: float, window: str) -> int:
        """16ths for `seconds` at the batch's fastest tempo (every clip fits); the whole latent for `full`."""
        full = super().frames(seconds, window)  # also checks the window's name
        if window == "full":
            return full
        return min(self.max_frames, max(L.frames_for(seconds, bpm) for bpm in self._tempi(len(self.tempi or ()))))

    def _timing(self, batch: int, seconds: float):
        # start token = the tempo (bpm / 10, clamped to the trained range), end token = the clip's seconds
        lo, hi = L.BPM_RANGE
        return timing_states(self.pipe.projection_model, [min(hi, max(lo, b)) / 10.0 for b in self._tempi(batch)],
                             [float(seconds)] * batch, self.pipe._execution_device)

    # ------------------------------------------------------------------ decoding
    def scores(self, latents: torch.Tensor, seconds: float, tempi: list[float] | None = None):
        """Latents [B, C, L] (normalised curves) -> one Score per clip at its tempo (the batch's, or `tempi`)
        with the batch's drums and held notes, from the 16ths that start inside `seconds`."""
        raw = latents.float().cpu().numpy()
        drums = per_clip(self.drums or [None], len(raw))
        held = per_clip(self.held or [False], len(raw))
        plans = per_clip(self.plans or [Plan()], len(raw))
        out = []
        for x, bpm, on, hold, plan in zip(raw, tempi or self._tempi(len(raw)), drums, held, plans):
            frames = min(x.shape[-1], L.frames_for(seconds, bpm))
            score = curves_to_score(self.normalisation.denormalise(x[:, :frames]), bpm, drums=on, held=hold)
            out.append(follow(score, plan))
        return out

    def _sidecar_scores(self, latents: torch.Tensor, seconds: float):
        """(Score, the sidecar's `score` summary of the notes the clip plays, its end beat) per clip."""
        n = latents.shape[0]
        sources = per_clip(self.tempo_sources or ["set"], n)
        drum_sources = per_clip(self.drum_sources or ["model"], n)
        held = per_clip(self.held or [False], n)
        plans = per_clip(self.plans or [Plan()], n)
        for score, source, drums_from, hold, plan in zip(self.scores(latents, seconds), sources, drum_sources, held, plans):
            end_beat = seconds / score.seconds_per_beat
            yield score, {**summary(score, end_beat), "tempo_from": source, "drums_from": drums_from, "held": hold,
                          "arrangement": arrangement_of(score),
                          "arrangement_from": "set" if plan.set_arrangement else _source(plan, "arrangement",
                                                                                         plan.arrangement),
                          "instrument_from": _source(plan, "instrument", plan.programs.get("melody")),
                          "dynamics_from": _source(plan, "dynamics", plan.dynamics),
                          "register_from": _source(plan, "register", plan.register)}, end_beat

    @property
    def needs_batch(self) -> bool:
        return self.tempi is None

    def decode_all(self, latents, seconds, audio: bool = True) -> Decoded:
        """Each clip's score decoded once: its sidecar summary, the score itself, and (with `audio`) the
        score played through FluidSynth. Its MIDI is encoded where a .mid is written (`Rendered.midi`)."""
        scores, extras, clips = [], [], []
        for score, side, _ in self._sidecar_scores(latents, seconds):
            scores.append(score)
            extras.append({"score": side})
            if audio:
                clips.append(torch.from_numpy(self.play(score, seconds)))
        return Decoded(torch.stack(clips) if audio else None, extras, scores)

    def decode(self, latents, seconds):
        return self.decode_all(latents, seconds).audio

    def play(self, score, seconds: float, start: float = 0.0):
        return self.renderer.render(score, seconds, start=start)

    def encode_score(self, score, seconds: float) -> torch.Tensor:
        """A Score -> its exact latent [1, C, 16ths in `seconds` at its tempo] (normalised curves), the
        inverse of `scores`."""
        raw = score_to_curves(score, min(self.max_frames, L.frames_for(seconds, score.bpm)))
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

    def bundled_dit_sae(self):
        """(sae, sae_id) of the DiT SAE shipped at synth/models/score_dit_sae/ when it was trained on this
        very DiT (its metadata's fingerprint), else (None, None): another model's activations mean nothing here."""
        if not (DIT_SAE_DIR / "cfg.json").is_file():
            return None, None
        from synth.inside_vectors import model_fingerprint
        from synth.sae import load_sae

        sae = load_sae(str(DIT_SAE_DIR), device="cpu")
        if sae.metadata.get("model") != model_fingerprint(self.pipe.transformer):
            log.info("the bundled DiT SAE was trained on another score model; /synth/inside/<id> sliders are off")
            return None, None
        return sae, "score_dit_sae (bundled)"


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
        transformer, projection, config, norm, heads = model_files.load(model_id, device=device, dtype=dt)
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
                       dtype=dt, encoder=encoder, threads=1 if device.type == "cpu" else None, heads=heads)
