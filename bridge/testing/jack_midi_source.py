"""A JACK MIDI source in its own process. libjack keeps the server registry mapped in every process
that opened a client; a test process that did so breaks once a later fixture clears a stale registry
("Cannot open shm segment"). A child process takes that state with it when it exits."""
from __future__ import annotations

import json
import subprocess
import sys

import mido

CHILD = """
import json, sys, mido
backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
with backend.open_output(sys.argv[2], virtual=True, client_name=sys.argv[1]) as out:
    print("ready", flush=True)
    for line in sys.stdin:
        out.send(mido.Message.from_dict(json.loads(line)))
        print("sent", flush=True)
"""


class JackMidiSource:
    """A virtual JACK MIDI output `client:port`; `send` returns once the message left the port."""

    def __init__(self, env: dict, client: str, port: str):
        self.name = f"{client}:{port}"
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, client, port], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._expect("ready")

    def _expect(self, word: str) -> None:
        line = self.proc.stdout.readline().strip()
        if line != word:
            self.close()
            raise RuntimeError(f"JACK MIDI source {self.name}: expected {word!r}, got {line!r}: "
                               f"{self.proc.stderr.read()[-2000:]}")

    def send(self, message: mido.Message) -> None:
        self.proc.stdin.write(json.dumps(message.dict()) + "\n")
        self.proc.stdin.flush()
        self._expect("sent")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
