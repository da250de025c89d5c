"""The jam's audio out through sounddevice (macOS, Windows, a Linux without JACK), without sound
hardware: device selection by name or index, one-line errors, the callback reading the ring buffer,
the fallback from JACK, and a daemon whose `--audio-out` names no device keeps serving OSC."""
import sys
import types

import numpy as np
import pytest

from bridge.jam import outputs as audio_out
from bridge.jam.outputs import AudioOutputError, JackUnavailable, SoundDeviceOutput, open_output, output_device

# What sounddevice.query_devices() returns: one dict per PortAudio device, inputs included.
DEVICES = [
    {"name": "MacBook Pro Microphone", "max_input_channels": 1, "max_output_channels": 0},
    {"name": "MacBook Pro Speakers", "max_input_channels": 0, "max_output_channels": 2},
    {"name": "BlackHole 2ch", "max_input_channels": 2, "max_output_channels": 2},
    {"name": "BlackHole 16ch", "max_input_channels": 16, "max_output_channels": 16},
]


def test_device_by_exact_name_part_of_it_or_index():
    assert output_device(DEVICES, None) is None                    # the system's default
    assert output_device(DEVICES, "blackhole 2CH") == 2            # any case
    assert output_device(DEVICES, "Speakers") == 1                 # part of the name
    assert output_device(DEVICES, "3") == 3


@pytest.mark.parametrize("name, needle", [
    ("NOPE", "--audio-out 'NOPE': no output device matches it (outputs: 'MacBook Pro Speakers', 'BlackHole 2ch', "
             "'BlackHole 16ch')"),
    ("BlackHole", "matches 2 output devices ('BlackHole 2ch', 'BlackHole 16ch')"),
    ("Microphone", "no output device matches it"),                 # an input only
    ("0", "--audio-out 0: no output device has that index"),
])
def test_a_missing_or_ambiguous_device_is_one_line(name, needle):
    with pytest.raises(AudioOutputError) as err:
        output_device(DEVICES, name)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_no_output_device_at_all():
    with pytest.raises(AudioOutputError, match="no audio output device found"):
        output_device(DEVICES[:1], None)


class FakeStream:
    """sounddevice.OutputStream's surface that SoundDeviceOutput uses; it calls back like PortAudio."""
    made = []

    def __init__(self, samplerate, channels, dtype, device, callback, finished_callback):
        self.samplerate, self.blocksize, self.device = samplerate, 0, device
        self.callback, self.finished = callback, finished_callback
        self.started = self.closed = False
        FakeStream.made.append(self)

    def start(self):
        self.started = True

    def close(self):
        self.closed = True

    def cycle(self, frames):
        out = np.full((frames, 2), 9.0, np.float32)
        self.callback(out, frames, types.SimpleNamespace(outputBufferDacTime=1.01, currentTime=1.0), None)
        return out


class RefusingStream(FakeStream):
    def __init__(self, *args, **kwargs):
        raise RuntimeError("Error opening OutputStream:\nInvalid sample rate [PaErrorCode -9997]")


@pytest.fixture
def fake_sounddevice(monkeypatch):
    module = types.SimpleNamespace(query_devices=lambda: DEVICES, OutputStream=FakeStream)
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    FakeStream.made.clear()
    return module


def test_opens_the_named_device_and_plays_the_ring(fake_sounddevice):
    out = SoundDeviceOutput("blackhole 2ch")
    stream = FakeStream.made[-1]
    assert stream.device == 2 and stream.started and out.name == "BlackHole 2ch" and out.sample_rate == 48000
    out.ring.write(np.arange(20, dtype=np.float32).reshape(10, 2))
    block = stream.cycle(8)
    assert (block[:, 0] == np.arange(0, 16, 2)).all() and out.played == 8
    block = stream.cycle(8)                     # 2 frames left: then silence, counted as an underrun
    assert (block[:2, 1] == [17, 19]).all() and not block[2:].any() and out.underruns == 1
    stream.finished()
    assert out.dead == "the audio device stopped"
    out.close()
    assert stream.closed


