"""`analysis sonify` grids: planning, rendering through an engine, the index files."""
import csv
import json
import re

import pytest

from analysis.steering.sonify import parse_contrasts, parse_floats, plan, run
from dsp_engine import DSPEngine
from synth.config import SynthConfig
from synth.sae import random_sae


class Args:
    def __init__(self, **kw):
        base = dict(features=None, n_features=3, atlas=None, strengths="-2,-1,0,1,2", contrast=[],
                    contrast_strengths="-3,-2,-1,0,1,2,3", no_features=False, no_contrasts=False, all_contrasts=False,
                    neutral="sound", seed=7, gain=None, steering_mode=None, config=None, backend=None, model_id=None,
                    device=None, sae=None, steps=None, duration=0.5, batch=8, jobs=1)
        base.update(kw)
        self.__dict__.update(base)


def test_sonify_writes_grids_and_index(tmp_path):
    engine = DSPEngine(sae=random_sae(8, 16, k=4))
    out = tmp_path / "son"
    args = Args(out=str(out), contrast=["rhythm=sound rhythmic|sound sustained"])
    assert run(args, engine, SynthConfig(backend="random-full")) == 0
    # 3 features x 5 strengths + 1 contrast x (7 strengths + 2 text references)
    with open(out / "index.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 15 + 9 and all((out / r["file"]).is_file() for r in rows)
    assert len({r["file"] for r in rows}) == 24 - 3       # strength 0 is rendered once, shared
    assert engine.calls == [8, 8, 5]                         # 21 unique clips in batches of 8
    assert {r["seed"] for r in rows} == {"7"}
    refs = [r for r in rows if r["reference"]]
    assert sorted((r["reference"], r["prompt"]) for r in refs) == [("negative", "sound sustained"),
                                                                    ("positive", "sound rhythmic")]
    assert [float(r["strength"]) for r in rows if r["grid"] == "contrast" and not r["reference"]] == [-3, -2, -1, 0, 1, 2, 3]
    index = json.loads((out / "index.json").read_text())
    assert index["features"] == [0, 1, 2] and len(index["clips"]) == 24
    page = (out / "index.md").read_text()
    links = re.findall(r"\]\(([^)]+\.wav)\)", page)
    assert len(links) == 24 and all((out / link).is_file() for link in links)
    # the DSP engine's rhythm rises with the contrast strength: peak-to-RMS must follow
    rms = {float(r["strength"]): float(r["rms"]) for r in rows if r["grid"] == "contrast" and not r["reference"]}
    assert rms[-3] > rms[3]


def test_sonify_without_sae_skips_features_and_uses_config_contrasts(tmp_path):
    config = SynthConfig(backend="random-full", contrasts={"bright-dark": ["bright sound", "dark sound"]})
    assert run(Args(out=str(tmp_path / "o"), contrast_strengths="-1,1"), DSPEngine(), config) == 0
    index = json.loads((tmp_path / "o" / "index.json").read_text())
    assert index["features"] == [] and set(index["contrasts"]) == {"bright-dark"} and len(index["clips"]) == 4
    with pytest.raises(ValueError, match="needs an SAE"):
        run(Args(out=str(tmp_path / "p"), features="1,2"), DSPEngine(), config)
    with pytest.raises(ValueError, match="nothing to sonify"):
        run(Args(out=str(tmp_path / "p"), no_contrasts=True), DSPEngine(), config)


def test_parsers_and_plan():
    assert parse_floats("-1, 0,2.5", "--s") == [-1.0, 0.0, 2.5]
    with pytest.raises(ValueError, match="--s"):
        parse_floats("a,b", "--s")
    assert parse_contrasts(["x=a b|c d"]) == {"x": ("a b", "c d")}
    with pytest.raises(ValueError, match="NAME=POSITIVE"):
        parse_contrasts(["x=a b"])
    base = SynthConfig(backend="random-full").state()
    items = plan(base, [4], [-1, 0, 1], {"c": ("p", "n")}, [-3, 3])
    assert [it["file"] for it in items] == [
        "features/feature_00004_s-1.wav", "neutral.wav", "features/feature_00004_s+1.wav",
        "contrasts/c_s-3.wav", "contrasts/c_s+3.wav", "contrasts/c_text-positive.wav", "contrasts/c_text-negative.wav"]
    assert items[0]["state"].features == {4: -1} and items[1]["state"].features == {}
    assert items[3]["state"].contrasts["c"].strength == -3


def test_sonify_with_the_tiny_backend(tmp_path):
    from analysis.steering.validate import engine_from_args

    args = Args(out=str(tmp_path / "son"), backend="tiny", device="cpu", n_features=2, strengths="-1,0,1",
                contrast_strengths="-3,0,3", steps=3, duration=0.5)
    engine, config = engine_from_args(args)
    assert run(args, engine, config) == 0
    index = json.loads((tmp_path / "son" / "index.json").read_text())
    # 2 features x 3 strengths + the config's contrasts x (3 strengths + 2 text references)
    assert len(index["clips"]) == 6 + 5 * len(config.contrasts)
    assert index["sae"] and index["backend"] == "tiny"
    import soundfile as sf
    for clip in index["clips"]:
        info = sf.info(str(tmp_path / "son" / clip["file"]))
        assert info.samplerate == engine.sample_rate and info.channels == 2
        assert abs(info.duration - 0.5) < 0.1
