"""The score model's symbolic side: score <-> curves, MIDI, the sidecar summary, SoundFont discovery."""
import io
import random
import shutil

import mido
import numpy as np
import pytest

from analysis.score_model.compose import compose
from analysis.score_model.params import sample_params
from synth.score import layout as L
from synth.score.curves import curves_to_score, score_to_curves
from synth.score.drums import DrumHit, Groove, groove_hits
from synth.score.midi import score_to_midi
from synth.score.normalisation import STD_FLOOR, Normalisation
from synth.score.score import Note, Score, Voice
from synth.score.soundfont import INSTALL_HELP, SoundFontError, find_soundfont
from synth.score.summary import summary
from synth.score.theory import triad


def _notes(voice, frames):
    inside = [n for n in voice.notes if n.start * L.FRAMES_PER_BEAT < frames - 0.5]
    return sorted((n.start, n.pitch, n.velocity) for n in inside)


def test_channel_layout_is_documented_and_complete():
    assert L.VERSION == 4
    assert L.N_CHANNELS == 3 + 13 + 3 * 29 == len(set(L.CHANNELS)) == 103
    for name in ("mode", "drums_none", "drums_epic", "drum_level", "drum_fill", "melody_onset",
                 "harmony_pitch", "bass_family_15", "bass_member_7"):
        assert name in L.INDEX
    assert not any(c.startswith("tempo") for c in L.CHANNELS)  # the tempo is given, not written
    assert (L.FRAMES_PER_16TH, L.FRAMES_PER_BEAT, L.FRAMES_PER_BAR) == (1, 4, 16)
    groups = L.groups()
    assert sorted(i for g in groups.values() for i in g) == list(range(L.N_CHANNELS))  # a partition


def test_frames_are_the_16ths_inside_the_clip():
    assert L.frames_for(8.0, 120.0) == 64          # 16 beats
    assert L.frames_for(2.0, 116.0) == 16          # 3.87 beats: 15.47 16ths start inside 2 s
    assert L.frames_for(4 * 4 * 60 / 116, 116) == 64  # exactly 4 bars: no 65th 16th


def test_round_trip_keeps_the_notes_of_generated_pieces():
    rng = random.Random(7)
    for i in range(40):
        score = compose(sample_params(rng), rng)
        frames = (L.TRAIN_FRAMES, 40, 37)[i % 3]  # the whole piece, 10 beats, a cut mid-bar
        bpm = (score.bpm, 60.0, 172.5)[i % 3]     # the latent holds no tempo: any tempo plays it
        back = curves_to_score(score_to_curves(score, frames), bpm)
        assert back.bpm == bpm and (back.tonic, back.mode) == (score.tonic, score.mode)
        for voice in score.voices:
            got = back.voice(voice.role)
            assert got is not None and got.program == voice.program
            assert _notes(got, frames) == _notes(voice, frames)
        hits = groove_hits(score.groove, bpm, 20) if score.groove else []
        want_hits = sorted((h.start, h.lane, h.velocity) for h in hits if h.start * L.FRAMES_PER_BEAT < frames - 0.5)
        assert sorted((h.start, h.lane, h.velocity) for h in back.drums) == want_hits
        assert (back.groove is None) == (score.groove is None)
        if score.groove:
            assert (back.groove.pattern, back.groove.level) == (score.groove.pattern, score.groove.level)


def test_decoded_notes_sit_on_the_16th_grid_with_their_lengths():
    score = Score(100.0, 2, "minor", [Voice("melody", 73, [Note(0.0, 1.0, 62, 90), Note(1.25, 0.25, 64, 90),
                                                          Note(1.5, 0.25, 64, 90), Note(2.0, 2.0, 65, 80)])])
    back = curves_to_score(score_to_curves(score, 32), 100.0).voice("melody")
    assert [(n.start, n.duration, n.pitch) for n in back.notes] == [(0.0, 1.0, 62), (1.25, 0.25, 64), (1.5, 0.25, 64),
                                                                  (2.0, 2.0, 65)]  # repeated 16ths stay two notes