def test_default_device_and_one_line_errors(fake_sounddevice):
    SoundDeviceOutput(None)
    assert FakeStream.made[-1].device is None
    with pytest.raises(AudioOutputError, match="no output device matches it"):
        SoundDeviceOutput("NOPE")
    fake_sounddevice.OutputStream = RefusingStream
    with pytest.raises(AudioOutputError) as err:
        SoundDeviceOutput("Speakers")
    assert str(err.value) == ("cannot open audio output 'Speakers': Error opening OutputStream: Invalid sample rate "
                              "[PaErrorCode -9997]")


def test_linux_without_jack_plays_on_the_system_device(fake_sounddevice, monkeypatch):
    def no_jack(connect=None):
        raise JackUnavailable("no JACK server is running")

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(audio_out, "JackOutput", no_jack)
    assert open_output("Speakers").name == "MacBook Pro Speakers"
    with pytest.raises(AudioOutputError) as err:
        open_output("NOPE")
    assert str(err.value).startswith("no JACK server is running; no other audio output either: --audio-out 'NOPE'")


def test_daemon_with_a_missing_audio_device_says_so_in_one_line_and_keeps_serving(tmp_path):
    pytest.importorskip("sounddevice", reason="sounddevice (PortAudio) is not installed")
    from bridge.testing.osc_daemon import Daemon

    # No JACK server (a name nobody runs), so the output is PortAudio's, where nothing is called NOPE.
    d = Daemon(tmp_path, "--jam", "--audio-out", "NOPE",
               env={"JACK_DEFAULT_SERVER": "lsynth-absent", "JACK_NO_START_SERVER": "1"})
    try:
        c = d.client()
        c.send("/synth/ping")
        assert c.expect("/synth/pong", 10) == []
        lines = [line for line in d.stderr if "jam not started" in line]
        assert len(lines) == 1 and "--audio-out 'NOPE': no output device matches it" in lines[0], d.stderr[-5:]
        c.send("/synth/jam/start")                 # asked again over OSC: the same reason, on /synth/error
        got = c.expect("/synth/error", 10)
        assert got[0] == "/synth/jam/start" and "no output device matches it" in got[1], got
        c.send("/synth/ping")
        assert c.expect("/synth/pong", 10) == []
        c.close()
    finally:
        d.kill()


def test_jack_output_drops_what_was_due_in_a_skipped_cycle_so_frames_keep_their_time():
    # A loaded machine: the JACK server runs a cycle without the daemon. The frames due then are
    # dropped, so stream frame f still sounds at JACK frame origin + f (a queued phrase edge stays on
    # its bar line instead of sounding a period late).
    period, origin = 256, 10_000
    out = object.__new__(audio_out.JackOutput)
    audio_out.Output.__init__(out, 1 << 14)
    out.sample_rate, out.period = 48000, period
    out._next_cycle, out._jack_anchor = None, (0, 0)
    ports = [np.zeros(period, np.float32), np.zeros(period, np.float32)]
    out.ports = [types.SimpleNamespace(get_array=lambda a=a: a) for a in ports]
    out.clock_in = types.SimpleNamespace(incoming_midi_events=lambda: [])
    out.clock_events = []
    out.client = types.SimpleNamespace(last_frame_time=origin)
    ramp = np.arange(16 * period, dtype=np.float32)
    out.ring.write(np.stack([ramp, ramp], axis=1))   # each frame's value is its stream frame
    for cycle in (0, 1, 3, 4):                        # cycle 2 never reached the daemon
        out.client.last_frame_time = origin + cycle * period
        out._process(period)
        assert ports[0][0] == cycle * period, (cycle, ports[0][0])
        assert out.frame_to_time(cycle * period) * 48000 == origin + cycle * period
    assert out.skipped_cycles == 1 and out.underruns == 0
