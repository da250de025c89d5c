"""Where the jam sounds: a JACK client on Linux (ports `out_L`, `out_R`), the system device elsewhere.

Why these libraries: JACK-Client (python-jack) is the maintained CFFI binding of libjack that JACK's
own tools are built on; on Linux JACK is the musician's patchbay, so the daemon shows up beside the
DAW and its ports can be routed anywhere. sounddevice (PortAudio) is the maintained cross-platform
binding for Core Audio (macOS), WASAPI/ASIO (Windows) and, on a Linux without JACK, ALSA, PulseAudio
or PipeWire. Both call back from the audio thread; our
callbacks only copy frames out of a ring buffer (`RingBuffer`), which a feeder thread fills a few
periods ahead, so no render, lock or allocation ever runs where the audio is made.

Every output has its own clock (`now()`, seconds): JACK's frame time, which the DAW's clock also
counts in (a dummy server runs ~0.1% off the wall clock), else time.monotonic(); it maps its stream
frames (the n-th frame written) to that clock and back, so the MIDI clock's bar lines land on frames.
"""
from __future__ import annotations

import errno
import sys
import threading
import time
from collections import deque

import numpy as np

from bridge.jam.midi_clock import CLOCK_STATUS

CLIENT_NAME = "latent-synth-audio"  # the MIDI input is the JACK client "latent-synth"


class AudioOutputError(OSError):
    """No audio output could be opened or it went away; the message says which and what to try."""


class JackUnavailable(AudioOutputError):
    """No JACK here (no libjack or no server): on Linux the system's device is tried instead."""


class RingBuffer:
    """Single-producer, single-consumer stereo frames. The consumer (audio thread) only copies."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._data = np.zeros((self.capacity, 2), np.float32)
        self._write = 0        # total frames written (producer)
        self._read = 0         # total frames read or skipped (consumer)
        self._flush = False

    def available(self) -> int:
        return self._write - self._read

    def space(self) -> int:
        return self.capacity - self.available()

    def write(self, block: np.ndarray) -> int:
        n = min(len(block), self.space())
        start = self._write % self.capacity
        first = min(n, self.capacity - start)
        self._data[start:start + first] = block[:first]
        self._data[:n - first] = block[first:n]
        self._write += n
        return n

    def take_back(self, n: int, keep: int) -> int:
        """The producer withdraws up to n of its newest queued frames, keeping at least `keep` queued
        (what the audio thread may be copying now); -> how many. A beat splice rewrites them."""
        n = max(0, min(int(n), self.available() - int(keep)))
        self._write -= n
        return n

    def drop(self, n: int) -> int:
        """The consumer skips up to n queued frames (they were due while it was not called); -> how many."""
        n = max(0, min(int(n), self.available()))
        self._read += n
        return n

    def flush(self) -> None:
        """Drop every queued frame at the consumer's next read (silence at once)."""
        self._flush = True

    def read_into(self, left: np.ndarray, right: np.ndarray) -> tuple[int, int]:
        """Copy up to len(left) frames into the two channel buffers, zeros after; -> (read, skipped)."""
        skipped = 0
        if self._flush:
            self._flush = False
            skipped = self.available()
            self._read += skipped
        n = min(len(left), self.available())
        start = self._read % self.capacity
        first = min(n, self.capacity - start)
        left[:first] = self._data[start:start + first, 0]
        right[:first] = self._data[start:start + first, 1]
        left[first:n] = self._data[:n - first, 0]
        right[first:n] = self._data[:n - first, 1]
        left[n:] = 0.0
        right[n:] = 0.0
        self._read += n
        return n, skipped


ClockEvent = tuple[int, int, bytes]   # (frame on the output's clock, status byte, data bytes)


