"""SAEs on the DiT's own activations (synth/dit_sae.py, analysis/sae/dit_*.py): collected where inside
steering acts, trained with the SAE trainer, played as /synth/inside/<id> sliders."""
import copy
import dataclasses
import json

import numpy as np
import pytest
import torch

from analysis.sae.dit_activations import collect, prompt_rows
from analysis.sae.trainer import TrainConfig, train_sae
from synth.dit_sae import DitSAEError, check_dit_sae, dit_feature_shift, dit_place
from synth.sae import load_sae, random_sae, save_sae
from synth.state import PromptSlot, StateError, SynthState

pytestmark = pytest.mark.usefixtures("one_torch_thread")
STEPS = 3


def dit_sae(d_in=128, d_sae=32, site="cross", blocks=(1,)):
    sae = random_sae(d_in, d_sae, k=4)
    sae.metadata.update(dit_site=site, dit_blocks=list(blocks), feature_scale=[2.0] * d_sae)
    return sae


def test_a_feature_is_added_at_its_blocks_in_the_window_in_its_unit():
    sae = dit_sae(d_in=8, d_sae=4, blocks=(1, 3))
    shift = dit_feature_shift(sae, {2: 1.5, 0: -1.0}, n_blocks=4, steps=6, window="late")
    want = 1.5 * 2.0 * sae.W_dec[2].detach() - 1.0 * 2.0 * sae.W_dec[0].detach()
    assert shift.shape == (4, 6, 8)
    assert torch.allclose(shift[1, 4], want) and torch.allclose(shift[3, 5], want)
    assert shift[[0, 2]].abs().sum() == 0 and shift[:, :4].abs().sum() == 0
    with pytest.raises(DitSAEError, match="unknown DiT SAE feature id 4; the DiT SAE has 4 features"):
        dit_feature_shift(sae, {4: 1.0}, 4, 6, "all")


def test_a_text_sae_or_one_of_another_dit_is_refused_in_one_line():
    with pytest.raises(DitSAEError, match="not a DiT SAE"):
        dit_place(random_sae(8, 4, k=2))
    with pytest.raises(DitSAEError, match="width 8; this DiT's are 128"):
        check_dit_sae(dit_sae(d_in=8), width=128, n_blocks=4)
    with pytest.raises(DitSAEError, match=r"blocks \[5\]; this DiT has 4"):
        check_dit_sae(dit_sae(blocks=(5,)), width=128, n_blocks=4)


def test_prompt_rows_take_the_prompt_branch():
    taps = [torch.arange(12.0).reshape(4, 3) + 100 * s for s in range(2)]    # 2 steps, rows: 2 uncond + 2 prompt
    rows = prompt_rows(taps, batch=2, cfg=2.0)
    assert rows.shape == (2, 2, 3) and torch.equal(rows[1, 1], taps[1][3])
    assert torch.equal(prompt_rows(taps[:1], batch=4, cfg=1.0)[:, 0], taps[0])  # no guidance: every row is the prompt's


@pytest.fixture(scope="module")
def engine():
    from synth.config import SynthConfig
    from synth.engine import build_engine

    return build_engine(SynthConfig(backend="score", device="cpu"))


@pytest.fixture(scope="module")
def trained(engine, tmp_path_factory):
    """A small DiT SAE trained on activations the collector tapped, saved and loaded back."""
    acts = collect(engine.family, engine.cache.encode, ["a fast fiddle reel", "a slow sad cello", "bright marimba",
                                                        "a drum loop", "soft piano chords", "a brass fanfare"],
                   "cross", [1], STEPS, 2.0, 1.0, batch=3, progress=False)
    assert acts.shape == (6, STEPS, 1, 128) and np.isfinite(acts).all()
    assert not np.allclose(acts[0], acts[1])             # captions differ, so do their activations
    result = train_sae(acts.reshape(-1, 128), TrainConfig(expansion=1, k=8, epochs=2, progress=False, device="cpu"),
                       metadata={"dit_site": "cross", "dit_blocks": [1], "encoder": None})
    folder = tmp_path_factory.mktemp("dit_sae")
    save_sae(result.sae, folder)
    return load_sae(folder), str(folder)


