"""The bridge's subcommands: `serve`, `preset`, `midi-replay` (registered by bridge/cli.py)."""
from __future__ import annotations

from synth.engine_flags import add_engine_flags  # a cheap table; it does not import torch


def _engine_flags(p) -> None:
    add_engine_flags(p)
    p.add_argument("--presets", metavar="DIR", default="presets", help="your presets folder (default: ./presets); the shipped presets are found beside it, and one of "
                        "yours with the same name wins")
    p.add_argument("--midi-map", metavar="FILE", default=None, help="MIDI mapping YAML")


def _serve(args) -> int:
    from bridge.daemon import run_serve

    return run_serve(args)


def _replay(args) -> int:
    from bridge.midi_replay import run_midi_replay

    return run_midi_replay(args)


def _port(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number 0-65535")
    return value


def register(subparsers) -> None:
    from bridge.preset_cli import register_preset

    p = subparsers.add_parser("serve", help="run the instrument: OSC/MIDI in, clips out")
    p.add_argument("--out", metavar="DIR", default=None, help="DAW folder for clips (default: out_dir from the config)")
    p.add_argument("--osc-port", type=_port, default=9000, help="UDP port (default 9000; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--allow", nargs="+", action="extend", metavar="IP", default=[],
                   help="accept OSC only from these IPs or networks (e.g. 192.168.1.0/24)")
    midi = p.add_mutually_exclusive_group()
    midi.add_argument("--midi", metavar="PORT", default=None, help="open this MIDI input port")
    midi.add_argument("--midi-virtual", metavar="NAME", default=None, help="create a virtual MIDI input port")
    p.add_argument("--auto", action="store_true", help="start with auto-render on (also /synth/auto 1)")
    p.add_argument("--debounce", type=float, default=0.25, metavar="SECONDS",
                   help="auto-render waits this long after the last change (default 0.25)")
    p.add_argument("--jam", action="store_true", help="start jam mode at once: phrases in time on the audio output "
                   "(also /synth/jam/start)")
    p.add_argument("--audio-out", metavar="NAME", default=None,
                   help="jam audio output: JACK ports to connect to on Linux (default: the physical playback "
                        "ports), the device name on macOS / Windows (default: the system's)")
    p.add_argument("--midi-out", metavar="PORT", default=None,
                   help="score backend: send each jam phrase's notes on this MIDI output (a virtual port of "
                        "that name when none exists)")
    p.add_argument("--web", action="store_true", help="serve the browser control surface; prints its address as "
                   "one line 'web: http://127.0.0.1:PORT/?token=...'")
    p.add_argument("--web-port", type=_port, default=8000, help="the surface's TCP port (default 8000; 0 picks a free one)")
    p.add_argument("--web-host", default="127.0.0.1", help="address the surface listens on (default 127.0.0.1, this "
                   "machine only; a network address needs the printed token, as always)")
    p.add_argument("--shutdown-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="on SIGINT/SIGTERM, wait this long for the render in flight (default 300)")
    _engine_flags(p)
    p.set_defaults(func=_serve)

    register_preset(subparsers)

    p = subparsers.add_parser("midi-replay", help="play a MIDI file through the mapping offline, render at each note-on")
    p.add_argument("file", metavar="FILE.mid")
    p.add_argument("--out", metavar="DIR", required=True, help="folder for the clips")
    _engine_flags(p)
    p.set_defaults(func=_replay)
