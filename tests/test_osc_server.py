"""The OSC address space over real UDP, without an engine: renders are recorded, not run."""
import json
import math
import struct

import pytest

from synth.addresses import ADDRESSES
from bridge.controller import Controller
from bridge.osc_server import AllowList, OscServer
from synth.presets import PresetStore
from synth.state import SynthState
from bridge.testing.osc_daemon import Client

D_SAE = 32


@pytest.fixture
def rig(tmp_path):
    renders = []
    controller = Controller(
        SynthState(),
        render=lambda job: renders.append((job.state, job.seeds, max(0.0, round(job.not_before - job.submitted, 6)), job.reason)),
        presets=PresetStore(tmp_path / "presets"),
        contrast_defs={"bright-dark": ("bright", "dark")},
        d_sae=D_SAE,
        debounce=0.1,
    )
    server = OscServer(controller, "127.0.0.1", 0)
    server.start()
    client = Client(server.address)
    yield controller, server, client, renders
    client.close()
    server.close()


def state_of(client):
    client.send("/synth/state")
    return json.loads(client.expect("/synth/state")[0])


def test_numeric_addresses_apply_int_or_float(rig):
    controller, server, client, renders = rig
    client.send("/synth/seed", 7.0)
    client.send("/synth/mix/1", 0.5)
    client.send("/synth/feature/12", 2)
    client.send("/synth/contrast/bright-dark", -1.5)
    client.send("/synth/steps", 20.0)
    client.send("/synth/cfg", 3)
    client.send("/synth/duration", 2.5)
    client.send("/synth/bpm", 120)
    client.send("/synth/bars", 2.0)
    client.send("/synth/steering/gain", 2.0)
    client.send("/synth/steering/mode", "guidance")
    client.send("/synth/mixmode", "guidance")
    client.send("/synth/arrangement", "solo")
    client.send("/synth/prompt", "warm pad")
    client.send("/synth/prompt/3", "bells")
    s = state_of(client)
    assert s["seed"] == 7 and isinstance(s["seed"], int)
    assert s["prompts"][1]["weight"] == 0.5
    assert s["features"] == {"12": 2.0}
    assert s["contrasts"]["bright-dark"] == {"positive": "bright", "negative": "dark", "strength": -1.5}
    assert s["steps"] == 20 and s["cfg"] == 3.0 and s["duration"] == 2.5 and s["bpm"] == 120 and s["bars"] == 2
    assert s["steering_gain"] == 2.0 and s["steering_mode"] == "guidance" and s["mix_mode"] == "guidance"
    assert s["arrangement"] == "solo"
    assert s["prompts"][0]["text"] == "warm pad" and s["prompts"][3]["text"] == "bells"
    SynthState.from_dict(s)  # the JSON reply is a valid state
    client.send("/synth/features/clear")
    client.send("/synth/arrangement", "auto")
    assert state_of(client)["features"] == {} and state_of(client)["arrangement"] is None
    assert renders == []  # auto is off


@pytest.mark.parametrize("address,args,types,needle", [
    ("/synth/nope", [1.0], None, "unknown address"),
    ("/synth/seed", [], None, "one number"),
    ("/synth/seed", ["x"], None, "number"),
    ("/synth/seed", [1, 2], None, "one number"),
    ("/synth/seed", [7.5], None, "integer"),
    ("/synth/cfg", [math.nan], None, "finite"),
    ("/synth/cfg", [math.inf], ["d"], "finite"),
    ("/synth/cfg", [-1.0], None, "outside"),
    ("/synth/mix/0", [2.0], None, "outside"),
    ("/synth/mix/9", [0.5], None, "slot"),
    ("/synth/feature/32", [1.0], None, "unknown feature"),
    ("/synth/feature/1", [20.0], None, "outside"),
    ("/synth/contrast/nope", [1.0], None, "unknown contrast"),
    ("/synth/prompt", [3.0], None, "string"),
    ("/synth/prompt/8", ["x"], None, "slot"),
    ("/synth/steering/mode", ["sideways"], None, "embedding"),
    ("/synth/arrangement", ["trio"], None, "drums-only"),
    ("/synth/auto", [2], None, "outside"),
    ("/synth/render", [0], None, "outside"),
    ("/synth/render", [1.5], None, "whole"),
    ("/synth/preset/load", ["../x"], None, "not allowed"),
    ("/synth/preset/save", ["../x"], None, "not allowed"),
    ("/synth/preset/load", ["missing"], None, "no preset"),
    ("/synth/preset/morph", ["a", "b"], None, "two preset names"),
    ("/synth/learn", ["/synth/mix/0"], None, "no MIDI input"),
    ("/synth/learn", ["/synth/nope"], None, "cannot be mapped"),
    ("/synth/reply_to", ["x"], None, "port"),
    ("/synth/seed", [True], ["T"], "boolean"),
    ("/synth/features/clear", [1], None, "no arguments"),
])
def test_bad_input_gets_error_and_server_keeps_serving(rig, address, args, types, needle):
    controller, server, client, renders = rig
    before = controller.state.to_dict()
    client.send(address, *args, types=types)
    err_address, message = client.expect("/synth/error")
    assert err_address == address and needle in message
    assert controller.state.to_dict() == before  # nothing half-applied
    client.send("/synth/ping")
    assert client.expect("/synth/pong") == []


