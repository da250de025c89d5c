import threading
import time

from bridge.render_queue import RenderJob, RenderQueue
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
