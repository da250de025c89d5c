"""A second Ableton Link peer in its own process, playing a DAW's part for tests and bench/jam.py.

    python -m bridge.testing.link_peer 96

joins the session at 96 bpm, playing, with start/stop sync, and reads one command a line on stdin:
`tempo BPM`, `play`, `stop`, `state` (prints one JSON line: tempo, beat, the time.monotonic() of that
beat and the width of the window it was read in, peers, playing) and `quit`. Run it only inside a loopback-only network namespace
(bridge.testing.netns): Link discovers peers by multicast on every interface.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from bridge.testing.osc_daemon import stop_process

REPO = Path(__file__).resolve().parents[2]


async def serve(bpm: float) -> None:
    import aalink

    link = aalink.Link(bpm)
    link.quantum = 4
    link.start_stop_sync_enabled = True
    link.enabled = True
    link.playing = True
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True}), flush=True)
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] == "quit":
            break
        if line[0] == "tempo":
            link.tempo = float(line[1])
        elif line[0] in ("play", "stop"):
            link.playing = line[0] == "play"
        elif line[0] == "state":
            before = time.monotonic()
            beat = link.beat
            after = time.monotonic()
            print(json.dumps({"tempo": link.tempo, "beat": beat, "at": (before + after) / 2, "spread": after - before,
                              "peers": link.num_peers, "playing": link.playing}), flush=True)
    link.enabled = False


class LinkPeer:
    """This module in its own process, driven over its stdin: the DAW's part, on the Link session."""

    def __init__(self, bpm: float):
        self.proc = subprocess.Popen([sys.executable, "-m", "bridge.testing.link_peer", f"{bpm:g}"], cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if not json.loads(self.proc.stdout.readline()).get("ready"):
            raise RuntimeError("the Link peer did not start")

    def say(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def state(self) -> dict:
        self.say("state")
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.say("quit")
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                stop_process(self.proc)


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    asyncio.run(serve(float(args[0]) if args else 120.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
