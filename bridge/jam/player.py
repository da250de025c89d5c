"""Jam mode: a continuous stream of phrases in time, on an audio output, from the state as it is.

Three threads besides the audio callback:
- the feeder keeps the output's ring buffer a few periods ahead with `JamSequencer.fill` (frames);
- the renderer renders the next phrase when the current one is a lead before its end (`render_lead`:
  half the phrase, or more when recent renders were slow), from the state at that moment, continuing the
  previous phrase (`synth.jam.PhraseRenderer`), and hands it to the sequencer; then writes the loop.
  Under `quantize` beat or bar, a state change while a phrase plays re-renders the rest of that phrase
  from the next beat (bar line) a render can still make (`splice_lead`, `synth.jam_splice`), holding
  what played before it, and a next phrase already rendered from the old state is rendered again; each
  loop is written once its phrase has played, as it was heard;
- the MIDI input thread (the daemon's) feeds the clock tracker when sync is `midi-clock`;
  under `link` the feeder reads the Link session (bridge.jam.link_session) into a LinkTimeline.
A phrase that is not ready at its bar line (slow, failed, NaN) is replaced by the previous one
repeating; /synth/error says so and /synth/status counts `jam_repeats`.
"""
from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import mido
import numpy as np

from bridge.events import ERROR, RENDERED, STATE_CHANGED, Events
from bridge.jam.link_session import LinkSession, LinkUnavailable
from bridge.jam.link_timeline import LinkTimeline
from bridge.jam.midi_clock import CLOCK_KINDS, ClockTracker
from bridge.jam.midi_out import MidiOut
from bridge.jam.outputs import AudioOutputError, Output, open_output
from bridge.jam.sequencer import Grid, InternalGrid, JamSequencer, Slot
from synth.denoise import Cancelled
from synth.jam_splice import DEFAULT_QUANTIZE, check_quantize, splice_at
from synth.jam import (DEFAULT_BARS, DEFAULT_BPM, FADE, Phrase, PhraseRenderer, check_bars, check_continuity, edge_fades,
                       phrase_samples)
from synth.loop_files import write_loop
from synth.state import SynthState

if TYPE_CHECKING:
    from synth.engine import Engine

log = logging.getLogger(__name__)

SYNCS = ("internal", "midi-clock", "link")
FOLLOWS = ("midi-clock", "link")   # syncs whose bar lines and transport come from outside
FILL_PERIODS = 24          # ring buffer kept this many output periods ahead (128 ms at 256 / 48 kHz)
MIN_LEAD = 0.25            # seconds before a bar line the next render starts, at least
LEAD_FACTOR = 1.5          # ... and this times the slowest recent render (a loaded machine's spikes)
LEAD_SHARE = 0.5           # ... and this share of the phrase: a slider move is heard after about the
                           # lead + half a phrase (the median), so half a phrase keeps that near one
                           # phrase (the target: one phrase + 0.5 s) while a render has that long
RECENT_RENDERS = 8         # renders the slowest is taken over
MIN_SPLICE_LEAD = 0.1      # seconds a beat splice renders ahead of what is heard, at least
SPLICE_FACTOR = 1.1        # ... and this times the typical (median) recent splice render
RING_KEEP = 3              # periods the ring keeps when a splice takes frames back (the audio thread may
                           # be copying one now): a splice is heard this soon after it is ready
LINK_POLL = 0.01           # seconds between readings of the Link session


def render_lead(phrase_seconds: float, recent_renders: Sequence[float]) -> float:
    """Seconds before the bar line the next phrase starts rendering."""
    return max(MIN_LEAD, LEAD_FACTOR * max(recent_renders), LEAD_SHARE * phrase_seconds)


def splice_lead(recent_renders: Sequence[float]) -> float:
    """Seconds a beat splice must be ahead of what the speakers play: on the typical (median) render,
    with less margin than a phrase's lead: a splice that misses its beat costs a beat of latency (the
    change comes in at the next), never a repeat, as a late phrase would."""
    return max(MIN_SPLICE_LEAD, SPLICE_FACTOR * statistics.median(recent_renders))


