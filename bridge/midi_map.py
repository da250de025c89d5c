"""MIDI mapping files: (channel, CC) -> an OSC address with a range and a curve, plus note-on and
program-change behaviour. Pure data and pure functions; `midi_input.MidiTranslator` applies them.

File format (YAML, read with the safe loader; channels are 1-16 as printed on controllers, omitted
or null = any channel):

    cc:
      - {channel: 1, cc: 74, address: /synth/feature/12, min: -5, max: 5, curve: linear}
      - {cc: 1, bits: 14, address: /synth/mix/1, min: 0, max: 1, curve: exponential}
    notes:
      render: true            # note-on renders a clip
      channel: null
      velocity: {address: /synth/cfg, min: 3, max: 9, curve: linear}   # optional
    program_change: true      # program n loads the n-th preset: yours in name order, then the shipped (0 = first)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from synth.addresses import lookup
from synth.atomic_io import atomic_write_text, cut_short, end_marked
from synth.numbers import is_finite_number
from synth.presets import describe_yaml_error

CURVES = ("linear", "exponential", "logarithmic")
_K = 4.0  # curvature of the exponential/logarithmic curves (e^4 ~ 55:1 slope ratio end to end)


class MidiMapError(ValueError):
    """A bad mapping file or entry; the message names the file and the field."""


def shape(x: float, curve: str) -> float:
    """Map x in [0, 1] onto [0, 1] along a curve; the ends stay fixed and the curve is monotonic.
    exponential: fine control at the low end; logarithmic: its inverse, fine control at the top."""
    x = min(1.0, max(0.0, x))
    if curve == "linear":
        return x
    if curve == "exponential":
        return (math.exp(_K * x) - 1.0) / (math.exp(_K) - 1.0)
    if curve == "logarithmic":
        return math.log1p((math.exp(_K) - 1.0) * x) / _K
    raise ValueError(f"unknown curve {curve!r} (use {', '.join(CURVES)})")


@dataclass
class Scale:
    address: str
    min: float
    max: float
    curve: str = "linear"

    def value(self, x: float) -> float:
        """The address's value for a normalised controller position x in [0, 1]."""
        return self.min + (self.max - self.min) * shape(x, self.curve)


@dataclass
class CCMapping(Scale):
    cc: int = 0
    channel: int | None = None   # 1..16, None = any
    bits: int = 7                # 14: MSB on `cc`, LSB on `cc + 32`

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"channel": self.channel, "cc": self.cc}
        if self.bits == 14:
            d["bits"] = 14
        d.update(address=self.address, min=self.min, max=self.max, curve=self.curve)
        return d


@dataclass
class MidiMap:
    cc: list[CCMapping] = field(default_factory=list)
    note_render: bool = True
    note_channel: int | None = None
    velocity: Scale | None = None
    program_change: bool = True

    def find(self, channel: int, cc: int) -> tuple[CCMapping, str] | None:
        """The mapping a CC (channel 1-16) belongs to, and whether it is its 'msb', 'lsb' or '7bit'."""
        best = None
        for m in self.cc:
            if m.channel is not None and m.channel != channel:
                continue
            if m.cc == cc:
                hit = (m, "msb" if m.bits == 14 else "7bit")
            elif m.bits == 14 and m.cc + 32 == cc:
                hit = (m, "lsb")
            else:
                continue
            if m.channel is not None:
                return hit  # a channel-specific mapping wins over an any-channel one
            best = best or hit
        return best

    def learn(self, channel: int, cc: int, address: str, lo: float, hi: float) -> CCMapping:
        """Map (channel, cc) to `address`, replacing any mapping of that CC on that channel."""
        self.cc = [m for m in self.cc if not (m.cc == cc and m.channel in (channel, None))]
        mapping = CCMapping(address=address, min=lo, max=hi, curve="linear", cc=cc, channel=channel, bits=7)
        self.cc.append(mapping)
        return mapping

    def to_dict(self) -> dict:
        notes: dict[str, Any] = {"render": self.note_render, "channel": self.note_channel}
        if self.velocity is not None:
            v = self.velocity
            notes["velocity"] = {"address": v.address, "min": v.min, "max": v.max, "curve": v.curve}
        return {"cc": [m.to_dict() for m in self.cc], "notes": notes, "program_change": self.program_change}


def _fail(source, field: str, message: str) -> MidiMapError:
    return MidiMapError(f"{source}: {field}: {message}")


