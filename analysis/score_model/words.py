"""The words the score corpus's captions are made of: names for every GM program, and the words for
tempo, dynamics, register, articulation, density, drums, key, emotions and genres."""
from __future__ import annotations

# GM program -> ways a caption may name it (the first is the plainest).
PROGRAM_NOUNS: dict[int, tuple[str, ...]] = {
    0: ("piano", "grand piano", "acoustic piano", "concert grand"), 1: ("bright piano", "piano", "upright piano"),
    2: ("electric grand", "electric grand piano", "piano"), 3: ("honky-tonk piano", "saloon piano", "barroom piano"),
    4: ("electric piano", "rhodes", "e-piano", "rhodes piano"), 5: ("electric piano", "dx7 piano", "fm electric piano"),
    6: ("harpsichord", "baroque harpsichord"), 7: ("clavinet", "clav", "funky clavinet"),
    8: ("celesta", "celeste"), 9: ("glockenspiel", "glock", "bells"), 10: ("music box", "musicbox"),
    11: ("vibraphone", "vibes", "vibraphone mallets"), 12: ("marimba", "wooden marimba"), 13: ("xylophone",),
    14: ("tubular bells", "chimes", "church bells"), 15: ("dulcimer", "hammered dulcimer", "santur"),
    16: ("organ", "drawbar organ", "hammond organ", "hammond"), 17: ("percussive organ", "organ", "jazz organ"),
    18: ("rock organ", "organ", "overdriven organ"), 19: ("church organ", "pipe organ", "cathedral organ"),
    20: ("reed organ", "harmonium", "pump organ"), 21: ("accordion", "musette accordion"), 22: ("harmonica", "blues harp", "mouth organ"),
    23: ("bandoneon", "tango accordion", "accordion"),
    24: ("nylon guitar", "classical guitar", "acoustic guitar", "spanish guitar"),
    25: ("acoustic guitar", "steel-string guitar", "folk guitar"), 26: ("jazz guitar", "hollow-body guitar", "electric guitar"),
    27: ("clean electric guitar", "electric guitar", "clean guitar"), 28: ("muted guitar", "palm-muted guitar", "electric guitar"),
    29: ("overdriven guitar", "crunchy guitar", "electric guitar"), 30: ("distorted guitar", "distortion guitar", "heavy guitar"),
    31: ("guitar harmonics", "harmonics guitar"),
    32: ("upright bass", "acoustic bass", "double bass"), 33: ("bass guitar", "electric bass", "fingered bass"),
    34: ("picked bass", "electric bass", "bass guitar"), 35: ("fretless bass", "fretless"), 36: ("slap bass", "funky slap bass"),
    37: ("slap bass", "popped bass"), 38: ("synth bass", "analog bass", "bass synth"), 39: ("synth bass", "acid bass", "squelchy bass"),
    40: ("violin", "concert violin", "baroque violin"), 41: ("viola",), 42: ("cello", "violoncello"), 43: ("contrabass", "bowed contrabass", "bowed bass"),
    44: ("tremolo strings", "trembling strings"), 45: ("pizzicato strings", "plucked strings", "pizzicato"),
    46: ("harp", "concert harp", "orchestral harp"), 47: ("timpani", "kettle drums"),
    48: ("strings", "string section", "string ensemble", "orchestra strings"), 49: ("strings", "slow strings", "string orchestra"),
    50: ("synth strings", "string synth", "analog strings"), 51: ("synth strings", "string machine"),
    52: ("choir", "voices", "choir aahs", "vocal choir"), 53: ("voice", "humming voices", "oohs"), 54: ("synth choir", "synth voices"),
    55: ("orchestra hit", "orchestral stabs"),
    56: ("trumpet", "bright trumpet"), 57: ("trombone", "slide trombone"), 58: ("tuba",), 59: ("muted trumpet", "harmon-muted trumpet"),
    60: ("french horn", "horn"), 61: ("brass section", "brass", "horn section"), 62: ("synth brass", "brassy synth"),
    63: ("synth brass", "analog brass"),
    64: ("soprano sax", "soprano saxophone"), 65: ("alto sax", "alto saxophone", "saxophone", "sax"),
    66: ("tenor sax", "tenor saxophone", "saxophone", "sax"), 67: ("baritone sax", "bari sax", "baritone saxophone"),
    68: ("oboe",), 69: ("english horn", "cor anglais"), 70: ("bassoon",), 71: ("clarinet",),
    72: ("piccolo",), 73: ("flute", "concert flute"), 74: ("recorder", "wooden recorder"), 75: ("pan flute", "panpipes", "pan pipes"),
    76: ("blown bottle", "bottle"), 77: ("shakuhachi", "bamboo flute"), 78: ("whistle", "whistling"), 79: ("ocarina",),
    80: ("square lead", "square wave lead", "chiptune lead", "synth lead"), 81: ("sawtooth lead", "saw lead", "synth lead"),
    82: ("calliope lead", "calliope"), 83: ("chiff lead", "synth lead"), 84: ("charang lead", "synth lead"),
    85: ("voice lead", "vocal synth lead"), 86: ("fifths lead", "synth lead"), 87: ("bass and lead synth", "synth lead"),
    88: ("new age pad", "synth pad", "pad"), 89: ("warm pad", "synth pad", "pad"), 90: ("polysynth pad", "polysynth", "pad"),
    91: ("choir pad", "pad"), 92: ("bowed pad", "pad"), 93: ("metallic pad", "pad"), 94: ("halo pad", "pad"),
    95: ("sweep pad", "sweeping pad", "pad"),
    96: ("rain fx", "synth effects"), 97: ("soundtrack fx", "cinematic synth"), 98: ("crystal synth", "crystal fx"),
    99: ("atmosphere synth", "atmospheric fx"), 100: ("brightness synth", "synth effects"), 101: ("goblins fx", "eerie synth"),
    102: ("echo synth", "echoes fx"), 103: ("sci-fi synth", "sci-fi fx"),
    104: ("sitar",), 105: ("banjo",), 106: ("shamisen",), 107: ("koto",), 108: ("kalimba", "thumb piano", "mbira"),
    109: ("bagpipe", "bagpipes"), 110: ("fiddle", "folk fiddle"), 111: ("shehnai", "shanai"),
    112: ("tinkle bell", "tinkling bell"), 113: ("agogo", "agogo bells"), 114: ("steel drums", "steel pan", "steelpan"),
    115: ("woodblock", "wood block"), 116: ("taiko", "taiko drum"), 117: ("melodic tom", "toms"), 118: ("synth drum", "electronic tom"),
    119: ("reverse cymbal",),
    120: ("guitar fret noise",), 121: ("breath noise",), 122: ("seashore", "ocean waves"), 123: ("bird tweet", "birdsong"),
    124: ("telephone ring", "telephone"), 125: ("helicopter",), 126: ("applause",), 127: ("gunshot",),
}
assert sorted(PROGRAM_NOUNS) == list(range(128))