class Output:
    """What the jam player needs from an output: a rate, a ring, played frames, a frame <-> time map,
    and every capability an output may have, declared here with a default that does nothing (as
    mido's BasePort declares its ports' hooks): an output that cannot hear the MIDI clock itself keeps
    `mirror_clock` a no-op, `clock_mirrored` False and `clock_events` empty."""
    sample_rate: int
    period: int
    name: str

    def __init__(self, ring_frames: int):
        self.ring: RingBuffer = RingBuffer(ring_frames)
        self.played: int = 0          # stream frames read or skipped: the next stream frame to sound
        self.underruns: int = 0       # cycles that found the ring short
        self.dead: str | None = None  # why the output went away
        self.skipped_cycles: int = 0  # cycles the server ran without us (a loaded machine)
        self.clock_mirrored: bool = False   # the MIDI clock is read here, frame-exact (use only clock_events)
        self.clock_events: deque[ClockEvent] = deque(maxlen=4096)
        self._anchor: tuple[int, float] = (0, time.monotonic())   # (stream frame, the time it sounds on now()'s clock)

    def _consume(self, left, right, when: float) -> None:
        """The audio thread's one job: copy the next frames out of the ring into the two channel
        buffers; the cycle's first frame sounds at `when` (on now()'s clock)."""
        before = self.played
        got, skipped = self.ring.read_into(left, right)
        self.played += skipped
        self._anchor = (self.played, when)
        self.played += got
        if got < len(left) and (got or skipped or before):
            self.underruns += 1

    def mirror_clock(self, midi_port: str | None) -> None:
        """Read the MIDI clock that feeds the daemon's input `midi_port` here too, with exact frame times."""

    def now(self) -> float:
        return time.monotonic()

    def frame_to_time(self, frame: int) -> float:
        f0, t0 = self._anchor
        return t0 + (frame - f0) / self.sample_rate

    def time_to_frame(self, t: float) -> int:
        f0, t0 = self._anchor
        return int(round(f0 + (t - t0) * self.sample_rate))

    def close(self) -> None:
        """Release the device."""


class JackOutput(Output):
    def __init__(self, name: str = CLIENT_NAME, connect: str | None = None, ring_frames: int = 1 << 15):
        try:
            import jack
        except (ImportError, OSError) as exc:
            raise JackUnavailable(f"JACK is not available ({exc}); pip install JACK-Client and install jackd2") from None
        try:
            self.client = jack.Client(name, no_start_server=True)
        except jack.JackOpenError:
            raise JackUnavailable("no JACK server is running: start one (qjackctl, or `jackd -d alsa`; without a "
                                   "sound card `jackd --no-realtime -d dummy -r 48000 -p 256`)") from None
        super().__init__(ring_frames)
        self.name = self.client.name
        self.sample_rate = int(self.client.samplerate)
        self.period = int(self.client.blocksize)
        self.ports = [self.client.outports.register("out_L"), self.client.outports.register("out_R")]
        # The DAW's MIDI clock, read again here for its exact frame times (see mirror_clock).
        self.clock_in = self.client.midi_inports.register("clock_in")
        self._anchor = (0, 0.0)               # on JACK's clock (frame time in seconds)
        self._next_cycle: int | None = None   # the JACK frame our next cycle should start at
        self._mirror_lock = threading.Lock()
        self.client.set_process_callback(self._process)
        self.client.set_shutdown_callback(self._shutdown)
        self.client.activate()
        try:
            self._connect(connect)
        except Exception:
            self.close()
            raise

    def _process(self, frames: int) -> None:
        # The audio thread: copy out of the ring, note which stream frame this cycle starts with.
        now = self.client.last_frame_time
        if self._next_cycle is not None and now > self._next_cycle:
            # The server ran a cycle without us (a loaded machine). What was due then is dropped, so
            # every queued frame still sounds at the JACK frame it was scheduled for: played, late,
            # they would put the phrase edges already queued a period after their bar lines.
            self.skipped_cycles += 1
            self.played += self.ring.drop(now - self._next_cycle)
        self._next_cycle = now + frames
        self._consume(self.ports[0].get_array(), self.ports[1].get_array(), now / self.sample_rate)
        for offset, buf in self.clock_in.incoming_midi_events():
            data = bytes(buf)   # a cffi buffer: indexing it gives bytes, not ints
            if data and data[0] in CLOCK_STATUS:
                self.clock_events.append((now + offset, data[0], data[1:3]))

    def mirror_clock(self, midi_port: str | None) -> None:
        """Connect clock_in to what feeds the daemon's MIDI input `midi_port` (a JACK port name: the
        DAW's clock port itself, or our virtual input, whose sources are mirrored). JACK MIDI events
        carry their frame, so the tempo and bar lines come out exact; the MIDI input's own stamps
        are wall-clock times of late JACK cycles, tens of ms off on a loaded machine."""
        import jack

        if not midi_port:
            return
        with self._mirror_lock:   # the OSC thread (a sync change) and the feeder both call this
            try:
                port = self.client.get_port_by_name(midi_port)
                sources = [port] if port.is_output else list(self.client.get_all_connections(port))
                have = {p.name for p in self.client.get_all_connections(self.clock_in)}
                for src in sources:
                    if src.name not in have and src.is_midi:
                        try:
                            self.client.connect(src, self.clock_in)
                        except jack.JackErrorCode as exc:
                            if exc.code != errno.EEXIST:
                                raise   # already connected is what we want; a failed mirror would
                                        # let both inputs feed the clock: every tick twice
                self.clock_mirrored = True   # a JACK port: its clock comes here, exactly, from now on
            except jack.JackError:
                self.clock_mirrored = False   # not a JACK port, or gone: the MIDI input's own times are used

    def _shutdown(self, status, reason) -> None:
        self.dead = f"the JACK server went away ({reason})"

    def _connect(self, target: str | None) -> None:
        """Connect out_L/out_R to the ports matching `target` (a client or port name), else to the
        first two physical playback ports, if any (a dummy server has them too)."""
        import jack

        if target:
            found = [p for p in self.client.get_ports(target, is_audio=True, is_input=True)]
            if not found:
                raise AudioOutputError(f"--audio-out {target!r}: no JACK input port matches it")
        else:
            found = self.client.get_ports(is_audio=True, is_input=True, is_physical=True)
        for src, dst in zip(self.ports, found[:2]):
            try:
                self.client.connect(src, dst)
            except jack.JackError as exc:
                raise AudioOutputError(f"cannot connect {src.name} to {dst.name}: {exc}") from None

    # JACK's frame time wraps after 2**32 frames (24.8 hours at 48 kHz); a jam that long re-anchors.
    def now(self) -> float:
        return self.client.frame_time / self.sample_rate

    def close(self) -> None:
        try:
            self.client.deactivate()
            self.client.close()
        except Exception:
            pass


