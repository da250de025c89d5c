"""Score <-> control curves (raw, before normalisation); the channel layout is in `synth.score.layout`.

A frame is a 16th note, so encoding is exact for notes on the 16th grid and the decoded score sits on
the grid of whatever tempo it is played at. Decoding reads notes back: a note starts on every frame
whose onset curve is at least 0.5; it lasts while its gate stays up, until the next onset. A held clip
(pads, drones, held chords: the text's held head) is decoded as the held pieces of the corpus were written:
each voice's strongest onsets at least half a bar apart, each note legato up to the next, for at most a
bar (the model writes sparse onsets for such captions, but between them its curves are noisy enough to
cut and split notes). A note's key is
read from the medians of the pitch and step curves over each note (`synth.score.pitch_reading`);
instruments are the argmax of their mean one-hot codes, drums play when the patterns together outweigh
no drums, in the pattern with the largest mean, and the drum part is that
pattern played at the decoded tempo (`synth.score.drums`).
"""
from __future__ import annotations

import math

import numpy as np

from synth.score import layout as L
from synth.score.drums import PATTERN_NAMES, Groove, bars_in, groove_hits
from synth.score.pitch_reading import read_pitches, scale_steps
from synth.score.score import ROLES, Note, Score, Voice
from synth.score.theory import triad

THRESHOLD = 0.5    # onset / gate / fill curves are 0..1 when exact
HELD_SPACING = L.FRAMES_PER_BAR // 2   # a held voice's onsets: at most one per half bar
HELD_LENGTH = L.FRAMES_PER_BAR         # and each note at most a bar long


def _chords(notes: list[Note]) -> list[Note]:
    """One event per distinct start: the lowest note (a chord's root) stands for the chord."""
    by_start: dict[float, Note] = {}
    for n in sorted(notes, key=lambda n: (n.start, n.pitch)):
        by_start.setdefault(n.start, n)
    return list(by_start.values())


