"""SynthState: the instrument's whole sound as plain, validated data.

Everything that changes the audio lives here (prompts, SAE feature strengths, contrasts, seed,
length, sampler settings, steering and mixing modes), so presets, OSC messages, sidecars and the
analysis jobs all speak the same dict format (`to_dict` / `from_dict`).
"""
from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from synth.numbers import integer, number

NUM_SLOTS = 8
MODES = ("embedding", "guidance")
STEERING_MODES = MODES + ("inside",)   # inside: directions added in the DiT's blocks (synth.inside)
INSIDE_SITES = ("cross", "residual")
INSIDE_WINDOWS = ("early", "middle", "late", "all")
# which voices a score family plays (synth.score.arrangement_words reads them from words); None: the words, else the model
ARRANGEMENTS = ("drums-only", "solo", "melody+accompaniment", "ensemble")
MAX_BLOCKS = 256

# Ranges (inclusive). The longest any backend renders is Stable Audio 3 medium's 380 s; each backend
# checks its own limit (Stable Audio Open: 47.55 s) when it renders.
MIN_SECONDS = 0.1
MAX_SECONDS = 380.0
FEATURE_RANGE = (-10.0, 10.0)
CONTRAST_RANGE = (-10.0, 10.0)
WEIGHT_RANGE = (0.0, 10.0)
BPM_RANGE = (20.0, 400.0)
BARS_RANGE = (0.0625, 64.0)
STEPS_RANGE = (1, 1000)
CFG_RANGE = (0.0, 50.0)
GAIN_RANGE = (-100.0, 100.0)
SEED_MAX = 2**63 - 1
BEATS_PER_BAR = 4  # bars at a BPM assume 4/4