def render_due(current: Slot, played: int, sample_rate: int, period: int, recent_renders: Sequence[float]) -> bool:
    """Whether the phrase after `current` (playing; the output has played `played` frames) should start
    rendering now: within the render lead (plus the ring's fill) of the bar line where it must start,
    or at once when `current` already repeats."""
    lead = render_lead(len(current.audio) / sample_rate, recent_renders) * sample_rate
    return current.stop - played <= lead + FILL_PERIODS * period or current.repeat


class ClockGrid:
    """An outside clock's bar lines (the MIDI clock tracker's or the Link timeline's) in output frames
    (the internal grid while no tempo is known)."""
    moving = True   # re-read at every fill: the frame map and the fit move

    def __init__(self, tracker: ClockTracker | LinkTimeline, output: Output, fallback: InternalGrid,
                 lock: threading.Lock):
        self.tracker: ClockTracker | LinkTimeline = tracker
        self.output: Output = output
        self.fallback: InternalGrid = fallback
        self.lock: threading.Lock = lock

    def _bar_at_or_after(self, t: float):
        with self.lock:
            return self.tracker.next_bar(t), self.tracker.bpm

    def next_bar(self, frame: int) -> int:
        (got, _) = self._bar_at_or_after(self.output.frame_to_time(frame))
        return self.fallback.next_bar(frame) if got is None else max(frame, self.output.time_to_frame(got[1]))

    def boundary(self, natural_end: int) -> int:
        with self.lock:
            bpm = self.tracker.bpm
        if bpm is None:
            return natural_end
        # The first bar line after "half a bar before the end" is the one nearest the end.
        got, _ = self._bar_at_or_after(self.output.frame_to_time(natural_end) - 2 * 60.0 / bpm)
        return natural_end if got is None else self.output.time_to_frame(got[1])

    def anchor_at(self, frame: int) -> None:
        self.fallback.anchor_at(frame)


