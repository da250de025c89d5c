"""Tempo, dynamics and register as a caption's words say them, in a musician's vocabulary. Pure: text in,
a range out, or None where the words say nothing.

Read before the text heads: where the words name a tempo ("laid-back", "double-time", "presto"), the tempo
head's bpm is held inside that word's range; a loudness ("pianissimo", "full blast") or a register ("in the
upper register", "down low") sets the range the melody's mean velocity or pitch is moved into, and the
whole texture moves with it (`synth.score.caption_plan`). The ranges are the corpus generator's own
(`analysis/score_model/compose.py`: soft velocities 32-56, loud 96-122; a low melody centres on MIDI 50, a
high one on 79).

Where the words come from (none was chosen on the paraphrase set, tests/fixtures/score_paraphrases.yaml):
the corpus generator's tempo, dynamics and register words; the tempo phrases of MusicCaps' real captions
("the tempo is fast", "medium fast", "fast-paced") and the words that go with a stated fast or slow tempo
there at least ten to one (the `MILD` tiers: "energetic" 160 captions to 3, "sentimental" 35 to 0); the
Italian markings; the idioms musicians type most ("laid-back", "double-time", "up-tempo"). Instrument names are blanked first, so
"piano" the instrument is not a dynamic and "soprano sax" not a register.
"""
from __future__ import annotations

import re

from synth.score.instrument_words import find_instruments, normalise

# (phrases, bpm range): the first phrase found in reading order decides; a longer phrase wins at a place
TEMPO_TIERS: tuple[tuple[tuple[str, ...], tuple[float, float]], ...] = (
    (("very slow", "very slowly", "extremely slow", "really slow", "largo", "larghissimo", "lento", "grave",
      "funeral", "dirge", "crawling"), (50.0, 66.0)),
    (("slow", "slowly", "slower", "slow paced", "slow tempo", "slow moving", "adagio", "adagietto", "unhurried",
      "leisurely", "languid", "sluggish", "plodding", "lazy", "laid back", "laidback", "half time", "halftime",
      "downtempo", "sleepy", "drowsy", "stately", "easygoing", "at a gentle pace", "relaxed tempo", "mellow tempo",
      "medium slow"), (50.0, 84.0)),
    (("very fast", "extremely fast", "really fast", "presto", "prestissimo", "breakneck", "double time",
      "doubletime", "blistering"), (155.0, 180.0)),
    (("fast", "faster", "quick", "quickly", "fast paced", "fast tempo", "brisk", "briskly", "uptempo", "up tempo",
      "rapid", "rapidly", "swift", "speedy", "hasty", "hurried", "racing", "driving", "galloping", "nimble", "zippy",
      "high tempo", "allegro", "vivace", "vivo", "frantic", "medium fast"), (125.0, 180.0)),
)
MILD_TEMPO: tuple[tuple[tuple[str, ...], tuple[float, float]], ...] = (
    (("energetic", "upbeat", "lively", "spirited", "vigorous", "peppy", "pulsating", "vivacious", "buoyant",
      "sprightly"), (110.0, 180.0)),
    (("sentimental", "pensive", "poignant", "dreamy", "calming", "soothing", "meditative", "melancholic",
      "nostalgic"), (50.0, 95.0)),
)
DYNAMICS: dict[str, tuple[tuple[str, ...], tuple[float, float]]] = {
    "loud": (("loud", "loudly", "louder", "forte", "fortissimo", "ff", "fff", "powerful", "forceful", "booming",
              "thunderous", "thundering", "blaring", "full volume", "full blast", "strong", "punchy", "hard hitting",
              "played hard", "with force", "pounding"), (96.0, 122.0)),
    "soft": (("soft", "softly", "quiet", "quietly", "gentle", "gently", "delicate", "delicately", "hushed",
              "pianissimo", "pp", "ppp", "whisper", "whispering", "faint", "barely audible", "sotto voce"), (32.0, 56.0)),
}
REGISTER: dict[str, tuple[tuple[str, ...], tuple[float, float]]] = {
    "high": (("high", "high register", "upper register", "highest register", "top register", "high pitched",
              "high range", "upper range", "up high", "high up", "high octave", "upper octave", "high notes",
              "soaring high", "treble", "way up"), (72.0, 88.0)),
    "low": (("low", "low register", "lower register", "lowest register", "bottom register", "low pitched",
             "low range", "lower range", "down low", "low octave", "lower octave", "low notes", "low end",
             "bottom end", "deep", "bass register", "chalumeau"), (42.0, 58.0)),
}
# "high" and "low" that say something else: "high energy", "low key", "lo-fi"
NOT_REGISTER = r"(?:energy|tempo|speed|quality|fidelity|intensity|key|volume|pass|hat|five)"


def _blank_instruments(text: str) -> str:
    norm = normalise(text)
    for m in reversed(find_instruments(norm)):
        norm = norm[:m.start] + " , " + norm[m.end:]
    return norm


def _first(text: str, tiers) -> tuple[int, str | None, tuple[float, float] | None]:
    """(position, tier name, range) of the first phrase found, longest at each place."""
    best: tuple[int, int, str | None, tuple[float, float] | None] = (len(text) + 1, 0, None, None)
    for name, (phrases, span) in tiers:
        for p in phrases:
            guard = rf"(?! {NOT_REGISTER}(?![a-z0-9]))" if p in ("high", "low") else ""
            for m in re.finditer(rf"(?<![a-z0-9]){re.escape(p)}(?![a-z0-9]){guard}", text):
                if (m.start(), -len(p)) < (best[0], -best[1]):
                    best = (m.start(), len(p), name, span)
    return best[0], best[2], best[3]


def tempo_range(text: str) -> tuple[float, float] | None:
    """The bpm range the words name, or None."""
    norm = _blank_instruments(text)
    _, _, span = _first(norm, [(str(i), t) for i, t in enumerate(TEMPO_TIERS)])
    if span is None:
        _, _, span = _first(norm, [(str(i), t) for i, t in enumerate(MILD_TEMPO)])
    return span


def tempo_direction(text: str) -> str | None:
    """"fast" or "slow" as the words name a tempo (every tier lies wholly above or below 100 bpm), or None."""
    span = tempo_range(text)
    if span is None:
        return None
    return "fast" if span[0] >= 100.0 else "slow" if span[1] <= 100.0 else None


def dynamics(text: str) -> tuple[str | None, tuple[float, float] | None]:
    """("loud" | "soft", the melody's mean velocity range) the words name, or (None, None)."""
    return _first(_blank_instruments(text), DYNAMICS.items())[1:]


def register(text: str) -> tuple[str | None, tuple[float, float] | None]:
    """("high" | "low", the melody's mean pitch range) the words name, or (None, None)."""
    return _first(_blank_instruments(text), REGISTER.items())[1:]
