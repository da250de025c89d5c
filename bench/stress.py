"""The daemon on stage: floods, failing renders, kill -9, a full disk, two controllers and corrupt
files. Each scenario prints its figures and its checks; the tests run the same scenarios, shorter
(tests/test_daemon_stress.py, tests/test_daemon_failures.py).

    python bench/stress.py                               # every scenario, the full 10 s flood
    python bench/stress.py --only flood --flood-seconds 3
    python bench/stress.py --json stress.json            # the figures, machine-readable

Every scenario drives the real daemon, `latent-synth serve --backend tiny` in a subprocess, over
real UDP (the flood also through a JACK dummy server's MIDI port), with two exceptions that run the
daemon's own classes in this process: `failures`, around an engine that fails on demand
(bridge/testing/fault_engine.py), and `disk-full` when no tmpfs can be mounted (not root), with ENOSPC
simulated in the write call. The tiny backend's audio is noise: these are figures about the
machinery, not about sound. Exit status 1 when a check fails.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, redirect_stdout
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from bridge.testing.osc_daemon import Client, Daemon, build, jack_server, missing_jack_tools, rss_mb  # noqa: E402
from bridge.testing.stage import (  # noqa: E402
    FolderWatcher, Inbox, Result, ask_state, ask_status, fill, in_process_daemon, interleave, mount_tmpfs,
    one_line_error, paced, serve_fails_fast, simulated_disk_full, temp_files, tiny_engine, user_presets, visible_wavs,
)

RSS_BUDGET_MB = 50.0
SCENARIOS = ("flood", "failures", "kill", "disk-full", "controllers", "corrupt", "status")


# ---------------------------------------------------------------------- flood
def scenario_flood(workdir, seconds: float = 10.0, rate: float = 1000.0, midi: bool = True) -> Result:
    """`rate` OSC messages a second (cfg moves, a ping every 50th) and, with JACK, `rate` MIDI CCs a
    second (mapped to the seed) for `seconds`, auto-render on with previews. A monitor client polls
    /synth/status every 0.1 s; the daemon's RSS is sampled as often."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    use_midi = midi and not missing_jack_tools()
    config = workdir / "synth.yaml"
    config.write_text(yaml.safe_dump({"default_state": {"duration": 1.0}}))  # steps: the backend's default
    mapping = workdir / "map.yaml"
    mapping.write_text(yaml.safe_dump({"cc": [{"cc": 20, "address": "/synth/seed", "min": 0, "max": 127}],
                                       "notes": {"render": False}, "program_change": False}))
    title = (f"{rate:,.0f} OSC msg/s{f' + {rate:,.0f} MIDI CC/s (JACK dummy)' if use_midi else ''} for {seconds:g} s, "
             "auto-render with previews, tiny backend")
    result = Result("flood", title)
    with ExitStack() as stack:
        env, flags = {}, ["--auto", "--config", str(config)]
        if use_midi:
            try:  # as musicians run JACK: realtime process threads (needs root or an rtprio limit)
                jack_env = stack.enter_context(jack_server(realtime=True))
                jack_mode = "realtime"
            except RuntimeError:
                jack_env = stack.enter_context(jack_server(realtime=False))
                jack_mode = "no-realtime (late process cycles can drop events on a busy machine)"
            env = {"JACK_DEFAULT_SERVER": jack_env["JACK_DEFAULT_SERVER"], "JACK_NO_AUDIO_RESERVATION": "1",
                   "MIDO_BACKEND": "mido.backends.rtmidi/UNIX_JACK"}
            flags += ["--midi-virtual", "lsynth-flood", "--midi-map", str(mapping)]
        daemon = Daemon(workdir, *flags, env=env)
        stack.callback(daemon.kill)
        flooder, monitor = daemon.client(), daemon.client()
        inbox, watch = Inbox(flooder), Inbox(monitor)
        stack.callback(inbox.close)
        stack.callback(watch.close)
        # Warm up: the first preview and final allocate what every later render reuses.
        flooder.send("/synth/cfg", 6.0)
        inbox.wait(lambda i: any(r[3] == "final" for r in i.of("/synth/rendered")), 120)
        time.sleep(0.5)
        pid = daemon.proc.pid
        baseline = rss_mb(pid)

        midi_out = None
        if use_midi:
            import mido

            stack.enter_context(mock.patch.dict(os.environ, {"JACK_DEFAULT_SERVER": env["JACK_DEFAULT_SERVER"]}))
            midi_out = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True).open_output(
                "flood", virtual=True, client_name="lsynth-stress")
            stack.callback(midi_out.close)
            subprocess.run(["jack_connect", "lsynth-stress:flood", "latent-synth:lsynth-flood"], env=jack_env,
                           check=True, capture_output=True, timeout=10)
            time.sleep(0.3)

        n = int(seconds * rate)
        cfg = [float(np.float32(1.0 + (i % 400) / 100.0)) for i in range(n)]  # OSC 'f' is 32-bit
        send_osc, pings = interleave(flooder, [build("/synth/cfg", v) for v in cfg], build("/synth/ping"), 50)
        last_cfg = cfg[max(i for i in range(n) if i % 50 != 49)]
        sent = {"seed": None, "midi": 0, "status": 0}
        samples: list[float] = []
        done = threading.Event()

        def send_midi(i):
            midi_out.send(mido.Message("control_change", control=20, value=i % 128))
            sent["midi"] += 1
            sent["seed"] = i % 128

        def poll():
            while not done.wait(0.1):
                monitor.sock.sendto(build("/synth/status"), monitor.server)
                sent["status"] += 1
                samples.append(rss_mb(pid))

        threads = [threading.Thread(target=poll, daemon=True)]
        took = {}
        threads.append(threading.Thread(target=lambda: took.setdefault("osc", paced(n, rate, send_osc))))
        if use_midi:
            threads.append(threading.Thread(target=lambda: took.setdefault("midi", paced(n, rate, send_midi))))
        flood_start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads[1:]:
            t.join()
        flood_end = time.monotonic()
        done.set()
        threads[0].join()

        # Stillness: the full render of the last position follows, refine_after seconds later.
        landed = inbox.wait(lambda i: any(r[3] == "final" for r in i.of("/synth/rendered", flood_end)), 120)
        final_at = next((t for t, a, args in inbox.replies if a == "/synth/rendered" and args[3] == "final"
                         and t >= flood_end), None)
        time.sleep(0.5)
        watch.wait(lambda w: len(w.of("/synth/status")) >= sent["status"], 5)
        statuses = [json.loads(s[0]) for s in watch.of("/synth/status")]
        state = json.loads(watch.ask("/synth/state")[0])
        status = json.loads(watch.ask("/synth/status")[0])
        end_rss = rss_mb(pid)
        rendered = inbox.of("/synth/rendered")
        daemon_lines = daemon.rendered_lines()
        final_side = json.loads(Path(rendered[-1][0]).with_suffix(".json").read_text()) if landed else {}
        peak = max(samples, default=baseline)
        # JACK itself may run a cycle late on a busy machine ("xrun"); events of that cycle can be lost
        jack_log = Path(jack_env["LSYNTH_JACKD_LOG"]).read_text() if use_midi else ""
        late = re.findall(r"client = (\S+) was not finished", jack_log)
        xruns = jack_log.count("JackEngine::XRun")

    f = result.figures
    f["osc_messages_sent"] = n
    f["osc_rate_per_s"] = n / took["osc"]
    if use_midi:
        f["jack"] = jack_mode
        f["midi_messages_sent"] = sent["midi"]
        f["midi_rate_per_s"] = sent["midi"] / took["midi"]
        f["jack_xruns (late clients)"] = f"{xruns} ({', '.join(sorted(set(late))) or 'none'})"
    f["flood_seconds"] = flood_end - flood_start
    f["rss_baseline_mb"] = baseline
    f["rss_peak_growth_mb"] = peak - baseline
    f["rss_end_growth_mb"] = end_rss - baseline
    f["pings_sent / answered"] = f"{pings['queries']} / {len(inbox.of('/synth/pong'))}"
    f["status_polls_sent / answered"] = f"{sent['status']} / {len(statuses)}"
    f["daemon got OSC datagrams / MIDI events"] = f"{status['osc_messages']} / {status['midi_events']}"
    f["max_queue_depth_seen"] = max((s["queue_depth"] for s in statuses), default=None)
    f["renders_done"] = status["renders_done"]
    f["previews / finals announced"] = (f"{sum(r[3] == 'preview' for r in rendered)} / "
                                        f"{sum(r[3] == 'final' for r in rendered)}")
    f["pending_renders_cancelled"] = status["renders_cancelled"]
    f["final_after_flood_s"] = (final_at - flood_end) if final_at else None
    f["last_cfg_sent / in_state"] = f"{last_cfg} / {state['cfg']}"
    if use_midi:
        f["last_seed_sent / in_state"] = f"{sent['seed']} / {state['seed']}"
    c = result.checks
    c[f"RSS grew by less than {RSS_BUDGET_MB:g} MB (peak)"] = peak - baseline < RSS_BUDGET_MB
    c["the last OSC value sent is the value in /synth/state"] = state["cfg"] == last_cfg
    if use_midi:
        c["the last MIDI value sent is the value in /synth/state"] = state["seed"] == sent["seed"]
        if jack_mode == "realtime":
            c["every MIDI event arrived (asserted when JACK ran no cycle late)"] = (
                status["midi_events"] == sent["midi"] or xruns > 0)
    c["at most one render pending at any moment"] = bool(statuses) and max(s["queue_depth"] for s in statuses) <= 1
    c["every ping answered"] = len(inbox.of("/synth/pong")) == pings["queries"]
    c["every status poll answered"] = len(statuses) == sent["status"]
    c["every clip announced (/synth/rendered = daemon's clips)"] = len(rendered) == len(daemon_lines)
    c["no errors"] = not inbox.of("/synth/error")
    c["the final render after the flood has the last values"] = landed and final_side.get("state", {}).get(
        "cfg") == last_cfg and (not use_midi or final_side["state"]["seed"] == sent["seed"])
    return result


