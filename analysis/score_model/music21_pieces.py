"""music21 tunes -> score corpus rows: the real melody (and a chorale's bass), chords found from the
notes, an orchestration and drums assigned as the procedural generator does, and captions built from
what is known about the tune (type, meter, key and mode, tempo and feel, density, register, emotion).

A tune's tempo is drawn from the range its type is played at (in quarter notes per minute, the
instrument's bpm), since the books give none; a book's "Slow" note makes it an air.
"""
from __future__ import annotations

import random

from analysis.score_model.params import DYNAMICS, PieceParams
from synth.score.drums import groove_hits
from synth.score.layout import FRAMES_PER_BEAT, TRAIN_FRAMES
from synth.score.score import Groove, Note, Score, Voice
from synth.score.theory import degree_pitch, triad

# tune type -> (bpm range, caption nouns, extra true phrases)
TYPES = {
    "jig": ((100, 130), ("jig", "double jig", "irish jig", "jig tune"), ("in 6/8", "a lilting 6/8", "traditional irish")),
    "slip jig": ((95, 120), ("slip jig", "jig"), ("in 9/8", "traditional irish")),
    "reel": ((130, 170), ("reel", "irish reel", "fiddle reel"), ("traditional irish", "a driving reel rhythm")),
    "hornpipe": ((90, 120), ("hornpipe", "irish hornpipe"), ("traditional irish", "with a dotted swing")),
    "strathspey": ((70, 95), ("strathspey", "scottish strathspey"), ("scottish", "with snapped rhythms")),
    "air": ((55, 80), ("slow air", "air", "lament"), ("traditional irish", "slow and free")),
    "waltz": ((100, 150), ("waltz", "folk waltz"), ("in 3/4", "in three")),
    "march": ((100, 125), ("march", "folk march"), ("in 2/4", "marching")),
    "polka": ((120, 150), ("polka",), ("in 2/4",)),
    "song": ((70, 120), ("folk song", "song", "tune", "melody"), ("german folk song", "old folk melody")),
    "chorale": ((60, 90), ("chorale", "bach chorale", "hymn", "chorale harmonisation"),
                ("in the style of bach", "four-part harmony", "baroque", "like a church hymn")),
}
FOLK_MELODY = (78, 110, 73, 21, 109, 105, 46, 0, 74, 72, 22, 40, 71, 75, 15, 24, 25, 68, 79, 23)
FOLK_HARMONY = (25, 24, 21, 0, 46, 15, 6, 19)
FOLK_BASS = (32, 33, 42, 43, 70)
CHORALE_MELODY = (48, 19, 52, 61, 40, 68, 73, 56, 0, 6, 16, 71, 60, 42)
CHORALE_HARMONY = (48, 49, 19, 52, 16, 0, 6, 61, 89)
CHORALE_BASS = (42, 43, 70, 58, 32, 19, 57)
_VELOCITY = {"soft": (32, 56), "medium": (64, 86), "loud": (96, 122)}
_CENTER = {"low": 52, "mid": 66, "high": 79}
_LENGTH = {"staccato": 0.5, "normal": 0.9, "legato": 1.0}


def tune_type(tune: dict) -> str:
    """The canonical type from the ABC R: field, else from the meter (and a "slow" tempo note)."""
    r = tune.get("type", "")
    if tune["source"] == "bach":
        return "chorale"
    if "slow" in tune.get("tempo_note", "").lower() or "air" in r or "lament" in r:
        return "air"
    for name, key in (("slip", "slip jig"), ("jig", "jig"), ("reel", "reel"), ("hornpipe", "hornpipe"),
                      ("clog", "hornpipe"), ("strathspey", "strathspey"), ("fling", "strathspey"),
                      ("waltz", "waltz"), ("march", "march"), ("polka", "polka")):
        if name in r:
            return key
    meter = tune["meter"]
    if tune["source"] == "essenFolksong":
        return "waltz" if meter == "3/4" and random.Random(tune["title"]).random() < 0.3 else "song"
    return {"6/8": "jig", "9/8": "slip jig", "3/4": "waltz", "2/4": "march", "4/4": "reel", "2/2": "reel"}.get(meter, "song")


def _chord_degree(pcs: dict[int, float], tonic: int, mode: str, prev: int | None) -> int:
    """The diatonic triad (a scale degree 0..6) holding the most of these pitch classes' weight, with
    I, IV and V preferred a little, and keeping the previous chord on a tie."""
    best, best_score = 0, -1.0
    for d in range(7):
        tones = {degree_pitch(d + k, tonic, mode) % 12 for k in (0, 2, 4)}
        score = sum(w for pc, w in pcs.items() if pc in tones) + (0.3 if d in (0, 3, 4) else 0) + (0.1 if d == prev else 0)
        if score > best_score:
            best, best_score = d, score
    return best


def _chords(notes: list[list], span: float, beats: float, tonic: int, mode: str) -> list[tuple[float, int]]:
    """(start beat, scale degree) every `span` beats over [0, beats)."""
    out, prev = [], None
    t = 0.0
    while t < beats - 1e-9:
        pcs: dict[int, float] = {}
        for a, d, p in notes:
            overlap = min(a + d, t + span) - max(a, t)
            if overlap > 0:
                pcs[p % 12] = pcs.get(p % 12, 0.0) + overlap
        if pcs:
            prev = _chord_degree(pcs, tonic, mode, prev)
        out.append((t, prev if prev is not None else 0))
        t += span
    return out


