import mido
import pytest
import yaml

from bridge.controller import Controller
from bridge.midi_input import MidiLearn, MidiTranslator
from bridge.midi_map import CCMapping, MidiMap, MidiMapError, load_midi_map, midi_map_from_dict, save_midi_map, shape
from synth.presets import Preset, PresetStore
from synth.state import SynthState


@pytest.mark.parametrize("curve", ["linear", "exponential", "logarithmic"])
def test_curves_fix_the_ends_and_are_monotonic(curve):
    xs = [i / 100 for i in range(101)]
    ys = [shape(x, curve) for x in xs]
    assert ys[0] == pytest.approx(0.0) and ys[-1] == pytest.approx(1.0)
    assert all(b > a for a, b in zip(ys, ys[1:]))


def test_exponential_is_fine_at_the_bottom_and_log_at_the_top():
    assert shape(0.5, "exponential") < 0.5 < shape(0.5, "logarithmic")
    for x in (0.1, 0.5, 0.9):  # the two curves are inverses of each other
        assert shape(shape(x, "logarithmic"), "exponential") == pytest.approx(x)


@pytest.fixture
def rig(tmp_path):
    renders = []
    store = PresetStore(tmp_path / "presets")
    for name, cfg in (("b-second", 5.0), ("a-first", 3.0)):
        store.save(Preset(name, SynthState(cfg=cfg)))
    learn = MidiLearn()
    controller = Controller(SynthState(), render=lambda job: renders.append((job.state, job.seeds)),
                            presets=store, d_sae=64, learn=learn.arm)
    mapping = midi_map_from_dict({
        "cc": [
            {"channel": 1, "cc": 74, "address": "/synth/feature/12", "min": -5, "max": 5},
            {"cc": 1, "bits": 14, "address": "/synth/mix/1", "min": 0, "max": 1},
            {"cc": 20, "address": "/synth/cfg", "min": 1, "max": 11, "curve": "exponential"},
            {"cc": 21, "address": "/synth/seed", "min": 0, "max": 100},
            {"cc": 64, "address": "/synth/render"},
        ],
        "notes": {"render": True, "velocity": {"address": "/synth/steering/gain", "min": 0, "max": 2}},
    })
    path = tmp_path / "map.yaml"
    translator = MidiTranslator(mapping, controller, path, learn=learn)
    return controller, translator, renders, path


def cc(control, value, channel=0):
    return mido.Message("control_change", channel=channel, control=control, value=value)


def test_cc_maps_with_range_channel_and_curve(rig):
    controller, translator, renders, _ = rig
    translator.feed(cc(74, 127))
    assert controller.state.features == {12: 5.0}
    translator.feed(cc(74, 0, channel=1))  # channel 2: not mapped
    assert controller.state.features == {12: 5.0}
    translator.feed(cc(20, 64))
    assert 1.0 < controller.state.cfg < 1 + 10 * (64 / 127)  # exponential sits below linear
    translator.feed(cc(21, 127))
    assert controller.state.seed == 100 and isinstance(controller.state.seed, int)


def test_14_bit_cc(rig):
    controller, translator, renders, _ = rig
    translator.feed(cc(1, 64))          # MSB alone: LSB counts as 0
    assert controller.state.prompts[1].weight == pytest.approx((64 << 7) / 16383)
    translator.feed(cc(33, 127))        # LSB refines it
    assert controller.state.prompts[1].weight == pytest.approx(((64 << 7) | 127) / 16383)
    translator.feed(cc(1, 127))
    translator.feed(cc(33, 127))
    assert controller.state.prompts[1].weight == pytest.approx(1.0)


def test_note_on_renders_with_velocity_and_cc_trigger(rig):
    controller, translator, renders, _ = rig
    translator.feed(mido.Message("note_on", note=60, velocity=127))
    assert len(renders) == 1 and renders[0][0].steering_gain == pytest.approx(2.0)
    translator.feed(mido.Message("note_on", note=60, velocity=0))   # a note-off in disguise
    translator.feed(mido.Message("note_off", note=60))
    assert len(renders) == 1
    translator.feed(cc(64, 127))
    translator.feed(cc(64, 0))
    assert len(renders) == 2


