"""Jam mode's phrases: N bars at a tempo, each continuing the one before in the model's latent.

    renderer = PhraseRenderer(engine)
    phrase = renderer.render(state, bpm=120, bars=2, continuity=1.0, previous=phrase)

A phrase is exactly bars * 4 * 60 / bpm seconds, cut on the sample (`phrase_samples`); the state is
rendered with that bpm and bars, so the score model writes its notes for that tempo. Continuity is
the known-context sampler (`synth.denoise.Guide`): the tail of the previous phrase in the family's
latent (`Family.tail_latent`: the score's own frames, or the audio re-encoded by Stable Audio's
autoencoder) is put in front of the new phrase's frames and held there at every step, so the model
writes the new frames as what comes next; the audio before the phrase's first sample is rendered
and dropped.
`continuity` scales how much tail it sees: 0 none (a fresh phrase), 1 up to MAX_CONTEXT_SECONDS.
Phrase n renders with seed state.seed + n, so a held state still moves on.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from synth.denoise import Guide
from synth.score.midi import score_to_midi
from synth.score.score import DrumHit, Note, Score, Voice
from synth.state import BEATS_PER_BAR, SynthState

if TYPE_CHECKING:
    from synth.engine import Engine
    from synth.families.base import Family

JAM_BARS = (1, 2, 4, 8)
DEFAULT_BARS = 2
DEFAULT_BPM = 120.0
MAX_CONTEXT_SECONDS = 4.0   # continuity 1: up to this much of the previous phrase is known context
FADE = 64                   # samples faded in and out at each phrase edge, so loops join without a click


def phrase_seconds(bpm: float, bars: int) -> float:
    return float(bars) * BEATS_PER_BAR * 60.0 / float(bpm)


def phrase_samples(bpm: float, bars: int, sample_rate: int) -> int:
    """The phrase's exact length in samples at `sample_rate` (rounded once, never accumulated)."""
    return int(round(phrase_seconds(bpm, bars) * sample_rate))


def check_bars(bars) -> int:
    if bars not in JAM_BARS:
        raise ValueError(f"jam phrases are {', '.join(map(str, JAM_BARS))} bars long, not {bars!r}")
    return int(bars)


def check_continuity(value: float) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"continuity {value!r} is outside [0, 1]")
    return float(value)


