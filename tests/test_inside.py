"""Inside steering (synth/inside.py, synth/inside_vectors.py): directions added in the DiT's blocks."""
import dataclasses
import functools

import numpy as np
import pytest
import torch

from synth.backends import load_backend
from synth.conditioning import EncodingCache, build_conditioning
from synth.denoise import denoise
from synth.inside import SITES, InsideShift, Where, install, row_shifts, window_steps
from synth.inside_vectors import InsideSteering, VectorStore, load_vectors, mean_activations, one_prompt, save_vectors
from synth.state import Contrast, PromptSlot, StateError, SynthState

STEPS = 5


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@functools.lru_cache(maxsize=None)
def family(backend: str):
    fam = load_backend(backend, device="cpu")
    return fam, EncodingCache(fam.encoder.encode)


def state(**kw):
    return SynthState(**{"prompts": [PromptSlot("a gentle melody", 1.0)], "steps": STEPS, "cfg": 2.0,
                         "duration": 1.0, **kw})


def render(backend, cond, seeds=(0, 1), fam=None):
    fam = fam or family(backend)[0]
    return denoise(fam, [cond] * len(seeds), list(seeds), 1.0, STEPS, 2.0, output="latent")


def shift_of(backend, site, value=0.0):
    """A constant shift [blocks, steps, D], sized from a tapped pass."""
    acts = mean_activations(family(backend)[0], build_conditioning(state(), family(backend)[1].encode), [0],
                            1.0, STEPS, 2.0)
    return InsideShift(site, torch.full(acts.shape[1:], float(value)))


@pytest.mark.parametrize("backend", ["tiny", "tiny-sa3", "score"])
def test_a_zero_direction_renders_bit_for_bit_what_an_unpatched_model_renders(backend):
    fam, cache = family(backend)
    cond = build_conditioning(state(), cache.encode)
    before = render(backend, cond) if backend != "score" else None
    fresh = load_backend(backend, device="cpu")          # never installed
    plain = render(backend, cond, fam=fresh)
    if before is not None:
        assert torch.equal(before, plain)
    for site in SITES:
        steered = render(backend, dataclasses.replace(cond, inside=shift_of(backend, site, 0.0)))
        assert torch.equal(steered, plain), site
    assert torch.equal(render(backend, cond), plain)    # installed, not steering: the same too


@pytest.mark.parametrize("backend", ["tiny", "tiny-sa3", "score"])
def test_a_direction_moves_the_render_and_is_switched_off_afterwards(backend):
    fam, cache = family(backend)
    cond = build_conditioning(state(), cache.encode)
    plain = render(backend, cond)
    for site in SITES:
        moved = render(backend, dataclasses.replace(cond, inside=shift_of(backend, site, 0.5)))
        assert not torch.equal(moved, plain), site
    assert torch.equal(render(backend, cond), plain)   # the shifts went back to zero


def test_steps_outside_the_window_are_untouched():
    fam, cache = family("score")
    cond = build_conditioning(state(), cache.encode)
    full = shift_of("score", "residual", 0.3)
    late = Where("residual", None, "late").mask(full.shifts.shape[0], STEPS)
    only_late = InsideShift("residual", full.shifts * late[..., None])
    a = render("score", dataclasses.replace(cond, inside=full))
    b = render("score", dataclasses.replace(cond, inside=only_late))
    c = render("score", cond)
    assert not torch.equal(a, b) and not torch.equal(b, c)


def test_installing_twice_wraps_once():
    fam, _ = family("tiny")
    assert install(fam.pipe.transformer) is install(fam.pipe.transformer) is fam.inside_hooks()
    assert type(fam.pipe.transformer.transformer_blocks[0].inner).__name__ == "StableAudioDiTBlock"


def test_compiled_inside_steering_matches_eager():
    eager_fam = load_backend("tiny", device="cpu")
    compiled = load_backend("tiny", device="cpu")
    compiled.compile(backend="aot_eager")
    assert type(compiled.pipe.transformer).__name__ == "OptimizedModule"
    cache = EncodingCache(eager_fam.encoder.encode)
    cond = build_conditioning(state(), cache.encode)
    shift = shift_of("tiny", "cross", 0.0)
    for value in (0.0, 0.4):
        c = dataclasses.replace(cond, inside=InsideShift("cross", torch.full_like(shift.shifts, value)))
        np.testing.assert_array_equal(render("tiny", c, fam=eager_fam), render("tiny", c, fam=compiled))
    assert torch.equal(render("tiny", cond, fam=compiled), render("tiny", cond, fam=eager_fam))


