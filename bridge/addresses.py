"""The OSC address space: the contract between the daemon and every controller.

This table is the single source for the docs, the patch tests and MIDI learn's default ranges; the
controller dispatches exactly these addresses. Argument letters: i int, f float (both accept int or
float), s string; `[i]` is optional.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from synth.state import CFG_RANGE, CONTRAST_RANGE, FEATURE_RANGE, MAX_SECONDS, MIN_SECONDS, NUM_SLOTS


@dataclass(frozen=True)
class Address:
    pattern: str                         # <slot>, <id> and <name> stand for one path part
    args: str                            # e.g. "f", "s", "", "[i]", "ssf"
    help: str
    midi_range: tuple[float, float] | None = None  # default range for MIDI learn; None = not a CC target


ADDRESSES: tuple[Address, ...] = (
    Address("/synth/prompt", "s", "text of prompt slot 0"),
    Address("/synth/prompt/<slot>", "s", f"text of prompt slot 0-{NUM_SLOTS - 1}"),
    Address("/synth/mix/<slot>", "f", "weight of a prompt slot, 0 to 1", (0.0, 1.0)),
    Address("/synth/feature/info", "i", "reply /synth/feature/info with the prompts this SAE feature fires on most and what it measurably does"),
    Address("/synth/feature/<id>", "f", "SAE feature strength, -10 to 10 (units of its top prompts' activation); 0 removes it", FEATURE_RANGE),
    Address("/synth/features/clear", "", "remove all SAE features", (0.0, 1.0)),
    Address("/synth/contrast/<name>", "f", "strength of a contrast (pair of prompts from the config), -10 to 10", CONTRAST_RANGE),
    Address("/synth/seed", "i", "random seed (whole floats accepted)", (0.0, 127.0)),
    Address("/synth/duration", "f", f"clip length in seconds, {MIN_SECONDS} to {MAX_SECONDS} (used unless bpm and bars are set)", (1.0, 30.0)),
    Address("/synth/bpm", "f", "tempo for bar-based length, 20 to 400; 0 clears it", (60.0, 180.0)),
    Address("/synth/bars", "f", "clip length in 4/4 bars at the bpm; 0 clears it", (1.0, 16.0)),
    Address("/synth/steps", "i", "denoising steps, 1 to 1000", (4.0, 200.0)),
    Address("/synth/cfg", "f", "classifier-free guidance scale, 0 to 50", (0.0, min(CFG_RANGE[1], 15.0))),
    Address("/synth/steering/mode", "s", "how features and contrasts steer: embedding or guidance"),
    Address("/synth/steering/gain", "f", "steering gain, -100 to 100", (0.0, 4.0)),
    Address("/synth/mixmode", "s", "how prompt slots are mixed: embedding or guidance"),
    Address("/synth/auto", "i", "auto-render on every change (after a debounce): 0 or 1", (0.0, 1.0)),
    Address("/synth/render", "[i]", "render one clip, or n clips with seeds seed..seed+n-1", (0.0, 1.0)),
    Address("/synth/variation", "sf", "render a variation of a clip: its path (a WAV; a .mid on score), strength 0 < s <= 1"),
    Address("/synth/preview/steps", "i", "auto-render preview steps, 0 to 1000; 0 turns previews off", (0.0, 50.0)),
    Address("/synth/jam/start", "", "start jam mode: phrases in time on the audio output, from the next bar line", (0.0, 1.0)),
    Address("/synth/jam/stop", "", "stop jam mode (silent at once)", (0.0, 1.0)),
    Address("/synth/jam/bars", "i", "jam phrase length in 4/4 bars: 1, 2, 4 or 8 (default 2)", (1.0, 8.0)),
    Address("/synth/jam/continuity", "f", "how much of the previous phrase each jam phrase continues, 0 (fresh) to 1", (0.0, 1.0)),
    Address("/synth/jam/sync", "s", "jam tempo source: internal (/synth/bpm), midi-clock (the MIDI input's clock) or link (Ableton Link)"),
    Address("/synth/preset/save", "s", "save the current state as a preset"),
    Address("/synth/preset/load", "s", "load a preset"),
    Address("/synth/preset/morph", "ssf", "morph between presets: from, to, amount 0 to 1"),
    Address("/synth/preset/list", "", "reply /synth/preset/list with the names, then /synth/preset/sources"),
    Address("/synth/state", "", "reply /synth/state with the state as JSON"),
    Address("/synth/status", "", "reply /synth/status with the daemon's health as JSON"),
    Address("/synth/learn", "s", "map the next MIDI CC that arrives to this address"),
    Address("/synth/reply_to", "i", "send this sender IP's replies to PORT from now on"),
    Address("/synth/ping", "", "reply /synth/pong"),
)

REPLIES: tuple[Address, ...] = (
    Address("/synth/rendered", "sifs", "path, seed, clip length in seconds, preview or final; one per clip, to every client"),
    Address("/synth/state", "s", "the state as JSON"),
    Address("/synth/status", "s", "backend, model, device, SAE, queue, render counts and timing, uptime, peak memory as JSON"),
    Address("/synth/preset/list", "s...", "preset names in name order (the user's folder and the shipped presets)"),
    Address("/synth/preset/sources", "s...", "for each name of /synth/preset/list, in order: user, shipped or user-overrides-shipped"),
    Address("/synth/feature/info", "iss", "feature id, its top prompts joined by ' | ' (correlational labels), its measured effect"),
    Address("/synth/pong", "", "answer to /synth/ping"),
    Address("/synth/error", "ss", "address, message: anything refused, and renders or writes that failed"),
)

_PART = {"<slot>": r"[0-9]+", "<id>": r"[0-9]+", "<name>": r"[A-Za-z0-9_-]+"}


def _regex(pattern: str) -> re.Pattern:
    parts = [_PART.get(p, re.escape(p)) for p in pattern.split("/")]
    return re.compile("^" + "/".join(parts) + "$")


_COMPILED = [(a, _regex(a.pattern)) for a in ADDRESSES]


def lookup(address: str) -> Address | None:
    """The table entry an incoming address belongs to (syntax only), or None."""
    for entry, rx in _COMPILED:
        if rx.match(address):
            return entry
    return None


def markdown_table() -> str:
    """The address table as Markdown (for docs/bridge.md and the README)."""
    rows = ["| Address | Arguments | Meaning |", "|---|---|---|"]
    rows += [f"| `{a.pattern}` | {a.args or '-'} | {a.help} |" for a in ADDRESSES]
    rows += ["", "| Reply | Arguments | Meaning |", "|---|---|---|"]
    rows += [f"| `{a.pattern}` | {a.args or '-'} | {a.help} |" for a in REPLIES]
    return "\n".join(rows)
