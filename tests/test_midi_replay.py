"""`latent-synth midi-replay`: a Standard MIDI File of CC automation, rendered offline."""
import json
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def write_song(path, bpm=120):
    """90 s of automation: CC 20 (cfg) ramps, a 14-bit CC 1/33 (mix slot 1), program change, 2 note-ons."""
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    beat = 480
    track.append(mido.Message("program_change", program=1, time=0))           # loads preset "b-two"
    track.append(mido.Message("control_change", control=20, value=0, time=beat))
    track.append(mido.Message("control_change", control=1, value=64, time=beat))
    track.append(mido.Message("control_change", control=33, value=0, time=0))
    track.append(mido.Message("note_on", note=60, velocity=100, time=beat))    # clip 1: cfg 1.0
    track.append(mido.Message("note_off", note=60, velocity=0, time=beat))
    track.append(mido.Message("control_change", control=20, value=127, time=beat * 80))  # 40 s later
    track.append(mido.Message("control_change", control=1, value=127, time=0))
    track.append(mido.Message("control_change", control=33, value=127, time=0))
    track.append(mido.Message("note_on", note=62, velocity=100, time=beat * 80))  # clip 2: cfg 11.0
    track.append(mido.Message("note_off", note=62, velocity=0, time=beat))
    mid.save(path)
    return mid.length


def test_midi_replay_renders_at_each_note_on_without_sleeping(tmp_path):
    song = tmp_path / "song.mid"
    length = write_song(song)
    assert length > 80
    mapping = tmp_path / "map.yaml"
    mapping.write_text(yaml.safe_dump({"cc": [
        {"cc": 20, "address": "/synth/cfg", "min": 1.0, "max": 11.0},
        {"cc": 1, "bits": 14, "address": "/synth/mix/1", "min": 0.0, "max": 1.0},
    ]}))
    presets = tmp_path / "presets"
    presets.mkdir()
    for i, name in enumerate(["a-one", "b-two"]):
        (presets / f"{name}.yaml").write_text(yaml.safe_dump({"name": name, "state": {
            "prompts": [{"text": f"pad {name}", "weight": 1.0}, {"text": "choir", "weight": 0.0}],
            "steps": 4, "duration": 1.0, "seed": 10 + i}}))
    out = tmp_path / "clips"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "midi-replay", str(song), "--out", str(out),
                           "--backend", "tiny", "--midi-map", str(mapping), "--presets", str(presets)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert elapsed < length, f"took {elapsed:.0f} s for a {length:.0f} s song: it must not sleep"
    assert "rendered 2 clips" in proc.stdout
    sides = sorted((json.loads(p.read_text()) for p in out.glob("*.json")), key=lambda s: s["state"]["cfg"])
    assert len(sides) == 2
    first, second = (s["state"] for s in sides)
    assert first["name"] == "b-two" and first["seed"] == 11 and first["prompts"][0]["text"] == "pad b-two"
    assert first["cfg"] == pytest.approx(1.0) and second["cfg"] == pytest.approx(11.0)
    assert first["prompts"][1]["weight"] == pytest.approx((64 << 7) / 16383)
    assert second["prompts"][1]["weight"] == pytest.approx(1.0)


def test_midi_replay_bad_file_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi")
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "midi-replay", str(bad), "--out", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("latent-synth: error:") and str(bad) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
