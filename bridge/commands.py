"""The bridge's subcommands: `serve`, `preset`, `midi-replay` (registered by bridge/cli.py)."""
from __future__ import annotations

from synth.backends import NAMES as BACKENDS  # a cheap table; it does not import torch
from synth.backends import SIZES


def _engine_flags(p) -> None:
    p.add_argument("--backend", choices=BACKENDS, default=None, help="model backend (default: from the config)")
    p.add_argument("--config", metavar="FILE", default=None, help="synth.yaml (default: the packaged one)")
    p.add_argument("--sae", metavar="SAE_DIR", default=None, help="SAE folder (cfg.json + sae_weights.safetensors)")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: from the config)")
    p.add_argument("--model-id", default=None, help="Hub id or local folder (default: the backend's own)")
    p.add_argument("--size", choices=SIZES, default=None, help="random-full-sa3 only: medium | small (an estimate)")
    p.add_argument("--dtype", choices=("auto", "float16", "bfloat16", "float32"), default=None,
                   help="auto = float16 on CUDA; float32 on a CPU (bfloat16 for Stable Audio 3 where the CPU has "
                        "bfloat16 matrix units)")
    p.add_argument("--quantize", choices=("int8",), default=None,
                   help="CPU: dynamic int8 Linear layers (about 2x faster for full-size Stable Audio 3)")
    p.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the denoiser (CUDA graphs on a GPU): slower first clip, faster after")
    p.add_argument("--soundfont", metavar="FILE", default=None,
                   help="score backend: a General MIDI .sf2 (default: FluidR3_GM, else TimGM6mb, installed)")
    p.add_argument("--presets", metavar="DIR", default="presets", help="presets folder (default: ./presets)")
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
