"""The web surface's parts without a browser: the message checks, the clip names a page may fetch, the piano
roll of a .mid, the preset's validated effects, and the coalescing of state changes."""
import asyncio
import json
import types

import mido
import pytest

from bridge.events import RENDERED, STATE_CHANGED
from bridge.web.clips import ClipRefused, ClipRegistry
from bridge.web.hub import Hub
from bridge.web.messages import MAX_MESSAGE, BadMessage, FloodGuard, RateLimit, parse_message
from bridge.web.piano_roll import piano_roll
from bridge.web.preset_view import preset_view
from synth.presets import SHIPPED_PRESETS, PresetStore
from synth.state import SynthState


@pytest.mark.parametrize("text, address, words", [
    ('{"address": "/synth/cfg", "args": [NaN]}', "/synth/cfg", "NaN is not a number JSON allows"),
    ('{"address": "/synth/cfg", "args": [Infinity]}', "/synth/cfg", "Infinity"),
    ('{"address": "/synth/cfg", "args": [-1e999]}', "/synth/cfg", "out of a float's range"),
    ('{"address": "/synth/cfg", "args": [null]}', "/synth/cfg", "numbers and strings only"),
    ('{"address": "/synth/cfg", "args": [true]}', "/synth/cfg", "numbers and strings only"),
    ('{"address": "/synth/cfg", "args": 7}', "/synth/cfg", "must be a list"),
    ('{"address": "/synth/cfg", "args": [7], "id": 1}', "/synth/cfg", "unknown key 'id'"),
    ('{"args": [7]}', "/web", "expects"),
    ('{"address": 7}', "/web", "expects"),
    ('[' * 5000, "/web", "not JSON"),
    ('{"address": "/synth/prompt", "args": ["' + "x" * MAX_MESSAGE + '"]}', "/synth/prompt", "too long"),
], ids=lambda v: v[:30] if isinstance(v, str) else None)
def test_bad_messages_are_refused_naming_the_control(text, address, words):
    with pytest.raises(BadMessage) as exc:
        parse_message(text)
    assert exc.value.address == address and words in str(exc.value)


def test_good_messages_pass_as_json_numbers_and_strings():
    assert parse_message('{"address": "/synth/cfg", "args": [7.5]}') == ("/synth/cfg", [7.5])
    assert parse_message('{"address": "/synth/seed", "args": [7]}') == ("/synth/seed", [7])
    assert parse_message('{"address": "/synth/ping"}') == ("/synth/ping", [])
    assert parse_message('{"address": "/synth/preset/morph", "args": ["a", "b", 0.5]}')[1] == ["a", "b", 0.5]


def test_the_rate_limit_lets_a_burst_through_then_the_rate():
    now = [0.0]
    limit = RateLimit(rate=100, burst=10, clock=lambda: now[0])
    assert sum(limit.take() for _ in range(50)) == 10
    now[0] += 0.1
    assert sum(limit.take() for _ in range(50)) == 10


def test_a_flood_is_refused_and_said_in_a_few_replies_with_the_count():
    now, said, scheduled = [0.0], [], []
    def later(delay, fn):  # as loop.call_later: returns a handle
        scheduled.append((delay, fn))
        return types.SimpleNamespace(cancel=lambda: None)

    guard = FloodGuard(RateLimit(rate=100, burst=10, clock=lambda: now[0]), 0.25, said.append, later)
    assert sum(guard.allow() for _ in range(1000)) == 10
    assert said == [1] and len(scheduled) == 1               # the first at once, the rest once, later
    now[0] += 0.25
    scheduled[0][1]()
    assert said == [1, 989]


def test_only_announced_clips_inside_the_folder_are_served(tmp_path):
    out = tmp_path / "clips"
    (out / ".previews").mkdir(parents=True)
    for name in ("a.wav", "a.json", "a.mid", ".previews/p.wav", "b.wav"):
        (out / name).write_bytes(b"x")
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"x")
    (out / "link.wav").symlink_to(secret)
    clips = ClipRegistry(out)
    assert clips.announce(out / "a.wav", [str(out / "a.wav"), 1, 2.0, "final"]) == "a.wav"
    assert clips.announce(out / ".previews/p.wav", ["p", 1, 2.0, "preview"]) == ".previews/p.wav"
    assert clips.announce(out / "link.wav", ["l", 1, 2.0, "final"]) is None      # resolves outside
    assert clips.announce(secret, ["s", 1, 2.0, "final"]) is None
    assert clips.path("a.wav") == (out / "a.wav").resolve()
    assert clips.path("a.mid").name == "a.mid" and clips.path("a.json").name == "a.json"
    assert clips.path(".previews/p.wav").name == "p.wav"
    assert clips.recent()[-1] == (".previews/p.wav", 1, 2.0, "preview")
    for name, why in [("b.wav", "not announced"), ("../secret.wav", "not a clip name"),
                      ("/etc/passwd", "not a clip name"), ("a.txt", "not a clip file"),
                      ("..\\secret.wav", "not a clip name"), ("link.wav", "not announced")]:
        with pytest.raises(ClipRefused, match=why):
            clips.path(name)
    # a clip replaced by a link out after it was announced
    (out / "a.wav").unlink()
    (out / "a.wav").symlink_to(secret)
    with pytest.raises(ClipRefused, match="leads out of the DAW folder"):
        clips.path("a.wav")