def test_row_shifts_leave_the_unconditional_branch_alone():
    plans = [InsideShift("cross", torch.ones(2, 3, 4) * (i + 1)) for i in range(2)]
    rows = row_shifts(plans, 1, uncond=1, cond=1)
    assert rows.shape == (4, 2, 4)
    assert torch.equal(rows[:2], torch.zeros(2, 2, 4)) and rows[2, 0, 0] == 1 and rows[3, 0, 0] == 2


def test_windows_and_blocks():
    assert window_steps("early", 12) == [0, 1, 2, 3] and window_steps("late", 12) == [8, 9, 10, 11]
    assert window_steps("all", 3) == [0, 1, 2]
    m = Where("cross", (1,), "middle").mask(4, 6)
    assert m.sum() == 2 and m[1, 2] == 1 and m[1, 3] == 1
    with pytest.raises(ValueError, match="do not exist"):
        Where("cross", (7,)).mask(4, 6)
    with pytest.raises(ValueError, match="site"):
        Where("sideways")


def test_the_state_carries_the_inside_settings():
    s = state(steering_mode="inside", inside_blocks=[3, 1, 1], inside_window="late", inside_site="residual")
    assert s.inside_blocks == [1, 3]
    assert SynthState.from_dict(s.to_dict()) == s
    with pytest.raises(StateError, match="inside_window"):
        state(inside_window="soon")
    with pytest.raises(StateError, match="inside_blocks"):
        state(inside_blocks=[])
    with pytest.raises(StateError, match="steering_mode"):
        state(steering_mode="outside")


def test_a_contrast_of_a_prompt_with_itself_is_zero_and_is_measured_once(tmp_path):
    fam, cache = family("score")
    store = VectorStore(tmp_path / "vectors")
    steering = InsideSteering(fam, cache.encode, store, seeds=(0, 1))
    s = state()
    same = steering.contrast(s, "music", "music")
    assert same.shape[:3] == (len(SITES), 4, STEPS) and torch.equal(same, torch.zeros_like(same))
    fs = steering.contrast(s, "fast music", "slow music")
    assert fs.abs().sum() > 0 and store.measured == 2
    assert torch.equal(steering.contrast(s, "fast music", "slow music"), fs) and store.measured == 2
    # a new store resumes from the files
    again = InsideSteering(fam, cache.encode, VectorStore(tmp_path / "vectors"), seeds=(0, 1))
    assert torch.equal(again.contrast(s, "fast music", "slow music"), fs) and again.store.measured == 0
    files = list((tmp_path / "vectors").glob("*.inside.safetensors"))
    assert len(files) == 2 and all(len(load_vectors(f)) == 1 for f in files)


def test_the_shift_follows_strength_gain_blocks_and_window():
    fam, cache = family("score")
    steering = InsideSteering(fam, cache.encode, seeds=(0,))
    con = {"fs": Contrast("fast music", "slow music", 2.0)}
    s = state(steering_mode="inside", contrasts=con, steering_gain=0.5, inside_blocks=[2], inside_window="early",
              inside_site="cross")
    shift = steering.shift(s)
    vec = steering.contrast(s, "fast music", "slow music")[SITES.index("cross")]
    assert torch.allclose(shift.shifts[2, :2], vec[2, :2])          # 2 x 0.5 x the vector
    assert shift.shifts[2, 2:].abs().sum() == 0 and shift.shifts[[0, 1, 3]].abs().sum() == 0
    assert steering.shift(s.replace(steering_mode="embedding")) is None
    assert steering.shift(s.replace(contrasts={})) is None
    described = steering.describe(s)
    assert described.pop("heads")["tempo"] == pytest.approx(steering.head_shift(s)["tempo"], abs=1e-4)
    assert described == {"site": "cross", "blocks": [2], "window": "early", "steps": [0, 1],
                         "strength": 0.5, "contrasts": {"fs": 2.0}, "features": {}, "vector_seeds": 1}