def output_device(devices, name: str | None) -> int | None:
    """The PortAudio device index `--audio-out NAME` means, from `sounddevice.query_devices()`: a device
    index, the output device of exactly that name, or the one whose name contains it (any case); None
    (the system's default) without a name. No match, or several, is a one-line AudioOutputError that
    lists the outputs there are (sounddevice's own errors for these span lines)."""
    outputs = [(i, d["name"]) for i, d in enumerate(devices) if d["max_output_channels"] > 0]
    if name is None:
        if not outputs:
            raise AudioOutputError("no audio output device found")
        return None
    listed = ", ".join(repr(n) for _, n in outputs) or "none"
    if name.strip().isdigit():
        index = int(name)
        if index not in {i for i, _ in outputs}:
            raise AudioOutputError(f"--audio-out {name}: no output device has that index (outputs: {listed})")
        return index
    want = name.casefold()
    found = ([i for i, n in outputs if n.casefold() == want]
             or [i for i, n in outputs if want in n.casefold()])
    if not found:
        raise AudioOutputError(f"--audio-out {name!r}: no output device matches it (outputs: {listed})")
    if len(found) > 1:
        names = ", ".join(repr(n) for i, n in outputs if i in found)
        raise AudioOutputError(f"--audio-out {name!r} matches {len(found)} output devices ({names}); "
                               f"give more of the name, or its index")
    return found[0]


class SoundDeviceOutput(Output):
    def __init__(self, device: str | None = None, ring_frames: int = 1 << 15, sample_rate: int = 48000):
        try:
            import sounddevice as sd
        except (ImportError, OSError) as exc:
            raise AudioOutputError(f"no audio output library ({exc}); pip install sounddevice") from None
        super().__init__(ring_frames)
        devices = sd.query_devices()
        index = output_device(devices, device)
        try:
            self.stream = sd.OutputStream(samplerate=sample_rate, channels=2, dtype="float32", device=index,
                                          callback=self._callback, finished_callback=self._finished)
            self.stream.start()
        except Exception as exc:
            raise AudioOutputError(f"cannot open audio output {device or 'default'!r}: "
                                   f"{' '.join(str(exc).split())}") from None
        self.sample_rate = int(self.stream.samplerate)
        self.period = int(self.stream.blocksize or 256)
        self.name = str(devices[index]["name"]) if index is not None else "default"

    def _callback(self, outdata, frames, info, status) -> None:
        # PortAudio's DAC time is on its own clock; the offset to now is what matters.
        delay = max(0.0, info.outputBufferDacTime - info.currentTime)
        self._consume(outdata[:, 0], outdata[:, 1], time.monotonic() + delay)

    def _finished(self) -> None:
        if self.dead is None:
            self.dead = "the audio device stopped"

    def close(self) -> None:
        try:
            self.stream.close()
        except Exception:
            pass


def open_output(name: str | None = None) -> Output:
    """JACK on Linux (connecting to `name`'s ports), the system device (`name`) elsewhere, and on a
    Linux without JACK (PortAudio's ALSA, PulseAudio or PipeWire device)."""
    if sys.platform.startswith("linux"):
        try:
            return JackOutput(connect=name)
        except JackUnavailable as exc:
            try:
                return SoundDeviceOutput(device=name)
            except AudioOutputError as other:
                raise AudioOutputError(f"{exc}; no other audio output either: {other}") from None
    return SoundDeviceOutput(device=name)