# ---------------------------------------------------------------------- renders that fail

def scenario_failures(workdir, engine=None) -> Result:
    """A render raises RuntimeError, then CUDA's OutOfMemoryError (simulated on the CPU), then
    returns NaN audio; after each, a normal render must work."""
    from bridge.testing.fault_engine import FaultyEngine

    engine = FaultyEngine(engine or tiny_engine())
    result = Result("failures", "renders that raise, run out of memory, or return NaN (in-process daemon)")
    with in_process_daemon(engine, workdir) as (core, client):
        out = core.renderer.out_dir
        for how in ("error", "oom", "nan"):
            before = visible_wavs(out)
            engine.fail_next(how)
            client.send("/synth/render")
            address, message = client.expect("/synth/error", 60)
            left = [p.name for p in visible_wavs(out) if p not in before] + temp_files(out)
            client.send("/synth/render")
            path, *_, kind = client.expect("/synth/rendered", 60)
            recovered = Path(path).is_file() and kind == "final"
            result.figures[f"{how}: /synth/error"] = message
            result.figures[f"{how}: files left by the failed render"] = len(left)
            result.checks[f"{how}: answered on /synth/error, nothing partial, the next render works"] = (
                address == "/synth/render" and not left and recovered)
            if how == "oom":
                result.figures["oom: engine.release_memory() calls"] = engine.released
                result.checks["oom: says fewer seeds, a shorter clip or cpu_offload; caches freed"] = (
                    engine.released == 1 and all(w in message for w in ("fewer seeds", "shorter clip", "cpu_offload")))
        status = ask_status(client)
    result.figures["renders done / failed"] = f"{status['renders_done']} / {status['renders_failed']}"
    result.checks["the error says why (NaN, out of memory, the exception)"] = (
        "RuntimeError" in result.figures["error: /synth/error"] and "NaN" in result.figures["nan: /synth/error"]
        and "out of memory" in result.figures["oom: /synth/error"])
    result.checks["status counts 3 failed renders"] = status["renders_failed"] == 3
    return result


