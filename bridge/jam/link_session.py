"""The jam's seat in an Ableton Link session (I/O: the aalink binding), read as `LinkSnapshot`s.

Why aalink: it is a maintained binding of Ableton's own Link library (the one Live, Bitwig and Max
link against), published as a wheel, so nothing is compiled here; it wants an asyncio loop, which
runs on a thread of its own. The wheel is for CPython 3.11 on x86-64 Linux: elsewhere, or not
installed, `LinkUnavailable` says so in one line.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Callable

from bridge.jam.link_timeline import QUANTUM, LinkSnapshot

MISSING = ("Ableton Link needs the aalink package: pip install 'latent-audio-synth[link]' "
           "(its wheel is for CPython 3.11 on x86-64 Linux)")


class LinkUnavailable(RuntimeError):
    pass


class LinkSession:
    def __init__(self, bpm: float, quantum: int = QUANTUM):
        try:
            import aalink
        except ImportError:
            raise LinkUnavailable(MISSING) from None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="link", daemon=True)
        self._thread.start()

        async def join():
            link = aalink.Link(bpm)          # binds to the running loop (its callbacks' home)
            link.quantum = quantum
            link.start_stop_sync_enabled = True
            link.enabled = True
            return link

        self.link = asyncio.run_coroutine_threadsafe(join(), self._loop).result(10)

    def read(self, now: Callable[[], float]) -> LinkSnapshot:
        """The session now; `at` on the clock `now` reads (the beat is read between two readings)."""
        before = now()
        beat = self.link.beat
        after = now()
        return LinkSnapshot(float(self.link.tempo), float(beat), (before + after) / 2, int(self.link.num_peers),
                            bool(self.link.playing), after - before)

    def set_tempo(self, bpm: float) -> None:
        self.link.tempo = float(bpm)

    def set_playing(self, playing: bool) -> None:
        self.link.playing = bool(playing)

    def close(self) -> None:
        self.link.enabled = False
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
