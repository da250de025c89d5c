import json
from pathlib import Path

import pytest
import yaml

from synth.presets import (
    OVERRIDES, SHIPPED, SHIPPED_PRESETS, USER, Preset, PresetError, PresetStore, Slider, load_preset_file, morph, save_preset_file, validate_name,
)
from synth.state import Contrast, PromptSlot, StateError, SynthState

REPO_PRESETS = Path(__file__).resolve().parents[1] / "presets"


def test_shipped_presets_load_and_have_sliders():
    store = PresetStore(REPO_PRESETS)
    names = store.names()
    assert len(names) >= 4
    for name in names:
        preset = store.load(name)
        assert preset.name == name
        assert preset.sliders, f"{name} has no sliders"
        assert preset.description


def test_shipped_presets_are_the_repo_folder_and_ship_as_package_data():
    import tomllib

    assert SHIPPED_PRESETS.resolve() == REPO_PRESETS.resolve()
    assert (SHIPPED_PRESETS / "score-sliders.yaml").is_file()
    data = tomllib.loads((REPO_PRESETS.parent / "pyproject.toml").read_text())
    assert "shipped_presets/*.yaml" in data["tool"]["setuptools"]["package-data"]["synth"]


def test_user_presets_override_shipped_ones(tmp_path):
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    PresetStore(shipped).save(Preset("pad", SynthState(seed=1)))
    PresetStore(shipped).save(Preset("drone", SynthState(seed=2)))
    store = PresetStore(user, shipped)
    assert store.names() == ["drone", "pad"] and store.sources() == {"drone": SHIPPED, "pad": SHIPPED}
    assert store.load("pad").state.seed == 1
    with pytest.raises(PresetError, match="read-only"):
        store.delete("pad")
    assert store.save(Preset("pad", SynthState(seed=7))) == user / "pad.yaml"   # saves never touch shipped
    store.save(Preset("mine", SynthState(seed=3)))
    assert store.sources() == {"drone": SHIPPED, "mine": USER, "pad": OVERRIDES}
    assert store.load("pad").state.seed == 7 and PresetStore(shipped).load("pad").state.seed == 1
    store.delete("pad")   # removes the user's copy: the shipped one is back
    assert store.load("pad").state.seed == 1
    with pytest.raises(PresetError, match="no preset named 'nope' in .*user or the shipped presets"):
        store.load("nope")


def test_preset_cli_shows_a_shipped_preset_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)   # no ./presets here
    assert cli("preset", "show", "score-sliders", "--json") == 0
    assert json.loads(capsys.readouterr().out)["name"] == "score-sliders"


def test_round_trip(tmp_path):
    store = PresetStore(tmp_path)
    state = SynthState(prompts=[PromptSlot("pad", 0.7), PromptSlot("bells", 0.2)], features={5: 1.5}, seed=9, cfg=4.0)
    preset = Preset("my-pad_1", state, [Slider("bell", "/synth/mix/1", 0.0, 1.0)], "desc", {"ok": True})
    path = store.save(preset)
    assert path == tmp_path / "my-pad_1.yaml"
    back = store.load("my-pad_1")
    assert back.state.to_dict() == state.to_dict()
    assert back.sliders == preset.sliders and back.validation == {"ok": True} and back.description == "desc"
    assert store.names() == ["my-pad_1"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left
    store.delete("my-pad_1")
    assert store.names() == []
    with pytest.raises(PresetError, match="no preset"):
        store.delete("my-pad_1")


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "x.yaml", "name with space", "..", "é", "a" * 101])
def test_bad_names_are_refused_and_nothing_written(tmp_path, bad):
    store = PresetStore(tmp_path / "presets")
    with pytest.raises(PresetError, match="not allowed"):
        store.save(Preset(bad, SynthState()))
    with pytest.raises(PresetError):
        store.load(bad)
    with pytest.raises(PresetError):
        store.delete(bad)
    assert not any(tmp_path.rglob("*.yaml"))


def test_validate_name_ok():
    assert validate_name("Warm-Pad_2") == "Warm-Pad_2"


