"""The instruments a caption names, by their common names: all 128 General MIDI programs and the drum kit.

`find_instruments(text)` reads the names in order, the longest name first at each place and whole words
only ("steel drums" is program 114, not the kit; "bass" is not found in "bassoon"), a plural "s" allowed.
A name right after "no", "without" or "not" is negated ("no drums"). Pure: text in, mentions out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from synth.score.gm import PROGRAMS

KIT = -1  # the drum kit (MIDI channel 10), not a program

# program -> the names a musician uses for it (GM's own names are added below)
COMMON: dict[int, tuple[str, ...]] = {
    0: ("piano", "pianist", "grand piano", "acoustic piano", "concert grand"), 1: ("upright piano", "bright piano"),
    2: ("electric grand",), 3: ("honky tonk", "honky tonk piano", "saloon piano", "barroom piano"),
    4: ("electric piano", "e piano", "rhodes", "fender rhodes", "wurlitzer", "wurli"), 5: ("dx7", "fm piano"),
    6: ("harpsichord", "cembalo"), 7: ("clavinet", "clav"), 8: ("celesta", "celeste"),
    9: ("glockenspiel", "glock", "orchestral bells"), 10: ("music box", "musicbox"),
    11: ("vibraphone", "vibes", "vibraharp"), 12: ("marimba",), 13: ("xylophone",),
    14: ("tubular bells", "chimes", "church bells", "bells"), 15: ("dulcimer", "hammered dulcimer", "santur", "santoor", "cimbalom"),
    16: ("organ", "organist", "hammond", "hammond organ", "b3", "drawbar organ", "electric organ"), 17: ("jazz organ", "percussive organ"),
    18: ("rock organ",), 19: ("church organ", "pipe organ", "cathedral organ"),
    20: ("harmonium", "reed organ", "pump organ"), 21: ("accordion", "squeezebox", "concertina", "piano accordion"),
    22: ("harmonica", "mouth organ", "blues harp"), 23: ("bandoneon", "tango accordion"),
    24: ("classical guitar", "nylon guitar", "nylon string guitar", "spanish guitar", "flamenco guitar"),
    25: ("guitar", "guitarist", "acoustic guitar", "steel string guitar", "folk guitar", "twelve string guitar", "12 string guitar"),
    26: ("jazz guitar", "hollow body guitar", "archtop guitar"),
    27: ("electric guitar", "clean guitar", "clean electric guitar", "strat"), 28: ("muted guitar", "palm muted guitar"),
    29: ("overdriven guitar", "crunchy guitar", "crunch guitar"),
    30: ("distorted guitar", "distortion guitar", "heavy guitar", "metal guitar", "fuzz guitar", "distorted electric guitar"),
    31: ("guitar harmonics",),
    32: ("double bass", "upright bass", "acoustic bass", "string bass", "walking bass", "bass fiddle"),
    33: ("bass", "bassist", "bass guitar", "electric bass", "fingered bass", "bass line", "bassline"), 34: ("picked bass",),
    35: ("fretless bass", "fretless"), 36: ("slap bass", "slapped bass"),
    38: ("synth bass", "analog bass", "bass synth", "808 bass", "sub bass"), 39: ("acid bass", "squelchy bass"),
    40: ("violin", "violinist"), 41: ("viola",), 42: ("cello", "violoncello"), 43: ("contrabass",),
    44: ("tremolo strings",), 45: ("pizzicato strings", "pizzicato", "plucked strings"),
    46: ("harp", "harpist", "concert harp", "orchestral harp", "celtic harp"), 47: ("timpani", "kettle drums", "kettledrums"),
    48: ("strings", "string section", "string ensemble", "orchestral strings", "string"),
    49: ("string orchestra", "slow strings"), 50: ("synth strings", "string synth"), 51: ("string machine",),
    52: ("choir", "chorale voices", "voices", "choir aahs"), 53: ("voice", "humming", "oohs", "vocal"),
    54: ("synth choir", "synth voices"), 55: ("orchestra hit", "orchestral stabs"),
    56: ("trumpet", "trumpeter", "cornet", "flugelhorn", "bugle"), 57: ("trombone", "slide trombone"),
    58: ("tuba", "sousaphone"), 59: ("muted trumpet", "harmon muted trumpet"),
    60: ("french horn", "horn"), 61: ("brass", "brass section", "horn section", "horns"),
    62: ("synth brass", "brassy synth"), 63: ("analog brass",),
    64: ("soprano sax", "soprano saxophone"), 65: ("sax", "saxophone", "alto sax", "alto saxophone"),
    66: ("tenor sax", "tenor saxophone"), 67: ("baritone sax", "bari sax", "baritone saxophone"),
    68: ("oboe",), 69: ("english horn", "cor anglais"), 70: ("bassoon", "contrabassoon"),
    71: ("clarinet", "bass clarinet"), 72: ("piccolo",), 73: ("flute", "concert flute", "alto flute"),
    74: ("recorder", "treble recorder", "soprano recorder"), 75: ("pan flute", "panpipes", "pan pipes", "panpipe"),
    76: ("blown bottle",), 77: ("shakuhachi", "bamboo flute"),
    78: ("whistle", "tin whistle", "penny whistle", "whistling"), 79: ("ocarina",),
    80: ("square lead", "square wave lead", "chiptune lead", "chip lead"),
    81: ("synth", "synth lead", "lead synth", "sawtooth lead", "saw lead", "synthesizer"), 82: ("calliope",),
    83: ("chiff lead",), 84: ("charang",), 85: ("voice lead", "vocal synth"), 86: ("fifths lead",),
    88: ("new age pad",), 89: ("pad", "synth pad", "warm pad"), 90: ("polysynth", "polysynth pad"),
    91: ("choir pad",), 92: ("bowed pad",), 93: ("metallic pad",), 94: ("halo pad",), 95: ("sweep pad", "sweeping pad"),
    104: ("sitar",), 105: ("banjo",), 106: ("shamisen",), 107: ("koto",), 108: ("kalimba", "thumb piano", "mbira"),
    109: ("bagpipe", "bagpipes", "highland pipes", "uilleann pipes"), 110: ("fiddle",),
    111: ("shehnai", "shanai", "shenai"), 112: ("tinkle bell",), 113: ("agogo", "agogo bells"),
    114: ("steel drums", "steel drum", "steel pan", "steelpan", "steel pans"), 115: ("woodblock", "wood block"),
    116: ("taiko", "taiko drum", "taiko drums"), 117: ("melodic tom",), 118: ("synth drum", "electronic tom"),
    119: ("reverse cymbal",), 120: ("fret noise",), 121: ("breath noise",), 122: ("seashore", "ocean waves"),
    123: ("bird tweet", "birdsong"), 124: ("telephone",), 125: ("helicopter",), 126: ("applause",), 127: ("gunshot",),
}
KIT_NAMES = ("drums", "drum", "drum kit", "drumkit", "drum set", "drum machine", "drummer", "drumming", "percussion",
             "percussionist", "kick", "kick drum", "bass drum", "snare", "snare drum", "hi hat", "hihat", "hats", "cymbal", "ride cymbal",
             "brushes", "beat", "backbeat", "breakbeat", "drum break", "drum beat", "drum groove", "congas", "bongos",
             "shakers", "tambourine", "bodhran", "cajon", "tabla", "toms", "808", "marching drums", "rhythm section")
LIST_WORDS = ("", "or", "and", "nor", "and no", "or any")
NEGATIONS = ("no", "without", "not", "without any", "no other", "nor")


def normalise(text: str) -> str:
    """Lower case, hyphens and punctuation as spaces, single spaces: the text names are matched in."""
    return " ".join(re.sub(r"[^a-z0-9+]+", " ", text.lower()).split())


def _gm_name(program: int) -> str:
    return normalise(PROGRAMS[program])


def names() -> dict[str, int]:
    """Every name -> its program (KIT for the drum kit): the common names, then GM's own."""
    out: dict[str, int] = {}
    for program, words in COMMON.items():
        for w in words:
            out.setdefault(normalise(w), program)
    for program in range(128):
        out.setdefault(_gm_name(program), program)
    for w in KIT_NAMES:
        out.setdefault(normalise(w), KIT)
    return out


