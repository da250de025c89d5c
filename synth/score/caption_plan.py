"""What a caption's words fix about a clip (`read_plan`), and a decoded score made to follow them (`follow`).
Pure: text in, `Plan` out; Score and Plan in, Score out.

The model writes the notes; the words, where they name something, decide it: the arrangement and the
instruments (`synth.score.arrangement_words`), a tempo range, a loudness and a register
(`synth.score.expression_words`); where they leave the band open, their tempo settles the drums
(`OPEN_BAND_DRUMS`). Where the words say nothing the model's choice stands. A register moves
the whole texture by octaves, only the way the words ask and only as far as their range's near edge (melody, harmony and bass together, so "high" brightens the whole mix and the
voices keep their spacing); a loudness moves every voice's and the drums' velocities by the same amount.
A melody with accompaniment (or an ensemble) that the model wrote without its other voices gets them from
its melody (`synth.score.accompany`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from synth.score.accompany import accompaniment
from synth.score.arrangement_words import open_band, read_arrangement
from synth.score.drums import DrumHit
from synth.score.expression_words import dynamics, register, tempo_direction, tempo_range
from synth.score.score import Note, Score, Voice

NEEDS = {"drums-only": (), "solo": ("melody",), "melody+accompaniment": ("melody",),
         "ensemble": ("melody", "harmony", "bass")}


@dataclass(frozen=True)
class Plan:
    """What the words fix; None (or empty) where they say nothing."""
    arrangement: str | None = None
    programs: dict[str, int] = field(default_factory=dict)   # role -> GM program
    drums: bool | None = None
    tempo: tuple[float, float] | None = None                 # bpm range
    dynamics: str | None = None                              # loud | soft
    velocity: tuple[float, float] | None = None              # the melody's mean velocity range for it
    register: str | None = None                              # high | low
    pitch: tuple[float, float] | None = None                 # the melody's mean pitch range for it
    set_arrangement: bool = False                            # the arrangement is the state's, not the words'
    steered: frozenset[str] = frozenset()                    # attributes the steering took from the words


# What the words can fix, each a name the sidecar's `<name>_from` uses.
ATTRIBUTES = ("arrangement", "instrument", "drums", "tempo", "dynamics", "register")


def _fixed(plan: Plan) -> dict[str, object]:
    return {"arrangement": plan.arrangement, "instrument": tuple(sorted(plan.programs.items())) or None, "drums": plan.drums,
            "tempo": plan.tempo, "dynamics": plan.dynamics, "register": plan.register}


def contrast_moves(positive: str, negative: str) -> frozenset[str]:
    """The attributes a contrast moves: those its two poles' words name differently ("fast" / "slow" the
    tempo, "piano" / "strings" the instrument; "bright" / "dark" none). The drums a tempo brings to an open
    band are not named, so "fast music" under a fast-slow slider keeps its kit while the tempo moves."""
    a, b = _fixed(_named(positive)), _fixed(_named(negative))
    return frozenset(k for k in ATTRIBUTES if a[k] != b[k])


def release(plan: Plan, moved: frozenset[str]) -> Plan:
    """`plan` without what the steering moves (the model, steered, decides those); the words keep the rest."""
    moved = frozenset(moved) & frozenset(k for k, v in _fixed(plan).items() if v is not None)
    if not moved:
        return plan
    return replace(plan,
                   arrangement=None if "arrangement" in moved else plan.arrangement,
                   programs={} if "instrument" in moved else plan.programs,
                   drums=None if "drums" in moved else plan.drums,
                   tempo=None if "tempo" in moved else plan.tempo,
                   dynamics=None if "dynamics" in moved else plan.dynamics,
                   velocity=None if "dynamics" in moved else plan.velocity,
                   register=None if "register" in moved else plan.register,
                   pitch=None if "register" in moved else plan.pitch,
                   steered=moved)


# Where the words leave the band open (`open_band`) and name no kit, their tempo settles the drums as it does
# in real captions: such MusicCaps captions name a kit 59 times to 23 when their tempo words read fast, and 8 to
# 33 when slow (`python bench/drums_by_tempo.py`), past the drums head's two to one either way. The corpus
# generator drew drums whatever the tempo, so the drums head cannot know this; without tempo words it decides.
OPEN_BAND_DRUMS = {"fast": True, "slow": False}


def _named(text: str) -> Plan:
    """What the words name, each attribute by its own words."""
    a = read_arrangement(text)
    loudness, velocity = dynamics(text)
    height, pitch = register(text)
    return Plan(a.arrangement, a.programs, a.drums, tempo_range(text), loudness, velocity, height, pitch)


def read_plan(text: str) -> Plan:
    plan = _named(text)
    if plan.drums is None and open_band(text):
        plan = replace(plan, drums=OPEN_BAND_DRUMS.get(tempo_direction(text)))
    return plan


def bpm_within(bpm: float, plan: Plan) -> float:
    """The model's bpm, held inside the range the words name."""
    if plan.tempo is None:
        return bpm
    lo, hi = plan.tempo
    return min(hi, max(lo, bpm))