def test_the_score_backend_brings_its_dit_sae_when_it_matches_the_model(engine):
    from pathlib import Path

    from synth.families.score import DIT_SAE_DIR

    assert engine.dit_sae_id == "score_dit_sae (bundled)" and dit_place(engine.dit_sae) == ("cross", [2])
    card = (DIT_SAE_DIR / "MODEL_CARD.md").read_text()
    assert "latent-synth analysis dit-sae" in card and "FVU on the held-apart captions" in card
    other = copy.copy(engine.family)
    other.pipe = dataclasses.replace(engine.family.pipe, transformer=copy.deepcopy(engine.family.pipe.transformer))
    with torch.no_grad():
        next(other.pipe.transformer.parameters()).add_(1.0)       # another model
    assert other.bundled_dit_sae() == (None, None)
    assert Path(DIT_SAE_DIR / "sae_weights.safetensors").stat().st_size < 2_000_000


def test_dit_sae_sliders_render_and_zero_is_bit_for_bit(engine, trained):
    from synth.denoise import denoise

    engine.set_dit_sae(*trained)

    def latents(state):
        state = engine.resolve(state)
        return denoise(engine.family, [engine.conditioning(state)] * 2, [0, 1], 1.0, STEPS, state.cfg, output="latent")

    base = SynthState(prompts=[PromptSlot("a gentle melody", 1.0)], steps=STEPS, duration=1.0)
    plain = latents(base)
    assert torch.equal(latents(base.replace(inside_features={})), plain)
    fid = int(torch.argmax(engine.dit_sae.feature_scale()))
    assert not torch.allclose(latents(base.replace(inside_features={fid: 8.0})), plain, atol=1e-3)
    assert torch.equal(latents(base), plain)                  # the shift is switched off afterwards
    assert engine.render(base.replace(inside_features={fid: 2.0}), [0]).audio.shape == (1, 2, 44100)
    with pytest.raises(ValueError, match="unknown DiT SAE feature id 100000"):
        engine.render(base.replace(inside_features={100000: 1.0}), [0])


def test_the_sidecar_says_which_dit_sae_and_where(engine, trained, tmp_path):
    engine.set_dit_sae(*trained)
    state = SynthState(prompts=[PromptSlot("a gentle melody", 1.0)], steps=STEPS, duration=1.0, inside_features={3: 2.0})
    (wav,) = engine.render_to_files(state, tmp_path, seeds=[0])
    side = json.loads(wav.with_suffix(".json").read_text())
    assert side["inside"]["dit_sae"] == {"sae": trained[1], "site": "cross", "blocks": [1], "window": "late",
                                         "features": {"3": 2.0}}
    assert side["state"]["inside_features"] == {"3": 2.0}
    # a DiT slider has no words: it takes loudness and register from the prompt's words, not the instrument
    (wav,) = engine.render_to_files(state.replace(prompts=[PromptSlot("a quiet sitar raga in a high register", 1.0)]),
                                    tmp_path, seeds=[0])
    score = json.loads(wav.with_suffix(".json").read_text())["score"]
    assert (score["dynamics_from"], score["register_from"], score["instrument_from"]) == ("steering", "steering", "words")


