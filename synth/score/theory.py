"""Scales, snapping to a key and diatonic triads: the harmony the generator writes and the decoder rebuilds."""
from __future__ import annotations

MODES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}  # natural minor
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def check_key(tonic: int, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not major or minor")
    if not 0 <= int(tonic) <= 11:
        raise ValueError(f"tonic {tonic} is not a pitch class 0..11")


def in_scale(pitch: int, tonic: int, mode: str) -> bool:
    return (int(pitch) - tonic) % 12 in MODES[mode]


def snap(pitch: float, tonic: int, mode: str) -> int:
    """The scale tone nearest `pitch` (ties go down), clipped to the MIDI range."""
    base = int(round(pitch))
    for d in (0, -1, 1, -2, 2):
        p = base + d
        if 0 <= p <= 127 and in_scale(p, tonic, mode):
            return p
    return max(0, min(127, base))


def degree_pitch(degree: int, tonic: int, mode: str, octave_base: int = 60) -> int:
    """The pitch of scale degree `degree` (0 = tonic; may be negative or above 6) above `octave_base`'s C."""
    steps = MODES[mode]
    octave, idx = divmod(int(degree), 7)
    return octave_base + tonic + 12 * octave + steps[idx]


def scale_degree(pitch: int, tonic: int, mode: str) -> int:
    """Inverse of degree_pitch for a scale tone (octave_base 60)."""
    rel = int(pitch) - 60 - tonic
    octave, pc = divmod(rel, 12)
    return 7 * octave + MODES[mode].index(pc)


def triad(root: int, tonic: int, mode: str) -> tuple[int, int, int]:
    """The diatonic triad stacked in thirds on the scale tone `root` (root position)."""
    d = scale_degree(root, tonic, mode)
    return root, degree_pitch(d + 2, tonic, mode), degree_pitch(d + 4, tonic, mode)
