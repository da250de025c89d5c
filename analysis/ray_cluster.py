"""Ray plumbing shared by the analysis jobs: joining a cluster, and running units of work with
one retry each, a progress bar as results come back, and a list of what could not be done.

`--ray local` starts a Ray instance on this machine for the run; `--ray ADDRESS` joins a running
cluster (`auto`, `HOST:6379`, or `ray://HOST:10001` for Ray Client). Ray is the optional `[scale]`
extra; without it `--ray` is one clear error.
"""
from __future__ import annotations

import logging
import sys
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol, Sequence

BARE = "default"   # a bare `--ray`: RAY_ADDRESS, or the cluster running on this machine, or else a local one
INSTALL_HINT = "--ray needs Ray, which is not installed: pip install 'latent-audio-synth[scale]' (or pip install 'ray>=2.9')"
MAX_ATTEMPTS = 2   # one retry per unit of work


def require_ray():
    """The ray module, or a ValueError saying how to install it (the CLI prints it as one line)."""
    try:
        import ray
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return ray


def add_ray_flags(p, actors: bool = True) -> None:
    """`--ray [ADDRESS]` (and `--ray-actors N`) for a command that can spread its work over Ray."""
    p.add_argument("--ray", nargs="?", const=BARE, default=None, metavar="ADDRESS",
                   help="run on Ray (pip install 'latent-audio-synth[scale]'): 'local' starts a local instance, "
                        "ADDRESS (auto, HOST:6379, ray://HOST:10001) joins a cluster; bare --ray joins RAY_ADDRESS "
                        "or the cluster running here, else starts a local one. Default: in this process")
    if actors:
        p.add_argument("--ray-actors", type=int, default=None, metavar="N",
                       help="with --ray: engine actors (default: one per GPU, each num_gpus=1; without GPUs one "
                            "per CPU)")


@contextmanager
def ray_session(address: str) -> Iterator[Any]:
    """Connect for the duration of a run. 'local' starts a private local instance (even when a
    cluster runs here); anything else is passed to ray.init(address=...). A session that was
    already initialised by the caller (a notebook, a test) is used as it is and left running."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    check_reachable(address)
    try:
        ray.init(address=None if address == BARE else address, include_dashboard=False,
                 logging_level=logging.WARNING, configure_logging=True)
    except ConnectionError as exc:
        raise ValueError(f"--ray {address}: cannot connect to a Ray cluster ({str(exc).splitlines()[0]}); a cluster "
                         "with token authentication also needs RAY_AUTH_MODE=token and its token here") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, with one line, when HOST:PORT (or ray://HOST:PORT) does not answer: Ray itself
    keeps retrying an unreachable head for minutes."""
    import socket

    if address in (BARE, "local", "auto"):
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--ray {address}: expected local, auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ValueError(f"--ray {address}: no Ray head answers there ({exc.strerror or exc}); start one with "
                         "`ray start --head` or check the address") from None


def cluster_gpus(ray) -> int:
    return int(ray.cluster_resources().get("GPU", 0))


def cluster_cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def failure_reason(exc: BaseException) -> str:
    """One line: the exception type and the first line of the underlying cause."""
    cause = getattr(exc, "cause", None) or exc
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first[:200]}" if first else type(cause).__name__


class Dispatcher(Protocol):
    """Where units of work go: Ray tasks, or calls on a pool of actors."""

    def has_room(self) -> bool: ...
    def submit(self, item) -> Any: ...                    # an ObjectRef
    def done(self, ref, error: BaseException | None) -> None: ...


@dataclass
class RunOutcome:
    retried: list[str] = field(default_factory=list)       # descriptions of units that failed once
    missing: list[tuple[Any, str]] = field(default_factory=list)   # (unit, last failure) never done


def run_with_retries(ray, items: Sequence, dispatcher: Dispatcher, on_result: Callable[[Any, Any], None],
                     describe: Callable[[Any], str], bar=None, size: Callable[[Any], int] = lambda _: 1) -> RunOutcome:
    """Submit every item; as results come back call on_result(item, value) and advance `bar` by
    size(item). A unit that fails (its worker died, or it raised) is tried once more, saying so;
    one that fails twice is reported in `missing`, and the rest of the run goes on."""
    outcome = RunOutcome()
    queue: deque = deque((item, 1) for item in items)
    inflight: dict = {}
    while queue or inflight:
        while queue and dispatcher.has_room():
            item, attempt = queue.popleft()
            inflight[dispatcher.submit(item)] = (item, attempt)
        ready, _ = ray.wait(list(inflight), num_returns=1)
        for ref in ready:
            item, attempt = inflight.pop(ref)
            try:
                value = ray.get(ref)
            except ray.exceptions.RayError as exc:   # worker died, task raised, object lost, ...
                dispatcher.done(ref, exc)
                reason = failure_reason(exc)
                if attempt < MAX_ATTEMPTS:
                    _say(bar, f"ray: {describe(item)} failed ({reason}); retrying it once")
                    outcome.retried.append(describe(item))
                    queue.append((item, attempt + 1))
                else:
                    _say(bar, f"ray: {describe(item)} failed again ({reason}); giving up on it")
                    outcome.missing.append((item, reason))
                continue
            dispatcher.done(ref, None)
            on_result(item, value)
            if bar is not None:
                bar.update(size(item))
    return outcome


def _say(bar, text: str) -> None:
    """A line on stderr, above the progress bar."""
    if bar is not None:
        bar.write(text, file=sys.stderr)
    else:
        print(text, file=sys.stderr)
