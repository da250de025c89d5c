"""The browser surface in a real browser (Debian's chromium, headless, through Playwright):

- slider latency: from a range input's `input` event in the page to the daemon's state holding the new
  value, over --moves moves (one every --gap ms, as a hand drags), p50 and p99. Both ends are stamped on
  the machine's wall clock (the page's `performance.timeOrigin + performance.now()`, the daemon's
  `time.time()` where the controller applied the change); the page's own round trip (input event to the
  daemon's echo of the state arriving back) is printed beside it as a bound that needs no shared clock;
- load to interactive: navigation start to the DOM being interactive, and to the page holding the daemon's
  first state (its controls live);
- page weight: the bytes of the page, its script and its style sheet as fetched;
- OSC control p99 (bench/control.py's measure: datagram arrival to state applied, 1,000 msg/s) with a page
  open and moving a slider, against no page, in alternating rounds of the same run.

The daemon side is the real controller, OSC server and web server in this process, with no engine (renders
are not part of the control path, as in bench/control.py).

    python bench/web.py                    # 1,000 moves, 3 + 3 OSC rounds of 1,000 messages
    python bench/web.py --json

Goals: slider p99 <= 20 ms; OSC p99 with a moving page <= 1.1x without. The last line starts with `web:`.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import numpy as np  # noqa: E402

from control import Latencies, TimedSocket, send, stats  # noqa: E402  (bench/control.py)
from bridge.controller import Controller  # noqa: E402
from bridge.events import STATE_CHANGED, Events  # noqa: E402
from bridge.osc_server import OscServer  # noqa: E402
from bridge.testing.browser import launch  # noqa: E402
from bridge.web.server import WebServer  # noqa: E402
from synth.presets import PresetStore  # noqa: E402
from synth.state import SynthState  # noqa: E402

# In the page: move #mix-1 `n` times, `gap` ms apart; stamp each input event on the wall clock; wait for
# the daemon's echo of that value before the next move.
MOVES = r"""async ([n, gap]) => {
  const el = document.querySelector('#mix-1');
  const wall = () => performance.timeOrigin + performance.now();
  const stamps = [], trips = [];
  let waiting = null;
  const socket = [...window.__sockets][0];
  socket.addEventListener('message', (ev) => {
    const m = JSON.parse(ev.data);
    if (waiting && m.address === '/synth/state/changed' && m.args[0].prompts[1].weight === waiting.value) {
      trips.push(performance.now() - waiting.t); const w = waiting; waiting = null; w.done();
    }
  });
  for (let i = 0; i < n; i++) {
    const value = ((i % 99) + 1) / 100;
    await new Promise((done) => {
      el.value = String(value);
      const t = performance.now();
      waiting = { value, t, done };
      stamps.push([value, performance.timeOrigin + t]);
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await new Promise((r) => setTimeout(r, gap));
  }
  return { stamps, trips };
}"""

# Record the page's sockets (before app.js opens its own), so the bench can listen beside the page.
SOCKET_SPY = """window.__sockets = new Set();
const Native = window.WebSocket;
window.WebSocket = function (...args) { const s = new Native(...args); window.__sockets.add(s); return s; };
window.WebSocket.prototype = Native.prototype; window.WebSocket.OPEN = Native.OPEN;"""

DRAG = """() => { let i = 0; window.__drag = setInterval(() => {
  const el = document.querySelector('#mix-2'); el.value = String((i++ % 100) / 100);
  el.dispatchEvent(new Event('input', { bubbles: true })); }, 16); }"""


def build(tmp: str):
    """The daemon's control side: controller, events, OSC server (timed as bench/control.py), web server."""
    events = Events()
    controller = Controller(SynthState(), render=lambda job: None, presets=PresetStore(tmp), d_sae=64, events=events)
    osc_lat = Latencies()
    handle = controller.handle

    class TimedBus:  # only the OSC server's calls are timed; the page's go straight to the controller
        @staticmethod
        def handle(address, args):
            replies = handle(address, args)
            osc_lat.samples.append(time.perf_counter_ns() - osc_lat.t0)
            return replies

    osc = OscServer(TimedBus, "127.0.0.1", 0)
    osc.sock = TimedSocket(osc.sock, osc_lat)
    threading.Thread(target=osc.serve_forever, daemon=True).start()
    web = WebServer(controller, events, tmp, port=0)
    web.start()
    return controller, events, osc, osc_lat, web


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=1000, help="slider moves (default 1000)")
    ap.add_argument("--gap", type=float, default=20.0, help="ms between moves (default 20: a 50 Hz drag)")
    ap.add_argument("--rate", type=float, default=1000.0, help="OSC messages per second (default 1000)")
    ap.add_argument("--messages", type=int, default=1000, help="OSC messages per round (default 1000)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds with and without a page, alternating (default 3)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        controller, events, osc, osc_lat, web = build(tmp)
        applied: list[tuple[float, float]] = []  # (mix-1 weight, wall ms) as the controller held each new one

        def on_state(address, a):
            if address == STATE_CHANGED:
                weight = a[0].prompts[1].weight
                if not applied or applied[-1][0] != weight:
                    applied.append((weight, time.time() * 1000.0))

        events.subscribe(on_state)
        browser = launch(p)
        page = browser.new_page()
        page.add_init_script(SOCKET_SPY)
        page.goto(web.url)
        page.wait_for_function("() => document.body.dataset.connected === 'true'")
        timing = page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
            const ready = performance.getEntriesByName('surface-ready')[0].startTime;
            const res = performance.getEntriesByType('resource').filter(r => !r.name.includes('/ws'));
            return { interactive: n.domInteractive, ready,
                     bytes: n.encodedBodySize + res.reduce((s, r) => s + r.encodedBodySize, 0),
                     files: 1 + res.length }; }""")
        assets = sum((ROOT / "bridge/web/static" / f).stat().st_size for f in ("index.html", "app.js", "style.css"))

        # slider input event -> daemon state; moves are one at a time, so the k-th change is the k-th move
        page.evaluate(MOVES, [100, args.gap])   # warm both ends up
        applied.clear()
        got = page.evaluate(MOVES, [args.moves, args.gap])
        pairs = list(zip(got["stamps"], applied))
        latencies = [t_held - t_input for (value, t_input), (weight, t_held) in pairs if value == weight]
        missing = args.moves - len(latencies)
        trips = got["trips"]

        # OSC control with a page open and moving, against no page
        page.close()
        send(osc.address[1], 200, args.rate)   # warm up
        without, with_page = [], []
        for _ in range(args.rounds):
            osc_lat.samples.clear()
            send(osc.address[1], args.messages, args.rate)
            without += osc_lat.samples
            page = browser.new_page()
            page.goto(web.url)
            page.wait_for_function("() => document.body.dataset.connected === 'true'")
            page.evaluate(DRAG)
            osc_lat.samples.clear()
            send(osc.address[1], args.messages, args.rate)
            with_page += osc_lat.samples
            page.close()
        browser.close()
        web.close()
        osc.close()

    osc_without, osc_with = stats(without), stats(with_page)
    ratio = osc_with["p99_us"] / osc_without["p99_us"]
    result = {
        "slider_to_state_ms": {"n": len(latencies), "missing": missing, "p50": pct(latencies, 50),
                               "p99": pct(latencies, 99), "min": min(latencies)},
        "slider_round_trip_ms": {"n": len(trips), "p50": pct(trips, 50), "p99": pct(trips, 99)},
        "load_ms": {"dom_interactive": timing["interactive"], "controls_live": timing["ready"]},
        "page_bytes": {"fetched": timing["bytes"], "files": timing["files"], "assets_on_disk": assets},
        "osc_control_us": {"without_page": osc_without, "with_page_moving": osc_with, "p99_ratio": ratio},
    }
    s = result["slider_to_state_ms"]
    goals = s["p99"] <= 20.0 and ratio <= 1.1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"slider input event -> daemon state, {s['n']} moves {args.gap:.0f} ms apart ({missing} unmatched): "
              f"p50 {s['p50']:.2f} ms, p99 {s['p99']:.2f} ms (min {s['min']:.2f})")
        r = result["slider_round_trip_ms"]
        print(f"slider input event -> the daemon's echo back in the page: p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms")
        print(f"load: DOM interactive {timing['interactive']:.0f} ms, controls live (first state in) {timing['ready']:.0f} ms")
        print(f"page weight: {timing['bytes']} bytes in {timing['files']} files ({assets} bytes of assets on disk)")
        print(f"OSC control p99, {args.rate:.0f} msg/s, {args.rounds}x{args.messages} messages: no page "
              f"{osc_without['p99_us']:.1f} us, page open and moving {osc_with['p99_us']:.1f} us ({ratio:.2f}x)")
        print(f"goals (slider p99 <= 20 ms, OSC ratio <= 1.1x): {'met' if goals else 'NOT met'}")
    print(f"web: slider p99 {s['p99']:.2f} ms (p50 {s['p50']:.2f}), OSC p99 with a moving page {ratio:.2f}x without")
    return 0


if __name__ == "__main__":
    sys.exit(main())
