"""Benchmark: jam mode in time with a DAW's clock, on JACK, with real peers written by others.

    python bench/jam.py --backend score --bpm 120 --bars 1 --minutes 2
    python bench/jam.py --backend score --bpm 96 --bars 1 --minutes 1 --sync link
    python bench/jam.py --backend score --bpm 120 --bars 2 --minutes 2 --quantize beat --beside phrase

Starts its own daemon (`serve --midi-virtual clock`, and `--midi-out` on score), JACK's dummy server
if none runs (`jackd --no-realtime -d dummy -r 48000 -p 256`), `jack_midi_clock` as the DAW's clock
(rolled with `jack_transport`), `jack_capture` for a WAV of the run, and its own JACK client that
records the daemon's ports and the clock in one process cycle (so bar lines and audio share frames).
Prints repeats, tempo following, bar alignment, beat splices under slider moves (`--move-every 2`: one
every 2 s), continuity 1 vs 0, bad input and variations, and ends with a line starting `jam:`. On `score` every figure is our own small model's.

`--sync link` runs itself inside a loopback-only network namespace (Link discovers peers by multicast)
with a second Link peer (bridge.testing.link_peer) at `--bpm`, playing, in place of jack_midi_clock:
loop names, phrase boundaries against the peer's bar lines (its Link timeline, converted to frames of
the recording), following the peer from 96 to 110 bpm, and the peer's stop and play.

`--quantize beat|bar|phrase` measures knob to ear instead (bench/jam_knob.py: the player in process,
playing in real time into memory, slider moves through the controller): from each change to the first
output audio made from it (median, p90), and a knob sweep (20 messages a second for 3 s): renders
started, boundaries heard, how many followed the knob, repeats, silent tenths. `--beside phrase` runs
that quantize too, in the same run, for the side-by-side figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run from a checkout without installing

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from analysis.jam.measures import boundary_flux, boundary_offsets, notes_kept, step_share  # noqa: E402
from bridge.testing import netns  # noqa: E402
from bridge.testing.link_peer import LinkPeer  # noqa: E402
from bridge.testing.osc_daemon import Daemon, jack_server, stop_process  # noqa: E402

SR = 48000
PERIOD = 256
TICKS_PER_BAR = 96
PIANO = "/synth/cfg"   # the slider the latency test moves: every backend has it, each value is unique


# ---------------------------------------------------------------------- JACK peers
@contextmanager
def jack_env():
    """The running JACK server's environment, or a private dummy server's."""
    env = dict(os.environ)
    if subprocess.run(["jack_lsp"], env=env, capture_output=True, timeout=10).returncode == 0:
        yield env
        return
    with jack_server() as env:
        yield env


def jack(env, *cmd, stdin: str | None = None):
    return subprocess.run(list(cmd), env=env, capture_output=True, text=True, timeout=30, input=stdin)


def connect(env, src, dst, timeout=15.0):
    deadline = time.monotonic() + timeout
    while jack(env, "jack_connect", src, dst).returncode:
        if time.monotonic() > deadline:
            raise RuntimeError(f"cannot connect {src} -> {dst}: {jack(env, 'jack_lsp').stdout.split()}")
        time.sleep(0.2)


class Recorder:
    """A JACK client recording two audio inputs and a MIDI clock input with their frame times; it can
    also send MIDI (absurd clocks) from its `bad_clock` output at given frames."""

    def __init__(self, seconds: float):
        import jack as jk

        self.client = jk.Client("jam-bench", no_start_server=True)
        self.ins = [self.client.inports.register("rec_L"), self.client.inports.register("rec_R")]
        self.clock_in = self.client.midi_inports.register("clock_in")
        self.midi_out = self.client.midi_outports.register("bad_clock")
        self.audio = np.zeros((int(seconds * SR), 2), np.float32)
        self.written = np.zeros(len(self.audio), bool)   # False where a loaded machine skipped our cycle
        self.start_frame: int | None = None
        self.n = 0
        self.recording = False
        self.clock: list[tuple[int, int]] = []   # (frame, status)
        self.outgoing: list[tuple[int, bytes]] = []
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames):
        now = self.client.last_frame_time
        for offset, buf in self.clock_in.incoming_midi_events():
            data = bytes(buf)
            if data and data[0] in (0xF8, 0xFA, 0xFB, 0xFC):
                self.clock.append((now + offset, data[0]))
        self.midi_out.clear_buffer()
        last = 0
        while self.outgoing and self.outgoing[0][0] < now + frames:
            at, data = self.outgoing.pop(0)
            last = max(last, at - now)     # JACK wants events in time order within a cycle
            try:
                self.midi_out.write_midi_event(last, data)
            except Exception:
                pass                       # a full buffer drops the event, as a cable would
        if self.recording:
            if self.start_frame is None:
                self.start_frame = now
            at = now - self.start_frame     # by frame time: a cycle JACK skipped us in stays silent
            if at + frames <= len(self.audio):
                self.audio[at:at + frames, 0] = self.ins[0].get_array()
                self.audio[at:at + frames, 1] = self.ins[1].get_array()
                self.written[at:at + frames] = True
                self.n = at + frames

    def bar_lines(self) -> list[int]:
        """Frames (in the recording) of the clock's bar lines: song tick 96k, from 0 at each Start and
        on from where it stopped at each Continue. jack_midi_clock puts its ticks on exact frames at a
        steady tempo, so within a run a tick's index is read from its time (the run's median interval),
        never counted: ticks JACK lost, handed over twice or late under load cannot move the truth
        the daemon is measured against."""
        out, base = [], 0
        marks = [i for i, (_, s) in enumerate(self.clock) if s in (0xFA, 0xFB)] + [len(self.clock)]
        for a, b in zip(marks, marks[1:]):
            ticks = [f for f, s in self.clock[a:b] if s == 0xF8]
            if self.clock[a][1] == 0xFA:
                base = 0
            if len(ticks) < 3:
                continue
            nominal = float(np.median(np.diff(ticks)))
            # The run's first tick comes a cycle after Start or Continue: if that one was lost, the
            # first we heard is a later index.
            k0 = base + max(0, int(np.ceil((ticks[0] - self.clock[a][0]) / nominal)) - 1)
            index = k0 + np.round((np.array(ticks) - ticks[0]) / nominal)
            origin = float(np.median(np.array(ticks) - index * nominal))   # late deliveries are outliers
            first = -(-int(index[0]) // TICKS_PER_BAR) * TICKS_PER_BAR
            out += [int(round(origin + k * nominal)) for k in range(first, int(index[-1]) + 1, TICKS_PER_BAR)]
            base = int(index[-1]) + 1
        base_frame = self.start_frame or 0
        return [f - base_frame for f in out if 0 <= f - base_frame < self.n]

    def close(self):
        self.client.deactivate()
        self.client.close()


class Clock:
    """jack_midi_clock at a tempo, rolled and stopped with jack_transport, wired to the daemon and us."""

    def __init__(self, env):
        self.env, self.proc = env, None

    def run(self, bpm: float, jitter: float = 0.0):
        self.close()
        jack(self.env, "jack_transport", stdin="stop\nlocate 0\n")
        self.proc = subprocess.Popen(["jack_midi_clock", "-b", f"{bpm:g}", "-J", f"{jitter:g}"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        connect(self.env, "jack_midi_clock:mclk_out", "latent-synth:clock")
        connect(self.env, "jack_midi_clock:mclk_out", "jam-bench:clock_in")
        time.sleep(0.5)   # the daemon's output mirrors a new clock source onto its frame-exact input
        jack(self.env, "jack_transport", stdin="play\n")

    def stop(self):
        jack(self.env, "jack_transport", stdin="stop\n")

    def close(self):
        if self.proc is not None:
            self.stop()
            stop_process(self.proc)
            self.proc = None


# ---------------------------------------------------------------------- OSC helpers
def status(client) -> dict:
    client.send("/synth/status")
    return json.loads(client.expect("/synth/status", 10)[0])


def loops(folder: Path) -> list[dict]:
    """Every jam loop's sidecar (with its path), in phrase order."""
    out = []
    for side in folder.glob("*bars_*.json"):
        d = json.loads(side.read_text())
        if d.get("kind") == "jam":
            d["path"] = side.with_suffix(".wav")
            out.append(d)
    return sorted(out, key=lambda d: d["phrase"])