# ---------------------------------------------------------------------- kill -9

def scenario_kill(workdir) -> Result:
    """kill -9 while a clip is half written and a preset save is half written (a test hook pauses
    both writes there), then start again."""
    from synth.atomic_io import PAUSE_ENV, PAUSE_LINE
    from synth.presets import Preset, PresetStore
    from synth.state import SynthState

    workdir = Path(workdir)
    result = Result("kill", "kill -9 mid clip write and mid preset save, then restart")
    store = PresetStore(workdir / "presets")
    store.save(Preset("keep", SynthState(cfg=3.0)))
    earlier = (workdir / "presets" / "keep.yaml").read_text()
    out = workdir / "clips"
    out.mkdir(parents=True, exist_ok=True)
    watcher = FolderWatcher(out)
    watcher.start()
    try:
        first = Daemon(workdir, env={PAUSE_ENV: ".wav,.yaml"})
        try:
            c = first.client()
            c.send("/synth/duration", 1.0)
            c.send("/synth/render")
            paused_clip = first.wait_for(lambda: any(PAUSE_LINE in l and ".wav" in l for l in first.stderr), 60)
            c.send("/synth/cfg", 9.0)
            c.send("/synth/preset/save", "keep")
            paused_preset = first.wait_for(lambda: any(PAUSE_LINE in l and "keep.yaml" in l for l in first.stderr), 30)
            first.proc.kill()  # SIGKILL: no handler, no cleanup
            first.proc.wait(10)
            c.close()
        finally:
            first.kill()
        left = temp_files(out, workdir / "presets")
        wavs_after_kill = visible_wavs(out)
        preset_intact = (workdir / "presets" / "keep.yaml").read_text() == earlier

        second = Daemon(workdir)
        try:
            c = second.client()
            names = user_presets(c)
            c.send("/synth/preset/load", "keep")
            cfg = ask_state(c)["cfg"]
            c.send("/synth/duration", 1.0)
            c.send("/synth/render")
            c.expect("/synth/rendered", 60)
            time.sleep(0.1)
            cleaned = temp_files(out, workdir / "presets")
            c.close()
            second.stop()
        finally:
            second.kill()
    finally:
        watcher.stop()
    f, ck = result.figures, result.checks
    f["temp files left by kill -9"] = ", ".join(left) or "none"
    f["visible WAVs after kill -9"] = len(wavs_after_kill)
    f["temp files after the restart"] = len(cleaned)
    f["WAVs the folder watcher checked / partial"] = f"{len(watcher.checked)} / {len(watcher.partial)}"
    ck["both writes were interrupted mid-file"] = paused_clip and paused_preset
    ck["no partial WAV was ever visible to the folder watcher"] = not watcher.partial and not wavs_after_kill
    ck["the leftovers are dot-files a DAW ignores"] = bool(left) and all(n.startswith(".") for n in left)
    ck["the earlier version of the preset is intact"] = preset_intact and cfg == 3.0 and names == ["keep"]
    ck["the next start removed the temp files"] = not cleaned
    ck["the restarted daemon renders"] = len(watcher.checked) == 1
    return result


