"""What the daemon announces, fanned out to every transport (OSC clients, browser pages, ...).

Events are `(address, args)` in the OSC address space: `/synth/rendered`, `/synth/error`, and
`/synth/state/changed` whose one argument is the new `SynthState` object itself (not JSON: a slider
move must not pay for serialising a state nobody reads). Each transport decides what it forwards.
A listener that raises is logged and kept; it never stops the others or the sender.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

from synth.addresses import ERROR, RENDERED, STATE_CHANGED  # noqa: F401  (the events' names, from the one table)

log = logging.getLogger(__name__)

Listener = Callable[[str, Sequence], None]


class Events:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: tuple[Listener, ...] = ()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns the call that removes it."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(l for l in self._listeners if l is not listener)

        return unsubscribe

    def publish(self, address: str, args: Sequence = ()) -> None:
        for listener in self._listeners:  # a tuple snapshot: subscribing while publishing is safe
            try:
                listener(address, args)
            except Exception:
                log.exception("event listener failed on %s", address)
