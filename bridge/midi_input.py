"""MIDI in: translate mido messages into the OSC address space and dispatch them through the same
`Controller.handle` as OSC, so MIDI and OSC share one code path.

Control changes go through the mapping (7- or 14-bit, with a curve), note-on renders (optionally
mapping velocity first), program change n loads the n-th preset in name order, and `/synth/learn`
arms MIDI learn: the next CC is mapped to the armed address and saved to the mapping file.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

import mido

from synth.addresses import lookup
from bridge.controller import Controller
from bridge.jam.midi_clock import CLOCK_TYPES
from bridge.midi_map import MidiMap, save_midi_map

log = logging.getLogger(__name__)

CLIENT_NAME = "latent-synth"
TRIGGER_THRESHOLD = 64  # a CC mapped to a trigger address (/synth/render) fires at values >= 64


Clock = Callable[[mido.Message, float], None]   # (a clock or transport message, its arrival: time.monotonic())


class MidiLearn:
    """MIDI learn's armed address: the controller arms it (`/synth/learn`), the next CC takes it. Built
    before both, so neither is wired into the other after construction."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._target: str | None = None

    def arm(self, address: str) -> None:
        with self._lock:
            self._target = address

    def take(self) -> str | None:
        with self._lock:
            target, self._target = self._target, None
        return target


class MidiTranslator:
    def __init__(self, mapping: MidiMap, controller: Controller, map_path=None, *, learn: MidiLearn | None = None,
                 clock: Clock | None = None):
        """`learn`: the armed address the controller's /synth/learn sets; `clock(msg, t)` takes MIDI clock
        and transport messages (the jam player's; without it they are ignored)."""
        self.mapping: MidiMap = mapping
        self.controller: Controller = controller
        self.map_path: Path | None = Path(map_path) if map_path else None
        self.learn: MidiLearn = learn if learn is not None else MidiLearn()
        self.clock: Clock | None = clock
        self._lock = threading.Lock()
        self._msb: dict[tuple[int, int], int] = {}   # (channel, msb cc) -> last MSB
        self._lsb: dict[tuple[int, int], int] = {}
        self.events: int = 0

    # ------------------------------------------------------------------ translation
    def feed(self, msg, t: float | None = None) -> list[tuple[str, list]]:
        """Translate and dispatch one mido message that arrived at `t` (time.monotonic(); default now);
        return the replies (errors included)."""
        self.events += 1
        if msg.type in CLOCK_TYPES:
            if self.clock is not None:
                self.clock(msg, time.monotonic() if t is None else t)
            return []
        replies: list = []
        for address, args in self.translate(msg):
            for reply in self.controller.handle(address, args):
                replies.append(reply)
                if reply[0] == "/synth/error":
                    log.warning("MIDI %s -> %s refused: %s", msg.type, reply[1][0], reply[1][1])
        return replies

    def translate(self, msg) -> list[tuple[str, list]]:
        """The (address, args) messages one MIDI message stands for."""
        kind = msg.type
        if kind == "control_change":
            return self._control_change(msg.channel + 1, msg.control, msg.value)
        if kind == "note_on" and msg.velocity > 0:
            m = self.mapping
            if m.note_channel is not None and m.note_channel != msg.channel + 1:
                return []
            out = []
            if m.velocity is not None:
                out.append(_typed(m.velocity.address, m.velocity.value(msg.velocity / 127.0)))
            if m.note_render:
                out.append(("/synth/render", []))
            return out
        if kind == "program_change" and self.mapping.program_change:
            names = self.controller.presets.names()
            if msg.program >= len(names):
                log.warning("program change %d: only %d presets in %s", msg.program, len(names), self.controller.presets.folder)
                return []
            return [("/synth/preset/load", [names[msg.program]])]
        return []

    def _control_change(self, channel: int, cc: int, value: int) -> list[tuple[str, list]]:
        target = self.learn.take()
        if target is not None:
            return self._learned(channel, cc, value, target)
        with self._lock:
            found = self.mapping.find(channel, cc)
            if found is None:
                return []
            mapping, part = found
            if part == "7bit":
                x = value / 127.0
            else:
                key = (channel, mapping.cc)
                if part == "msb":
                    self._msb[key] = value
                    self._lsb[key] = 0  # per the MIDI spec a new MSB resets the LSB
                else:
                    self._lsb[key] = value
                x = ((self._msb.get(key, 0) << 7) | self._lsb.get(key, 0)) / 16383.0
        entry = lookup(mapping.address)
        if entry is not None and entry.trigger:  # a button
            return [(mapping.address, [])] if value >= TRIGGER_THRESHOLD and part != "lsb" else []
        return [_typed(mapping.address, mapping.value(x))]

    def _learned(self, channel: int, cc: int, value: int, address: str) -> list[tuple[str, list]]:
        lo, hi = lookup(address).midi_range
        mapping = self.mapping.learn(channel, cc, address, lo, hi)
        log.info("MIDI learn: channel %d CC %d -> %s [%g, %g]", channel, cc, address, lo, hi)
        if self.map_path is not None:
            try:
                save_midi_map(self.mapping, self.map_path)
                log.info("saved the MIDI mapping to %s", self.map_path)
            except OSError as exc:
                log.error("could not save the MIDI mapping to %s: %s", self.map_path, exc)
        if lookup(address).trigger:
            return []
        return [_typed(address, mapping.value(value / 127.0))]