# ---------------------------------------------------------------------- disk full

def _disk_full_round(client: Client, out: Path, presets: Path, make_full, make_room) -> dict:
    """Save preset `keep` and render one clip; fill the disk; both must fail cleanly; make room; both work."""
    client.send("/synth/cfg", 3.0)
    client.send("/synth/preset/save", "keep")
    client.send("/synth/render")
    client.expect("/synth/rendered", 60)
    earlier = (presets / "keep.yaml").read_text()
    make_full()
    client.send("/synth/render")
    clip_error = client.expect("/synth/error", 60)[1]
    client.send("/synth/cfg", 9.0)
    preset_error = one_line_error(client, "/synth/preset/save", "keep")
    names = user_presets(client)
    figures = {"clip write: /synth/error": clip_error, "preset save: /synth/error": preset_error,
               "partial files left": len(temp_files(out, presets)) + len(visible_wavs(out)) - 1,
               "preset intact": (presets / "keep.yaml").read_text() == earlier, "list works": names == ["keep"]}
    make_room()
    client.send("/synth/render")
    figures["renders after making room"] = Path(client.expect("/synth/rendered", 60)[0]).is_file()
    client.send("/synth/preset/save", "keep")
    client.send("/synth/ping")
    client.expect("/synth/pong", 10)
    figures["saves after making room"] = "cfg: 9.0" in (presets / "keep.yaml").read_text()
    return figures


