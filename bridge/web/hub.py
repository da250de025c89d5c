"""The fan-out from the daemon to the open pages.

`Hub.on_event` is an `Events` listener: it runs on whatever thread announced (OSC, MIDI, the render
worker, the jam) and only hands over to the web loop. State changes are coalesced: a page gets the newest
state at most every STATE_INTERVAL, at once after a quiet spell, so a 1,000 msg/s controller costs the
pages 60 messages a second, and costs the announcing thread one flag check per change.
"""
from __future__ import annotations

import asyncio
import json
import logging

from bridge.events import ERROR, RENDERED, STATE_CHANGED
from bridge.web.clips import ClipRegistry
from bridge.web.preset_view import preset_view

log = logging.getLogger(__name__)

STATE_INTERVAL = 1 / 60  # seconds between state messages to the pages, at most
POSITION_INTERVAL = 0.05  # how often the jam's bar and beat are read while a page is open
PAGE_QUEUE = 256  # messages waiting for a slow page; past that it is disconnected (it reconnects)


def encode(address: str, args) -> str:
    return json.dumps({"address": address, "args": list(args)}, separators=(",", ":"), allow_nan=False)


class Page:
    """One open page: its socket and the queue its writer task drains."""

    def __init__(self, ws):
        self.ws = ws
        self.queue: asyncio.Queue[str] = asyncio.Queue(PAGE_QUEUE)
        self.closed = False

    def send(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:  # it stopped reading: drop it rather than hold memory for it
            log.warning("a page fell %d messages behind; disconnecting it (it reconnects)", PAGE_QUEUE)
            self.closed = True
            asyncio.ensure_future(self.ws.close(code=1008, message=b"too far behind"))

    async def write(self) -> None:
        try:
            while True:
                await self.ws.send_str(await self.queue.get())
        except (ConnectionError, RuntimeError):  # the page went away; its handler ends the session
            self.closed = True


class Hub:
    def __init__(self, controller, clips: ClipRegistry, loop: asyncio.AbstractEventLoop):
        self.controller = controller
        self.clips = clips
        self.loop = loop
        self.pages: set[Page] = set()
        self._state = None
        self._state_due = False
        self._last_flush = 0.0
        self._preset = None  # the preset object the pages were last told about
        self._position = None
        self._poller: asyncio.Task | None = None

    # ------------------------------------------------------------------ any thread
    def on_event(self, address: str, args) -> None:
        if address == STATE_CHANGED:
            self._state = args[0]
            if not self._state_due:
                self._state_due = True
                self.loop.call_soon_threadsafe(self._schedule_state)
        elif address == RENDERED:
            name = self.clips.announce(args[0], list(args))
            if name is not None:
                self.loop.call_soon_threadsafe(self.send_all, RENDERED, [name, *args[1:]])
        elif address == ERROR:
            self.loop.call_soon_threadsafe(self.send_all, ERROR, list(args))

    # ------------------------------------------------------------------ the web loop
    def send_all(self, address: str, args) -> None:
        text = encode(address, args)
        for page in tuple(self.pages):
            page.send(text)

    def _schedule_state(self) -> None:
        wait = self._last_flush + STATE_INTERVAL - self.loop.time()
        if wait <= 0:
            self._flush_state()
        else:
            self.loop.call_later(wait, self._flush_state)

    def _flush_state(self) -> None:
        self._state_due = False  # first: a change from now on schedules the next flush
        self._last_flush = self.loop.time()
        self.send_all(STATE_CHANGED, [self.state_dict(self._state)])
        self.send_preset_if_changed()

    def state_dict(self, state=None) -> dict:
        """The state as pages see it: the backend's default steps and cfg filled in, as /synth/state shows."""
        state = state if state is not None else self.controller.state
        resolve = self.controller.resolve
        return (resolve(state) if resolve is not None else state).to_dict()

    def send_preset_if_changed(self) -> None:
        preset = self.controller.current_preset
        if preset is not self._preset:
            self._preset = preset
            self.send_all("/web/preset", [preset_view(preset)])

    def hello(self) -> list:
        """What a page gets first: the state, the preset, the contrasts, the SAE's size, recent clips."""
        c = self.controller
        return [{"state": self.state_dict(), "preset": preset_view(c.current_preset),
                 "contrasts": {name: list(poles) for name, poles in c.contrast_defs.items()},
                 "d_sae": c.d_sae, "midi_learn": c.learn is not None, "jam": c.jam is not None,
                 "clips": [list(args) for args in self.clips.recent()]}]

    def add(self, page: Page) -> None:
        self.pages.add(page)
        if self._poller is None and self.controller.jam is not None:
            self._poller = self.loop.create_task(self._follow_jam())

    def remove(self, page: Page) -> None:
        self.pages.discard(page)

    async def _follow_jam(self) -> None:
        """The jam's bar and beat, read from its clock, to the pages when they change."""
        while True:
            await asyncio.sleep(POSITION_INTERVAL)
            if not self.pages:
                continue
            try:
                position = self.controller.jam.position()
            except Exception:  # a bug here must not end the surface
                log.exception("reading the jam's position failed")
                continue
            if position != self._position:
                self._position = position
                self.send_all("/web/jam/position", [position])

    def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
