"""`latent-synth`: the composition root that wires the three packages' commands together.

Each area registers its own subcommands; imports are lazy so that `serve` never pays for
librosa or scikit-learn, and `analysis` never loads the OSC stack.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# (module, function) pairs; each function takes the argparse subparsers object and adds parsers
# whose `func` default is a callable(args) -> int.
_REGISTRARS = [
    ("synth.render_command", "register"),
    ("bridge.commands", "register"),
    ("analysis.cli", "register"),
]


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latent-synth",
        description="Steer text-to-audio models (Stable Audio Open, Stable Audio 3 and our own score model) "
                    "from MIDI and OSC with SAE features and prompt interpolation.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module, fn in _REGISTRARS:
        getattr(importlib.import_module(module), fn)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # the command as typed (model cards record it)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)  # each call logs to the stderr of its own moment (tests call main in-process)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError, CommandError) as exc:
        # One line, naming the bad value; tracebacks only with -vv.
        if args.verbose >= 2:
            logging.exception("failed")
        print(f"latent-synth: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
