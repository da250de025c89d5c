"""Presets know their SAE: feature ids made for one SAE are refused on another, in one line, and the
daemon keeps serving; presets without features are unaffected."""
import json

import pytest
import yaml

from bridge.controller import Controller
from bridge.osc_server import OscServer
from bridge.testing.osc_daemon import Client
from synth.preset_sae import (ANY, LEGACY_MINILM_SAE, MINILM, PresetSAEMismatch, check_preset_sae, loaded_sae,
                              made_for, record_for)
from synth.presets import Preset, PresetError, PresetStore, Slider, load_preset_file, preset_from_dict
from synth.sae import load_sae, random_sae, sae_identity, save_sae
from synth.state import PromptSlot, SynthState

NEW = {"id": "sha256:00000000000000aa", "name": "minilm_sae (bundled)", "encoder": MINILM}
OTHER = {"id": "sha256:00000000000000bb", "name": "runs/x/sae", "encoder": MINILM}
LEGACY_LOADED = {**LEGACY_MINILM_SAE, "encoder": MINILM}


def featured(name="bells", sae=None):
    return Preset(name, SynthState(prompts=[PromptSlot("bells", 1.0)], features={5: 1.5}),
                  [Slider("bell", "/synth/feature/5", -3.0, 3.0)], sae=sae)


def plain(name="pad"):
    return Preset(name, SynthState(prompts=[PromptSlot("pad", 1.0)]), [Slider("blend", "/synth/mix/1", 0.0, 1.0)])


def test_identity_is_a_content_hash_shared_by_float16_copies(tmp_path):
    a, b = random_sae(16, 64, seed=0), random_sae(16, 64, seed=1)
    assert sae_identity(a) == sae_identity(a.half()) != sae_identity(b)
    save_sae(a.half(), tmp_path / "sae")
    back = load_sae(tmp_path / "sae")
    assert json.loads((tmp_path / "sae" / "cfg.json").read_text())["metadata"]["sae_id"] == sae_identity(back) \
        == sae_identity(a)
    assert loaded_sae(back, "x") == {"id": sae_identity(a), "name": "x", "encoder": None}


def test_the_legacy_constant_is_the_v1_sae_identity(tmp_path):
    """Presets without a record stand for the v1 MiniLM SAE: its weights (in git history since v2 shipped)
    hash to the constant."""
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    v1 = "60e8f47"   # the last commit that shipped the v1 MiniLM SAE
    for name in ("cfg.json", "sae_weights.safetensors"):
        got = subprocess.run(["git", "-C", str(repo), "show", f"{v1}:synth/models/minilm_sae/{name}"],
                             capture_output=True)
        if got.returncode != 0:
            pytest.skip(f"commit {v1} is not in this checkout's history")
        (tmp_path / name).write_bytes(got.stdout)
    assert sae_identity(load_sae(tmp_path)) == LEGACY_MINILM_SAE["id"]


def test_made_for_and_the_refusal_rules():
    assert made_for(plain(), MINILM) is None                       # no features: no SAE needed
    assert made_for(featured(), MINILM) == LEGACY_MINILM_SAE       # no record on MiniLM: the v1 SAE
    assert made_for(featured(), "google-t5/t5-base") is None       # no record elsewhere: cannot be told
    assert made_for(featured(sae=ANY), MINILM) is None
    rec = {"id": NEW["id"], "name": NEW["name"]}
    assert made_for(featured(sae=rec), MINILM) == rec
    check_preset_sae(featured(sae=rec), NEW)
    check_preset_sae(featured(), LEGACY_LOADED)
    check_preset_sae(plain(), NEW)
    check_preset_sae(featured(sae=ANY), NEW)
    check_preset_sae(featured(sae=rec), None)                      # no SAE: the controller refuses features itself
    with pytest.raises(PresetSAEMismatch) as old:
        check_preset_sae(featured(), NEW)
    msg = str(old.value)
    assert "\n" not in msg and "the v1 MiniLM SAE" in msg and LEGACY_MINILM_SAE["id"] in msg
    assert NEW["id"] in msg and "minilm_sae (bundled)" in msg and "analysis sliders" in msg and "validate-preset" in msg
    with pytest.raises(PresetSAEMismatch, match=r"made for SAE runs/x/sae \(sha256:0+bb\), but the loaded SAE is SAE minilm_sae \(bundled\) \(sha256:0+aa\)"):
        check_preset_sae(featured(sae={"id": OTHER["id"], "name": OTHER["name"]}), NEW)


