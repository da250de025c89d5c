"""`latent-synth preset list|show|save|delete`: manage the presets folder from the shell."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from synth.addresses import apply_numeric
from synth.preset_sae import loaded_sae, record_for, uses_features
from synth.presets import SHIPPED, SHIPPED_PRESETS, USER, Preset, PresetError, PresetStore, Slider
from synth.state import PromptSlot, StateError, SynthState


def _base_state(path) -> SynthState:
    """A state from a YAML/JSON file: a state dict, a preset, or a clip's JSON sidecar."""
    if path is None:
        return SynthState()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PresetError(f"{path}: not YAML or JSON: {' '.join(str(exc).split())}") from None
    if isinstance(data, dict) and "state" in data:
        data = data["state"]
    try:
        return SynthState.from_dict(data)
    except StateError as exc:
        raise PresetError(f"{path}: state.{exc.field}: {exc}") from None


def cmd_list(args) -> int:
    for name, source in PresetStore(args.presets, SHIPPED_PRESETS).sources().items():
        print(name if source == USER else f"{name}\t({source}{', read-only' if source == SHIPPED else ''})")
    return 0


def cmd_show(args) -> int:
    preset = PresetStore(args.presets, SHIPPED_PRESETS).load(args.name)
    if args.json:
        print(json.dumps(preset.to_dict(), indent=2))
    else:
        print(yaml.safe_dump(preset.to_dict(), sort_keys=False, allow_unicode=True), end="")
    return 0


def cmd_save(args) -> int:
    store = PresetStore(args.presets)
    path = store.path(args.name)
    if path.exists() and not args.force:
        raise PresetError(f"preset {args.name!r} already exists at {path} (use --force to replace it)")
    state = _base_state(args.state)
    for i, text in enumerate(args.prompt or []):
        prompts = list(state.prompts)
        if i >= len(prompts):
            raise PresetError(f"--prompt: at most {len(prompts)} prompts")
        prompts[i] = PromptSlot(text, prompts[i].weight if prompts[i].text.strip() else 1.0)
        state = state.replace(prompts=prompts)
    for address, value in args.set or []:
        try:
            state = apply_numeric(state, address, float(value))
        except ValueError as exc:
            raise PresetError(f"--set {address} {value}: {exc}") from None
    state = state.replace(name=args.name)
    sliders = [Slider(n, a, float(lo), float(hi)) for n, a, lo, hi in (args.slider or [])]
    preset = Preset(name=args.name, state=state, sliders=sliders, description=args.description or "")
    if uses_features(preset):
        preset.sae = record_for(preset, _sae_for(args.sae))
    print(store.save(preset))
    return 0


def _sae_for(where: str | None) -> dict | None:
    """The identity of the SAE a saved preset's feature ids are for: --sae DIR, else the score backend's
    bundled one (the default backend's)."""
    from synth.families.score import SAE_DIR
    from synth.sae import SAEFileError, load_sae

    folder = Path(where).expanduser() if where else SAE_DIR
    try:
        return loaded_sae(load_sae(folder, device="cpu"), str(where) if where else "minilm_sae (bundled)")
    except SAEFileError as exc:
        raise PresetError(f"--sae: {exc}") from None


def cmd_delete(args) -> int:
    store = PresetStore(args.presets, SHIPPED_PRESETS)
    store.delete(args.name)
    print(f"deleted {store.path(args.name)}")
    return 0


def register_preset(subparsers) -> None:
    parser = subparsers.add_parser("preset", help="list, show, save or delete presets")
    sub = parser.add_subparsers(dest="preset_command", metavar="ACTION", required=True)

    def add(name, func, help_text):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--presets", default="presets", metavar="DIR", help="presets folder (default: ./presets)")
        p.set_defaults(func=func)
        return p

    add("list", cmd_list, "print preset names in name order (the MIDI program-change order)")
    p = add("show", cmd_show, "print a preset")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    p = add("save", cmd_save, "write a preset from a state file and/or flags")
    p.add_argument("name")
    p.add_argument("--state", metavar="FILE", help="start from a state: a clip's .json sidecar, a preset, or a state dict")
    p.add_argument("--prompt", action="append", metavar="TEXT", help="prompt text for the next slot (repeatable)")
    p.add_argument("--set", nargs=2, action="append", metavar=("ADDRESS", "VALUE"),
                   help="set a numeric address, e.g. --set /synth/feature/12 2.5 (repeatable)")
    p.add_argument("--slider", nargs=4, action="append", metavar=("NAME", "ADDRESS", "MIN", "MAX"),
                   help="add a slider (repeatable)")
    p.add_argument("--description", default="")
    p.add_argument("--sae", metavar="DIR", default=None,
                   help="the SAE the preset's feature ids are for (recorded in it; default: the score backend's "
                        "bundled MiniLM SAE)")
    p.add_argument("--force", action="store_true", help="replace an existing preset")
    p = add("delete", cmd_delete, "delete a preset")
    p.add_argument("name")

