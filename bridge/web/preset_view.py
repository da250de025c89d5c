"""What a page shows of the loaded preset: its sliders, each with the effect its validation measured."""
from __future__ import annotations

from synth.presets import Preset


def slider_effect(preset: Preset, slider_name: str) -> dict | None:
    """{"feature", "d", "n", "label"} from the preset's validation block, or None (unvalidated)."""
    measured = (preset.validation.get("sliders") or {}).get(slider_name) or {}
    effect = measured.get("effect")
    n = preset.validation.get("n")
    if not isinstance(effect, dict) or "feature" not in effect or "d" not in effect:
        return None
    d = float(effect["d"])
    return {"feature": effect["feature"], "d": d, "n": n,
            "label": f"{slider_name}: {effect['feature']} d {d:+.2f}" + (f" at n = {n}" if n else "")}


def preset_view(preset: Preset | None) -> dict | None:
    if preset is None:
        return None
    return {"name": preset.name, "description": preset.description,
            "sliders": [{"name": s.name, "address": s.address, "min": s.min, "max": s.max,
                         "effect": slider_effect(preset, s.name)} for s in preset.sliders]}