def test_drums_are_a_groove_decoded_from_the_strongest_pattern():
    groove = Groove("funk", 70, (1, 3))
    score = Score(100.0, voices=[Voice("melody", 0, [Note(0.0, 1.0, 60, 80)])], drums=groove_hits(groove, 100.0, 5),
                  groove=groove)
    curves = score_to_curves(score, 50)
    back = curves_to_score(curves, 100.0)
    # 50 16ths: 12.5 beats, so bar 3 (and its fill) lies outside the clip
    assert back.groove == Groove("funk", 70, (1,))
    assert back.drums == [h for h in score.drums if h.start < 12.5]
    assert any(h.start == 7.25 and h.lane == 1 for h in back.drums)  # bar 1's fill (step 13)
    curves[L.PATTERN0:L.PATTERN0 + L.N_PATTERNS] = 0.0
    curves[L.INDEX["drums_none"]] = 0.6
    curves[L.INDEX["drums_rock"]] = 0.5
    assert curves_to_score(curves, 100).drums == [] and curves_to_score(curves, 100).groove is None
    curves[L.INDEX["drums_rock"]] = 0.7
    assert curves_to_score(curves, 100).groove.pattern == "rock" and curves_to_score(curves, 100).drums
    with pytest.raises(ValueError, match="groove"):
        score_to_curves(Score(100.0, drums=[DrumHit(0.0, 0, 100)]), 16)  # hits alone cannot be encoded
    with pytest.raises(ValueError, match="drum pattern"):
        Score(100.0, groove=Groove("polka", 70))


def test_fast_grooves_play_eighths():
    slow = groove_hits(Groove("funk", 70), 120.0, 1)
    fast = groove_hits(Groove("funk", 70), 150.0, 1)
    assert any(h.start * 4 % 2 for h in slow) and not any(h.start * 4 % 2 for h in fast)


def test_harmony_is_decoded_as_diatonic_triads():
    chords = [Note(0.0, 2.0, p, 70) for p in triad(57, 0, "major")]  # A minor in C major
    score = Score(120.0, 0, "major", [Voice("harmony", 48, chords)])
    back = curves_to_score(score_to_curves(score, 64), 120.0).voice("harmony")
    assert sorted(n.pitch for n in back.notes) == [57, 60, 64]


def test_normalisation_round_trip_and_unit_variance():
    rng = random.Random(1)
    raw = np.stack([score_to_curves(compose(sample_params(rng), rng), 128) for _ in range(20)])
    norm = Normalisation.fit(raw)
    x = np.stack([norm.normalise(r) for r in raw])
    assert np.allclose(norm.denormalise(x[0]), raw[0], atol=1e-4)
    varying = raw.std(axis=(0, 2)) > STD_FLOOR  # below the floor a channel is scaled less (on purpose)
    assert np.allclose(x.std(axis=(0, 2))[varying], 1.0, atol=0.05)
    assert np.allclose(Normalisation.from_dict(norm.to_dict()).std, norm.std)


def test_midi_file_holds_tempo_programs_and_notes():
    score = Score(90.0, 0, "major", [Voice("melody", 42, [Note(0.0, 1.0, 60, 80), Note(1.0, 1.0, 62, 80)]),
                                     Voice("bass", 33, [Note(0.0, 2.0, 36, 90)])],
                  drums=[DrumHit(0.0, 0, 100), DrumHit(1.0, 1, 90)])
    mid = mido.MidiFile(file=io.BytesIO(score_to_midi(score)))
    msgs = [m for t in mid.tracks for m in t]
    assert any(m.type == "set_tempo" and abs(mido.tempo2bpm(m.tempo) - 90) < 0.01 for m in msgs)
    assert {(m.channel, m.program) for m in msgs if m.type == "program_change"} == {(0, 42), (2, 33)}
    ons = [m for m in msgs if m.type == "note_on"]
    assert sorted((m.channel, m.note) for m in ons) == [(0, 60), (0, 62), (2, 36), (9, 36), (9, 38)]