def _int(raw: dict, key: str, lo: int, hi: int, where: str, source, default=None):
    value = raw.get(key, default)
    if value is None and default is None and key == "channel":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _fail(source, f"{where}.{key}", f"expected a whole number {lo}-{hi}, got {value!r}")
    return value


def _scale(raw: Any, where: str, source, allowed: set[str]) -> dict:
    if not isinstance(raw, dict):
        raise _fail(source, where, f"expected a mapping, got {raw!r}")
    extra = sorted(set(raw) - allowed, key=str)
    if extra:
        raise _fail(source, f"{where}.{extra[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
    address = raw.get("address")
    entry = lookup(address) if isinstance(address, str) else None
    if entry is None or entry.midi_range is None:
        raise _fail(source, f"{where}.address", f"{address!r} is not an address a controller can drive")
    lo, hi = raw.get("min", entry.midi_range[0]), raw.get("max", entry.midi_range[1])
    for key, value in (("min", lo), ("max", hi)):
        if not is_finite_number(value):
            raise _fail(source, f"{where}.{key}", f"expected a finite number, got {value!r}")
    curve = raw.get("curve", "linear")
    if curve not in CURVES:
        raise _fail(source, f"{where}.curve", f"{curve!r} is not one of {', '.join(CURVES)}")
    return {"address": address, "min": float(lo), "max": float(hi), "curve": curve}


def midi_map_from_dict(data: Any, source="<midi map>") -> MidiMap:
    if data is None:
        return MidiMap()
    if not isinstance(data, dict):
        raise _fail(source, "(top level)", f"expected a mapping, got {type(data).__name__}")
    extra = sorted(set(data) - {"cc", "notes", "program_change"}, key=str)
    if extra:
        raise _fail(source, str(extra[0]), "unknown key (allowed: cc, notes, program_change)")
    raw_cc = data.get("cc") or []
    if not isinstance(raw_cc, list):
        raise _fail(source, "cc", f"expected a list, got {raw_cc!r}")
    mappings = []
    for i, raw in enumerate(raw_cc):
        where = f"cc[{i}]"
        scale = _scale(raw, where, source, {"channel", "cc", "bits", "address", "min", "max", "curve"})
        bits = raw.get("bits", 7)
        if bits not in (7, 14):
            raise _fail(source, f"{where}.bits", f"expected 7 or 14, got {bits!r}")
        cc = _int(raw, "cc", 0, 31 if bits == 14 else 127, where, source)
        channel = _int(raw, "channel", 1, 16, where, source)
        mappings.append(CCMapping(cc=cc, channel=channel, bits=bits, **scale))
    notes = data.get("notes") or {}
    if not isinstance(notes, dict):
        raise _fail(source, "notes", f"expected a mapping, got {notes!r}")
    extra = sorted(set(notes) - {"render", "channel", "velocity"}, key=str)
    if extra:
        raise _fail(source, f"notes.{extra[0]}", "unknown key (allowed: render, channel, velocity)")
    render = notes.get("render", True)
    if not isinstance(render, bool):
        raise _fail(source, "notes.render", f"expected true or false, got {render!r}")
    velocity = notes.get("velocity")
    velocity = Scale(**_scale(velocity, "notes.velocity", source, {"address", "min", "max", "curve"})) if velocity is not None else None
    program_change = data.get("program_change", True)
    if not isinstance(program_change, bool):
        raise _fail(source, "program_change", f"expected true or false, got {program_change!r}")
    return MidiMap(
        cc=mappings,
        note_render=render,
        note_channel=_int(notes, "channel", 1, 16, "notes", source),
        velocity=velocity,
        program_change=program_change,
    )


def load_midi_map(path) -> MidiMap:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        if cut_short(text, "MIDI mapping"):
            raise _fail(path, "(file)", "cut short: its last line '# end of MIDI mapping' is missing (an interrupted "
                                        "copy or a full disk?); restore it, or delete its first line to load what is left")
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(path, "(yaml)", describe_yaml_error(exc)) from None
    except UnicodeDecodeError as exc:
        raise _fail(path, "(file)", f"not UTF-8 text ({exc.reason})") from None
    return midi_map_from_dict(data, path)


def save_midi_map(mapping: MidiMap, path) -> None:
    """Atomic write; the result loads back to the same mapping."""
    text = end_marked(yaml.safe_dump(mapping.to_dict(), sort_keys=False), "MIDI mapping", " (channels 1-16; null = any)")
    midi_map_from_dict(yaml.safe_load(text), path)
    atomic_write_text(path, text)