def _write(tmp_path, data, name="p.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize("data,field", [
    ({"name": "p", "state": {"cfg": "high"}}, "state.cfg"),
    ({"name": "p", "state": {"seed": 1.5}}, "state.seed"),
    ({"name": "p"}, "state"),
    ({"name": "p", "state": {}, "colour": "red"}, "colour"),
    ({"name": "../p", "state": {}}, "name"),
    ({"name": "p", "state": {}, "sliders": [{"name": "a", "address": "/synth/nope", "min": 0, "max": 1}]}, "sliders[0].address"),
    ({"name": "p", "state": {}, "sliders": [{"name": "a", "address": "/synth/mix/0", "min": 0, "max": 2}]}, "sliders[0].max"),
    ({"name": "p", "state": {}, "sliders": [{"name": "a", "address": "/synth/mix/0", "min": 0}]}, "sliders[0].max"),
    ({"name": "p", "state": {}, "sliders": "x"}, "sliders"),
    ({"name": "p", "state": {"prompts": [{"text": "a", "weight": -1}]}}, "state.prompts[0].weight"),
])
def test_schema_errors_name_field_and_file(tmp_path, data, field):
    path = _write(tmp_path, data)
    with pytest.raises(PresetError) as info:
        load_preset_file(path)
    message = str(info.value)
    assert str(path) in message and field in message and "\n" not in message


