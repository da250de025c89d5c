"""`analysis validate` and `validate-preset` against a DSP engine with a known answer, and the
tiny backend end to end."""
import json
import sys

import pytest
import yaml

from analysis.steering.acoustic_features import FEATURE_NAMES
from analysis.steering.validate import mode_states, parse_features, parse_modes, retention_table, run
from dsp_engine import DSPEngine
from synth.config import SynthConfig
from synth.sae import random_sae


@pytest.fixture(autouse=True)
def _private_feature_cache(tmp_path, monkeypatch):
    """validate-preset without --out caches in the user's cache folder: keep the tests out of it."""
    monkeypatch.setenv("LATENT_SYNTH_CACHE", str(tmp_path / "user-cache"))


class Args:
    def __init__(self, **kw):
        base = dict(pos="sound rhythmic", neg="sound sustained", n=6, modes="text,embedding,guidance",
                    neutral="sound", strength=0.5, gain=None, features=None, seed=0, keep_audio=False,
                    config=None, backend=None, model_id=None, device=None, sae=None, steps=None, duration=1.0,
                    batch=4, jobs=1, ray=None, ray_actors=None, cache=None, fresh=False, steering_mode=None)
        base.update(kw)
        self.__dict__.update(base)


def test_validate_finds_effect_retention_and_sign_reversal(tmp_path):
    engine = DSPEngine(sae=random_sae(8, 16, k=4))
    out = tmp_path / "val"
    assert run(Args(out=str(out), features="0=3,1=3", keep_audio=True), engine, SynthConfig(backend="random-full")) == 0
    assert engine.calls == [4, 2] * 10                        # 5 comparisons x 2 poles, batches of <= 4 seeds
    res = json.loads((out / "results.json").read_text())
    assert set(res["modes"]) == {"text", "embedding", "guidance", "feature_0", "feature_1"}
    for mode in res["modes"].values():
        assert set(mode) == {"n_a", "n_b", "features", "analysis_sr"} and mode["n_a"] == mode["n_b"] == 6
    text = res["modes"]["text"]["features"]["rms_std"]
    assert text["cohens_d"] > 3 and text["holm_p"] < 0.05
    emb = res["retention"]["embedding"]["rms_std"]
    assert 0 < emb["retention"] < 1 and not emb["sign_reversal"]
    guide = res["retention"]["guidance"]["rms_std"]
    assert guide["retention"] < 0 and guide["sign_reversal"]
    assert res["modes"]["feature_0"]["features"]["rms_std"]["cohens_d"] > 2
    assert abs(res["modes"]["feature_1"]["features"]["rms_std"]["cohens_d"]) < 2
    report = (out / "report.md").read_text()
    assert "Retention" in report and "⚠" in report and "guidance: rms_std" in report
    assert (out / "effect_sizes_by_mode.png").exists() and (out / "text" / "results.json").exists()
    assert len(list((out / "audio").rglob("*.wav"))) == 60


def test_validate_features_in_the_asked_steering_mode(tmp_path):
    engine = DSPEngine(sae=random_sae(8, 16, k=4))
    out = tmp_path / "val"
    assert run(Args(out=str(out), pos=None, neg=None, features="0=3", steering_mode="guidance"), engine,
               SynthConfig(backend="random-full")) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["modes"]) == {"feature_0"} and res["steering_mode"] == "guidance"
    assert res["modes"]["feature_0"]["features"]["rms_std"]["cohens_d"] < -2   # the DSP engine flips it in guidance
    assert "(guidance steering)" in (out / "feature_0" / "report.md").read_text()


def test_retention_table_math():
    def res(d):
        return {"features": {n: {"cohens_d": d} for n in FEATURE_NAMES}}
    table = retention_table({"text": res(2.0), "embedding": res(0.5), "guidance": res(-1.0)})
    assert table["embedding"]["tempo"] == {"d_mode": 0.5, "d_text": 2.0, "retention": 0.25, "sign_reversal": False}
    assert table["guidance"]["tempo"]["sign_reversal"] and table["guidance"]["tempo"]["retention"] == -0.5
    assert retention_table({"embedding": res(1.0)}) == {}


