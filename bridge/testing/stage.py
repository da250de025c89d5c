"""The stage the stress scenarios play on (bench/stress.py, and the tests that run them shorter): a
result with figures and checks, a reply inbox, paced senders, status queries, the daemon's own classes
in this process, a DAW-like folder watcher and a disk that fills up.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from bridge.testing.osc_daemon import REPO, Client

@dataclass
class Result:
    name: str
    title: str
    figures: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)   # what must hold -> bool

    @property
    def ok(self) -> bool:
        return all(self.checks.values())

    def report(self) -> str:
        lines = [f"== {self.name}: {self.title}"]
        width = max((len(k) for k in self.figures), default=0)
        lines += [f"   {k:<{width}}  {_show(v)}" for k, v in self.figures.items()]
        lines += [f"   {'PASS' if ok else 'FAIL'}  {what}" for what, ok in self.checks.items()]
        return "\n".join(lines)


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# ---------------------------------------------------------------------- tools the scenarios share
class Inbox:
    """Reads every reply one client socket gets, on its own thread, so its sender never waits."""

    def __init__(self, client: Client):
        self.client = client
        self.replies: list[tuple[float, str, list]] = []  # (arrival time.monotonic(), address, args)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                got = self.client.recv(0.05)
            except OSError:
                return
            if got is not None:
                with self._cond:
                    self.replies.append((time.monotonic(), *got))
                    self._cond.notify_all()

    def of(self, address: str, since: float = 0.0) -> list[list]:
        with self._cond:
            return [args for t, a, args in self.replies if a == address and t >= since]

    def wait(self, predicate, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def ask(self, address: str, timeout: float = 10.0) -> list:
        """Send `address` (a query) and return the arguments of its reply."""
        asked = time.monotonic()
        self.client.send(address)
        if not self.wait(lambda i: i.of(address, asked), timeout):
            raise AssertionError(f"no {address} reply within {timeout} s")
        return self.of(address, asked)[0]

    def close(self):
        self._stop.set()
        self._thread.join(1)


def paced(n: int, rate: float, send) -> float:
    """Call send(i) for i in 0..n-1 at `rate` per second (absolute schedule); returns the seconds taken."""
    start = time.perf_counter()
    for i in range(n):
        left = start + i / rate - time.perf_counter()
        if left > 0:
            time.sleep(left)
        send(i)
    return time.perf_counter() - start


def interleave(client: Client, packets: list[bytes], query: bytes, every: int):
    """A send(i) for paced(): packet i, except that every `every`-th message is `query`; and the
    count of queries sent so far (a dict, read it after the run)."""
    counts = {"queries": 0}

    def send(i):
        if i % every == every - 1:
            client.sock.sendto(query, client.server)
            counts["queries"] += 1
        else:
            client.sock.sendto(packets[i], client.server)
    return send, counts


def temp_files(*folders: Path) -> list[str]:
    return [p.name for f in folders if f.is_dir() for p in f.iterdir() if p.name.endswith(".tmp")]


def visible_wavs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.wav") if not p.name.startswith(".")) if folder.is_dir() else []


def ask_state(client: Client) -> dict:
    client.send("/synth/state")
    return json.loads(client.expect("/synth/state", 10)[0])


def ask_status(client: Client) -> dict:
    client.send("/synth/status")
    return json.loads(client.expect("/synth/status", 10)[0])


def user_presets(client) -> list[str]:
    """/synth/preset/list without the presets shipped in the package (its /synth/preset/sources says which)."""
    client.send("/synth/preset/list")
    names = client.expect("/synth/preset/list", 10)
    sources = client.expect("/synth/preset/sources", 10)
    return [n for n, src in zip(names, sources) if src != "shipped"]


def one_line_error(client: Client, address: str, *args) -> str:
    client.send(address, *args)
    got_address, message = client.expect("/synth/error", 10)
    assert got_address == address, (got_address, message)
    return message


def serve_fails_fast(workdir: Path, *flags: str) -> subprocess.CompletedProcess:
    """`latent-synth serve` that must refuse to start (bad flags or files), before loading a model."""
    return subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--backend", "tiny", "--out",
                           str(workdir / "clips"), "--osc-port", "0", *flags],
                          cwd=REPO, capture_output=True, text=True, timeout=120)



def tiny_engine():
    from synth.config import load_config
    from synth.engine import build_engine

    return build_engine(load_config())


@contextmanager
def in_process_daemon(engine, workdir):
    """The daemon's own classes (queue, renderer, controller, UDP server) in this process."""
    from bridge.daemon import Daemon as DaemonCore
    from synth.config import load_config

    core = DaemonCore(engine, load_config(), Path(workdir) / "clips", Path(workdir) / "presets", port=0)
    core.start()
    client = Client(core.server.address)
    try:
        client.send("/synth/duration", 1.0)
        client.send("/synth/steps", 4)
        yield core, client
    finally:
        client.close()
        core.stop(60)



class FolderWatcher(threading.Thread):
    """Polls a clips folder the way a DAW's browser does: every visible WAV must be whole (as many
    frames as its sidecar says) the first time it is seen."""

    def __init__(self, folder: Path):
        super().__init__(daemon=True)
        self.folder = folder
        self.checked: set[str] = set()
        self.partial: list[str] = []
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(0.002):
            for wav in visible_wavs(self.folder):
                if wav.name in self.checked:
                    continue
                self.checked.add(wav.name)
                try:
                    frames = json.loads(wav.with_suffix(".json").read_text())["frames"]
                    if sf.info(str(wav)).frames != frames:
                        self.partial.append(wav.name)
                except (OSError, RuntimeError, ValueError, KeyError):
                    self.partial.append(wav.name)

    def stop(self):
        self._halt.set()
        self.join(2)



def mount_tmpfs(where: Path, size: str = "2m") -> bool:
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, timeout=20).returncode == 0


def fill(folder: Path) -> Path:
    """Write a file until the disk is full; returns it."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    try:
        with open(filler, "wb") as fh:
            while True:
                fh.write(chunk)
                fh.flush()
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    return filler


@contextmanager
def simulated_disk_full():
    """ENOSPC halfway through every durable write (clips and presets), as a full disk does."""
    import synth.atomic_io as atomic_io
    import synth.clip_writer as clip_writer

    def full(path, data, final_name=None):
        with open(path, "wb") as fh:
            fh.write(bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    saved = atomic_io.write_durably, clip_writer.write_durably
    atomic_io.write_durably = clip_writer.write_durably = full
    try:
        yield
    finally:
        atomic_io.write_durably, clip_writer.write_durably = saved