def test_unsafe_yaml_is_not_executed(tmp_path):
    path = _write(tmp_path, "name: p\nstate: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(PresetError, match="yaml"):
        load_preset_file(path)
    assert not Path("pwned").exists()


def test_save_refuses_invalid_preset_and_keeps_old_file(tmp_path):
    path = tmp_path / "p.yaml"
    save_preset_file(Preset("p", SynthState()), path)
    before = path.read_text()
    with pytest.raises(PresetError):
        save_preset_file(Preset("p", SynthState(), [Slider("s", "/synth/mix/0", 0.0, 5.0)]), path)
    assert path.read_text() == before


def test_morph_interpolates_and_crossfades():
    a = SynthState(prompts=[PromptSlot("pad", 1.0)], features={1: 2.0}, cfg=4.0, duration=4.0, seed=1, steps=100,
                   contrasts={"c": Contrast("x", "y", 2.0)})
    b = SynthState(prompts=[PromptSlot("drums", 1.0)], features={2: -4.0}, cfg=8.0, duration=8.0, seed=2, steps=50)
    m = morph(a, b, 0.25)
    weights = {p.text: p.weight for p in m.prompts if p.text}
    assert weights == pytest.approx({"pad": 0.75, "drums": 0.25})
    assert m.features == pytest.approx({1: 1.5, 2: -1.0})
    assert m.cfg == pytest.approx(5.0) and m.duration == pytest.approx(5.0)
    assert m.steps == 88 and m.seed == 1
    # steps left unset (the backend's default) come from the nearer end instead of a number
    unset = a.replace(steps=None)
    assert morph(unset, b, 0.25).steps is None and morph(unset, b, 0.75).steps == 50
    assert m.contrasts["c"].strength == pytest.approx(1.5)
    assert morph(a, b, 0.0).to_dict()["prompts"][0] == {"text": "pad", "weight": 1.0}
    end = morph(a, b, 1.0)
    assert end.seed == 2 and end.features == {2: -4.0} and [p.text for p in end.active_prompts()] == ["drums"]
    # shared prompt text adds up instead of taking two slots
    same = morph(a, SynthState(prompts=[PromptSlot("pad", 0.5)]), 0.5)
    assert [(p.text, p.weight) for p in same.active_prompts()] == [("pad", pytest.approx(0.75))]
    with pytest.raises(StateError):
        morph(a, b, 1.5)


# ---------------------------------------------------------------------- `latent-synth preset ...`
def cli(*argv):
    from bridge.cli import main

    return main(list(argv))


def test_preset_cli_save_list_show_delete(tmp_path, capsys):
    d = str(tmp_path)
    assert cli("preset", "save", "night-pad", "--presets", d, "--prompt", "dark pad", "--prompt", "rain",
               "--set", "/synth/cfg", "4", "--set", "/synth/mix/1", "0.3",
               "--slider", "rain", "/synth/mix/1", "0", "1", "--description", "rainy") == 0
    assert capsys.readouterr().out.strip().endswith("night-pad.yaml")
    assert cli("preset", "list", "--presets", d) == 0
    listed = capsys.readouterr().out.splitlines()
    assert "night-pad" in listed and "score-sliders\t(shipped, read-only)" in listed
    assert cli("preset", "show", "night-pad", "--presets", d, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["state"]["cfg"] == 4.0 and shown["state"]["prompts"][1] == {"text": "rain", "weight": 0.3}
    assert shown["sliders"] == [{"name": "rain", "address": "/synth/mix/1", "min": 0.0, "max": 1.0}]
    # no silent overwrite
    assert cli("preset", "save", "night-pad", "--presets", d) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli("preset", "delete", "night-pad", "--presets", d) == 0
    assert PresetStore(tmp_path).names() == []


def test_preset_cli_from_a_clip_sidecar(tmp_path, capsys):
    side = tmp_path / "clip.json"
    side.write_text(json.dumps({"file": "clip.wav", "state": SynthState(seed=33, cfg=3.5).to_dict()}))
    assert cli("preset", "save", "from-clip", "--presets", str(tmp_path / "p"), "--state", str(side)) == 0
    preset = PresetStore(tmp_path / "p").load("from-clip")
    assert preset.state.seed == 33 and preset.state.cfg == 3.5 and preset.state.name == "from-clip"


@pytest.mark.parametrize("argv,needle", [
    (["preset", "save", "../evil"], "not allowed"),
    (["preset", "show", "missing"], "no preset"),
    (["preset", "delete", "../../etc/passwd"], "not allowed"),
    (["preset", "save", "x", "--set", "/synth/cfg", "999"], "cfg"),
    (["preset", "save", "x", "--slider", "s", "/synth/nope", "0", "1"], "sliders[0].address"),
])
def test_preset_cli_errors_are_one_line(tmp_path, capsys, argv, needle):
    assert cli(*argv, "--presets", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("latent-synth: error:") and needle in err and len(err.splitlines()) == 1
    assert not list(tmp_path.parent.glob("evil*")) and not list(tmp_path.glob("*.yaml"))


def test_validation_results_with_numpy_values_are_saved_as_plain_yaml(tmp_path):
    import numpy as np

    preset = Preset("v", SynthState(), [Slider("s", "/synth/mix/0", 0.0, 1.0)],
                    validation={"sliders": [{"p": np.float32(0.01), "n": np.int64(8), "ids": np.arange(3)}]})
    save_preset_file(preset, tmp_path / "v.yaml")
    back = load_preset_file(tmp_path / "v.yaml")
    assert back.validation == {"sliders": [{"p": pytest.approx(0.01), "n": 8, "ids": [0, 1, 2]}]}


@pytest.mark.parametrize("damage", ["invalid-yaml", "truncated-mid-text", "truncated-half", "empty"])
def test_a_corrupt_preset_is_one_line_error_and_the_others_still_load(tmp_path, damage):
    store = PresetStore(tmp_path)
    store.save(Preset("good", SynthState(prompts=[PromptSlot("glass bells", 1.0)], cfg=4.0)))
    path = store.save(Preset("other", SynthState(prompts=[PromptSlot("warm analog pad", 1.0)], cfg=5.0),
                             [Slider("air", "/synth/mix/1", 0.0, 1.0)]))
    text = path.read_text()
    path.write_text({
        "invalid-yaml": "name: other\nstate: {prompts: [{text: pad, weight: 1.0}\n",
        # still valid YAML: without the end line it would load as the prompt "warm ana"
        "truncated-mid-text": text[: text.index("warm analog pad") + len("warm ana")],
        "truncated-half": text[: len(text) // 2],
        "empty": "",
    }[damage])
    with pytest.raises(PresetError) as err:
        store.load("other")
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert store.names() == ["good", "other"]          # listing never parses the files
    assert store.load("good").state.cfg == 4.0


def test_hand_written_presets_without_the_end_line_still_load(tmp_path):
    (tmp_path / "mine.yaml").write_text("name: mine\nstate: {seed: 4}\n")
    assert PresetStore(tmp_path).load("mine").state.seed == 4
    saved = PresetStore(tmp_path).save(Preset("saved", SynthState(seed=5)))
    assert saved.read_text().rstrip().endswith("# end of preset")


def test_the_score_inside_preset_loads_from_any_folder(tmp_path):
    from synth.inside_vectors import preset_vectors_path

    store = PresetStore(tmp_path / "mine", SHIPPED_PRESETS)
    preset = store.load("score-inside")
    assert preset.state.steering_mode == "inside" and preset.state.inside_blocks == [1]
    assert preset.state.inside_site == "residual" and any(sl.address.startswith("/synth/inside/") for sl in preset.sliders)
    assert preset_vectors_path(SHIPPED_PRESETS / "score-inside.yaml") == SHIPPED_PRESETS / "score-inside.inside.safetensors"