def test_the_piano_roll_reads_each_voice_with_its_gm_instrument(tmp_path):
    mid = mido.MidiFile(ticks_per_beat=480)
    tempo = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)])
    melody = mido.MidiTrack([mido.MetaMessage("track_name", name="melody: Violin"),
                             mido.Message("program_change", channel=0, program=40),
                             mido.Message("note_on", channel=0, note=67, velocity=90, time=0),
                             mido.Message("note_off", channel=0, note=67, time=480),
                             mido.Message("note_on", channel=0, note=69, velocity=80, time=0),
                             mido.Message("note_on", channel=0, note=69, velocity=0, time=240)])
    drums = mido.MidiTrack([mido.MetaMessage("track_name", name="drums"),
                            mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
                            mido.Message("note_off", channel=9, note=36, time=120)])
    mid.tracks += [tempo, melody, drums]
    mid.save(tmp_path / "x.mid")
    roll = piano_roll(tmp_path / "x.mid")
    assert roll["seconds"] == pytest.approx(0.75)
    violin, kit = roll["voices"]
    assert (violin["role"], violin["instrument"], violin["program"]) == ("melody", "Violin", 40)
    assert violin["notes"] == [[0.0, 0.5, 67, 90], [0.5, 0.25, 69, 80]]
    assert (kit["role"], kit["instrument"], kit["notes"]) == ("drums", "Drums", [[0.0, 0.125, 36, 100]])


def test_the_preset_view_names_each_slider_by_its_validated_effect(tmp_path):
    store = PresetStore(tmp_path, SHIPPED_PRESETS)
    view = preset_view(store.load("score-sliders"))
    darker = next(s for s in view["sliders"] if s["address"] == "/synth/feature/1466")
    assert darker["effect"]["label"] == "darker (sad-piano): spectral_centroid_mean d -4.28 at n = 100"
    assert all(s["effect"] is None for s in preset_view(store.load("warm-pad"))["sliders"])
    assert preset_view(None) is None


class FakeController:
    state = SynthState()
    resolve = None
    current_preset = None
    contrast_defs = {}
    d_sae = None
    learn = None
    jam = None


class FakePage:
    def __init__(self):
        self.sent = []

    def send(self, text):
        self.sent.append(json.loads(text))


def test_a_thousand_state_changes_reach_a_page_as_a_few_messages_ending_on_the_last(tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        hub = Hub(FakeController(), ClipRegistry(tmp_path), loop)
        page = FakePage()
        hub.pages.add(page)

        def publish():  # from another thread, as the OSC server does
            for i in range(1000):
                hub.on_event(STATE_CHANGED, (SynthState(cfg=i / 100),))
            hub.on_event(RENDERED, (str(tmp_path / "c.wav"), 3, 1.0, "final"))

        await loop.run_in_executor(None, publish)
        await asyncio.sleep(0.1)
        return page.sent

    sent = asyncio.run(main())
    states = [m["args"][0]["cfg"] for m in sent if m["address"] == STATE_CHANGED]
    assert 1 <= len(states) <= 20 and states[-1] == 9.99
    assert {"address": RENDERED, "args": ["c.wav", 3, 1.0, "final"]} in sent


def test_the_start_up_line_says_the_token_is_required_on_a_network_address(tmp_path):
    from bridge.events import Events
    from bridge.web.server import WebServer

    for host, network in (("127.0.0.1", False), ("192.168.1.5", True), ("0.0.0.0", True)):
        web = WebServer(FakeController(), Events(), tmp_path, host=host, port=8000, token="abc")
        line = web.start_line()
        web.loop.close()
        assert line.startswith(f"web: http://{host}:8000/?token=abc")
        assert ("the token is required" in line) == network


@pytest.mark.parametrize("host, ok", [("127.0.0.1:8000", True), ("localhost:8000", True), ("[::1]:8000", True),
                                      ("evil.example:8000", False), ("127.0.0.1.evil.example", False)])
def test_on_loopback_only_loopback_host_names_are_served(host, ok):
    from aiohttp.test_utils import make_mocked_request

    from bridge.web.security import host_ok, origin_ok

    request = make_mocked_request("GET", "/ws", headers={"Host": host, "Origin": f"http://{host}"})
    assert host_ok(request, "127.0.0.1") == ok
    assert host_ok(request, "0.0.0.0")                                    # a network bind: the token guards it
    assert origin_ok(request)
    assert not origin_ok(make_mocked_request("GET", "/ws", headers={"Host": host, "Origin": "http://evil.example"}))


def test_a_busy_web_port_is_one_line():
    import socket

    from bridge.web.server import listen_socket

    taken = socket.create_server(("127.0.0.1", 0))
    try:
        with pytest.raises(OSError, match=r"^cannot listen on http 127.0.0.1:\d+: Address already in use$"):
            listen_socket("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
