"""Jam mode on JACK's dummy driver with real peers: the score backend plays phrases on
`latent-synth-audio:out_L/out_R`, writes bar-exact loops, follows `jack_midi_clock` (a DAW's MIDI
clock) and sends its notes on a MIDI output that `jack_midi_dump` reads. Skips only where JACK's
tools are missing; a JACK server that does not start fails with its reason."""
import json
import re
import shutil
import subprocess
import time

import pytest
import soundfile as sf

from bridge.testing.osc_daemon import Daemon, jack_server, missing_jack_tools, stop_process

TOOLS = ("jack_midi_clock", "jack_capture", "jack_transport", "jack_midi_dump")
missing = missing_jack_tools() + [t for t in TOOLS if shutil.which(t) is None]
pytestmark = [pytest.mark.peers, pytest.mark.skipif(bool(missing), reason=f"JACK tools not installed: {', '.join(missing)}")]
LOOP = re.compile(r"^(?P<name>[a-z0-9-]+)_(?P<bpm>[0-9.]+)bpm_(?P<bars>[0-9]+)bars_(?P<n>[0-9]+)\.wav$")


@pytest.fixture(scope="module")
def jack_env():
    with jack_server() as env:
        yield env


@pytest.fixture(scope="module")
def daemon(jack_env, tmp_path_factory):
    env = {k: jack_env[k] for k in ("JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION")}
    env["MIDO_BACKEND"] = "mido.backends.rtmidi/UNIX_JACK"
    d = Daemon(tmp_path_factory.mktemp("jam"), "--backend", "score", "--midi-virtual", "clock",
               "--midi-out", "notes", env=env)
    yield d
    d.kill()


def jack(env, *cmd, **kw):
    return subprocess.run(list(cmd), env=env, capture_output=True, text=True, timeout=20, **kw)


def jam_loops(client, n, timeout=60):
    paths = []
    while len(paths) < n:
        path, seed, seconds, kind = client.expect("/synth/rendered", timeout)
        if kind == "jam":
            paths.append((path, seconds))
    return paths


def status(client):
    client.send("/synth/status")
    return json.loads(client.expect("/synth/status")[0])


def test_internal_clock_plays_bar_exact_loops_on_jack(daemon, client, jack_env):
    client.send("/synth/jam/bars", 1)
    client.send("/synth/bpm", 150.0)
    client.send("/synth/jam/start")
    loops = jam_loops(client, 2)
    ports = jack(jack_env, "jack_lsp").stdout.split()
    assert {"latent-synth-audio:out_L", "latent-synth-audio:out_R"} <= set(ports)
    rec = daemon.out.parent / "rec.wav"
    got = jack(jack_env, "jack_capture", "-d", "2", "-f", "wav", "--port", "latent-synth-audio:out_L",
               "--port", "latent-synth-audio:out_R", str(rec), stdin=subprocess.DEVNULL)
    assert got.returncode == 0, got.stderr[-500:]
    audio, sr = sf.read(rec)
    assert sr == 48000 and abs(audio).max() > 1e-3        # the jam sounds on its ports
    for path, seconds in loops:
        m = LOOP.match(path.rsplit("/", 1)[1])
        assert m and m["bpm"] == "150" and m["bars"] == "1", path
        info = sf.info(path)
        assert info.frames == round(1 * 4 * 60 / 150 * 44100) and seconds == pytest.approx(1.6)
        side = json.loads(open(path[:-4] + ".json").read())
        assert side["kind"] == "jam" and side["state"]["bpm"] == 150.0 and side["state"]["bars"] == 1.0
        assert open(path[:-4] + ".mid", "rb").read(4) == b"MThd"
    s = status(client)
    assert s["jam"]["active"] and s["jam"]["output"] == "latent-synth-audio" and "jam_repeats" in s
    client.send("/synth/jam/stop")
    assert not status(client)["jam"]["active"]
    client.send("/synth/bpm", 0.0)


