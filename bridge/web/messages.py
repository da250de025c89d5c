"""The WebSocket's message format, checked strictly: `{"address": "/synth/...", "args": [...]}`, args JSON
numbers and strings. Anything else is refused in one line before it reaches the controller."""
from __future__ import annotations

import json
import math
import re
from typing import Callable

MAX_MESSAGE = 64 * 1024  # characters: eight long prompts fit many times over; longer ones get an error reply
MAX_FRAME = 16 * 2**20  # bytes: past this the socket itself is closed (1009, message too big)
MAX_ARGS = 64
_ADDRESS = re.compile(r'"address"\s*:\s*"(/[A-Za-z0-9_/-]{1,200})"')


class BadMessage(ValueError):
    """A message refused before the controller: the address it named (or "/web") and why."""

    def __init__(self, message: str, address: str = "/web"):
        super().__init__(message)
        self.address = address


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of a float's range")
    return value


def _address_in(text: str) -> str:
    """The address a refused message named, read from its start, so the error says which control it was."""
    m = _ADDRESS.search(text, 0, 400)
    return m.group(1) if m else "/web"


def parse_message(text: str) -> tuple[str, list]:
    """JSON text -> (address, args); raises BadMessage."""
    if len(text) > MAX_MESSAGE:
        raise BadMessage(f"message of {len(text)} characters is too long (at most {MAX_MESSAGE})", _address_in(text))
    try:
        data = json.loads(text, parse_constant=_no_constants, parse_float=_finite)
    except (ValueError, RecursionError) as exc:
        raise BadMessage(f"not JSON: {' '.join(str(exc).split())}", _address_in(text)) from None
    if not isinstance(data, dict) or not isinstance(data.get("address"), str):
        raise BadMessage('expects {"address": "/synth/...", "args": [...]}')
    address, args = data["address"], data.get("args", [])
    extra = sorted(set(data) - {"address", "args"})
    if extra:
        raise BadMessage(f"unknown key {extra[0]!r} (only address and args)", address)
    if not isinstance(args, list) or len(args) > MAX_ARGS:
        raise BadMessage(f"args must be a list of at most {MAX_ARGS} numbers and strings", address)
    for value in args:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise BadMessage(f"args hold numbers and strings only, got {json.dumps(value)[:40]}", address)
    return address, args


class RateLimit:
    """A token bucket: `rate` messages a second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float, clock):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.stamp = burst, clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class FloodGuard:
    """One page's rate limit, with its refusals counted and said at most every `every` seconds (a flood of
    refusals must not turn into a flood of replies). `say(n)` reports n refusals; `later(delay, fn)`
    schedules the report of refusals that arrive between reports (the event loop's call_later)."""

    def __init__(self, limit: RateLimit, every: float, say: Callable[[int], None], later):
        self.limit, self.every, self.say, self.later = limit, every, say, later
        self.refused, self.reported, self.pending = 0, -math.inf, None

    def allow(self) -> bool:
        if self.limit.take():
            return True
        self.refused += 1
        wait = self.reported + self.every - self.limit.clock()
        if wait <= 0:
            self.report()
        elif self.pending is None:
            self.pending = self.later(wait, self.report)
        return False

    def report(self) -> None:
        if self.refused:
            self.say(self.refused)
        self.refused, self.reported, self.pending = 0, self.limit.clock(), None

    def close(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
