"""What a slider measurably does, in words: effect sizes, selectivity, effect names, and whether the
atlas label (the prompts a feature fires on) agrees with the measured effect.

Pure: per-clip measurements in (dicts of floats, and on the score backend the decoded score summaries
that `synth.score.summary` writes), numbers and short text out.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Mapping, Sequence

import numpy as np

from analysis.stats import cohens_d
from synth.score.gm import FAMILIES

# The word a slider earns when raising it moves an acoustic feature up / down.
EFFECT_WORDS: dict[str, tuple[str, str]] = {
    "onset_density": ("denser", "sparser"),
    "spectral_centroid_mean": ("brighter", "darker"),
    "spectral_centroid_std": ("more timbre motion", "steadier timbre"),
    "rms_mean": ("louder", "softer"),
    "rms_std": ("more dynamic", "flatter dynamics"),
    "spectral_flatness_mean": ("noisier", "more tonal"),
    "zero_crossing_rate": ("hissier", "rounder"),
    "tempo": ("faster", "slower"),
    "spectral_bandwidth_mean": ("wider", "narrower"),
    "spectral_flux_mean": ("busier", "calmer"),
    "spectral_flux_std": ("more uneven", "more even"),
}
# What the decoded score says (score backend only): measures per clip, and their words.
SCORE_MEASURES = ("bpm", "melody_pitch", "melody_velocity", "notes_per_second", "drums")
SCORE_WORDS = {"bpm": ("faster", "slower"), "melody_pitch": ("higher", "lower"),
               "melody_velocity": ("played harder", "played softer"),
               "notes_per_second": ("more notes", "fewer notes"), "drums": ("more drums", "fewer drums")}
HEADLINE = ("onset_density", "spectral_centroid_mean", "rms_mean", "spectral_flatness_mean")  # not tempo: noisy on 5 s
MIN_D = 0.8            # |d| below this is not an effect worth a name (screen seeds are few)
MIN_SHARE = 0.4        # an instrument effect: the melody family's share rises by at least this much

# Atlas words whose meaning predicts a measurable effect: word -> [(measure, sign)], any one agreeing
# counts. Instruments are predicted through the melody's GM family (score backend).
LABEL_CLAIMS: dict[str, list[tuple[str, int]]] = {
    **{w: [("rms_mean", 1), ("melody_velocity", 1)] for w in ("loud", "louder", "loudly", "powerful", "heavy")},
    **{w: [("rms_mean", -1), ("melody_velocity", -1)] for w in ("soft", "quiet", "quietly", "gentle", "gently", "calm")},
    **{w: [("onset_density", 1), ("tempo", 1), ("bpm", 1), ("notes_per_second", 1)]
       for w in ("fast", "speed", "high-speed", "quick", "rapid", "rapidly", "busy", "energetic")},
    **{w: [("onset_density", -1), ("tempo", -1), ("bpm", -1), ("notes_per_second", -1)]
       for w in ("slow", "slowly", "sparse", "relaxing")},
    **{w: [("spectral_centroid_mean", 1), ("melody_pitch", 1)]
       for w in ("high", "high-pitched", "bright", "shrill", "treble")},
    **{w: [("spectral_centroid_mean", -1), ("melody_pitch", -1)] for w in ("low", "low-pitched", "deep", "dark")},
    **{w: [("spectral_flatness_mean", 1)] for w in ("noise", "noisy", "static", "hiss", "wind")},
    **{w: [("drums", 1)] for w in ("drum", "drums", "drumming", "percussion", "beat")},
}
INSTRUMENT_WORDS: dict[str, int] = {
    "piano": 0, "keyboard": 0, "harpsichord": 0, "bells": 1, "marimba": 1, "xylophone": 1, "vibraphone": 1,
    "organ": 2, "accordion": 2, "harmonica": 2, "guitar": 3, "guitars": 3, "bass": 4, "violin": 5, "cello": 5,
    "strings": 5, "harp": 5, "choir": 6, "orchestra": 6, "trumpet": 7, "brass": 7, "horn": 7, "trombone": 7,
    "saxophone": 8, "sax": 8, "clarinet": 8, "oboe": 8, "flute": 9, "whistle": 9, "synthesizer": 10,
    "synth": 10, "electronic": 10, "sitar": 13, "banjo": 13, "koto": 13, "bagpipes": 13,
}
SYNTH_FAMILIES = (10, 11, 12)   # lead, pad, effects: "synthesizer" agrees with any of them


def score_measures(summary: Mapping, seconds: float) -> dict[str, float]:
    """One clip's score summary ({"bpm", "drums", "voices": [...]}) -> the SCORE_MEASURES (NaN where absent)."""
    voices = {v["role"]: v for v in summary.get("voices", [])}
    melody = voices.get("melody")
    return {"bpm": float(summary["bpm"]),
            "melody_pitch": float(melody["mean_pitch"]) if melody else math.nan,
            "melody_velocity": float(melody["mean_velocity"]) if melody else math.nan,
            "notes_per_second": sum(v["notes"] for v in voices.values()) / max(seconds, 1e-9),
            "drums": float(bool(summary.get("drums")))}


