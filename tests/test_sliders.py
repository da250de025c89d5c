"""`analysis sliders`: one command from a backend's text encoder to a playable slider preset, and the
engine's refusal of an SAE trained on another encoder."""
import contextlib
import csv
import io
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest

from analysis.sae.sliders import choose_sliders, slider_name
from analysis.sae.effects import effect_of_name
from synth.presets import load_preset_file

WORDS = ["piano", "guitar", "drums", "violin", "synth", "choir", "flute", "rain", "dog", "engine", "bell", "crowd"]
ADJ = ["soft", "loud", "bright", "dark", "fast", "slow", "warm", "distorted"]


def cli(*args, check=True):
    """The console script in-process (saves a second of imports per call)."""
    from bridge.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    res = SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())
    if check and code != 0:
        raise AssertionError(res.stderr[-2000:])
    return res


def test_slider_name_uses_shared_words_and_stays_unique():
    prompts = ["a solo piano melody", "slow piano solo", "piano solo in a hall", "the rain"]
    assert slider_name(prompts) == "solo-piano"
    assert slider_name(prompts, {"solo-piano"}) == "solo-piano-2"
    assert slider_name(["the a of"]) == "feature"


def test_choose_sliders_prefers_selective_and_skips_near_duplicates():
    W = np.eye(4, 8)
    W[1] = W[0] + 0.01  # feature 1 points where feature 0 does
    feats = [{"id": i, "top": [{"text": "x"}], "density": 0.05, "selectivity": s, "mean_activation": 1.0}
             for i, s in enumerate([5.0, 4.0, 3.0, None])]
    feats[2]["density"] = 0.9  # fires on almost everything: not a slider
    assert choose_sliders(feats, W, 3) == [0, 3]


def test_choose_sliders_prefers_coherent_caption_features_and_filters_by_topic():
    def feat(i, texts, source="audiocaps"):
        return {"id": i, "top": [{"text": t, "source": source} for t in texts], "density": 0.05,
                "selectivity": 1.0, "mean_activation": 1.0}

    feats = [feat(0, ["dog barks", "a cat", "rain falls"]),                  # incoherent
             feat(1, ["a church bell rings", "church bell", "bells of a church"]),
             feat(2, ["happy Yoruba song", "happy Yoruba music", "happy Yoruba dance"], "probe-tradition"),
             feat(3, ["solo piano", "piano chords", "electric piano"])]
    W = np.eye(4, 8)
    assert choose_sliders(feats, W, 4)[:2] == [1, 3] and 2 not in choose_sliders(feats, W, 4)
    assert choose_sliders(feats, W, 4, about=["piano", "drums"]) == [3]


