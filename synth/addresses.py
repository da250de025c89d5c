"""The OSC address space: the contract between the daemon and every controller, in one table.

Each entry carries its argument types, its value range, its help and its handler (the way python-osc's
`Dispatcher.map(address, handler)` pairs them): `handler` names the `bridge.controller.Controller`
command that applies it (None: the transport answers it itself, as the OSC server does
/synth/reply_to), and a numeric address also carries its pure state setter (`synth.parameters`), so
presets, analysis and the daemon apply a slider the same way. The controller dispatches exactly
these entries; MIDI (after its mapping) and every other transport go through the controller. The
README's tables and the patches' contract tests are checked against this table.

Argument letters: i int, f float (both accept int or float), s string; `[i]` is optional.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

from synth import parameters as P
from synth.state import (BPM_RANGE, CFG_RANGE, CONTRAST_RANGE, FEATURE_RANGE, GAIN_RANGE, MAX_SECONDS, MIN_SECONDS,
                         NUM_SLOTS, SEED_MAX, STEPS_RANGE, StateError, SynthState)

# setter(state, path part (<slot>, <id>, <name>; "" for a fixed address), value, contrast_defs, d_sae) -> new state
Setter = Callable[[SynthState, str, float, Mapping[str, tuple[str, str]], "int | None"], SynthState]


@dataclass(frozen=True)
class Address:
    pattern: str                         # <slot>, <id> and <name> stand for one path part
    args: str                            # e.g. "f", "s", "", "[i]", "ssf"
    help: str
    handler: str | None                  # the Controller command that applies it; None: the transport's own
    range: tuple[float, float] | None = None       # the values accepted (numbers)
    midi_range: tuple[float, float] | None = None  # default range for MIDI learn; None = not a CC target
    setter: Setter | None = None         # numeric addresses: the pure state change

    @property
    def trigger(self) -> bool:
        """An address without a value (a button: /synth/render, /synth/jam/start)."""
        return self.args in ("", "[i]")


ADDRESSES: tuple[Address, ...] = (
    Address("/synth/prompt", "s", "text of prompt slot 0", "prompt"),
    Address("/synth/prompt/<slot>", "s", f"text of prompt slot 0-{NUM_SLOTS - 1}", "prompt"),
    Address("/synth/mix/<slot>", "f", "weight of a prompt slot, 0 to 1", "numeric", P.MIX_RANGE, (0.0, 1.0), P.set_mix),
    Address("/synth/feature/info", "i", "reply /synth/feature/info with the prompts this SAE feature fires on most and what it measurably does", "feature_info"),
    Address("/synth/feature/<id>", "f", "SAE feature strength, -10 to 10 (units of its top prompts' activation); 0 removes it", "numeric", FEATURE_RANGE, FEATURE_RANGE, P.set_feature),
    Address("/synth/inside/<id>", "f", "DiT SAE feature strength (serve --dit-sae DIR), -10 to 10 (units of its typical activation), added inside the DiT at the blocks it was trained on; 0 removes it", "numeric", FEATURE_RANGE, FEATURE_RANGE, P.set_inside_feature),
    Address("/synth/features/clear", "", "remove all SAE features", "features_clear", None, (0.0, 1.0)),
    Address("/synth/contrast/<name>", "f", "strength of a contrast (pair of prompts from the config), -10 to 10", "numeric", CONTRAST_RANGE, CONTRAST_RANGE, P.set_contrast),
    Address("/synth/seed", "i", "random seed (whole floats accepted)", "numeric", (0, SEED_MAX), (0.0, 127.0), P.set_seed),
    Address("/synth/duration", "f", f"clip length in seconds, {MIN_SECONDS} to {MAX_SECONDS} (used unless bpm and bars are set)", "numeric", (MIN_SECONDS, MAX_SECONDS), (1.0, 30.0), P.set_duration),
    Address("/synth/bpm", "f", "tempo for bar-based length, 20 to 400; 0 clears it", "numeric", BPM_RANGE, (60.0, 180.0), P.set_bpm),
    Address("/synth/bars", "f", "clip length in 4/4 bars at the bpm; 0 clears it", "numeric", P.BARS_OR_CLEAR, (1.0, 16.0), P.set_bars),
    Address("/synth/steps", "i", "denoising steps, 1 to 1000", "numeric", STEPS_RANGE, (4.0, 200.0), P.set_steps),
    Address("/synth/cfg", "f", "classifier-free guidance scale, 0 to 50", "numeric", CFG_RANGE, (0.0, min(CFG_RANGE[1], 15.0)), P.set_cfg),
    Address("/synth/steering/mode", "s", "how features and contrasts steer: embedding, guidance or inside (in the DiT's blocks)", "steering_mode"),
    Address("/synth/steering/gain", "f", "steering gain, -100 to 100", "numeric", GAIN_RANGE, (0.0, 4.0), P.set_gain),
    Address("/synth/arrangement", "s", "which voices the score backend plays: drums-only, solo, melody+accompaniment, ensemble, or auto (the words say, else the model)", "arrangement"),
    Address("/synth/mixmode", "s", "how prompt slots are mixed: embedding or guidance", "mix_mode"),
    Address("/synth/auto", "i", "auto-render on every change (after a debounce): 0 or 1", "auto", (0, 1), (0.0, 1.0)),
    Address("/synth/render", "[i]", "render one clip, or n clips with seeds seed..seed+n-1", "render_now", None, (0.0, 1.0)),
    Address("/synth/variation", "sf", "render a variation of a clip: its path (a WAV; a .mid on score), strength 0 < s <= 1", "variation"),
    Address("/synth/preview/steps", "i", "auto-render preview steps, 0 to 1000; 0 turns previews off", "preview_steps", (0, 1000), (0.0, 50.0)),
    Address("/synth/jam/start", "", "start jam mode: phrases in time on the audio output, from the next bar line", "jam_start", None, (0.0, 1.0)),
    Address("/synth/jam/stop", "", "stop jam mode (silent at once)", "jam_stop", None, (0.0, 1.0)),
    Address("/synth/jam/bars", "i", "jam phrase length in 4/4 bars: 1, 2, 4 or 8 (default 2)", "jam_bars", (1, 8), (1.0, 8.0)),
    Address("/synth/jam/continuity", "f", "how much of the previous phrase each jam phrase continues, 0 (fresh) to 1", "jam_continuity", (0.0, 1.0), (0.0, 1.0)),
    Address("/synth/jam/quantize", "s", "when a change is heard in jam: beat (the default: the rest of the phrase re-rendered from the next beat a render can make), bar or phrase (the next phrase)", "jam_quantize"),
    Address("/synth/jam/sync", "s", "jam tempo source: internal (/synth/bpm), midi-clock (the MIDI input's clock) or link (Ableton Link)", "jam_sync"),
    Address("/synth/preset/save", "s", "save the current state as a preset", "preset_save"),
    Address("/synth/preset/load", "s", "load a preset", "preset_load"),
    Address("/synth/preset/morph", "ssf", "morph between presets: from, to, amount 0 to 1", "preset_morph"),
    Address("/synth/preset/list", "", "reply /synth/preset/list with the names, then /synth/preset/sources", "preset_list"),
    Address("/synth/state", "", "reply /synth/state with the state as JSON", "state_query"),
    Address("/synth/status", "", "reply /synth/status with the daemon's health as JSON", "status_query"),
    Address("/synth/learn", "s", "map the next MIDI CC that arrives to this address", "learn"),
    Address("/synth/reply_to", "i", "send this sender IP's replies to PORT from now on", None, (1, 65535)),
    Address("/synth/ping", "", "reply /synth/pong", "ping"),
)

RENDERED = "/synth/rendered"
ERROR = "/synth/error"
STATE_CHANGED = "/synth/state/changed"   # an in-process event only (its argument is the SynthState itself)

REPLIES: tuple[Address, ...] = (
    Address(RENDERED, "sifs", "path, seed, clip length in seconds, kind: preview, final or jam (a jam phrase's loop file); one per clip, to every client", None),
    Address("/synth/state", "s", "the state as JSON", None),
    Address("/synth/status", "s", "backend, model, device, SAE, queue, render counts and timing, uptime, peak memory as JSON", None),
    Address("/synth/preset/list", "s...", "preset names in name order (the user's folder and the shipped presets)", None),
    Address("/synth/preset/sources", "s...", "for each name of /synth/preset/list, in order: user, shipped or user-overrides-shipped", None),
    Address("/synth/feature/info", "iss", "feature id, its top prompts joined by ' | ' (correlational labels), its measured effect", None),
    Address("/synth/pong", "", "answer to /synth/ping", None),
    Address(ERROR, "ss", "address, message: anything refused, and renders or writes that failed", None),
)

_PART = {"<slot>": re.compile(r"[0-9]+"), "<id>": re.compile(r"[0-9]+"), "<name>": re.compile(r"[A-Za-z0-9_-]+")}
_EXACT: dict[str, Address] = {a.pattern: a for a in ADDRESSES if "<" not in a.pattern}
# "/synth/feature/" -> (the entry, the pattern its last part must match)
_PREFIXED: dict[str, tuple[Address, re.Pattern]] = {
    a.pattern.rsplit("/", 1)[0] + "/": (a, _PART[a.pattern.rsplit("/", 1)[1]]) for a in ADDRESSES if "<" in a.pattern}


def split(address: str) -> tuple[Address, str] | None:
    """(the table entry an address is for, its last path part where the pattern has <slot>, <id> or
    <name>, else ""); None for an address the table does not have. The part is not checked here (its
    handler refuses a bad one by name). Runs per slider move: a dict lookup, then three prefixes."""
    entry = _EXACT.get(address)
    if entry is not None:
        return entry, ""
    for prefix, (entry, _) in _PREFIXED.items():
        if address.startswith(prefix):
            return entry, address[len(prefix):]
    return None


def lookup(address: str) -> Address | None:
    """The table entry a concrete address belongs to, its part checked by syntax; None otherwise."""
    found = split(address)
    if found is None:
        return None
    entry, part = found
    if part or "<" in entry.pattern:
        if not _PREFIXED[entry.pattern.rsplit("/", 1)[0] + "/"][1].fullmatch(part):
            return None
    return entry


def _numeric_split(address: str) -> tuple[Address, str] | None:
    found = split(address)
    return found if found is not None and found[0].setter is not None else None


def is_numeric_address(address: str) -> bool:
    """True for addresses `apply_numeric` understands (syntax only; values are not checked)."""
    return _numeric_split(address) is not None


def apply_numeric(
    state: SynthState,
    address: str,
    value: float,
    contrast_defs: Mapping[str, tuple[str, str]] | None = None,
    *,
    d_sae: int | None = None,
) -> SynthState:
    """Return a new state with `address` set to `value`; raise StateError for an unknown address,
    a non-finite or out-of-range value, an unknown contrast, or (when `d_sae` is given) an unknown
    SAE feature. Integer fields take whole floats (`/synth/seed 7.0` means 7). Pure: `state` is kept."""
    found = _numeric_split(address)
    if found is None:
        raise StateError("address", f"{address!r} is not a numeric synth address")
    entry, part = found
    return entry.setter(state, part, value, contrast_defs or {}, d_sae)


def sets(address: str, setter: Setter) -> str | None:
    """The path part when `address` is one that `setter` applies (e.g. a feature id for
    `parameters.set_feature`), else None."""
    found = _numeric_split(address)
    return found[1] if found is not None and found[0].setter is setter else None