def test_program_change_loads_nth_preset_in_name_order(rig):
    controller, translator, renders, _ = rig
    translator.feed(mido.Message("program_change", program=0))
    assert controller.state.name == "a-first" and controller.state.cfg == 3.0
    translator.feed(mido.Message("program_change", program=1))
    assert controller.state.name == "b-second"
    translator.feed(mido.Message("program_change", program=5))  # no such preset: ignored
    assert controller.state.name == "b-second"


def test_out_of_range_mapping_reports_error_and_keeps_state(rig):
    controller, translator, renders, _ = rig
    translator.mapping.cc.append(CCMapping(address="/synth/cfg", min=0, max=500, cc=30))
    before = controller.state
    replies = translator.feed(cc(30, 127))
    assert replies and replies[0][0] == "/synth/error" and controller.state == before


def test_learn_maps_next_cc_and_saves_the_file(rig):
    controller, translator, renders, path = rig
    assert controller.handle("/synth/learn", ["/synth/feature/3"]) == ()
    translator.feed(cc(10, 127, channel=2))
    assert controller.state.features[3] == 10.0  # learned with the address's default range
    translator.feed(cc(10, 0, channel=2))
    assert controller.state.features[3] == -10.0
    saved = load_midi_map(path)
    learned = [m for m in saved.cc if m.cc == 10]
    assert learned and learned[0].channel == 3 and learned[0].address == "/synth/feature/3"
    assert len(saved.cc) == len(translator.mapping.cc)
    # the learn is consumed: the next CC 11 is not mapped
    translator.feed(cc(11, 5))
    assert len(load_midi_map(path).cc) == len(saved.cc)


def test_mapping_file_round_trip_and_errors(tmp_path):
    m = MidiMap(cc=[CCMapping(address="/synth/mix/2", min=0.0, max=1.0, curve="logarithmic", cc=3, channel=None, bits=14)])
    path = tmp_path / "m.yaml"
    save_midi_map(m, path)
    assert load_midi_map(path) == m
    for data, field in [
        ({"cc": [{"cc": 200, "address": "/synth/cfg"}]}, "cc[0].cc"),
        ({"cc": [{"cc": 40, "bits": 14, "address": "/synth/cfg"}]}, "cc[0].cc"),
        ({"cc": [{"cc": 1, "address": "/synth/prompt"}]}, "cc[0].address"),
        ({"cc": [{"cc": 1, "address": "/synth/cfg", "curve": "wobbly"}]}, "cc[0].curve"),
        ({"cc": [{"cc": 1, "address": "/synth/cfg", "channel": 0}]}, "cc[0].channel"),
        ({"notes": {"velocity": {"address": "/synth/cfg", "min": "lo"}}}, "notes.velocity.min"),
        ({"bogus": 1}, "bogus"),
    ]:
        path.write_text(yaml.safe_dump(data))
        with pytest.raises(MidiMapError) as info:
            load_midi_map(path)
        assert str(path) in str(info.value) and field in str(info.value)


@pytest.mark.parametrize("damage", ["invalid-yaml", "truncated"])
def test_a_corrupt_mapping_file_is_one_line_error(tmp_path, damage):
    path = tmp_path / "map.yaml"
    save_midi_map(midi_map_from_dict({"cc": [{"cc": 20, "address": "/synth/cfg", "min": 1, "max": 9},
                                             {"cc": 21, "address": "/synth/seed"}]}), path)
    text = path.read_text()
    # truncated after the first mapping: valid YAML that would silently drop CC 21
    path.write_text("cc:\n  - {cc: 20, address: /synth/cfg\n" if damage == "invalid-yaml"
                    else text[: text.index("- channel", text.index("cc: 20"))])
    with pytest.raises(MidiMapError) as err:
        load_midi_map(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    (tmp_path / "hand.yaml").write_text("cc:\n  - {cc: 7, address: /synth/cfg}\n")  # no end line: trusted
    assert load_midi_map(tmp_path / "hand.yaml").cc[0].cc == 7