@pytest.fixture(scope="module")
def sliders_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sliders")
    src = root / "sources" / "audiocaps"
    src.mkdir(parents=True)
    rng = np.random.default_rng(0)
    with open(src / "train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["audiocap_id", "youtube_id", "start_time", "caption"])
        for i in range(400):
            w.writerow([i, "x", 0, f"{rng.choice(ADJ)} {rng.choice(WORDS)} with {rng.choice(ADJ)} {rng.choice(WORDS)}"])
    for name in ("val", "test"):
        (src / f"{name}.csv").write_text("audiocap_id,youtube_id,start_time,caption\n")
    out = root / "out"
    args = ["analysis", "sliders", "--backend", "tiny-sa3", "--sources", str(root / "sources"), "--only", "audiocaps",
            "--no-probes", "--epochs", "2", "--expansion", "4", "--k", "16", "--sliders", "4", "--out", str(out),
            "--screen", "8", "--screen-seeds", "3", "--validate-n", "3", "--duration", "1", "--batch", "3",
            "--contrast", "loud-soft=loud|soft", "--min-d", "0.05", "--min-selectivity", "1"]
    first = cli(*args)
    again = cli(*args)  # resumable: every step is reused
    return out, first.stdout, again.stdout


def test_sliders_writes_sae_atlas_labels_and_preset(sliders_run):
    out, first, again = sliders_run
    assert "6/7 sliders" in first and "cached" in again and "reusing" in again
    assert re.search(r"\b(\d+) of \1 clips reused", again)   # the rerun renders nothing: the feature cache
    for name in ("screen.md", "screen.json", "screen.csv"):
        assert (out / "screen" / name).is_file()
    screen = json.loads((out / "screen" / "screen.json").read_text())
    assert {r["id"] for r in screen["rows"]} >= {"loud-soft"} and len(screen["rows"]) >= 2
    assert "random weights" in (out / "screen" / "screen.md").read_text()
    cfg = json.loads((out / "sae" / "cfg.json").read_text())
    assert cfg["metadata"]["encoder"] == "tiny-t5gemma" and cfg["d_sae"] == 128
    assert (out / "atlas" / "atlas.json").is_file()
    labels = json.loads((out / "sae" / "labels.json").read_text())["features"]
    preset = load_preset_file(out / "presets" / "tiny-sa3-sliders.yaml")
    kept = [r for r in screen["rows"] if r["drop"] is None]
    assert kept, "with --min-d 0.05 some candidate is kept"
    # every kept slider went through validate-preset: named by its validated effect, or dropped saying why
    assert "7/7 validation" in first and preset.validation["n"] == 3
    chosen = min(sum(isinstance(r["id"], int) for r in kept), 4) + sum(isinstance(r["id"], str) for r in kept)
    assert first.count("DROPPED slider") + len(preset.sliders) == chosen
    for s in preset.sliders:
        assert set(preset.validation["sliders"][s.name]["effect"]) == {"feature", "d", "selectivity"}
    assert set(preset.validation["sliders"]) == {s.name for s in preset.sliders}
    for s in preset.sliders:
        feature, sign = effect_of_name(s.name)   # named by its measured effect, atlas label beside
        assert preset.validation["sliders"][s.name]["features"][feature] * sign > 0
    sliders = {s.address.rsplit("/", 1)[1]: s.name for s in preset.sliders}
    for r in screen["rows"]:   # /synth/feature/info's measured effect: validated for sliders, else the screen's
        if isinstance(r["id"], int):
            effect = labels[str(r["id"])]["effect"]
            if str(r["id"]) in sliders:
                assert effect.startswith(sliders[str(r["id"])].split(" (")[0] + ": ") and "validate-preset" in effect
            else:
                assert effect.startswith(f"{r['word']}: {r['target']} d ")


def test_the_preset_records_its_sae_and_is_refused_with_another(sliders_run, tmp_path):
    from synth.presets import Slider, save_preset_file
    from synth.sae import load_sae, sae_identity

    out, _, _ = sliders_run
    preset = load_preset_file(out / "presets" / "tiny-sa3-sliders.yaml")
    assert preset.sae == {"id": sae_identity(load_sae(out / "sae")), "name": str(out / "sae")}
    # a feature slider of that SAE (validation may have dropped them all) ...
    preset.sliders = [Slider("f0", "/synth/feature/0", -2.0, 2.0)]
    save_preset_file(preset, tmp_path / "p.yaml")
    # ... is refused with the tiny-sa3 backend's own (random) SAE, another SAE: one line, exit 2
    res = cli("analysis", "validate-preset", str(tmp_path / "p.yaml"), "--backend", "tiny-sa3", "--n", "2",
              check=False)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert f"made for SAE {out / 'sae'}" in res.stderr and "random-sae" in res.stderr


def test_sae_from_own_encoder_renders_and_others_are_refused(sliders_run, tmp_path):
    out, _, _ = sliders_run
    fid = json.loads((out / "screen" / "screen.json").read_text())["rows"][0]["id"]
    common = ["render", "--prompt", "warm analog pad", "--sae", str(out / "sae"), "--feature", f"{fid}=2",
              "--seed", "7", "--duration", "1", "--out", str(tmp_path)]
    ok = cli(*common, "--backend", "tiny-sa3")
    assert ok.stdout.strip().splitlines()[-1].endswith(".wav")
    # tiny's encoder is as wide (32) as tiny-sa3's, but it is another encoder: exit 2 and one line
    bad = cli(*common, "--backend", "tiny", check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "tiny-t5gemma" in bad.stderr and "tiny-t5" in bad.stderr
    val = cli("analysis", "validate", "--backend", "tiny", "--sae", str(out / "sae"), "--pos", "a", "--neg", "b",
              "--n", "2", "--out", str(tmp_path / "v"), check=False)
    assert val.returncode == 2 and val.stderr.strip() == bad.stderr.strip()