def fade_ramp(n: int) -> np.ndarray:
    """A raised-cosine fade-in of n samples (reversed: the fade-out)."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


def edge_fades(audio: np.ndarray, fade: int = FADE) -> np.ndarray:
    """[2, N] with raised-cosine fades at both ends (a copy): it starts and ends at zero, so it joins
    itself (a loop) or any other phrase without a step."""
    out = np.array(audio, dtype=np.float32, copy=True)
    n = min(fade, out.shape[-1] // 2)
    if n > 0:
        ramp = fade_ramp(n)
        out[:, :n] *= ramp
        out[:, -n:] *= ramp[::-1]
    return out


@dataclass
class Phrase:
    audio: np.ndarray          # [2, samples] float32 at the engine's rate, edges faded
    latent: torch.Tensor       # [C, F]: the phrase's own frames (frame 0 = its first sample)
    sample_rate: int
    bpm: float
    bars: int
    state: SynthState          # what was rendered (bpm, bars and seed filled in)
    context_frames: int        # latent frames of the previous phrase it continued from
    render_seconds: float
    score: Score | None = None    # score families: the notes it plays, times from the phrase start
    index: int = 0
    tail: np.ndarray | None = None   # [2, M] the end of its audio, unfaded: what the next phrase continues
    context: torch.Tensor | None = None   # [1, C, context_frames]: the known context it was rendered after
    lead_in: Score | None = None     # score families: the notes its context played (times from the context's start)

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / float(self.sample_rate)

    def midi(self) -> bytes | None:
        """The phrase's notes as a Standard MIDI File (score families), for its loop's `.mid`."""
        if self.score is None:
            return None
        return score_to_midi(self.score, end_beat=self.seconds / self.score.seconds_per_beat)


class PhraseRenderer:
    def __init__(self, engine: Engine):
        self.engine: Engine = engine
        self.family: Family = engine.family

    def context_frames(self, previous: Phrase | None, continuity: float, bpm: float, new_frames: int) -> int:
        """How many latent frames of `previous` to hold as known context."""
        if previous is None or continuity <= 0:
            return 0
        fam = self.family
        inside = int(previous.seconds / fam.frame_seconds(previous.bpm) + 1e-6)  # frames wholly inside it
        cap = int(MAX_CONTEXT_SECONDS / fam.frame_seconds(bpm))
        room = max(0, fam.max_frames - new_frames - 1)
        return int(round(continuity * min(inside, cap, room, previous.latent.shape[-1])))

    def render(self, state: SynthState, bpm: float, bars: int, continuity: float = 1.0,
               previous: Phrase | None = None, index: int = 0) -> Phrase:
        check_bars(bars)
        check_continuity(continuity)
        fam = self.family
        state = state.replace(bpm=float(bpm), bars=float(bars), seed=(state.seed + index) % (2**31))
        seconds = phrase_seconds(bpm, bars)
        n = phrase_samples(bpm, bars, fam.sample_rate)
        frame_s = fam.frame_seconds(bpm)
        ctx = self.context_frames(previous, continuity, bpm, math.ceil(seconds / frame_s - 1e-9))
        guide = None
        if ctx:
            inside = int(previous.seconds / fam.frame_seconds(previous.bpm) + 1e-6)
            guide = Guide(fam.tail_latent(previous.latent[:, :inside], previous.tail, ctx), known=ctx)
        offset = int(round(ctx * frame_s * fam.sample_rate))  # samples of context before the phrase
        t0 = time.perf_counter()
        rendered = self.engine.render(state, guide=guide, seconds=(offset + n) / fam.sample_rate, window="clip")
        elapsed = time.perf_counter() - t0
        latents = rendered.latents[0]
        clip = self._clip(rendered.audio[0], offset, n, "phrase")
        score = lead_in = None
        if rendered.scores is not None:   # the score the render decoded (context and phrase), cut to the phrase
            score = window_score(rendered.scores[0], offset / fam.sample_rate, n / fam.sample_rate)
            lead_in = window_score(rendered.scores[0], 0.0, offset / fam.sample_rate, cut=False)
        tail = clip[:, -min(n, math.ceil(MAX_CONTEXT_SECONDS * fam.sample_rate) + fam.hop):].copy()
        return Phrase(edge_fades(clip), latents[:, ctx:].contiguous(), fam.sample_rate, float(bpm), int(bars),
                      rendered.state, ctx, elapsed, score, index, tail, guide.latent if guide else None, lead_in)

    @staticmethod
    def _clip(audio: np.ndarray, offset: int, n: int, what: str) -> np.ndarray:
        clip = audio[:, offset:offset + n]
        if clip.shape[-1] < n:  # a decoder a few samples short: pad, the length is the contract
            clip = np.pad(clip, ((0, 0), (0, n - clip.shape[-1])))
        if not np.isfinite(clip).all():
            raise FloatingPointError(f"the {what}'s audio contains NaN or infinite samples")
        return clip

    def rerender(self, phrase: Phrase, state: SynthState, at: int, cancel=None) -> Phrase:
        """`phrase` as heard up to sample `at`, then rendered afresh from `state` (the beat splice): the
        context it was rendered after and its own latent frames before `at` are held as known context (the
        sampler that continues phrases), so the model sees what it saw; the new audio comes in at `at`,
        crossfaded (`synth.jam_splice.splice`; `at` 0: a phrase not begun, all new). Same length, tempo,
        seed and index; the first `at` samples are the phrase's own. Score families play the spliced score
        (`splice_scores`) after the context's lead-in, so the notes held across the beat, and those ringing
        into the phrase, ring on. `cancel`: as `Engine.render`'s."""
        from synth.jam_splice import splice

        fam = self.family
        n, sr = phrase.audio.shape[-1], fam.sample_rate
        frame = fam.frame_seconds(phrase.bpm) * sr
        ctx = phrase.context.shape[-1] if phrase.context is not None else 0
        offset = int(round(ctx * frame))
        state = state.replace(bpm=phrase.bpm, bars=float(phrase.bars), seed=phrase.state.seed)
        known = min(int(at / frame + 1e-6), phrase.latent.shape[-1])
        held = phrase.latent[None, :, :known]
        if ctx:
            held = torch.cat([phrase.context.to(held), held], dim=-1)
        guide = Guide(held, known=ctx + known) if ctx + known else None
        plays_score = fam.writes_score and phrase.score is not None
        t0 = time.perf_counter()
        rendered = self.engine.render(state, guide=guide, seconds=(offset + n) / sr, window="clip",
                                      audio=not plays_score, cancel=cancel)
        score = None
        if plays_score:
            new = window_score(rendered.scores[0], offset / sr, n / sr)
            score = splice_scores(phrase.score, new, at / sr)
            played = after(phrase.lead_in, score, offset / sr) if phrase.lead_in is not None else score
            audio, skip = self.engine.play(played, (offset + n) / sr, start=offset / sr), 0
        else:
            audio, skip = rendered.audio[0], offset
        elapsed = time.perf_counter() - t0
        clip = self._clip(audio, skip, n, "re-rendered phrase")
        tail = clip[:, -phrase.tail.shape[-1]:].copy() if phrase.tail is not None else None
        return replace(phrase, audio=splice(phrase.audio, edge_fades(clip), at) if at else edge_fades(clip),
                       latent=rendered.latents[0][:, ctx:ctx + phrase.latent.shape[-1]].contiguous(),
                       state=rendered.state, render_seconds=elapsed, score=score, tail=tail)


