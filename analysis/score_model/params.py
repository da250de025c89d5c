"""The score corpus's known parameters, and how a piece's are drawn.

Emotions and genres are not labels pasted on random music: each one is a distribution over the
parameters (a sad piece is usually minor, slow, soft, low and legato; a jazz piece usually has a sax,
a piano and an upright bass over a swing ride), so the words mean what they do in the music.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from synth.score.drums import PATTERN_NAMES as DRUM_PATTERNS  # the generator plays the decoder's patterns
from synth.score.layout import BPM_RANGE  # one range for the generator and the decoder

REGISTERS = ("low", "mid", "high")
DYNAMICS = ("soft", "medium", "loud")
ARTICULATIONS = ("staccato", "normal", "legato")
DENSITIES = ("held", "sparse", "medium", "dense")  # held: long notes (pads, drones, held chords)
EMOTIONS = ("happy", "sad", "calm", "energetic")


@dataclass(frozen=True)
class PieceParams:
    bpm: int
    tonic: int
    mode: str
    melody: int
    harmony: int | None
    bass: int | None
    drums: str | None          # a DRUM_PATTERNS name, or None
    register: str
    dynamics: str
    articulation: str
    density: str
    emotion: str | None
    genre: str | None
    solo: bool                 # melody alone: no harmony, no bass, no drums

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PieceParams":
        return cls(**d)


# genre -> instrument pools, drum patterns, P(drums), bpm range, and optional nudges
GENRES = {
    "rock": dict(melody=(29, 30, 27, 18, 81, 26), harmony=(29, 30, 18, 16, 27), bass=(33, 34), drums=("rock", "halftime"),
                 p_drums=0.95, bpm=(95, 165)),
    "jazz": dict(melody=(65, 66, 64, 56, 59, 71, 0, 26, 11, 57, 73), harmony=(0, 4, 26, 16, 11), bass=(32,),
                 drums=("swing",), p_drums=0.8, bpm=(80, 180)),
    "classical": dict(melody=(40, 41, 42, 73, 68, 71, 70, 60, 46, 0, 6, 56, 72), harmony=(48, 49, 0, 46, 6, 19, 45),
                      bass=(42, 43, 70, 58), drums=(), p_drums=0.0, bpm=(55, 150)),
    "electronic": dict(melody=(80, 81, 84, 87, 82, 98, 85, 86), harmony=(88, 89, 90, 50, 62, 94, 63),
                       bass=(38, 39), drums=("four", "breakbeat"), p_drums=0.95, bpm=(115, 150)),
    "ambient": dict(melody=(88, 89, 91, 92, 94, 95, 52, 53, 73, 11, 8, 10, 99, 97, 77), harmony=(88, 89, 91, 92, 94, 95, 48, 50, 52),
                    bass=(38, 42, 89, 43), drums=("lofi",), p_drums=0.1, bpm=(50, 85)),
    "folk": dict(melody=(25, 24, 110, 105, 21, 22, 73, 74, 40, 109), harmony=(25, 24, 21, 46, 15), bass=(32, 33),
                 drums=("folk",), p_drums=0.45, bpm=(80, 140)),
    "pop": dict(melody=(0, 4, 27, 80, 81, 52, 73, 65, 11, 85), harmony=(0, 4, 27, 25, 48, 89, 90), bass=(33, 34, 38),
                drums=("pop", "four"), p_drums=0.9, bpm=(88, 130)),
    "funk": dict(melody=(7, 27, 28, 61, 65, 66, 16, 62), harmony=(7, 27, 28, 4, 16, 61), bass=(36, 37, 33),
                 drums=("funk",), p_drums=0.95, bpm=(90, 122)),
    "lofi": dict(melody=(4, 5, 0, 11, 26, 66, 73, 10), harmony=(4, 5, 0, 26, 89), bass=(32, 33, 35), drums=("lofi",),
                 p_drums=0.9, bpm=(65, 92)),
    "cinematic": dict(melody=(60, 48, 56, 42, 40, 52, 73, 61, 57), harmony=(48, 49, 52, 61, 60, 89), bass=(43, 42, 58, 47),
                      drums=("epic",), p_drums=0.4, bpm=(60, 140)),
}

# emotion -> distributions (values are (choices, weights))
EMOTION_PRIORS = {
    "happy": dict(mode=(("major", "minor"), (0.9, 0.1)), bpm=(105, 155), dynamics=(DYNAMICS, (0.1, 0.5, 0.4)),
                  register=(REGISTERS, (0.1, 0.5, 0.4)), density=(DENSITIES, (0.0, 0.15, 0.5, 0.35)),
                  articulation=(ARTICULATIONS, (0.35, 0.5, 0.15)), p_drums=0.7),
    "sad": dict(mode=(("major", "minor"), (0.1, 0.9)), bpm=(50, 82), dynamics=(DYNAMICS, (0.65, 0.3, 0.05)),
                register=(REGISTERS, (0.5, 0.4, 0.1)), density=(DENSITIES, (0.1, 0.4, 0.45, 0.05)),
                articulation=(ARTICULATIONS, (0.05, 0.25, 0.7)), p_drums=0.2),
    "calm": dict(mode=(("major", "minor"), (0.7, 0.3)), bpm=(52, 88), dynamics=(DYNAMICS, (0.8, 0.2, 0.0)),
                 register=(REGISTERS, (0.25, 0.5, 0.25)), density=(DENSITIES, (0.2, 0.45, 0.3, 0.05)),
                 articulation=(ARTICULATIONS, (0.05, 0.25, 0.7)), p_drums=0.1),
    "energetic": dict(mode=(("major", "minor"), (0.55, 0.45)), bpm=(130, 180), dynamics=(DYNAMICS, (0.0, 0.2, 0.8)),
                      register=(REGISTERS, (0.15, 0.45, 0.4)), density=(DENSITIES, (0.0, 0.0, 0.3, 0.7)),
                      articulation=(ARTICULATIONS, (0.4, 0.5, 0.1)), p_drums=0.95),
}

# Without a genre: instruments from the whole GM set. Family weights keep sound effects and percussive
# programs rare as melodies; harmony and bass come from instruments that play those roles.
FAMILY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.6, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.5, 0.8, 0.4, 0.15)
HARMONY_POOL = (0, 1, 2, 4, 5, 6, 11, 12, 16, 17, 19, 20, 21, 24, 25, 26, 27, 46, 48, 49, 50, 51, 52, 61, 88, 89, 90,
                91, 92, 94, 95)
BASS_POOL = (32, 33, 34, 35, 36, 37, 38, 39, 32, 33, 38, 42, 43, 58, 70)


def _pick(rng: random.Random, spec, default=None):
    if spec is None:
        return default
    choices, weights = spec
    return rng.choices(choices, weights=weights)[0]


def _any_melody(rng: random.Random) -> int:
    fam = rng.choices(range(16), weights=FAMILY_WEIGHTS)[0]
    return fam * 8 + rng.randrange(8)


PADS = range(88, 96)  # GM synth pads: a pad melody mostly holds its notes


def _density(rng: random.Random, spec, melody: int, genre: str | None) -> str:
    if (melody in PADS or genre == "ambient") and rng.random() < 0.6:
        return "held"
    return _pick(rng, spec, rng.choices(DENSITIES, weights=(0.15, 0.25, 0.35, 0.25))[0])


def sample_params(rng: random.Random) -> PieceParams:
    emotion = rng.choice(EMOTIONS) if rng.random() < 0.55 else None
    genre = rng.choice(sorted(GENRES)) if rng.random() < 0.45 else None
    e = EMOTION_PRIORS.get(emotion, {})
    g = GENRES.get(genre)
    solo = g is None and rng.random() < 0.2
    lo, hi = e.get("bpm") or (g["bpm"] if g else BPM_RANGE)
    bpm = rng.randint(lo, hi)
    mode = _pick(rng, e.get("mode"), rng.choice(("major", "minor")))
    if g:
        melody = rng.choice(g["melody"]) if rng.random() < 0.85 else _any_melody(rng)
        harmony = rng.choice(g["harmony"]) if rng.random() < 0.9 else None
        bass = rng.choice(g["bass"]) if rng.random() < 0.9 else None
        p_drums = e.get("p_drums", g["p_drums"]) if g["drums"] else 0.0
        pattern = rng.choice(g["drums"]) if g["drums"] else None
    else:
        melody = _any_melody(rng)
        harmony = (rng.choice(HARMONY_POOL) if rng.random() < 0.85 else rng.randrange(128)) if rng.random() < 0.7 else None
        bass = rng.choice(BASS_POOL) if rng.random() < 0.7 else None
        p_drums = e.get("p_drums", 0.55)
        pattern = rng.choice(DRUM_PATTERNS)
    drums = pattern if (not solo and rng.random() < p_drums) else None
    if solo:
        harmony = bass = None
    register = _pick(rng, e.get("register"), rng.choice(REGISTERS))
    dynamics = _pick(rng, e.get("dynamics"), rng.choice(DYNAMICS))
    articulation = _pick(rng, e.get("articulation"), rng.choice(ARTICULATIONS))
    density = _density(rng, e.get("density"), melody, genre)
    return PieceParams(
        bpm=bpm, tonic=rng.randrange(12), mode=mode, melody=melody, harmony=harmony, bass=bass, drums=drums,
        register=register, dynamics=dynamics, articulation="legato" if density == "held" else articulation,
        density=density,
        emotion=emotion, genre=genre, solo=solo,
    )