def to_output_rate(audio: np.ndarray, rate: int, out_rate: int, bpm: float, bars: int) -> np.ndarray:
    """[2, N] at `rate` -> [M, 2] at `out_rate`, M = the phrase's exact length there."""
    n = phrase_samples(bpm, bars, out_rate)
    if rate != out_rate:
        from scipy.signal import resample_poly

        g = math.gcd(rate, out_rate)
        audio = resample_poly(audio, out_rate // g, rate // g, axis=1).astype(np.float32)
    audio = audio[:, :n]
    if audio.shape[1] < n:
        audio = np.pad(audio, ((0, 0), (0, n - audio.shape[1])))
    return edge_fades(audio).T


class JamPlayer:
    def __init__(self, engine: Engine, state: SynthState, events: Events, out_dir: Path, *, audio_out: str | None = None,
                 open_output_fn: Callable[[str | None], Output] = open_output, subtype: str = "FLOAT",
                 midi_out: MidiOut | None = None, midi_port: str | None = None):
        """Phrases from `state`, and from each state the controller announces on `events` after it
        (/synth/state/changed); loop files into `out_dir`, announced on `events` as /synth/rendered
        (kind `jam`), failures as /synth/error. `midi_out`: the score's notes live (score families);
        `midi_port`: the daemon's MIDI input as a JACK port name (the output mirrors its clock)."""
        self.renderer: PhraseRenderer = PhraseRenderer(engine)
        self.engine: Engine = engine
        self.state: SynthState = state
        self.events: Events = events
        self.out_dir: Path = Path(out_dir)
        self.audio_out: str | None = audio_out
        self.open_output_fn: Callable[[str | None], Output] = open_output_fn
        self.subtype: str = subtype
        self.midi_out: MidiOut | None = midi_out
        self.midi_port: str | None = midi_port
        self.bars: int = DEFAULT_BARS
        self.continuity: float = 1.0
        self.quantize: str = DEFAULT_QUANTIZE
        self.state_version: int = 0                # counts state changes
        self._made_from: dict[int, int] = {}  # phrase index -> the state version its audio (or splice) is from
        self._ended: deque[Phrase] = deque()  # phrases that have played (beat, bar): their loops to write
        self._written: int = -1               # the index of the last phrase whose loop was written
        self.splices: int = 0                 # beat splices heard
        self.renders_started: int = 0         # phrases and splices
        # (output frame, state version): from that frame on, the output sounds audio made from that state
        self.heard: deque[tuple[int, int]] = deque(maxlen=4096)
        self.splices_late: int = 0            # ... and rendered too late for their beat (the next takes it)
        self.splices_cancelled: int = 0       # splice renders given up for a newer state that makes the same beat
        self.spliced: deque[tuple[int, int, Phrase]] = deque(maxlen=256)   # (phrase start, beat, phrase)
        self.sync: str = "internal"
        self.tracker: ClockTracker = ClockTracker()
        self.timeline: LinkTimeline = LinkTimeline()   # under `link`, read from self.link (under clock_lock)
        self.link: LinkSession | None = None
        self._pushed_bpm: float | None = None   # the state's tempo last sent to the Link session
        self._next_link_poll: float = 0.0
        self.clock_lock = threading.Lock()
        self.output: Output | None = None
        self.seq: JamSequencer | None = None
        self._lock = threading.RLock()        # sequencer access
        self._wake = threading.Condition()
        self._closing: bool = False
        self._active: bool = False
        self._begun: deque[Slot] = deque()    # slots the sequencer began, for the feeder to act on
        self._last: Phrase | None = None      # the newest rendered phrase (context for the next)
        self._render_seconds: float = 1.0     # the last render, wall time to audio at the output rate
        self._recent_renders: deque[float] = deque([1.0], maxlen=RECENT_RENDERS)
        self._recent_splices: deque[float] = deque(maxlen=RECENT_RENDERS)   # re-renders (the beat splice)
        self._failure: str | None = None
        self._loop_n: int = 1
        self._phrase_index: int = 0
        self.phrases_rendered: int = 0
        self.phrases_failed: int = 0
        self._threads: list[threading.Thread] = []
        self._next_mirror: float = 0.0
        events.subscribe(self._heard)

    def _heard(self, address: str, args: Sequence) -> None:
        if address == STATE_CHANGED:
            self.state = args[0]   # states are replaced, never mutated: the renderer reads a snapshot
            self.state_version += 1
            self._notify()

    def error(self, address: str, message: str) -> None:
        log.warning("%s: %s", address, message)
        self.events.publish(ERROR, [address, message])

    # ------------------------------------------------------------------ control (any thread)
    def open(self) -> None:
        """Open the audio output (once); raises AudioOutputError with a one-line message."""
        if self.output is not None and self.output.dead is None:
            return
        if self.output is not None:
            self.output.close()
        self.output = self.open_output_fn(self.audio_out)
        with self.clock_lock:   # tick times from now on are on the output's clock
            self.tracker.shift(self.output.now() - time.monotonic())
        if self.sync == "midi-clock":
            self.output.mirror_clock(self.midi_port)
        with self._lock:
            self.seq = JamSequencer(self._grid(), frame=self.output.played, on_begin=self._begun.append,
                                    on_end=self._phrase_ended)
        if not self._threads:
            for target, name in ((self._feed, "jam-feeder"), (self._render_loop, "jam-renderer")):
                t = threading.Thread(target=target, name=name, daemon=True)
                t.start()
                self._threads.append(t)
        log.info("jam output: %s at %d Hz, %d-frame periods", self.output.name, self.output.sample_rate,
                 self.output.period)

    def _outside_clock(self) -> ClockTracker | LinkTimeline | None:
        """The source of tempo and bar lines when they come from outside (under clock_lock to read)."""
        return {"midi-clock": self.tracker, "link": self.timeline}.get(self.sync)

    def _grid(self) -> Grid:
        fallback = InternalGrid(self.output.sample_rate, self.bpm())
        source = self._outside_clock()
        return fallback if source is None else ClockGrid(source, self.output, fallback, self.clock_lock)

    def start(self) -> None:
        self.open()
        if self.link is not None:
            self.link.set_playing(True)     # start/stop sync: the peers start too
        with self._lock:
            grid = self.seq.grid
            (grid.fallback if isinstance(grid, ClockGrid) else grid).bpm = self.bpm()
            self._active = True
            self._last = None
            self.seq.start()
        self._notify()

    def stop(self) -> None:
        with self._lock:
            self._active = False
            if self.seq is not None:
                if self.seq.current is not None:
                    self._phrase_ended(self.seq.current)   # heard as far as it got: its loop is kept
                self.seq.stop()
            if self.output is not None:
                self.output.ring.flush()
        if self.midi_out is not None:
            self.midi_out.panic()
        if self.link is not None:
            self.link.set_playing(False)
        self._notify()

    def set_bars(self, bars) -> None:
        self.bars = check_bars(bars)

    def set_continuity(self, value: float) -> None:
        self.continuity = check_continuity(value)

    def set_quantize(self, quantize: str) -> None:
        self.quantize = check_quantize(quantize)

    def set_sync(self, sync: str) -> None:
        if sync not in SYNCS:
            raise ValueError(f"sync {sync!r} is not one of {', '.join(SYNCS)}")
        self._join_link(sync == "link")
        self.sync = sync
        if sync in FOLLOWS:
            # Open the output now (silent until a start), so the clock is read on its frame-exact
            # input before the DAW's Start arrives; without an output, /synth/jam/start says why.
            try:
                self.open()
            except AudioOutputError as exc:
                log.info("jam output not open yet: %s", exc)
            if sync == "midi-clock" and self.output is not None:
                self.output.mirror_clock(self.midi_port)
        if self.output is not None:
            with self._lock:
                self.seq.grid = self._grid()
            with self.clock_lock:
                rolling = self.tracker.running
            if sync == "midi-clock" and rolling and not self._active:
                self.start()    # the DAW was already playing (its Start came first): join on its next bar line

    def _join_link(self, join: bool) -> None:
        """Join the Link session (at the state's tempo, which a session with peers overrides) or leave it."""
        if join and self.link is None:
            self._pushed_bpm = self.state.bpm
            try:
                self.link = LinkSession(self.bpm())
            except LinkUnavailable as exc:
                raise ValueError(str(exc)) from None    # the one-line /synth/error; the sync stays as it was
        elif not join and self.link is not None:
            self.link.close()
            self.link = None
            with self.clock_lock:
                self.timeline = LinkTimeline()

    def bpm(self) -> float:
        source = self._outside_clock()
        if source is not None:
            with self.clock_lock:
                if source.tempo is not None:
                    return source.tempo
        bpm = self.state.bpm
        return float(bpm) if bpm else DEFAULT_BPM

    # ------------------------------------------------------------------ MIDI clock (MIDI thread)
    def clock(self, msg: mido.Message, t: float) -> None:
        """A MIDI clock or transport message that arrived at time.monotonic() `t` (the MIDI thread)."""
        out = self.output
        if out is not None:   # onto the output's clock, which the bar lines are scheduled on
            if out.clock_mirrored:
                return        # the output hears the same clock with exact frame times
            t = out.now() - (time.monotonic() - t)
        self.tracker.exact = False
        self._transport(msg.type, t, msg.pos if msg.type == "songpos" else None)

    def _frame_clock_events(self) -> None:
        """Clock events the output timed itself (JACK's clock_in), in arrival order."""
        out = self.output
        events = out.clock_events
        if not events:
            return
        with self.clock_lock:   # the same clock as the MIDI input's converted times: lost ticks are filled
            self.tracker.exact = True
        while events:
            frame, status, data = events.popleft()
            kind = CLOCK_KINDS[status]
            pos = (data[0] | (data[1] << 7)) if kind == "songpos" and len(data) == 2 else None
            self._transport(kind, frame / out.sample_rate, pos)
            log.debug("clock %s at JACK frame %d: song tick %d", kind, frame, self.tracker.position)

    def _transport(self, kind: str, t: float, pos) -> None:
        with self.clock_lock:
            change = self.tracker.feed(kind, t, pos)
        if self.sync != "midi-clock" or change is None:
            return
        if change in ("start", "continue"):
            try:
                self.start()
            except AudioOutputError as exc:
                self.error("/synth/jam/start", str(exc))
        elif change == "stop":
            self.stop()

    # ------------------------------------------------------------------ threads
    def _notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _feed(self) -> None:
        while not self._closing:
            out = self.output
            if out is None:
                time.sleep(0.01)
                continue
            if out.dead:
                reason, out.dead = out.dead, None
                self._active = False
                self.error("/synth/jam", f"{reason}; the jam stopped (start it again once the output is back)")
                with self._lock:
                    self.seq.stop()
                self.output = None
                out.close()
                continue
            with self._lock:
                wrote = self._top_up(out)
            if wrote:
                self._notify()
            self._dispatch_events()
            self._frame_clock_events()
            self._check_clock()
            self._poll_link(out)
            if self.sync == "midi-clock" and time.monotonic() > self._next_mirror:
                self._next_mirror = time.monotonic() + 0.1
                out.mirror_clock(self.midi_port)
            if not wrote:
                time.sleep(out.period / out.sample_rate / 2)

    def _top_up(self, out: Output) -> bool:
        """Fill the ring to FILL_PERIODS periods ahead (under self._lock: the stream and the ring move
        together, as a splice takes frames back from both); -> whether anything was written."""
        need = FILL_PERIODS * out.period - out.ring.available()
        if need < out.period:
            return False
        out.ring.write(self.seq.fill(need))
        return True

    def _check_clock(self) -> None:
        if self.sync != "midi-clock":
            return
        with self.clock_lock:
            self.tracker.check(self.output.now())
            errors = self.tracker.take_errors()
        for message in errors:
            self.error("/synth/jam/sync", message)

    def _poll_link(self, out: Output) -> None:
        """Read the Link session: its tempo and bar lines, its transport; the jam's own /synth/bpm goes out."""
        link = self.link
        if link is None or time.monotonic() < self._next_link_poll:
            return
        self._next_link_poll = time.monotonic() + LINK_POLL
        bpm = self.state.bpm
        if bpm and bpm != self._pushed_bpm:
            self._pushed_bpm = bpm
            link.set_tempo(bpm)
        snap = link.read(out.now)
        with self.clock_lock:
            change = self.timeline.update(snap)
            errors = self.timeline.take_errors()
        for message in errors:
            self.error("/synth/jam/sync", message)
        if change == "start" and not self._active:
            self.start()      # a peer pressed play: the jam begins on the session's next bar line
        elif change == "stop" and self._active:
            self.stop()

    def _dispatch_events(self) -> None:
        while self._begun:
            slot = self._begun.popleft()
            phrase = slot.meta
            if not slot.repeat:
                self.heard.append((slot.start, self._made_from.get(phrase.index, -1)))
            if slot.repeat:
                why = self._failure or "its render was still running (too slow for this tempo and length)"
                self.error("/synth/jam", f"the next phrase was not ready at the bar line ({why}); "
                                         f"phrase {phrase.index + 1} repeats")
            if self.midi_out is not None and phrase.score is not None:
                self.midi_out.schedule(phrase.score, slot.start, self.output)

    def _render_due(self) -> bool:
        """True when the next phrase should render now: nothing queued, and the stream is within
        LEAD of the bar line where it must start (or nothing plays yet)."""
        seq, out = self.seq, self.output
        if not self._active or seq is None or out is None or seq.pending is not None:
            return False
        if seq.current is None:
            return self._first_phrase_ready()
        return render_due(seq.current, out.played, out.sample_rate, out.period, self._recent_renders)

    def _note_render(self, seconds: float) -> None:
        self._render_seconds = seconds
        self._recent_renders.append(seconds)

    def _stale(self, slot: Slot | None) -> bool:
        return slot is not None and self._made_from.get(slot.meta.index, self.state_version) < self.state_version

    def _redo_pending(self) -> bool:
        """The next phrase is rendered from an older state, and there is time to render it again: the
        slowest recent phrase render (1.5 x, as the render lead) after a splice render that may be running."""
        seq = self.seq
        need = (LEAD_FACTOR * max(self._recent_renders) + splice_lead(self._recent_splices or self._recent_renders))
        return self._stale(seq.pending) and seq.current.stop - seq.frame > need * self.output.sample_rate

    def _splice_due(self) -> bool:
        seq = self.seq
        return (self.quantize != "phrase" and self._active and seq is not None and self.output is not None
                and seq.current is not None and (self._stale(seq.current) or self._stale(seq.pending)))

    def _render_loop(self) -> None:
        while not self._closing:
            with self._wake:
                splice, render = self._splice_due(), self._render_due()
                if not (splice or render or self._ended):
                    self._wake.wait(0.005)
                    continue
            if render:     # first: the next phrase must make its bar line
                self._render_one()
            elif splice:
                self._splice_one()
            else:
                self._write_ended()

    def _phrase_ended(self, slot: Slot) -> None:
        """A phrase played to its end (the sequencer, in fill): under beat or bar its loop is written now,
        by the renderer's thread, as it was heard (once, however often it repeated)."""
        if self.quantize != "phrase" and slot.meta.index > self._written:
            self._written = slot.meta.index
            self._ended.append(slot.meta)

    def _write_ended(self) -> None:
        while self._ended:
            self._write(self._ended.popleft())

    def _splice_one(self) -> None:
        """The newest state from the next beat (bar line) that a render can make: in the playing phrase, or
        else in the next one (from its start, when there is time), which was rendered before the change."""
        state, version, out = self.state, self.state_version, self.output
        with self._lock:
            current, seq = self.seq.current, self.seq
            if current is None:
                return
            if self._redo_pending():   # render_due renders it next, from the newest state and the heard context
                self._made_from.pop(seq.pending.meta.index, None)
                seq.pending = None
                self._phrase_index -= 1
                self._last = current.meta
            lead = int(splice_lead(self._recent_splices or self._recent_renders) * out.sample_rate)
            # The ring's queued frames are not heard yet: the splice may take them back, so it needs only
            # its render's lead ahead of what the speakers play (plus the frames the ring keeps).
            earliest = min(seq.frame, out.played + RING_KEEP * out.period) + lead
            target = None   # (the phrase, the stream frame where it starts, the beat)
            if self._stale(current):
                self._made_from[current.meta.index] = version   # taken: a later change is spliced later
                at = splice_at(earliest - current.start, current.meta.bpm, current.meta.bars, out.sample_rate,
                               self.quantize)
                if at is not None and at < len(current.audio):
                    target = (current.meta, current.start, at)
            if target is None and self._stale(seq.pending):
                nxt = seq.pending.meta
                self._made_from[nxt.index] = version
                at = splice_at(earliest - current.stop, nxt.bpm, nxt.bars, out.sample_rate, self.quantize,
                               from_start=True)
                if at is not None:
                    target = (nxt, current.stop, at)
        if target is None:
            return   # no beat left that a render can make: the phrase after carries the change
        phrase, start, at = target
        started = time.perf_counter()
        self.renders_started += 1
        try:
            spliced = self.renderer.rerender(phrase, state, round(at * phrase.sample_rate / out.sample_rate),
                                             cancel=lambda: self._newer_makes(version, start + at))
            audio = to_output_rate(spliced.audio, spliced.sample_rate, out.sample_rate, phrase.bpm, phrase.bars)
        except Cancelled:
            self.splices_cancelled += 1   # still stale (a newer state came): the loop splices it at the same beat
            return
        except Exception as exc:
            self.error("/synth/jam", f"the splice into phrase {phrase.index + 1} failed: {type(exc).__name__}: "
                                     f"{' '.join(str(exc).split())}; it plays on as rendered")
            return
        self._recent_splices.append(time.perf_counter() - started)   # its own lead: not the phrases'
        with self._lock:
            if not self._install(phrase, start, at, audio, spliced):
                self.splices_late += 1
                if self._made_from.get(phrase.index) == version:
                    self._made_from[phrase.index] = version - 1   # the beat passed: the next one takes it
                return
        self.splices += 1
        self.heard.append((start + at - (FADE if at else 0), version))
        self.spliced.append((start, at, spliced))

    def _install(self, phrase: Phrase, start: int, at: int, audio: np.ndarray, spliced: Phrase) -> bool:
        """Under the lock: the spliced phrase in place of `phrase` from its frame `at`, where the stream has
        not been (the next phrase, not begun: all of it); False when that frame has been played."""
        seq, out = self.seq, self.output
        if not self._active:
            return False
        if seq.pending is not None and seq.pending.meta is phrase:
            seq.pending.audio, seq.pending.meta = np.ascontiguousarray(audio, np.float32), spliced
        else:
            slot = seq.current
            if slot is None or slot.meta is not phrase or slot.start != start:
                return False
            # from before the fade-out (which the resampler widens a little): the rest is what the loop holds
            cut = max(0, at - 2 * FADE)
            if seq.frame > slot.start + cut:   # queued, unheard: take back
                seq.rewind(seq.frame - out.ring.take_back(seq.frame - slot.start - cut, RING_KEEP * out.period))
            replaced = seq.replace_from(slot, cut, audio, spliced)
            self._top_up(out)   # at once: the ring keeps only RING_KEEP periods after a take-back
            if not replaced:
                return False
            if self.midi_out is not None and spliced.score is not None:
                self.midi_out.reschedule(spliced.score, slot.start, slot.start + at, out)
        if self._last is phrase:
            self._last = spliced
        return True

    def _newer_makes(self, version: int, beat_frame: int) -> bool:
        """A newer state came while a splice for `version` renders, and a render begun now would still
        make that splice's beat (stream frame `beat_frame`): give this one up for it."""
        out = self.output
        lead = splice_lead(self._recent_splices or self._recent_renders) * out.sample_rate
        return self.state_version > version and beat_frame - (out.played + RING_KEEP * out.period) >= lead

    def _first_phrase_ready(self) -> bool:
        """The first phrase waits for the outside clock's tempo: a fit over a beat or more (MIDI clock),
        the session's (Link); never the internal tempo in their place."""
        with self.clock_lock:
            if self.sync == "midi-clock":
                return self.tracker.settled
            if self.sync == "link":
                return self.timeline.tempo is not None
        return True

    def _render_one(self) -> None:
        state, version, bpm, bars, index = self.state, self.state_version, self.bpm(), self.bars, self._phrase_index
        started = time.perf_counter()
        self.renders_started += 1
        try:
            phrase = self.renderer.render(state, bpm, bars, self.continuity, self._last, index=index)
            audio = to_output_rate(phrase.audio, phrase.sample_rate, self.output.sample_rate, bpm, bars)
        except Exception as exc:
            self.phrases_failed += 1
            self._failure = f"phrase {index + 1} failed: {type(exc).__name__}: {' '.join(str(exc).split())}"
            log.error("jam: %s", self._failure, exc_info=not isinstance(exc, (ValueError, FloatingPointError)))
            self.error("/synth/jam", self._failure)
            time.sleep(0.2)     # the previous phrase keeps repeating meanwhile
            return
        self._note_render(time.perf_counter() - started)   # the resampling too, not only the model
        with self._lock:
            if not self._active:
                return
            self.seq.offer(audio, phrase)
            self._made_from[index] = version
            self._made_from.pop(index - 8, None)   # long played
        self._failure = None
        self._last = phrase
        self._phrase_index += 1
        self.phrases_rendered += 1
        if self.quantize == "phrase":
            self._written = index
            self._write(phrase)   # as rendered, which is as it will be heard

    def _write(self, phrase: Phrase) -> None:
        try:
            path = write_loop(self.out_dir, phrase, self._loop_n, midi=phrase.midi(), subtype=self.subtype,
                              meta={"backend": self.engine.kind, "model_id": self.engine.model_id,
                                    "phrase": phrase.index + 1, "continuity": self.continuity})
        except OSError as exc:
            self.error("/synth/jam", f"cannot write the loop into {self.out_dir}: {exc.strerror or exc}")
            return
        self._loop_n = int(path.stem.rsplit("_", 1)[1]) + 1
        self.events.publish(RENDERED, [str(path), int(phrase.state.seed), float(phrase.seconds), "jam"])

    # ------------------------------------------------------------------ facts and shutdown
    def position(self) -> dict | None:
        """Where the output is in the phrase sounding now, on the output's own frame clock: `phrase` (1-based),
        `bar` of `bars` and `beat` of 4 (1-based); None while the jam is not playing."""
        seq, out = self.seq, self.output
        slot = seq.current if seq is not None and self._active else None
        if slot is None or out is None:
            return None
        phrase = slot.meta
        beat_frames = 60.0 / phrase.bpm * out.sample_rate
        # The ring runs a little ahead of the speakers: frames before this slot's start are the end of the
        # one before it, which had the same length.
        beats = int((out.played - slot.start) // beat_frames) % (4 * phrase.bars)
        return {"phrase": phrase.index + 1, "bar": beats // 4 + 1, "beat": beats % 4 + 1, "bars": phrase.bars,
                "bpm": phrase.bpm}

    def status(self) -> dict:
        seq, out = self.seq, self.output
        with self.clock_lock:   # the sync source's own state: Link's peers, tempo and phase in the bar
            source = ({"peers": self.timeline.peers, "tempo": self.timeline.bpm,
                       "phase": round(self.timeline.phase(out.now()), 3) if out and self.timeline.bpm else None}
                      if self.sync == "link" else
                      {"peers": None, "tempo": self.tracker.bpm if self.sync == "midi-clock" else None, "phase": None})
        return {"jam": {"active": self._active, "sync": self.sync, "bpm": self.bpm(), "bars": self.bars, **source,
                        "quantize": self.quantize, "splices": self.splices, "splices_late": self.splices_late,
                        "splices_cancelled": self.splices_cancelled,
                        "continuity": self.continuity, "phrases_played": seq.phrases if seq else 0,
                        "playing": seq.current.meta.index + 1 if seq and seq.current else None,
                        "phrases_rendered": self.phrases_rendered, "phrases_failed": self.phrases_failed,
                        "output": out.name if out else None, "sample_rate": out.sample_rate if out else None,
                        "underruns": out.underruns if out else 0,
                        "skipped_cycles": out.skipped_cycles if out else 0,
                        "last_render_seconds": round(self._render_seconds, 4)},
                "jam_repeats": seq.repeats if seq else 0}

    def close(self) -> None:
        self._join_link(False)    # first: a daemon that quits leaves the session, it does not stop the peers
        self.stop()
        self._closing = True
        self._notify()
        for t in self._threads:
            t.join(5)
        if self.output is not None:
            self.output.close()
        if self.midi_out is not None:
            self.midi_out.close()