TEMPO_WORDS = {  # word -> bpm range it stands for
    "very slow": (50, 64), "slow": (55, 80), "unhurried": (55, 80), "laid-back": (70, 95), "relaxed tempo": (65, 90),
    "moderate": (85, 110), "mid-tempo": (88, 112), "walking pace": (80, 105), "brisk": (115, 140),
    "fast": (125, 180), "quick": (125, 170), "uptempo": (120, 160), "very fast": (155, 180), "rapid": (145, 180),
    # (generator 5) the wider vocabulary musicians type, Italian markings included, so that tempo words the
    # corpus never used land near ones it did; none of these is in the held-out tempo-word pairs
    "adagio": (55, 76), "largo": (50, 64), "lento": (50, 66), "andante": (76, 100), "stately": (60, 85),
    "plodding": (55, 75), "sluggish": (50, 70), "crawling": (50, 62), "downtempo": (70, 95), "easygoing": (70, 92),
    "at a gentle pace": (60, 85), "mellow tempo": (65, 88), "moderato": (96, 115), "allegretto": (100, 125),
    "steady pace": (90, 115), "medium tempo": (90, 115), "allegro": (120, 160), "presto": (165, 180),
    "vivace": (150, 176), "swift": (130, 175), "speedy": (140, 180), "hasty": (140, 180), "driving": (125, 165),
    "galloping": (130, 175), "nimble": (125, 165), "up-tempo": (120, 160), "high-tempo": (135, 180),
    "double-time": (150, 180), "zippy": (135, 175),
}
# Ways to state a bpm (each one true whatever the tempo: "about" and "around" are still exact here).
BPM_PHRASES = ("at {bpm} bpm", "{bpm} bpm", "{bpm} BPM", "tempo {bpm}", "{bpm} beats per minute", "at a tempo of {bpm}",
               "around {bpm} bpm", "bpm {bpm}", "({bpm} bpm)", "at {bpm} beats a minute", "{bpm}bpm", "at {bpm}bpm",
               "tempo: {bpm}", "tempo {bpm} bpm", "set to {bpm} bpm", "moving at {bpm} bpm", "at about {bpm} bpm",
               "roughly {bpm} bpm", "with a tempo of {bpm} bpm", "clocking in at {bpm} bpm", "metronome at {bpm}",
               "{bpm} bpm tempo", "in {bpm} bpm", "at {bpm} BPM", "a steady {bpm} bpm", "the tempo is {bpm}",
               "{bpm} beats a minute", "at exactly {bpm} bpm")
BPM_ADJECTIVES = ("{bpm} bpm", "{bpm}-bpm", "{bpm} BPM", "{bpm}bpm")  # before the noun: "a 96 bpm song"
DYNAMICS = {"soft": ("soft", "quiet", "gentle", "delicate", "hushed", "pianissimo", "softly played"),
            "medium": ("moderately loud", "mezzo-forte", "medium volume"),
            "loud": ("loud", "powerful", "forceful", "fortissimo", "strong", "punchy", "hard-hitting")}
REGISTER = {"low": ("low", "deep", "low-register", "in a low register", "low-pitched"),
            "mid": ("mid-register", "middle register", "mid-range"),
            "high": ("high", "high-pitched", "in a high register", "soaring high", "bright high")}