def test_side_by_side_reads_retention_and_selectivity_on_the_target():
    from analysis.steering.validate import side_by_side

    def res(target_d, other):
        return {"features": {n: {"cohens_d": target_d if n == "rms_mean" else other} for n in FEATURE_NAMES}}
    side = side_by_side({"text": res(2.0, 0.5), "inside": res(3.0, 1.0), "feature_3": res(9.0, 0.0)})
    assert side["target"] == "rms_mean" and set(side["modes"]) == {"text", "inside"}
    assert side["modes"]["inside"] == {"d": 3.0, "retention": 1.5, "selectivity": 3.0}
    assert side_by_side({"text": res(2.0, 0.5)}, "tempo")["modes"]["text"]["retention"] == 1.0
    with pytest.raises(ValueError, match="--target"):
        side_by_side({"text": res(2.0, 0.5)}, "loudness")


def test_parsing_and_states():
    assert parse_features("12=2, 40=1.5") == {12: 2.0, 40: 1.5}
    for bad in ("12", "x=1", "3=-1", "3=nan"):
        with pytest.raises(ValueError, match="--features"):
            parse_features(bad)
    assert parse_modes("text,guidance,text") == ["text", "guidance"]
    with pytest.raises(ValueError, match="--modes"):
        parse_modes("text,telepathy")
    base = SynthConfig(backend="random-full").state()
    plus, minus = mode_states(base, "guidance", "p", "n", "sound", 0.5, 3.0)
    assert plus.prompts[0].text == minus.prompts[0].text == "sound"
    assert plus.contrasts["validate"].strength == 0.5 and minus.contrasts["validate"].strength == -0.5
    assert plus.steering_mode == "guidance" and plus.steering_gain == 3.0
    t_plus, t_minus = mode_states(base, "text", "p", "n", "sound", 0.5, None)
    assert (t_plus.prompts[0].text, t_minus.prompts[0].text) == ("p", "n") and not t_plus.contrasts


def test_validate_bad_input(tmp_path):
    with pytest.raises(ValueError, match="--n"):
        run(Args(out=str(tmp_path), n=1), DSPEngine(), SynthConfig(backend="random-full"))
    with pytest.raises(ValueError, match="needs an SAE"):
        run(Args(out=str(tmp_path), features="3=1"), DSPEngine(), SynthConfig(backend="random-full"))
    with pytest.raises(ValueError, match="--pos and --neg"):
        run(Args(out=str(tmp_path), neg=None), DSPEngine(), SynthConfig(backend="random-full"))


def test_validate_preset_writes_validation(tmp_path):
    from analysis.steering.validate_preset import run as run_preset
    from synth.state import SynthState

    path = tmp_path / "groove.yaml"
    path.write_text(yaml.safe_dump({
        "name": "groove", "description": "test", "state": SynthState().to_dict(),
        "sliders": [{"name": "rhythm", "address": "/synth/contrast/rhythmic-sustained", "min": -2.0, "max": 2.0},
                    {"name": "cfg", "address": "/synth/cfg", "min": 3.0, "max": 9.0},
                    {"name": "seed", "address": "/synth/seed", "min": 0, "max": 100}],
        "validation": {}}))
    args = Args(preset=str(path), n=6, out=str(tmp_path / "out"))
    assert run_preset(args, DSPEngine(), SynthConfig(backend="random-full", contrasts={"rhythmic-sustained": ["sound rhythmic", "sound sustained"]})) == 0
    saved = yaml.safe_load(path.read_text())
    v = saved["validation"]
    assert v["n"] == 6 and set(v["sliders"]) == {"rhythm", "cfg", "seed"}
    assert v["sliders"]["rhythm"]["features"]["rms_std"] > 2                  # raising the slider adds rhythm
    assert v["sliders"]["rhythm"]["holm_p"]["rms_std"] < 0.05
    assert v["sliders"]["cfg"]["features"] == {}                               # the DSP engine ignores cfg
    assert "not measured" in v["sliders"]["seed"]["note"]
    assert saved["sliders"][0]["name"] == "rhythm" and saved["name"] == "groove"
    assert (tmp_path / "out" / "report.md").exists()


@pytest.fixture(scope="module")
def tiny():
    from analysis.steering.validate import engine_from_args

    return engine_from_args(Args(backend="tiny", device="cpu"))


