"""Captions for a piece, in varied natural language, built from its true parameters.

A caption mentions a random subset of the attributes, each in one of several phrasings, so a model
trained on them learns each attribute from its words and falls back on the corpus's spread for what a
caption leaves unsaid. Nothing a caption says is false about its piece.
"""
from __future__ import annotations

import random
import re

from analysis.score_model import words as W
from analysis.score_model.params import PieceParams
from synth.score.theory import PITCH_NAMES

P_TEMPO = 0.7      # a caption says something about the tempo ...
P_BPM = 0.55       # ... and then, this often, the bpm itself
P_DRUMS = 0.55     # a piece with drums says so this often
P_NO_DRUMS = 0.45  # a drumless one this often (less when it already says "solo")


def _instrument(rng: random.Random, program: int) -> str:
    return rng.choice(W.PROGRAM_NOUNS[program])


def _tempo(rng: random.Random, p: PieceParams, adjective: bool) -> str | None:
    r = rng.random()
    if r < P_BPM:
        return rng.choice(W.BPM_ADJECTIVES if adjective else W.BPM_PHRASES).format(bpm=p.bpm)
    words = [w for w, (lo, hi) in W.TEMPO_WORDS.items() if lo <= p.bpm <= hi]
    return rng.choice(words) if words and r < 0.85 else None


def _lead(rng: random.Random, p: PieceParams, solo: bool) -> str:
    noun = _instrument(rng, p.melody)
    if solo:
        return rng.choice(W.SOLO_FORMS).format(noun=noun, a_noun=f"a {noun}")
    return rng.choice((noun, f"{noun} melody", f"{noun} lead", f"melody on {noun}", f"{noun} playing the tune",
                       f"featuring {noun}", f"{noun} line", f"a {noun} theme", noun))


def _drums(rng: random.Random, p: PieceParams, solo: bool) -> str | None:
    if p.drums and rng.random() < P_DRUMS:
        if rng.random() < 0.3:
            word = rng.choice(W.DRUM_PATTERN_WORDS[p.drums])
            return rng.choice((word, f"with {word}", f"over {word}", f"backed by {word}"))
        return rng.choice(W.DRUM_WORDS)
    if not p.drums and rng.random() < (0.2 if solo else P_NO_DRUMS):
        return rng.choice(W.NO_DRUM_WORDS)
    return None


def _articles(text: str) -> str:
    """"a" before a vowel sound becomes "an" ("an upright bass", "an 80 bpm groove")."""
    return re.sub(r"\b(a|an) ([\w-]+)", lambda m: f"{'an' if _vowel_sound(m.group(2)) else 'a'} {m.group(2)}", text)


def _vowel_sound(word: str) -> bool:
    w = word.lower()
    return (w[0] in "aeiou" and not w.startswith(("uni", "eu", "one"))) or w.startswith("8")


def _accompaniment(rng: random.Random, p: PieceParams) -> list[str]:
    out = []
    if p.harmony is not None and rng.random() < 0.4:
        h = _instrument(rng, p.harmony)
        out.append(rng.choice((f"over {h} chords", f"with {h} accompaniment", f"{h} chords", f"backed by {h}",
                               f"with {h} harmony")))
    if p.bass is not None and rng.random() < 0.3:
        b = _instrument(rng, p.bass)
        b = b if "bass" in b else f"{b} bass"
        out.append(rng.choice((f"with a {b} line", f"{b} underneath", f"and {b}", f"over a {b} groove")))
    return out


def caption(p: PieceParams, rng: random.Random, nouns=W.PIECE_NOUNS, extra: tuple[str, ...] = ()) -> str:
    """One caption for `p`; `nouns` name the piece ("tune", or "jig" for a known tune type), `extra`
    are further true phrases one of which may be added ("in 6/8", "a traditional Irish tune")."""
    adjectives: list[str] = []
    tails: list[str] = []
    if p.emotion and rng.random() < 0.8:
        adjectives.append(rng.choice(W.EMOTIONS[p.emotion]))
        if rng.random() < 0.25:
            adjectives.append(rng.choice(W.MOOD_WORDS[p.emotion]))
    if p.genre and rng.random() < 0.75:
        adjectives.append(rng.choice(W.GENRE_WORDS[p.genre]))
    # Register, dynamics and sustain are said often: they are what a musician asks for most.
    for table, value, prob in ((W.DYNAMICS, p.dynamics, 0.45), (W.REGISTER, p.register, 0.45),
                               (W.ARTICULATION, p.articulation, 0.35),
                               (W.DENSITY, p.density, 0.6 if p.density == "held" else 0.25)):
        word = rng.choice(table[value]) if rng.random() < prob else ""
        if word:
            (adjectives if len(word.split()) == 1 or rng.random() < 0.5 else tails).append(word)
    solo = p.solo and rng.random() < 0.65
    lead = _lead(rng, p, solo) if rng.random() < 0.8 else None
    if lead is None and solo:
        tails.append(rng.choice(W.SOLO_TAILS))
    if rng.random() < P_TEMPO:
        as_adjective = rng.random() < 0.3
        tempo = _tempo(rng, p, as_adjective)
        if tempo:
            (adjectives if as_adjective or (not any(ch.isdigit() for ch in tempo) and rng.random() < 0.5)
             else tails).append(tempo)
    drums = _drums(rng, p, solo)
    if drums:
        tails.append(drums)
    if rng.random() < 0.12:
        tails.append(f"in {PITCH_NAMES[p.tonic]} {p.mode}")
    elif rng.random() < 0.12:
        tails.append(rng.choice(W.MODE_WORDS[p.mode]))
    if lead:
        tails.extend(_accompaniment(rng, p))
    if extra and rng.random() < 0.4:
        tails.append(rng.choice(extra))
    rng.shuffle(adjectives)
    rng.shuffle(tails)
    head = " ".join(adjectives)
    noun = rng.choice(nouns)
    form = rng.randrange(5)
    if lead is None:
        body = f"{head} {noun}".strip() if head or rng.random() < 0.5 else noun
    elif form == 0:
        body = f"{head} {lead}".strip()
    elif form == 1:
        body = f"a {head} {noun} for {lead}".replace("  ", " ")
    elif form == 2:
        body = f"{lead}, {head}" if head else lead
    elif form == 3:
        body = f"{head} {noun} with {lead}".strip()
    else:
        body = f"{lead} {head} {noun}".strip()
    joiner = rng.choice((", ", " ", ", ", " and "))
    text = joiner.join([body] + tails) if tails else body
    return _articles(" ".join(text.split()).strip(" ,"))


def captions(p: PieceParams, rng: random.Random, n: int, nouns=W.PIECE_NOUNS, extra: tuple[str, ...] = ()) -> list[str]:
    """`n` distinct captions (fewer if the piece's attributes allow fewer)."""
    out: list[str] = []
    for _ in range(n * 6):
        c = caption(p, rng, nouns, extra)
        if c and c not in out:
            out.append(c)
        if len(out) == n:
            break
    return out