@dataclass(frozen=True)
class Mention:
    name: str       # as matched (normalised)
    program: int    # GM program, or KIT
    start: int      # character span in the normalised text
    end: int
    negated: bool = False


@lru_cache(maxsize=1)
def _pattern() -> tuple[re.Pattern, dict[str, int]]:
    table = names()
    alternatives = "|".join(re.escape(n) for n in sorted(table, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])({alternatives})(?:e?s)?(?![a-z0-9])"), table


def find_instruments(text: str) -> list[Mention]:
    """The instruments `text` names, in order (longest name first at each place, whole words)."""
    pattern, table = _pattern()
    norm = normalise(text)
    out = []
    for m in pattern.finditer(norm):
        before = norm[:m.start()].split()[-2:]
        negated = any(" ".join(before[i:]) in NEGATIONS for i in range(len(before)))
        # "no drums or percussion": a list carries its negation
        negated = negated or bool(out and out[-1].negated and norm[out[-1].end:m.start()].strip() in LIST_WORDS)
        if m.group(1) == "beat" and re.match(r"s? (per|a) minute", norm[m.end() - (m.group(0).endswith("s")):]):
            continue  # "120 beats per minute" names a tempo, not a drummer
        out.append(Mention(m.group(1), table[m.group(1)], m.start(), m.end(), negated))
    return out
