"""A network namespace with only the loopback, for anything that speaks Ableton Link.

Link finds peers by UDP multicast on every interface; tests and benchmarks must send nothing beyond
this machine, so they run the daemon and the peer inside `unshare -n` (as root) with the loopback up,
multicast on, and multicast routed to it."""
from __future__ import annotations

import os
import shlex
import socket
import subprocess

SETUP = "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo"
MARK = "LSYNTH_LOOPBACK_NETNS"    # set inside: the command already runs in such a namespace


def inside() -> bool:
    """True in a namespace whose only interface is the loopback (and that we made: MARK is set)."""
    return os.environ.get(MARK) == "1" and [name for _, name in socket.if_nameindex()] == ["lo"]


def command(argv: list[str]) -> list[str]:
    """argv to run inside a fresh loopback-only namespace."""
    return ["unshare", "-n", "bash", "-c", f"{SETUP} && export {MARK}=1 && exec {shlex.join(argv)}"]


def unavailable() -> str | None:
    """Why such a namespace cannot be made here (no unshare or ip, not allowed), or None."""
    try:
        got = subprocess.run(command(["true"]), capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot make a loopback-only network namespace: {exc}"
    if got.returncode:
        return f"cannot make a loopback-only network namespace: {' '.join(got.stderr.split())[:200]}"
    return None
