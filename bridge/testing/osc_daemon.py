"""The daemon from outside: a tiny OSC client (python-osc builds the packets, an implementation
independent of the bridge's codec, and parses the replies), `latent-synth serve` in a subprocess,
and a private dummy JACK server."""
from __future__ import annotations

import socket
import time

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder


def build(address, *args, types=None):
    b = OscMessageBuilder(address)
    for i, a in enumerate(args):
        b.add_arg(a, types[i] if types else None)
    return b.build().dgram


class Client:
    def __init__(self, server_address, port=0):
        self.server = tuple(server_address)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]

    def send(self, address, *args, types=None):
        self.sock.sendto(build(address, *args, types=types), self.server)
        time.sleep(0.002)  # pace UDP sends

    def raw(self, data: bytes):
        self.sock.sendto(data, self.server)
        time.sleep(0.002)

    def recv(self, timeout=2.0):
        """The next reply as (address, params), or None after `timeout`."""
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65536)
        except socket.timeout:
            return None
        msg = OscMessage(data)
        return msg.address, list(msg.params)

    def expect(self, address, timeout=5.0):
        """Read replies until one on `address` arrives; returns its params."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            got = self.recv(max(0.01, deadline - time.monotonic()))
            if got is None:
                break
            if got[0] == address:
                return got[1]
            seen.append(got)
        raise AssertionError(f"no {address} reply within {timeout}s; got {seen}")

    def drain(self, timeout=0.05):
        out = []
        while (got := self.recv(timeout)) is not None:
            out.append(got)
        return out

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------------- running the real daemon
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"ready \(osc udp://([0-9.]+):([0-9]+)")


class Daemon:
    """`latent-synth serve` in a subprocess (tiny backend unless `extra` names another); stdout and stderr are
    collected. `program` is how the CLI is started: this interpreter's module, or an installed console script."""

    def __init__(self, tmp_path, *extra, env=None, startup_timeout=180, verbosity="-v", cwd=REPO,
                 program: tuple[str, ...] = (sys.executable, "-m", "bridge.cli")):
        self.out = Path(tmp_path) / "clips"
        self.presets = Path(tmp_path) / "presets"
        cmd = [*program, verbosity, "serve", "--backend", "tiny", "--out", str(self.out),
               "--osc-port", "0", "--presets", str(self.presets), *extra]
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", **(env or {}))
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._ready = threading.Event()
        self.address = None
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr, False), daemon=True).start()
        if not self._ready.wait(startup_timeout) or self.address is None:
            self.kill()
            raise AssertionError(f"daemon not ready; stdout={self.stdout} stderr={''.join(self.stderr)[-3000:]}")

    def _pump(self, stream, sink, watch):
        for line in stream:
            sink.append(line)
            if watch and (m := READY.search(line)):
                self.address = (m.group(1), int(m.group(2)))
                self._ready.set()
        if watch:
            self._ready.set()

    def client(self) -> Client:
        return Client(self.address)

    def rendered_lines(self):
        return [line for line in self.stdout if line.startswith("rendered ")]

    def wait_for(self, predicate, timeout=60.0, interval=0.05) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return predicate()

    def clips(self):
        return sorted(self.out.glob("*.wav")) if self.out.exists() else []

    def stop(self, sig=signal.SIGTERM, timeout=120) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# ---------------------------------------------------------------------- peers and process figures
import shutil
import tempfile
import uuid
from contextlib import contextmanager

JACK_TOOLS = ("jackd", "jack_midiseq", "jack_connect", "jack_lsp")


def missing_jack_tools() -> list[str]:
    return [p for p in JACK_TOOLS if shutil.which(p) is None]


def stop_process(proc, timeout=5):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def clear_stale_jack_registry() -> None:
    """JACK keeps a small table of servers in /dev/shm; a killed test server leaves its entry behind and,
    after a few, no new server starts ("Too many servers already active"). With no jackd running at all,
    every entry is stale."""
    if subprocess.run(["pgrep", "-x", "jackd"], capture_output=True).returncode == 0:
        return
    for path in Path("/dev/shm").glob("jack*"):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


@contextmanager
def jack_server(realtime: bool = False):
    """A private dummy JACK server (its own name, so nothing else on the machine is disturbed).
    Yields the environment that reaches it; raises RuntimeError when it does not start.
    `realtime` runs it (and its clients' process threads) with realtime priority, as musicians do;
    that needs root or an rtprio limit."""
    name = f"lsynth-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    log = tempfile.NamedTemporaryFile("w+", prefix="jackd-", suffix=".log")  # a pipe nobody reads could fill
    env["LSYNTH_JACKD_LOG"] = log.name  # jackd's output, e.g. to look for xruns
    jackd = None
    try:
        for attempt in range(2):
            jackd = subprocess.Popen(["jackd", "-n", name, "--realtime" if realtime else "--no-realtime",
                                      "-d", "dummy", "-r", "48000", "-p", "256"],
                                     env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
            deadline = time.monotonic() + 20
            while subprocess.run(["jack_lsp"], env=env, capture_output=True, timeout=10).returncode != 0:
                if jackd.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("jackd did not start within 20 s")
                time.sleep(0.2)
            else:
                break
            output = Path(log.name).read_text()
            # Only a registry full of dead servers' entries is cleared, and only then: clients in this
            # process keep the registry mapped, so clearing it under them would break them.
            if attempt or "Too many servers" not in output:
                raise RuntimeError(f"jackd exited: {output}")
            clear_stale_jack_registry()
        yield env
    finally:
        if jackd is not None:
            stop_process(jackd)
        log.close()


def rss_mb(pid: int) -> float:
    """A process's resident set size now (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")
