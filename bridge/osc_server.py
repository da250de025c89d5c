"""The UDP side of the bridge: receive datagrams, parse them strictly, hand each message to the
controller, and send replies to the sender (or to the port `/synth/reply_to` chose for its IP).

A plain socket loop rather than python-osc's server, because python-osc drops malformed packets
silently, and every bad message here must be answered on /synth/error.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections import OrderedDict
from typing import Callable, Iterable, Sequence

from bridge.controller import Controller, error_reply
from bridge.events import ERROR, RENDERED, Events
from bridge.osc_codec import NotOsc, OscParseError, encode_message, iter_messages
from synth.numbers import is_finite_number

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65536
# A roomy receive buffer rides out a flood while the machine is busy rendering (the kernel caps it
# at net.core.rmem_max); past it, UDP drops datagrams silently.
RECEIVE_BUFFER = 4 * 1024 * 1024
MAX_CLIENTS = 16  # recent senders that hear /synth/rendered
MAX_REPLY_PORTS = 1024


class AllowList:
    """Sender filter from --allow values: IPs or networks (`192.168.1.0/24`). Empty = allow all."""

    def __init__(self, entries: Iterable[str] = ()):
        self.networks = []
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"--allow {entry!r} is not an IP address or network") from None
        self._cache: dict[str, bool] = {}

    def __call__(self, ip: str) -> bool:
        if not self.networks:
            return True
        ok = self._cache.get(ip)
        if ok is None:
            try:
                addr = ipaddress.ip_address(ip)
                ok = any(addr in net for net in self.networks)
            except ValueError:
                ok = False
            if len(self._cache) < 4096:
                self._cache[ip] = ok
        return ok


FORWARDED = (RENDERED, ERROR)   # the daemon's events OSC clients hear


def bind_udp(host: str = "127.0.0.1", port: int = 9000) -> socket.socket:
    """The OSC server's socket, bound (a busy port is one line, before anything slow has loaded)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on udp {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    except OSError as exc:
        log.debug("could not enlarge the UDP receive buffer: %s", exc)
    sock.settimeout(0.25)  # lets serve_forever notice stop() without a wake-up packet
    return sock


class OscServer:
    def __init__(self, controller: Controller, host: str = "127.0.0.1", port: int = 9000, allow: AllowList | None = None,
                 *, sock: socket.socket | None = None, events: Events | None = None):
        """Serve `controller` on `sock` (else a socket bound to host:port); forward the daemon's
        /synth/rendered and /synth/error `events` to every recent client."""
        self.controller: Controller = controller
        self.allow: AllowList = allow or AllowList()
        self.sock: socket.socket = sock if sock is not None else bind_udp(host, port)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.reply_ports: dict[str, int] = {}
        self.clients: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._clients_lock = threading.Lock()
        self._stop = threading.Event()
        self._debug: bool = log.isEnabledFor(logging.DEBUG)
        self.received: int = 0
        self.dropped: int = 0
        self._unsubscribe: Callable[[], None] | None = events.subscribe(self._forward) if events is not None else None

    # ------------------------------------------------------------------ loop
    def serve_forever(self) -> None:
        recv = self.sock.recvfrom
        handle = self.handle_datagram
        while not self._stop.is_set():
            try:
                data, sender = recv(MAX_DATAGRAM)
            except socket.timeout:
                continue
            except ConnectionRefusedError:
                continue  # ICMP "port unreachable" from a reply to a client that went away
            except OSError:
                if self._stop.is_set():
                    return
                raise
            try:
                handle(data, sender)
            except Exception:  # one bad message must never stop the server
                log.exception("error handling a datagram from %s", sender)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="osc-server", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.sock.close()

    def _forward(self, address: str, args: Sequence) -> None:
        if address in FORWARDED:
            self.broadcast(address, args)

    # ------------------------------------------------------------------ one datagram
    def handle_datagram(self, data: bytes, sender) -> None:
        ip, port = sender[0], sender[1]
        if self.allow.networks and not self.allow(ip):
            self.dropped += 1
            if self._debug:
                log.debug("ignored a datagram from %s (not in --allow)", ip)
            return
        self.received += 1
        client = (ip, port)
        clients = self.clients
        with self._clients_lock:  # broadcast() reads it from the render thread
            if client in clients:
                clients.move_to_end(client)
            else:
                clients[client] = None
                if len(clients) > MAX_CLIENTS:
                    clients.popitem(last=False)
        reply_to = (ip, self.reply_ports.get(ip, port))
        try:
            for item in iter_messages(data):
                if item.__class__ is OscParseError:
                    log.warning("bad OSC from %s: %s: %s", ip, item.address, item)
                    self._send(reply_to, *error_reply(item.address, str(item)))
                    continue
                address, args = item
                if address == "/synth/reply_to":
                    reply_to = self._reply_to(ip, args, reply_to)
                    continue
                for r_address, r_args in self.controller.handle(address, args):
                    if r_address == "/synth/error":
                        log.warning("refused %s from %s: %s", r_args[0], ip, r_args[1])
                    self._send(reply_to, r_address, r_args)
        except NotOsc as exc:
            if self._debug:
                log.debug("dropped a non-OSC datagram from %s: %s", ip, exc)

    def _reply_to(self, ip: str, args, current):
        value = args[0] if len(args) == 1 else None
        if not is_finite_number(value) or value != int(value) or not 1 <= value <= 65535:
            self._send(current, *error_reply("/synth/reply_to", f"expects one port number 1-65535, got {list(args)!r}"))
            return current
        if ip not in self.reply_ports and len(self.reply_ports) >= MAX_REPLY_PORTS:
            self.reply_ports.pop(next(iter(self.reply_ports)))  # bounded: forget the oldest IP
        self.reply_ports[ip] = int(value)
        log.info("replies for %s now go to port %d", ip, int(value))
        return (ip, int(value))

    # ------------------------------------------------------------------ sending
    def _send(self, target, address: str, args) -> None:
        try:
            self.sock.sendto(encode_message(address, args), target)
        except OSError as exc:
            log.debug("could not send %s to %s: %s", address, target, exc)

    def broadcast(self, address: str, args) -> None:
        """Send to every recent client (at its reply port); used for /synth/rendered."""
        with self._clients_lock:
            targets = {(ip, self.reply_ports.get(ip, port)) for ip, port in self.clients}
        for target in targets:
            self._send(target, address, args)