_CONTRAST_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class StateError(ValueError):
    """An invalid state value. `.field` names the offending field; the message is one line."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}".replace("\n", " "))


@dataclass
class PromptSlot:
    text: str = ""
    weight: float = 0.0


@dataclass
class Contrast:
    positive: str
    negative: str
    strength: float = 0.0


def _default_prompts() -> list[PromptSlot]:
    return [PromptSlot("music", 1.0)] + [PromptSlot() for _ in range(NUM_SLOTS - 1)]


def _number(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> float:
    return number(value, name, lo, hi, StateError)


def _integer(value: Any, name: str, lo: int, hi: int) -> int:
    return integer(value, name, lo, hi, StateError)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise StateError(name, f"expected text, got {value!r}")
    return value


@dataclass
class SynthState:
    prompts: list[PromptSlot] = field(default_factory=_default_prompts)
    features: dict[int, float] = field(default_factory=dict)
    contrasts: dict[str, Contrast] = field(default_factory=dict)
    seed: int = 0
    duration: float = 5.0
    bpm: float | None = None
    bars: float | None = None
    steps: int | None = None      # None: the backend's default (100 Stable Audio Open, 8 Stable Audio 3)
    cfg: float | None = None      # None: the backend's default (7 Stable Audio Open, 1 distilled Stable Audio 3)
    steering_mode: str = "embedding"
    steering_gain: float = 1.0
    mix_mode: str = "embedding"
    inside_site: str = "residual"               # inside steering: residual stream or cross-attention output (the
                                                # sweep found the residual stream, late steps, keeps most)
    inside_blocks: list[int] | None = None      # the DiT blocks it acts at (None: all)
    inside_window: str = "late"                 # the denoising steps: early, middle, late third, or all
    arrangement: str | None = None              # score families: which voices play (None: the words, else the model)
    inside_features: dict[int, float] = field(default_factory=dict)   # DiT SAE features (synth.dit_sae), id -> strength
    name: str | None = None

    def __post_init__(self) -> None:
        # Always NUM_SLOTS slots, so /synth/mix/<slot> can address any of them.
        if isinstance(self.prompts, list) and len(self.prompts) < NUM_SLOTS:
            self.prompts = list(self.prompts) + [PromptSlot() for _ in range(NUM_SLOTS - len(self.prompts))]
        self.validate()

    # ------------------------------------------------------------------ derived values
    def seconds(self) -> float:
        """Clip length: bars at the BPM (4/4) when both are set, else `duration`."""
        if self.bpm is not None and self.bars is not None:
            return float(self.bars) * BEATS_PER_BAR * 60.0 / float(self.bpm)
        return float(self.duration)

    def active_prompts(self) -> list[PromptSlot]:
        """Slots that contribute: non-empty text and non-zero weight."""
        return [p for p in self.prompts if p.text.strip() and p.weight != 0.0]

    # ------------------------------------------------------------------ validation
    def validate(self, d_sae: int | None = None) -> "SynthState":
        """Check and normalise every field in place; raise StateError naming the first bad one."""
        if not isinstance(self.prompts, list):
            raise StateError("prompts", f"expected a list of slots, got {self.prompts!r}")
        if any(not isinstance(p, PromptSlot) for p in self.prompts):  # plain dicts are accepted too
            self.prompts = _prompts_from(self.prompts)
        if len(self.prompts) > NUM_SLOTS:
            raise StateError("prompts", f"{len(self.prompts)} slots, at most {NUM_SLOTS}")
        for i, slot in enumerate(self.prompts):
            if not isinstance(slot, PromptSlot):
                raise StateError(f"prompts[{i}]", f"expected a PromptSlot, got {slot!r}")
            slot.text = _text(slot.text, f"prompts[{i}].text")
            slot.weight = _number(slot.weight, f"prompts[{i}].weight", *WEIGHT_RANGE)

        self.features = _strengths(self.features, "features")
        for fid in self.features:
            if d_sae is not None and fid >= d_sae:
                raise StateError(f"features[{fid}]", f"unknown feature id {fid}; the SAE has {d_sae} features (0..{d_sae - 1})")
        self.inside_features = _strengths(self.inside_features, "inside_features")

        if not isinstance(self.contrasts, dict):
            raise StateError("contrasts", f"expected a mapping name -> contrast, got {self.contrasts!r}")
        if any(not isinstance(c, Contrast) for c in self.contrasts.values()):
            self.contrasts = _contrasts_from(self.contrasts)
        for cname, con in self.contrasts.items():
            if not isinstance(cname, str) or not _CONTRAST_NAME.match(cname):
                raise StateError("contrasts", f"bad contrast name {cname!r} (letters, digits, - and _ only)")
            if not isinstance(con, Contrast):
                raise StateError(f"contrasts.{cname}", f"expected a Contrast, got {con!r}")
            con.positive = _text(con.positive, f"contrasts.{cname}.positive")
            con.negative = _text(con.negative, f"contrasts.{cname}.negative")
            if not con.positive.strip() or not con.negative.strip():
                raise StateError(f"contrasts.{cname}", "positive and negative prompts must both be non-empty")
            con.strength = _number(con.strength, f"contrasts.{cname}.strength", *CONTRAST_RANGE)

        self.seed = _integer(self.seed, "seed", 0, SEED_MAX)
        self.duration = _number(self.duration, "duration", MIN_SECONDS, MAX_SECONDS)
        if self.bpm is not None:
            self.bpm = _number(self.bpm, "bpm", *BPM_RANGE)
        if self.bars is not None:
            self.bars = _number(self.bars, "bars", *BARS_RANGE)
        secs = self.seconds()
        if not MIN_SECONDS <= secs <= MAX_SECONDS:
            raise StateError("bars", f"{self.bars} bars at {self.bpm} BPM = {secs:.2f} s, outside [{MIN_SECONDS}, {MAX_SECONDS}] s")
        if self.steps is not None:
            self.steps = _integer(self.steps, "steps", *STEPS_RANGE)
        if self.cfg is not None:
            self.cfg = _number(self.cfg, "cfg", *CFG_RANGE)
        for mode_field, choices in (("steering_mode", STEERING_MODES), ("mix_mode", MODES),
                                    ("inside_site", INSIDE_SITES), ("inside_window", INSIDE_WINDOWS)):
            value = getattr(self, mode_field)
            if value not in choices:
                raise StateError(mode_field, f"{value!r} is not one of {', '.join(choices)}")
        if self.inside_blocks is not None:
            if not isinstance(self.inside_blocks, (list, tuple)) or not self.inside_blocks:
                raise StateError("inside_blocks", f"expected a non-empty list of block numbers, got {self.inside_blocks!r}")
            self.inside_blocks = sorted({_integer(b, "inside_blocks", 0, MAX_BLOCKS - 1) for b in self.inside_blocks})
        self.steering_gain = _number(self.steering_gain, "steering_gain", *GAIN_RANGE)
        if self.arrangement is not None and self.arrangement not in ARRANGEMENTS:
            raise StateError("arrangement", f"{self.arrangement!r} is not one of {', '.join(ARRANGEMENTS)} (or null)")
        if self.name is not None:
            self.name = _text(self.name, "name")
        return self

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        """Plain types only (YAML/JSON ready). Feature ids stay ints; JSON turns them into strings,
        which `from_dict` accepts."""
        return {
            "prompts": [{"text": p.text, "weight": p.weight} for p in self.prompts],
            "features": {int(k): float(v) for k, v in sorted(self.features.items())},
            "contrasts": {
                k: {"positive": c.positive, "negative": c.negative, "strength": c.strength}
                for k, c in self.contrasts.items()
            },
            "seed": self.seed,
            "duration": self.duration,
            "bpm": self.bpm,
            "bars": self.bars,
            "steps": self.steps,
            "cfg": self.cfg,
            "steering_mode": self.steering_mode,
            "steering_gain": self.steering_gain,
            "mix_mode": self.mix_mode,
            "inside_site": self.inside_site,
            "inside_blocks": list(self.inside_blocks) if self.inside_blocks is not None else None,
            "inside_window": self.inside_window,
            "arrangement": self.arrangement,
            "inside_features": {int(k): float(v) for k, v in sorted(self.inside_features.items())},
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "SynthState":
        """Build and validate a state from a plain dict; missing keys take the defaults."""
        if d is None:
            d = {}
        if not isinstance(d, Mapping):
            raise StateError("state", f"expected a mapping, got {d!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in known:
                raise StateError(str(key), f"unknown state field {key!r}")
        kwargs: dict[str, Any] = {k: v for k, v in d.items() if k not in ("prompts", "features", "contrasts")}
        kwargs["inside_features"] = d.get("inside_features") or {}
        if "prompts" in d:
            kwargs["prompts"] = _prompts_from(d["prompts"])
        if "features" in d:
            feats = d["features"] or {}
            if not isinstance(feats, Mapping):
                raise StateError("features", f"expected a mapping id -> strength, got {feats!r}")
            kwargs["features"] = dict(feats)
        if "contrasts" in d:
            kwargs["contrasts"] = _contrasts_from(d["contrasts"])
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "SynthState":
        """A validated copy with `changes` applied; `self` is never mutated."""
        base = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name not in changes}
        return type(self)(**base, **copy.deepcopy(changes))

    def with_defaults(self, steps: int | None, cfg: float | None) -> "SynthState":
        """The state with unset steps / cfg filled in (a backend's defaults): what is rendered."""
        changes = {k: v for k, v in (("steps", steps), ("cfg", cfg)) if getattr(self, k) is None and v is not None}
        return self.replace(**changes) if changes else self


def _strengths(value: Any, name: str) -> dict[int, float]:
    """A mapping feature id -> strength, checked (ids only as numbers: against an SAE by the caller)."""
    if not isinstance(value, Mapping):
        raise StateError(name, f"expected a mapping id -> strength, got {value!r}")
    out: dict[int, float] = {}
    for key, strength in value.items():
        fid = _feature_id(key, name)
        out[fid] = _number(strength, f"{name}[{fid}]", *FEATURE_RANGE)
    return out


def _feature_id(key: Any, name: str = "features") -> int:
    if isinstance(key, str):
        if not key.strip().isdigit():
            raise StateError(name, f"feature id {key!r} is not a non-negative integer")
        key = int(key)
    return _integer(key, f"{name}[{key!r}]", 0, 10**9)


def _prompts_from(value: Any) -> list[PromptSlot]:
    if not isinstance(value, list):
        raise StateError("prompts", f"expected a list of slots, got {value!r}")
    slots = []
    for i, item in enumerate(value):
        if isinstance(item, PromptSlot):
            slots.append(PromptSlot(item.text, item.weight))
        elif isinstance(item, Mapping):
            extra = set(item) - {"text", "weight"}
            if extra:
                raise StateError(f"prompts[{i}]", f"unknown keys {sorted(extra)}")
            slots.append(PromptSlot(item.get("text", ""), item.get("weight", 0.0)))
        elif isinstance(item, str):
            slots.append(PromptSlot(item, 1.0 if item.strip() else 0.0))
        else:
            raise StateError(f"prompts[{i}]", f"expected {{text, weight}}, got {item!r}")
    return slots


def _contrasts_from(value: Any) -> dict[str, Contrast]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise StateError("contrasts", f"expected a mapping name -> contrast, got {value!r}")
    out = {}
    for name, item in value.items():
        if isinstance(item, Contrast):
            out[name] = Contrast(item.positive, item.negative, item.strength)
        elif isinstance(item, Mapping):
            extra = set(item) - {"positive", "negative", "strength"}
            if extra or "positive" not in item or "negative" not in item:
                raise StateError(f"contrasts.{name}", "expected {positive, negative, strength}")
            out[name] = Contrast(item["positive"], item["negative"], item.get("strength", 0.0))
        else:
            raise StateError(f"contrasts.{name}", f"expected {{positive, negative, strength}}, got {item!r}")
    return out