def test_validate_end_to_end_with_the_tiny_backend(tmp_path, tiny):
    engine, config = tiny
    out = tmp_path / "val"
    args = Args(out=str(out), n=3, steps=3, duration=0.5, features="5=2", backend="tiny")
    assert run(args, engine, config) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["modes"]) == {"text", "embedding", "guidance", "feature_5"}
    assert res["backend"] == "tiny" and res["sample_rate"] == engine.sample_rate and res["steps"] == 3
    assert set(res["retention"]) == {"embedding", "guidance"}
    assert all(set(m["features"]) == set(FEATURE_NAMES) for m in res["modes"].values())
    assert "random weights" in (out / "report.md").read_text()


def test_validate_preset_with_the_tiny_backend(tmp_path, tiny):
    from analysis.steering.validate_preset import run as run_preset
    from synth.state import SynthState

    engine, config = tiny
    path = tmp_path / "p.yaml"
    state = SynthState().to_dict()
    path.write_text(yaml.safe_dump({"name": "p", "state": state, "sliders": [
        {"name": "f3", "address": "/synth/feature/3", "min": -2.0, "max": 2.0}]}))
    assert run_preset(Args(preset=str(path), n=3, steps=3, duration=0.5, out=None), engine, config) == 0
    v = yaml.safe_load(path.read_text())["validation"]
    assert v["backend"] == "tiny" and v["sliders"]["f3"]["address"] == "/synth/feature/3"
    assert isinstance(v["sliders"]["f3"]["features"], dict)


def test_an_inside_preset_ships_its_measured_vectors_beside_it(tmp_path, tiny):
    from analysis.steering.validate_preset import run as run_preset
    from synth.inside_vectors import VectorStore, load_vectors
    from synth.state import SynthState

    engine, config = tiny
    path = tmp_path / "p.yaml"
    state = SynthState(steering_mode="inside", steering_gain=2.0, inside_blocks=[1]).to_dict()
    path.write_text(yaml.safe_dump({"name": "p", "state": state, "sliders": [
        {"name": "f3", "address": "/synth/feature/3", "min": -1.0, "max": 1.0}]}))
    assert run_preset(Args(preset=str(path), n=2, steps=2, duration=0.5, out=None), engine, config) == 0
    vectors = load_vectors(tmp_path / "p.inside.safetensors")
    assert [spec["feature"] for spec, _ in vectors.values()] == [3]
    shelf = VectorStore(shelves=[tmp_path])   # what an engine serving the preset reads instead of measuring
    (spec, vec), = vectors.values()
    assert shelf.get(spec, lambda: pytest.fail("measured again")).equal(vec)


def test_out_of_range_strength_fails_before_rendering(tmp_path):
    engine = DSPEngine(sae=random_sae(8, 16, k=4))
    with pytest.raises(ValueError, match="features"):
        run(Args(out=str(tmp_path), features="2=50"), engine, SynthConfig(backend="random-full"))
    assert engine.calls == []


def test_validate_preset_unknown_contrast_fails_before_rendering_and_keeps_the_file(tmp_path):
    from analysis.steering.validate_preset import run as run_preset
    from synth.state import SynthState

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": "p", "state": SynthState().to_dict(), "sliders": [
        {"name": "a", "address": "/synth/cfg", "min": 3.0, "max": 9.0},
        {"name": "b", "address": "/synth/contrast/nowhere", "min": -1.0, "max": 1.0}]}))
    before = path.read_text()
    engine = DSPEngine()
    with pytest.raises(ValueError, match="nowhere"):
        run_preset(Args(preset=str(path), n=3, out=None), engine, SynthConfig(backend="random-full"))
    assert engine.calls == [] and path.read_text() == before


def test_validate_preset_by_name_finds_it_in_the_presets_folder(tmp_path):
    from analysis.steering.validate_preset import run as run_preset
    from synth.state import SynthState

    folder = tmp_path / "presets"
    folder.mkdir()
    path = folder / "pad.yaml"
    path.write_text(yaml.safe_dump({"name": "pad", "state": SynthState().to_dict(), "sliders": [
        {"name": "guidance", "address": "/synth/cfg", "min": 3.0, "max": 9.0}]}))
    engine = DSPEngine()
    assert run_preset(Args(preset="pad", presets=str(folder), n=3, out=None), engine, SynthConfig(backend="random-full")) == 0
    assert "guidance" in yaml.safe_load(path.read_text())["validation"]["sliders"]
    with pytest.raises(ValueError, match="name"):
        run_preset(Args(preset="../pad", presets=str(folder), n=3, out=None), engine, SynthConfig(backend="random-full"))


