"""Presets: a named SynthState plus the sliders a player sees, stored as YAML.

Files are read with `yaml.safe_load`, checked against a small schema (errors name the file and the
field), and written atomically. Names are letters, digits, `-` and `_` only, so a name can never
point outside its folder.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from synth.addresses import apply_numeric, is_numeric_address, sets
from synth.atomic_io import atomic_write_text, cut_short, end_marked
from synth.numbers import is_finite_number
from synth.parameters import set_contrast
from synth.state import NUM_SLOTS, Contrast, PromptSlot, StateError, SynthState

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_TOP_KEYS = ("name", "description", "state", "sliders", "validation", "sae")
_SLIDER_KEYS = ("name", "address", "min", "max")
SUFFIX = ".yaml"


class PresetError(ValueError):
    """A bad preset name or file; the one-line message names the file and the field."""


@dataclass
class Slider:
    name: str
    address: str
    min: float
    max: float


@dataclass
class Preset:
    name: str
    state: SynthState
    sliders: list[Slider] = field(default_factory=list)
    description: str = ""
    validation: dict = field(default_factory=dict)
    # The SAE its feature ids were made for ({"id", "name"}; "any"; None: none recorded): synth.preset_sae
    sae: dict | str | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "state": self.state.to_dict(),
            "sliders": [{"name": s.name, "address": s.address, "min": s.min, "max": s.max} for s in self.sliders],
            "validation": self.validation,
            **({"sae": self.sae} if self.sae else {}),
        }


def validate_name(name: str) -> str:
    """Return `name` if it is 1-100 letters, digits, `-` or `_`; raise PresetError otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise PresetError(f"preset name {name!r} is not allowed: use 1-100 letters, digits, '-' and '_'")
    return name


def _fail(path, field: str, message: str) -> PresetError:
    return PresetError(f"{path}: {field}: {message}")


def _slider(raw: Any, i: int, state: SynthState, path) -> Slider:
    where = f"sliders[{i}]"
    if not isinstance(raw, dict):
        raise _fail(path, where, f"expected a mapping with {', '.join(_SLIDER_KEYS)}, got {raw!r}")
    missing = [k for k in _SLIDER_KEYS if k not in raw]
    extra = sorted(set(raw) - set(_SLIDER_KEYS), key=str)
    if missing:
        raise _fail(path, f"{where}.{missing[0]}", "missing")
    if extra:
        raise _fail(path, f"{where}.{extra[0]}", "unknown key")
    name, address = raw["name"], raw["address"]
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, f"{where}.name", f"expected text, got {name!r}")
    if not isinstance(address, str) or not is_numeric_address(address):
        raise _fail(path, f"{where}.address", f"{address!r} is not a numeric synth address")
    bounds = []
    for key in ("min", "max"):
        value = raw[key]
        if not is_finite_number(value):
            raise _fail(path, f"{where}.{key}", f"expected a finite number, got {value!r}")
        # The slider's ends must be values the address accepts. Contrast sliders may name a
        # contrast defined in the daemon's config, so only their range is checked here.
        contrast = sets(address, set_contrast)
        defs = {contrast: ("a", "b")} if contrast is not None else None
        try:
            apply_numeric(state, address, value, defs)
        except StateError as exc:
            raise _fail(path, f"{where}.{key}", str(exc)) from None
        bounds.append(float(value))
    if bounds[0] == bounds[1]:
        raise _fail(path, f"{where}.max", "min and max are equal")
    return Slider(name, address, bounds[0], bounds[1])


def preset_from_dict(data: Any, path="<preset>", default_name: str | None = None) -> Preset:
    """Schema-check a parsed YAML document and build a Preset; raise PresetError naming the field."""
    if not isinstance(data, dict):
        raise _fail(path, "(top level)", f"expected a mapping with keys {', '.join(_TOP_KEYS)}, got {type(data).__name__}")
    extra = sorted(set(data) - set(_TOP_KEYS), key=str)
    if extra:
        raise _fail(path, str(extra[0]), f"unknown key (allowed: {', '.join(_TOP_KEYS)})")
    name = data.get("name", default_name)
    if name is None:
        raise _fail(path, "name", "missing")
    try:
        validate_name(name)
    except PresetError as exc:
        raise _fail(path, "name", str(exc)) from None
    description = data.get("description", "") or ""
    if not isinstance(description, str):
        raise _fail(path, "description", f"expected text, got {description!r}")
    if "state" not in data:
        raise _fail(path, "state", "missing")
    try:
        state = SynthState.from_dict(data["state"])
    except StateError as exc:
        raise PresetError(f"{path}: state.{exc}") from None
    raw_sliders = data.get("sliders") or []
    if not isinstance(raw_sliders, list):
        raise _fail(path, "sliders", f"expected a list, got {raw_sliders!r}")
    sliders = [_slider(raw, i, state, path) for i, raw in enumerate(raw_sliders)]
    validation = data.get("validation") or {}
    if not isinstance(validation, dict):
        raise _fail(path, "validation", f"expected a mapping, got {validation!r}")
    return Preset(name=name, state=state, sliders=sliders, description=description, validation=validation,
                  sae=_sae_field(data.get("sae"), path))