def melody_family(summary: Mapping) -> int | None:
    for v in summary.get("voices", []):
        if v["role"] == "melody":
            return int(v["program"]) // 8
    return None


def effect_sizes(pos: Sequence[Mapping[str, float]], neg: Sequence[Mapping[str, float]],
                 names: Sequence[str]) -> dict[str, float]:
    """Cohen's d (+ pole minus − pole) per measure, NaN values left out; NaN with fewer than 2 a side."""
    out = {}
    for name in names:
        a = [x[name] for x in pos if math.isfinite(x.get(name, math.nan))]
        b = [x[name] for x in neg if math.isfinite(x.get(name, math.nan))]
        d = cohens_d(a, b)
        out[name] = float(np.clip(d, -99.0, 99.0)) if not math.isnan(d) else math.nan
    return out


def instrument_shift(pos: Sequence[Mapping], neg: Sequence[Mapping]) -> tuple[int | None, float, float]:
    """(the melody family most common at the + pole, its share at +, its share at −)."""
    fams_pos = [melody_family(s) for s in pos]
    common = Counter(f for f in fams_pos if f is not None).most_common(1)
    if not common:
        return None, 0.0, 0.0
    fam = common[0][0]
    share = lambda xs: sum(melody_family(s) == fam for s in xs) / max(len(xs), 1)  # noqa: E731
    return fam, share(pos), share(neg)


def selectivity(d: Mapping[str, float], target: str) -> float:
    """|d(target)| / mean |d| of the other acoustic features: how much more the slider moves its one thing."""
    others = [abs(v) for k, v in d.items() if k != target and k in EFFECT_WORDS and math.isfinite(v)]
    rest = sum(others) / len(others) if others else 0.0
    return abs(d[target]) / rest if rest > 0 else math.inf


def main_effect(d: Mapping[str, float], among: Sequence[str] = tuple(EFFECT_WORDS)) -> tuple[str | None, float]:
    """(the acoustic feature `among` these with the largest |d|, its d); (None, nan) when none is finite."""
    finite = {k: v for k, v in d.items() if k in among and math.isfinite(v)}
    if not finite:
        return None, math.nan
    k = max(finite, key=lambda k: abs(finite[k]))
    return k, finite[k]


def named_effect(d: Mapping[str, float], agreeing: str | None, min_d: float = MIN_D) -> tuple[str | None, float]:
    """The acoustic feature a slider is named by: the one its atlas label predicted, where that effect is
    there (|d| >= min_d); else the largest of the HEADLINE features that passes; else the largest of all.
    A player hears 'brighter' or 'denser' more readily than 'more even spectral flux'."""
    if agreeing in EFFECT_WORDS and abs(d.get(agreeing, 0.0)) >= min_d:
        return agreeing, d[agreeing]
    k, v = main_effect(d, HEADLINE)
    if k is not None and abs(v) >= min_d:
        return k, v
    return main_effect(d)