def test_summary_has_exactly_the_contract_keys():
    score = Score(123.456, 0, "major", [Voice("melody", 0, [Note(0, 1, 60, 100), Note(1, 1, 64, 50)]),
                                        Voice("bass", 32, [])], drums=[DrumHit(0, 0, 90)])
    s = summary(score)
    assert set(s) == {"bpm", "drums", "voices"} and s["bpm"] == 123.46 and s["drums"] is True
    assert s["voices"] == [{"role": "melody", "program": 0, "notes": 2, "mean_pitch": 62.0, "mean_velocity": 75.0}]
    # cut at the clip's end, as the audio and the MIDI are: a note or hit starting there is not played
    cut = summary(Score(100.0, 0, "major", [Voice("melody", 0, [Note(0, 1, 60, 100), Note(4, 1, 64, 50)])],
                        drums=[DrumHit(4, 0, 90)]), end_beat=4.0)
    assert cut["voices"][0]["notes"] == 1 and cut["voices"][0]["mean_pitch"] == 60.0 and cut["drums"] is False


def test_soundfont_errors_are_one_line(tmp_path):
    with pytest.raises(SoundFontError) as exc:
        find_soundfont(None, search_dirs=[str(tmp_path)])
    assert str(exc.value) == INSTALL_HELP and "\n" not in INSTALL_HELP and "apt-get install" in INSTALL_HELP
    with pytest.raises(SoundFontError, match="no such file"):
        find_soundfont(str(tmp_path / "missing.sf2"))
    (tmp_path / "mine.sf2").write_bytes(b"x")
    assert find_soundfont(None, search_dirs=[str(tmp_path)]).name == "mine.sf2"


def _have_synth():
    try:
        import fluidsynth  # noqa: F401

        find_soundfont()
        return True
    except (ImportError, OSError):
        return False


@pytest.mark.skipif(not _have_synth(), reason="needs fluidsynth, pyfluidsynth and a GM SoundFont (.ci/run installs them)")
def test_fluidsynth_renders_stereo_deterministically():
    from synth.score.fluid import FluidRenderer

    score = Score(120.0, 0, "major", [Voice("melody", 40, [Note(0.0, 1.0, 67, 100)]),
                                      Voice("harmony", 0, [Note(0.0, 2.0, p, 70) for p in (60, 64, 67)])],
                  drums=[DrumHit(0.0, 0, 110), DrumHit(1.0, 1, 110)])
    r = FluidRenderer()
    a = r.render(score, 1.5)
    r.render(Score(90.0, voices=[Voice("melody", 73, [Note(0.0, 2.0, 72, 60)])]), 1.0)  # something else between
    b = r.render(score, 1.5)
    assert a.shape == (2, int(1.5 * 44100)) and a.dtype == np.float32
    assert r.render(Score(116.0), 4 * 4 * 60 / 116).shape == (2, round(4 * 4 * 60 / 116 * 44100))  # rounded, not cut
    assert np.array_equal(a, b)
    assert 0.01 < np.abs(a).max() <= 1.0 and not np.array_equal(a[0], a[1])  # sound, and stereo
    silent = r.render(Score(120.0), 0.5)
    assert np.abs(silent).max() == 0.0