def _typed(address: str, value: float) -> tuple[str, list]:
    """Integer addresses (seed, steps, auto) get whole numbers."""
    entry = lookup(address)
    if entry is not None and entry.args == "i":
        return (address, [int(round(value))])
    return (address, [float(value)])


def open_midi_input(translator: MidiTranslator, port: str | None = None, virtual: str | None = None):
    """Open a named or virtual MIDI input that feeds `translator`; returns an object with `.name`
    and `.close()`.

    rtmidi reaches ALSA or JACK; pick JACK with MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK. With
    rtmidi the port is read by our own thread (PolledInput); other mido backends use mido's callback."""
    import mido

    def feed(msg, t=None):
        try:
            translator.feed(msg, t)
        except Exception:  # the reading thread must survive anything
            log.exception("MIDI message %s failed", msg)

    backend = mido.backend
    what = f"virtual MIDI port {virtual!r}" if virtual else f"MIDI port {port!r}"
    try:
        if backend.name == "mido.backends.rtmidi":
            inport = PolledInput.open(feed, backend.api, port=port, virtual=virtual)
        elif virtual:
            inport = mido.open_input(virtual, virtual=True, callback=feed)
        else:
            inport = mido.open_input(port, callback=feed)
    except (OSError, IOError, SystemError, RuntimeError, ValueError) as exc:
        hint = ""
        if not virtual:
            try:
                hint = f" (available: {', '.join(mido.get_input_names()) or 'none'})"
            except Exception:
                pass
        api = f"{backend.name}/{backend.api}" if backend.api else backend.name
        raise OSError(f"cannot open {what} with {api}: {exc}{hint}") from None
    log.info("MIDI input open: %s", inport.name)
    return inport


class PolledInput:
    """An rtmidi input read by our own thread from rtmidi's C++ queue.

    mido's rtmidi ports run their callback, Python, inside the MIDI API's thread. Under JACK that
    is the realtime process thread: while it waits for the GIL (a render holds it), JACK skips the
    client's cycles and drops their events; 3-4 % of a 1,000 CC/s stream were lost while
    rendering, sometimes the last move. Without a callback, rtmidi queues every event in C++ and
    this thread takes them at its own pace."""

    QUEUE = 16384          # events rtmidi holds while we are busy (16 s at 1,000 events/s)
    # Seconds between polls of an empty queue: 1 ms while a controller is moving, 5 ms after a
    # second without events (polling every 1 ms costs ~2 % of a core even when nothing plays).
    ACTIVE_POLL, IDLE_POLL, IDLE_AFTER = 0.001, 0.005, 1.0
    ANCHOR_SLACK, MAX_BACKLOG = 0.002, 2.0

    def __init__(self, rt, name: str, feed):
        self._rt = rt
        self.name = name
        self._feed = feed
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="midi-input", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, feed, api: str | None, port: str | None = None, virtual: str | None = None) -> "PolledInput":
        import rtmidi

        rtapi = getattr(rtmidi, f"API_{api}", None) if api else rtmidi.API_UNSPECIFIED
        if rtapi is None:
            raise ValueError(f"unknown MIDI API {api!r} in MIDO_BACKEND")
        rt = rtmidi.MidiIn(rtapi=rtapi, name=CLIENT_NAME, queue_size_limit=cls.QUEUE)
        try:
            rt.ignore_types(sysex=False, timing=False, active_sense=True)  # as mido does
            if virtual:
                rt.open_virtual_port(virtual)
                name = virtual
            else:
                names = rt.get_ports()
                # ALSA lists "client:port 20:0"; accept the name without the numbers, as mido does
                found = [i for i, n in enumerate(names) if n == port] or [
                    i for i, n in enumerate(names) if n.startswith(f"{port} ")]
                if len(found) != 1:
                    raise OSError(f"unknown port {port!r}")
                rt.open_port(found[0], name=port)  # rtmidi connects it (under JACK too)
                name = names[found[0]]
        except Exception:
            rt.delete()
            raise
        return cls(rt, name, feed)

    def _run(self) -> None:
        import mido

        get = self._rt.get_message
        last_event = 0.0
        stamp, drained = 0.0, True
        while not self._closed.is_set():
            got = get()
            if got is None:
                drained = True
                idle = time.monotonic() - last_event > self.IDLE_AFTER
                self._closed.wait(self.IDLE_POLL if idle else self.ACTIVE_POLL)
                continue
            last_event = time.monotonic()
            # Arrival times for MIDI clock from rtmidi's own deltas (stamped by the MIDI API, so a
            # render holding the GIL, or our polling, does not move them); re-anchored to now only
            # when they cannot be right: in the future, or further behind than any backlog.
            stamp = stamp + float(got[1])
            if drained and not -self.ANCHOR_SLACK < last_event - stamp < self.MAX_BACKLOG:
                stamp = last_event
            drained = False
            try:
                msg = mido.Message.from_bytes(got[0])
            except ValueError:
                continue  # not a MIDI message mido knows; mido's own ports skip these too
            self._feed(msg, stamp)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(2)
        self._rt.close_port()
        self._rt.delete()
