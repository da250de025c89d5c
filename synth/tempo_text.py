"""A tempo stated as a number in a prompt ("92 bpm", "at 116 BPM", "tempo: 80", "120 beats per minute").

Text encoders blur numbers ("72 bpm" and "88 bpm" sit close together in MiniLM's space), so a model that
plays in musical time takes the number from the text itself and meets it exactly.
"""
from __future__ import annotations

import re

_NUMBER = r"(\d{2,3}(?:\.\d+)?)"
_PATTERNS = (
    re.compile(_NUMBER + r"\s*-?\s*(?:bpm|b\.p\.m\.?|beats?\s+(?:per|a|each)\s+minute)\b", re.I),
    re.compile(r"\b(?:bpm|tempo|metronome)\s*(?:is|of|at|=|:|set to|set at)?\s*(?:about|around|roughly|exactly)?\s*" + _NUMBER + r"\b",
               re.I),
)
RANGE = (20.0, 400.0)  # SynthState's bpm range: a number outside it is not read as a tempo


def stated_bpm(text: str) -> float | None:
    """The first tempo stated in `text` as a number, or None."""
    found = []
    for pattern in _PATTERNS:
        found += [(m.start(), float(m.group(1))) for m in pattern.finditer(text or "")]
    for _, bpm in sorted(found):
        if RANGE[0] <= bpm <= RANGE[1]:
            return bpm
    return None