@pytest.mark.parametrize("dgram,address", [
    (b"/synth/\xff\x00\x00\x00,f\x00\x00" + struct.pack(">f", 1.0), "/synth/"),
    (b"/synth/prompt\x00\x00\x00,s\x00\x00\xc3\x28\x00\x00", "/synth/prompt"),
    (b"/synth/seed\x00,i\x00\x00\x00\x01", "/synth/seed"),
    (b"/synth/seed\x00,[i]\x00\x00\x00\x00\x00\x00\x00\x01", "/synth/seed"),
])
def test_undecodable_and_truncated_messages_get_error(rig, dgram, address):
    controller, server, client, renders = rig
    client.raw(dgram)
    err_address, message = client.expect("/synth/error")
    assert err_address.startswith(address)
    client.send("/synth/ping")
    assert client.expect("/synth/pong") == []


def test_non_osc_datagrams_are_dropped_silently(rig, caplog):
    controller, server, client, renders = rig
    with caplog.at_level("DEBUG", logger="bridge.osc_server"):
        server._debug = True
        for junk in (b"junk", b"\x00\x00\x00\x00", b"GET / HTTP/1.0\r\n\r\n"):
            client.raw(junk)
        client.send("/synth/ping")
        assert client.expect("/synth/pong") == []
    assert client.drain() == []
    assert any("non-OSC" in r.message for r in caplog.records)


def test_render_and_batch_seeds(rig):
    controller, server, client, renders = rig
    client.send("/synth/seed", 10)
    client.send("/synth/render")
    client.send("/synth/render", 3.0)
    client.send("/synth/ping")
    client.expect("/synth/pong")
    assert [r[1] for r in renders] == [[10], [10, 11, 12]]
    assert all(r[2] == 0.0 for r in renders)


def test_auto_render_debounced_on_change(rig):
    controller, server, client, renders = rig
    client.send("/synth/auto", 1.0)
    client.send("/synth/cfg", 5.0)
    client.send("/synth/prompt", "x")
    client.send("/synth/ping")
    client.expect("/synth/pong")
    assert len(renders) == 2 and all(r[2] == 0.1 for r in renders)
    assert renders[-1][0].prompts[0].text == "x" and renders[-1][0].cfg == 5.0
    client.send("/synth/auto", 0)
    client.send("/synth/cfg", 6.0)
    client.send("/synth/ping")
    client.expect("/synth/pong")
    assert len(renders) == 2


def test_presets_save_list_load_morph(rig, tmp_path):
    controller, server, client, renders = rig
    client.send("/synth/prompt", "pad")
    client.send("/synth/cfg", 4.0)
    client.send("/synth/preset/save", "a")
    client.send("/synth/prompt", "drums")
    client.send("/synth/cfg", 8.0)
    client.send("/synth/preset/save", "b")
    client.send("/synth/preset/list")
    assert client.expect("/synth/preset/list") == ["a", "b"]
    client.send("/synth/preset/load", "a")
    s = state_of(client)
    assert s["prompts"][0]["text"] == "pad" and s["cfg"] == 4.0 and s["name"] == "a"
    client.send("/synth/preset/morph", "a", "b", 0.5)
    s = state_of(client)
    assert s["cfg"] == 6.0
    assert {p["text"]: p["weight"] for p in s["prompts"] if p["text"]} == {"pad": 0.5, "drums": 0.5}
    client.send("/synth/preset/morph", "a", "b", 1.5)
    assert "outside" in client.expect("/synth/error")[1]
    assert sorted(p.name for p in (tmp_path / "presets").iterdir()) == ["a.yaml", "b.yaml"]


def test_reply_to_redirects_replies_for_that_ip(rig):
    controller, server, client, renders = rig
    listener = Client(server.address)
    client.send("/synth/reply_to", float(listener.port))
    client.send("/synth/ping")
    assert listener.expect("/synth/pong") == []
    assert client.drain() == []
    listener.close()