def test_a_preset_shelf_supplies_vectors_without_measuring(tmp_path):
    fam, cache = family("score")
    first = InsideSteering(fam, cache.encode, VectorStore(), seeds=(0,))
    vec = first.contrast(state(), "fast music", "slow music")
    save_vectors(tmp_path / "mine.inside.safetensors", first.store.entries())
    (tmp_path / "broken.inside.safetensors").write_bytes(b"not safetensors")
    shelf = InsideSteering(fam, cache.encode, VectorStore(shelves=[tmp_path]), seeds=(0,))
    assert torch.equal(shelf.contrast(state(), "fast music", "slow music"), vec) and shelf.store.measured == 0


def test_feature_sliders_are_carried_inside():
    from synth.config import SynthConfig
    from synth.engine import build_engine

    engine = build_engine(SynthConfig(backend="tiny", device="cpu"))
    s = engine.resolve(state(steering_mode="inside", features={5: 2.0}, inside_window="all"))
    one = engine.inside.feature(s, engine.sae, engine.sae_id, 5)
    shift = engine.conditioning(s).inside
    assert shift.site == "residual"   # the default site: the sweep's better one
    assert one.abs().sum() > 0 and torch.allclose(shift.shifts, 2.0 * one[SITES.index("residual")])
    assert not np.array_equal(engine.render(s, [0]).audio, engine.render(s.replace(features={}), [0]).audio)
    with pytest.raises(ValueError, match="inside steering takes"):
        engine.conditioning(s, torch.ones(engine.encoder.dim))


def test_inside_steering_moves_the_score_models_text_heads_as_the_text_would():
    """The score model reads tempo and drums from the text with its heads; inside steering leaves the text
    alone, so it adds the contrast's difference of the heads' outputs instead (no gain: a head's output is
    the clip's whole decision)."""
    fam, cache = family("score")
    steer = InsideSteering(fam, cache.encode, VectorStore())
    s = state(steering_mode="inside", steering_gain=8.0,
              contrasts={"pace": Contrast("fast music", "slow music", 0.5)})
    heads = steer.head_shift(s)
    fast, slow = (fam.head_readings(build_conditioning(one_prompt(s, t), cache.encode)) for t in ("fast music", "slow music"))
    assert set(heads) == set(fam.heads) == {"tempo", "drums", "held"}
    assert heads["tempo"] == pytest.approx(0.5 * (fast["tempo"] - slow["tempo"])) and heads["tempo"] > 0.3
    plain = build_conditioning(s, cache.encode)
    steered = dataclasses.replace(plain, inside=InsideShift("cross", torch.zeros(1), heads=heads))
    assert fam.predicted_bpm(steered) == pytest.approx(fam.predicted_bpm(plain) * 2 ** heads["tempo"], rel=1e-3)
    assert fam.words_plan(steered).steered == frozenset()     # "a gentle melody" fixes no tempo to free
    assert steer.head_shift(s.replace(contrasts={})) == {} and family("tiny")[0].head_readings(plain) == {}


def test_one_prompt_drops_the_steering():
    s = one_prompt(state(steering_mode="inside", features={3: 1.0}), "fast music")
    assert s.active_prompts()[0].text == "fast music" and not s.features and s.steering_mode == "embedding"


def test_the_model_fingerprint_survives_installing_and_tells_models_apart():
    from synth.inside_vectors import model_fingerprint

    fresh = load_backend("tiny", device="cpu")
    before = model_fingerprint(fresh.pipe.transformer)
    fresh.inside_hooks()
    assert model_fingerprint(fresh.pipe.transformer) == before != model_fingerprint(family("tiny-sa3")[0].pipe.transformer)


def test_osc_takes_the_inside_mode(tmp_path):
    from bridge.controller import Controller
    from synth.presets import PresetStore

    controller = Controller(SynthState(), render=lambda *a: None, presets=PresetStore(tmp_path / "presets"))
    assert controller.handle("/synth/steering/mode", ["inside"]) == ()
    assert controller.state.steering_mode == "inside"
    (reply,) = controller.handle("/synth/steering/mode", ["outside"])
    assert reply[0] == "/synth/error" and controller.state.steering_mode == "inside"
