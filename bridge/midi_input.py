"""MIDI in: translate mido messages into the OSC address space and dispatch them through the same
`Controller.handle` as OSC, so MIDI and OSC share one code path.

Control changes go through the mapping (7- or 14-bit, with a curve), note-on renders (optionally
mapping velocity first), program change n loads the n-th preset in name order, and `/synth/learn`
arms MIDI learn: the next CC is mapped to the armed address and saved to the mapping file.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from bridge.addresses import lookup
from bridge.controller import Controller
from bridge.midi_map import MidiMap, save_midi_map

log = logging.getLogger(__name__)

CLIENT_NAME = "latent-synth"
TRIGGER_THRESHOLD = 64  # a CC mapped to a trigger address (/synth/render) fires at values >= 64


class MidiTranslator:
    def __init__(self, mapping: MidiMap, controller: Controller, map_path=None):
        self.mapping = mapping
        self.controller = controller
        self.map_path = Path(map_path) if map_path else None
        self._lock = threading.Lock()
        self._learn_target: str | None = None
        self._msb: dict[tuple[int, int], int] = {}   # (channel, msb cc) -> last MSB
        self._lsb: dict[tuple[int, int], int] = {}
        self.events = 0
        controller.learn = self.arm_learn

    def arm_learn(self, address: str) -> None:
        with self._lock:
            self._learn_target = address

    # ------------------------------------------------------------------ translation
    def feed(self, msg) -> list[tuple[str, list]]:
        """Translate and dispatch one mido message; return the replies (errors included)."""
        self.events += 1
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
        with self._lock:
            target, self._learn_target = self._learn_target, None
            if target is not None:
                return self._learned(channel, cc, value, target)
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
        if entry is not None and entry.args in ("", "[i]"):  # a trigger, like a button
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
        entry = lookup(address)
        if entry.args in ("", "[i]"):
            return []
        return [_typed(address, mapping.value(value / 127.0))]


def _typed(address: str, value: float) -> tuple[str, list]:
    """Integer addresses (seed, steps, auto) get whole numbers."""
    entry = lookup(address)
    if entry is not None and entry.args == "i":
        return (address, [int(round(value))])
    return (address, [float(value)])


def open_midi_input(translator: MidiTranslator, port: str | None = None, virtual: str | None = None):
    """Open a named or virtual mido input whose callback feeds `translator`.

    rtmidi reaches ALSA or JACK; pick JACK with MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK."""
    import mido

    def callback(msg):
        try:
            translator.feed(msg)
        except Exception:  # the rtmidi thread must survive anything
            log.exception("MIDI message %s failed", msg)

    backend = os.environ.get("MIDO_BACKEND", "default backend")
    # rtmidi names the client; JACK shows the port as "latent-synth:NAME" instead of "RtMidiIn Client:NAME"
    extra = {"client_name": CLIENT_NAME} if "rtmidi" in mido.backend.name else {}
    try:
        if virtual:
            inport = mido.open_input(virtual, virtual=True, callback=callback, **extra)
        else:
            inport = mido.open_input(port, callback=callback, **extra)
    except (OSError, IOError, SystemError, RuntimeError, ValueError) as exc:
        what = f"virtual MIDI port {virtual!r}" if virtual else f"MIDI port {port!r}"
        hint = ""
        if not virtual:
            try:
                hint = f" (available: {', '.join(mido.get_input_names()) or 'none'})"
            except Exception:
                pass
        raise OSError(f"cannot open {what} with {backend}: {exc}{hint}") from None
    if not virtual and getattr(inport, "api", "") == "UNIX_JACK":
        _jack_connect(port, f"{CLIENT_NAME}:{port}")
    log.info("MIDI input open: %s", inport.name)
    return inport


def _jack_connect(source: str, dest: str) -> None:
    """rtmidi's JACK API creates our port for a named source but does not connect it."""
    import shutil
    import subprocess

    command = ["jack_connect", source, dest]
    if shutil.which("jack_connect") is None:
        log.warning("connect the MIDI port yourself: %s", " ".join(command))
        return
    proc = subprocess.run(command, capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        log.warning("could not connect %s to %s: %s", source, dest, proc.stderr.strip() or proc.stdout.strip())

