"""Drum grooves: a named pattern, a level and the bars that end in a fill -> the hits a kit plays.

The corpus generator writes its drum parts only through `groove_hits`, and the decoder rebuilds them
from the latent's pattern, level and fill channels the same way, so score -> curves -> score keeps
every hit. Patterns are one 4/4 bar of 16ths per lane (kick, snare, hi-hat, ride: `DRUM_KEYS`), each
hit with an accent 0..1.
"""
from __future__ import annotations

import math

from dataclasses import dataclass

# Drum lanes -> GM percussion key (channel 10): kick, snare, closed hi-hat, ride.
DRUM_KEYS = (36, 38, 42, 51)
DRUM_LANE_NAMES = ("kick", "snare", "hi-hat", "ride")


@dataclass(frozen=True)
class DrumHit:
    start: float     # beats
    lane: int        # index into DRUM_KEYS
    velocity: int


@dataclass(frozen=True)
class Groove:
    pattern: str               # a name in PATTERNS
    level: int                 # velocity of an unaccented hit, 1..127 (accents add up to 10)
    fills: tuple[int, ...] = ()  # bars (0 = the clip's first) that end with a snare fill

    def to_dict(self) -> dict:
        return {"pattern": self.pattern, "level": self.level, "fills": list(self.fills)}

    @classmethod
    def from_dict(cls, d: dict) -> "Groove":
        return cls(str(d["pattern"]), int(d["level"]), tuple(int(b) for b in d.get("fills", ())))


STEPS = 16  # 16th notes per 4/4 bar
# Above this tempo a 16th is shorter than ~2 latent frames (46 ms each): two 16ths in a row would blur
# into one onset, so fast pieces (melody and drums) move in 8ths at most.
FAST_BPM = 140
FILL_STEPS = (13, 14, 15)   # a snare fill at the end of a bar
FAST_FILL_STEPS = (14,)
FILL_ACCENT = 0.5
MIN_VELOCITY = 30           # softer kit hits vanish under the other voices

# lanes: kick, snare, hi-hat, ride; each {step: accent}
PATTERNS: dict[str, tuple[dict[int, float], ...]] = {
    "rock": ({0: 1, 8: 0.9, 10: 0.6}, {4: 1, 12: 1}, {s: 0.7 - 0.2 * (s % 4 != 0) for s in range(0, 16, 2)}, {}),
    "four": ({0: 1, 4: 1, 8: 1, 12: 1}, {4: 0.8, 12: 0.8}, {s: 0.8 for s in (2, 6, 10, 14)}, {}),
    "halftime": ({0: 1, 10: 0.7}, {8: 1}, {s: 0.6 for s in range(0, 16, 2)}, {}),
    "swing": ({0: 0.5}, {}, {4: 0.6, 12: 0.6}, {0: 0.9, 4: 0.8, 7: 0.5, 8: 0.9, 12: 0.8, 15: 0.5}),
    "breakbeat": ({0: 1, 6: 0.8, 10: 0.9}, {4: 1, 12: 1, 15: 0.4}, {s: 0.5 + 0.2 * (s % 4 == 0) for s in range(16)}, {}),
    "funk": ({0: 1, 3: 0.7, 10: 0.9}, {4: 1, 7: 0.35, 9: 0.35, 12: 1}, {s: 0.45 + 0.3 * (s % 2 == 0) for s in range(16)}, {}),
    "lofi": ({0: 0.9, 7: 0.6, 10: 0.8}, {4: 0.8, 12: 0.8}, {s: 0.4 + 0.15 * (s % 4 == 0) for s in range(0, 16, 2)}, {}),
    "folk": ({0: 0.9, 8: 0.8}, {4: 0.6, 12: 0.6}, {}, {s: 0.5 for s in (0, 4, 8, 12)}),
    "pop": ({0: 1, 6: 0.7, 8: 0.9}, {4: 1, 12: 1}, {s: 0.6 for s in range(0, 16, 2)}, {}),
    "epic": ({0: 1, 3: 0.8, 6: 0.9, 8: 1, 11: 0.8, 14: 0.9}, {12: 1}, {}, {0: 1}),
}
PATTERN_NAMES = tuple(PATTERNS)


def check_groove(groove: Groove) -> Groove:
    if groove.pattern not in PATTERNS:
        raise ValueError(f"drum pattern {groove.pattern!r} is not one of {', '.join(PATTERN_NAMES)}")
    if not 1 <= groove.level <= 127:
        raise ValueError(f"drum level {groove.level} is outside 1..127")
    return groove


def hit_velocity(level: int, accent: float) -> int:
    return max(MIN_VELOCITY, min(127, int(level) + int(round(10 * accent))))


def bars_in(beats: float) -> int:
    """4/4 bars that start before `beats`."""
    return max(0, math.ceil(beats / 4 - 1e-9))


def groove_hits(groove: Groove, bpm: float, bars: int) -> list[DrumHit]:
    """The hits of `bars` bars of `groove` at `bpm`, sorted by time and lane."""
    check_groove(groove)
    fast = bpm > FAST_BPM
    fills = set(groove.fills)
    hits = []
    for bar in range(bars):
        for lane, pattern in enumerate(PATTERNS[groove.pattern]):
            for s, accent in pattern.items():
                if s % 2 and fast:
                    continue
                hits.append(DrumHit((bar * STEPS + s) / 4.0, lane, hit_velocity(groove.level, accent)))
            if lane == 1 and bar in fills:
                hits.extend(DrumHit((bar * STEPS + s) / 4.0, 1, hit_velocity(groove.level, FILL_ACCENT))
                            for s in (FAST_FILL_STEPS if fast else FILL_STEPS) if s not in pattern)
    return sorted(hits, key=lambda h: (h.start, h.lane))


def read_groove(hits: list[tuple[float, int, int]], bpm: float, bars: int,
                min_overlap: float = 0.5) -> Groove | None:
    """Hits (start in beats, GM key, velocity) -> the groove that plays them, or None.

    The pattern is the one whose hits overlap the given ones most (Jaccard over 16th and lane, at
    least `min_overlap`); fills are the bars whose snare plays the fill steps the pattern leaves out;
    the level is the median velocity less each matched hit's accent. A groove of ours reads back exactly.
    """
    lane_of = {key: lane for lane, key in enumerate(DRUM_KEYS)}
    given = {(int(round(s * 4)), lane_of[k]): v for s, k, v in hits if k in lane_of and s >= 0}
    if not given or bars < 1:
        return None
    fill_steps = FAST_FILL_STEPS if bpm > FAST_BPM else FILL_STEPS
    best, best_key = None, (min_overlap, float("-inf"))
    for name in PATTERN_NAMES:
        snare = PATTERNS[name][1]
        fills = tuple(b for b in range(bars)
                      if all((b * STEPS + s, 1) in given for s in fill_steps if s not in snare)
                      and any(s not in snare for s in fill_steps))
        accents = {(int(round(h.start * 4)), h.lane): h.velocity - 64
                   for h in groove_hits(Groove(name, 64, fills), bpm, bars)}
        matched = accents.keys() & given.keys()
        overlap = len(matched) / len(accents.keys() | given.keys())
        levels = sorted(given[k] - accents[k] for k in matched)
        level = max(1, min(127, levels[len(levels) // 2])) if levels else 64
        # patterns that play the same hits (funk and lo-fi in 8ths) are told apart by their accents
        error = sum(abs(given[k] - level - accents[k]) for k in matched)
        if (overlap, -error) > best_key:
            best, best_key = Groove(name, level, fills), (overlap, -error)
    return best