@pytest.mark.skipif(not _have_synth(), reason="needs fluidsynth, pyfluidsynth and a GM SoundFont (.ci/run installs them)")
def test_a_render_from_a_start_is_the_whole_renders_samples_from_there():
    from synth.score.fluid import LEAD_IN, FluidRenderer

    r = FluidRenderer()
    notes = [Note(b, 0.75, 60 + b % 7, 90) for b in range(12)]   # one a beat at 120 bpm, for 6 s
    score = Score(120.0, voices=[Voice("melody", 0, notes), Voice("harmony", 48, [Note(6.0, 4.0, 55, 80)])])
    whole = r.render(score, 6.0)
    start = 4.3                                   # no block boundary; the notes from 4.3 - LEAD_IN on ring into it
    part = r.render(score, 6.0, start=start)
    first = round(start * 44100)
    assert part.shape == (2, whole.shape[1] - first)
    kept = [Voice("melody", 0, [n for n in notes if n.start * 0.5 >= start - LEAD_IN]), score.voices[1]]
    late = r.render(Score(120.0, voices=kept), 6.0)
    assert np.allclose(part, late[:, first:], atol=1e-6)       # exactly what began within the lead-in
    assert np.abs(part - whole[:, first:]).max() < 0.05 * np.abs(whole[:, first:]).max()   # and nearly all of it


def test_bad_soundfont_file_is_refused_in_one_line(tmp_path):
    if shutil.which("fluidsynth") is None or not _have_synth():
        pytest.skip("needs fluidsynth and pyfluidsynth")
    from synth.score.fluid import FluidRenderer

    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"not a soundfont")
    with pytest.raises(SoundFontError) as exc:
        FluidRenderer(str(bad))
    assert "\n" not in str(exc.value)


def test_notes_above_a_presets_samples_sound_an_octave_or_more_down():
    """FluidSynth is silent above a preset's top key (the default SoundFont's contrabass ends at 57); the
    renderer finds it by listening and plays higher notes in the highest octave that sounds."""
    if shutil.which("fluidsynth") is None or not _have_synth():
        pytest.skip("needs fluidsynth and pyfluidsynth")
    from synth.score.fluid import FluidRenderer

    r = FluidRenderer()
    top = r.top_key(43)
    assert 48 <= top < 84 and r._sounds(43, top) and not r._sounds(43, top + 1)
    assert r.top_key(0) >= 96                              # the piano reaches its top octave
    high = Score(bpm=120.0, voices=[Voice("melody", 43, [Note(0.0, 1.0, top + 14, 100)])])
    assert np.abs(r.render(high, 1.0, room=False)).max() > 1e-3


def test_drums_play_when_the_patterns_together_outweigh_none():
    from synth.score.curves import decode_groove

    curves = np.zeros((L.N_CHANNELS, 32), np.float32)
    curves[L.PATTERN0] = 0.4                                   # "none" has the single largest mean ...
    curves[L.INDEX["drums_funk"]], curves[L.INDEX["drums_rock"]] = 0.25, 0.35  # ... the patterns the most
    curves[L.INDEX["drum_level"]] = 0.5
    groove = decode_groove(curves)
    assert groove is not None and groove.pattern == "rock"
    curves[L.INDEX["drums_funk"]] = 0.0                        # 0.35 < 0.4: no drums
    assert decode_groove(curves) is None
    curves[L.PATTERN0 + 1:L.PATTERN0 + L.N_PATTERNS] = -0.2    # negative means count as nothing
    curves[L.PATTERN0] = 0.0
    assert decode_groove(curves) is None


def test_the_text_decides_drums_over_the_curves():
    """`present` (the drums head's verdict) overrides the curves either way; curves that wrote no drums
    wrote no level, so forced drums take the melody's loudness."""
    from synth.score.curves import decode_groove

    curves = np.zeros((L.N_CHANNELS, 32), np.float32)
    curves[L.PATTERN0] = 0.9
    curves[L.INDEX["drums_swing"]] = 0.1
    curves[L.INDEX["melody_onset"], ::4] = 1.0
    curves[L.INDEX["melody_velocity"], ::4] = 100 / 127
    assert decode_groove(curves) is None and decode_groove(curves, present=False) is None
    forced = decode_groove(curves, present=True)
    assert forced.pattern == "swing" and forced.level == 92
    curves[L.INDEX["drum_level"]] = 0.5
    curves[L.PATTERN0] = 0.0
    assert decode_groove(curves, present=False) is None and decode_groove(curves).level == 64


