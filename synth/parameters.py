"""The numeric part of the OSC address space: one address + one number -> a new SynthState.

Shared by the bridge (OSC, MIDI, the control hot path) and analysis (preset sliders). It is pure:
the input state is never mutated. It is also lean, because it runs for every slider move: the new
state is a shallow copy in which only the changed container is rebuilt, and only the changed value
is checked (against the same ranges `SynthState.validate` uses), instead of a deep copy plus a full
validation.
"""
from __future__ import annotations

import copy
from typing import Callable, Mapping

from synth.state import (
    BARS_RANGE,
    BPM_RANGE,
    CFG_RANGE,
    CONTRAST_RANGE,
    FEATURE_RANGE,
    GAIN_RANGE,
    MAX_SECONDS,
    MIN_SECONDS,
    NUM_SLOTS,
    SEED_MAX,
    STEPS_RANGE,
    Contrast,
    PromptSlot,
    StateError,
    SynthState,
    _integer,
    _number,
)

# /synth/mix/<slot> is 0..1 on the wire (the OSC contract); presets may hold larger weights.
MIX_RANGE = (0.0, 1.0)

# Addresses with one trailing path part: <slot>, <id>, <name>.
PREFIX_MIX = "/synth/mix/"
PREFIX_FEATURE = "/synth/feature/"
PREFIX_CONTRAST = "/synth/contrast/"
NO_SAE = "no SAE is loaded, so there are no features (start serve with --sae DIR)"


def _with(state: SynthState, **changes) -> SynthState:
    new = copy.copy(state)
    for key, value in changes.items():
        setattr(new, key, value)
    return new


def _check_seconds(state: SynthState, field: str) -> SynthState:
    secs = state.seconds()
    if not MIN_SECONDS <= secs <= MAX_SECONDS:
        raise StateError(field, f"{state.bars} bars at {state.bpm} BPM = {secs:.2f} s, outside [{MIN_SECONDS}, {MAX_SECONDS}] s")
    return state


def _seed(s, v):
    return _with(s, seed=_integer(v, "seed", 0, SEED_MAX))


def _duration(s, v):
    return _with(s, duration=_number(v, "duration", MIN_SECONDS, MAX_SECONDS))


def _bpm(s, v):
    # 0 clears the tempo, so `duration` applies again (OSC has no "none").
    v = _number(v, "bpm")
    return _check_seconds(_with(s, bpm=None if v == 0 else _number(v, "bpm", *BPM_RANGE)), "bpm")


def _bars(s, v):
    v = _number(v, "bars")
    return _check_seconds(_with(s, bars=None if v == 0 else _number(v, "bars", *BARS_RANGE)), "bars")


def _steps(s, v):
    return _with(s, steps=_integer(v, "steps", *STEPS_RANGE))


def _cfg(s, v):
    return _with(s, cfg=_number(v, "cfg", *CFG_RANGE))


def _gain(s, v):
    return _with(s, steering_gain=_number(v, "steering_gain", *GAIN_RANGE))


# Fixed numeric addresses -> (the state field they set, its setter).
_SCALARS: dict[str, tuple[str, Callable[[SynthState, float], SynthState]]] = {
    "/synth/seed": ("seed", _seed),
    "/synth/duration": ("duration", _duration),
    "/synth/bpm": ("bpm", _bpm),
    "/synth/bars": ("bars", _bars),
    "/synth/steps": ("steps", _steps),
    "/synth/cfg": ("cfg", _cfg),
    "/synth/steering/gain": ("steering_gain", _gain),
}
SCALAR_ADDRESSES = {address: field for address, (field, _) in _SCALARS.items()}


def parse_index(part: str, field: str, hi: int | None = None) -> int:
    """A non-negative decimal path part (`/synth/mix/3` -> 3); raises StateError otherwise."""
    if not part.isascii() or not part.isdigit():
        raise StateError(field, f"{part!r} is not a non-negative integer")
    index = int(part)
    if hi is not None and index > hi:
        raise StateError(field, f"{index} is outside [0, {hi}]")
    return index


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
    SAE feature. Integer fields take whole floats (`/synth/seed 7.0` means 7)."""
    if address in _SCALARS:
        return _SCALARS[address][1](state, value)

    if address.startswith(PREFIX_MIX):
        slot = parse_index(address[len(PREFIX_MIX):], "slot", NUM_SLOTS - 1)
        weight = _number(value, f"prompts[{slot}].weight", *MIX_RANGE)
        prompts = list(state.prompts)
        prompts[slot] = PromptSlot(prompts[slot].text, weight)
        return _with(state, prompts=prompts)

    if address.startswith(PREFIX_FEATURE):
        fid = parse_index(address[len(PREFIX_FEATURE):], "feature")
        if d_sae is not None and fid >= d_sae:
            raise StateError(f"features[{fid}]", f"unknown feature id {fid}; the SAE has {d_sae} features (0..{d_sae - 1})")
        strength = _number(value, f"features[{fid}]", *FEATURE_RANGE)
        features = dict(state.features)
        if strength == 0.0:
            features.pop(fid, None)  # 0 removes the feature
        else:
            features[fid] = strength
        return _with(state, features=features)

    if address.startswith(PREFIX_CONTRAST):
        name = address[len(PREFIX_CONTRAST):]
        defs = contrast_defs or {}
        strength = _number(value, f"contrasts.{name}.strength", *CONTRAST_RANGE)
        contrasts = dict(state.contrasts)
        if name in defs:
            positive, negative = defs[name]
        elif name in contrasts:  # a contrast that came in with a preset
            positive, negative = contrasts[name].positive, contrasts[name].negative
        else:
            known = ", ".join(sorted(defs)) or "none are defined in the config"
            raise StateError(f"contrasts.{name}", f"unknown contrast {name!r} (known: {known})")
        contrasts[name] = Contrast(positive, negative, strength)
        return _with(state, contrasts=contrasts)

    raise StateError("address", f"{address!r} is not a numeric synth address")


def is_numeric_address(address: str) -> bool:
    """True for addresses `apply_numeric` understands (syntax only; values are not checked)."""
    return (
        address in _SCALARS
        or address.startswith(PREFIX_MIX)
        or address.startswith(PREFIX_FEATURE)
        or address.startswith(PREFIX_CONTRAST)
    )
