"""A tiny OSC client for tests: python-osc builds the packets (an implementation independent of the
bridge's codec) and parses the replies."""
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
