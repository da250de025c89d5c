"""Score families in jam mode: each phrase's notes sent live on a MIDI output, in time with the audio.

One channel per voice (melody 1, harmony 2, bass 3, drums 10, as the `.mid` files), a GM program
change per voice at each phrase's first frame, then the notes. Times are stream frames turned into
time.monotonic() through the audio output's frame clock, so the notes sound with the phrase; a sender
thread waits for each. `--midi-out PORT` opens that port, or creates a virtual one of that name.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time

log = logging.getLogger(__name__)

CLIENT_NAME = "latent-synth-notes"   # a virtual --midi-out port's client (JACK: latent-synth-notes:PORT)


class MidiOut:
    def __init__(self, port):
        """`port`: a port name (opened, else created as a virtual port), or an open mido output."""
        import mido

        if isinstance(port, str):
            try:
                names = mido.get_output_names()
                port = (mido.open_output(port) if port in names
                        else mido.open_output(port, virtual=True, client_name=CLIENT_NAME))
            except (OSError, IOError, SystemError, RuntimeError, ValueError) as exc:
                raise OSError(f"cannot open MIDI output {port!r}: {exc}") from None
        self.port = port
        self.name = self.port.name
        self._heap: list = []
        self._count = itertools.count()
        self._cond = threading.Condition()
        self._closing = False
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="jam-midi-out", daemon=True)
        self._thread.start()

    def schedule(self, score, start_frame: int, output) -> None:
        """Queue the phrase's program changes and notes; times from `output`'s frame clock."""
        self._queue(self._programs(score, start_frame) + self._notes(score, start_frame, output), start_frame, output)

    def reschedule(self, score, start_frame: int, at_frame: int, output) -> None:
        """A beat splice: what the phrase that began at `start_frame` still had queued from `at_frame` on
        gives way to the spliced `score`'s events from there: its programs (the new state's instruments),
        the note-offs of the notes held across the beat, and the new notes. A frame early: the beat's
        frame is rounded once from seconds, at either rate."""
        at = at_frame - 1
        with self._cond:
            self._heap = [m for m in self._heap if not (m[3] == start_frame and m[2] >= at)]
            heapq.heapify(self._heap)
        self._queue(self._programs(score, at) + self._notes(score, start_frame, output, from_frame=at),
                    start_frame, output)

    @staticmethod
    def _programs(score, frame: int) -> list:
        import mido

        from synth.score.events import programs

        return [(frame, mido.Message("program_change", channel=ch, program=prog))
                for ch, prog in programs(score).items()]

    def _notes(self, score, start_frame: int, output, from_frame: int = 0) -> list:
        import mido

        from synth.score.events import events

        sr, spb = output.sample_rate, score.seconds_per_beat
        msgs = []
        for e in events(score):
            frame = start_frame + int(round(e.beat * spb * sr))
            if frame >= from_frame:
                kind = "note_on" if e.kind == "on" else "note_off"
                msgs.append((frame, mido.Message(kind, channel=e.channel, note=e.key, velocity=e.velocity)))
        return msgs

    def _queue(self, msgs: list, phrase: int, output) -> None:
        """(stream frame, message) pairs of the phrase that began at frame `phrase`, each sent at its
        frame's time on `output`'s clock."""
        with self._cond:
            for frame, msg in msgs:
                heapq.heappush(self._heap, (output.frame_to_time(frame), next(self._count), frame, phrase, msg))
            self._cond.notify()

    def panic(self) -> None:
        """Drop everything queued and silence every note (a jam stop is silent at once)."""
        import mido

        with self._cond:
            self._heap.clear()
        for ch in range(16):
            self.port.send(mido.Message("control_change", channel=ch, control=123, value=0))

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closing:
                    return
                if not self._heap:
                    self._cond.wait(0.1)
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(min(wait, 0.05))
                    continue
                msg = heapq.heappop(self._heap)[-1]
            try:
                self.port.send(msg)
                self.sent += 1
            except Exception:
                log.exception("MIDI out: sending %s failed", msg)

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(2)
        self.port.close()
