"""Jam mode synced by Ableton Link, with a second Link peer in another process (bridge.testing.link_peer)
playing the DAW's part: tempo, bar lines, start/stop, the jam's own tempo going out, and bad news.

Link discovers peers by multicast on every interface, so these tests run only inside a network namespace
that has nothing but the loopback (bridge.testing.netns). Outside one, a single test re-runs this file
inside one; it skips with a reason only where aalink cannot be imported or no namespace can be made."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.testing import netns
from bridge.testing.link_peer import LinkPeer
from bridge.testing.osc_daemon import Daemon, jack_server, missing_jack_tools

try:
    import aalink  # noqa: F401
    NO_LINK = None
except ImportError:
    NO_LINK = "aalink is not installed (pip install 'latent-audio-synth[link]')"

pytestmark = [pytest.mark.peers]
LOOP = re.compile(r"_(?P<bpm>[0-9.]+)bpm_(?P<bars>[0-9]+)bars_[0-9]+\.wav$")
REPO = Path(__file__).resolve().parents[1]


if not netns.inside():
    def test_link_runs_inside_a_loopback_only_namespace():
        if NO_LINK:
            pytest.skip(NO_LINK)
        if missing_jack_tools():
            pytest.skip(f"JACK tools not installed: {', '.join(missing_jack_tools())}")
        reason = netns.unavailable()
        if reason:
            pytest.skip(reason)
        env = dict(os.environ, PYTHONPATH=str(REPO))
        got = subprocess.run(netns.command([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                            str(Path(__file__))]), cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=900)
        assert got.returncode == 0 and " passed" in got.stdout, got.stdout[-6000:] + got.stderr[-2000:]
else:
    @pytest.fixture(scope="module")
    def daemon(tmp_path_factory, peer):
        # The peer's session is older than the daemon's: when sessions meet, Link keeps the older one's
        # timeline (as when the jam joins a Live set that has been playing).
        with jack_server() as env:
            d = Daemon(tmp_path_factory.mktemp("link"), "--backend", "score",
                       env={k: env[k] for k in ("JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION")})
            yield d
            d.kill()

    @pytest.fixture(scope="module")
    def peer():
        p = LinkPeer(96)
        yield p
        p.close()

    def status(client):
        client.send("/synth/status")
        return json.loads(client.expect("/synth/status")[0])["jam"]

    def jam_loops(client, n, timeout=60):
        got = []
        while len(got) < n:
            path, _, _, kind = client.expect("/synth/rendered", timeout)
            if kind == "jam":
                got.append(float(LOOP.search(path)["bpm"]))
        return got

    def wait(cond, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            time.sleep(0.2)
        return False

    def hello(client):
        client.send("/synth/ping")     # the daemon sends its announcements to clients it has heard from
        assert client.expect("/synth/pong") == []

    def test_link_tempo_bar_lines_and_status(daemon, client, peer):
        client.send("/synth/jam/bars", 1)
        client.send("/synth/jam/sync", "link")
        assert wait(lambda: status(client)["peers"] == 1)
        assert not status(client)["active"]       # a joining peer does not take up a play pressed before it
        peer.say("stop")
        peer.say("play")                          # the peer's play: the jam starts on its next bar line
        assert jam_loops(client, 3) == [96.0] * 3
        s = status(client)
        assert s["active"] and s["sync"] == "link" and s["peers"] == 1 and s["tempo"] == 96.0
        assert 0 <= s["phase"] < 4

    def test_the_peers_tempo_is_followed_and_the_jams_goes_out(daemon, client, peer):
        hello(client)
        peer.say("tempo 110")
        client.drain(0.1)
        loops = jam_loops(client, 3)
        assert loops[-2:] == [110.0, 110.0], loops          # from the next phrase on
        client.send("/synth/bpm", 100.0)                    # the jam's own tempo goes out to the peer
        assert wait(lambda: peer.state()["tempo"] == pytest.approx(100.0)), peer.state()
        client.drain(0.1)
        assert jam_loops(client, 3)[-1] == 100.0

    def test_the_peers_stop_stops_the_jam_and_its_play_starts_it(daemon, client, peer):
        hello(client)
        peer.say("stop")
        assert wait(lambda: not status(client)["active"])
        peer.say("play")
        assert wait(lambda: status(client)["active"])
        client.drain(0.1)
        assert jam_loops(client, 1)

    def test_an_absurd_peer_tempo_is_refused_and_the_last_good_one_kept(daemon, client, peer):
        hello(client)
        peer.say("tempo 999")
        address, message = client.expect("/synth/error", 10)
        assert address == "/synth/jam/sync" and "999.0 bpm is outside 20..400" in message and "keeping 100.00" in message
        client.send("/synth/ping")
        assert client.expect("/synth/pong") == []
        assert status(client)["bpm"] == 100.0
        peer.say("tempo 100")

    def test_losing_every_peer_is_said_and_the_jam_plays_on(daemon, client, peer):
        hello(client)
        peer.close()
        address, message = client.expect("/synth/error", 15)
        assert address == "/synth/jam/sync" and "lost every peer" in message
        client.drain(0.1)
        assert jam_loops(client, 1) == [100.0]
        assert status(client)["active"]
        client.send("/synth/jam/sync", "internal")