def wait_loops(folder: Path, n: int, timeout: float, where=lambda d: True) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [d for d in loops(folder) if where(d)]
        if len(got) >= n:
            return got
        time.sleep(0.2)
    return [d for d in loops(folder) if where(d)]


def hook_up(env):
    connect(env, "latent-synth-audio:out_L", "jam-bench:rec_L")
    connect(env, "latent-synth-audio:out_R", "jam-bench:rec_R")


# ---------------------------------------------------------------------- the measurements
def alignment(rec: Recorder, bars: int, bpm: float) -> tuple[list[int], int]:
    """(offsets of the phrase edges found from their bar lines, bar lines looked at). A phrase starts on
    every `bars`-th bar line; a beat splice is an edge too, a beat or more from any phrase's bar line:
    the search reaches half a beat, and the residue of bar lines where most edges are found is the
    phrase grid."""
    lines = rec.bar_lines()
    found = [(boundary_offsets(rec.audio[:rec.n], lines[k::bars], search=int(30.0 / bpm * SR),
                               valid=rec.written[:rec.n]), len(lines[k::bars])) for k in range(bars)]
    return max(found, key=lambda f: len(f[0]))


def main_run(daemon, client, rec, env, folder, bpm, bars, minutes, rng, move_every: float | None = None) -> dict:
    clock = Clock(env)
    client.send("/synth/jam/sync", "midi-clock")
    client.send("/synth/jam/bars", bars)
    client.send("/synth/jam/continuity", 1.0)
    clock.run(bpm)
    wait_loops(folder, 1, 60)
    hook_up(env)
    rec.recording = True
    capture = subprocess.Popen(["jack_capture", "-d", f"{minutes * 60:.0f}", "-f", "wav", "--port",
                                "latent-synth-audio:out_L", "--port", "latent-synth-audio:out_R",
                                str(folder.parent / "jam_capture.wav")], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    changes = []
    end = time.monotonic() + minutes * 60
    next_change = time.monotonic() + 3.0
    k = 0
    while time.monotonic() < end:
        if time.monotonic() >= next_change:
            k += 1
            value = round(2.0 + 0.01 * k, 2)
            changes.append((rec.client.frame_time, value))
            client.send(PIANO, value)
            next_change = time.monotonic() + (move_every or rng.uniform(1.5, 3.5) * 4 * 60.0 / bpm * bars)
        time.sleep(0.02)
    rec.recording = False
    st = status(client)
    capture.wait(30)
    clock.close()
    client.send("/synth/jam/stop")
    offsets, looked = alignment(rec, bars, bpm)
    half = len(offsets) // 2
    return {"repeats": st["jam_repeats"], "phrases": st["jam"]["phrases_played"], "changes": len(changes),
            "bar_lines": looked,
            "splices": st["jam"]["splices"], "splices_late": st["jam"]["splices_late"],
            "offsets": offsets, "first_half": offsets[:half], "second_half": offsets[half:],
            "underruns": st["jam"]["underruns"], "skipped_cycles": st["jam"].get("skipped_cycles", 0)}


def tempo_runs(client, rec, env, folder, tempi, bars) -> list[dict]:
    clock = Clock(env)
    out = []
    plan = [(b, None) for b in tempi] + [(120.0, 90.0)]
    for bpm, then in plan:
        start_phrase = (loops(folder) or [{"phrase": 0}])[-1]["phrase"]
        rec.n, rec.start_frame, rec.clock = 0, None, []
        rec.written[:] = False
        rec.recording = True
        clock.run(bpm)
        got = wait_loops(folder, 3, 90, lambda d: d["phrase"] > start_phrase)
        if then is not None:       # the DAW's tempo changes: stop, new tempo, play (Song Position + Continue)
            jack(env, "jack_transport", stdin="stop\n")
            clock.close()
            time.sleep(0.5)        # the stop writes the phrase that was playing (heard as far as it got)
            changed_at = loops(folder)[-1]["phrase"]
            clock.proc = subprocess.Popen(["jack_midi_clock", "-b", f"{then:g}"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            connect(env, "jack_midi_clock:mclk_out", "latent-synth:clock")
            connect(env, "jack_midi_clock:mclk_out", "jam-bench:clock_in")
            time.sleep(0.5)
            jack(env, "jack_transport", stdin="play\n")
            got = wait_loops(folder, 3, 90, lambda d: d["phrase"] > changed_at)
        time.sleep(4 * 60.0 / (then or bpm) * bars)
        rec.recording = False
        offsets, _ = alignment(rec, bars, then or bpm)
        out.append({"clock": f"{bpm:g}" + (f"->{then:g}" if then else ""), "target": then or bpm,
                    "bpms": [d["bpm"] for d in got[-3:]], "offsets": offsets})
        clock.stop()
    clock.close()
    return out


def jitter_runs(client, env, folder, tempi, jitters, bars, n=8) -> list[dict]:
    """Steady runs of jack_midi_clock with -J jitter (every tick interval jittered by up to J%): the loop
    names of each run (goal: one) and the first phrase's tempo error after Start (goal: < 0.5%)."""
    clock = Clock(env)
    client.send("/synth/jam/sync", "midi-clock")
    client.send("/synth/jam/bars", bars)
    out = []
    for bpm in tempi:
        for j in jitters:
            start = (loops(folder) or [{"phrase": 0}])[-1]["phrase"]
            clock.run(bpm, j)
            got = wait_loops(folder, n, 60 + n * bars * 240 / bpm, lambda d: d["phrase"] > start)[:n]
            clock.stop()
            time.sleep(0.5)
            names = [d["bpm"] for d in got]
            out.append({"bpm": bpm, "jitter": j, "names": names,
                        "first_error": abs(names[0] - bpm) / bpm if names else float("nan")})
    clock.close()
    client.send("/synth/jam/stop")
    return out


def synthetic_jitter(tempi, jitters, phrases=16, seeds=4) -> list[dict]:
    """The same figures from the clock tracker alone (no JACK, no daemon), on synthetic ticks jittered
    by up to J% of an interval, each tick on its own (a USB cable's delivery) or every interval (the
    phrase wanders, as jack_midi_clock -J does): distinct names per 1-bar steady run, and the first
    phrase's error (the tempo when the tracker first settles)."""
    from bridge.jam.midi_clock import PPQN, TICKS_PER_BAR, ClockTracker

    out = []
    for wander in (False, True):
        for bpm in tempi:
            for j in jitters:
                rng, dt = np.random.default_rng(0), 60.0 / (bpm * PPQN)
                distinct, errors = [], []
                for _ in range(seeds):
                    tr = ClockTracker()
                    tr.feed("start", 0.0)
                    t, first, names = 0.005, None, []
                    for i in range(TICKS_PER_BAR * (phrases + 1)):
                        jitter = rng.uniform(-j, j) / 100 * dt
                        tr.feed("clock", t + (0.0 if wander else jitter))
                        t += dt + (jitter if wander else 0.0)
                        if first is None and tr.settled:
                            first = tr.tempo
                        elif first is not None and i % TICKS_PER_BAR == 0:
                            names.append(tr.tempo)
                    distinct.append(len(set(names)))
                    errors.append(abs(first - bpm) / bpm)
                out.append({"wander": wander, "bpm": bpm, "jitter": j, "distinct": distinct, "first_error": max(errors)})
    return out


def print_synthetic(rows) -> None:
    for r in rows:
        print(f"tempo under jitter (synthetic, {'every interval' if r['wander'] else 'each tick'}): {r['bpm']:g} bpm, "
              f"{r['jitter']:g}%: distinct loop names per 16-bar run {r['distinct']}; first phrase error max "
              f"{r['first_error']:.2%}")


def print_jitter(runs) -> None:
    for r in runs:
        print(f"tempo under jitter: {r['bpm']:g} bpm, -J {r['jitter']:g}: {len(set(r['names']))} distinct loop names in "
              f"{len(r['names'])} loops ({', '.join(sorted({f'{b:g}' for b in r['names']}))}); first phrase "
              f"{r['first_error']:.2%} off")


def jitter_summary(runs) -> str:
    if not runs:
        return ""
    return (f"one loop name in {sum(len(set(r['names'])) == 1 for r in runs)}/{len(runs)} jittered runs, first phrase "
            f"error max {max(r['first_error'] for r in runs):.2%}; ")


def continuity_runs(client, folder, bars, n) -> dict:
    client.send("/synth/jam/sync", "internal")
    client.send("/synth/bpm", 120.0)
    client.send("/synth/jam/bars", bars)
    out = {}
    for c in (1.0, 0.0):
        client.send("/synth/jam/continuity", c)
        client.send("/synth/jam/start")
        start = (loops(folder) or [{"phrase": 0}])[-1]["phrase"]
        got = wait_loops(folder, n, 60 + n * 8, lambda d: d["phrase"] > start and d["continuity"] == c)[:n]
        client.send("/synth/jam/stop")
        audio = [sf.read(d["path"], always_2d=True)[0].T for d in got]
        at, inside = boundary_flux(audio)
        melodies = []
        for d in got:
            mid = d["path"].with_suffix(".mid")
            if mid.exists():
                from synth.score.midi_read import MidiReadError, midi_to_score

                try:
                    v = midi_to_score(mid.read_bytes()).voice("melody")
                    melodies.append([x.pitch for x in sorted(v.notes, key=lambda x: x.start)] if v else [])
                except MidiReadError:
                    melodies.append([])
        share, joins = step_share(melodies) if melodies else (float("nan"), 0)
        out[c] = {"flux_ratio": at / inside if inside else float("nan"), "step_share": share, "joins": joins,
                  "phrases": len(got)}
    return out


def bad_input(client, rec, env, work) -> list[tuple[str, bool, str]]:
    """Absurd clocks from our own MIDI output into the daemon's clock input; no audio device; a JACK
    server that goes away. Each: (case, the daemon said so and kept serving, its message)."""
    out = []
    connect(env, "jam-bench:bad_clock", "latent-synth:clock")
    client.send("/synth/jam/sync", "midi-clock")
    time.sleep(1.5)   # the daemon mirrors the new source onto its frame-exact clock input

    def send_ticks(interval_s, count, start=True):
        now = rec.client.frame_time + SR // 10
        events = [(now, b"\xfa")] if start else []
        events += [(now + int(i * interval_s * SR) + 1, b"\xf8") for i in range(count)]
        rec.outgoing.extend(events)
        return (events[-1][0] - rec.client.frame_time) / SR

    cases = [("1000 bpm clock", 60 / (1000 * 24), 200, "outside 20..400"),
             ("0 bpm clock (a tick every 4 s)", 4.0, 3, "outside 20..400"),
             ("ticks that stop mid-bar", 60 / (120 * 24), 60, "stopped mid-bar")]
    for name, interval, count, needle in cases:
        client.drain(0.1)
        wait = send_ticks(interval, count)
        message = ""
        deadline = time.monotonic() + wait + 4.0
        while time.monotonic() < deadline and needle not in message:
            got = client.recv(0.2)
            if got and got[0] == "/synth/error":
                message = got[1][1]
        client.send("/synth/ping")
        alive = client.expect("/synth/pong", 5) == []
        out.append((name, needle in message and alive, message))
    client.send("/synth/jam/stop")
    jack(env, "jack_disconnect", "jam-bench:bad_clock", "latent-synth:clock")
    client.send("/synth/jam/sync", "internal")

    # no audio device: a daemon whose JACK server does not exist
    d = Daemon(work / "nodev", "--jam", env={"JACK_DEFAULT_SERVER": "lsynth-absent", "JACK_NO_START_SERVER": "1"})
    try:
        c = d.client()
        c.send("/synth/ping")
        alive = c.expect("/synth/pong", 5) == []
        line = next((x.strip() for x in d.stderr if "jam not started" in x), "")
        out.append(("no audio device", alive and bool(line), line))
        c.close()
    finally:
        d.kill()
    # a JACK server that goes away under a jamming daemon (a server of our own, stopped by its pid)
    name = f"lsynth-gone-{os.getpid()}"
    env2 = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    jackd = subprocess.Popen(["jackd", "-n", name, "--no-realtime", "-d", "dummy", "-r", "48000", "-p", "256"],
                             env=env2, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while jack(env2, "jack_lsp").returncode and time.monotonic() < deadline:
            time.sleep(0.2)
        d = Daemon(work / "gone", "--jam", env={"JACK_DEFAULT_SERVER": name, "JACK_NO_AUDIO_RESERVATION": "1"})
        try:
            c = d.client()
            c.send("/synth/ping")      # so the daemon knows where to send its errors
            c.expect("/synth/pong", 5)
            time.sleep(3)
            stop_process(jackd)
            message = ""
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and "went away" not in message:
                got = c.recv(0.5)
                if got and got[0] == "/synth/error":
                    message = got[1][1]
            c.send("/synth/ping")
            alive = c.expect("/synth/pong", 5) == []
            out.append(("JACK server goes away", alive and "went away" in message, message))
            c.close()
        finally:
            d.kill()
    finally:
        stop_process(jackd)
    return out


def variations(backend: str, n: int, seconds: float = 4.0) -> dict:
    """Feature distance to the source and notes kept, at strength 0.3 and 0.9, over n source clips."""
    from analysis.steering.acoustic_features import FEATURE_NAMES, features_from_audio
    from synth.config import load_config
    from synth.denoise import Guide
    from synth.engine import build_engine
    from synth.score.midi_read import midi_to_score
    from synth.state import PromptSlot, SynthState

    engine = build_engine(load_config(None).override(backend=backend))
    prompts = ["slow sad cello melody", "fast happy piano with drums", "calm flute", "funky bass groove"]
    feats, kept = {0.3: [], 0.9: []}, {0.3: [], 0.9: []}
    src_feats = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            state = SynthState(prompts=[PromptSlot(prompts[i % len(prompts)], 1.0)], duration=seconds, seed=i)
            rendered = engine.render(state)
            audio = rendered.audio
            if engine.family.writes_score:
                path = Path(tmp) / f"src{i}.mid"
                path.write_bytes(rendered.midi(0))
                source_score = midi_to_score(rendered.midi(0))
            else:
                path = Path(tmp) / f"src{i}.wav"
                sf.write(path, audio[0].T, engine.sample_rate)
                source_score = None
            src_feats.append(features_from_audio(audio[0], engine.sample_rate))
            latent = engine.init_latent(path, seconds)
            for s in (0.3, 0.9):
                var = engine.render(state.replace(seed=i + 1000), guide=Guide(latent, strength=s))
                feats[s].append(features_from_audio(var.audio[0], engine.sample_rate))
                if source_score is not None:
                    kept[s].append(notes_kept(source_score, midi_to_score(var.midi(0))))
    names = [f for f in FEATURE_NAMES if all(np.isfinite(d[f]) for d in src_feats)]
    # Distances in units of each feature's spread over every clip (sources and variations alike).
    rows = src_feats + feats[0.3] + feats[0.9]
    names = [f for f in names if all(np.isfinite(r[f]) for r in rows)]
    sd = np.array([[r[f] for f in names] for r in rows]).std(0)
    names = [f for f, v in zip(names, sd) if v > 1e-9]
    sd = sd[sd > 1e-9]

    def dist(rows):
        return [float(np.linalg.norm((np.array([r[f] for f in names]) - np.array([s[f] for f in names])) / sd))
                for r, s in zip(rows, src_feats)]

    out = {}
    for s in (0.3, 0.9):
        d = dist(feats[s])
        out[s] = {"distance": statistics.median(d), "kept": statistics.median(kept[s]) if kept[s] else None}
    out["grows"] = sum(a < b for a, b in zip(dist(feats[0.3]), dist(feats[0.9])))
    out["n"] = n
    return out


# ---------------------------------------------------------------------- Ableton Link
def link_bar_lines(samples: list[dict], clock: list[tuple[int, float]], start_frame: int, n: int) -> list[int]:
    """The peer's bar lines (beats 4k on its Link timeline) as frames of the recording. `samples` are the
    peer's (tempo, beat, monotonic time) readings; `clock` pairs JACK frame times with monotonic times
    (read together), so the dummy server's own rate is followed. Between two readings at different
    tempi the change itself cannot be placed: lines there are left out."""
    frames, times = np.array([f for f, _ in clock], float), np.array([t for _, t in clock])
    samples = [d for d in samples if d["spread"] <= 0.002]     # read without a preemption in between
    out = []
    for a, b in zip(samples, samples[1:]):
        if a["tempo"] != b["tempo"]:
            continue
        first = int(np.ceil(a["beat"] / 4))
        for k in range(first, int(np.floor(b["beat"] / 4)) + 1):
            t = a["at"] + (4 * k - a["beat"]) * 60.0 / a["tempo"]
            f = int(round(np.interp(t, times, frames))) - start_frame
            if 0 <= f < n and (not out or f > out[-1]):
                out.append(f)
    return out


def clock_pair(rec) -> tuple[int, float] | None:
    """(JACK frame time, time.monotonic()) read together; None when a preemption came between them."""
    before, at, after = rec.client.frame_time, time.monotonic(), rec.client.frame_time
    return None if after - before > SR // 500 else ((before + after) // 2, at)


def link_run(client, rec, env, folder, bpm, bars, minutes) -> dict:
    peer = LinkPeer(bpm)
    time.sleep(2.0)      # an older session than the daemon's: when sessions meet, Link keeps the older timeline
    try:
        client.send("/synth/jam/bars", bars)
        client.send("/synth/jam/continuity", 1.0)
        client.send("/synth/jam/sync", "link")
        deadline = time.monotonic() + 20
        while status(client)["jam"]["peers"] != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        peer.say("stop")        # a joining peer does not take up a play pressed before it: press it again
        peer.say("play")        # the jam starts on the peer's next bar line
        wait_loops(folder, 1, 60)
        hook_up(env)
        rec.recording = True
        samples, clock = [], []
        changed_at, end = None, time.monotonic() + minutes * 60
        halfway = time.monotonic() + minutes * 30
        while time.monotonic() < end:
            if changed_at is None and time.monotonic() >= halfway:
                changed_at = (loops(folder) or [{"phrase": 0}])[-1]["phrase"]
                peer.say("tempo 110")
            samples.append(peer.state())
            clock += filter(None, [clock_pair(rec)])
            time.sleep(0.25)
        rec.recording = False
        st = status(client)
        sides = loops(folder)
        before = [d["bpm"] for d in sides if d["phrase"] <= (changed_at or 0)]
        after = [d["bpm"] for d in sides if d["phrase"] > (changed_at or 0)]
        lines = link_bar_lines(samples, clock, rec.start_frame or 0, rec.n)
        offsets = boundary_offsets(rec.audio[:rec.n], lines, search=int(4 * 60.0 / bpm * SR * bars / 4),
                                   valid=rec.written[:rec.n])
        # the peer's stop stops the jam; its play starts it on the session's next bar line
        peer.say("stop")
        t0 = time.monotonic()
        stopped = next((time.monotonic() - t0 for _ in range(100) if not status(client)["jam"]["active"]
                        or time.sleep(0.1)), None)
        time.sleep(1.0)
        phrase = (loops(folder) or [{"phrase": 0}])[-1]["phrase"]
        rec.n, rec.start_frame = 0, None
        rec.written[:] = False
        rec.recording = True
        peer.say("play")
        clock, samples = [], []
        got = []
        deadline = time.monotonic() + 60
        while len(got) < 2 and time.monotonic() < deadline:   # the peer's bar lines as the jam starts
            samples.append(peer.state())                        # (a play may move a peer's beat 0)
            clock += filter(None, [clock_pair(rec)])
            got = [d for d in loops(folder) if d["phrase"] > phrase]
            time.sleep(0.25)
        rec.recording = False
        sound = np.flatnonzero(np.abs(rec.audio[:rec.n]).max(1) > 1e-4)
        lines = link_bar_lines(samples, clock, rec.start_frame or 0, rec.n)
        first = int(sound[0]) if len(sound) else None
        onset = min((first - f for f in lines), key=abs) if first is not None and lines else None
        return {"repeats": st["jam_repeats"], "underruns": st["jam"]["underruns"], "peers": st["jam"]["peers"],
                "before": before, "after": after, "offsets": offsets, "stopped_s": stopped,
                "restarted": len(got) >= 1, "restart_offset": onset}
    finally:
        peer.close()
        client.send("/synth/jam/sync", "internal")


def jack_stage(stack: ExitStack, minutes: float):
    """A work folder, a private JACK server (its environment), a recorder and the daemon's JACK environment."""
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jam-bench-")))
    env = stack.enter_context(jack_env())
    denv = {k: env[k] for k in ("JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION") if k in env}
    os.environ.update(denv)
    rec = Recorder(minutes * 60 + 60)
    stack.callback(rec.close)
    return work, env, rec, denv


def main_link(args) -> int:
    """`--sync link`: the daemon and a Link peer, inside a loopback-only network namespace."""
    if not netns.inside():
        reason = netns.unavailable()
        if reason:
            print(f"jam: link: {reason}")
            return 1
        return subprocess.run(netns.command([sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]])).returncode
    t0 = time.monotonic()
    with ExitStack() as stack:
        work, env, rec, denv = jack_stage(stack, args.minutes)
        daemon = Daemon(work / "daemon", "--backend", args.backend, env=denv)
        stack.callback(daemon.kill)
        client = daemon.client()
        r = link_run(client, rec, env, daemon.out, args.bpm, args.bars, args.minutes)
    off = [abs(o) for o in r["offsets"]]
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1, default=str))
    names = sorted({f"{b:g}" for b in r["before"]})
    print(f"link: {args.minutes:g} min at {args.bpm:g} bpm, {args.bars}-bar phrases, one peer: {r['repeats']} repeats, "
          f"{r['underruns']} output underruns, peers {r['peers']}")
    print(f"link loop names before the change: {', '.join(names)} bpm ({len(r['before'])} loops); after the peer's "
          f"110 bpm: {', '.join(f'{b:g}' for b in r['after'])}")
    print(f"link bar alignment: {len(off)} phrase boundaries vs the peer's bar lines (its Link timeline in recording "
          f"frames): median {pct(off, 50):.0f}, p95 {pct(off, 95):.0f}, max {max(off) if off else float('nan'):.0f} "
          f"frames; {sum(o <= PERIOD for o in off)}/{len(off)} within {PERIOD}")
    print(f"link transport: the peer's stop stopped the jam after {r['stopped_s']:.2f} s; its play started it "
          f"{'again' if r['restarted'] else 'NOT again'}, {r['restart_offset']} frames from the peer's bar line")
    follows = next((i for i, b in enumerate(r["after"]) if b == 110.0), None)
    print(f"jam: link {args.backend} {args.bpm:g} bpm {args.bars} bar(s) {args.minutes:g} min: "
          f"{sum(o <= PERIOD for o in off)}/{len(off)} boundaries within {PERIOD} frames of the peer's bar lines "
          f"(median {pct(off, 50):.0f}, max {max(off) if off else float('nan'):.0f}); names {'/'.join(names)}; "
          f"110 bpm followed from phrase {follows if follows is None else follows + 1} after the change; "
          f"stop {'ok' if r['stopped_s'] is not None else 'FAILED'}, start "
          f"{'ok' if r['restarted'] else 'FAILED'}; {r['repeats']} repeats; wall {time.monotonic() - t0:.0f} s")
    return 0


# ---------------------------------------------------------------------- report
def main_knob(args) -> int:
    from bench.jam_knob import knob_run
    from synth.backends import load_backend
    from synth.engine import Engine

    t0 = time.monotonic()
    engine = Engine(load_backend(args.backend, device="cpu"))
    runs = []
    for i, quantize in enumerate([args.quantize] + ([args.beside] if args.beside else [])):
        r = knob_run(engine, quantize, args.bpm, args.bars, args.minutes, np.random.default_rng(i))
        lat = r["latency_s"]
        print(f"knob to ear, quantize {quantize}: {len(lat)}/{r['changes']} changes heard: median "
              f"{pct(lat, 50):.2f} s, p90 {pct(lat, 90):.2f} s, max {max(lat, default=float('nan')):.2f} s; "
              f"{r['splices']} splices ({r['splices_late']} too late for their beat; {r['splices_cancelled']} renders "
              f"given up for a newer state), {r['repeats']} repeats, "
              f"{r['underruns']} underruns")
        print(f"joins, quantize {quantize}: spectral flux across splices / across the other beats {r['splice_flux_ratio']:.2f}, "
              f"/ at the same beat of the phrase each replaced {r['same_beat_flux_ratio']:.2f} ({r['same_beat_splices']} splices), "
              f"across phrase starts / the other beats {r['phrase_flux_ratio']:.2f}; melody moves by a step at "
              f"{r['splice_step_share']:.0%} of {r['splice_steps_counted']} splices, at {r['phrase_step_share']:.0%} of "
              f"{r['phrase_joins']} phrase boundaries")
        print(f"sweep ({r['sweep_messages']} messages in 3 s), quantize {quantize}: {r['sweep_renders']} renders "
              f"started ({r['sweep_cancelled']} given up for a newer state), {r['sweep_followed']}/{r['sweep_boundaries']} boundaries heard followed the knob, "
              f"{r['sweep_repeats']} repeats, {r['sweep_silent_tenths']} silent tenths of a second; largest queue 0 "
              f"(one render at a time, from the newest state when it starts)")
        runs.append(r)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    side = "; ".join(f"{r['quantize']} median {pct(r['latency_s'], 50):.2f} s p90 {pct(r['latency_s'], 90):.2f} s"
                     for r in runs[1:])
    r = runs[0]
    print(f"jam: knob to ear {args.backend} {args.bpm:g} bpm {args.bars} bar(s) {args.minutes:g} min, quantize "
          f"{r['quantize']}: latency median {pct(r['latency_s'], 50):.2f} s, p90 {pct(r['latency_s'], 90):.2f} s "
          f"over {len(r['latency_s'])} changes; sweep {r['sweep_followed']}/{r['sweep_boundaries']} followed, "
          f"{r['sweep_renders']} renders; {side + '; ' if side else ''}wall {time.monotonic() - t0:.0f} s")
    return 0


def pct(xs, q):
    return float(np.percentile(xs, q)) if xs else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="score")
    ap.add_argument("--bpm", type=float, default=120.0)
    ap.add_argument("--bars", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--tempi", default="60,90,140,180")
    ap.add_argument("--continuity-phrases", type=int, default=16)
    ap.add_argument("--variations", type=int, default=20)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--sync", choices=("midi-clock", "link"), default="midi-clock")
    ap.add_argument("--jitter-tempi", default="96,120,140", help="tempi of the jittered clock runs")
    ap.add_argument("--jitters", default="0,2,5", help="jack_midi_clock -J percentages ('' skips the runs)")
    ap.add_argument("--only-jitter", action="store_true", help="run only the tempo-under-jitter measurement")
    ap.add_argument("--quantize", choices=("beat", "bar", "phrase"), help="measure knob to ear at this quantize")
    ap.add_argument("--move-every", type=float, metavar="S",
                    help="move the slider every S seconds in the main run (default: every 1.5-3.5 phrases)")
    ap.add_argument("--beside", choices=("beat", "bar", "phrase"), help="... and at this one, in the same run")
    args = ap.parse_args(argv)
    if args.quantize:
        return main_knob(args)
    if args.sync == "link":
        return main_link(args)
    rng = np.random.default_rng(0)
    results: dict = {}
    with ExitStack() as stack:
        work, env, rec, denv = jack_stage(stack, args.minutes)
        denv["MIDO_BACKEND"] = "mido.backends.rtmidi/UNIX_JACK"
        from synth.backends import spec_for

        extra = ["--midi-out", "notes"] if spec_for(args.backend).writes_score else []
        daemon = Daemon(work / "daemon", "--backend", args.backend, "--midi-virtual", "clock", *extra, env=denv)
        stack.callback(daemon.kill)
        client = daemon.client()
        folder = daemon.out
        t0 = time.monotonic()
        jitter_args = ([float(x) for x in args.jitter_tempi.split(",")], [float(x) for x in args.jitters.split(",")]
                       if args.jitters else [])
        if args.only_jitter:
            print_synthetic(synthetic_jitter(*jitter_args))
            runs = jitter_runs(client, env, folder, *jitter_args, args.bars)
            print_jitter(runs)
            print(f"jam: tempo under jitter: {jitter_summary(runs)}wall {time.monotonic() - t0:.0f} s")
            return 0
        results["main"] = main_run(daemon, client, rec, env, folder, args.bpm, args.bars, args.minutes, rng,
                                   args.move_every)
        m = results["main"]
        print(f"real time: {args.minutes:g} min at {args.bpm:g} bpm, {args.bars}-bar phrases: {m['phrases']} phrases, "
              f"{m['repeats']} repeats, {m['underruns']} output underruns, {m['skipped_cycles']} JACK cycles the "
              f"server ran without the daemon")
        off = [abs(o) for o in m["offsets"]]
        print(f"bar alignment: {len(off)} phrase boundaries found at {m['bar_lines']} phrase bar lines (half a beat "
              f"either side) vs the clock's bar lines: median {pct(off, 50):.0f}, "
              f"p95 {pct(off, 95):.0f}, max {max(off) if off else float('nan'):.0f} frames; "
              f"{sum(o <= PERIOD for o in off)}/{len(off)} within {PERIOD}; drift: median offset first half "
              f"{pct(m['first_half'], 50):.0f}, second half {pct(m['second_half'], 50):.0f} frames")
        print(f"slider moves ({m['changes']} of {PIANO}, quantize beat): {m['splices']} beat splices heard, "
              f"{m['splices_late']} too late for their beat (knob to ear is measured by --quantize, in process)")
        results["tempo"] = tempo_runs(client, rec, env, folder, [float(x) for x in args.tempi.split(",")], args.bars)
        for t in results["tempo"]:
            off = [abs(o) for o in t["offsets"]]
            print(f"tempo {t['clock']} bpm: loops at {', '.join(f'{b:g}' for b in t['bpms'])} bpm; "
                  f"boundaries within {PERIOD} frames of the bar line: {sum(o <= PERIOD for o in off)}/{len(off)}")
        if jitter_args[1]:
            results["jitter"] = jitter_runs(client, env, folder, *jitter_args, args.bars)
            print_jitter(results["jitter"])
        results["continuity"] = continuity_runs(client, folder, args.bars, args.continuity_phrases)
        for c, r in results["continuity"].items():
            print(f"continuity {c:g}: {r['phrases']} phrases; spectral flux at boundaries / inside = {r['flux_ratio']:.2f}; "
                  f"melody moves by a step at {r['step_share']:.0%} of {r['joins']} boundaries")
        results["bad_input"] = bad_input(client, rec, env, work)
        for name, ok, message in results["bad_input"]:
            print(f"bad input: {name}: {'ok' if ok else 'FAILED'}: {message}")
        client.close()
        daemon.kill()
    results["variations"] = variations(args.backend, args.variations)
    v = results["variations"]
    kept = (f"; notes kept {v[0.3]['kept']:.0%} at 0.3 vs {v[0.9]['kept']:.0%} at 0.9"
            if v[0.3]["kept"] is not None else "")
    print(f"variations ({v['n']} clips): feature distance to the source, median {v[0.3]['distance']:.2f} at strength "
          f"0.3 vs {v[0.9]['distance']:.2f} at 0.9 (grows on {v['grows']}/{v['n']}){kept}")
    m = results["main"]
    off = [abs(o) for o in m["offsets"]]
    tempo_ok = sum(all(abs(b - t["target"]) <= 0.02 * t["target"] for b in t["bpms"]) for t in results["tempo"])
    c1, c0 = results["continuity"][1.0], results["continuity"][0.0]
    print(f"jam: {args.backend} {args.bpm:g} bpm {args.bars} bar(s) {args.minutes:g} min: {m['repeats']} repeats; "
          f"{sum(o <= PERIOD for o in off)}/{len(off)} boundaries within {PERIOD} frames; tempo followed "
          f"{tempo_ok}/{len(results['tempo'])}; {jitter_summary(results.get('jitter', []))}{m['changes']} slider moves, {m['splices']} splices; step share "
          f"{c1['step_share']:.0%} (continuity 1) vs {c0['step_share']:.0%} (0); bad input "
          f"{sum(ok for _, ok, _ in results['bad_input'])}/{len(results['bad_input'])} ok; variation distance "
          f"{v[0.3]['distance']:.2f} -> {v[0.9]['distance']:.2f}; wall {time.monotonic() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