def splice_scores(old: Score, new: Score, at_s: float) -> Score:
    """The notes heard across a splice at `at_s` seconds: `old`'s that begin before it, then `new`'s that
    begin at or after it, on `new`'s programs. A note held across the beat rings on as it began (its
    pitch was heard; the re-render reads the held note afresh), until the next note of its voice."""
    spb = new.seconds_per_beat
    at = at_s / spb
    rest = {v.role: [n for n in v.notes if n.start >= at] for v in new.voices}
    programs = {v.role: v.program for v in old.voices} | {v.role: v.program for v in new.voices}
    voices = []
    for role, program in programs.items():
        coming = rest.get(role, [])
        cut = min((n.start for n in coming), default=float("inf"))
        head = [replace(n, duration=min(n.duration, cut - n.start))
                for v in old.voices if v.role == role for n in v.notes if n.start < at]
        voices.append(Voice(role, program, head + coming))
    drums = [h for h in old.drums if h.start < at] + [h for h in new.drums if h.start >= at]
    return replace(new, voices=voices, drums=drums)


def window_score(score: Score, start_s: float, length_s: float, cut: bool = True) -> Score:
    """The part of `score` sounding in [start_s, start_s + length_s), moved to start at beat 0: notes
    that begin inside it, cut at its end unless `cut` is False (drum hits likewise)."""
    spb = score.seconds_per_beat
    a, end = start_s / spb, (start_s + length_s) / spb
    voices = [Voice(v.role, v.program, [Note(n.start - a, min(n.duration, end - n.start) if cut else n.duration,
                                             n.pitch, n.velocity)
                                        for n in v.notes if a <= n.start < end]) for v in score.voices]
    drums = [DrumHit(h.start - a, h.lane, h.velocity) for h in score.drums if a <= h.start < end]
    return replace(score, voices=voices, drums=drums)


def after(lead_in: Score, score: Score, seconds: float) -> Score:
    """`lead_in`'s notes, then `score`'s from `seconds` on (one voice per role, on `score`'s programs)."""
    shift = seconds / score.seconds_per_beat
    notes = {v.role: (v.program, list(v.notes)) for v in lead_in.voices}
    for v in score.voices:
        notes[v.role] = (v.program, notes.get(v.role, (0, []))[1] + [replace(n, start=n.start + shift) for n in v.notes])
    drums = lead_in.drums + [replace(h, start=h.start + shift) for h in score.drums]
    return replace(score, voices=[Voice(role, program, ns) for role, (program, ns) in notes.items()], drums=drums)
