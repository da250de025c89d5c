"""The daemon's one announcement path: the controller publishes every state change, the OSC server
forwards what clients hear, the jam follows the state; and the address table is what dispatch reads."""
import types

from bridge.controller import Controller
from bridge.events import ERROR, RENDERED, STATE_CHANGED, Events
from bridge.jam.player import JamPlayer
from bridge.osc_server import OscServer
from bridge.testing.osc_daemon import Client
from synth.addresses import ADDRESSES, lookup, split
from synth.presets import PresetStore
from synth.state import SynthState


def test_every_state_change_is_published_with_the_new_state_and_refusals_are_not(tmp_path):
    events, heard = Events(), []
    events.subscribe(lambda address, args: heard.append((address, args)))
    controller = Controller(SynthState(), render=lambda job: None, presets=PresetStore(tmp_path), d_sae=16,
                            events=events)
    controller.handle("/synth/feature/3", [1.5])
    controller.handle("/synth/prompt/2", ["bells"])
    controller.handle("/synth/preset/save", ["mine"])
    assert [a for a, _ in heard] == [STATE_CHANGED] * 3
    assert heard[0][1][0].features == {3: 1.5} and heard[1][1][0].prompts[2].text == "bells"
    assert heard[2][1][0] is controller.state and controller.state.name == "mine"
    (reply,) = controller.handle("/synth/feature/99", [1.0])           # refused: nothing changed, nothing said
    assert reply[0] == ERROR and len(heard) == 3


def test_the_osc_server_forwards_rendered_and_errors_but_not_state_changes(tmp_path):
    events = Events()
    controller = Controller(SynthState(), render=lambda job: None, presets=PresetStore(tmp_path), events=events)
    server = OscServer(controller, "127.0.0.1", 0, events=events)
    server.start()
    client = Client(server.address)
    try:
        client.send("/synth/ping")
        client.expect("/synth/pong")
        events.publish(STATE_CHANGED, (SynthState(),))
        events.publish(RENDERED, ["/tmp/a.wav", 1, 2.0, "jam"])
        events.publish(ERROR, ["/synth/jam", "late"])
        assert client.recv(1.0) == (RENDERED, ["/tmp/a.wav", 1, 2.0, "jam"])
        assert client.recv(1.0) == (ERROR, ["/synth/jam", "late"])
        assert client.recv(0.2) is None
    finally:
        client.close()
        server.close()
    events.publish(RENDERED, ["/tmp/b.wav", 1, 2.0, "final"])          # a closed server has unsubscribed


def test_the_jam_renders_from_the_state_the_controller_announced(tmp_path):
    events = Events()
    first, later = SynthState(bpm=96.0), SynthState(bpm=140.0)
    player = JamPlayer(types.SimpleNamespace(family=None), first, events, tmp_path)
    assert player.state is first and player.bpm() == 96.0
    events.publish(STATE_CHANGED, (later,))
    assert player.state is later and player.bpm() == 140.0


def test_the_table_is_what_dispatch_reads():
    assert lookup("/synth/feature/12").pattern == "/synth/feature/<id>"
    assert lookup("/synth/feature/info").pattern == "/synth/feature/info"
    assert lookup("/synth/feature/x") is None and lookup("/synth/nope") is None
    assert split("/synth/mix/x") == (lookup("/synth/mix/0"), "x")   # refused by its handler, by name
    handlers = {a.handler for a in ADDRESSES if a.handler is not None}
    assert all(callable(getattr(Controller, f"_{h}")) for h in handlers)
    numeric = [a.pattern for a in ADDRESSES if a.setter is not None]
    assert all(a.handler == "numeric" and a.range is not None for a in ADDRESSES if a.setter is not None)
    assert "/synth/bpm" in numeric and "/synth/feature/<id>" in numeric and "/synth/render" not in numeric
