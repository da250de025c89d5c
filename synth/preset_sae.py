"""Which SAE a preset's feature ids were made for, and the refusal when another SAE is loaded.

A feature id means something only in the SAE that defined it: feature 1500 of one SAE is an unrelated
direction in another. A preset that sets features or has feature sliders therefore records the SAE it was
made for (`sae: {id, name}`, the id being synth.sae.sae_identity); loading it with another SAE is refused
in one line. `sae: any` marks a preset whose feature ids are placeholders (feature-explorer).

Presets saved before SAEs had identities record none. They were all made for the first MiniLM SAE that
shipped with the score backend, so on a MiniLM SAE "no record" means that one; on other encoders' SAEs
nothing can be told, and they load as before.
"""
from __future__ import annotations

from synth.addresses import sets
from synth.parameters import set_feature
from synth.presets import PresetError

# The MiniLM SAE that shipped until score model v3 (synth.sae.sae_identity of its weights).
LEGACY_MINILM_SAE = {"id": "sha256:19ab197393bc3416", "name": "the v1 MiniLM SAE (shipped before score model v3)"}
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
ANY = "any"


class PresetSAEMismatch(PresetError):
    """A preset whose feature ids were made for another SAE than the one loaded."""


def uses_features(preset) -> bool:
    return bool(preset.state.features) or any(sets(s.address, set_feature) is not None for s in preset.sliders)


def loaded_sae(sae, name: str) -> dict:
    """The identity of a loaded SAE: {"id", "name", "encoder"} (what presets are checked against)."""
    from synth.sae import sae_identity

    return {"id": sae_identity(sae), "name": name, "encoder": (sae.metadata or {}).get("encoder")}


def record_for(preset, loaded: dict | None) -> dict | str | None:
    """The `sae` field to save with `preset` when `loaded` (a loaded_sae, or None) is the SAE in use: its
    id and name when the preset uses features, else nothing; `any` stays `any`."""
    if preset.sae == ANY:
        return ANY
    if not uses_features(preset):
        return None
    return {"id": loaded["id"], "name": loaded["name"]} if loaded else preset.sae


def made_for(preset, encoder: str | None) -> dict | None:
    """The SAE the preset's feature ids belong to, or None when it uses none or cannot be told."""
    if not uses_features(preset) or preset.sae == ANY:
        return None
    if preset.sae:
        return preset.sae
    return LEGACY_MINILM_SAE if encoder == MINILM else None


def check_preset_sae(preset, loaded: dict | None) -> None:
    """Raise PresetSAEMismatch (one line) when `preset` was made for another SAE than `loaded`
    (a loaded_sae; None when no SAE is loaded: the caller refuses features then)."""
    wanted = made_for(preset, loaded.get("encoder") if loaded else None)
    if wanted is None or loaded is None or wanted["id"] == loaded["id"]:
        return
    raise PresetSAEMismatch(
        f"preset {preset.name!r} was made for {_named(wanted)}, but the loaded SAE is {_named(loaded)}: its "
        f"feature ids mean other things here. Load it with the SAE it names, or rebuild its sliders for this SAE "
        f"(`latent-synth analysis sliders ... --sae DIR`) and check them with `latent-synth analysis validate-preset`")


def _named(record: dict) -> str:
    name = record.get("name") or "SAE"
    return f"{name if name.startswith('the ') else 'SAE ' + name} ({record['id']})"
