"""Generated probing sets added to the caption corpus: traditions, the `music` reference,
emotions and binary contrasts. Pure functions returning corpus rows (text, source, labels).

Everything is deterministic: the same code gives the same prompts in the same order.
"""
from __future__ import annotations

import itertools
import random

# Exactly these names; analyses select rows by labels["tradition"].
TRADITIONS = (
    "Ukrainian", "Yoruba", "Gamelan", "Arabic", "Jewish", "Franconian", "African American", "Romani",
    "Japanese", "Korean", "Hindustani", "Tuvan", "Aboriginal Australian", "Flamenco", "Electronic",
)
PROMPTS_PER_TRADITION = 250

REFERENCE_PROMPT = "music"

EMOTIONS = ("happy", "sad", "calm", "energetic")
PROMPTS_PER_EMOTION = 120

# name -> (positive prompt, negative prompt). Config files and `analysis sonify` read these.
CONTRAST_PAIRS: dict[str, tuple[str, str]] = {
    "smooth-harsh": ("sound smooth", "sound harsh"),
    "rhythmic-sustained": ("sound rhythmic", "sound sustained"),
    "bright-dark": ("sound bright", "sound dark"),
    "loud-soft": ("sound loud", "sound soft"),
    "fast-slow": ("sound fast", "sound slow"),
    "warm-cold": ("sound warm", "sound cold"),
    "dense-sparse": ("sound dense", "sound sparse"),
    "distorted-clean": ("sound distorted", "sound clean"),
    "noisy-tonal": ("sound noisy", "sound tonal"),
    "wet-dry": ("sound wet", "sound dry"),
    "wide-narrow": ("sound wide", "sound narrow"),
    "percussive-ambient": ("sound percussive", "sound ambient"),
}

# Tradition prompts: one template set shared by every tradition, so the only difference between
# two traditions' prompts is the name (5 tempo/dynamics words x 5 forms x 10 contexts = 250).
_T_ADJ = ("slow", "fast", "quiet", "lively", "gentle")
_T_FORM = ("music", "song", "melody", "dance", "instrumental piece")
_T_CONTEXT = (
    "", "recorded live", "in a studio recording", "played at a celebration", "heard from a distance",
    "with a steady beat", "in a small room", "performed by an ensemble", "performed solo", "on an old record",
)

# Emotion prompts vary instrument, genre, intensity and sentence style; all four emotions use the
# same combinations, so emotion is the only systematic difference between the sets.
_E_INSTRUMENTS = ("piano", "acoustic guitar", "electric guitar", "violin", "synthesizer", "drums",
                  "flute", "cello", "trumpet", "choir")
_E_GENRES = ("pop", "jazz", "classical", "rock", "folk", "electronic", "ambient", "hip hop", "blues", "orchestral")
_E_INTENSITIES = ("slightly", "quite", "very", "extremely")
_E_STYLES = (
    "{i} {e} {g} song with {ins}",
    "instrumental {g} piece on {ins} that sounds {i} {e}",
    "{i} {e} {ins} melody in a {g} style",
    "{g} track with {ins} in the lead, {i} {e} mood",
)


def _row(text: str, source: str, labels: dict) -> dict:
    return {"text": text, "source": source, "labels": labels}


def tradition_rows() -> list[dict]:
    rows = []
    for name in TRADITIONS:
        for t, (adj, form, ctx) in enumerate(itertools.product(_T_ADJ, _T_FORM, _T_CONTEXT)):
            text = f"{adj} {name} {form}" + (f" {ctx}" if ctx else "")
            rows.append(_row(text, "probe-tradition", {"tradition": name, "template": t}))
    return rows


def reference_rows() -> list[dict]:
    return [_row(REFERENCE_PROMPT, "probe-reference", {"reference": REFERENCE_PROMPT})]


def emotion_combinations(n: int = PROMPTS_PER_EMOTION, seed: int = 0) -> list[tuple[str, str, str, int]]:
    """n distinct (instrument, genre, intensity, style index) combinations, balanced by a fixed shuffle."""
    combos = list(itertools.product(_E_INSTRUMENTS, _E_GENRES, _E_INTENSITIES, range(len(_E_STYLES))))
    random.Random(seed).shuffle(combos)
    return combos[:n]


def emotion_rows(n: int = PROMPTS_PER_EMOTION) -> list[dict]:
    rows = []
    combos = emotion_combinations(n)
    for emotion in EMOTIONS:
        for t, (ins, genre, intensity, style) in enumerate(combos):
            text = _E_STYLES[style].format(i=intensity, e=emotion, g=genre, ins=ins)
            labels = {"emotion": emotion, "instrument": ins, "genre": genre, "intensity": intensity,
                      "style": style, "template": t}
            rows.append(_row(text, "probe-emotion", labels))
    return rows


def contrast_rows() -> list[dict]:
    rows = []
    for name, (pos, neg) in CONTRAST_PAIRS.items():
        pos_pole, neg_pole = name.split("-")
        rows.append(_row(pos, "probe-contrast", {"contrast": name, "pole": pos_pole}))
        rows.append(_row(neg, "probe-contrast", {"contrast": name, "pole": neg_pole}))
    return rows


def probe_rows() -> list[dict]:
    """All probing sets, in a fixed order."""
    return tradition_rows() + reference_rows() + emotion_rows() + contrast_rows()