def score_to_curves(score: Score, frames: int) -> np.ndarray:
    """Raw curves [N_CHANNELS, frames] float32. A score's drums are encoded through its groove."""
    if score.drums and score.groove is None:
        raise ValueError("a score's drums are encoded as its groove (synth.score.drums); this score has hits only")
    out = np.zeros((L.N_CHANNELS, frames), np.float32)
    out[L.INDEX["tonic_cos"]] = math.cos(2 * math.pi * score.tonic / 12)
    out[L.INDEX["tonic_sin"]] = math.sin(2 * math.pi * score.tonic / 12)
    out[L.INDEX["mode"]] = 1.0 if score.mode == "major" else -1.0
    groove = score.groove
    out[L.PATTERN0 + (1 + PATTERN_NAMES.index(groove.pattern) if groove else 0)] = 1.0
    if groove:
        out[L.INDEX["drum_level"]] = groove.level / 127.0
        for bar in groove.fills:
            a, b = _last_beat(bar)
            out[L.INDEX["drum_fill"], max(0, a):max(0, min(frames, b))] = 1.0
    for voice in score.voices:
        base = L.voice_base(voice.role)
        events = _chords(voice.notes) if voice.role == "harmony" else sorted(voice.notes, key=lambda n: n.start)
        pitch, vel, step = (np.full(frames, np.nan, np.float32) for _ in range(3))
        moves = scale_steps([n.pitch for n in events], score.tonic, score.mode)
        for n, move in zip(events, moves):
            on = _frame(n.start)
            if on >= frames or on < 0:
                continue
            off = min(frames, max(on + 1, _frame(n.start + n.duration)))
            out[base, on] = 1.0
            out[base + 1, on:off] = 1.0
            pitch[on] = (n.pitch - 60) / 12.0
            vel[on] = n.velocity / 127.0
            step[on] = move / L.STEP_UNIT
        out[base + 2] = _hold(pitch)
        out[base + 3] = _hold(vel)
        out[base + 4] = _hold(step)
        if events:
            out[base + L.FAMILY0 + voice.program // 8] = 1.0
            out[base + L.MEMBER0 + voice.program % 8] = 1.0
    return out


def _frame(beat: float) -> int:
    return int(round(float(beat) * L.FRAMES_PER_BEAT))


def _last_beat(bar: int) -> tuple[int, int]:
    """Frames [a, b) of bar `bar`'s last beat (where a fill sits)."""
    return (bar + 1) * L.FRAMES_PER_BAR - L.FRAMES_PER_BEAT, (bar + 1) * L.FRAMES_PER_BAR


def _hold(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs from the last set value (back-fill before the first; 0 when none is set)."""
    idx = np.where(np.isnan(values), 0, np.arange(len(values)))
    np.maximum.accumulate(idx, out=idx)
    filled = values[idx]
    first = np.flatnonzero(~np.isnan(values))
    if not len(first):
        return np.zeros_like(values)
    filled[: first[0]] = values[first[0]]
    return filled


def decode_key(curves: np.ndarray) -> tuple[int, str]:
    angle = math.atan2(float(curves[L.INDEX["tonic_sin"]].mean()), float(curves[L.INDEX["tonic_cos"]].mean()))
    tonic = int(round(angle * 12 / (2 * math.pi))) % 12
    mode = "major" if float(curves[L.INDEX["mode"]].mean()) >= 0 else "minor"
    return tonic, mode


def _held_onsets(onset: np.ndarray) -> np.ndarray:
    """Frames of the strongest onsets at least HELD_SPACING apart (greedy, strongest first), in order."""
    picked: list[int] = []
    for f in np.argsort(-onset, kind="stable"):
        if onset[f] < THRESHOLD:
            break
        if all(abs(int(f) - p) >= HELD_SPACING for p in picked):
            picked.append(int(f))
    return np.array(sorted(picked), dtype=int)


def _spans(onset: np.ndarray, gate: np.ndarray, held: bool) -> list[tuple[int, int]]:
    """[start, end) frames of each note."""
    frames = len(onset)
    peaks = _held_onsets(onset) if held else np.flatnonzero(onset >= THRESHOLD)
    spans = []
    for i, f in enumerate(peaks):
        limit = peaks[i + 1] if i + 1 < len(peaks) else frames
        if held:
            spans.append((int(f), int(min(limit, f + HELD_LENGTH))))
            continue
        end = f + 1
        while end < limit and gate[end] >= THRESHOLD:
            end += 1
        spans.append((int(f), int(end)))
    return spans


def _decode_voice(curves: np.ndarray, role: str, tonic: int, mode: str, held: bool = False) -> Voice | None:
    base = L.voice_base(role)
    onset, gate, pitch, vel, step = curves[base:base + 5]
    spans = _spans(onset, gate, held)
    if not spans:
        return None
    keys = read_pitches([60.0 + 12.0 * float(np.median(pitch[f:e])) for f, e in spans],
                        [L.STEP_UNIT * float(np.median(step[f:e])) for f, e in spans], tonic, mode)
    notes: list[Note] = []
    for (f, end), key in zip(spans, keys):
        start, duration = f / L.FRAMES_PER_BEAT, (end - f) / L.FRAMES_PER_BEAT
        velocity = int(np.clip(round(127.0 * float(np.mean(vel[f:end]))), 1, 127))
        chord = triad(key, tonic, mode) if role == "harmony" else (key,)
        notes.extend(Note(float(start), float(duration), int(k), velocity) for k in chord if 0 <= k <= 127)
    fam = int(np.argmax(curves[base + L.FAMILY0:base + L.MEMBER0].mean(axis=1)))
    member = int(np.argmax(curves[base + L.MEMBER0:base + len(L.VOICE_FIELDS)].mean(axis=1)))
    return Voice(role, fam * 8 + member, notes)


def decode_groove(curves: np.ndarray, present: bool | None = None) -> Groove | None:
    """The pattern with the largest mean, its level and its fill bars; or None (no drums). `present` says
    whether drums play (the text's drums head); when None, drums play when the patterns together outweigh
    drums_none. (That is the marginal: a model unsure which groove fits "with drums" spreads its weight over
    several patterns, and an argmax over all eleven would then pick none.)"""
    means = np.clip(curves[L.PATTERN0:L.PATTERN0 + L.N_PATTERNS].mean(axis=1), 0.0, None)
    written = means[1:].sum() > means[0]
    if not (written if present is None else present):
        return None
    choice = 1 + int(np.argmax(means[1:]))
    frames = curves.shape[1]
    level = float(curves[L.INDEX["drum_level"]].mean())
    if not written:  # curves that wrote "no drums" wrote no level either: follow the melody's
        onsets = curves[L.INDEX["melody_onset"]] >= THRESHOLD
        level = float(curves[L.INDEX["melody_velocity"]][onsets].mean()) - 8 / 127 if onsets.any() else 80 / 127
    level = int(np.clip(round(127.0 * level), 1, 127))
    fill = curves[L.INDEX["drum_fill"]]
    fills = []
    for bar in range(bars_in(L.beats_in(frames))):
        a, b = _last_beat(bar)
        if a < frames and float(fill[a:max(a + 1, min(frames, b))].mean()) >= THRESHOLD:
            fills.append(bar)
    return Groove(PATTERN_NAMES[choice - 1], level, tuple(fills))


def _decode_drums(groove: Groove | None, bpm: float, frames: int):
    if groove is None:
        return []
    hits = groove_hits(groove, bpm, bars_in(L.beats_in(frames)))
    return [h for h in hits if _frame(h.start) < frames]


def curves_to_score(curves: np.ndarray, bpm: float, drums: bool | None = None, held: bool = False) -> Score:
    """Raw curves [N_CHANNELS, frames] -> Score played at `bpm` (frames are 16ths); `drums` as in
    `decode_groove`; `held` decodes every voice as held notes (see the module's note)."""
    if curves.ndim != 2 or curves.shape[0] != L.N_CHANNELS:
        raise ValueError(f"score curves must be [{L.N_CHANNELS}, frames], got {tuple(curves.shape)}")
    curves = np.nan_to_num(np.asarray(curves, np.float32))
    tonic, mode = decode_key(curves)
    voices = [v for role in ROLES if (v := _decode_voice(curves, role, tonic, mode, held)) is not None]
    groove = decode_groove(curves, drums)
    return Score(bpm=float(bpm), tonic=tonic, mode=mode, voices=voices, drums=_decode_drums(groove, bpm, curves.shape[1]),
                 groove=groove)