def _sae_field(raw: Any, path) -> dict | str | None:
    if raw is None or raw == "any":
        return raw
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"] \
            or set(raw) - {"id", "name"} or not isinstance(raw.get("name", ""), str):
        raise _fail(path, "sae", f"expected 'any' or a mapping with an 'id' (and a 'name'), got {raw!r}")
    return dict(raw)


def describe_yaml_error(exc: yaml.YAMLError) -> str:
    """One line saying where and what: `line 3, column 1: expected ',' or ']', but got '<stream end>'
    (while parsing a flow sequence)`."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is None or problem is None:
        return " ".join(str(exc).split())
    context = getattr(exc, "context", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" + (f" ({context})" if context else "")


def load_preset_file(path) -> Preset:
    """Read and validate one preset file (safe YAML loader)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(path, "(file)", f"not UTF-8 text ({exc.reason})") from None
    if not text.strip():
        raise _fail(path, "(file)", "the file is empty")
    if cut_short(text, "preset"):
        raise _fail(path, "(file)", "cut short: its last line '# end of preset' is missing (an interrupted copy or a "
                                    "full disk?); restore it, or delete its first line to load what is left")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(path, "(yaml)", describe_yaml_error(exc)) from None
    return preset_from_dict(data, path, default_name=path.stem if path.suffix == SUFFIX else None)