def validated_name(name: str, significant: Mapping[str, float], agreeing: str | None) -> tuple[str, str, float] | None:
    """(new name, feature, d) for a slider from its validation (`significant`: feature -> d at Holm
    p < alpha), by the same rule as the screen, keeping the atlas label in brackets; None when nothing
    changed significantly. A screen of a few seeds guesses; the n-seed validation names."""
    target, d = named_effect(significant, agreeing)
    if target is None:
        return None
    label = name.split(" (", 1)[1] if " (" in name else ""
    return f"{effect_word(target, d)}{' (' + label if label else ''}", target, d


def effect_word(feature: str, d: float) -> str:
    up, down = EFFECT_WORDS.get(feature) or SCORE_WORDS[feature]
    return up if d > 0 else down


def effect_of_name(name: str) -> tuple[str, int] | None:
    """The (acoustic feature, sign) a slider name claims: 'brighter (piano)' -> ('spectral_centroid_mean', 1)."""
    word = name.split(" (")[0].strip()
    for feature, (up, down) in EFFECT_WORDS.items():
        if word == up:
            return feature, 1
        if word == down:
            return feature, -1
    return None


def label_words(label: str) -> list[str]:
    """The label's words (slider names join a feature's two commonest words with '-'). A hyphenated pair
    with a meaning of its own stays whole: 'high-speed-car' -> ['high-speed', 'car'], not 'high' (pitch)."""
    out = []
    for token in re.findall(r"[a-z][a-z'-]+", label.lower()):
        parts = [p for p in token.split("-") if p]
        i = 0
        while i < len(parts):
            pair = "-".join(parts[i:i + 2])
            if i + 1 < len(parts) and (pair in LABEL_CLAIMS or pair in INSTRUMENT_WORDS):
                out.append(pair)
                i += 2
            else:
                out.append(parts[i])
                i += 1
    return list(dict.fromkeys(out))


def label_verdict(label: str, d: Mapping[str, float], family: int | None, share_pos: float, share_neg: float,
                  min_d: float = MIN_D, min_share: float = MIN_SHARE,
                  scored: bool = True) -> tuple[str, str, str | None]:
    """Does the measured effect agree with what the atlas label says? -> (verdict, why, the measure that
    agrees or None), verdict one of
    'agrees', 'contradicts' (an effect the label predicts goes the other way by |d| >= min_d),
    'not shown' (the label predicts something that does not happen), 'no claim' (the label names
    nothing measurable, e.g. 'wind-noise' on a music model). Instruments are checked only when the
    clips were `scored` (their melody's instrument is known)."""
    claims: list[tuple[str, int, str]] = []
    instruments: list[tuple[str, int]] = []
    for w in label_words(label):
        claims += [(m, s, w) for m, s in LABEL_CLAIMS.get(w, [])]
        if scored and w in INSTRUMENT_WORDS:
            instruments.append((w, INSTRUMENT_WORDS[w]))
    if not claims and not instruments:
        return "no claim", f"'{label}' names nothing this screen measures", None
    for w, fam in instruments:
        ok = family is not None and (family == fam or (fam == 10 and family in SYNTH_FAMILIES))
        if ok and share_pos - share_neg >= min_share:
            agreeing = next((m for m, s, _ in claims if m in EFFECT_WORDS and d.get(m, 0.0) * s >= min_d), None)
            return "agrees", f"'{w}': the melody turns {FAMILIES[family]} ({share_neg:.0%} -> {share_pos:.0%})", agreeing
    # an acoustic confirmation first (it names the slider), then one in the score
    for m, s, w in sorted(claims, key=lambda c: c[0] not in EFFECT_WORDS):
        v = d.get(m, math.nan)
        if math.isfinite(v) and v * s >= min_d:
            return "agrees", f"'{w}': {m} d {v:+.2f}", (m if m in EFFECT_WORDS else None)
    for m, s, w in claims:
        v = d.get(m, math.nan)
        if math.isfinite(v) and v * s <= -min_d:
            return "contradicts", f"'{w}' predicts {m} {'up' if s > 0 else 'down'}, measured d {v:+.2f}", None
    said = ", ".join(dict.fromkeys([w for _, _, w in claims] + [w for w, _ in instruments]))
    return "not shown", f"'{said}' predicts an effect that is below |d| {min_d} (or share +{min_share:.0%})", None