def _span(meter: str, bar: float) -> float:
    """Beats per chord: half a bar in 4/4 and 2/2, a dotted quarter in 6/8 and 9/8, a bar otherwise."""
    if meter in ("6/8", "9/8", "12/8"):
        return 1.5
    return bar / 2 if bar >= 4 else bar


def _fit(notes: list[list], center: int) -> int:
    """Octaves to move a line so that its mean pitch is nearest `center`."""
    mean = sum(p for _, _, p in notes) / len(notes)
    return 12 * round((center - mean) / 12)


def _emotion(rng: random.Random, mode: str, bpm: int) -> str | None:
    if mode == "minor" and bpm < 90:
        return "sad" if rng.random() < 0.7 else None
    if mode == "major" and bpm < 85:
        return "calm" if rng.random() < 0.6 else None
    if bpm >= 125:
        return rng.choice(("happy", "energetic")) if mode == "major" else ("energetic" if rng.random() < 0.6 else None)
    return "happy" if mode == "major" and rng.random() < 0.5 else None


def tune_piece(tune: dict, rng: random.Random) -> tuple[PieceParams, Score, tuple, tuple, float]:
    """(params, score, caption nouns, extra phrases, beats per bar) for one tune."""
    kind = tune_type(tune)
    (lo, hi), nouns, extra = TYPES[kind]
    bpm = rng.randint(lo, hi)
    beats = TRAIN_FRAMES / FRAMES_PER_BEAT + tune["bar"]
    melody = [n for n in tune["melody"] if n[0] < beats]
    chorale = kind == "chorale"
    shift = rng.randint(-5, 6)  # a new key each time: the corpus's keys are few
    tonic = (tune["tonic"] + shift) % 12
    mode = tune["mode"]
    register = rng.choice(("low", "mid", "mid", "high"))
    move = shift + _fit([[a, d, p + shift] for a, d, p in melody], _CENTER[register] + rng.randint(-2, 2))
    melody = [[a, d, p + move] for a, d, p in melody]
    mean_pitch = sum(p for *_, p in melody) / len(melody)
    register = "low" if mean_pitch < 58 else "high" if mean_pitch >= 74 else "mid"
    dynamics = rng.choice(DYNAMICS)
    articulation = rng.choice(("legato", "normal", "legato")) if chorale or kind == "air" else rng.choice(
        ("staccato", "normal", "normal", "legato"))
    lo_v, hi_v = _VELOCITY[dynamics]
    vel = rng.randint(lo_v, hi_v)
    end = max(a + d for a, d, _ in melody)
    per_beat = len(melody) / max(1.0, end)
    density = "sparse" if per_beat < 0.9 else "medium" if per_beat < 1.8 else "dense"
    length = _LENGTH[articulation]
    voices = [Voice("melody", rng.choice(CHORALE_MELODY if chorale else FOLK_MELODY),
                    [Note(a, max(0.25, round(d * length * 4) / 4), p, max(1, min(127, vel + rng.randint(-6, 6))))
                     for a, d, p in melody if 0 <= p <= 127])]
    solo = not chorale and rng.random() < 0.3
    harmony = bass = None
    if not solo:
        satb = "bass" in tune  # a chorale with its four voices parsed
        source = (tune["inner"] + tune["bass"] + tune["melody"]) if satb else tune["melody"]
        chords = _chords([n for n in source if n[0] < beats], _span(tune["meter"], tune["bar"]), min(beats, end),
                         tune["tonic"], mode)
        hprog = rng.choice(CHORALE_HARMONY if chorale else FOLK_HARMONY)
        hnotes = []
        for t, d in chords:
            root = degree_pitch(d, tonic, mode, octave_base=0)
            root = 50 + (root - 50) % 12
            span = _span(tune["meter"], tune["bar"])
            hnotes += [Note(t, span * (0.95 if articulation != "staccato" else 0.5), k, max(1, vel - 12))
                       for k in triad(root, tonic, mode)]
        if rng.random() < (0.9 if chorale else 0.65):
            harmony = hprog
            voices.append(Voice("harmony", hprog, hnotes))
        if rng.random() < (0.95 if chorale else 0.5):
            bass = rng.choice(CHORALE_BASS if chorale else FOLK_BASS)
            if satb:
                b_move = shift + _fit([[a, d, p + shift] for a, d, p in tune["bass"]], 45)
                bnotes = [Note(a, d * length, p + b_move, max(1, vel - 4)) for a, d, p in tune["bass"] if a < beats]
            else:
                bnotes = [Note(t, _span(tune["meter"], tune["bar"]) * length,
                               36 + (degree_pitch(d, tonic, mode, octave_base=0) - 36) % 12, max(1, vel - 4))
                          for t, d in chords]
            voices.append(Voice("bass", bass, bnotes))
    drums = None
    groove = None
    if not chorale and not solo and rng.random() < 0.4:
        drums = "folk" if rng.random() < 0.8 else rng.choice(("pop", "four", "rock"))
        bars = int(beats // 4) + 1
        groove = Groove(drums, max(1, vel - 8), tuple(b for b in range(bars) if b % 4 == 3 and rng.random() < 0.5))
    params = PieceParams(bpm=bpm, tonic=tonic, mode=mode, melody=voices[0].program, harmony=harmony, bass=bass,
                         drums=drums, register=register, dynamics=dynamics, articulation=articulation,
                         density=density, emotion=_emotion(rng, mode, bpm), genre="classical" if chorale else "folk",
                         solo=solo)
    hits = groove_hits(groove, bpm, int(beats // 4) + 1) if groove else []
    score = Score(bpm=float(bpm), tonic=tonic, mode=mode, voices=voices, drums=hits, groove=groove)
    return params, score, nouns, extra, float(tune["bar"])

