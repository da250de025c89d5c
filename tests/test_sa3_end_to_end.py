"""Stable Audio 3's distilled defaults through the whole instrument, on the tiny-sa3 backend:
serve over real UDP, presets, MIDI replay and a validation run. (Its audio is noise: these check
the machinery, the defaults and the limits.)"""
import json
import subprocess
import sys
from pathlib import Path

import mido
import pytest
import soundfile as sf
import yaml

from bridge.testing.osc_daemon import Daemon

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("sa3"), "--backend", "tiny-sa3")
    yield d
    d.kill()


def test_state_shows_the_backends_defaults_and_clips_use_them(daemon, client):
    client.send("/synth/state")
    state = json.loads(client.expect("/synth/state")[0])
    assert state["steps"] == 8 and state["cfg"] == 1.0  # SA3 distilled: 8 steps, guidance baked in
    client.send("/synth/duration", 4.0)
    client.send("/synth/seed", 7)
    client.send("/synth/feature/5", 2.0)  # tiny-sa3's untrained stand-in SAE
    client.send("/synth/render")
    path, seed, seconds, kind = client.expect("/synth/rendered", 120)
    assert (seed, kind) == (7, "final") and seconds == pytest.approx(4.0, abs=0.01)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, 4 * 44100)
    side = json.loads(Path(path).with_suffix(".json").read_text())
    assert side["backend"] == "tiny-sa3" and side["family"] == "stable-audio-3" and side["encoder"] == "tiny-t5gemma"
    assert side["state"]["steps"] == 8 and side["state"]["cfg"] == 1.0 and side["state"]["features"] == {"5": 2.0}


def test_a_clip_over_the_backends_limit_is_refused_naming_it(daemon, client):
    client.send("/synth/duration", 150.0)  # fine for the state (<= 380 s), too long for tiny-sa3 (120 s)
    client.send("/synth/render")
    address, message = client.expect("/synth/error", 60)
    assert address == "/synth/render" and "120.00 s" in message and "tiny-sa3" in message
    client.send("/synth/duration", 1.0)
    client.send("/synth/ping")
    assert client.expect("/synth/pong") == []


def test_a_preset_that_sets_neither_steps_nor_cfg_gets_the_backends(daemon, client):
    client.send("/synth/steps", 3)
    client.send("/synth/preset/save", "explicit")
    client.send("/synth/ping")
    client.expect("/synth/pong")
    saved = yaml.safe_load((daemon.presets / "explicit.yaml").read_text())
    assert saved["state"]["steps"] == 3 and saved["state"]["cfg"] is None
    (daemon.presets / "portable.yaml").write_text(yaml.safe_dump(
        {"name": "portable", "state": {"prompts": [{"text": "soft pad", "weight": 1.0}], "duration": 1.0}}))
    client.send("/synth/preset/load", "portable")
    client.send("/synth/state")
    state = json.loads(client.expect("/synth/state")[0])
    assert state["steps"] == 8 and state["cfg"] == 1.0 and state["name"] == "portable"


def test_midi_replay_on_tiny_sa3(tmp_path):
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.Message("control_change", control=21, value=127, time=0))
    track.append(mido.Message("note_on", note=60, velocity=100, time=480))
    track.append(mido.Message("control_change", control=21, value=0, time=480))
    track.append(mido.Message("note_on", note=62, velocity=100, time=480))
    mid.save(tmp_path / "song.mid")
    (tmp_path / "map.yaml").write_text(yaml.safe_dump({"cc": [{"cc": 21, "address": "/synth/duration",
                                                               "min": 1.0, "max": 2.0}]}))
    out = tmp_path / "clips"
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "midi-replay", str(tmp_path / "song.mid"), "--out",
                           str(out), "--backend", "tiny-sa3", "--midi-map", str(tmp_path / "map.yaml"),
                           "--presets", str(tmp_path / "presets")], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lengths = sorted(sf.info(p).frames for p in out.glob("*.wav"))
    assert lengths == [44100, 2 * 44100]
    sides = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert all(s["backend"] == "tiny-sa3" and s["state"]["steps"] == 8 for s in sides)


def test_validate_on_tiny_sa3_uses_its_defaults(tmp_path):
    out = tmp_path / "v"
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "analysis", "validate", "--backend", "tiny-sa3",
                           "--pos", "loud drums", "--neg", "soft strings", "--modes", "text,guidance", "--n", "3",
                           "--duration", "1", "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert res["backend"] == "tiny-sa3" and res["steps"] == 8 and res["analysis_sr"] == 44100
    assert set(res["modes"]) == {"text", "guidance"} and "guidance" in res["retention"]
