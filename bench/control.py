"""Control-path latency: message arrival -> state applied, at a steady message rate.

Runs the bridge's OSC server (strict parser + controller, no engine: renders are not part of the
control path) and a bare python-osc handler (BlockingOSCUDPServer + Dispatcher, the handler only
stores the value) in the same process and run. A separate sender process paces OSC messages at
--rate per second to each in turn, for --rounds alternating rounds, so both see the same machine
load. For both, "arrival" is the moment `recvfrom` returns the datagram and "applied" is when the
handler has stored the new value.

    python bench/control.py                 # 1,000 msg/s, 3 rounds x 1,000 messages each
    python bench/control.py --json          # machine-readable

Goal: bridge p99 <= 1 ms and <= 1.5x the bare handler's p99.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from pythonosc.dispatcher import Dispatcher  # noqa: E402
from pythonosc.osc_server import BlockingOSCUDPServer  # noqa: E402

from bridge.controller import Controller  # noqa: E402
from bridge.osc_server import OscServer  # noqa: E402
from synth.presets import PresetStore  # noqa: E402
from synth.state import SynthState  # noqa: E402

ADDRESSES = ("/synth/cfg", "/synth/mix/1", "/synth/feature/3", "/synth/steering/gain")

SENDER = r"""
import socket, sys, time
from pythonosc.osc_message_builder import OscMessageBuilder
port, n, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
addresses = sys.argv[4].split(",")
packets = []
for i in range(n):
    b = OscMessageBuilder(addresses[i % len(addresses)])
    b.add_arg(0.5 + (i % 50) / 100.0)
    packets.append(b.build().dgram)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.perf_counter()
for i, p in enumerate(packets):
    due = start + i / rate
    while (left := due - time.perf_counter()) > 0:
        if left > 0.0003:
            time.sleep(left - 0.0002)
    sock.sendto(p, ("127.0.0.1", port))
"""


class Latencies:
    def __init__(self):
        self.t0 = 0
        self.samples: list[int] = []


class TimedSocket:
    """Wraps the bridge server's socket: stamps the moment recvfrom returns."""

    def __init__(self, sock, lat: Latencies):
        self._sock, self._lat = sock, lat

    def recvfrom(self, n):
        out = self._sock.recvfrom(n)
        self._lat.t0 = time.perf_counter_ns()
        return out

    def __getattr__(self, name):
        return getattr(self._sock, name)


def bridge_server(lat: Latencies, tmp: str):
    controller = Controller(SynthState(), render=lambda *a: None, presets=PresetStore(tmp), d_sae=64)
    server = OscServer(controller, "127.0.0.1", 0)
    server.sock = TimedSocket(server.sock, lat)
    handle = controller.handle

    def timed_handle(address, args):
        replies = handle(address, args)
        lat.samples.append(time.perf_counter_ns() - lat.t0)
        return replies

    controller.handle = timed_handle
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.address[1], server.close, controller


def bare_server(lat: Latencies):
    values = {}

    def handler(address, *args):
        values[address] = args[0]
        lat.samples.append(time.perf_counter_ns() - lat.t0)

    class Timed(BlockingOSCUDPServer):
        def get_request(self):
            out = self.socket.recvfrom(self.max_packet_size)
            lat.t0 = time.perf_counter_ns()
            return (out[0], self.socket), out[1]

    dispatcher = Dispatcher()
    dispatcher.map("/synth/*", handler)
    server = Timed(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.25}, daemon=True).start()
    return server.server_address[1], server.shutdown, values


def send(port: int, n: int, rate: float) -> None:
    subprocess.run([sys.executable, "-c", SENDER, str(port), str(n), str(rate), ",".join(ADDRESSES)], check=True)
    time.sleep(0.2)  # let the last messages land


def stats(samples_ns: list[int]) -> dict:
    us = np.asarray(samples_ns, dtype=np.float64) / 1000.0
    return {"n": int(us.size), "p50_us": float(np.percentile(us, 50)), "p99_us": float(np.percentile(us, 99)),
            "max_us": float(us.max())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=1000.0, help="messages per second (default 1000)")
    ap.add_argument("--messages", type=int, default=1000, help="messages per server per round (default 1000)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    ap.add_argument("--warmup", type=int, default=200, help="messages per server before measuring")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    bridge_lat, bare_lat = Latencies(), Latencies()
    with tempfile.TemporaryDirectory() as tmp:
        bridge_port, bridge_close, controller = bridge_server(bridge_lat, tmp)
        bare_port, bare_close, values = bare_server(bare_lat)
        for port in (bare_port, bridge_port):
            send(port, args.warmup, args.rate)
        bridge_lat.samples.clear()
        bare_lat.samples.clear()
        for _ in range(args.rounds):
            send(bare_port, args.messages, args.rate)
            send(bridge_port, args.messages, args.rate)
        bridge_close()
        bare_close()
        applied = controller.state
    # the bridge really applied the messages
    assert applied.features.get(3) is not None and applied.cfg != 7.0, "bridge did not apply the messages"

    bare, bridge = stats(bare_lat.samples), stats(bridge_lat.samples)
    ratio = {"p50": bridge["p50_us"] / bare["p50_us"], "p99": bridge["p99_us"] / bare["p99_us"]}
    ok = bridge["p99_us"] <= 1000.0 and ratio["p99"] <= 1.5
    result = {"rate_per_s": args.rate, "sent_per_server": args.messages * args.rounds,
              "bare_python_osc": bare, "bridge": bridge, "ratio": ratio, "goal_met": ok}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    sent = args.messages * args.rounds
    print(f"control latency, message arrival -> state applied, {args.rate:.0f} msg/s, {sent} messages each")
    print(f"{'':28s}{'received':>9s}{'p50 us':>10s}{'p99 us':>10s}{'max us':>10s}")
    for name, s in (("bare python-osc handler", bare), ("latent-synth bridge", bridge)):
        print(f"{name:28s}{s['n']:>9d}{s['p50_us']:>10.1f}{s['p99_us']:>10.1f}{s['max_us']:>10.1f}")
    print(f"{'ratio bridge / bare':28s}{'':>9s}{ratio['p50']:>10.2f}{ratio['p99']:>10.2f}")
    print(f"goal p99 <= 1000 us and <= 1.5x bare: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
