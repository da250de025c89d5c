"""Real music in the score corpus (music21), melody statistics, stepwise procedural melodies, held notes."""
import random
import re

import pytest

from analysis.score_model.captions import captions
from analysis.score_model.compose import compose
from analysis.score_model.melody_stats import in_key_share, median_of, notes_within, stepwise_share
from analysis.score_model.music21_pieces import TYPES, tune_piece, tune_type
from analysis.score_model.params import sample_params
from synth.score.theory import in_scale
from synth.tempo_text import stated_bpm


def test_stepwise_share_counts_moves_of_a_whole_tone_or_less_and_skips_repeats():
    assert stepwise_share([60, 62, 62, 64, 67, 65]) == pytest.approx(3 / 4)  # 2, 2, 3 (a leap), -2
    assert stepwise_share([60, 60]) is None and stepwise_share([]) is None
    assert in_key_share([60, 61, 62], 0, "major") == pytest.approx(2 / 3)
    assert notes_within([0.0, 1.0, 3.9, 4.0], 60.0, 4.0) == 3  # 4 s at 60 bpm: beats [0, 4)
    assert median_of([None, 1.0, 3.0]) == 2.0


def test_procedural_melodies_move_mostly_by_step_and_held_pieces_hold_their_notes():
    rng = random.Random(0)
    steps, held, other = [], [], []
    for _ in range(150):
        p = sample_params(rng)
        melody = compose(p, rng).voice("melody").notes
        steps.append(stepwise_share([n.pitch for n in melody]))
        lengths = [n.duration for n in melody]
        (held if p.density == "held" else other).append(sum(lengths) / len(lengths))
        if p.density == "held":
            assert p.articulation == "legato"
    assert median_of(steps) >= 0.6  # real folk tunes: ~0.65, Bach soprano lines ~0.85
    assert held and median_of(held) >= 2 * median_of(other)


def test_captions_say_sustain_only_for_held_pieces():
    rng = random.Random(3)
    words = ("held chords", "drone", "long held notes", "sustained notes")
    said = {True: 0, False: 0}
    for _ in range(600):
        p = sample_params(rng)
        for c in captions(p, rng, 3):
            if any(w in c for w in words):
                said[p.density == "held"] += 1
    assert said[True] > 50 and said[False] == 0


def _tune(**kw):
    base = {"source": "oneills1850", "title": "t", "type": "jig", "meter": "6/8", "bar": 3.0, "tonic": 2,
            "mode": "major", "tempo_note": "",
            "melody": [[i * 0.5, 0.5, [62, 64, 66, 67, 69, 71, 73, 74][i % 8]] for i in range(48)]}
    base.update(kw)
    return base


def test_tune_types_come_from_the_rhythm_field_the_meter_and_tempo_notes():
    assert tune_type(_tune(type="double jig")) == "jig"
    assert tune_type(_tune(type="slip jig", meter="9/8")) == "slip jig"
    assert tune_type(_tune(type="", meter="4/4")) == "reel"
    assert tune_type(_tune(type="", tempo_note="Very slow")) == "air"
    assert tune_type(_tune(source="bach", type="chorale")) == "chorale"


def test_tune_pieces_keep_the_real_melody_in_a_new_key_with_truthful_captions():
    tune = _tune()
    for seed in range(30):
        rng = random.Random(seed)
        p, score, nouns, extra, bar = tune_piece(tune, rng)
        lo, hi = TYPES["jig"][0]
        assert lo <= p.bpm <= hi and bar == 3.0 and score.bpm == p.bpm
        mel = score.voice("melody").notes
        intervals = [b.pitch - a.pitch for a, b in zip(mel, mel[1:])]
        want = [b[2] - a[2] for a, b in zip(tune["melody"], tune["melody"][1:])][:len(intervals)]
        assert intervals == want and [n.start for n in mel] == [n[0] for n in tune["melody"]][:len(mel)]
        assert all(in_scale(n.pitch, p.tonic, p.mode) for n in mel)  # transposed with its key
        for c in captions(p, rng, 3, nouns, extra):
            for num in re.findall(r"\b(\d{2,3})\b", c):
                assert int(num) == p.bpm, c
            assert "reel" not in c and "chorale" not in c


def test_chorales_keep_their_bass_line_and_get_chords_from_all_four_voices():
    sop = [[float(i), 1.0, p] for i, p in enumerate([67, 69, 71, 72, 74, 72, 71, 69, 67, 66, 67, 69])]
    bass = [[float(i), 1.0, p] for i, p in enumerate([43, 45, 47, 48, 50, 48, 47, 45, 43, 38, 43, 45])]
    inner = [[float(i), 1.0, p] for i, p in enumerate([62, 64, 62, 64, 66, 64, 62, 64, 62, 62, 62, 64])]
    tune = _tune(source="bach", type="chorale", meter="4/4", bar=4.0, tonic=7, melody=sop, bass=bass, inner=inner)
    found = 0
    for seed in range(20):
        p, score, *_ = tune_piece(tune, random.Random(seed))
        assert p.drums is None and p.genre == "classical"
        b = score.voice("bass")
        if b is not None:
            found += 1
            moves = [y.pitch - x.pitch for x, y in zip(b.notes, b.notes[1:])]
            assert moves == [y[2] - x[2] for x, y in zip(bass, bass[1:])][:len(moves)]
    assert found >= 15


def test_an_abc_tune_parses_with_its_pickup_on_the_grid():
    pytest.importorskip("music21")
    from music21 import converter

    from analysis.score_model.music21_source import _tune as parse_tune

    abc = "X:1\nT:Test\nR:jig\nM:6/8\nL:1/8\nK:G\nD|GAB AGE|GAB d2B|\n"
    score = converter.parse(abc, format="abc")
    t = parse_tune(score, "oneills1850", "Test", "jig", "")
    assert (t["meter"], t["bar"], t["tonic"], t["mode"]) == ("6/8", 3.0, 7, "major")
    # the pickup D sits half a beat before the first downbeat (beat 3.0, the second bar line's grid)
    assert t["melody"][0] == [2.5, 0.5, 62] and t["melody"][1] == [3.0, 0.5, 67]


@pytest.mark.parametrize("text, bpm", [("a bright jig on tin whistle with bodhran at 116 bpm", 116.0),
                                       ("tempo: 80, soft piano", 80.0), ("waltz-like, around 84 beats per minute", 84.0),
                                       ("metronome set to 76", 76.0), ("metronome at 76", 76.0), ("132bpm techno", 132.0),
                                       ("a 3 minute song in 4/4", None), ("1000 bpm", None), ("slow sad cello", None)])
def test_a_tempo_stated_as_a_number_is_read_from_the_prompt(text, bpm):
    assert stated_bpm(text) == bpm
