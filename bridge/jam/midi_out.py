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
    def __init__(self, port: str):
        import mido

        try:
            names = mido.get_output_names()
            self.port = (mido.open_output(port) if port in names
                         else mido.open_output(port, virtual=True, client_name=CLIENT_NAME))
        except (OSError, IOError, SystemError, RuntimeError, ValueError) as exc:
            raise OSError(f"cannot open MIDI output {port!r}: {exc}") from None
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
        import mido

        from synth.score.events import events, programs

        sr, spb = output.sample_rate, score.seconds_per_beat
        t0 = output.frame_to_time(start_frame)
        msgs = [(t0, mido.Message("program_change", channel=ch, program=prog)) for ch, prog in programs(score).items()]
        for e in events(score):
            at = output.frame_to_time(start_frame + int(round(e.beat * spb * sr)))
            kind = "note_on" if e.kind == "on" else "note_off"
            msgs.append((at, mido.Message(kind, channel=e.channel, note=e.key, velocity=e.velocity)))
        with self._cond:
            for at, msg in msgs:
                heapq.heappush(self._heap, (at, next(self._count), msg))
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
                _, _, msg = heapq.heappop(self._heap)
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
