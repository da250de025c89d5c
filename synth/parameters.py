"""The numeric state changes behind the OSC address table (`synth.addresses`): a value -> a new SynthState.

Each setter is `setter(state, part, value, contrast_defs, d_sae)`, `part` being the address's last path
part (<slot>, <id>, <name>; "" for a fixed address). Pure: the input state is never mutated. Lean,
because it runs for every slider move: the new state is a shallow copy in which only the changed
container is rebuilt, and only the changed value is checked (against the ranges `SynthState.validate`
uses), instead of a deep copy plus a full validation.
"""
from __future__ import annotations

import copy
from typing import Mapping

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
BARS_OR_CLEAR = (0.0, BARS_RANGE[1])   # /synth/bars: 0 clears it
NO_SAE = "no SAE is loaded, so there are no features (start serve with --sae DIR)"
NO_DIT_SAE = "no DiT SAE is loaded (serve --dit-sae DIR; make one with `latent-synth analysis dit-sae`)"
Defs = Mapping[str, tuple[str, str]]


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


def set_seed(s: SynthState, part: str, v: float, defs: Defs, d_sae: int | None) -> SynthState:
    return _with(s, seed=_integer(v, "seed", 0, SEED_MAX))


def set_duration(s: SynthState, part: str, v: float, defs: Defs, d_sae: int | None) -> SynthState:
    return _with(s, duration=_number(v, "duration", MIN_SECONDS, MAX_SECONDS))


def set_bpm(s: SynthState, part: str, v: float, defs: Defs, d_sae: int | None) -> SynthState:
    # 0 clears the tempo, so `duration` applies again (OSC has no "none").
    v = _number(v, "bpm")
    return _check_seconds(_with(s, bpm=None if v == 0 else _number(v, "bpm", *BPM_RANGE)), "bpm")


def set_bars(s: SynthState, part: str, v: float, defs: Defs, d_sae: int | None) -> SynthState:
    v = _number(v, "bars")
    return _check_seconds(_with(s, bars=None if v == 0 else _number(v, "bars", *BARS_RANGE)), "bars")


def set_steps(s: SynthState, part: str, v: float, defs: Defs, d_sae: int | None) -> SynthState:
    return _with(s, steps=_integer(v, "steps", *STEPS_RANGE))


def set_cfg(s: SynthState, part: str, v: float, defs: Defs, d_sae: int | None) -> SynthState:
    return _with(s, cfg=_number(v, "cfg", *CFG_RANGE))


def set_gain(s: SynthState, part: str, v: float, defs: Defs, d_sae: int | None) -> SynthState:
    return _with(s, steering_gain=_number(v, "steering_gain", *GAIN_RANGE))


def parse_index(part: str, field: str, hi: int | None = None) -> int:
    """A non-negative decimal path part (`/synth/mix/3` -> 3); raises StateError otherwise."""
    if not part.isascii() or not part.isdigit():
        raise StateError(field, f"{part!r} is not a non-negative integer")
    index = int(part)
    if hi is not None and index > hi:
        raise StateError(field, f"{index} is outside [0, {hi}]")
    return index


def set_mix(state: SynthState, part: str, value: float, defs: Defs, d_sae: int | None) -> SynthState:
    slot = parse_index(part, "slot", NUM_SLOTS - 1)
    weight = _number(value, f"prompts[{slot}].weight", *MIX_RANGE)
    prompts = list(state.prompts)
    prompts[slot] = PromptSlot(prompts[slot].text, weight)
    return _with(state, prompts=prompts)


def set_feature(state: SynthState, part: str, value: float, defs: Defs, d_sae: int | None) -> SynthState:
    fid = parse_index(part, "feature")
    if d_sae is not None and fid >= d_sae:
        raise StateError(f"features[{fid}]", f"unknown feature id {fid}; the SAE has {d_sae} features (0..{d_sae - 1})")
    return _with(state, features=_with_strength(state.features, fid, _number(value, f"features[{fid}]", *FEATURE_RANGE)))


def _with_strength(strengths: Mapping[int, float], fid: int, strength: float) -> dict[int, float]:
    """`strengths` with feature `fid` at `strength`; 0 removes it."""
    out = dict(strengths)
    if strength == 0.0:
        out.pop(fid, None)
    else:
        out[fid] = strength
    return out


def check_dit_ids(ids, d_dit_sae: int | None, where: str = "") -> None:
    """Refuse DiT SAE feature ids when no DiT SAE is loaded, or ids it does not have (StateError: bad input)."""
    name = f"{where}: inside_features" if where else "inside_features"
    if d_dit_sae is None:
        raise StateError(name, NO_DIT_SAE)
    bad = sorted(int(f) for f in ids if not 0 <= int(f) < d_dit_sae)
    if bad:
        raise StateError(name, f"unknown DiT SAE feature id {bad[0]}; the DiT SAE has {d_dit_sae} features "
                               f"(0..{d_dit_sae - 1})")


def set_inside_feature(state: SynthState, part: str, value: float, defs: Defs, d_sae: int | None) -> SynthState:
    """A DiT SAE feature's strength (the engine checks the id against its DiT SAE); 0 removes it."""
    fid = parse_index(part, "inside feature")
    strength = _number(value, f"inside_features[{fid}]", *FEATURE_RANGE)
    return _with(state, inside_features=_with_strength(state.inside_features, fid, strength))


def set_contrast(state: SynthState, name: str, value: float, defs: Defs, d_sae: int | None) -> SynthState:
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
