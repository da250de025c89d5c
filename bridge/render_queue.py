"""One render worker behind a coalescing, debounced queue.

Slider moves arrive far faster than clips render. The queue holds at most ONE pending job: a new
request replaces it, so only the newest state renders next, at most one stale render is ever in
flight, and memory stays bounded no matter how fast controllers send. A job may carry a
`not_before` time, which gives auto-render its debounce: each new change pushes the render back.

Preview, then refine: an auto-render job may be a fast `preview` that carries its `final` in
`then`. When the worker starts the preview, the final takes the pending slot (so there is still
at most one pending job), due once the controller has been still for `refine_after` seconds. Any
newer change replaces it, so stale finals are cancelled before they start.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from synth.state import SynthState

log = logging.getLogger(__name__)


PREVIEW, FINAL = "preview", "final"


@dataclass
class RenderJob:
    state: SynthState
    seeds: list[int]
    not_before: float = 0.0            # time.monotonic() before which the job must not start
    reason: str = "render"
    submitted: float = field(default_factory=time.monotonic)
    kind: str = FINAL                  # PREVIEW or FINAL; the 4th argument of /synth/rendered
    then: "RenderJob | None" = None    # queued when this job starts: the final after a preview
    init: tuple[str, float] | None = None  # (path, strength): a variation of that clip (/synth/variation)


def auto_render_job(state: SynthState, reason: str, *, preview_steps: int, refine_after: float,
                    debounce: float, now: float | None = None) -> RenderJob:
    """The job a change makes when auto-render is on.

    With previews on, a preview at `preview_steps` starts as soon as the worker is free (so you hear
    the sound follow your hand), chained to the full render due `refine_after` seconds after this
    change. With previews off, or when the state asks for no more steps than a preview would, the
    full render waits `debounce` seconds after the last change, as it always did."""
    now = time.monotonic() if now is None else now
    seeds = [state.seed]
    # steps None = the backend's default, which is always above its preview default
    if preview_steps <= 0 or (state.steps is not None and state.steps <= preview_steps):
        return RenderJob(state, seeds, now + debounce, reason, submitted=now)
    final = RenderJob(state, seeds, now + refine_after, reason, submitted=now)
    return RenderJob(state.replace(steps=preview_steps), seeds, now, reason, submitted=now, kind=PREVIEW, then=final)


class RenderQueue:
    def __init__(self, render: Callable[[RenderJob], None], name: str = "render-worker",
                 on_error: Callable[[RenderJob, Exception], None] | None = None):
        self._render = render
        self._on_error = on_error
        self._cond = threading.Condition()
        self._pending: RenderJob | None = None
        self._busy = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.submitted = 0
        self.coalesced = 0   # pending jobs replaced (cancelled) by a newer one before they started
        self.completed = 0
        self.failed = 0

    def start(self) -> "RenderQueue":
        self._thread.start()
        return self

    def submit(self, job: RenderJob) -> None:
        with self._cond:
            if self._stopping:
                return
            if self._pending is not None:
                self.coalesced += 1
            self._pending = job
            self.submitted += 1
            self._cond.notify()

    def pending(self) -> RenderJob | None:
        with self._cond:
            return self._pending

    def depth(self) -> int:
        """Jobs waiting to start: 0 or 1, whatever the controllers send."""
        with self._cond:
            return int(self._pending is not None)

    def rendering(self) -> bool:
        with self._cond:
            return self._busy

    def busy(self) -> bool:
        with self._cond:
            return self._busy or self._pending is not None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending or rendering (tests, offline replay)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._busy or self._pending is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self, timeout: float | None = None) -> bool:
        """Drop what is pending, let the render in flight finish (its files are written whole),
        and stop the worker. Returns False if the worker did not finish within `timeout`."""
        with self._cond:
            self._stopping = True
            if self._pending is not None:
                log.info("shutdown: dropping a pending render (%s)", self._pending.reason)
                self._pending = None
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _next(self) -> RenderJob | None:
        with self._cond:
            while not self._stopping:
                job = self._pending
                if job is not None:
                    wait = job.not_before - time.monotonic()
                    if wait <= 0:
                        # The final that follows a preview takes the slot it leaves.
                        self._pending, job.then = job.then, None
                        self._busy = True
                        return job
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _run(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                self._render(job)
                self.completed += 1
            except Exception as exc:  # a failed render must not kill the worker
                self.failed += 1
                if self._on_error is None:
                    log.exception("render failed (%s)", job.reason)
                else:
                    try:
                        self._on_error(job, exc)
                    except Exception:
                        log.exception("reporting a failed render failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