def test_midi_clock_sets_tempo_and_transport_and_notes_go_out(daemon, client, jack_env):
    clock = subprocess.Popen(["jack_midi_clock", "-b", "96", "-J", "5"], env=jack_env,   # 5% tick jitter stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    dump = subprocess.Popen(["jack_midi_dump"], env=jack_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        deadline = time.monotonic() + 10
        while jack(jack_env, "jack_connect", "jack_midi_clock:mclk_out", "latent-synth:clock").returncode:
            assert time.monotonic() < deadline, jack(jack_env, "jack_lsp").stdout
            time.sleep(0.2)
        while jack(jack_env, "jack_connect", "latent-synth-notes:notes", "midi-monitor:input").returncode:
            assert time.monotonic() < deadline, jack(jack_env, "jack_lsp").stdout
            time.sleep(0.2)
        client.send("/synth/jam/bars", 1)
        client.send("/synth/jam/sync", "midi-clock")
        jack(jack_env, "jack_transport", input="play\n")      # the DAW's Start: the jam begins
        loops = jam_loops(client, 6, timeout=90)
        # -J 5 jitters every interval, so the clock's tempo wanders (~0.3% over a bar, and the first
        # bars' tempo is what it is; JACK's dummy driver on a loaded machine wanders too: a CI run's fit
        # drifted to ~95.7): the first loop after Start is named within 1.5% of 96 (the internal 120
        # was the old first phrase), and once the fit holds 4 bars, one name within 0.5% of 96.
        bpms = [float(LOOP.match(p.rsplit("/", 1)[1])["bpm"]) for p, _ in loops]
        assert abs(bpms[0] - 96.0) <= 1.44 and len(set(bpms[4:])) == 1 and abs(bpms[4] - 96.0) <= 0.48, bpms
        assert all(sf.info(p).frames == round(4 * 60 / b * 44100) for (p, _), b in zip(loops, bpms))
        jack(jack_env, "jack_transport", input="stop\n")      # the DAW's Stop: silent at once
        assert daemon.wait_for(lambda: not status(client)["jam"]["active"], 10)
    finally:
        stop_process(clock)
        time.sleep(0.5)
        stop_process(dump)
    notes = [line for line in dump.stdout.read().splitlines() if "note on" in line]
    assert notes, "no notes on the MIDI output"
    client.send("/synth/jam/sync", "internal")


@pytest.mark.parametrize("address, args, needle", [
    ("/synth/jam/bars", (3,), "1, 2, 4, 8"),
    ("/synth/jam/bars", (2.5,), "whole number"),
    ("/synth/jam/continuity", (1.5,), "outside [0, 1]"),
    ("/synth/jam/sync", ("smpte",), "internal, midi-clock"),
    ("/synth/jam/quantize", ("16th",), "beat, bar, phrase"),
    ("/synth/jam/start", (1,), "takes no arguments"),
])
def test_bad_jam_input_is_one_line_and_the_daemon_keeps_serving(client, address, args, needle):
    client.send(address, *args)
    got_address, message = client.expect("/synth/error")
    assert got_address == address and needle in message
    client.send("/synth/ping")
    assert client.expect("/synth/pong") == []


def test_no_jack_server_is_one_line_at_start_up_and_osc_keeps_serving(tmp_path):
    d = Daemon(tmp_path, "--jam", env={"JACK_DEFAULT_SERVER": "lsynth-none", "JACK_NO_START_SERVER": "1"})
    try:
        c = d.client()
        c.send("/synth/ping")
        assert c.expect("/synth/pong", 10) == []
        assert d.wait_for(lambda: any("jam not started" in line for line in d.stderr), 10), d.stderr[-5:]
        lines = [line for line in d.stderr if "jam not started" in line]
        assert len(lines) == 1 and "no JACK server is running" in lines[0]
        c.send("/synth/jam/start")
        address, message = c.expect("/synth/error", 10)
        assert address == "/synth/jam/start" and "jackd" in message
        c.close()
    finally:
        d.kill()