def test_osc_and_presets_take_dit_features_and_refuse_bad_ones(tmp_path):
    from bridge.controller import Controller
    from synth.presets import PresetStore

    none = Controller(SynthState(), render=lambda *a: None, presets=PresetStore(tmp_path / "p0"))
    (reply,) = none.handle("/synth/inside/3", [1.0])
    assert reply[0] == "/synth/error" and "no DiT SAE is loaded" in reply[1][1]
    controller = Controller(SynthState(), render=lambda *a: None, presets=PresetStore(tmp_path / "p1"), d_dit_sae=32)
    assert controller.handle("/synth/inside/3", [1.5]) == () and controller.state.inside_features == {3: 1.5}
    for bad, why in (([float("nan")], "finite"), ([2.0], "unknown DiT SAE feature id 40")):
        address = "/synth/inside/40" if "40" in why else "/synth/inside/3"
        (reply,) = controller.handle(address, bad)
        assert reply[0] == "/synth/error" and why in reply[1][1]
    assert controller.state.inside_features == {3: 1.5}      # nothing lost
    assert controller.handle("/synth/inside/3", [0.0]) == () and controller.state.inside_features == {}
    state = SynthState(inside_features={"7": 2.0})
    assert SynthState.from_dict(json.loads(json.dumps(state.to_dict()))).inside_features == {7: 2.0}
    with pytest.raises(StateError, match="inside_features"):
        SynthState(inside_features={1: "loud"})


def test_dit_sae_command_end_to_end(tmp_path, capsys):
    from bridge.cli import main

    out = tmp_path / "dit"
    assert main(["analysis", "dit-sae", "--backend", "score", "--device", "cpu", "--out", str(out), "--captions", "8",
                 "--blocks", "1", "--steps", "2", "--duration", "1", "--epochs", "1", "--expansion", "1",
                 "--screen", "2", "--screen-seeds", "2", "--jobs", "1", "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["captions_train"] + summary["captions_apart"] == 8 and summary["screened"] == 2
    assert 0 <= summary["dead_fraction"] <= 1 and np.isfinite(summary["fvu_heldout"])
    sae = load_sae(out / "sae")
    assert dit_place(sae) == ("cross", [1]) and (out / "sae" / "metrics.json").is_file()
    assert (out / "screen_dit" / "screen.md").is_file() and (out / "screen_text" / "screen.md").is_file()
    assert "4/4 DiT SAE" in capsys.readouterr().out
    card = (out / "sae" / "MODEL_CARD.md").read_text()
    assert "latent-synth analysis dit-sae --backend score" in card and "FVU on the held-apart captions" in card
    # a rerun reuses the activations it collected
    assert main(["analysis", "dit-sae", "--backend", "score", "--device", "cpu", "--out", str(out), "--captions", "8",
                 "--blocks", "1", "--steps", "2", "--duration", "1", "--epochs", "1", "--expansion", "1",
                 "--screen", "2", "--screen-seeds", "2", "--jobs", "1", "--quiet"]) == 0
    assert "1/4 activations: reusing" in capsys.readouterr().out


def test_dit_sliders_and_inside_steering_at_another_site_play_together(engine, trained):
    from synth.denoise import denoise
    from synth.state import Contrast

    engine.set_dit_sae(*trained)        # cross-attention output of block 1
    base = engine.resolve(SynthState(prompts=[PromptSlot("a gentle melody", 1.0)], steps=STEPS, duration=1.0,
                                     steering_mode="inside", inside_site="residual", inside_blocks=[0], steering_gain=2.0,
                                     contrasts={"c": Contrast("loud music", "soft music", 0.5)}))
    both = base.replace(inside_features={3: 2.0})
    cond = engine.conditioning(both)
    assert cond.inside.sites == ("cross", "residual") and cond.inside.by_site()["cross"][1].abs().sum() > 0

    def latents(state):
        return denoise(engine.family, [engine.conditioning(state)], [0], 1.0, STEPS, state.cfg, output="latent")

    together, contrast_only = latents(both), latents(base)
    dit_only = latents(both.replace(contrasts={}, steering_mode="embedding"))
    def differ(a, b):   # the contrast also moves the tempo heads, so a clip's length may differ too
        return a.shape != b.shape or not torch.allclose(a, b, atol=1e-4)

    assert differ(together, contrast_only) and differ(together, dit_only)