def test_rendered_broadcast_reaches_recent_clients(rig):
    controller, server, client, renders = rig
    other = Client(server.address)
    other.send("/synth/ping")
    other.expect("/synth/pong")
    client.send("/synth/ping")
    client.expect("/synth/pong")
    server.broadcast("/synth/rendered", ["/tmp/x.wav", 3, 1.5])
    for c in (client, other):
        assert c.expect("/synth/rendered") == ["/tmp/x.wav", 3, 1.5]
    other.close()


def test_allow_list_ignores_other_senders(tmp_path):
    controller = Controller(SynthState(), render=lambda *a: None, presets=PresetStore(tmp_path))
    server = OscServer(controller, "127.0.0.1", 0, AllowList(["10.0.0.0/8"]))
    server.start()
    client = Client(server.address)
    try:
        client.send("/synth/ping")
        client.send("/synth/seed", 5)
        assert client.recv(0.3) is None
        assert controller.state.seed == 0 and server.dropped == 2
    finally:
        client.close()
        server.close()
    assert AllowList(["127.0.0.1"])("127.0.0.1") and not AllowList(["127.0.0.1"])("127.0.0.2")
    with pytest.raises(ValueError, match="not-an-ip"):
        AllowList(["not-an-ip"])


def test_every_table_address_is_dispatched(rig):
    """No address in the documented table falls through to 'unknown address'."""
    controller, server, client, renders = rig
    concrete = {"<slot>": "1", "<id>": "2", "<name>": "bright-dark"}
    sent = []
    for entry in ADDRESSES:
        address = entry.pattern
        for k, v in concrete.items():
            address = address.replace(k, v)
        client.send(address)
        sent.append(address)
    client.send("/synth/bogus")
    replies = []
    while (got := client.recv(0.5)) is not None:
        replies.append(got)
        if got == ("/synth/error", ["/synth/bogus", "unknown address"]):
            break
    unknown = [args[0] for a, args in replies if a == "/synth/error" and args[1] == "unknown address"]
    assert unknown == ["/synth/bogus"], unknown


def test_docs_table_lists_every_address_and_reply():
    from pathlib import Path

    from synth.addresses import REPLIES

    doc = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = {line.split("|")[1].strip().strip("`") for line in doc.splitlines() if line.startswith("| `/synth")}
    assert {a.pattern for a in ADDRESSES} <= rows
    assert {a.pattern for a in REPLIES} <= rows


def test_unwritable_presets_folder_is_an_error_reply(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    controller = Controller(SynthState(), render=lambda *a: None, presets=PresetStore(blocker / "presets"))
    (reply,) = controller.handle("/synth/preset/save", ["p"])
    assert reply[0] == "/synth/error" and reply[1][0] == "/synth/preset/save"
    assert controller.handle("/synth/ping", []) == (("/synth/pong", []),)


def test_feature_info_replies_with_the_features_top_prompts(tmp_path):
    """/synth/feature/info <id> -> /synth/feature/info i s s (prompts, measured effect), from the SAE's
    labels.json, through a real engine."""
    from synth.config import SynthConfig
    from synth.engine import build_engine
    from synth.sae import random_sae, save_sae

    sae = random_sae(32, 16, seed=0)
    sae.metadata["encoder"] = "tiny-t5"
    save_sae(sae, tmp_path / "sae")
    (tmp_path / "sae" / "labels.json").write_text(json.dumps(
        {"features": {"3": {"top": ["solo piano", "piano chords"], "effect": "brighter: d +1.20"}}}))
    engine = build_engine(SynthConfig(backend="tiny", device="cpu", sae=str(tmp_path / "sae")))
    controller = Controller(SynthState(), render=lambda *a: None, presets=PresetStore(tmp_path / "p"),
                            d_sae=engine.d_sae, feature_info=engine.feature_info, feature_effect=engine.feature_effect)
    assert controller.handle("/synth/feature/info", [3.0]) == (
        ("/synth/feature/info", [3, "solo piano | piano chords", "brighter: d +1.20"]),)
    (_, (fid, prompts, effect)), = controller.handle("/synth/feature/info", [4])   # labelled SAE, quiet feature
    assert (fid, prompts) == (4, "") and effect.startswith("not measured")
    (address, (where, message)), = controller.handle("/synth/feature/info", [16])
    assert address == "/synth/error" and where == "/synth/feature/info" and "16 features" in message
    (address, (_, message)), = controller.handle("/synth/feature/info", ["x"])
    assert address == "/synth/error" and "number" in message