ARTICULATION = {"staccato": ("staccato", "short detached notes", "plucky", "choppy", "bouncy short notes"),
                "normal": ("",),
                "legato": ("legato", "smooth", "flowing", "long phrases", "connected phrases")}
DENSITY = {"held": ("sustained", "long held notes", "held chords", "drone", "drone-like", "slow-moving", "pad-like",
                    "sustained notes", "held tones", "long notes"),
           "sparse": ("sparse", "minimal", "few notes", "spacious"),
           "medium": ("",),
           "dense": ("busy", "dense", "lots of notes", "rapid runs", "intricate")}
MODE_WORDS = {"major": ("major key", "in a major key", "major"), "minor": ("minor key", "in a minor key", "minor")}
DRUM_WORDS = ("with drums", "with a drum beat", "drums", "with percussion", "with a beat", "backed by drums",
              "with a drum kit", "over a groove", "over drums", "with a steady drum beat", "with drums behind it",
              "drums playing along", "with a drum groove", "driven by drums", "with a full drum kit", "and drums",
              "plus drums", "with a drummer", "over a beat", "on top of a drum beat", "with a rhythm track")
# Words for one pattern (synth.score.drums.PATTERNS); a caption may name the groove instead of just "drums".
DRUM_PATTERN_WORDS = {
    "rock": ("a rock beat", "rock drums", "a straight rock groove"),
    "four": ("a four-on-the-floor beat", "four on the floor kick", "a kick on every beat"),
    "halftime": ("a half-time beat", "halftime drums", "a half-time groove"),
    "swing": ("a swing ride pattern", "swinging ride cymbal", "swing drums"),
    "breakbeat": ("a breakbeat", "broken beat drums", "breakbeat drums"),
    "funk": ("a funky drum groove", "funk drums", "a syncopated funk beat"),
    "lofi": ("a lazy boom-bap beat", "boom bap drums", "lo-fi drums"),
    "folk": ("light folk percussion", "a simple kick and ride", "soft folk drums", "bodhran", "a bodhran beat",
             "frame drum"),
    "pop": ("a pop beat", "pop drums", "a steady pop groove"),
    "epic": ("thundering epic drums", "big cinematic drums", "pounding drums"),
}
NO_DRUM_WORDS = ("no drums", "without drums", "without percussion", "no percussion", "drumless", "with no drums",
                 "with no percussion", "no drums at all", "no percussion at all", "no drums or percussion",
                 "without any drums", "drum-free", "without a beat", "no beat", "percussion-free", "free of drums")
# Solo pieces: a melody alone. {noun} is the instrument, {a_noun} the same with its article.
SOLO_WORDS = ("solo", "unaccompanied", "alone", "by itself")
SOLO_FORMS = ("solo {noun}", "{noun} solo", "{noun}, solo", "unaccompanied {noun}", "{noun} alone", "{noun} by itself",
              "just {a_noun}", "{noun} on its own", "{a_noun} playing solo", "only {a_noun}", "{noun} and nothing else",
              "{a_noun}, nothing else", "a lone {noun}", "{noun} all by itself", "{a_noun} with no accompaniment",
              "{noun} only", "{a_noun} on its own, no band", "a single {noun}")
SOLO_TAILS = ("solo", "a single instrument", "one instrument alone", "just one instrument", "no accompaniment",
              "no backing band", "nothing else")
EMOTIONS = {
    "happy": ("happy", "cheerful", "joyful", "upbeat", "sunny", "playful", "bright and happy", "uplifting"),
    "sad": ("sad", "melancholic", "sorrowful", "mournful", "gloomy", "somber", "heartbroken", "melancholy"),
    "calm": ("calm", "peaceful", "relaxing", "serene", "tranquil", "soothing", "gentle and calm", "meditative"),
    "energetic": ("energetic", "driving", "intense", "lively", "exciting", "high-energy", "pumping", "aggressive"),
}
MOOD_WORDS = {"happy": ("sunny", "warm", "hopeful", "feel-good"), "sad": ("dark", "lonely", "rainy-day", "bittersweet"),
              "calm": ("dreamy", "floating", "lazy", "quiet"), "energetic": ("fiery", "bold", "powerful", "wild")}
GENRE_WORDS = {
    "rock": ("rock", "rock song", "rock track"), "jazz": ("jazz", "jazzy", "jazz combo"),
    "classical": ("classical", "orchestral", "chamber music"), "electronic": ("electronic", "edm", "synth-pop", "techno"),
    "ambient": ("ambient", "ambient soundscape", "ambient drift"), "folk": ("folk", "acoustic folk", "country"),
    "pop": ("pop", "pop song", "radio pop"), "funk": ("funk", "funky", "groovy funk"),
    "lofi": ("lo-fi", "lofi hip hop", "chillhop"), "cinematic": ("cinematic", "film score", "epic soundtrack"),
}
PIECE_NOUNS = ("piece", "tune", "track", "song", "melody", "clip", "loop", "theme", "groove", "composition")