def _plain(value: Any) -> Any:
    """numpy scalars/arrays and tuples -> plain YAML types (the safe dumper refuses the others)."""
    if isinstance(value, dict):
        return {(k if isinstance(k, (str, int)) else str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        return _plain(tolist())
    return str(value)


def save_preset_file(preset: Preset, path) -> None:
    """Validate `preset` (it must load back) and write it atomically as YAML."""
    validate_name(preset.name)
    data = _plain(preset.to_dict())
    preset_from_dict(data, path)  # refuse to write what we could not read back
    atomic_write_text(path, end_marked(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "preset"))


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _crossfade_prompts(a: SynthState, b: SynthState, t: float) -> list[PromptSlot]:
    """Weights of a's prompts fade out while b's fade in; a text present in both adds up."""
    weights: dict[str, float] = {}
    for state, gain in ((a, 1.0 - t), (b, t)):
        for slot in state.prompts:
            if slot.text.strip() and slot.weight != 0.0:
                weights[slot.text] = weights.get(slot.text, 0.0) + slot.weight * gain
    active = [(text, w) for text, w in weights.items() if w > 0.0]
    if len(active) > NUM_SLOTS:  # keep the loudest slots
        keep = {text for text, _ in sorted(active, key=lambda tw: -tw[1])[:NUM_SLOTS]}
        active = [(text, w) for text, w in active if text in keep]
    slots = [PromptSlot(text, w) for text, w in active]
    return slots + [PromptSlot() for _ in range(NUM_SLOTS - len(slots))]


def morph(a: SynthState, b: SynthState, amount: float) -> SynthState:
    """Interpolate from `a` (amount 0) to `b` (amount 1): numbers move linearly, prompt weights
    crossfade, and what cannot be interpolated (seed, modes, names) comes from the nearer end."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0.0 <= amount <= 1.0:
        raise StateError("amount", f"morph amount must be within [0, 1], got {amount!r}")
    t = float(amount)
    near = a if t < 0.5 else b

    features = {}
    for fid in set(a.features) | set(b.features):
        value = _lerp(a.features.get(fid, 0.0), b.features.get(fid, 0.0), t)
        if value != 0.0:
            features[fid] = value
    contrasts = {}
    for cname in list(a.contrasts) + [n for n in b.contrasts if n not in a.contrasts]:
        ca, cb = a.contrasts.get(cname), b.contrasts.get(cname)
        poles = (ca if (t < 0.5 and ca) or not cb else cb)
        strength = _lerp(ca.strength if ca else 0.0, cb.strength if cb else 0.0, t)
        contrasts[cname] = Contrast(poles.positive, poles.negative, strength)

    if a.bpm is not None and b.bpm is not None and a.bars is not None and b.bars is not None:
        bpm, bars = _lerp(a.bpm, b.bpm, t), _lerp(a.bars, b.bars, t)
    else:
        bpm, bars = near.bpm, near.bars
    return SynthState(
        prompts=_crossfade_prompts(a, b, t),
        features=features,
        contrasts=contrasts,
        seed=near.seed,
        duration=_lerp(a.duration, b.duration, t),
        bpm=bpm,
        bars=bars,
        # unset (None = the backend's default) stays unset unless both ends set it
        steps=int(round(_lerp(a.steps, b.steps, t))) if None not in (a.steps, b.steps) else (a.steps if t < 0.5 else b.steps),
        cfg=_lerp(a.cfg, b.cfg, t) if None not in (a.cfg, b.cfg) else (a.cfg if t < 0.5 else b.cfg),
        steering_mode=near.steering_mode,
        steering_gain=_lerp(a.steering_gain, b.steering_gain, t),
        mix_mode=near.mix_mode,
        inside_site=near.inside_site,
        inside_blocks=near.inside_blocks,
        inside_window=near.inside_window,
        arrangement=near.arrangement,
        name=near.name,
    )


# The presets that ship with the package (a link to the checkout's top-level presets/ folder, which
# setuptools copies into the wheel): read-only defaults beside the user's own folder.
SHIPPED_PRESETS = Path(__file__).resolve().parent / "shipped_presets"
USER, SHIPPED, OVERRIDES = "user", "shipped", "user-overrides-shipped"


class PresetStore:
    """One folder of NAME.yaml files (the user's, where saves go), optionally over a read-only folder of
    shipped presets: a user preset of the same name wins."""

    def __init__(self, folder, shipped=None):
        self.folder = Path(folder)
        self.shipped = Path(shipped) if shipped is not None else None

    def path(self, name: str) -> Path:
        """Where `name` is saved: always the user's folder."""
        return self.folder / f"{validate_name(name)}{SUFFIX}"

    def find(self, name: str) -> Path | None:
        """The file `name` loads from: the user's, else the shipped one; None when neither exists."""
        for folder in (self.folder, self.shipped):
            if folder is not None and (folder / f"{validate_name(name)}{SUFFIX}").is_file():
                return folder / f"{name}{SUFFIX}"
        return None

    @staticmethod
    def _names_in(folder: Path | None) -> set[str]:
        if folder is None or not folder.is_dir():
            return set()
        return {p.stem for p in folder.glob(f"*{SUFFIX}") if p.is_file() and _NAME.match(p.stem)}

    def sources(self) -> dict[str, str]:
        """{name: USER | SHIPPED | OVERRIDES}: the user's presets in name order, then the shipped ones (the
        order MIDI program changes use, so program n is the same preset of yours whatever ships)."""
        user, shipped = self._names_in(self.folder), self._names_in(self.shipped)
        ordered = sorted(user) + sorted(shipped - user)
        return {n: (OVERRIDES if n in shipped else USER) if n in user else SHIPPED for n in ordered}

    def names(self) -> list[str]:
        """Preset names: the user's in name order, then the shipped ones (the order MIDI program changes use)."""
        return list(self.sources())

    def _where(self) -> str:
        return f"{self.folder}" + (" or the shipped presets" if self.shipped is not None else "")

    def load(self, name: str) -> Preset:
        path = self.find(name)
        if path is None:
            raise PresetError(f"no preset named {name!r} in {self._where()}")
        preset = load_preset_file(path)
        if preset.name != name:
            raise _fail(path, "name", f"{preset.name!r} does not match the file name {name!r}")
        return preset

    def save(self, preset: Preset) -> Path:
        path = self.path(preset.name)
        self.folder.mkdir(parents=True, exist_ok=True)
        save_preset_file(preset, path)
        return path

    def delete(self, name: str) -> None:
        path = self.path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            if self.find(name) is not None:
                raise PresetError(f"preset {name!r} ships with the package and is read-only; save one of "
                                  f"the same name in {self.folder} to override it") from None
            raise PresetError(f"no preset named {name!r} in {self.folder}") from None