def test_held_pieces_round_trip_when_decoded_as_held():
    """The corpus's held pieces (pads, drones: onsets at most twice a bar, legato) decode to their own notes
    with `held`: the held reading is the generator's held writing."""
    from dataclasses import replace

    rng = random.Random(3)
    for _ in range(12):
        score = compose(replace(sample_params(rng), density="held", articulation="legato"), rng)
        back = curves_to_score(score_to_curves(score, 64), 90.0, held=True)
        for voice in score.voices:
            starts = sorted({n.start for n in voice.notes} | {16.0})
            legato = {a: min(b - a, 4.0) for a, b in zip(starts, starts[1:])}  # to the next, a bar at most
            want = sorted((n.start, legato[n.start], n.pitch) for n in voice.notes if n.start < 16)
            assert sorted((n.start, n.duration, n.pitch) for n in back.voice(voice.role).notes) == want


def test_held_notes_survive_noisy_curves():
    """Noise that splits and cuts notes when read note by note: onsets on neighbouring 16ths and gates that
    dip. Held, each voice keeps its strongest onsets half a bar apart and holds each note to the next."""
    melody = Voice("melody", 89, [Note(0.0, 4.0, 64, 80), Note(4.0, 2.0, 65, 80), Note(6.0, 2.0, 67, 80)])
    curves = score_to_curves(Score(70.0, 0, "major", [melody]), 32)
    on, gate = L.INDEX["melody_onset"], L.INDEX["melody_gate"]
    curves[on, [1, 5, 11, 17, 27]] = [0.7, 0.55, 0.6, 0.9, 0.51]   # spurious onsets, each weaker than a true one
    curves[gate, [3, 9, 20, 29]] = 0.1                              # and dips
    plain = curves_to_score(curves, 70.0).voice("melody")
    assert len(plain.notes) == 8 and sorted(n.duration for n in plain.notes)[4] <= 0.75
    held = curves_to_score(curves, 70.0, held=True).voice("melody")
    assert [(n.start, n.duration, n.pitch) for n in held.notes] == [(0.0, 4.0, 64), (4.0, 2.0, 65), (6.0, 2.0, 67)]
    curves[on] = 0.2                                                # nothing reaches the threshold: no notes
    assert curves_to_score(curves, 70.0, held=True).voice("melody") is None


@pytest.mark.parametrize("bpm", [96.0, 150.0])
def test_a_mid_keeps_its_drums_as_the_groove_that_plays_them(bpm):
    """A variation of a clip with drums starts from a latent with its groove: ours read back to the same
    hits (at 150 bpm two patterns play the same 8ths), another kit with nothing alike gives none."""
    from synth.score.drums import PATTERN_NAMES, Groove, read_groove
    from synth.score.midi_read import midi_to_score

    for name in PATTERN_NAMES:
        groove = Groove(name, 80, (1, 3))
        score = Score(bpm=bpm, tonic=0, mode="major", voices=[Voice("melody", 0, [Note(0.0, 1.0, 60, 90),
                      Note(15.0, 1.0, 62, 90)])], drums=groove_hits(groove, bpm, 4), groove=groove)
        back = midi_to_score(score_to_midi(score))
        assert back.groove is not None and back.groove.level == 80 and back.groove.fills == (1, 3), name
        assert [(h.start, h.lane, h.velocity) for h in back.drums] == [(h.start, h.lane, h.velocity) for h in score.drums]
        curves = score_to_curves(back, 64)                  # and it encodes: the latent holds the groove
        assert curves[L.INDEX["drums_none"]].max() == 0.0
    assert read_groove([(0.0, 49, 100), (1.0, 49, 100)], bpm, 1) is None   # crash cymbals only: no lane of ours
    assert read_groove([(0.25 * i, 38, 100) for i in range(16)], bpm, 1) is None  # a snare roll: nothing alike
