"""What a sonify grid changes in the decoded score: pure summaries in, words out."""
from analysis.steering.sonify_scores import cell_tag, score_change


def score(bpm=100.0, drums=False, melody=0, pitch=60.0, velocity=80.0, notes=10, bass=True):
    voices = [{"role": "melody", "program": melody, "notes": notes, "mean_pitch": pitch, "mean_velocity": velocity}]
    if bass:
        voices.append({"role": "bass", "program": 32, "notes": 8, "mean_pitch": 40.0, "mean_velocity": 70.0})
    return {"bpm": bpm, "drums": drums, "voices": voices}


def test_cell_tag_names_tempo_drums_and_melody_instrument():
    assert cell_tag(score(bpm=92.4, drums=True, melody=56)) == "92 bpm, drums, melody Trumpet"
    assert cell_tag(score(melody=0)) == "100 bpm, melody Acoustic Grand Piano"
    assert cell_tag(None) == ""


def test_score_change_reports_each_audible_change():
    a, b = score(), score(bpm=150.0, drums=True, melody=56, pitch=67.0, velocity=110.0, notes=20, bass=False)
    text = score_change(a, b)
    for phrase in ("bpm 100 → 150", "drums off → on", "melody program 0 → 56 (Trumpet)", "melody pitch 60 → 67",
                   "melody velocity 80 → 110", "melody notes 10 → 20", "bass on → off (Acoustic Bass)"):
        assert phrase in text, (phrase, text)


def test_score_change_ignores_changes_below_the_thresholds():
    assert score_change(score(), score(bpm=103.0, pitch=61.0, velocity=85.0, notes=11)) == "no change in the score"
    assert score_change(score(), None) == ""
