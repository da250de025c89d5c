"""The score backend through the whole instrument: `serve --backend score` over real UDP with its bundled
MiniLM SAE (named feature sliders out of the box), the shipped score-sliders preset, and `analysis sonify`
writing each grid cell's decoded score. These are properties of our score model, not of Stable Audio."""
import json
import shutil
from pathlib import Path

import mido
import pytest

from analysis.steering.sonify import run as sonify
from bridge.testing.osc_daemon import Daemon
from synth.presets import load_preset_file

REPO = Path(__file__).resolve().parents[1]
PIANO = 1590  # the bundled SAE's feature whose top prompts are "Piano", "Electric piano", ...


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("score"), "--backend", "score")
    yield d
    d.kill()


def test_feature_info_names_the_bundled_features(client):
    client.send("/synth/feature/info", PIANO)
    fid, text, effect = client.expect("/synth/feature/info")
    assert fid == PIANO and text.split(" | ")[:2] == ["Piano", "Electric piano"]
    client.send("/synth/feature/info", 999999)
    address, message = client.expect("/synth/error")
    assert address == "/synth/feature/info" and "6144 features" in message


def test_the_shipped_preset_plays_named_sliders_and_writes_the_score(daemon, client):
    daemon.presets.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "presets" / "score-sliders.yaml", daemon.presets)
    preset = load_preset_file(REPO / "presets" / "score-sliders.yaml")
    slider = next(s for s in preset.sliders if s.address.startswith("/synth/feature/"))
    fid = int(slider.address.rsplit("/", 1)[1])
    client.send("/synth/preset/load", "score-sliders")
    client.send("/synth/state")
    state = json.loads(client.expect("/synth/state")[0])
    assert state["name"] == "score-sliders" and str(fid) in state["features"]
    assert state["steps"] == 12 and state["cfg"] == 2.0          # the score backend's own defaults
    # /synth/feature/info says what the slider measurably does, in the words of its name
    client.send("/synth/feature/info", fid)
    _, prompts, effect = client.expect("/synth/feature/info")
    assert prompts and effect.startswith(slider.name.split(" (")[0] + ": ")
    client.send("/synth/duration", 4.0)
    client.send(f"/synth/feature/{fid}", 4.0)
    client.send("/synth/render")
    path, seed, seconds, kind = client.expect("/synth/rendered", 120)
    assert (seed, kind) == (preset.state.seed, "final") and seconds == pytest.approx(4.0, abs=0.01)
    side = json.loads(Path(path).with_suffix(".json").read_text())
    assert side["backend"] == "score" and side["state"]["features"][str(fid)] == 4.0
    score = side["score"]
    assert 50 <= score["bpm"] <= 180 and score["voices"]
    midi = mido.MidiFile(Path(path).with_suffix(".mid"))
    pitched = [t for t in midi.tracks if t.name.split(":")[0] in ("melody", "harmony", "bass")]
    played = {t.name.split(":")[0]: sum(1 for m in t if m.type == "note_on" and m.velocity > 0) for t in pitched}
    played = {role: n for role, n in played.items() if n}
    assert played == {v["role"]: v["notes"] for v in score["voices"]}   # the sidecar counts what the MIDI plays


def test_variation_of_a_dragged_in_midi_file_over_osc(daemon, client):
    client.send("/synth/duration", 3.0)
    client.send("/synth/render")
    source = Path(client.expect("/synth/rendered", 120)[0]).with_suffix(".mid")
    client.send("/synth/variation", str(source), 0.3)
    path, _, seconds, kind = client.expect("/synth/rendered", 120)
    side = json.loads(Path(path).with_suffix(".json").read_text())
    assert kind == "final" and seconds == pytest.approx(3.0, abs=0.01)
    assert side["variation"] == {"init": str(source), "strength": pytest.approx(0.3)} and Path(path).with_suffix(".mid").is_file()
    for args, needle in (((str(source), 1.5), "outside"), (("/no/such.mid", 0.5), "no such file"), ((0.5,), "(s f)")):
        client.send("/synth/variation", *args)
        address, message = client.expect("/synth/error")
        assert address == "/synth/variation" and needle in message
    client.send("/synth/variation", path, 0.5)          # a WAV on the score backend: refused in one line
    address, message = client.expect("/synth/error", 60)
    assert address == "/synth/render" and ".mid file" in message
    client.send("/synth/ping")
    assert client.expect("/synth/pong") == []


class Args:
    def __init__(self, **kw):
        base = dict(features=f"{PIANO},2965", n_features=2, atlas=None, strengths="-4,0,4", contrast=[],
                    contrast_strengths="-2,2", no_features=False, no_contrasts=False, all_contrasts=False,
                    neutral="music", seed=1, gain=None, steering_mode=None, config=None, backend="score",
                    model_id=None, device="cpu", sae=None, steps=None, duration=3.0, batch=8, jobs=1, ray=None,
                    ray_actors=None)
        base.update(kw)
        self.__dict__.update(base)


def test_sonify_on_the_score_backend_writes_each_cells_score(tmp_path):
    out = tmp_path / "son"
    assert sonify(Args(out=str(out), contrast=["tempo=fast music|slow music"])) == 0
    index = json.loads((out / "index.json").read_text())
    wavs = {c["file"] for c in index["clips"]}
    assert len(wavs) == 2 * 2 + 1 + 4    # 2 features at ±4, the shared neutral, 2 contrast strengths + 2 texts
    for wav in wavs:
        side = json.loads((out / wav).with_suffix(".json").read_text())
        assert (out / wav).with_suffix(".mid").is_file() and side["score"]["voices"]
    assert all(c["score"]["bpm"] > 0 for c in index["clips"])
    assert index["feature_labels"][str(PIANO)] == "Piano"
    page = (out / "index.md").read_text()
    assert f"#{PIANO} (Piano)" in page and "score -4 → +4" in page and "score text − → +" in page
    assert " bpm" in page and "property of this model, not of Stable Audio" in page
