"""`latent-synth serve` end to end: a real daemon process, the tiny backend, real UDP."""
import json
import signal
import time

import pytest
import soundfile as sf

from bridge.testing.osc_daemon import Daemon


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("daemon"), "--debounce", "0.4")
    yield d
    d.kill()


@pytest.fixture
def client(daemon):
    c = daemon.client()
    c.send("/synth/auto", 0)
    c.send("/synth/steps", 4)
    c.send("/synth/duration", 1.0)
    yield c
    c.close()


def rendered(client, n, timeout=60):
    return [client.expect("/synth/rendered", timeout) for _ in range(n)]


def test_binds_localhost_and_answers(daemon, client):
    assert daemon.address[0] == "127.0.0.1"
    client.send("/synth/ping")
    assert client.expect("/synth/pong") == []
    client.send("/synth/state")
    state = json.loads(client.expect("/synth/state")[0])
    assert state["steps"] == 4 and state["duration"] == 1.0


def test_render_writes_a_clip_and_replies(daemon, client):
    client.send("/synth/seed", 7.0)
    client.send("/synth/prompt", "warm pad")
    client.send("/synth/feature/3", 2.0)
    client.send("/synth/render")
    path, seed, seconds, kind = rendered(client, 1)[0]
    assert seed == 7 and seconds == pytest.approx(1.0, abs=0.01) and kind == "final"
    audio, sr = sf.read(path)
    assert audio.shape[1] == 2 and audio.shape[0] == pytest.approx(sr * 1.0, abs=2)
    side = json.loads(open(path[:-4] + ".json").read())
    assert side["state"]["seed"] == 7 and side["state"]["features"] == {"3": 2.0}
    assert side["state"]["prompts"][0]["text"] == "warm pad"


def test_render_n_uses_consecutive_seeds(daemon, client):
    client.send("/synth/seed", 20)
    client.send("/synth/render", 3)
    got = rendered(client, 3)
    assert sorted(seed for _, seed, _, _ in got) == [20, 21, 22]


def test_bad_input_over_the_wire_and_still_serving(daemon, client):
    for address, args in [("/synth/nope", [1.0]), ("/synth/cfg", [float("nan")]), ("/synth/feature/99999", [1.0]),
                          ("/synth/seed", ["seven"]), ("/synth/mix/0", [3.0])]:
        client.send(address, *args)
        assert client.expect("/synth/error")[0] == address
    client.raw(b"not osc at all")
    client.raw(b"/synth/prompt\x00\x00\x00,s\x00\x00\xff\xfe\x00\x00")
    assert client.expect("/synth/error")[0] == "/synth/prompt"
    client.send("/synth/ping")
    assert client.expect("/synth/pong") == []
    assert daemon.proc.poll() is None


def test_coalescing_renders_newest_state_only(daemon, client):
    client.send("/synth/steps", 50)   # each render takes far longer than the burst of requests
    client.send("/synth/duration", 5.0)
    before = len(daemon.rendered_lines())
    for seed in range(100, 140):  # 40 render requests, far faster than renders finish
        client.send("/synth/seed", seed)
        client.send("/synth/render")
    assert daemon.wait_for(lambda: any(" seed 139 " in line for line in daemon.rendered_lines()), 120)
    time.sleep(1.0)
    new = daemon.rendered_lines()[before:]
    assert len(new) <= 3, new  # the render in flight (+ at most one more) and the newest state
    assert " seed 139 " in new[-1]


def test_auto_render_debounces_a_slider_storm(daemon, client):
    client.send("/synth/steps", 4)
    client.send("/synth/duration", 1.0)
    client.drain(0.5)
    before = len(daemon.rendered_lines())
    client.send("/synth/auto", 1)
    for i in range(40):
        client.send("/synth/cfg", 3.0 + i / 10)
    got = rendered(client, 1)
    client.send("/synth/auto", 0)
    time.sleep(1.0)
    assert len(daemon.rendered_lines()) - before == 1
    side = json.loads(open(got[0][0][:-4] + ".json").read())
    assert side["state"]["cfg"] == pytest.approx(3.0 + 39 / 10)


def test_presets_round_trip_through_the_daemon(daemon, client):
    client.send("/synth/prompt", "glass bells")
    client.send("/synth/cfg", 4.5)
    client.send("/synth/preset/save", "bells")
    client.send("/synth/prompt", "something else")
    client.send("/synth/preset/list")
    assert "bells" in client.expect("/synth/preset/list")
    client.send("/synth/preset/load", "bells")
    client.send("/synth/state")
    state = json.loads(client.expect("/synth/state")[0])
    assert state["prompts"][0]["text"] == "glass bells" and state["cfg"] == 4.5 and state["name"] == "bells"
    assert (daemon.presets / "bells.yaml").is_file()


def test_zz_sigint_shuts_down_cleanly(daemon):
    assert daemon.stop(signal.SIGINT) == 0
    assert any("stopped" in line for line in daemon.stdout)
    assert not [p for p in daemon.out.iterdir() if p.name.startswith(".")]


def test_sigterm_during_a_render_finishes_it_and_leaves_no_partial_files(tmp_path):
    d = Daemon(tmp_path)
    try:
        c = d.client()
        c.send("/synth/steps", 100)
        c.send("/synth/duration", 10.0)
        c.send("/synth/render")
        time.sleep(0.5)  # the render is in flight
        assert d.stop(signal.SIGTERM) == 0
        leftovers = [p.name for p in d.out.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"] if d.out.exists() else []
        assert leftovers == []
        assert len(d.clips()) == 1  # the render in flight was finished, not cut off
        for wav in d.clips():  # the clip is whole and has its sidecar
            audio, sr = sf.read(wav)
            assert audio.shape[0] == pytest.approx(sr * 10.0, abs=2)
            assert wav.with_suffix(".json").is_file()
        c.close()
    finally:
        d.kill()


def test_busy_port_fails_with_one_line(tmp_path):
    import socket
    import subprocess
    import sys

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    try:
        proc = subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--backend", "tiny", "--out", str(tmp_path),
                               "--osc-port", str(port)], capture_output=True, text=True, timeout=180)
    finally:
        s.close()
    assert proc.returncode == 2
    assert f"latent-synth: error: cannot listen on udp 127.0.0.1:{port}" in proc.stderr


def test_bad_midi_map_fails_before_loading_the_model(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "map.yaml"
    bad.write_text("cc:\n  - {cc: 300, address: /synth/cfg}\n")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--backend", "tiny", "--out", str(tmp_path),
                           "--osc-port", "0", "--midi-virtual", "x", "--midi-map", str(bad)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"latent-synth: error: {bad}: cc[0].cc: expected a whole number 0-127, got 300"
    assert time.monotonic() - started < 60
