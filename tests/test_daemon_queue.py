"""The render queue: coalescing, debounce, failures, shutdown, and preview-then-refine."""
import threading
import time

import pytest

from bridge.render_queue import FINAL, PREVIEW, RenderJob, RenderQueue, auto_render_job
from synth.state import SynthState


def job(seed, delay=0.0):
    return RenderJob(SynthState(seed=seed), [seed], time.monotonic() + delay, "test")


def test_coalescing_renders_only_the_newest_pending_state():
    rendered, in_flight, peak = [], [0], [0]
    lock = threading.Lock()

    def render(j):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.15)
        rendered.append(j.state.seed)
        with lock:
            in_flight[0] -= 1

    q = RenderQueue(render).start()
    q.submit(job(0))
    time.sleep(0.05)                 # job 0 is now rendering
    for seed in range(1, 200):       # a slider storm while it renders
        q.submit(job(seed))
    assert q.pending().state.seed == 199   # one pending job, the newest: memory stays bounded
    assert q.wait_idle(5)
    assert rendered == [0, 199]            # the stale in-flight render plus the newest state
    assert peak[0] == 1 and q.coalesced == 198 and q.completed == 2
    q.stop()


def test_debounce_waits_for_the_last_change():
    rendered = []
    q = RenderQueue(lambda j: rendered.append((j.state.seed, time.monotonic()))).start()
    t0 = time.monotonic()
    for seed in range(5):
        q.submit(job(seed, delay=0.2))
        time.sleep(0.05)
    assert q.wait_idle(5)
    assert [s for s, _ in rendered] == [4]
    assert rendered[0][1] - t0 >= 0.2 + 4 * 0.05 - 0.02
    q.stop()


def test_failed_render_does_not_kill_the_worker():
    done = []

    def render(j):
        if j.state.seed == 1:
            raise RuntimeError("boom")
        done.append(j.state.seed)

    errors = []
    q = RenderQueue(render, on_error=lambda j, exc: errors.append((j.state.seed, str(exc)))).start()
    q.submit(job(1))
    assert q.wait_idle(5)
    q.submit(job(2))
    assert q.wait_idle(5)
    assert done == [2] and q.failed == 1 and errors == [(1, "boom")]
    q.stop()


def test_stop_lets_the_render_in_flight_finish_and_drops_pending():
    started, finished = threading.Event(), []

    def render(j):
        started.set()
        time.sleep(0.3)
        finished.append(j.state.seed)

    q = RenderQueue(render).start()
    q.submit(job(1))
    started.wait(2)
    q.submit(job(2))
    assert q.stop(timeout=5)
    assert finished == [1]
    q.submit(job(3))  # ignored after stop
    assert q.pending() is None


# ---------------------------------------------------------------------- preview, then refine


def change(seed, steps=25, preview_steps=4, refine_after=0.3, debounce=0.1):
    return auto_render_job(SynthState(seed=seed, steps=steps), "/synth/cfg", preview_steps=preview_steps,
                           refine_after=refine_after, debounce=debounce)


def test_a_change_previews_at_once_then_refines_after_stillness():
    rendered = []
    q = RenderQueue(lambda j: rendered.append((j.kind, j.state.steps, time.monotonic()))).start()
    t0 = time.monotonic()
    q.submit(change(1))
    assert q.wait_idle(5)
    (k1, steps1, at1), (k2, steps2, at2) = rendered
    assert (k1, steps1) == (PREVIEW, 4) and at1 - t0 < 0.2      # the fast pass starts at once
    assert (k2, steps2) == (FINAL, 25) and at2 - t0 >= 0.3 - 0.01  # the full render after refine_after
    q.stop()


def test_a_newer_change_cancels_the_stale_final_and_one_job_stays_pending():
    started, release = threading.Event(), threading.Event()
    rendered = []

    def render(j):
        rendered.append((j.state.seed, j.kind))
        if len(rendered) == 1:
            started.set()
            release.wait(5)

    q = RenderQueue(render).start()
    q.submit(change(1))
    assert started.wait(5)                       # seed 1's preview is rendering
    chained = q.pending()
    assert (chained.state.seed, chained.kind, q.depth()) == (1, FINAL, 1)  # its final took the one slot
    q.submit(change(2))                          # the controller moved again
    newest = q.pending()
    assert (newest.state.seed, newest.kind, q.coalesced) == (2, PREVIEW, 1)  # seed 1's final is gone
    release.set()
    assert q.wait_idle(5)
    assert rendered == [(1, PREVIEW), (2, PREVIEW), (2, FINAL)]
    q.stop()


def test_previews_off_or_no_cheaper_render_just_debounce_the_final():
    for job in (change(1, preview_steps=0), change(1, steps=4, preview_steps=4)):
        assert job.kind == FINAL and job.then is None and job.state.steps in (25, 4)
        assert job.not_before - job.submitted == pytest.approx(0.1)


def test_backend_default_steps_still_preview_and_the_final_keeps_the_default():
    job = change(1, steps=None, preview_steps=2)
    assert (job.kind, job.state.steps) == (PREVIEW, 2)
    assert (job.then.kind, job.then.state.steps) == (FINAL, None)
