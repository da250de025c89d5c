"""JACK MIDI: a dummy JACK server, the daemon's virtual MIDI port, and `jack_midiseq` playing notes
into it. Each note-on renders a clip (coalesced while renders are busy)."""
import json
import signal
import subprocess
import time

import mido
import pytest
import yaml

from bridge.testing.jack_midi_source import JackMidiSource
from bridge.testing.osc_daemon import Daemon, jack_server, missing_jack_tools, stop_process

missing = missing_jack_tools()
pytestmark = [pytest.mark.peers, pytest.mark.skipif(bool(missing), reason=f"JACK tools not installed: {', '.join(missing)}")]


@pytest.fixture
def jack_env():
    with jack_server() as env:  # a RuntimeError here (jackd did not start) errors the test with its reason
        yield env


def test_jack_midiseq_note_ons_render_clips_and_midi_learn(tmp_path, jack_env):
    config = tmp_path / "synth.yaml"
    config.write_text(yaml.safe_dump({"default_state": {"steps": 4, "duration": 1.0, "seed": 3}}))
    mapping = tmp_path / "map.yaml"
    mapping.write_text(yaml.safe_dump({"notes": {"render": True, "velocity": {"address": "/synth/cfg", "min": 2.0, "max": 9.0}}}))
    env = {k: jack_env[k] for k in ("JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION")}
    env["MIDO_BACKEND"] = "mido.backends.rtmidi/UNIX_JACK"
    daemon = Daemon(tmp_path, "--midi-virtual", "lsynth-in", "--midi-map", str(mapping), "--config", str(config), env=env)
    seq = None
    try:
        ports = subprocess.run(["jack_lsp"], env=jack_env, capture_output=True, text=True, timeout=10).stdout.split("\n")
        target = [p for p in ports if p.endswith(":lsynth-in")]
        assert target == ["latent-synth:lsynth-in"], ports
        # a 0.5 s loop with note-ons at 0 and 0.25 s (notes 60 and 62)
        seq = subprocess.Popen(["jack_midiseq", "seq", "24000", "0", "60", "12000", "12000", "62", "12000"],
                               env=jack_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while subprocess.run(["jack_connect", "seq:out", target[0]], env=jack_env, capture_output=True, timeout=10).returncode != 0:
            assert time.monotonic() < deadline, "could not connect seq:out to the daemon's port"
            time.sleep(0.2)
        assert daemon.wait_for(lambda: len(daemon.clips()) >= 2, 90), daemon.stderr[-20:]
        stop_process(seq)
        seq = None
        sides = [yaml.safe_load(w.with_suffix(".json").read_text()) for w in daemon.clips()]
        # velocity was mapped to cfg before each render: cfg moved off the config's 7.0 into [2, 9]
        assert all(2.0 <= s["state"]["cfg"] <= 9.0 and s["state"]["cfg"] != 7.0 for s in sides), [s["state"]["cfg"] for s in sides]
        assert all(s["state"]["steps"] == 4 for s in sides)

        # MIDI learn over JACK: arm it by OSC, then a CC from another JACK client maps and saves
        client = daemon.client()
        client.send("/synth/learn", "/synth/feature/7")
        client.send("/synth/ping")
        client.expect("/synth/pong")
        with JackMidiSource(jack_env, "lsynth-test", "ctl") as out:
            assert subprocess.run(["jack_connect", "lsynth-test:ctl", target[0]], env=jack_env,
                                  capture_output=True, timeout=10).returncode == 0
            time.sleep(0.3)
            out.send(mido.Message("control_change", channel=2, control=71, value=127))
            assert daemon.wait_for(lambda: mapping.exists() and "/synth/feature/7" in mapping.read_text(), 10)
            out.send(mido.Message("control_change", channel=2, control=71, value=0))
            time.sleep(0.3)
        learned = yaml.safe_load(mapping.read_text())
        assert {"channel": 3, "cc": 71, "address": "/synth/feature/7", "min": -10.0, "max": 10.0,
                "curve": "linear"} in learned["cc"]
        assert learned["notes"]["velocity"]["address"] == "/synth/cfg"  # the rest of the file survived
        client.send("/synth/state")
        assert json.loads(client.expect("/synth/state")[0])["features"]["7"] == -10.0
        client.close()
        assert daemon.stop(signal.SIGTERM) == 0
    finally:
        if seq is not None:
            stop_process(seq)
        daemon.kill()


def test_named_jack_port_is_opened_and_connected(tmp_path, jack_env):
    """`--midi PORT` opens an existing port by name (rtmidi under JACK needs the explicit connect)."""
    mapping = tmp_path / "map.yaml"
    mapping.write_text(yaml.safe_dump({"cc": [{"cc": 20, "address": "/synth/cfg", "min": 0.0, "max": 10.0}]}))
    with JackMidiSource(jack_env, "lsynth-src", "keys") as out:
        env = {"JACK_DEFAULT_SERVER": jack_env["JACK_DEFAULT_SERVER"], "MIDO_BACKEND": "mido.backends.rtmidi/UNIX_JACK"}
        daemon = Daemon(tmp_path, "--midi", "lsynth-src:keys", "--midi-map", str(mapping), env=env)
        try:
            client = daemon.client()
            out.send(mido.Message("control_change", control=20, value=127))
            deadline = time.monotonic() + 10
            while True:
                client.send("/synth/state")
                if json.loads(client.expect("/synth/state")[0])["cfg"] == 10.0:
                    break
                assert time.monotonic() < deadline, daemon.stderr[-10:]
                time.sleep(0.2)
            client.close()
            assert daemon.stop(signal.SIGTERM) == 0
        finally:
            daemon.kill()