def test_validate_preset_never_rewrites_a_shipped_preset(tmp_path, monkeypatch):
    """A shipped preset is package data: its measured copy goes to the user's folder, where it then wins."""
    import analysis.steering.validate_preset as vp
    from synth.state import SynthState

    shipped, mine = tmp_path / "shipped", tmp_path / "mine"
    shipped.mkdir()
    (shipped / "pad.yaml").write_text(yaml.safe_dump({"name": "pad", "state": SynthState().to_dict(), "sliders": [
        {"name": "guidance", "address": "/synth/cfg", "min": 3.0, "max": 9.0}]}))
    before = (shipped / "pad.yaml").read_text()
    monkeypatch.setattr("synth.presets.SHIPPED_PRESETS", shipped)
    assert vp.run(Args(preset="pad", presets=str(mine), n=3, out=None), DSPEngine(),
                  SynthConfig(backend="random-full")) == 0
    assert (shipped / "pad.yaml").read_text() == before
    assert "guidance" in yaml.safe_load((mine / "pad.yaml").read_text())["validation"]["sliders"]


def test_a_rerun_reuses_the_feature_cache_and_fresh_ignores_it(tmp_path, capsys):
    from analysis.steering.validate_preset import run as run_preset
    from synth.state import SynthState

    config = SynthConfig(backend="random-full")
    out = tmp_path / "val"
    assert run(Args(out=str(out), modes="text"), DSPEngine(), config) == 0
    first = (out / "results.json").read_text()
    again = DSPEngine()
    assert run(Args(out=str(out), modes="text"), again, config) == 0
    assert again.calls == [] and "12 of 12 clips reused" in capsys.readouterr().out
    assert (out / "results.json").read_text() == first
    fresh = DSPEngine()
    assert run(Args(out=str(out), modes="text", fresh=True), fresh, config) == 0
    assert fresh.calls == [4, 2, 4, 2] and "0 of 12 clips reused" in capsys.readouterr().out
    more = DSPEngine()   # --keep-audio needs the WAVs too: cached features alone do not count as done
    assert run(Args(out=str(out), modes="text", keep_audio=True), more, config) == 0
    assert more.calls == [4, 2, 4, 2] and len(list((out / "audio").rglob("*.wav"))) == 12
    shared = DSPEngine()  # another folder, the same --cache: nothing to render
    assert run(Args(out=str(tmp_path / "other"), modes="text", cache=str(out / "feature_cache")), shared, config) == 0
    assert shared.calls == [] and (tmp_path / "other" / "results.json").read_text() == first

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": "p", "state": SynthState().to_dict(), "sliders": [
        {"name": "rhythm", "address": "/synth/contrast/rhythmic-sustained", "min": -2.0, "max": 2.0}]}))
    preset_config = SynthConfig(backend="random-full", contrasts={"rhythmic-sustained": ["sound rhythmic", "sound sustained"]})
    engine = DSPEngine()
    assert run_preset(Args(preset=str(path), n=4, out=None), engine, preset_config) == 0
    assert engine.calls == [4, 4] and list((tmp_path / "user-cache").rglob("*.json"))   # no --out: the user cache
    again = DSPEngine()
    assert run_preset(Args(preset=str(path), n=4, out=None), again, preset_config) == 0
    assert again.calls == []


def test_ray_flag_without_ray_installed_is_one_line(tmp_path, capsys, monkeypatch):
    from bridge.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)    # import ray -> ImportError, as without the [scale] extra
    argv = ["analysis", "validate", "--backend", "tiny", "--pos", "a", "--neg", "b", "--n", "4", "--ray", "local",
            "--out", str(tmp_path / "v")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'latent-audio-synth[scale]'" in err[0]
    assert not (tmp_path / "v").exists()