def scenario_disk_full(workdir, engine=None, mode: str = "auto") -> Result:
    """ENOSPC while writing a clip and a preset: on a 2 MB tmpfs with the real daemon when one can be
    mounted (mode auto or tmpfs), else (mode simulated) in-process with the write call failing."""
    workdir = Path(workdir)
    disk = workdir / "disk"
    if mode != "simulated" and mount_tmpfs(disk):
        result = Result("disk-full", "ENOSPC on a 2 MB tmpfs (real kernel error), real daemon")
        try:
            daemon = Daemon(disk)
            try:
                client = daemon.client()
                client.send("/synth/duration", 1.0)
                client.send("/synth/steps", 4)
                filler = []
                figures = _disk_full_round(client, daemon.out, daemon.presets,
                                           lambda: filler.append(fill(disk)), lambda: filler[0].unlink())
                client.close()
                serving = daemon.proc.poll() is None
            finally:
                daemon.kill()
        finally:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=20)
    elif mode == "tmpfs":
        raise RuntimeError("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    else:
        result = Result("disk-full", "ENOSPC simulated mid-write (no tmpfs could be mounted), in-process daemon")
        stack = ExitStack()
        with in_process_daemon(engine or tiny_engine(), workdir) as (core, client):
            figures = _disk_full_round(client, core.renderer.out_dir, core.controller.presets.folder,
                                       lambda: stack.enter_context(simulated_disk_full()), stack.close)
            serving = True
    result.figures.update(figures)
    ck = result.checks
    ck["clip: /synth/error says the disk is full"] = "No space left on device" in figures["clip write: /synth/error"]
    ck["preset: /synth/error says the disk is full"] = "No space left on device" in figures["preset save: /synth/error"]
    ck["nothing partial remains; the earlier preset is intact"] = (
        figures["partial files left"] == 0 and figures["preset intact"] and figures["list works"])
    ck["keeps serving: renders and saves once there is room"] = (
        serving and figures["renders after making room"] and figures["saves after making room"])
    return result


# ---------------------------------------------------------------------- two controllers
def scenario_controllers(daemon: Daemon, seconds: float = 3.0, rate: float = 1000.0) -> Result:
    """Controller A floods cfg moves and asks for the state every 100th message; controller B pings
    every 20 ms, sends one bad message and asks for the preset list. Each must get exactly its own
    replies, and B's pings must all come back while A floods."""
    result = Result("controllers", f"two controllers at once: A sends {rate:,.0f} msg/s for {seconds:g} s, B pings")
    a, b = daemon.client(), daemon.client()
    inbox_a = Inbox(a)
    packets = [build("/synth/cfg", 2.0 + (i % 300) / 100.0) for i in range(int(seconds * rate))]
    send_a, asked = interleave(a, packets, build("/synth/state"), 100)

    def ping_b(n: int) -> tuple[list[float], int, list]:
        """n pings from B: round trips, pings lost (no pong within 2 s), replies that were not B's."""
        times, lost, foreign = [], 0, []
        for _ in range(n):
            t0 = time.perf_counter()
            b.sock.sendto(build("/synth/ping"), b.server)
            while (got := b.recv(2.0)) is not None and got[0] != "/synth/pong":
                foreign.append(got)
            if got is None:
                lost += 1
            else:
                times.append(time.perf_counter() - t0)
            time.sleep(0.02)
        return times, lost, foreign

    idle, lost, foreign = ping_b(20)
    flood = threading.Thread(target=paced, args=(len(packets), rate, send_a))
    flood.start()
    during = []
    while flood.is_alive():
        t, n_lost, fgn = ping_b(1)
        during += t
        lost += n_lost
        foreign += fgn
    flood.join()
    b_error = one_line_error(b, "/synth/seed", "seven")
    b.send("/synth/preset/list")
    b.expect("/synth/preset/list", 10)
    b.send("/synth/steps", 4)
    b.send("/synth/duration", 1.0)
    b.send("/synth/render")  # /synth/rendered goes to both
    b_rendered = b.expect("/synth/rendered", 60)
    inbox_a.wait(lambda i: i.of("/synth/rendered") and len(i.of("/synth/state")) >= asked["queries"], 10)
    inbox_a.close()
    a.close()
    b.close()
    a_addresses = {addr for _, addr, _ in inbox_a.replies}
    f = result.figures
    f["A: messages sent / state replies"] = f"{len(packets)} / {len(inbox_a.of('/synth/state'))} of {asked['queries']}"
    f["A: reply addresses"] = ", ".join(sorted(a_addresses))
    f["B: ping round trip idle p50 / max (ms)"] = f"{1e3 * np.median(idle):.2f} / {1e3 * max(idle):.2f}"
    if during:
        f["B: ping round trip during A's flood p50 / p99 / max (ms)"] = (
            f"{1e3 * np.median(during):.2f} / {1e3 * np.percentile(during, 99):.2f} / {1e3 * max(during):.2f}")
    f["B: pings answered during A's flood"] = len(during)
    ck = result.checks
    ck["A gets every state reply and nothing of B's"] = (
        len(inbox_a.of("/synth/state")) == asked["queries"] and a_addresses <= {"/synth/state", "/synth/rendered"})
    ck["B gets every pong, none later than 2 s, and nothing of A's"] = lost == 0 and len(during) > 0 and not foreign
    ck["B's error went to B only"] = bool(b_error) and "/synth/error" not in a_addresses
    ck["a clip rendered for B is announced to both"] = bool(b_rendered) and "/synth/rendered" in a_addresses
    return result


# ---------------------------------------------------------------------- corrupt files
def scenario_corrupt(daemon: Daemon, workdir) -> Result:
    """Presets edited into invalid YAML or truncated, next to a good one; MIDI maps likewise."""
    from bridge.midi_map import midi_map_from_dict, save_midi_map
    from synth.presets import Preset, PresetStore, Slider
    from synth.state import PromptSlot, SynthState

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    result = Result("corrupt", "corrupt preset and MIDI-map files")
    store = PresetStore(daemon.presets)
    good = Preset("good", SynthState(prompts=[PromptSlot("glass bells", 1.0)], cfg=4.0),
                  [Slider("bright", "/synth/mix/0", 0.0, 1.0)], description="a preset that loads")
    text = store.save(good).read_text()
    (daemon.presets / "broken.yaml").write_text("name: broken\nstate: {prompts: [{text: pad, weight: 1.0}\n")
    (daemon.presets / "truncated.yaml").write_text(text[: len(text) // 2].replace("name: good", "name: truncated"))
    client = daemon.client()
    names = user_presets(client)
    errors = {name: one_line_error(client, "/synth/preset/load", name) for name in ("broken", "truncated")}
    client.send("/synth/preset/load", "good")
    loaded = ask_state(client)
    client.close()
    saved = workdir / "saved-map.yaml"
    save_midi_map(midi_map_from_dict({"cc": [{"cc": 20, "address": "/synth/cfg"}, {"cc": 21, "address": "/synth/seed"}]}), saved)
    whole = saved.read_text()
    maps = {"broken": "cc:\n  - {cc: 20, address: /synth/cfg\n", "truncated": whole[: whole.index("cc: 21")]}
    map_runs = {}
    for name, body in maps.items():
        path = workdir / f"{name}-map.yaml"
        path.write_text(body)
        map_runs[name] = serve_fails_fast(workdir, "--midi-virtual", "x", "--midi-map", str(path))
    f, ck = result.figures, result.checks
    f["/synth/preset/list"] = " ".join(names)
    for name, message in errors.items():
        f[f"preset {name}: /synth/error"] = message
    for name, run in map_runs.items():
        f[f"MIDI map {name}: serve exits {run.returncode}"] = run.stderr.strip()
    ck["/synth/preset/list still lists every preset"] = names == ["broken", "good", "truncated"]
    ck["each corrupt preset gets a one-line error naming its file"] = all(
        "\n" not in m and f"{n}.yaml" in m for n, m in errors.items())
    ck["the other presets still load"] = loaded["cfg"] == 4.0 and loaded["name"] == "good"
    ck["a corrupt MIDI map stops serve with one line (exit 2)"] = all(
        r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "map.yaml" in r.stderr for r in map_runs.values())
    return result


# ---------------------------------------------------------------------- /synth/status
STATUS_KEYS = ("backend", "model_id", "device", "sae_id", "queue_depth", "rendering", "renders_done",
               "renders_failed", "renders_cancelled", "clips", "last_render_seconds", "uptime_seconds",
               "peak_memory_mb", "peak_memory_of", "osc_messages", "midi_events", "auto", "preview_steps",
               "refine_after")


def scenario_status(daemon: Daemon) -> Result:
    result = Result("status", "/synth/status before and after a render")
    client = daemon.client()
    before = ask_status(client)
    client.send("/synth/steps", 4)
    client.send("/synth/duration", 1.0)
    client.send("/synth/render")
    client.expect("/synth/rendered", 60)
    deadline = time.monotonic() + 10
    while (after := ask_status(client))["rendering"] and time.monotonic() < deadline:
        time.sleep(0.02)  # the clip is announced as soon as it is written, before its job ends
    client.close()
    result.figures["/synth/status"] = json.dumps(after, separators=(",", ":"))
    ck = result.checks
    ck["has every field"] = all(k in after for k in STATUS_KEYS)
    ck["names the loaded backend, model and device"] = (after["backend"], after["device"]) == ("tiny", "cpu") and bool(after["model_id"])
    ck["counts the render and times it"] = (after["renders_done"] == before["renders_done"] + 1
                                            and after["last_render_seconds"] > 0 and after["queue_depth"] == 0)
    ck["reports uptime and peak memory (RSS on a CPU)"] = (after["uptime_seconds"] > before["uptime_seconds"] > 0
                                                           and after["peak_memory_of"] == "rss" and after["peak_memory_mb"] > 0)
    return result


# ---------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {', '.join(SCENARIOS)}")
    ap.add_argument("--flood-seconds", type=float, default=10.0, help="flood length (default 10)")
    ap.add_argument("--rate", type=float, default=1000.0, help="flood messages per second, per input (default 1000)")
    ap.add_argument("--no-midi", action="store_true", help="flood through OSC only")
    ap.add_argument("--disk", choices=("auto", "tmpfs", "simulated"), default="auto",
                    help="disk-full: a real tmpfs (needs root), simulated ENOSPC, or tmpfs when possible (default)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures and checks as JSON")
    args = ap.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(unknown)} (choose from {', '.join(SCENARIOS)})")

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="lsynth-stress-") as tmp:
        tmp = Path(tmp)

        def run(name, fn, *a, **kw):
            started = time.monotonic()
            with redirect_stdout(io.StringIO()):  # an in-process daemon's "rendered PATH ..." lines
                r = fn(*a, **kw)
            r.figures["scenario seconds"] = time.monotonic() - started
            results.append(r)
            print(r.report(), "\n", flush=True)

        if "flood" in chosen:
            run("flood", scenario_flood, tmp / "flood", args.flood_seconds, args.rate, not args.no_midi)
        engine = tiny_engine() if {"failures", "disk-full"} & set(chosen) else None
        if "failures" in chosen:
            run("failures", scenario_failures, tmp / "failures", engine)
        if "kill" in chosen:
            run("kill", scenario_kill, tmp / "kill")
        if "disk-full" in chosen:
            run("disk-full", scenario_disk_full, tmp / "disk-full", engine, args.disk)
        shared = [s for s in ("controllers", "corrupt", "status") if s in chosen]
        if shared:
            daemon = Daemon(tmp / "shared")
            try:
                if "controllers" in shared:
                    run("controllers", scenario_controllers, daemon, min(args.flood_seconds, 3.0), args.rate)
                if "corrupt" in shared:
                    run("corrupt", scenario_corrupt, daemon, tmp / "shared")
                if "status" in shared:
                    run("status", scenario_status, daemon)
                daemon.stop()
            finally:
                daemon.kill()
    failed = [r.name for r in results if not r.ok]
    print(f"{len(results) - len(failed)} of {len(results)} scenarios passed every check"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{"name": r.name, "title": r.title, "figures": r.figures, "checks": r.checks} for r in results],
            indent=1, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