def _mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def _voices_for(score: Score, arrangement: str | None) -> list[Voice]:
    voices = [v for v in score.voices if v.notes]
    if arrangement == "drums-only":
        return []
    if arrangement == "solo":   # the melody alone; a model that wrote none gives its first voice instead
        lead = next((v for v in voices if v.role == "melody"), voices[0] if voices else None)
        return [replace(lead, role="melody")] if lead is not None else []
    melody = score.voice("melody")
    if arrangement in ("melody+accompaniment", "ensemble") and melody is not None and melody.notes:
        have = {v.role for v in voices}
        wanted = ("harmony", "bass") if arrangement == "ensemble" or have == {"melody"} else ()
        voices += [accompaniment(melody, score.tonic, score.mode, role) for role in wanted if role not in have]
    return voices


def _octaves(score_voices: list[Voice], span: tuple[float, float], up: bool) -> int:
    """Whole octaves that bring the melody's mean pitch into `span` the way the words ask: up to its floor
    for "high", down to its ceiling for "low" (0 when it is there or beyond: "high" never lowers a line)."""
    melody = next((v for v in score_voices if v.role == "melody"), None)
    mean = _mean(n.pitch for n in melody.notes) if melody is not None else None
    if mean is None:
        return 0
    shift = 0
    while up and mean + 12 * shift < span[0]:
        shift += 1
    while not up and mean + 12 * shift > span[1]:
        shift -= 1
    return shift


def _velocity_shift(score: Score, voices: list[Voice], span: tuple[float, float], up: bool) -> int:
    """The velocity change that brings the melody's mean into `span` the way the words ask (0 beyond it)."""
    melody = next((v for v in voices if v.role == "melody"), None)
    notes = melody.notes if melody is not None else [n for v in voices for n in v.notes]
    mean = _mean(n.velocity for n in notes) if notes else _mean(h.velocity for h in score.drums)
    if mean is None:
        return 0
    target = max(mean, span[0]) if up else min(mean, span[1])
    return int(round(target - mean))


def follow(score: Score, plan: Plan) -> Score:
    """`score` with its voices, instruments, register and loudness as `plan` says (the rest unchanged)."""
    voices = [replace(v, program=plan.programs.get(v.role, v.program)) for v in _voices_for(score, plan.arrangement)]
    octaves = _octaves(voices, plan.pitch, plan.register == "high") if plan.pitch else 0
    gain = _velocity_shift(score, voices, plan.velocity, plan.dynamics == "loud") if plan.velocity else 0

    def moved(n: Note) -> Note:
        pitch = n.pitch + 12 * octaves
        while pitch > 127:
            pitch -= 12
        while pitch < 0:
            pitch += 12
        return Note(n.start, n.duration, pitch, max(1, min(127, n.velocity + gain)))

    if octaves or gain:
        voices = [replace(v, notes=[moved(n) for n in v.notes]) for v in voices]
    drums = [DrumHit(h.start, h.lane, max(1, min(127, h.velocity + gain))) for h in score.drums] if gain else score.drums
    groove = score.groove
    if gain and groove is not None:
        groove = replace(groove, level=max(1, min(127, groove.level + gain)))
    return replace(score, voices=voices, drums=drums, groove=groove)