def test_record_for_saves_the_loaded_sae_only_when_features_are_used():
    assert record_for(featured(), NEW) == {"id": NEW["id"], "name": NEW["name"]}
    assert record_for(plain(), NEW) is None
    assert record_for(featured(sae=ANY), NEW) == ANY
    assert record_for(featured(sae={"id": "sha256:1"}), None) == {"id": "sha256:1"}


def test_the_sae_field_round_trips_and_bad_ones_name_the_field(tmp_path):
    store = PresetStore(tmp_path)
    rec = {"id": NEW["id"], "name": NEW["name"]}
    store.save(featured(sae=rec))
    assert store.load("bells").sae == rec
    assert yaml.safe_load((tmp_path / "bells.yaml").read_text())["sae"] == rec
    store.save(plain())
    assert "sae" not in yaml.safe_load((tmp_path / "pad.yaml").read_text())   # presets without features: as before
    base = featured().to_dict()
    for bad in ({"name": "x"}, "some-sae", {"id": 3}, {"id": "a", "extra": 1}):
        with pytest.raises(PresetError, match=r"f\.yaml: sae: expected 'any'"):
            preset_from_dict({**base, "sae": bad}, "f.yaml")


def test_shipped_feature_explorer_is_for_any_sae():
    from synth.presets import SHIPPED_PRESETS

    assert load_preset_file(SHIPPED_PRESETS / "feature-explorer.yaml").sae == ANY


@pytest.fixture
def daemon_rig(tmp_path):
    """A controller over real UDP with NEW loaded (renders recorded, not run)."""
    renders = []
    controller = Controller(SynthState(), render=lambda job: renders.append(job), presets=PresetStore(tmp_path),
                            d_sae=64, sae=NEW)
    server = OscServer(controller, "127.0.0.1", 0)
    server.start()
    client = Client(server.address)
    yield controller, client, PresetStore(tmp_path)
    client.close()
    server.close()


def test_daemon_refuses_a_preset_for_another_sae_in_one_line_and_keeps_serving(daemon_rig):
    controller, client, store = daemon_rig
    store.save(featured("old"))                                            # today's presets: no record
    store.save(featured("mine", sae={"id": NEW["id"], "name": NEW["name"]}))
    store.save(plain("pad"))
    client.send("/synth/preset/load", "old")
    address, message = client.expect("/synth/error")
    assert address == "/synth/preset/load" and "\n" not in message
    assert "made for the v1 MiniLM SAE" in message and NEW["id"] in message
    assert controller.state.features == {} and controller.current_preset is None   # nothing changed
    client.send("/synth/preset/morph", "old", "pad", 0.5)
    assert "v1 MiniLM SAE" in client.expect("/synth/error")[1]
    for name in ("mine", "pad"):                                           # still serving; others load
        client.send("/synth/preset/load", name)
        client.send("/synth/ping")
        client.expect("/synth/pong")
        assert controller.current_preset.name == name
    client.send("/synth/preset/load", "mine")
    client.send("/synth/ping")
    client.expect("/synth/pong")
    assert controller.state.features == {5: 1.5}


def test_daemon_saves_the_loaded_sae_into_presets_with_features(daemon_rig):
    controller, client, store = daemon_rig
    client.send("/synth/feature/7", 2.0)
    client.send("/synth/preset/save", "with-feature")
    client.send("/synth/prompt", "warm pad")
    client.send("/synth/feature/7", 0.0)
    client.send("/synth/preset/save", "no-feature")
    client.send("/synth/ping")
    client.expect("/synth/pong")
    assert store.load("with-feature").sae == {"id": NEW["id"], "name": NEW["name"]}
    assert store.load("no-feature").sae is None


def test_engine_knows_its_sae_identity():
    from synth.config import SynthConfig
    from synth.engine import build_engine

    engine = build_engine(SynthConfig(backend="tiny", device="cpu"))
    assert engine.sae_identity == loaded_sae(engine.sae, engine.sae_id)
    assert engine.sae_identity["id"] == sae_identity(engine.sae)


def test_shipped_presets_with_features_are_for_the_shipped_sae():
    """A shipped preset's feature ids must be the bundled SAE's (after a new SAE ships, rebuild them:
    `latent-synth analysis sliders --backend score --sae synth/models/minilm_sae --reuse-labels ...`,
    docs/steering_research.md)."""
    from synth.families.score import SAE_DIR
    from synth.presets import SHIPPED_PRESETS

    bundled = loaded_sae(load_sae(SAE_DIR), "minilm_sae (bundled)")
    for path in sorted(SHIPPED_PRESETS.glob("*.yaml")):
        check_preset_sae(load_preset_file(path), bundled)
