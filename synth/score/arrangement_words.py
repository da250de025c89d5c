"""Which voices play, and on what, as a caption's words say: the arrangement, each named voice's GM program
and whether the drum kit plays. Pure: text in, `Arrangement` out; None wherever the words say nothing
(the model decides there).

The arrangements (`ARRANGEMENTS`), each a fact about a score (`arrangement_of`):
- drums-only: the kit and no pitched voice ("a drum solo", "just percussion", "kick, snare and hats only");
- solo: one pitched voice, no drums ("solo piano", "unaccompanied cello", "just a harp");
- melody+accompaniment: a melody and at least one other pitched voice ("a trombone over a walking bass",
  "a flute tune with guitar accompaniment", "a sitar melody over a drone");
- ensemble: melody, harmony and bass all playing ("a string orchestra", "a brass band", "a jazz quartet").
A score with one pitched voice and drums is `melody+drums`, which no words ask for by that name.

Roles: the first instrument named that is not marked as accompaniment is the melody's ("an oboe line
accompanied by strings": oboe); the others accompany, a bass instrument on the bass voice, the rest on the
harmony voice. An instrument is accompaniment when the words around it say so: "over / under / backed by /
accompanied by X", "X chords / comping / accompaniment / backing". Named ensembles bring their usual
instruments ("string quartet": violin, viola, cello) and, for the bands that have one, the drum kit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from synth.score.instrument_words import KIT, Mention, find_instruments, normalise
from synth.score.score import Score
from synth.state import ARRANGEMENTS

SETTLES_KIT = {"drums-only": True, "solo": False}   # the arrangements that say whether the kit plays
BASS_PROGRAMS = frozenset(range(32, 40)) | {42, 43, 58, 70}   # basses, cello, contrabass, tuba, bassoon

ALONE = ("solo", "alone", "unaccompanied", "on its own", "on their own", "by itself", "by himself", "by herself",
         "just", "only", "lone", "nothing else", "no band", "no other instruments", "no instruments", "no melody",
         "no accompaniment", "nothing on top", "a cappella", "break", "single")
ACCOMPANIMENT = ("accompaniment", "accompanied", "accompanying", "backing", "backed", "comping", "chords", "continuo",
                 "drone", "drones", "rhythm section", "pads", "harmony", "harmonies")
BEFORE_ACCOMPANIMENT = ("over", "backed by", "accompanied by", "against", "above", "on top of")
# A part named by its role: a bass line is the bass voice, never the melody, where the words name a melody
# apart ("a gentle melody with chords and a bass line"); alone ("a funky bass line") it leads.
PARTS = ("bass line", "bassline", "walking bass")
MELODY_WORDS = ("melody", "melodies", "tune", "theme", "lead line", "lead")
AFTER_ACCOMPANIMENT = ("chords", "comping", "accompaniment", "backing", "continuo", "under", "beneath", "behind",
                       "accompanying", "pads")

# name -> (role programs, drums): a named ensemble's usual instruments; None where the words leave it open
ENSEMBLES: dict[str, tuple[dict[str, int], bool | None]] = {
    "string quartet": ({"melody": 40, "harmony": 41, "bass": 42}, False),
    "string orchestra": ({"melody": 49, "harmony": 48, "bass": 42}, False),
    "string section": ({"melody": 48, "harmony": 48, "bass": 42}, None),
    "string ensemble": ({"melody": 48, "harmony": 48, "bass": 42}, None),
    "strings section": ({"melody": 48, "harmony": 48, "bass": 42}, None),
    "orchestra of strings": ({"melody": 48, "harmony": 48, "bass": 42}, None),
    "orchestra": ({"harmony": 48, "bass": 42}, None),
    "brass band": ({"melody": 56, "harmony": 61, "bass": 58}, None),
    "brass section": ({"melody": 61, "harmony": 61, "bass": 58}, None),
    "brass quintet": ({"melody": 56, "harmony": 61, "bass": 58}, False),
    "brass ensemble": ({"melody": 56, "harmony": 61, "bass": 58}, None),
    "wind quintet": ({"melody": 73, "harmony": 71, "bass": 70}, False),
    "woodwind quintet": ({"melody": 73, "harmony": 71, "bass": 70}, False),
    "wind ensemble": ({"melody": 73, "harmony": 71, "bass": 70}, None),
    "sax quartet": ({"melody": 64, "harmony": 65, "bass": 67}, False),
    "saxophone quartet": ({"melody": 64, "harmony": 65, "bass": 67}, False),
    "choir": ({"melody": 52, "harmony": 52, "bass": 52}, False),
    "steel band": ({"melody": 114, "harmony": 114}, None),
    "rock band": ({"harmony": 29, "bass": 33}, True),
    "jazz band": ({"harmony": 0, "bass": 32}, True),
    "jazz combo": ({"harmony": 0, "bass": 32}, True),
    "jazz trio": ({"harmony": 0, "bass": 32}, True),
    "jazz quartet": ({"harmony": 0, "bass": 32}, True),
    "jazz quintet": ({"harmony": 0, "bass": 32}, True),
    "big band": ({"melody": 61, "harmony": 65, "bass": 32}, True),
    "funk band": ({"harmony": 7, "bass": 36}, True),
    "mariachi band": ({"melody": 56, "harmony": 24, "bass": 32}, None),
    "marching band": ({"melody": 56, "harmony": 61, "bass": 58}, True),
}
ENSEMBLE_WORDS = ("band", "ensemble", "orchestra", "quartet", "quintet", "trio", "sextet", "combo", "consort", "choir")


@dataclass(frozen=True)
class Arrangement:
    """What the words fix: None (or an empty map) wherever they say nothing."""
    arrangement: str | None = None
    programs: dict[str, int] = field(default_factory=dict)   # role -> GM program
    drums: bool | None = None


def _has(text: str, phrases) -> bool:
    return any(re.search(rf"(?<![a-z0-9]){re.escape(p)}(?![a-z0-9])", text) for p in phrases)


def _said(text: str, phrases) -> bool:
    """A phrase is there and not denied ("no rhythm section", "without accompaniment")."""
    return any(re.search(rf"(?<!\bno )(?<!\bwithout )(?<!\bwithout any )(?<![a-z0-9]){re.escape(p)}(?![a-z0-9])", text)
               for p in phrases)


def _words_around(text: str, m: Mention, n: int = 3) -> tuple[str, str]:
    return " ".join(text[:m.start].split()[-n:]), " ".join(text[m.end:].split()[:n])


def _accompanies(text: str, m: Mention) -> bool:
    before, after = _words_around(text, m)
    return _has(before, BEFORE_ACCOMPANIMENT) or _has(after, AFTER_ACCOMPANIMENT)


def _ensemble(text: str) -> tuple[str | None, dict[str, int], bool | None, range]:
    """(name, its programs, its drums, its characters) of the ensemble the words name, if any."""
    for name in sorted(ENSEMBLES, key=len, reverse=True):
        m = re.search(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", text)
        if m:
            programs, drums = ENSEMBLES[name]
            return name, dict(programs), drums, range(m.start(), m.end())
    return ("ensemble" if _has(text, ENSEMBLE_WORDS) else None), {}, None, range(0)


def read_arrangement(text: str) -> Arrangement:
    norm = normalise(text)
    mentions = find_instruments(norm)
    ensemble, programs, ensemble_drums, named_in = _ensemble(norm)
    pitched = [m for m in mentions if m.program != KIT and not m.negated and m.start not in named_in]
    kit = [m for m in mentions if m.program == KIT]
    kit_on = any(not m.negated for m in kit)
    drums = True if kit_on else (False if kit else None)
    leads = [m for m in pitched if not _accompanies(norm, m) and not (m.name in PARTS and _has(norm, MELODY_WORDS))]
    leads = leads or ([] if _has(norm, MELODY_WORDS) and pitched and pitched[0].name in PARTS else pitched[:1])
    named: dict[str, int] = {"melody": leads[0].program} if leads else {}
    for m in pitched:
        if not leads or m is not leads[0]:
            named.setdefault("bass" if m.program in BASS_PROGRAMS else "harmony", m.program)
    programs.update(named)
    accompanied = _said(norm, ACCOMPANIMENT) or len(pitched) > 1
    if kit_on and not pitched and _has(norm, ALONE):
        return Arrangement("drums-only", {}, SETTLES_KIT["drums-only"])
    if ensemble is not None:
        return Arrangement("ensemble", programs, drums if drums is not None else ensemble_drums)
    if pitched and accompanied:
        return Arrangement("melody+accompaniment", programs, drums)
    if pitched and not kit_on and _has(norm, ALONE):
        return Arrangement("solo", programs, SETTLES_KIT["solo"])
    return Arrangement(None, programs, drums)


def open_band(text: str) -> bool:
    """The words name no pitched instrument, ensemble or arrangement ("solo", "with accompaniment"); the kit
    aside, they leave the band open."""
    norm = normalise(text)
    return (not any(m.program != KIT for m in find_instruments(norm)) and _ensemble(norm)[0] is None
            and not _has(norm, ALONE) and not _has(norm, ACCOMPANIMENT))


def arrangement_of(score: Score) -> str:
    """The arrangement a score plays: one of ARRANGEMENTS, `melody+drums`, or `silent`."""
    roles = {v.role for v in score.voices if v.notes}
    if not roles:
        return "drums-only" if score.drums else "silent"
    if roles == {"melody", "harmony", "bass"}:
        return "ensemble"
    if len(roles) > 1:
        return "melody+accompaniment"
    return "melody+drums" if score.drums else "solo"
