"""liblo's `oscsend` (and netcat for garbage) drive the daemon."""
import json
import shutil
import subprocess
import time

import pytest

from bridge.testing.osc_daemon import Daemon

pytestmark = [pytest.mark.peers, pytest.mark.skipif(shutil.which("oscsend") is None, reason="liblo-tools (oscsend) is not installed")]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("liblo"), verbosity="-vv")
    yield d
    d.kill()


def oscsend(daemon, address, types="", *args):
    cmd = ["oscsend", daemon.address[0], str(daemon.address[1]), address]
    if types:
        cmd += [types, *[str(a) for a in args]]
    subprocess.run(cmd, check=True, timeout=10)
    time.sleep(0.01)


def raw_packet(address, types="", *args) -> bytes:
    """liblo's encoding of a message (`oscsend -` writes the packet to stdout)."""
    cmd = ["oscsend", "-", address] + ([types, *[str(a) for a in args]] if types else [])
    return subprocess.run(cmd, check=True, capture_output=True, timeout=10).stdout


def test_oscsend_sets_state_with_every_numeric_type_and_renders(daemon):
    oscsend(daemon, "/synth/steps", "i", 4)
    oscsend(daemon, "/synth/duration", "f", 1.0)
    oscsend(daemon, "/synth/seed", "d", 9.0)             # a double that is a whole number
    oscsend(daemon, "/synth/feature/5", "h", 3)          # int64
    oscsend(daemon, "/synth/prompt/1", "s", "rain on glass")
    oscsend(daemon, "/synth/mix/1", "f", 0.5)
    oscsend(daemon, "/synth/render")
    assert daemon.wait_for(lambda: len(daemon.clips()) == 1, 60), daemon.stderr[-20:]
    side = json.loads(daemon.clips()[0].with_suffix(".json").read_text())
    state = side["state"]
    assert state["seed"] == 9 and state["steps"] == 4 and state["features"] == {"5": 3.0}
    assert state["prompts"][1] == {"text": "rain on glass", "weight": 0.5}


def test_bad_input_from_oscsend_is_refused_and_logged_and_daemon_keeps_serving(daemon):
    client = daemon.client()
    before = sum("refused" in line for line in daemon.stderr)
    oscsend(daemon, "/synth/cfg", "s", "loud")
    oscsend(daemon, "/synth/cfg", "T")
    oscsend(daemon, "/synth/cfg", "N")
    oscsend(daemon, "/synth/nowhere", "f", 1.0)
    oscsend(daemon, "/synth/feature/999999", "f", 1.0)
    assert daemon.wait_for(lambda: sum("refused" in line for line in daemon.stderr) - before >= 5, 10), daemon.stderr[-10:]
    # the same liblo packets from a socket that can hear the answers
    for packet, needle in [
        (raw_packet("/synth/cfg", "s", "loud"), "number"),
        (raw_packet("/synth/seed", "m", 0, 144, 60, 100), "number"),
        (raw_packet("/synth/steps", "f", 2.5), "integer"),
        (raw_packet("/synth/bpm", "d", "inf"), "finite"),
    ]:
        client.raw(packet)
        address, message = client.expect("/synth/error")
        assert needle in message, (address, message)
    client.raw(raw_packet("/synth/mix/2", "f", 0.25))
    client.send("/synth/state")
    assert json.loads(client.expect("/synth/state")[0])["prompts"][2]["weight"] == 0.25
    client.send("/synth/ping")
    assert client.expect("/synth/pong") == []
    client.close()


@pytest.mark.skipif(shutil.which("nc") is None, reason="netcat (nc) is not installed")
def test_garbage_datagrams_are_dropped_and_logged_at_debug(daemon):
    subprocess.run(f"printf 'junk' | nc -u -w1 127.0.0.1 {daemon.address[1]}", shell=True, check=True, timeout=10)
    subprocess.run(f"printf '\\x00\\x01\\x02' | nc -u -w1 127.0.0.1 {daemon.address[1]}", shell=True, check=True, timeout=10)
    assert daemon.wait_for(lambda: sum("non-OSC" in line for line in daemon.stderr) >= 2, 10), daemon.stderr[-8:]
    assert all("DEBUG" in line for line in daemon.stderr if "non-OSC" in line)
    client = daemon.client()
    client.send("/synth/ping")
    assert client.expect("/synth/pong") == []
    client.close()
